
/*
 * The Pixel flusher: a job of the runner, one process per host (the
 * job's lease holder), moves beacons from the ring to PostgreSQL, a batch
 * per transaction and a transaction per slice:
 *
 *   BEGIN; omni_px_ring_lock(source) -> drained;
 *   omni_px_keys(the batch's pixel keys) -> their tenants;
 *   COPY pixel_event_blocks FROM STDIN (FORMAT binary)   (a block a key);
 *   omni_px_stored(source, end, captures); COMMIT
 *
 * The rows past drained become one block per pixel key (ngx_omni_batch).
 * The source's drained position is committed with its rows, so a batch
 * retried after a crash is neither lost nor stored twice.  While
 * PostgreSQL is away the ring is written to spool files (ngx_omni_spool);
 * replaying one is the same transaction with the same source, so it too
 * skips what the database already has.  Spool files replay first.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_pg.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_stats.h"
#include "ngx_omni_jobs.h"
#include "ngx_omni_ring.h"
#include "ngx_omni_batch.h"
#include "ngx_omni_spool.h"
#include "ngx_omni_capture.h"
#include "ngx_omni_flusher.h"


/*
 * The state names the answer awaited: of PostgreSQL, or of the batch's
 * assembly (SHAPE, ENCODE), which runs off the event loop.
 */
#define NGX_OMNI_FLUSHER_IDLE     0
#define NGX_OMNI_FLUSHER_BEGIN    1
#define NGX_OMNI_FLUSHER_LOCK     2
#define NGX_OMNI_FLUSHER_SHAPE    3
#define NGX_OMNI_FLUSHER_KEYS     4
#define NGX_OMNI_FLUSHER_ENCODE   5
#define NGX_OMNI_FLUSHER_COPY     6
#define NGX_OMNI_FLUSHER_DATA     7
#define NGX_OMNI_FLUSHER_STORED   8
#define NGX_OMNI_FLUSHER_COMMIT   9
#define NGX_OMNI_FLUSHER_ROLLBACK 10

#define NGX_OMNI_FLUSHER_SPOOL_AFTER  1000      /* ms without a database */
#define NGX_OMNI_FLUSHER_SLICE_MAX    10000     /* a handful of statements */
#define NGX_OMNI_FLUSHER_BACKOFF_MAX  5000
#define NGX_OMNI_FLUSHER_RATE_WINDOW  1000      /* ms, at most */


typedef struct {
    ngx_omni_pg_conn_t     *pc;
    ngx_uint_t              state;
    ngx_uint_t              up;
    ngx_msec_t              down_since;
    ngx_int_t               result;        /* the slice's, after ROLLBACK */

    /*
     * PostgreSQL refused a batch's data (SQLSTATE class 22 or 23): the
     * next batches are cut in halves until the row it refuses is alone,
     * and that row is set aside to a file, so one row never stops the
     * rows behind it.  The cap doubles back after each batch stored.
     */
    ngx_uint_t              cap;           /* rows a batch; 0: no cap */
    ngx_uint_t              refused;       /* the last failure was the data */

    /* the batch in flight */
    u_char                  source[96];
    uint64_t                from;          /* position of the first byte */
    uint64_t                to;            /* position after the last byte */
    ngx_uint_t              from_file;
    ngx_omni_spool_file_t   file;
    ngx_omni_batch_t        batch;

    /*
     * The beacons' rate is read over at least a window: the ring's head
     * at the start of the last window and of the one before.
     */
    uint64_t                window_head[2];
    ngx_msec_t              window_at[2];
} ngx_omni_flusher_t;


static ngx_int_t ngx_omni_flusher_slice(ngx_omni_job_t *job);
static void ngx_omni_flusher_stop(ngx_omni_job_t *job);
static void ngx_omni_flusher_gauges(uint64_t *ring_used,
    uint64_t *ring_capacity, uint64_t *spool_bytes);
