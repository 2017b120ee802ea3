-- 013: bot modules (SPEC §2, §7).  The module checks each module's type,
-- channels and content (core/omni_bot) before any of these runs; here
-- live what only the database knows: the media and members a module
-- names, the saved replies that use it, and a write racing another.

-- Bot modules are read by cached saved-reply lists: a change stales the
-- tenant's entries on every host.
CREATE TRIGGER omni_cache AFTER INSERT OR UPDATE OR DELETE ON bot_modules
    FOR EACH ROW EXECUTE FUNCTION omni_notify_cache();

CREATE FUNCTION omni_bot_module_json(b bot_modules) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', b.id, 'name', b.name, 'type', b.type,
        'channels', to_json(b.channels), 'content', b.content,
        'saved_reply_ok', b.type IN ('text_buttons', 'image_carousel',
                                     'quick_replies'),
        'created_by', b.created_by,
        'created_at', b.created_at, 'updated_at', b.updated_at)
$$;

-- the module as the API shows it, or NULL (another tenant's, none)
CREATE FUNCTION omni_bot_module_get(p_tenant bigint, p_id bigint)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT omni_bot_module_json(b)
      FROM bot_modules b
     WHERE b.tenant_id = p_tenant AND b.id = p_id
$$;

CREATE FUNCTION omni_bot_module_list(p_tenant bigint, p_cursor bigint,
    p_per_page int) RETURNS json
LANGUAGE sql STABLE AS $$
    WITH page AS (
        SELECT b.id, omni_bot_module_json(b) AS item
          FROM bot_modules b
         WHERE b.tenant_id = p_tenant AND b.id > coalesce(p_cursor, 0)
         ORDER BY b.id
         LIMIT p_per_page + 1)
    SELECT omni_page(array_agg(item ORDER BY id), p_per_page,
                     (array_agg(id ORDER BY id))[p_per_page])
      FROM page
$$;

-- The tenant's images a content names (image_media_id, in a card or
-- at the top) and the members a keyword card assigns to must exist.
CREATE FUNCTION omni_bot_module_refs(p_tenant bigint, p_content jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    SELECT m INTO missing
      FROM (SELECT (p_content->>'image_media_id')::bigint AS m
            UNION ALL
            SELECT (c->>'image_media_id')::bigint
              FROM jsonb_array_elements(
                       CASE WHEN jsonb_typeof(p_content->'cards') = 'array'
                            THEN p_content->'cards' ELSE '[]' END) c) x
     WHERE m IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM media
                        WHERE tenant_id = p_tenant AND id = m
                          AND kind = 'image')
     LIMIT 1;

    IF missing IS NOT NULL THEN
        PERFORM omni_raise(422, 'unknown_media',
            format('Media %s is not an image of this team', missing));
    END IF;

    SELECT m INTO missing
      FROM (SELECT (o->>'member_id')::bigint AS m
              FROM jsonb_array_elements(
                       CASE WHEN jsonb_typeof(p_content->'options') = 'array'
                            THEN p_content->'options' ELSE '[]' END) o) x
     WHERE NOT EXISTS (SELECT 1 FROM members
                        WHERE tenant_id = p_tenant AND id = m
                          AND deleted_at IS NULL)
     LIMIT 1;

    IF missing IS NOT NULL THEN
        PERFORM omni_raise(422, 'unknown_member',
            format('Member %s is not on this team', missing));
    END IF;
END;
$$;

CREATE FUNCTION omni_bot_module_create(p_tenant bigint, p_member bigint,
    p_body jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    b bot_modules;
BEGIN
    PERFORM omni_bot_module_refs(p_tenant, p_body->'content');

    INSERT INTO bot_modules (tenant_id, name, type, channels, content,
                             created_by)
    VALUES (p_tenant, p_body->>'name', p_body->>'type',
            ARRAY(SELECT jsonb_array_elements_text(p_body->'channels')),
            p_body->'content', p_member)
    RETURNING * INTO b;

    RETURN omni_bot_module_json(b);
END;
$$;

-- p_body is the whole module as it will be (the request merged into the
-- module read at p_body->>'updated_at', and checked): a write that
-- happened in between makes this one a 409, never a mix of the two.
CREATE FUNCTION omni_bot_module_update(p_tenant bigint, p_id bigint,
    p_body jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    b bot_modules;
BEGIN
    SELECT * INTO b FROM bot_modules
     WHERE tenant_id = p_tenant AND id = p_id FOR UPDATE;

    IF b.id IS NULL THEN
        PERFORM omni_raise(404, 'not_found',
                           format('Bot module %s does not exist', p_id));
    END IF;

    IF b.updated_at IS DISTINCT FROM (p_body->>'updated_at')::timestamptz
    THEN
        PERFORM omni_raise(409, 'conflict',
                           'The bot module changed meanwhile; read it '
                           'again and retry');
    END IF;

    IF p_body->>'type' NOT IN ('text_buttons', 'image_carousel',
                               'quick_replies')
       AND EXISTS (SELECT 1 FROM saved_replies
                    WHERE tenant_id = p_tenant AND bot_module_id = p_id)
    THEN
        PERFORM omni_raise(409, 'in_use',
            format('Saved replies use this module: it cannot become a %s, '
                   'which can never be a saved reply', p_body->>'type'));
    END IF;

    PERFORM omni_bot_module_refs(p_tenant, p_body->'content');

    -- saved_replies.usable_on follows channels through 014's trigger
    UPDATE bot_modules
       SET name = p_body->>'name',
           type = p_body->>'type',
           channels = ARRAY(SELECT jsonb_array_elements_text(
                                       p_body->'channels')),
           content = p_body->'content',
           updated_at = clock_timestamp()
     WHERE tenant_id = p_tenant AND id = p_id
    RETURNING * INTO b;

    RETURN omni_bot_module_json(b);
END;
$$;

CREATE FUNCTION omni_bot_module_delete(p_tenant bigint, p_id bigint)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    uses bigint;
BEGIN
    PERFORM 1 FROM bot_modules
     WHERE tenant_id = p_tenant AND id = p_id FOR UPDATE;

    IF NOT FOUND THEN
        PERFORM omni_raise(404, 'not_found',
                           format('Bot module %s does not exist', p_id));
    END IF;

    SELECT count(*) INTO uses FROM saved_replies
     WHERE tenant_id = p_tenant AND bot_module_id = p_id;

    IF uses > 0 THEN
        PERFORM omni_raise(409, 'in_use',
            format('%s saved repl%s use this bot module; delete or change '
                   'them first', uses, CASE WHEN uses = 1 THEN 'y'
                                            ELSE 'ies' END));
    END IF;

    DELETE FROM bot_modules WHERE tenant_id = p_tenant AND id = p_id;

    RETURN json_build_object('id', p_id, 'deleted', true);
END;
$$;

INSERT INTO omni_schema_migrations (version) VALUES (13);
