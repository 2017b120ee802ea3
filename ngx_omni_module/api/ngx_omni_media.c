
/*
 * POST /media.  nginx writes the body to a temporary file; a thread
 * finds the media's bytes in it (the whole body, or multipart's "file"
 * part), judges them by their first bytes (core/omni_magic), fits an
 * image over 5 MiB (media/ngx_omni_media_image) and hashes what will be
 * stored.  Then, one statement each: the blob, its 1 MiB chunks (read
 * and hex-encoded in the thread, as the pool's parameters are text), and
 * the media row, whose JSON is the answer.  A refusal stores nothing.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_api_kit.h"
#include "ngx_omni_http.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_media.h"
#include "ngx_omni_media_task.h"
#include "ngx_omni_media_image.h"
#include "ngx_omni_media_url.h"
#include "omni_magic.h"
#include "omni_multipart.h"
#include "omni_beacon.h"
#include "omni_json_shape.h"

#include <openssl/evp.h>


/* a chunk of media_chunks: one statement's parameter, 2 MiB as hex */
#define NGX_OMNI_MEDIA_CHUNK     (1024 * 1024)

/* what a thread reads at a time, and the multipart head it looks into */
#define NGX_OMNI_MEDIA_BLOCK     (64 * 1024)

#define NGX_OMNI_MEDIA_INSPECT   1
#define NGX_OMNI_MEDIA_READ      2


typedef struct {
    ngx_omni_ctx_t           *ctx;
    ngx_omni_media_task_t     task;
    ngx_uint_t                step;        /* what the task does, or 0 */

    /* the request */
    ngx_fd_t                  body;
    off_t                     body_size;
    ngx_str_t                 boundary;    /* multipart, else empty */
    omni_media_kind_e         claimed;
    ngx_str_t                 filename;

    /* found in the thread: a refusal, or what is stored */
    ngx_uint_t                status;
    const char               *code;
    char                      reason[160];
    char                      part_filename[241];
    off_t                     offset;      /* the media in the body */
    off_t                     size;
    omni_media_verdict_t      verdict;
    ngx_temp_file_t          *encoded;
    ngx_omni_media_image_t    image;
    ngx_fd_t                  fd;          /* the bytes stored */
    off_t                     from;
    off_t                     len;
    const char               *mime;
    u_char                    sha256[32];
    u_char                    sha_param[2 + 64];  /* "\x" + hex */

    /* the chunks */
    ngx_uint_t                seq;
    ngx_uint_t                chunks;
    u_char                   *raw;
    u_char                   *param;
    size_t                    param_len;
    ngx_uint_t                read_failed;
} ngx_omni_media_up_t;


static ngx_int_t ngx_omni_media_args(ngx_omni_ctx_t *ctx,
    ngx_omni_media_up_t *up);
static ngx_int_t ngx_omni_media_name_valid(u_char *p, size_t len);
static ngx_int_t ngx_omni_media_post(ngx_omni_media_up_t *up,
    ngx_uint_t step);
static void ngx_omni_media_after(ngx_http_request_t *r);
static void ngx_omni_media_work(void *data);
static void ngx_omni_media_inspect(ngx_omni_media_up_t *up);
static ngx_int_t ngx_omni_media_find_part(ngx_omni_media_up_t *up,
    u_char *buf);
static ngx_int_t ngx_omni_media_hash(ngx_omni_media_up_t *up, u_char *buf);
static void ngx_omni_media_read_chunk(ngx_omni_media_up_t *up);
static ngx_int_t ngx_omni_media_inspected(ngx_omni_media_up_t *up);
static ngx_int_t ngx_omni_media_blob_begun(ngx_omni_ctx_t *ctx,
    PGresult *res);
static ngx_int_t ngx_omni_media_chunk_read(ngx_omni_media_up_t *up);
static ngx_int_t ngx_omni_media_chunk_put(ngx_omni_ctx_t *ctx,
    PGresult *res);
static ngx_int_t ngx_omni_media_create(ngx_omni_media_up_t *up);


