#!/usr/bin/perl
# Media: POST /media judges the bytes (never the name or Content-Type),
# keeps each kind's limit (video 16 MiB, file 8 MiB: 413; a kind the
# bytes are not: 415), fits an image over 5 MiB into 5 MiB as a JPEG
# that decodes and keeps its EXIF orientation, refuses decompression
# bombs, stores nothing on refusal, and answers the media's shape.  The
# bytes are served by URL from any host of the fleet: each fills its disk
# cache from PostgreSQL and nginx sends the file (ETag, Range).
#
# Images are made and decoded here by t/lib/omni-img.c, built with the
# same codecs the module links.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Omni::Test;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(time);
use HTTP::Tiny;
use JSON::PP ();

my $t = Omni::Test->new(workers => 2, http_extra =>
    'omni_media_url https://shop.example/omni/media/;');
my $ta = $t->tenant(name => 'A', plan => [qw(cs)]);
my $tb = $t->tenant(name => 'B', plan => [qw(omo)]);
my $tsf = $t->tenant(name => 'SF', plan => [qw(salesforce)]);
my $dbh = $t->dbh;
my $dir = $t->dir;
my $http = HTTP::Tiny->new(timeout => 60, keep_alive => 0);
my $json = JSON::PP->new->utf8;

system('gcc', '-O2', '-o', "$dir/omni-img", 't/lib/omni-img.c', '-lpng',
       '-ljpeg') == 0 or BAIL_OUT('cannot build t/lib/omni-img.c');

sub img { system("$dir/omni-img", @_) == 0 or die "omni-img @_" }
sub slurp { open my $fh, '<:raw', $_[0] or die "$_[0]: $!"; local $/; <$fh> }
sub spew { open my $fh, '>:raw', $_[0] or die $!; print $fh $_[1]; close $fh }

sub check_image {
    my ($bytes) = @_;
    spew("$dir/check.img", $bytes);
    my $out = `$dir/omni-img check $dir/check.img`;
    return $? == 0 ? [split ' ', $out] : undef;
}

