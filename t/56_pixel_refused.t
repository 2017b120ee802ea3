#!/usr/bin/perl
# A row PostgreSQL refuses (here: a rule the database gained that one
# event breaks) is found by halving its batch, set aside to a file and
# counted; the rows around it and behind it are stored, from the ring and
# from a spool file alike.  Without this, one row stops a host's Pixel.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Omni::Test;

my $t = Omni::Test->new(workers => 1, http_extra => q{
    omni_pixel_flush_interval 200ms;
});
my $ta = $t->tenant(name => 'Shop', plan => [qw(marketing_advanced)]);
my $key = $ta->{pixel_key};

$t->dbh->do(q{ALTER TABLE pixel_event_blocks ADD CONSTRAINT no_poison
    CHECK (strpos(events, '"vid":"poison') = 0)});

sub send_all {
    my $ok = 0;
    for my $vid (@_) {
        $ok++ if $t->get("/omni/px/$key.gif?ev=r&vid=$vid")->{status} == 200;
    }
    return $ok;
}

sub stored {
    return $t->dbh->selectcol_arrayref(q{SELECT vid FROM pixel_events
        WHERE tenant_id = ? ORDER BY vid}, undef, $ta->{id});
}

sub rejected_files {
    opendir my $dh, $t->dir . '/spool' or return ();
    return map { $t->dir . "/spool/$_" } grep { /^rejected-.*\.rows$/ }
        readdir $dh;
}

# from the ring: the poisoned row in the middle of a batch
my @good = map { sprintf 'g%02d', $_ } 1 .. 40;
is(send_all(@good[0 .. 19], 'poison1', @good[20 .. 39]), 41,
    'every beacon gets its GIF');
$t->wait_until(sub { @{ stored() } == 40 }, 20,
    'the 40 good rows of the batch are stored');
is_deeply(stored(), \@good, 'each once');
$t->wait_until(sub { $t->metric('omni_pixel_events_set_aside_total') == 1 },
    5, 'the refused row is counted as set aside');
my @files = rejected_files();
is(scalar @files, 1, 'one rejected file');
my $kept = do { local (@ARGV, $/) = @files; <> };
like($kept, qr/"vid":"poison1"/, 'it holds the refused row');
unlike($kept, qr/"vid":"g/, 'and nothing else');

send_all('after1');
$t->wait_until(sub { grep { $_ eq 'after1' } @{ stored() } }, 10,
    'the rows behind it are stored');

# from a spool file: PostgreSQL away while the poisoned row comes
$t->stop_pg;
my @late = map { sprintf 'h%02d', $_ } 1 .. 20;
send_all(@late[0 .. 9], 'poison2', @late[10 .. 19]);
$t->wait_until(sub { $t->metric('omni_pixel_spool_bytes') > 0 }, 10,
    'the ring is spooled while PostgreSQL is away');
$t->start_pg;
$t->wait_until(sub { (grep { /^h/ } @{ stored() }) == 20 }, 30,
    'the good rows of the spool file are stored');
$t->wait_until(sub { $t->metric('omni_pixel_events_set_aside_total') == 2 },
    5, 'the refused row of the file is set aside too');
$t->wait_until(sub { !grep { !/rejected-/ } glob($t->dir . '/spool/*') }, 10,
    'the spool file is done with');
is(scalar(rejected_files()), 2, 'two rejected files');
is_deeply([ grep { /^h/ } @{ stored() } ], \@late, 'each good row once');
is($t->metric('omni_pixel_events_lost_total'), 0, 'nothing lost');

done_testing();
