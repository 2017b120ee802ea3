#!/usr/bin/perl
# Pixel batches are assembled off the event loop: in nginx's thread pool
# (omni_thread_pool, "default" unless told), or in slices on the loop when
# there is no pool; either way every event is stored exactly once, also
# when a batch wraps around the ring's end.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Omni::Test;

# POST batches of 100 events each, as sendBeacon sends them
sub send_events {
    my ($t, $key, $tag, $n) = @_;
    my $ok = 0;
    for (my $i = 0; $i < $n; $i += 100) {
        my @evs = map { { ev => $tag, vid => "$tag$_",
                          props => { pad => 'x' x 40 } } }
                  $i + 1 .. ($i + 100 > $n ? $n : $i + 100);
        my $res = $t->post("/omni/px/$key", { body => \@evs,
            headers => { 'Content-Type' => 'text/plain' } });
        $ok += @evs if $res->{status} == 204;
    }
    return $ok;
}

sub stored {
    my ($t, $tag) = @_;
    return $t->dbh->selectrow_array(
        'SELECT count(*), count(DISTINCT vid) FROM pixel_events WHERE ev = ?',
        undef, $tag);
}

sub all_stored {
    my ($t, $tag, $n, $why) = @_;
    $t->wait_until(sub { (stored($t, $tag))[0] >= $n }, 60,
        "$why: all $n stored");
    my ($rows, $distinct) = stored($t, $tag);
    is($rows, $n, "$why: $n events stored");
    is($distinct, $n, "$why: none twice");
}

sub run {
    my ($why, %opts) = @_;
    my $t = Omni::Test->new(log_level => 'debug', ring => '1m', %opts);
    my $ta = $t->tenant(name => 'Shop', plan => [qw(marketing_advanced)]);

    # 1 MB of ring: these wrap around its end more than once
    is(send_events($t, $ta->{pixel_key}, 'th', 12000), 12000,
        "$why: beacons accepted");
    all_stored($t, 'th', 12000, $why);
    is($t->metric('omni_pixel_events_lost_total'), 0, "$why: nothing lost");
    my $log = $t->error_log;
    $t->stop;
    return $log;
}

# the default: nginx's "default" pool, created for the module
my $log = run('default pool', http_extra => q{
    omni_pixel_flush_interval 50ms;
});
like($log, qr/omni batch: job 1 posted to the thread pool/,
    'default pool: batches are shaped in the thread pool');
like($log, qr/omni batch: job 2 done in the thread pool: 0/,
    'default pool: and encoded there');
unlike($log, qr/in slices on the event loop/,
    'default pool: never in slices');

# a pool the operator declares and names
$log = run('named pool', main_extra => 'thread_pool omni_px threads=2;',
    http_extra => q{
        omni_thread_pool omni_px;
        omni_pixel_flush_interval 50ms;
    });
like($log, qr/omni batch: job 1 done in the thread pool: 0/,
    'named pool: batches are assembled in it');

# no pool: slices on the event loop, several to a batch (a batch waits
# 300 ms, so it holds thousands of rows)
$log = run('no pool', http_extra => q{
    omni_thread_pool off;
    omni_pixel_flush_interval 300ms;
    omni_pixel_flush_batch 20000;
});
like($log, qr/omni batch: job 1 in slices on the event loop/,
    'no pool: batches are shaped in slices');
like($log, qr/omni batch: job 2 done in slices: 0/,
    'no pool: and encoded in slices');
unlike($log, qr/thread pool/, 'no pool: the thread pool is never used');
my ($largest) = sort { $b <=> $a } $log =~ /batch shaped: (\d+) rows/g;
cmp_ok($largest // 0, '>', 1000, 'no pool: a batch takes several slices');

# a pool nginx does not have: said once at start, then slices
$log = run('unknown pool', http_extra => q{
    omni_thread_pool nosuch;
});
like($log, qr/nginx has no thread pool "nosuch": pixel batches are assembled/,
    'unknown pool: the log says so');
like($log, qr/omni batch: job 1 in slices on the event loop/,
    'unknown pool: slices on the loop');

done_testing;
