#!/usr/bin/perl
# Channel webhooks in (SPEC §7): the channel's signature on the raw body
# before anything else, each channel's documented examples becoming
# customers, identities, conversations and messages, duplicates stored
# once, statuses moving our messages, Meta's handshake, junk refused with
# nothing stored, unknown events kept, and many webhooks sharing commits,
# none answered before its own.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Omni::Test;
use Omni::FakeChannels qw(:webhooks);
use IO::Socket::INET;
use JSON::PP ();
use Time::HiRes qw(time);

my $t = Omni::Test->new(workers => 2);
my $ta = $t->tenant(name => 'A', plan => [qw(cs)]);
my $tb = $t->tenant(name => 'B', plan => [qw(cs)]);
my $admin = { token => $ta->{admin_token} };
my $json = JSON::PP->new->canonical;

# the accounts of the channels' documented examples (core/test/hooks)
my %creds = (
    whatsapp  => { app_secret => 'wa-secret', access_token => 'wa-token',
                   phone_number_id => '106540352242922',
                   verify_token => 'wa-verify' },
    messenger => { app_secret => 'fb-secret', page_access_token => 'fb-token',
                   page_id => '682498302938465', verify_token => 'fb-verify' },
    instagram => { app_secret => 'ig-secret', access_token => 'ig-token',
                   ig_user_id => '17841400000000000',
                   verify_token => 'ig-verify' },
    line      => { channel_secret => 'line-secret',
                   channel_access_token => 'line-token' },
);
my %secret = (whatsapp => 'wa-secret', messenger => 'fb-secret',
              instagram => 'ig-secret', line => 'line-secret');

sub connect_channel {
    my ($tenant, $type, $creds) = @_;
    my $res = $t->post('/omni/api/v1/channels', {
        token => $tenant->{admin_token},
        body => { type => $type, name => "Our $type",
                  credentials => $creds } });
    die "channel: $res->{content}" unless $res->{status} == 201;
    return $res->{json}{id};
}

my %ch = map { $_ => connect_channel($ta, $_, $creds{$_}) } sort keys %creds;
my $webchat = connect_channel($ta, 'webchat', {});
my $b_wa = connect_channel($tb, 'whatsapp', { %{ $creds{whatsapp} },
    app_secret => 'b-secret' });

