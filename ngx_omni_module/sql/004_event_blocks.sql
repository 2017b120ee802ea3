-- 004: Pixel events stored as blocks: one row per pixel key per flushed
-- batch, its events the JSON lines the module wrote, joined by newlines.
-- A row per event cost PostgreSQL ~10 µs of CPU (a heap tuple and four
-- index entries); a block costs well under 1 µs per event, which is what
-- lets a host take beacons at nginx's speed.  pixel_events stays, as a
-- view that opens the blocks.

ALTER TABLE pixel_events RENAME TO pixel_events_legacy;

CREATE SEQUENCE pixel_event_blocks_id_seq;

-- partitioned by month of the newest event; a default partition catches
-- anything else
CREATE TABLE pixel_event_blocks (
    tenant_id   bigint NOT NULL,
    id          bigint NOT NULL DEFAULT nextval('pixel_event_blocks_id_seq'),
    first_at    timestamptz NOT NULL,
    last_at     timestamptz NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT now(),
    n           int NOT NULL CHECK (n > 0 AND n < 1048576),
    evs         text NOT NULL,      -- the event names in it; '*': any
    events      text NOT NULL,      -- JSON lines, oldest first
    PRIMARY KEY (tenant_id, last_at, id)
) PARTITION BY RANGE (last_at);

-- which blocks hold an event name: one entry per name per block
CREATE INDEX ON pixel_event_blocks USING gin (string_to_array(evs, ' '));

CREATE TABLE pixel_event_blocks_default PARTITION OF pixel_event_blocks
    DEFAULT;

-- lz4 where the server has it: several times faster than pglz, and blocks
-- compress well (the same keys on every line)
CREATE FUNCTION omni_px_block_compression(p_table text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %I ALTER events SET COMPRESSION lz4',
                   p_table);
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;
END;
$$;

SELECT omni_px_block_compression('pixel_event_blocks');
SELECT omni_px_block_compression('pixel_event_blocks_default');

