
/*
 * A Pixel batch shaped for PostgreSQL: the rows become one block per
 * pixel key, so that PostgreSQL stores a block as one tuple and a beacon
 * costs it a fraction of a microsecond instead of a row and four index
 * entries.  The memory is kept from batch to batch: a drainer that runs
 * all day allocates it once.
 */

#include "ngx_omni_batch.h"


#define NGX_OMNI_BATCH_SHAPE  1
#define NGX_OMNI_BATCH_ENCODE 2

/*
 * Rows a slice on the event loop: about 100 µs of parsing or copying, so
 * a beacon that comes meanwhile waits no longer than that.
 */
#define NGX_OMNI_BATCH_SLICE_ROWS  1000

/* no beacon row is shorter: KEY\tC\t{"t":MS,"ev":"NAME"}\n */
#define NGX_OMNI_BATCH_MIN_ROW     16


static ngx_int_t ngx_omni_batch_start(ngx_omni_batch_t *b);
static void ngx_omni_batch_slice(ngx_event_t *ev);
static ngx_int_t ngx_omni_batch_run(ngx_omni_batch_t *b, ngx_uint_t rows);
static ngx_int_t ngx_omni_batch_shape_setup(ngx_omni_batch_t *b);
static ngx_int_t ngx_omni_batch_shape_rows(ngx_omni_batch_t *b,
    ngx_uint_t rows);
static ngx_int_t ngx_omni_batch_shape_keys(ngx_omni_batch_t *b);
static ngx_int_t ngx_omni_batch_encode_rows(ngx_omni_batch_t *b,
    ngx_uint_t rows);
#if (NGX_THREADS)
static void ngx_omni_batch_thread(void *data, ngx_log_t *log);
static void ngx_omni_batch_thread_done(ngx_event_t *ev);
#endif


ngx_int_t
ngx_omni_batch_init(ngx_omni_batch_t *b, ngx_cycle_t *cycle, ngx_str_t *pool)
{
    b->slice.handler = ngx_omni_batch_slice;
    b->slice.data = b;
    b->slice.log = cycle->log;

#if (NGX_THREADS)
    if (pool->len == 0) {
        return NGX_OK;
    }

    b->pool = ngx_thread_pool_get(cycle, pool);

    if (b->pool == NULL) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "omni: nginx has no thread pool \"%V\": pixel "
                      "batches are assembled on the event loop in slices",
                      pool);
        return NGX_OK;
    }

    b->task = ngx_thread_task_alloc(cycle->pool, 0);
    if (b->task == NULL) {
        return NGX_ERROR;
    }

    b->task->ctx = b;
    b->task->handler = ngx_omni_batch_thread;
    b->task->event.handler = ngx_omni_batch_thread_done;
    b->task->event.data = b;
    b->task->event.log = cycle->log;
#else
    (void) pool;
#endif

    return NGX_OK;
}


/*
 * The batch's rows into blocks, one per pixel key, and the keys to ask
 * the database about as a text[] literal (keys are [A-Za-z0-9_-], so
 * quotes are all they need).
 */
