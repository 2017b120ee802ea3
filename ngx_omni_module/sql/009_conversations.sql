-- 009: the conversations API (SPEC §7 conversations): lists newest first,
-- one conversation, its messages, and the outbound path's two statements:
-- the context a send is rendered from, and the store of the message with
-- its outbox rows in one transaction.  api/ngx_omni_conversations.c calls
-- these; the rendering itself is core/omni_render's.

-- The channels' customer-service windows, as core/omni_window has them
-- (the same rule names): WhatsApp, Messenger and Instagram take free-form
-- messages until 24 h after the customer's last message, LINE always.
-- The API decides a send in C; lists and the store's re-check read this.
CREATE FUNCTION omni_conversation_window(p_type text,
    p_last_inbound timestamptz) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p_type = 'line' THEN
            json_build_object('open', true, 'rule', 'line_no_window',
                              'closes_at', NULL)
        WHEN p_type IN ('whatsapp', 'messenger', 'instagram') THEN
            json_build_object(
                'open', coalesce(now() < p_last_inbound + interval '24 hours',
                                 false),
                'rule', CASE p_type
                    WHEN 'whatsapp' THEN 'whatsapp_customer_service_24h'
                    WHEN 'messenger' THEN 'messenger_standard_messaging_24h'
                    ELSE 'instagram_standard_messaging_24h' END,
                'closes_at', p_last_inbound + interval '24 hours')
        ELSE
            json_build_object('open', false, 'rule', 'unknown',
                              'closes_at', NULL)
    END
$$;

-- one message as the API shows it; raw (an inbound event as the channel
-- sent it) stays in the database
CREATE FUNCTION omni_message_json(m messages) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', m.id, 'conversation_id', m.conversation_id,
        'direction', m.direction, 'status', m.status,
        'sender_member_id', m.sender_member_id, 'type', m.type,
        'items', m.items, 'payload', m.payload, 'error', m.error,
        'channel_message_id', m.channel_message_id,
        'created_at', m.created_at, 'channel_at', m.channel_at,
        'sent_at', m.sent_at, 'delivered_at', m.delivered_at,
        'read_at', m.read_at)
$$;

CREATE FUNCTION omni_conversation_json(p_tenant bigint, p_id bigint)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', c.id, 'customer_id', c.customer_id,
        'customer_name', cu.name,
        'channel_id', c.channel_id, 'channel_type', ch.type,
        'channel_name', ch.name,
        'created_at', c.created_at, 'last_message_at', c.last_message_at,
        'last_inbound_at', c.last_inbound_at,
        'window', omni_conversation_window(ch.type, c.last_inbound_at),
        'last_message', (SELECT omni_message_json(m) FROM messages m
                          WHERE m.tenant_id = c.tenant_id
                            AND m.conversation_id = c.id
                          ORDER BY m.id DESC LIMIT 1))
      FROM conversations c
      JOIN channels ch ON ch.tenant_id = c.tenant_id AND ch.id = c.channel_id
      JOIN customers cu ON cu.tenant_id = c.tenant_id
                       AND cu.id = c.customer_id
     WHERE c.tenant_id = p_tenant AND c.id = p_id
$$;

CREATE FUNCTION omni_conversation_get(p_tenant bigint, p_id bigint)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT omni_conversation_json(p_tenant, p_id)
$$;

-- A tenant's conversations, newest first by last_message_at (the index's
-- order, DESC: a conversation without a message yet comes first), one
-- customer's or one channel type's or channel's when asked.  The cursor
-- is "<last_message_at, epoch µs, or n>.<id>" and its check, made by the
-- Pixel log's keyed omni_cursor_check over "conversations:" + position.
CREATE FUNCTION omni_conversation_list(p_tenant bigint, p_per_page int,
    p_cursor text, p_customer bigint, p_channel_type text,
    p_channel bigint) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    pos text;
    c_null boolean;
    c_at timestamptz;
    c_id bigint;
    ids bigint[];
    ats timestamptz[];
    next text;
