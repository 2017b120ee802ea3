#!/usr/bin/perl
# Bot modules: CRUD; each type's content and each claimed channel's limits
# (422 naming the channel and the limit); the roles that manage them and
# every member reading; tenants apart; the plan gate; a module used by a
# saved reply is not deleted; a change notifies the caches.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Omni::Test;
use JSON::PP ();

my $t = Omni::Test->new(workers => 2);
my $ta = $t->tenant(name => 'A', plan => [qw(cs)]);
my $tb = $t->tenant(name => 'B', plan => [qw(cs)]);
my $tsf = $t->tenant(name => 'SF only', plan => [qw(salesforce)]);
my $admin = { token => $ta->{admin_token} };
my %role = map { $_ => $t->member(tenant => $ta->{id}, role => $_) }
    qw(supervisor cs_manager cs_agent sales_manager sales_agent marketer
       marketing_cs);
my $base = '/omni/api/v1/bot-modules';

sub error_is {
    my ($res, $status, $code, $name, $says) = @_;
    is($res->{status}, $status, "$name: $status");
    is($res->{json} && $res->{json}{error}{code}, $code, "$name: $code");
    like($res->{json}{error}{message}, $says, "$name: says why")
        if $says;
}

sub pb { +{ type => 'postback', title => $_[0], payload => $_[1] // $_[0] } }

my %module = (
    text_buttons => { channels => [qw(whatsapp messenger instagram line)],
        content => { text => 'Track or talk?',
                     buttons => [ pb('Track order', 'TRACK'),
                                  pb('Talk to us', 'AGENT') ] } },
    image_carousel => { channels => [qw(messenger line)],
        content => { cards => [ { title => 'Bag', subtitle => 'HK$99',
            image_url => 'https://shop.example/bag.png',
            buttons => [ { type => 'url', title => 'Buy',
                           url => 'https://shop.example/bag' } ] } ] } },
    quick_replies => { channels => [qw(whatsapp line)],
        content => { text => 'Size?',
                     replies => [ map { { title => $_, payload => $_ } }
                                  qw(S M L XL) ] } },
    cart_remarketing => { channels => [qw(whatsapp messenger)],
        content => { text => 'You left 2 items', button_title => 'Checkout',
                     url => 'https://shop.example/cart' } },
    coupon_card => { channels => [qw(whatsapp line)],
        content => { title => '10% off', description => 'This week only',
                     code => 'SAVE10', button_title => 'Shop now',
                     url => 'https://shop.example/sale' } },
    wa_keyword_auto_assign => { channels => ['whatsapp'],
        content => { text => 'Who would you like?',
                     options => [ { title => 'Sales',
                                    member_id => $role{marketer}{id} + 0 } ]
                   } },
);

# every type is creatable as a module, even those never a saved reply
my %id;
for my $type (sort keys %module) {
    my $res = $t->post($base, { %$admin, body => { name => "My $type",
        type => $type, %{ $module{$type} } } });
    is($res->{status}, 201, "$type module created");
    is($res->{json}{type}, $type, "$type: type");
    is_deeply($res->{json}{content}, $module{$type}{content},
        "$type: content as given");
    is_deeply($res->{json}{channels}, $module{$type}{channels},
        "$type: channels");
    is($res->{json}{saved_reply_ok},
        ($type =~ /^(cart_remarketing|coupon_card|wa_keyword_auto_assign)$/
         ? JSON::PP::false : JSON::PP::true), "$type: saved_reply_ok");
    $id{$type} = $res->{json}{id};
}

my $one = $t->get("$base/$id{text_buttons}", $admin);
is($one->{status}, 200, 'a module read');
is($one->{json}{name}, 'My text_buttons', 'its name');
my $list = $t->get("$base?per_page=4", $admin);
is(scalar @{ $list->{json}{items} }, 4, 'a page of four');
ok($list->{json}{next_cursor}, 'and a cursor');
my $rest = $t->get("$base?per_page=4&cursor=$list->{json}{next_cursor}",
    $admin);
is(scalar @{ $rest->{json}{items} }, 2, 'the rest on the next page');

# shapes
my $n = $t->dbh->selectrow_array('SELECT count(*) FROM bot_modules');
my $tb_body = $module{text_buttons};
error_is($t->post($base, { %$admin, body => { name => 'x',
    type => 'chatbot', %$tb_body } }), 422, 'invalid_type', 'unknown type');
error_is($t->post($base, { %$admin, body => { name => 'x',
    type => 'text_buttons', channels => ['wechat'],
    content => $tb_body->{content} } }), 422, 'invalid_channels',
    'unknown channel');
error_is($t->post($base, { %$admin, body => { name => 'x',
    type => 'text_buttons', channels => ['line'] } }), 400, 'missing_field',
    'content missing');
error_is($t->post($base, { %$admin, body => { name => 'x',
    type => 'text_buttons', channels => ['line'],
    content => { text => 'a', buttons => [ { type => 'call',
    title => 'a' } ] } } }), 422, 'invalid_content', 'a button type',
    qr/content\.buttons\[0\]\.type/);
error_is($t->post($base, { %$admin, body => { name => 'x',
    type => 'image_carousel', channels => ['line'],
    content => { cards => [ { title => 'a' } ] } } }), 422,
    'invalid_content', 'a card without image', qr/image_url or image_media_id/);
error_is($t->post($base, { %$admin, body => { name => 'x',
    type => 'quick_replies', channels => ['line'],
    content => { text => 'a', replies => [ { title => 'a' } ] } } }), 422,
    'invalid_content', 'a reply without payload', qr/payload/);
error_is($t->post($base, { %$admin, body => { name => 'x',
    type => 'coupon_card', channels => ['line'],
    content => { title => 'a' } } }), 422, 'invalid_content',
    'a coupon without description', qr/description/);
error_is($t->post($base, { %$admin, body => { name => 'x',
    type => 'cart_remarketing', channels => ['line'],
    content => { text => 'a', button_title => 'b',
                 url => 'http://shop.example/' } } }), 422,
    'invalid_content', 'a plain http link', qr/https/);
error_is($t->post($base, { %$admin, body => { name => 'x',
    type => 'wa_keyword_auto_assign', channels => ['whatsapp'],
    content => { text => 'a', options => [ { title => 'a',
                 member_id => 999999 } ] } } }), 422, 'unknown_member',
    'a member of no team');
my $bm = $t->member(tenant => $tb->{id}, role => 'cs_agent');
error_is($t->post($base, { %$admin, body => { name => 'x',
    type => 'wa_keyword_auto_assign', channels => ['whatsapp'],
    content => { text => 'a', options => [ { title => 'a',
                 member_id => $bm->{id} + 0 } ] } } }), 422,
    'unknown_member', "another team's member");
error_is($t->post($base, { %$admin, body => { name => 'x',
    type => 'image_carousel', channels => ['line'],
    content => { cards => [ { title => 'a', image_media_id => 424242 } ] } }
    }), 422, 'unknown_media', 'an image that was never uploaded');

# each channel's limits, named
my @four = map { pb("B$_") } 1 .. 4;
my @cards12 = map { { title => "C$_",
    image_url => "https://shop.example/$_.png" } } 1 .. 12;
my @replies13 = map { { title => "R$_", payload => "R$_" } } 1 .. 13;
for my $case (
    [ 'text_buttons', ['whatsapp'], { text => 'a', buttons => \@four },
      qr/whatsapp allows at most 3 reply buttons/ ],
    [ 'text_buttons', ['messenger'], { text => 'a', buttons => \@four },
      qr/messenger allows at most 3 buttons per template/ ],
    [ 'text_buttons', ['instagram'], { text => 'a', buttons => \@four },
      qr/instagram allows at most 3 buttons per template/ ],
    [ 'quick_replies', ['whatsapp'], { text => 'a', replies => \@replies13 },
      qr/whatsapp allows at most 10 list rows/ ],
    [ 'image_carousel', ['whatsapp'], { cards => \@cards12 },
      qr/whatsapp allows at most 10 carousel cards/ ],
    [ 'image_carousel', ['messenger'], { cards => \@cards12 },
      qr/messenger allows at most 10 generic-template elements/ ],
    [ 'image_carousel', ['instagram'], { cards => \@cards12 },
      qr/instagram allows at most 10 generic elements/ ],
    [ 'text_buttons', ['line'], { text => 'x' x 161, buttons => [pb('a')] },
      qr/line allows at most 160 characters/ ],
    [ 'wa_keyword_auto_assign', ['whatsapp', 'line'], { text => 'a',
      options => [ { title => 'a', member_id => $role{marketer}{id} + 0 } ] },
      qr/whatsapp only, not on line/, 'channel_not_supported' ],
) {
    my ($type, $channels, $content, $says, $code) = @$case;
    error_is($t->post($base, { %$admin, body => { name => 'x', type => $type,
        channels => $channels, content => $content } }), 422,
        $code // 'channel_limit', "$type on @$channels", $says);
}
for my $case (
    [ 'text_buttons', ['line'], { text => 'a', buttons => \@four } ],
    [ 'image_carousel', ['line'], { cards => \@cards12 } ],
    [ 'quick_replies', [qw(messenger instagram line)],
      { text => 'a', replies => \@replies13 } ],
) {
    my ($type, $channels, $content) = @$case;
    is($t->post($base, { %$admin, body => { name => 'at the limit',
        type => $type, channels => $channels, content => $content } })
        ->{status}, 201, "$type on @$channels: at the limit is fine");
}
is($t->dbh->selectrow_array(
    q{SELECT count(*) FROM bot_modules WHERE name = 'x'}), 0,
    'nothing refused was stored');

# an edit is judged on the module it makes
my $tbid = $id{text_buttons};
error_is($t->patch("$base/$tbid", { %$admin, body => { content => {
    text => 'a', buttons => \@four } } }), 422, 'channel_limit',
    'more buttons than WhatsApp takes, on a module that claims it',
    qr/whatsapp allows at most 3 reply buttons/);
my $ed = $t->patch("$base/$tbid", { %$admin, body => { channels => ['line'],
    content => { text => 'a', buttons => \@four } } });
is($ed->{status}, 200, 'the same buttons once the module is LINE only');
is_deeply($ed->{json}{channels}, ['line'], 'channels changed');
is(scalar @{ $ed->{json}{content}{buttons} }, 4, 'content changed');
error_is($t->patch("$base/$tbid", { %$admin, body => { channels =>
    ['whatsapp'] } }), 422, 'channel_limit', 'and not back to WhatsApp',
    qr/whatsapp/);
is($t->patch("$base/$tbid", { %$admin, body => { name => 'Renamed' } })
    ->{json}{name}, 'Renamed', 'a rename alone');

# roles: every member reads; the SPEC §2 bot-reply roles manage
for my $r (sort keys %role) {
    my $tok = { token => $role{$r}{token} };
    is($t->get("$base/$id{coupon_card}", $tok)->{status}, 200,
        "$r reads a module");
    is($t->get($base, $tok)->{status}, 200, "$r lists modules");
    my $manages = $r =~ /^(supervisor|cs_manager|marketer|marketing_cs)$/;
    my $res = $t->post($base, { %$tok, body => { name => "by $r",
        type => 'text_buttons', %{ $module{text_buttons} } } });
    if ($manages) {
        is($res->{status}, 201, "$r creates a module");
        is($t->patch("$base/$res->{json}{id}", { %$tok, body =>
            { name => "edited by $r" } })->{status}, 200,
            "$r edits a module");
        my $del = $t->delete("$base/$res->{json}{id}", $tok);
        if ($r eq 'marketer') {
            error_is($del, 403, 'forbidden_role', 'marketer cannot delete');
        } else {
            is($del->{status}, 200, "$r deletes a module");
        }
    } else {
        error_is($res, 403, 'forbidden_role', "$r cannot create");
        error_is($t->patch("$base/$id{coupon_card}", { %$tok, body =>
            { name => 'no' } }), 403, 'forbidden_role', "$r cannot edit");
        error_is($t->delete("$base/$id{coupon_card}", $tok), 403,
            'forbidden_role', "$r cannot delete");
    }
}

# tenants apart, plans gated
my $other = { token => $tb->{admin_token} };
error_is($t->get("$base/$id{coupon_card}", $other), 404, 'not_found',
    "another tenant's module is not found");
error_is($t->patch("$base/$id{coupon_card}", { %$other, body =>
    { name => 'mine' } }), 404, 'not_found', "nor edited");
error_is($t->delete("$base/$id{coupon_card}", $other), 404, 'not_found',
    "nor deleted");
is(scalar @{ $t->get($base, $other)->{json}{items} }, 0,
    "nor listed");
error_is($t->get($base, { token => $tsf->{admin_token} }), 403,
    'feature_not_in_plan', 'a plan without customer service');

# in use by a saved reply
my $dbh = $t->dbh;
$dbh->do(q{INSERT INTO saved_replies (tenant_id, owner_member_id, title,
    kind, bot_module_id, permission_type)
    SELECT ?, id, 'Quick sizes', 'bot', ?, 'all_members' FROM members
     WHERE tenant_id = ? AND role = 'admin' LIMIT 1}, undef, $ta->{id},
    $id{quick_replies}, $ta->{id});
error_is($t->delete("$base/$id{quick_replies}", $admin), 409, 'in_use',
    'a module a saved reply uses is not deleted', qr/1 saved reply/);
error_is($t->patch("$base/$id{quick_replies}", { %$admin, body => {
    type => 'coupon_card', content => $module{coupon_card}{content} } }),
    409, 'in_use', 'nor turned into a type never a saved reply');
is($t->patch("$base/$id{quick_replies}", { %$admin, body => {
    channels => ['line'] } })->{status}, 200,
    'its channels change (the saved replies follow)');
is($t->delete("$base/$id{cart_remarketing}", $admin)->{status}, 200,
    'an unused module is deleted');
error_is($t->get("$base/$id{cart_remarketing}", $admin), 404, 'not_found',
    'and gone');

# a change notifies the caches with the tenant
my $listen = $t->new_dbh;
$listen->do('LISTEN omni_cache');
is($t->patch("$base/$id{coupon_card}", { %$admin, body =>
    { name => 'Coupon' } })->{status}, 200, 'an edit');
my @heard;
$t->wait_until(sub {
    while (my $n = $listen->pg_notifies) { push @heard, $n->[2] }
    grep { $_ eq $ta->{id} } @heard;
}, 5, 'omni_cache NOTIFY with the tenant');
ok((grep { $_ eq $ta->{id} } @heard), 'omni_cache told the tenant');

is($t->error_log =~ /\[(alert|crit|emerg)\]/ ? 1 : 0, 0,
    'no alert in the error log');

$t->stop;
done_testing();
