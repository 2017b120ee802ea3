
/*
 * Pixel spool files: the disk's custody of beacons while PostgreSQL is
 * away (the ring written out, fsync'd before the ring lets go of the
 * bytes), while the ring is full (one overflow file per worker), and of
 * rows PostgreSQL refuses.  Files are named by their ring positions, so a
 * replay is the same transaction under the same source as the ring's own
 * and skips what the database already has.  Spool files replay first,
 * oldest first.
 */

#include <dirent.h>

#include "ngx_omni_module.h"
#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif
#include "ngx_omni_stats.h"
#include "ngx_omni_ring.h"
#include "ngx_omni_spool.h"


#define NGX_OMNI_SPOOL_READ_BYTES  (4 * 1024 * 1024)


/* the ring's bytes on their way to a spool file */
typedef struct {
    u_char                path[NGX_MAX_PATH];
    ngx_str_t             chunks[2];
    ngx_uint_t            n;
    uint64_t              to;
    ngx_uint_t            rows;
    ngx_int_t             rc;
    ngx_err_t             err;
    unsigned              running:1;
} ngx_omni_spool_ring_job_t;


static ngx_int_t ngx_omni_spool_ring_prepare(void);
static void ngx_omni_spool_ring_write(void);
static void ngx_omni_spool_ring_done(void);
#if (NGX_THREADS)
static void ngx_omni_spool_ring_thread(void *data, ngx_log_t *log);
static void ngx_omni_spool_ring_thread_done(ngx_event_t *ev);
#endif
static ngx_int_t ngx_omni_spool_write_file(u_char *path, ngx_str_t *chunks,
    ngx_uint_t n);
static void ngx_omni_spool_sync_dir(void);
static void ngx_omni_spool_set_aside_torn(ngx_omni_spool_file_t *file,
    uint64_t from, u_char *data, size_t len);
static void ngx_omni_spool_rejected_path(u_char *path);


static ngx_omni_main_conf_t  *ngx_omni_spool_conf;
static u_char                 ngx_omni_overflow_path[NGX_MAX_PATH];

/*
 * What of a file was set aside: the replay reads on after skip_to, and a
 * torn end (torn_at, 0: none) is never stored past.
 */
static u_char                 ngx_omni_spool_skip_file[NGX_MAX_PATH];
static uint64_t               ngx_omni_spool_skip_to;
static uint64_t               ngx_omni_spool_torn_at;

static ngx_omni_spool_ring_job_t  ngx_omni_spool_job;
#if (NGX_THREADS)
static ngx_thread_pool_t     *ngx_omni_spool_pool;
static ngx_thread_task_t     *ngx_omni_spool_task;
#endif


ngx_int_t
ngx_omni_spool_init_process(ngx_cycle_t *cycle)
{
    ngx_omni_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_omni_module);
    ngx_omni_spool_conf = omcf;

    (void) ngx_sprintf(ngx_omni_overflow_path, "%V/overflow-%P.open%Z",
                       &omcf->spool_dir, ngx_pid);

#if (NGX_THREADS)
    if (omcf->thread_pool.len) {
        ngx_omni_spool_pool = ngx_thread_pool_get(cycle, &omcf->thread_pool);
    }

    if (ngx_omni_spool_pool) {
        ngx_omni_spool_task = ngx_thread_task_alloc(cycle->pool, 0);
        if (ngx_omni_spool_task == NULL) {
            return NGX_ERROR;
        }

        ngx_omni_spool_task->ctx = &ngx_omni_spool_job;
        ngx_omni_spool_task->handler = ngx_omni_spool_ring_thread;
        ngx_omni_spool_task->event.handler = ngx_omni_spool_ring_thread_done;
        ngx_omni_spool_task->event.data = &ngx_omni_spool_job;
        ngx_omni_spool_task->event.log = cycle->log;
    }
#endif

    return NGX_OK;
}


/*
 * Leaving: nginx's thread pools end (their queued tasks done) before any
 * module's exit_process, so a ring spool written in a thread is on disk,
 * only its completion never ran: the ring lets go of those bytes now.
 */
