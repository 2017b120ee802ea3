#!/usr/bin/perl
# One drainer per host holds the ring's lease, and a dead one is replaced
# even when its pid now belongs to another process, as a reused pid does
# (here one of another user, which the workers may not even signal).

use strict;
use warnings;
use Test::More;
use POSIX qw(_exit);
use lib 't/lib';
use Omni::Test;

# the workers tick each second: the first look at the lease comes well
# after the pid is taken again below
my $t = Omni::Test->new(workers => 1, http_extra => q{
    omni_pixel_flush_interval 1s;
});
$t->expect_worker_crash;
my $ta = $t->tenant(name => 'Shop', plan => [qw(marketing_advanced)]);
my $key = $ta->{pixel_key};

sub stored {
    my ($tag) = @_;
    return $t->dbh->selectrow_array(
        'SELECT count(*) FROM pixel_events WHERE ev = ?', undef, $tag);
}

sub beacons {
    my ($tag, $n) = @_;
    my $ok = 0;
    for my $i (1 .. $n) {
        $ok++ if $t->get("/omni/px/$key.gif?ev=$tag&vid=$tag$i")->{status}
            == 200;
    }
    return $ok;
}

is(beacons('before', 5), 5, 'beacons answered');
$t->wait_until(sub { stored('before') == 5 }, 10, 'the drainer stores them');

my ($drainer) = $t->worker_pids;
kill 'KILL', $drainer;
$t->wait_until(sub { !-e "/proc/$drainer" }, 10, 'the dead drainer is reaped');

# its pid goes to a process that is not nginx's, the way pids are reused
my $squatter;
if (open my $fh, '>', '/proc/sys/kernel/ns_last_pid') {
    print $fh $drainer - 1;
    close $fh;
    $squatter = fork // die "fork: $!";
    if (!$squatter) {
        exec 'sleep', '120' or _exit(1);
    }
}

SKIP: {
    skip 'cannot choose the next pid here (needs root)', 4
        unless $squatter && $squatter == $drainer;

    my @w;
    $t->wait_until(sub { @w = $t->worker_pids; @w >= 1 }, 10,
        'a new worker is up');
    isnt($w[0], $drainer, 'the new worker has another pid');
    ok(kill(0, $drainer), 'the dead drainer\'s pid is alive again');

    is(beacons('after', 5), 5, 'beacons answered after the crash');
    $t->wait_until(sub { stored('after') == 5 }, 20,
        'the new worker takes the lease over and stores them');
    like($t->error_log, qr/drainer $drainer is gone.*taking over/,
        'and says so in the error log');
}

kill 'KILL', $squatter if $squatter;
waitpid $squatter, 0 if $squatter;

done_testing();
