#!/usr/bin/perl
# The outbound client, seen through the deliverer: a certificate that the
# trusted CA did not sign is refused before a byte of the request is sent
# (and recorded on the outbox row); sends one after the other share a
# kept-alive connection; an answer over omni_client_max_response is an
# error; the client's counters are on the status page.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Omni::Test;
use Omni::FakeChannels;
use Omni::Outbox qw(fixture_channel fixture_conversation
                    fixture_queued_message fixture_request notify_outbox
                    message_row outbox_rows);

my $fake = Omni::FakeChannels->start;

sub conf {
    my (%o) = @_;
    return join "\n",
        'omni_channel_api whatsapp '
            . $fake->base('whatsapp', rogue => $o{rogue}) . ';',
        'omni_channel_api messenger ' . $fake->base('messenger') . ';',
        'omni_upstream_trusted_certificate ' . $fake->ca_file . ';',
        $o{extra} // '';
}

my $t = Omni::Test->new(http_extra => conf(rogue => 1));
my $dbh = $t->dbh;
my $tenant = $t->tenant(name => 'Shop', plan => [qw(cs)])->{id};
my %channel = map { $_ => fixture_channel($dbh, $tenant, $_) }
    qw(whatsapp messenger);

sub queue {
    my ($type, $to, $text, $conv) = @_;
    $conv //= fixture_conversation($dbh, $tenant, $channel{$type});
    return fixture_queued_message($dbh, $tenant, $conv, $channel{$type},
        fixture_request($type, $to, $text));
}

# --- a certificate from another CA: refused, recorded, tried again

{
    my $before = $fake->stats;
    my $id = queue('whatsapp', '85291110001', 'to an impostor');
    notify_outbox($dbh);
    my $o;
    $t->wait_until(sub { ($o) = outbox_rows($dbh, $tenant, $id);
                         $o->{last_error} }, 15,
        'the refusal is recorded on the outbox row');
    is($o->{last_error}{code}, 'tls_verify_failed',
        'as a certificate that failed verification');
    like($o->{last_error}{title}, qr/certificate verify failed/,
        'with OpenSSL\'s reason');
    is($o->{state}, 'pending', 'the message waits for a fixed configuration');
    is(message_row($dbh, $tenant, $id)->{status}, 'queued',
        'and stays queued');
    is(scalar(my @r = $fake->requests(channel => 'whatsapp')), 0,
        'no request reached the impostor');
    my $after = $fake->stats;
    cmp_ok($after->{tls_failures} + $after->{tls_handshakes}, '>',
        $before->{tls_failures} + $before->{tls_handshakes},
        'the impostor saw a handshake, then nothing');
    cmp_ok($t->metric('omni_client_errors_total',
        'kind="tls_verify_failed"'), '>=', 1, 'counted by kind');
    like($t->error_log, qr/certificate verify failed/,
        'and said in the error log');
    $dbh->do('DELETE FROM outbox WHERE tenant_id = ? AND message_id = ?',
        undef, $tenant, $id);
}

# --- keep-alive: one conversation's sends, one after the other

{
    my $conv = fixture_conversation($dbh, $tenant, $channel{messenger});
    my $opened = $t->metric('omni_client_connections_total', 'how="opened"');
    my @ids = map { queue('messenger', '1254470000001', "m$_", $conv) }
        1 .. 8;
    notify_outbox($dbh);
    $t->wait_until(sub { message_row($dbh, $tenant, $ids[-1])->{status}
                         eq 'sent' }, 20, 'eight messages in a row sent');
    my @r = $fake->requests(recipient => '1254470000001');
    is(scalar @r, 8, 'each sent once');
    my %conns = map { $_->{conn} => 1 } @r;
    cmp_ok(scalar keys %conns, '<=', 2,
        sprintf('over %d connection(s)', scalar keys %conns));
    cmp_ok($t->metric('omni_client_connections_total', 'how="reused"'),
        '>=', 6, 'reused from the pool');
    cmp_ok($t->metric('omni_client_connections_total', 'how="opened"')
        - $opened, '<=', 2, 'few opened');
    cmp_ok($t->metric('omni_client_responses_total', 'status="2xx"'), '>=',
        8, 'answers counted by class');
}

# --- an answer over omni_client_max_response

$t->stop_nginx_only;
my $t2 = $t->start_second_nginx(
    http_extra => conf(extra => 'omni_client_max_response 32;'));
{
    my $id = queue('messenger', '1254470000002', 'a big answer');
    notify_outbox($dbh);
    my $o;
    $t2->wait_until(sub { ($o) = outbox_rows($dbh, $tenant, $id);
                          $o->{last_error} }, 15, 'the error is recorded');
    is($o->{last_error}{code}, 'too_large', 'an answer too large');
    cmp_ok($t2->metric('omni_client_errors_total', 'kind="too_large"'), '>=',
        1, 'counted');
}

done_testing;
