#!/usr/bin/perl
# Pixel beacons (SPEC §7): the GIF always, POST batches, the script; bad
# beacons counted and not stored; every event of a burst in the log.

use strict;
use warnings;
use utf8;
use Test::More;
use lib 't/lib';
use Omni::Test;

my $t = Omni::Test->new(workers => 2, http_extra => q{
    omni_pixel_flush_batch 500;
});
my $ta = $t->tenant(name => 'Shop', plan => [qw(marketing_advanced)]);
my $key = $ta->{pixel_key};
my $marketer = { token => $ta->{admin_token} };

my $GIF = pack('C*', 0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01,
    0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9,
    0x04, 0x01, 0x00, 0x00, 0x01, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x4c, 0x01, 0x00, 0x3b);

sub stored {
    my ($where, @bind) = @_;
    return $t->dbh->selectrow_array(
        "SELECT count(*) FROM pixel_events WHERE $where", undef, @bind);
}

sub gif_ok {
    my ($res, $name) = @_;
    is($res->{status}, 200, "$name: 200");
    is($res->{headers}{'content-type'}, 'image/gif', "$name: image/gif");
    is($res->{content}, $GIF, "$name: the 43-byte transparent GIF");
    is($res->{headers}{'cache-control'}, 'no-store', "$name: no-store");
}

# the contract
gif_ok($t->get("/omni/px/$key.gif?ev=pageview&vid=c1&url="
    . 'https%3A%2F%2Fshop.example%2Fp%3Fa%3D1&ref=&ts=1764050000000'
    . '&p.sku=TGY-100&p.price=128&p.name=%E9%90%B5%E8%A7%80%E9%9F%B3'),
    'a beacon');
$t->wait_until(sub { stored('vid = ?', 'c1') == 1 }, 5, 'stored');
my $row = $t->dbh->selectrow_hashref(
    'SELECT * FROM pixel_events WHERE vid = ?', undef, 'c1');
is($row->{tenant_id}, $ta->{id}, 'under the key\'s tenant');
is($row->{url}, 'https://shop.example/p?a=1', 'url decoded');
is($t->dbh->selectrow_array(q{SELECT props->>'name' FROM pixel_events
    WHERE vid = 'c1'}), '鐵觀音', 'UTF-8 properties kept');
is($t->dbh->selectrow_array(q{SELECT props->>'sku' FROM pixel_events
    WHERE vid = 'c1'}), 'TGY-100', 'p.KEY becomes a property');
is($t->dbh->selectrow_array(q{SELECT extract(epoch FROM client_ts)::bigint
    FROM pixel_events WHERE vid = 'c1'}), 1764050000, 'client time');

# bad beacons: still the GIF, counted as rejected, not stored
my $rejected = $t->metric('omni_pixel_beacons_total', 'rejected');
my @bad = (
    "/omni/px/$key.gif?vid=nameless",                 # no ev
    "/omni/px/$key.gif?ev=pageview",                  # no vid
    "/omni/px/$key.gif?ev=bad%20name&vid=b1",         # ev with a space
    "/omni/px/$key.gif?ev=x&vid=" . ('v' x 65),       # vid too long
    "/omni/px/x.gif?ev=pageview&vid=b2",              # key too short
    "/omni/px/$key.gif",                              # nothing
);
gif_ok($t->get($_), "malformed: $_") for @bad;
is($t->metric('omni_pixel_beacons_total', 'rejected') - $rejected,
    scalar @bad, 'each malformed beacon counted as rejected');

# an unknown key: the GIF, counted when the batch reaches the database
gif_ok($t->get('/omni/px/px_000000000000000000000000.gif?ev=x&vid=u1'),
    'unknown key');
$t->wait_until(sub {
    $t->metric('omni_pixel_beacons_total', 'unknown_key') == 1
}, 5, 'the unknown key is counted');
is(stored('vid = ?', 'u1'), 0, 'and not stored');

# hostile bytes never poison a batch: tabs, newlines, NUL, bad UTF-8
gif_ok($t->get("/omni/px/$key.gif?ev=x&vid=h1&url=a%09b%0Ac%00d%FF%FEe"
    . '&ref=%5C%5CN&p.%22k%22=%5C%09'), 'hostile bytes');
