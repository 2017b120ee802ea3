#!/usr/bin/perl
# Who is calling: bearer tokens -> member, tenant, role, branches, plan.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Omni::Test;
use Encode ();
use JSON::PP ();

# an answer body as a strict decoder reads it: UTF-8, then JSON
sub strict_json {
    my ($bytes) = @_;
    my $text = eval { Encode::decode('UTF-8', "$bytes", Encode::FB_CROAK) };
    return defined $text ? eval { JSON::PP->new->decode($text) } : undef;
}

my $t = Omni::Test->new();
my $ta = $t->tenant(name => 'Brand A', plan => [qw(cs omo)], region => 'HK');

sub error_is {
    my ($res, $status, $code, $name) = @_;
    is($res->{status}, $status, "$name: status $status");
    is($res->{json} && $res->{json}{error}{code}, $code, "$name: code $code");
    like($res->{json} && $res->{json}{error}{message} // '', qr/\w/,
        "$name: a human message");
}

# no token, garbage, wrong scheme, unknown token
my $res = $t->get('/omni/api/v1/me');
error_is($res, 401, 'missing_token', 'no token');
like($res->{headers}{'www-authenticate'} // '', qr/^Bearer/,
    'no token: WWW-Authenticate names Bearer');

error_is($t->get('/omni/api/v1/me', { headers =>
    { Authorization => 'Basic dXNlcjpwYXNz' } }), 401, 'invalid_token',
    'Basic auth');
error_is($t->get('/omni/api/v1/me', { headers =>
    { Authorization => 'Bearer !!!not a token!!!' } }), 401, 'invalid_token',
    'garbage token');
error_is($t->get('/omni/api/v1/me', { headers =>
    { Authorization => 'Bearer' } }), 401, 'invalid_token', 'empty bearer');
error_is($t->get('/omni/api/v1/me', { token => 'om_' . ('0' x 48) }),
    401, 'invalid_token', 'well-formed but unknown token');
error_is($t->get('/omni/api/v1/me', { token => 'om_' . ('a' x 400) }),
    401, 'invalid_token', 'overlong token');

# answers before any token is read echo the path: always as UTF-8 JSON
for my $case ([ 'a long CJK path', '/omni/api/v1/' . ('%E8%8C%B6' x 200) ],
              [ 'a path that is not UTF-8', '/omni/api/v1/%FF%FEx' ],
              [ 'a long CJK path outside the API', '/omni/'
                . ('%F0%9F%8D%B5' x 200) ])
{
    my ($name, $path) = @$case;
    my $res = $t->get($path);
    is($res->{status}, 404, "$name: 404");
    my $json = strict_json($res->{content});
    ok($json, "$name: the body is strict UTF-8 JSON");
    is($json && $json->{error}{code}, 'not_found', "$name: not_found");
}
my $res405 = $t->request('PUT', '/omni/api/v1/members?' . ('%E8' x 10));
is($res405->{status}, 405, 'a method the path does not take: 405');
ok(strict_json($res405->{content}), 'and strict UTF-8 JSON');

# the admin's token finds the admin, the tenant and its plan
$res = $t->get('/omni/api/v1/me', { token => $ta->{admin_token} });
is($res->{status}, 200, 'admin token answers /me');
is($res->{json}{role}, 'admin', '/me role');
is($res->{json}{tenant_id}, $ta->{id}, '/me tenant');
is_deeply([sort @{ $res->{json}{plan} }], [qw(cs omo)], '/me plan');
is_deeply($res->{json}{branch_ids}, [], '/me branches');
is($res->{json}{default_region}, 'HK', '/me default region');

# a token made through the API works and is shown only once
my $b1 = $t->post('/omni/api/v1/branches',
    { token => $ta->{admin_token}, body => { name => 'Causeway Bay' } });
is($b1->{status}, 201, 'branch created');
my $m = $t->post('/omni/api/v1/members', { token => $ta->{admin_token},
    body => { name => 'Sam', role => 'sales_agent',
              branch_ids => [ $b1->{json}{id} ] } });
is($m->{status}, 201, 'member created');
my $tok = $t->post("/omni/api/v1/members/$m->{json}{id}/tokens",
    { token => $ta->{admin_token} });
is($tok->{status}, 201, 'token created');
like($tok->{json}{token} // '', qr/^om_[0-9a-f]{48}$/, 'token shape');
my $sam = $tok->{json}{token};

$res = $t->get('/omni/api/v1/me', { token => $sam });
is($res->{json}{role}, 'sales_agent', 'new member sees itself');
is_deeply($res->{json}{branch_ids}, [ $b1->{json}{id} ], 'with its branch');

my $stored = $t->dbh->selectrow_array(
    'SELECT count(*) FROM member_tokens WHERE token_sha256 = sha256(?)',
    undef, $sam);
is($stored, 1, 'the database holds only the token hash');
my $plain = $t->dbh->selectrow_array(q{
    SELECT count(*) FROM member_tokens
     WHERE encode(token_sha256, 'escape') LIKE '%' || ? || '%'}, undef,
    substr($sam, 3, 16));
is($plain, 0, 'never the token itself');

# served from the shared cache after the first call
my $before = $t->metric('omni_cache_hits_total');
$t->get('/omni/api/v1/me', { token => $sam }) for 1 .. 3;
cmp_ok($t->metric('omni_cache_hits_total'), '>=', $before + 3,
    'repeated calls hit the cache');

# a role change made here is seen on the next call
is($t->patch("/omni/api/v1/members/$m->{json}{id}",
    { token => $ta->{admin_token}, body => { role => 'sales_manager' } })
    ->{status}, 200, 'role changed');
is($t->get('/omni/api/v1/me', { token => $sam })->{json}{role},
    'sales_manager', 'the next call sees the new role');

# a change made straight in the database reaches the cache through NOTIFY
$t->dbh->do('UPDATE members SET role = ? WHERE id = ?', undef,
    'cs_agent', $m->{json}{id});
$t->wait_until(sub {
    ($t->get('/omni/api/v1/me', { token => $sam })->{json}{role} // '')
        eq 'cs_agent'
}, 1, 'a database change seen within 1 s');

# a deleted member's tokens stop at once
is($t->delete("/omni/api/v1/members/$m->{json}{id}",
    { token => $ta->{admin_token} })->{status}, 200, 'member deleted');
error_is($t->get('/omni/api/v1/me', { token => $sam }), 401,
    'invalid_token', 'deleted member at once');

done_testing();
