package Omni::Test;

# Each test file gets its own PostgreSQL cluster and its own nginx (the
# stock binary, the module loaded with load_module), as nginx's own test
# suite starts a server per file.  Everything lives in a temporary
# directory that goes away at the end (OMNI_KEEP=1 keeps it).

use strict;
use warnings;

use Cwd qw(abs_path);
use DBI;
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

our $TOP = abs_path(dirname(__FILE__) . '/../../..');
my $json = JSON::PP->new->canonical->allow_nonref;
my @instances;

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
        LocalPort => 0, Proto => 'tcp', ReuseAddr => 1) or die "port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub run {
    my (@cmd) = @_;
    my $out = `@cmd 2>&1`;
    die "failed: @cmd\n$out" if $?;
    return $out;
}

sub new {
    my ($class, %opts) = @_;
    my $self = bless { opts => \%opts, workers => $opts{workers} // 1 },
        $class;

    $self->{dir} = tempdir('omni-test-' . ('X' x 6), TMPDIR => 1,
        CLEANUP => !$ENV{OMNI_KEEP});
    chmod 0755, $self->{dir};

    if ($opts{shared_pg}) {
        $self->{pg} = $opts{shared_pg};
    } else {
        $self->{pg} = "$self->{dir}/pg";
        $self->{pg_owner} = 1;
        $self->start_pg;
        $self->migrate if $opts{migrate} // 1;
    }

    $self->start_nginx;
    push @instances, $self;
    return $self;
}

sub conninfo {
    my ($self) = @_;
    my $port = `cat $self->{pg}/port`;
    chomp $port;
    return "host=$self->{pg} port=$port dbname=omni user=omni";
}

sub start_pg {
    my ($self) = @_;
    local $ENV{OMNI_PG_PORT} = 20000 + int(rand(20000));
    # fsync off makes tests fast; a bench of durable writes asks for it
    local $ENV{OMNI_PG_FSYNC} = $self->{opts}{fsync} ? 'on' : 'off';
    run("$TOP/bin/omni-pg", 'start', $self->{pg});
    delete $self->{dbh};
}

sub stop_pg {
    my ($self) = @_;
    $self->{dbh}->disconnect if $self->{dbh};
    delete $self->{dbh};
    run("$TOP/bin/omni-pg", 'stop', $self->{pg});
}

sub migrate {
    my ($self, %o) = @_;
    my @upto = defined $o{upto} ? ('--upto', $o{upto}) : ();
    run("$TOP/bin/omni-migrate", "'" . $self->conninfo . "'", @upto);
}

sub module_path {
    my $m = $ENV{OMNI_MODULE} // "$TOP/build/ngx_http_omni_module.so";
    $m = "$TOP/$m" unless $m =~ m{^/};
    die "no module at $m: run make\n" unless -f $m;
    return $m;
}

sub write_conf {
    my ($self) = @_;
    my $d = $self->{dir};
    my %o = %{ $self->{opts} };
    my $conninfo = $self->conninfo;
    my $module = module_path();
    my $main_extra = $o{main_extra} // '';
    my $http_extra = $o{http_extra} // '';
    my $server_extra = $o{server_extra} // '';
    my $log_level = $o{log_level} // 'info';

    open my $fh, '>', "$d/nginx.conf" or die $!;
    print $fh <<"CONF";
load_module $module;
worker_processes $self->{workers};
daemon on;
master_process on;
pid $d/nginx.pid;
error_log $d/error.log $log_level;
$main_extra
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;

    omni_pg "$conninfo";
    omni_pixel_spool $d/spool;
    omni_cache_zone 4m;
    omni_pixel_ring ${\ ($o{ring} // "4m")};
    $http_extra

    server {
        listen 127.0.0.1:$self->{port};

        # the shipped locations, as operators include them
        include $TOP/conf/omni_locations.conf;

        location /shop/ {
            alias $TOP/conf/demo-shop/;
        }
        $server_extra
    }
}
CONF
    close $fh;
}

sub start_nginx {
    my ($self) = @_;
    $self->{port} //= free_port();
    $self->write_conf;
    my $d = $self->{dir};
    my $env = nginx_env($d);
    run("$env /usr/sbin/nginx -p $d -c $d/nginx.conf -e $d/error.log");
    $self->wait_until(sub { $self->worker_pids >= $self->{workers}
        && IO::Socket::INET->new(PeerAddr => '127.0.0.1',
               PeerPort => $self->{port}) }, 10, 'nginx answers');
}

# under OMNI_ASAN the stock nginx needs the sanitizer's runtime first
sub nginx_env {
    my ($dir) = @_;
    return '' unless $ENV{OMNI_ASAN};
    my $lib = `gcc -print-file-name=libasan.so`;
    chomp $lib;
    return "LD_PRELOAD=$lib ASAN_OPTIONS=detect_leaks=0:log_path=$dir/asan";
}

sub start_second_nginx {
    my ($self, %opts) = @_;
    return Omni::Test->new(%{ $self->{opts} }, %opts,
        shared_pg => $self->{pg});
}

sub master_pid {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/nginx.pid" or return;
    my $pid = <$fh>;
    chomp $pid if defined $pid;
    return $pid;
}

sub worker_pids {
    my ($self) = @_;
    my $master = $self->master_pid or return ();
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        my ($pid, $rest) = $line =~ /^(\d+) \(.*?\) (.*)$/ or next;
        my (undef, $ppid) = split / /, $rest;
        push @pids, $pid if $ppid == $master;
    }
    return grep { my $c = `cat /proc/$_/cmdline 2>/dev/null`;
                  $c =~ /worker process/ } @pids;
}

sub reload {
    my ($self) = @_;
    my %old = map { $_ => 1 } $self->worker_pids;
    kill 'HUP', $self->master_pid;
    $self->wait_until(sub {
        my @now = $self->worker_pids;
        !grep({ $old{$_} } @now) && @now >= $self->{workers}
    }, 20, 'reload replaced the workers');
}

sub expect_worker_crash { $_[0]{crash_ok} = 1 }

# a graceful quit of this instance's nginx; its database stays up
sub stop_nginx_only {
    my ($self) = @_;
    my $pid = $self->master_pid or return;
    kill 'QUIT', $pid;
    $self->wait_until(sub { !kill 0, $pid }, 15, 'nginx quits');
}

sub url { my ($self, $path) = @_; "http://127.0.0.1:$self->{port}$path" }
sub port { $_[0]{port} }
sub dir { $_[0]{dir} }

sub dbh {
    my ($self) = @_;
    return $self->{dbh} if $self->{dbh} && $self->{dbh}->ping;
    $self->{dbh} = $self->new_dbh;
    return $self->{dbh};
}

sub new_dbh {
    my ($self) = @_;
    my $c = $self->conninfo;
    $c =~ s/ /;/g;
    return DBI->connect("dbi:Pg:$c", '', '',
        { AutoCommit => 1, RaiseError => 1, PrintError => 0 });
}

sub psql {
    my ($self, $sql) = @_;
    return $self->dbh->selectall_arrayref($sql);
}

my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 0);