static void ngx_omni_flusher_ready(ngx_omni_pg_conn_t *pc, void *data);
static void ngx_omni_flusher_lost(ngx_omni_pg_conn_t *pc, void *data);
static ngx_int_t ngx_omni_flusher_start(void);
static void ngx_omni_flusher_step(void *data, ngx_int_t rc, PGresult *res);
static void ngx_omni_flusher_assembled(ngx_omni_batch_t *b, ngx_int_t rc);
static ngx_uint_t ngx_omni_flusher_limit(void);
static ngx_int_t ngx_omni_flusher_take(uint64_t drained);
static void ngx_omni_flusher_take_ring(uint64_t drained);
static void ngx_omni_flusher_tenants(PGresult *res);
static void ngx_omni_flusher_done(ngx_uint_t ok);
static ngx_int_t ngx_omni_flusher_pace(void);
static void ngx_omni_flusher_end(ngx_int_t rc);
static void ngx_omni_flusher_release_batch(void);
static ngx_int_t ngx_omni_flusher_set_aside(void);
static uint64_t ngx_omni_flusher_stored_to(void);
static void ngx_omni_flusher_lag(void);


static ngx_omni_flusher_t     ngx_omni_flusher;
static ngx_omni_main_conf_t  *ngx_omni_flusher_conf;
static ngx_omni_job_t         ngx_omni_flusher_job;


ngx_int_t
ngx_omni_flusher_init_module(ngx_cycle_t *cycle)
{
    ngx_omni_job_t        *job;
    ngx_omni_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_omni_module);

    job = &ngx_omni_flusher_job;

    ngx_omni_job_init(job, "pixel_flush", "the Pixel ring's drainer",
                      NGX_OMNI_JOB_ONE_PER_HOST, ngx_omni_flusher_slice);
    job->interval = omcf->flush_interval;
    job->slice_max = NGX_OMNI_FLUSHER_SLICE_MAX;
    job->backoff_min = omcf->flush_interval;
    job->backoff_max = ngx_max(omcf->flush_interval,
                               NGX_OMNI_FLUSHER_BACKOFF_MAX);
    job->stop = ngx_omni_flusher_stop;

    ngx_omni_stats_pixel_gauges = ngx_omni_flusher_gauges;

    return ngx_omni_job_register(cycle, job);
}

#if (NGX_DEBUG)
static const char  *ngx_omni_flusher_states[] = {
    "idle", "begin", "lock", "shape", "keys", "encode", "copy", "data",
    "stored", "commit", "rollback"
};
#endif


ngx_int_t
ngx_omni_flusher_init_process(ngx_cycle_t *cycle)
{
    ngx_omni_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_omni_module);
    ngx_omni_flusher_conf = omcf;

    if (ngx_omni_spool_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(&ngx_omni_flusher, sizeof(ngx_omni_flusher_t));

    if (ngx_omni_batch_init(&ngx_omni_flusher.batch, cycle,
                            &omcf->thread_pool)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_omni_flusher_exit_process(ngx_cycle_t *cycle)
{
    (void) cycle;

    if (ngx_omni_flusher_conf == NULL) {
        return;
    }

    /* a ring spool the thread pool finished after the job stopped */
    ngx_omni_spool_exit_process();

    ngx_omni_spool_close_overflow();

    ngx_omni_batch_free(&ngx_omni_flusher.batch);
}


/* for the status page, read by any worker */
static void
ngx_omni_flusher_gauges(uint64_t *ring_used, uint64_t *ring_capacity,
    uint64_t *spool_bytes)
{
    ngx_omni_ring_fill(ring_used, ring_capacity);
    *spool_bytes = ngx_omni_spool_bytes();
}


/*
 * The job stops in the drainer (reload, quit): what the ring holds goes
 * to a spool file, named by its ring positions, so that whoever drains
 * next (a new worker after a reload, or nginx after a restart) stores it
 * exactly once.
 */
static void
ngx_omni_flusher_stop(ngx_omni_job_t *job)
{
    (void) job;

    if (ngx_omni_spool_busy()) {
        /* the thread pool is writing it already; it lets the ring go */
        return;
    }

    (void) ngx_omni_spool_ring();
}


/*
 * A slice: one batch, BEGIN to COMMIT (NGX_DONE: it ends in
 * ngx_omni_flusher_end()), or, while PostgreSQL is away, the ring to disk.
 */
static ngx_int_t
ngx_omni_flusher_slice(ngx_omni_job_t *job)
{
    uint64_t  tail, head;

    (void) job;

    if (ngx_omni_flusher.pc == NULL) {
        /* the database is not away before it was tried */
        ngx_omni_flusher.down_since = ngx_current_msec;
        ngx_omni_flusher.pc = ngx_omni_pg_conn_open("pixel flusher",
                                                    ngx_omni_flusher_ready,
                                                    ngx_omni_flusher_lost,
                                                    NULL);
    }

    ngx_omni_spool_close_overflow();

    if (ngx_omni_flusher.up) {
        return ngx_omni_flusher_start();
    }

    /* PostgreSQL is away: after a while, the disk takes custody */
    ngx_omni_ring_range(&tail, &head);

    if (head > tail
        && ngx_current_msec - ngx_omni_flusher.down_since
           >= NGX_OMNI_FLUSHER_SPOOL_AFTER)
    {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "omni flusher: PostgreSQL away, ring [%uL, %uL) "
                       "to a spool file", tail, head);
        (void) ngx_omni_spool_ring_start();
    }

    return NGX_OK;
}


static void
ngx_omni_flusher_ready(ngx_omni_pg_conn_t *pc, void *data)
{
    (void) pc;
    (void) data;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni flusher: PostgreSQL up");

    ngx_omni_flusher.up = 1;
    ngx_omni_flusher.state = NGX_OMNI_FLUSHER_IDLE;

    /* the rows waited: a slice now rather than at the rest's end */
    ngx_omni_job_wake(&ngx_omni_flusher_job);
}


static void
ngx_omni_flusher_lost(ngx_omni_pg_conn_t *pc, void *data)
{
    (void) pc;
    (void) data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni flusher: PostgreSQL lost in state %s",
                   ngx_omni_flusher_states[ngx_omni_flusher.state]);

    if (ngx_omni_flusher.up) {
        ngx_omni_flusher.down_since = ngx_current_msec;
    }

    ngx_omni_flusher.up = 0;

    if (ngx_omni_flusher.state == NGX_OMNI_FLUSHER_SHAPE
        || ngx_omni_flusher.state == NGX_OMNI_FLUSHER_ENCODE)
    {
        /*
         * No query is out to fail and end the slice: the batch being
         * assembled is given up here (its thread's answer is ignored).
         */
        ngx_omni_flusher_end(NGX_ERROR);
        return;
    }

    ngx_omni_flusher.state = NGX_OMNI_FLUSHER_IDLE;
}