sub upload {
    my ($bytes, $query, %o) = @_;
    my $res = $http->request('POST',
        $t->url('/omni/api/v1/media' . ($query // '')), {
            headers => { Authorization => 'Bearer '
                             . ($o{token} // $ta->{admin_token}),
                         'Content-Type' => $o{type}
                             // 'application/octet-stream' },
            content => $bytes });
    my $j = eval { $json->decode($res->{content}) };
    return { %$res, json => $j };
}

sub counts {
    return join '/', map { $dbh->selectrow_array("SELECT count(*) FROM $_") }
        qw(media media_blobs media_chunks);
}

img('noise-png', 64, 48, "$dir/small.png");
my $png = slurp("$dir/small.png");
my $mp4_head = pack('N', 32) . 'ftypisom' . "\0\0\2\0" . 'isomiso2mp41';

subtest 'a PNG: 201 with the media shape, sha256 of its bytes' => sub {
    my $r = upload($png, '?kind=image&filename=cat.png');
    is($r->{status}, 201, 'created') or diag $r->{content};
    my $m = $r->{json};
    is_deeply([sort keys %$m],
              [sort qw(id kind mime size original_size sha256 url filename)],
              'the answer shape');
    is($m->{kind}, 'image', 'kind');
    is($m->{mime}, 'image/png', 'mime');
    is($m->{size}, length $png, 'size as stored');
    is($m->{original_size}, length $png, 'original size');
    is($m->{sha256}, sha256_hex($png), 'sha256 of the bytes');
    is($m->{url}, 'https://shop.example/omni/media/' . sha256_hex($png)
       . '.png', 'url: omni_media_url + sha256 + extension');
    is($m->{filename}, 'cat.png', 'filename kept');
    my ($tenant) = $dbh->selectrow_array(
        'SELECT tenant_id FROM media WHERE id = ?', undef, $m->{id});
    is($tenant, $ta->{id}, 'the row is the uploader\'s tenant\'s');
};

subtest 'a PNG named .mp4 is judged a PNG' => sub {
    my $r = upload($png, '?filename=clip.mp4', type => 'video/mp4');
    is($r->{status}, 201, 'created');
    is($r->{json}{kind}, 'image', 'kind from the bytes');
    is($r->{json}{mime}, 'image/png', 'mime from the bytes');

    my $before = counts();
    $r = upload($png, '?kind=video&filename=clip.mp4', type => 'video/mp4');
    is($r->{status}, 415, 'claimed a video: 415');
    is($r->{json}{error}{code}, 'unsupported_media_type', 'error code');
    is(counts(), $before, 'nothing stored');
};

subtest 'wrong type, empty body, bad kind' => sub {
    my $before = counts();
    my $r = upload("GIF89a not ours", '?kind=image');
    is($r->{status}, 415, 'a GIF is no image here');
    ok($r->{json}{error}{message}, 'JSON error with a message');

    $r = upload('', '?kind=file');
    is($r->{status}, 415, 'empty body');
    is($r->{json}{error}{code}, 'empty_media', 'empty_media');

    $r = upload($png, '?kind=audio');
    is($r->{status}, 400, 'unknown kind: 400');
    $r = upload($png, '?kind=image&filename=%ff%fe');
    is($r->{status}, 400, 'a filename that is not UTF-8: 400');
    is(counts(), $before, 'nothing stored');
};

subtest 'video: 16 MiB accepted, 16 MiB + 1 byte refused' => sub {
    my $limit = 16 * 1024 * 1024;
    my $body = $mp4_head . ("\x5a" x ($limit + 1 - length $mp4_head));
    my $before = counts();
    my $r = upload($body, '?kind=video');
    is($r->{status}, 413, '16 MiB + 1: 413');
    is($r->{json}{error}{code}, 'media_too_large', 'media_too_large');
    is(counts(), $before, 'nothing stored');

    chop $body;
    my $t0 = time;
    $r = upload($body, '?kind=video&filename=clip.mp4');
    diag(sprintf '16 MiB video stored in %.2f s', time - $t0);
    is($r->{status}, 201, '16 MiB: 201') or diag $r->{content};
    is($r->{json}{mime}, 'video/mp4', 'video/mp4');
    is($r->{json}{size}, $limit, 'all of it');
    my ($chunks, $bytes) = $dbh->selectrow_array(
        'SELECT count(*), sum(length(data)) FROM media_chunks'
        . ' WHERE sha256 = decode(?, \'hex\')', undef, sha256_hex($body));
    is($chunks, 16, 'stored in 1 MiB chunks');
    is($bytes, $limit, 'every byte');
};

subtest 'file: any bytes up to 8 MiB' => sub {
    my $limit = 8 * 1024 * 1024;
    my $r = upload('%PDF-1.7 a small document', '?kind=file&filename=a.pdf');
    is($r->{status}, 201, 'created');
    is($r->{json}{kind}, 'file', 'file');
    is($r->{json}{mime}, 'application/octet-stream', 'octet-stream');
    unlike($r->{json}{url}, qr/\.\w+$/, 'no extension for a file');

    $r = upload('x' x ($limit + 1), '?kind=file');
    is($r->{status}, 413, '8 MiB + 1: 413');
};

subtest 'an image over 5 MiB comes back at most 5 MiB, and decodes' => sub {
    img('noise-png', 1400, 1300, "$dir/big.png");
    my $big = slurp("$dir/big.png");
    cmp_ok(length $big, '>', 5 * 1024 * 1024, 'the noise PNG is > 5 MiB');

    my $t0 = time;
    my $r = upload($big, '?kind=image&filename=big.png');
    diag(sprintf '%.1f MB noise PNG fitted and stored in %.2f s (%d bytes)',
        length($big) / 1e6, time - $t0, $r->{json}{size} // 0);
    is($r->{status}, 201, 'created') or diag $r->{content};
    my $m = $r->{json};
    cmp_ok($m->{size}, '<=', 5 * 1024 * 1024, 'stored size <= 5 MiB');
    is($m->{original_size}, length $big, 'original size kept');
    is($m->{mime}, 'image/jpeg', 're-encoded as a JPEG');
    like($m->{url}, qr/\Q$m->{sha256}\E\.jpg$/, 'url of the stored bytes');

    my $res = $http->get($t->url("/omni/media/$m->{sha256}.jpg"));
    is($res->{status}, 200, 'served');
    is(length $res->{content}, $m->{size}, 'the stored bytes');
    is(sha256_hex($res->{content}), $m->{sha256}, 'their sha256');
    my $img = check_image($res->{content});
    ok($img, 'decodes') and is($img->[0], 'jpeg', 'a JPEG');
    ok($img && $img->[1] * $img->[2] <= 1400 * 1300, 'no bigger');
};

subtest 'a 36 MB image steps its quality down to fit' => sub {
    img('noise-png', 4000, 3000, "$dir/huge.png");
    my $huge = slurp("$dir/huge.png");
    my $t0 = time;
    my $r = upload($huge, '?kind=image');
    is($r->{status}, 201, 'created') or return diag $r->{content};
    cmp_ok($r->{json}{size}, '<=', 5 * 1024 * 1024, '<= 5 MiB');
    my $img = check_image($http->get($t->url(
        "/omni/media/$r->{json}{sha256}"))->{content});
    ok($img, 'decodes') or return;
    diag(sprintf '%.1f MB noise PNG: %d x %d, %d bytes, in %.2f s',
        length($huge) / 1e6, $img->[1], $img->[2], $r->{json}{size},
        time - $t0);
    unlink "$dir/huge.png";
};

subtest 'a re-encoded JPEG keeps its EXIF orientation' => sub {
    img('noise-jpeg', 2000, 1500, 6, "$dir/turned.jpg");
    my $turned = slurp("$dir/turned.jpg");
    cmp_ok(length $turned, '>', 5 * 1024 * 1024, 'the JPEG is > 5 MiB');

    my $t0 = time;
    my $r = upload($turned, '?kind=image');
    diag(sprintf '%.1f MB JPEG fitted and stored in %.2f s (%d bytes)',
        length($turned) / 1e6, time - $t0, $r->{json}{size} // 0);
    is($r->{status}, 201, 'created') or diag $r->{content};
    cmp_ok($r->{json}{size}, '<=', 5 * 1024 * 1024, '<= 5 MiB');
    my $res = $http->get($t->url("/omni/media/$r->{json}{sha256}"));
    my $img = check_image($res->{content});
    ok($img, 'decodes');
    is($img->[3], 6, 'orientation 6 still there') if $img;
};

subtest 'a decompression bomb is refused: 413' => sub {
    img('bomb-png', 10000, 6000, "$dir/bomb.png");
    my $before = counts();
    my $r = upload(slurp("$dir/bomb.png"), '?kind=image');
    is($r->{status}, 413, '60 megapixels in a small file: 413');
    is($r->{json}{error}{code}, 'image_too_many_pixels', 'the code');
    is(counts(), $before, 'nothing stored');

    $r = upload(substr($png, 0, 40) . ('x' x 100), '?kind=image');
    is($r->{status}, 415, 'a PNG that does not decode: 415');
};

subtest 'multipart/form-data: the "file" field' => sub {
    my $b = 'omniBoundary42';
    my $body = "--$b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n"
        . "hi\r\n--$b\r\nContent-Disposition: form-data; name=\"file\"; "
        . "filename=\"shot.png\"\r\nContent-Type: image/png\r\n\r\n"
        . $png . "\r\n--$b--\r\n";
    my $r = upload($body, '', type => "multipart/form-data; boundary=$b");
    is($r->{status}, 201, 'created') or diag $r->{content};
    is($r->{json}{sha256}, sha256_hex($png), 'the part\'s bytes only');
    is($r->{json}{filename}, 'shot.png', 'the part\'s filename');

    $r = upload("--$b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n"
        . "1\r\n--$b--\r\n", '', type => "multipart/form-data; boundary=$b");
    is($r->{status}, 400, 'no file field: 400');

    my $before = counts();
    $r = upload("--$b\r\nContent-Disposition: form-data; name=\"file\"; "
        . "filename=\"\xff.png\"\r\n\r\n$png\r\n--$b--\r\n", '',
        type => "multipart/form-data; boundary=$b");
    is($r->{status}, 400, 'a part\'s filename that is not UTF-8: 400');
    is(counts(), $before, 'nothing stored');
};

subtest 'serving: ETag, 304, Range, type, 404' => sub {
    my $sha = sha256_hex($png);
    my $res = $http->get($t->url("/omni/media/$sha.png"));
    is($res->{status}, 200, '200 without a token');
    is($res->{content}, $png, 'the bytes');
    is($res->{headers}{'content-type'}, 'image/png', 'Content-Type');
    is($res->{headers}{etag}, "\"$sha\"", 'ETag is the sha256');
    like($res->{headers}{'cache-control'}, qr/immutable/, 'immutable');

    $res = $http->get($t->url("/omni/media/$sha.png"),
        { headers => { 'If-None-Match' => "\"$sha\"" } });
    is($res->{status}, 304, 'If-None-Match: 304');

    $res = $http->get($t->url("/omni/media/$sha"),
        { headers => { Range => 'bytes=0-7' } });
    is($res->{status}, 206, 'Range: 206');
    is($res->{content}, substr($png, 0, 8), 'the range');

    $res = $http->get($t->url('/omni/media/' . ('ab' x 32) . '.png'));
    is($res->{status}, 404, 'unknown sha256: 404');
    like($res->{content}, qr/"not_found"/, 'JSON error');
    is($http->get($t->url('/omni/media/../etc/passwd'))->{status}, 404,
       'not a sha256: 404');
    is($http->request('POST', $t->url("/omni/media/$sha"))->{status}, 405,
       'POST: 405');
};

subtest 'uploaded through one host, served by another' => sub {
    my $body = $mp4_head . join('', map { chr($_ % 251) } 1 .. 3_000_000);
    my $r = upload($body, '?kind=video');
    is($r->{status}, 201, 'uploaded to the first') or return;
    my $sha = $r->{json}{sha256};

    my $t2 = $t->start_second_nginx;
    ok(!-e $t2->dir . "/omni_media/" . substr($sha, 0, 2) . "/$sha",
       'not in the second host\'s cache');
    my $t0 = time;
    my $res = $http->get($t2->url("/omni/media/$sha.mp4"));
    diag(sprintf '3 MB cache miss filled and served in %.3f s', time - $t0);
    is($res->{status}, 200, 'the second host serves it');
    is($res->{headers}{'content-type'}, 'video/mp4', 'as a video');
    ok($res->{content} eq $body, 'the same bytes');
    ok(-s $t2->dir . "/omni_media/" . substr($sha, 0, 2) . "/$sha",
       'now in its disk cache');
    $res = $http->get($t2->url("/omni/media/$sha.mp4"),
        { headers => { Range => 'bytes=1000000-1000009' } });
    is($res->{content}, substr($body, 1000000, 10), 'Range from the cache');
    $t2->stop;
};

subtest 'without a thread pool the same work runs on the loop' => sub {
    my $t3 = $t->start_second_nginx(http_extra => 'omni_thread_pool off;');
    my $big = slurp("$dir/big.png");
    my $res = $http->request('POST',
        $t3->url('/omni/api/v1/media?kind=image'), {
            headers => { Authorization => "Bearer $ta->{admin_token}" },
            content => $big });
    is($res->{status}, 201, 'fitted and stored') or diag $res->{content};
    my $m = eval { $json->decode($res->{content}) } // {};
    cmp_ok($m->{size} // 1e9, '<=', 5 * 1024 * 1024, '<= 5 MiB');
    $res = $http->get($t3->url("/omni/media/$m->{sha256}.jpg"));
    is(sha256_hex($res->{content}), $m->{sha256}, 'served from its cache');
    unlike($t3->error_log, qr/\[(alert|crit|emerg)\]/, 'no alerts');
    $t3->stop;
};

subtest 'tenants apart; the same bytes stored once' => sub {
    my $blobs = $dbh->selectrow_array('SELECT count(*) FROM media_blobs');
    my $r = upload($png, '?kind=image', token => $tb->{admin_token});
    is($r->{status}, 201, 'B uploads the same bytes');
    is($dbh->selectrow_array('SELECT count(*) FROM media_blobs'), $blobs,
       'one blob');
    my ($a_id) = $dbh->selectrow_array(
        'SELECT min(id) FROM media WHERE tenant_id = ?', undef, $ta->{id});
    my ($mine) = $dbh->selectrow_array('SELECT omni_media_get(?, ?)', undef,
        $ta->{id}, $a_id);
    ok($mine, 'omni_media_get: A sees its media');
    is_deeply([sort keys %{ $json->decode($mine) }],
        [sort qw(id kind mime size original_size sha256 filename)],
        'omni_media_get shape') if $mine;
    my ($theirs) = $dbh->selectrow_array('SELECT omni_media_get(?, ?)',
        undef, $tb->{id}, $a_id);
    ok(!defined $theirs, 'B does not get A\'s media');
};

subtest 'auth and plan' => sub {
    my $res = $http->request('POST', $t->url('/omni/api/v1/media'),
        { content => $png });
    is($res->{status}, 401, 'no token: 401');
    my $r = upload($png, '?kind=image', token => $tsf->{admin_token});
    is($r->{status}, 403, 'a plan without messaging: 403');
};

cmp_ok($t->metric('omni_requests_total', 'endpoint="media"'), '>', 10,
       'uploads counted as endpoint "media"');
cmp_ok($t->metric('omni_requests_total', 'endpoint="media_file"'), '>', 5,
       'fetches counted as endpoint "media_file"');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]/, 'no alerts in the log');

subtest 'a video declared over 16 MiB is refused before its body is read' => sub {
    require IO::Socket::INET;
    my $before = counts();
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port, Timeout => 10) or die $!;
    my $len = 16 * 1024 * 1024 + 1;
    print $sock "POST /omni/api/v1/media?kind=video&filename=big.mp4 "
        . "HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
        . "$ta->{admin_token}\r\nContent-Type: video/mp4\r\n"
        . "Content-Length: $len\r\n\r\n";
    # no byte of the body is sent: the answer comes anyway
    my $head = '';
    while (defined(my $line = <$sock>)) {
        $head .= $line;
        last if $line =~ /^\r?\n$/;
    }
    like($head, qr{^HTTP/1\.1 413 }, '413 at once, the body unsent');
    my ($cl) = $head =~ /content-length:\s*(\d+)/i;
    read $sock, my $body, $cl // 0;
    my $j = eval { $json->decode($body) } // {};
    is($j->{error}{code}, 'media_too_large', 'media_too_large');
    close $sock;
    is(counts(), $before, 'nothing stored');
};

done_testing;
