-- 008: webhooks in (SPEC §7 "Channel webhooks"): the channel of a webhook,
-- the inbox's group commit, and the applier that turns inbox rows into
-- customers, identities, conversations, messages and statuses.
-- docs/webhooks.md tells the whole path.

-- The account a channel receives for: what a webhook event's "account"
-- names (WhatsApp phone_number_id, the Messenger page, the Instagram
-- account).  LINE's destination is a bot user id that the channel's
-- credentials do not hold: NULL, not checked.
CREATE FUNCTION omni_channel_account(p_type text, p_credentials jsonb)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_type
        WHEN 'whatsapp' THEN p_credentials->>'phone_number_id'
        WHEN 'messenger' THEN p_credentials->>'page_id'
        WHEN 'instagram' THEN p_credentials->>'ig_user_id'
    END
$$;

-- The secret that signs a channel's webhooks.
CREATE FUNCTION omni_channel_hook_secret(p_type text, p_credentials jsonb)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_type
        WHEN 'line' THEN p_credentials->>'channel_secret'
        ELSE p_credentials->>'app_secret'
    END
$$;

-- POST/GET /omni/hooks/{id}: the channel by its id alone (the webhook
-- brings no tenant), for the shared cache.  No row: no such channel.
CREATE FUNCTION omni_hook_channel(p_id bigint)
RETURNS TABLE (tenant_id bigint, type text, secret text, verify_token text,
               account text)
LANGUAGE sql STABLE AS $$
    SELECT c.tenant_id, c.type,
           omni_channel_hook_secret(c.type, c.credentials),
           c.credentials->>'verify_token',
           omni_channel_account(c.type, c.credentials)
      FROM channels c
     WHERE c.id = p_id
$$;

-- The group commit: the webhooks a worker accepted while the previous
-- insert was out, one inbox row each, in one statement (one commit).
-- p_batch: [{"t": tenant, "c": channel, "e": [events]}, ...]
CREATE FUNCTION omni_hook_accept(p_batch jsonb) RETURNS int
LANGUAGE sql AS $$
    WITH stored AS (
        INSERT INTO webhook_inbox (tenant_id, channel_id, events)
        SELECT (b->>'t')::bigint, (b->>'c')::bigint, b->'e'
          FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS x(b, n)
         ORDER BY x.n
        RETURNING 1)
    SELECT count(*)::int FROM stored
$$;


-- The customer behind a social identity, made on its first message.  A
-- WhatsApp id is the customer's E.164 number without "+": the phone joins
-- customer_phones as Pixel capture records it, and a customer who already
-- has that phone (imported, captured as a phone attribute's owner) gets the
-- identity rather than a twin.  Two appliers may meet on a new identity:
-- the identity's primary key decides, and the loser drops its new row.
CREATE FUNCTION omni_identity_customer(p_tenant bigint, p_type text,
    p_external text, p_name text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    cid bigint;
    won bigint;
    e164 text;
BEGIN
    IF p_type = 'whatsapp' AND p_external ~ '^[1-9][0-9]{5,14}$' THEN
        e164 := '+' || p_external;
    END IF;

    SELECT customer_id INTO cid FROM customer_identities
     WHERE tenant_id = p_tenant AND channel_type = p_type
       AND external_id = p_external;

    IF cid IS NULL THEN
        IF e164 IS NOT NULL THEN
            SELECT c.id INTO cid
              FROM customer_phones p
              JOIN customers c ON c.tenant_id = p.tenant_id
                              AND c.id = p.customer_id
             WHERE p.tenant_id = p_tenant AND p.phone = e164
               AND c.merged_into IS NULL
             ORDER BY c.id LIMIT 1;
        END IF;

        IF cid IS NULL THEN
            INSERT INTO customers (tenant_id, name)
            VALUES (p_tenant, nullif(p_name, ''))
            RETURNING id INTO cid;
            won := cid;
        END IF;

        INSERT INTO customer_identities (tenant_id, channel_type,
                                         external_id, customer_id)
        VALUES (p_tenant, p_type, p_external, cid)
        ON CONFLICT DO NOTHING;

        IF NOT FOUND THEN
            -- another applier made it first: theirs
            IF won IS NOT NULL THEN
                DELETE FROM customers
                 WHERE tenant_id = p_tenant AND id = won;
            END IF;

            SELECT customer_id INTO cid FROM customer_identities
             WHERE tenant_id = p_tenant AND channel_type = p_type
               AND external_id = p_external;
        END IF;
    END IF;

    IF nullif(p_name, '') IS NOT NULL THEN
        UPDATE customers SET name = p_name, updated_at = now()
         WHERE tenant_id = p_tenant AND id = cid AND name IS NULL;
    END IF;

    IF e164 IS NOT NULL THEN
        INSERT INTO customer_phones (tenant_id, customer_id, phone)
        VALUES (p_tenant, cid, e164)
        ON CONFLICT DO NOTHING;
    END IF;

    RETURN cid;
END;
$$;

-- An inbound message's items, in the API's item shape: the text, a media
-- reference, a location, a button or postback reply, a sticker.
CREATE FUNCTION omni_inbox_items(p_ev jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
        'type', p_ev->>'type',
        'text', p_ev->'text',
        'media', p_ev->'media',
        'location', p_ev->'location',
        'reply', p_ev->'reply',
        'sticker', p_ev->'sticker',
        'channel_type', p_ev->'channel_type',
        'attachments', p_ev->'attachments')))