ngx_int_t
ngx_omni_media_upload(ngx_omni_ctx_t *ctx)
{
    ngx_int_t                  rc;
    ngx_http_request_t        *r;
    ngx_omni_media_up_t       *up;
    ngx_http_core_loc_conf_t  *clcf;

    r = ctx->request;

    up = ngx_pcalloc(r->pool, sizeof(ngx_omni_media_up_t));
    if (up == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    up->ctx = ctx;
    up->body = NGX_INVALID_FILE;
    ctx->state = up;

    rc = ngx_omni_media_args(ctx, up);
    if (rc != NGX_OK) {
        return rc;
    }

    if (r->request_body == NULL || r->request_body->temp_file == NULL
        || r->request_body->temp_file->file.offset == 0)
    {
        return ngx_omni_fail(ctx, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                             "empty_media", "The body holds no bytes");
    }

    up->body = r->request_body->temp_file->file.fd;
    up->body_size = r->request_body->temp_file->file.offset;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni media: upload of %O bytes, kind %s%s",
                   up->body_size, omni_media_kind_name(up->claimed),
                   up->boundary.len ? ", multipart" : "");

    if (up->body_size > OMNI_MEDIA_IMAGE_TARGET) {
        /* an image may need re-encoding: its file, made here, not there */
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        up->encoded = ngx_pcalloc(r->pool, sizeof(ngx_temp_file_t));
        if (up->encoded == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        up->encoded->file.fd = NGX_INVALID_FILE;
        up->encoded->file.log = r->connection->log;
        up->encoded->path = clcf->client_body_temp_path;
        up->encoded->pool = r->pool;
        up->encoded->clean = 1;

        if (ngx_create_temp_file(&up->encoded->file, up->encoded->path,
                                 r->pool, 0, 1, 0600)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_omni_media_post(up, NGX_OMNI_MEDIA_INSPECT);
}


/* ?kind=image|video|file, ?filename=NAME, and multipart's boundary */
static ngx_int_t
ngx_omni_media_args(ngx_omni_ctx_t *ctx, ngx_omni_media_up_t *up)
{
    int                  kind, rc;
    size_t               blen;
    ngx_str_t            arg;
    const char          *b;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ngx_omni_arg(r, "kind", &arg) == NGX_OK) {
        kind = omni_media_kind_parse((const char *) arg.data, arg.len);

        if (kind < 0) {
            return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST,
                                 "invalid_parameter",
                                 "kind is image, video or file");
        }

        up->claimed = kind;
    }

    if (ngx_omni_arg(r, "filename", &up->filename) == NGX_OK
        && (up->filename.len > 240
            || ngx_omni_media_name_valid(up->filename.data, up->filename.len)
               != NGX_OK))
    {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_parameter",
                             "filename is UTF-8 text of at most 240 bytes");
    }

    if (r->headers_in.content_type == NULL) {
        return NGX_OK;
    }

    rc = omni_multipart_boundary(
             (const char *) r->headers_in.content_type->value.data,
             r->headers_in.content_type->value.len, &b, &blen);

    if (rc == -2) {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_multipart",
                             "multipart/form-data needs a boundary");
    }

    if (rc == 0) {
        up->boundary.data = (u_char *) b;
        up->boundary.len = blen;
    }

    return NGX_OK;
}


