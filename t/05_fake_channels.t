#!/usr/bin/perl
# The fake channel APIs that the deliverer's tests send to: each channel's
# send endpoint over HTTPS with the test CA, its auth and payload checks,
# the failures it plays on demand, a CA we do not trust refused, and the
# signed webhooks the inbound tests post.  No nginx here: the fakes alone.

use strict;
use warnings;
use utf8;
use Test::More;
use lib 't/lib';
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use Digest::SHA ();
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use POSIX ();
use Time::HiRes qw(sleep time);
use Encode ();
use Omni::FakeChannels qw(:webhooks);

my $json = JSON::PP->new->canonical->utf8;
my $dir = tempdir('omni-test-' . ('X' x 6), TMPDIR => 1,
    CLEANUP => !$ENV{OMNI_KEEP});
my $fake = Omni::FakeChannels->start(dir => $dir);

sub client {
    my (%o) = @_;
    return HTTP::Tiny->new(timeout => 10, verify_SSL => 1,
        SSL_options => { SSL_ca_file => $o{ca} // $fake->ca_file }, %o);
}

my $https = client();

sub post {
    my ($url, $body, %o) = @_;
    my $http = delete $o{http} // $https;
    my $res = $http->request('POST', $url, {
        headers => { 'Content-Type' => 'application/json', %o },
        content => ref $body ? $json->encode($body) : $body });
    $res->{json} = eval { $json->decode($res->{content}) };
    return $res;
}

sub bearer { (Authorization => "Bearer $_[0]") }

sub wa_message {
    my ($to, $text) = @_;
    return { messaging_product => 'whatsapp', recipient_type => 'individual',
             to => $to, type => 'text', text => { body => $text // 'hi' } };
}

sub wa_send {
    my ($to, %o) = @_;
    return post($fake->send_url('whatsapp'), wa_message($to, $o{text}),
        bearer($o{token} // $fake->token('whatsapp')),
        $o{http} ? (http => $o{http}) : ());
}

sub fb_message {
    my ($psid, $text) = @_;
    return { recipient => { id => $psid }, messaging_type => 'RESPONSE',
             message => { text => $text // 'hi' } };
}

my $LINE_USER = 'U4af4980629' . ('0' x 22);

sub line_send {
    my ($body, %h) = @_;
    return post($fake->send_url('line'), $body,
        bearer($fake->token('line')), %h);
}

sub line_push {
    my ($to, @texts) = @_;
    return { to => $to,
             messages => [ map { { type => 'text', text => $_ } } @texts ] };
}

my $RETRY_KEY = '123e4567-e89b-12d3-a456-426614174000';

# --- each channel's happy path, through HTTPS and the test CA

my $res = wa_send('85291234567', text => '你好, your order shipped');
is($res->{status}, 200, 'WhatsApp: a text message is sent');
is($res->{json}{messaging_product}, 'whatsapp', 'WhatsApp: product named');
is_deeply($res->{json}{contacts},
    [ { input => '85291234567', wa_id => '85291234567' } ],
    'WhatsApp: the contact as Cloud API names it');
like($res->{json}{messages}[0]{id}, qr/^wamid\.\S+$/,
    'WhatsApp: a wamid for the message');
my ($got) = $fake->wait_requests(channel => 'whatsapp', count => 1);
is($got->{account}, '1065', 'the fake records the phone number id');
is($got->{recipient}, '85291234567', 'and the recipient');
is($got->{json}{text}{body}, '你好, your order shipped',
    'and the payload as sent (UTF-8)');
ok($got->{accepted}, 'and that the channel accepted it');
is($got->{answer}{messages}[0]{id}, $res->{json}{messages}[0]{id},
    'and the id it answered');

$res = post($fake->send_url('messenger') . '?access_token='
    . $fake->token('messenger'), fb_message('6783456789012345'));
is($res->{status}, 200, 'Messenger: sent with access_token in the query');
is($res->{json}{recipient_id}, '6783456789012345', 'Messenger: recipient_id');
like($res->{json}{message_id}, qr/^m_\S+$/, 'Messenger: message_id');
$res = post($fake->send_url('messenger', account => '2077'),
    fb_message('6783456789012345'), bearer($fake->token('messenger')));
is($res->{status}, 200, 'Messenger: sent as the page, with a Bearer token');
$res = $https->request('POST', $fake->send_url('messenger'), {
    headers => { 'Content-Type' => 'application/x-www-form-urlencoded' },
    content => "recipient={'id':'6783456789012345'}&messaging_type=RESPONSE"
        . "&message={'text':'hello, world'}&access_token="
        . $fake->token('messenger') });
is($res->{status}, 200, 'Messenger: the documented form-encoded call');

$res = post($fake->send_url('instagram', account => '3099'),
    { recipient => { id => '1254459154682919' },
      message => { text => 'We open at 10' } },
    bearer($fake->token('instagram')));
is($res->{status}, 200, 'Instagram: a text message is sent');
is($res->{json}{recipient_id}, '1254459154682919', 'Instagram: recipient_id');
ok(length $res->{json}{message_id}, 'Instagram: message_id');

$res = line_send(line_push($LINE_USER, 'Hello', 'World'),
    'X-Line-Retry-Key' => $RETRY_KEY);
is($res->{status}, 200, 'LINE: a push with two messages is sent');
is(scalar @{ $res->{json}{sentMessages} }, 2, 'LINE: one sentMessage each');
like($res->{json}{sentMessages}[0]{id}, qr/^\d{18}$/, 'LINE: message id');
ok(length $res->{json}{sentMessages}[0]{quoteToken}, 'LINE: quoteToken');
like($res->{headers}{'x-line-request-id'}, qr/^[0-9a-f-]{36}$/,
    'LINE: X-Line-Request-Id');

my @all = $fake->wait_requests(count => 6);
is(scalar @all, 6, 'six sends recorded');
is(join(',', map { $_->{channel} } @all),
    'whatsapp,messenger,messenger,messenger,instagram,line',
    'each with its channel, in order');
ok(!grep({ !$_->{accepted} } @all), 'all accepted');

# --- auth, and the payload shape each API demands

$res = wa_send('85291234567', token => 'wrong');
is($res->{status}, 401, 'WhatsApp: a wrong token is 401');
is($res->{json}{error}{code}, 190, 'as Graph error 190');
is($res->{json}{error}{type}, 'OAuthException', 'an OAuthException');
like($res->{json}{error}{fbtrace_id}, qr/^\w{11}$/, 'with a fbtrace_id');
$res = post($fake->send_url('whatsapp') . '?access_token=wa-token',
    wa_message('85291234567'));
is($res->{json}{error}{code}, 104,
    'WhatsApp: the token goes in the Authorization header');
$res = post($fake->send_url('whatsapp'),
    { to => '85291234567', type => 'text', text => { body => 'x' } },
    bearer('wa-token'));
is($res->{status}, 400, 'WhatsApp: no messaging_product is 400');
is($res->{json}{error}{code}, 100, 'as Graph error 100');
like($res->{json}{error}{message}, qr/messaging_product/, 'naming it');
is($res->{json}{error}{error_data}{messaging_product}, 'whatsapp',
    'with error_data as Cloud API gives it');
$res = post($fake->send_url('whatsapp'),
    { %{ wa_message('85291234567') }, text => { body => '' } },
    bearer('wa-token'));
like($res->{json}{error}{message}, qr/text\['body'\]/,
    'WhatsApp: an empty text body is refused');
$res = post($fake->send_url('whatsapp'),
    { %{ wa_message('85291234567') }, type => 'image',
      image => { id => '1', link => 'https://x/y.jpg' } },
    bearer('wa-token'));
is($res->{status}, 400, 'WhatsApp: media by id or link, not both');
$res = post($fake->send_url('whatsapp'), '{"messaging_product":',
    bearer('wa-token'));
is($res->{json}{error}{code}, 100, 'WhatsApp: a torn body is error 100');

$res = post($fake->send_url('messenger'),
    { recipient => { id => '1' }, message => { text => 'x' } },
    bearer('fb-token'));
like($res->{json}{error}{message}, qr/messaging_type/,
    'Messenger: messaging_type is required');
$res = post($fake->send_url('messenger'),
    fb_message('1', 'x' x 2001), bearer('fb-token'));
like($res->{json}{error}{message}, qr/less than or equal to 2000/,
    'Messenger: text over 2000 characters refused');
$res = post($fake->send_url('instagram', account => '3099'),
    { recipient => { id => '1' }, message => { text => 'x' x 1001 } },
    bearer('ig-token'));
like($res->{json}{error}{message}, qr/less than or equal to 1000/,
    'Instagram: text over 1000 characters refused');
$res = post($fake->send_url('instagram', account => '3099'),
    { recipient => { id => '1' }, message => { text => 'x' } },
    bearer('fb-token'));
is($res->{json}{error}{code}, 190, "Instagram: Messenger's token refused");

$res = post($fake->send_url('line'), line_push($LINE_USER, 'x'),
    bearer('wrong'));
is($res->{status}, 401, 'LINE: a wrong channel access token is 401');
like($res->{json}{message}, qr/^Authentication failed/, 'in LINE\'s words');
$res = line_send(line_push($LINE_USER, map { "m$_" } 1 .. 6));
is($res->{status}, 400, 'LINE: six messages in a push are refused');
is_deeply($res->{json}{details},
    [ { message => 'Size must be between 1 and 5', property => 'messages' } ],
    'LINE: details name the property');
$res = line_send(line_push('85291234567', 'x'));
like($res->{json}{message}, qr/'to'/, 'LINE: a "to" that is no user id');
$res = line_send(line_push($LINE_USER, 'x'), 'X-Line-Retry-Key' => 'abc');
like($res->{json}{message}, qr/X-Line-Retry-Key/,
    'LINE: a retry key that is no UUID');

$res = post("https://127.0.0.1:" . $fake->port . '/telegram/bot1/send',
    {}, bearer('x'));
is($res->{status}, 404, 'a path of no channel is 404');

my @refused = $fake->requests(accepted => 0);
is(scalar @refused, 15, 'refused requests are recorded too');
ok(!grep({ $_->{status} == 200 } @refused), 'none answered 200');

# --- failures on demand

$fake->reset;
$fake->fail_next(2, channel => 'whatsapp');
is(join(',', map { wa_send('85291234567')->{status} } 1 .. 3),
    '500,500,200', 'fail the next 2, then succeed');
$res = do { $fake->fail_next(1); wa_send('85291234567') };
ok($res->{json}{error}{is_transient}, 'a 5xx is a transient Graph error');
is(scalar $fake->rules, 0, 'spent rules are gone');
is(scalar $fake->requests(accepted => 1, channel => 'whatsapp'), 1,
    'one message went out');

$fake->rate_limit(7, channel => 'line');
$res = line_send(line_push($LINE_USER, 'x'));
is($res->{status}, 429, 'LINE: 429 on demand');
is($res->{headers}{'retry-after'}, 7, 'with Retry-After');
like($res->{json}{message}, qr/rate limit/, 'in LINE\'s words');
is(line_send(line_push($LINE_USER, 'x'))->{status}, 200,
    'and the next one goes');

$fake->rule(channel => 'whatsapp', status => 429, retry_after => 2,
    times => 1);
$res = wa_send('85291234567');
is($res->{json}{error}{code}, 130429, 'WhatsApp: a 429 is error 130429');
is($res->{headers}{'retry-after'}, 2, 'with Retry-After');

$fake->rule(channel => 'whatsapp', graph_error => 131056, times => 1);
$res = wa_send('85291234567');
is($res->{status}, 400, 'WhatsApp: pair rate limit as Graph answers it');
is($res->{json}{error}{code}, 131056, 'error 131056');
like($res->{json}{error}{error_data}{details}, qr/same phone number/,
    'with its details');
$fake->rule(graph_error => 190, times => 1);
is(wa_send('85291234567')->{status}, 401, 'a Graph error 190 on demand');
$fake->rule(channel => 'messenger', graph_error => 10, times => 1);
$res = post($fake->send_url('messenger'), fb_message('1'), bearer('fb-token'));
is($res->{json}{error}{error_subcode}, 2018278,
    'Messenger: outside the window, with its subcode');

$fake->rule(recipient => '85290000001', status => 500);
is(wa_send('85290000001')->{status}, 500, 'a rule for one recipient');
is(wa_send('85290000002')->{status}, 200, 'leaves another alone');
$fake->clear_rules;
is(wa_send('85290000001')->{status}, 200, 'until the rules are cleared');

# slow: the answer waits, other connections do not
$fake->reset;
$fake->rule(recipient => '85290000003', delay_ms => 1500, times => 1);
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    my $r = wa_send('85290000003', http => client());
    POSIX::_exit($r->{status} == 200 ? 0 : 1);
}
$fake->wait_requests(recipient => '85290000003', count => 1);
my $t0 = time;
is(wa_send('85290000004')->{status}, 200, 'another send meanwhile');
cmp_ok(time - $t0, '<', 1.0, 'is not held by the slow one');
waitpid $pid, 0;
is($?, 0, 'the slow one is answered 200');
$fake->rule(delay_ms => 600, times => 1);
$t0 = time;
is(wa_send('85290000005')->{status}, 200, 'a slow answer comes');
cmp_ok(time - $t0, '>=', 0.6, 'after the delay asked');

# drop: the channel took the message, the answer is lost on the way
$fake->rule(recipient => '85290000006', drop => 'mid_response', times => 1);
$res = wa_send('85290000006');
is($res->{status}, 599, 'a connection dropped mid-answer');
ok(($fake->requests(recipient => '85290000006'))[0]{accepted},
    'yet the channel counted the message sent');
$fake->rule(drop => 'before_response', times => 1);
is(wa_send('85290000007')->{status}, 599, 'dropped before any answer');

# chunked answers, keep-alive and its end
$fake->rule(channel => 'line', chunked => 1, times => 1);
$res = line_send(line_push($LINE_USER, 'x'));
is($res->{headers}{'transfer-encoding'}, 'chunked', 'a chunked answer');
ok($res->{json}{sentMessages}[0]{id}, 'whose JSON arrives whole');
my $keep = client();
wa_send('85290000008', http => $keep) for 1 .. 2;
my @k = $fake->requests(recipient => '85290000008');
is($k[0]{conn}, $k[1]{conn}, 'keep-alive: two sends on one connection');
$fake->rule(recipient => '85290000008', close => 1, times => 1);
is(wa_send('85290000008', http => $keep)->{headers}{connection}, 'close',
    'Connection: close on demand');
wa_send('85290000008', http => $keep);
@k = $fake->requests(recipient => '85290000008');
isnt($k[3]{conn}, $k[2]{conn}, 'and the next send opens a new one');

# LINE's retry key: only an accepted push blocks its retries
$fake->reset;
my $key2 = '223e4567-e89b-12d3-a456-426614174000';
$fake->fail_next(1, channel => 'line');
is(line_send(line_push($LINE_USER, 'x'), 'X-Line-Retry-Key' => $key2)
    ->{status}, 500, 'LINE: a push fails');
$res = line_send(line_push($LINE_USER, 'x'), 'X-Line-Retry-Key' => $key2);
is($res->{status}, 200, 'its retry with the same key goes through');
my $first = $res->{json}{sentMessages};
$res = line_send(line_push($LINE_USER, 'x'), 'X-Line-Retry-Key' => $key2);
is($res->{status}, 409, 'a retry after acceptance is 409');
is_deeply($res->{json}{sentMessages}, $first,
    'naming the messages first sent');
ok($res->{headers}{'x-line-accepted-request-id'},
    'and the accepted request');
is(scalar $fake->requests(channel => 'line', accepted => 1), 1,
    'the message went out once');
is($fake->stats->{accepted}{line}, 1, 'as the counters say');

my $bad = HTTP::Tiny->new->request('POST',
    'http://127.0.0.1:' . $fake->control_port . '/_rules',
    { content => '{"stauts":500}' });
is($bad->{status}, 400, 'a misspelt rule is refused, not ignored');

# --- TLS: the test CA's certificate, SNI, and a CA we do not trust

$res = post($fake->send_url('whatsapp', host => 'localhost'),
    wa_message('85291234567'), bearer('wa-token'));
is($res->{status}, 200, 'the certificate names localhost too');
is(($fake->requests(channel => 'whatsapp'))[-1]{sni}, 'localhost',
    'the fake records the SNI name sent');

my $before = $fake->stats->{tls_failures};
$res = post($fake->send_url('whatsapp', rogue => 1),
    wa_message('85291234567'), bearer('wa-token'));
is($res->{status}, 599, 'a certificate of another CA is refused');
like($res->{content}, qr/certificate verify failed/i,
    'by certificate verification');
$res = post($fake->send_url('whatsapp', rogue => 1),
    wa_message('85291234567'), bearer('wa-token'),
    http => client(ca => $fake->rogue_ca_file));
is($res->{status}, 200, 'the same port answers whoever trusts its CA');
my $deadline = time + 10;
sleep 0.02 while $fake->stats->{tls_failures} <= $before && time < $deadline;
cmp_ok($fake->stats->{tls_failures}, '>', $before,
    'the fake counts the refused handshake');
is(HTTP::Tiny->new(verify_SSL => 1, timeout => 10)
    ->get($fake->base('line') . '/v2/bot/message/push')->{status}, 599,
    'the system store does not trust the test CA');

# --- signed webhooks, checked against the openssl CLI

# the HMAC as hex, or as base64 (-binary | openssl base64)
sub openssl_hmac {
    my ($secret, $body, $base64) = @_;
    my $f = "$dir/body";
    open my $fh, '>:raw', $f or die $!;
    print $fh $body;
    close $fh;
    my $cmd = "openssl dgst -sha256 -hmac '$secret' "
        . ($base64 ? "-binary < '$f' | openssl base64 -A" : "< '$f'");
    my $mac = `$cmd`;
    $mac =~ s/^.*= //;
    chomp $mac;
    return $mac;
}

my ($body, $h) = signed_webhook(channel => 'whatsapp', secret => 'wa-secret',
    payload => whatsapp_text(text => '有貨嗎?'));
is($h->{'X-Hub-Signature-256'}, 'sha256=' . openssl_hmac('wa-secret', $body),
    'X-Hub-Signature-256 is the hex HMAC-SHA256 of the raw body');
ok(index($body, Encode::encode('UTF-8', '有貨嗎')) >= 0,
    'over the UTF-8 bytes');
my $line_secret = 'line-secret';
for my $n (1 .. 3) {
    # base64 of 32 bytes always pads one '='; vary the body anyway
    ($body, $h) = signed_webhook(channel => 'line', secret => $line_secret,
        payload => line_text(text => 'x' x $n));
    is($h->{'X-Line-Signature'}, openssl_hmac($line_secret, $body, 1),
        "X-Line-Signature is the padded base64 HMAC ($n)");
}
like($h->{'X-Line-Signature'}, qr/=$/, 'with its padding');
is(length decode_base64($h->{'X-Line-Signature'}), 32, '32 bytes of MAC');
($body, $h) = signed_webhook(channel => 'messenger', secret => 's',
    payload => '{"object":"page"}');
is($h->{'X-Hub-Signature-256'},
    'sha256=' . openssl_hmac('s', '{"object":"page"}'),
    'a raw body is signed as given');

# --- sample payloads in the documented shapes

my $wa = whatsapp_text(phone_number_id => '1065', from => '85291234567',
    text => 'hello');
is($wa->{object}, 'whatsapp_business_account', 'WhatsApp: object');
my $v = $wa->{entry}[0]{changes}[0]{value};
is($wa->{entry}[0]{changes}[0]{field}, 'messages', 'WhatsApp: field');
is($v->{metadata}{phone_number_id}, '1065', 'WhatsApp: phone number id');
is($v->{contacts}[0]{wa_id}, '85291234567', 'WhatsApp: contact wa_id');
is_deeply([ @{ $v->{messages}[0] }{qw(from type)},
    $v->{messages}[0]{text}{body} ],
    [ '85291234567', 'text', 'hello' ], 'WhatsApp: the text message');
isnt(whatsapp_text()->{entry}[0]{changes}[0]{value}{messages}[0]{id},
    whatsapp_text()->{entry}[0]{changes}[0]{value}{messages}[0]{id},
    'ids differ between calls');
is(whatsapp_image(media_id => '42')->{entry}[0]{changes}[0]{value}
    {messages}[0]{image}{id}, '42', 'WhatsApp: an image by media id');
is(whatsapp_button_reply(reply_to => 'wamid.A')->{entry}[0]{changes}[0]
    {value}{messages}[0]{context}{id}, 'wamid.A',
    'WhatsApp: a button reply names our message');
my $st = whatsapp_status(id => 'wamid.A', status => 'failed')
    ->{entry}[0]{changes}[0]{value}{statuses}[0];
is_deeply([ $st->{status}, $st->{errors}[0]{code} ], [ 'failed', 131047 ],
    'WhatsApp: a failed status with its error code');
is(whatsapp_status(id => 'wamid.A')->{entry}[0]{changes}[0]{value}
    {statuses}[0]{status}, 'delivered', 'WhatsApp: delivered by default');

my $fb = messenger_postback(page_id => '2077', psid => '99',
    payload => 'BUY');
is($fb->{object}, 'page', 'Messenger: object page');
is_deeply([ $fb->{entry}[0]{id}, $fb->{entry}[0]{messaging}[0]{sender}{id},
    $fb->{entry}[0]{messaging}[0]{postback}{payload} ], [ '2077', '99', 'BUY' ],
    'Messenger: a postback from the customer to the page');
is_deeply(messenger_delivery(mids => ['m_1'])->{entry}[0]{messaging}[0]
    {delivery}{mids}, ['m_1'], 'Messenger: a delivery');
my $ig = instagram_text(ig_user_id => '3099', igsid => '77', text => 'hi');
is($ig->{object}, 'instagram', 'Instagram: object instagram');
is($ig->{entry}[0]{messaging}[0]{message}{text}, 'hi', 'Instagram: text');

my $ln = line_text(user_id => $LINE_USER, message_id => '444573844083572737',
    redelivery => 1);
my $ev = $ln->{events}[0];
is_deeply([ @$ev{qw(type mode)}, $ev->{source}{userId},
    $ev->{message}{id}, $ev->{message}{type} ],
    [ 'message', 'active', $LINE_USER, '444573844083572737', 'text' ],
    'LINE: a text message event');
like($ev->{webhookEventId}, qr/^[0-9A-Z]{26}$/, 'LINE: a ULID event id');
ok($ev->{deliveryContext}{isRedelivery}, 'LINE: a redelivery marked');
my $burst = merge_payloads(line_text(), line_postback(), line_sticker());
is(join(',', map { $_->{type} } @{ $burst->{events} }),
    'message,postback,message', 'several events in one request');
is(scalar @{ merge_payloads(whatsapp_text(), whatsapp_status(id => 'w'))
    ->{entry} }, 2, 'several WhatsApp entries in one request');
is(meta_handshake_query(verify_token => 'v t', challenge => 'c1'),
    '?hub.mode=subscribe&hub.verify_token=v%20t&hub.challenge=c1',
    "Meta's handshake query");

# --- status callbacks: after an accepted send, the channel's own signed
# status webhooks go to the URL we name (make demo points them at omni)
{
    my $l = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1',
        LocalPort => 0, Proto => 'tcp', ReuseAddr => 1) or die $!;
    my $port = $l->sockport;
    my $got = "$dir/callbacks.jsonl";
    my $kid = fork // die;
    if ($kid == 0) {
        for (1 .. 3) {
            my $c = $l->accept or last;
            my ($head, $body) = ('', '');
            while (my $line = <$c>) {
                $head .= $line;
                last if $line =~ /^\r?\n$/;
            }
            my ($len) = $head =~ /content-length:\s*(\d+)/i;
            read $c, $body, $len // 0;
            my ($sig) = $head =~ /x-hub-signature-256:\s*(\S+)/i;
            open my $fh, '>>', $got or die;
            print $fh $json->encode({ sig => $sig, body => $body }), "\n";
            close $fh;
            print $c "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                . "Connection: close\r\n\r\nok";
            close $c;
        }
        POSIX::_exit(0);
    }
    close $l;
    $fake->callback('whatsapp', "http://127.0.0.1:$port/omni/hooks/7",
                    'cb-secret');
    my $res = post($fake->send_url('whatsapp', account => '1065'),
        { messaging_product => 'whatsapp', to => '85291230000',
          type => 'text', text => { body => 'status back' } },
        Authorization => 'Bearer ' . $fake->token('whatsapp'));
    is($res->{status}, 200, 'callback: the send is accepted');
    my $wamid = $res->{json}{messages}[0]{id};
    my @cb;
    my $deadline = time + 10;
    while (time < $deadline) {
        @cb = -f $got ? do { open my $fh, '<', $got; map { $json->decode($_) }
                              <$fh> } : ();
        last if @cb >= 2;
        sleep 0.05;
    }
    is(scalar @cb, 2, 'callback: two status webhooks came back');
    my @st = map { my $b = $json->decode($_->{body});
                   $b->{entry}[0]{changes}[0]{value}{statuses}[0] } @cb;
    is_deeply([ map { $_->{status} } @st ], [ 'sent', 'delivered' ],
        'callback: sent, then delivered');
    is_deeply([ map { $_->{id} } @st ], [ $wamid, $wamid ],
        'callback: both name the wamid the send got');
    is($st[0]{recipient_id}, '85291230000', 'callback: the recipient');
    is_deeply([ map { $_->{sig} } @cb ],
        [ map { 'sha256=' . Digest::SHA::hmac_sha256_hex($_->{body},
                                                         'cb-secret') } @cb ],
        'callback: signed with the secret we gave');
    kill 'TERM', $kid;
    waitpid $kid, 0;
    $fake->_call('POST', '/_reset');
}

# --- the wrapper that make demo starts

my $wdir = "$dir/wrapper";
my $start = "$^X t/fake-channels start $wdir";
my $out = `$start --token line=demo-line --token line=other-line 2>&1`;
my %kv = $out =~ /^(\w+)=(\S*)$/mg;
like($kv{FAKE_WHATSAPP_API}, qr{^https://127\.0\.0\.1:\d+/whatsapp/v\d},
    't/fake-channels start prints the API bases');
is($kv{FAKE_LINE_TOKEN}, 'demo-line', 'and the tokens, as given');
$res = post("$kv{FAKE_LINE_API}/v2/bot/message/push",
    line_push($LINE_USER, 'demo'), bearer('demo-line'),
    http => client(ca => $kv{FAKE_CA_FILE}));
is($res->{status}, 200, 'and serves');
is(post("$kv{FAKE_LINE_API}/v2/bot/message/push",
    line_push($LINE_USER, 'demo'), bearer('other-line'),
    http => client(ca => $kv{FAKE_CA_FILE}))->{status}, 200,
    'a channel may accept several tokens');
like(`$start 2>&1`, qr/already run/,
    'a second start on the same directory is refused');
is(`$^X t/fake-channels env $wdir`, $out,
    't/fake-channels env prints the running server\'s lines again');
system($^X, 't/fake-channels', 'stop', $wdir);
ok(!kill(0, $kv{FAKE_PID}), 't/fake-channels stop stops it');
isnt(system("$^X t/fake-channels env $wdir"), 0,
    'env fails once it is stopped');

# t/fake-channels webhook: one signed webhook from a named builder, as
# make demo seeds its shopper's message
{
    my $l = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
        LocalPort => 0, Proto => 'tcp', ReuseAddr => 1) or die $!;
    my $url = 'http://127.0.0.1:' . $l->sockport . '/omni/hooks/9';
    my $got = "$dir/webhook.json";
    my $kid = fork // die;
    if ($kid == 0) {
        alarm 20;
        my $c = $l->accept or POSIX::_exit(1);
        my ($head, $body) = ('', '');
        while (my $line = <$c>) {
            $head .= $line;
            last if $line =~ /^\r?\n$/;
        }
        my ($len) = $head =~ /content-length:\s*(\d+)/i;
        read $c, $body, $len // 0;
        my ($sig) = $head =~ /x-hub-signature-256:\s*(\S+)/i;
        open my $fh, '>', "$got.tmp" or die;
        print $fh $json->encode({ head => $head, sig => $sig,
                                  body => $body });
        close $fh;
        rename "$got.tmp", $got;
        print $c "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n"
            . "Connection: close\r\n\r\n{\"received\":1}";
        close $c;
        POSIX::_exit(0);
    }
    close $l;
    my $cmd = "$^X t/fake-channels webhook $url whatsapp wh-secret "
        . q(whatsapp_text phone_number_id=1065 from=6581234567 'text=hi there');
    my $said = `$cmd`;
    is($?, 0, 'webhook: exits 0 on a 2xx answer');
    is($said, qq(200 {"received":1}\n), 'webhook: prints status and answer');
    waitpid $kid, 0;
    my $req = $json->decode(do { local (@ARGV, $/) = $got; <> });
    like($req->{head}, qr{^POST /omni/hooks/9 }, 'webhook: posted to URL');
    is($req->{sig}, 'sha256='
        . Digest::SHA::hmac_sha256_hex($req->{body}, 'wh-secret'),
        'webhook: signed with the secret given');
    my $v = $json->decode($req->{body})->{entry}[0]{changes}[0]{value};
    is_deeply([ $v->{metadata}{phone_number_id}, $v->{messages}[0]{from},
                $v->{messages}[0]{text}{body} ],
        [ '1065', '6581234567', 'hi there' ],
        'webhook: the builder\'s payload, with the options given');
    isnt(system("$^X t/fake-channels webhook $url whatsapp s line_text "
        . '2>/dev/null'), 0, 'webhook: a builder of another channel refused');
}

$fake->stop;
done_testing();
