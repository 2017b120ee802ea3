#!/usr/bin/perl
# The job runner, seen from outside: its jobs show on the status page;
# a host job runs in exactly one worker, and another worker takes it over
# when that one dies; a graceful reload waits for the slice in flight and
# no longer; a fleet job runs on exactly one host of those sharing a
# database, and another host takes it over when that one stops.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use lib 't/lib';
use Omni::Test;

my $t = Omni::Test->new(workers => 2);
$t->expect_worker_crash;
my $ta = $t->tenant(name => 'Shop', plan => [qw(social_cdp)], region => 'SG');
my $key = $ta->{pixel_key};

sub beacons {
    my ($tag, $from, $to, %q) = @_;
    my $qs = join '', map { "&$_=$q{$_}" } sort keys %q;
    my $ok = 0;
    for my $i ($from .. $to) {
        $ok++ if $t->get("/omni/px/$key.gif?ev=$tag&vid=$tag$i$qs")
            ->{status} == 200;
    }
    return $ok;
}

sub stored {
    my ($tag) = @_;
    return $t->dbh->selectrow_array(
        'SELECT count(*) FROM pixel_events WHERE ev = ?', undef, $tag);
}

sub distinct_stored {
    my ($tag) = @_;
    return $t->dbh->selectrow_array(
        'SELECT count(DISTINCT vid) FROM pixel_events WHERE ev = ?', undef,
        $tag);
}

sub held {
    my ($inst, $job) = @_;
    return $inst->metric('omni_job_lease_held', "job=\"$job\"");
}

# the pids of the workers that took a job's lease, in turn, from the log
sub takers {
    my ($inst, $job) = @_;
    return $inst->error_log
        =~ /^\S+ \S+ \[\w+\] (\d+)#\d+: omni: job "\Q$job\E": lease taken/mg;
}

sub holder_pid { (takers(@_))[-1] }

# --- capture: the job's counters move when phones are captured

my $runs = $t->metric('omni_job_runs_total', 'job="pixel_capture"');
my $applied = $t->metric('omni_pixel_captures_applied_total');
is(beacons('form', 1, 3, ph => '%2B65%208123%204567'), 3,
    'beacons with phones answered');
$t->wait_until(sub {
    $t->metric('omni_pixel_captures_applied_total') >= $applied + 3 }, 10,
    'the capture job applies the phones');
cmp_ok($t->metric('omni_job_runs_total', 'job="pixel_capture"'), '>', $runs,
    'capture slices are counted');
is($t->metric('omni_job_errors_total', 'job="pixel_capture"'), 0,
    'without errors');
my $age = $t->metric('omni_job_last_success_age_seconds',
    'job="pixel_capture"');
cmp_ok($age, '<', 5, 'its last success is recent');
cmp_ok($t->metric('omni_job_runs_total', 'job="pixel_flush"'), '>', 0,
    'the flusher is a job too');

# --- one drainer per host

$t->wait_until(sub { held($t, 'pixel_flush') == 1 }, 10,
    'a worker holds the flusher\'s host lease');
for my $i (1 .. 5) {
    is(held($t, 'pixel_flush'), 1, "the status page shows it held ($i)");
}
is(scalar(my @t = takers($t, 'pixel_flush')), 1,
    'by exactly one of the two workers');
$t->wait_until(sub { held($t, 'pixel_capture') == 1 }, 10,
    'and exactly one the capture lease');

my $drainer = holder_pid($t, 'pixel_flush');
ok($drainer && grep({ $_ == $drainer } $t->worker_pids),
    'the log names the holder, a worker');

kill 'KILL', $drainer;
$t->wait_until(sub { !-e "/proc/$drainer" }, 10, 'the holder is reaped');
my $next;
$t->wait_until(sub { $next = holder_pid($t, 'pixel_flush');
                     $next && $next != $drainer }, 10,
    'another worker takes the lease over');
like($t->error_log, qr/drainer $drainer is gone.*taking over/,
    'and says whose lease it takes');