/* checked before anything is stored: PostgreSQL would refuse it after */
static ngx_int_t
ngx_omni_media_name_valid(u_char *p, size_t len)
{
    size_t  n;

    while (len) {
        n = omni_utf8_char(p, len);

        if (n == 0 || *p < 0x20 || *p == 0x7f) {
            return NGX_DECLINED;
        }

        p += n;
        len -= n;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_omni_media_post(ngx_omni_media_up_t *up, ngx_uint_t step)
{
    up->step = step;
    up->task.request = up->ctx->request;
    up->task.work = ngx_omni_media_work;
    up->task.data = up;
    up->task.after = ngx_omni_media_after;

    if (ngx_omni_media_task_post(&up->task) != NGX_OK) {
        up->step = 0;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DONE;
}


static void
ngx_omni_media_after(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_uint_t            step;
    ngx_omni_ctx_t       *ctx;
    ngx_omni_media_up_t  *up;

    ctx = ngx_http_get_module_ctx(r, ngx_http_omni_module);
    up = ctx->state;

    /* a write event of the connection while the task is still out */
    if (r->aio || up->step == 0) {
        return;
    }

    step = up->step;
    up->step = 0;
    r->write_event_handler = ngx_http_request_empty_handler;

    if (step == NGX_OMNI_MEDIA_INSPECT) {
        rc = ngx_omni_media_inspected(up);

    } else {
        rc = ngx_omni_media_chunk_read(up);
    }

    ctx->resume(ctx, rc);
}


/* in the thread: nothing here touches nginx's pools or the event loop */
static void
ngx_omni_media_work(void *data)
{
    ngx_omni_media_up_t  *up = data;

    if (up->step == NGX_OMNI_MEDIA_INSPECT) {
        ngx_omni_media_inspect(up);

    } else {
        ngx_omni_media_read_chunk(up);
    }
}


static void
ngx_omni_media_inspect(ngx_omni_media_up_t *up)
{
    u_char                  *buf;
    ssize_t                  n;
    omni_magic_e             magic;
    ngx_omni_media_image_t  *im;

    buf = malloc(NGX_OMNI_MEDIA_BLOCK);
    if (buf == NULL) {
        up->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return;
    }

    up->offset = 0;
    up->size = up->body_size;

    if (up->boundary.len && ngx_omni_media_find_part(up, buf) != NGX_OK) {
        goto done;
    }

    n = 0;

    if (up->size > 0) {
        n = pread(up->body, buf, ngx_min(OMNI_MAGIC_HEAD, up->size),
                  up->offset);
        if (n < 0) {
            up->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }
    }

    magic = omni_magic_sniff(buf, (size_t) n);
    omni_media_judge(up->claimed, magic, (uint64_t) up->size, &up->verdict);

    if (up->verdict.status) {
        up->status = up->verdict.status;
        up->code = up->verdict.code;
        (void) ngx_snprintf((u_char *) up->reason, sizeof(up->reason) - 1,
                            "%s%Z",
                            up->verdict.status == 413
                            ? "The media is over its kind's size limit "
                              "(video 16 MiB, file 8 MiB)"
                            : up->size == 0
                              ? "The body holds no bytes"
                              : "The bytes are not of the kind claimed "
                                "(image: PNG or JPEG, video: MP4)");
        goto done;
    }

    up->mime = up->verdict.mime;
    up->fd = up->body;
    up->from = up->offset;
    up->len = up->size;

    if (up->verdict.kind == OMNI_MEDIA_IMAGE) {
        im = &up->image;
        im->in = up->body;
        im->in_offset = up->offset;
        im->in_size = up->size;
        im->png = (magic == OMNI_MAGIC_PNG);
        im->out = up->encoded ? up->encoded->file.fd : NGX_INVALID_FILE;
        im->target = up->encoded ? OMNI_MEDIA_IMAGE_TARGET : 0;

        ngx_omni_media_image_fit(im);

        if (im->status) {
            up->status = im->status;
            up->code = im->code;
            ngx_memcpy(up->reason, im->reason, sizeof(im->reason));
            goto done;
        }

        if (im->reencoded) {
            up->mime = "image/jpeg";
            up->fd = im->out;
            up->from = 0;
            up->len = im->out_size;
        }
    }

    (void) ngx_omni_media_hash(up, buf);

done:

    free(buf);
}


/* multipart: the "file" part's head in the first block, its end by scan */
static ngx_int_t
ngx_omni_media_find_part(ngx_omni_media_up_t *up, u_char *buf)
{
    u_char  *p;
    size_t   start, dlen, keep;
    off_t    pos;
    ssize_t  n;
    u_char   delim[4 + OMNI_MULTIPART_BOUNDARY_MAX];

    n = pread(up->body, buf, ngx_min(NGX_OMNI_MEDIA_BLOCK, up->body_size), 0);

    if (n <= 0
        || omni_multipart_find(buf, n, (const char *) up->boundary.data,
                               up->boundary.len, "file", &start,
                               up->part_filename,
                               sizeof(up->part_filename))
           != 0)
    {
        up->status = NGX_HTTP_BAD_REQUEST;
        up->code = "invalid_multipart";
        ngx_cpystrn((u_char *) up->reason, (u_char *) "The multipart body "
                    "has no \"file\" field", sizeof(up->reason));
        return NGX_ERROR;
    }

    /* the part ends at CRLF "--" boundary: scan with an overlap */
    dlen = 4 + up->boundary.len;
    p = ngx_cpymem(delim, "\r\n--", 4);
    ngx_memcpy(p, up->boundary.data, up->boundary.len);

    keep = dlen - 1;
    pos = start;

    while (pos < up->body_size) {
        n = pread(up->body, buf, NGX_OMNI_MEDIA_BLOCK, pos);
        if (n <= 0) {
            break;
        }

        p = memmem(buf, n, delim, dlen);

        if (p) {
            up->offset = start;
            up->size = pos + (p - buf) - start;
            return NGX_OK;
        }

        if ((size_t) n <= keep || pos + n >= up->body_size) {
            break;
        }

        pos += n - keep;
    }

    up->status = NGX_HTTP_BAD_REQUEST;
    up->code = "invalid_multipart";
    ngx_cpystrn((u_char *) up->reason, (u_char *) "The multipart body ends "
                "before its \"file\" part does", sizeof(up->reason));

    return NGX_ERROR;
}


static ngx_int_t
ngx_omni_media_hash(ngx_omni_media_up_t *up, u_char *buf)
{
    off_t          pos, end;
    ssize_t        n;
    unsigned int   len;
    EVP_MD_CTX    *md;

    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        goto failed;
    }

    end = up->from + up->len;

    for (pos = up->from; pos < end; pos += n) {
        n = pread(up->fd, buf, ngx_min(NGX_OMNI_MEDIA_BLOCK, end - pos), pos);

        if (n <= 0 || EVP_DigestUpdate(md, buf, n) != 1) {
            goto failed;
        }
    }

    if (EVP_DigestFinal_ex(md, up->sha256, &len) != 1) {
        goto failed;
    }

    EVP_MD_CTX_free(md);

    return NGX_OK;

failed:

    if (md) {
        EVP_MD_CTX_free(md);
    }

    up->status = NGX_HTTP_INTERNAL_SERVER_ERROR;

    return NGX_ERROR;
}


/* bytea's text form: "\x" and two hex digits a byte */
static void
ngx_omni_media_read_chunk(ngx_omni_media_up_t *up)
{
    off_t    pos, want;
    ssize_t  n;

    pos = up->from + (off_t) up->seq * NGX_OMNI_MEDIA_CHUNK;
    want = ngx_min(NGX_OMNI_MEDIA_CHUNK, up->from + up->len - pos);

    n = pread(up->fd, up->raw, want, pos);

    if (n != want) {
        up->read_failed = 1;
        return;
    }

    up->param[0] = '\\';
    up->param[1] = 'x';
    up->param_len = ngx_hex_dump(up->param + 2, up->raw, n) - up->param;
}


static ngx_int_t
ngx_omni_media_inspected(ngx_omni_media_up_t *up)
{
    ngx_str_t            params[4];
    ngx_omni_ctx_t      *ctx;
    ngx_http_request_t  *r;

    ctx = up->ctx;
    r = ctx->request;

    if (up->status == NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      "omni media: reading the upload failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (up->status) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni media: refused: %ui %s", up->status, up->code);

        return ngx_omni_fail(ctx, up->status, up->code, "%s", up->reason);
    }

    /* a name cut at 240 bytes ends between two characters */
    up->part_filename[omni_utf8_cut(up->part_filename,
                                    ngx_strlen(up->part_filename), 240)]
        = '\0';

    if (up->filename.len == 0
        && ngx_omni_media_name_valid((u_char *) up->part_filename,
                                     ngx_strlen(up->part_filename))
           != NGX_OK)
    {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_multipart",
                             "The part's filename is not UTF-8 text");
    }

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni media: %s, %O bytes stored of %O, "
                   "re-encoded: %ui (%ui attempts)", up->mime, up->len,
                   up->size, up->image.reencoded, up->image.attempts);

    up->chunks = (up->len + NGX_OMNI_MEDIA_CHUNK - 1) / NGX_OMNI_MEDIA_CHUNK;

    up->sha_param[0] = '\\';
    up->sha_param[1] = 'x';
    (void) ngx_hex_dump(up->sha_param + 2, up->sha256, 32);

    params[0].data = up->sha_param;
    params[0].len = sizeof(up->sha_param);
    params[1].data = (u_char *) up->mime;
    params[1].len = ngx_strlen(up->mime);

    if (ngx_omni_param_int(r->pool, &params[2], up->len) != NGX_OK
        || ngx_omni_param_int(r->pool, &params[3], up->chunks) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_MEDIA_BLOB_BEGIN, 4,
                                   params, ngx_omni_media_blob_begun);
}


