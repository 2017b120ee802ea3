#!/usr/bin/perl
# omni_auth: omni's tokens, roles and plans in front of a proxied location,
# in nginx's access phase.  401, 403 and 503 in omni's JSON shape; the
# upstream sees the $omni_* variables and not the Authorization header; a
# revocation or a role change is seen as by the API; a cache miss waits
# for PostgreSQL without holding the worker.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use JSON::PP ();
use Time::HiRes qw(time);
use lib 't/lib';
use Omni::Test;

# the back end: answers what it received, as JSON
sub backend {
    my ($port) = @_;
    my $conf = q{
    server {
        listen 127.0.0.1:@PORT@;
        location / {
            default_type application/json;
            return 200 '{"tenant_id":"$http_x_omni_tenant_id","member_id":"$http_x_omni_member_id","role":"$http_x_omni_role","branch_ids":"$http_x_omni_branch_ids","plan":"$http_x_omni_plan","authorization":"$http_authorization","uri":"$uri"}';
        }
    }
    };
    $conf =~ s/\@PORT\@/$port/g;
    return $conf . 'limit_req_zone $server_port zone=one:1m rate=1r/m;';
}

sub guarded {
    my ($port) = @_;
    my $conf = q{
        location /g/ {
            location /g/any/ { omni_auth; @PROXY@ }
            location /g/staff/ {
                omni_auth roles=admin,supervisor,cs_manager;
                @PROXY@
            }
            location /g/sf/ { omni_auth plan=salesforce; @PROXY@ }
            location /g/fwd/ {
                omni_auth;
                omni_auth_forward_token on;
                @PROXY@
            }
            location /g/deny/ { omni_auth; deny all; @PROXY@ }
            location /g/any-ip/ {
                satisfy any;
                allow 127.0.0.1;
                deny all;
                omni_auth roles=admin;
                @PROXY@
            }
            location /g/any-none/ {
                satisfy any;
                deny all;
                omni_auth roles=admin;
                error_page 401 403 /omni_error;
                @PROXY@
            }
            location /g/ar-yes/ {
                omni_auth;
                auth_request /sub-yes;
                @PROXY@
            }
            location /g/ar-no/ {
                omni_auth;
                auth_request /sub-no;
                @PROXY@
            }
            location /g/lr/ {
                limit_req zone=one nodelay;
                limit_req_status 429;
                omni_auth;
                @PROXY@
            }
        }
        location = /sub-yes { internal; return 204; }
        location = /sub-no { internal; return 403; }
        location = /plain { return 200 "plain\n"; }
    };
    my $proxy = "proxy_pass http://127.0.0.1:$port;
        proxy_set_header X-Omni-Tenant-Id \$omni_tenant_id;
        proxy_set_header X-Omni-Member-Id \$omni_member_id;
        proxy_set_header X-Omni-Role \$omni_role;
        proxy_set_header X-Omni-Branch-Ids \$omni_branch_ids;
        proxy_set_header X-Omni-Plan \$omni_plan;";
    $conf =~ s/\@PROXY\@/$proxy/g;
    return $conf;
}

my $up1 = Omni::Test::free_port();
my $t = Omni::Test->new(workers => 1, http_extra => backend($up1),
    server_extra => guarded($up1));

my $ta = $t->tenant(name => 'Brand A', plan => [qw(cs omo)]);
my $b1 = $t->branch(tenant => $ta->{id}, name => 'Causeway Bay');
my $b2 = $t->branch(tenant => $ta->{id}, name => 'Mong Kok');
my $sup = $t->member(tenant => $ta->{id}, role => 'supervisor');
my $agent = $t->member(tenant => $ta->{id}, role => 'sales_agent',
    branches => [ $b1, $b2 ]);

sub error_is {
    my ($res, $status, $code, $name) = @_;
    is($res->{status}, $status, "$name: status $status");
    is($res->{json} && $res->{json}{error}{code}, $code, "$name: code $code");
    unlike($res->{content} // '', qr/"tenant_id"/,
        "$name: the upstream was not called");
}

# refusals
my $res = $t->get('/g/any/x');
error_is($res, 401, 'missing_token', 'no token');
like($res->{headers}{'www-authenticate'} // '', qr/^Bearer/,
    'no token: WWW-Authenticate');
error_is($t->get('/g/any/x', { token => 'om_' . ('0' x 48) }), 401,
    'invalid_token', 'unknown token');
error_is($t->get('/g/any/x', { headers => { Authorization => 'Basic eDp5' } }),
    401, 'invalid_token', 'not a bearer token');
error_is($t->get('/g/staff/x', { token => $agent->{token} }), 403,
    'forbidden_role', 'a role outside roles=');
error_is($t->get('/g/sf/x', { token => $sup->{token} }), 403,
    'feature_not_in_plan', 'a plan outside plan=');

# allowed: the upstream sees the member, not the token
$res = $t->get('/g/staff/x?q=1', { token => $sup->{token} });
is($res->{status}, 200, 'supervisor passes roles=');
is($res->{json}{tenant_id}, $ta->{id}, 'upstream: tenant_id');
is($res->{json}{member_id}, $sup->{id}, 'upstream: member_id');
is($res->{json}{role}, 'supervisor', 'upstream: role');
is($res->{json}{plan}, 'cs,omo', 'upstream: plan');
is($res->{json}{authorization}, '', 'upstream: no Authorization header');
is($res->{json}{uri}, '/g/staff/x', 'upstream: the request itself');

$res = $t->get('/g/any/y', { token => $agent->{token} });
is($res->{status}, 200, 'any member passes a bare omni_auth');
is($res->{json}{role}, 'sales_agent', 'upstream: role');
is(join(',', sort split /,/, $res->{json}{branch_ids}),
    join(',', sort ($b1, $b2)), 'upstream: branch_ids, comma-separated');