void
ngx_omni_spool_exit_process(void)
{
    if (ngx_omni_spool_job.running) {
        ngx_omni_spool_job.running = 0;
        ngx_omni_spool_ring_done();
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

    if (ngx_omni_spool_conf == NULL) {
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
            ngx_omni_spool_sync_dir();
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
                            &ngx_omni_spool_conf->spool_dir, ngx_pid,
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

    if (ngx_omni_spool_conf == NULL) {
        return 0;
    }

    dir = opendir((char *) ngx_omni_spool_conf->spool_dir.data);
    if (dir == NULL) {
        return 0;
    }

    total = 0;

    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }

        (void) ngx_snprintf(path, sizeof(path), "%V/%s%Z",
                            &ngx_omni_spool_conf->spool_dir, de->d_name);

        if (ngx_file_info(path, &fi) == 0) {
            total += ngx_file_size(&fi);
        }
    }

    closedir(dir);

    return total;
}


/*
 * The next file to replay: the oldest ring spool ("ring-<epoch>-<from>
 * .copy", replayed under the ring's own source), else an overflow file
 * ("overflow-<pid>-<ms>.copy", replayed under its file name).
 */
ngx_int_t
ngx_omni_spool_next(ngx_omni_spool_file_t *file)
{
    DIR              *dir;
    u_char           *name, best[256];
    uint64_t          epoch, from, best_from;
    ngx_uint_t        found;
    ngx_file_info_t   fi;
    struct dirent    *de;

    dir = opendir((char *) ngx_omni_spool_conf->spool_dir.data);
    if (dir == NULL) {
        return NGX_DONE;
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
            (void) ngx_snprintf(file->path, sizeof(file->path), "%V/%s%Z",
                                &ngx_omni_spool_conf->spool_dir, name);

            /* a late writer may still append: wait until it is quiet */
            if (ngx_file_info(file->path, &fi) == 0
                && ngx_time() - ngx_file_mtime(&fi) >= 1)
            {
                ngx_cpystrn(best, name, sizeof(best));
                found = 1;
            }
        }
    }

    closedir(dir);

    if (!found) {
        return NGX_DONE;
    }

    (void) ngx_snprintf(file->path, sizeof(file->path), "%V/%s%Z",
                        &ngx_omni_spool_conf->spool_dir, best);

    if (ngx_file_info(file->path, &fi) != 0) {
        return NGX_DONE;
    }

    file->size = (uint64_t) ngx_file_size(&fi);

    if (ngx_strncmp(best, "ring-", 5) == 0) {
        (void) sscanf((char *) best, "ring-%16lx-%20lu.copy",
                      (unsigned long *) &epoch, (unsigned long *) &from);
        (void) ngx_sprintf(file->source, "ring:%016xL%Z", epoch);
        file->base = from;

    } else {
        (void) ngx_snprintf(file->source, sizeof(file->source), "file:%s%Z",
                            best);
        file->base = 0;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni spool: replay \"%s\" from %uL, %uL bytes",
                   file->path, file->base, file->size);

    return NGX_OK;
}


/* the file's bytes past what the database already has */
ngx_int_t
ngx_omni_spool_read(ngx_omni_spool_file_t *file, uint64_t drained,
    ngx_uint_t limit, ngx_omni_batch_t *b, uint64_t *from, uint64_t *to)
{
    u_char    *buf;
    ssize_t    n;
    size_t     len, whole;
    uint64_t   start, off;
    ngx_fd_t   fd;

    b->nchunks = 0;

    start = ngx_max(drained, file->base);

    if (ngx_strcmp(ngx_omni_spool_skip_file, file->path) == 0) {
        start = ngx_max(start, ngx_omni_spool_skip_to);
    }

    off = start - file->base;
    *from = start;
    *to = file->base + file->size;

    if (off >= file->size) {
        return NGX_OK;
    }

    len = (size_t) ngx_min(file->size - off, NGX_OMNI_SPOOL_READ_BYTES);

    buf = ngx_omni_batch_buffer(b, NGX_OMNI_BATCH_MEM_FILE,
                                NGX_OMNI_SPOOL_READ_BYTES);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    /* a blocking read, on the recovery path only */
    fd = ngx_open_file(file->path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
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
        ngx_omni_spool_set_aside_torn(file, start, buf, len);

        b->rows = 0;
        *to = start + len;

        return NGX_OK;
    }

    len = whole;
    b->chunks[0].data = buf;
    b->chunks[0].len = len;
    b->nchunks = len ? 1 : 0;
    b->rows = ngx_omni_batch_count_rows(b->chunks, b->nchunks);

    if (b->rows > limit) {
        len = (size_t) ngx_omni_batch_rows_len(b->chunks, 1, limit);
        b->chunks[0].len = len;
        b->rows = limit;
    }

    *to = start + len;

    return NGX_OK;
}


/*
 * The position the database keeps for the file's source: to, but never
 * past the start of the file's torn end.  A ring spool torn by a crash
 * while it was written (a "ring-*.copy.tmp") holds bytes the ring let go
 * of only once a whole copy was on disk: the ring, or that copy, has the
 * torn row whole, and a position past its start would skip it.
 */
