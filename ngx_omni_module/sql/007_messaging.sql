-- 007: the messaging core's tables (SPEC §0 conversation, §7 channel
-- webhooks and conversations).  Functions come in the migrations after
-- this one, one per part: webhooks in, the conversations API, delivery.

-- when the customer last wrote: the channels' 24 h window runs from it
ALTER TABLE conversations ADD COLUMN last_inbound_at timestamptz;

-- conversation lists, newest first, for a tenant and for one customer
CREATE INDEX ON conversations (tenant_id, last_message_at DESC, id DESC);
CREATE INDEX ON conversations (tenant_id, customer_id, last_message_at DESC,
                               id DESC);

-- inbound: received; outbound: queued -> sent -> delivered -> read, or
-- failed with the channel's error
ALTER TABLE messages
    ADD COLUMN type        text,          -- inbound: the event's type
    ADD COLUMN raw         jsonb,         -- inbound: the channel's event
    ADD COLUMN error       jsonb,         -- {"code","title"} when failed
    ADD COLUMN channel_at  timestamptz,   -- the channel's own time
    ADD COLUMN sent_at      timestamptz,
    ADD COLUMN delivered_at timestamptz,
    ADD COLUMN read_at      timestamptz,
    ADD COLUMN updated_at   timestamptz NOT NULL DEFAULT now();

ALTER TABLE messages ADD CONSTRAINT messages_status_check CHECK (status IN (
    'received', 'queued', 'sent', 'delivered', 'read', 'failed'));

-- message lists, newest first
CREATE INDEX ON messages (tenant_id, conversation_id, id DESC);


-- The deliverer and the inbox's applier find due rows before they know
-- the tenant: their partial indexes are the lookups by id alone.

-- Webhooks as accepted: the normalized events of one body (each with the
-- channel's raw JSON), durable before the channel hears 200, applied to
-- customers, conversations and messages afterwards.  Rows stay: unknown
-- event types are kept here.
CREATE TABLE webhook_inbox (
    id            bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id     bigint NOT NULL,
    channel_id    bigint NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    events        jsonb NOT NULL,
    applied_at    timestamptz,
    error         text,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels
);

CREATE INDEX webhook_inbox_pending ON webhook_inbox (id)
    WHERE applied_at IS NULL;


-- Outbound: one row per channel request of a message (a message of two
-- items is two requests).  due_at is both "next try" and the lease: a
-- deliverer that claims a row moves due_at past its lease, so the row of
-- a host that died mid-send is due again for the others.
CREATE TABLE outbox (
    id                  bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id           bigint NOT NULL,
    message_id          bigint NOT NULL,
    part                int NOT NULL CHECK (part >= 0),
    conversation_id     bigint NOT NULL,   -- one request in flight each
    channel_id          bigint NOT NULL,
    request             jsonb NOT NULL,  -- {"method","path","auth","body"}
    state               text NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'sent', 'failed')),
    attempts            int NOT NULL DEFAULT 0,
    due_at              timestamptz NOT NULL DEFAULT now(),
    claimed_by          text,
    channel_message_id  text,
    last_error          jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, message_id, part),
    FOREIGN KEY (tenant_id, message_id) REFERENCES messages,
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels
);

CREATE INDEX outbox_due ON outbox (due_at) WHERE state = 'pending';
-- a conversation's messages go out in order: its oldest pending row first
CREATE INDEX outbox_conversation ON outbox (tenant_id, conversation_id, id)
    WHERE state = 'pending';
CREATE INDEX ON outbox (tenant_id, channel_message_id)
    WHERE channel_message_id IS NOT NULL;


-- A status that arrived before our own record of the send (the channel
-- can call back before the deliverer's commit): applied when it is.
CREATE TABLE message_status_early (
    tenant_id           bigint NOT NULL,
    channel_message_id  text NOT NULL,
    status              text NOT NULL,
    error               jsonb,
    at                  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, channel_message_id, status)
);


-- The fleet's send budget per sending account (token bucket): a channel
-- sends at most its rate, whichever host delivers.
CREATE TABLE channel_send_budget (
    tenant_id    bigint NOT NULL,
    channel_id   bigint NOT NULL,
    tokens       double precision NOT NULL,
    refilled_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel_id),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels
        ON DELETE CASCADE
);

-- How far an outbound message got; failed is final.
CREATE FUNCTION omni_message_status_rank(p_status text) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_status WHEN 'queued' THEN 0 WHEN 'sent' THEN 1
                         WHEN 'delivered' THEN 2 WHEN 'read' THEN 3
                         WHEN 'failed' THEN 4 END
$$;

-- One status the channel reported for one of our requests (the webhooks'
-- statuses, the deliverer's own "sent").  A status never moves a message
-- back (a late "delivered" after "read" changes nothing); a message of
-- several requests shows its furthest one, and failed if one failed.
-- A status for a request we have not recorded yet waits in
-- message_status_early; false then.
CREATE FUNCTION omni_message_status_apply(p_tenant bigint,
    p_channel_message_id text, p_status text, p_error jsonb,
    p_at timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    mid bigint;
BEGIN
    SELECT o.message_id INTO mid FROM outbox o
     WHERE o.tenant_id = p_tenant
       AND o.channel_message_id = p_channel_message_id;

    IF mid IS NULL THEN
        INSERT INTO message_status_early
               (tenant_id, channel_message_id, status, error, at)
        VALUES (p_tenant, p_channel_message_id, p_status, p_error,
                coalesce(p_at, now()))
        ON CONFLICT DO NOTHING;
        RETURN false;
    END IF;

    UPDATE messages m
       SET status = CASE
               WHEN m.status = 'failed' THEN m.status
               WHEN omni_message_status_rank(p_status)
                    > omni_message_status_rank(m.status) THEN p_status
               ELSE m.status END,
           error = CASE WHEN p_status = 'failed' AND m.status <> 'failed'
                        THEN p_error ELSE m.error END,
           sent_at = CASE WHEN p_status IN ('sent', 'delivered', 'read')
                          THEN coalesce(m.sent_at, p_at) ELSE m.sent_at END,
           delivered_at = CASE WHEN p_status IN ('delivered', 'read')
                               THEN coalesce(m.delivered_at, p_at)
                               ELSE m.delivered_at END,
           read_at = CASE WHEN p_status = 'read'
                          THEN coalesce(m.read_at, p_at) ELSE m.read_at END,
           updated_at = now()
     WHERE m.tenant_id = p_tenant AND m.id = mid;

    RETURN true;
END;
$$;

INSERT INTO omni_schema_migrations (version) VALUES (7);
