package Omni::FakeChannels;

# The four channels' send APIs, faked on one local HTTPS port for the
# deliverer's tests and for `make demo`; the path's first segment picks the
# channel, so each channel's API base is an ordinary URL:
#
#   /whatsapp/{version}/{phone_number_id}/messages    WhatsApp Cloud API
#   /messenger/{version}/me/messages (or /{page_id})  Messenger Send API
#   /instagram/{version}/{ig_user_id}/messages        Instagram messaging
#   /line/v2/bot/message/push                         LINE Messaging API
#
# Each checks the auth header and the payload shape the real API demands and
# answers in the real API's success and error shapes.  One server process
# (t/fake-channels run) owns the ports; every TLS connection gets its own
# process, so a slow answer holds no other connection, and what they share
# (rules, retry keys, the requests received) lives in files under a lock.
# Tests steer it and read it through a plain-HTTP control port, wrapped
# here as methods: rule() makes the next answers fail, slow or drop, and
# wait_requests() waits for what was received, with a deadline.
#
# The same file builds signed inbound webhooks and the channels' documented
# sample payloads (see "Webhooks" below), and the test CA (tls_material).

use strict;
use warnings;

use Cwd qw(abs_path);
use Digest::SHA qw(hmac_sha256_hex hmac_sha256_base64 sha256_hex);
use Exporter qw(import);
use Fcntl qw(:flock O_RDWR O_CREAT SEEK_SET);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use IO::Socket::SSL;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(tls_material sign_meta sign_line signed_webhook
    meta_handshake_query merge_payloads
    whatsapp_text whatsapp_image whatsapp_location whatsapp_sticker
    whatsapp_button_reply whatsapp_quick_reply whatsapp_unsupported
    whatsapp_status
    messenger_text messenger_image messenger_postback messenger_delivery
    messenger_read
    instagram_text instagram_image instagram_postback instagram_read
    line_text line_image line_sticker line_location line_postback
    line_follow);
our %EXPORT_TAGS = (webhooks => [ grep { !/^tls_/ } @EXPORT_OK ]);

our $TOP = abs_path(dirname(__FILE__) . '/../../..');

our @CHANNELS = qw(whatsapp messenger instagram line);

# the credentials the fakes accept unless told others (as t/13 names them)
our %DEFAULT_TOKEN = (
    whatsapp  => 'wa-token',
    messenger => 'fb-token',
    instagram => 'ig-token',
    line      => 'line-token',
);

our $GRAPH_VERSION = 'v21.0';

my $json = JSON::PP->new->canonical->utf8->allow_nonref;


# ---------------------------------------------------------------------------
# TLS: a test CA and a server certificate it signs (localhost and
# 127.0.0.1 as subjectAltName), and a second, rogue CA with its own server
# certificate, for "a CA we do not trust is refused".  Made once per
# directory with the openssl CLI; P-256 keys, which take no time to make.

sub _openssl {
    my (@args) = @_;
    my $cmd = join ' ', 'openssl', map { "'$_'" } @args;
    my $out = `$cmd 2>&1`;
    die "failed: $cmd\n$out" if $?;
    return $out;
}

sub _write {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh or die "$path: $!";
}

sub _make_ca {
    my ($d, $name, $cn) = @_;
    _write("$d/$name.cnf", <<"CNF");
[req]
distinguished_name = dn
prompt = no
[dn]
CN = $cn
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
CNF
    _openssl('req', '-x509', '-new', '-config', "$d/$name.cnf",
        '-extensions', 'v3_ca', '-newkey', 'ec',
        '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', "$d/$name.key", '-out', "$d/$name.crt", '-days', 30);
}

sub _make_server_cert {
    my ($d, $name, $ca) = @_;
    _write("$d/$name.cnf", <<"CNF");
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
CNF
    _write("$d/$name.ext", <<"EXT");
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
EXT
    _openssl('req', '-new', '-config', "$d/$name.cnf", '-newkey', 'ec',
        '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', "$d/$name.key", '-out', "$d/$name.csr");
    _openssl('x509', '-req', '-in', "$d/$name.csr", '-CA', "$d/$ca.crt",
        '-CAkey', "$d/$ca.key", '-set_serial', 1000 + int(rand(1e9)),
        '-days', 30, '-extfile', "$d/$name.ext", '-out', "$d/$name.crt");
}

sub tls_material {
    my ($d) = @_;
    my %f = (
        ca_file         => "$d/ca.crt",
        cert_file       => "$d/server.crt",
        key_file        => "$d/server.key",
        rogue_ca_file   => "$d/rogue-ca.crt",
        rogue_cert_file => "$d/rogue-server.crt",
        rogue_key_file  => "$d/rogue-server.key",
    );
    return \%f unless grep { !-s $_ } values %f;
    make_path($d);
    _make_ca($d, 'ca', 'omni test CA');
    _make_server_cert($d, 'server', 'ca');
    _make_ca($d, 'rogue-ca', 'omni rogue CA');
    _make_server_cert($d, 'rogue-server', 'rogue-ca');
    return \%f;
}


# ---------------------------------------------------------------------------
# Shared state: state.json (rules, LINE retry keys, counters) and
# requests.jsonl (one line per request received), both changed only while
# holding the lock on state.json, by the connection processes and the
# control port alike.

sub _fresh_state {
    return { seq => 0, next_rule => 1, rules => [], retry_keys => {},
             stats => { connections => 0, tls_handshakes => 0,
                        tls_failures => 0, accepted => {} } };
}

