-- 011: the tables of saved replies, their media and bot modules (SPEC §2,
-- §7).  Functions come in the migrations after this one, one per part:
-- media, bot modules, saved replies.

-- An uploaded file as a tenant sees it.  Its bytes are content-addressed
-- (media_blobs, by sha256) and shared: the same bytes uploaded twice, by
-- anyone, are stored once.
CREATE TABLE media (
    tenant_id      bigint NOT NULL REFERENCES tenants,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    kind           text NOT NULL CHECK (kind IN ('image', 'video', 'file')),
    mime           text NOT NULL,
    filename       text CHECK (length(filename) BETWEEN 1 AND 240),
    size           bigint NOT NULL CHECK (size >= 0),     -- as stored
    original_size  bigint NOT NULL CHECK (original_size >= 0),
    sha256         bytea NOT NULL CHECK (length(sha256) = 32),
    uploaded_by    bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, uploaded_by) REFERENCES members
);

CREATE INDEX ON media (sha256);

-- The bytes, in chunks, where every host of the fleet can read them; each
-- host keeps a disk cache in front.  A reference table: no tenant.
CREATE TABLE media_blobs (
    sha256      bytea PRIMARY KEY CHECK (length(sha256) = 32),
    mime        text NOT NULL,
    size        bigint NOT NULL CHECK (size >= 0),
    chunks      int NOT NULL CHECK (chunks >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE media_chunks (
    sha256  bytea NOT NULL REFERENCES media_blobs ON DELETE CASCADE,
    seq     int NOT NULL CHECK (seq >= 0),
    data    bytea NOT NULL,
    PRIMARY KEY (sha256, seq)
);


CREATE TABLE bot_modules (
    tenant_id   bigint NOT NULL REFERENCES tenants,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    type        text NOT NULL CHECK (type IN ('text_buttons',
                    'image_carousel', 'quick_replies', 'cart_remarketing',
                    'coupon_card', 'wa_keyword_auto_assign')),
    channels    text[] NOT NULL CHECK (channels <@ ARRAY['whatsapp',
                    'messenger', 'instagram', 'line']),
    content     jsonb NOT NULL,
    created_by  bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES members
);


-- A saved reply: a custom message (items) or a bot module.  Who sees and
-- uses it is its permission; who manages it, its owner and the roles that
-- manage every reply (SPEC §2's table).  usable_on: the channel types it
-- can be sent on (file items, bot module channels, media limits), kept by
-- the functions that write it, so a list filters on one array.
CREATE TABLE saved_replies (
    tenant_id              bigint NOT NULL REFERENCES tenants,
    id                     bigint GENERATED ALWAYS AS IDENTITY,
    owner_member_id        bigint NOT NULL,
    title                  text NOT NULL CHECK (length(title) BETWEEN 1
                                                AND 200),
    shortcut               text CHECK (length(shortcut) BETWEEN 1 AND 64),
    kind                   text NOT NULL CHECK (kind IN ('custom', 'bot')),
    items                  jsonb NOT NULL DEFAULT '[]',
    bot_module_id          bigint,
    permission_type        text NOT NULL CHECK (permission_type IN (
                               'all_members', 'only_me', 'roles',
                               'branches')),
    permission_roles       text[] NOT NULL DEFAULT '{}',
    permission_branch_ids  bigint[] NOT NULL DEFAULT '{}',
    usable_on              text[] NOT NULL DEFAULT '{}',
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_member_id) REFERENCES members,
    FOREIGN KEY (tenant_id, bot_module_id) REFERENCES bot_modules,
    CHECK ((kind = 'bot') = (bot_module_id IS NOT NULL))
);

-- ?q= is a prefix of the title or the shortcut, case-insensitive
CREATE INDEX ON saved_replies (tenant_id, lower(title) text_pattern_ops);
CREATE INDEX ON saved_replies (tenant_id, lower(shortcut) text_pattern_ops);
CREATE INDEX ON saved_replies (tenant_id, bot_module_id)
    WHERE bot_module_id IS NOT NULL;

INSERT INTO omni_schema_migrations (version) VALUES (11);
