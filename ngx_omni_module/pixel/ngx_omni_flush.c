
/*
 * The Pixel flusher: one process per host (the ring's lease holder) moves
 * beacons from the ring to PostgreSQL, a batch per transaction:
 *
 *   BEGIN; omni_px_ring_lock(source) -> drained;
 *   omni_px_keys(the batch's pixel keys) -> their tenants;
 *   COPY pixel_event_blocks FROM STDIN (FORMAT binary)   (a block a key);
 *   omni_px_stored(source, end, captures); COMMIT
 *
 * The rows past drained become one block per pixel key (core/omni_blocks):
 * PostgreSQL stores a block as one tuple, so a beacon costs it a fraction
 * of a microsecond instead of a row and four index entries.
 * The source's drained position is committed with its rows, so a batch
 * retried after a crash is neither lost nor stored twice.  While
 * PostgreSQL is away the ring is written to spool files (fsync'd before
 * the ring lets go of the bytes), named by their ring positions: replaying
 * one is the same transaction with the same source, so it too skips what
 * the database already has.  Spool files replay first, oldest first.
 */

#include <dirent.h>

#include "ngx_omni_module.h"
#include "ngx_omni_pg.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_stats.h"
#include "ngx_omni_pixel.h"
#include "omni_blocks.h"


#define NGX_OMNI_FLUSH_IDLE     0
#define NGX_OMNI_FLUSH_BEGIN    1
#define NGX_OMNI_FLUSH_LOCK     2
#define NGX_OMNI_FLUSH_KEYS     3
#define NGX_OMNI_FLUSH_COPY     4
#define NGX_OMNI_FLUSH_DATA     5
#define NGX_OMNI_FLUSH_STORED   6
#define NGX_OMNI_FLUSH_COMMIT   7
#define NGX_OMNI_FLUSH_ROLLBACK 8

#define NGX_OMNI_FLUSH_BATCH_BYTES  (4 * 1024 * 1024)
#define NGX_OMNI_FLUSH_FILE_BYTES   (4 * 1024 * 1024)
#define NGX_OMNI_FLUSH_SPOOL_AFTER  1000      /* ms without a database */


/* memory kept from batch to batch, grown when a batch needs more */
enum {
    NGX_OMNI_FLUSH_MEM_FILE = 0,    /* spool file bytes being replayed */
    NGX_OMNI_FLUSH_MEM_IN,          /* a batch that wraps, in one piece */
    NGX_OMNI_FLUSH_MEM_ROWS,
    NGX_OMNI_FLUSH_MEM_BLOCKS,
    NGX_OMNI_FLUSH_MEM_SLOTS,
    NGX_OMNI_FLUSH_MEM_KEYS,
    NGX_OMNI_FLUSH_MEM_OUT,         /* the COPY stream, then the captures */
    NGX_OMNI_FLUSH_MEM_N
};


typedef struct {
    void                 *data;
    size_t                size;
} ngx_omni_flush_buf_t;


typedef struct {
    ngx_omni_pg_conn_t   *pc;
    ngx_uint_t            state;
    ngx_uint_t            up;
    ngx_msec_t            down_since;
    ngx_uint_t            failures;
    ngx_event_t           timer;

    /*
     * PostgreSQL refused a batch's data (SQLSTATE class 22 or 23): the
     * next batches are cut in halves until the row it refuses is alone,
     * and that row is set aside to a file, so one row never stops the
     * rows behind it.  The cap doubles back after each batch stored.
     */
    ngx_uint_t            cap;           /* rows a batch; 0: no cap */
    ngx_uint_t            refused;       /* the last failure was the data */
    u_char                skip_file[NGX_MAX_PATH];
    uint64_t              skip_to;       /* set aside in skip_file so far */
    uint64_t              torn_at;       /* where skip_file's torn end is */

    /* the batch in flight */
    u_char                source[96];
    uint64_t              from;          /* position of the first byte */
    uint64_t              to;            /* position after the last byte */
    ngx_str_t             chunks[2];
    ngx_uint_t            nchunks;
    ngx_uint_t            rows;
    ngx_uint_t            from_file;
    u_char                file[NGX_MAX_PATH];
    uint64_t              file_base;     /* position of the file's byte 0 */
    uint64_t              file_size;

    /* the batch shaped into blocks */
    omni_blocks_t         blocks;
    size_t                unknown;       /* rows of keys no tenant has */
    size_t                malformed;     /* rows that are not ours */
    int64_t               oldest_ms;
    ngx_str_t             keys;          /* {"key","key"} */
    ngx_str_t             copy;          /* the binary COPY stream */
    ngx_str_t             captures;      /* "TENANT\tLINE\n"... */
    ngx_omni_flush_buf_t  mem[NGX_OMNI_FLUSH_MEM_N];
} ngx_omni_flush_t;


static void ngx_omni_flush_tick(ngx_event_t *ev);
static void ngx_omni_flush_schedule(ngx_msec_t delay);
static void ngx_omni_flush_ready(ngx_omni_pg_conn_t *pc, void *data);
static void ngx_omni_flush_lost(ngx_omni_pg_conn_t *pc, void *data);
static ngx_int_t ngx_omni_flush_next_file(void);
static void ngx_omni_flush_start(void);
static void ngx_omni_flush_step(void *data, ngx_int_t rc, PGresult *res);
static ngx_int_t ngx_omni_flush_take(uint64_t drained);
static void ngx_omni_flush_done(ngx_uint_t ok);
static ngx_int_t ngx_omni_flush_spool_ring(void);
static ngx_int_t ngx_omni_flush_write_file(u_char *path, ngx_str_t *chunks,
    ngx_uint_t n);