$$;

-- {"message": 3} + ("message", 1) -> {"message": 4}
CREATE FUNCTION omni_count(p_counts jsonb, p_key text, p_n int) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_counts || jsonb_build_object(p_key,
               coalesce((p_counts->>p_key)::int, 0) + p_n)
$$;

-- One normalized event (core/omni_hook_parse) of channel p_ch applied.
-- The outcome: message, duplicate (that message id is stored already),
-- status, status_early (our send is not recorded yet), unknown (kept in
-- the inbox row only), foreign (another account's event: note says why).
CREATE FUNCTION omni_inbox_event(p_ch channels, p_ev jsonb,
    OUT outcome text, OUT note text)
LANGUAGE plpgsql AS $$
DECLARE
    ch channels := p_ch;
    own text := omni_channel_account(p_ch.type, p_ch.credentials);
    ev_at timestamptz := coalesce(omni_px_ms_time((p_ev->>'ts_ms')::bigint),
                               now());
    cid bigint;
    conv bigint;
    mid bigint;
    cmid text;
    watermark timestamptz;
BEGIN
    IF coalesce(p_ev->>'kind', '') NOT IN ('message', 'status') THEN
        outcome := 'unknown';
        RETURN;
    END IF;

    -- A Meta app signs the webhooks of every page or number it serves
    -- with one secret and posts them to one URL: an event for another
    -- account goes to this tenant's channel of that account and the same
    -- app, if there is one; else it is kept in the inbox, not applied.
    IF own IS NOT NULL AND p_ev->>'account' IS DISTINCT FROM own THEN
        SELECT c.* INTO ch FROM channels c
         WHERE c.tenant_id = p_ch.tenant_id AND c.type = p_ch.type
           AND omni_channel_account(c.type, c.credentials)
               = p_ev->>'account'
           AND omni_channel_hook_secret(c.type, c.credentials)
               = omni_channel_hook_secret(p_ch.type, p_ch.credentials)
         ORDER BY c.id LIMIT 1;

        IF ch.id IS NULL THEN
            outcome := 'foreign';
            note := format('account %s is not channel %s''s (%s)',
                           coalesce(p_ev->>'account', 'none'), p_ch.id,
                           own);
            RETURN;
        END IF;
    END IF;

    IF p_ev->>'kind' = 'message' THEN
        cid := omni_identity_customer(ch.tenant_id, ch.type,
                                      p_ev->>'sender',
                                      p_ev->>'profile_name');

        INSERT INTO conversations (tenant_id, customer_id, channel_id)
        VALUES (ch.tenant_id, cid, ch.id)
        ON CONFLICT (tenant_id, customer_id, channel_id) DO NOTHING
        RETURNING id INTO conv;

        IF conv IS NULL THEN
            SELECT id INTO conv FROM conversations
             WHERE tenant_id = ch.tenant_id AND customer_id = cid
               AND channel_id = ch.id;
        END IF;

        INSERT INTO messages (tenant_id, conversation_id, direction, items,
                              status, channel_message_id, type, raw,
                              channel_at)
        VALUES (ch.tenant_id, conv, 'in', omni_inbox_items(p_ev),
                'received', p_ev->>'message_id', p_ev->>'type',
                p_ev->'raw', ev_at)
        ON CONFLICT DO NOTHING
        RETURNING id INTO mid;

        IF mid IS NULL THEN
            outcome := 'duplicate';
            RETURN;
        END IF;

        UPDATE conversations
           SET last_inbound_at = greatest(last_inbound_at, ev_at),
               last_message_at = greatest(last_message_at, ev_at)
         WHERE tenant_id = ch.tenant_id AND id = conv;

        UPDATE customers
           SET last_contact_at = greatest(last_contact_at, ev_at)
         WHERE tenant_id = ch.tenant_id AND id = cid;

        outcome := 'message';
        RETURN;
    END IF;

    -- a status of one of our messages, by its channel message id
    IF p_ev->>'message_id' IS NOT NULL THEN
        outcome := CASE WHEN omni_message_status_apply(ch.tenant_id,
                                 p_ev->>'message_id', p_ev->>'status',
                                 p_ev->'error', ev_at)
                        THEN 'status' ELSE 'status_early' END;
        RETURN;
    END IF;

    -- Messenger's read (or a delivery without mids): everything we sent
    -- to that customer on this channel up to the watermark
    watermark := omni_px_ms_time((p_ev->>'watermark_ms')::bigint);
    outcome := 'status';

    FOR cmid IN
        SELECT o.channel_message_id
          FROM customer_identities i
          JOIN conversations v ON v.tenant_id = i.tenant_id
                              AND v.customer_id = i.customer_id
                              AND v.channel_id = ch.id
          JOIN outbox o ON o.tenant_id = v.tenant_id
                       AND o.conversation_id = v.id
          JOIN messages m ON m.tenant_id = o.tenant_id
                         AND m.id = o.message_id
         WHERE i.tenant_id = ch.tenant_id AND i.channel_type = ch.type
           AND i.external_id = p_ev->>'recipient'
           AND o.channel_message_id IS NOT NULL
           AND m.direction = 'out' AND m.sent_at <= watermark
         ORDER BY o.id
    LOOP
        PERFORM omni_message_status_apply(ch.tenant_id, cmid,
                                          p_ev->>'status', NULL, ev_at);
    END LOOP;
END;
$$;

-- The applier (channels/ngx_omni_inbox.c, a job on every worker): claims
-- up to p_limit pending inbox rows (SKIP LOCKED: workers and hosts never
-- wait on each other's rows, and a row's lock lasts this transaction, so
-- a crash leaves it pending), applies every event and marks the row.
-- One bad event must not hold back the others nor come back forever: a
-- row is tried whole, and if any event raises, again one event at a time,
-- each in its own block; the failures go to webhook_inbox.error, with the
-- notes on events not applied, and the row is done either way.
CREATE FUNCTION omni_inbox_apply(p_limit int) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    w record;
    ch channels;
    i int;
    outcome text;
    note text;
    notes text[];
    row_counts jsonb;
    counts jsonb := '{}';
    n_rows int := 0;
BEGIN
    FOR w IN
        SELECT b.tenant_id, b.id, b.channel_id, b.events
          FROM webhook_inbox b
         WHERE b.applied_at IS NULL
         ORDER BY b.id
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    LOOP
        SELECT * INTO ch FROM channels
         WHERE tenant_id = w.tenant_id AND id = w.channel_id;

        notes := '{}';
        row_counts := '{}';

        BEGIN
            FOR i IN 0 .. jsonb_array_length(w.events) - 1 LOOP
                SELECT * INTO outcome, note
                  FROM omni_inbox_event(ch, w.events->i);
                row_counts := omni_count(row_counts, outcome, 1);
                IF note IS NOT NULL THEN
                    notes := notes || format('event %s: %s', i, note);
                END IF;
            END LOOP;
        EXCEPTION WHEN OTHERS THEN
            notes := '{}';
            row_counts := '{}';

            FOR i IN 0 .. jsonb_array_length(w.events) - 1 LOOP
                BEGIN
                    SELECT * INTO outcome, note
                      FROM omni_inbox_event(ch, w.events->i);
                EXCEPTION WHEN OTHERS THEN
                    outcome := 'error';
                    note := format('%s %s', SQLSTATE, SQLERRM);
                END;
                row_counts := omni_count(row_counts, outcome, 1);
                IF note IS NOT NULL THEN
                    notes := notes || format('event %s: %s', i, note);
                END IF;
            END LOOP;
        END;

        UPDATE webhook_inbox
           SET applied_at = now(),
               error = nullif(array_to_string(notes, '; '), '')
         WHERE tenant_id = w.tenant_id AND id = w.id;

        FOR outcome IN SELECT jsonb_object_keys(row_counts) LOOP
            counts := omni_count(counts, outcome,
                                 (row_counts->>outcome)::int);
        END LOOP;

        n_rows := n_rows + 1;
    END LOOP;

    RETURN (jsonb_build_object('rows', n_rows) || counts)::json;
END;
$$;

INSERT INTO omni_schema_migrations (version) VALUES (8);
