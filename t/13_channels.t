#!/usr/bin/perl
# Channels (team set-up): each type's credentials, secrets never returned,
# admins only, tenants apart; one channel served from the shared cache and
# never stale after a change.

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

my $t = Omni::Test->new(workers => 2);
my $ta = $t->tenant(name => 'A', plan => [qw(cs)]);
my $tb = $t->tenant(name => 'B', plan => [qw(cs)]);
my $admin = { token => $ta->{admin_token} };
my $agent = $t->member(tenant => $ta->{id}, role => 'cs_agent');

my %creds = (
    whatsapp  => { app_secret => 'wa-secret', access_token => 'wa-token',
                   phone_number_id => '1065', verify_token => 'wa-verify' },
    messenger => { app_secret => 'fb-secret', page_access_token => 'fb-token',
                   page_id => '2077', verify_token => 'fb-verify' },
    instagram => { app_secret => 'ig-secret', access_token => 'ig-token',
                   ig_user_id => '3099', verify_token => 'ig-verify' },
    line      => { channel_secret => 'line-secret',
                   channel_access_token => 'line-token' },
);

my %id;
for my $type (sort keys %creds) {
    my $res = $t->post('/omni/api/v1/channels', { %$admin, body =>
        { type => $type, name => "Our $type", credentials => $creds{$type} } });
    is($res->{status}, 201, "$type channel connected");
    is($res->{json}{type}, $type, "$type: type");
    my @secrets = map { $creds{$type}{$_} }
        grep { !/_id$/ } keys %{ $creds{$type} };
    ok(!grep({ index($res->{content}, $_) >= 0 } @secrets),
        "$type: no secret in the answer");
    is_deeply($res->{json}{credentials_set}, [ sort keys %{ $creds{$type} } ],
        "$type: which credentials are set");
    $id{$type} = $res->{json}{id};
}
is($t->get("/omni/api/v1/channels/$id{whatsapp}", $admin)->{json}
    {credentials}{phone_number_id}, '1065', 'ids that are not secrets show');

my $list = $t->get('/omni/api/v1/channels', $admin);
is(scalar @{ $list->{json}{items} }, 4, 'the four channels listed');
unlike($list->{content}, qr/wa-secret|fb-token|line-secret|ig-verify/,
    'the list shows no secret');

sub error_is {
    my ($res, $status, $code, $name) = @_;
    is($res->{status}, $status, "$name: $status");
    is($res->{json} && $res->{json}{error}{code}, $code, "$name: $code");
}

my $n = $t->dbh->selectrow_array('SELECT count(*) FROM channels');
error_is($t->post('/omni/api/v1/channels', { %$admin, body =>
    { type => 'line', name => 'L', credentials => { channel_secret => 's' } } }),
    422, 'invalid_credentials', 'a missing credential');
error_is($t->post('/omni/api/v1/channels', { %$admin, body =>
    { type => 'line', name => 'L', credentials => { channel_secret => 's',
      channel_access_token => 't', page_id => 'x' } } }),
    422, 'invalid_credentials', 'a credential of another type');
error_is($t->post('/omni/api/v1/channels', { %$admin, body =>
    { type => 'line', name => 'L', credentials => { channel_secret => 5,
      channel_access_token => 't' } } }),
    422, 'invalid_credentials', 'a credential that is not a string');
error_is($t->post('/omni/api/v1/channels', { %$admin, body =>
    { type => 'wechat', name => 'W', credentials => {} } }),
    422, 'invalid_channel_type', 'an unknown type');
error_is($t->post('/omni/api/v1/channels', { %$admin, body =>
    { type => 'line', name => 'L', credentials => 'x' } }),
    400, 'invalid_field', 'credentials not an object');
error_is($t->post('/omni/api/v1/channels', { %$admin, body =>
    { type => 'line', credentials => $creds{line} } }),
    400, 'missing_field', 'no name');
error_is($t->post('/omni/api/v1/channels', { token => $agent->{token}, body =>
    { type => 'line', name => 'L', credentials => $creds{line} } }),
    403, 'forbidden_role', 'an agent cannot connect channels');

# each credential has a length limit (ids 64 bytes, secrets 256, tokens 4096)
error_is($t->post('/omni/api/v1/channels', { %$admin, body =>
    { type => 'whatsapp', name => 'W', credentials => { %{ $creds{whatsapp} },
      phone_number_id => '1' x (900 * 1024) } } }),
    422, 'invalid_credentials', 'a 900 KB phone number id');
