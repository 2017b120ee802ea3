#!/usr/bin/perl
# A full ring never drops a beacon: rows it can't take go to overflow files,
# which are closed, replayed and removed once PostgreSQL takes them; every
# accepted beacon ends up stored exactly once.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Omni::Test;

my $t = Omni::Test->new(workers => 1, ring => '32k');
my $ta = $t->tenant(name => 'Shop', plan => [qw(marketing_advanced)]);
my $key = $ta->{pixel_key};
my $n = 1500;

$t->stop_pg;

my $ok = 0;
for my $i (1 .. $n) {
    $ok++ if $t->get("/omni/px/$key.gif?ev=flood&vid=f$i&url="
        . ('https%3A%2F%2Fshop.example%2F' x 4))->{status} == 200;
}
is($ok, $n, 'every beacon answered while the ring overflows');
my @overflow = glob($t->dir . '/spool/overflow-*');
ok(@overflow, 'the full ring spilled rows to overflow files');
is($t->metric('omni_pixel_events_lost_total'), 0, 'none lost');
is($t->metric('omni_pixel_beacons_total', 'accepted'), $n, 'all accepted');

$t->start_pg;
$t->wait_until(sub {
    $t->dbh->selectrow_array(q{SELECT count(*) FROM pixel_events
        WHERE ev = 'flood'}) == $n
}, 30, "all $n stored after PostgreSQL is back");
is($t->dbh->selectrow_array(q{SELECT count(DISTINCT vid) FROM pixel_events
    WHERE ev = 'flood'}), $n, 'none twice');
$t->wait_until(sub { !glob($t->dir . '/spool/*') }, 10,
    'the spool directory is empty again');

done_testing();
