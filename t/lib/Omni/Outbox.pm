package Omni::Outbox;

# Queued outbound messages made with SQL, shaped as the conversations API
# writes them (a message and its outbox rows, one per channel request,
# in one transaction), for the tests and the bench of the deliverer.
# Until the conversations API is merged, this is how a message is queued.

use strict;
use warnings;

use Exporter 'import';
use JSON::PP;

our @EXPORT_OK = qw(fixture_channel fixture_conversation
                    fixture_queued_message fixture_request notify_outbox
                    message_row outbox_rows);

my $json = JSON::PP->new->canonical;

# the credentials t/13_channels.t uses; the fakes accept these tokens
my %CREDENTIALS = (
    whatsapp  => { access_token => 'wa-token', phone_number_id => '1065',
                   app_secret => 'wa-secret' },
    messenger => { page_access_token => 'fb-token', page_id => '2077',
                   app_secret => 'fb-secret' },
    instagram => { access_token => 'ig-token', ig_user_id => '3099',
                   app_secret => 'ig-secret' },
    line      => { channel_access_token => 'line-token',
                   channel_secret => 'line-secret' },
);

sub fixture_channel {
    my ($dbh, $tenant, $type, %credentials) = @_;
    my $c = { %{ $CREDENTIALS{$type} }, %credentials };
    return $dbh->selectrow_array(q{INSERT INTO channels (tenant_id, type,
        name, credentials) VALUES (?, ?, ?, ?) RETURNING id}, undef,
        $tenant, $type, "Our $type", $json->encode($c));
}

# a customer and their conversation on a channel
sub fixture_conversation {
    my ($dbh, $tenant, $channel) = @_;
    my ($customer) = $dbh->selectrow_array(q{INSERT INTO customers
        (tenant_id, name) VALUES (?, 'Fixture') RETURNING id}, undef,
        $tenant);
    return $dbh->selectrow_array(q{INSERT INTO conversations (tenant_id,
        customer_id, channel_id, last_inbound_at) VALUES (?, ?, ?, now())
        RETURNING id}, undef, $tenant, $customer, $channel);
}

# one element of omni_render_items()'s array, as core/omni_render makes it
sub fixture_request {
    my ($type, $to, $text) = @_;
    return { method => 'POST', path => '/1065/messages',
             auth => 'access_token',
             body => { messaging_product => 'whatsapp',
                       recipient_type => 'individual', to => $to,
                       type => 'text',
                       text => { preview_url => JSON::PP::false,
                                 body => $text } } }
        if $type eq 'whatsapp';
    return { method => 'POST', path => '/me/messages',
             auth => 'page_access_token',
             body => { recipient => { id => $to },
                       messaging_type => 'RESPONSE',
                       message => { text => $text } } }
        if $type eq 'messenger';
    return { method => 'POST', path => '/3099/messages',
             auth => 'access_token',
             body => { recipient => { id => $to },
                       message => { text => $text } } }
        if $type eq 'instagram';
    return { method => 'POST', path => '/v2/bot/message/push',
             auth => 'channel_access_token',
             body => { to => $to,
                       messages => [ { type => 'text', text => $text } ] } }
        if $type eq 'line';
    die "no channel type $type";
}

# a queued message with one outbox row per request; its id
sub fixture_queued_message {
    my ($dbh, $tenant, $conversation, $channel, @requests) = @_;
    my $bodies = @requests == 1 ? $requests[0]{body}
                                : [ map { $_->{body} } @requests ];
    $dbh->begin_work;
    my ($id) = $dbh->selectrow_array(q{INSERT INTO messages (tenant_id,
        conversation_id, direction, items, payload, status) VALUES
        (?, ?, 'out', '[]', ?, 'queued') RETURNING id}, undef, $tenant,
        $conversation, $json->encode($bodies));
    for my $part (0 .. $#requests) {
        $dbh->do(q{INSERT INTO outbox (tenant_id, message_id, part,
            conversation_id, channel_id, request) VALUES (?, ?, ?, ?, ?, ?)},
            undef, $tenant, $id, $part, $conversation, $channel,
            $json->encode($requests[$part]));
    }
    $dbh->commit;
    return $id;
}

sub notify_outbox {
    my ($dbh) = @_;
    $dbh->do(q{SELECT pg_notify('omni_outbox', '')});
}

sub message_row {
    my ($dbh, $tenant, $id) = @_;
    my $r = $dbh->selectrow_hashref(q{SELECT status, channel_message_id,
        error, sent_at FROM messages WHERE tenant_id = ? AND id = ?}, undef,
        $tenant, $id);
    $r->{error} = $json->decode($r->{error}) if $r && defined $r->{error};
    return $r;
}

sub outbox_rows {
    my ($dbh, $tenant, $message) = @_;
    my $rows = $dbh->selectall_arrayref(q{SELECT part, state, attempts,
        channel_message_id, last_error, claimed_by FROM outbox
        WHERE tenant_id = ? AND message_id = ? ORDER BY part}, { Slice => {} },
        $tenant, $message);
    for (@$rows) {
        $_->{last_error} = $json->decode($_->{last_error})
            if defined $_->{last_error};
    }
    return @$rows;
}

1;
