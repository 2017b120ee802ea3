#!/usr/bin/perl
# Every accepted beacon is stored exactly once: through PostgreSQL going
# away and coming back (spool, replay), nginx -s reload, and kill -9 of a
# worker, each in the middle of a burst.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Omni::Test;

my $t = Omni::Test->new(workers => 2, http_extra => q{
    omni_pg_timeout 2s;
});
$t->expect_worker_crash;
my $ta = $t->tenant(name => 'Shop', plan => [qw(marketing_advanced)]);
my $key = $ta->{pixel_key};

sub burst {
    my ($tag, $from, $to) = @_;
    my $ok = 0;
    for my $i ($from .. $to) {
        $ok++ if $t->get("/omni/px/$key.gif?ev=$tag&vid=$tag$i")->{status}
            == 200;
    }
    return $ok;
}

sub count {
    my ($tag) = @_;
    my $dbh = $t->dbh;
    return $dbh->selectrow_array(
        'SELECT count(*), count(DISTINCT vid) FROM pixel_events WHERE ev = ?',
        undef, $tag);
}

sub all_stored {
    my ($tag, $n, $why) = @_;
    $t->wait_until(sub { (count($tag))[0] >= $n }, 30, "$why: all $n stored");
    my ($rows, $distinct) = count($tag);
    is($rows, $n, "$why: $n rows");
    is($distinct, $n, "$why: none twice");
}

# PostgreSQL stops in the middle of a burst, and comes back
is(burst('pg', 1, 300), 300, 'first half accepted');
$t->stop_pg;
is(burst('pg', 301, 600), 300, 'beacons answered while PostgreSQL is down');
$t->wait_until(sub { $t->metric('omni_pixel_spool_bytes') > 0 }, 10,
    'the ring is spooled to disk while PostgreSQL is away');
# the file is on disk before its rename counts the events: wait for both
ok($t->wait_until(
    sub { $t->metric('omni_pixel_events_spooled_total') > 0 }, 10,
    'spooled events counted'), 'spooled events counted');
$t->start_pg;
all_stored('pg', 600, 'PostgreSQL restarted');
$t->wait_until(sub { $t->metric('omni_pixel_spool_bytes') == 0 }, 10,
    'the spool is replayed and removed');
cmp_ok($t->metric('omni_pixel_events_replayed_total'), '>', 0,
    'replayed events counted');

# nginx -s reload in the middle of a burst
is(burst('reload', 1, 300), 300, 'before the reload');
$t->reload;
is(burst('reload', 301, 600), 300, 'after the reload');
all_stored('reload', 600, 'reload');

# kill -9 of every worker in the middle of a burst
is(burst('kill', 1, 300), 300, 'before the kill');
kill 'KILL', $t->worker_pids;
$t->wait_until(sub { scalar($t->worker_pids) == 2
    && $t->get('/omni/px/omni.js')->{status} == 200 }, 10,
    'the master starts new workers');
is(burst('kill', 301, 600), 300, 'after the kill');
all_stored('kill', 600, 'kill -9');

is($t->metric('omni_pixel_events_lost_total'), 0, 'nothing lost');

done_testing();