static void ngx_omni_flush_close_overflow(void);
static ngx_uint_t ngx_omni_flush_count_rows(ngx_str_t *chunks, ngx_uint_t n);
static ngx_int_t ngx_omni_flush_shape(void);
static void ngx_omni_flush_behind(void);
static ngx_int_t ngx_omni_flush_set_aside(void);
static void ngx_omni_flush_set_aside_torn(u_char *data, size_t len);
static void ngx_omni_flush_sync_dir(void);
static void ngx_omni_flush_rejected_path(u_char *path);
static uint64_t ngx_omni_flush_stored_to(void);
static ngx_int_t ngx_omni_flush_tenants(PGresult *res);
static void *ngx_omni_flush_room(ngx_uint_t which, size_t size);
static void ngx_omni_flush_lag(void);
static uint64_t ngx_omni_flush_rows_bytes(ngx_str_t *chunks, ngx_uint_t n,
    ngx_uint_t rows);


static ngx_omni_flush_t       ngx_omni_flush;
static ngx_omni_main_conf_t  *ngx_omni_flush_conf;
static u_char                 ngx_omni_overflow_path[NGX_MAX_PATH];


ngx_int_t
ngx_omni_flush_init_process(ngx_cycle_t *cycle)
{
    ngx_omni_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_omni_module);
    ngx_omni_flush_conf = omcf;

    (void) ngx_sprintf(ngx_omni_overflow_path, "%V/overflow-%P.open%Z",
                       &omcf->spool_dir, ngx_pid);

    ngx_memzero(&ngx_omni_flush, sizeof(ngx_omni_flush_t));

    ngx_omni_flush.timer.handler = ngx_omni_flush_tick;
    ngx_omni_flush.timer.log = cycle->log;
    ngx_omni_flush.timer.data = &ngx_omni_flush;
    ngx_omni_flush.down_since = ngx_current_msec;

    /* every worker may become the drainer when the holder is gone */
    ngx_omni_flush_schedule(omcf->flush_interval);

    return NGX_OK;
}


/*
 * Leaving: what the ring holds goes to a spool file, named by its ring
 * positions, so that whoever drains next (a new worker after a reload, or
 * nginx after a restart) stores it exactly once.
 */
void
ngx_omni_flush_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t  i;

    (void) cycle;

    if (ngx_omni_flush_conf == NULL) {
        return;
    }

    if (ngx_omni_ring_lease() == NGX_OK) {
        (void) ngx_omni_flush_spool_ring();
        ngx_omni_ring_release();
    }

    ngx_omni_flush_close_overflow();

    for (i = 0; i < NGX_OMNI_FLUSH_MEM_N; i++) {
        if (ngx_omni_flush.mem[i].data) {
            ngx_free(ngx_omni_flush.mem[i].data);
            ngx_omni_flush.mem[i].data = NULL;
            ngx_omni_flush.mem[i].size = 0;
        }
    }
}


/*
 * The ring is full (a burst beyond what the drainer keeps up with): the
 * row goes to this worker's overflow file, one write() a row so that rows
 * never interleave.  The drainer closes and replays such files.  The row
 * is on disk (fsync'd) before the beacon counts as accepted, and a row
 * that can't be written whole is cut off again, so that the next row
 * never starts in the middle of it.
 */
ngx_int_t
ngx_omni_spool_append(u_char *row, size_t len)
{
    u_char           closed[NGX_MAX_PATH];
    size_t           done;
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_err_t        err;
    ngx_file_info_t  fi;

    if (ngx_omni_flush_conf == NULL) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(ngx_omni_overflow_path, NGX_FILE_APPEND,
                       NGX_FILE_CREATE_OR_OPEN, 0600);
    if (fd == NGX_INVALID_FILE) {
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        err = ngx_errno;
        (void) ngx_close_file(fd);
        ngx_set_errno(err);
        return NGX_ERROR;
    }

    /* a short write (a signal, a disk filling up) is not the end of it */
    done = 0;

    while (done < len) {
        n = write(fd, row + done, len - done);

        if (n > 0) {
            done += n;
            continue;
        }

        if (n == -1 && ngx_errno == NGX_EINTR) {
            continue;
        }

        break;
    }

    if (done == len && fsync(fd) == 0) {
        (void) ngx_close_file(fd);

        /* a file this row created: its name must outlive a crash too */
        if (ngx_file_size(&fi) == 0) {
            ngx_omni_flush_sync_dir();
        }

        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.events_spooled,
                                    1);
        return NGX_OK;
    }

    err = ngx_errno;

    /*
     * Back to the last whole row.  Should even that fail, the file is
     * closed as it is: the part of the row is then its torn end, which
     * the replay sets aside, not the start of the next row.
     */
    if (ftruncate(fd, ngx_file_size(&fi)) == -1) {
        (void) ngx_snprintf(closed, sizeof(closed), "%V/overflow-%P-%M.copy%Z",
                            &ngx_omni_flush_conf->spool_dir, ngx_pid,
                            ngx_current_msec);
        (void) ngx_rename_file(ngx_omni_overflow_path, closed);
    }

    (void) ngx_close_file(fd);
    ngx_set_errno(err);

    return NGX_ERROR;
}


uint64_t
ngx_omni_spool_bytes(void)
{
    DIR            *dir;
    u_char          path[NGX_MAX_PATH];
    uint64_t        total;
    ngx_file_info_t fi;
    struct dirent  *de;

    if (ngx_omni_flush_conf == NULL) {
        return 0;
    }

    dir = opendir((char *) ngx_omni_flush_conf->spool_dir.data);
    if (dir == NULL) {
        return 0;
    }

    total = 0;

    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }

        (void) ngx_snprintf(path, sizeof(path), "%V/%s%Z",
                            &ngx_omni_flush_conf->spool_dir, de->d_name);

        if (ngx_file_info(path, &fi) == 0) {
            total += ngx_file_size(&fi);
        }
    }

    closedir(dir);

    return total;
}