for my $over ([ phone_number_id => 65 ], [ app_secret => 257 ],
              [ verify_token => 257 ], [ access_token => 4097 ])
{
    my ($key, $len) = @$over;
    my $res = $t->post('/omni/api/v1/channels', { %$admin, body =>
        { type => 'whatsapp', name => 'W', credentials =>
          { %{ $creds{whatsapp} }, $key => 'x' x $len } } });
    error_is($res, 422, 'invalid_credentials', "$key of $len bytes");
    like($res->{json}{error}{message} // '', qr/\Q$key\E.*\d+ bytes/,
        "$key of $len bytes: the message names the key and its limit");
}
for my $at ([ page_id => 64 ], [ page_access_token => 4096 ]) {
    my ($key, $len) = @$at;
    my $res = $t->post('/omni/api/v1/channels', { %$admin, body =>
        { type => 'messenger', name => "At $key", credentials =>
          { %{ $creds{messenger} }, $key => 'y' x $len } } });
    is($res->{status}, 201, "$key of $len bytes: at the limit");
    $t->dbh->do('DELETE FROM channels WHERE id = ?', undef, $res->{json}{id})
        if $res->{json};
}
error_is($t->patch("/omni/api/v1/channels/$id{line}", { %$admin, body =>
    { credentials => { channel_secret => 's' x 5000 } } }),
    422, 'invalid_credentials', 'a PATCH with an overlong secret');
is($t->dbh->selectrow_array(q{SELECT credentials->>'channel_secret'
    FROM channels WHERE id = ?}, undef, $id{line}), 'line-secret',
    'and the secret is unchanged');

# an unknown credential named in the message: whole characters only
my $cjk = $t->post('/omni/api/v1/channels', { %$admin, body =>
    '{"type":"line","name":"L","credentials":{"channel_secret":"s",'
    . '"channel_access_token":"t","' . ("\xe8\x8c\xb6" x 200) . '":"x"}}' });
is($cjk->{status}, 422, 'an unknown CJK credential: 422');
ok(strict_json($cjk->{content}),
    'an unknown CJK credential: the body is strict UTF-8 JSON');
is($t->dbh->selectrow_array('SELECT count(*) FROM channels'), $n,
    'no bad input stored a channel');

# one channel: from the cache, never stale
my $hits = $t->metric('omni_cache_hits_total');
is($t->get("/omni/api/v1/channels/$id{line}", $admin)->{json}{name},
    'Our line', 'read once') for 1 .. 4;
cmp_ok($t->metric('omni_cache_hits_total') - $hits, '>=', 5,
    'later reads come from the shared cache');

my $up = $t->patch("/omni/api/v1/channels/$id{line}", { %$admin, body =>
    { name => 'LINE OA', credentials => { channel_access_token => 'new' } } });
is($up->{status}, 200, 'renamed, token rotated');
unlike($up->{content}, qr/new/, 'the rotated token is not returned');
is($t->get("/omni/api/v1/channels/$id{line}", $admin)->{json}{name},
    'LINE OA', "seen at once, on any worker ($_)") for 1 .. 4;
is($t->dbh->selectrow_array(q{SELECT credentials->>'channel_access_token'
    FROM channels WHERE id = ?}, undef, $id{line}), 'new',
    'the new token is stored');
error_is($t->patch("/omni/api/v1/channels/$id{line}", { %$admin, body =>
    { type => 'whatsapp' } }), 422, 'type_fixed', 'a channel keeps its type');

$t->dbh->do('UPDATE channels SET name = ? WHERE id = ?', undef, 'Renamed',
    $id{line});
$t->wait_until(sub { $t->get("/omni/api/v1/channels/$id{line}", $admin)
    ->{json}{name} eq 'Renamed' }, 1, 'a database change seen within 1 s');

# other tenants
error_is($t->get("/omni/api/v1/channels/$id{line}",
    { token => $tb->{admin_token} }), 404, 'not_found',
    "another tenant's channel");
error_is($t->patch("/omni/api/v1/channels/$id{line}", { token =>
    $tb->{admin_token}, body => { name => 'Hijack' } }), 404, 'not_found',
    "patching another tenant's channel");
is(scalar @{ $t->get('/omni/api/v1/channels', { token => $tb->{admin_token} })
    ->{json}{items} }, 0, 'the other tenant lists none');
is($t->get('/omni/api/v1/channels', { token => $agent->{token} })->{status},
    200, 'members read the channels');

done_testing();