uint64_t
ngx_omni_spool_stored_to(ngx_omni_spool_file_t *file, uint64_t to)
{
    if (ngx_omni_spool_torn_at && to > ngx_omni_spool_torn_at
        && ngx_strcmp(ngx_omni_spool_skip_file, file->path) == 0)
    {
        return ngx_omni_spool_torn_at;
    }

    return to;
}


void
ngx_omni_spool_replayed(ngx_omni_spool_file_t *file, uint64_t to)
{
    if (to < file->base + file->size) {
        return;
    }

    if (ngx_delete_file(file->path) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                      "omni: replayed spool \"%s\" can't be removed",
                      file->path);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni spool: \"%s\" replayed and removed", file->path);
}


/*
 * The ring's undrained rows to a file, fsync'd, then the ring lets go:
 * at once (a worker leaving), or started here and finished in the thread
 * pool, so that writing megabytes and fsync() never hold the event loop.
 */
ngx_int_t
ngx_omni_spool_ring(void)
{
    if (ngx_omni_spool_job.running) {
        return NGX_AGAIN;
    }

    if (ngx_omni_spool_ring_prepare() != NGX_OK) {
        return NGX_OK;
    }

    ngx_omni_spool_ring_write();
    ngx_omni_spool_ring_done();

    return ngx_omni_spool_job.rc;
}


ngx_int_t
ngx_omni_spool_ring_start(void)
{
    if (ngx_omni_spool_job.running) {
        return NGX_AGAIN;
    }

#if (NGX_THREADS)
    if (ngx_omni_spool_pool) {
        if (ngx_omni_spool_ring_prepare() != NGX_OK) {
            return NGX_OK;
        }

        ngx_omni_spool_job.running = 1;

        if (ngx_thread_task_post(ngx_omni_spool_pool, ngx_omni_spool_task)
            == NGX_OK)
        {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                           "omni spool: ring to \"%s\" in the thread pool",
                           ngx_omni_spool_job.path);
            return NGX_AGAIN;
        }

        ngx_omni_spool_job.running = 0;
    }
#endif

    return ngx_omni_spool_ring();
}


ngx_uint_t
ngx_omni_spool_busy(void)
{
    return ngx_omni_spool_job.running;
}


/* what to write: the ring from its tail, and the file's name */
static ngx_int_t
ngx_omni_spool_ring_prepare(void)
{
    uint64_t                    tail, head;
    ngx_omni_spool_ring_job_t  *job;

    job = &ngx_omni_spool_job;

    ngx_omni_ring_range(&tail, &head);

    job->to = head;
    job->n = ngx_omni_ring_chunks(tail, &job->to, job->chunks);
    job->rc = NGX_OK;

    if (job->n == 0) {
        return NGX_DONE;
    }

    (void) ngx_snprintf(job->path, sizeof(job->path),
                        "%V/ring-%016xL-%020uL.copy%Z",
                        &ngx_omni_spool_conf->spool_dir,
                        ngx_omni_ring_epoch(), tail);

    return NGX_OK;
}


/* in a thread, or at once: touches nothing but the job and the disk */
static void
ngx_omni_spool_ring_write(void)
{
    ngx_omni_spool_ring_job_t  *job;

    job = &ngx_omni_spool_job;

    job->rc = ngx_omni_spool_write_file(job->path, job->chunks, job->n);
    job->err = ngx_errno;
    job->rows = ngx_omni_batch_count_rows(job->chunks, job->n);
}


static void
ngx_omni_spool_ring_done(void)
{
    ngx_omni_spool_ring_job_t  *job;

    job = &ngx_omni_spool_job;

    if (job->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, job->err,
                      "omni: spooling the pixel ring to \"%s\" failed; "
                      "the events stay in the ring", job->path);
        job->rc = NGX_ERROR;
        return;
    }

    ngx_omni_ring_advance(job->to);

    (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.events_spooled,
                                job->rows);

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "omni: %ui pixel events spooled to \"%s\"", job->rows,
                  job->path);
}


#if (NGX_THREADS)

static void
ngx_omni_spool_ring_thread(void *data, ngx_log_t *log)
{
    (void) data;
    (void) log;

    ngx_omni_spool_ring_write();
}


static void
ngx_omni_spool_ring_thread_done(ngx_event_t *ev)
{
    (void) ev;

    ngx_omni_spool_job.running = 0;
    ngx_omni_spool_ring_done();
}

