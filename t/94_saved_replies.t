#!/usr/bin/perl
# Saved replies: the seed's table of rights through the API (every role x
# kind x permission type, shared roles and branches, edit and delete of
# own and others' replies, an edit judged as a create), each permission
# type's visibility, ?q=, ?channel= / ?conversation_id= (file items, bot
# module channels, media over a channel's limit), references checked,
# cursors, tenants apart, and the cached list: fresh at once on the host
# that took a change, within 1 s on another.
#
# Media rows and bot modules come from SQL fixtures: their own APIs are
# separate capabilities.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Omni::Test;
use Time::HiRes qw(time);

my $t = Omni::Test->new(workers => 2);
my $ta = $t->tenant(name => 'A', plan => [qw(cs omo)]);
my $tb = $t->tenant(name => 'B', plan => [qw(cs)]);
my $tsf = $t->tenant(name => 'SF', plan => [qw(salesforce)]);
my $dbh = $t->dbh;
my $api = '/omni/api/v1/saved-replies';

my $b1 = 0 + $t->branch(tenant => $ta->{id}, name => 'Central');
my $b2 = 0 + $t->branch(tenant => $ta->{id}, name => 'Mong Kok');
my $b3 = 0 + $t->branch(tenant => $ta->{id}, name => 'Causeway');

my @roles = qw(admin supervisor cs_manager cs_agent sales_manager
               sales_agent marketer marketing_cs);
my %m;
for my $role (@roles) {
    $m{$role} = $t->member(tenant => $ta->{id}, role => $role,
        $role =~ /^sales/ ? (branches => [$b1, $b2]) : ());
    $m{$role}{id} += 0;
}

# SPEC §2, the seed's table, written out
my %spec = (
    admin => [[qw(custom bot)], [qw(all_members only_me roles branches)],
              [@roles], 'any', 'all', 'all'],
    supervisor => [[qw(custom bot)], [qw(all_members only_me roles)],
              [qw(supervisor cs_manager cs_agent sales_manager sales_agent
                  marketer)], '', 'own', 'own'],
    cs_manager => [[qw(custom bot)], [qw(only_me roles)],
              [qw(cs_manager cs_agent)], '', 'own', 'own'],
    cs_agent => [[qw(custom)], [qw(only_me roles)], [qw(cs_agent)], '',
              'own', 'own'],
    sales_manager => [[qw(custom)], [qw(only_me branches)], [], 'bound',
              'own', 'own'],
    sales_agent => [[qw(custom)], [qw(only_me branches)], [], 'bound',
              'own', 'own'],
    marketer => [[qw(custom bot)], [qw(all_members roles)],
              [grep { $_ ne 'marketing_cs' } @roles], '', 'own', ''],
    marketing_cs => [[qw(custom bot)],
              [qw(all_members only_me roles branches)], [@roles], 'any',
              'all', 'all'],
);

sub in { my ($x, $l) = @_; scalar grep { $_ eq $x } @$l }

# fixtures: media rows and bot modules as their capabilities store them
my $n = 0;
sub media {
    my ($tenant, $kind, $size) = @_;
    $n++;
    return $dbh->selectrow_array(q{INSERT INTO media (tenant_id, kind, mime,
        size, original_size, sha256) VALUES (?, ?, ?, ?, ?,
        sha256(convert_to(?, 'UTF8'))) RETURNING id}, undef, $tenant, $kind,
        { image => 'image/png', video => 'video/mp4',
          file => 'application/pdf' }->{$kind}, $size, $size, "media $n");
}
sub bot {
    my ($tenant, $type, @channels) = @_;
    return $dbh->selectrow_array(q{INSERT INTO bot_modules (tenant_id, name,
        type, channels, content) VALUES (?, ?, ?, ?, '{}') RETURNING id},
        undef, $tenant, "bot $type", $type, \@channels);
}
my $MB = 1048576;

my $bot = bot($ta->{id}, 'text_buttons', qw(whatsapp line));

