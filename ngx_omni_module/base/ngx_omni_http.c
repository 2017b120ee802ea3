
/*
 * One way to answer and one way to read a body, for every handler of the
 * module: JSON answers, the error shape of the design
 * ({"error":{"code","message"}}), request bodies, query arguments.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_http.h"
#include "omni_json_shape.h"


/* the longest message of an error answer, in bytes of UTF-8 */
#define NGX_OMNI_ERROR_MAX  512


static ngx_str_t   ngx_omni_json_type = ngx_string("application/json");
static ngx_uint_t  ngx_omni_tags[NGX_OMNI_EP_N];


void
ngx_omni_tag(ngx_http_request_t *r, ngx_uint_t endpoint)
{
    ngx_uint_t  *tag;

    tag = ngx_http_get_module_ctx(r, ngx_http_omni_module);

    /* a request's own ctx takes the number; a static tag is swapped */
    if (tag && (tag < ngx_omni_tags || tag >= ngx_omni_tags + NGX_OMNI_EP_N))
    {
        *tag = endpoint;
        return;
    }

    ngx_omni_tags[endpoint] = endpoint;
    ngx_http_set_ctx(r, &ngx_omni_tags[endpoint], ngx_http_omni_module);
}


ngx_int_t
ngx_omni_send_bytes(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len, ngx_uint_t memory)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (r->header_sent) {
        return NGX_ERROR;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;

    if (type) {
        r->headers_out.content_type = *type;
        r->headers_out.content_type_len = type->len;
        r->headers_out.content_type_lowcase = NULL;
    }

    if (len == 0 || r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = memory ? 1 : 0;
    b->temporary = memory ? 0 : 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_omni_send_json(ngx_http_request_t *r, ngx_uint_t status, u_char *json,
    size_t len)
{
    return ngx_omni_send_bytes(r, status, &ngx_omni_json_type, json, len, 0);
}


/*
 * The message may carry the client's text (a path, a field's name, a
 * database message quoting a value): it is cut between characters and
 * made valid UTF-8, so every answer decodes as strict UTF-8 JSON.
 */
ngx_int_t
ngx_omni_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *fmt, ...)
{
    u_char     *p, *json, raw[NGX_OMNI_ERROR_MAX], msg[NGX_OMNI_ERROR_MAX];
    size_t      len, code_len;
    va_list     args;
    uintptr_t   escape, code_escape;

    va_start(args, fmt);
    p = ngx_vslprintf(raw, raw + sizeof(raw), fmt, args);
    va_end(args);

    len = omni_utf8_clean((char *) msg, sizeof(msg), (char *) raw, p - raw);

    code_len = ngx_strlen(code);
    escape = ngx_escape_json(NULL, msg, len);
    code_escape = ngx_escape_json(NULL, (u_char *) code, code_len);

    json = ngx_pnalloc(r->pool, sizeof("{\"error\":{\"code\":\"\","
                                       "\"message\":\"\"}}\n") - 1
                                + code_len + code_escape + len + escape);
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(json, "{\"error\":{\"code\":\"", 18);
    p = (u_char *) ngx_escape_json(p, (u_char *) code, code_len);
    p = ngx_cpymem(p, "\",\"message\":\"", 13);
    p = (u_char *) ngx_escape_json(p, msg, len);
    p = ngx_cpymem(p, "\"}}\n", 4);

    /* an error answer must not be cached by a browser or a proxy */
    r->headers_out.last_modified_time = -1;

    return ngx_omni_send_json(r, status, json, p - json);
}


const char *
ngx_omni_status_code_name(ngx_uint_t status)
{
    switch (status) {
    case NGX_HTTP_BAD_REQUEST:
        return "bad_request";
    case NGX_HTTP_UNAUTHORIZED:
        return "unauthorized";
    case NGX_HTTP_FORBIDDEN:
        return "forbidden";
    case NGX_HTTP_NOT_FOUND:
        return "not_found";
    case NGX_HTTP_NOT_ALLOWED:
        return "method_not_allowed";
    case NGX_HTTP_REQUEST_TIME_OUT:
        return "request_timeout";
    case NGX_HTTP_LENGTH_REQUIRED:
        return "length_required";
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        return "body_too_large";
    case NGX_HTTP_REQUEST_URI_TOO_LARGE:
        return "uri_too_long";
    case NGX_HTTP_UNSUPPORTED_MEDIA_TYPE:
        return "unsupported_media_type";
    case 429:
        return "too_many_requests";
    case NGX_HTTP_BAD_GATEWAY:
        return "bad_gateway";
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return "unavailable";
    case NGX_HTTP_GATEWAY_TIME_OUT:
        return "timeout";
    default:
        return status >= 500 ? "internal_error" : "error";
    }
}


/*
 * The request body as one contiguous string.  The /omni/ location keeps
 * bodies in memory (client_body_buffer_size = client_max_body_size);
 * a body that nginx still wrote to a file is read back here.
 */
ngx_int_t
ngx_omni_body_bytes(ngx_http_request_t *r, ngx_str_t *out)
{
    off_t         len;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    out->len = 0;
    out->data = NULL;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
    }

    if (len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                return NGX_ERROR;
            }

            p += n;
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    *p = '\0';
    out->len = p - out->data;

    return NGX_OK;
}


/* a query-string argument, URL-decoded into the request pool */
ngx_int_t
ngx_omni_arg(ngx_http_request_t *r, const char *name, ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK) {
        value->len = 0;
        value->data = NULL;
        return NGX_DECLINED;
    }

    dst = ngx_pnalloc(r->pool, raw.len + 1);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    value->data = dst;
    src = raw.data;

    /* '+' stays '+': it starts a phone number far more often than a space */
    ngx_unescape_uri(&dst, &src, raw.len, 0);
    value->len = dst - value->data;
    *dst = '\0';

    return NGX_OK;
}


void
ngx_omni_location_tail(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    *path = r->uri;

    /* a regex or exact location has no prefix to take off */
    if (!clcf->exact_match
#if (NGX_PCRE)
        && clcf->regex == NULL
#endif
        && path->len >= clcf->name.len)
    {
        path->data += clcf->name.len;
        path->len -= clcf->name.len;
    }

    while (path->len && path->data[0] == '/') {
        path->data++;
        path->len--;
    }
}