#endif


static ngx_int_t
ngx_omni_spool_write_file(u_char *path, ngx_str_t *chunks, ngx_uint_t n)
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
    ngx_omni_spool_sync_dir();

    return NGX_OK;
}


/* a file created or renamed in the spool directory outlives a crash */
static void
ngx_omni_spool_sync_dir(void)
{
    ngx_fd_t  fd;

    fd = ngx_open_file(ngx_omni_spool_conf->spool_dir.data, NGX_FILE_RDONLY,
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
void
ngx_omni_spool_close_overflow(void)
{
    DIR             *dir;
    u_char           from[NGX_MAX_PATH], to[NGX_MAX_PATH];
    ngx_fd_t         fd;
    ngx_file_info_t  fi;
    struct dirent   *de;

    if (ngx_omni_spool_conf == NULL) {
        return;
    }

    dir = opendir((char *) ngx_omni_spool_conf->spool_dir.data);
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
                            &ngx_omni_spool_conf->spool_dir, de->d_name);

        if (ngx_file_info(from, &fi) != 0
            || ngx_time() - ngx_file_mtime(&fi) < 1)
        {
            continue;
        }

        (void) ngx_snprintf(to, sizeof(to), "%V/%*s-%M.copy%Z",
                            &ngx_omni_spool_conf->spool_dir,
                            ngx_strlen(de->d_name) - 5, de->d_name,
                            ngx_current_msec);

        fd = ngx_open_file(from, NGX_FILE_RDWR, NGX_FILE_OPEN, 0);
        if (fd != NGX_INVALID_FILE) {
            (void) fsync(fd);
            (void) ngx_close_file(fd);
        }

        (void) ngx_rename_file(from, to);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "omni spool: overflow closed as \"%s\"", to);
    }

    closedir(dir);
}


/*
 * A row PostgreSQL refuses by itself: kept in "rejected-<pid>-<ms>.rows"
 * in the spool directory (fsync'd; not replayed) for the operator, and
 * counted, so that the rows behind it go on.
 */
ngx_int_t
ngx_omni_spool_set_aside(ngx_omni_batch_t *b, u_char *source)
{
    u_char  path[NGX_MAX_PATH];

    ngx_omni_spool_rejected_path(path);

    if (b->nchunks
        && ngx_omni_spool_write_file(path, b->chunks, b->nchunks) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                  "omni: PostgreSQL refuses a pixel row of \"%s\"; it is "
                  "set aside in \"%s\"", source, path);

    (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.events_set_aside,
                                b->rows);

    return NGX_OK;
}


/* the replay of the file reads on after to, even if the batch fails */
void
ngx_omni_spool_skip(ngx_omni_spool_file_t *file, uint64_t to)
{
    ngx_cpystrn(ngx_omni_spool_skip_file, file->path,
                sizeof(ngx_omni_spool_skip_file));
    ngx_omni_spool_skip_to = to;
    ngx_omni_spool_torn_at = 0;
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
ngx_omni_spool_set_aside_torn(ngx_omni_spool_file_t *file, uint64_t from,
    u_char *data, size_t len)
{
    u_char     path[NGX_MAX_PATH];
    ngx_str_t  torn;

    ngx_omni_spool_rejected_path(path);

    torn.data = data;
    torn.len = len;

    if (ngx_omni_spool_write_file(path, &torn, 1) == NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "omni: spool file \"%s\" has a torn row at %uL "
                      "(%uz bytes with no end of line); it is set aside "
                      "in \"%s\"", file->path, from, len, path);

        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.events_set_aside,
                                    1);

    } else {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                      "omni: spool file \"%s\" has a torn row at %uL "
                      "(%uz bytes with no end of line); writing it to \"%s\" "
                      "failed, so it is dropped", file->path, from, len,
                      path);

        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.events_lost, 1);
    }

    ngx_omni_spool_skip(file, from + len);

    ngx_omni_spool_torn_at = (ngx_omni_spool_skip_to == file->base + file->size)
                             ? from : 0;
}


/*
 * "rejected-<pid>-<ms>.rows", never one already used: two rows set aside
 * within a millisecond would otherwise be one file, the first one lost.
 */
static void
ngx_omni_spool_rejected_path(u_char *path)
{
    static ngx_msec_t  last;

    last = ngx_max(ngx_current_msec, last + 1);

    (void) ngx_snprintf(path, NGX_MAX_PATH, "%V/rejected-%P-%M.rows%Z",
                        &ngx_omni_spool_conf->spool_dir, ngx_pid, last);
}
