#!/usr/bin/perl
# Errors nginx raises before it picks a location (a duplicate header, a
# header or a request line too large) answer in omni's JSON error shape
# under /omni/, and a beacon still gets its GIF, with the shipped
# configuration.  The rest of the server keeps nginx's own pages.
# Raw sockets: HTTP clients refuse to send most of these requests.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use Time::HiRes qw(time);
use lib 't/lib';
use Omni::Test;

my $t = Omni::Test->new(workers => 1);
my $ta = $t->tenant(name => 'Brand A', plan => [qw(cs marketing_advanced)]);
my $token = $ta->{admin_token};
my $key = $ta->{pixel_key};

# send a request as bytes, read the answer until nginx closes
sub raw {
    my ($request) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port, Proto => 'tcp') or die "connect: $!";
    $s->blocking(0);
    my $sel = IO::Select->new($s);
    my ($in, $off) = ('', 0);
    my $deadline = time + 10;
    while (time < $deadline) {
        my $w = $off < length($request) ? IO::Select->new($s) : undef;
        my ($r, $wr) = IO::Select->select($sel, $w, undef, 0.5);
        if ($wr && @$wr) {
            my $n = syswrite($s, $request, 65536, $off);
            # nginx may answer and close before it read everything
            $off = length($request) if !defined $n;
            $off += $n if $n;
        }
        if ($r && @$r) {
            my $n = sysread($s, my $buf, 65536);
            last if !$n;
            $in .= $buf;
        }
    }
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $in, 2;
    $head //= '';
    my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};
    my %h;
    while ($head =~ /^([\w-]+):[ \t]*(.*?)\s*$/mg) {
        $h{lc $1} = $2;
    }
    my $json = ($h{'content-type'} // '') =~ m{^application/json}
        ? eval { decode_json($body) } : undef;
    return { status => $status // 0, headers => \%h, body => $body // '',
             json => $json };
}

sub get_req {
    my ($target, @headers) = @_;
    return "GET $target HTTP/1.1\r\nHost: localhost\r\n"
        . join('', map { "$_\r\n" } @headers)
        . "Connection: close\r\n\r\n";
}

sub json_error {
    my ($res, $status, $code, $why) = @_;
    is($res->{status}, $status, "$why: $status");
    like($res->{headers}{'content-type'} // '', qr{^application/json},
        "$why: JSON, not nginx's page");
    is($res->{json}{error}{code}, $code, "$why: code $code");
    ok(length($res->{json}{error}{message} // ''), "$why: a message");
}

# a duplicate Authorization header
json_error(raw(get_req('/omni/api/v1/me', "Authorization: Bearer $token",
    "Authorization: Bearer $token")), 400, 'bad_request',
    'duplicate Authorization');

# a header line larger than a large header buffer (8k)
for my $size (9 * 1024, 64 * 1024) {
    json_error(raw(get_req('/omni/api/v1/me', "Authorization: Bearer $token",
        'X-Pad: ' . ('a' x $size))), 400, 'header_too_large',
        "a header of $size bytes");
}

# a request line larger than a large header buffer
json_error(raw(get_req('/omni/api/v1/customers?tag=' . ('t' x 100_000),
    "Authorization: Bearer $token")), 414, 'uri_too_long',
    'a 100 KB query string');

# a beacon never breaks a page: still the GIF, counted as rejected
my $rejected = $t->metric('omni_pixel_beacons_total', 'result="rejected"');
my $res = raw(get_req("/omni/px/$key.gif?ev=pageview&vid=v1&url="
    . ('u' x (9 * 1024))));
is($res->{status}, 200, 'a beacon with a 9 KB query: 200');
is($res->{headers}{'content-type'}, 'image/gif', 'the GIF');
is(length($res->{body}), 43, 'the 43-byte GIF');
is($res->{headers}{'cache-control'}, 'no-store', 'not cached');
is($t->metric('omni_pixel_beacons_total', 'result="rejected"'),
    $rejected + 1, 'counted as rejected');

$res = raw(get_req("/omni/px/$key.gif?ev=pageview&vid=v1",
    'Cookie: ' . ('c' x (16 * 1024))));
is($res->{status}, 200, 'a beacon with a 16 KB cookie: 200');
is($res->{headers}{'content-type'}, 'image/gif', 'the GIF again');

$res = raw("HEAD /omni/px/$key.gif?ev=x&url=" . ('u' x (9 * 1024))
    . " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
is($res->{status}, 200, 'a HEAD beacon too long: 200');
is($res->{headers}{'content-type'}, 'image/gif', 'a GIF header');
is($res->{body}, '', 'no body to a HEAD');

# the same errors outside omni's locations keep nginx's own answer
$res = raw(get_req('/shop/index.html', 'X-Pad: ' . ('a' x (9 * 1024))));
is($res->{status}, 400, 'elsewhere in the server: still 400');
like($res->{headers}{'content-type'} // '', qr{^text/html},
    "elsewhere in the server: nginx's own page");
like($res->{body}, qr/Request Header Or Cookie Too Large/,
    'elsewhere: the page says why');
$res = raw(get_req('/shop/?q=' . ('q' x 100_000)));
is($res->{status}, 414, 'a long request line elsewhere: 414');
like($res->{headers}{'content-type'} // '', qr{^text/html},
    "a long request line elsewhere: nginx's own page");

# and the ordinary answers are untouched
json_error(raw(get_req('/omni/nothing')), 404, 'not_found',
    'an unknown omni path');
$res = raw(get_req("/omni/px/$key.gif?ev=pageview&vid=v2"));
is($res->{status}, 200, 'a plain beacon: 200');
is($res->{headers}{'content-type'}, 'image/gif', 'a plain beacon: the GIF');
is(raw(get_req('/omni/api/v1/me', "Authorization: Bearer $token"))
    ->{json}{role}, 'admin', 'a plain API call');

done_testing();
