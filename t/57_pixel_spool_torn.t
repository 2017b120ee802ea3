#!/usr/bin/perl
# A spool file whose last row was cut short (a crash or a full disk in the
# middle of a write) is replayed up to its last whole row; the torn tail is
# set aside to a rejected file, counted and logged once, and the file is
# done with.  Whatever the damage, the beacons behind it are stored within
# the flush lag: one bad file never stops a host's Pixel.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use lib 't/lib';
use Omni::Test;

my $t = Omni::Test->new(workers => 1, http_extra => q{
    omni_pixel_flush_interval 200ms;
});
my $ta = $t->tenant(name => 'Shop', plan => [qw(marketing_advanced)]);
my $key = $ta->{pixel_key};
my $spool = $t->dir . '/spool';
my $ms = int(time * 1000);
my $set_aside = 0;
my $n = 0;

# a row's start, as the ring writes it, up to the event name
sub head {
    my ($ev) = @_;
    return "$key\t-\t" . '{"t":' . $ms . ',"ev":"' . ($ev // 'spooled') . '"';
}

sub row {
    my ($vid) = @_;
    return head() . qq(,"vid":"$vid"}\n);
}

sub stored {
    my ($vid) = @_;
    return $t->dbh->selectrow_array(q{SELECT count(*) FROM pixel_events
        WHERE tenant_id = ? AND vid = ?}, undef, $ta->{id}, $vid);
}

sub rejected {
    opendir my $dh, $spool or return {};
    my %kept;
    for my $f (grep { /^rejected-.*\.rows$/ } readdir $dh) {
        open my $fh, '<:raw', "$spool/$f" or next;
        local $/;
        $kept{$f} = <$fh>;
    }
    return \%kept;
}

# a file appears in the spool directory whole, under a name the flusher
# does not look at until then
sub put {
    my ($name, $bytes) = @_;
    open my $fh, '>:raw', "$spool/.staged" or die $!;
    print $fh $bytes;
    close $fh;
    utime time - 5, time - 5, "$spool/.staged";
    rename "$spool/.staged", "$spool/$name" or die $!;
    return "$spool/$name";
}

# a closed overflow file, quiet for a while: the flusher replays it next
sub spool_file {
    my ($bytes) = @_;
    return put(sprintf('overflow-1-%d.copy', ++$n), $bytes);
}

# the file is done with and a beacon sent after it is stored
sub goes_on {
    my ($file, $why) = @_;
    my $vid = "after$n";
    is($t->get("/omni/px/$key.gif?ev=after&vid=$vid")->{status}, 200,
        "$why: the beacon behind it gets its GIF");
    $t->wait_until(sub { stored($vid) == 1 }, 5,
        "$why: the beacon behind it is stored within the flush lag");
    $t->wait_until(sub { !-e $file }, 5, "$why: the spool file is removed");
}

sub torn {
    my ($why, $whole, $tail, $damaged) = @_;
    my %before = %{ rejected() };
    my $file = spool_file(join('', map { row($_) } @$whole)
        . ($damaged // '') . $tail);
    goes_on($file, $why);
    is(stored($_), 1, "$why: whole row $_ stored once") for @$whole;
    $set_aside++;
    $t->wait_until(sub {
        $t->metric('omni_pixel_events_set_aside_total') == $set_aside
    }, 5, "$why: the torn tail is counted as set aside");
    my $now = rejected();
    my @new = grep { !exists $before{$_} } sort keys %$now;
    is(scalar @new, 1, "$why: one rejected file");
    is($now->{ $new[0] // '' }, $tail, "$why: it keeps the torn tail as is");
}

torn('torn mid-key', [qw(k1 k2)], substr($key, 0, 5));
torn('torn after the key', [qw(t1)], "$key\t");
torn('torn mid-JSON', [qw(j1 j2 j3)], head() . ',"vid":"j4');
torn('torn mid-escape', [qw(e1)],
    head() . ',"vid":"e2","url":"https:\\/\\/s\\u00');
torn('torn mid-UTF-8', [qw(u1)],
    head() . ',"vid":"u2","url":"' . "\xe4\xb8");
torn('torn tail with a NUL', [qw(n1)], head("spo\0oled") . ',"vid":"n2');
torn('a file that is one torn row', [], substr(row('o1'), 0, 30));

# garbage: whole lines of it are not rows (skipped, counted as lost), its
# unterminated end is a torn tail like any other
srand 57;
my $garbage = join '', map { chr int rand 256 } 1 .. 4000;
my ($lines, $end) = $garbage =~ /\A(.*\n)?([^\n]*)\z/s;
torn('pure garbage', [], $end . 'x', $lines);

(my $no_newline = $garbage) =~ tr/\n//d;
torn('garbage without a newline', [], $no_newline);

torn('whole rows, a row with a NUL, then a torn tail', [qw(z1 z2)],
    "garbage\0garbage", head("spo\0oled") . qq(,"vid":"z3"}\n));
is(stored('z3'), 0, 'the whole row with a NUL is not stored');

# an empty file and a file of whole rows are no torn files
my $before = $t->metric('omni_pixel_events_set_aside_total');
goes_on(spool_file(''), 'an empty file');
goes_on(spool_file(row('w1') . row('w2')), 'a file of whole rows');
is(stored('w1') + stored('w2'), 2, 'its rows stored');
is($t->metric('omni_pixel_events_set_aside_total'), $before,
    'nothing set aside for them');

# a ring spool torn by a crash while it was written: the ring may still
# hold the torn row whole, so the database's position stays before it
my $whole = row('r1') . row('r2');
goes_on(put('ring-00000000deadbeef-00000000000000000000.copy.tmp',
    $whole . substr(row('r3'), 0, 40)), 'a torn ring spool');
$set_aside++;
is(stored('r1') + stored('r2'), 2, 'a torn ring spool: its whole rows stored');
is($t->dbh->selectrow_array(q{SELECT drained FROM omni_px_ring_state
    WHERE source = 'ring:00000000deadbeef'}), length $whole,
    'a torn ring spool: the ring position stays before the torn row');

# a torn tail is news once, not on every pass of the flusher
my @logged = $t->error_log =~ /(has a torn row)/g;
is(scalar @logged, $set_aside, 'each torn tail logged once');
is($t->metric('omni_pixel_flush_errors_total'), 0, 'no batch failed');

done_testing();