static void
ngx_omni_flush_schedule(ngx_msec_t delay)
{
    if (ngx_omni_flush.timer.timer_set) {
        ngx_del_timer(&ngx_omni_flush.timer);
    }

    /* nothing in flight: a reload or quit need not wait for the tick */
    ngx_omni_flush.timer.cancelable = 1;
    ngx_add_timer(&ngx_omni_flush.timer, delay);
}


static void
ngx_omni_flush_tick(ngx_event_t *ev)
{
    uint64_t  tail, head;

    (void) ev;

    if (ngx_omni_ring_lease() != NGX_OK) {
        ngx_omni_flush_schedule(ngx_omni_flush_conf->flush_interval * 5);
        return;
    }

    if (ngx_omni_flush.pc == NULL) {
        ngx_omni_flush.pc = ngx_omni_pg_conn_open("pixel flusher",
                                                  ngx_omni_flush_ready,
                                                  ngx_omni_flush_lost, NULL);
    }

    ngx_omni_flush_close_overflow();

    if (ngx_omni_flush.state != NGX_OMNI_FLUSH_IDLE) {
        return;
    }

    if (ngx_omni_flush.up) {
        ngx_omni_flush_start();
        return;
    }

    /* PostgreSQL is away: after a while, the disk takes custody */
    ngx_omni_ring_range(&tail, &head);

    if (head > tail
        && ngx_current_msec - ngx_omni_flush.down_since
           >= NGX_OMNI_FLUSH_SPOOL_AFTER)
    {
        (void) ngx_omni_flush_spool_ring();
    }

    ngx_omni_flush_schedule(ngx_omni_flush_conf->flush_interval);
}


static void
ngx_omni_flush_ready(ngx_omni_pg_conn_t *pc, void *data)
{
    (void) pc;
    (void) data;

    ngx_omni_flush.up = 1;
    ngx_omni_flush.state = NGX_OMNI_FLUSH_IDLE;
    ngx_omni_flush_start();
}


static void
ngx_omni_flush_lost(ngx_omni_pg_conn_t *pc, void *data)
{
    (void) pc;
    (void) data;

    if (ngx_omni_flush.up) {
        ngx_omni_flush.down_since = ngx_current_msec;
    }

    ngx_omni_flush.up = 0;
    ngx_omni_flush.state = NGX_OMNI_FLUSH_IDLE;

    if (!ngx_omni_flush.timer.timer_set) {
        ngx_omni_flush_schedule(ngx_omni_flush_conf->flush_interval);
    }
}


/* the next batch: a spool file first (oldest), else the ring */
static void
ngx_omni_flush_start(void)
{
    ngx_int_t  rc;
    uint64_t   tail, head;

    if (ngx_omni_flush.state != NGX_OMNI_FLUSH_IDLE || !ngx_omni_flush.up) {
        return;
    }

    ngx_omni_flush.from_file = 0;
    ngx_omni_flush.refused = 0;

    if (ngx_omni_flush_next_file() == NGX_OK) {
        ngx_omni_flush.from_file = 1;

    } else {
        ngx_omni_ring_range(&tail, &head);

        if (head == tail) {
            ngx_omni_flush_schedule(ngx_omni_flush_conf->flush_interval);
            return;
        }

        (void) ngx_sprintf(ngx_omni_flush.source, "ring:%016xL%Z",
                           ngx_omni_ring_epoch());
    }

    ngx_omni_flush.state = NGX_OMNI_FLUSH_BEGIN;

    /* a batch in flight holds the worker until it ends */
    if (ngx_omni_flush.timer.timer_set) {
        ngx_del_timer(&ngx_omni_flush.timer);
    }

    rc = ngx_omni_pg_conn_simple(ngx_omni_flush.pc, "BEGIN",
                                 ngx_omni_flush_step, NULL);
    if (rc != NGX_OK) {
        ngx_omni_flush.state = NGX_OMNI_FLUSH_IDLE;
        ngx_omni_flush_schedule(ngx_omni_flush_conf->flush_interval);
    }
}