-- safe casts for lines read back (also in 002 as it ended)
CREATE OR REPLACE FUNCTION omni_try_jsonb(p text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN CASE WHEN jsonb_typeof(p::jsonb) = 'object' THEN p::jsonb
                ELSE '{}' END;
EXCEPTION WHEN others THEN
    RETURN '{}';
END;
$$;

CREATE OR REPLACE FUNCTION omni_try_inet(p text) RETURNS inet
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN p::inet;
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$;

-- a block's event id: the block's id and the line's place in it
CREATE FUNCTION omni_px_event_id(p_block bigint, p_line bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT p_block * 1048576 + p_line - 1 $$;

-- "{"t":MS,"ev":"NAME",...": read without parsing the JSON
CREATE FUNCTION omni_px_line_ms(p_line text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN split_part(p_line, ',', 1) ~ '^\{"t":[0-9]{1,15}$'
                THEN substr(split_part(p_line, ',', 1), 6)::bigint END
$$;

CREATE FUNCTION omni_px_line_ev(p_line text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT split_part(p_line, '"', 6) $$;

CREATE FUNCTION omni_px_ms_time(p_ms bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_ms BETWEEN 0 AND 253402300799999
                THEN to_timestamp(p_ms / 1000.0) END
$$;

-- the events, one row each, as 002 stored them
CREATE VIEW pixel_events AS
SELECT b.tenant_id,
       omni_px_event_id(b.id, l.n) AS id,
       omni_px_ms_time(omni_px_line_ms(l.line)) AS received_at,
       b.stored_at,
       j->>'ev' AS ev,
       j->>'vid' AS vid,
       j->>'url' AS url,
       j->>'ref' AS ref,
       omni_px_ms_time(CASE WHEN jsonb_typeof(j->'cts') = 'number'
                            THEN (j->>'cts')::numeric::bigint END)
           AS client_ts,
       j->>'ph' AS phone,
       j->>'em' AS email,
       coalesce(j->'props', '{}') AS props,
       omni_try_inet(j->>'ip') AS ip,
       j->>'ua' AS ua
  FROM pixel_event_blocks b
 CROSS JOIN LATERAL string_to_table(b.events, E'\n')
       WITH ORDINALITY AS l(line, n)
 CROSS JOIN LATERAL omni_try_jsonb(l.line) AS j;

-- the events 002 stored, moved into blocks (one per tenant and day)
INSERT INTO pixel_event_blocks (tenant_id, first_at, last_at, stored_at, n,
                                evs, events)
SELECT tenant_id, min(received_at), max(received_at), max(stored_at),
       count(*),
       CASE WHEN count(DISTINCT ev) <= 15 THEN string_agg(DISTINCT ev, ' ')
            ELSE '*' END,
       string_agg('{"t":'
                  || (extract(epoch FROM received_at) * 1000)::bigint
                  || ',"ev":' || to_json(ev) || ',"vid":' || to_json(vid)
                  || coalesce(',"url":' || to_json(url), '')
                  || coalesce(',"ref":' || to_json(ref), '')
                  || coalesce(',"cts":'
                              || (extract(epoch FROM client_ts) * 1000)
                                     ::bigint, '')
                  || coalesce(',"ph":' || to_json(phone), '')
                  || coalesce(',"em":' || to_json(email), '')
                  || ',"props":' || props::text
                  || coalesce(',"ip":' || to_json(host(ip)), '')
                  || coalesce(',"ua":' || to_json(ua), '')
                  || '}', E'\n' ORDER BY received_at, id)
  FROM pixel_events_legacy
 GROUP BY tenant_id, date_trunc('day', received_at);

-- 002 changed while it was the newest; what a database has of it may vary
DROP TABLE pixel_events_legacy;
DROP FUNCTION IF EXISTS omni_px_ingest(text, bigint);
DROP FUNCTION IF EXISTS omni_px_ingest_rows(boolean);
DROP TABLE IF EXISTS omni_px_stage;
DROP FUNCTION IF EXISTS omni_px_ensure_partitions(timestamptz);
DROP SEQUENCE IF EXISTS pixel_events_id_seq;

CREATE FUNCTION omni_px_ensure_partitions(p_at timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m timestamptz;
    name text;
BEGIN
    FOR i IN 0 .. 1 LOOP
        m := date_trunc('month', p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
             + make_interval(months => i);
        name := 'pixel_event_blocks_' || to_char(m AT TIME ZONE 'UTC',
                                                 'YYYYMM');
        IF to_regclass(name) IS NULL THEN
            -- blocks already in the default partition for that month move in
            EXECUTE format('CREATE TABLE %I (LIKE pixel_event_blocks
                                INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                           name);
            PERFORM omni_px_block_compression(name);
            EXECUTE format('WITH moved AS (
                                DELETE FROM pixel_event_blocks_default
                                 WHERE last_at >= %L AND last_at < %L
                                RETURNING *)
                            INSERT INTO %I SELECT * FROM moved',
                           m, m + interval '1 month', name);
            EXECUTE format('ALTER TABLE pixel_event_blocks
                            ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                           name, m, m + interval '1 month');
        END IF;
    END LOOP;
END;
$$;

SELECT omni_px_ensure_partitions(now());

-- the batch's ledger row, locked; the month's partitions made first
CREATE OR REPLACE FUNCTION omni_px_ring_lock(p_source text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    d bigint;
BEGIN
    PERFORM omni_px_ensure_partitions(now());

    INSERT INTO omni_px_ring_state (source, drained) VALUES (p_source, 0)
    ON CONFLICT (source) DO NOTHING;

    SELECT drained INTO d FROM omni_px_ring_state
     WHERE source = p_source FOR UPDATE;

    RETURN d;
END;
$$;

-- which tenant each of a batch's keys names
CREATE FUNCTION omni_px_keys(p_keys text[])
RETURNS TABLE (key text, tenant_id bigint)
LANGUAGE sql STABLE AS $$
    SELECT k.key, k.tenant_id FROM pixel_keys k WHERE k.key = ANY (p_keys)
$$;

-- after the blocks' COPY: the batch's captures ("TENANT\tLINE" lines) and
-- the ledger, in the same transaction
CREATE FUNCTION omni_px_stored(p_source text, p_drained bigint,
    p_captures text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    captured int := 0;
BEGIN
    IF p_captures <> '' THEN
        INSERT INTO omni_px_captures (tenant_id, vid, phone_raw, email,
                                      received_at)
        SELECT c.tenant_id, c.j->>'vid', c.j->>'ph', c.j->>'em',
               coalesce(omni_px_ms_time(omni_px_line_ms(c.line)), now())
          FROM (SELECT split_part(r, E'\t', 1)::bigint AS tenant_id,
                       substr(r, strpos(r, E'\t') + 1) AS line,
                       omni_try_jsonb(substr(r, strpos(r, E'\t') + 1)) AS j
                  FROM string_to_table(p_captures, E'\n') AS r
                 WHERE r <> '') c
         WHERE c.j->>'vid' IS NOT NULL
           AND (c.j ? 'ph' OR c.j ? 'em');
        GET DIAGNOSTICS captured = ROW_COUNT;
    END IF;

    UPDATE omni_px_ring_state
       SET drained = greatest(drained, p_drained), updated_at = now()
     WHERE source = p_source;

    RETURN captured;
END;
$$;

-- the Pixel log, newest first: blocks by their newest event, lines newest
-- first within; the cursor is "<block's last_at, epoch µs>.<event id>"
CREATE OR REPLACE FUNCTION omni_pixel_log(p_tenant bigint, p_per_page int,
    p_cursor text, p_ev text, p_since timestamptz, p_until timestamptz)
RETURNS json LANGUAGE plpgsql STABLE AS $$
DECLARE
    c_at timestamptz;
    c_block bigint;
    c_line bigint;
    since_ms bigint := (extract(epoch FROM p_since) * 1000)::bigint;
    until_ms bigint := (extract(epoch FROM p_until) * 1000)::bigint;
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
    IF p_cursor IS NOT NULL THEN
        IF p_cursor !~ '^[0-9]{1,18}\.[0-9]{1,18}$' THEN
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

INSERT INTO omni_schema_migrations (version) VALUES (4);
