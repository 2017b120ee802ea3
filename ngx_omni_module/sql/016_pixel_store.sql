-- 016: a Pixel batch stored by one statement.  The drainer sent BEGIN,
-- the ledger's lock, the keys' tenants, a COPY, the ledger and COMMIT:
-- seven exchanges and about 0.5 ms of PostgreSQL's time a batch whatever
-- its size.  omni_px_store() does the same work in one call, about a
-- seventh of that, so batches can be small (omni_pixel_flush_bytes) and
-- each a short piece of PostgreSQL's work.  The old functions stay for
-- hosts still on the previous module during a rolling upgrade.
--
-- The drainer sends the rows past the ledger's position as far as it
-- knows (p_from).  If the ledger is further (a crash after a commit, or
-- another drainer during a lease's handover), nothing is stored and the
-- answer is stale with the ledger's position; the drainer takes the batch
-- again from there.  Blocks of keys no tenant has are left out and their
-- rows counted; captures come as "KEY\tLINE" lines.

CREATE FUNCTION omni_px_store(p_source text, p_from bigint, p_to bigint,
    p_keys text[], p_first timestamptz[], p_last timestamptz[], p_n int[],
    p_evs text[], p_events text[], p_captures text,
    OUT drained bigint, OUT stale boolean, OUT unknown bigint,
    OUT captured int)
LANGUAGE plpgsql AS $$
BEGIN
    drained := omni_px_ring_lock(p_source);
    stale := drained > p_from;
    unknown := 0;
    captured := 0;

    IF stale THEN
        RETURN;
    END IF;

    WITH b AS (
        SELECT * FROM unnest(p_keys, p_first, p_last, p_n, p_evs, p_events)
                   AS b(key, first_at, last_at, n, evs, events)
    ), stored AS (
        INSERT INTO pixel_event_blocks (tenant_id, first_at, last_at, n,
                                        evs, events)
        SELECT k.tenant_id, b.first_at, b.last_at, b.n, b.evs, b.events
          FROM b JOIN pixel_keys k ON k.key = b.key
        RETURNING n
    )
    SELECT (SELECT coalesce(sum(b.n), 0) FROM b) - coalesce(sum(stored.n), 0)
      INTO unknown
      FROM stored;

    IF p_captures <> '' THEN
        INSERT INTO omni_px_captures (tenant_id, vid, phone_raw, email,
                                      received_at)
        SELECT k.tenant_id, c.j->>'vid', c.j->>'ph', c.j->>'em',
               coalesce(omni_px_ms_time(omni_px_line_ms(c.line)), now())
          FROM (SELECT split_part(r, E'\t', 1) AS key,
                       substr(r, strpos(r, E'\t') + 1) AS line,
                       omni_try_jsonb(substr(r, strpos(r, E'\t') + 1)) AS j
                  FROM string_to_table(p_captures, E'\n') AS r
                 WHERE r <> '') c
          JOIN pixel_keys k ON k.key = c.key
         WHERE c.j->>'vid' IS NOT NULL
           AND (c.j ? 'ph' OR c.j ? 'em');
        GET DIAGNOSTICS captured = ROW_COUNT;
    END IF;

    UPDATE omni_px_ring_state s
       SET drained = greatest(s.drained, p_to), updated_at = now()
     WHERE s.source = p_source
    RETURNING s.drained INTO drained;
END;
$$;

INSERT INTO omni_schema_migrations (version) VALUES (16);
