#!/usr/bin/perl
# A saved reply, or uploaded media, sent in a conversation (SPEC §2 "Using
# a saved reply in a conversation", §7): through the public API only, from
# the upload to what the channel's API receives.  Media go out as the
# fleet's public URLs; a bot reply in the channel's native interactive
# form; file replies only on WhatsApp and Messenger; a bot reply only where
# its module goes, never edited; media over a channel's limit refused;
# previews store nothing; a reply the member may not use is not there.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use HTTP::Tiny;
use JSON::PP ();
use Omni::Test;
use Omni::FakeChannels qw(:webhooks);

my $fake = Omni::FakeChannels->start;
my $t = Omni::Test->new(http_extra => join "\n",
    (map { "omni_channel_api $_ " . $fake->base($_) . ';' }
         qw(whatsapp messenger instagram line)),
    'omni_upstream_trusted_certificate ' . $fake->ca_file . ';',
    'omni_media_url https://shop.example/omni/media/;');

my $json = JSON::PP->new->utf8->canonical;
my $shop = $t->tenant(name => 'Shop', plan => [qw(cs)]);
my $other = $t->tenant(name => 'Other', plan => [qw(cs)]);
my $admin = $shop->{admin_token};
my $agent = $t->member(tenant => $shop->{id}, role => 'cs_agent')->{token};
my $marketer = $t->member(tenant => $shop->{id}, role => 'marketer')->{token};
my $agent2 = $t->member(tenant => $shop->{id}, role => 'cs_agent')->{token};

sub api {
    my ($method, $path, $token, $body) = @_;
    return $t->request($method, "/omni/api/v1$path",
        { token => $token, defined $body ? (body => $body) : () });
}

# --- channels and a conversation on each, opened by the shopper

my %creds = (
    whatsapp  => { app_secret => 'wa-s', access_token => $fake->token('whatsapp'),
                   phone_number_id => '1065', verify_token => 'v' },
    messenger => { app_secret => 'fb-s',
                   page_access_token => $fake->token('messenger'),
                   page_id => '2077', verify_token => 'v' },
    line      => { channel_secret => 'line-s',
                   channel_access_token => $fake->token('line') },
);
my (%channel, %conv);
for my $type (sort keys %creds) {
    my $res = api(POST => '/channels', $admin,
        { type => $type, name => $type, credentials => $creds{$type} });
    $channel{$type} = $res->{json}{id};
    my $secret = $creds{$type}{app_secret} // $creds{$type}{channel_secret};
    my $payload = $type eq 'whatsapp'
        ? whatsapp_text(from => '85291234567', phone_number_id => '1065')
        : $type eq 'messenger'
        ? messenger_text(psid => '6783456789012345', page_id => '2077')
        : line_text(user_id => 'U' . ('4af4980629' x 3) . 'ab');
    my ($body, $h) = signed_webhook(channel => $type, secret => $secret,
                                    payload => $payload);
    $t->post("/omni/hooks/$channel{$type}", { body => $body, headers => $h });
    $t->wait_until(sub {
        my $r = api(GET => "/conversations?channel=$type", $admin);
        $conv{$type} = $r->{json}{items}[0]{id};
    }, 10, "$type: a conversation");
}

# --- media, uploaded through the API

my $http = HTTP::Tiny->new(timeout => 30);
sub upload {
    my ($bytes, $query) = @_;
    my $res = $http->request('POST', $t->url("/omni/api/v1/media$query"), {
        headers => { Authorization => "Bearer $admin",
                     'Content-Type' => 'application/octet-stream' },
        content => $bytes });
    return $json->decode($res->{content});
}

# a real PNG, made by the media tests' image tool
my $dir = $t->dir;
system('gcc', '-O2', '-o', "$dir/omni-img", 't/lib/omni-img.c', '-lpng',
       '-ljpeg') == 0 or BAIL_OUT('cannot build t/lib/omni-img.c');
system("$dir/omni-img", 'noise-png', 32, 24, "$dir/shirt.png") == 0
    or BAIL_OUT('cannot make a PNG');
my $png = do { open my $fh, '<:raw', "$dir/shirt.png" or die $!;
               local $/; <$fh> };
my $image = upload($png, '?kind=image&filename=shirt.png');
ok($image->{id}, 'an image is uploaded') or diag explain $image;
my $file = upload("%PDF-1.4 size chart\n" x 10,
                  '?kind=file&filename=size-chart.pdf');
ok($file->{id}, 'a file is uploaded') or diag explain $file;

# --- media items sent directly