is(beacons('after_kill', 1, 20), 20, 'beacons after the kill answered');
$t->wait_until(sub { stored('after_kill') == 20 }, 10,
    'and stored by the new holder');
$t->wait_until(sub { held($t, 'pixel_flush') == 1 }, 10,
    'one holder again on the status page');

# --- a graceful reload while the flusher waits on PostgreSQL

is(beacons('warm', 1, 1), 1, 'a first beacon');
$t->wait_until(sub { stored('warm') == 1 }, 10, 'stored: the ledger exists');

my $lock = $t->new_dbh;
$lock->begin_work;
$lock->do('SELECT * FROM omni_px_ring_state FOR UPDATE');
is(beacons('reload', 1, 100), 100, 'beacons while the ledger is locked');
$t->wait_until(sub { $t->dbh->selectrow_array(q{SELECT count(*)
    FROM pg_stat_activity WHERE wait_event_type = 'Lock'
     AND query LIKE '%omni_px_ring_lock%'}) }, 10,
    'the flusher\'s batch waits on the lock');

my %old = map { $_ => 1 } $t->worker_pids;
my $hup = time;
kill 'HUP', $t->master_pid;
$t->wait_until(sub { grep({ !$old{$_} } $t->worker_pids) >= 2 }, 10,
    'new workers start');
is(beacons('reload', 101, 200), 100, 'beacons to the new workers');
ok(grep({ $old{$_} } $t->worker_pids), 'the old drainer waits for its batch');
is(held($t, 'pixel_flush') + 0, 1,
    'one holder still: the new workers do not drain meanwhile');

my $released = time;
$lock->commit;
$t->wait_until(sub { !grep { $old{$_} } $t->worker_pids }, 5,
    'the old workers exit once the batch ends');
my $took = time - $released;
cmp_ok($took, '<', 3, sprintf('within seconds (%.2f s) of the batch\'s end',
    $took));
$t->wait_until(sub { stored('reload') == 200 }, 15,
    'every beacon of the reload is stored');
is(stored('reload'), 200, 'once');
is(distinct_stored('reload'), 200, 'each of them');
cmp_ok(time - $hup, '<', 15, 'the reload as a whole took seconds');

# --- one holder of a fleet job across hosts sharing a database

my $t2 = $t->start_second_nginx;
my $sweep = 'job_lease_sweep';
# (the worker killed above may have held it: its row expires first)
$t->wait_until(sub { held($t, $sweep) + held($t2, $sweep) == 1 }, 30,
    'one host holds the fleet job\'s lease');
for my $i (1 .. 5) {
    is(held($t, $sweep) + held($t2, $sweep), 1,
        "exactly one worker of the two hosts holds it ($i)");
}
my ($holder, $other) = held($t, $sweep) ? ($t, $t2) : ($t2, $t);
my ($row_pid) = $t->dbh->selectrow_array(
    'SELECT holder_pid FROM omni_job_leases WHERE job = ?', undef, $sweep);
ok(grep({ $_ == $row_pid } $holder->worker_pids),
    'the lease row names a worker of the host that says it holds it');
cmp_ok($holder->metric('omni_job_runs_total', "job=\"$sweep\""), '>', 0,
    'the holder runs the job');
is($other->metric('omni_job_runs_total', "job=\"$sweep\""), 0,
    'the other host does not');

# the holder stops (nginx -s quit): it gives the lease back on its way out
my $master = $holder->master_pid;
kill 'QUIT', $master;
$t->wait_until(sub { !kill 0, $master }, 15, 'the holding host stops');
like($holder->error_log, qr/job "$sweep": lease released/,
    'it released the lease');
$t->wait_until(sub { held($other, $sweep) == 1 }, 15,
    'the other host takes the fleet job over');
($row_pid) = $t->dbh->selectrow_array(
    'SELECT holder_pid FROM omni_job_leases WHERE job = ?', undef, $sweep);
ok(grep({ $_ == $row_pid } $other->worker_pids), 'the lease row names it');

done_testing();