sub hook {
    my ($type, $payload, %o) = @_;
    my ($body, $h) = signed_webhook(channel => $type,
        secret => $o{secret} // $secret{$type}, payload => $payload);
    return $t->post('/omni/hooks/' . ($o{channel} // $ch{$type}),
        { body => $body, headers => $h });
}

sub read_file {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "$path: $!";
    local $/;
    return <$fh>;
}

sub inbox_rows {
    return $t->dbh->selectrow_array('SELECT count(*) FROM webhook_inbox');
}

sub pending { $t->dbh->selectrow_array(
    'SELECT count(*) FROM webhook_inbox WHERE applied_at IS NULL') }

# the applier runs after the commit: poll the database, with a deadline
sub applied {
    my ($what) = @_;
    $t->wait_until(sub { pending() == 0 }, 10, "applied: $what");
}

sub customer {
    my ($identity) = @_;
    my $res = $t->get("/omni/api/v1/customers?identity=$identity", $admin);
    return $res->{json}{items}[0];
}

sub messages_of {
    my ($type, $external) = @_;
    return $t->dbh->selectall_arrayref(q{
        SELECT m.type, m.items::text, m.status, m.direction,
               m.channel_message_id, m.raw IS NOT NULL AS has_raw
          FROM messages m
          JOIN conversations v ON v.tenant_id = m.tenant_id
                              AND v.id = m.conversation_id
          JOIN customer_identities i ON i.tenant_id = v.tenant_id
                                    AND i.customer_id = v.customer_id
         WHERE i.tenant_id = ? AND i.channel_type = ?
           AND i.external_id = ? AND v.channel_id = ?
         ORDER BY m.channel_at, m.id}, { Slice => {} },
        $ta->{id}, $type, $external, $ch{$type});
}

# --- the handshake -------------------------------------------------------

{
    my $ok = $t->get("/omni/hooks/$ch{whatsapp}" . meta_handshake_query(
        verify_token => 'wa-verify', challenge => '1158201444'));
    is($ok->{status}, 200, 'handshake: the right verify token is answered');
    is($ok->{content}, '1158201444', 'handshake: with hub.challenge');
    like($ok->{headers}{'content-type'}, qr{^text/plain}, 'as text');

    my $wrong = $t->get("/omni/hooks/$ch{messenger}" . meta_handshake_query(
        verify_token => 'wa-verify', challenge => '42'));
    is($wrong->{status}, 403, "handshake: another channel's token: 403");
    is($wrong->{json}{error}{code}, 'verification_failed', 'in JSON');
    unlike($wrong->{content}, qr/42/, 'and no challenge');

    my $mode = $t->get("/omni/hooks/$ch{instagram}" . meta_handshake_query(
        mode => 'unsubscribe', verify_token => 'ig-verify'));
    is($mode->{status}, 403, 'handshake: hub.mode other than subscribe');

    is($t->get("/omni/hooks/$ch{instagram}" . meta_handshake_query(
        verify_token => 'ig-verify', challenge => '<script>'))->{status},
        400, 'handshake: a challenge that is not a plain token: 400');
    is($t->get("/omni/hooks/$ch{line}" . meta_handshake_query(
        verify_token => ''))->{status}, 403,
        'handshake: LINE has none');
    is($t->get("/omni/hooks/$b_wa" . meta_handshake_query(
        verify_token => 'wa-verify', challenge => '7'))->{status}, 200,
        "handshake: tenant B's channel with its own token");
}

# --- which channel -------------------------------------------------------

{
    my $res = hook('whatsapp', whatsapp_text(), channel => 999999);
    is($res->{status}, 404, 'no such channel: 404');
    is($res->{json}{error}{code}, 'not_found', 'in JSON');
    is(hook('whatsapp', whatsapp_text(), channel => $webchat)->{status}, 404,
        'a webchat channel takes no webhooks');
    is($t->post('/omni/hooks/abc', { body => '{}' })->{status}, 404,
        'a channel id is digits');
    my $put = $t->put("/omni/hooks/$ch{whatsapp}", { body => '{}' });
    is($put->{status}, 405, 'PUT: 405');
    is($put->{headers}{allow}, 'GET, POST', 'with Allow');
}

# --- signatures: checked first, nothing stored when wrong ----------------

{
    my $before = inbox_rows();
    my $payload = whatsapp_text(phone_number_id => '106540352242922');
    my ($body, $h) = signed_webhook(channel => 'whatsapp',
        secret => 'wa-secret', payload => $payload);
    my $url = "/omni/hooks/$ch{whatsapp}";

    my $missing = $t->post($url, { body => $body });
    is($missing->{status}, 401, 'no signature: 401');
    is($missing->{json}{error}{code}, 'signature_missing', 'named');

    my $wrong = $t->post($url, { body => $body,
        headers => { sign_meta('not-the-secret', $body) } });
    is($wrong->{status}, 401, 'signed with another secret: 401');
    is($wrong->{json}{error}{code}, 'signature_mismatch', 'named');

    my $line_form = $t->post($url, { body => $body,
        headers => { sign_line('wa-secret', $body) } });
    is($line_form->{status}, 401, "LINE's header on a WhatsApp channel: 401");

    my $meta_on_line = $t->post("/omni/hooks/$ch{line}", { body => $body,
        headers => { sign_meta('line-secret', $body) } });
    is($meta_on_line->{status}, 401, "Meta's header on a LINE channel: 401");

    my $tampered = $body;
    $tampered =~ s/Does it/Did it/;
    is($t->post($url, { body => $tampered, headers => $h })->{status}, 401,
        'a body changed after signing: 401');

    is(hook('whatsapp', $payload, channel => $b_wa)->{status}, 401,
        "tenant B's channel id with tenant A's secret: 401");

    is(inbox_rows(), $before, 'nothing stored for any of them');
}

# --- a rotated secret applies on the next webhook --------------------------

{
    my $ig = $ch{instagram};
    my $payload = instagram_text(ig_user_id => '17841400000000000',
        igsid => '527400000000001', text => 'rotation');
    is(hook('instagram', $payload)->{status}, 200, 'the cached secret');
    my $res = $t->patch("/omni/api/v1/channels/$ig", { %$admin,
        body => { credentials => { app_secret => 'ig-secret-2' } } });
    is($res->{status}, 200, 'the secret rotated through the API');
    is(hook('instagram', $payload)->{status}, 401, 'the old one: 401 at once');
    is(hook('instagram', $payload, secret => 'ig-secret-2')->{status}, 200,
        'the new one: 200');

    # by hand in the database: the NOTIFY reaches every worker and host
    $t->dbh->do(q{UPDATE channels SET credentials = credentials
                  || '{"app_secret":"ig-secret"}' WHERE id = ?}, undef, $ig);
    $t->wait_until(sub { hook('instagram', $payload)->{status} == 200 }, 10,
        'a change made in the database applies');
    is(hook('instagram', $payload, secret => 'ig-secret-2')->{status}, 401,
        'and the secret it replaced is refused');
    applied('rotation');
}

# --- junk bodies: a JSON error, nothing stored ----------------------------

{
    my $before = inbox_rows();
    for my $case (['empty', ''], ['a lone brace', '{'],
                  ['invalid UTF-8', qq({"object":"whatsapp_business_account",)
                                    . qq("entry":[{"id":"\xff\xfe"}]})],
                  ['an array', '[]'],
                  ["Messenger's payload", $json->encode(messenger_text())])
    {
        my ($name, $bytes) = @$case;
        my $res = hook('whatsapp', $bytes);
        is($res->{status}, 400, "$name: 400");
        ok($res->{json}{error}{code}, "$name: a JSON error")
            or diag $res->{content};
    }

    my $big = '{"object":"whatsapp_business_account","entry":[],"x":"'
        . ('a' x (10 * 1024 * 1024)) . '"}';
    my $res = hook('whatsapp', $big);
    is($res->{status}, 413, '10 MB: 413');
    is($res->{json}{error}{code}, 'body_too_large', 'in JSON');

    is(inbox_rows(), $before, 'nothing stored for any of them');
}

# --- each channel's documented examples ----------------------------------

my $hooks = "$Omni::Test::TOP/ngx_omni_module/core/test/hooks";

for my $case (['wa_text', 'whatsapp'], ['wa_media', 'whatsapp'],
              ['messenger', 'messenger'], ['instagram', 'instagram'],
              ['line', 'line'])
{
    my ($file, $type) = @$case;
    my $res = hook($type, read_file("$hooks/$file.json"));
    is($res->{status}, 200, "$file: 200");
    ok($res->{json}{received} > 0, "$file: events counted");
}
applied('the documented examples');

{
    my $c = customer('whatsapp:16505551234');
    ok($c, 'WhatsApp: the customer found by identity');
    is($c->{name}, 'Sheena Nelson', "WhatsApp: the profile's name");
    is_deeply($c->{phones}, ['+16505551234'], 'WhatsApp: the wa_id as phone');
    my $m = messages_of('whatsapp', '16505551234');
    is_deeply([ map { $_->{type} } @$m ],
        [qw(image file location button button other text)],
        'WhatsApp: text, media, location, replies, a reaction');
    ok(!grep({ $_->{direction} ne 'in' || $_->{status} ne 'received'
               || !$_->{has_raw} } @$m), 'inbound, received, raw kept');
    my ($image) = grep { $_->{type} eq 'image' } @$m;
    my $items = $json->decode($image->{items});
    is($items->[0]{media}{id}, '1003383421387256', 'the media reference');
    is($items->[0]{text}, 'This is an image', 'with its caption');
    my ($text) = grep { $_->{type} eq 'text' } @$m;
    is($json->decode($text->{items})->[0]{text},
        'Does it come in another color?', 'the text');
    my ($inbound) = $t->dbh->selectrow_array(q{
        SELECT last_inbound_at = (SELECT max(channel_at) FROM messages m
                                   WHERE m.conversation_id = v.id)
          FROM conversations v WHERE v.tenant_id = ? AND v.channel_id = ?},
        undef, $ta->{id}, $ch{whatsapp});
    ok($inbound, 'the conversation: last_inbound_at is the latest message');

    my $fb = messages_of('messenger', '1254477777772919');
    is_deeply([ map { $_->{type} } @$fb ], [qw(postback button image)],
        'Messenger: quick reply, image, postback (the echo and the reaction'
        . ' are not messages)');
    my $ig = messages_of('instagram', '527419123456789');
    is_deeply([ map { $_->{type} } @$ig ], [qw(text video)],
        'Instagram: text, video');
    my $line = messages_of('line', 'U4af4980629d7b2a3f4b1c0e9d8f7a6b5');
    is_deeply([ map { $_->{type} } @$line ],
        [qw(text image file location sticker postback)],
        'LINE: text, image, file, location, sticker, postback');
    ok(customer('line:U4af4980629d7b2a3f4b1c0e9d8f7a6b5'), 'LINE customer');
    ok(!customer('line:U3d3edab4f36c6292e6d8a8131f141b8b'),
        'a LINE follow alone makes no customer');

    my ($unknown) = $t->dbh->selectrow_array(q{
        SELECT count(*) FROM webhook_inbox w,
               jsonb_array_elements(w.events) e
         WHERE e->>'kind' = 'unknown' AND w.applied_at IS NOT NULL});
    is($unknown, 4, 'unknown events (echo, reaction, follow, unfollow) kept');
    ok($t->metric('omni_inbox_events_total', 'outcome="unknown"') >= 4,
        'and counted');
}

# --- duplicates -----------------------------------------------------------

{
    my $wamid = 'wamid.dup-' . time;
    for (1 .. 2) {
        is(hook('whatsapp', whatsapp_text(phone_number_id => '106540352242922',
            from => '85291234567', id => $wamid, text => 'twice'))->{status},
            200, "the same WhatsApp message, delivery $_: 200");
    }
    my $ev = 'LINEDUP' . int(time);
    for my $re (0, 1) {
        is(hook('line', line_text(user_id => 'U' . ('d' x 32),
            message_id => "77$ev", webhook_event_id => $ev,
            redelivery => $re))->{status}, 200,
            'LINE ' . ($re ? 'redelivery' : 'delivery') . ': 200');
    }
    applied('duplicates');
    my ($n) = $t->dbh->selectrow_array(
        'SELECT count(*) FROM messages WHERE channel_message_id = ?',
        undef, $wamid);
    is($n, 1, 'the WhatsApp message stored once');
    ($n) = $t->dbh->selectrow_array(
        'SELECT count(*) FROM messages WHERE channel_message_id = ?',
        undef, "77$ev");
    is($n, 1, 'the LINE message stored once');
    ok($t->metric('omni_inbox_events_total', 'outcome="duplicate"') >= 2,
        'duplicates counted');
}

# --- statuses of our messages ---------------------------------------------

# An outbound message as the deliverer leaves it once the channel took it:
# the message sent, its outbox row with the channel's message id.
sub fixture_outbound_message {
    my ($type, $external, $cmid, %o) = @_;
    my $dbh = $t->dbh;
    my ($conv) = $dbh->selectrow_array(q{
        SELECT v.id FROM conversations v
          JOIN customer_identities i ON i.tenant_id = v.tenant_id
                                    AND i.customer_id = v.customer_id
         WHERE v.tenant_id = ? AND v.channel_id = ? AND i.channel_type = ?
           AND i.external_id = ?}, undef,
        $ta->{id}, $ch{$type}, $type, $external);
    die "no conversation with $type:$external" unless $conv;
    my ($mid) = $dbh->selectrow_array(q{
        INSERT INTO messages (tenant_id, conversation_id, direction, items,
                              status, sent_at)
        VALUES (?, ?, 'out', '[{"type":"text","text":"Hi"}]', 'sent',
                now() - interval '1 minute')
        RETURNING id}, undef, $ta->{id}, $conv);
    $dbh->do(q{
        INSERT INTO outbox (tenant_id, message_id, part, conversation_id,
                            channel_id, request, state, channel_message_id)
        VALUES (?, ?, 0, ?, ?, '{}', 'sent', ?)}, undef,
        $ta->{id}, $mid, $conv, $ch{$type}, $cmid);
    return $mid;
}

sub message {
    my ($id) = @_;
    return $t->dbh->selectrow_hashref(
        'SELECT status, error::text, delivered_at, read_at FROM messages'
        . ' WHERE tenant_id = ? AND id = ?', undef, $ta->{id}, $id);
}

{
    my $sent = fixture_outbound_message('whatsapp', '16505551234',
                                        'wamid.ours.1');
    my $doomed = fixture_outbound_message('whatsapp', '16505551234',
                                          'wamid.ours.2');
    my %wa = (phone_number_id => '106540352242922',
              recipient_id => '16505551234');

    is(hook('whatsapp', whatsapp_status(%wa, id => 'wamid.ours.1',
        status => 'delivered'))->{status}, 200, 'delivered: 200');
    applied('delivered');
    is(message($sent)->{status}, 'delivered', 'sent -> delivered');
    ok(message($sent)->{delivered_at}, 'delivered_at');

    hook('whatsapp', whatsapp_status(%wa, id => 'wamid.ours.1',
        status => 'read'));
    applied('read');
    is(message($sent)->{status}, 'read', 'delivered -> read');

    hook('whatsapp', whatsapp_status(%wa, id => 'wamid.ours.1',
        status => 'delivered'));
    applied('a late delivered');
    is(message($sent)->{status}, 'read', 'a late "delivered" changes nothing');

    hook('whatsapp', whatsapp_status(%wa, id => 'wamid.ours.2',
        status => 'failed', error_code => 131047));
    applied('failed');
    my $f = message($doomed);
    is($f->{status}, 'failed', 'failed');
    is($json->decode($f->{error})->{code}, 131047, "with the channel's code");

    hook('whatsapp', whatsapp_status(%wa, id => 'wamid.not.yet',
        status => 'delivered'));
    applied('early');
    my ($early) = $t->dbh->selectrow_array(q{
        SELECT status FROM message_status_early
         WHERE tenant_id = ? AND channel_message_id = 'wamid.not.yet'},
        undef, $ta->{id});
    is($early, 'delivered', 'a status before our send is recorded: kept');

    # Messenger's read carries only a watermark: all we sent up to it
    my $fb1 = fixture_outbound_message('messenger', '1254477777772919',
                                       'm_ours_1');
    is(hook('messenger', messenger_read(page_id => '682498302938465',
        psid => '1254477777772919'))->{status}, 200, 'Messenger read: 200');
    applied('Messenger read');
    is(message($fb1)->{status}, 'read', 'Messenger read by watermark');

    my $ig1 = fixture_outbound_message('instagram', '527419123456789',
                                       'aWdfours1');
    hook('instagram', instagram_read(ig_user_id => '17841400000000000',
        igsid => '527419123456789', mid => 'aWdfours1'));
    applied('Instagram read');
    is(message($ig1)->{status}, 'read', 'Instagram read by mid');
}

# --- unknown events and other accounts ------------------------------------

{
    my $u0 = $t->metric('omni_inbox_events_total', 'outcome="unknown"');
    my $res = hook('line', line_follow(user_id => 'U' . ('f' x 32)));
    is($res->{status}, 200, 'an event we do not take (LINE follow): 200');
    applied('unknown');
    is($t->metric('omni_inbox_events_total', 'outcome="unknown"'), $u0 + 1,
        'counted as unknown');
    my ($kept) = $t->dbh->selectrow_array(q{
        SELECT count(*) FROM webhook_inbox w,
               jsonb_array_elements(w.events) e
         WHERE e->>'type' = 'follow' AND e->>'sender' = ?}, undef,
        'U' . ('f' x 32));
    is($kept, 1, 'kept in the inbox');

    # a correctly signed body for a number that is not this channel's
    $res = hook('whatsapp', whatsapp_text(phone_number_id => '999000',
        from => '85298765432', text => 'wrong number'));
    is($res->{status}, 200, "another account's event: acknowledged");
    applied('another account');
    ok(!customer('whatsapp:85298765432'), 'not applied as this channel\'s');
    my ($why) = $t->dbh->selectrow_array(q{
        SELECT error FROM webhook_inbox ORDER BY id DESC LIMIT 1});
    like($why, qr/account 999000 is not channel/, 'the inbox row says why');

    # the same app's other number, connected as a channel of the tenant
    my $second = connect_channel($ta, 'whatsapp', { %{ $creds{whatsapp} },
        phone_number_id => '106540352242923' });
    hook('whatsapp', whatsapp_text(phone_number_id => '106540352242923',
        from => '85298765433', text => 'second number'));
    applied('the same app, another number');
    my ($on) = $t->dbh->selectrow_array(q{
        SELECT v.channel_id FROM conversations v
          JOIN customer_identities i ON i.tenant_id = v.tenant_id
                                    AND i.customer_id = v.customer_id
         WHERE i.tenant_id = ? AND i.external_id = '85298765433'},
        undef, $ta->{id});
    is($on, $second, "the same app's other number: that channel's");
}

# --- a broken event holds back no other -----------------------------------

{
    my $good = '{"kind":"message","message_id":"wamid.good-next-to-bad",'
        . '"sender":"85291110000","ts_ms":1750000000000,"type":"text",'
        . '"text":"fine","account":"106540352242922"}';
    # no sender: the identity cannot be made
    my $bad = '{"kind":"message","message_id":"wamid.bad",'
        . '"ts_ms":1750000000000,"type":"text","text":"x",'
        . '"account":"106540352242922"}';
    $t->dbh->do(q{
        INSERT INTO webhook_inbox (tenant_id, channel_id, events)
        VALUES (?, ?, ?::jsonb)}, undef, $ta->{id}, $ch{whatsapp},
        "[$bad,$good]");
    # a webhook wakes the applier at once
    hook('whatsapp', whatsapp_status(phone_number_id => '106540352242922',
        id => 'wamid.wake', status => 'sent'));
    applied('a broken event');
    my ($err) = $t->dbh->selectrow_array(q{
        SELECT error FROM webhook_inbox
         WHERE events->0->>'message_id' = 'wamid.bad'});
    like($err, qr/^event 0: \w+ /, 'the broken event is recorded');
    ok(customer('whatsapp:85291110000'), 'the good one next to it applied');
}

# --- group commit ----------------------------------------------------------

# raw requests on many connections at once: written first, read after
sub burst {
    my (@requests) = @_;
    my @socks;
    for my $req (@requests) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $t->port) or die "connect: $!";
        push @socks, [$s, $req];
    }
    syswrite($_->[0], $_->[1]) for @socks;
    my @status;
    for my $p (@socks) {
        my $s = $p->[0];
        local $/;
        my $answer = <$s> // '';
        push @status, $answer =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0;
        close $s;
    }
    return @status;
}

