-- 001: tenants, team, channels, customers, conversations.
--
-- Every tenant-scoped table leads its keys with tenant_id, and no unique
-- key leaves it out (ready to be distributed by tenant; ids are unique by
-- their identity sequences).  The nginx module calls only the functions at
-- the end of this file.  Client errors are raised with SQLSTATE 'OM' + the
-- HTTP status, the error code as MESSAGE and a sentence as DETAIL.

CREATE TABLE omni_schema_migrations (
    version     int PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION omni_schema_version() RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(version), 0) FROM omni_schema_migrations
$$;

CREATE FUNCTION omni_raise(p_status int, p_code text, p_detail text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'OM' || p_status::text,
                          MESSAGE = p_code, DETAIL = p_detail;
END;
$$;

CREATE TABLE tenants (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    plan            text[] NOT NULL DEFAULT '{}' CHECK (plan <@ ARRAY[
                        'cs', 'omo', 'marketing_advanced', 'flagship',
                        'social_cdp', 'salesforce']),
    default_region  text NOT NULL DEFAULT 'HK'
                        CHECK (default_region ~ '^[A-Z]{2}$'),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE branches (
    tenant_id   bigint NOT NULL REFERENCES tenants,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE members (
    tenant_id   bigint NOT NULL REFERENCES tenants,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role        text NOT NULL CHECK (role IN ('admin', 'supervisor',
                    'cs_manager', 'cs_agent', 'sales_manager',
                    'sales_agent', 'marketer', 'marketing_cs')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE member_branches (
    tenant_id   bigint NOT NULL,
    member_id   bigint NOT NULL,
    branch_id   bigint NOT NULL,
    PRIMARY KEY (tenant_id, member_id, branch_id),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, branch_id) REFERENCES branches ON DELETE CASCADE
);

CREATE INDEX ON member_branches (tenant_id, branch_id);

CREATE TABLE member_tokens (
    tenant_id     bigint NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    member_id     bigint NOT NULL,
    token_sha256  bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members
);

CREATE TABLE channels (
    tenant_id    bigint NOT NULL REFERENCES tenants,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    type         text NOT NULL CHECK (type IN ('whatsapp', 'messenger',
                     'line', 'instagram', 'webchat')),
    name         text NOT NULL,
    credentials  jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- webhooks find their channel by id alone, before they know the tenant
CREATE INDEX ON channels (id);

CREATE TABLE pixel_keys (
    key         text PRIMARY KEY CHECK (key ~ '^[A-Za-z0-9_-]{4,64}$'),
    tenant_id   bigint NOT NULL REFERENCES tenants,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ON pixel_keys (tenant_id);

CREATE TABLE customers (
    tenant_id        bigint NOT NULL REFERENCES tenants,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    name             text,
    attributes       jsonb NOT NULL DEFAULT '{}',
    bound_member_id  bigint,
    follow_status    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    last_contact_at  timestamptz,
    merged_into      bigint,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, bound_member_id) REFERENCES members
);

CREATE INDEX ON customers (tenant_id, bound_member_id)
    WHERE bound_member_id IS NOT NULL;
CREATE INDEX ON customers USING gin (attributes jsonb_path_ops);

CREATE TABLE customer_phones (
    tenant_id    bigint NOT NULL,
    customer_id  bigint NOT NULL,
    phone        text NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, phone),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers
        ON DELETE CASCADE
);

CREATE INDEX ON customer_phones (tenant_id, phone);

CREATE TABLE customer_emails (
    tenant_id    bigint NOT NULL,
    customer_id  bigint NOT NULL,
    email        text NOT NULL CHECK (email = lower(email)),
    PRIMARY KEY (tenant_id, customer_id, email),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers
        ON DELETE CASCADE
);

CREATE INDEX ON customer_emails (tenant_id, email);

CREATE TABLE customer_tags (
    tenant_id    bigint NOT NULL,
    customer_id  bigint NOT NULL,
    tag          text NOT NULL CHECK (length(tag) BETWEEN 1 AND 200),
    PRIMARY KEY (tenant_id, customer_id, tag),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers
        ON DELETE CASCADE
);

CREATE INDEX ON customer_tags (tenant_id, tag);

CREATE TABLE customer_identities (
    tenant_id     bigint NOT NULL,
    channel_type  text NOT NULL,
    external_id   text NOT NULL,
    customer_id   bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel_type, external_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers
        ON DELETE CASCADE
);

CREATE INDEX ON customer_identities (tenant_id, customer_id);

CREATE TABLE customer_visitors (
    tenant_id    bigint NOT NULL,
    visitor_id   text NOT NULL,
    customer_id  bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, visitor_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers
        ON DELETE CASCADE
);

CREATE INDEX ON customer_visitors (tenant_id, customer_id);

-- journey trigger events (attribute_changed, ...)
CREATE TABLE customer_events (
    tenant_id    bigint NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    customer_id  bigint NOT NULL,
    type         text NOT NULL,
    payload      jsonb NOT NULL DEFAULT '{}',
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers
        ON DELETE CASCADE
);

CREATE INDEX ON customer_events (tenant_id, customer_id, id);

CREATE TABLE customer_merges (
    tenant_id  bigint NOT NULL,
    from_id    bigint NOT NULL,
    into_id    bigint NOT NULL,
    reason     text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, from_id)
);

CREATE TABLE conversations (
    tenant_id        bigint NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    customer_id      bigint NOT NULL,
    channel_id       bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_message_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, customer_id, channel_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers,
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels
);

CREATE TABLE messages (
    tenant_id           bigint NOT NULL,
    id                  bigint GENERATED ALWAYS AS IDENTITY,
    conversation_id     bigint NOT NULL,
    direction           text NOT NULL CHECK (direction IN ('in', 'out')),
    sender_member_id    bigint,
    items               jsonb NOT NULL DEFAULT '[]',
    payload             jsonb,
    status              text NOT NULL DEFAULT 'queued',
    channel_message_id  text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations
);

CREATE INDEX ON messages (tenant_id, conversation_id, id);
CREATE UNIQUE INDEX ON messages (tenant_id, channel_message_id)
    WHERE channel_message_id IS NOT NULL;


-- Cache coherence: any change to what the module caches tells every
-- nginx host which tenant's entries are stale.

CREATE FUNCTION omni_notify_cache() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    t bigint;
BEGIN
    IF TG_TABLE_NAME = 'tenants' THEN
        t := CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END;
    ELSE
        t := CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id
                  ELSE NEW.tenant_id END;
    END IF;
    PERFORM pg_notify('omni_cache', t::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER omni_cache AFTER INSERT OR UPDATE OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION omni_notify_cache();
CREATE TRIGGER omni_cache AFTER INSERT OR UPDATE OR DELETE ON branches
    FOR EACH ROW EXECUTE FUNCTION omni_notify_cache();
CREATE TRIGGER omni_cache AFTER INSERT OR UPDATE OR DELETE ON members
    FOR EACH ROW EXECUTE FUNCTION omni_notify_cache();
CREATE TRIGGER omni_cache AFTER INSERT OR UPDATE OR DELETE
    ON member_branches
    FOR EACH ROW EXECUTE FUNCTION omni_notify_cache();
CREATE TRIGGER omni_cache AFTER INSERT OR UPDATE OR DELETE ON member_tokens
    FOR EACH ROW EXECUTE FUNCTION omni_notify_cache();
CREATE TRIGGER omni_cache AFTER INSERT OR UPDATE OR DELETE ON channels
    FOR EACH ROW EXECUTE FUNCTION omni_notify_cache();
CREATE TRIGGER omni_cache AFTER INSERT OR UPDATE OR DELETE ON pixel_keys
    FOR EACH ROW EXECUTE FUNCTION omni_notify_cache();


-- Who is calling.

CREATE FUNCTION omni_auth_token(p_sha256 bytea)
RETURNS TABLE (member_id bigint, tenant_id bigint, role text,
               branch_ids bigint[], plan text[], default_region text)
LANGUAGE sql STABLE AS $$
    SELECT m.id, m.tenant_id, m.role,
           coalesce((SELECT array_agg(mb.branch_id ORDER BY mb.branch_id)
                       FROM member_branches mb
                      WHERE mb.tenant_id = m.tenant_id
                        AND mb.member_id = m.id), '{}'),
           t.plan, t.default_region
      FROM member_tokens k
      JOIN members m ON m.tenant_id = k.tenant_id AND m.id = k.member_id
      JOIN tenants t ON t.id = m.tenant_id
     WHERE k.token_sha256 = p_sha256
       AND k.revoked_at IS NULL
       AND m.deleted_at IS NULL
$$;


-- Team.

CREATE FUNCTION omni_member_json(p_tenant bigint, p_id bigint) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
               'id', m.id, 'name', m.name, 'role', m.role,
               'branch_ids', coalesce((SELECT json_agg(mb.branch_id
                                                       ORDER BY mb.branch_id)
                                         FROM member_branches mb
                                        WHERE mb.tenant_id = m.tenant_id
                                          AND mb.member_id = m.id), '[]'),
               'created_at', m.created_at)
      FROM members m
     WHERE m.tenant_id = p_tenant AND m.id = p_id AND m.deleted_at IS NULL
$$;

CREATE FUNCTION omni_me(p_tenant bigint, p_member bigint) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
               'id', m.id, 'tenant_id', t.id, 'name', m.name,
               'role', m.role,
               'branch_ids', coalesce((SELECT json_agg(mb.branch_id
                                                       ORDER BY mb.branch_id)
                                         FROM member_branches mb
                                        WHERE mb.tenant_id = m.tenant_id
                                          AND mb.member_id = m.id), '[]'),
               'plan', to_json(t.plan),
               'default_region', t.default_region,
               'pixel_key', (SELECT k.key FROM pixel_keys k
                              WHERE k.tenant_id = t.id
                              ORDER BY k.created_at LIMIT 1))
      FROM members m JOIN tenants t ON t.id = m.tenant_id
     WHERE m.tenant_id = p_tenant AND m.id = p_member
       AND m.deleted_at IS NULL
$$;

-- keyset page: fetch one more than asked to know if there is a next page
CREATE FUNCTION omni_page(p_items json[], p_per_page int, p_last_id bigint)
RETURNS json LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object(
        'items', coalesce(array_to_json(p_items[1:p_per_page]), '[]'),
        'next_cursor', CASE WHEN coalesce(array_length(p_items, 1), 0)
                                 > p_per_page
                            THEN p_last_id::text END)
$$;

CREATE FUNCTION omni_branch_list(p_tenant bigint, p_cursor bigint,
    p_per_page int) RETURNS json
LANGUAGE sql STABLE AS $$
    WITH page AS (
        SELECT b.id, json_build_object('id', b.id, 'name', b.name,
                                       'created_at', b.created_at) AS item
          FROM branches b
         WHERE b.tenant_id = p_tenant AND b.id > coalesce(p_cursor, 0)
         ORDER BY b.id
         LIMIT p_per_page + 1)
    SELECT omni_page(array_agg(item ORDER BY id), p_per_page,
                     (array_agg(id ORDER BY id))[p_per_page])
      FROM page
$$;

CREATE FUNCTION omni_branch_create(p_tenant bigint, p_body jsonb)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    b branches;
BEGIN
    INSERT INTO branches (tenant_id, name)
    VALUES (p_tenant, p_body->>'name')
    ON CONFLICT (tenant_id, name) DO NOTHING
    RETURNING * INTO b;

    IF b.id IS NULL THEN
        PERFORM omni_raise(409, 'branch_exists',
                           format('A branch named %s exists already',
                                  p_body->>'name'));
    END IF;

    RETURN json_build_object('id', b.id, 'name', b.name,
                             'created_at', b.created_at);
END;
$$;

CREATE FUNCTION omni_member_list(p_tenant bigint, p_cursor bigint,
    p_per_page int) RETURNS json
LANGUAGE sql STABLE AS $$
    WITH page AS (
        SELECT m.id, omni_member_json(m.tenant_id, m.id) AS item
          FROM members m
         WHERE m.tenant_id = p_tenant AND m.deleted_at IS NULL
           AND m.id > coalesce(p_cursor, 0)
         ORDER BY m.id
         LIMIT p_per_page + 1)
    SELECT omni_page(array_agg(item ORDER BY id), p_per_page,
                     (array_agg(id ORDER BY id))[p_per_page])
      FROM page
$$;

CREATE FUNCTION omni_member_set_branches(p_tenant bigint, p_member bigint,
    p_branches jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    wanted bigint[];
    unknown bigint;
BEGIN
    SELECT coalesce(array_agg(DISTINCT v::bigint), '{}')
      INTO wanted FROM jsonb_array_elements_text(p_branches) v;

    SELECT w INTO unknown
      FROM unnest(wanted) w
     WHERE NOT EXISTS (SELECT 1 FROM branches b
                        WHERE b.tenant_id = p_tenant AND b.id = w)
     LIMIT 1;

    IF unknown IS NOT NULL THEN
        PERFORM omni_raise(422, 'unknown_branch',
                           format('Branch %s does not exist', unknown));
    END IF;

    DELETE FROM member_branches
     WHERE tenant_id = p_tenant AND member_id = p_member
       AND branch_id <> ALL (wanted);

    INSERT INTO member_branches (tenant_id, member_id, branch_id)
    SELECT p_tenant, p_member, w FROM unnest(wanted) w
    ON CONFLICT DO NOTHING;
END;
$$;

CREATE FUNCTION omni_member_create(p_tenant bigint, p_body jsonb)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    id bigint;
BEGIN
    INSERT INTO members (tenant_id, name, role)
    VALUES (p_tenant, p_body->>'name', p_body->>'role')
    RETURNING members.id INTO id;

    PERFORM omni_member_set_branches(p_tenant, id,
                                     coalesce(p_body->'branch_ids', '[]'));

    RETURN omni_member_json(p_tenant, id);
END;
$$;

-- the tenant must keep a live admin: lock the tenant's admins first
CREATE FUNCTION omni_member_keep_admin(p_tenant bigint, p_member bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM tenants WHERE id = p_tenant FOR UPDATE;

    IF NOT EXISTS (SELECT 1 FROM members
                    WHERE tenant_id = p_tenant AND role = 'admin'
                      AND deleted_at IS NULL AND id <> p_member)
    THEN
        PERFORM omni_raise(409, 'last_admin',
                           'The tenant would be left without an admin');
    END IF;
END;
$$;

CREATE FUNCTION omni_member_find(p_tenant bigint, p_id bigint)
RETURNS members LANGUAGE plpgsql AS $$
DECLARE
    m members;
BEGIN
    SELECT * INTO m FROM members
     WHERE tenant_id = p_tenant AND id = p_id AND deleted_at IS NULL
       FOR UPDATE;

    IF m.id IS NULL THEN
        PERFORM omni_raise(404, 'not_found',
                           format('Member %s does not exist', p_id));
    END IF;

    RETURN m;
END;
$$;

CREATE FUNCTION omni_member_update(p_tenant bigint, p_id bigint,
    p_body jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    m members;
BEGIN
    m := omni_member_find(p_tenant, p_id);

    IF m.role = 'admin' AND p_body ? 'role' AND p_body->>'role' <> 'admin'
    THEN
        PERFORM omni_member_keep_admin(p_tenant, p_id);
    END IF;

    UPDATE members
       SET name = coalesce(p_body->>'name', name),
           role = coalesce(p_body->>'role', role)
     WHERE tenant_id = p_tenant AND id = p_id;

    IF p_body ? 'branch_ids' THEN
        PERFORM omni_member_set_branches(p_tenant, p_id,
                                         p_body->'branch_ids');
    END IF;

    RETURN omni_member_json(p_tenant, p_id);
END;
$$;

CREATE FUNCTION omni_member_delete(p_tenant bigint, p_id bigint)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    m members;
BEGIN
    m := omni_member_find(p_tenant, p_id);

    IF m.role = 'admin' THEN
        PERFORM omni_member_keep_admin(p_tenant, p_id);
    END IF;

    UPDATE members SET deleted_at = now()
     WHERE tenant_id = p_tenant AND id = p_id;
    UPDATE member_tokens SET revoked_at = now()
     WHERE tenant_id = p_tenant AND member_id = p_id AND revoked_at IS NULL;

    RETURN json_build_object('id', p_id, 'deleted', true);
END;
$$;

CREATE FUNCTION omni_token_create(p_tenant bigint, p_member bigint,
    p_sha256 bytea) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    m members;
    k member_tokens;
BEGIN
    m := omni_member_find(p_tenant, p_member);

    INSERT INTO member_tokens (tenant_id, member_id, token_sha256)
    VALUES (p_tenant, m.id, p_sha256)
    RETURNING * INTO k;

    RETURN json_build_object('member_id', k.member_id,
                             'created_at', k.created_at);
END;
$$;


-- Customers.

CREATE FUNCTION omni_customer_json(p_tenant bigint, p_id bigint) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', c.id,
        'name', c.name,
        'phones', coalesce((SELECT json_agg(p.phone ORDER BY p.phone)
                              FROM customer_phones p
                             WHERE p.tenant_id = c.tenant_id
                               AND p.customer_id = c.id), '[]'),
        'emails', coalesce((SELECT json_agg(e.email ORDER BY e.email)
                              FROM customer_emails e
                             WHERE e.tenant_id = c.tenant_id
                               AND e.customer_id = c.id), '[]'),
        'tags', coalesce((SELECT json_agg(g.tag ORDER BY g.tag)
                            FROM customer_tags g
                           WHERE g.tenant_id = c.tenant_id
                             AND g.customer_id = c.id), '[]'),
        'attributes', c.attributes,
        'identities', coalesce((SELECT json_agg(json_build_object(
                                           'channel_type', i.channel_type,
                                           'external_id', i.external_id)
                                       ORDER BY i.channel_type,
                                                i.external_id)
                                  FROM customer_identities i
                                 WHERE i.tenant_id = c.tenant_id
                                   AND i.customer_id = c.id), '[]'),
        'visitor_ids', coalesce((SELECT json_agg(v.visitor_id
                                                 ORDER BY v.created_at,
                                                          v.visitor_id)
                                   FROM customer_visitors v
                                  WHERE v.tenant_id = c.tenant_id
                                    AND v.customer_id = c.id), '[]'),
        'bound_member_id', c.bound_member_id,
        'follow_status', c.follow_status,
        'created_at', c.created_at,
        'updated_at', c.updated_at)
      FROM customers c
     WHERE c.tenant_id = p_tenant AND c.id = p_id
$$;

CREATE FUNCTION omni_customer_get(p_tenant bigint, p_id bigint) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    target bigint := p_id;
    next_id bigint;
BEGIN
    -- a merged customer answers as the one it was merged into
    FOR i IN 1 .. 16 LOOP
        SELECT merged_into INTO next_id FROM customers
         WHERE tenant_id = p_tenant AND id = target;
        EXIT WHEN next_id IS NULL;
        target := next_id;
    END LOOP;

    RETURN omni_customer_json(p_tenant, target);
END;
$$;

CREATE FUNCTION omni_customer_find(p_tenant bigint, p_by text, p_value text,
    p_cursor bigint, p_per_page int) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    ids bigint[];
    attr text;
BEGIN
    IF p_by = 'identity' THEN
        IF position(':' IN p_value) = 0 THEN
            PERFORM omni_raise(400, 'invalid_parameter',
                'identity must be channel_type:external_id');
        END IF;
        SELECT array_agg(customer_id ORDER BY customer_id) INTO ids
          FROM (SELECT i.customer_id FROM customer_identities i
                 WHERE i.tenant_id = p_tenant
                   AND i.channel_type = split_part(p_value, ':', 1)
                   AND i.external_id = substr(p_value,
                                              position(':' IN p_value) + 1)
                   AND i.customer_id > coalesce(p_cursor, 0)
                 ORDER BY 1 LIMIT p_per_page + 1) s;
    ELSIF p_by = 'visitor_id' THEN
        SELECT array_agg(customer_id ORDER BY customer_id) INTO ids
          FROM (SELECT v.customer_id FROM customer_visitors v
                 WHERE v.tenant_id = p_tenant AND v.visitor_id = p_value
                   AND v.customer_id > coalesce(p_cursor, 0)
                 ORDER BY 1 LIMIT p_per_page + 1) s;
    ELSIF p_by = 'email' THEN
        SELECT array_agg(customer_id ORDER BY customer_id) INTO ids
          FROM (SELECT DISTINCT e.customer_id FROM customer_emails e
                 WHERE e.tenant_id = p_tenant AND e.email = lower(p_value)
                   AND e.customer_id > coalesce(p_cursor, 0)
                 ORDER BY 1 LIMIT p_per_page + 1) s;
    ELSIF p_by = 'phone' THEN
        SELECT array_agg(customer_id ORDER BY customer_id) INTO ids
          FROM (SELECT DISTINCT p.customer_id FROM customer_phones p
                 WHERE p.tenant_id = p_tenant AND p.phone = p_value
                   AND p.customer_id > coalesce(p_cursor, 0)
                 UNION
                SELECT c.id FROM customers c
                 WHERE c.tenant_id = p_tenant
                   AND c.attributes @> jsonb_build_object('phone', p_value)
                   AND c.id > coalesce(p_cursor, 0)
                 ORDER BY 1 LIMIT p_per_page + 1) s;
    ELSIF p_by = 'tag' THEN
        SELECT array_agg(customer_id ORDER BY customer_id) INTO ids
          FROM (SELECT g.customer_id FROM customer_tags g
                 WHERE g.tenant_id = p_tenant AND g.tag = p_value
                   AND g.customer_id > coalesce(p_cursor, 0)
                 ORDER BY 1 LIMIT p_per_page + 1) s;
    ELSIF p_by LIKE 'attr.%' THEN
        attr := substr(p_by, 6);
        SELECT array_agg(id ORDER BY id) INTO ids
          FROM (SELECT c.id FROM customers c
                 WHERE c.tenant_id = p_tenant AND c.merged_into IS NULL
                   AND c.attributes ->> attr = p_value
                   AND c.id > coalesce(p_cursor, 0)
                 ORDER BY 1 LIMIT p_per_page + 1) s;
    ELSE
        SELECT array_agg(id ORDER BY id) INTO ids
          FROM (SELECT c.id FROM customers c
                 WHERE c.tenant_id = p_tenant AND c.merged_into IS NULL
                   AND c.id > coalesce(p_cursor, 0)
                 ORDER BY 1 LIMIT p_per_page + 1) s;
    END IF;

    RETURN omni_page(ARRAY(SELECT omni_customer_json(p_tenant, x)
                             FROM unnest(ids) WITH ORDINALITY AS u(x, n)
                            ORDER BY n),
                     p_per_page, ids[p_per_page]);
END;
$$;

INSERT INTO omni_schema_migrations (version) VALUES (1);
