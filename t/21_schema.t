#!/usr/bin/perl
# A worker refuses to serve on a schema older than the module, says why
# in the error log, and serves as soon as the migrations are applied.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Omni::Test;

my $t = Omni::Test->new(workers => 1, migrate => 0);

# an old database: only the first migration
$t->migrate(upto => 1);

my $res = $t->get('/omni/api/v1/me', { token => 'om_' . ('1' x 48) });
is($res->{status}, 503, 'stale schema: 503');
is($res->{json}{error}{code}, 'schema_outdated', 'stale schema: code');
$t->wait_until(sub { $t->error_log =~ /schema is at version 1/ }, 5,
    'the error log says which version and what to do');
like($t->error_log, qr/omni-migrate/, 'and names the migration command');
is($t->metric('omni_pg_schema_stale'), 1, 'status shows the stale schema');

# migrate: the running nginx picks it up by itself
$t->migrate;
my $ta = $t->tenant(name => 'Brand A', plan => [qw(cs)]);
$t->wait_until(sub {
    $t->get('/omni/api/v1/me', { token => $ta->{admin_token} })->{status}
        == 200
}, 10, 'serves once the schema is current');
is($t->metric('omni_pg_schema_stale'), 0, 'stale flag cleared');

done_testing();