sub raw_hook {
    my ($type, $payload, $channel) = @_;
    my ($body, $h) = signed_webhook(channel => $type,
        secret => $secret{$type}, payload => $payload);
    my $head = join '', map { "$_: $h->{$_}\r\n" } sort keys %$h;
    return "POST /omni/hooks/$channel HTTP/1.1\r\nHost: t\r\n"
        . "Connection: close\r\nContent-Length: " . length($body) . "\r\n"
        . $head . "\r\n" . $body;
}

{
    my $n = 100;
    my $commits0 = $t->metric('omni_hooks_commits_total');
    my $accepted0 = $t->metric('omni_hooks_webhooks_total',
                               'result="accepted"');
    my @reqs = map { raw_hook('whatsapp', whatsapp_text(
        phone_number_id => '106540352242922', from => "8529100$_",
        id => "wamid.burst.$_", text => "burst $_"), $ch{whatsapp}) }
        1000 .. 999 + $n;
    my @status = burst(@reqs);
    is(scalar(grep { $_ == 200 } @status), $n, "$n concurrent webhooks: 200");
    my $accepted = $t->metric('omni_hooks_webhooks_total',
                              'result="accepted"') - $accepted0;
    my $commits = $t->metric('omni_hooks_commits_total') - $commits0;
    is($accepted, $n, 'all accepted');
    ok($commits < $n, "fewer commits than webhooks ($commits for $n)");
    diag sprintf 'group commit: %d webhooks in %d commits (%.1f each), '
        . 'largest %d', $n, $commits, $n / ($commits || 1),
        $t->metric('omni_hooks_batch_max');
    my ($stored) = $t->dbh->selectrow_array(q{
        SELECT count(*) FROM webhook_inbox
         WHERE events->0->>'message_id' LIKE 'wamid.burst.%'});
    is($stored, $n, 'all stored');
    applied('the burst');
    my ($msgs) = $t->dbh->selectrow_array(q{
        SELECT count(*) FROM messages
         WHERE channel_message_id LIKE 'wamid.burst.%'});
    is($msgs, $n, 'all applied');
}

