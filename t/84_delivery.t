#!/usr/bin/perl
# Delivery: queued messages go out through each channel's send API (the
# fakes, over TLS with the test CA) and end sent with the channel's id;
# failures are tried again with back-off, rate limits hold the account
# (Retry-After honoured), refusals fail the message with the channel's
# code; a conversation's messages go out in order; a host killed mid-send
# leaves its message to another host after the lease; one sending
# account's rate holds across two hosts.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use lib 't/lib';
use Omni::Test;
use Omni::FakeChannels;
use Omni::Outbox qw(fixture_channel fixture_conversation
                    fixture_queued_message fixture_request notify_outbox
                    message_row outbox_rows);

my $fake = Omni::FakeChannels->start;

sub channel_apis {
    my (%o) = @_;
    return join "\n", (map { "omni_channel_api $_ " . $fake->base($_) . ';' }
                           qw(whatsapp messenger instagram line)),
        'omni_upstream_trusted_certificate ' . $fake->ca_file . ';',
        # short budgets: a slow fake is a timeout within the test's time,
        # and the lease (their sum + 5 s) is 11 s
        'omni_client_connect_timeout 2s;',
        'omni_client_send_timeout 2s;',
        'omni_client_read_timeout 2s;',
        $o{extra} // '';
}

my $t = Omni::Test->new(http_extra => channel_apis());
$t->expect_worker_crash;
my $dbh = $t->dbh;
my $tenant = $t->tenant(name => 'Shop', plan => [qw(cs)])->{id};

my %channel = map { $_ => fixture_channel($dbh, $tenant, $_) }
    qw(whatsapp messenger instagram line);

my %to = (whatsapp => '85291234567', messenger => '1254477777772919',
          instagram => '526401254477777', line => 'U' . ('4af4980629' x 3)
          . 'ab');

my $n = 0;

