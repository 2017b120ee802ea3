#!/usr/bin/perl
# Phone capture (SPEC §4): a visitor's mobile of SG, MY, ID, HK or MO
# becomes a WhatsApp contact bound to the visitor's customer; other numbers
# are a phone attribute only; a number that already belongs to a customer
# merges the visitor into that customer; only the marketing plans capture.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Omni::Test;

my $t = Omni::Test->new(workers => 1);
my $ta = $t->tenant(name => 'Shop', plan => [qw(social_cdp)], region => 'HK');
my $tb = $t->tenant(name => 'Other', plan => [qw(flagship)], region => 'SG');
my $tc = $t->tenant(name => 'CS only', plan => [qw(cs)], region => 'HK');
my $admin = { token => $ta->{admin_token} };

sub beacon {
    my ($tenant, $vid, %q) = @_;
    my $qs = join '&', map { "$_=$q{$_}" } sort keys %q;
    return $t->get("/omni/px/$tenant->{pixel_key}.gif?ev=form_submit"
        . "&vid=$vid&$qs")->{status};
}

sub customer_of {
    my ($tenant, $vid) = @_;
    my $res = $t->get("/omni/api/v1/customers?visitor_id=$vid",
        { token => $tenant->{admin_token} });
    return $res->{json}{items}[0];
}

sub wait_customer {
    my ($tenant, $vid, $cond, $what) = @_;
    my $c;
    $t->wait_until(sub { $c = customer_of($tenant, $vid); $c && $cond->($c) },
        10, $what);
    return $c;
}

sub has_wa {
    my ($c, $id) = @_;
    return grep { $_->{channel_type} eq 'whatsapp' && $_->{external_id} eq $id }
        @{ $c->{identities} };
}

my @mobiles = (
    [ 'sg', '%2B65%208123%204567', '6581234567' ],
    [ 'my', '%2B60%2012-345%206789', '60123456789' ],
    [ 'id', '%2B62%20812-3456-7890', '6281234567890' ],
    [ 'hk', '9123%204567', '85291234567' ],          # national, region HK
    [ 'mo', '00853%206612%203456', '85366123456' ],
);
for my $m (@mobiles) {
    my ($cc, $typed, $wa) = @$m;
    is(beacon($ta, "v_$cc", ph => $typed), 200, "$cc mobile beacon");
    my $c = wait_customer($ta, "v_$cc", sub { has_wa($_[0], $wa) },
        "$cc: WhatsApp contact whatsapp:$wa on the visitor's customer");
    is_deeply($c->{phones}, [ "+$wa" ], "$cc: phone in E.164 with +");
    is($t->get("/omni/api/v1/customers?identity=whatsapp:$wa", $admin)
        ->{json}{items}[0]{id}, $c->{id}, "$cc: found by identity");
}

# the tenant's default region reads national numbers
beacon($tb, 'v_sg_national', ph => '8123%204567');
wait_customer($tb, 'v_sg_national', sub { has_wa($_[0], '6581234567') },
    'a national number in the SG tenant is a Singapore mobile');

# not a supported mobile: a phone attribute only
for my $case ([ 'fixed', '2123%204567', '+85221234567' ],
              [ 'tw', '%2B886%20912%20345%20678', '+886912345678' ],
              [ 'junk', 'call%20me', 'call me' ])
{
    my ($name, $typed, $attr) = @$case;
    beacon($ta, "v_$name", ph => $typed, em => "$name%40example.com");
    my $c = wait_customer($ta, "v_$name",
        sub { ($_[0]{attributes}{phone} // '') eq $attr },
        "$name: kept as a phone attribute");
    is_deeply($c->{identities}, [], "$name: no WhatsApp identity");
    is_deeply($c->{emails}, [ "$name\@example.com" ], "$name: email kept");
}

# the same number from another browser: the same customer
my $sg = customer_of($ta, 'v_sg');
beacon($ta, 'v_sg_phone2', ph => '%2B6581234567');
my $c = wait_customer($ta, 'v_sg_phone2', sub { 1 }, 'second browser linked');
is($c->{id}, $sg->{id}, 'a known number on a new browser joins its customer');

# a visitor with its own customer gives a number that belongs to another:
# the visitor is merged into the number's owner
beacon($ta, 'v_merge', em => 'mei%40example.com');
my $before = wait_customer($ta, 'v_merge', sub { @{ $_[0]{emails} } },
    'the visitor has a customer of its own');
isnt($before->{id}, $sg->{id}, 'a different customer at first');
beacon($ta, 'v_merge', ph => '%2B65%2081234567');
my $after = wait_customer($ta, 'v_merge', sub { $_[0]{id} == $sg->{id} },
    'merged into the owner of the number');
ok(grep({ $_ eq 'mei@example.com' } @{ $after->{emails} }),
    'the merged customer keeps the email');
ok(grep({ $_ eq 'v_merge' } @{ $after->{visitor_ids} }),
    'and the visitor id');
is($t->get("/omni/api/v1/customers/$before->{id}", $admin)->{json}{id},
    $sg->{id}, 'the old id answers as the merged customer');
is($t->dbh->selectrow_array(q{SELECT count(*) FROM customer_identities
    WHERE tenant_id = ? AND external_id = '6581234567'}, undef, $ta->{id}),
    1, 'one WhatsApp identity, not two');

# idempotent: the same capture again changes nothing
my $n = $t->dbh->selectrow_array(
    'SELECT count(*) FROM customers WHERE tenant_id = ?', undef, $ta->{id});
beacon($ta, 'v_sg', ph => '%2B65%208123%204567') for 1 .. 3;
$t->wait_until(sub { !$t->dbh->selectrow_array(q{SELECT count(*)
    FROM omni_px_captures WHERE processed_at IS NULL}) }, 10,
    'captures processed');
is($t->dbh->selectrow_array('SELECT count(*) FROM customers WHERE tenant_id = ?',
    undef, $ta->{id}), $n, 'repeating a capture creates nothing');

# tenants are apart: the same number in another tenant is its own contact
beacon($tb, 'v_sg', ph => '%2B65%208123%204567');
my $other = wait_customer($tb, 'v_sg', sub { has_wa($_[0], '6581234567') },
    'the other tenant gets its own contact');
isnt($other->{id}, $sg->{id}, 'a different customer');
is($t->get("/omni/api/v1/customers/$other->{id}", $admin)->{status}, 404,
    "another tenant's customer is not found");

# plans without phone capture: events kept, no contact
beacon($tc, 'v_cs', ph => '%2B65%208123%204567');
$t->wait_until(sub { $t->dbh->selectrow_array(q{SELECT count(*)
    FROM omni_px_captures WHERE tenant_id = ? AND outcome = 'plan'}, undef,
    $tc->{id}) }, 10, 'the capture is closed as outside the plan');
is(scalar @{ $t->get('/omni/api/v1/customers?visitor_id=v_cs',
    { token => $tc->{admin_token} })->{json}{items} }, 0,
    'no customer from a cs-only tenant\'s Pixel');
is($t->get('/omni/api/v1/pixel/logs', { token => $tc->{admin_token} })
    ->{json}{error}{code}, 'feature_not_in_plan',
    'the Pixel log is a marketing feature');

done_testing();
