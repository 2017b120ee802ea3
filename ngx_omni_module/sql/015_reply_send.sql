-- 015: a saved reply, or uploaded media, sent in a conversation (SPEC §2
-- "Using a saved reply in a conversation", §7 conversations).  The
-- database resolves what a message sends for the conversation's channel
-- and the member who sends it; the module renders it (core/omni_render,
-- core/omni_bot_render) and stores it with omni_message_send().

ALTER TABLE messages ADD COLUMN saved_reply_id bigint;

CREATE OR REPLACE FUNCTION omni_message_json(m messages) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', m.id, 'conversation_id', m.conversation_id,
        'direction', m.direction, 'status', m.status,
        'sender_member_id', m.sender_member_id, 'type', m.type,
        'items', m.items, 'payload', m.payload, 'error', m.error,
        'saved_reply_id', m.saved_reply_id,
        'channel_message_id', m.channel_message_id,
        'created_at', m.created_at, 'channel_at', m.channel_at,
        'sent_at', m.sent_at, 'delivered_at', m.delivered_at,
        'read_at', m.read_at)
$$;


-- The media of a message as the module renders it: {"ID": {"kind",
-- "mime","size","sha256","filename"}}; each must be the tenant's, of the
-- kind its item says (p_kinds: kind per id, NULL: any) and within the
-- channel's limit, else 422 naming it.
CREATE FUNCTION omni_message_media(p_tenant bigint, p_channel text,
    p_ids bigint[], p_kinds text[]) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    m media;
    i int;
    lim bigint;
    out jsonb := '{}';
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
        SELECT * INTO m FROM media
         WHERE tenant_id = p_tenant AND id = p_ids[i];

        IF m.id IS NULL OR (p_kinds[i] IS NOT NULL AND m.kind <> p_kinds[i])
        THEN
            PERFORM omni_raise(422, 'unknown_media',
                format('No %s %s was uploaded to this team',
                       coalesce(p_kinds[i], 'media'), p_ids[i]));
        END IF;

        lim := omni_media_limit(p_channel, m.kind);

        IF lim IS NULL THEN
            PERFORM omni_raise(422, 'media_not_supported',
                format('%s conversations take no %s (media %s)',
                       p_channel, m.kind, m.id));
        END IF;

        IF m.size > lim THEN
            PERFORM omni_raise(422, 'media_too_large',
                format('%s takes a %s of at most %s MB; media %s is %s '
                       'bytes', p_channel, m.kind, lim / 1048576, m.id,
                       m.size));
        END IF;

        out := out || jsonb_build_object(m.id::text, jsonb_build_object(
            'kind', m.kind, 'mime', m.mime, 'size', m.size,
            'sha256', encode(m.sha256, 'hex'), 'filename', m.filename));
    END LOOP;

    RETURN out;
END;
$$;


-- What a message sends: a saved reply the member may use in this
-- conversation (p_reply; a custom one may have its items edited in
-- p_items, a bot one never), or items.  Answers {"channel_type","kind":
-- "custom"|"bot","items","bot_module_id","bot_type","content","media",
-- "saved_reply_id"}, or 404/422 with the reason.
CREATE FUNCTION omni_message_content(p_tenant bigint, p_member bigint,
    p_conversation bigint, p_reply bigint, p_items jsonb) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    ch_type text;
    me record;
    r saved_replies;
    b bot_modules;
    items jsonb := p_items;
    ids bigint[];
    kinds text[];
BEGIN
    SELECT ch.type INTO ch_type
      FROM conversations c
      JOIN channels ch ON ch.tenant_id = c.tenant_id AND ch.id = c.channel_id
     WHERE c.tenant_id = p_tenant AND c.id = p_conversation;

    IF ch_type IS NULL THEN
        PERFORM omni_raise(404, 'not_found',
            format('Conversation %s does not exist', p_conversation));
    END IF;

    IF p_reply IS NOT NULL THEN
        SELECT * INTO me FROM omni_saved_reply_member(p_tenant, p_member);

        SELECT * INTO r FROM saved_replies s
         WHERE s.tenant_id = p_tenant AND s.id = p_reply
           AND omni_saved_reply_sees(s, p_member, me.role, me.branch_ids);

        IF r.id IS NULL THEN
            PERFORM omni_raise(422, 'saved_reply_not_found',
                format('No saved reply %s that you may use', p_reply));
        END IF;

        IF r.kind = 'bot' AND p_items IS NOT NULL THEN
            PERFORM omni_raise(422, 'bot_reply_not_editable',
                'A bot reply is sent as it is: its content cannot be '
                'changed in a conversation');
        END IF;

        IF NOT ch_type = ANY (r.usable_on) THEN
            PERFORM omni_raise(422, 'saved_reply_not_usable',
                CASE
                WHEN r.kind = 'bot' THEN
                    format('Saved reply %s is a bot module that does not '
                           'support %s', r.id, ch_type)
                WHEN ch_type NOT IN ('whatsapp', 'messenger')
                     AND r.items @> '[{"type":"file"}]' THEN
                    format('Saved reply %s has a file: files go only to '
                           'WhatsApp and Messenger conversations', r.id)
                ELSE
                    format('Saved reply %s has media that %s does not '
                           'take (a kind or size over its limit)', r.id,
                           ch_type)
                END);
        END IF;

        IF r.kind = 'bot' THEN
            SELECT * INTO b FROM bot_modules
             WHERE tenant_id = p_tenant AND id = r.bot_module_id;
            items := NULL;
        ELSE
            items := coalesce(p_items, r.items);
        END IF;
    END IF;

    IF b.id IS NOT NULL THEN
        -- the images of the module's content, wherever its type has them
        SELECT array_agg(v::text::bigint), array_agg('image'::text)
          INTO ids, kinds
          FROM jsonb_path_query(b.content,
                                'strict $.**.image_media_id') v;
    ELSE
        SELECT array_agg((i->>'media_id')::bigint ORDER BY n),
               array_agg(i->>'type' ORDER BY n)
          INTO ids, kinds
          FROM jsonb_array_elements(items) WITH ORDINALITY AS x(i, n)
         WHERE i ? 'media_id';
    END IF;

    RETURN json_build_object(
        'channel_type', ch_type,
        'kind', CASE WHEN b.id IS NOT NULL THEN 'bot' ELSE 'custom' END,
        'items', items,
        'bot_module_id', b.id, 'bot_type', b.type, 'content', b.content,
        'media', omni_message_media(p_tenant, ch_type, ids, kinds),
        'saved_reply_id', r.id);
END;
$$;


-- omni_message_send() of 009, with the saved reply the message came from
CREATE FUNCTION omni_message_send(p_tenant bigint, p_conversation bigint,
    p_member bigint, p_channel_type text, p_items jsonb, p_requests jsonb,
    p_saved_reply bigint) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    sent json;
    m messages;
BEGIN
    sent := omni_message_send(p_tenant, p_conversation, p_member,
                              p_channel_type, p_items, p_requests);

    IF p_saved_reply IS NULL THEN
        RETURN sent;
    END IF;

    UPDATE messages SET saved_reply_id = p_saved_reply
     WHERE tenant_id = p_tenant AND id = (sent->>'id')::bigint
    RETURNING * INTO m;

    RETURN omni_message_json(m);
END;
$$;

INSERT INTO omni_schema_migrations (version) VALUES (15);