my $res = api(POST => "/conversations/$conv{whatsapp}/messages", $agent,
    { items => [ { type => 'text', text => 'Here it is' },
                 { type => 'image', media_id => $image->{id} } ] });
is($res->{status}, 201, 'whatsapp: a text and an image are queued');
is($res->{json}{payload}[1]{image}{link}, $image->{url},
   'the image goes out as the fleet\'s public URL of the upload');
like($image->{url}, qr{^https://shop\.example/omni/media/[0-9a-f]{64}\.png$},
     'which is omni_media_url + sha256');
my @got = $fake->wait_requests(channel => 'whatsapp', accepted => 1,
                               count => 2, timeout => 15);
is(scalar @got, 2, 'the channel received both parts');
is($json->decode($got[1]{body})->{image}{link}, $image->{url},
   'the channel is told where to fetch the image');

$res = api(POST => "/conversations/$conv{line}/messages", $agent,
    { items => [ { type => 'file', media_id => $file->{id} } ] });
is($res->{status}, 422, 'line: a file is refused');
is($res->{json}{error}{code}, 'media_not_supported', 'line takes no files');

$res = api(POST => "/conversations/$conv{whatsapp}/messages", $agent,
    { items => [ { type => 'video', media_id => $image->{id} } ] });
is($res->{json}{error}{code}, 'unknown_media',
   'an image given as a video is not that video');

# media over a channel's limit: a row as an upload of 6 MB would leave
$t->dbh->do(q{UPDATE media SET size = 6 * 1048576 WHERE id = ?}, undef,
            $image->{id});
$res = api(POST => "/conversations/$conv{whatsapp}/messages", $agent,
    { items => [ { type => 'image', media_id => $image->{id} } ] });
is($res->{status}, 422, 'whatsapp: a 6 MB image is refused');
is($res->{json}{error}{code}, 'media_too_large', 'over WhatsApp\'s 5 MB');
$res = api(POST => "/conversations/$conv{line}/preview", $agent,
    { items => [ { type => 'image', media_id => $image->{id} } ] });
is($res->{status}, 200, 'line takes it (10 MB)');
is($res->{json}{payload}{messages}[0]{originalContentUrl}, $image->{url},
   'as an image message with the public URL');
$t->dbh->do(q{UPDATE media SET size = ? WHERE id = ?}, undef,
            $image->{size}, $image->{id});

# another tenant's media is not there
my $theirs = $t->request('POST', '/omni/api/v1/conversations/'
    . "$conv{whatsapp}/messages", { token => $other->{admin_token},
    body => { items => [ { type => 'text', text => 'x' } ] } });
is($theirs->{status}, 404, 'another tenant cannot send in our conversation');

# --- saved replies

sub reply {
    my ($token, $body) = @_;
    my $r = api(POST => '/saved-replies', $token, $body);
    is($r->{status}, 201, "saved reply \"$body->{title}\" is created")
        or diag $r->{content};
    return $r->{json}{id};
}

my $with_file = reply($admin, { title => 'Size chart', kind => 'custom',
    items => [ { type => 'text', text => 'Our size chart:' },
               { type => 'file', media_id => $file->{id} } ],
    permission => { type => 'all_members' } });
my $greeting = reply($admin, { title => 'Greeting', kind => 'custom',
    items => [ { type => 'text', text => 'Hello from the shop!' } ],
    permission => { type => 'all_members' } });
my $private = reply($agent2, { title => 'Mine', kind => 'custom',
    items => [ { type => 'text', text => 'only me' } ],
    permission => { type => 'only_me' } });

my $bot = api(POST => '/bot-modules', $marketer, {
    name => 'Colours', type => 'quick_replies',
    channels => [ 'whatsapp', 'line' ],
    content => { text => 'Which colour?',
                 replies => [ { title => 'Blue', payload => 'BLUE' },
                              { title => 'Red', payload => 'RED' } ] } });
is($bot->{status}, 201, 'a bot module for WhatsApp and LINE')
    or diag $bot->{content};
my $bot_reply = reply($marketer, { title => 'Colours', kind => 'bot',
    bot_module_id => $bot->{json}{id},
    permission => { type => 'all_members' } });

# a custom reply, as it is and edited before sending
$res = api(POST => "/conversations/$conv{whatsapp}/messages", $agent,
           { saved_reply_id => $greeting });
is($res->{status}, 201, 'whatsapp: the greeting is sent');
is($res->{json}{saved_reply_id}, $greeting, 'the message names its reply');
is($res->{json}{payload}{text}{body}, 'Hello from the shop!', 'its text');
$res = api(POST => "/conversations/$conv{whatsapp}/messages", $agent,
           { saved_reply_id => $greeting,
             items => [ { type => 'text', text => 'Hello Mei!' } ] });
is($res->{status}, 201, 'a custom reply may be edited before sending');
is($res->{json}{payload}{text}{body}, 'Hello Mei!', 'the edited text goes');

# a file reply: WhatsApp and Messenger only
$res = api(POST => "/conversations/$conv{messenger}/messages", $agent,
           { saved_reply_id => $with_file });
is($res->{status}, 201, 'messenger: the file reply is sent');
is($res->{json}{payload}[1]{message}{attachment}{type}, 'file',
   'as a file attachment');
is($res->{json}{payload}[1]{message}{attachment}{payload}{url}, $file->{url},
   'with the public URL');
$res = api(POST => "/conversations/$conv{line}/messages", $agent,
           { saved_reply_id => $with_file });
is($res->{status}, 422, 'line: the file reply is refused');
is($res->{json}{error}{code}, 'saved_reply_not_usable', 'not usable there');
like($res->{json}{error}{message}, qr/WhatsApp and Messenger/,
     'and the answer says why');

# a bot reply: its module's channels, in the native form, never edited
$res = api(POST => "/conversations/$conv{whatsapp}/preview", $agent,
           { saved_reply_id => $bot_reply });
is($res->{status}, 200, 'whatsapp: a bot reply is previewed');
is($res->{json}{payload}{type}, 'interactive',
   'as a WhatsApp interactive message');
is_deeply([ map { $_->{reply}{title} }
            @{ $res->{json}{payload}{interactive}{action}{buttons} // [] } ],
          [ 'Blue', 'Red' ], 'its reply buttons');
$res = api(POST => "/conversations/$conv{line}/messages", $agent,
           { saved_reply_id => $bot_reply });
is($res->{status}, 201, 'line: the bot reply is sent');
is(scalar @{ $res->{json}{payload}{messages}[0]{quickReply}{items} // [] }, 2,
   'with LINE quick replies');
is($res->{json}{items}[0]{type}, 'bot_module', 'the message holds the module');
$res = api(POST => "/conversations/$conv{messenger}/messages", $agent,
           { saved_reply_id => $bot_reply });
is($res->{status}, 422, 'messenger: the module does not go there');
is($res->{json}{error}{code}, 'saved_reply_not_usable', 'not usable there');
$res = api(POST => "/conversations/$conv{whatsapp}/messages", $agent,
           { saved_reply_id => $bot_reply,
             items => [ { type => 'text', text => 'changed' } ] });
is($res->{status}, 422, 'a bot reply\'s content is not overridden');
is($res->{json}{error}{code}, 'bot_reply_not_editable', 'bot_reply_not_editable');

# someone else's private reply is not there for this agent
$res = api(POST => "/conversations/$conv{whatsapp}/messages", $agent,
           { saved_reply_id => $private });
is($res->{json}{error}{code}, 'saved_reply_not_found',
   'another member\'s only-me reply cannot be used');

# a preview stores nothing; refusals store nothing
my ($before) = $t->dbh->selectrow_array('SELECT count(*) FROM messages');
api(POST => "/conversations/$conv{whatsapp}/preview", $agent,
    { saved_reply_id => $greeting });
api(POST => "/conversations/$conv{line}/messages", $agent,
    { saved_reply_id => $with_file });
my ($after) = $t->dbh->selectrow_array('SELECT count(*) FROM messages');
is($after, $before, 'previews and refusals store nothing');

# the bot reply reaches the channel as sent
@got = $fake->wait_requests(channel => 'line', accepted => 1, count => 1,
                            timeout => 15);
ok(eval { $json->decode($got[0]{body})->{messages}[0]{quickReply} },
   'the channel received the LINE quick replies');

# a module that goes to one more channel: the lists of this host show its
# reply there at once (the write bumps the cache before it answers)
sub listed {
    my ($channel) = @_;
    my $r = api(GET => "/saved-replies?channel=$channel", $agent);
    return grep { $_->{id} == $bot_reply } @{ $r->{json}{items} // [] };
}
ok(!listed('messenger'), 'messenger: the bot reply is not offered');
ok(!listed('messenger'), 'messenger: nor from the cache');
$res = api(PATCH => "/bot-modules/$bot->{json}{id}", $marketer,
           { channels => [ 'whatsapp', 'line', 'messenger' ] });
is($res->{status}, 200, 'the module now goes to Messenger too');
ok(listed('messenger'), 'messenger: the bot reply is offered at once');

done_testing();