/*
 * The next batch: a spool file first (oldest), else the ring.  NGX_DONE:
 * a batch is under way; NGX_OK: nothing to store.
 */
static ngx_int_t
ngx_omni_flusher_start(void)
{
    ngx_int_t  rc;
    uint64_t   tail, head;

    if (ngx_omni_flusher.state != NGX_OMNI_FLUSHER_IDLE) {
        return NGX_ERROR;
    }

    if (ngx_omni_flusher.batch.running || ngx_omni_spool_busy()) {
        /*
         * a batch given up (its link lost) still assembling, or the ring
         * on its way to a spool file: the next slice
         */
        return NGX_OK;
    }

    ngx_omni_flusher.from_file = 0;
    ngx_omni_flusher.refused = 0;

    if (ngx_omni_spool_next(&ngx_omni_flusher.file) == NGX_OK) {
        ngx_omni_flusher.from_file = 1;
        ngx_cpystrn(ngx_omni_flusher.source, ngx_omni_flusher.file.source,
                    sizeof(ngx_omni_flusher.source));

    } else {
        ngx_omni_ring_range(&tail, &head);

        if (head == tail) {
            return ngx_omni_flusher_pace();
        }

        (void) ngx_sprintf(ngx_omni_flusher.source, "ring:%016xL%Z",
                           ngx_omni_ring_epoch());
    }

    ngx_omni_flusher.state = NGX_OMNI_FLUSHER_BEGIN;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni flusher: idle -> begin, source \"%s\"",
                   ngx_omni_flusher.source);

    rc = ngx_omni_pg_conn_simple(ngx_omni_flusher.pc, "BEGIN",
                                 ngx_omni_flusher_step, NULL);
    if (rc != NGX_OK) {
        ngx_omni_flusher.state = NGX_OMNI_FLUSHER_IDLE;
        return NGX_ERROR;
    }

    return NGX_DONE;
}


