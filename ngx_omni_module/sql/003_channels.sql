-- 003: channels (team set-up): connected messaging accounts and their
-- credentials.  Secrets are stored for delivery and webhook checks and are
-- never part of an answer.

CREATE FUNCTION omni_channel_secret_keys() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['app_secret', 'access_token', 'verify_token',
                 'page_access_token', 'channel_secret',
                 'channel_access_token']
$$;

-- the credentials each channel type needs (SPEC §7)
CREATE FUNCTION omni_channel_required_keys(p_type text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_type
        WHEN 'whatsapp' THEN ARRAY['app_secret', 'access_token',
                                   'phone_number_id', 'verify_token']
        WHEN 'messenger' THEN ARRAY['app_secret', 'page_access_token',
                                    'page_id', 'verify_token']
        WHEN 'instagram' THEN ARRAY['app_secret', 'access_token',
                                    'ig_user_id', 'verify_token']
        WHEN 'line' THEN ARRAY['channel_secret', 'channel_access_token']
        WHEN 'webchat' THEN ARRAY[]::text[]
    END
$$;

CREATE FUNCTION omni_channel_check(p_type text, p_credentials jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    required text[] := omni_channel_required_keys(p_type);
    k text;
BEGIN
    IF required IS NULL THEN
        PERFORM omni_raise(422, 'invalid_channel_type',
            'type must be one of whatsapp, messenger, instagram, line, webchat');
    END IF;

    FOR k IN SELECT jsonb_object_keys(p_credentials) LOOP
        IF NOT k = ANY (required) THEN
            PERFORM omni_raise(422, 'invalid_credentials',
                format('A %s channel takes no credential "%s"', p_type, k));
        END IF;
        IF jsonb_typeof(p_credentials->k) <> 'string'
           OR length(p_credentials->>k) = 0
        THEN
            PERFORM omni_raise(422, 'invalid_credentials',
                format('Credential "%s" must be a non-empty string', k));
        END IF;
    END LOOP;

    FOREACH k IN ARRAY required LOOP
        IF NOT p_credentials ? k THEN
            PERFORM omni_raise(422, 'invalid_credentials',
                format('A %s channel needs the credential "%s"', p_type, k));
        END IF;
    END LOOP;
END;
$$;

CREATE FUNCTION omni_channel_json(p_tenant bigint, p_id bigint) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', c.id, 'type', c.type, 'name', c.name,
        'credentials', (c.credentials - omni_channel_secret_keys())::json,
        'credentials_set', (SELECT coalesce(json_agg(k ORDER BY k), '[]')
                              FROM jsonb_object_keys(c.credentials) k),
        'created_at', c.created_at, 'updated_at', c.updated_at)
      FROM channels c
     WHERE c.tenant_id = p_tenant AND c.id = p_id
$$;

CREATE FUNCTION omni_channel_get(p_tenant bigint, p_id bigint) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT omni_channel_json(p_tenant, p_id)
$$;

CREATE FUNCTION omni_channel_list(p_tenant bigint, p_cursor bigint,
    p_per_page int) RETURNS json
LANGUAGE sql STABLE AS $$
    WITH page AS (
        SELECT c.id, omni_channel_json(c.tenant_id, c.id) AS item
          FROM channels c
         WHERE c.tenant_id = p_tenant AND c.id > coalesce(p_cursor, 0)
         ORDER BY c.id
         LIMIT p_per_page + 1)
    SELECT omni_page(array_agg(item ORDER BY id), p_per_page,
                     (array_agg(id ORDER BY id))[p_per_page])
      FROM page
$$;

CREATE FUNCTION omni_channel_create(p_tenant bigint, p_body jsonb)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    id bigint;
    creds jsonb := coalesce(p_body->'credentials', '{}');
BEGIN
    PERFORM omni_channel_check(p_body->>'type', creds);

    INSERT INTO channels (tenant_id, type, name, credentials)
    VALUES (p_tenant, p_body->>'type', p_body->>'name', creds)
    RETURNING channels.id INTO id;

    RETURN omni_channel_json(p_tenant, id);
END;
$$;

CREATE FUNCTION omni_channel_update(p_tenant bigint, p_id bigint,
    p_body jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    c channels;
    creds jsonb;
BEGIN
    SELECT * INTO c FROM channels
     WHERE tenant_id = p_tenant AND id = p_id FOR UPDATE;

    IF c.id IS NULL THEN
        PERFORM omni_raise(404, 'not_found',
                           format('Channel %s does not exist', p_id));
    END IF;

    IF p_body ? 'type' AND p_body->>'type' <> c.type THEN
        PERFORM omni_raise(422, 'type_fixed',
                           'A channel keeps its type; connect a new one');
    END IF;

    -- credentials given replace those keys; the rest stay
    creds := c.credentials || coalesce(p_body->'credentials', '{}');
    PERFORM omni_channel_check(c.type, creds);

    UPDATE channels
       SET name = coalesce(p_body->>'name', name),
           credentials = creds,
           updated_at = now()
     WHERE tenant_id = p_tenant AND id = p_id;

    RETURN omni_channel_json(p_tenant, p_id);
END;
$$;

INSERT INTO omni_schema_migrations (version) VALUES (3);