sub _with_state {
    my ($dir, $code) = @_;
    sysopen my $fh, "$dir/state.json", O_RDWR | O_CREAT or die "state: $!";
    flock $fh, LOCK_EX or die "lock: $!";
    my $text = do { local $/; <$fh> };
    my $state = length($text // '') ? $json->decode($text) : _fresh_state();
    my @ret = $code->($state);
    seek $fh, 0, SEEK_SET;
    truncate $fh, 0;
    print $fh $json->encode($state);
    close $fh;    # releases the lock, after the write is out
    return wantarray ? @ret : $ret[0];
}

sub _log_request {
    my ($dir, $rec) = @_;
    open my $fh, '>>', "$dir/requests.jsonl" or die "requests: $!";
    print $fh $json->encode($rec), "\n";
    close $fh;
}

# the control process reads the log as it grows, parsing each line once,
# and without the lock, so that reading never holds a send: lines are
# written whole under the lock, and one still on its way has no newline yet
sub _read_requests {
    my ($srv) = @_;
    my $log = $srv->{log} //= { offset => 0, records => [] };
    open my $fh, '<', "$srv->{dir}/requests.jsonl" or return;
    seek $fh, $log->{offset}, SEEK_SET;
    local $/ = "\n";
    while (my $line = <$fh>) {
        last unless $line =~ /\n\z/;
        $log->{offset} += length $line;
        push @{ $log->{records} }, $json->decode($line);
    }
    return @{ $log->{records} };
}

sub _forget_requests {
    my ($srv) = @_;
    unlink "$srv->{dir}/requests.jsonl";
    delete $srv->{log};
}


# ---------------------------------------------------------------------------
# HTTP/1.1 on a socket (TLS or plain): requests with a Content-Length or
# chunked body, answers with a Content-Length or chunked on demand.

my %REASON = (200 => 'OK', 201 => 'Created', 204 => 'No Content',
    400 => 'Bad Request', 401 => 'Unauthorized', 403 => 'Forbidden',
    404 => 'Not Found', 405 => 'Method Not Allowed', 409 => 'Conflict',
    413 => 'Payload Too Large', 415 => 'Unsupported Media Type',
    429 => 'Too Many Requests', 500 => 'Internal Server Error',
    502 => 'Bad Gateway', 503 => 'Service Unavailable',
    504 => 'Gateway Timeout');

my $MAX_BODY = 10 * 1024 * 1024;

# more bytes into $$buf; 0 at the end of the stream or after $timeout idle
sub _fill {
    my ($sock, $buf, $timeout) = @_;
    # TLS may hold a decrypted record the socket no longer shows as readable
    unless ($sock->can('pending') && $sock->pending) {
        return 0 unless IO::Select->new($sock)->can_read($timeout);
    }
    my $n = sysread $sock, $$buf, 65536, length $$buf;
    return $n // 0;
}

sub _read_request {
    my ($sock, $buf, $idle) = @_;
    while ($$buf !~ /\r\n\r\n/) {
        return if length $$buf > 65536;
        _fill($sock, $buf, $idle) or return;
    }
    $$buf =~ s/^(.*?)\r\n\r\n//s;
    my ($line, @lines) = split /\r\n/, $1;
    my ($method, $target) = $line =~ m{^([A-Z]+) (\S+) HTTP/1\.[01]$}
        or return;
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
        $k = lc $k;
        $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
    }
    my ($path, $query) = $target =~ /^([^?]*)(?:\?(.*))?$/;
    my $body = '';
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        while (1) {
            while ($$buf !~ /\r\n/) { _fill($sock, $buf, 10) or return }
            $$buf =~ s/^([0-9a-fA-F]+)[^\r]*\r\n// or return;
            my $size = hex $1;
            last if $size == 0;
            while (length $$buf < $size + 2) {
                _fill($sock, $buf, 10) or return;
            }
            $body .= substr $$buf, 0, $size, '';
            substr $$buf, 0, 2, '';
            return if length $body > $MAX_BODY;
        }
        # no trailers expected: the blank line ends the body
        while ($$buf !~ /\r\n/) { _fill($sock, $buf, 10) or return }
        $$buf =~ s/^.*?\r\n//s;
    } elsif (my $len = $h{'content-length'}) {
        return { too_big => 1, method => $method, path => $path }
            if $len > $MAX_BODY;
        while (length $$buf < $len) { _fill($sock, $buf, 10) or return }
        $body = substr $$buf, 0, $len, '';
    }
    return { method => $method, path => $path, query => $query // '',
             headers => \%h, body => $body };
}

sub _write_all {
    my ($sock, $data) = @_;
    while (length $data) {
        my $n = syswrite $sock, $data;
        return 0 unless $n;
        substr $data, 0, $n, '';
    }
    return 1;
}

