
/*
 * The media a channel fetches by URL, from whichever host it reaches.
 * A hit is a file of omni_media_cache (DIR/ab/abcdef..., named by its
 * sha256) sent as nginx's static module sends one: sendfile, Range, a
 * strong ETag (the sha256 itself) and If-None-Match.  A miss reads the
 * blob's chunks from PostgreSQL one statement at a time, writes them in
 * the thread pool to a temporary file beside the cache file and renames
 * it into place: a reader sees the whole file or none.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_http.h"
#include "ngx_omni_pg.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_media_task.h"
#include "ngx_omni_media_serve.h"
#include "omni_magic.h"


#define NGX_OMNI_MEDIA_WRITE     1
#define NGX_OMNI_MEDIA_COMMIT    2


typedef struct {
    ngx_uint_t               endpoint;    /* first: see ngx_omni_tag() */
    ngx_http_request_t      *request;
    ngx_omni_pg_query_t     *query;
    ngx_omni_media_task_t    task;
    ngx_uint_t               step;

    u_char                   hex[64];
    u_char                   sha_param[2 + 64];
    ngx_str_t                path;        /* NUL-terminated */
    ngx_str_t                dir;
    ngx_str_t                tmp;

    off_t                    size;
    ngx_uint_t               chunks;
    ngx_uint_t               seq;
    off_t                    written;

    u_char                  *hexdata;     /* a chunk as PostgreSQL sent it */
    size_t                   hexlen;
    u_char                  *raw;
    ngx_fd_t                 fd;
    ngx_err_t                err;
    const char              *failed;      /* the step that failed, if any */
} ngx_omni_media_serve_t;


static ngx_int_t ngx_omni_media_parse(ngx_http_request_t *r,
    ngx_omni_media_serve_t *ms);
static ngx_int_t ngx_omni_media_send(ngx_omni_media_serve_t *ms);
static ngx_int_t ngx_omni_media_fill(ngx_omni_media_serve_t *ms);
static void ngx_omni_media_blob(void *data, ngx_int_t rc, PGresult *res);
static ngx_int_t ngx_omni_media_next_chunk(ngx_omni_media_serve_t *ms);
static void ngx_omni_media_chunk(void *data, ngx_int_t rc, PGresult *res);
static ngx_int_t ngx_omni_media_write(ngx_omni_media_serve_t *ms,
    ngx_uint_t step);
static void ngx_omni_media_work(void *data);
static void ngx_omni_media_written(ngx_http_request_t *r);
static void ngx_omni_media_finalize(ngx_omni_media_serve_t *ms,
    ngx_int_t rc);
static void ngx_omni_media_cleanup(void *data);


ngx_int_t
ngx_omni_media_serve_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_http_cleanup_t      *cln;
    ngx_omni_media_serve_t  *ms;

    ms = ngx_pcalloc(r->pool, sizeof(ngx_omni_media_serve_t));
    if (ms == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ms->endpoint = NGX_OMNI_EP_MEDIA_FILE;
    ms->request = r;
    ms->fd = NGX_INVALID_FILE;
    ngx_http_set_ctx(r, ms, ngx_http_omni_module);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_omni_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                   "method_not_allowed",
                                   "%V is not allowed on %V",
                                   &r->method_name, &r->uri);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_omni_media_parse(r, ms) != NGX_OK) {
        return ngx_omni_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                   "No such media: %V", &r->uri);
    }

    rc = ngx_omni_media_send(ms);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_omni_media_cleanup;
    cln->data = ms;

    rc = ngx_omni_media_fill(ms);

    if (rc != NGX_DONE) {
        return rc;
    }

    r->main->count++;

    return NGX_DONE;
}