sub body {
    my (%o) = @_;
    my $kind = $o{kind} // 'custom';
    my %perm = (type => $o{perm} // 'all_members');
    $perm{roles} = $o{roles} if $o{roles};
    $perm{branch_ids} = $o{branch_ids} if $o{branch_ids};
    return { title => $o{title} // 'Reply', kind => $kind,
             $o{shortcut} ? (shortcut => $o{shortcut}) : (),
             $kind eq 'bot' ? (bot_module_id => $o{bot} // $bot)
                            : (items => $o{items}
                                        // [{ type => 'text', text => 'Hi' }]),
             permission => \%perm };
}

sub create {
    my ($who, %o) = @_;
    return $t->post($api, { token => $who->{token}, body => body(%o) });
}

sub titles {
    my ($who, $query) = @_;
    my $res = $t->get($api . ($query // '?per_page=100'),
                      { token => $who->{token} });
    die "list: $res->{status} $res->{content}" unless $res->{status} == 200;
    return join ',', sort map { $_->{title} } @{ $res->{json}{items} };
}

sub error_is {
    my ($res, $status, $code, $name) = @_;
    is $res->{status}, $status, "$name: $status"
        or diag $res->{content};
    is $res->{json}{error}{code}, $code, "$name: $code" if $code;
}

subtest 'every role x kind x permission type, as the seed says' => sub {
    for my $role (@roles) {
        my ($kinds, $perms, $may_roles) = @{ $spec{$role} };
        for my $kind (qw(custom bot)) {
            for my $perm (qw(all_members only_me roles branches)) {
                my $share = in($role, $may_roles) ? $role : 'cs_agent';
                my $res = create($m{$role}, kind => $kind, perm => $perm,
                    title => "$role $kind $perm",
                    $perm eq 'roles' ? (roles => [$share]) : (),
                    $perm eq 'branches' ? (branch_ids => [$b1]) : ());
                my $ok = in($kind, $kinds) && in($perm, $perms)
                    && ($perm ne 'roles' || in($share, $may_roles));
                is $res->{status}, $ok ? 201 : 403,
                    "$role creates a $kind reply for $perm: "
                    . ($ok ? 'allowed' : 'refused')
                    or diag $res->{content};
                like $res->{json}{error}{message}, qr/\Q$role\E/,
                    "$role: the refusal names the role" unless $ok;
            }
        }
    }
};

subtest 'which roles each role may share with' => sub {
    for my $role (grep { in('roles', $spec{$_}[1]) } @roles) {
        for my $with (@roles) {
            my $res = create($m{$role}, perm => 'roles', roles => [$with],
                             title => "$role for $with");
            my $ok = in($with, $spec{$role}[2]);
            is $res->{status}, $ok ? 201 : 403,
                "$role shares with $with: " . ($ok ? 'allowed' : 'refused');
            is $res->{json}{error}{code}, 'role_not_allowed',
                "$role with $with: role_not_allowed" unless $ok;
        }
    }
};

subtest 'sales roles share only with their bound branches' => sub {
    for my $role (qw(sales_manager sales_agent)) {
        is create($m{$role}, perm => 'branches', branch_ids => [$b1, $b2],
                  title => "$role both")->{status}, 201,
            "$role shares with both bound branches";
        error_is create($m{$role}, perm => 'branches',
                        branch_ids => [$b1, $b3]),
            403, 'branch_not_allowed', "$role with an unbound branch";
    }
    for my $role (qw(admin marketing_cs)) {
        is create($m{$role}, perm => 'branches', branch_ids => [$b3],
                  title => "$role b3")->{status}, 201,
            "$role shares with any branch";
    }
    error_is create($m{admin}, perm => 'branches', branch_ids => [999999]),
        422, 'branch_not_found', 'an unknown branch';
};

subtest 'edit and delete: own, others, marketer never deletes' => sub {
    for my $role (@roles) {
        my (undef, undef, undef, undef, $edit, $del) = @{ $spec{$role} };
        my $perm = in('only_me', $spec{$role}[1]) ? 'only_me' : 'all_members';
        my $own = create($m{$role}, perm => $perm,
                         title => "own of $role")->{json}{id};
        my $res = $t->patch("$api/$own", { token => $m{$role}{token},
                            body => { title => "own of $role, edited" } });
        is $res->{status}, 200, "$role edits its own reply";
        is $res->{json}{title}, "own of $role, edited", "$role: edited";

        # another's reply that this role sees (shared with everyone)
        my $other = create($m{admin}, title => "admin's for $role")
            ->{json}{id};
        $res = $t->patch("$api/$other", { token => $m{$role}{token},
                         body => { title => 'taken over' } });
        if ($edit eq 'all') {
            is $res->{status}, 200, "$role edits another's reply";
        } else {
            error_is $res, 403, 'not_reply_owner',
                "$role edits another's reply";
        }

        $res = $t->delete("$api/$other", { token => $m{$role}{token} });
        if ($del eq 'all') {
            is $res->{status}, 200, "$role deletes another's reply";
        } else {
            error_is $res, 403, $del ? 'not_reply_owner'
                                     : 'delete_not_allowed',
                "$role deletes another's reply";
        }

        $res = $t->delete("$api/$own", { token => $m{$role}{token} });
        if ($del) {
            is $res->{status}, 200, "$role deletes its own reply";
            is $t->get("$api/$own", { token => $m{admin}{token} })
                ->{status}, 404, "$role: gone";
        } else {
            error_is $res, 403, 'delete_not_allowed',
                'marketer cannot delete';
        }
    }
};

subtest 'an edit is judged as a create' => sub {
    my $id = create($m{cs_agent}, perm => 'only_me', title => 'agent own')
        ->{json}{id};
    error_is $t->patch("$api/$id", { token => $m{cs_agent}{token},
        body => { kind => 'bot', bot_module_id => $bot } }),
        403, 'kind_not_allowed', 'a cs_agent cannot make it a bot reply';
    error_is $t->patch("$api/$id", { token => $m{cs_agent}{token},
        body => { permission => { type => 'all_members' } } }),
        403, 'permission_not_allowed', 'a cs_agent cannot widen it';
    error_is $t->patch("$api/$id", { token => $m{cs_agent}{token},
        body => { permission => { type => 'roles',
                                  roles => [qw(cs_agent cs_manager)] } } }),
        403, 'role_not_allowed', 'nor share it with cs_manager';
    my $res = $t->patch("$api/$id", { token => $m{cs_agent}{token},
        body => { permission => { type => 'roles', roles => ['cs_agent'] } } });
    is $res->{status}, 200, 'but shares it with cs_agents';
    is_deeply $res->{json}{permission},
        { type => 'roles', roles => ['cs_agent'], branch_ids => [] },
        'the permission as stored';

    # marketing_cs edits it into a bot reply: the items go
    $res = $t->patch("$api/$id", { token => $m{marketing_cs}{token},
        body => { kind => 'bot', bot_module_id => $bot } });
    is $res->{status}, 200, 'marketing_cs turns it into a bot reply';
    is_deeply [$res->{json}{items}, $res->{json}{kind}], [[], 'bot'],
        'a bot reply has no items';
    is $res->{json}{owner_member_id}, $m{cs_agent}{id}, 'the owner stays';
};

subtest 'each permission type: who sees and uses it' => sub {
    $dbh->do('DELETE FROM saved_replies WHERE tenant_id = ?', undef,
             $ta->{id});
    my $agent2 = $t->member(tenant => $ta->{id}, role => 'cs_agent');
    my $sales3 = $t->member(tenant => $ta->{id}, role => 'sales_agent',
                            branches => [$b3]);
    create($m{admin}, title => 'everyone');
    create($m{cs_agent}, perm => 'only_me', title => 'agent private');
    create($m{admin}, perm => 'only_me', title => 'admin private');
    create($m{cs_manager}, perm => 'roles', roles => ['cs_agent'],
           title => 'for agents');
    create($m{sales_manager}, perm => 'branches', branch_ids => [$b1],
           title => 'central');
    create($m{marketer}, kind => 'bot', title => 'marketing bot');

    is titles($m{cs_agent}),
        'agent private,everyone,for agents,marketing bot',
        'a cs_agent: everyone, its own, its role, a shared bot reply';
    is titles($agent2), 'everyone,for agents,marketing bot',
        'another cs_agent: not the first one\'s private reply';
    is titles($m{cs_manager}), 'everyone,for agents,marketing bot',
        'the owner of a roles reply sees it though the role is not theirs';
    is titles($m{sales_agent}), 'central,everyone,marketing bot',
        'a sales_agent bound to Central sees the Central reply';
    is titles($sales3), 'everyone,marketing bot',
        'a sales_agent of another branch does not';
    is titles($m{supervisor}), 'everyone,marketing bot',
        'a supervisor: only what includes them';
    is titles($m{admin}),
        'admin private,agent private,central,everyone,for agents,'
        . 'marketing bot', 'admin manages, so lists, every reply';
    is titles($m{admin}, '?channel=whatsapp'),
        'admin private,everyone,marketing bot',
        'but the replies offered on a channel are those they use';

    my ($private) = map { $_->{id} } grep { $_->{title} eq 'agent private' }
        @{ $t->get($api, { token => $m{cs_agent}{token} })->{json}{items} };
    is $t->get("$api/$private", { token => $agent2->{token} })->{status},
        404, "another's private reply is not there";
    is $t->get("$api/$private", { token => $m{marketing_cs}{token} })
        ->{status}, 200, 'marketing_cs reads it (manages it)';
    error_is $t->delete("$api/$private", { token => $agent2->{token} }),
        404, 'not_found', 'nor can another agent delete it';
};

subtest '?q= a prefix of the title or the shortcut, any case' => sub {
    create($m{admin}, title => 'Opening hours', shortcut => 'hours');
    create($m{admin}, title => 'Refund policy', shortcut => 'OPEN-refund');
    is titles($m{cs_agent}, '?q=open'), 'Opening hours,Refund policy',
        'title or shortcut, case-insensitive';
    is titles($m{cs_agent}, '?q=REF'), 'Refund policy', 'title prefix';
    is titles($m{cs_agent}, '?q=policy'), '', 'a prefix, not a substring';
    is titles($m{cs_agent}, '?q=%25'), '', 'a % is a character, no pattern';
    error_is $t->get("$api?q=" . ('x' x 65), { token => $m{cs_agent}{token} }),
        400, 'invalid_parameter', 'a q too long';
};

subtest 'where a reply can go: files, bot channels, media limits' => sub {
    $dbh->do('DELETE FROM saved_replies WHERE tenant_id = ?', undef,
             $ta->{id});
    my %reply = (
        'text'      => [{ type => 'text', text => 'hi' }],
        'file'      => [{ type => 'file', media_id => media($ta->{id}, 'file', 1 * $MB) }],
        'image 4MB' => [{ type => 'image', media_id => media($ta->{id}, 'image', 4 * $MB) }],
        'image 6MB' => [{ type => 'image', media_id => media($ta->{id}, 'image', 6 * $MB) }],
        'image 9MB' => [{ type => 'image', media_id => media($ta->{id}, 'image', 9 * $MB) }],
        'image 11MB' => [{ type => 'image', media_id => media($ta->{id}, 'image', 11 * $MB) }],
        'video 10MB' => [{ type => 'video', media_id => media($ta->{id}, 'video', 10 * $MB) }],
        'video 20MB' => [{ type => 'video', media_id => media($ta->{id}, 'video', 20 * $MB) }],
    );
    my %usable = (
        'text'       => 'whatsapp,messenger,instagram,line',
        'file'       => 'whatsapp,messenger',
        'image 4MB'  => 'whatsapp,messenger,instagram,line',
        'image 6MB'  => 'messenger,instagram,line',
        'image 9MB'  => 'messenger,line',
        'image 11MB' => 'messenger',
        'video 10MB' => 'whatsapp,messenger,instagram,line',
        'video 20MB' => 'messenger,instagram,line',
        'bot wa+line' => 'whatsapp,line',
    );
    for my $title (sort keys %reply) {
        my $res = create($m{admin}, title => $title, items => $reply{$title});
        is join(',', @{ $res->{json}{usable_on} // [] }), $usable{$title},
            "$title: usable on $usable{$title}" or diag $res->{content};
    }
    my $res = create($m{admin}, kind => 'bot', title => 'bot wa+line');
    is join(',', @{ $res->{json}{usable_on} }), $usable{'bot wa+line'},
        'a bot reply: its module\'s channels';

    for my $ch (qw(whatsapp messenger instagram line)) {
        my $want = join ',', sort grep { in($ch, [split /,/, $usable{$_}]) }
            keys %usable;
        is titles($m{cs_agent}, "?channel=$ch"), $want,
            "?channel=$ch lists only what goes there";
    }
    is titles($m{cs_agent}, '?channel=webchat'), '',
        'nothing is offered on webchat';

    # a conversation on LINE
    my $line = $t->post('/omni/api/v1/channels', { token => $ta->{admin_token},
        body => { type => 'line', name => 'LINE', credentials => {
            channel_secret => 's', channel_access_token => 't' } } })
        ->{json}{id};
    my $cust = $dbh->selectrow_array('INSERT INTO customers (tenant_id, name)
        VALUES (?, ?) RETURNING id', undef, $ta->{id}, 'Shopper');
    my $conv = $dbh->selectrow_array('INSERT INTO conversations (tenant_id,
        customer_id, channel_id) VALUES (?, ?, ?) RETURNING id', undef,
        $ta->{id}, $cust, $line);
    is titles($m{cs_agent}, "?conversation_id=$conv"),
        titles($m{cs_agent}, '?channel=line'),
        'a LINE conversation is offered what goes on LINE: no file reply';
    unlike titles($m{cs_agent}, "?conversation_id=$conv"), qr/file/,
        'file reply refused on LINE';
    error_is $t->get("$api?conversation_id=999999",
                     { token => $m{cs_agent}{token} }),
        404, 'not_found', 'an unknown conversation';
    error_is $t->get("$api?conversation_id=$conv",
                     { token => $tb->{admin_token} }),
        404, 'not_found', "another tenant's conversation";
    error_is $t->get("$api?channel=fax", { token => $m{cs_agent}{token} }),
        400, 'invalid_parameter', 'an unknown channel type';

    # the bot module's channels change: usable_on follows, the list too
    $dbh->do(q{UPDATE bot_modules SET channels = '{messenger}' WHERE id = ?},
             undef, $bot);
    $t->wait_until(sub {
        titles($m{cs_agent}, '?channel=messenger') =~ /bot wa\+line/
    }, 1, 'a bot module on Messenger now: its reply is offered there');
    unlike titles($m{cs_agent}, '?channel=whatsapp'), qr/bot/,
        'and no more on WhatsApp';
};

subtest 'references: media, bot modules, their kinds and tenants' => sub {
    my $img = media($ta->{id}, 'image', 1000);
    error_is create($m{admin}, items => [{ type => 'video', media_id => $img }]),
        422, 'media_kind_mismatch', 'an image given as a video';
    error_is create($m{admin}, items => [{ type => 'image', media_id => 999999 }]),
        422, 'media_not_found', 'no such media';
    my $theirs = media($tb->{id}, 'image', 1000);
    error_is create($m{admin}, items => [{ type => 'image', media_id => $theirs }]),
        422, 'media_not_found', "another tenant's media";
    for my $type (qw(cart_remarketing coupon_card wa_keyword_auto_assign)) {
        error_is create($m{admin}, kind => 'bot',
                        bot => bot($ta->{id}, $type, 'whatsapp')),
            422, 'bot_module_not_allowed', "a $type bot module is never a reply";
    }
    error_is create($m{admin}, kind => 'bot', bot => 999999),
        422, 'bot_module_not_found', 'no such bot module';
    error_is create($m{admin}, kind => 'bot',
                    bot => bot($tb->{id}, 'quick_replies', 'line')),
        422, 'bot_module_not_found', "another tenant's bot module";
    error_is $t->post($api, { token => $m{admin}{token}, body => {
            %{ body(kind => 'bot') },
            items => [{ type => 'file', media_id => $img }] } }),
        422, 'items_not_allowed', 'a file needs a custom reply';
    error_is $t->post($api, { token => $m{admin}{token}, body => {
            %{ body() }, bot_module_id => $bot } }),
        422, 'bot_module_not_allowed', 'a custom reply has no bot module';
};

subtest 'bad bodies' => sub {
    my $tok = { token => $m{admin}{token} };
    error_is $t->post($api, { %$tok, body => { %{ body() }, colour => 1 } }),
        400, 'unknown_field', 'an unknown field';
    error_is $t->post($api, { %$tok, body => { %{ body() }, kind => 'x' } }),
        400, 'invalid_field', 'an unknown kind';
    error_is $t->post($api, { %$tok, body => body(perm => 'roles') }),
        422, 'invalid_permission', 'roles without a role';
    error_is $t->post($api, { %$tok, body => body(perm => 'everyone') }),
        400, 'invalid_field', 'an unknown permission type';
    error_is $t->post($api, { %$tok, body => body(perm => 'roles',
                                                  roles => ['boss']) }),
        400, 'invalid_field', 'an unknown role';
    error_is $t->post($api, { %$tok, body => body(
            items => [{ type => 'text', text => 'x', media_id => 1 }]) }),
        400, 'unknown_field', 'a text item with a media id';
    error_is $t->post($api, { %$tok, body => body(items => [{ type => 'gif' }]) }),
        400, 'invalid_item', 'an unknown item type';
    error_is $t->post($api, { %$tok, body => body(items => []) }),
        400, 'invalid_field', 'no items';
    error_is $t->post($api, { token => $tsf->{admin_token}, body => body() }),
        403, 'feature_not_in_plan', 'a plan without customer service';
};

subtest 'cursors' => sub {
    $dbh->do('DELETE FROM saved_replies WHERE tenant_id = ?', undef,
             $ta->{id});
    create($m{admin}, title => "page $_") for 1 .. 7;
    my ($cursor, @seen, $pages) = ('');
    do {
        my $res = $t->get("$api?per_page=3$cursor",
                          { token => $m{cs_agent}{token} });
        is $res->{status}, 200, 'a page';
        push @seen, map { $_->{title} } @{ $res->{json}{items} };
        $cursor = defined $res->{json}{next_cursor}
            ? "&cursor=$res->{json}{next_cursor}" : undef;
        $pages++;
    } while (defined $cursor && $pages < 5);
    is $pages, 3, 'three pages of 3, 3 and 1';
    is_deeply \@seen, [map { "page $_" } 1 .. 7], 'each reply once, in order';
    is scalar @{ $t->get($api, { token => $m{cs_agent}{token} })
                 ->{json}{items} }, 7, 'the first page holds up to 50';
    error_is $t->get("$api?per_page=101", { token => $m{cs_agent}{token} }),
        400, 'invalid_parameter', 'per_page over 100';
    error_is $t->get("$api?cursor=x", { token => $m{cs_agent}{token} }),
        400, 'invalid_cursor', 'a cursor not given out';
};

subtest 'tenants apart' => sub {
    my $id = create($m{admin}, title => 'A only')->{json}{id};
    is $t->get("$api/$id", { token => $tb->{admin_token} })->{status}, 404,
        "B does not read A's reply";
    error_is $t->patch("$api/$id", { token => $tb->{admin_token},
                                     body => { title => 'B' } }),
        404, 'not_found', "B does not edit it";
    error_is $t->delete("$api/$id", { token => $tb->{admin_token} }),
        404, 'not_found', "B does not delete it";
    unlike titles({ token => $tb->{admin_token} }), qr/A only/,
        "B's list does not hold it";
};

subtest 'the cached list: fresh on this host at once, on another in 1 s' => sub {
    my $t2 = $t->start_second_nginx;
    my $agent = $t->member(tenant => $ta->{id}, role => 'cs_agent');
    my $id = create($m{cs_manager}, perm => 'roles', roles => ['cs_manager'],
                    title => 'managers only')->{json}{id};

    my $before = $t2->metric('omni_cache_kind_hits_total', 'reply_page');
    titles($agent) for 1 .. 3;
    my $list2 = sub { join ',', sort map { $_->{title} }
        @{ $t2->get("$api?per_page=100", { token => $agent->{token} })
           ->{json}{items} } };
    $list2->() for 1 .. 3;
    cmp_ok $t2->metric('omni_cache_kind_hits_total', 'reply_page'), '>',
        $before, 'the second host answers from its cache';
    unlike $list2->(), qr/managers only/, 'not shared with cs_agents';

    # a write through this host: this host's next list has it
    my $res = $t->patch("$api/$id", { token => $m{cs_manager}{token},
        body => { permission => { type => 'roles',
                                  roles => [qw(cs_manager cs_agent)] } } });
    is $res->{status}, 200, 'shared with cs_agents now';
    like titles($agent), qr/managers only/,
        'the host that took the change lists it at once';
    my $t0 = time;
    $t->wait_until(sub { $list2->() =~ /managers only/ }, 1,
                   'the other host within 1 s');
    note sprintf 'other host after %.3f s', time - $t0;

    # a role change, in the database: both hosts follow within 1 s
    $dbh->do(q{UPDATE members SET role = 'supervisor' WHERE id = ?}, undef,
             $agent->{id});
    $t0 = time;
    $t->wait_until(sub { $list2->() !~ /managers only/ }, 1,
                   'a role change is seen by the list within 1 s');
    note sprintf 'role change seen after %.3f s', time - $t0;
    unlike titles($agent), qr/managers only/, 'on this host too';
    $t2->stop;
};

done_testing;