static void
ngx_omni_flusher_step(void *data, ngx_int_t rc, PGresult *res)
{
    char              *v;
    uint64_t           drained;
    ngx_str_t          params[3];
    u_char             pos[NGX_INT64_LEN + 1];
    ngx_omni_batch_t  *b;

    (void) data;

    b = &ngx_omni_flusher.batch;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni flusher: %s answered %i",
                   ngx_omni_flusher_states[ngx_omni_flusher.state], rc);

    if (rc != NGX_OK) {
        if (res) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "omni: pixel batch failed: %s",
                          PQresultErrorMessage(res));

            /* a data exception or a constraint: retrying won't help */
            v = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            ngx_omni_flusher.refused = v && (ngx_strncmp(v, "22", 2) == 0
                                             || ngx_strncmp(v, "23", 2) == 0);
        }

        ngx_omni_flusher_done(0);
        return;
    }

    switch (ngx_omni_flusher.state) {

    case NGX_OMNI_FLUSHER_BEGIN:
        ngx_omni_flusher.state = NGX_OMNI_FLUSHER_LOCK;

        params[0].data = ngx_omni_flusher.source;
        params[0].len = ngx_strlen(ngx_omni_flusher.source);

        rc = ngx_omni_pg_conn_prepared(ngx_omni_flusher.pc,
                                       NGX_OMNI_STMT_PX_RING_LOCK, 1, params,
                                       ngx_omni_flusher_step, NULL);
        break;

    case NGX_OMNI_FLUSHER_LOCK:
        v = PQgetvalue(res, 0, 0);
        drained = (uint64_t) ngx_atoof((u_char *) v, ngx_strlen(v));

        if (ngx_omni_flusher_take(drained) != NGX_OK) {
            ngx_omni_flusher_done(0);
            return;
        }

        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "omni flusher: batch taken from \"%s\": [%uL, %uL) "
                       "past drained %uL", ngx_omni_flusher.source,
                       ngx_omni_flusher.from, ngx_omni_flusher.to, drained);

        ngx_omni_flusher.state = NGX_OMNI_FLUSHER_SHAPE;

        rc = ngx_omni_batch_shape(b, ngx_omni_flusher_limit(),
                                  ngx_omni_flusher.from_file,
                                  ngx_omni_flusher_assembled);
        if (rc != NGX_AGAIN) {
            ngx_omni_flusher_step(NULL, rc, NULL);
        }

        return;

    case NGX_OMNI_FLUSHER_SHAPE:
        if (!ngx_omni_flusher.from_file && b->nchunks) {
            /* the rows shaped, at most omni_pixel_flush_batch */
            ngx_omni_flusher.to = ngx_omni_flusher.from + b->taken;
            b->nchunks = ngx_omni_ring_chunks(ngx_omni_flusher.from,
                                              &ngx_omni_flusher.to,
                                              b->chunks);
        }

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "omni flusher: batch shaped: %ui rows, %uz blocks, "
                       "to %uL", b->rows, b->blocks.nblocks,
                       ngx_omni_flusher.to);

        if (b->blocks.nblocks == 0) {
            /* the database has all of it already, or none of it is ours */
            ngx_omni_flusher.state = NGX_OMNI_FLUSHER_DATA;
            ngx_omni_flusher_step(NULL, NGX_OK, NULL);
            return;
        }

        ngx_omni_flusher.state = NGX_OMNI_FLUSHER_KEYS;
        rc = ngx_omni_pg_conn_prepared(ngx_omni_flusher.pc,
                                       NGX_OMNI_STMT_PX_KEYS, 1, &b->keys,
                                       ngx_omni_flusher_step, NULL);
        break;

    case NGX_OMNI_FLUSHER_KEYS:
        ngx_omni_flusher_tenants(res);

        ngx_omni_flusher.state = NGX_OMNI_FLUSHER_ENCODE;

        rc = ngx_omni_batch_encode(b, ngx_omni_flusher_assembled);
        if (rc != NGX_AGAIN) {
            ngx_omni_flusher_step(NULL, rc, NULL);
        }

        return;

    case NGX_OMNI_FLUSHER_ENCODE:
        if (b->copy.len == 0) {
            ngx_omni_flusher.state = NGX_OMNI_FLUSHER_DATA;
            ngx_omni_flusher_step(NULL, NGX_OK, NULL);
            return;
        }

        ngx_omni_flusher.state = NGX_OMNI_FLUSHER_COPY;
        rc = ngx_omni_pg_conn_simple(ngx_omni_flusher.pc,
                 "COPY pixel_event_blocks (tenant_id, first_at, last_at, n, "
                 "evs, events) FROM STDIN (FORMAT binary)",
                 ngx_omni_flusher_step, NULL);
        break;

    case NGX_OMNI_FLUSHER_COPY:
        ngx_omni_flusher.state = NGX_OMNI_FLUSHER_DATA;
        rc = ngx_omni_pg_conn_copy(ngx_omni_flusher.pc, &b->copy, 1,
                                   ngx_omni_flusher_step, NULL);
        break;

    case NGX_OMNI_FLUSHER_DATA:
        ngx_omni_flusher.state = NGX_OMNI_FLUSHER_STORED;

        params[0].data = ngx_omni_flusher.source;
        params[0].len = ngx_strlen(ngx_omni_flusher.source);
        params[1].data = pos;
        params[1].len = ngx_sprintf(pos, "%uL", ngx_omni_flusher_stored_to())
                        - pos;
        params[2] = b->captures;

        rc = ngx_omni_pg_conn_prepared(ngx_omni_flusher.pc,
                                       NGX_OMNI_STMT_PX_STORED, 3, params,
                                       ngx_omni_flusher_step, NULL);
        break;

    case NGX_OMNI_FLUSHER_STORED:
        v = PQgetvalue(res, 0, 0);

        if (ngx_atoi((u_char *) v, ngx_strlen(v)) > 0) {
            ngx_omni_capture_wake();
        }

        ngx_omni_flusher.state = NGX_OMNI_FLUSHER_COMMIT;
        rc = ngx_omni_pg_conn_simple(ngx_omni_flusher.pc, "COMMIT",
                                     ngx_omni_flusher_step, NULL);
        break;

    case NGX_OMNI_FLUSHER_COMMIT:
        ngx_omni_flusher_done(1);
        return;

    case NGX_OMNI_FLUSHER_ROLLBACK:
    default:
        ngx_omni_flusher_end(ngx_omni_flusher.result);
        return;
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "omni: pixel batch step %ui could not be sent",
                      ngx_omni_flusher.state);
        ngx_omni_flusher_done(0);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni flusher: -> %s",
                   ngx_omni_flusher_states[ngx_omni_flusher.state]);
}