static void
ngx_omni_flush_step(void *data, ngx_int_t rc, PGresult *res)
{
    char       *v;
    uint64_t    drained;
    ngx_str_t   params[3];
    u_char      pos[NGX_INT64_LEN + 1];

    (void) data;

    if (rc != NGX_OK) {
        if (res) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "omni: pixel batch failed: %s",
                          PQresultErrorMessage(res));

            /* a data exception or a constraint: retrying won't help */
            v = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            ngx_omni_flush.refused = v && (ngx_strncmp(v, "22", 2) == 0
                                           || ngx_strncmp(v, "23", 2) == 0);
        }

        ngx_omni_flush_done(0);
        return;
    }

    switch (ngx_omni_flush.state) {

    case NGX_OMNI_FLUSH_BEGIN:
        ngx_omni_flush.state = NGX_OMNI_FLUSH_LOCK;

        params[0].data = ngx_omni_flush.source;
        params[0].len = ngx_strlen(ngx_omni_flush.source);

        rc = ngx_omni_pg_conn_prepared(ngx_omni_flush.pc,
                                       NGX_OMNI_STMT_PX_RING_LOCK, 1, params,
                                       ngx_omni_flush_step, NULL);
        break;

    case NGX_OMNI_FLUSH_LOCK:
        v = PQgetvalue(res, 0, 0);
        drained = (uint64_t) ngx_atoof((u_char *) v, ngx_strlen(v));

        if (ngx_omni_flush_take(drained) != NGX_OK
            || ngx_omni_flush_shape() != NGX_OK)
        {
            ngx_omni_flush_done(0);
            return;
        }

        if (ngx_omni_flush.blocks.nblocks == 0) {
            /* the database has all of it already, or none of it is ours */
            ngx_omni_flush.state = NGX_OMNI_FLUSH_DATA;
            ngx_omni_flush_step(NULL, NGX_OK, NULL);
            return;
        }

        ngx_omni_flush.state = NGX_OMNI_FLUSH_KEYS;
        rc = ngx_omni_pg_conn_prepared(ngx_omni_flush.pc,
                                       NGX_OMNI_STMT_PX_KEYS, 1,
                                       &ngx_omni_flush.keys,
                                       ngx_omni_flush_step, NULL);
        break;

    case NGX_OMNI_FLUSH_KEYS:
        if (ngx_omni_flush_tenants(res) != NGX_OK) {
            ngx_omni_flush_done(0);
            return;
        }

        if (ngx_omni_flush.copy.len == 0) {
            ngx_omni_flush.state = NGX_OMNI_FLUSH_DATA;
            ngx_omni_flush_step(NULL, NGX_OK, NULL);
            return;
        }

        ngx_omni_flush.state = NGX_OMNI_FLUSH_COPY;
        rc = ngx_omni_pg_conn_simple(ngx_omni_flush.pc,
                 "COPY pixel_event_blocks (tenant_id, first_at, last_at, n, "
                 "evs, events) FROM STDIN (FORMAT binary)",
                 ngx_omni_flush_step, NULL);
        break;

    case NGX_OMNI_FLUSH_COPY:
        ngx_omni_flush.state = NGX_OMNI_FLUSH_DATA;
        rc = ngx_omni_pg_conn_copy(ngx_omni_flush.pc, &ngx_omni_flush.copy,
                                   1, ngx_omni_flush_step, NULL);
        break;

    case NGX_OMNI_FLUSH_DATA:
        ngx_omni_flush.state = NGX_OMNI_FLUSH_STORED;

        params[0].data = ngx_omni_flush.source;
        params[0].len = ngx_strlen(ngx_omni_flush.source);
        params[1].data = pos;
        params[1].len = ngx_sprintf(pos, "%uL", ngx_omni_flush_stored_to())
                        - pos;
        params[2] = ngx_omni_flush.captures;

        rc = ngx_omni_pg_conn_prepared(ngx_omni_flush.pc,
                                       NGX_OMNI_STMT_PX_STORED, 3, params,
                                       ngx_omni_flush_step, NULL);
        break;

    case NGX_OMNI_FLUSH_STORED:
        v = PQgetvalue(res, 0, 0);

        if (ngx_atoi((u_char *) v, ngx_strlen(v)) > 0) {
            ngx_omni_capture_wake();
        }

        ngx_omni_flush.state = NGX_OMNI_FLUSH_COMMIT;
        rc = ngx_omni_pg_conn_simple(ngx_omni_flush.pc, "COMMIT",
                                     ngx_omni_flush_step, NULL);
        break;

    case NGX_OMNI_FLUSH_COMMIT:
        ngx_omni_flush_done(1);
        return;

    case NGX_OMNI_FLUSH_ROLLBACK:
    default:
        ngx_omni_flush.state = NGX_OMNI_FLUSH_IDLE;
        ngx_omni_flush_schedule(ngx_omni_flush_conf->flush_interval);
        return;
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "omni: pixel batch step %ui could not be sent",
                      ngx_omni_flush.state);
        ngx_omni_flush_done(0);
    }
}


/*
 * The bytes of this batch, past what the database already has: from the
 * ring, or from the spool file being replayed.
 */
static ngx_int_t
ngx_omni_flush_take(uint64_t drained)
{
    u_char          *buf;
    ssize_t          n;
    size_t           len, whole;
    uint64_t         tail, head, from, to, off;
    ngx_fd_t         fd;
    ngx_uint_t       limit;
    ngx_omni_flush_t *f;

    f = &ngx_omni_flush;
    f->nchunks = 0;

    limit = ngx_omni_flush_conf->flush_batch;

    if (f->cap && f->cap < limit) {
        limit = f->cap;
    }

    if (!f->from_file) {
        ngx_omni_ring_range(&tail, &head);

        /* a crash after COMMIT left the tail behind: catch it up */
        from = ngx_max(tail, drained);

        if (from > head) {
            from = head;
        }

        if (from > tail) {
            ngx_omni_ring_advance(from);
        }

        to = ngx_min(head, from + NGX_OMNI_FLUSH_BATCH_BYTES);

        f->nchunks = ngx_omni_ring_chunks(from, &to, f->chunks);
        f->from = from;
        f->to = ngx_max(to, from);
        f->rows = ngx_omni_flush_count_rows(f->chunks, f->nchunks);

        if (f->rows > limit) {
            /* at most omni_pixel_flush_batch rows: cut after the last one */
            to = from + ngx_omni_flush_rows_bytes(f->chunks, f->nchunks,
                                                  limit);
            f->nchunks = ngx_omni_ring_chunks(from, &to, f->chunks);
            f->to = to;
            f->rows = limit;
        }

        return NGX_OK;
    }

    from = ngx_max(drained, f->file_base);

    if (ngx_strcmp(f->skip_file, f->file) == 0) {
        from = ngx_max(from, f->skip_to);
    }
    off = from - f->file_base;
    f->from = from;
    f->to = f->file_base + f->file_size;

    if (off >= f->file_size) {
        return NGX_OK;
    }

    len = (size_t) ngx_min(f->file_size - off, NGX_OMNI_FLUSH_FILE_BYTES);

    buf = ngx_omni_flush_room(NGX_OMNI_FLUSH_MEM_FILE,
                              NGX_OMNI_FLUSH_FILE_BYTES);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    /* a blocking read, on the recovery path only */
    fd = ngx_open_file(f->file, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return NGX_ERROR;
    }

    n = pread(fd, buf, len, (off_t) off);
    (void) ngx_close_file(fd);

    if (n != (ssize_t) len) {
        return NGX_ERROR;
    }

    whole = len;

    while (whole > 0 && buf[whole - 1] != '\n') {
        whole--;
    }

    if (whole == 0) {
        /*
         * No row ends here: the end of the file is a row cut short (a
         * crash or a full disk during a write), or garbage.  It never
         * will end, so it goes aside; else the file would never be done
         * with and would be started again at once, forever, with every
         * beacon behind it waiting.
         */
        ngx_omni_flush_set_aside_torn(buf, len);
        return NGX_OK;
    }

    len = whole;
    f->chunks[0].data = buf;
    f->chunks[0].len = len;
    f->nchunks = len ? 1 : 0;
    f->rows = ngx_omni_flush_count_rows(f->chunks, f->nchunks);

    if (f->rows > limit) {
        len = (size_t) ngx_omni_flush_rows_bytes(f->chunks, 1, limit);
        f->chunks[0].len = len;
        f->rows = limit;
    }

    f->to = from + len;

    return NGX_OK;
}


