#!/usr/bin/perl
# Team set-up: branches, members, tokens.  Only admins change the team;
# every bad input gets a clear JSON error and changes nothing.

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
my $ta = $t->tenant(name => 'Brand A', plan => [qw(cs)], region => 'HK');
my $tb = $t->tenant(name => 'Brand B', plan => [qw(cs)], region => 'SG');
my $admin = { token => $ta->{admin_token} };

sub with { return { %$admin, @_ } }

sub error_is {
    my ($res, $status, $code, $name) = @_;
    is($res->{status}, $status, "$name: $status");
    is($res->{json} && $res->{json}{error}{code}, $code, "$name: $code");
}

sub count_members {
    return $t->dbh->selectrow_array(
        'SELECT count(*) FROM members WHERE tenant_id = ?', undef, $ta->{id});
}

# branches
my $cwb = $t->post('/omni/api/v1/branches', with(body => { name => 'CWB' }));
is($cwb->{status}, 201, 'admin creates a branch');
is($cwb->{json}{name}, 'CWB', 'branch answer has its name');
error_is($t->post('/omni/api/v1/branches', with(body => { name => 'CWB' })),
    409, 'branch_exists', 'the same branch name twice');
my $mk = $t->post('/omni/api/v1/branches', with(body => { name => 'MK' }));
my $bb = $t->post('/omni/api/v1/branches',
    { token => $tb->{admin_token}, body => { name => 'Orchard' } });
is($bb->{status}, 201, 'the other tenant has a branch too');

my $page1 = $t->get('/omni/api/v1/branches?per_page=1', $admin);
is(scalar @{ $page1->{json}{items} }, 1, 'per_page=1 gives one branch');
ok(defined $page1->{json}{next_cursor}, 'and a next cursor');
my $page2 = $t->get("/omni/api/v1/branches?per_page=1&cursor="
    . $page1->{json}{next_cursor}, $admin);
is($page2->{json}{items}[0]{id}, $mk->{json}{id}, 'the cursor gives the next');
my $all = $t->get('/omni/api/v1/branches', $admin);
is_deeply([ map { $_->{name} } @{ $all->{json}{items} } ], [qw(CWB MK)],
    'a tenant lists only its own branches');
ok(!defined $all->{json}{next_cursor}, 'last page has a null cursor');

error_is($t->get('/omni/api/v1/branches?per_page=0', $admin), 400,
    'invalid_parameter', 'per_page=0');
error_is($t->get('/omni/api/v1/branches?per_page=1000', $admin), 400,
    'invalid_parameter', 'per_page=1000');
error_is($t->get('/omni/api/v1/branches?cursor=abc', $admin), 400,
    'invalid_cursor', 'a cursor that is not one');

# members: every bad input
my $n = count_members();
my @bad = (
    [ '{"name":"A","role":"cs_agent"', 400, 'invalid_json', 'malformed JSON' ],
    [ '[1,2]', 400, 'invalid_body', 'an array body' ],
    [ { role => 'cs_agent' }, 400, 'missing_field', 'no name' ],
    [ { name => 'A' }, 400, 'missing_field', 'no role' ],
    [ { name => 7, role => 'cs_agent' }, 400, 'invalid_field', 'name a number' ],
    [ { name => 'A', role => 'cs_agent', branch_ids => 'CWB' }, 400,
      'invalid_field', 'branch_ids a string' ],
    [ { name => 'A', role => 'cs_agent', branch_ids => [ -1 ] }, 400,
      'invalid_field', 'a negative branch id' ],
    [ { name => 'A', role => 'owner' }, 422, 'invalid_role', 'unknown role' ],
    [ { name => 'A', role => 'cs_agent', nickname => 'x' }, 400,
      'unknown_field', 'unknown field' ],
    [ { name => 'A', role => 'sales_agent', branch_ids => [ 999999 ] }, 422,
      'unknown_branch', 'a branch that does not exist' ],
    [ { name => 'A', role => 'sales_agent', branch_ids => [ $bb->{json}{id} ] },
      422, 'unknown_branch', "another tenant's branch" ],
);
for my $case (@bad) {
    my ($body, $status, $code, $name) = @$case;
    error_is($t->post('/omni/api/v1/members', with(body => $body)),
        $status, $code, "create member: $name");
}
is(count_members(), $n, 'no bad input created a member');

