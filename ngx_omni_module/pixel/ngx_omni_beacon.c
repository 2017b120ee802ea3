
/*
 * The Pixel's edge: GET KEY.gif beacons, POST KEY batches from
 * navigator.sendBeacon, and the omni.js script.  The hot path validates,
 * writes one COPY row into the shared ring and answers; nothing here waits
 * for PostgreSQL, and a beacon never fails a page.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_http.h"
#include "ngx_omni_beacon.h"
#include "ngx_omni_stats.h"
#include "ngx_omni_ring.h"
#include "ngx_omni_spool.h"
#include "omni_beacon.h"

#include "ngx_omni_pixel_js.h"


#define NGX_OMNI_PIXEL_POST_MAX    (64 * 1024)
#define NGX_OMNI_PIXEL_POST_EVENTS 100


static ngx_int_t ngx_omni_pixel_gif(ngx_http_request_t *r, ngx_str_t *key);
static void ngx_omni_pixel_post_body(ngx_http_request_t *r);
static ngx_int_t ngx_omni_pixel_post_event(ngx_http_request_t *r,
    ngx_str_t *key, json_t *ev, int64_t now_ms);
static ngx_int_t ngx_omni_pixel_js(ngx_http_request_t *r);
static ngx_int_t ngx_omni_pixel_cors(ngx_http_request_t *r,
    ngx_uint_t preflight);
static void ngx_omni_pixel_beacon(ngx_http_request_t *r, ngx_str_t *key,
    int64_t now_ms, omni_beacon_t *b);
static void ngx_omni_pixel_queue_row(u_char *row, size_t len);
static int64_t ngx_omni_pixel_now_ms(void);
static void ngx_omni_pixel_text(omni_text_t *t, json_t *v);


/* the 43-byte transparent GIF, as ngx_http_empty_gif_module serves it */
static u_char  ngx_omni_gif[] = {
    'G', 'I', 'F', '8', '9', 'a',
    0x01, 0x00, 0x01, 0x00, 0x80, 0x01, 0x00,
    0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x01, 0x00,
    0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
    0x02, 0x02, 0x4c, 0x01, 0x00,
    0x3b
};

static ngx_str_t  ngx_omni_gif_type = ngx_string("image/gif");
static ngx_str_t  ngx_omni_js_type =
    ngx_string("application/javascript; charset=utf-8");
static ngx_str_t  ngx_omni_no_store = ngx_string("no-store");