sub request {
    my ($self, $method, $path, $o) = @_;
    $o //= {};
    my %h = %{ $o->{headers} // {} };
    $h{Authorization} = "Bearer $o->{token}" if defined $o->{token};
    my %args = (headers => \%h);
    if (exists $o->{body}) {
        $args{content} = ref $o->{body} ? $json->encode($o->{body})
                                        : $o->{body};
        $h{'Content-Type'} //= 'application/json';
    }
    my $res = $http->request($method, $self->url($path), \%args);
    my $decoded;
    if (($res->{headers}{'content-type'} // '') =~ m{^application/json}) {
        $decoded = eval { $json->decode($res->{content}) };
    }
    return { status => $res->{status}, headers => $res->{headers},
             content => $res->{content}, json => $decoded };
}

sub get    { my $s = shift; $s->request('GET', @_) }
sub post   { my $s = shift; $s->request('POST', @_) }
sub put    { my $s = shift; $s->request('PUT', @_) }
sub patch  { my $s = shift; $s->request('PATCH', @_) }
sub delete { my $s = shift; $s->request('DELETE', @_) }

# the sum of a metric's samples on the status page (optionally a label set)
sub metric {
    my ($self, $name, $labels) = @_;
    my $body = $self->get('/omni/status')->{content} // '';
    my $sum = 0;
    for my $line (split /\n/, $body) {
        next unless $line =~ /^\Q$name\E(\{[^}]*\})? (\S+)$/;
        my ($set, $value) = ($1 // '', $2);
        next if defined $labels && $set !~ /\Q$labels\E/;
        $sum += $value;
    }
    return $sum;
}

sub admin {
    my ($self, @args) = @_;
    my $out = run("$TOP/bin/omni-admin", '--db', "'" . $self->conninfo . "'",
        map { "'$_'" } @args);
    my %kv = $out =~ /^(\w+)=(\S*)$/mg;
    return \%kv;
}

sub tenant {
    my ($self, %o) = @_;
    my $kv = $self->admin('tenant', 'create', $o{name} // 'Brand',
        '--plan', join(',', @{ $o{plan} // ['cs'] }),
        '--region', $o{region} // 'HK');
    return { id => $kv->{OMNI_TENANT_ID}, admin_token => $kv->{OMNI_ADMIN_TOKEN},
             pixel_key => $kv->{OMNI_PIXEL_KEY} };
}

sub member {
    my ($self, %o) = @_;
    my $kv = $self->admin('member', 'create', '--tenant', $o{tenant},
        '--role', $o{role}, '--name', $o{name} // $o{role},
        $o{branches} ? ('--branch', join(',', @{ $o{branches} })) : ());
    return { id => $kv->{OMNI_MEMBER_ID}, token => $kv->{OMNI_TOKEN} };
}

sub branch {
    my ($self, %o) = @_;
    return $self->admin('branch', 'create', '--tenant', $o{tenant},
        '--name', $o{name})->{OMNI_BRANCH_ID};
}

# poll a condition (an event we can observe) with a deadline
sub wait_until {
    my ($self, $cond, $timeout, $what) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        my $ok = eval { $cond->() };
        return 1 if $ok;
        sleep 0.02;
    }
    fail("timed out after ${timeout}s: $what");
    return 0;
}

sub error_log {
    my ($self, $name) = @_;
    open my $fh, '<', "$self->{dir}/" . ($name // 'error.log') or return '';
    local $/;
    return <$fh> // '';
}

sub stop {
    my ($self) = @_;
    return if $self->{stopped}++;
    if (my $pid = $self->master_pid) {
        kill 'QUIT', $pid;
        my $deadline = time + 15;
        sleep 0.02 while kill(0, $pid) && time < $deadline;
        kill 'KILL', $pid if kill 0, $pid;
    }
    my $log = $self->error_log;
    # a worker's sanitizer report lands here when it can't write its file
    my @bad = grep { /\[(alert|emerg)\]|exited on signal|segfault|AddressSanitizer/ }
        split /\n/, $log;
    @bad = grep { !/exited on signal 9/ } @bad if $self->{crash_ok};
    @bad = grep { !/schema is at version|spool/ } @bad;
    # reported after done_testing: a failing exit status fails the file
    if (@bad) {
        diag("alerts or crashes in the error log:\n" . join "\n", @bad);
        $self->{failed} = 1;
    }
    if ($ENV{OMNI_ASAN}) {
        my @asan = glob "$self->{dir}/asan*";
        if (@asan) {
            diag("AddressSanitizer:\n" . `cat @asan`);
            $self->{failed} = 1;
        }
    }
    $self->{dbh}->disconnect if $self->{dbh};
    delete $self->{dbh};
    $self->stop_pg if $self->{pg_owner};
}

END {
    my $status = $?;
    my $failed = 0;
    for (reverse @instances) {
        $_->stop;
        $failed ||= $_->{failed};
    }
    @instances = ();
    $? = $failed && !$status ? 250 : $status;
}

1;
