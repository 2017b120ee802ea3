#!/usr/bin/perl
# The Pixel log over event blocks (SPEC §6, §7): newest first across and
# within blocks, keyset pages that never repeat or skip, the ev filter
# (also for a block with too many names to list), since/until, tenants
# apart, unknown keys counted and not stored.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Omni::Test;
use Encode ();
use JSON::PP ();

# an answer body as a strict decoder reads it: UTF-8, then JSON
sub strict_json {
    my ($bytes) = @_;
    my $text = eval { Encode::decode('UTF-8', "$bytes", Encode::FB_CROAK) };
    return defined $text ? eval { JSON::PP->new->decode($text) } : undef;
}

# a long interval: what one test step sends lands in one block
my $t = Omni::Test->new(workers => 1, http_extra => q{
    omni_pixel_flush_interval 300ms;
});
my $ta = $t->tenant(name => 'Shop', plan => [qw(marketing_advanced)]);
my $tb = $t->tenant(name => 'Other', plan => [qw(flagship)]);
my $admin = { token => $ta->{admin_token} };

sub stored {
    my ($tenant) = @_;
    return $t->dbh->selectrow_array('SELECT coalesce(sum(n), 0)
        FROM pixel_event_blocks WHERE tenant_id = ?', undef, $tenant->{id});
}

sub beacons {
    my ($tenant, $ev, @vids) = @_;
    my $before = stored($tenant);
    $t->get("/omni/px/$tenant->{pixel_key}.gif?ev=$ev&vid=$_") for @vids;
    $t->wait_until(sub { stored($tenant) == $before + @vids }, 10,
        scalar(@vids) . " $ev events stored");
}

sub all_pages {
    my ($query, $per_page) = @_;
    my (@items, $cursor, $pages);
    do {
        my $res = $t->get("/omni/api/v1/pixel/logs?per_page=$per_page$query"
            . ($cursor ? "&cursor=$cursor" : ''), $admin);
        die "log page: $res->{status}" unless $res->{status} == 200;
        push @items, @{ $res->{json}{items} };
        $cursor = $res->{json}{next_cursor};
        $pages++;
    } while ($cursor && $pages < 500);
    return (\@items, $pages);
}

# three blocks of 7, then one of 250 (pages inside one block)
my @order;
for my $b (1 .. 3) {
    my @vids = map { sprintf 'o%d_%02d', $b, $_ } 1 .. 7;
    beacons($ta, 'view', @vids);
    push @order, @vids;
}
my @big = map { sprintf 'o4_%03d', $_ } 1 .. 250;
beacons($ta, 'view', @big);
push @order, @big;

cmp_ok($t->dbh->selectrow_array('SELECT count(*) FROM pixel_event_blocks
    WHERE tenant_id = ?', undef, $ta->{id}), '<', scalar @order,
    'events share blocks');

for my $per_page (1, 3, 7, 100) {
    my ($items, $pages) = all_pages('', $per_page);
    is_deeply([ map { $_->{vid} } @$items ], [ reverse @order ],
        "per_page=$per_page: every event once, newest first");
    is($pages, int((@order + $per_page - 1) / $per_page),
        "per_page=$per_page: full pages");
}

# a page read, then more events: the next page goes on where it was
my $first = $t->get('/omni/api/v1/pixel/logs?per_page=5', $admin)->{json};
beacons($ta, 'view', 'late1', 'late2');
my $next = $t->get("/omni/api/v1/pixel/logs?per_page=5"
    . "&cursor=$first->{next_cursor}", $admin)->{json};
is_deeply([ map { $_->{vid} } @{ $next->{items} } ],
    [ (reverse @order)[5 .. 9] ], 'later events never shift a cursor');

# the ev filter: by the block's names, then the line's
# apart in time: since/until below cut between them
beacons($ta, 'cart', 'c1');
beacons($ta, 'cart', 'c2');
beacons($ta, 'view', 'o5_01');
my ($carts) = all_pages('&ev=cart', 100);
is_deeply([ map { $_->{vid} } @$carts ], [qw(c2 c1)], 'ev=cart');
is(scalar @{ (all_pages('&ev=nothing', 100))[0] }, 0, 'ev nobody sent');

# a block with more names than it lists ("*") is still searched
my @names = map { sprintf 'event_name_%03d', $_ } 1 .. 120;
my $before = stored($ta);
$t->post("/omni/px/$ta->{pixel_key}", { body =>
    [ map { { ev => $_, vid => "n_$_" } } @names[0 .. 49] ] });
$t->post("/omni/px/$ta->{pixel_key}", { body =>
    [ map { { ev => $_, vid => "n_$_" } } @names[50 .. 99] ] });
$t->post("/omni/px/$ta->{pixel_key}", { body =>
    [ map { { ev => $_, vid => "n_$_" } } @names[100 .. 119] ] });
$t->wait_until(sub { stored($ta) == $before + 120 }, 10, '120 names stored');
ok($t->dbh->selectrow_array(q{SELECT count(*) FROM pixel_event_blocks
    WHERE tenant_id = ? AND evs = '*'}, undef, $ta->{id}),
    'a block with too many names says "any"');
my ($one) = all_pages('&ev=event_name_077', 100);
is_deeply([ map { $_->{vid} } @$one ], ['n_event_name_077'],
    'and its events are found by name');

# since / until, to the millisecond of each line
my $times = $t->dbh->selectcol_arrayref(q{SELECT to_char(received_at
    AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') FROM pixel_events
    WHERE tenant_id = ? AND vid IN ('c1', 'c2') ORDER BY vid}, undef,
    $ta->{id});
my ($c2_on) = all_pages("&since=$times->[1]", 100);
ok((grep { $_->{vid} eq 'c2' } @$c2_on)
    && !(grep { $_->{vid} eq 'c1' || $_->{vid} =~ /^o[1-4]_/ } @$c2_on),
    'since: from that event on');
my ($before_c2) = all_pages("&until=$times->[1]&ev=cart", 100);
is_deeply([ map { $_->{vid} } @$before_c2 ], ['c1'], 'until: before it');

# an item
my $item = (all_pages('&ev=cart&per_page=1', 1))[0][0];
is($item->{ev}, 'cart', 'an item: ev');
like($item->{id}, qr/^\d+$/, 'an item: id');
like($item->{received_at}, qr/^\d{4}-\d\d-\d\dT/, 'an item: received_at');
like($item->{stored_at}, qr/^\d{4}-\d\d-\d\dT/, 'an item: stored_at');
is_deeply($item->{props}, {}, 'an item: props');
is($item->{ip}, '127.0.0.1', 'an item: ip');

# bad arguments change nothing and say why
for my $bad ('per_page=101', 'per_page=0', 'cursor=x', 'cursor=1.2.3',
             'since=not-a-time')
{
    my $res = $t->get("/omni/api/v1/pixel/logs?$bad", $admin);
    is($res->{status}, 400, "$bad: 400");
    like($res->{json}{error}{code}, qr/^\w+$/, "$bad: a JSON error");
}

# times PostgreSQL holds only as infinities are no times of a log
for my $bad ('since=infinity', 'until=-infinity', 'since=-infinity',
             'until=infinity', 'since=%20Infinity')
{
    my $res = $t->get("/omni/api/v1/pixel/logs?$bad", $admin);
    is($res->{status}, 400, "$bad: 400");
    is($res->{json}{error}{code}, 'invalid_parameter',
        "$bad: invalid_parameter");
    like($res->{json}{error}{message} // '', qr/since|until/,
        "$bad: the message names the argument");
}

# a cursor carries a check: one this list never gave out is refused
my $real = $t->get('/omni/api/v1/pixel/logs?per_page=2', $admin)
    ->{json}{next_cursor};
is($t->get("/omni/api/v1/pixel/logs?per_page=2&cursor=$real", $admin)
    ->{status}, 200, 'a cursor the list gave out');
(my $earlier = $real) =~ s/^(\d*)(\d)/$1 . ($2 ^ 1)/e;
(my $other_event = $real) =~ s/^(\d+\.\d*)(\d)/$1 . ($2 ^ 1)/e;
for my $forged ([ '1700000000000000.5', 'a cursor of the right shape' ],
                [ $earlier, 'a cursor moved in time' ],
                [ $other_event, 'a cursor moved to another event' ],
                [ "$real.1", 'a cursor with more behind it' ])
{
    my ($cursor, $name) = @$forged;
    my $res = $t->get("/omni/api/v1/pixel/logs?cursor=$cursor", $admin);
    is($res->{status}, 400, "$name: 400");
    is($res->{json}{error}{code}, 'invalid_cursor', "$name: invalid_cursor");
}
my $theirs = $t->get("/omni/api/v1/pixel/logs?cursor=$real",
    { token => $tb->{admin_token} });
is($theirs->{status}, 400, "another tenant's cursor: 400");
is($theirs->{json}{error}{code}, 'invalid_cursor',
    "another tenant's cursor: invalid_cursor");

# a NUL in a query value is refused, not cut
for my $nul ("cursor=$real%00", "cursor=$real%00x", 'ev=cart%00x',
             'since=2026-01-01%00x')
{
    my $res = $t->get("/omni/api/v1/pixel/logs?$nul", $admin);
    is($res->{status}, 400, "$nul: 400");
    is($res->{json}{error}{code}, 'invalid_parameter',
        "$nul: invalid_parameter");
}

# every error answer is UTF-8 JSON, however the input was cut into it
for my $q ('since=' . ('%E8%8C%B6' x 42), 'since=%FF%FE', 'ev='
           . ('%E8%8C%B6' x 60), 'cursor=' . ('%E8%8C%B6' x 300))
{
    my $res = $t->get("/omni/api/v1/pixel/logs?$q", $admin);
    is($res->{status}, 400, substr($q, 0, 12) . '...: 400');
    ok(strict_json($res->{content}),
        substr($q, 0, 12) . '...: the body is strict UTF-8 JSON');
}

# tenants apart: the other tenant's events are not in this log
beacons($tb, 'view', 'other1');
my ($mine) = all_pages('', 100);
ok(!grep({ $_->{vid} eq 'other1' } @$mine), 'another tenant\'s events');
is(scalar @{ (all_pages('', 100))[0] }, scalar @$mine, 'stable');
is_deeply([ map { $_->{vid} } @{ $t->get('/omni/api/v1/pixel/logs',
    { token => $tb->{admin_token} })->{json}{items} } ], ['other1'],
    'and the other tenant sees only its own');

# a key spelt like SQL's NULL is a key like any other
$t->dbh->do(q{INSERT INTO pixel_keys (key, tenant_id) VALUES ('NuLl', ?)},
    undef, $tb->{id});
$t->get('/omni/px/NuLl.gif?ev=view&vid=nullkey');
$t->wait_until(sub { $t->dbh->selectrow_array(q{SELECT count(*)
    FROM pixel_events WHERE vid = 'nullkey' AND tenant_id = ?}, undef,
    $tb->{id}) == 1 }, 10, 'a beacon to the key "NuLl" is stored');

# an unknown key: the GIF, counted, not stored
my $unknown = $t->metric('omni_pixel_beacons_total', 'unknown_key') // 0;
is($t->get('/omni/px/no_such_key_1.gif?ev=view&vid=u1')->{status}, 200,
    'unknown key: the GIF');
$t->wait_until(sub {
    ($t->metric('omni_pixel_beacons_total', 'unknown_key') // 0)
        == $unknown + 1 }, 10, 'unknown key: counted');
is($t->dbh->selectrow_array(q{SELECT count(*) FROM pixel_events
    WHERE vid = 'u1'}), 0, 'unknown key: not stored');
is($t->metric('omni_pixel_events_lost_total'), 0, 'nothing lost');

done_testing();
