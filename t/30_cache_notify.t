#!/usr/bin/perl
# Caches stay coherent across nginx instances sharing one database: a
# role change or a deletion made through one is seen by the other within
# 1 s (PostgreSQL NOTIFY), though the other had the member cached.

use strict;
use warnings;
use Test::More;
use DBI;
use Time::HiRes qw(time);
use lib 't/lib';
use Omni::Test;

my $one = Omni::Test->new(workers => 2);
my $two = $one->start_second_nginx(workers => 2);
my $ta = $one->tenant(name => 'Brand A', plan => [qw(cs)]);
my $admin = { token => $ta->{admin_token} };

my $m = $one->post('/omni/api/v1/members', { %$admin,
    body => { name => 'Kit', role => 'cs_agent' } })->{json};
my $kit = $one->post("/omni/api/v1/members/$m->{id}/tokens", $admin)
    ->{json}{token};

# both instances (all their workers) have Kit cached
for (1 .. 6) {
    is($two->get('/omni/api/v1/me', { token => $kit })->{json}{role},
        'cs_agent', 'instance two knows Kit');
    is($one->get('/omni/api/v1/me', { token => $kit })->{json}{role},
        'cs_agent', 'instance one knows Kit');
}
cmp_ok($two->metric('omni_cache_hits_total'), '>', 0,
    'instance two answers from its cache');

# a role change through instance one
my $t0 = time;
is($one->patch("/omni/api/v1/members/$m->{id}",
    { %$admin, body => { role => 'cs_manager' } })->{status}, 200,
    'role changed through instance one');
$two->wait_until(sub {
    ($two->get('/omni/api/v1/me', { token => $kit })->{json}{role} // '')
        eq 'cs_manager'
}, 1, 'instance two sees the new role within 1 s');
note(sprintf 'seen after %.0f ms', 1000 * (time - $t0));

# every worker of instance two, not just one
is($two->get('/omni/api/v1/me', { token => $kit })->{json}{role},
    'cs_manager', "instance two, again ($_)") for 1 .. 4;

# a deletion through instance two stops the token on instance one
is($two->delete("/omni/api/v1/members/$m->{id}", $admin)->{status}, 200,
    'member deleted through instance two');
$one->wait_until(sub {
    $one->get('/omni/api/v1/me', { token => $kit })->{status} == 401
}, 1, 'instance one refuses the token within 1 s');
is($one->get('/omni/api/v1/me', { token => $kit })->{status}, 401,
    "instance one, again ($_)") for 1 .. 4;

# a lost listener connection makes everything stale, not wrong
$one->dbh->do(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE query ILIKE 'LISTEN%'});
$one->dbh->do('UPDATE tenants SET default_region = ? WHERE id = ?', undef,
    'SG', $ta->{id});
$one->wait_until(sub {
    ($one->get('/omni/api/v1/me', $admin)->{json}{default_region} // '')
        eq 'SG'
    && ($two->get('/omni/api/v1/me', $admin)->{json}{default_region} // '')
        eq 'SG'
}, 5, 'after the listener reconnects, changes are seen');

# The listener is away while the pool is not: a change now goes unheard,
# so the cache is not trusted until the listener is back.  (PostgreSQL
# refuses new connections meanwhile, as one coming back from a restart may.)
sub member_token {
    my ($name) = @_;
    my $m = $one->post('/omni/api/v1/members', { %$admin,
        body => { name => $name, role => 'cs_agent' } })->{json};
    my $tok = $one->post("/omni/api/v1/members/$m->{id}/tokens", $admin)
        ->{json}{token};
    is($one->get('/omni/api/v1/me', { token => $tok })->{status}, 200,
        "instance one knows $name ($_)") for 1 .. 4;
    return ($m->{id}, $tok);
}

sub revoke {
    my ($member_id) = @_;
    $one->dbh->do('UPDATE member_tokens SET revoked_at = now()
        WHERE member_id = ?', undef, $member_id);
}

my ($lou_id, $lou) = member_token('Lou');
my $hits = $one->metric('omni_cache_hits_total');
is($one->get('/omni/api/v1/me', { token => $lou })->{status}, 200,
    'Lou again');
cmp_ok($one->metric('omni_cache_hits_total'), '>', $hits,
    'Lou answered from the cache');

my $c = $one->conninfo =~ s/dbname=omni/dbname=postgres/r =~ s/ /;/gr;
my $pg = DBI->connect("dbi:Pg:$c", '', '', { RaiseError => 1 });
my $errors = $one->metric('omni_pg_errors_total');
$one->dbh->ping;
$pg->do('ALTER DATABASE omni ALLOW_CONNECTIONS false');
$one->dbh->do(q{SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
    WHERE query ILIKE 'LISTEN%'});
$one->wait_until(sub { $one->metric('omni_pg_errors_total') > $errors }, 5,
    'instance one finds its listener gone');
revoke($lou_id);
is($one->get('/omni/api/v1/me', { token => $lou })->{status}, 401,
    'a token revoked while the listener is away is refused at once');
$pg->do('ALTER DATABASE omni ALLOW_CONNECTIONS true');
$pg->disconnect;
is($one->get('/omni/api/v1/me', $admin)->{status}, 200,
    'the others still answer');

# PostgreSQL restarts, away long enough for reconnects to fail again and
# again.  The API is back within 1 s of PostgreSQL, and a token revoked as
# it comes back is never answered from the cache.
my ($max_id, $max) = member_token('Max');
$errors = $one->metric('omni_pg_errors_total');
$one->stop_pg;
$one->wait_until(sub { $one->metric('omni_pg_errors_total') >= $errors + 60 },
    30, 'reconnects fail while PostgreSQL is down');
# just after a round of reconnects failed: the longest wait for the next
$errors = $one->metric('omni_pg_errors_total');
$one->wait_until(sub { $one->metric('omni_pg_errors_total') > $errors },
    10, 'another reconnect fails');
$one->start_pg;
my $back = time;
revoke($max_id);

my %seen;
while (time < $back + 10) {
    my $s = $one->get('/omni/api/v1/me', { token => $max })->{status};
    $seen{$s}++;
    last if $s == 401;
}
ok(!$seen{200}, 'the revoked token is never answered from the cache')
    or diag(explain \%seen);
ok($seen{401}, 'the revoked token is refused once the database answers');

$one->wait_until(sub {
    $one->get('/omni/api/v1/members', $admin)->{status} == 200
}, 10, 'the API answers again');
my $recovery = time - $back;
note(sprintf 'the API answered %.0f ms after PostgreSQL was back',
    1000 * $recovery);
cmp_ok($recovery, '<', 1, 'the API is back within 1 s of PostgreSQL');

done_testing();