# a message of one text to a new recipient of a channel; (id, recipient)
sub queue {
    my ($type, %o) = @_;
    my $to = $o{to} // ($type eq 'whatsapp' ? '8529' . (1000000 + ++$n)
                        : $type eq 'line' ? sprintf('U%032x', ++$n)
                        : '99' . (1000000 + ++$n));
    my $conv = $o{conversation}
        // fixture_conversation($dbh, $tenant, $channel{$type});
    my $id = fixture_queued_message($dbh, $tenant, $conv, $channel{$type},
        fixture_request($type, $to, $o{text} // "Hello $n"));
    notify_outbox($dbh) unless $o{quiet};
    return ($id, $to);
}

sub wait_status {
    my ($id, $status, $timeout, $what) = @_;
    $t->wait_until(sub { (message_row($dbh, $tenant, $id)->{status} // '')
                         eq $status }, $timeout, $what);
    return message_row($dbh, $tenant, $id);
}

# --- each channel: the right path, token and body; sent with its id

my %token = (whatsapp => 'wa-token', messenger => 'fb-token',
             instagram => 'ig-token', line => 'line-token');
my %path = (whatsapp => qr{^/whatsapp/v[\d.]+/1065/messages$},
            messenger => qr{^/messenger/v[\d.]+/me/messages$},
            instagram => qr{^/instagram/v[\d.]+/3099/messages$},
            line => qr{^/line/v2/bot/message/push$});

for my $type (qw(whatsapp messenger instagram line)) {
    my ($id) = queue($type, to => $to{$type}, text => "Hi on $type");
    my $row = wait_status($id, 'sent', 15, "$type: the message is sent");
    my @r = $fake->requests(channel => $type, accepted => 1);
    is(scalar @r, 1, "$type: the channel received it once");
    my $r = $r[0];
    like($r->{path}, $path{$type}, "$type: at the send API's path");
    is($r->{headers}{authorization}, "Bearer $token{$type}",
        "$type: with the channel's token as Bearer");
    like($r->{headers}{'content-type'}, qr{^application/json}, "$type: JSON");
    is($r->{recipient}, $to{$type}, "$type: to the recipient");
    my $text = $type eq 'whatsapp' ? $r->{json}{text}{body}
             : $type eq 'line' ? $r->{json}{messages}[0]{text}
             : $r->{json}{message}{text};
    is($text, "Hi on $type", "$type: the rendered body");
    my $their = $type eq 'whatsapp' ? $r->{answer}{messages}[0]{id}
              : $type eq 'line' ? $r->{answer}{sentMessages}[0]{id}
              : $r->{answer}{message_id};
    ok($their, "$type: the channel gave an id");
    is($row->{channel_message_id}, $their,
        "$type: the message keeps the channel's id");
    my ($o) = outbox_rows($dbh, $tenant, $id);
    is($o->{state}, 'sent', "$type: its outbox row is sent");
    is($o->{attempts}, 1, "$type: at the first try");
}
my ($line_req) = $fake->requests(channel => 'line');
like($line_req->{retry_key} // '',
    qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    'LINE gets a retry key in the shape of a UUID');

# --- fails twice, then succeeds: sent, delivered once

{
    my $to = '85290000001';
    $fake->fail_next(2, recipient => $to);
    my ($id) = queue('whatsapp', to => $to);
    my $row = wait_status($id, 'sent', 20, 'a message that failed twice');
    my @r = $fake->requests(recipient => $to);
    is(scalar @r, 3, 'the channel was asked three times');
    is(scalar(grep { $_->{accepted} } @r), 1, 'and took it once');
    is((outbox_rows($dbh, $tenant, $id))[0]{attempts}, 3, 'three tries');
    is($row->{error}, undef, 'no error left on the message');
}

# --- 429 with Retry-After: the next try waits at least that long

{
    my $to = '85290000002';
    $fake->rate_limit(2, recipient => $to);
    my ($id) = queue('whatsapp', to => $to);
    wait_status($id, 'sent', 20, 'a message after a 429');
    my @r = $fake->requests(recipient => $to);
    is(scalar @r, 2, '429, then sent');
    is($r[0]{status}, 429, 'the first answer was 429');
    cmp_ok($r[1]{time} - $r[0]{time}, '>=', 1.95,
        sprintf('the next try came %.2f s later (Retry-After: 2)',
                $r[1]{time} - $r[0]{time}));
}

# --- WhatsApp's throughput limit (130429): tried again, then sent

{
    my $to = '85290000003';
    $fake->rule(recipient => $to, graph_error => 130429, times => 1);
    my ($id) = queue('whatsapp', to => $to);
    wait_status($id, 'sent', 20, 'a message after 130429');
    my @r = $fake->requests(recipient => $to);
    is(scalar @r, 2, '130429, then sent');
    is($r[0]{answer}{error}{code}, 130429, 'the first answer was 130429');
}

# --- a refusal: failed with the channel's code, not tried again

{
    my $to = '85290000004';
    $fake->rule(recipient => $to, graph_error => 131026);
    my ($id) = queue('whatsapp', to => $to);
    my $row = wait_status($id, 'failed', 15, 'an undeliverable message');
    is($row->{error}{code}, 131026, "the error is the channel's code");
    like($row->{error}{title}, qr/Undeliverable/, "and its words");
    my ($o) = outbox_rows($dbh, $tenant, $id);
    is($o->{state}, 'failed', 'the outbox row failed');
    is($o->{attempts}, 1, 'after one try');
    is(scalar(my @r = $fake->requests(recipient => $to)), 1,
        'the channel was asked once');

    # LINE's refusal: its HTTP status and message
    my $lto = sprintf('U%032x', 77);
    $fake->rule(recipient => $lto, status => 400);
    my ($lid) = queue('line', to => $lto);
    $row = wait_status($lid, 'failed', 15, 'a LINE refusal');
    is($row->{error}{code}, 400, 'LINE: the HTTP status as the code');
    is($row->{error}{title}, 'Error 400', "LINE: its message as the title");
    $fake->clear_rules;
}

# --- a slow answer (past the read timeout) and a cut: tried again

{
    my $to = '85290000005';
    $fake->rule(recipient => $to, delay_ms => 3000, times => 1);
    my $timeouts = $t->metric('omni_client_errors_total', 'kind="timeout"');
    my ($id) = queue('whatsapp', to => $to);
    wait_status($id, 'sent', 25, 'a message whose first answer was slow');
    is(scalar(my @r = $fake->requests(recipient => $to)), 2,
        'sent again after the read timeout');
    cmp_ok($t->metric('omni_client_errors_total', 'kind="timeout"'), '>',
        $timeouts, 'counted as a timeout');

    $to = '85290000006';
    $fake->rule(recipient => $to, drop => 'mid_response', times => 1);
    ($id) = queue('whatsapp', to => $to);
    wait_status($id, 'sent', 20, 'a message whose first answer was cut');
    @r = $fake->requests(recipient => $to);
    is(scalar @r, 2, 'sent again after the cut');
    is(scalar(grep { $_->{accepted} } @r), 2,
        'the channel took both: the at-least-once window');
}

# --- a chunked answer

{
    my $to = '85290000007';
    $fake->rule(recipient => $to, chunked => 1, times => 1);
    my ($id) = queue('whatsapp', to => $to);
    my $row = wait_status($id, 'sent', 15, 'a message answered in chunks');
    my ($r) = $fake->requests(recipient => $to);
    is($row->{channel_message_id}, $r->{answer}{messages}[0]{id},
        'the id read from the chunked body');
}

# --- a conversation's messages go out in order, one at a time

{
    my $to = '85290000008';
    my $conv = fixture_conversation($dbh, $tenant, $channel{whatsapp});
    $fake->fail_next(1, recipient => $to);
    my @ids = map { (queue('whatsapp', to => $to, conversation => $conv,
                           text => "part $_", quiet => 1))[0] } 1 .. 3;
    notify_outbox($dbh);
    wait_status($ids[2], 'sent', 20, 'the third message of a conversation');
    my @r = $fake->requests(recipient => $to, accepted => 1);
    is_deeply([ map { $_->{json}{text}{body} } @r ],
        [ 'part 1', 'part 2', 'part 3' ],
        'received in order, the first one after its retry');
}

# --- sends and outcomes on the status page

cmp_ok($t->metric('omni_outbox_sends_total', 'outcome="sent"'), '>=', 13,
    'sent sends are counted');
cmp_ok($t->metric('omni_outbox_sends_total', 'outcome="retry"'), '>=', 6,
    'retries are counted');
cmp_ok($t->metric('omni_outbox_sends_total', 'outcome="failed"'), '>=', 2,
    'failures are counted');
is($t->metric('omni_job_errors_total', 'job="outbox_delivery"'), 0,
    'the deliverer\'s slices had no error');

# --- a host killed mid-send: another host sends it after the lease

my $t2 = $t->start_second_nginx(
    http_extra => channel_apis(extra => 'omni_channel_rate whatsapp 5;'));
$t2->expect_worker_crash;
{
    # the second host must not take it first: it starts after the claim
    my $to = '85290000009';
    $fake->rule(recipient => $to, delay_ms => 60000, times => 1);
    kill 'STOP', $t2->master_pid, $t2->worker_pids;
    my ($id) = queue('whatsapp', to => $to);
    my @r = $fake->wait_requests(recipient => $to, count => 1, timeout => 10);
    is(scalar @r, 1, 'the first host is sending it (the fake holds it)');
    my ($o) = outbox_rows($dbh, $tenant, $id);
    my $claimer = $o->{claimed_by};
    kill 'KILL', $t->master_pid, $t->worker_pids;
    my $killed = time;
    kill 'CONT', $t2->master_pid, $t2->worker_pids;
    my $row = wait_status($id, 'sent', 30, 'the other host sends it');
    my $took = time - $killed;
    @r = $fake->requests(recipient => $to);
    is(scalar @r, 2, 'the channel got it again from the other host');
    ($o) = outbox_rows($dbh, $tenant, $id);
    isnt($o->{claimed_by}, $claimer, 'recorded by another holder');
    cmp_ok($took, '<', 20, sprintf('within the lease and a bit (%.1f s)',
        $took));
}

# --- one account's rate across two hosts: 20 messages at 5 a second

my $t3 = $t2->start_second_nginx;
{
    my $since = ($fake->requests)[-1]{seq};
    my @ids;
    push @ids, (queue('whatsapp', quiet => 1))[0] for 1 .. 20;
    notify_outbox($dbh);
    $t2->wait_until(sub { !grep { message_row($dbh, $tenant, $_)->{status}
                                  ne 'sent' } @ids }, 30,
        'twenty messages sent by two hosts');
    my @r = $fake->requests(since => $since, accepted => 1);
    is(scalar @r, 20, 'each once');
    my $span = $r[-1]{time} - $r[0]{time};
    cmp_ok($span, '>=', 2.5,
        sprintf('at 5 a second (and one second saved up): %.2f s', $span));
    my %holders = map { $_->[0] => 1 } @{ $dbh->selectall_arrayref(
        q{SELECT DISTINCT split_part(claimed_by, '/', 2) FROM outbox
           WHERE tenant_id = ? AND message_id = ANY(?)}, undef, $tenant,
        \@ids) };
    note('holders: ' . join(', ', sort keys %holders));
}

done_testing;
