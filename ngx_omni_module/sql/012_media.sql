-- 012: media (SPEC §7): the chunk store of content-addressed bytes and
-- the tenant's media rows.  The module writes a blob's chunks one
-- statement each (never one huge parameter), then the media row; a host
-- that misses a blob in its disk cache reads it back chunk by chunk.

-- Opens a blob for writing: true when every chunk is already stored (the
-- same bytes uploaded before, by anyone), so nothing needs sending again.
CREATE FUNCTION omni_media_blob_begin(p_sha256 bytea, p_mime text,
                                      p_size bigint, p_chunks int)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO media_blobs (sha256, mime, size, chunks)
    VALUES (p_sha256, p_mime, p_size, p_chunks)
    ON CONFLICT (sha256) DO NOTHING;

    RETURN omni_media_blob_complete(p_sha256);
END;
$$;

-- Complete: every chunk there and their bytes add up.  An upload that
-- broke half-way leaves an incomplete blob that the next upload of the
-- same bytes completes; it is never served or referenced.
CREATE FUNCTION omni_media_blob_complete(p_sha256 bytea) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT b.chunks = count(c.seq)
                            AND b.size = coalesce(sum(length(c.data)), 0)
                       FROM media_blobs b
                       LEFT JOIN media_chunks c ON c.sha256 = b.sha256
                      WHERE b.sha256 = p_sha256
                      GROUP BY b.sha256), false)
$$;

CREATE FUNCTION omni_media_chunk_put(p_sha256 bytea, p_seq int,
                                     p_data bytea)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO media_chunks (sha256, seq, data)
    VALUES (p_sha256, p_seq, p_data)
    ON CONFLICT (sha256, seq) DO NOTHING
$$;

CREATE FUNCTION omni_media_json(m media, p_url text) RETURNS json
LANGUAGE sql IMMUTABLE AS $$
    SELECT json_strip_nulls(json_build_object(
        'id', m.id, 'kind', m.kind, 'mime', m.mime, 'size', m.size,
        'original_size', m.original_size,
        'sha256', encode(m.sha256, 'hex'), 'filename', m.filename,
        'url', p_url))
$$;

-- The media row, once its blob is complete.  p_url: the public URL the
-- module made (omni_media_url + sha256 + extension).
CREATE FUNCTION omni_media_create(p_tenant bigint, p_member bigint,
                                  p_kind text, p_mime text,
                                  p_filename text, p_size bigint,
                                  p_original_size bigint, p_sha256 bytea,
                                  p_url text)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    m  media;
BEGIN
    IF NOT omni_media_blob_complete(p_sha256) THEN
        PERFORM omni_raise(409, 'media_incomplete',
                           'The media''s bytes are not all stored');
    END IF;

    INSERT INTO media (tenant_id, kind, mime, filename, size, original_size,
                       sha256, uploaded_by)
    VALUES (p_tenant, p_kind, p_mime, nullif(left(p_filename, 240), ''),
            p_size, p_original_size, p_sha256, p_member)
    RETURNING * INTO m;

    RETURN omni_media_json(m, p_url);
END;
$$;

-- For the other parts (saved replies, sending): a tenant's media or NULL.
CREATE FUNCTION omni_media_get(p_tenant bigint, p_id bigint) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT omni_media_json(m, NULL)
      FROM media m
     WHERE m.tenant_id = p_tenant AND m.id = p_id
$$;

-- Serving: a complete blob's type and chunk count (no row: not ours to
-- serve).  Public by design: the sha256 is the capability.
CREATE FUNCTION omni_media_blob(p_sha256 bytea,
                                OUT mime text, OUT size bigint,
                                OUT chunks int)
RETURNS SETOF record LANGUAGE sql STABLE AS $$
    SELECT b.mime, b.size, b.chunks
      FROM media_blobs b
     WHERE b.sha256 = p_sha256 AND omni_media_blob_complete(p_sha256)
$$;

CREATE FUNCTION omni_media_chunk(p_sha256 bytea, p_seq int) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT data FROM media_chunks WHERE sha256 = p_sha256 AND seq = p_seq
$$;

INSERT INTO omni_schema_migrations (version) VALUES (12);