/* the batch's assembly is over, in a thread or in slices */
static void
ngx_omni_flusher_assembled(ngx_omni_batch_t *b, ngx_int_t rc)
{
    (void) b;

    if (ngx_omni_flusher.state != NGX_OMNI_FLUSHER_SHAPE
        && ngx_omni_flusher.state != NGX_OMNI_FLUSHER_ENCODE)
    {
        /* the link was lost meanwhile: the batch was given up */
        return;
    }

    ngx_omni_flusher_step(NULL, rc, NULL);
}


/* omni_pixel_flush_batch rows, fewer while a refused row is sought */
static ngx_uint_t
ngx_omni_flusher_limit(void)
{
    ngx_uint_t  limit;

    limit = ngx_omni_flusher_conf->flush_batch;

    if (ngx_omni_flusher.cap && ngx_omni_flusher.cap < limit) {
        limit = ngx_omni_flusher.cap;
    }

    return limit;
}


/*
 * The bytes of this batch, past what the database already has: from the
 * ring (cut to the limit when shaped), or from the spool file being
 * replayed.
 */
static ngx_int_t
ngx_omni_flusher_take(uint64_t drained)
{
    ngx_omni_flusher_t  *f;

    f = &ngx_omni_flusher;

    if (!f->from_file) {
        ngx_omni_flusher_take_ring(drained);
        return NGX_OK;
    }

    return ngx_omni_spool_read(&f->file, drained, ngx_omni_flusher_limit(),
                               &f->batch, &f->from, &f->to);
}


static void
ngx_omni_flusher_take_ring(uint64_t drained)
{
    uint64_t             tail, head, from, to;
    ngx_omni_batch_t    *b;
    ngx_omni_flusher_t  *f;

    f = &ngx_omni_flusher;
    b = &f->batch;

    ngx_omni_ring_range(&tail, &head);

    /* a crash after COMMIT left the tail behind: catch it up */
    from = ngx_max(tail, drained);

    if (from > head) {
        from = head;
    }

    if (from > tail) {
        ngx_omni_ring_advance(from);
    }

    to = ngx_min(head, from + ngx_omni_flusher_conf->flush_bytes);

    b->nchunks = ngx_omni_ring_chunks(from, &to, b->chunks);
    f->from = from;
    f->to = ngx_max(to, from);
}