static ngx_int_t
ngx_omni_media_blob_begun(ngx_omni_ctx_t *ctx, PGresult *res)
{
    ngx_omni_media_up_t  *up;
    ngx_http_request_t   *r;

    up = ctx->state;
    r = ctx->request;

    if (PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't') {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni media: the blob is stored already");
        return ngx_omni_media_create(up);
    }

    up->raw = ngx_palloc(r->pool, NGX_OMNI_MEDIA_CHUNK);
    up->param = ngx_pnalloc(r->pool, 2 + 2 * NGX_OMNI_MEDIA_CHUNK);

    if (up->raw == NULL || up->param == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    up->seq = 0;

    return ngx_omni_media_post(up, NGX_OMNI_MEDIA_READ);
}


static ngx_int_t
ngx_omni_media_chunk_read(ngx_omni_media_up_t *up)
{
    ngx_str_t            params[3];
    ngx_omni_ctx_t      *ctx;
    ngx_http_request_t  *r;

    ctx = up->ctx;
    r = ctx->request;

    if (up->read_failed) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      "omni media: reading chunk %ui failed", up->seq);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni media: chunk %ui of %ui read", up->seq, up->chunks);

    params[0].data = up->sha_param;
    params[0].len = sizeof(up->sha_param);
    params[2].data = up->param;
    params[2].len = up->param_len;

    if (ngx_omni_param_int(r->pool, &params[1], up->seq) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_MEDIA_CHUNK_PUT, 3,
                                   params, ngx_omni_media_chunk_put);
}


