#!/usr/bin/perl
# The harness itself: PostgreSQL and the stock nginx with the module start,
# and the module answers in its own JSON shape.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Omni::Test;

my $t = Omni::Test->new(workers => 2);

my $res = $t->get('/omni/nowhere');
is($res->{status}, 404, 'an unknown path under /omni/ is 404');
is($res->{json}{error}{code}, 'not_found', 'as a JSON error');

is(scalar $t->worker_pids, 2, 'two workers run');
# the newest migration's number (numbers may be reserved by parts in work)
my ($newest) = sort { $b <=> $a } map { m{/(\d{3})_[^/]*\.sql$} ? $1 + 0 : () }
    glob "$Omni::Test::TOP/ngx_omni_module/sql/[0-9]*.sql";
is($t->dbh->selectrow_array('SELECT omni_schema_version()'), $newest,
    'the schema is migrated');

my $a = $t->tenant(name => 'Harness', plan => [qw(cs)]);
like($a->{admin_token}, qr/^om_[0-9a-f]{48}$/, 'omni-admin makes a tenant');
like($a->{pixel_key}, qr/^px_[0-9a-f]{24}$/, 'with a pixel key');

done_testing();