BEGIN
    IF p_cursor IS NOT NULL THEN
        pos := split_part(p_cursor, '.', 1) || '.'
               || split_part(p_cursor, '.', 2);
        IF p_cursor !~ '^(n|[0-9]{1,18})\.[0-9]{1,18}\.[0-9a-f]{16}$'
           OR split_part(p_cursor, '.', 3) IS DISTINCT FROM
              omni_cursor_check(p_tenant, 'conversations:' || pos)
        THEN
            PERFORM omni_raise(400, 'invalid_cursor',
                               'The cursor is not one this list gave out');
        END IF;
        c_null := split_part(p_cursor, '.', 1) = 'n';
        IF NOT c_null THEN
            c_at := 'epoch'::timestamptz
                    + split_part(p_cursor, '.', 1)::bigint
                      * interval '1 microsecond';
        END IF;
        c_id := split_part(p_cursor, '.', 2)::bigint;
    END IF;

    SELECT array_agg(p.id ORDER BY p.last_message_at DESC, p.id DESC),
           array_agg(p.last_message_at ORDER BY p.last_message_at DESC,
                                                p.id DESC)
      INTO ids, ats
      FROM (SELECT c.id, c.last_message_at
              FROM conversations c
             WHERE c.tenant_id = p_tenant
               AND (p_customer IS NULL OR c.customer_id = p_customer)
               AND (p_channel IS NULL OR c.channel_id = p_channel)
               AND (p_channel_type IS NULL OR EXISTS (
                        SELECT 1 FROM channels ch
                         WHERE ch.tenant_id = c.tenant_id
                           AND ch.id = c.channel_id
                           AND ch.type = p_channel_type))
               AND (c_id IS NULL
                    OR (c_null AND (c.last_message_at IS NOT NULL
                                    OR c.id < c_id))
                    OR (NOT c_null AND (c.last_message_at, c.id)
                                       < (c_at, c_id)))
             ORDER BY c.last_message_at DESC, c.id DESC
             LIMIT p_per_page + 1) p;

    IF coalesce(array_length(ids, 1), 0) > p_per_page THEN
        next := coalesce((extract(epoch FROM ats[p_per_page]) * 1e6)
                         ::bigint::text, 'n')
                || '.' || ids[p_per_page];
        next := next || '.'
                || omni_cursor_check(p_tenant, 'conversations:' || next);
    END IF;

    RETURN json_build_object(
        'items', coalesce((SELECT json_agg(omni_conversation_json(p_tenant,
                                               ids[i]) ORDER BY i)
                             FROM generate_series(1, least(p_per_page,
                                      coalesce(array_length(ids, 1), 0)))
                                  AS i), '[]'),
        'next_cursor', next);
END;
$$;

-- a conversation's messages, newest first, paged by id
CREATE FUNCTION omni_message_list(p_tenant bigint, p_conversation bigint,
    p_cursor bigint, p_per_page int) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM 1 FROM conversations
     WHERE tenant_id = p_tenant AND id = p_conversation;
    IF NOT FOUND THEN
        PERFORM omni_raise(404, 'not_found',
            format('Conversation %s does not exist', p_conversation));
    END IF;

    RETURN (
        WITH page AS (
            SELECT m.id, omni_message_json(m) AS item
              FROM messages m
             WHERE m.tenant_id = p_tenant
               AND m.conversation_id = p_conversation
               AND (p_cursor IS NULL OR m.id < p_cursor)
             ORDER BY m.id DESC
             LIMIT p_per_page + 1)
        SELECT omni_page(array_agg(item ORDER BY id DESC), p_per_page,
                         (array_agg(id ORDER BY id DESC))[p_per_page])
          FROM page);
END;
$$;

-- What a send is rendered from, read in one statement: the channel's type
-- and its account id (never a secret: the deliverer reads those when it
-- sends), the recipient, when the customer last wrote, the database's
-- clock (the window is counted on it, here and in omni_message_send) and
-- the window as the lists show it.  The recipient is the one the customer
-- last wrote from in this conversation (a customer may have two WhatsApp
-- numbers), else the newest identity of the channel's type.  No row: no
-- such conversation in the tenant.
CREATE FUNCTION omni_message_send_context(p_tenant bigint,
    p_conversation bigint)
RETURNS TABLE (channel_type text, account text, recipient text,
               last_inbound_ms bigint, now_ms bigint, window_json json)