is($res->{json}{authorization}, '', 'upstream: no Authorization header');

$res = $t->get('/g/fwd/y', { token => $agent->{token} });
is($res->{json}{authorization}, "Bearer $agent->{token}",
    'omni_auth_forward_token on: the upstream gets the header');

# composition with nginx's access modules
is($t->get('/g/deny/x', { token => $sup->{token} })->{status}, 403,
    'satisfy all: deny all still refuses a good token');
is($t->get('/g/any-ip/x')->{status}, 200,
    'satisfy any: allow lets a request without a token in');
$res = $t->get('/g/any-none/x');
is($res->{status}, 401, 'satisfy any, none allows: 401');
is($res->{json} && $res->{json}{error}{code}, 'unauthorized',
    'satisfy any: the error_page answers in the JSON shape');
is($t->get('/g/any-none/x', { token => $ta->{admin_token} })->{status}, 200,
    'satisfy any: an admin token lets it in');
is($t->get('/g/any-none/x', { token => $sup->{token} })->{status}, 403,
    'satisfy any: a role outside roles= is 403');
is($t->get('/g/ar-yes/x', { token => $sup->{token} })->{status}, 200,
    'auth_request allows too: 200');
is($t->get('/g/ar-no/x', { token => $sup->{token} })->{status}, 403,
    'auth_request refuses a good token: 403');
error_is($t->get('/g/ar-no/x'), 401, 'missing_token',
    'auth_request after omni_auth: no token');
is($t->get('/g/lr/x', { token => $sup->{token} })->{status}, 200,
    'limit_req: the first request passes');
is($t->get('/g/lr/x')->{status}, 429,
    'limit_req (preaccess) answers before the token is checked');

# revoked (the member deleted through the API): refused on the next request
my $kit = $t->member(tenant => $ta->{id}, role => 'cs_manager');
is($t->get('/g/staff/x', { token => $kit->{token} })->{status}, 200,
    'Kit passes');
is($t->get('/g/staff/x', { token => $kit->{token} })->{status}, 200,
    'Kit passes again, from the cache');
is($t->delete("/omni/api/v1/members/$kit->{id}",
    { token => $ta->{admin_token} })->{status}, 200, 'Kit deleted');
error_is($t->get('/g/staff/x', { token => $kit->{token} }), 401,
    'invalid_token', 'a revoked token, the next request');

# a token revoked in the database: NOTIFY
my $lou = $t->member(tenant => $ta->{id}, role => 'cs_agent');
is($t->get('/g/any/x', { token => $lou->{token} })->{status}, 200,
    'Lou passes (cached)');
$t->dbh->do('UPDATE member_tokens SET revoked_at = now()
    WHERE member_id = ?', undef, $lou->{id});
$t->wait_until(sub {
    $t->get('/g/any/x', { token => $lou->{token} })->{status} == 401
}, 1, 'a token revoked in the database is refused within 1 s');

# a role changed on one instance is seen on another within 1 s
my $up2 = Omni::Test::free_port();
my $two = $t->start_second_nginx(http_extra => backend($up2),
    server_extra => guarded($up2));
my $max = $t->member(tenant => $ta->{id}, role => 'cs_agent');
error_is($two->get('/g/staff/x', { token => $max->{token} }), 403,
    'forbidden_role', 'instance two: Max (cs_agent) refused');
is($t->patch("/omni/api/v1/members/$max->{id}",
    { token => $ta->{admin_token}, body => { role => 'supervisor' } })
    ->{status}, 200, 'Max made supervisor through instance one');
my $t0 = time;
$two->wait_until(sub {
    $two->get('/g/staff/x', { token => $max->{token} })->{status} == 200
}, 1, 'instance two lets Max in within 1 s');
note(sprintf 'seen after %.0f ms', 1000 * (time - $t0));
$two->stop;

# a cache miss waits for PostgreSQL without holding the (single) worker
my $zoe = $t->member(tenant => $ta->{id}, role => 'admin');
my $lock = $t->new_dbh;
$lock->begin_work;
$lock->do('LOCK TABLE member_tokens IN ACCESS EXCLUSIVE MODE');
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
    PeerPort => $t->port) or die "connect: $!";
print $s "GET /g/any/z HTTP/1.0\r\nHost: x\r\n"
    . "Authorization: Bearer $zoe->{token}\r\n\r\n";
$t->wait_until(sub {
    my ($n) = $t->dbh->selectrow_array(q{SELECT count(*)
        FROM pg_locks WHERE NOT granted});
    $n > 0
}, 5, 'the token lookup waits on the lock');
$res = $t->get('/plain');
is($res->{status}, 200, 'another request is answered meanwhile');
is($res->{content}, "plain\n", '... by the same worker');
$lock->commit;
$lock->disconnect;
my $answer = do { local $/; <$s> } // '';
like($answer, qr{^HTTP/1\.1 200}, 'the guarded request resumes: 200');
like($answer, qr/"member_id":"$zoe->{id}"/,
    'the upstream got the member loaded after the wait');

# PostgreSQL down: 503, never a pass
my $new = $t->member(tenant => $ta->{id}, role => 'admin');
$t->stop_pg;
my %seen;
my $deadline = time + 10;
while (time < $deadline) {
    my $r = $t->get('/g/any/x', { token => $new->{token} });
    $seen{ $r->{status} }++;
    if ($r->{status} == 503) {
        is($r->{json} && $r->{json}{error}{code}, 'database_unavailable',
            'database down: database_unavailable');
        last;
    }
}
ok($seen{503}, 'database down: 503') or diag(explain \%seen);
ok(!$seen{200}, 'database down: never a pass');
$t->start_pg;

$t->stop;
done_testing();