gif_ok($t->get("/omni/px/$key.gif?ev=x&vid=h2"), 'the next beacon');
$t->wait_until(sub { stored(q{vid IN ('h1', 'h2')}) == 2 }, 5,
    'both stored');
like($t->dbh->selectrow_array(q{SELECT url FROM pixel_events
    WHERE vid = 'h1'}), qr/^a\tb\ncd\x{fffd}\x{fffd}e$|^a\tb\ncd/,
    'control bytes kept as text, invalid UTF-8 replaced');

# POST batches, as sendBeacon sends them (text/plain)
my $res = $t->post("/omni/px/$key", { headers =>
    { 'Content-Type' => 'text/plain;charset=UTF-8' }, body =>
    '[{"ev":"pageview","vid":"p1","url":"https://shop/","ts":1764050000000},'
    . '{"ev":"add_to_cart","vid":"p1","props":{"sku":"A1","qty":2}},'
    . '{"ev":"bad name","vid":"p1"},"not an event"]' });
is($res->{status}, 204, 'POST: 204');
is($res->{headers}{'access-control-allow-origin'}, '*', 'POST: CORS');
$t->wait_until(sub { stored('vid = ?', 'p1') == 2 }, 5,
    'the two good events of the batch are stored');
is($t->dbh->selectrow_array(q{SELECT props->>'qty' FROM pixel_events
    WHERE vid = 'p1' AND ev = 'add_to_cart'}), 2, 'with their props');

# a character PostgreSQL's jsonb refuses (\u0000) costs that character,
# not the value, the event or the batch
$res = $t->post("/omni/px/$key", { body =>
    '[{"ev":"nul","vid":"n1","props":{"a":"x\\u0000y"}},'
    . '{"ev":"nul","vid":"n2","props":{"b":"ok"}}]' });
is($res->{status}, 204, 'POST with a NUL in a property');
$t->wait_until(sub { stored(q{ev = 'nul'}) == 2 }, 5,
    'both events of that batch stored');
is($t->dbh->selectrow_array(q{SELECT props::text FROM pixel_events
    WHERE vid = 'n1'}), '{"a": "xy"}', 'the NUL is dropped from the value');
is($t->dbh->selectrow_array(q{SELECT props->>'b' FROM pixel_events
    WHERE vid = 'n2'}), 'ok', 'its neighbour keeps its props');

# a NUL in a name (a property's, or an event's own) costs that name and
# its value: jansson can't hold such a key, and it used to fail the batch
$res = $t->post("/omni/px/$key", { body =>
    '[{"ev":"nulkey","vid":"k1","props":{"a\\u0000b":"x",'
    . '"\\u0000":{"deep":[1,"\\u0000",{"z\\u0000":2}]},"c":"y"}},'
    . '{"ev":"nulkey","x\\u0000":1,"vid":"k2","props":{"d":"z","e\\u0000":1}}]'
    });
is($res->{status}, 204, 'POST with a NUL in property names');
$t->wait_until(sub { stored(q{ev = 'nulkey'}) == 2 }, 5,
    'both events of that batch stored');
is($t->dbh->selectrow_array(q{SELECT props::text FROM pixel_events
    WHERE vid = 'k1'}), '{"c": "y"}',
    'the properties named with a NUL left out');
is($t->dbh->selectrow_array(q{SELECT props::text FROM pixel_events
    WHERE vid = 'k2'}), '{"d": "z"}', 'in the next event too');

# more properties than a beacon may carry: the event is refused and
# counted, not stored without them
my $before = $t->metric('omni_pixel_beacons_total', 'rejected');
$res = $t->post("/omni/px/$key", { body => [
    { ev => 'many', vid => 'm1', props => { map { ("k$_" => 1) } 1 .. 51 } },
    { ev => 'many', vid => 'm2', props => { map { ("k$_" => 1) } 1 .. 50 } },
] });
is($res->{status}, 204, 'POST with 51 properties on an event');
$t->wait_until(sub { stored(q{vid = 'm2'}) == 1 }, 5,
    'the one with 50 stored');
