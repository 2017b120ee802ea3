#!/usr/bin/perl
# The drainer's pace: a batch carries at most omni_pixel_flush_bytes of the
# ring, and under steady traffic the next batch comes when about that much
# has arrived, not only when omni_pixel_flush_interval is over, so that
# PostgreSQL's work comes in short pieces; a quiet ring rests the interval.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use lib 't/lib';
use Omni::Test;

my $t = Omni::Test->new(log_level => 'debug', ring => '32m', http_extra => q{
    omni_pixel_flush_interval 4s;
    omni_pixel_flush_bytes 64k;
});
my $ta = $t->tenant(name => 'Shop', plan => [qw(marketing_advanced)]);

# POSTs of 20 events, as sendBeacon sends them: about 4 KB of ring each
my $sent = 0;

sub post_events {
    my ($tag) = @_;
    my @evs = map { { ev => $tag, vid => "$tag" . ($sent + $_),
                      props => { pad => 'x' x 100 } } } 1 .. 20;
    my $res = $t->post("/omni/px/$ta->{pixel_key}", { body => \@evs,
        headers => { 'Content-Type' => 'text/plain' } });
    die "beacons refused: $res->{status}" unless $res->{status} == 204;
    $sent += 20;
}

sub stored {
    my ($tag) = @_;
    return scalar $t->dbh->selectrow_array(
        'SELECT count(*) FROM pixel_events WHERE ev = ?', undef, $tag);
}

# a burst of about 400 KB: no block holds more than 64 KB of it
post_events('burst') for 1 .. 100;
$t->wait_until(sub { stored('burst') == 2000 }, 30, 'the burst stored');

my ($blocks, $largest) = $t->dbh->selectrow_array(q{
    SELECT count(*), max(octet_length(events)) FROM pixel_event_blocks
     WHERE evs = 'burst'});
cmp_ok($largest, '<=', 64 * 1024, "no batch over 64 KB ($largest bytes)");
cmp_ok($blocks, '>=', 6, "so the burst took several batches ($blocks)");

sub quiet_rests {
    my @rests = $t->error_log
        =~ /omni flusher: 0 bytes wait, the next batch in 4000 ms/g;
    return scalar @rests;
}
my $quiet_rests = quiet_rests();

# steady traffic for 8 s: the rest that began when the ring was quiet
# ends within 4 s; from then on the drainer has the rate, and rests only
# until about 64 KB more have come, far less than 4 s
my $start = time;
post_events('steady') while time - $start < 8;
my $steady = $sent - 2000;
$t->wait_until(sub { stored('steady') == $steady }, 30,
    "the steady $steady stored");

# the lag of the events of the last 3 s, from the ring to PostgreSQL: a
# rest of the whole interval would leave some of them 3 s and more
my ($lag) = $t->dbh->selectrow_array(q{
    SELECT max(extract(epoch FROM b.stored_at)
               - omni_px_line_ms(l.line) / 1000.0)
      FROM pixel_event_blocks b, string_to_table(b.events, E'\n') AS l(line)
     WHERE b.evs = 'steady' AND omni_px_line_ms(l.line) > ?},
    undef, int(($start + 5) * 1000));
cmp_ok($lag, '<', 1.5, sprintf('stored %.2f s after at most, under a flush '
    . 'interval of 4 s', $lag));

# quiet again: within a window or two the drainer rests the whole interval
$t->wait_until(sub { quiet_rests() > $quiet_rests }, 30,
    'a quiet ring rests the interval again');
pass('a quiet ring rests the interval again');

is($t->metric('omni_pixel_events_lost_total'), 0, 'nothing lost');

done_testing();
