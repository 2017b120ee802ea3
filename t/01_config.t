#!/usr/bin/perl
# nginx -t explains a wrong omni configuration, naming the directive.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use lib 't/lib';
use Omni::Test;

my $dir = tempdir(CLEANUP => 1);
my $module = Omni::Test::module_path();

sub nginx_t {
    my ($http, $location) = @_;
    $location //= '';
    open my $fh, '>', "$dir/nginx.conf" or die $!;
    print $fh <<"CONF";
load_module $module;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { }
http {
    $http
    server {
        listen 127.0.0.1:1;
        location /omni/ { omni; $location }
    }
}
CONF
    close $fh;
    my $env = Omni::Test::nginx_env($dir);
    my $out = `$env /usr/sbin/nginx -t -p $dir -c $dir/nginx.conf -e $dir/error.log 2>&1`;
    return ($? == 0, $out);
}

my ($ok, $out) = nginx_t('omni_pg "host=/tmp dbname=omni";');
ok(!glob("$dir/asan*"), 'no sanitizer report') if $ENV{OMNI_ASAN};
ok($ok, 'a plain configuration passes') or diag($out);

($ok, $out) = nginx_t('omni_pg "host=/tmp dbname=omni"; omni_cache_zone 1k;');
ok(!$ok, 'a cache zone too small fails');
like($out, qr/"omni_cache_zone" needs a size of at least \d+k, not "1k"/,
    'and says which directive and why');

($ok, $out) = nginx_t('omni_pixel_ring lots;');
like($out, qr/"omni_pixel_ring" needs a size/, 'a size that is not one');

($ok, $out) = nginx_t('omni_pixel_flush_bytes 32k;');
ok(!$ok, 'a Pixel batch too small for a whole beacon row fails');
like($out, qr/"omni_pixel_flush_bytes" directive must be between 64k and 16m/,
    'and says the bounds');
($ok, $out) = nginx_t('omni_pixel_flush_bytes 32m;');
ok(!$ok, 'so does one larger than 16m');

($ok, $out) = nginx_t('omni_pg_pool_size 0;');
ok(!$ok, 'a pool of 0 fails');
like($out, qr/omni_pg_pool_size.*(between|must)|value must be between/i,
    'with the bounds');

($ok, $out) = nginx_t('omni_pg_timeout soon;');
like($out, qr/invalid value "soon"|"omni_pg_timeout" directive invalid value/,
    'a time that is not one');

($ok, $out) = nginx_t('omni_pg "a"; omni_pg "b";');
like($out, qr/"omni_pg" directive is duplicate/, 'a duplicate directive');

($ok, $out) = nginx_t('', 'omni;');
like($out, qr/"omni" directive is duplicate/, 'omni twice in a location');

($ok, $out) = nginx_t('', 'omni_webhooks;');
like($out, qr/"omni_webhooks" directive is duplicate/,
    'omni_webhooks where omni serves: one handler a location');

($ok, $out) = nginx_t('', 'location /omni/hooks/ { omni_webhooks x; }');
like($out, qr/invalid number of arguments in "omni_webhooks"/,
    'omni_webhooks takes no argument');

($ok, $out) = nginx_t('omni_pg "host=db.example dbname=omni";');
ok(!$ok, 'a host name in omni_pg fails');
like($out, qr/"omni_pg" names a host.*hostaddr/,
    'because libpq would resolve it with a blocking call');

($ok, $out) = nginx_t('omni_pg "host=db.example hostaddr=10.0.0.5";');
ok($ok, 'a host name with its address passes') or diag($out);

($ok, $out) = nginx_t('omni_pg "host=/run/postgresql port=5432";');
ok($ok, 'a socket directory passes') or diag($out);

($ok, $out) = nginx_t('omni_pg "host = = x";');
like($out, qr/"omni_pg" is not a libpq connection string/,
    'a broken connection string');

($ok, $out) = nginx_t('');
ok($ok, 'omni without omni_pg passes');
like($out, qr/without "omni_pg"/, 'with a warning that the API will answer 503');

# omni_auth: names checked when the configuration is read
($ok, $out) = nginx_t('omni_pg "host=/run/postgresql dbname=omni";',
    'location /omni/b/ { omni_auth roles=admin,cs_manager plan=omo,cs; }');
ok($ok, 'omni_auth with known roles and features passes') or diag($out);

($ok, $out) = nginx_t('', 'location /omni/b/ { omni_auth roles=admin,boss; }');
ok(!$ok, 'omni_auth with an unknown role fails');
like($out, qr/"omni_auth": unknown role "boss"/, 'and names the role');

($ok, $out) = nginx_t('', 'location /omni/b/ { omni_auth plan=gold; }');
like($out, qr/"omni_auth": unknown plan feature "gold"/,
    'an unknown plan feature');

($ok, $out) = nginx_t('', 'location /omni/b/ { omni_auth role=admin; }');
like($out, qr/"omni_auth" takes roles=R,\.\.\. and plan=F/,
    'a parameter that is not one');

($ok, $out) = nginx_t('', 'location /omni/b/ { omni_auth roles=; }');
like($out, qr/"omni_auth": an empty list of roles/, 'an empty list');

# --- delivery: channel API bases and the outbound client

($ok, $out) = nginx_t('omni_channel_api whatsapp '
    . 'https://127.0.0.1:8443/whatsapp/v21.0; omni_channel_api line '
    . 'http://127.0.0.1:8080/line; omni_channel_rate whatsapp 5; '
    . 'omni_client_read_timeout 5s; omni_client_max_response 64k;');
ok($ok, 'channel APIs at addresses, a rate and client limits pass')
    or diag($out);

($ok, $out) = nginx_t('omni_channel_api telegram https://127.0.0.1/;');
ok(!$ok, 'an unknown channel type fails');
like($out, qr/"omni_channel_api" takes whatsapp, messenger, instagram or (?x)
    line,\ not\ "telegram"/, 'and names the types');

for my $url ('ftp://127.0.0.1/x', 'https://', 'https://ho_st/',
             'https://127.0.0.1:99999/', 'https://127.0.0.1/a?b=c',
             'graph.facebook.com/v21.0') {
    ($ok, $out) = nginx_t("omni_channel_api whatsapp $url;");
    ok(!$ok, "a bad base URL fails: $url");
    like($out, qr/is not a base URL/, "and says so: $url");
}

($ok, $out) = nginx_t('omni_channel_api line https://127.0.0.1/a; '
    . 'omni_channel_api line https://127.0.0.1/b;');
like($out, qr/"omni_channel_api line" is duplicate/, 'one base per type');

($ok, $out) = nginx_t('omni_channel_api whatsapp '
    . 'https://graph.facebook.com/v21.0;');
ok(!$ok, 'a host name without a resolver fails');
like($out, qr/names a host: the http block needs a "resolver"/,
    'and asks for nginx\'s resolver (no blocking lookups in a worker)');

($ok, $out) = nginx_t('resolver 127.0.0.1 valid=30s; omni_channel_api '
    . 'whatsapp https://graph.facebook.com/v21.0;');
ok($ok, 'a host name with a resolver passes') or diag($out);

($ok, $out) = nginx_t('omni_channel_rate line fast;');
like($out, qr/"omni_channel_rate" takes a channel type and messages a second/,
    'a rate that is not a number');

($ok, $out) = nginx_t('omni_channel_api whatsapp https://127.0.0.1/x; '
    . "omni_upstream_trusted_certificate $dir/none.crt;");
ok(!$ok, 'a trusted certificate file that is not there fails');
like($out, qr/none\.crt/, 'naming the file');

done_testing();
