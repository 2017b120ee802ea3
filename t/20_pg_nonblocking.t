#!/usr/bin/perl
# PostgreSQL never blocks a worker: while a query is stuck behind a lock,
# a single-worker nginx keeps answering everything else; a full wait queue
# answers 503, a query over its time 504, and the pool recovers.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);
use lib 't/lib';
use Omni::Test;

my $t = Omni::Test->new(workers => 1, http_extra => q{
    omni_pg_pool_size 2;
    omni_pg_queue 1;
    omni_pg_timeout 8s;
});
my $ta = $t->tenant(name => 'Brand A', plan => [qw(cs marketing_advanced)]);
my $auth = "Authorization: Bearer $ta->{admin_token}\r\n";

# warm the token cache so that only the stuck statement needs the database
is($t->get('/omni/api/v1/me', { token => $ta->{admin_token} })->{status}, 200,
    'warm');

sub send_raw {
    my ($method, $path, $body) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port, Proto => 'tcp') or die "connect: $!";
    $body //= '';
    print $s "$method $path HTTP/1.1\r\nHost: localhost\r\n$auth"
        . "Content-Type: application/json\r\nContent-Length: "
        . length($body) . "\r\nConnection: close\r\n\r\n$body";
    return $s;
}

sub answered {
    my ($s) = @_;
    return IO::Select->new($s)->can_read(0) ? 1 : 0;
}

sub read_all {
    my ($s) = @_;
    local $/;
    my $r = <$s>;
    return $r // '';
}

# hold the branches table; a branch create now waits on the lock
my $locker = $t->new_dbh;
$locker->begin_work;
$locker->do('LOCK TABLE branches IN ACCESS EXCLUSIVE MODE');

my $stuck = send_raw('POST', '/omni/api/v1/branches', '{"name":"Stuck"}');
$t->wait_until(sub {
    $t->dbh->selectrow_array(q{SELECT count(*) FROM pg_stat_activity
        WHERE wait_event_type = 'Lock' AND application_name = 'omni'})
}, 5, 'the create waits on the lock in PostgreSQL');

# the same worker answers everything else meanwhile
for my $i (1 .. 5) {
    is($t->get('/omni/status')->{status}, 200, "status answers ($i)");
    is($t->get("/omni/px/$ta->{pixel_key}.gif?ev=pageview&vid=v$i")->{status},
        200, "a beacon answers ($i)");
    is($t->get('/omni/api/v1/me', { token => $ta->{admin_token} })->{status},
        200, "/me answers ($i)");
}
is($t->get('/omni/api/v1/members', { token => $ta->{admin_token} })->{status},
    200, 'a query on another table runs on the second connection');
ok(!answered($stuck), 'the stuck request is still waiting');

# second stuck query takes the second connection, a third queues, a fourth
# finds the queue full
my $stuck2 = send_raw('POST', '/omni/api/v1/branches', '{"name":"Stuck2"}');
$t->wait_until(sub {
    $t->dbh->selectrow_array(q{SELECT count(*) FROM pg_stat_activity
        WHERE wait_event_type = 'Lock' AND application_name = 'omni'}) == 2
}, 5, 'both pool connections wait on the lock');
my $queued = send_raw('GET', '/omni/api/v1/members');
$t->wait_until(sub { $t->metric('omni_pg_waiting') >= 1 }, 5,
    'the third query waits in the queue');
my $res = $t->get('/omni/api/v1/members', { token => $ta->{admin_token} });
is($res->{status}, 503, 'queue full: 503');
is($res->{json}{error}{code}, 'database_unavailable', 'queue full: JSON');

# the lock goes away: everything completes
$locker->rollback;
like(read_all($stuck), qr{^HTTP/1\.1 201}, 'the stuck create completes');
like(read_all($stuck2), qr{^HTTP/1\.1 201}, 'the second one too');
like(read_all($queued), qr{^HTTP/1\.1 200}, 'the queued query runs');

# a statement over omni_pg_timeout answers 504, and the pool comes back
$locker->begin_work;
$locker->do('LOCK TABLE branches IN ACCESS EXCLUSIVE MODE');
$res = $t->get('/omni/api/v1/branches', { token => $ta->{admin_token} });
note('a query held over omni_pg_timeout answered ' . $res->{status});
is($res->{status}, 504, 'a query over its time: 504');
is($res->{json}{error}{code}, 'timeout', 'timeout: JSON');
$locker->rollback;
$t->wait_until(sub {
    $t->get('/omni/api/v1/branches', { token => $ta->{admin_token} })
        ->{status} == 200
}, 10, 'the pool reconnects after a timeout');

# PostgreSQL down: a fast 503, then back on its own
$t->stop_pg;
$res = $t->get('/omni/api/v1/members', { token => $ta->{admin_token} });
ok($res->{status} == 503 || $res->{status} == 504, 'database down: 503');
is($t->get('/omni/status')->{status}, 200, 'status still answers');
$t->start_pg;
$t->wait_until(sub {
    $t->get('/omni/api/v1/members', { token => $ta->{admin_token} })
        ->{status} == 200
}, 15, 'the pool reconnects when PostgreSQL is back');

# PostgreSQL frozen (every process stopped, as a hung host would be): the
# API answers 504 at omni_pg_timeout from the request's arrival, the
# query that runs as well as the one waiting for a connection behind it.
my $u = $t->start_second_nginx(workers => 1, http_extra => q{
    omni_pg_pool_size 1;
    omni_pg_timeout 2s;
});
my %hdr = (Authorization => "Bearer $ta->{admin_token}");
$u->wait_until(sub {
    $u->get('/omni/api/v1/branches', { headers => \%hdr })->{status} == 200
}, 10, 'the second nginx answers');

sub pg_pids {
    open my $fh, '<', "$t->{pg}/data/postmaster.pid" or die "postmaster: $!";
    my $master = <$fh>;
    chomp $master;
    my @children;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $s, '<', $stat or next;
        my ($pid, $ppid) = (<$s> // '') =~ /^(\d+) \(.*\) \S (\d+)/ or next;
        push @children, $pid if $ppid == $master;
    }
    return ($master, @children);
}

sub send_get {
    my ($path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $u->port, Proto => 'tcp') or die "connect: $!";
    print $s "GET $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Authorization: Bearer $ta->{admin_token}\r\n"
        . "Connection: close\r\n\r\n";
    return $s;
}

my @frozen = pg_pids();
kill 'STOP', @frozen;
my $t0 = time;
my @socks = (send_get('/omni/api/v1/branches'),
             send_get('/omni/api/v1/members'));
my %took;
my $sel = IO::Select->new(@socks);
while ($sel->count && time < $t0 + 15) {
    for my $s ($sel->can_read(0.01)) {
        $took{$s} = time - $t0;
        $sel->remove($s);
    }
}
my @answers = map { read_all($_) } @socks;
kill 'CONT', reverse @frozen;

for my $i (0, 1) {
    my $what = $i ? 'the query waiting behind it' : 'the running query';
    like($answers[$i], qr{^HTTP/1\.1 504}, "$what: 504");
    like($answers[$i], qr{"code":"timeout"}, "$what: JSON");
    note(sprintf '%s answered after %.2f s', $what, $took{$socks[$i]} // -1);
    cmp_ok(abs(($took{$socks[$i]} // 99) - 2), '<', 0.5,
        "$what: at omni_pg_timeout (2 s), not later");
}
$u->wait_until(sub {
    $u->get('/omni/api/v1/branches', { headers => \%hdr })->{status} == 200
}, 15, 'the pool comes back when PostgreSQL thaws');

done_testing();