LANGUAGE sql STABLE AS $$
    SELECT ch.type,
           CASE ch.type WHEN 'whatsapp' THEN ch.credentials->>'phone_number_id'
                        WHEN 'instagram' THEN ch.credentials->>'ig_user_id'
           END,
           coalesce(
               (SELECT CASE ch.type
                           WHEN 'whatsapp' THEN m.raw->>'from'
                           WHEN 'line' THEN m.raw->'source'->>'userId'
                           ELSE m.raw->'sender'->>'id' END
                  FROM messages m
                 WHERE m.tenant_id = c.tenant_id
                   AND m.conversation_id = c.id AND m.direction = 'in'
                 ORDER BY m.id DESC LIMIT 1),
               (SELECT i.external_id FROM customer_identities i
                 WHERE i.tenant_id = c.tenant_id
                   AND i.customer_id = c.customer_id
                   AND i.channel_type = ch.type
                 ORDER BY i.created_at DESC, i.external_id LIMIT 1)),
           (extract(epoch FROM c.last_inbound_at) * 1000)::bigint,
           (extract(epoch FROM now()) * 1000)::bigint,
           omni_conversation_window(ch.type, c.last_inbound_at)
      FROM conversations c
      JOIN channels ch ON ch.tenant_id = c.tenant_id AND ch.id = c.channel_id
     WHERE c.tenant_id = p_tenant AND c.id = p_conversation
$$;

-- An outbound message and its outbox rows, one per rendered request
-- ({"method","path","auth","body"}, see core/omni_render), committed
-- together; deliverers are told through NOTIFY omni_outbox.  The window
-- is checked again under the conversation's lock: time went on since the
-- API checked it.  payload is the channel's own request body, or the list
-- of them when the message takes several requests.
CREATE FUNCTION omni_message_send(p_tenant bigint, p_conversation bigint,
    p_member bigint, p_channel_type text, p_items jsonb, p_requests jsonb)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    c conversations;
    ch channels;
    w json;
    m messages;
BEGIN
    SELECT * INTO c FROM conversations
     WHERE tenant_id = p_tenant AND id = p_conversation FOR UPDATE;
    IF c.id IS NULL THEN
        PERFORM omni_raise(404, 'not_found',
            format('Conversation %s does not exist', p_conversation));
    END IF;

    SELECT * INTO ch FROM channels
     WHERE tenant_id = p_tenant AND id = c.channel_id;
    IF ch.type IS DISTINCT FROM p_channel_type THEN
        PERFORM omni_raise(409, 'conflict',
            'The conversation''s channel changed; send again');
    END IF;

    w := omni_conversation_window(ch.type, c.last_inbound_at);
    IF NOT (w->>'open')::boolean THEN
        PERFORM omni_raise(422, 'window_closed',
            format('The %s window is closed (rule %s): the customer has '
                   'not written in the last 24 hours', ch.type,
                   w->>'rule'));
    END IF;

    IF jsonb_typeof(p_requests) <> 'array'
       OR jsonb_array_length(p_requests) = 0
    THEN
        PERFORM omni_raise(400, 'invalid_items',
                           'A message needs at least one request');
    END IF;

    INSERT INTO messages (tenant_id, conversation_id, direction,
                          sender_member_id, items, payload, status, type)
    VALUES (p_tenant, p_conversation, 'out', p_member, p_items,
            CASE WHEN jsonb_array_length(p_requests) = 1
                 THEN p_requests->0->'body'
                 ELSE (SELECT jsonb_agg(r->'body' ORDER BY n)
                         FROM jsonb_array_elements(p_requests)
                              WITH ORDINALITY AS x(r, n)) END,
            'queued',
            (SELECT CASE WHEN count(DISTINCT i->>'type') = 1
                         THEN min(i->>'type') ELSE 'mixed' END
               FROM jsonb_array_elements(p_items) AS i))
    RETURNING * INTO m;

    INSERT INTO outbox (tenant_id, message_id, part, conversation_id,
                        channel_id, request)
    SELECT p_tenant, m.id, (x.n - 1)::int, c.id, c.channel_id, x.r
      FROM jsonb_array_elements(p_requests) WITH ORDINALITY AS x(r, n);

    UPDATE conversations
       SET last_message_at = greatest(last_message_at, m.created_at)
     WHERE tenant_id = p_tenant AND id = c.id;

    PERFORM pg_notify('omni_outbox', p_tenant::text);

    RETURN omni_message_json(m);
END;
$$;

INSERT INTO omni_schema_migrations (version) VALUES (9);
