
/*
 * A Pixel batch shaped for PostgreSQL: the rows become one block per
 * pixel key, so that PostgreSQL stores a block as one tuple and a beacon
 * costs it a fraction of a microsecond instead of a row and four index
 * entries.  The memory is kept from batch to batch: a drainer that runs
 * all day allocates it once.
 */

#include "ngx_omni_batch.h"


/*
 * The batch's rows into blocks, one per pixel key, and the keys to ask
 * the database about as a text[] literal (keys are [A-Za-z0-9_-], so
 * quotes are all they need).
 */
ngx_int_t
ngx_omni_batch_shape(ngx_omni_batch_t *b, ngx_uint_t verify)
{
    u_char         *in, *p;
    size_t          len, n, nslots, i;
    omni_blocks_t  *bs;

    bs = &b->blocks;

    ngx_memzero(bs, sizeof(omni_blocks_t));
    b->unknown = 0;
    b->malformed = 0;
    b->oldest_ms = 0;
    b->copy.len = 0;
    ngx_str_set(&b->captures, "");

    if (b->nchunks == 0) {
        b->rows = 0;
        return NGX_OK;
    }

    /* one piece: a row may wrap around the ring's end */
    len = b->chunks[0].len;
    in = b->chunks[0].data;

    if (b->nchunks > 1) {
        len += b->chunks[1].len;
        in = ngx_omni_batch_buffer(b, NGX_OMNI_BATCH_MEM_IN, len);
        if (in == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(in, b->chunks[0].data, b->chunks[0].len);
        ngx_memcpy(p, b->chunks[1].data, b->chunks[1].len);
    }

    n = b->rows + 1;

    for (nslots = 16; nslots < 2 * n; nslots <<= 1) { /* void */ }

    bs->rows = ngx_omni_batch_buffer(b, NGX_OMNI_BATCH_MEM_ROWS,
                                     n * sizeof(omni_block_row_t));
    bs->blocks = ngx_omni_batch_buffer(b, NGX_OMNI_BATCH_MEM_BLOCKS,
                                       n * sizeof(omni_block_t));
    bs->slots = ngx_omni_batch_buffer(b, NGX_OMNI_BATCH_MEM_SLOTS,
                                      nslots * sizeof(uint32_t));

    if (bs->rows == NULL || bs->blocks == NULL || bs->slots == NULL) {
        return NGX_ERROR;
    }

    bs->max_rows = n;
    bs->max_blocks = n;
    bs->nslots = nslots;
    ngx_memzero(bs->slots, nslots * sizeof(uint32_t));

    if (omni_blocks_parse(bs, (char *) in, len, verify) != 0) {
        return NGX_ERROR;
    }

    b->malformed = bs->malformed;
    b->rows = bs->nrows;

    len = 2;

    for (i = 0; i < bs->nblocks; i++) {
        len += bs->blocks[i].key_len + 3;

        if (b->oldest_ms == 0 || bs->blocks[i].first_ms < b->oldest_ms) {
            b->oldest_ms = bs->blocks[i].first_ms;
        }
    }

    p = ngx_omni_batch_buffer(b, NGX_OMNI_BATCH_MEM_KEYS, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    b->keys.data = p;
    *p++ = '{';

    for (i = 0; i < bs->nblocks; i++) {
        if (i) {
            *p++ = ',';
        }

        /* quoted: a key spelt "null" is not a NULL */
        *p++ = '"';
        p = ngx_cpymem(p, bs->blocks[i].key, bs->blocks[i].key_len);
        *p++ = '"';
    }

    *p++ = '}';
    b->keys.len = p - b->keys.data;

    return NGX_OK;
}


void
ngx_omni_batch_set_tenant(ngx_omni_batch_t *b, u_char *key, size_t len,
    int64_t tenant_id)
{
    (void) omni_blocks_set_tenant(&b->blocks, (char *) key, len, tenant_id);
}


/* the blocks of known keys, and their captures */
ngx_int_t
ngx_omni_batch_encode(ngx_omni_batch_t *b)
{
    u_char         *out;
    size_t          size, captures, n;
    omni_blocks_t  *bs;

    bs = &b->blocks;

    b->unknown = omni_blocks_unknown_rows(bs);
    b->rows = bs->nrows - b->unknown;
    b->copy.len = 0;

    if (b->rows == 0) {
        return NGX_OK;
    }

    size = omni_blocks_copy(bs, NULL);
    captures = omni_blocks_captures(bs, NULL, &n);

    out = ngx_omni_batch_buffer(b, NGX_OMNI_BATCH_MEM_OUT, size + captures);
    if (out == NULL) {
        return NGX_ERROR;
    }

    b->copy.data = out;
    b->copy.len = omni_blocks_copy(bs, (char *) out);

    b->captures.data = out + size;
    b->captures.len = omni_blocks_captures(bs, (char *) out + size, &n);

    return NGX_OK;
}


void *
ngx_omni_batch_buffer(ngx_omni_batch_t *b, ngx_uint_t which, size_t size)
{
    ngx_omni_batch_buffer_t  *buf;

    buf = &b->mem[which];

    if (buf->size >= size && buf->data) {
        return buf->data;
    }

    if (buf->data) {
        ngx_free(buf->data);
    }

    size = ngx_max(size, 2 * buf->size);

    buf->data = ngx_alloc(size, ngx_cycle->log);
    buf->size = buf->data ? size : 0;

    return buf->data;
}


void
ngx_omni_batch_free(ngx_omni_batch_t *b)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_OMNI_BATCH_MEM_N; i++) {
        if (b->mem[i].data) {
            ngx_free(b->mem[i].data);
            b->mem[i].data = NULL;
            b->mem[i].size = 0;
        }
    }
}


ngx_uint_t
ngx_omni_batch_count_rows(ngx_str_t *chunks, ngx_uint_t n)
{
    u_char      *p, *end;
    ngx_uint_t   i, rows;

    rows = 0;

    for (i = 0; i < n; i++) {
        p = chunks[i].data;
        end = p + chunks[i].len;

        while ((p = memchr(p, '\n', end - p)) != NULL) {
            rows++;
            p++;
        }
    }

    return rows;
}


uint64_t
ngx_omni_batch_rows_len(ngx_str_t *chunks, ngx_uint_t n, ngx_uint_t rows)
{
    u_char      *p, *end;
    uint64_t     len;
    ngx_uint_t   i;

    len = 0;

    for (i = 0; i < n; i++) {
        p = chunks[i].data;
        end = p + chunks[i].len;

        while (rows && (p = memchr(p, '\n', end - p)) != NULL) {
            p++;
            rows--;
        }

        if (rows == 0) {
            return len + (p - chunks[i].data);
        }

        len += chunks[i].len;
    }

    return len;
}