/* the last segment: 64 hex digits, maybe an extension (any, ignored) */
static ngx_int_t
ngx_omni_media_parse(ngx_http_request_t *r, ngx_omni_media_serve_t *ms)
{
    u_char                *p, *last, *seg;
    ngx_uint_t             i;
    ngx_omni_main_conf_t  *omcf;

    last = r->uri.data + r->uri.len;
    seg = last;

    while (seg > r->uri.data && seg[-1] != '/') {
        seg--;
    }

    if (last - seg < 64 || (last - seg > 64 && seg[64] != '.')
        || last - seg > 64 + 9)
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < 64; i++) {
        ms->hex[i] = ngx_tolower(seg[i]);

        if (!((ms->hex[i] >= '0' && ms->hex[i] <= '9')
              || (ms->hex[i] >= 'a' && ms->hex[i] <= 'f')))
        {
            return NGX_DECLINED;
        }
    }

    for (p = seg + 65; p < last; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) {
            return NGX_DECLINED;
        }
    }

    ms->sha_param[0] = '\\';
    ms->sha_param[1] = 'x';
    ngx_memcpy(ms->sha_param + 2, ms->hex, 64);

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    /* DIR/ab/ab01...ff and, while it is written, DIR/ab/ab01...ff.PID.N */
    ms->dir.len = omcf->media_cache.len + 3;
    ms->path.len = ms->dir.len + 1 + 64;
    ms->path.data = ngx_pnalloc(r->pool, ms->path.len + 1);
    if (ms->path.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(ms->path.data, omcf->media_cache.data,
                   omcf->media_cache.len);
    *p++ = '/';
    *p++ = ms->hex[0];
    *p++ = ms->hex[1];
    *p++ = '/';
    p = ngx_cpymem(p, ms->hex, 64);
    *p = '\0';

    ms->dir.data = ms->path.data;

    return NGX_OK;
}