static void
ngx_omni_flush_done(ngx_uint_t ok)
{
    uint64_t           tail, head;
    ngx_omni_flush_t  *f;

    f = &ngx_omni_flush;

    if (!ok) {
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.flush_errors, 1);
        f->failures++;

        if (f->refused && f->state != NGX_OMNI_FLUSH_ROLLBACK) {
            f->refused = 0;
            f->failures = 0;

            if (f->rows > 1) {
                f->cap = f->rows / 2;

            } else if (ngx_omni_flush_set_aside() == NGX_OK) {
                f->cap = 0;
            }
        }

        if (f->up && f->state != NGX_OMNI_FLUSH_IDLE
            && f->state != NGX_OMNI_FLUSH_ROLLBACK)
        {
            /* set first: the answer may come before the call returns */
            f->state = NGX_OMNI_FLUSH_ROLLBACK;

            if (ngx_omni_pg_conn_simple(f->pc, "ROLLBACK", ngx_omni_flush_step,
                                        NULL) == NGX_OK)
            {
                return;
            }
        }

        f->state = NGX_OMNI_FLUSH_IDLE;
        ngx_omni_flush_schedule(ngx_min(ngx_omni_flush_conf->flush_interval
                                        << ngx_min(f->failures, 5), 5000));
        return;
    }

    f->failures = 0;
    f->state = NGX_OMNI_FLUSH_IDLE;

    if (f->unknown) {
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.beacons_unknown_key,
                                    f->unknown);
    }

    if (f->malformed) {
        /* only a damaged spool file or another version's rows get here */
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.events_lost,
                                    f->malformed);
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "omni: %uz pixel rows in \"%s\" are not beacon rows "
                      "and were skipped", f->malformed,
                      f->from_file ? f->file : f->source);
    }

    (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.flush_batches, 1);
    (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.events_flushed,
                                f->rows);

    if (f->cap) {
        f->cap = (f->cap * 2 >= ngx_omni_flush_conf->flush_batch)
                 ? 0 : f->cap * 2;
    }

    if (f->from_file) {
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.events_replayed,
                                    f->rows);
    } else {
        ngx_omni_flush_lag();
    }

    ngx_omni_flush_behind();

    /*
     * A full batch waiting, or files to replay: go on at once.  Else rest
     * until the next tick: a batch costs PostgreSQL a few statements and
     * a commit whatever its size, so small ones back to back would cost
     * it more than the rows do.
     */
    ngx_omni_ring_range(&tail, &head);

    /*
     * A worker leaving (reload, quit) starts no new batch: on exit it
     * spools the ring for the next drainer, else steady traffic would
     * keep an old worker draining and the reload from ending.
     */
    if (!ngx_exiting
        && (f->from_file || head - tail >= NGX_OMNI_FLUSH_BATCH_BYTES))
    {
        ngx_omni_flush_start();
        return;
    }

    ngx_omni_flush_schedule(ngx_omni_flush_conf->flush_interval);
}


/*
 * Spool files: "ring-<epoch>-<from>.copy" (ring bytes from a position,
 * replayed under the ring's own source) and "overflow-<pid>-<ms>.copy"
 * (rows the full ring could not take, replayed under their file name).
 * The oldest ring spool goes first.
 */
