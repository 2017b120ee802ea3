#!/usr/bin/perl
# Customers lookup (SPEC §7): by identity, visitor, email, phone (read as
# the Pixel reads it), tag and attribute; one at a time; tenants apart.

use strict;
use warnings;
use utf8;
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
my $ta = $t->tenant(name => 'A', plan => [qw(cs)], region => 'HK');
my $tb = $t->tenant(name => 'B', plan => [qw(cs)], region => 'SG');
my $admin = { token => $ta->{admin_token} };
my $dbh = $t->dbh;

sub customer {
    my ($tenant, %c) = @_;
    my $id = $dbh->selectrow_array(q{INSERT INTO customers (tenant_id, name,
        attributes) VALUES (?, ?, ?) RETURNING id}, undef, $tenant->{id},
        $c{name}, $c{attributes} // '{}');
    $dbh->do('INSERT INTO customer_phones VALUES (?, ?, ?)', undef,
        $tenant->{id}, $id, $_) for @{ $c{phones} // [] };
    $dbh->do('INSERT INTO customer_emails VALUES (?, ?, ?)', undef,
        $tenant->{id}, $id, $_) for @{ $c{emails} // [] };
    $dbh->do('INSERT INTO customer_tags VALUES (?, ?, ?)', undef,
        $tenant->{id}, $id, $_) for @{ $c{tags} // [] };
    $dbh->do(q{INSERT INTO customer_identities (tenant_id, channel_type,
        external_id, customer_id) VALUES (?, ?, ?, ?)}, undef, $tenant->{id},
        @$_, $id) for @{ $c{identities} // [] };
    $dbh->do('INSERT INTO customer_visitors (tenant_id, visitor_id, customer_id)
        VALUES (?, ?, ?)', undef, $tenant->{id}, $_, $id)
        for @{ $c{visitors} // [] };
    return $id;
}

my $mei = customer($ta, name => 'Mei', phones => [ '+85291234567' ],
    emails => [ 'mei@example.com' ], tags => [ 'vip', '茶' ],
    attributes => '{"vip_level":"gold","points":120}',
    identities => [ [ 'whatsapp', '85291234567' ], [ 'line', 'U4af0' ] ],
    visitors => [ 'vm1' ]);
my $kit = customer($ta, name => 'Kit', tags => [ 'vip' ],
    attributes => '{"vip_level":"silver"}');
my $other = customer($tb, name => 'Other Mei', phones => [ '+85291234567' ],
    emails => [ 'mei@example.com' ], tags => [ 'vip' ],
    identities => [ [ 'whatsapp', '85291234567' ] ], visitors => [ 'vm1' ]);

sub ids {
    my ($q) = @_;
    my $res = $t->get("/omni/api/v1/customers?$q", $admin);
    is($res->{status}, 200, "?$q answers");
    return [ map { $_->{id} } @{ $res->{json}{items} } ];
}

is_deeply(ids('identity=whatsapp:85291234567'), [ $mei ], 'by identity');
is_deeply(ids('identity=line:U4af0'), [ $mei ], 'by a LINE identity');
is_deeply(ids('visitor_id=vm1'), [ $mei ], 'by visitor id');
is_deeply(ids('email=MEI@Example.com'), [ $mei ], 'by email, any case');
is_deeply(ids('phone=9123%204567'), [ $mei ], 'by a national phone');
is_deeply(ids('phone=%2B852-9123-4567'), [ $mei ], 'by +852 with dashes');
is_deeply(ids('phone=0085291234567'), [ $mei ], 'by 00852');
is_deeply(ids('tag=vip'), [ $mei, $kit ], 'by tag');
is_deeply(ids('tag=%E8%8C%B6'), [ $mei ], 'by a Chinese tag');
is_deeply(ids('attr.vip_level=gold'), [ $mei ], 'by attribute');
is_deeply(ids('attr.points=120'), [ $mei ], 'by a numeric attribute');
is_deeply(ids('identity=whatsapp:0000'), [], 'no match: empty list');
is_deeply(ids(''), [ $mei, $kit ], 'no filter: every customer of mine');

my $page = $t->get('/omni/api/v1/customers?tag=vip&per_page=1', $admin);
is_deeply([ map { $_->{id} } @{ $page->{json}{items} } ], [ $mei ],
    'a page of one');
my $next = $t->get('/omni/api/v1/customers?tag=vip&per_page=1&cursor='
    . $page->{json}{next_cursor}, $admin);
is_deeply([ map { $_->{id} } @{ $next->{json}{items} } ], [ $kit ],
    'and the next');
is($next->{json}{next_cursor}, undef, 'then no more');

my $c = $t->get("/omni/api/v1/customers/$mei", $admin)->{json};
is($c->{name}, 'Mei', 'one customer');
is_deeply($c->{phones}, [ '+85291234567' ], 'phones with +');
is_deeply($c->{identities}, [
    { channel_type => 'line', external_id => 'U4af0' },
    { channel_type => 'whatsapp', external_id => '85291234567' } ],
    'identities, digits without +');
is($c->{attributes}{vip_level}, 'gold', 'attributes');
is_deeply($c->{visitor_ids}, [ 'vm1' ], 'visitor ids');
ok(exists $c->{bound_member_id} && exists $c->{follow_status},
    'binding fields present');

# bad input and other tenants
my $res = $t->get('/omni/api/v1/customers?email=a@b.c&tag=vip', $admin);
is($res->{status}, 400, 'two filters: 400');
is($res->{json}{error}{code}, 'invalid_parameter', 'two filters: code');
is($t->get('/omni/api/v1/customers?attr.=x', $admin)->{status}, 400,
    'an attribute filter without a key');
is($t->get('/omni/api/v1/customers?identity=nocolon', $admin)
    ->{json}{error}{code}, 'invalid_parameter', 'identity without a type');

# a NUL in a query argument is refused, never cut short
for my $q ('attr.%00=x', 'attr.vip_level%00x=gold', 'attr.vip_level=gold%00',
           'tag=vip%00x', 'cursor=1%00', 'per_page=1%00x', 'phone=9123%004567',
           'identity=whatsapp:85291234567%00')
{
    my $res = $t->get("/omni/api/v1/customers?$q", $admin);
    is($res->{status}, 400, "$q: 400");
    is($res->{json}{error}{code}, 'invalid_parameter',
        "$q: invalid_parameter");
}

# a filter named in the message: cut at a whole character, never a byte
for my $q ('attr.' . ('%E8%8C%B6' x 200) . '=', 'attr.%FF%C3=',
           'attr.' . ('%F0%9F%8D%B5' x 200) . '=',
           'tag=' . ('%E8%8C%B6' x 200))
{
    my $res = $t->get("/omni/api/v1/customers?$q", $admin);
    is($res->{status}, 400, substr($q, 0, 14) . '...: 400');
    ok(strict_json($res->{content}),
        substr($q, 0, 14) . '...: the body is strict UTF-8 JSON');
}
is($t->get("/omni/api/v1/customers/$other", $admin)->{status}, 404,
    "another tenant's customer: 404");
is($t->get('/omni/api/v1/customers/99999999', $admin)->{status}, 404,
    'a missing customer: 404');
is_deeply([ map { $_->{id} } @{ $t->get('/omni/api/v1/customers?visitor_id=vm1',
    { token => $tb->{admin_token} })->{json}{items} } ], [ $other ],
    'the other tenant sees only its own');

done_testing();
