-- 005: Pixel log cursors that carry a check, and since/until that are
-- times.  A cursor is a keyset position the client hands back; a position
-- it made up (or took from another tenant) is refused, with no state kept
-- per cursor: each tenant has a random key, a cursor ends in the first 64
-- bits of sha256(key || sha256(key || position)).  Hashing twice keeps a
-- known check from being extended to a longer position.

CREATE FUNCTION omni_random_key() RETURNS bytea
LANGUAGE sql VOLATILE AS $$
    -- pg_strong_random through two version 4 UUIDs: 244 random bits
    SELECT decode(replace(gen_random_uuid()::text
                          || gen_random_uuid()::text, '-', ''), 'hex')
$$;

ALTER TABLE tenants
    ADD COLUMN cursor_key bytea NOT NULL DEFAULT omni_random_key();

CREATE FUNCTION omni_cursor_check(p_tenant bigint, p_position text)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT left(encode(sha256(t.cursor_key
                              || sha256(t.cursor_key
                                        || convert_to(p_position, 'UTF8'))),
                       'hex'), 16)
      FROM tenants t
     WHERE t.id = p_tenant
$$;

-- the Pixel log, newest first: blocks by their newest event, lines newest
-- first within; the cursor is "<block's last_at, epoch µs>.<event id>" and
-- its check; since and until are finite times or absent
CREATE OR REPLACE FUNCTION omni_pixel_log(p_tenant bigint, p_per_page int,
    p_cursor text, p_ev text, p_since timestamptz, p_until timestamptz)
RETURNS json LANGUAGE plpgsql STABLE AS $$
DECLARE
    c_at timestamptz;
    c_block bigint;
    c_line bigint;
    since_ms bigint;
    until_ms bigint;
    want int := p_per_page + 1;
    blk record;
    ids bigint[] := '{}';
    lasts timestamptz[] := '{}';
    stored timestamptz[] := '{}';
    lines text[] := '{}';
    b_ids bigint[];
    b_lines text[];
    next text;
    result json;
BEGIN
    -- 'infinity' is a timestamptz, but no time an event was received at
    IF NOT isfinite(p_since) THEN
        PERFORM omni_raise(400, 'invalid_parameter',
            'since must be a finite time, e.g. 2026-11-25T10:00:00Z');
    END IF;
    IF NOT isfinite(p_until) THEN
        PERFORM omni_raise(400, 'invalid_parameter',
            'until must be a finite time, e.g. 2026-11-25T10:00:00Z');
    END IF;
    since_ms := (extract(epoch FROM p_since) * 1000)::bigint;
    until_ms := (extract(epoch FROM p_until) * 1000)::bigint;

    IF p_cursor IS NOT NULL THEN
        IF p_cursor !~ '^[0-9]{1,18}\.[0-9]{1,18}\.[0-9a-f]{16}$'
           OR split_part(p_cursor, '.', 3) IS DISTINCT FROM
              omni_cursor_check(p_tenant, split_part(p_cursor, '.', 1)
                                          || '.'
                                          || split_part(p_cursor, '.', 2))
        THEN
            PERFORM omni_raise(400, 'invalid_cursor',
                               'The cursor is not one this list gave out');
        END IF;
        c_at := to_timestamp(split_part(p_cursor, '.', 1)::numeric / 1e6);
        c_block := split_part(p_cursor, '.', 2)::bigint / 1048576;
        c_line := split_part(p_cursor, '.', 2)::bigint % 1048576 + 1;
    END IF;

    -- blocks one at a time, newest first, until the page is full
    FOR blk IN
        SELECT b.id, b.last_at, b.stored_at, b.events
          FROM pixel_event_blocks b
         WHERE b.tenant_id = p_tenant
           AND (p_ev IS NULL
                OR string_to_array(b.evs, ' ') && ARRAY[p_ev, '*'])
           AND (p_since IS NULL OR b.last_at >= p_since)
           AND (p_until IS NULL OR b.first_at < p_until)
           AND (c_at IS NULL OR (b.last_at, b.id) <= (c_at, c_block))
         ORDER BY b.last_at DESC, b.id DESC
    LOOP
        SELECT array_agg(omni_px_event_id(blk.id, l.n) ORDER BY l.n DESC),
               array_agg(l.line ORDER BY l.n DESC)
          INTO b_ids, b_lines
          FROM (SELECT x.line, x.n
                  FROM string_to_table(blk.events, E'\n')
                       WITH ORDINALITY AS x(line, n)
                 WHERE (c_at IS NULL OR blk.id <> c_block
                        OR blk.last_at <> c_at OR x.n < c_line)
                   AND (p_ev IS NULL OR omni_px_line_ev(x.line) = p_ev)
                   AND (since_ms IS NULL
                        OR omni_px_line_ms(x.line) >= since_ms)
                   AND (until_ms IS NULL
                        OR omni_px_line_ms(x.line) < until_ms)
                 ORDER BY x.n DESC
                 LIMIT want - coalesce(array_length(ids, 1), 0)) l;

        IF b_ids IS NOT NULL THEN
            ids := ids || b_ids;
            lines := lines || b_lines;
            lasts := lasts || array_fill(blk.last_at,
                                         ARRAY[array_length(b_ids, 1)]);
            stored := stored || array_fill(blk.stored_at,
                                           ARRAY[array_length(b_ids, 1)]);
        END IF;

        EXIT WHEN coalesce(array_length(ids, 1), 0) >= want;
    END LOOP;

    IF coalesce(array_length(ids, 1), 0) > p_per_page THEN
        next := (extract(epoch FROM lasts[p_per_page]) * 1e6)::bigint::text
                || '.' || ids[p_per_page];
        next := next || '.' || omni_cursor_check(p_tenant, next);
    END IF;

    SELECT json_build_object(
        'items', coalesce(json_agg(json_build_object(
                     'id', ids[i],
                     'received_at', omni_px_ms_time(omni_px_line_ms(lines[i])),
                     'stored_at', stored[i],
                     'ev', j->>'ev', 'vid', j->>'vid', 'url', j->>'url',
                     'ref', j->>'ref',
                     'client_ts', omni_px_ms_time(
                         CASE WHEN jsonb_typeof(j->'cts') = 'number'
                              THEN (j->>'cts')::numeric::bigint END),
                     'phone', j->>'ph', 'email', j->>'em',
                     'props', coalesce(j->'props', '{}'),
                     'ip', host(omni_try_inet(j->>'ip')),
                     'ua', j->>'ua') ORDER BY i), '[]'),
        'next_cursor', next)
      INTO result
      FROM generate_series(1, least(coalesce(array_length(ids, 1), 0),
                                    p_per_page)) AS i
     CROSS JOIN LATERAL omni_try_jsonb(lines[i]) AS j;

    RETURN result;
END;
$$;

INSERT INTO omni_schema_migrations (version) VALUES (5);