static ngx_int_t
ngx_omni_flush_next_file(void)
{
    DIR              *dir;
    u_char           *name, best[256];
    uint64_t          epoch, from, best_from;
    ngx_uint_t        found;
    ngx_file_info_t   fi;
    struct dirent    *de;
    ngx_omni_flush_t *f;

    f = &ngx_omni_flush;

    dir = opendir((char *) ngx_omni_flush_conf->spool_dir.data);
    if (dir == NULL) {
        return NGX_DECLINED;
    }

    found = 0;
    best_from = 0;

    while ((de = readdir(dir)) != NULL) {
        name = (u_char *) de->d_name;

        if (ngx_strlen(name) >= sizeof(best)
            || ngx_strstr(name, ".copy") == NULL)
        {
            continue;
        }

        if (ngx_strncmp(name, "ring-", 5) == 0
            && sscanf((char *) name, "ring-%16lx-%20lu.copy",
                      (unsigned long *) &epoch, (unsigned long *) &from) == 2)
        {
            if (!found || from < best_from
                || ngx_strncmp(best, "overflow-", 9) == 0)
            {
                ngx_cpystrn(best, name, sizeof(best));
                best_from = from;
                found = 1;
            }

            continue;
        }

        if (ngx_strncmp(name, "overflow-", 9) == 0 && !found) {
            (void) ngx_snprintf(f->file, sizeof(f->file), "%V/%s%Z",
                                &ngx_omni_flush_conf->spool_dir, name);

            /* a late writer may still append: wait until it is quiet */
            if (ngx_file_info(f->file, &fi) == 0
                && ngx_time() - ngx_file_mtime(&fi) >= 1)
            {
                ngx_cpystrn(best, name, sizeof(best));
                found = 1;
            }
        }
    }

    closedir(dir);

    if (!found) {
        return NGX_DECLINED;
    }

    (void) ngx_snprintf(f->file, sizeof(f->file), "%V/%s%Z",
                        &ngx_omni_flush_conf->spool_dir, best);

    if (ngx_file_info(f->file, &fi) != 0) {
        return NGX_DECLINED;
    }

    f->file_size = (uint64_t) ngx_file_size(&fi);

    if (ngx_strncmp(best, "ring-", 5) == 0) {
        (void) sscanf((char *) best, "ring-%16lx-%20lu.copy",
                      (unsigned long *) &epoch, (unsigned long *) &from);
        (void) ngx_sprintf(f->source, "ring:%016xL%Z", epoch);
        f->file_base = from;

    } else {
        (void) ngx_snprintf(f->source, sizeof(f->source), "file:%s%Z", best);
        f->file_base = 0;
    }

    return NGX_OK;
}


/* the ring's undrained rows to a file, fsync'd, then the ring lets go */
static ngx_int_t
ngx_omni_flush_spool_ring(void)
{
    u_char      path[NGX_MAX_PATH];
    uint64_t    tail, head, to;
    ngx_str_t   chunks[2];
    ngx_uint_t  n, rows;

    ngx_omni_ring_range(&tail, &head);

    to = head;
    n = ngx_omni_ring_chunks(tail, &to, chunks);

    if (n == 0) {
        return NGX_OK;
    }

    (void) ngx_snprintf(path, sizeof(path), "%V/ring-%016xL-%020uL.copy%Z",
                        &ngx_omni_flush_conf->spool_dir,
                        ngx_omni_ring_epoch(), tail);

    if (ngx_omni_flush_write_file(path, chunks, n) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                      "omni: spooling the pixel ring to \"%s\" failed; "
                      "the events stay in the ring", path);
        return NGX_ERROR;
    }

    rows = ngx_omni_flush_count_rows(chunks, n);
    ngx_omni_ring_advance(to);

    (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.events_spooled, rows);

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "omni: %ui pixel events spooled to \"%s\"", rows, path);

    return NGX_OK;
}


static ngx_int_t
ngx_omni_flush_write_file(u_char *path, ngx_str_t *chunks, ngx_uint_t n)
{
    u_char      tmp[NGX_MAX_PATH];
    ssize_t     w;
    ngx_fd_t    fd;
    ngx_uint_t  i;

    /* written whole under a temporary name: a replay never sees half */
    (void) ngx_snprintf(tmp, sizeof(tmp), "%s.tmp%Z", path);

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE, 0600);
    if (fd == NGX_INVALID_FILE) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        w = write(fd, chunks[i].data, chunks[i].len);

        if (w != (ssize_t) chunks[i].len) {
            (void) ngx_close_file(fd);
            (void) ngx_delete_file(tmp);
            return NGX_ERROR;
        }
    }

    if (fsync(fd) == -1) {
        (void) ngx_close_file(fd);
        (void) ngx_delete_file(tmp);
        return NGX_ERROR;
    }

    (void) ngx_close_file(fd);

    if (ngx_rename_file(tmp, path) == NGX_FILE_ERROR) {
        (void) ngx_delete_file(tmp);
        return NGX_ERROR;
    }

    /* the ring lets go of the bytes next: the new name must be on disk */
    ngx_omni_flush_sync_dir();

    return NGX_OK;
}


/* a file created or renamed in the spool directory outlives a crash */
static void
ngx_omni_flush_sync_dir(void)
{
    ngx_fd_t  fd;

    fd = ngx_open_file(ngx_omni_flush_conf->spool_dir.data, NGX_FILE_RDONLY,
                       NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return;
    }

    (void) fsync(fd);
    (void) ngx_close_file(fd);
}


/*
 * Overflow files a second old are closed (renamed, fsync'd) for replay.
 * A producer that still had the old name open at the rename appends to
 * the renamed file, so a closed file is replayed only once it has been
 * quiet for a second too.
 */
