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

# events of the row-per-event schema (3) move into blocks with 4
$t->migrate(upto => 3);
my ($old_tenant) = $t->dbh->selectrow_array(q{INSERT INTO tenants (name, plan)
    VALUES ('Old', '{marketing_advanced}') RETURNING id});
$t->dbh->do(q{INSERT INTO pixel_events (tenant_id, received_at, ev, vid, url,
    client_ts, phone, props, ip, ua) VALUES
    (?, '2026-11-01 10:00:00.123+00', 'pageview', 'v1', 'https://a/"q"',
     '2026-11-01 09:59:59+00', NULL, '{"sku": "A1"}', '10.0.0.1', 'UA 1'),
    (?, '2026-11-01 10:00:01+00', 'signup', 'v1', NULL, NULL, '+6581234567',
     '{}', NULL, NULL),
    (?, '2026-10-31 23:00:00+00', 'pageview', 'v2', NULL, NULL, NULL, '{}',
     NULL, NULL)}, undef, ($old_tenant) x 3);
my $before = $t->dbh->selectall_arrayref(q{SELECT received_at, ev, vid, url,
    client_ts, phone, props::text, host(ip), ua FROM pixel_events
    ORDER BY received_at});

# migrate: the running nginx picks it up by itself
$t->migrate;
is_deeply($t->dbh->selectall_arrayref(q{SELECT received_at, ev, vid, url,
    client_ts, phone, props::text, host(ip), ua FROM pixel_events
    ORDER BY received_at}), $before,
    'the events of schema 3 read the same from their blocks');
is($t->dbh->selectrow_array(q{SELECT count(*) FROM pixel_event_blocks
    WHERE tenant_id = ?}, undef, $old_tenant), 2, 'a block a tenant a day');
my $ta = $t->tenant(name => 'Brand A', plan => [qw(cs)]);
$t->wait_until(sub {
    $t->get('/omni/api/v1/me', { token => $ta->{admin_token} })->{status}
        == 200
}, 10, 'serves once the schema is current');
is($t->metric('omni_pg_schema_stale'), 0, 'stale flag cleared');

done_testing();