ngx_int_t
ngx_omni_batch_shape(ngx_omni_batch_t *b, ngx_uint_t limit, ngx_uint_t verify,
    ngx_omni_batch_done_pt done)
{
    omni_blocks_t  *bs;

    if (b->running) {
        return NGX_ERROR;
    }

    bs = &b->blocks;

    ngx_memzero(bs, sizeof(omni_blocks_t));
    b->unknown = 0;
    b->malformed = 0;
    b->oldest_ms = 0;
    b->copy.len = 0;
    b->taken = 0;
    ngx_str_set(&b->captures, "");

    if (b->nchunks == 0) {
        b->rows = 0;
        return NGX_OK;
    }

    b->job = NGX_OMNI_BATCH_SHAPE;
    b->limit = limit;
    b->verify = verify;
    b->done = done;

    if (ngx_omni_batch_shape_setup(b) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_omni_batch_start(b);
}


void
ngx_omni_batch_set_tenant(ngx_omni_batch_t *b, u_char *key, size_t len,
    int64_t tenant_id)
{
    (void) omni_blocks_set_tenant(&b->blocks, (char *) key, len, tenant_id);
}


/* the blocks of known keys, and their captures */
ngx_int_t
ngx_omni_batch_encode(ngx_omni_batch_t *b, ngx_omni_batch_done_pt done)
{
    u_char         *out;
    size_t          size, captures, n;
    omni_blocks_t  *bs;

    if (b->running) {
        return NGX_ERROR;
    }

    bs = &b->blocks;

    b->unknown = omni_blocks_unknown_rows(bs);
    b->rows = bs->nrows - b->unknown;
    b->copy.len = 0;

    if (b->rows == 0) {
        return NGX_OK;
    }

    size = omni_blocks_copy_layout(bs, NULL);
    captures = omni_blocks_captures(bs, NULL, &n);

    out = ngx_omni_batch_buffer(b, NGX_OMNI_BATCH_MEM_OUT, size + captures);
    if (out == NULL) {
        return NGX_ERROR;
    }

    b->copy.data = out;
    b->copy.len = omni_blocks_copy_layout(bs, (char *) out);

    b->captures.data = out + size;
    b->captures.len = captures;

    b->job = NGX_OMNI_BATCH_ENCODE;
    b->next_row = 0;
    b->done = done;

    return ngx_omni_batch_start(b);
}


/* off the loop: the whole job in a thread, or its first slice next turn */
static ngx_int_t
ngx_omni_batch_start(ngx_omni_batch_t *b)
{
    b->rc = NGX_AGAIN;
    b->running = 1;

#if (NGX_THREADS)
    if (b->pool) {
        if (ngx_thread_task_post(b->pool, b->task) == NGX_OK) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                           "omni batch: job %ui posted to the thread pool",
                           b->job);
            return NGX_AGAIN;
        }

        /* the pool's queue is full: this one goes in slices */
    }
#endif

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni batch: job %ui in slices on the event loop",
                   b->job);

    ngx_post_event(&b->slice, &ngx_posted_next_events);

    return NGX_AGAIN;
}


static void
ngx_omni_batch_slice(ngx_event_t *ev)
{
    ngx_int_t          rc;
    ngx_omni_batch_t  *b;

    b = ev->data;

    rc = ngx_omni_batch_run(b, NGX_OMNI_BATCH_SLICE_ROWS);

    if (rc == NGX_AGAIN) {
        /* the next turn of the loop: what came meanwhile goes first */
        ngx_post_event(&b->slice, &ngx_posted_next_events);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni batch: job %ui done in slices: %i", b->job, rc);

    b->running = 0;
    b->done(b, rc);
}


#if (NGX_THREADS)

static void
ngx_omni_batch_thread(void *data, ngx_log_t *log)
{
    ngx_omni_batch_t  *b = data;

    (void) log;

    b->rc = ngx_omni_batch_run(b, (ngx_uint_t) -1);
}


static void
ngx_omni_batch_thread_done(ngx_event_t *ev)
{
    ngx_omni_batch_t  *b;

    b = ev->data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni batch: job %ui done in the thread pool: %i",
                   b->job, b->rc);

    b->running = 0;
    b->done(b, b->rc == NGX_OK ? NGX_OK : NGX_ERROR);
}

#endif


/* up to rows rows of the job: NGX_AGAIN while there are more */
static ngx_int_t
ngx_omni_batch_run(ngx_omni_batch_t *b, ngx_uint_t rows)
{
    if (b->job == NGX_OMNI_BATCH_ENCODE) {
        return ngx_omni_batch_encode_rows(b, rows);
    }

    return ngx_omni_batch_shape_rows(b, rows);
}


/*
 * The pieces to parse, each of whole rows: a row that wraps around the
 * ring's end is joined in a buffer of its own, the rest is read where it
 * lies; and room for the rows and blocks.
 */
