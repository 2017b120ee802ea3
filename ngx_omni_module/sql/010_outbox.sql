-- 010: delivery.  The deliverers of every host share the outbox: each
-- claims due requests with SKIP LOCKED, within each sending account's
-- token bucket, one request per conversation at a time so that a
-- customer receives a conversation's messages in order.  A claim moves
-- due_at past the lease: the claims of a host that dies mid-send fall due
-- again for the others.  channels/ngx_omni_outbox.c calls these.

CREATE FUNCTION omni_outbox_claim(p_holder text, p_limit int,
    p_lease_ms int, p_rates jsonb)
RETURNS TABLE (tenant_id bigint, id bigint, message_id bigint,
               channel_id bigint, channel_type text, request jsonb,
               auth_value text, attempts int)
LANGUAGE plpgsql AS $$
DECLARE
    acct record;
    b channel_send_budget;
    rate double precision;
    avail double precision;
    n int;
    taken int;
    left_ int := p_limit;
BEGIN
    -- the sending accounts that have a request due, oldest first
    FOR acct IN
        SELECT o.tenant_id AS t, o.channel_id AS c, ch.type AS type,
               min(o.due_at) AS first_due
          FROM outbox o
          JOIN channels ch ON ch.tenant_id = o.tenant_id
                          AND ch.id = o.channel_id
         WHERE o.state = 'pending' AND o.due_at <= now()
         GROUP BY o.tenant_id, o.channel_id, ch.type
         ORDER BY first_due
         LIMIT 100
    LOOP
        EXIT WHEN left_ <= 0;

        rate := coalesce((p_rates->>acct.type)::double precision, 0);
        n := left_;

        INSERT INTO channel_send_budget (tenant_id, channel_id, tokens,
                                         refilled_at)
        VALUES (acct.t, acct.c, rate, now())
        ON CONFLICT DO NOTHING;

        -- the account's bucket; another host claiming for the same
        -- account right now has it, and this claim leaves it alone
        SELECT * INTO b FROM channel_send_budget s
         WHERE s.tenant_id = acct.t AND s.channel_id = acct.c
           FOR UPDATE SKIP LOCKED;

        CONTINUE WHEN b.tenant_id IS NULL;

        IF b.refilled_at > now() THEN
            CONTINUE;   -- held after the channel's rate-limit answer
        END IF;

        IF rate > 0 THEN
            -- at most one second's worth saved up
            avail := least(rate, b.tokens
                       + rate * extract(epoch FROM now() - b.refilled_at));
            n := least(n, floor(avail)::int);
        END IF;

        taken := 0;

        IF n > 0 THEN
            RETURN QUERY
            WITH due AS (
                SELECT o.tenant_id, o.id
                  FROM outbox o
                 WHERE o.tenant_id = acct.t AND o.channel_id = acct.c
                   AND o.state = 'pending' AND o.due_at <= now()
                   AND NOT EXISTS (
                       SELECT 1 FROM outbox p
                        WHERE p.tenant_id = o.tenant_id
                          AND p.conversation_id = o.conversation_id
                          AND p.state = 'pending' AND p.id < o.id)
                 ORDER BY o.due_at, o.id
                 LIMIT n
                   FOR UPDATE SKIP LOCKED),
            claimed AS (
                UPDATE outbox o
                   SET due_at = now() + make_interval(secs => p_lease_ms
                                                             / 1000.0),
                       claimed_by = p_holder,
                       attempts = o.attempts + 1,
                       updated_at = now()
                  FROM due
                 WHERE o.tenant_id = due.tenant_id AND o.id = due.id
                RETURNING o.tenant_id, o.id, o.message_id, o.channel_id,
                          o.request, o.attempts)
            SELECT c.tenant_id, c.id, c.message_id, c.channel_id, acct.type,
                   c.request, ch.credentials->>(c.request->>'auth'),
                   c.attempts
              FROM claimed c
              JOIN channels ch ON ch.tenant_id = c.tenant_id
                              AND ch.id = c.channel_id;

            GET DIAGNOSTICS taken = ROW_COUNT;
        END IF;

        IF rate > 0 THEN
            UPDATE channel_send_budget s
               SET tokens = avail - taken, refilled_at = now()
             WHERE s.tenant_id = acct.t AND s.channel_id = acct.c;
        END IF;

        left_ := left_ - taken;
    END LOOP;
