#!/usr/bin/perl
# The whole loop, through the public contract only: a shopper writes on
# each channel (the channel's signed webhook), staff find the conversation
# and answer it through the API, the deliverer sends the answer to the
# channel's API (the fakes, over TLS with the test CA) and the channel's
# own status webhooks bring it back delivered and read.  Another tenant
# sees none of it.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Omni::Test;
use Omni::FakeChannels qw(:webhooks);

my $fake = Omni::FakeChannels->start;

my $t = Omni::Test->new(http_extra => join "\n",
    (map { "omni_channel_api $_ " . $fake->base($_) . ';' }
         qw(whatsapp messenger instagram line)),
    'omni_upstream_trusted_certificate ' . $fake->ca_file . ';');

my $shop = $t->tenant(name => 'Shop', plan => [qw(cs)]);
my $other = $t->tenant(name => 'Other', plan => [qw(cs)]);
my $agent = $t->member(tenant => $shop->{id}, role => 'cs_agent');

# the accounts the fakes answer for (their paths and status webhooks)
my %creds = (
    whatsapp  => { app_secret => 'wa-app-secret',
                   access_token => $fake->token('whatsapp'),
                   phone_number_id => '1065', verify_token => 'wa-v' },
    messenger => { app_secret => 'fb-app-secret',
                   page_access_token => $fake->token('messenger'),
                   page_id => '2077', verify_token => 'fb-v' },
    instagram => { app_secret => 'ig-app-secret',
                   access_token => $fake->token('instagram'),
                   ig_user_id => '3099', verify_token => 'ig-v' },
    line      => { channel_secret => 'line-channel-secret',
                   channel_access_token => $fake->token('line') },
);
my %secret = map { $_ => $creds{$_}{app_secret}
                         // $creds{$_}{channel_secret} } keys %creds;

my %channel;
for my $type (sort keys %creds) {
    my $res = $t->post('/omni/api/v1/channels', {
        token => $shop->{admin_token},
        body => { type => $type, name => "Shop $type",
                  credentials => $creds{$type} } });
    is($res->{status}, 201, "$type: the admin connects the channel");
    $channel{$type} = $res->{json}{id};
    unlike($res->{content}, qr/\Q$secret{$type}\E/,
           "$type: the answer keeps the secret");
}

# the channels call us back with their statuses, as the real ones do
for my $type (qw(whatsapp messenger)) {
    $fake->callback($type, $t->url("/omni/hooks/$channel{$type}"),
                    $secret{$type});
}

sub webhook {
    my ($type, $payload) = @_;
    my ($body, $h) = signed_webhook(channel => $type,
        secret => $secret{$type}, payload => $payload);
    my $res = $t->post("/omni/hooks/$channel{$type}",
                       { body => $body, headers => $h });
    is($res->{status}, 200, "$type: the webhook is acknowledged");
}

sub api {
    my ($method, $path, %o) = @_;
    return $t->request($method, "/omni/api/v1$path",
        { token => $o{token} // $agent->{token},
          $o{body} ? (body => $o{body}) : () });
}

# the conversation of a channel, once the inbox's applier made it
sub conversation_of {
    my ($type) = @_;
    my $conv;
    $t->wait_until(sub {
        my $res = api(GET => "/conversations?channel=$type");
        ($conv) = @{ $res->{json}{items} // [] };
        $conv && $conv->{last_inbound_at};
    }, 10, "$type: the conversation appears");
    return $conv;
}

sub message {
    my ($conv, $id) = @_;
    my $res = api(GET => "/conversations/$conv/messages");
    my ($m) = grep { $_->{id} == $id } @{ $res->{json}{items} // [] };
    return $m // {};
}

sub wait_message {
    my ($conv, $id, $status, $what) = @_;
    $t->wait_until(sub { (message($conv, $id)->{status} // '') eq $status },
                   15, $what);
    return message($conv, $id);
}

my %sender = (whatsapp => '85291234567', messenger => '6783456789012345',
              instagram => '526401254477777',
              line => 'U' . ('4af4980629' x 3) . 'ab');

my %inbound = (
    whatsapp  => whatsapp_text(from => $sender{whatsapp},
                               phone_number_id => '1065',
                               text => 'Is the blue one in stock?'),
    messenger => messenger_text(psid => $sender{messenger}, page_id => '2077',
                                text => 'Do you ship to Kowloon?'),
    instagram => instagram_text(igsid => $sender{instagram},
                                ig_user_id => '3099',
                                text => 'Love this bag!'),
    line      => line_text(user_id => $sender{line},
                           text => 'Opening hours?'),
);

my %sent;
for my $type (qw(whatsapp messenger instagram line)) {
    webhook($type, $inbound{$type});
    my $conv = conversation_of($type);
    is($conv->{channel_id}, $channel{$type}, "$type: on our channel");
    ok($conv->{window}{open}, "$type: the customer just wrote: window open");

    my $res = api(GET => "/customers?identity=$type:$sender{$type}");
    is(scalar @{ $res->{json}{items} // [] }, 1,
       "$type: the shopper is a customer, found by the social identity");
    is($res->{json}{items}[0]{id}, $conv->{customer_id},
       "$type: the conversation is the customer's");

    my $in = api(GET => "/conversations/$conv->{id}/messages");
    is($in->{json}{items}[0]{direction}, 'in', "$type: the message is in");

    $res = api(POST => "/conversations/$conv->{id}/messages",
               body => { items => [ { type => 'text',
                                      text => "Thanks for asking ($type)" } ] });
    is($res->{status}, 201, "$type: the agent answers");
    is($res->{json}{status}, 'queued', "$type: queued, not sent inline");
    $sent{$type} = { conv => $conv->{id}, id => $res->{json}{id} };

    my ($got) = $fake->wait_requests(channel => $type, accepted => 1,
                                     count => 1, timeout => 15);
    ok($got, "$type: the channel's API received the answer");
    is($got->{recipient}, $sender{$type},
       "$type: sent to the shopper who wrote");
    is($got->{token}, $fake->token($type), "$type: with the channel's token");
    like($got->{body}, qr/Thanks for asking \($type\)/, "$type: the text");
}

# WhatsApp and Messenger report delivery themselves (the fakes' status
# webhooks); Instagram and LINE stop at sent
my $wa = wait_message($sent{whatsapp}{conv}, $sent{whatsapp}{id},
                      'delivered', 'whatsapp: delivered');
is($wa->{status}, 'delivered', 'whatsapp: the status webhooks say delivered');
like($wa->{channel_message_id} // '', qr/^wamid\./,
     'whatsapp: the channel\'s message id is kept');
ok($wa->{sent_at} && $wa->{delivered_at}, 'whatsapp: sent and delivered at');

my $fb = wait_message($sent{messenger}{conv}, $sent{messenger}{id},
                      'delivered', 'messenger: delivered');
is($fb->{status}, 'delivered', 'messenger: the delivery event says delivered');

for my $type (qw(instagram line)) {
    my $m = wait_message($sent{$type}{conv}, $sent{$type}{id}, 'sent',
                         "$type: sent");
    is($m->{status}, 'sent', "$type: sent, the channel took it");
}

# the shopper reads it: WhatsApp's read status moves it on, once
webhook('whatsapp', whatsapp_status(id => $wa->{channel_message_id},
                                    status => 'read',
                                    recipient_id => $sender{whatsapp},
                                    phone_number_id => '1065'));
$wa = wait_message($sent{whatsapp}{conv}, $sent{whatsapp}{id}, 'read',
                   'whatsapp: read');
is($wa->{status}, 'read', 'whatsapp: read');

# a late "delivered" (channels resend) does not move it back
webhook('whatsapp', whatsapp_status(id => $wa->{channel_message_id},
                                    status => 'delivered',
                                    recipient_id => $sender{whatsapp},
                                    phone_number_id => '1065'));
$t->wait_until(sub {
    !$t->dbh->selectrow_array(
        'SELECT count(*) FROM webhook_inbox WHERE applied_at IS NULL') },
    10, 'the late status is applied');
is(message($sent{whatsapp}{conv}, $sent{whatsapp}{id})->{status}, 'read',
   'whatsapp: a late delivered leaves it read');

# each answer went out once
for my $type (qw(whatsapp messenger instagram line)) {
    is(scalar $fake->requests(channel => $type, accepted => 1), 1,
       "$type: the channel got the answer once");
}

# another tenant sees none of it
for my $type (qw(whatsapp line)) {
    my $res = api(GET => "/conversations/$sent{$type}{conv}",
                  token => $other->{admin_token});
    is($res->{status}, 404, "$type: another tenant gets 404");
    $res = api(GET => "/conversations/$sent{$type}{conv}/messages",
               token => $other->{admin_token});
    is($res->{status}, 404, "$type: nor its messages");
}
my $res = api(GET => '/conversations', token => $other->{admin_token});
is_deeply($res->{json}{items}, [], 'another tenant lists no conversation');

done_testing();