my $amy = $t->post('/omni/api/v1/members', with(body =>
    { name => 'Amy', role => 'sales_manager',
      branch_ids => [ $cwb->{json}{id}, $mk->{json}{id} ] }));
is($amy->{status}, 201, 'admin creates a member');
is_deeply([ sort { $a <=> $b } @{ $amy->{json}{branch_ids} } ],
    [ sort { $a <=> $b } $cwb->{json}{id}, $mk->{json}{id} ],
    'with both branches');
my $amy_tok = $t->post("/omni/api/v1/members/$amy->{json}{id}/tokens",
    $admin)->{json}{token};

my $tokens = sub { $t->dbh->selectrow_array(
    'SELECT count(*) FROM member_tokens WHERE tenant_id = ?', undef,
    $ta->{id}) };
my $before_tokens = $tokens->();
for my $body ('[1]', '[]', '[{}]') {
    error_is($t->post("/omni/api/v1/members/$amy->{json}{id}/tokens",
        with(body => $body)), 400, 'invalid_body', "a token for body $body");
}
error_is($t->post("/omni/api/v1/members/$amy->{json}{id}/tokens",
    with(body => { name => 'x' })), 400, 'unknown_field',
    'a token for a body with a field');
is($tokens->(), $before_tokens, 'no bad body made a token');
is($t->post("/omni/api/v1/members/$amy->{json}{id}/tokens",
    with(body => {}))->{status}, 201, 'an empty object makes a token');