# --- a client that goes away while its commit waits -----------------------

{
    # hold the inbox so that the commit waits, then hang up
    my $lock = $t->new_dbh;
    $lock->begin_work;
    $lock->do('LOCK TABLE webhook_inbox IN EXCLUSIVE MODE');
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port) or die "connect: $!";
    syswrite($s, raw_hook('whatsapp', whatsapp_text(
        phone_number_id => '106540352242922', id => 'wamid.gone',
        from => '85291119999'), $ch{whatsapp}));
    $t->wait_until(sub {
        my ($w) = $t->dbh->selectrow_array(q{
            SELECT count(*) FROM pg_stat_activity
             WHERE query LIKE '%omni_hook_accept%'
               AND wait_event_type = 'Lock'});
        $w > 0 }, 10, 'the commit waits on the lock');
    close $s;
    $t->wait_until(sub { $t->error_log =~ /client prematurely closed/ },
        10, 'nginx saw the client go');
    $lock->rollback;
    $lock->disconnect;

    is(hook('whatsapp', whatsapp_text(phone_number_id => '106540352242922',
        from => '85291118888'))->{status}, 200,
        'the next webhook is answered');
    applied('after the client went away');
    my ($kept) = $t->dbh->selectrow_array(q{
        SELECT count(*) FROM messages WHERE channel_message_id = 'wamid.gone'});
    is($kept, 1, "the gone client's webhook was stored all the same");
}

