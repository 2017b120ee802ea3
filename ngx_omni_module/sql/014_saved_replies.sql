-- 014: saved replies (SPEC §2, §7).  Who may give what is judged in C
-- (core/omni_reply_rules, the seed's table); here: references, where a
-- reply can be sent (usable_on), who sees it, lists and writes.

-- The largest media item (bytes) a channel type takes, by kind; NULL: the
-- channel does not take that kind.  WhatsApp Cloud API: image 5 MB, video
-- 16 MB, document 100 MB; Instagram: image 8 MB, video 25 MB, no files;
-- LINE: image 10 MB, video 200 MB, no files; Messenger: 25 MB for any
-- attachment.  MB = 2^20 bytes, as the channels count them.
CREATE FUNCTION omni_media_limit(p_channel text, p_kind text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT (CASE p_channel || ':' || p_kind
                WHEN 'whatsapp:image'  THEN 5
                WHEN 'whatsapp:video'  THEN 16
                WHEN 'whatsapp:file'   THEN 100
                WHEN 'messenger:image' THEN 25
                WHEN 'messenger:video' THEN 25
                WHEN 'messenger:file'  THEN 25
                WHEN 'instagram:image' THEN 8
                WHEN 'instagram:video' THEN 25
                WHEN 'line:image'      THEN 10
                WHEN 'line:video'      THEN 200
            END)::bigint * 1048576
$$;


-- The channel types a reply can be sent on.  A bot reply: the module's
-- channels among the four that render bot modules.  A custom reply: the
-- channels that take every media item of it at its stored size (a media
-- row gone, or of another kind, is usable nowhere).
CREATE FUNCTION omni_saved_reply_usable_on(p_tenant bigint, p_kind text,
    p_items jsonb, p_bot bigint) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT ARRAY(
        SELECT c.type
          FROM unnest(ARRAY['whatsapp', 'messenger', 'instagram', 'line'])
               WITH ORDINALITY AS c(type, n)
         WHERE CASE WHEN p_kind = 'bot' THEN
                   EXISTS (SELECT 1 FROM bot_modules b
                            WHERE b.tenant_id = p_tenant AND b.id = p_bot
                              AND c.type = ANY (b.channels))
               ELSE
                   NOT EXISTS (
                       SELECT 1
                         FROM jsonb_array_elements(p_items) it
                         LEFT JOIN media m
                                ON m.tenant_id = p_tenant
                               AND m.id = (it->>'media_id')::bigint
                        WHERE it->>'type' <> 'text'
                          AND coalesce(m.kind <> it->>'type'
                                       OR m.size
                                          > omni_media_limit(c.type, m.kind),
                                       true))
               END
         ORDER BY c.n)
$$;


-- A reply as the API answers it.
CREATE FUNCTION omni_saved_reply_json(r saved_replies) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', r.id,
        'title', r.title,
        'shortcut', r.shortcut,
        'kind', r.kind,
        'items', r.items,
        'bot_module_id', r.bot_module_id,
        'permission', json_build_object(
            'type', r.permission_type,
            'roles', r.permission_roles,
            'branch_ids', r.permission_branch_ids),
        'owner_member_id', r.owner_member_id,
        'usable_on', r.usable_on,
        'created_at', r.created_at,
        'updated_at', r.updated_at)
$$;


-- Whether a member sees and uses a reply: its owner always; else by its
-- permission type (roles: the member's role named; branches: the member
-- bound to one of them).
CREATE FUNCTION omni_saved_reply_sees(r saved_replies, p_member bigint,
    p_role text, p_branches bigint[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT r.owner_member_id = p_member
        OR r.permission_type = 'all_members'
        OR (r.permission_type = 'roles'
            AND p_role = ANY (r.permission_roles))
        OR (r.permission_type = 'branches'
            AND r.permission_branch_ids && p_branches)
$$;


-- The member's role and bound branches, as the database has them now.
CREATE FUNCTION omni_saved_reply_member(p_tenant bigint, p_member bigint,
    OUT role text, OUT branch_ids bigint[])
LANGUAGE sql STABLE AS $$
    SELECT m.role,
           coalesce((SELECT array_agg(mb.branch_id)
                       FROM member_branches mb
                      WHERE mb.tenant_id = m.tenant_id
                        AND mb.member_id = m.id), '{}')
      FROM members m
     WHERE m.tenant_id = p_tenant AND m.id = p_member
       AND m.deleted_at IS NULL
$$;


-- The list: what the member uses (and, with p_manage_all and no channel
-- or conversation, every reply of the tenant, which such a member
-- manages); ?channel= / ?conversation_id= keep the replies usable there;
-- ?q= a prefix of the title or the shortcut, any case; by id, paged.
CREATE FUNCTION omni_saved_reply_list(p_tenant bigint, p_member bigint,
    p_manage_all boolean, p_channel text, p_conversation bigint, p_q text,
    p_cursor bigint, p_per_page int) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    me record;
    ch text := p_channel;
    q text := lower(p_q);
    filtered boolean;
BEGIN
    SELECT * INTO me FROM omni_saved_reply_member(p_tenant, p_member);

    IF p_conversation IS NOT NULL THEN
        SELECT c.type INTO ch
          FROM conversations v
          JOIN channels c ON c.tenant_id = v.tenant_id
                         AND c.id = v.channel_id
         WHERE v.tenant_id = p_tenant AND v.id = p_conversation;
        IF NOT FOUND THEN
            PERFORM omni_raise(404, 'not_found',
                format('Conversation %s does not exist', p_conversation));
        END IF;
        IF p_channel IS NOT NULL AND p_channel <> ch THEN
            PERFORM omni_raise(400, 'invalid_parameter', format(
                'Conversation %s is on %s, not %s', p_conversation, ch,
                p_channel));
        END IF;
    END IF;

    filtered := ch IS NOT NULL;

    RETURN (
        WITH page AS (
            SELECT r.id, omni_saved_reply_json(r) AS item
              FROM saved_replies r
             WHERE r.tenant_id = p_tenant
               AND r.id > coalesce(p_cursor, 0)
               AND ((p_manage_all AND NOT filtered)
                    OR omni_saved_reply_sees(r, p_member, me.role,
                                             me.branch_ids))
               AND (NOT filtered OR ch = ANY (r.usable_on))
               AND (q IS NULL
                    OR starts_with(lower(r.title), q)
                    OR starts_with(lower(r.shortcut), q))
             ORDER BY r.id
             LIMIT p_per_page + 1)
        SELECT omni_page(array_agg(item ORDER BY id), p_per_page,
                         (array_agg(id ORDER BY id))[p_per_page])
          FROM page);
END;
$$;


-- One reply, for a member who sees it or manages every reply; NULL else
-- (an answer of 404: another's private reply is not there for them).
CREATE FUNCTION omni_saved_reply_get(p_tenant bigint, p_member bigint,
    p_manage_all boolean, p_id bigint) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT omni_saved_reply_json(r)
      FROM saved_replies r,
           omni_saved_reply_member(p_tenant, p_member) me
     WHERE r.tenant_id = p_tenant AND r.id = p_id
       AND (p_manage_all
            OR omni_saved_reply_sees(r, p_member, me.role, me.branch_ids))
$$;


-- What a write names must exist in the tenant, and a bot module must be
-- one that can be a saved reply; returns usable_on.  p_body is the whole
-- reply (an edit merged in C), its shape and rights already checked.
CREATE FUNCTION omni_saved_reply_check(p_tenant bigint, p_body jsonb)
RETURNS text[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    bot bigint := (p_body->>'bot_module_id')::bigint;
    btype text;
    it jsonb;
    n int := 0;
    mkind text;
    missing bigint;
BEGIN
    IF p_body->>'kind' = 'bot' THEN
        SELECT type INTO btype FROM bot_modules
         WHERE tenant_id = p_tenant AND id = bot;
        IF NOT FOUND THEN
            PERFORM omni_raise(422, 'bot_module_not_found',
                format('Bot module %s does not exist', bot));
        END IF;
        IF btype IN ('cart_remarketing', 'coupon_card',
                     'wa_keyword_auto_assign') THEN
            PERFORM omni_raise(422, 'bot_module_not_allowed', format(
                'A %s bot module can never be a saved reply', btype));
        END IF;
    END IF;

    FOR it IN SELECT * FROM jsonb_array_elements(p_body->'items') LOOP
        n := n + 1;
        CONTINUE WHEN it->>'type' = 'text';
        SELECT kind INTO mkind FROM media
         WHERE tenant_id = p_tenant AND id = (it->>'media_id')::bigint;
        IF NOT FOUND THEN
            PERFORM omni_raise(422, 'media_not_found', format(
                'Item %s: media %s does not exist', n, it->>'media_id'));
        END IF;
        IF mkind <> it->>'type' THEN
            PERFORM omni_raise(422, 'media_kind_mismatch', format(
                'Item %s: media %s is a %s, not a %s', n, it->>'media_id',
                mkind, it->>'type'));
        END IF;
    END LOOP;

    SELECT b.id INTO missing
      FROM jsonb_array_elements_text(
               coalesce(p_body#>'{permission,branch_ids}', '[]')) b(id)
     WHERE NOT EXISTS (SELECT 1 FROM branches x
                        WHERE x.tenant_id = p_tenant
                          AND x.id = b.id::bigint)
     LIMIT 1;
    IF FOUND THEN
        PERFORM omni_raise(422, 'branch_not_found',
            format('Branch %s does not exist', missing));
    END IF;

    RETURN omni_saved_reply_usable_on(p_tenant, p_body->>'kind',
                                      coalesce(p_body->'items', '[]'), bot);
END;
$$;


-- Why a write found nothing: the reply is gone (404), or another write
-- changed it after this one read it (409: read it again).
CREATE FUNCTION omni_saved_reply_gone(p_tenant bigint, p_id bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM saved_replies WHERE tenant_id = p_tenant AND id = p_id;
    IF FOUND THEN
        PERFORM omni_raise(409, 'edit_conflict', format(
            'Saved reply %s changed meanwhile; read it and try again',
            p_id));
    END IF;
    PERFORM omni_raise(404, 'not_found',
        format('Saved reply %s does not exist', p_id));
END;
$$;


CREATE FUNCTION omni_saved_reply_create(p_tenant bigint, p_member bigint,
    p_body jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    usable text[] := omni_saved_reply_check(p_tenant, p_body);
    r saved_replies;
BEGIN
    INSERT INTO saved_replies (tenant_id, owner_member_id, title, shortcut,
        kind, items, bot_module_id, permission_type, permission_roles,
        permission_branch_ids, usable_on)
    VALUES (p_tenant, p_member, p_body->>'title', p_body->>'shortcut',
        p_body->>'kind', coalesce(p_body->'items', '[]'),
        (p_body->>'bot_module_id')::bigint,
        p_body#>>'{permission,type}',
        ARRAY(SELECT jsonb_array_elements_text(
                  coalesce(p_body#>'{permission,roles}', '[]'))),
        ARRAY(SELECT jsonb_array_elements_text(
                  coalesce(p_body#>'{permission,branch_ids}', '[]'))
              ::bigint),
        usable)
    RETURNING * INTO r;

    RETURN omni_saved_reply_json(r);
END;
$$;


-- An edit, whole (merged in C from the reply read at p_seen): a reply
-- changed since is a conflict, not a silent overwrite of that change.
CREATE FUNCTION omni_saved_reply_update(p_tenant bigint, p_id bigint,
    p_body jsonb, p_seen timestamptz) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    usable text[] := omni_saved_reply_check(p_tenant, p_body);
    r saved_replies;
BEGIN
    UPDATE saved_replies SET
        title = p_body->>'title',
        shortcut = p_body->>'shortcut',
        kind = p_body->>'kind',
        items = coalesce(p_body->'items', '[]'),
        bot_module_id = (p_body->>'bot_module_id')::bigint,
        permission_type = p_body#>>'{permission,type}',
        permission_roles = ARRAY(SELECT jsonb_array_elements_text(
            coalesce(p_body#>'{permission,roles}', '[]'))),
        permission_branch_ids = ARRAY(SELECT jsonb_array_elements_text(
            coalesce(p_body#>'{permission,branch_ids}', '[]'))::bigint),
        usable_on = usable,
        updated_at = clock_timestamp()
     WHERE tenant_id = p_tenant AND id = p_id AND updated_at = p_seen
    RETURNING * INTO r;

    IF NOT FOUND THEN
        PERFORM omni_saved_reply_gone(p_tenant, p_id);
    END IF;

    RETURN omni_saved_reply_json(r);
END;
$$;


CREATE FUNCTION omni_saved_reply_delete(p_tenant bigint, p_id bigint,
    p_seen timestamptz) RETURNS json
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM saved_replies
     WHERE tenant_id = p_tenant AND id = p_id AND updated_at = p_seen;

    IF NOT FOUND THEN
        PERFORM omni_saved_reply_gone(p_tenant, p_id);
    END IF;

    RETURN json_build_object('id', p_id, 'deleted', true);
END;
$$;


-- usable_on follows what it is made of: a bot module's channels, a media
-- row's kind and size (fixed once uploaded, but a row gone or changed by
-- an operator must not leave a reply offered where it cannot go).
CREATE FUNCTION omni_saved_reply_bot_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE saved_replies r
       SET usable_on = omni_saved_reply_usable_on(r.tenant_id, r.kind,
                                                  r.items, r.bot_module_id)
     WHERE r.tenant_id = NEW.tenant_id AND r.bot_module_id = NEW.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER omni_saved_reply_usable AFTER UPDATE OF channels
    ON bot_modules FOR EACH ROW
    WHEN (OLD.channels IS DISTINCT FROM NEW.channels)
    EXECUTE FUNCTION omni_saved_reply_bot_changed();


CREATE FUNCTION omni_saved_reply_media_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE saved_replies r
       SET usable_on = omni_saved_reply_usable_on(r.tenant_id, r.kind,
                                                  r.items, r.bot_module_id)
     WHERE r.tenant_id = OLD.tenant_id AND r.kind = 'custom'
       AND r.items @> jsonb_build_array(
                          jsonb_build_object('media_id', OLD.id));
    RETURN NULL;
END;
$$;

CREATE TRIGGER omni_saved_reply_usable AFTER UPDATE OF kind, size OR DELETE
    ON media FOR EACH ROW
    EXECUTE FUNCTION omni_saved_reply_media_changed();


-- The lists are cached per host by tenant generation (base/ngx_omni_cache):
-- every change of a reply tells every host.  Changes of members and
-- branches already do (001); a bot module's or a media row's reach the
-- lists through the usable_on they rewrite here.
CREATE TRIGGER omni_cache AFTER INSERT OR UPDATE OR DELETE ON saved_replies
    FOR EACH ROW EXECUTE FUNCTION omni_notify_cache();

INSERT INTO omni_schema_migrations (version) VALUES (14);