# error messages name what was sent in whole UTF-8 characters
for my $case (
    [ 'an unknown field of CJK', '/omni/api/v1/branches',
      '{"' . ("\xe8\x8c\xb6" x 30) . '":1}', 'unknown_field' ],
    [ 'an unknown field of 4-byte characters', '/omni/api/v1/members',
      '{"' . ("\xf0\x9f\x8d\xb5" x 30) . '":1}', 'unknown_field' ],
    [ 'broken JSON of CJK', '/omni/api/v1/branches',
      '{"name": ' . ("\xe8\x8c\xb6" x 200) . '}', 'invalid_json' ],
    [ 'a body that is not UTF-8', '/omni/api/v1/branches',
      qq({"name": "\xff\xfe"}), 'invalid_json' ])
{
    my ($name, $path, $body, $code) = @$case;
    my $res = $t->post($path, with(body => $body));
    is($res->{status}, 400, "$name: 400");
    my $json = strict_json($res->{content});
    ok($json, "$name: the body is strict UTF-8 JSON");
    is($json && $json->{error}{code}, $code, "$name: $code");
}
like((strict_json($t->post('/omni/api/v1/branches', with(body => '{"'
    . ("\xe8\x8c\xb6" x 30) . '":1}'))->{content}) // {})->{error}{message},
    qr/"(\x{8336}){21}"/, 'the field is named to its last whole character');

# only admins change the team; every member may read it
my $agent = { token => $amy_tok };
error_is($t->post('/omni/api/v1/members', { %$agent, body =>
    { name => 'X', role => 'admin' } }), 403, 'forbidden_role',
    'a sales manager cannot create members');
error_is($t->post('/omni/api/v1/branches', { %$agent, body =>
    { name => 'X' } }), 403, 'forbidden_role',
    'a sales manager cannot create branches');
error_is($t->patch("/omni/api/v1/members/$amy->{json}{id}", { %$agent, body =>
    { role => 'admin' } }), 403, 'forbidden_role',
    'a member cannot promote itself');
error_is($t->post("/omni/api/v1/members/$amy->{json}{id}/tokens", $agent),
    403, 'forbidden_role', 'a member cannot mint tokens');
is($t->get('/omni/api/v1/members', $agent)->{status}, 200,
    'a member reads the team');

# updates
my $up = $t->patch("/omni/api/v1/members/$amy->{json}{id}",
    with(body => { name => 'Amy Chan', branch_ids => [ $cwb->{json}{id} ] }));
is($up->{status}, 200, 'rename and rebind');
is($up->{json}{name}, 'Amy Chan', 'renamed');
is_deeply($up->{json}{branch_ids}, [ $cwb->{json}{id} ], 'rebound');
error_is($t->patch("/omni/api/v1/members/$amy->{json}{id}",
    with(body => {})), 400, 'empty_update', 'an empty update');
error_is($t->patch("/omni/api/v1/members/$amy->{json}{id}",
    with(body => { role => 'boss' })), 422, 'invalid_role', 'a bad role');

# the other tenant's ids are not found, and nothing changes there
my $b_admin_id = $t->get('/omni/api/v1/me',
    { token => $tb->{admin_token} })->{json}{id};
error_is($t->patch("/omni/api/v1/members/$b_admin_id",
    with(body => { name => 'Hijacked' })), 404, 'not_found',
    "patch another tenant's member");
error_is($t->delete("/omni/api/v1/members/$b_admin_id", $admin), 404,
    'not_found', "delete another tenant's member");
error_is($t->post("/omni/api/v1/members/$b_admin_id/tokens", $admin), 404,
    'not_found', "a token for another tenant's member");
is($t->get('/omni/api/v1/me', { token => $tb->{admin_token} })->{json}{name},
    $t->dbh->selectrow_array('SELECT name FROM members WHERE id = ?', undef,
        $b_admin_id), 'the other tenant is untouched');
error_is($t->patch('/omni/api/v1/members/99999999',
    with(body => { name => 'X' })), 404, 'not_found', 'no such member');
error_is($t->patch('/omni/api/v1/members/123456789012345678901234',
    with(body => { name => 'X' })), 404, 'not_found', 'an absurd id');

# the last admin stays
my $me = $t->get('/omni/api/v1/me', $admin)->{json}{id};
error_is($t->patch("/omni/api/v1/members/$me",
    with(body => { role => 'cs_agent' })), 409, 'last_admin',
    'the last admin cannot be demoted');
error_is($t->delete("/omni/api/v1/members/$me", $admin), 409, 'last_admin',
    'the last admin cannot be deleted');

# deleted members disappear from the list and cannot get tokens
is($t->delete("/omni/api/v1/members/$amy->{json}{id}", $admin)->{status},
    200, 'member deleted');
ok(!grep({ $_->{id} == $amy->{json}{id} }
    @{ $t->get('/omni/api/v1/members', $admin)->{json}{items} }),
    'a deleted member is not listed');
error_is($t->post("/omni/api/v1/members/$amy->{json}{id}/tokens", $admin),
    404, 'not_found', 'no token for a deleted member');

# routing
my $res = $t->put('/omni/api/v1/members', with(body => {}));
error_is($res, 405, 'method_not_allowed', 'PUT /members');
like($res->{headers}{allow} // '', qr/GET, POST/, 'Allow lists the methods');
error_is($t->get('/omni/api/v1/nothing-here', $admin), 404, 'not_found',
    'an unknown endpoint');
error_is($t->get('/omni/api/v1/members/abc', $admin), 404, 'not_found',
    'a non-numeric id');

# nginx's own limits answer in the same JSON shape
$res = $t->post('/omni/api/v1/branches',
    with(body => '{"name":"' . ('x' x (2 * 1024 * 1024)) . '"}'));
error_is($res, 413, 'body_too_large', 'a body over the limit');

done_testing();
