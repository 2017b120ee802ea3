#!/usr/bin/perl
# Conversations: lists newest first with keyset cursors, tenants apart;
# an outbound message is rendered into its channel's own send request,
# stored with its outbox rows before the answer, and refused outside the
# channel's 24 h window (LINE has none); a preview stores nothing; bad
# bodies store nothing; channel secrets never appear in an answer.
#
# Conversations come from fixture_conversation() (SQL): the webhooks that
# make them in production are a separate capability.

use strict;
use warnings;
use utf8;
use Test::More;
use lib 't/lib';
use Omni::Test;
use Omni::FakeChannels;
use Encode ();
use HTTP::Tiny;
use JSON::PP ();

my $json = JSON::PP->new->canonical->utf8;
my $dbjson = JSON::PP->new->canonical;    # DBD::Pg gives characters

my $t = Omni::Test->new(workers => 2);
my $ta = $t->tenant(name => 'A', plan => [qw(cs)]);
my $tb = $t->tenant(name => 'B', plan => [qw(omo)]);
my $tsf = $t->tenant(name => 'SF', plan => [qw(salesforce)]);
my $admin = { token => $ta->{admin_token} };
my $other = { token => $tb->{admin_token} };
my $agent = $t->member(tenant => $ta->{id}, role => 'cs_agent');
my $dbh = $t->dbh;

my %creds = (
    whatsapp  => { app_secret => 'wa-secret', access_token => 'wa-token',
                   phone_number_id => '1065', verify_token => 'wa-verify' },
    messenger => { app_secret => 'fb-secret', page_access_token => 'fb-token',
                   page_id => '2077', verify_token => 'fb-verify' },
    instagram => { app_secret => 'ig-secret', access_token => 'ig-token',
                   ig_user_id => '3099', verify_token => 'ig-verify' },
    line      => { channel_secret => 'line-secret',
                   channel_access_token => 'line-token' },
    webchat   => {},
);
my $secrets = qr/wa-secret|wa-token|wa-verify|fb-secret|fb-token|fb-verify
                 |ig-secret|ig-token|ig-verify|line-secret|line-token/x;

my (%channel, %other_channel);
for my $type (sort keys %creds) {
    my $res = $t->post('/omni/api/v1/channels', { %$admin, body =>
        { type => $type, name => "Our $type", credentials => $creds{$type} } });
    $channel{$type} = $res->{json}{id} or BAIL_OUT("channel $type");
}
$other_channel{whatsapp} = $t->post('/omni/api/v1/channels', { %$other, body =>
    { type => 'whatsapp', name => 'B wa', credentials => $creds{whatsapp} } })
    ->{json}{id};

my %sender = (
    whatsapp  => '85291234567',
    messenger => '6543210987654321',
    instagram => '1784140000000001',
    line      => 'U4af4980629' . ('0' x 22),
    webchat   => 'visitor-1',
);

# the channel's own inbound event, as the webhooks keep it in messages.raw
sub raw_event {
    my ($type, $from) = @_;
    return { from => $from, id => "wamid.$from", type => 'text',
             text => { body => 'hi' } } if $type eq 'whatsapp';
    return { type => 'message', source => { type => 'user', userId => $from },
             message => { type => 'text', id => '1', text => 'hi' } }
        if $type eq 'line';
    return { sender => { id => $from }, recipient => { id => '1' },
             message => { mid => "m.$from", text => 'hi' } };
}