/* omni_px_keys() answered: the tenant of each key the batch has */
static void
ngx_omni_flusher_tenants(PGresult *res)
{
    int                i;
    char              *key;
    ngx_omni_batch_t  *b;

    b = &ngx_omni_flusher.batch;

    for (i = 0; i < PQntuples(res); i++) {
        key = PQgetvalue(res, i, 0);

        ngx_omni_batch_set_tenant(b, (u_char *) key, ngx_strlen(key),
                                  ngx_atoof((u_char *) PQgetvalue(res, i, 1),
                                            PQgetlength(res, i, 1)));
    }
}


static void
ngx_omni_flusher_done(ngx_uint_t ok)
{
    ngx_omni_batch_t    *b;
    ngx_omni_flusher_t  *f;

    f = &ngx_omni_flusher;
    b = &f->batch;

    if (!ok) {
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.flush_errors, 1);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "omni flusher: batch failed in state %s%s",
                       ngx_omni_flusher_states[f->state],
                       f->refused ? ", data refused" : "");

        if (f->state == NGX_OMNI_FLUSHER_ROLLBACK) {
            /* the ROLLBACK failed as well: the link is in trouble */
            f->result = NGX_ERROR;

        } else if (f->refused) {
            /*
             * Not PostgreSQL's trouble but a row's: the next batch, half
             * this one, goes at once; a single row goes aside.  A disk
             * that can't take it backs off instead.
             */
            f->refused = 0;
            f->result = NGX_AGAIN;

            if (b->rows > 1) {
                f->cap = b->rows / 2;

            } else if (ngx_omni_flusher_set_aside() == NGX_OK) {
                f->cap = 0;

            } else {
                f->result = NGX_ERROR;
            }

        } else {
            f->result = NGX_ERROR;
        }

        if (f->up && f->state != NGX_OMNI_FLUSHER_IDLE
            && f->state != NGX_OMNI_FLUSHER_ROLLBACK)
        {
            /* set first: the answer may come before the call returns */
            f->state = NGX_OMNI_FLUSHER_ROLLBACK;

            if (ngx_omni_pg_conn_simple(f->pc, "ROLLBACK",
                                        ngx_omni_flusher_step, NULL)
                == NGX_OK)
            {
                return;
            }
        }

        ngx_omni_flusher_end(f->result);
        return;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni flusher: batch stored, %ui rows %s \"%s\"",
                   b->rows, f->from_file ? "replayed from" : "of",
                   f->from_file ? f->file.path : f->source);

    if (b->unknown) {
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.beacons_unknown_key,
                                    b->unknown);
    }

    if (b->malformed) {
        /* only a damaged spool file or another version's rows get here */
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.events_lost,
                                    b->malformed);
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "omni: %uz pixel rows in \"%s\" are not beacon rows "
                      "and were skipped", b->malformed,
                      f->from_file ? f->file.path : f->source);
    }

    (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.flush_batches, 1);
    (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.events_flushed,
                                b->rows);

    if (f->cap) {
        f->cap = (f->cap * 2 >= ngx_omni_flusher_conf->flush_batch)
                 ? 0 : f->cap * 2;
    }

    if (f->from_file) {
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.events_replayed,
                                    b->rows);
    } else {
        ngx_omni_flusher_lag();
    }

    ngx_omni_flusher_release_batch();

    /*
     * Files to replay go on at once; the ring's next batch comes when it
     * is due.  (A worker leaving starts no new slice: the runner stops
     * the job, and the ring goes to a spool file for the next drainer,
     * else steady traffic would keep an old worker draining and the
     * reload from ending.)
     */
    ngx_omni_flusher_end(f->from_file ? NGX_AGAIN : ngx_omni_flusher_pace());
}


/*
 * When the ring's next batch is due: at once if omni_pixel_flush_bytes
 * wait, else after a rest until about that much has come, at the rate
 * beacons came over the last window or two (a second, or the interval if
 * shorter), and at most omni_pixel_flush_interval.  Under load a batch
 * goes every few milliseconds and each is a short piece of PostgreSQL's
 * work; one large batch an interval would be one long piece, and where
 * PostgreSQL shares the cores with nginx that is time the workers wait
 * for a core.  A ring quiet for a window rests the interval: a batch
 * costs a few statements and a commit whatever its size.
 */
