#!/usr/bin/perl
# GIF beacon queries (SPEC §7, docs/pixel.md): the whole query nginx took
# is read, so omni.js's longest beacons keep every field; what can't be
# stored whole is refused and counted, never stored cut; a NUL costs what
# docs/pixel.md says it costs, the same as in a POST.

use strict;
use warnings;
use utf8;
use Test::More;
use lib 't/lib';
use Omni::Test;

# an operator may let nginx take request lines longer than 8 KB
my $t = Omni::Test->new(workers => 1, http_extra => q{
    large_client_header_buffers 4 32k;
});
my $ta = $t->tenant(name => 'Shop', plan => [qw(social_cdp)], region => 'HK');
my $key = $ta->{pixel_key};

# what omni.js's encodeURIComponent makes of a string
sub enc {
    my ($s) = @_;
    utf8::encode($s);
    $s =~ s/([^A-Za-z0-9\-_.!~*'()])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# omni.js's gif(): ev, vid, url, ref, ts, ph, em, then p.NAME
sub omni_js_query {
    my (%ev) = @_;
    my @q = map { "$_=" . enc($ev{$_}) }
            grep { defined $ev{$_} } qw(ev vid url ref ts ph em);
    my $props = $ev{props} // [];
    for (my $i = 0; $i < @$props; $i += 2) {
        push @q, 'p.' . enc($props->[$i]) . '=' . enc($props->[$i + 1]);
    }
    return join '&', @q;
}

sub row {
    my ($vid) = @_;
    return $t->dbh->selectrow_hashref(q{SELECT *, props::text AS props_text,
        extract(epoch FROM client_ts)::bigint AS cts
        FROM pixel_events WHERE vid = ?}, undef, $vid);
}

sub stored {
    my ($vid) = @_;
    return $t->dbh->selectrow_array(
        'SELECT count(*) FROM pixel_events WHERE vid = ?', undef, $vid);
}

sub rejected { $t->metric('omni_pixel_beacons_total', 'rejected') }

# A shopper on a search page with a long CJK query, coming from another
# such page: href is percent-encoded already, so encodeURIComponent makes
# each 9-character %XX%XX%XX into 15; omni.js cuts url and ref at 2,048
# characters, giving a query of about 7,000 (under its 8,000 cap).
my $cjk = '%E9%90%B5' x 225;
my $url = 'https://shop.example/s/' . $cjk;
my $ref = 'https://ref.example/q/' . $cjk . 'x';
is(length $url, 2048, 'url as omni.js cuts it');
my $q = omni_js_query(ev => 'form_submit', vid => 'long1', url => $url,
    ref => $ref, ts => 1764050000000, ph => '+65 8123 4567',
    em => 'tea@example.com', props => [ form => 'signup', sku => 'TGY-100' ]);
cmp_ok(length $q, '>', 6500, 'a query of ' . length($q) . ' characters');
cmp_ok(length $q, '<=', 8000, 'within omni.js\'s cap');

is($t->get("/omni/px/$key.gif?$q")->{status}, 200, 'the long beacon');
$t->wait_until(sub { stored('long1') == 1 }, 10, 'the long beacon stored');
my $r = row('long1');
is($r->{url}, $url, 'url whole');
is($r->{ref}, $ref, 'ref whole');
is($r->{cts}, 1764050000, 'client time kept');
is($r->{phone}, '+65 8123 4567', 'phone kept');
is($r->{email}, 'tea@example.com', 'email kept');
is($r->{props_text}, '{"sku": "TGY-100", "form": "signup"}', 'props kept');

# and the phone it carries is captured
$t->wait_until(sub {
    my $c = $t->get('/omni/api/v1/customers?visitor_id=long1',
        { token => $ta->{admin_token} })->{json}{items}[0];
    $c && grep { $_->{external_id} eq '6581234567' } @{ $c->{identities} }
}, 10, 'the long beacon\'s phone becomes whatsapp:6581234567');

# nginx took a longer query than omni.js makes: still read to its end
# (the URL is cut at 2 KB as docs/pixel.md says, the fields after it kept)
my $before = rejected();
$q = omni_js_query(ev => 'pageview', vid => 'long2',
    url => 'https://shop.example/?' . ('a' x 12000), ts => 1764050000000,
    ph => '+852 9123 4567', props => [ after => 'the url' ]);
is($t->get("/omni/px/$key.gif?$q")->{status}, 200, 'a 12 KB query');
$t->wait_until(sub { stored('long2') == 1 }, 10, 'stored');
$r = row('long2');
is(length $r->{url}, 2048, 'its url cut at 2 KB');
is($r->{phone}, '+852 9123 4567', 'the phone after it kept');
is($r->{props_text}, '{"after": "the url"}', 'the props after it kept');

# a beacon that can't be stored whole is refused and counted, not cut
my @too_much = (
    [ 'props_51', omni_js_query(ev => 'x', vid => 'big1',
        props => [ map { ("k$_" => 'v') } 1 .. 51 ]) ],
    [ 'props_over_row', omni_js_query(ev => 'x', vid => 'big2',
        props => [ map { ("k$_" => 'v' x 500) } 1 .. 20 ]) ],
);
for my $case (@too_much) {
    is($t->get("/omni/px/$key.gif?$case->[1]")->{status}, 200,
        "$case->[0]: the GIF");
}
is(rejected() - $before, scalar @too_much, 'each counted as rejected');

# NUL (%00): an identifier with one is refused; a property name with one
# costs that property; in any other value the NUL byte is dropped, as in
# a POST
$before = rejected();
$t->get("/omni/px/$key.gif?ev=a%00b&vid=nul0");
$t->get("/omni/px/$key.gif?ev=x&vid=nul%000");
is(rejected() - $before, 2, 'a NUL in ev or vid: counted as rejected');
is($t->get("/omni/px/$key.gif?ev=nul&vid=nul1&url=https%3A%2F%2Fa%00b"
    . '&p.%00=x&p.a%00b=y&p.ok=1&p.v=c%00d')->{status}, 200,
    'NULs in a url, property names and a value');
$t->get("/omni/px/$key.gif?ev=nul&vid=nul2");
$t->wait_until(sub { stored('nul2') == 1 }, 10, 'the beacon after it stored');
is(stored('nul0'), 0, 'the refused ones are not stored');
$r = row('nul1');
is($r->{url}, 'https://ab', 'the NUL byte dropped from the url');
is($r->{props_text}, '{"v": "cd", "ok": "1"}',
    'properties named with a NUL left out, the others kept');

# malformed escapes are kept as they were sent, not half-decoded
$t->get("/omni/px/$key.gif?ev=pct&vid=pct1&p.q=100%25%20off%zz%4&url=%");
$t->wait_until(sub { stored('pct1') == 1 }, 10, 'stored');
$r = row('pct1');
is($t->dbh->selectrow_array(q{SELECT props->>'q' FROM pixel_events
    WHERE vid = 'pct1'}), '100% off%zz%4', 'a % without two hex digits kept');
is($r->{url}, '%', 'a lone %');

is($t->metric('omni_pixel_events_lost_total'), 0, 'nothing lost');

done_testing();