# --- PostgreSQL away: not stored, so not acknowledged ---------------------

{
    $t->stop_pg;
    my $res = hook('whatsapp', whatsapp_text(phone_number_id =>
        '106540352242922', from => '85291117777', id => 'wamid.pg.away'));
    ok($res->{status} == 503 || $res->{status} == 504,
        "PostgreSQL away: $res->{status}, the channel sends it again");
    like($res->{json}{error}{code} // '', qr/^(database_unavailable|timeout)$/,
        'in JSON');
    $t->start_pg;
    $t->wait_until(sub { hook('whatsapp', whatsapp_text(phone_number_id =>
        '106540352242922', from => '85291117777', id => 'wamid.pg.away'))
        ->{status} == 200 }, 30, 'PostgreSQL back: the resend is taken');
    applied('the resend');
    my ($n) = $t->dbh->selectrow_array(q{
        SELECT count(*) FROM messages
         WHERE channel_message_id = 'wamid.pg.away'});
    is($n, 1, 'stored once');
}

# --- metrics ---------------------------------------------------------------

{
    my $status = $t->get('/omni/status')->{content};
    like($status, qr/omni_requests_total\{endpoint="hooks",status="2xx"\}/,
        'hooks have their endpoint metric');
    like($status, qr/omni_job_runs_total\{job="inbox_apply"\} [1-9]/,
        'the applier runs as a job');
    ok($t->metric('omni_hooks_webhooks_total', 'result="signature"') >= 6,
        'signature refusals counted');
}

$t->stop;
done_testing;