static ngx_int_t
ngx_omni_flusher_pace(void)
{
    uint64_t             tail, head, waiting, came, budget, rest;
    ngx_msec_t           now, window, interval;
    ngx_omni_flusher_t  *f;

    f = &ngx_omni_flusher;

    ngx_omni_ring_range(&tail, &head);

    now = ngx_current_msec;
    budget = ngx_omni_flusher_conf->flush_bytes;
    interval = ngx_omni_flusher_conf->flush_interval;
    window = ngx_min(interval, NGX_OMNI_FLUSHER_RATE_WINDOW);
    waiting = head - tail;

    if (f->window_at[1] == 0 || head < f->window_head[1]
        || now - f->window_at[1] >= window)
    {
        /* a window over (or a new ring): the next one begins */
        f->window_head[0] = f->window_at[1] ? f->window_head[1] : head;
        f->window_at[0] = f->window_at[1] ? f->window_at[1] : now;
        f->window_head[1] = head;
        f->window_at[1] = now;
    }

    if (waiting >= budget) {
        return NGX_AGAIN;
    }

    rest = interval;

    if (head > f->window_head[0] && now > f->window_at[0]) {
        came = head - f->window_head[0];
        rest = ngx_min((budget - waiting) * (now - f->window_at[0]) / came,
                       rest);
    }

    ngx_omni_flusher_job.interval = ngx_max((ngx_msec_t) rest, 1);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni flusher: %uL bytes wait, the next batch in %M ms "
                   "(at most %M)", waiting, ngx_omni_flusher_job.interval,
                   interval);

    return NGX_OK;
}


/* the slice ends: the runner decides when the next one starts */
static void
ngx_omni_flusher_end(ngx_int_t rc)
{
    ngx_omni_flusher.state = NGX_OMNI_FLUSHER_IDLE;

    ngx_omni_job_done(&ngx_omni_flusher_job, rc);
}


/*
 * The batch's bytes are stored (or set aside): the ring frees them, or a
 * spool file replayed to its end is removed.
 */
static void
ngx_omni_flusher_release_batch(void)
{
    ngx_omni_flusher_t  *f;

    f = &ngx_omni_flusher;

    if (!f->from_file) {
        ngx_omni_ring_advance(f->to);
        return;
    }

    ngx_omni_spool_replayed(&f->file, f->to);
}


/*
 * A row PostgreSQL refuses by itself goes aside, so that the rows behind
 * it go on: the ring's tail moves past it; a spool file being replayed is
 * read on after it.
 */
static ngx_int_t
ngx_omni_flusher_set_aside(void)
{
    ngx_omni_flusher_t  *f;

    f = &ngx_omni_flusher;

    if (ngx_omni_spool_set_aside(&f->batch, f->source) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni flusher: %ui rows of \"%s\" set aside, up to %uL",
                   f->batch.rows, f->source, f->to);

    if (f->from_file) {
        ngx_omni_spool_skip(&f->file, f->to);
    }

    ngx_omni_flusher_release_batch();

    return NGX_OK;
}


/* the position the database keeps for the batch's source */
static uint64_t
ngx_omni_flusher_stored_to(void)
{
    ngx_omni_flusher_t  *f;

    f = &ngx_omni_flusher;

    if (f->from_file) {
        return ngx_omni_spool_stored_to(&f->file, f->to);
    }

    return f->to;
}


/* how old the batch's oldest beacon was when it was stored */
static void
ngx_omni_flusher_lag(void)
{
    int64_t             lag;
    ngx_time_t         *tp;
    ngx_atomic_uint_t   max;

    if (ngx_omni_flusher.batch.oldest_ms == 0) {
        return;
    }

    tp = ngx_timeofday();
    lag = (int64_t) tp->sec * 1000 + tp->msec
          - ngx_omni_flusher.batch.oldest_ms;

    max = ngx_omni_stats->pixel.flush_lag_ms_max;

    if (lag > 0 && (ngx_atomic_uint_t) lag > max) {
        (void) ngx_atomic_cmp_set(&ngx_omni_stats->pixel.flush_lag_ms_max,
                                  max, (ngx_atomic_uint_t) lag);
    }
}