static ngx_int_t
ngx_omni_media_chunk_put(ngx_omni_ctx_t *ctx, PGresult *res)
{
    ngx_omni_media_up_t  *up;

    (void) res;

    up = ctx->state;
    up->seq++;

    if (up->seq < up->chunks) {
        return ngx_omni_media_post(up, NGX_OMNI_MEDIA_READ);
    }

    return ngx_omni_media_create(up);
}


static ngx_int_t
ngx_omni_media_create(ngx_omni_media_up_t *up)
{
    ngx_str_t            params[9], hex, mime, url;
    ngx_omni_ctx_t      *ctx;
    ngx_http_request_t  *r;

    ctx = up->ctx;
    r = ctx->request;

    hex.data = up->sha_param + 2;
    hex.len = 64;
    mime.data = (u_char *) up->mime;
    mime.len = ngx_strlen(up->mime);

    if (ngx_omni_media_url(r->pool, &hex, &mime, &url) != NGX_OK
        || ngx_omni_param_tenant(ctx, &params[0]) != NGX_OK
        || ngx_omni_param_int(r->pool, &params[1], ctx->member.member_id)
           != NGX_OK
        || ngx_omni_param_int(r->pool, &params[5], up->len) != NGX_OK
        || ngx_omni_param_int(r->pool, &params[6], up->size) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    params[2].data = (u_char *) omni_media_kind_name(up->verdict.kind);
    params[2].len = ngx_strlen(params[2].data);
    params[3] = mime;

    if (up->filename.len) {
        params[4] = up->filename;

    } else if (up->part_filename[0]) {
        params[4].data = (u_char *) up->part_filename;
        params[4].len = ngx_strlen(up->part_filename);

    } else {
        ngx_str_null(&params[4]);
    }

    params[7].data = up->sha_param;
    params[7].len = sizeof(up->sha_param);
    params[8] = url;

    return ngx_omni_api_query(ctx, NGX_OMNI_STMT_MEDIA_CREATE,
                              NGX_HTTP_CREATED, 9, params);
}


ngx_uint_t
ngx_omni_media_refused(ngx_http_request_t *r, ngx_int_t *rc)
{
    off_t      max;
    ngx_str_t  arg;

    if (r->headers_in.content_length_n < 0
        || ngx_omni_arg(r, "kind", &arg) != NGX_OK)
    {
        return 0;
    }

    switch (omni_media_kind_parse((char *) arg.data, arg.len)) {

    case OMNI_MEDIA_VIDEO:
        max = OMNI_MEDIA_VIDEO_MAX;
        break;

    case OMNI_MEDIA_FILE:
        max = OMNI_MEDIA_FILE_MAX;
        break;

    default:
        /* an image of any size; no kind: the bytes decide */
        return 0;
    }

    if (r->headers_in.content_length_n <= max) {
        return 0;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni media: %O bytes declared, over %O: refused unread",
                   r->headers_in.content_length_n, max);

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return 1;
    }

    *rc = ngx_omni_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                              "media_too_large",
                              "A %V is at most %O bytes; this one is %O",
                              &arg, max, r->headers_in.content_length_n);
    return 1;
}