static void
ngx_omni_flush_close_overflow(void)
{
    DIR             *dir;
    u_char           from[NGX_MAX_PATH], to[NGX_MAX_PATH];
    ngx_fd_t         fd;
    ngx_file_info_t  fi;
    struct dirent   *de;

    if (ngx_omni_flush_conf == NULL) {
        return;
    }

    dir = opendir((char *) ngx_omni_flush_conf->spool_dir.data);
    if (dir == NULL) {
        return;
    }

    while ((de = readdir(dir)) != NULL) {
        if (ngx_strncmp(de->d_name, "overflow-", 9) != 0
            || ngx_strstr(de->d_name, ".open") == NULL)
        {
            continue;
        }

        (void) ngx_snprintf(from, sizeof(from), "%V/%s%Z",
                            &ngx_omni_flush_conf->spool_dir, de->d_name);

        if (ngx_file_info(from, &fi) != 0
            || ngx_time() - ngx_file_mtime(&fi) < 1)
        {
            continue;
        }

        (void) ngx_snprintf(to, sizeof(to), "%V/%*s-%M.copy%Z",
                            &ngx_omni_flush_conf->spool_dir,
                            ngx_strlen(de->d_name) - 5, de->d_name,
                            ngx_current_msec);

        fd = ngx_open_file(from, NGX_FILE_RDWR, NGX_FILE_OPEN, 0);
        if (fd != NGX_INVALID_FILE) {
            (void) fsync(fd);
            (void) ngx_close_file(fd);
        }

        (void) ngx_rename_file(from, to);
    }

    closedir(dir);
}


/* the length of the first rows rows of the chunks */
static uint64_t
ngx_omni_flush_rows_bytes(ngx_str_t *chunks, ngx_uint_t n, ngx_uint_t rows)
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


/* the batch's bytes are behind us: the ring lets go, a file goes */
static void
ngx_omni_flush_behind(void)
{
    ngx_omni_flush_t  *f;

    f = &ngx_omni_flush;

    if (!f->from_file) {
        ngx_omni_ring_advance(f->to);
        return;
    }

    if (f->to >= f->file_base + f->file_size) {
        if (ngx_delete_file(f->file) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                          "omni: replayed spool \"%s\" can't be removed",
                          f->file);
        }
    }
}


/*
 * A row PostgreSQL refuses by itself: kept in "rejected-<pid>-<ms>.rows"
 * in the spool directory (fsync'd; not replayed) for the operator, and
 * counted, so that the rows behind it go on.  The ring's tail moves past
 * it; a spool file being replayed is read on after it.
 */
static ngx_int_t
ngx_omni_flush_set_aside(void)
{
    u_char            path[NGX_MAX_PATH];
    ngx_omni_flush_t  *f;

    f = &ngx_omni_flush;

    ngx_omni_flush_rejected_path(path);

    if (f->nchunks && ngx_omni_flush_write_file(path, f->chunks, f->nchunks)
                      != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                  "omni: PostgreSQL refuses a pixel row of \"%s\"; it is "
                  "set aside in \"%s\"", f->source, path);

    (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.events_set_aside,
                                f->rows);

    if (f->from_file) {
        ngx_cpystrn(f->skip_file, f->file, sizeof(f->skip_file));
        f->skip_to = f->to;
        f->torn_at = 0;
    }

    ngx_omni_flush_behind();

    return NGX_OK;
}


/*
 * Bytes of a spool file in which no row ends: its torn end (or a stretch
 * longer than any row, so garbage).  Kept like a refused row, in
 * "rejected-<pid>-<ms>.rows", counted as set aside and logged, and the
 * replay reads on after them; skip_to makes it once even if the batch
 * that moves past them fails.  Not a beacon anyone got a GIF for: a row
 * is accepted only once it is whole on disk, so when even keeping the
 * bytes fails (a full disk) they are dropped rather than stop the
 * replay, and counted as lost.
 */
static void
ngx_omni_flush_set_aside_torn(u_char *data, size_t len)
{
    u_char             path[NGX_MAX_PATH];
    ngx_str_t          torn;
    ngx_omni_flush_t  *f;

    f = &ngx_omni_flush;

    ngx_omni_flush_rejected_path(path);

    torn.data = data;
    torn.len = len;

    if (ngx_omni_flush_write_file(path, &torn, 1) == NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "omni: spool file \"%s\" has a torn row at %uL "
                      "(%uz bytes with no end of line); it is set aside "
                      "in \"%s\"", f->file, f->from, len, path);

        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.events_set_aside,
                                    1);

    } else {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                      "omni: spool file \"%s\" has a torn row at %uL "
                      "(%uz bytes with no end of line); writing it to \"%s\" "
                      "failed, so it is dropped", f->file, f->from, len, path);

        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.events_lost, 1);
    }

    ngx_cpystrn(f->skip_file, f->file, sizeof(f->skip_file));
    f->skip_to = f->from + len;
    f->torn_at = (f->skip_to == f->file_base + f->file_size) ? f->from : 0;

    f->nchunks = 0;
    f->rows = 0;
    f->to = f->from + len;
}


/*
 * "rejected-<pid>-<ms>.rows", never one already used: two rows set aside
 * within a millisecond would otherwise be one file, the first one lost.
 */
static void
ngx_omni_flush_rejected_path(u_char *path)
{
    static ngx_msec_t  last;

    last = ngx_max(ngx_current_msec, last + 1);

    (void) ngx_snprintf(path, NGX_MAX_PATH, "%V/rejected-%P-%M.rows%Z",
                        &ngx_omni_flush_conf->spool_dir, ngx_pid, last);
}


/*
 * The position the database keeps for the batch's source: its end, but
 * never past the start of a file's torn end.  A ring spool torn by a crash
 * while it was written (a "ring-*.copy.tmp") holds bytes the ring let go
 * of only once a whole copy was on disk: the ring, or that copy, has the
 * torn row whole, and a position past its start would skip it.
 */
static uint64_t
ngx_omni_flush_stored_to(void)
{
    ngx_omni_flush_t  *f;

    f = &ngx_omni_flush;

    if (f->from_file && f->torn_at && f->to > f->torn_at
        && ngx_strcmp(f->skip_file, f->file) == 0)
    {
        return f->torn_at;
    }

    return f->to;
}