/* NGX_DECLINED: not in this host's cache */
static ngx_int_t
ngx_omni_media_send(ngx_omni_media_serve_t *ms)
{
    u_char                     head[OMNI_MAGIC_HEAD];
    ssize_t                    n;
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_chain_t                out;
    ngx_table_elt_t           *h;
    ngx_http_request_t        *r;
    ngx_open_file_info_t       of;
    ngx_http_core_loc_conf_t  *clcf;

    r = ms->request;
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ngx_memzero(&of, sizeof(ngx_open_file_info_t));

    of.read_ahead = clcf->read_ahead;
    of.directio = clcf->directio;
    of.valid = clcf->open_file_cache_valid;
    of.min_uses = clcf->open_file_cache_min_uses;
    of.errors = clcf->open_file_cache_errors;
    of.events = clcf->open_file_cache_events;

    if (ngx_open_cached_file(clcf->open_file_cache, &ms->path, &of, r->pool)
        != NGX_OK)
    {
        if (of.err == NGX_ENOENT || of.err == NGX_ENOTDIR) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "omni media: cache miss \"%V\"", &ms->path);
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_CRIT, r->connection->log, of.err,
                      "%s \"%V\" failed", of.failed, &ms->path);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni media: cache hit \"%V\", %O bytes", &ms->path,
                   of.size);

    /* the type as the upload judged it: from the same first bytes */
    n = (of.size > 0) ? pread(of.fd, head, sizeof(head), 0) : 0;
    if (n < 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.content_type.data =
        (u_char *) omni_magic_mime(omni_magic_sniff(head, n));
    r->headers_out.content_type.len =
        ngx_strlen(r->headers_out.content_type.data);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = of.size;
    r->headers_out.last_modified_time = of.mtime;

    /* the content is its name: a strong ETag that never goes stale */
    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "ETag");
    h->value.len = 66;
    h->value.data = ngx_pnalloc(r->pool, 66);
    if (h->value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->value.data[0] = '"';
    ngx_memcpy(h->value.data + 1, ms->hex, 64);
    h->value.data[65] = '"';
    r->headers_out.etag = h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "public, max-age=31536000, immutable");

    r->allow_ranges = 1;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->file = ngx_pcalloc(r->pool, sizeof(ngx_file_t));
    if (b->file == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->file_pos = 0;
    b->file_last = of.size;
    b->in_file = b->file_last ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    b->sync = (b->file_last == 0) ? 1 : 0;

    b->file->fd = of.fd;
    b->file->name = ms->path;
    b->file->log = r->connection->log;
    b->file->directio = of.is_directio;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_omni_media_fill(ngx_omni_media_serve_t *ms)
{
    ngx_str_t  param;

    param.data = ms->sha_param;
    param.len = sizeof(ms->sha_param);

    ms->query = ngx_omni_pg_query(NGX_OMNI_STMT_MEDIA_BLOB, 1, &param,
                                  ngx_omni_media_blob, ms);
    if (ms->query == NULL) {
        return ngx_omni_send_error(ms->request,
                                   NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "database_unavailable",
                                   "The media store is not reachable");
    }

    return NGX_DONE;
}


static void
ngx_omni_media_blob(void *data, ngx_int_t rc, PGresult *res)
{
    u_char                  *p;
    ngx_omni_media_serve_t  *ms = data;

    ngx_http_request_t  *r;

    ms->query = NULL;
    r = ms->request;

    if (rc != NGX_OK) {
        ngx_omni_media_finalize(ms, ngx_omni_send_error(r,
                                    NGX_HTTP_SERVICE_UNAVAILABLE,
                                    "database_unavailable",
                                    "The media store did not answer"));
        return;
    }

    if (PQntuples(res) != 1) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni media: no such blob");
        ngx_omni_media_finalize(ms, ngx_omni_send_error(r,
                                    NGX_HTTP_NOT_FOUND, "not_found",
                                    "No such media: %V", &r->uri));
        return;
    }

    ms->size = ngx_atoof((u_char *) PQgetvalue(res, 0, 1),
                         PQgetlength(res, 0, 1));
    ms->chunks = ngx_atoi((u_char *) PQgetvalue(res, 0, 2),
                          PQgetlength(res, 0, 2));

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni media: filling the cache: %O bytes, %ui chunks",
                   ms->size, ms->chunks);

    ms->tmp.len = ms->path.len + 1 + NGX_INT64_LEN + 1 + NGX_INT64_LEN;
    ms->tmp.data = ngx_pnalloc(r->pool, ms->tmp.len + 1);
    if (ms->tmp.data == NULL) {
        ngx_omni_media_finalize(ms, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_sprintf(ms->tmp.data, "%V.%P.%uA%Z", &ms->path, ngx_pid,
                    r->connection->number);
    ms->tmp.len = p - 1 - ms->tmp.data;

    ms->seq = 0;

    ngx_omni_media_finalize(ms, ngx_omni_media_next_chunk(ms));
}


static ngx_int_t
ngx_omni_media_next_chunk(ngx_omni_media_serve_t *ms)
{
    ngx_str_t  params[2];

    if (ms->seq == ms->chunks) {
        return ngx_omni_media_write(ms, NGX_OMNI_MEDIA_COMMIT);
    }

    params[0].data = ms->sha_param;
    params[0].len = sizeof(ms->sha_param);

    params[1].data = ngx_pnalloc(ms->request->pool, NGX_INT_T_LEN);
    if (params[1].data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    params[1].len = ngx_sprintf(params[1].data, "%ui", ms->seq)
                    - params[1].data;

    ms->query = ngx_omni_pg_query(NGX_OMNI_STMT_MEDIA_CHUNK, 2, params,
                                  ngx_omni_media_chunk, ms);
    if (ms->query == NULL) {
        return ngx_omni_send_error(ms->request,
                                   NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "database_unavailable",
                                   "The media store is not reachable");
    }

    return NGX_DONE;
}


static void
ngx_omni_media_chunk(void *data, ngx_int_t rc, PGresult *res)
{
    size_t                   len;
    ngx_omni_media_serve_t  *ms = data;

    ngx_http_request_t  *r;

    ms->query = NULL;
    r = ms->request;

    if (rc != NGX_OK || PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "omni media: chunk %ui of \"%V\" could not be read",
                      ms->seq, &ms->path);
        ngx_omni_media_finalize(ms, ngx_omni_send_error(r,
                                    NGX_HTTP_SERVICE_UNAVAILABLE,
                                    "database_unavailable",
                                    "The media store did not answer"));
        return;
    }

    /* res is the pool's once this returns: the thread gets a copy */
    len = PQgetlength(res, 0, 0);

    if (ms->hexdata == NULL || ms->hexlen < len) {
        ms->hexdata = ngx_pnalloc(r->pool, len);
        ms->raw = ngx_pnalloc(r->pool, len / 2 + 1);

        if (ms->hexdata == NULL || ms->raw == NULL) {
            ngx_omni_media_finalize(ms, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ngx_memcpy(ms->hexdata, PQgetvalue(res, 0, 0), len);
    ms->hexlen = len;

    ngx_omni_media_finalize(ms, ngx_omni_media_write(ms,
                                                     NGX_OMNI_MEDIA_WRITE));
}


static ngx_int_t
ngx_omni_media_write(ngx_omni_media_serve_t *ms, ngx_uint_t step)
{
    ms->step = step;
    ms->task.request = ms->request;
    ms->task.work = ngx_omni_media_work;
    ms->task.data = ms;
    ms->task.after = ngx_omni_media_written;

    if (ngx_omni_media_task_post(&ms->task) != NGX_OK) {
        ms->step = 0;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DONE;
}


/* in the thread: the chunk's hex to bytes, appended; at the end, rename */
static void
ngx_omni_media_work(void *data)
{
    u_char                  *src, *dst, c, v;
    size_t                   i, n;
    ngx_omni_media_serve_t  *ms = data;

    if (ms->step == NGX_OMNI_MEDIA_COMMIT) {
        if (ms->fd == NGX_INVALID_FILE) {
            /* an empty blob: nothing written yet */
            ms->fd = open((char *) ms->tmp.data,
                          O_WRONLY|O_CREAT|O_TRUNC, 0644);
            if (ms->fd == NGX_INVALID_FILE) {
                ms->err = ngx_errno;
                ms->failed = "open()";
                return;
            }
        }

        if (ms->written != ms->size) {
            ms->failed = "size check";
            return;
        }

        if (close(ms->fd) == -1) {
            ms->err = ngx_errno;
            ms->fd = NGX_INVALID_FILE;
            ms->failed = "close()";
            return;
        }

        ms->fd = NGX_INVALID_FILE;

        if (rename((char *) ms->tmp.data, (char *) ms->path.data) == -1) {
            ms->err = ngx_errno;
            ms->failed = "rename()";
        }

        return;
    }

    if (ms->fd == NGX_INVALID_FILE) {
        ms->path.data[ms->dir.len] = '\0';

        if (mkdir((char *) ms->path.data, 0755) == -1
            && ngx_errno != NGX_EEXIST)
        {
            ms->err = ngx_errno;
            ms->failed = "mkdir()";
            ms->path.data[ms->dir.len] = '/';
            return;
        }

        ms->path.data[ms->dir.len] = '/';

        ms->fd = open((char *) ms->tmp.data, O_WRONLY|O_CREAT|O_TRUNC, 0644);
        if (ms->fd == NGX_INVALID_FILE) {
            ms->err = ngx_errno;
            ms->failed = "open()";
            return;
        }
    }

    /* "\x" then two hex digits a byte, as bytea's text output */
    if (ms->hexlen < 2 || ms->hexdata[0] != '\\' || ms->hexdata[1] != 'x'
        || ms->hexlen % 2)
    {
        ms->failed = "hex decoding";
        return;
    }

    src = ms->hexdata + 2;
    dst = ms->raw;
    n = (ms->hexlen - 2) / 2;

    for (i = 0; i < 2 * n; i++) {
        c = src[i];
        v = (c >= 'a') ? c - 'a' + 10 : c - '0';
        *dst = (i & 1) ? (u_char) (*dst | v) : (u_char) (v << 4);
        dst += i & 1;
    }

    if (pwrite(ms->fd, ms->raw, n, ms->written) != (ssize_t) n) {
        ms->err = ngx_errno;
        ms->failed = "pwrite()";
        return;
    }

    ms->written += n;
}


static void
ngx_omni_media_written(ngx_http_request_t *r)
{
    ngx_uint_t               step;
    ngx_omni_media_serve_t  *ms;

    ms = ngx_http_get_module_ctx(r, ngx_http_omni_module);

    if (r->aio || ms->step == 0) {
        return;
    }

    step = ms->step;
    ms->step = 0;
    r->write_event_handler = ngx_http_request_empty_handler;

    if (ms->failed) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ms->err,
                      "omni media: %s of \"%V\" failed", ms->failed,
                      &ms->tmp);
        ngx_omni_media_finalize(ms, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (step == NGX_OMNI_MEDIA_WRITE) {
        ms->seq++;
        ngx_omni_media_finalize(ms, ngx_omni_media_next_chunk(ms));
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni media: cached \"%V\"", &ms->path);

    ngx_omni_media_finalize(ms, ngx_omni_media_send(ms));
}


/* NGX_DONE: a step is in flight and comes back; else the request ends */
static void
ngx_omni_media_finalize(ngx_omni_media_serve_t *ms, ngx_int_t rc)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (rc == NGX_DONE) {
        return;
    }

    r = ms->request;
    c = r->connection;

    if (rc == NGX_DECLINED) {
        /* renamed, yet gone: another process cleaned the cache */
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_omni_media_cleanup(void *data)
{
    ngx_omni_media_serve_t  *ms = data;

    if (ms->query) {
        ngx_omni_pg_query_abandon(ms->query);
        ms->query = NULL;
    }

    if (ms->fd != NGX_INVALID_FILE) {
        (void) close(ms->fd);
        ms->fd = NGX_INVALID_FILE;
        (void) unlink((char *) ms->tmp.data);
    }
}