is(stored(q{vid = 'm1'}), 0, 'the one with 51 not (it came first)');
is($t->metric('omni_pixel_beacons_total', 'rejected') - $before, 1,
    'the one with 51 counted as rejected');

# a client time PostgreSQL can't hold is dropped, not the event: one
# such beacon used to fail its batch on every retry
is($t->get("/omni/px/$key.gif?ev=far&vid=f1&ts=9223372036854775807")
    ->{status}, 200, 'a beacon with ts past int64 gets its GIF');
$t->get("/omni/px/$key.gif?ev=far&vid=f2&ts=253402300800000");
$res = $t->post("/omni/px/$key", { body =>
    '[{"ev":"far","vid":"f3","ts":1e300},{"ev":"far","vid":"f4","ts":-5},'
    . '{"ev":"far","vid":"f5","ts":1764050000000}]' });
is($res->{status}, 204, 'POST with times out of range');
$t->wait_until(sub { stored(q{ev = 'far'}) == 5 }, 5,
    'every beacon with a time out of range is stored');
is_deeply($t->dbh->selectcol_arrayref(q{SELECT vid FROM pixel_events
    WHERE ev = 'far' AND client_ts IS NULL ORDER BY vid}),
    [qw(f1 f2 f3 f4)], 'their client time is absent');
is($t->dbh->selectrow_array(q{SELECT extract(epoch FROM client_ts)::bigint
    FROM pixel_events WHERE vid = 'f5'}), 1764050000, 'a good one is kept');
$t->get("/omni/px/$key.gif?ev=after_far&vid=f6");
$t->wait_until(sub { stored(q{ev = 'after_far'}) == 1 }, 5,
    'and the beacons after them too');

$res = $t->post("/omni/px/$key", { body => '{"ev":"x"}' });
is($res->{status}, 400, 'POST of a non-array: 400');
is($res->{json}{error}{code}, 'invalid_body', 'POST of a non-array: JSON');
$res = $t->request('OPTIONS', "/omni/px/$key");
is($res->{status}, 204, 'CORS preflight');
like($res->{headers}{'access-control-allow-methods'}, qr/POST/,
    'preflight allows POST');

# the script
$res = $t->get('/omni/px/omni.js');
is($res->{status}, 200, 'omni.js');
like($res->{headers}{'content-type'}, qr{^application/javascript},
    'as JavaScript');
like($res->{content}, qr/sendBeacon/, 'the Pixel script');
my $etag = $res->{headers}{etag};
is($t->get('/omni/px/omni.js', { headers => { 'If-None-Match' => $etag } })
    ->{status}, 304, 'revalidation: 304');

# a burst: every event in the log, none twice
my $n = 2000;
for my $i (1 .. $n) {
    $t->get("/omni/px/$key.gif?ev=burst&vid=burst$i") for 1;
}
$t->wait_until(sub { stored(q{ev = 'burst'}) == $n }, 20,
    "all $n burst events stored");
is(stored(q{ev = 'burst'}), $n, 'exactly once each');
cmp_ok($t->metric('omni_pixel_flush_batches_total'), '>=', $n / 500,
    'batches of at most omni_pixel_flush_batch rows');

my (%seen, $cursor, $pages);
do {
    my $page = $t->get('/omni/api/v1/pixel/logs?ev=burst&per_page=100'
        . ($cursor ? "&cursor=$cursor" : ''), $marketer);
    is($page->{status}, 200, 'log page') unless $pages;
    $seen{ $_->{vid} }++ for @{ $page->{json}{items} };
    cmp_ok(scalar @{ $page->{json}{items} }, '<=', 100, 'at most 100')
        unless $pages;
    $cursor = $page->{json}{next_cursor};
    $pages++;
} while ($cursor && $pages < 100);
is(scalar keys %seen, $n, 'the log shows every burst event');
ok(!grep({ $_ > 1 } values %seen), 'none twice across pages');
is($pages, $n / 100, '100 a page');
is($t->metric('omni_pixel_events_lost_total'), 0, 'nothing lost');

done_testing();
