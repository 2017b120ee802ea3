#!/usr/bin/perl
# /omni/status: Prometheus text for loopback (or allow-listed) callers only;
# requests by endpoint and status, latency, pool and cache figures.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Omni::Test;

my $t = Omni::Test->new(workers => 2, server_extra => q{
    location = /omni/status-denied {
        omni_status;
        deny all;
        error_page 403 /omni_error;
    }
});
my $ta = $t->tenant(name => 'Brand A', plan => [qw(cs)]);

$t->get('/omni/api/v1/me', { token => $ta->{admin_token} }) for 1 .. 3;
$t->get('/omni/api/v1/me');
$t->get("/omni/px/$ta->{pixel_key}.gif?ev=pageview&vid=s1");

my $res = $t->get('/omni/status');
is($res->{status}, 200, 'loopback reads the status');
like($res->{headers}{'content-type'}, qr{^text/plain}, 'as text');
my $body = $res->{content};

like($body, qr/^omni_requests_total\{endpoint="me",status="2xx"\} [3-9]/m,
    'requests by endpoint and status class');
like($body, qr/^omni_requests_total\{endpoint="me",status="401"\} 1$/m,
    'and by error status');
like($body, qr/^omni_request_duration_seconds_bucket\{endpoint="me",le="\+Inf"\} \d+$/m,
    'latency histogram');
like($body, qr/^omni_request_duration_seconds_count\{endpoint="me"\} \d+$/m,
    'latency count');
like($body, qr/^omni_pg_in_use\{worker="\d+"\} \d+$/m, 'pool in use');
like($body, qr/^omni_pg_waiting\{worker="\d+"\} \d+$/m, 'pool waiting');
like($body, qr/^omni_pg_errors_total\{worker="\d+"\} \d+$/m, 'pool errors');
like($body, qr/^omni_cache_hits_total \d+$/m, 'cache hits');
like($body, qr/^omni_cache_misses_total [1-9]\d*$/m, 'cache misses');
like($body, qr/^omni_cache_evictions_total \d+$/m, 'cache evictions');
like($body, qr/^omni_pixel_beacons_total\{result="accepted"\} [1-9]/m,
    'beacons accepted');
like($body, qr/^omni_pixel_ring_capacity_bytes [1-9]\d*$/m, 'ring capacity');
like($body, qr/^omni_pixel_events_lost_total 0$/m, 'nothing lost');

# every worker's pool shows: the page covers the whole host
my @workers = $body =~ /^omni_pg_connections\{worker="(\d+)"\}/mg;
is(scalar @workers, 2, 'both workers report their pools');

$res = $t->get('/omni/status-denied');
is($res->{status}, 403, 'a caller outside the allow list is refused');
is($res->{json}{error}{code}, 'forbidden', 'in the JSON error shape');

$res = $t->post('/omni/status', { body => {} });
is($res->{status}, 405, 'status is read-only');

done_testing();
