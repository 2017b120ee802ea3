-- 002: Pixel events, their exactly-once ledger, phone capture, the log.

CREATE SEQUENCE pixel_events_id_seq;

-- partitioned by month; a default partition catches anything else
CREATE TABLE pixel_events (
    tenant_id    bigint NOT NULL,
    id           bigint NOT NULL DEFAULT nextval('pixel_events_id_seq'),
    received_at  timestamptz NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now(),
    ev           text NOT NULL,
    vid          text NOT NULL,
    url          text,
    ref          text,
    client_ts    timestamptz,
    phone        text,
    email        text,
    props        jsonb NOT NULL DEFAULT '{}',
    ip           inet,
    ua           text,
    PRIMARY KEY (tenant_id, received_at, id)
) PARTITION BY RANGE (received_at);

CREATE TABLE pixel_events_default PARTITION OF pixel_events DEFAULT;

CREATE INDEX ON pixel_events (tenant_id, received_at DESC, id DESC);
CREATE INDEX ON pixel_events (tenant_id, ev, received_at DESC, id DESC);
CREATE INDEX ON pixel_events (tenant_id, vid);

CREATE FUNCTION omni_px_ensure_partitions(p_at timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m timestamptz;
    name text;
BEGIN
    FOR i IN 0 .. 1 LOOP
        m := date_trunc('month', p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
             + make_interval(months => i);
        name := 'pixel_events_' || to_char(m AT TIME ZONE 'UTC', 'YYYYMM');
        IF to_regclass(name) IS NULL THEN
            -- rows already in the default partition for that month move in
            EXECUTE format('CREATE TABLE %I (LIKE pixel_events INCLUDING DEFAULTS)',
                           name);
            EXECUTE format('WITH moved AS (DELETE FROM pixel_events_default
                                            WHERE received_at >= %L
                                              AND received_at < %L
                                           RETURNING *)
                            INSERT INTO %I SELECT * FROM moved',
                           m, m + interval '1 month', name);
            EXECUTE format('ALTER TABLE pixel_events ATTACH PARTITION %I
                            FOR VALUES FROM (%L) TO (%L)',
                           name, m, m + interval '1 month');
        END IF;
    END LOOP;
END;
$$;

SELECT omni_px_ensure_partitions(now());

-- what the flusher COPYs: one row per beacon, as the module wrote it
CREATE UNLOGGED TABLE omni_px_stage (
    received_ms   bigint,
    pixel_key     text,
    ev            text,
    vid           text,
    url           text,
    ref           text,
    client_ts_ms  bigint,
    phone         text,
    email         text,
    props         text,
    ip            text,
    ua            text
);

-- the exactly-once ledger: how far each source (a ring, a file) is stored
CREATE TABLE omni_px_ring_state (
    source      text PRIMARY KEY,
    drained     bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION omni_px_ring_lock(p_source text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    d bigint;
BEGIN
    INSERT INTO omni_px_ring_state (source, drained) VALUES (p_source, 0)
    ON CONFLICT (source) DO NOTHING;

    SELECT drained INTO d FROM omni_px_ring_state
     WHERE source = p_source FOR UPDATE;

    RETURN d;
END;
$$;

CREATE FUNCTION omni_try_jsonb(p text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN CASE WHEN jsonb_typeof(p::jsonb) = 'object' THEN p::jsonb
                ELSE '{}' END;
EXCEPTION WHEN others THEN
    RETURN '{}';
END;
$$;

CREATE FUNCTION omni_try_inet(p text) RETURNS inet
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN p::inet;
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$;

CREATE TABLE omni_px_captures (
    tenant_id     bigint NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    vid           text NOT NULL,
    phone_raw     text,
    email         text,
    received_at   timestamptz NOT NULL,
    claimed_at    timestamptz,
    processed_at  timestamptz,
    outcome       text,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX ON omni_px_captures (id);

-- the staged batch into events (known keys only) and captures, at once
CREATE FUNCTION omni_px_ingest_rows(p_safe boolean) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    counts bigint[];
BEGIN
    WITH staged AS (
        DELETE FROM omni_px_stage RETURNING *
    ), keyed AS (
        SELECT k.tenant_id, s.*
          FROM staged s LEFT JOIN pixel_keys k ON k.key = s.pixel_key
    ), stored AS (
        INSERT INTO pixel_events (tenant_id, received_at, ev, vid, url, ref,
                                  client_ts, phone, email, props, ip, ua)
        SELECT tenant_id, to_timestamp(received_ms / 1000.0), ev, vid, url,
               ref, to_timestamp(client_ts_ms / 1000.0), phone, email,
               CASE WHEN p_safe THEN omni_try_jsonb(props)
                    ELSE props::jsonb END,
               CASE WHEN p_safe THEN omni_try_inet(ip) ELSE ip::inet END,
               ua
          FROM keyed WHERE tenant_id IS NOT NULL
        RETURNING tenant_id, vid, phone, email, received_at
    ), captured AS (
        INSERT INTO omni_px_captures (tenant_id, vid, phone_raw, email,
                                      received_at)
        SELECT tenant_id, vid, phone, email, received_at FROM stored
         WHERE phone IS NOT NULL OR email IS NOT NULL
        RETURNING 1
    )
    SELECT ARRAY[(SELECT count(*) FROM stored),
                 (SELECT count(*) FROM keyed WHERE tenant_id IS NULL),
                 (SELECT count(*) FROM captured)]
      INTO counts;

    RETURN counts;
END;
$$;

CREATE FUNCTION omni_px_ingest(p_source text, p_drained bigint) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    counts bigint[];
BEGIN
    PERFORM omni_px_ensure_partitions(now());

    -- the module writes valid JSON and addresses: cast the batch at once,
    -- and only if something slipped through, row by row with a fallback
    -- (one subtransaction per batch, not per row)
    BEGIN
        counts := omni_px_ingest_rows(false);
    EXCEPTION WHEN others THEN
        counts := omni_px_ingest_rows(true);
    END;

    UPDATE omni_px_ring_state
       SET drained = greatest(drained, p_drained), updated_at = now()
     WHERE source = p_source;

    RETURN json_build_object('stored', counts[1], 'rejected', counts[2],
                             'captures', counts[3]);
END;
$$;

-- a batch of captures to read; other plans' captures end here, unused
CREATE FUNCTION omni_px_capture_claim(p_limit int)
RETURNS TABLE (id bigint, tenant_id bigint, phone_raw text,
               default_region text)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE omni_px_captures c
       SET processed_at = now(), outcome = 'plan'
      FROM tenants t
     WHERE t.id = c.tenant_id AND c.processed_at IS NULL
       AND NOT t.plan && ARRAY['marketing_advanced', 'flagship',
                                'social_cdp'];

    -- the plan is checked here too: a capture committed after the
    -- statement above is seen by this one (a new snapshot per statement)
    RETURN QUERY
    WITH picked AS (
        SELECT c.id FROM omni_px_captures c
          JOIN tenants t ON t.id = c.tenant_id
         WHERE c.processed_at IS NULL
           AND t.plan && ARRAY['marketing_advanced', 'flagship',
                               'social_cdp']
           AND (c.claimed_at IS NULL
                OR c.claimed_at < now() - interval '60 seconds')
         ORDER BY c.id
         LIMIT p_limit
           FOR UPDATE OF c SKIP LOCKED
    ), claimed AS (
        UPDATE omni_px_captures c SET claimed_at = now()
          FROM picked WHERE c.id = picked.id
        RETURNING c.id, c.tenant_id, c.phone_raw
    )
    SELECT cl.id, cl.tenant_id, cl.phone_raw, t.default_region
      FROM claimed cl JOIN tenants t ON t.id = cl.tenant_id
     ORDER BY cl.id;
END;
$$;

-- move everything of customer p_from into p_into; p_from answers as p_into
CREATE FUNCTION omni_customer_merge(p_tenant bigint, p_from bigint,
    p_into bigint, p_reason text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_from = p_into THEN
        RETURN;
    END IF;

    UPDATE customer_visitors SET customer_id = p_into
     WHERE tenant_id = p_tenant AND customer_id = p_from;

    INSERT INTO customer_identities (tenant_id, channel_type, external_id,
                                     customer_id)
    SELECT tenant_id, channel_type, external_id, p_into
      FROM customer_identities
     WHERE tenant_id = p_tenant AND customer_id = p_from
    ON CONFLICT DO NOTHING;
    DELETE FROM customer_identities
     WHERE tenant_id = p_tenant AND customer_id = p_from;

    INSERT INTO customer_phones (tenant_id, customer_id, phone)
    SELECT tenant_id, p_into, phone FROM customer_phones
     WHERE tenant_id = p_tenant AND customer_id = p_from
    ON CONFLICT DO NOTHING;
    DELETE FROM customer_phones
     WHERE tenant_id = p_tenant AND customer_id = p_from;

    INSERT INTO customer_emails (tenant_id, customer_id, email)
    SELECT tenant_id, p_into, email FROM customer_emails
     WHERE tenant_id = p_tenant AND customer_id = p_from
    ON CONFLICT DO NOTHING;
    DELETE FROM customer_emails
     WHERE tenant_id = p_tenant AND customer_id = p_from;

    INSERT INTO customer_tags (tenant_id, customer_id, tag)
    SELECT tenant_id, p_into, tag FROM customer_tags
     WHERE tenant_id = p_tenant AND customer_id = p_from
    ON CONFLICT DO NOTHING;
    DELETE FROM customer_tags
     WHERE tenant_id = p_tenant AND customer_id = p_from;

    -- the surviving customer's own values win
    UPDATE customers i
       SET attributes = f.attributes || i.attributes,
           name = coalesce(i.name, f.name),
           updated_at = now()
      FROM customers f
     WHERE i.tenant_id = p_tenant AND i.id = p_into
       AND f.tenant_id = p_tenant AND f.id = p_from;

    UPDATE customers SET merged_into = p_into, updated_at = now()
     WHERE tenant_id = p_tenant AND id = p_from;

    INSERT INTO customer_merges (tenant_id, from_id, into_id, reason)
    VALUES (p_tenant, p_from, p_into, p_reason)
    ON CONFLICT DO NOTHING;
END;
$$;

-- the visitor's customer, made when it first gives a phone or email
CREATE FUNCTION omni_visitor_customer(p_tenant bigint, p_vid text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    cid bigint;
BEGIN
    SELECT customer_id INTO cid FROM customer_visitors
     WHERE tenant_id = p_tenant AND visitor_id = p_vid FOR UPDATE;

    IF cid IS NULL THEN
        INSERT INTO customers (tenant_id) VALUES (p_tenant)
        RETURNING id INTO cid;
        INSERT INTO customer_visitors (tenant_id, visitor_id, customer_id)
        VALUES (p_tenant, p_vid, cid)
        ON CONFLICT (tenant_id, visitor_id) DO NOTHING;
        -- someone else linked the visitor meanwhile: use theirs
        SELECT customer_id INTO cid FROM customer_visitors
         WHERE tenant_id = p_tenant AND visitor_id = p_vid;
    END IF;

    RETURN cid;
END;
$$;

CREATE FUNCTION omni_px_capture_apply(p_ids bigint[], p_e164 text[],
    p_kind text[]) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    cap omni_px_captures;
    visitor_cid bigint;
    owner_cid bigint;
    applied int := 0;
    e164 text;
    kind text;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
        SELECT * INTO cap FROM omni_px_captures
         WHERE id = p_ids[i] AND processed_at IS NULL FOR UPDATE;
        CONTINUE WHEN cap.id IS NULL;

        e164 := p_e164[i];
        kind := p_kind[i];
        owner_cid := NULL;

        IF kind = 'mobile' AND e164 IS NOT NULL THEN
            SELECT customer_id INTO owner_cid FROM customer_identities
             WHERE tenant_id = cap.tenant_id AND channel_type = 'whatsapp'
               AND external_id = e164;
        END IF;

        SELECT customer_id INTO visitor_cid FROM customer_visitors
         WHERE tenant_id = cap.tenant_id AND visitor_id = cap.vid;

        IF visitor_cid IS NULL AND owner_cid IS NOT NULL THEN
            -- a known WhatsApp contact on a new browser: link, don't copy
            INSERT INTO customer_visitors (tenant_id, visitor_id, customer_id)
            VALUES (cap.tenant_id, cap.vid, owner_cid)
            ON CONFLICT (tenant_id, visitor_id) DO NOTHING;
            visitor_cid := owner_cid;
        ELSIF visitor_cid IS NULL THEN
            visitor_cid := omni_visitor_customer(cap.tenant_id, cap.vid);
        ELSIF owner_cid IS NOT NULL AND owner_cid <> visitor_cid THEN
            -- the number belongs to someone already: the visitor is them
            PERFORM omni_customer_merge(cap.tenant_id, visitor_cid,
                                        owner_cid, 'whatsapp:' || e164);
            visitor_cid := owner_cid;
        END IF;

        IF cap.email IS NOT NULL AND cap.email ~ '^[^@\s]+@[^@\s]+$' THEN
            INSERT INTO customer_emails (tenant_id, customer_id, email)
            VALUES (cap.tenant_id, visitor_cid, lower(cap.email))
            ON CONFLICT DO NOTHING;
        END IF;

        IF kind = 'mobile' AND e164 IS NOT NULL THEN
            INSERT INTO customer_identities (tenant_id, channel_type,
                                             external_id, customer_id)
            VALUES (cap.tenant_id, 'whatsapp', e164, visitor_cid)
            ON CONFLICT DO NOTHING;
            INSERT INTO customer_phones (tenant_id, customer_id, phone)
            VALUES (cap.tenant_id, visitor_cid, '+' || e164)
            ON CONFLICT DO NOTHING;
        ELSIF cap.phone_raw IS NOT NULL THEN
            -- not a supported mobile: kept as a phone attribute only
            UPDATE customers
               SET attributes = attributes || jsonb_build_object('phone',
                       CASE WHEN e164 IS NOT NULL THEN '+' || e164
                            ELSE cap.phone_raw END),
                   updated_at = now()
             WHERE tenant_id = cap.tenant_id AND id = visitor_cid;
        END IF;

        UPDATE customers SET updated_at = now()
         WHERE tenant_id = cap.tenant_id AND id = visitor_cid;

        UPDATE omni_px_captures
           SET processed_at = now(),
               outcome = coalesce(kind, 'email')
         WHERE id = cap.id;

        applied := applied + 1;
    END LOOP;

    RETURN json_build_object('applied', applied);
END;
$$;

-- the Pixel log, newest first; the cursor is "<epoch µs>.<id>"
CREATE FUNCTION omni_pixel_log(p_tenant bigint, p_per_page int,
    p_cursor text, p_ev text, p_since timestamptz, p_until timestamptz)
RETURNS json LANGUAGE plpgsql STABLE AS $$
DECLARE
    c_at timestamptz;
    c_id bigint;
    result json;
BEGIN
    IF p_cursor IS NOT NULL THEN
        IF p_cursor !~ '^[0-9]{1,18}\.[0-9]{1,18}$' THEN
            PERFORM omni_raise(400, 'invalid_cursor',
                               'The cursor is not one this list gave out');
        END IF;
        c_at := to_timestamp(split_part(p_cursor, '.', 1)::numeric / 1e6);
        c_id := split_part(p_cursor, '.', 2)::bigint;
    END IF;

    WITH page AS (
        SELECT e.* FROM pixel_events e
         WHERE e.tenant_id = p_tenant
           AND (p_ev IS NULL OR e.ev = p_ev)
           AND (p_since IS NULL OR e.received_at >= p_since)
           AND (p_until IS NULL OR e.received_at < p_until)
           AND (c_at IS NULL OR (e.received_at, e.id) < (c_at, c_id))
         ORDER BY e.received_at DESC, e.id DESC
         LIMIT p_per_page + 1
    ), numbered AS (
        SELECT p.*, row_number() OVER (ORDER BY received_at DESC, id DESC) n
          FROM page p
    )
    SELECT json_build_object(
        'items', coalesce(json_agg(json_build_object(
                     'id', id, 'received_at', received_at, 'ev', ev,
                     'vid', vid, 'url', url, 'ref', ref,
                     'client_ts', client_ts, 'phone', phone,
                     'email', email, 'props', props, 'ip', host(ip),
                     'ua', ua) ORDER BY n) FILTER (WHERE n <= p_per_page),
                     '[]'),
        'next_cursor', (SELECT (extract(epoch FROM received_at) * 1e6)
                                   ::bigint::text || '.' || id
                          FROM numbered WHERE n = p_per_page
                           AND (SELECT count(*) FROM numbered) > p_per_page))
      INTO result
      FROM numbered;

    RETURN result;
END;
$$;

INSERT INTO omni_schema_migrations (version) VALUES (2);