# A customer with an identity on the channel's type, its conversation and,
# when inbound_ago (seconds) is given, an inbound message from then.
sub fixture_conversation {
    my (%o) = @_;
    my $tenant = $o{tenant} // $ta->{id};
    my $type = $o{type};
    my $ext = $o{external_id} // $sender{$type};
    my $cust = $o{customer} // $dbh->selectrow_array(
        'INSERT INTO customers (tenant_id, name) VALUES (?, ?) RETURNING id',
        undef, $tenant, $o{name} // "Customer on $type");
    $dbh->do('INSERT INTO customer_identities (tenant_id, channel_type,
              external_id, customer_id) VALUES (?, ?, ?, ?)
              ON CONFLICT DO NOTHING', undef, $tenant, $type, $ext, $cust);
    my $ago = $o{inbound_ago};
    my $at = $o{message_ago} // $ago // 0;
    my $conv = $dbh->selectrow_array(
        q{INSERT INTO conversations (tenant_id, customer_id, channel_id,
                                     last_message_at, last_inbound_at)
          VALUES (?, ?, ?, now() - make_interval(secs => ?),
                  now() - make_interval(secs => ?))
          RETURNING id}, undef, $tenant, $cust,
        $o{channel} // $channel{$type}, $at, $ago);
    if (defined $ago) {
        $dbh->do(q{INSERT INTO messages (tenant_id, conversation_id,
                     direction, items, status, type, raw, channel_at,
                     created_at)
                   VALUES (?, ?, 'in', '[{"type":"text","text":"hi"}]',
                           'received', 'text', ?,
                           now() - make_interval(secs => ?),
                           now() - make_interval(secs => ?))},
            undef, $tenant, $conv, $json->encode(raw_event($type, $ext)),
            $ago, $ago);
    }
    return { id => $conv, customer_id => $cust };
}

sub counts {
    return join '/', map { $dbh->selectrow_array("SELECT count(*) FROM $_") }
        qw(messages outbox);
}

sub error_is {
    my ($res, $status, $code, $name) = @_;
    is($res->{status}, $status, "$name: $status");
    is($res->{json} && $res->{json}{error}{code}, $code, "$name: $code");
}

my @answers;    # every answer body, checked for secrets at the end
sub api {
    my ($method, $path, $o) = @_;
    my $res = $t->request($method, "/omni/api/v1$path", $o);
    push @answers, $res->{content} // '';
    return $res;
}

sub send_text {
    my ($conv, $text, $who) = @_;
    return api('POST', "/conversations/$conv/messages", { %{ $who // $admin },
        body => { items => [ { type => 'text', text => $text } ] } });
}

# --- the window and rendering, per channel ---------------------------------

my %expect = (
    whatsapp => {
        path => '/1065/messages', auth => 'access_token',
        body => { messaging_product => 'whatsapp',
                  recipient_type => 'individual', to => $sender{whatsapp},
                  type => 'text',
                  text => { preview_url => JSON::PP::false,
                            body => 'Your order shipped' } } },
    messenger => {
        path => '/me/messages', auth => 'page_access_token',
        body => { recipient => { id => $sender{messenger} },
                  messaging_type => 'RESPONSE',
                  message => { text => 'Your order shipped' } } },
    instagram => {
        path => '/3099/messages', auth => 'access_token',
        body => { recipient => { id => $sender{instagram} },
                  message => { text => 'Your order shipped' } } },
    line => {
        path => '/v2/bot/message/push', auth => 'channel_access_token',
        body => { to => $sender{line},
                  messages => [ { type => 'text',
                                  text => 'Your order shipped' } ] } },
);
my %rule = (
    whatsapp  => 'whatsapp_customer_service_24h',
    messenger => 'messenger_standard_messaging_24h',
    instagram => 'instagram_standard_messaging_24h',
    line      => 'line_no_window',
);

my (%open, %sent);
for my $type (qw(whatsapp messenger instagram line)) {
    my $conv = fixture_conversation(type => $type, inbound_ago => 3600);
    $open{$type} = $conv->{id};

    my $got = api('GET', "/conversations/$conv->{id}", $admin);
    is($got->{status}, 200, "$type: the conversation reads");
    is($got->{json}{channel_type}, $type, "$type: its channel type");
    is($got->{json}{window}{open}, JSON::PP::true, "$type: window open");
    is($got->{json}{window}{rule}, $rule{$type}, "$type: the rule's name");
    is($got->{json}{last_message}{direction}, 'in',
        "$type: the last message is the customer's");

    my $pre = counts();
    my $res = send_text($conv->{id}, 'Your order shipped', $agent);
    is($res->{status}, 201, "$type: a text within the window is stored");
    my $m = $res->{json};
    is($m->{status}, 'queued', "$type: queued");
    is($m->{direction}, 'out', "$type: outbound");
    is($m->{sender_member_id}, $agent->{id}, "$type: sent by the caller");
    is_deeply($m->{items}, [ { type => 'text', text => 'Your order shipped' } ],
        "$type: the items as given");
    is_deeply($m->{payload}, $expect{$type}{body},
        "$type: payload is the channel's own send body");
    $sent{$type} = $m->{id};

    my $stored = $dbh->selectrow_hashref(
        'SELECT status, direction, payload::text AS payload, sender_member_id
           FROM messages WHERE id = ?', undef, $m->{id});
    is($stored->{status}, 'queued', "$type: committed before the answer");
    is_deeply($dbjson->decode($stored->{payload}), $expect{$type}{body},
        "$type: the stored payload");

    my $rows = $dbh->selectall_arrayref(
        'SELECT part, conversation_id, channel_id, request::text, state
           FROM outbox WHERE message_id = ? ORDER BY part', { Slice => {} },
        $m->{id});
    is(scalar @$rows, 1, "$type: one outbox row");
    is($rows->[0]{part}, 0, "$type: part 0");
    is($rows->[0]{conversation_id}, $conv->{id}, "$type: its conversation");
    is($rows->[0]{channel_id}, $channel{$type}, "$type: its channel");
    is($rows->[0]{state}, 'pending', "$type: pending for a deliverer");
    is_deeply($dbjson->decode($rows->[0]{request}),
        { method => 'POST', %{ $expect{$type} } },
        "$type: the request (path, auth name, body)");
    unlike($rows->[0]{request}, $secrets, "$type: no secret in the outbox");
}

# two items: two requests, in order; the payload is the list of bodies
{
    my $res = api('POST', "/conversations/$open{line}/messages", { %$admin,
        body => { items => [ { type => 'text', text => 'one' },
                             { type => 'text', text => 'two' } ] } });
    is($res->{status}, 201, 'two items: stored');
    is(ref $res->{json}{payload}, 'ARRAY', 'two items: payload is a list');
    is_deeply([ map { $_->{messages}[0]{text} } @{ $res->{json}{payload} } ],
        [qw(one two)], 'two items: the bodies in order');
    my $parts = $dbh->selectcol_arrayref(q{SELECT request->'body'->'messages'
        ->0->>'text' FROM outbox WHERE message_id = ? ORDER BY part}, undef,
        $res->{json}{id});
    is_deeply($parts, [qw(one two)], 'two items: two outbox rows, parts 0, 1');
}

# the rendered requests are what each channel's API takes: sent to the
# fake channel servers as a deliverer would (base + path, Bearer + the
# credential the request names), each is accepted
{
    mkdir $t->dir . '/fake';
    my $fake = Omni::FakeChannels->start(dir => $t->dir . '/fake');
    my $https = HTTP::Tiny->new(timeout => 10, verify_SSL => 1,
        SSL_options => { SSL_ca_file => $fake->ca_file });
    for my $type (qw(whatsapp messenger instagram line)) {
        my ($request) = $dbh->selectrow_array(
            'SELECT request::text FROM outbox WHERE message_id = ?', undef,
            $sent{$type});
        my $r = $dbjson->decode($request);
        my $res = $https->request($r->{method},
            $fake->base($type) . $r->{path}, {
            headers => { 'Content-Type' => 'application/json',
                         Authorization => "Bearer $creds{$type}{$r->{auth}}" },
            content => $json->encode($r->{body}) });
        is($res->{status}, 200, "$type: the fake $type API takes the request")
            or diag($res->{content});
    }
    $fake->stop;
}

# the message is the conversation's newest
{
    my $c = api('GET', "/conversations/$open{whatsapp}", $admin)->{json};
    is($c->{last_message}{id}, $sent{whatsapp}, 'the sent message is last');
    cmp_ok($c->{last_message_at}, 'ge', $c->{last_inbound_at},
        'last_message_at moved to the send');
}

# outside the window: refused by name, nothing stored
for my $type (qw(whatsapp messenger instagram)) {
    my $closed = fixture_conversation(type => $type, inbound_ago => 25 * 3600,
        name => "Old $type", external_id => "9$sender{$type}");
    my $never = fixture_conversation(type => $type, name => "Silent $type",
        external_id => "8$sender{$type}");
    my $pre = counts();
    for my $case ([ $closed, 'closed 25 h ago' ], [ $never, 'never opened' ]) {
        my ($conv, $name) = @$case;
        my $res = send_text($conv->{id}, 'Hello again');
        error_is($res, 422, 'window_closed', "$type, $name");
        like($res->{json}{error}{message}, qr/\Q$rule{$type}\E/,
            "$type, $name: the message names the rule");
        my $w = api('GET', "/conversations/$conv->{id}", $admin)
            ->{json}{window};
        is($w->{open}, JSON::PP::false, "$type, $name: shown closed");
        is($w->{rule}, $rule{$type}, "$type, $name: the rule shown");
    }
    is(counts(), $pre, "$type: a closed window stored nothing");

    # just inside: open 23 h 59 min after
    my $edge = fixture_conversation(type => $type, inbound_ago => 86340,
        name => "Edge $type", external_id => "7$sender{$type}");
    is(send_text($edge->{id}, 'Just in time')->{status}, 201,
        "$type: 23 h 59 min after the customer wrote, still open");
}

# LINE has no window: never written, or long ago, it sends
for my $case ([ undef, 'never written' ], [ 30 * 86400, 'a month ago' ]) {
    my ($ago, $name) = @$case;
    my $conv = fixture_conversation(type => 'line', inbound_ago => $ago,
        name => "LINE $name", external_id => 'U' . ($ago ? 'a' : 'b') x 32);
    is(send_text($conv->{id}, 'Sale today')->{status}, 201,
        "LINE, $name: sent (no window)");
}

# a race: the window closes between the check and the store.  The store's
# own check holds: nothing is stored.
{
    my $conv = fixture_conversation(type => 'whatsapp', inbound_ago => 3600,
        name => 'Race', external_id => '85290000001');
    my $pre = counts();
    my $stored = $dbjson->decode($dbh->selectrow_array(q{SELECT
        omni_message_send(?, ?, ?, 'whatsapp', '[]', '[{"method":"POST",
            "path":"/1/messages","auth":"access_token","body":{}}]')::text},
        undef, $ta->{id}, $conv->{id}, 1));
    is($stored->{status}, 'queued', 'store: open, stored');
    $dbh->do(q{UPDATE conversations SET last_inbound_at = now() - interval
        '25 hours' WHERE id = ?}, undef, $conv->{id});
    my $err = eval {
        $dbh->selectrow_array(q{SELECT omni_message_send(?, ?, ?, 'whatsapp',
            '[]', '[{"method":"POST","path":"/1/messages",
                     "auth":"access_token","body":{}}]')}, undef,
            $ta->{id}, $conv->{id}, 1);
        '' } // $@;
    like($err, qr/window_closed/, 'store: closed meanwhile, refused');
    is(counts(), join('/', map { $_ + 1 } split m{/}, $pre),
        'store: only the first was stored');
}

# the recipient is who the customer last wrote from in the conversation
{
    my $conv = fixture_conversation(type => 'whatsapp', inbound_ago => 600,
        name => 'Two phones', external_id => '85261110000');
    $dbh->do(q{INSERT INTO customer_identities (tenant_id, channel_type,
        external_id, customer_id, created_at) VALUES (?, 'whatsapp',
        '85262220000', ?, now() + interval '1 minute')}, undef, $ta->{id},
        $conv->{customer_id});
    my $res = send_text($conv->{id}, 'Which phone?');
    is($res->{json}{payload}{to}, '85261110000',
        'sent to the number the customer wrote from, not the newest');
}

# a channel we do not send on
{
    my $conv = fixture_conversation(type => 'webchat', inbound_ago => 60);
    my $pre = counts();
    error_is(send_text($conv->{id}, 'Hi'), 422, 'unsupported_channel',
        'webchat');
    is(counts(), $pre, 'webchat: nothing stored');
}

# --- preview ----------------------------------------------------------------

{
    my $closed = fixture_conversation(type => 'whatsapp',
        inbound_ago => 2 * 86400, name => 'Preview closed',
        external_id => '85263330000');
    my $pre = counts();
    my $res = api('POST', "/conversations/$open{messenger}/preview", {
        %$admin, body => { items => [ { type => 'text',
                                        text => 'Your order shipped' } ] } });
    is($res->{status}, 200, 'preview: 200');
    is_deeply($res->{json}{payload}, $expect{messenger}{body},
        'preview: the payload a send stores');
    is($res->{json}{channel_type}, 'messenger', 'preview: the channel type');
    is($res->{json}{window}{open}, JSON::PP::true, 'preview: window open');
    is(counts(), $pre, 'preview: nothing stored');

    $res = api('POST', "/conversations/$closed->{id}/preview", { %$admin,
        body => { items => [ { type => 'text', text => 'x' } ] } });
    is($res->{status}, 200, 'preview, window closed: still rendered');
    is($res->{json}{window}{open}, JSON::PP::false,
        'preview, window closed: says so');
    is($res->{json}{window}{rule}, $rule{whatsapp},
        'preview, window closed: names the rule');
    error_is(api('POST', "/conversations/$open{instagram}/preview", {
        %$admin, body => { items => [ { type => 'text',
                                        text => 'x' x 1001 } ] } }),
        422, 'text_too_long', 'preview: the same refusals as a send');
    is(counts(), $pre, 'previews stored nothing');
}

# --- bad bodies: refused, nothing stored --------------------------------------

{
    my $c = $open{whatsapp};
    my $pre = counts();
    my @bad = (
        [ undef, 400, 'invalid_body', 'no body' ],
        [ '{', 400, 'invalid_json', 'not JSON' ],
        [ {}, 400, 'missing_field', 'no items' ],
        [ { items => [] }, 400, 'invalid_field', 'no item' ],
        [ { items => { type => 'text' } }, 400, 'invalid_field',
          'items not a list' ],
        [ { items => [ map { { type => 'text', text => "$_" } } 1 .. 11 ] },
          422, 'too_many_items', '11 items' ],
        [ { items => [ { type => 'text', text => '' } ] }, 422, 'empty_text',
          'empty text' ],
        [ { items => [ { type => 'text' } ] }, 422, 'empty_text',
          'a text item without text' ],
        [ { items => [ { type => 'text', text => 5 } ] }, 400, 'invalid_item',
          'text not a string' ],
        [ { items => [ { type => 'sticker', text => 'x' } ] }, 400,
          'unsupported_item', 'an unknown item type' ],
        [ { items => [ { text => 'x' } ] }, 400, 'invalid_item',
          'an item without a type' ],
        [ { items => [ 'hello' ] }, 400, 'invalid_item',
          'an item not an object' ],
        [ { items => [ { type => 'text', text => 'x', bold => 1 } ] }, 400,
          'unknown_field', 'an unknown field in an item' ],
        [ { items => [ { type => 'text', text => 'x' } ], to => '1' }, 400,
          'unknown_field', 'an unknown field in the body' ],
        [ { items => [ { type => 'image', media_id => 3 } ] }, 422,
          'unknown_media', 'an image that was never uploaded' ],
        [ { items => [ { type => 'text', text => 'ok' },
                       { type => 'file', media_id => 3 } ] }, 422,
          'unknown_media', 'a file after a text, never uploaded' ],
        [ { items => [ { type => 'image' } ] }, 400,
          'invalid_item', 'an image without its media_id' ],
        [ { items => [ { type => 'image', media_id => 3, text => 'x' } ] },
          400, 'unknown_field', 'an image with a text' ],
        [ { saved_reply_id => 7 }, 422, 'saved_reply_not_found',
          'a saved reply that does not exist' ],
        [ { saved_reply_id => 7, items => [ { type => 'text', text => 'x' } ] },
          422, 'saved_reply_not_found',
          'a saved reply that does not exist, edited' ],
        [ { saved_reply_id => 'x' }, 400, 'invalid_field',
          'a saved reply id that is not an id' ],
        [ { items => [ { type => 'text', text => "a\x{0}b" } ] }, 400,
          'invalid_json', 'a NUL in the text' ],
    );
    for my $b (@bad) {
        my ($body, $status, $code, $name) = @$b;
        my $res = api('POST', "/conversations/$c/messages",
            { %$admin, defined $body ? (body => $body) : () });
        error_is($res, $status, $code, $name);
    }

    # each channel's own limit on a text's length, in characters
    my %max = (whatsapp => 4096, messenger => 2000, instagram => 1000,
               line => 5000);
    for my $type (sort keys %max) {
        my $over = api('POST', "/conversations/$open{$type}/messages", {
            %$admin, body => $json->encode({ items => [ { type => 'text',
                text => '茶' x ($max{$type} + 1) } ] }) });
        error_is($over, 422, 'text_too_long',
            "$type: a text of $max{$type} + 1 characters");
        like($over->{json}{error}{message}, qr/$max{$type}/,
            "$type: the message says the limit");
        is(api('POST', "/conversations/$open{$type}/preview", { %$admin,
            body => $json->encode({ items => [ { type => 'text',
                                   text => '茶' x $max{$type} } ] }) })
            ->{status}, 200, "$type: $max{$type} characters are fine");
    }
    is(counts(), $pre, 'no bad body stored a message or an outbox row');

    error_is(send_text(999999999, 'hi'), 404, 'not_found',
        'a conversation that does not exist');
}

# --- lists ------------------------------------------------------------------

{
    # a customer of their own: three conversations, one a minute apart
    my $cust = $dbh->selectrow_array(q{INSERT INTO customers (tenant_id,
        name) VALUES (?, 'Lister') RETURNING id}, undef, $ta->{id});
    my @mine = map {
        fixture_conversation(type => $_->[0], customer => $cust,
            inbound_ago => $_->[1], external_id => "L$_->[1]")->{id}
    } ([ 'whatsapp', 300 ], [ 'messenger', 200 ], [ 'line', 100 ]);

    my $res = api('GET', "/conversations?customer_id=$cust", $admin);
    is($res->{status}, 200, 'one customer\'s conversations');
    is_deeply([ map { $_->{id} } @{ $res->{json}{items} } ],
        [ reverse @mine ], 'newest first by last message');
    is($res->{json}{next_cursor}, undef, 'one page');
    my $item = $res->{json}{items}[0];
    for my $f (qw(id customer_id channel_id channel_type created_at
                  last_message_at last_inbound_at window last_message)) {
        ok(exists $item->{$f}, "an item has $f");
    }
    is($item->{customer_id}, $cust, 'the customer');
    is($item->{channel_type}, 'line', 'the channel type');

    is_deeply([ map { $_->{id} } @{ api('GET',
        "/conversations?customer_id=$cust&channel=messenger", $admin)
        ->{json}{items} } ], [ $mine[1] ], 'filtered by channel type');
    is_deeply([ map { $_->{id} } @{ api('GET',
        "/conversations?customer_id=$cust&channel_id=$channel{whatsapp}",
        $admin)->{json}{items} } ], [ $mine[0] ], 'filtered by channel id');

    # the whole tenant, two a page: every conversation once, newest first
    my $all = $dbh->selectcol_arrayref(q{SELECT id FROM conversations
        WHERE tenant_id = ? ORDER BY last_message_at DESC, id DESC}, undef,
        $ta->{id});
    my (@seen, $cursor, $pages);
    do {
        my $page = api('GET', '/conversations?per_page=2'
            . (defined $cursor ? "&cursor=$cursor" : ''), $agent);
        last unless $page->{status} == 200;
        push @seen, map { $_->{id} } @{ $page->{json}{items} };
        $cursor = $page->{json}{next_cursor};
        $pages++;
    } while (defined $cursor && $pages < 100);
    is_deeply(\@seen, $all, "paged two at a time: all, once, newest first "
        . "($pages pages)");

    my $first = api('GET', '/conversations?per_page=1', $admin)->{json};
    my $c = $first->{next_cursor};
    like($c, qr/^\d+\.\d+\.[0-9a-f]{16}$/, 'a cursor: position and check');
    my ($at, $id, $check) = split /\./, $c;
    my $forged = "$at." . ($id + 1) . ".$check";
    error_is(api('GET', "/conversations?cursor=$forged", $admin), 400,
        'invalid_cursor', 'a cursor changed by hand');
    error_is(api('GET', "/conversations?cursor=$c", $other), 400,
        'invalid_cursor', 'another tenant\'s cursor');
    error_is(api('GET', '/conversations?cursor=' . ('1' x 80), $admin), 400,
        'invalid_cursor', 'a long cursor');
    error_is(api('GET', '/conversations?channel=telegram', $admin), 400,
        'invalid_parameter', 'an unknown channel type');
    error_is(api('GET', '/conversations?customer_id=abc', $admin), 400,
        'invalid_parameter', 'a customer id that is not one');
    error_is(api('GET', '/conversations?per_page=101', $admin), 400,
        'invalid_parameter', 'per_page over 100');

    # messages: newest first, paged by id
    my $conv = $open{line};
    my $ids = $dbh->selectcol_arrayref(q{SELECT id FROM messages
        WHERE conversation_id = ? ORDER BY id DESC}, undef, $conv);
    cmp_ok(scalar @$ids, '>=', 3, 'the LINE conversation has messages');
    my (@got, $mc);
    for (1 .. 10) {
        my $page = api('GET', "/conversations/$conv/messages?per_page=1"
            . (defined $mc ? "&cursor=$mc" : ''), $agent);
        push @got, map { $_->{id} } @{ $page->{json}{items} };
        $mc = $page->{json}{next_cursor};
        last unless defined $mc;
    }
    is_deeply(\@got, $ids, 'messages newest first, one a page');
    my $msg = api('GET', "/conversations/$conv/messages", $admin)
        ->{json}{items};
    my ($in) = grep { $_->{direction} eq 'in' } @$msg;
    my ($out) = grep { $_->{direction} eq 'out' } @$msg;
    for my $f (qw(id direction status sender_member_id type items payload
                  error channel_message_id created_at sent_at delivered_at
                  read_at)) {
        ok(exists $out->{$f}, "a message has $f");
    }
    is($in->{status}, 'received', 'the inbound message: received');
    ok(!exists $in->{raw}, 'the channel\'s raw event is not shown');
    error_is(api('GET', "/conversations/$conv/messages?cursor=x", $admin),
        400, 'invalid_cursor', 'a message cursor that is not one');
}

# --- tenants apart, plans, roles ---------------------------------------------

{
    my $conv = $open{whatsapp};
    my $pre = counts();
    error_is(api('GET', "/conversations/$conv", $other), 404, 'not_found',
        'another tenant\'s conversation');
    error_is(api('GET', "/conversations/$conv/messages", $other), 404,
        'not_found', 'another tenant\'s messages');
    error_is(send_text($conv, 'hi', $other), 404, 'not_found',
        'a send into another tenant\'s conversation');
    error_is(api('POST', "/conversations/$conv/preview", { %$other,
        body => { items => [ { type => 'text', text => 'x' } ] } }), 404,
        'not_found', 'a preview of another tenant\'s conversation');
    is(counts(), $pre, 'another tenant stored nothing');
    is_deeply(api('GET', '/conversations', $other)->{json}{items}, [],
        'another tenant lists none of ours');

    my $theirs = fixture_conversation(tenant => $tb->{id}, type => 'whatsapp',
        channel => $other_channel{whatsapp}, inbound_ago => 60,
        external_id => '85299990000');
    is(send_text($theirs->{id}, 'OMO hello', $other)->{status}, 201,
        'an OMO plan sends in its own conversation');
    is_deeply([ map { $_->{id} } @{ api('GET', '/conversations', $other)
        ->{json}{items} } ], [ $theirs->{id} ], 'and lists only its own');
    error_is(api('GET', "/conversations/$theirs->{id}", $admin), 404,
        'not_found', 'nor do we see theirs');

    error_is(api('GET', '/conversations', { token => $tsf->{admin_token} }),
        403, 'feature_not_in_plan', 'a Salesforce-only plan');

    for my $role (qw(supervisor cs_manager sales_manager sales_agent
                     marketer marketing_cs)) {
        my $m = $t->member(tenant => $ta->{id}, role => $role);
        is(send_text($open{line}, "from a $role", $m)->{status}, 201,
            "$role sends");
        is(api('GET', '/conversations?per_page=1', $m)->{status}, 200,
            "$role lists");
    }
}

# --- deliverers are told, secrets never shown ---------------------------------

{
    my $listen = $t->new_dbh;
    $listen->do('LISTEN omni_outbox');
    send_text($open{line}, 'wake up');
    ok($t->wait_until(sub { $listen->pg_notifies }, 10,
        'a NOTIFY omni_outbox'), 'a send notifies omni_outbox');
    $listen->disconnect;
}

is(scalar(grep { /$secrets/ } @answers), 0,
    'no answer carried a channel secret (' . scalar(@answers) . ' answers)');

done_testing;
