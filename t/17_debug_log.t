#!/usr/bin/perl
# Debug traces of the JSON API: with error_log at debug, every step of a
# request shows, in order (route, body, token cache, authentication, gate,
# query, result, answer); with error_log at info, none does.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Omni::Test;

my $t = Omni::Test->new(main_extra => 'error_log debug.log debug;');
my $ta = $t->tenant(name => 'A', plan => [qw(cs)]);
my $admin = { token => $ta->{admin_token} };

# the API traces of the debug log, one list per request (they never
# interleave: one worker, one request at a time)
sub api_traces {
    my @requests;
    for my $line (split /\n/, $t->error_log('debug.log')) {
        my ($what) = $line =~ /\[debug\] \d+#\d+: \*\d+ omni api: (.*)$/
            or next;
        push @requests, [] if $what =~ /^route /;
        push @{ $requests[-1] }, $what if @requests;
    }
    return @requests;
}

# the traces of the nth API request, once its answer is logged
sub traces_of {
    my ($n) = @_;
    my @requests;
    $t->wait_until(sub {
        @requests = api_traces();
        @requests >= $n && grep { /^answer sent/ } @{ $requests[$n - 1] }
    }, 10, "the traces of request $n");
    return $requests[$n - 1] // [];
}

sub in_order {
    my ($traces, $steps, $name) = @_;
    my $i = 0;
    for my $line (@$traces) {
        $i++ if $i < @$steps && $line =~ $steps->[$i];
    }
    ok($i == @$steps, $name)
        or diag("missing: $steps->[$i]\ntraces:\n" . join("\n", @$traces));
}

is($t->get('/omni/api/v1/me', $admin)->{status}, 200, 'a first call');
my $first = traces_of(1);
in_order($first, [
    qr/^route GET "me"$/,
    qr/^body read, 0 bytes$/,
    qr/^token cache miss$/,
    qr/^query omni_auth_token submitted$/i,
    qr/^query omni_auth_token result: rc 0, 1 rows$/i,
    qr/^authenticated member \d+ of tenant $ta->{id}, role \d+$/,
    qr/^query omni_me submitted$/i,
    qr/^query omni_me result: rc 0, 1 rows$/i,
    qr/^answer sent: status 200, rc 0$/,
], 'a first call loads the token, then runs its statement and answers');

is($t->get('/omni/api/v1/me', $admin)->{status}, 200, 'a second call');
my $second = traces_of(2);
in_order($second, [
    qr/^route GET "me"$/,
    qr/^body read/,
    qr/^token cache hit$/,
    qr/^authenticated member \d+ of tenant $ta->{id}/,
    qr/^query omni_me submitted$/i,
    qr/^query omni_me result/i,
    qr/^answer sent: status 200/,
], 'a second call finds the token in the cache');
ok(!grep({ /auth_token|cache miss/i } @$second),
    'and does not load the token again');

is($t->get('/omni/api/v1/pixel/logs', $admin)->{status}, 403,
    'the Pixel log on a plan without the Pixel');
my $gated = traces_of(3);
in_order($gated, [
    qr/^route GET "pixel\/logs"$/,
    qr/^token cache hit$/,
    qr/^authenticated member/,
    qr/^gate refused: plan /,
    qr/^answer sent: status 403/,
], 'the plan gate refuses after authentication');
ok(!grep({ /^query / } @$gated), 'and before any query');

is($t->get('/omni/api/v1/me')->{status}, 401, 'a call without a token');
in_order(traces_of(4), [
    qr/^route GET "me"$/,
    qr/^body read/,
    qr/^authentication refused: missing_token$/,
    qr/^answer sent: status 401/,
], 'a call without a token is refused before the cache is asked');

my $body = '{"name":"CWB"}';
is($t->post('/omni/api/v1/branches', { %$admin, body => $body })->{status},
    201, 'a branch created');
in_order(traces_of(5), [
    qr/^route POST "branches"$/,
    qr/^body read, ${\ length $body} bytes$/,
    qr/^token cache hit$/,
    qr/^query omni_branch_create submitted$/i,
    qr/^query omni_branch_create result: rc 0, 1 rows$/i,
    qr/^answer sent: status 201/,
], 'a write: its body, its statement, its answer');

unlike($t->error_log, qr/omni api:/,
    'the same server\'s error_log at info holds none of them');

# a server whose only error_log is at info
my $u = $t->start_second_nginx(main_extra => '');
is($u->get('/omni/api/v1/me', $admin)->{status}, 200,
    'a call to a server logging at info');
# the worker answers one request at a time: once the status page is
# answered, everything of the call before it is logged
is($u->get('/omni/status')->{status}, 200, 'and a request after it');
unlike($u->error_log, qr/omni api:|\[debug\]/,
    'no trace at info');

done_testing();