# an answer: { status, headers, body } and how to send it: chunked, close,
# drop ('mid_response' or 'before_response'), delay_ms
sub _send_answer {
    my ($sock, $ans) = @_;
    my $body = $ans->{body} // '';
    my %h = (%{ $ans->{headers} // {} });
    $h{'Content-Type'} //= 'application/json; charset=UTF-8' if length $body;
    $h{'Connection'} = 'close' if $ans->{close};
    my $wire = $body;
    if ($ans->{chunked}) {
        $h{'Transfer-Encoding'} = 'chunked';
        # uneven chunks, one of them a single byte, as parsers should meet
        my @sizes = (1, 7, 64);
        $wire = '';
        my $rest = $body;
        while (length $rest) {
            my $chunk = substr $rest, 0, shift(@sizes) // 4096, '';
            $wire .= sprintf("%x\r\n", length $chunk) . $chunk . "\r\n";
        }
        $wire .= "0\r\n\r\n";
    } else {
        $h{'Content-Length'} = length $body;
    }
    sleep $ans->{delay_ms} / 1000 if $ans->{delay_ms};
    return 0 if ($ans->{drop} // '') eq 'before_response';
    my $head = "HTTP/1.1 $ans->{status} "
        . ($REASON{ $ans->{status} } // 'Unknown') . "\r\n"
        . join('', map { "$_: $h{$_}\r\n" } sort keys %h) . "\r\n";
    if ($ans->{drop}) {
        _write_all($sock, $head . substr($wire, 0, int(length($wire) / 2)));
        return 0;
    }
    return _write_all($sock, $head . $wire) && !$ans->{close};
}

sub _query_params {
    my ($q) = @_;
    my %p;
    for (split /&/, $q // '') {
        my ($k, $v) = map { my $s = $_ // ''; $s =~ tr/+/ /;
                            $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge; $s }
                      split /=/, $_, 2;
        $p{$k} = $v;
    }
    return \%p;
}

sub _json_answer {
    my ($status, $data, %h) = @_;
    return { status => $status, headers => \%h,
             body => defined $data ? $json->encode($data) : '' };
}


# ---------------------------------------------------------------------------
# The Graph API (WhatsApp, Messenger, Instagram): errors in Graph's shape.
# HTTP statuses and texts as Meta's error-code tables give them; a rule may
# name any other code.

my %GRAPH_ERROR = (
    1      => [500, 'An unknown error has occurred.'],
    2      => [503, 'An unexpected error has occurred. Please retry your '
                    . 'request later.'],
    4      => [400, '(#4) Application request limit reached'],
    10     => [400, '(#10) This message is sent outside of allowed window.',
               2018278],
    100    => [400, '(#100) Invalid parameter'],
    104    => [400, 'An access token is required to request this '
                    . 'resource.'],
    190    => [401, 'Invalid OAuth access token - Cannot parse access '
                    . 'token'],
    613    => [400, '(#613) Calls to this api have exceeded the rate '
                    . 'limit.'],
    2500   => [400, 'Unknown path components'],
    130429 => [400, '(#130429) Rate limit hit',
               undef, 'Cloud API message throughput has been reached.'],
    131000 => [500, '(#131000) Something went wrong'],
    131026 => [400, '(#131026) Message Undeliverable'],
    131047 => [400, '(#131047) Re-engagement message', undef,
               'Message failed to send because more than 24 hours have '
               . 'passed since the customer last replied to this number.'],
    131056 => [400, '(#131056) (Business Account, Consumer Account) pair '
                    . 'rate limit hit', undef,
               'Message failed to send because there were too many '
               . 'messages sent from this phone number to the same phone '
               . 'number in a short period of time.'],
);

sub _trace_id {
    my @c = ('A' .. 'Z', 'a' .. 'z', 0 .. 9);
    return join '', map { $c[rand @c] } 1 .. 11;
}

# a Graph error answer; %o: status, subcode, message, details
sub _graph_error {
    my ($channel, $code, %o) = @_;
    my ($status, $message, $subcode, $details) = @{ $GRAPH_ERROR{$code}
        // [400, "(#$code) Error $code"] };
    my %e = (message => $o{message} // $message, type => 'OAuthException',
             code => $code + 0, fbtrace_id => _trace_id());
    $subcode = $o{subcode} if defined $o{subcode};
    $e{error_subcode} = $subcode + 0 if defined $subcode;
    $e{is_transient} = JSON::PP::true if $code == 1 || $code == 2;
    $details = $o{details} if defined $o{details};
    $e{error_data} = { messaging_product => 'whatsapp',
                       details => $details // $e{message} }
        if $channel eq 'whatsapp';
    return _json_answer($o{status} // $status, { error => \%e });
}

sub _graph_token {
    my ($req, %o) = @_;
    my $auth = $req->{headers}{authorization} // '';
    return $1 if $auth =~ /^Bearer\s+(\S+)$/i;
    return _query_params($req->{query})->{access_token} if $o{query_ok};
    return;
}

sub _is_str { defined $_[0] && !ref $_[0] && length $_[0] }

# the body as JSON (or, but for WhatsApp, as Graph's form fields of JSON,
# where the access token may be one of the fields)
sub _graph_body {
    my ($channel, $req) = @_;
    my $type = $req->{headers}{'content-type'} // '';
    if ($type =~ m{^application/json}i) {
        my $d = eval { $json->decode($req->{body}) };
        return ref $d eq 'HASH' ? $d : undef;
    }
    if ($type =~ m{^application/x-www-form-urlencoded}i
        && $channel ne 'whatsapp')
    {
        my $p = _query_params($req->{body});
        # Graph reads {'id':'…'} as well as {"id":"…"}
        for my $k (grep { $p->{$_} =~ /^\s*[{\[]/ } keys %$p) {
            (my $quoted = $p->{$k}) =~ tr/'/"/;
            my $v = eval { $json->decode($p->{$k}) }
                // eval { $json->decode($quoted) };
            $p->{$k} = $v if defined $v;
        }
        return $p;
    }
    return;
}

my %WA_MEDIA = map { $_ => 1 } qw(image video audio document sticker);
my %WA_TYPES = map { $_ => 1 } (keys %WA_MEDIA,
    qw(text location contacts interactive template reaction));

sub _check_whatsapp {
    my ($m) = @_;
    return 'The parameter messaging_product is required.'
        unless _is_str($m->{messaging_product});
    return 'Param messaging_product must be whatsapp'
        unless $m->{messaging_product} eq 'whatsapp';
    return 'The parameter to is required.' unless _is_str($m->{to});
    return 'Param to must be a phone number or WhatsApp ID (digits)'
        unless $m->{to} =~ /^\+?\d{6,15}$/;
    return 'Param recipient_type must be individual'
        if defined $m->{recipient_type}
           && $m->{recipient_type} ne 'individual';
    my $type = $m->{type} // 'text';
    return "Param type must be one of {"
        . join(', ', map { uc } sort keys %WA_TYPES) . "} - got \"$type\"."
        unless $WA_TYPES{$type};
    my $o = $m->{$type};
    return "The parameter $type is required." unless ref $o eq 'HASH';
    if ($type eq 'text') {
        return "The parameter text['body'] is required."
            unless _is_str($o->{body});
        return "Param text['body'] must be at most 4096 characters long."
            if length $o->{body} > 4096;
    } elsif ($WA_MEDIA{$type}) {
        return "Param $type must have an id or a link"
            unless _is_str($o->{id}) xor _is_str($o->{link});
    } elsif ($type eq 'template') {
        return "The parameter template['name'] is required."
            unless _is_str($o->{name});
        return "The parameter template['language']['code'] is required."
            unless ref $o->{language} eq 'HASH'
                   && _is_str($o->{language}{code});
    } elsif ($type eq 'location') {
        return 'Param location needs latitude and longitude'
            unless defined $o->{latitude} && defined $o->{longitude};
    }
    return;
}

# Messenger and Instagram share the Send API's shape; text limits differ
sub _check_send_api {
    my ($channel, $m) = @_;
    my $r = $m->{recipient};
    return 'The parameter recipient is required'
        unless ref $r eq 'HASH' && grep { _is_str($r->{$_}) }
            qw(id user_ref comment_id post_id);
    if ($channel eq 'messenger') {
        return 'The parameter messaging_type is required'
            unless _is_str($m->{messaging_type});
        return 'Param messaging_type must be one of {RESPONSE, UPDATE, '
            . 'MESSAGE_TAG}'
            unless $m->{messaging_type} =~ /^(RESPONSE|UPDATE|MESSAGE_TAG)$/;
        return 'The parameter tag is required'
            if $m->{messaging_type} eq 'MESSAGE_TAG' && !_is_str($m->{tag});
    }
    if (defined $m->{sender_action}) {
        return 'Param sender_action must be one of {mark_seen, typing_on, '
            . 'typing_off}'
            unless ($m->{sender_action} // '')
                   =~ /^(mark_seen|typing_on|typing_off|react|unreact)$/;
        return 'Must send either message or sender_action, not both'
            if defined $m->{message};
        return;
    }
    my $msg = $m->{message};
    return 'Must send either message or sender_action'
        unless ref $msg eq 'HASH';
    my $max = $channel eq 'instagram' ? 1000 : 2000;
    if (defined $msg->{text}) {
        return 'Param message[text] must be a non-empty UTF-8 encoded '
            . 'string'
            unless _is_str($msg->{text});
        return "Length of param message[text] must be less than or equal "
            . "to $max"
            if length $msg->{text} > $max;
        return 'Only one of text or attachment can be given'
            if defined $msg->{attachment};
        return;
    }
    my $a = $msg->{attachment};
    return 'Message must contain text or attachment'
        unless ref $a eq 'HASH';
    return 'Param message[attachment][type] must be one of {image, audio, '
        . 'video, file, template}'
        unless ($a->{type} // '') =~ /^(image|audio|video|file|template)$/;
    return 'The parameter message[attachment][payload] is required'
        unless ref $a->{payload} eq 'HASH';
    return;
}


# ---------------------------------------------------------------------------
# LINE: errors as {"message", "details": [{"message", "property"}]}.

my %LINE_TYPES = map { $_ => 1 }
    qw(text textV2 sticker image video audio location imagemap template
       flex);

sub _line_error {
    my ($status, $message, @details) = @_;
    return _json_answer($status, { message => $message,
        @details ? (details => \@details) : () });
}

# the validation errors of a push body, as LINE lists them
sub _check_line {
    my ($m) = @_;
    return 'The request body is not valid JSON' unless ref $m eq 'HASH';
    return "The property, 'to', in the request body is invalid (line: -, "
            . "column: -)"
        unless _is_str($m->{to}) && $m->{to} =~ /^[UCR][0-9a-f]{32}$/;
    my $msgs = $m->{messages};
    return (undef, { message => 'Size must be between 1 and 5',
                     property => 'messages' })
        unless ref $msgs eq 'ARRAY' && @$msgs >= 1 && @$msgs <= 5;
    my @d;
    for my $i (0 .. $#$msgs) {
        my $x = $msgs->[$i];
        my $at = "messages[$i]";
        unless (ref $x eq 'HASH' && $LINE_TYPES{ $x->{type} // '' }) {
            push @d, { message => 'Must be one of the following values: '
                           . join(', ', sort keys %LINE_TYPES),
                       property => "$at.type" };
            next;
        }
        if ($x->{type} eq 'text') {
            push @d, { message => 'May not be empty',
                       property => "$at.text" }
                unless _is_str($x->{text});
            push @d, { message => 'Length must be between 0 and 5000',
                       property => "$at.text" }
                if _is_str($x->{text}) && length $x->{text} > 5000;
        } elsif ($x->{type} eq 'sticker') {
            for (qw(packageId stickerId)) {
                push @d, { message => 'May not be empty',
                           property => "$at.$_" } unless _is_str($x->{$_});
            }
        } elsif ($x->{type} =~ /^(image|video)$/) {
            for (qw(originalContentUrl previewImageUrl)) {
                push @d, { message => 'Must be a URL with HTTPS',
                           property => "$at.$_" }
                    unless ($x->{$_} // '') =~ m{^https://};
            }
        }
    }
    return (undef, @d) if @d;
    return;
}


# ---------------------------------------------------------------------------
# One request through its channel's fake: what it is (channel, account,
# recipient), then either a refusal (path, auth, shape) or nothing, and the
# success answer the caller gives when no rule says otherwise.

sub _refuse_or_describe {
    my ($srv, $req) = @_;
    my %call;
    my ($channel, $rest) = $req->{path}
        =~ m{^/(whatsapp|messenger|instagram|line)(/.*)?$};
    unless ($channel) {
        return (_json_answer(404, { message => 'no fake channel at '
            . "$req->{path}: the path starts with /whatsapp, /messenger, "
            . '/instagram or /line' }), \%call);
    }
    $call{channel} = $channel;
    $rest //= '';
    my $t = $srv->{tokens}{$channel};
    my %token_ok = map { $_ => 1 } ref $t ? @$t : $t;

    if ($channel eq 'line') {
        return (_line_error(404, 'Not found'), \%call)
            unless $rest eq '/v2/bot/message/push';
        return (_line_error(405, 'Method not allowed'), \%call)
            unless $req->{method} eq 'POST';
        my $auth = $req->{headers}{authorization} // '';
        my ($token) = $auth =~ /^Bearer\s+(\S+)$/i;
        $call{token} = $token;
        return (_line_error(401, "Authorization header required. Must "
            . "follow the scheme, 'Authorization: Bearer <ACCESS TOKEN>'"),
            \%call) unless defined $token;
        return (_line_error(401, 'Authentication failed. Confirm that the '
            . 'access token in the authorization header is valid.'), \%call)
            unless $token_ok{$token};
        my $key = $req->{headers}{'x-line-retry-key'};
        if (defined $key) {
            $call{retry_key} = lc $key;
            return (_line_error(400, "The value for the 'X-Line-Retry-Key' "
                . 'header is invalid'), \%call)
                unless $key =~ /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-
                                [0-9a-f]{4}-[0-9a-f]{12}$/xi;
        }
        my $body = ($req->{headers}{'content-type'} // '')
            =~ m{^application/json}i
            ? eval { $json->decode($req->{body}) } : undef;
        $call{json} = $body;
        $call{recipient} = $body->{to} if ref $body eq 'HASH';
        my ($msg, @details) = _check_line($body);
        return (_line_error(400, $msg // 'The request body has '
            . scalar(@details) . ' error(s)', @details), \%call)
            if defined $msg || @details;
        return (undef, \%call);
    }

    # the Graph API: /{version}/{node}/messages
    my ($version, $node) = $rest =~ m{^/(v\d+\.\d+)/([^/]+)/messages$};
    return (_graph_error($channel, 2500,
        message => "Unknown path components: $rest"), \%call)
        unless $version;
    return (_graph_error($channel, 100, message => 'Unsupported '
        . "$req->{method} request."), \%call)
        unless $req->{method} eq 'POST';
    return (_graph_error($channel, 100, message => "(#100) $node is not "
        . 'a phone number ID'), \%call)
        if $channel eq 'whatsapp' && $node !~ /^\d+$/;
    return (_graph_error($channel, 100, message => "(#100) $node is not "
        . 'an ID this token can send as'), \%call)
        if $channel ne 'whatsapp' && $node !~ /^(\d+|me)$/;
    $call{account} = $node;
    my $m = _graph_body($channel, $req);
    my $token = _graph_token($req, query_ok => $channel ne 'whatsapp')
        // ($channel ne 'whatsapp' && $m ? delete $m->{access_token}
                                         : undef);
    $call{token} = $token;
    return (_graph_error($channel, 104), \%call) unless defined $token;
    return (_graph_error($channel, 190), \%call) unless $token_ok{$token};
    $call{json} = $m;
    return (_graph_error($channel, 100, message => '(#100) The request '
        . 'body must be JSON (Content-Type: application/json)'), \%call)
        unless $m;
    $call{recipient} = $channel eq 'whatsapp' ? $m->{to}
        : ref $m->{recipient} eq 'HASH' ? $m->{recipient}{id} : undef;
    my $why = $channel eq 'whatsapp' ? _check_whatsapp($m)
        : _check_send_api($channel, $m);
    return (_graph_error($channel, 100, message => "(#100) $why"), \%call)
        if $why;
    return (undef, \%call);
}

sub _rand_token {
    my ($n) = @_;
    my @c = ('A' .. 'Z', 'a' .. 'z', 0 .. 9);
    return join '', map { $c[rand @c] } 1 .. $n;
}

sub _uuid {
    my $h = sha256_hex(rand() . time . $$);
    return join '-', substr($h, 0, 8), substr($h, 8, 4), substr($h, 12, 4),
        substr($h, 16, 4), substr($h, 20, 12);
}

sub _success {
    my ($call, $seq) = @_;
    my $c = $call->{channel};
    my $m = $call->{json};
    if ($c eq 'whatsapp') {
        (my $to = $m->{to}) =~ s/^\+//;
        return _json_answer(200, { messaging_product => 'whatsapp',
            contacts => [ { input => $m->{to}, wa_id => $to } ],
            messages => [ { id => 'wamid.' . _rand_token(40) . '=' } ] });
    }
    if ($c eq 'line') {
        my @sent = map { { id => '5' . sprintf('%017d', $seq * 100 + $_),
                           quoteToken => _rand_token(40) } }
            0 .. $#{ $m->{messages} };
        return _json_answer(200, { sentMessages => \@sent },
            'X-Line-Request-Id' => _uuid());
    }
    return _json_answer(200, {
        defined $m->{recipient}{id}
            ? (recipient_id => $m->{recipient}{id}) : (),
        message_id => ($c eq 'instagram' ? 'aWdfZAG1faW' : 'm_')
            . _rand_token(30) });
}

# the first rule that matches the call, used once more
sub _take_rule {
    my ($state, $call) = @_;
    for my $i (0 .. $#{ $state->{rules} }) {
        my $r = $state->{rules}[$i];
        next if grep { defined $r->{$_}
                       && ($call->{$_} // '') ne $r->{$_} }
            qw(channel recipient account);
        my %copy = %$r;
        if (defined $r->{times} && --$r->{times} <= 0) {
            splice @{ $state->{rules} }, $i, 1;
        }
        return \%copy;
    }
    return;
}

sub _rule_answer {
    my ($rule, $call) = @_;
    my $c = $call->{channel};
    my $status = $rule->{status};
    $status //= 429 if defined $rule->{retry_after};
    my $ans;
    if (defined $rule->{graph_error}) {
        $ans = _graph_error($c, $rule->{graph_error},
            status => $status, subcode => $rule->{subcode});
    } elsif (defined $status && $status == 429) {
        $ans = $c eq 'line'
            ? _line_error(429, 'The API rate limit has been exceeded. Try '
                  . 'again later.')
            : _graph_error($c, $c eq 'whatsapp' ? 130429 : 613,
                  status => 429);
    } elsif (defined $status && $status >= 500) {
        $ans = $c eq 'line'
            ? _line_error($status, 'An error occurred on the server')
            : _graph_error($c, 2, status => $status);
    } elsif (defined $status) {
        $ans = $c eq 'line' ? _line_error($status, "Error $status")
            : _graph_error($c, 100, status => $status);
    }
    if ($ans && defined $rule->{retry_after}) {
        $ans->{headers}{'Retry-After'} = $rule->{retry_after};
    }
    return $ans;
}

sub _handle {
    my ($srv, $req, $conn) = @_;
    my ($ans, $call) = $req->{too_big}
        ? (_json_answer(413, { message => 'body too large' }), {})
        : _refuse_or_describe($srv, $req);
    my $how = {};
    _with_state($srv->{dir}, sub {
        my ($state) = @_;
        my $seq = ++$state->{seq};
        my $rule;
        my $key = $call->{retry_key};
        my $kept = defined $key ? $state->{retry_keys}{$key} : undef;
        if (!$ans && $kept) {
            $ans = _json_answer(409, { message => 'The retry key is '
                . 'already accepted', sentMessages => $kept->{sent} },
                'X-Line-Accepted-Request-Id' => $kept->{request_id});
        }
        if (!$ans && ($rule = _take_rule($state, $call))) {
            $ans = _rule_answer($rule, $call);
            $how->{$_} = $rule->{$_} for qw(delay_ms drop chunked close);
        }
        $ans //= _success($call, $seq);
        my $answer = eval { $json->decode($ans->{body}) };
        my $accepted = $ans->{status} == 200 ? 1 : 0;
        $state->{stats}{accepted}{ $call->{channel} }++ if $accepted;
        my $cb = $state->{callbacks}{ $call->{channel} // '' };
        if ($accepted && $cb) {
            $how->{callback} = { %$cb, channel => $call->{channel},
                recipient => $call->{recipient}, answer => $answer,
                account => $call->{account} };
        }
        if ($accepted && defined $key) {
            $state->{retry_keys}{$key} = { sent => $answer->{sentMessages},
                request_id => $ans->{headers}{'X-Line-Request-Id'} };
        }
        _log_request($srv->{dir}, {
            seq => $seq, time => time, conn => $conn->{id},
            sni => $conn->{sni}, tls => $conn->{tls},
            (map { $_ => $req->{$_} } qw(method path query headers body)),
            (map { $_ => $call->{$_} }
                qw(channel account recipient token retry_key json)),
            status => $ans->{status}, accepted => $accepted,
            answer => $answer, rule => $rule ? $rule->{id} : undef,
        });
    });
    $ans->{$_} //= $how->{$_} for keys %$how;
    $ans->{close} = 1 if ($req->{headers}{connection} // '') =~ /close/i;
    return $ans;
}

# The channel's own status webhooks for a message it accepted, as the real
# platforms send them after a send: WhatsApp "sent" then "delivered",
# Messenger a delivery.  Signed with the app secret and posted to the
# webhook URL set with --callback (or the control port's /_callbacks),
# from a process of their own so the connection is not held.
sub _callback {
    my ($cb) = @_;
    my $pid = fork;
    return if !defined $pid || $pid;
    my $http = HTTP::Tiny->new(timeout => 10);
    my @payloads;
    if ($cb->{channel} eq 'whatsapp') {
        my $id = $cb->{answer}{messages}[0]{id};
        my $to = $cb->{answer}{contacts}[0]{wa_id};
        @payloads = map { whatsapp_status(id => $id, status => $_,
                              recipient_id => $to,
                              phone_number_id => $cb->{account}) }
            qw(sent delivered);
    } elsif ($cb->{channel} eq 'messenger') {
        @payloads = (messenger_delivery(mids => [ $cb->{answer}{message_id} ],
            psid => $cb->{recipient}));
    }
    for my $p (@payloads) {
        my ($body, $h) = signed_webhook(channel => $cb->{channel},
            secret => $cb->{secret}, payload => $p);
        $http->post($cb->{url}, { content => $body, headers => $h });
    }
    POSIX::_exit(0);
}


# ---------------------------------------------------------------------------
# The control port (plain HTTP, one request per connection).

my %RULE_KEYS = map { $_ => 1 } qw(channel recipient account times status
    graph_error subcode retry_after delay_ms drop chunked close);

sub _control {
    my ($srv, $req) = @_;
    my $dir = $srv->{dir};
    my $m = $req->{method};
    my $p = $req->{path};
    if ($p eq '/_ready') {
        return _json_answer(200, { ok => JSON::PP::true,
            tokens => $srv->{tokens} });
    }
    if ($p eq '/_rules' && $m eq 'POST') {
        my $r = eval { $json->decode($req->{body}) };
        return _json_answer(400, { message => 'a rule is a JSON object' })
            unless ref $r eq 'HASH';
        my @bad = grep { !$RULE_KEYS{$_} } sort keys %$r;
        return _json_answer(400, { message => "unknown rule keys: @bad" })
            if @bad;
        return _json_answer(400, { message => "no channel $r->{channel}" })
            if defined $r->{channel} && !grep { $_ eq $r->{channel} }
                @CHANNELS;
        $r->{drop} = 'mid_response' if $r->{drop} && $r->{drop} eq '1';
        return _json_answer(400, { message => 'drop is mid_response or '
            . 'before_response' })
            if $r->{drop} && $r->{drop} !~ /^(mid|before)_response$/;
        my $id = _with_state($dir, sub {
            my ($s) = @_;
            $r->{id} = $s->{next_rule}++;
            push @{ $s->{rules} }, $r;
            $r->{id};
        });
        return _json_answer(201, { id => $id });
    }
    if ($p eq '/_callbacks' && $m eq 'POST') {
        my $cb = eval { $json->decode($req->{body}) };
        return _json_answer(400, { message => 'a callback is {"channel",'
            . '"url","secret"}' })
            unless ref $cb eq 'HASH' && defined $cb->{url}
                && defined $cb->{secret} && defined $cb->{channel}
                && grep { $_ eq $cb->{channel} } qw(whatsapp messenger);
        _with_state($dir, sub { $_[0]{callbacks}{ $cb->{channel} } = {
            url => $cb->{url}, secret => $cb->{secret} } });
        return _json_answer(204);
    }
    if ($p eq '/_rules' && $m eq 'GET') {
        return _json_answer(200, { rules =>
            _with_state($dir, sub { $_[0]{rules} }) });
    }
    if ($p eq '/_rules' && $m eq 'DELETE') {
        _with_state($dir, sub { $_[0]{rules} = [] });
        return _json_answer(204);
    }
    if ($p eq '/_requests' && $m eq 'GET') {
        my $f = _query_params($req->{query});
        my @r = _read_requests($srv);
        @r = grep { my $x = $_; !grep { defined $f->{$_}
                        && ($x->{$_} // '') ne $f->{$_} }
                    qw(channel recipient account status accepted) } @r;
        @r = grep { $_->{seq} > $f->{since} } @r if defined $f->{since};
        return _json_answer(200, { requests => \@r });
    }
    if ($p eq '/_requests' && $m eq 'DELETE') {
        _with_state($dir, sub { _forget_requests($srv) });
        return _json_answer(204);
    }
    if ($p eq '/_reset' && $m eq 'POST') {
        _with_state($dir, sub {
            %{ $_[0] } = %{ _fresh_state() };
            _forget_requests($srv);
        });
        return _json_answer(204);
    }
    if ($p eq '/_stats' && $m eq 'GET') {
        return _json_answer(200, _with_state($dir, sub {
            my ($s) = @_;
            return +{ %{ $s->{stats} }, requests => $s->{seq},
                      rules => scalar @{ $s->{rules} } };
        }));
    }
    return _json_answer(404, { message => "no control $m $p" });
}


# ---------------------------------------------------------------------------
# The server: t/fake-channels run calls serve().

sub _stat {
    my ($dir, $name, $extra) = @_;
    _with_state($dir, sub {
        $_[0]{stats}{$name}++;
        $_[0]{stats}{last_tls_error} = $extra if defined $extra;
    });
}

sub _serve_connection {
    my ($srv, $sock, $tls, $id) = @_;
    my %conn = (id => $id, tls => $tls ? JSON::PP::true : JSON::PP::false);
    _stat($srv->{dir}, 'connections');
    if ($tls) {
        my $ok = IO::Socket::SSL->start_SSL($sock, SSL_server => 1,
            SSL_cert_file => $tls->{cert}, SSL_key_file => $tls->{key},
            Timeout => 10);
        unless ($ok) {
            # the client refused our certificate, or spoke no TLS
            _stat($srv->{dir}, 'tls_failures', "$SSL_ERROR");
            return;
        }
        _stat($srv->{dir}, 'tls_handshakes');
        $conn{sni} = $sock->get_servername;
    }
    my $buf = '';
    while (1) {
        my $req = _read_request($sock, \$buf, $srv->{idle}) or last;
        my $ans = _handle($srv, $req, \%conn);
        _send_answer($sock, $ans) or last;
        _callback($ans->{callback}) if $ans->{callback};
    }
    if ($tls) {
        # a dropped answer ends without TLS's close_notify, as a cut does
        $sock->close(SSL_no_shutdown => 1);
    } else {
        close $sock;
    }
}

sub _listen {
    my ($port) = @_;
    my $l = IO::Socket::INET->new(Listen => 128, LocalAddr => '127.0.0.1',
        LocalPort => $port // 0, Proto => 'tcp', ReuseAddr => 1);
    die "listen on port " . ($port // 0) . ": $!\n" unless $l;
    return $l;
}

# %o: dir, port, rogue_port, control_port, tokens, parent, idle,
# callbacks => { channel => { url, secret } }
sub serve {
    my (%o) = @_;
    my $dir = $o{dir};
    make_path($dir);
    my $f = tls_material($dir);
    my %srv = (dir => $dir, idle => $o{idle} // 30,
               tokens => { %DEFAULT_TOKEN, %{ $o{tokens} // {} } });
    _with_state($dir, sub {
        %{ $_[0] } = %{ _fresh_state() };
        $_[0]{callbacks} = $o{callbacks} // {};
    });
    unlink "$dir/requests.jsonl";

    my $main = _listen($o{port});
    my $rogue = _listen($o{rogue_port});
    my $control = _listen($o{control_port});
    my %tls_of = (
        fileno($main)  => { cert => $f->{cert_file},
                            key => $f->{key_file} },
        fileno($rogue) => { cert => $f->{rogue_cert_file},
                            key => $f->{rogue_key_file} },
    );

    # the ports file tells the starter that we listen (written whole)
    _write("$dir/ports.json.tmp", $json->encode({ pid => $$,
        port => $main->sockport, rogue_port => $rogue->sockport,
        control_port => $control->sockport, tokens => $srv{tokens},
        %$f }));
    rename "$dir/ports.json.tmp", "$dir/ports.json" or die "ports: $!";

    my $stop = 0;
    local $SIG{TERM} = sub { $stop = 1 };
    local $SIG{INT} = sub { $stop = 1 };
    local $SIG{PIPE} = 'IGNORE';
    my %kids;
    my $conns = 0;
    my $sel = IO::Select->new($main, $rogue, $control);
    until ($stop) {
        my @ready = $sel->can_read(0.5);
        while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
            delete $kids{$pid};
        }
        # started by a test: gone with it
        last if $o{parent} && getppid() != $o{parent};
        for my $l (@ready) {
            my $c = $l->accept or next;
            if ($l == $control) {
                my $buf = '';
                my $req = _read_request($c, \$buf, 5);
                _send_answer($c, { %{ _control(\%srv, $req) }, close => 1 })
                    if $req;
                close $c;
                next;
            }
            my $id = ++$conns;
            my $pid = fork;
            if (!defined $pid) {
                warn "fork: $!";
                close $c;
                next;
            }
            if ($pid == 0) {
                my $tls = $tls_of{ fileno $l };
                srand;    # ids and trace ids differ from the parent's
                $SIG{TERM} = 'DEFAULT';
                close $_ for $main, $rogue, $control;
                _serve_connection(\%srv, $c, $tls, $id);
                POSIX::_exit(0);
            }
            $kids{$pid} = 1;
            close $c;
        }
    }
    kill 'TERM', keys %kids;
    waitpid($_, 0) for keys %kids;
    unlink "$dir/ports.json";
}


# ---------------------------------------------------------------------------
# The client side, for tests: start the server, steer it, read it.

my @started;

# %o: dir (the test's temporary directory; a fakes/ directory is made in
# it), tokens => { channel => token or [tokens] } (each channel's fake
# accepts these only; by default %DEFAULT_TOKEN)
sub start {
    my ($class, %o) = @_;
    my $dir = defined $o{dir} ? "$o{dir}/fakes"
        : tempdir('omni-fakes-' . ('X' x 6), TMPDIR => 1,
                  CLEANUP => !$ENV{OMNI_KEEP});
    make_path($dir);
    unlink "$dir/ports.json";
    my %t = %{ $o{tokens} // {} };
    my @tokens = map { my $c = $_;
                       map { ('--token', "$c=$_") } ref $t{$c} ? @{ $t{$c} }
                                                               : $t{$c} }
        sort keys %t;
    my $parent = $$;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$dir/fake-channels.log" or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        { exec $^X, "$TOP/t/fake-channels", 'run', $dir,
              '--parent', $parent, @tokens }
        POSIX::_exit(127);
    }
    my $self = bless { dir => $dir, pid => $pid }, $class;
    push @started, $self;
    my $deadline = time + 30;
    until (-s "$dir/ports.json") {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid || time > $deadline) {
            delete $self->{pid};
            die "fake channels did not start:\n"
                . `cat $dir/fake-channels.log 2>/dev/null`;
        }
        sleep 0.02;
    }
    open my $fh, '<', "$dir/ports.json" or die $!;
    my $ports = $json->decode(do { local $/; <$fh> });
    %$self = (%$self, %$ports, pid => $pid);
    $self->{http} = HTTP::Tiny->new(timeout => 10, keep_alive => 0);
    return $self;
}

sub dir           { $_[0]{dir} }
sub port          { $_[0]{port} }
sub rogue_port    { $_[0]{rogue_port} }
sub control_port  { $_[0]{control_port} }
sub ca_file       { $_[0]{ca_file} }
sub rogue_ca_file { $_[0]{rogue_ca_file} }
# the (first) token a channel's fake accepts
sub token {
    my ($self, $channel) = @_;
    my $t = $self->{tokens}{$channel};
    return ref $t ? $t->[0] : $t;
}

# a channel's API base, as the omni_channel_api directive takes it;
# %o: rogue => 1 (the port whose certificate the rogue CA signed),
# host => 'localhost' (a name, for SNI; 127.0.0.1 by default)
sub base {
    my ($self, $channel, %o) = @_;
    my $port = $o{rogue} ? $self->{rogue_port} : $self->{port};
    my $host = $o{host} // '127.0.0.1';
    my $root = "https://$host:$port/$channel";
    return $channel eq 'line' ? $root : "$root/$GRAPH_VERSION";
}

# the send endpoint's URL, for clients other than the module
sub send_url {
    my ($self, $channel, %o) = @_;
    my $b = $self->base($channel, %o);
    return "$b/v2/bot/message/push" if $channel eq 'line';
    return "$b/" . ($o{account} // ($channel eq 'messenger' ? 'me'
        : '1065')) . '/messages';
}

sub _call {
    my ($self, $method, $path, $body) = @_;
    my $res = $self->{http}->request($method,
        "http://127.0.0.1:$self->{control_port}$path",
        defined $body ? { content => $json->encode($body),
            headers => { 'Content-Type' => 'application/json' } } : {});
    die "fake channels control $method $path: $res->{status} "
        . "$res->{content}\n" unless $res->{success};
    return length $res->{content} ? $json->decode($res->{content}) : undef;
}

# the next matching requests (all, or `times` of them) answer otherwise:
#   match:  channel, recipient, account
#   answer: status, graph_error (+ subcode), retry_after (Retry-After;
#           429 unless a status is given), delay_ms, drop (mid_response |
#           before_response), chunked, close (Connection: close)
# a rule with no status or graph_error keeps the success answer and only
# changes how it is sent.  The first matching rule wins.
sub rule {
    my ($self, %r) = @_;
    $r{$_} = $r{$_} ? JSON::PP::true : JSON::PP::false
        for grep { exists $r{$_} } qw(chunked close);
    return $self->_call('POST', '/_rules', \%r)->{id};
}

sub fail_next {
    my ($self, $k, %match) = @_;
    return $self->rule(%match, status => 500, times => $k);
}

sub rate_limit {
    my ($self, $retry_after, %match) = @_;
    return $self->rule(times => 1, %match, status => 429,
        retry_after => $retry_after);
}

# statuses of accepted sends go back to url, signed with secret
sub callback {
    my ($self, $channel, $url, $secret) = @_;
    $self->_call('POST', '/_callbacks',
        { channel => $channel, url => $url, secret => $secret });
}

sub rules       { @{ $_[0]->_call('GET', '/_rules')->{rules} } }
sub clear_rules { $_[0]->_call('DELETE', '/_rules') }
sub reset       { $_[0]->_call('POST', '/_reset') }
sub stats       { $_[0]->_call('GET', '/_stats') }

# the requests received, oldest first; filters: channel, recipient,
# account, status, accepted (1: answered 200, the message is "sent"), since
sub requests {
    my ($self, %f) = @_;
    my $q = join '&', map { "$_=" . _escape($f{$_}) } sort keys %f;
    return @{ $self->_call('GET', '/_requests' . ($q ? "?$q" : ''))
        ->{requests} };
}

sub _escape {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9._~-])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

# waits (with a deadline) until `count` requests match the filters; returns
# what matched by then, so `is(scalar @r, N)` reports a shortfall
sub wait_requests {
    my ($self, %f) = @_;
    my $count = delete $f{count} // 1;
    my $deadline = time + (delete $f{timeout} // 10);
    my @r;
    while (1) {
        @r = $self->requests(%f);
        return @r if @r >= $count || time > $deadline;
        sleep 0.02;
    }
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    local ($?, $!);
    kill 'TERM', $pid;
    my $deadline = time + 10;
    while (waitpid($pid, POSIX::WNOHANG()) == 0) {
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid $pid, 0;
            last;
        }
        sleep 0.02;
    }
}

sub DESTROY { $_[0]->stop }

END { $_->stop for grep { defined } @started }


# ---------------------------------------------------------------------------
# Webhooks: signed inbound requests, and the channels' documented sample
# payloads with the ids filled in.  Each sample function returns a whole
# payload (one event); merge_payloads() puts several in one request, as a
# burst arrives.  Ids not given are made unique per call.

my $uniq = 0;

sub _next { return sprintf '%d%04d%04d', time, $$ % 10000, ++$uniq }

sub _hex32 { return substr(sha256_hex(_next() . rand), 0, 32) }

# LINE's webhookEventId is a ULID
sub _ulid {
    my @c = split //, '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    return join '', map { $c[rand @c] } 1 .. 26;
}

# X-Hub-Signature-256: Meta's header (WhatsApp, Messenger, Instagram)
sub sign_meta {
    my ($secret, $body) = @_;
    return ('X-Hub-Signature-256' => 'sha256='
        . hmac_sha256_hex($body, $secret));
}

# X-Line-Signature: base64 with its padding, which Digest::SHA leaves off
sub sign_line {
    my ($secret, $body) = @_;
    my $b64 = hmac_sha256_base64($body, $secret);
    $b64 .= '=' while length($b64) % 4;
    return ('X-Line-Signature' => $b64);
}

# (body bytes, headers) for POST /omni/hooks/{channel_id}
# %o: channel, secret, payload (a hash, or bytes as they are)
sub signed_webhook {
    my (%o) = @_;
    my $body = ref $o{payload} ? $json->encode($o{payload}) : $o{payload};
    my %h = ('Content-Type' => 'application/json',
        $o{channel} eq 'line' ? sign_line($o{secret}, $body)
                              : sign_meta($o{secret}, $body));
    return ($body, \%h);
}

# the query of Meta's subscription handshake (GET)
sub meta_handshake_query {
    my (%o) = @_;
    return '?hub.mode=' . ($o{mode} // 'subscribe')
        . '&hub.verify_token=' . _escape($o{verify_token})
        . '&hub.challenge=' . _escape($o{challenge} // _next());
}

# several payloads of one channel in one request
sub merge_payloads {
    my ($first, @rest) = @_;
    my %m = %$first;
    my $list = exists $m{events} ? 'events' : 'entry';
    $m{$list} = [ map { @{ $_->{$list} } } $first, @rest ];
    return \%m;
}

# WhatsApp Cloud API: entry[].changes[].value.{messages,statuses}[]
sub _wa_value {
    my ($o, %v) = @_;
    return {
        object => 'whatsapp_business_account',
        entry  => [ {
            id      => $o->{waba_id} // '102290129340398',
            changes => [ {
                field => 'messages',
                value => {
                    messaging_product => 'whatsapp',
                    metadata => {
                        display_phone_number =>
                            $o->{display_phone_number} // '15550783881',
                        phone_number_id => $o->{phone_number_id} // '1065',
                    },
                    %v,
                },
            } ],
        } ],
    };
}

sub _wa_message {
    my ($o, $type, %body) = @_;
    my $from = $o->{from} // '85291234567';
    return _wa_value($o,
        contacts => [ { profile => { name => $o->{name} // 'Sheena Nelson' },
                        wa_id => $from } ],
        messages => [ {
            from => $from,
            id => $o->{id} // 'wamid.HBgL' . _next() . 'AA==',
            timestamp => '' . ($o->{timestamp} // int(time)),
            type => $type,
            $o->{context} ? (context => $o->{context}) : (),
            %body,
        } ]);
}

# %o for every whatsapp_*: phone_number_id, display_phone_number, waba_id,
# from (the wa_id), name, id (wamid), timestamp
sub whatsapp_text {
    my (%o) = @_;
    return _wa_message(\%o, 'text',
        text => { body => $o{text} // 'Does it come in another color?' });
}

sub whatsapp_image {
    my (%o) = @_;
    return _wa_message(\%o, 'image', image => {
        caption   => $o{caption} // 'This is a caption',
        mime_type => 'image/jpeg',
        sha256    => sha256_hex($o{media_id} // 'img'),
        id        => $o{media_id} // '2754859441498128' });
}

sub whatsapp_location {
    my (%o) = @_;
    return _wa_message(\%o, 'location', location => {
        latitude  => $o{latitude} // 22.2793,
        longitude => $o{longitude} // 114.1628,
        name      => $o{place} // 'Pacific Place',
        address   => $o{address} // '88 Queensway, Admiralty' });
}

sub whatsapp_sticker {
    my (%o) = @_;
    return _wa_message(\%o, 'sticker', sticker => {
        mime_type => 'image/webp', animated => JSON::PP::false,
        sha256 => sha256_hex('sticker'),
        id => $o{media_id} // '1228711301476316' });
}

# a tap on a reply button of our interactive message; context: its wamid
sub whatsapp_button_reply {
    my (%o) = @_;
    return _wa_message({ %o, context => { from => $o{display_phone_number}
        // '15550783881', id => $o{reply_to} // 'wamid.ours' } },
        'interactive', interactive => {
            type => 'button_reply',
            button_reply => { id => $o{button_id} // 'yes-please',
                              title => $o{title} // 'Yes' } });
}

# a tap on a template's quick-reply button
sub whatsapp_quick_reply {
    my (%o) = @_;
    return _wa_message({ %o, context => { from => $o{display_phone_number}
        // '15550783881', id => $o{reply_to} // 'wamid.ours' } },
        'button', button => { text => $o{title} // 'Stop promotions',
                              payload => $o{payload} // 'STOP' });
}

sub whatsapp_unsupported {
    my (%o) = @_;
    return _wa_message(\%o, 'unsupported', errors => [ {
        code => 131051, title => 'Message type unknown',
        message => 'Message type unknown',
        error_data => { details => 'Message type is currently not '
            . 'supported.' } } ]);
}

# a status of one of our messages: sent, delivered, read, or failed (with
# error_code, default 131047)
sub whatsapp_status {
    my (%o) = @_;
    my $status = $o{status} // 'delivered';
    my %s = (
        id => $o{id} // die('whatsapp_status: the wamid (id) we sent'),
        status => $status,
        timestamp => '' . ($o{timestamp} // int(time)),
        recipient_id => $o{recipient_id} // '85291234567',
    );
    if ($status eq 'failed') {
        my $code = $o{error_code} // 131047;
        my ($title, $details) = $code == 131047
            ? ('Re-engagement message', $GRAPH_ERROR{131047}[3])
            : ($o{error_title} // "Error $code",
               $o{error_title} // "Error $code");
        $s{errors} = [ { code => $code + 0, title => $title,
            message => $title, error_data => { details => $details } } ];
    } else {
        $s{conversation} = { id => $o{conversation_id}
            // 'a75d17ad06104c51166f948319b03c6a',
            origin => { type => 'service' } };
        $s{pricing} = { billable => JSON::PP::true, pricing_model => 'CBP',
                        category => 'service' };
    }
    return _wa_value(\%o, statuses => [ \%s ]);
}

# Messenger (object page) and Instagram (object instagram):
# entry[].messaging[] with sender, recipient, timestamp and one event
sub _meta_event {
    my ($object, $o, %event) = @_;
    my $page = $o->{page_id} // $o->{ig_user_id}
        // ($object eq 'page' ? '2077' : '3099');
    my $ms = $o->{timestamp} // int(time * 1000);
    return {
        object => $object,
        entry  => [ {
            id => $page, time => $ms,
            messaging => [ {
                sender    => { id => $o->{psid} // $o->{igsid}
                                     // '6783456789012345' },
                recipient => { id => $page },
                timestamp => $ms,
                %event,
            } ],
        } ],
    };
}

# %o for messenger_*: page_id, psid, mid, timestamp (ms)
sub messenger_text {
    my (%o) = @_;
    return _meta_event('page', \%o, message => {
        mid => $o{mid} // 'm_' . _next(),
        text => $o{text} // 'hello, world!',
        $o{quick_reply} ? (quick_reply => { payload => $o{quick_reply} })
                        : () });
}

sub messenger_image {
    my (%o) = @_;
    return _meta_event('page', \%o, message => {
        mid => $o{mid} // 'm_' . _next(),
        attachments => [ { type => $o{type} // 'image', payload => {
            url => $o{url} // 'https://scontent.example/image.jpg' } } ] });
}

sub messenger_postback {
    my (%o) = @_;
    return _meta_event('page', \%o, postback => {
        mid => $o{mid} // 'm_' . _next(),
        title => $o{title} // 'Get Started',
        payload => $o{payload} // 'GET_STARTED' });
}

# our messages up to `watermark` (ms) delivered; mids: their ids
sub messenger_delivery {
    my (%o) = @_;
    return _meta_event('page', \%o, delivery => {
        $o{mids} ? (mids => $o{mids}) : (),
        watermark => $o{watermark} // int(time * 1000) });
}

sub messenger_read {
    my (%o) = @_;
    return _meta_event('page', \%o,
        read => { watermark => $o{watermark} // int(time * 1000) });
}

# %o for instagram_*: ig_user_id, igsid, mid, timestamp (ms)
sub instagram_text {
    my (%o) = @_;
    return _meta_event('instagram', \%o, message => {
        mid => $o{mid} // 'aWdfZAG1faW' . _next(),
        text => $o{text} // 'Is this in stock?' });
}

sub instagram_image {
    my (%o) = @_;
    return _meta_event('instagram', \%o, message => {
        mid => $o{mid} // 'aWdfZAG1faW' . _next(),
        attachments => [ { type => 'image', payload => {
            url => $o{url} // 'https://lookaside.example/ig.jpg' } } ] });
}

sub instagram_postback {
    my (%o) = @_;
    return _meta_event('instagram', \%o, postback => {
        mid => $o{mid} // 'aWdfZAG1faW' . _next(),
        title => $o{title} // 'Opening hours',
        payload => $o{payload} // 'HOURS' });
}

# messaging_seen: the customer read our message `mid`
sub instagram_read {
    my (%o) = @_;
    return _meta_event('instagram', \%o,
        read => { mid => $o{mid} // die('instagram_read: our mid') });
}

# LINE: {destination, events[]}, each event with webhookEventId and
# deliveryContext.isRedelivery
sub _line_event {
    my ($o, $type, %event) = @_;
    return {
        destination => $o->{destination} // 'U' . ('0' x 31) . '1',
        events => [ {
            type => $type,
            mode => 'active',
            timestamp => $o->{timestamp} // int(time * 1000),
            source => { type => 'user',
                        userId => $o->{user_id} // 'U' . _hex32() },
            webhookEventId => $o->{webhook_event_id} // _ulid(),
            deliveryContext => { isRedelivery => $o->{redelivery}
                ? JSON::PP::true : JSON::PP::false },
            %event,
        } ],
    };
}

sub _line_message {
    my ($o, %m) = @_;
    return _line_event($o, 'message',
        replyToken => _rand_token(30),
        message => { id => $o->{message_id} // _next(),
                     quoteToken => _rand_token(40), %m });
}

# %o for line_*: destination (our bot's user id), user_id, message_id,
# webhook_event_id, redelivery, timestamp (ms)
sub line_text {
    my (%o) = @_;
    return _line_message(\%o, type => 'text',
        text => $o{text} // 'Hello, world! (love)');
}

sub line_image {
    my (%o) = @_;
    return _line_message(\%o, type => 'image',
        contentProvider => { type => 'line' });
}

sub line_sticker {
    my (%o) = @_;
    return _line_message(\%o, type => 'sticker',
        packageId => $o{package_id} // '446',
        stickerId => $o{sticker_id} // '1988',
        stickerResourceType => 'STATIC');
}

sub line_location {
    my (%o) = @_;
    return _line_message(\%o, type => 'location',
        title => $o{place} // 'Pacific Place',
        address => $o{address} // '88 Queensway, Admiralty',
        latitude => $o{latitude} // 22.2793,
        longitude => $o{longitude} // 114.1628);
}

sub line_postback {
    my (%o) = @_;
    return _line_event(\%o, 'postback', replyToken => _rand_token(30),
        postback => { data => $o{data} // 'action=buy&itemid=111' });
}

sub line_follow {
    my (%o) = @_;
    return _line_event(\%o, 'follow', replyToken => _rand_token(30),
        follow => { isUnblocked => JSON::PP::false });
}

1;
