#!/usr/bin/perl
# PostgreSQL never blocks a worker: while a query is stuck behind a lock,
# a single-worker nginx keeps answering everything else; a full wait queue
# answers 503, a query over its time 504, and the pool recovers.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
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

done_testing();
