#!/usr/bin/perl
# The Pixel script in a real headless Chromium, on the demo shop page
# served by the same nginx: a signup with a Singapore mobile becomes a
# WhatsApp contact on the visitor's customer; consent, ignored fields,
# passwords and the GIF fallback behave as shoppers and regulators expect.

use strict;
use warnings;
use Test::More;
use JSON::PP;
use lib 't/lib';
use Omni::Test;

my $t = Omni::Test->new(workers => 1);
my $ta = $t->tenant(name => 'Harbour Tea', plan => [qw(marketing_advanced)],
    region => 'HK');
my $admin = { token => $ta->{admin_token} };

sub browse {
    my ($scenario) = @_;
    my $out = `node $Omni::Test::TOP/t/browser/pixel.mjs '${\ $t->url('')}' $ta->{pixel_key} $scenario 2>&1`;
    my ($line) = $out =~ /^(\{.*\})$/m;
    my $r = $line ? eval { decode_json($line) } : undef;
    ok($r && !$r->{error}, "$scenario: the page ran") or diag($out);
    return $r // { beacons => [] };
}

sub bodies { join "\n", map { "$_->{url} $_->{body}" } @{ $_[0]{beacons} } }

# signup: pageview, form capture, custom event; the WhatsApp contact appears
my $r = browse('signup');
ok($r->{vid} =~ /^[A-Za-z0-9_-]{22}$/, 'a first-party visitor id');
my $all = bodies($r);
like($all, qr/"ev":"pageview"/, 'a page view');
like($all, qr/"ph":"\+65 8123 4567"/, 'the phone field is captured');
like($all, qr/"em":"Shopper\@Example.com"/, 'the email field is captured');
like($all, qr/"ev":"add_to_cart"/, 'omni(track) sends a custom event');
unlike($all, qr/hunter2/, 'never the password');
unlike($all, qr/secret-campaign-code/, 'never a hidden field');
unlike($all, qr/6000 0000/, 'never a field marked data-omni-ignore');
is($r->{beacons}[0]{method}, 'POST', 'sent with navigator.sendBeacon');

my $customer;
$t->wait_until(sub {
    $customer = $t->get("/omni/api/v1/customers?visitor_id=$r->{vid}",
        $admin)->{json}{items}[0];
    $customer && grep { $_->{external_id} eq '6581234567' }
        @{ $customer->{identities} }
}, 15, "the visitor's customer gains whatsapp:6581234567");
is_deeply($customer->{emails}, [ 'shopper@example.com' ], 'and the email');
is($t->get('/omni/api/v1/customers?identity=whatsapp:6581234567', $admin)
    ->{json}{items}[0]{id}, $customer->{id}, 'found by the WhatsApp identity');

# consent required: nothing leaves the page until granted; denied drops it
$r = browse('consent');
is($r->{before_consent}, 0, 'consent required: nothing sent');
cmp_ok($r->{after_consent}, '>', 0, 'consent granted: the kept events go');
is($r->{after_denied}, 0, 'consent denied: nothing ever sent');
ok(!$r->{vid_kept_before_consent},
    'consent required: no visitor id stored on the device yet');
ok(!$r->{vid_kept_after_denied},
    'consent denied: the visitor id a grant had stored is removed');

# a form marked data-omni-ignore sends nothing of its fields
$r = browse('ignore');
unlike(bodies($r), qr/5555 0000/, 'an ignored form is not read');

# without sendBeacon, the GIF carries the events
$r = browse('fallback');
ok(!grep({ $_->{method} ne 'GET' } @{ $r->{beacons} }), 'only GIF beacons');
like(bodies($r), qr/\.gif\?ev=form_submit.*ph=%2B65%208123%204567/,
    'the form capture as a GIF beacon');
$t->wait_until(sub {
    $t->dbh->selectrow_array(q{SELECT count(*) FROM pixel_events
        WHERE vid = ? AND ev = 'form_submit'}, undef, $r->{vid})
}, 10, 'the GIF beacon is stored');

done_testing();