END;
$$;


-- the channel took it: the message is sent (statuses that came first
-- are applied now)
CREATE FUNCTION omni_outbox_sent(p_tenant bigint, p_id bigint,
    p_holder text, p_channel_message_id text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    o outbox;
    e message_status_early;
BEGIN
    UPDATE outbox
       SET state = 'sent', channel_message_id = p_channel_message_id,
           claimed_by = p_holder, last_error = NULL, updated_at = now()
     WHERE tenant_id = p_tenant AND id = p_id AND state = 'pending'
    RETURNING * INTO o;

    IF o.id IS NULL THEN
        RETURN false;     -- already recorded (a resend after a lease)
    END IF;

    UPDATE messages
       SET status = CASE WHEN omni_message_status_rank(status)
                              < omni_message_status_rank('sent')
                         THEN 'sent' ELSE status END,
           sent_at = coalesce(sent_at, now()),
           channel_message_id = CASE WHEN o.part = 0
                                     THEN p_channel_message_id
                                     ELSE channel_message_id END,
           updated_at = now()
     WHERE tenant_id = p_tenant AND id = o.message_id;

    IF p_channel_message_id IS NOT NULL THEN
        FOR e IN
            DELETE FROM message_status_early s
             WHERE s.tenant_id = p_tenant
               AND s.channel_message_id = p_channel_message_id
            RETURNING *
        LOOP
            PERFORM omni_message_status_apply(p_tenant,
                p_channel_message_id, e.status, e.error, e.at);
        END LOOP;
    END IF;

    RETURN true;
END;
$$;


-- not this time: due again after p_delay_ms; p_hold_channel_ms > 0
-- holds the whole sending account (the channel said slow down)
CREATE FUNCTION omni_outbox_retry(p_tenant bigint, p_id bigint,
    p_holder text, p_delay_ms int, p_hold_channel_ms int, p_error jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    o outbox;
BEGIN
    UPDATE outbox
       SET due_at = now() + make_interval(secs => greatest(p_delay_ms, 0)
                                                  / 1000.0),
           claimed_by = NULL, last_error = p_error, updated_at = now()
     WHERE tenant_id = p_tenant AND id = p_id AND state = 'pending'
    RETURNING * INTO o;

    IF o.id IS NOT NULL AND p_hold_channel_ms > 0 THEN
        INSERT INTO channel_send_budget (tenant_id, channel_id, tokens,
                                         refilled_at)
        VALUES (p_tenant, o.channel_id, 0,
                now() + make_interval(secs => p_hold_channel_ms / 1000.0))
        ON CONFLICT (tenant_id, channel_id) DO UPDATE
           SET tokens = 0,
               refilled_at = greatest(channel_send_budget.refilled_at,
                                      excluded.refilled_at);
    END IF;
END;
$$;


-- the channel refused it for good: the message failed with its error
CREATE FUNCTION omni_outbox_failed(p_tenant bigint, p_id bigint,
    p_holder text, p_error jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    o outbox;
BEGIN
    UPDATE outbox
       SET state = 'failed', claimed_by = p_holder, last_error = p_error,
           updated_at = now()
     WHERE tenant_id = p_tenant AND id = p_id AND state = 'pending'
    RETURNING * INTO o;

    IF o.id IS NULL THEN
        RETURN;
    END IF;

    UPDATE messages
       SET status = 'failed', error = p_error, updated_at = now()
     WHERE tenant_id = p_tenant AND id = o.message_id
       AND status <> 'failed';

    -- the rest of the message is not sent without this part
    UPDATE outbox
       SET state = 'failed',
           last_error = jsonb_build_object('code', 'previous_part_failed',
                                           'title', 'An earlier part of '
                                           'this message failed'),
           updated_at = now()
     WHERE tenant_id = p_tenant AND message_id = o.message_id
       AND state = 'pending';
END;
$$;

INSERT INTO omni_schema_migrations (version) VALUES (10);