/* how old the batch's oldest beacon was when it was stored */
static void
ngx_omni_flush_lag(void)
{
    int64_t             lag;
    ngx_time_t         *tp;
    ngx_atomic_uint_t   max;

    if (ngx_omni_flush.oldest_ms == 0) {
        return;
    }

    tp = ngx_timeofday();
    lag = (int64_t) tp->sec * 1000 + tp->msec - ngx_omni_flush.oldest_ms;

    max = ngx_omni_stats->pixel.flush_lag_ms_max;

    if (lag > 0 && (ngx_atomic_uint_t) lag > max) {
        (void) ngx_atomic_cmp_set(&ngx_omni_stats->pixel.flush_lag_ms_max,
                                  max, (ngx_atomic_uint_t) lag);
    }
}


/*
 * The batch's rows into blocks, one per pixel key, and the keys to ask
 * the database about as a text[] literal (keys are [A-Za-z0-9_-], so
 * quotes are all they need).
 */
static ngx_int_t
ngx_omni_flush_shape(void)
{
    u_char            *in, *p;
    size_t             len, n, nslots, i;
    omni_blocks_t     *bs;
    ngx_omni_flush_t  *f;

    f = &ngx_omni_flush;
    bs = &f->blocks;

    ngx_memzero(bs, sizeof(omni_blocks_t));
    f->unknown = 0;
    f->malformed = 0;
    f->oldest_ms = 0;
    f->copy.len = 0;
    ngx_str_set(&f->captures, "");

    if (f->nchunks == 0) {
        f->rows = 0;
        return NGX_OK;
    }

    /* one piece: a row may wrap around the ring's end */
    len = f->chunks[0].len;
    in = f->chunks[0].data;

    if (f->nchunks > 1) {
        len += f->chunks[1].len;
        in = ngx_omni_flush_room(NGX_OMNI_FLUSH_MEM_IN, len);
        if (in == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(in, f->chunks[0].data, f->chunks[0].len);
        ngx_memcpy(p, f->chunks[1].data, f->chunks[1].len);
    }

    n = f->rows + 1;

    for (nslots = 16; nslots < 2 * n; nslots <<= 1) { /* void */ }

    bs->rows = ngx_omni_flush_room(NGX_OMNI_FLUSH_MEM_ROWS,
                                   n * sizeof(omni_block_row_t));
    bs->blocks = ngx_omni_flush_room(NGX_OMNI_FLUSH_MEM_BLOCKS,
                                     n * sizeof(omni_block_t));
    bs->slots = ngx_omni_flush_room(NGX_OMNI_FLUSH_MEM_SLOTS,
                                    nslots * sizeof(uint32_t));

    if (bs->rows == NULL || bs->blocks == NULL || bs->slots == NULL) {
        return NGX_ERROR;
    }

    bs->max_rows = n;
    bs->max_blocks = n;
    bs->nslots = nslots;
    ngx_memzero(bs->slots, nslots * sizeof(uint32_t));

    /* rows read back from a file are checked as PostgreSQL would */
    if (omni_blocks_parse(bs, (char *) in, len, f->from_file) != 0) {
        return NGX_ERROR;
    }

    f->malformed = bs->malformed;
    f->rows = bs->nrows;

    len = 2;

    for (i = 0; i < bs->nblocks; i++) {
        len += bs->blocks[i].key_len + 3;

        if (f->oldest_ms == 0 || bs->blocks[i].first_ms < f->oldest_ms) {
            f->oldest_ms = bs->blocks[i].first_ms;
        }
    }

    p = ngx_omni_flush_room(NGX_OMNI_FLUSH_MEM_KEYS, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    f->keys.data = p;
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
    f->keys.len = p - f->keys.data;

    return NGX_OK;
}


/* omni_px_keys() answered: the blocks of known keys, and their captures */
static ngx_int_t
ngx_omni_flush_tenants(PGresult *res)
{
    int                i;
    char              *key;
    u_char            *out;
    size_t             size, captures, n;
    omni_blocks_t     *bs;
    ngx_omni_flush_t  *f;

    f = &ngx_omni_flush;
    bs = &f->blocks;

    for (i = 0; i < PQntuples(res); i++) {
        key = PQgetvalue(res, i, 0);

        (void) omni_blocks_set_tenant(bs, key, ngx_strlen(key),
                                      ngx_atoof((u_char *) PQgetvalue(res, i, 1),
                                                PQgetlength(res, i, 1)));
    }

    f->unknown = omni_blocks_unknown_rows(bs);
    f->rows = bs->nrows - f->unknown;
    f->copy.len = 0;

    if (f->rows == 0) {
        return NGX_OK;
    }

    size = omni_blocks_copy(bs, NULL);
    captures = omni_blocks_captures(bs, NULL, &n);

    out = ngx_omni_flush_room(NGX_OMNI_FLUSH_MEM_OUT, size + captures);
    if (out == NULL) {
        return NGX_ERROR;
    }

    f->copy.data = out;
    f->copy.len = omni_blocks_copy(bs, (char *) out);

    f->captures.data = out + size;
    f->captures.len = omni_blocks_captures(bs, (char *) out + size, &n);

    return NGX_OK;
}


static void *
ngx_omni_flush_room(ngx_uint_t which, size_t size)
{
    ngx_omni_flush_buf_t  *b;

    b = &ngx_omni_flush.mem[which];

    if (b->size >= size && b->data) {
        return b->data;
    }

    if (b->data) {
        ngx_free(b->data);
    }

    size = ngx_max(size, 2 * b->size);

    b->data = ngx_alloc(size, ngx_cycle->log);
    b->size = b->data ? size : 0;

    return b->data;
}


static ngx_uint_t
ngx_omni_flush_count_rows(ngx_str_t *chunks, ngx_uint_t n)
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
