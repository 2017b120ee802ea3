#!/usr/bin/perl
# Caches stay coherent across nginx instances sharing one database: a
# role change or a deletion made through one is seen by the other within
# 1 s (PostgreSQL NOTIFY), though the other had the member cached.

use strict;
use warnings;
use Test::More;
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

done_testing();