static ngx_int_t
ngx_omni_batch_shape_setup(ngx_omni_batch_t *b)
{
    u_char         *p, *nl, *joined;
    size_t          len, head, n, nslots;
    omni_blocks_t  *bs;

    bs = &b->blocks;

    b->npieces = 0;
    b->piece = 0;
    b->offset = 0;
    b->lines = 0;

    len = b->chunks[0].len;

    if (b->nchunks > 1) {
        len += b->chunks[1].len;

        /* the first chunk up to its last row's end */
        p = b->chunks[0].data;
        head = b->chunks[0].len;

        while (head > 0 && p[head - 1] != '\n') {
            head--;
        }

        if (head) {
            b->pieces[b->npieces].data = p;
            b->pieces[b->npieces++].len = head;
        }

        /* the row across the end, whole */
        nl = memchr(b->chunks[1].data, '\n', b->chunks[1].len);
        n = nl ? (size_t) (nl + 1 - b->chunks[1].data) : b->chunks[1].len;

        joined = ngx_omni_batch_buffer(b, NGX_OMNI_BATCH_MEM_IN,
                                       b->chunks[0].len - head + n);
        if (joined == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(joined, b->chunks[0].data + head,
                       b->chunks[0].len - head);
        ngx_memcpy(p, b->chunks[1].data, n);

        b->pieces[b->npieces].data = joined;
        b->pieces[b->npieces++].len = b->chunks[0].len - head + n;

        if (n < b->chunks[1].len) {
            b->pieces[b->npieces].data = b->chunks[1].data + n;
            b->pieces[b->npieces++].len = b->chunks[1].len - n;
        }

    } else {
        b->pieces[0] = b->chunks[0];
        b->npieces = 1;
    }

    n = ngx_min(b->limit, len / NGX_OMNI_BATCH_MIN_ROW) + 1;

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

    return NGX_OK;
}


/* the next rows of the pieces, never past the batch's limit */
static ngx_int_t
ngx_omni_batch_shape_rows(ngx_omni_batch_t *b, ngx_uint_t rows)
{
    u_char      *p, *q, *end, *nl;
    ngx_str_t   *piece;
    ngx_uint_t   want, k;

    while (b->piece < b->npieces && rows > 0 && b->lines < b->limit) {
        piece = &b->pieces[b->piece];
        p = piece->data + b->offset;
        end = piece->data + piece->len;

        want = ngx_min(rows, b->limit - b->lines);

        for (q = p, k = 0; k < want; k++) {
            nl = memchr(q, '\n', end - q);
            if (nl == NULL) {
                break;
            }

            q = nl + 1;
        }

        if (k == 0) {
            /* a piece that does not end a row: parse it as it is */
            q = end;
        }

        if (omni_blocks_parse(&b->blocks, (char *) p, q - p, b->verify)
            != 0)
        {
            return NGX_ERROR;
        }

        b->taken += q - p;
        b->lines += k;
        rows -= ngx_min(rows, k);
        b->offset = q - piece->data;

        if (b->offset >= piece->len) {
            b->piece++;
            b->offset = 0;
        }
    }

    if (b->piece < b->npieces && b->lines < b->limit) {
        return NGX_AGAIN;
    }

    return ngx_omni_batch_shape_keys(b);
}


static ngx_int_t
ngx_omni_batch_shape_keys(ngx_omni_batch_t *b)
{
    u_char         *p;
    size_t          len, i;
    omni_blocks_t  *bs;

    bs = &b->blocks;

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


/* the next rows' lines into the COPY stream; the captures at the end */
static ngx_int_t
ngx_omni_batch_encode_rows(ngx_omni_batch_t *b, ngx_uint_t rows)
{
    size_t          last, n;
    omni_blocks_t  *bs;

    bs = &b->blocks;

    last = (rows >= bs->nrows - b->next_row) ? bs->nrows
                                             : b->next_row + rows;

    omni_blocks_copy_lines(bs, (char *) b->copy.data, b->next_row, last);
    b->next_row = last;

    if (b->next_row < bs->nrows) {
        return NGX_AGAIN;
    }

    b->captures.len = omni_blocks_captures(bs, (char *) b->captures.data, &n);

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

    if (b->running) {
        /* a thread may still write into them: the exit takes them */
        return;
    }

    if (b->slice.posted) {
        ngx_delete_posted_event(&b->slice);
    }

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