ngx_int_t
ngx_omni_pixel_handler(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t  rc;
    ngx_str_t  key;

    if (path->len == sizeof("omni.js") - 1
        && ngx_strncmp(path->data, "omni.js", path->len) == 0)
    {
        return ngx_omni_pixel_js(r);
    }

    if (path->len > 4
        && ngx_strncmp(path->data + path->len - 4, ".gif", 4) == 0)
    {
        key.data = path->data;
        key.len = path->len - 4;
        return ngx_omni_pixel_gif(r, &key);
    }

    if (r->method == NGX_HTTP_OPTIONS) {
        ngx_omni_tag(r, NGX_OMNI_EP_PIXEL_POST);
        return ngx_omni_pixel_cors(r, 1);
    }

    if (r->method != NGX_HTTP_POST
        || !omni_beacon_key_valid((char *) path->data, path->len))
    {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_omni_send_error(r, r->method == NGX_HTTP_POST
                                      ? NGX_HTTP_NOT_FOUND
                                      : NGX_HTTP_NOT_ALLOWED,
                                   r->method == NGX_HTTP_POST
                                      ? "not_found" : "method_not_allowed",
                                   "Beacons are GET KEY.gif or POST KEY");
    }

    ngx_omni_tag(r, NGX_OMNI_EP_PIXEL_POST);

    if (r->headers_in.content_length_n > NGX_OMNI_PIXEL_POST_MAX) {
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.beacons_rejected,
                                    1);
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_omni_pixel_post_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_omni_pixel_gif(ngx_http_request_t *r, ngx_str_t *key)
{
    u_char         *buf;
    u_char          args[OMNI_BEACON_ROW_MAX], props[OMNI_BEACON_ROW_MAX];
    u_char          row[OMNI_BEACON_ROW_MAX];
    size_t          len;
    ngx_int_t       rc;
    omni_beacon_t   b;

    ngx_omni_tag(r, NGX_OMNI_EP_PIXEL_GIF);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_omni_pixel_beacon(r, key, ngx_omni_pixel_now_ms(), &b);

    /*
     * The whole query nginx took is decoded: omni.js sends up to 8,000
     * characters, an operator's large_client_header_buffers may allow
     * more, and a field left unread would be an event stored without it.
     */
    buf = args;

    if (r->args.len > sizeof(args)) {
        buf = ngx_pnalloc(r->pool, r->args.len);
        if (buf == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    len = 0;

    if (omni_beacon_query(&b, (char *) r->args.data, r->args.len,
                          (char *) buf, (char *) props, sizeof(props))
        == 0)
    {
        len = omni_beacon_row(&b, (char *) row, sizeof(row));
    }

    if (len == 0) {
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.beacons_rejected,
                                    1);

    } else {
        ngx_omni_pixel_queue_row(row, len);
    }

    return ngx_omni_pixel_send_gif(r);
}


ngx_int_t
ngx_omni_pixel_send_gif(ngx_http_request_t *r)
{
    ngx_table_elt_t  *cc;

    cc = ngx_list_push(&r->headers_out.headers);
    if (cc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cc->hash = 1;
    ngx_str_set(&cc->key, "Cache-Control");
    cc->value = ngx_omni_no_store;

    return ngx_omni_send_bytes(r, NGX_HTTP_OK, &ngx_omni_gif_type,
                               ngx_omni_gif, sizeof(ngx_omni_gif), 1);
}


static void
ngx_omni_pixel_post_body(ngx_http_request_t *r)
{
    size_t        i;
    json_t       *events, *ev;
    int64_t       now;
    ngx_int_t     rc;
    ngx_str_t     body, key;
    json_error_t  err;

    /* the key is the path's last segment, already checked */
    key.data = r->uri.data + r->uri.len;
    key.len = 0;

    while (key.data > r->uri.data && key.data[-1] != '/') {
        key.data--;
        key.len++;
    }

    if (ngx_omni_body_bytes(r, &body) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /*
     * A NUL costs what it touches, not the whole batch: its byte in a
     * value (the row drops it), its member in a name (jansson refuses
     * such names, so they go before it parses).
     */
    body.len = omni_beacon_json_drop_nul_names((char *) body.data, body.len);
    events = json_loadb((char *) body.data, body.len, JSON_ALLOW_NUL, &err);

    if (events == NULL || !json_is_array(events)
        || json_array_size(events) > NGX_OMNI_PIXEL_POST_EVENTS)
    {
        if (events) {
            json_decref(events);
        }

        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.beacons_rejected,
                                    1);

        if (ngx_omni_pixel_cors(r, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_http_finalize_request(r,
            ngx_omni_send_error(r, NGX_HTTP_BAD_REQUEST, "invalid_body",
                                "The body must be a JSON array of at most "
                                "%d events", NGX_OMNI_PIXEL_POST_EVENTS));
        return;
    }

    now = ngx_omni_pixel_now_ms();

    json_array_foreach(events, i, ev) {
        if (ngx_omni_pixel_post_event(r, &key, ev, now) != NGX_OK) {
            (void) ngx_atomic_fetch_add(
                       &ngx_omni_stats->pixel.beacons_rejected, 1);
        }
    }

    json_decref(events);

    rc = ngx_omni_pixel_cors(r, 0);

    if (rc == NGX_OK) {
        r->headers_out.status = NGX_HTTP_NO_CONTENT;
        r->header_only = 1;
        r->headers_out.content_length_n = 0;
        rc = ngx_http_send_header(r);
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_omni_pixel_post_event(ngx_http_request_t *r, ngx_str_t *key, json_t *ev,
    int64_t now_ms)
{
    char           *props;
    u_char          row[OMNI_BEACON_ROW_MAX];
    size_t          len;
    json_t         *p, *ts;
    omni_beacon_t   b;

    if (!json_is_object(ev)) {
        return NGX_DECLINED;
    }

    ngx_omni_pixel_beacon(r, key, now_ms, &b);

    ngx_omni_pixel_text(&b.ev, json_object_get(ev, "ev"));
    ngx_omni_pixel_text(&b.vid, json_object_get(ev, "vid"));
    ngx_omni_pixel_text(&b.url, json_object_get(ev, "url"));
    ngx_omni_pixel_text(&b.ref, json_object_get(ev, "ref"));
    ngx_omni_pixel_text(&b.ph, json_object_get(ev, "ph"));
    ngx_omni_pixel_text(&b.em, json_object_get(ev, "em"));

    ts = json_object_get(ev, "ts");

    /* out of range stays absent (a double past int64 can't be cast) */
    if (json_is_integer(ts)) {
        b.client_ms = json_integer_value(ts);

    } else if (json_is_real(ts) && json_real_value(ts) >= 0
               && json_real_value(ts) <= (double) OMNI_BEACON_TS_MAX)
    {
        b.client_ms = (int64_t) json_real_value(ts);
    }

    props = NULL;
    p = json_object_get(ev, "props");

    /* an event stored without the props it was sent with would lie */
    if (json_is_object(p)) {
        if (json_object_size(p) > OMNI_BEACON_PROPS_MAX) {
            return NGX_DECLINED;
        }

        props = json_dumps(p, JSON_COMPACT);

        if (props == NULL) {
            return NGX_DECLINED;
        }

        b.props.data = props;
        b.props.len = ngx_strlen(props);
    }

    len = omni_beacon_row(&b, (char *) row, sizeof(row));

    if (props) {
        free(props);
    }

    if (len == 0) {
        return NGX_DECLINED;
    }

    ngx_omni_pixel_queue_row(row, len);

    return NGX_OK;
}


/* what every beacon of a request shares: key, time, address, agent */
static void
ngx_omni_pixel_beacon(ngx_http_request_t *r, ngx_str_t *key, int64_t now_ms,
    omni_beacon_t *b)
{
    ngx_memzero(b, sizeof(omni_beacon_t));
    b->received_ms = now_ms;
    b->client_ms = -1;
    b->key.data = (char *) key->data;
    b->key.len = key->len;
    b->ip.data = (char *) r->connection->addr_text.data;
    b->ip.len = r->connection->addr_text.len;

    if (r->headers_in.user_agent) {
        b->ua.data = (char *) r->headers_in.user_agent->value.data;
        b->ua.len = r->headers_in.user_agent->value.len;
    }
}


/* the ring, or an overflow file when it is full; never silently dropped */
static void
ngx_omni_pixel_queue_row(u_char *row, size_t len)
{
    if (ngx_omni_ring_append(row, len) == NGX_OK
        || ngx_omni_spool_append(row, len) == NGX_OK)
    {
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.beacons_accepted,
                                    1);
        return;
    }

    (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.events_lost, 1);

    ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                  "omni: a pixel event could be neither queued nor spooled");
}


static ngx_int_t
ngx_omni_pixel_js(ngx_http_request_t *r)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    static ngx_str_t  etag;
    static u_char     etag_buf[32];

    ngx_omni_tag(r, NGX_OMNI_EP_PIXEL_JS);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (etag.len == 0) {
        etag.data = etag_buf;
        etag.len = ngx_sprintf(etag_buf, "\"%08xD\"",
                               ngx_crc32_long(ngx_omni_pixel_script,
                                              sizeof(ngx_omni_pixel_script) - 1))
                   - etag_buf;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "public, max-age=300");

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "ETag");
    h->value = etag;
    r->headers_out.etag = h;

    if (r->headers_in.if_none_match
        && r->headers_in.if_none_match->value.len == etag.len
        && ngx_strncmp(r->headers_in.if_none_match->value.data, etag.data,
                       etag.len) == 0)
    {
        r->headers_out.status = NGX_HTTP_NOT_MODIFIED;
        r->header_only = 1;
        r->headers_out.content_length_n = -1;
        return ngx_http_send_header(r);
    }

    return ngx_omni_send_bytes(r, NGX_HTTP_OK, &ngx_omni_js_type,
                               ngx_omni_pixel_script,
                               sizeof(ngx_omni_pixel_script) - 1, 1);
}


/* beacons come from any shop's pages */
static ngx_int_t
ngx_omni_pixel_cors(ngx_http_request_t *r, ngx_uint_t preflight)
{
    ngx_uint_t        i;
    ngx_table_elt_t  *h;

    static ngx_str_t  names[] = {
        ngx_string("Access-Control-Allow-Origin"),
        ngx_string("Access-Control-Allow-Methods"),
        ngx_string("Access-Control-Allow-Headers"),
        ngx_string("Access-Control-Max-Age")
    };

    static ngx_str_t  values[] = {
        ngx_string("*"),
        ngx_string("POST, GET, OPTIONS"),
        ngx_string("Content-Type"),
        ngx_string("86400")
    };

    for (i = 0; i < (preflight ? 4 : 1); i++) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        h->key = names[i];
        h->value = values[i];
    }

    if (!preflight) {
        return NGX_OK;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    return ngx_http_send_header(r);
}


static int64_t
ngx_omni_pixel_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


static void
ngx_omni_pixel_text(omni_text_t *t, json_t *v)
{
    if (json_is_string(v)) {
        t->data = json_string_value(v);
        t->len = json_string_length(v);
    }
}
