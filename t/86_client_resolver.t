#!/usr/bin/perl
# The outbound client with a host name: the name goes through nginx's own
# resolver (the http block's `resolver`, here a small DNS server of the
# test's that answers every A question with 127.0.0.1), the TLS handshake
# names the host (SNI) and the certificate is checked against that name.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use IO::Socket::INET;
use File::Temp qw(tempdir);
use Omni::Test;
use Omni::FakeChannels;
use Omni::Outbox qw(fixture_channel fixture_conversation
                    fixture_queued_message fixture_request notify_outbox
                    message_row outbox_rows);

my $fake = Omni::FakeChannels->start;

# --- a DNS server: every A question -> 127.0.0.1 (a name under .invalid:
# none); each question logged

my $dns = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1',
                                LocalPort => 0) or die "dns: $!";
my $dns_port = $dns->sockport;
my $dns_log = tempdir('omni-dns-' . ('X' x 6), TMPDIR => 1, CLEANUP => 1)
    . '/questions.log';

my $dns_pid = fork // die "fork: $!";
if ($dns_pid == 0) {
    while (1) {
        my $from = $dns->recv(my $q, 512) or next;
        next if length $q < 17;
        my ($id) = unpack 'n', $q;
        # the question: labels up to the root, then type and class
        my ($pos, @labels) = (12);
        while ((my $len = ord substr $q, $pos, 1) > 0) {
            push @labels, substr $q, $pos + 1, $len;
            $pos += $len + 1;
        }
        my ($type) = unpack 'n', substr $q, $pos + 1, 2;
        my $question = substr $q, 12, $pos + 5 - 12;
        my $name = join '.', @labels;
        open my $fh, '>>', $dns_log;
        print $fh "$type $name\n";
        close $fh;
        # a name under .invalid does not exist (NXDOMAIN)
        my $none = $name =~ /\.invalid$/;
        my $a = $type == 1 && !$none
            ? pack('n n n N n C4', 0xc00c, 1, 1, 60, 4, 127, 0, 0, 1) : '';
        $dns->send(pack('n n n n n n', $id, $none ? 0x8183 : 0x8180, 1,
                        $a ? 1 : 0, 0, 0)
                   . $question . $a, 0, $from);
    }
}
close $dns;

END { kill 'TERM', $dns_pid if $dns_pid }

# `localhost` is a name of the fake's certificate: only DNS makes it an
# address here, since nginx's resolver reads no hosts file
my $base = $fake->base('whatsapp', host => 'localhost');
like($base, qr{^https://localhost:\d+/}, 'the API base names a host');

my $t = Omni::Test->new(http_extra => join "\n",
    "resolver 127.0.0.1:$dns_port valid=30s ipv6=off;",
    "resolver_timeout 2s;",
    "omni_channel_api whatsapp $base;",
    'omni_channel_api messenger https://graph.nowhere.invalid:'
        . $fake->port . '/messenger/v21.0;',
    'omni_upstream_trusted_certificate ' . $fake->ca_file . ';');

my $dbh = $t->dbh;
my $tenant = $t->tenant(name => 'Shop', plan => [qw(cs)])->{id};
my $channel = fixture_channel($dbh, $tenant, 'whatsapp');

my @ids;
for my $n (1 .. 2) {
    my $conv = fixture_conversation($dbh, $tenant, $channel);
    push @ids, fixture_queued_message($dbh, $tenant, $conv, $channel,
        fixture_request('whatsapp', "8529222000$n", "by name $n"));
    notify_outbox($dbh);
    $t->wait_until(sub { message_row($dbh, $tenant, $ids[-1])->{status}
                         eq 'sent' }, 15, "message $n sent by name");
    is(message_row($dbh, $tenant, $ids[-1])->{status}, 'sent',
       "message $n: sent to the API named by a host name");
}

open my $fh, '<', $dns_log or die "no DNS question was asked: $!";
my @asked = <$fh>;
close $fh;
ok(scalar(grep { /^1 localhost$/ } @asked),
   'the name was asked of the resolver nginx was given (an A question)');

my @got = $fake->requests(channel => 'whatsapp', accepted => 1);
is(scalar @got, 2, 'the fake API received both');
is($got[0]{sni}, 'localhost', 'the TLS handshake named the host (SNI)');
like($got[0]{headers}{host} // '', qr/^localhost(:\d+)?$/,
     'the Host header names it too');

# --- a name that does not resolve: an error of its own kind, recorded on
# the outbox row, and the message waits for a next try

my $fb = fixture_channel($dbh, $tenant, 'messenger');
my $conv = fixture_conversation($dbh, $tenant, $fb);
my $id = fixture_queued_message($dbh, $tenant, $conv, $fb,
    fixture_request('messenger', '1254477777772919', 'to nowhere'));
notify_outbox($dbh);
my $o;
$t->wait_until(sub { ($o) = outbox_rows($dbh, $tenant, $id);
                     $o->{last_error} }, 15, 'the failed lookup is recorded');
is($o->{last_error}{code}, 'resolve', 'a name that does not resolve');
is($o->{state}, 'pending', 'the message waits for a next try');
is(message_row($dbh, $tenant, $id)->{status}, 'queued', 'still queued');
is(scalar(my @r = $fake->requests(channel => 'messenger')), 0,
   'nothing reached any server');

done_testing();
