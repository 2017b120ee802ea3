
/*
 * The outbound HTTP/1.1 client.  A request goes through these states,
 * each with its own debug line:
 *
 *   start --idle connection?--yes--------------------------> SEND
 *           \--no--> RESOLVE (a name: nginx's resolver)
 *                      --> CONNECT (ngx_event_connect_peer)
 *                      --> TLS (ngx_ssl_handshake, SNI, verify, host)
 *                      --> SEND --> READ (status line, headers, body)
 *                      --> DONE: the connection back to the upstream's
 *                          keep-alive pool or closed; the handler called
 *
 * Any error closes the connection and calls the handler with its kind.
 * A connection taken from the pool that fails before the first byte of
 * the answer (the server closed it while it was idle) is replaced once
 * by a new connection and the request sent again.  The answer is parsed
 * with nginx's own parsers (status line, header lines, chunked), which
 * keep their state in a request struct of their own.
 *
 * Timeouts are budgets: connect (TCP and TLS together), send (the whole
 * request), read (the whole answer), all within one deadline for the
 * request, so that ngx_omni_client_max_time() bounds it for callers that
 * hold a lease on the work.  Their timers are not cancelable: a worker
 * that stops waits for the requests in flight, unless their owners
 * cancel them.  Idle connections are marked idle, so a stopping worker
 * closes them at once.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_client.h"


/* per upstream and worker: idle connections kept, and for how long */
#define NGX_OMNI_CLIENT_IDLE_MAX       64
#define NGX_OMNI_CLIENT_IDLE_TIMEOUT   30000
/* a connection answers this many requests, then closes */
#define NGX_OMNI_CLIENT_CONN_REQUESTS  1000
/* the status line and the headers of an answer */
#define NGX_OMNI_CLIENT_HEADER_MAX     16384
#define NGX_OMNI_CLIENT_BODY_FIRST     4096

#define NGX_OMNI_CLIENT_START          0
#define NGX_OMNI_CLIENT_RESOLVE        1
#define NGX_OMNI_CLIENT_CONNECT        2
#define NGX_OMNI_CLIENT_TLS            3
#define NGX_OMNI_CLIENT_SEND           4
#define NGX_OMNI_CLIENT_STATUS         5
#define NGX_OMNI_CLIENT_HEADERS        6
#define NGX_OMNI_CLIENT_BODY           7
#define NGX_OMNI_CLIENT_DONE           8


struct ngx_omni_client_upstream_s {
    ngx_str_t                    url;        /* as configured */
    ngx_str_t                    host;       /* name or address */
    ngx_str_t                    authority;  /* Host: host[:port] */
    ngx_str_t                    prefix;     /* "" or "/a/b" */
    in_port_t                    port;
    unsigned                     ssl:1;
    unsigned                     named:1;    /* resolved per request */

    ngx_addr_t                  *addr;       /* an address literal */
    ngx_resolver_t              *resolver;
    ngx_msec_t                   resolver_timeout;
    ngx_omni_client_conf_t      *conf;

    /* this worker's */
    ngx_queue_t                  idle;       /* ngx_omni_client_conn_t */
    ngx_uint_t                   nidle;
    ngx_uint_t                   rr;         /* next resolved address */
    ngx_ssl_session_t           *session;    /* to resume TLS with */
};


/* c->data of every connection of the client */
typedef struct {
    ngx_queue_t                  queue;      /* in upstream->idle */
    ngx_connection_t            *connection;
    ngx_omni_client_upstream_t  *upstream;
    ngx_omni_client_request_t   *request;    /* NULL while idle */
    ngx_uint_t                   requests;
    ngx_log_t                    log;
} ngx_omni_client_conn_t;


struct ngx_omni_client_request_s {
    ngx_pool_t                  *pool;
    ngx_omni_client_upstream_t  *upstream;
    ngx_omni_client_handler_pt   handler;
    void                        *data;
    ngx_uint_t                   state;
    ngx_msec_t                   deadline;

    ngx_buf_t                    out;        /* the request's bytes */
    ngx_buf_t                    in;         /* the answer, as read */
    ngx_buf_t                    body;

    ngx_omni_client_conn_t      *conn;
    ngx_resolver_ctx_t          *resolving;
    struct sockaddr             *sockaddr;
    socklen_t                    socklen;

    ngx_http_request_t          *http;       /* the parsers' state */
    ngx_http_status_t            status;
    ngx_http_chunked_t           chunked;
    off_t                        content_length;  /* -1: not given */
    ngx_omni_client_response_t   response;

    ngx_event_t                  posted;     /* the start, on the next turn */
    ngx_queue_t                  active;     /* in ngx_omni_client_active */

    unsigned                     reused:1;
    unsigned                     retried:1;
    unsigned                     answered:1; /* a byte of the answer came */
    unsigned                     no_body:1;
    unsigned                     chunked_body:1;
    unsigned                     until_close:1;
    unsigned                     close:1;    /* Connection: close */
};


static ngx_omni_client_stats_t   ngx_omni_client_no_stats;
ngx_omni_client_stats_t         *ngx_omni_client_stats =
    &ngx_omni_client_no_stats;

static ngx_queue_t               ngx_omni_client_active;
static ngx_uint_t                ngx_omni_client_ready;


#define NGX_OMNI_CLIENT_ERROR_NAME(id, name)  name,

static const char  *ngx_omni_client_error_names[] = {
    "ok",
    NGX_OMNI_CLIENT_ERRORS(NGX_OMNI_CLIENT_ERROR_NAME)
};


static char *ngx_omni_client_parse_url(ngx_conf_t *cf,
    ngx_omni_client_upstream_t *u, ngx_str_t *url);
static char *ngx_omni_client_ssl(ngx_conf_t *cf,
    ngx_omni_client_conf_t *ccf);
static ngx_int_t ngx_omni_client_valid(ngx_str_t *s, ngx_uint_t header);
static void ngx_omni_client_start(ngx_event_t *ev);
static void ngx_omni_client_resolve(ngx_omni_client_request_t *req);
static void ngx_omni_client_resolved(ngx_resolver_ctx_t *ctx);
static void ngx_omni_client_connect(ngx_omni_client_request_t *req);
static void ngx_omni_client_connected(ngx_omni_client_request_t *req);
static void ngx_omni_client_tls(ngx_omni_client_request_t *req);
static void ngx_omni_client_tls_done(ngx_connection_t *c);
static ngx_int_t ngx_omni_client_check_name(ngx_connection_t *c,
    ngx_omni_client_upstream_t *u);
static void ngx_omni_client_save_session(ngx_connection_t *c);
static void ngx_omni_client_write_handler(ngx_event_t *wev);
static void ngx_omni_client_read_handler(ngx_event_t *rev);
static void ngx_omni_client_send(ngx_omni_client_request_t *req);
static void ngx_omni_client_read(ngx_omni_client_request_t *req);
static ngx_int_t ngx_omni_client_parse(ngx_omni_client_request_t *req);
static ngx_int_t ngx_omni_client_header_line(ngx_omni_client_request_t *req);
static ngx_int_t ngx_omni_client_headers_done(
    ngx_omni_client_request_t *req);
static ngx_int_t ngx_omni_client_body(ngx_omni_client_request_t *req);
static ngx_int_t ngx_omni_client_append(ngx_omni_client_request_t *req,
    u_char *p, size_t n);
static void ngx_omni_client_retry(ngx_omni_client_request_t *req,
    const char *why);
static void ngx_omni_client_timer(ngx_omni_client_request_t *req,
    ngx_event_t *ev, ngx_msec_t timeout);
static void ngx_omni_client_done(ngx_omni_client_request_t *req);
static void ngx_omni_client_fail(ngx_omni_client_request_t *req,
    ngx_uint_t error, const char *fmt, ...);
static void ngx_omni_client_finish(ngx_omni_client_request_t *req);
static void ngx_omni_client_keep(ngx_omni_client_conn_t *oc);
static void ngx_omni_client_idle_handler(ngx_event_t *ev);
static void ngx_omni_client_dummy_handler(ngx_event_t *ev);
static void ngx_omni_client_close(ngx_omni_client_conn_t *oc);
static void ngx_omni_client_free(ngx_omni_client_request_t *req);


void
ngx_omni_client_conf_init(ngx_omni_client_conf_t *ccf)
{
    ccf->connect_timeout = NGX_CONF_UNSET_MSEC;
    ccf->send_timeout = NGX_CONF_UNSET_MSEC;
    ccf->read_timeout = NGX_CONF_UNSET_MSEC;
    ccf->max_response = NGX_CONF_UNSET_SIZE;
}


/*
 * After the http block is read: the resolver of the http block (a name
 * needs one; nginx -t says so), and one TLS context for every https
 * upstream, verifying against omni_upstream_trusted_certificate or the
 * system's store.
 */
char *
ngx_omni_client_conf_merge(ngx_conf_t *cf, ngx_omni_client_conf_t *ccf)
{
    ngx_uint_t                   i, ssl;
    ngx_omni_client_upstream_t **ups, *u;
    ngx_http_core_loc_conf_t    *clcf;

    ngx_conf_init_msec_value(ccf->connect_timeout, 5000);
    ngx_conf_init_msec_value(ccf->send_timeout, 10000);
    ngx_conf_init_msec_value(ccf->read_timeout, 30000);
    ngx_conf_init_size_value(ccf->max_response, 1024 * 1024);

    if (ccf->upstreams.nelts == 0) {
        return NGX_CONF_OK;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    ups = ccf->upstreams.elts;
    ssl = 0;

    for (i = 0; i < ccf->upstreams.nelts; i++) {
        u = ups[i];
        ssl |= u->ssl;

        if (!u->named) {
            continue;
        }

        /* nginx made a resolver without servers when none is set */
        if (clcf->resolver == NULL || clcf->resolver->connections.nelts == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" names a host: the http block needs a "
                               "\"resolver\" (omni never resolves with a "
                               "blocking call in a worker)", &u->url);
            return NGX_CONF_ERROR;
        }

        u->resolver = clcf->resolver;
        u->resolver_timeout = clcf->resolver_timeout == NGX_CONF_UNSET_MSEC
                              ? 30000 : clcf->resolver_timeout;
    }

    if (ssl) {
        return ngx_omni_client_ssl(cf, ccf);
    }

    return NGX_CONF_OK;
}


static char *
ngx_omni_client_ssl(ngx_conf_t *cf, ngx_omni_client_conf_t *ccf)
{
    ngx_pool_cleanup_t  *cln;

    ccf->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (ccf->ssl == NULL) {
        return NGX_CONF_ERROR;
    }

    ccf->ssl->log = cf->log;

    if (ngx_ssl_create(ccf->ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(ccf->ssl);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = ccf->ssl;

    /* an empty name loads nothing: the verify depth and callback only */
    if (ngx_ssl_trusted_certificate(cf, ccf->ssl, &ccf->trusted_certificate,
                                    4)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ccf->trusted_certificate.len == 0
        && SSL_CTX_set_default_verify_paths(ccf->ssl->ctx) != 1)
    {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "omni: the system's trusted certificates can't be "
                      "loaded; set \"omni_upstream_trusted_certificate\"");
        return NGX_CONF_ERROR;
    }

    /* sessions come back to ngx_omni_client_save_session() */
    if (ngx_ssl_client_session_cache(cf, ccf->ssl, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_omni_client_upstream_t *
ngx_omni_client_upstream_add(ngx_conf_t *cf, ngx_omni_client_conf_t *ccf,
    ngx_str_t *url)
{
    ngx_omni_client_upstream_t  *u, **up;

    if (ccf->upstreams.elts == NULL
        && ngx_array_init(&ccf->upstreams, cf->pool, 4,
                          sizeof(ngx_omni_client_upstream_t *))
           != NGX_OK)
    {
        return NULL;
    }

    u = ngx_pcalloc(cf->pool, sizeof(ngx_omni_client_upstream_t));
    if (u == NULL) {
        return NULL;
    }

    if (ngx_omni_client_parse_url(cf, u, url) != NGX_CONF_OK) {
        return NULL;
    }

    u->conf = ccf;
    ngx_queue_init(&u->idle);

    up = ngx_array_push(&ccf->upstreams);
    if (up == NULL) {
        return NULL;
    }

    *up = u;

    return u;
}


/*
 * scheme://host[:port][/prefix]: no user, query or fragment; the prefix
 * loses a trailing slash, as paths below it start with one.
 */
static char *
ngx_omni_client_parse_url(ngx_conf_t *cf, ngx_omni_client_upstream_t *u,
    ngx_str_t *url)
{
    u_char     *p, *last, *host, *colon;
    ngx_int_t   port;
    ngx_str_t   addr;

    u->url = *url;
    p = url->data;
    last = p + url->len;

    if (url->len > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0) {
        u->ssl = 1;
        u->port = 443;
        p += 8;

    } else if (url->len > 7
               && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0)
    {
        u->port = 80;
        p += 7;

    } else {
        goto invalid;
    }

    host = p;

    if (p < last && *p == '[') {
        p = ngx_strlchr(p, last, ']');
        if (p == NULL) {
            goto invalid;
        }

        p++;
        addr.data = host + 1;
        addr.len = p - host - 2;

    } else {
        while (p < last && *p != ':' && *p != '/') {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                  || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
            {
                goto invalid;
            }

            p++;
        }

        addr.data = host;
        addr.len = p - host;
    }

    if (addr.len == 0) {
        goto invalid;
    }

    u->host = addr;
    u->authority.data = host;
    u->authority.len = p - host;

    if (p < last && *p == ':') {
        colon = ++p;

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }

        port = ngx_atoi(colon, p - colon);
        if (port < 1 || port > 65535) {
            goto invalid;
        }

        u->port = (in_port_t) port;
        u->authority.len = p - host;
    }

    if (p < last && *p != '/') {
        goto invalid;
    }

    u->prefix.data = p;
    u->prefix.len = last - p;

    while (u->prefix.len && u->prefix.data[u->prefix.len - 1] == '/') {
        u->prefix.len--;
    }

    if (ngx_omni_client_valid(&u->prefix, 0) != NGX_OK
        || ngx_strlchr(p, last, '?') || ngx_strlchr(p, last, '#'))
    {
        goto invalid;
    }

    u->addr = ngx_pcalloc(cf->pool, sizeof(ngx_addr_t));
    if (u->addr == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_parse_addr(cf->pool, u->addr, addr.data, addr.len) == NGX_OK) {
        ngx_inet_set_port(u->addr->sockaddr, u->port);

    } else if (host[0] == '[') {
        goto invalid;

    } else {
        u->addr = NULL;
        u->named = 1;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" is not a base URL: https://host[:port]"
                       "[/path], or http:// for a local server", url);

    return NGX_CONF_ERROR;
}


ngx_msec_t
ngx_omni_client_max_time(ngx_omni_client_upstream_t *u)
{
    return (u->named ? u->resolver_timeout : 0) + u->conf->connect_timeout
           + u->conf->send_timeout + u->conf->read_timeout;
}


ngx_str_t *
ngx_omni_client_upstream_url(ngx_omni_client_upstream_t *u)
{
    return &u->url;
}


/* no bytes that would end a line or a header early */
static ngx_int_t
ngx_omni_client_valid(ngx_str_t *s, ngx_uint_t header)
{
    u_char  *p, *last;

    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        if (*p < 0x20 || *p == 0x7f || (*p == ' ' && !header)) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_omni_client_request_t *
ngx_omni_client_request(ngx_omni_client_upstream_t *u,
    ngx_omni_client_call_t *call)
{
    size_t                      len;
    u_char                     *p;
    ngx_uint_t                  i, bad;
    ngx_pool_t                 *pool;
    ngx_omni_client_request_t  *req;

    if (!ngx_omni_client_ready) {
        ngx_queue_init(&ngx_omni_client_active);
        ngx_omni_client_ready = 1;
    }

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    req = ngx_pcalloc(pool, sizeof(ngx_omni_client_request_t));
    if (req == NULL) {
        goto failed;
    }

    req->pool = pool;
    req->upstream = u;
    req->handler = call->handler;
    req->data = call->data;
    req->content_length = -1;

    req->http = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    if (req->http == NULL) {
        goto failed;
    }

    req->http->pool = pool;
    req->no_body = call->method.len == 4
                   && ngx_strncmp(call->method.data, "HEAD", 4) == 0;

    bad = call->method.len == 0
          || ngx_omni_client_valid(&call->method, 0) != NGX_OK
          || call->path.len == 0 || call->path.data[0] != '/'
          || ngx_omni_client_valid(&call->path, 0) != NGX_OK;

    len = call->method.len + 1 + u->prefix.len + call->path.len
          + sizeof(" HTTP/1.1" CRLF "Host: " CRLF) - 1 + u->authority.len
          + sizeof("Content-Length: " CRLF CRLF) - 1 + NGX_SIZE_T_LEN
          + call->body.len;

    for (i = 0; i < call->nheaders; i++) {
        len += call->headers[i].key.len + 2 + call->headers[i].value.len + 2;
        bad |= call->headers[i].key.len == 0
               || ngx_omni_client_valid(&call->headers[i].key, 0) != NGX_OK
               || ngx_strlchr(call->headers[i].key.data,
                              call->headers[i].key.data
                              + call->headers[i].key.len, ':')
               || ngx_omni_client_valid(&call->headers[i].value, 1)
                  != NGX_OK;
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        goto failed;
    }

    req->out.start = p;
    req->out.pos = p;

    p = ngx_cpymem(p, call->method.data, call->method.len);
    *p++ = ' ';
    p = ngx_cpymem(p, u->prefix.data, u->prefix.len);
    p = ngx_cpymem(p, call->path.data, call->path.len);
    p = ngx_sprintf(p, " HTTP/1.1" CRLF "Host: %V" CRLF, &u->authority);

    for (i = 0; i < call->nheaders; i++) {
        p = ngx_sprintf(p, "%V: %V" CRLF, &call->headers[i].key,
                        &call->headers[i].value);
    }

    if (call->body.len || !req->no_body) {
        p = ngx_sprintf(p, "Content-Length: %uz" CRLF, call->body.len);
    }

    *p++ = CR; *p++ = LF;
    p = ngx_cpymem(p, call->body.data, call->body.len);

    req->out.last = p;
    req->out.end = p;

    if (ngx_list_init(&req->response.headers, pool, 8,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        goto failed;
    }

    ngx_time_update();
    req->deadline = ngx_current_msec + ngx_omni_client_max_time(u);

    ngx_queue_insert_tail(&ngx_omni_client_active, &req->active);
    (void) ngx_atomic_fetch_add(&ngx_omni_client_stats->requests, 1);

    /* the work starts on the next turn: never a call back from in here */
    req->posted.handler = ngx_omni_client_start;
    req->posted.data = req;
    req->posted.log = ngx_cycle->log;

    if (bad) {
        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_REQUEST,
                             "a method, path or header with bytes that "
                             "HTTP does not allow there");
        return req;
    }

    ngx_post_event(&req->posted, &ngx_posted_events);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni client %p: %V %V", req, &call->method, &u->url);

    return req;

failed:

    ngx_destroy_pool(pool);

    return NULL;
}


void
ngx_omni_client_cancel(ngx_omni_client_request_t *req)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni client %p: canceled", req);

    if (req->conn) {
        ngx_omni_client_close(req->conn);
        req->conn = NULL;
    }

    ngx_omni_client_free(req);
}


ngx_str_t *
ngx_omni_client_header(ngx_omni_client_response_t *res, const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &res->headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i].value;
        }
    }
}


const char *
ngx_omni_client_error_name(ngx_uint_t error)
{
    return error < NGX_OMNI_CLIENT_E_N ? ngx_omni_client_error_names[error]
                                       : "unknown";
}


void
ngx_omni_client_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                   i;
    ngx_queue_t                 *q;
    ngx_omni_main_conf_t        *omcf;
    ngx_omni_client_conn_t      *oc;
    ngx_omni_client_upstream_t **ups;

    if (ngx_omni_client_ready) {
        while (!ngx_queue_empty(&ngx_omni_client_active)) {
            q = ngx_queue_head(&ngx_omni_client_active);
            ngx_omni_client_cancel(ngx_queue_data(q,
                                   ngx_omni_client_request_t, active));
        }
    }

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_omni_module);
    if (omcf == NULL) {
        return;
    }

    ups = omcf->client.upstreams.elts;

    for (i = 0; i < omcf->client.upstreams.nelts; i++) {
        while (!ngx_queue_empty(&ups[i]->idle)) {
            q = ngx_queue_head(&ups[i]->idle);
            oc = ngx_queue_data(q, ngx_omni_client_conn_t, queue);
            ngx_omni_client_close(oc);
        }

        if (ups[i]->session) {
            ngx_ssl_free_session(ups[i]->session);
            ups[i]->session = NULL;
        }
    }
}


/* the next turn of the loop: an idle connection, else a new one */
static void
ngx_omni_client_start(ngx_event_t *ev)
{
    ngx_queue_t                 *q;
    ngx_omni_client_conn_t      *oc;
    ngx_omni_client_request_t   *req;
    ngx_omni_client_upstream_t  *u;

    req = ev->data;
    u = req->upstream;

    if (req->response.error) {
        /* failed before it started */
        ngx_omni_client_finish(req);
        return;
    }

    if (!ngx_queue_empty(&u->idle)) {
        q = ngx_queue_head(&u->idle);
        ngx_queue_remove(q);
        u->nidle--;

        oc = ngx_queue_data(q, ngx_omni_client_conn_t, queue);
        oc->request = req;
        oc->connection->idle = 0;
        oc->connection->read->handler = ngx_omni_client_read_handler;
        oc->connection->write->handler = ngx_omni_client_write_handler;
        oc->connection->read->cancelable = 0;

        if (oc->connection->read->timer_set) {
            ngx_del_timer(oc->connection->read);
        }

        req->conn = oc;
        req->reused = 1;
        req->http->connection = oc->connection;
        (void) ngx_atomic_fetch_add(&ngx_omni_client_stats->reused, 1);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "omni client %p: reusing connection %p", req,
                       oc->connection);

        req->state = NGX_OMNI_CLIENT_SEND;
        ngx_omni_client_send(req);
        return;
    }

    ngx_omni_client_resolve(req);
}


static void
ngx_omni_client_resolve(ngx_omni_client_request_t *req)
{
    ngx_resolver_ctx_t          *ctx, temp;
    ngx_omni_client_upstream_t  *u;

    u = req->upstream;

    if (!u->named) {
        req->sockaddr = u->addr->sockaddr;
        req->socklen = u->addr->socklen;
        ngx_omni_client_connect(req);
        return;
    }

    req->state = NGX_OMNI_CLIENT_RESOLVE;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni client %p: resolving \"%V\"", req, &u->host);

    temp.name = u->host;

    ctx = ngx_resolve_start(u->resolver, &temp);
    if (ctx == NULL) {
        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_INTERNAL,
                             "no memory to resolve %V", &u->host);
        return;
    }

    if (ctx == NGX_NO_RESOLVER) {
        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_RESOLVE,
                             "no resolver for %V", &u->host);
        return;
    }

    ctx->name = u->host;
    ctx->handler = ngx_omni_client_resolved;
    ctx->data = req;
    ctx->timeout = u->resolver_timeout;

    req->resolving = ctx;

    /* a cached name is answered in here, through the handler */
    if (ngx_resolve_name(ctx) != NGX_OK) {
        req->resolving = NULL;
        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_RESOLVE,
                             "resolving %V failed", &u->host);
    }
}


static void
ngx_omni_client_resolved(ngx_resolver_ctx_t *ctx)
{
    ngx_int_t                    state;
    ngx_uint_t                   i;
    ngx_omni_client_request_t   *req;
    ngx_omni_client_upstream_t  *u;

    req = ctx->data;
    u = req->upstream;
    req->resolving = NULL;

    if (ctx->state || ctx->naddrs == 0) {
        state = ctx->state;
        ngx_resolve_name_done(ctx);
        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_RESOLVE,
                             "%V could not be resolved (%i: %s)", &u->host,
                             state, ngx_resolver_strerror(state));
        return;
    }

    /* the addresses in turn, one per request */
    i = u->rr++ % ctx->naddrs;

    req->socklen = ctx->addrs[i].socklen;
    req->sockaddr = ngx_palloc(req->pool, req->socklen);

    if (req->sockaddr == NULL) {
        ngx_resolve_name_done(ctx);
        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_INTERNAL, "no memory");
        return;
    }

    ngx_memcpy(req->sockaddr, ctx->addrs[i].sockaddr, req->socklen);
    ngx_inet_set_port(req->sockaddr, u->port);

    ngx_resolve_name_done(ctx);

    ngx_omni_client_connect(req);
}


static void
ngx_omni_client_connect(ngx_omni_client_request_t *req)
{
    ngx_int_t                    rc;
    ngx_pool_t                  *pool;
    ngx_connection_t            *c;
    ngx_peer_connection_t        pc;
    ngx_omni_client_conn_t      *oc;
    ngx_omni_client_upstream_t  *u;

    u = req->upstream;
    req->state = NGX_OMNI_CLIENT_CONNECT;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni client %p: connecting to %V", req, &u->authority);

    pool = ngx_create_pool(512, ngx_cycle->log);
    if (pool == NULL) {
        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_INTERNAL, "no memory");
        return;
    }

    oc = ngx_pcalloc(pool, sizeof(ngx_omni_client_conn_t));
    if (oc == NULL) {
        ngx_destroy_pool(pool);
        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_INTERNAL, "no memory");
        return;
    }

    oc->log = *ngx_cycle->log;
    oc->upstream = u;
    pool->log = &oc->log;

    ngx_memzero(&pc, sizeof(ngx_peer_connection_t));
    pc.sockaddr = req->sockaddr;
    pc.socklen = req->socklen;
    pc.name = &u->authority;
    pc.get = ngx_event_get_peer;
    pc.log = &oc->log;
    pc.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        if (pc.connection) {
            ngx_close_connection(pc.connection);
        }

        ngx_destroy_pool(pool);
        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_CONNECT,
                             "connecting to %V failed", &u->authority);
        return;
    }

    c = pc.connection;
    c->pool = pool;
    c->data = oc;
    c->read->handler = ngx_omni_client_read_handler;
    c->write->handler = ngx_omni_client_write_handler;

    oc->connection = c;
    oc->request = req;
    req->conn = oc;
    req->http->connection = c;

    (void) ngx_atomic_fetch_add(&ngx_omni_client_stats->opened, 1);

    /* the connect budget covers TCP and TLS: one timer for both */
    ngx_omni_client_timer(req, c->write, u->conf->connect_timeout);

    if (rc == NGX_AGAIN) {
        return;
    }

    ngx_omni_client_connected(req);
}


static void
ngx_omni_client_connected(ngx_omni_client_request_t *req)
{
    int                err;
    socklen_t          len;
    ngx_connection_t  *c;

    c = req->conn->connection;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_CONNECT,
                             "connecting to %V failed (%d: %s)",
                             &req->upstream->authority, err, strerror(err));
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni client %p: connected", req);

    if (req->upstream->ssl) {
        ngx_omni_client_tls(req);
        return;
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    req->state = NGX_OMNI_CLIENT_SEND;
    ngx_omni_client_send(req);
}


static void
ngx_omni_client_tls(ngx_omni_client_request_t *req)
{
    u_char                      *name;
    ngx_int_t                    rc;
    ngx_connection_t            *c;
    ngx_omni_client_upstream_t  *u;

    u = req->upstream;
    c = req->conn->connection;
    req->state = NGX_OMNI_CLIENT_TLS;

    if (ngx_ssl_create_connection(u->conf->ssl, c, NGX_SSL_CLIENT) != NGX_OK)
    {
        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_TLS,
                             "no TLS connection to %V", &u->authority);
        return;
    }

    c->ssl->save_session = ngx_omni_client_save_session;

    /* SNI: names only (RFC 6066 allows no address literals) */
    if (u->named) {
        name = ngx_pnalloc(c->pool, u->host.len + 1);
        if (name == NULL) {
            ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_INTERNAL,
                                 "no memory");
            return;
        }

        (void) ngx_cpystrn(name, u->host.data, u->host.len + 1);

        if (SSL_set_tlsext_host_name(c->ssl->connection, (char *) name)
            == 0)
        {
            ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_TLS,
                                 "SNI \"%V\" refused by OpenSSL", &u->host);
            return;
        }
    }

    if (u->session && ngx_ssl_set_session(c, u->session) != NGX_OK) {
        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_TLS,
                             "TLS session of %V refused", &u->authority);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni client %p: TLS handshake", req);

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_omni_client_tls_done;
        return;
    }

    ngx_omni_client_tls_done(c);
}


/*
 * The handshake ended.  A certificate that does not chain to a trusted
 * CA, or that names another host, ends the request before a byte of it
 * is sent: a kind of its own, so callers can tell it from an outage.
 */
static void
ngx_omni_client_tls_done(ngx_connection_t *c)
{
    long                         rc;
    ngx_omni_client_conn_t      *oc;
    ngx_omni_client_request_t   *req;
    ngx_omni_client_upstream_t  *u;

    oc = c->data;
    req = oc->request;
    u = oc->upstream;

    if (!c->ssl->handshaked) {
        if (c->read->timedout || c->write->timedout) {
            ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_TIMEOUT,
                                 "TLS handshake with %V timed out",
                                 &u->authority);
            return;
        }

        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_TLS,
                             "TLS handshake with %V failed", &u->authority);
        return;
    }

    rc = SSL_get_verify_result(c->ssl->connection);

    if (rc != X509_V_OK) {
        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_TLS_VERIFY,
                             "certificate verify failed: %s (%V)",
                             X509_verify_cert_error_string(rc),
                             &u->authority);
        return;
    }

    if (ngx_omni_client_check_name(c, u) != NGX_OK) {
        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_TLS_VERIFY,
                             "certificate verify failed: it does not "
                             "name \"%V\"", &u->host);
        return;
    }

    if (SSL_session_reused(c->ssl->connection)) {
        (void) ngx_atomic_fetch_add(&ngx_omni_client_stats->tls_resumed, 1);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni client %p: TLS up, %s", req,
                   SSL_session_reused(c->ssl->connection)
                   ? "resumed" : "full handshake");

    c->read->handler = ngx_omni_client_read_handler;
    c->write->handler = ngx_omni_client_write_handler;

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    req->state = NGX_OMNI_CLIENT_SEND;
    ngx_omni_client_send(req);
}


/*
 * The certificate names the host: a name through nginx's check, an
 * address literal against the certificate's IP addresses.
 */
static ngx_int_t
ngx_omni_client_check_name(ngx_connection_t *c,
    ngx_omni_client_upstream_t *u)
{
    int      rc;
    X509    *cert;
    u_char   ip[NGX_SOCKADDR_STRLEN];

    if (u->named) {
        return ngx_ssl_check_host(c, &u->host);
    }

    cert = SSL_get_peer_certificate(c->ssl->connection);
    if (cert == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(ip, u->host.data,
                       ngx_min(u->host.len + 1, sizeof(ip)));

    rc = X509_check_ip_asc(cert, (char *) ip, 0);

    X509_free(cert);

    return rc == 1 ? NGX_OK : NGX_ERROR;
}


/* a new TLS session (TLS 1.3 sends it after the handshake): the next one */
static void
ngx_omni_client_save_session(ngx_connection_t *c)
{
    ngx_ssl_session_t       *sess;
    ngx_omni_client_conn_t  *oc;

    oc = c->data;

    sess = ngx_ssl_get0_session(c);
    if (sess == NULL || !SSL_SESSION_up_ref(sess)) {
        return;
    }

    if (oc->upstream->session) {
        ngx_ssl_free_session(oc->upstream->session);
    }

    oc->upstream->session = sess;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni client: TLS session of %V saved",
                   &oc->upstream->authority);
}


static void
ngx_omni_client_write_handler(ngx_event_t *wev)
{
    ngx_connection_t           *c;
    ngx_omni_client_conn_t     *oc;
    ngx_omni_client_request_t  *req;

    c = wev->data;
    oc = c->data;
    req = oc->request;

    if (req == NULL) {
        return;
    }

    if (wev->timedout) {
        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_TIMEOUT,
                             "%s %V timed out",
                             req->state == NGX_OMNI_CLIENT_CONNECT
                             ? "connecting to" : "sending to",
                             &req->upstream->authority);
        return;
    }

    switch (req->state) {

    case NGX_OMNI_CLIENT_CONNECT:
        ngx_omni_client_connected(req);
        return;

    case NGX_OMNI_CLIENT_SEND:
        ngx_omni_client_send(req);
        return;

    default:
        /* reading: nothing to write */
        return;
    }
}


static void
ngx_omni_client_read_handler(ngx_event_t *rev)
{
    ngx_connection_t           *c;
    ngx_omni_client_conn_t     *oc;
    ngx_omni_client_request_t  *req;

    c = rev->data;
    oc = c->data;
    req = oc->request;

    if (req == NULL) {
        return;
    }

    if (rev->timedout) {
        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_TIMEOUT,
                             "no whole answer from %V within the read "
                             "timeout", &req->upstream->authority);
        return;
    }

    switch (req->state) {

    case NGX_OMNI_CLIENT_CONNECT:
        ngx_omni_client_connected(req);
        return;

    case NGX_OMNI_CLIENT_SEND:
        /* an answer (or a close) before the whole request went out */
        ngx_omni_client_read(req);
        return;

    default:
        ngx_omni_client_read(req);
        return;
    }
}


static void
ngx_omni_client_send(ngx_omni_client_request_t *req)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = req->conn->connection;

    while (req->out.pos < req->out.last) {
        n = c->send(c, req->out.pos, req->out.last - req->out.pos);

        if (n == NGX_AGAIN) {
            if (!c->write->timer_set) {
                ngx_omni_client_timer(req, c->write,
                                      req->upstream->conf->send_timeout);
            }

            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_INTERNAL,
                                     "write event failed");
            }

            return;
        }

        if (n == NGX_ERROR) {
            if (req->reused && !req->answered && !req->retried) {
                ngx_omni_client_retry(req, "write failed");
                return;
            }

            ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_CLOSED,
                                 "sending to %V failed",
                                 &req->upstream->authority);
            return;
        }

        req->out.pos += n;
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni client %p: request sent, %uz bytes", req,
                   (size_t) (req->out.last - req->out.start));

    req->state = NGX_OMNI_CLIENT_STATUS;

    ngx_omni_client_timer(req, c->read, req->upstream->conf->read_timeout);

    ngx_omni_client_read(req);
}


/* everything the socket has, under edge-triggered events */
static void
ngx_omni_client_read(ngx_omni_client_request_t *req)
{
    ssize_t            n;
    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = req->conn->connection;

    if (req->in.start == NULL) {
        req->in.start = ngx_palloc(req->pool, NGX_OMNI_CLIENT_HEADER_MAX);
        if (req->in.start == NULL) {
            ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_INTERNAL,
                                 "no memory");
            return;
        }

        req->in.pos = req->in.start;
        req->in.last = req->in.start;
        req->in.end = req->in.start + NGX_OMNI_CLIENT_HEADER_MAX;
    }

    for ( ;; ) {
        if (req->in.last == req->in.end) {
            /* headers that fill the buffer: too many for us */
            ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_INVALID,
                                 "the answer's headers from %V are over "
                                 "%uz bytes", &req->upstream->authority,
                                 (size_t) NGX_OMNI_CLIENT_HEADER_MAX);
            return;
        }

        n = c->recv(c, req->in.last, req->in.end - req->in.last);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
                ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_INTERNAL,
                                     "read event failed");
            }

            return;
        }

        if (n == NGX_ERROR || n == 0) {
            if (req->reused && !req->answered && !req->retried) {
                ngx_omni_client_retry(req, n ? "read failed" : "closed");
                return;
            }

            if (n == 0 && req->state == NGX_OMNI_CLIENT_BODY
                && req->until_close)
            {
                ngx_omni_client_done(req);
                return;
            }

            ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_CLOSED,
                                 "%V %s before the answer ended",
                                 &req->upstream->authority,
                                 n ? "broke the connection" : "closed");
            return;
        }

        req->answered = 1;
        req->in.last += n;

        if (req->state == NGX_OMNI_CLIENT_SEND) {
            /* the server answers early: the rest of the request is moot */
            req->state = NGX_OMNI_CLIENT_STATUS;
            req->close = 1;

            if (c->write->timer_set) {
                ngx_del_timer(c->write);
            }

            if (!c->read->timer_set) {
                ngx_omni_client_timer(req, c->read,
                                      req->upstream->conf->read_timeout);
            }
        }

        rc = ngx_omni_client_parse(req);

        if (rc == NGX_AGAIN) {
            continue;
        }

        if (rc == NGX_OK) {
            ngx_omni_client_done(req);
        }

        /* NGX_ERROR: failed in there */
        return;
    }
}


/* NGX_OK: the whole answer; NGX_AGAIN: more to read; NGX_ERROR: failed */
static ngx_int_t
ngx_omni_client_parse(ngx_omni_client_request_t *req)
{
    ngx_int_t  rc;

    if (req->state == NGX_OMNI_CLIENT_STATUS) {
        rc = ngx_http_parse_status_line(req->http, &req->in, &req->status);

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        if (rc != NGX_OK) {
            ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_INVALID,
                                 "%V answered no HTTP status line",
                                 &req->upstream->authority);
            return NGX_ERROR;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "omni client %p: status %ui", req,
                       req->status.code);

        req->response.status = req->status.code;
        req->http->state = 0;
        req->state = NGX_OMNI_CLIENT_HEADERS;
    }

    if (req->state == NGX_OMNI_CLIENT_HEADERS) {
        rc = ngx_omni_client_header_line(req);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    return ngx_omni_client_body(req);
}


static ngx_int_t
ngx_omni_client_header_line(ngx_omni_client_request_t *req)
{
    ngx_int_t            rc;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r;

    r = req->http;

    for ( ;; ) {
        rc = ngx_http_parse_header_line(r, &req->in, 1);

        if (rc == NGX_OK) {
            h = ngx_list_push(&req->response.headers);
            if (h == NULL) {
                ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_INTERNAL,
                                     "no memory");
                return NGX_ERROR;
            }

            /* the bytes stay in the buffer, which is never moved */
            h->hash = r->header_hash;
            h->key.data = r->header_name_start;
            h->key.len = r->header_name_end - r->header_name_start;
            h->value.data = r->header_start;
            h->value.len = r->header_end - r->header_start;
            h->lowcase_key = NULL;

            continue;
        }

        if (rc == NGX_HTTP_PARSE_HEADER_DONE) {
            return ngx_omni_client_headers_done(req);
        }

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_INVALID,
                             "%V answered an invalid header line",
                             &req->upstream->authority);
        return NGX_ERROR;
    }
}


/* how the body ends, and whether the connection can serve again */
static ngx_int_t
ngx_omni_client_headers_done(ngx_omni_client_request_t *req)
{
    ngx_str_t                   *v;
    ngx_omni_client_response_t  *res;

    res = &req->response;

    if (req->status.http_version < NGX_HTTP_VERSION_11) {
        req->close = 1;
    }

    v = ngx_omni_client_header(res, "Connection");
    if (v && ngx_strlcasestrn(v->data, v->data + v->len,
                              (u_char *) "close", 5 - 1))
    {
        req->close = 1;
    }

    if (res->status < 200 || res->status == 204 || res->status == 304) {
        req->no_body = 1;
    }

    v = ngx_omni_client_header(res, "Transfer-Encoding");

    if (req->no_body) {
        /* nothing follows */

    } else if (v) {
        if (v->len != 7 || ngx_strncasecmp(v->data, (u_char *) "chunked", 7))
        {
            ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_INVALID,
                                 "%V answered Transfer-Encoding \"%V\"",
                                 &req->upstream->authority, v);
            return NGX_ERROR;
        }

        req->chunked_body = 1;

    } else if ((v = ngx_omni_client_header(res, "Content-Length"))) {
        req->content_length = ngx_atoof(v->data, v->len);

        if (req->content_length == NGX_ERROR) {
            ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_INVALID,
                                 "%V answered Content-Length \"%V\"",
                                 &req->upstream->authority, v);
            return NGX_ERROR;
        }

        if (req->content_length
            > (off_t) req->upstream->conf->max_response)
        {
            ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_TOO_LARGE,
                                 "%V answered %O bytes, over "
                                 "omni_client_max_response",
                                 &req->upstream->authority,
                                 req->content_length);
            return NGX_ERROR;
        }

    } else {
        /* the body ends when the server closes */
        req->until_close = 1;
        req->close = 1;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni client %p: headers done, length %O, chunked %ui, "
                   "close %ui", req, req->content_length,
                   (ngx_uint_t) req->chunked_body, (ngx_uint_t) req->close);

    req->state = NGX_OMNI_CLIENT_BODY;

    return NGX_OK;
}


/* the buffered bytes into the body; NGX_OK once it is whole */
static ngx_int_t
ngx_omni_client_body(ngx_omni_client_request_t *req)
{
    size_t     n;
    ngx_int_t  rc;

    if (req->no_body) {
        req->close |= req->in.pos != req->in.last;
        return NGX_OK;
    }

    if (req->content_length >= 0) {
        n = ngx_min((size_t) (req->in.last - req->in.pos),
                    (size_t) (req->content_length
                              - (req->body.last - req->body.start)));

        if (ngx_omni_client_append(req, req->in.pos, n) != NGX_OK) {
            return NGX_ERROR;
        }

        req->in.pos += n;

        if (req->body.last - req->body.start == req->content_length) {
            /* bytes after the answer: nothing we asked for */
            req->close |= req->in.pos != req->in.last;
            return NGX_OK;
        }

    } else if (req->chunked_body) {

        for ( ;; ) {
            rc = ngx_http_parse_chunked(req->http, &req->in, &req->chunked);

            if (rc == NGX_OK) {
                n = ngx_min((size_t) (req->in.last - req->in.pos),
                            (size_t) req->chunked.size);

                if (ngx_omni_client_append(req, req->in.pos, n) != NGX_OK) {
                    return NGX_ERROR;
                }

                req->in.pos += n;
                req->chunked.size -= n;
                continue;
            }

            if (rc == NGX_DONE) {
                req->close |= req->in.pos != req->in.last;
                return NGX_OK;
            }

            if (rc == NGX_AGAIN) {
                break;
            }

            ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_INVALID,
                                 "%V answered an invalid chunked body",
                                 &req->upstream->authority);
            return NGX_ERROR;
        }

    } else {
        if (ngx_omni_client_append(req, req->in.pos,
                                   req->in.last - req->in.pos)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        req->in.pos = req->in.last;
    }

    /*
     * All of it is in the body.  Header values point into this buffer, so
     * it is never moved: once nearly full, the next bytes go to a new one.
     */
    if (req->in.end - req->in.last < 1024) {
        req->in.start = ngx_palloc(req->pool, NGX_OMNI_CLIENT_HEADER_MAX);
        if (req->in.start == NULL) {
            ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_INTERNAL,
                                 "no memory");
            return NGX_ERROR;
        }

        req->in.pos = req->in.start;
        req->in.last = req->in.start;
        req->in.end = req->in.start + NGX_OMNI_CLIENT_HEADER_MAX;
    }

    return NGX_AGAIN;
}


static ngx_int_t
ngx_omni_client_append(ngx_omni_client_request_t *req, u_char *p, size_t n)
{
    u_char  *b;
    size_t   size, used, max;

    if (n == 0) {
        return NGX_OK;
    }

    used = req->body.last - req->body.start;
    max = req->upstream->conf->max_response;

    if (used + n > max) {
        ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_TOO_LARGE,
                             "%V answered more than "
                             "omni_client_max_response (%uz bytes)",
                             &req->upstream->authority, max);
        return NGX_ERROR;
    }

    if ((size_t) (req->body.end - req->body.last) < n) {
        if (req->content_length >= 0) {
            size = (size_t) req->content_length;

        } else {
            size = req->body.end - req->body.start;
            size = size ? size * 2 : NGX_OMNI_CLIENT_BODY_FIRST;

            while (size < used + n) {
                size *= 2;
            }

            size = ngx_min(size, max);
        }

        b = ngx_palloc(req->pool, size);
        if (b == NULL) {
            ngx_omni_client_fail(req, NGX_OMNI_CLIENT_E_INTERNAL,
                                 "no memory");
            return NGX_ERROR;
        }

        if (used) {
            ngx_memcpy(b, req->body.start, used);
        }

        req->body.start = b;
        req->body.last = b + used;
        req->body.end = b + size;
    }

    req->body.last = ngx_cpymem(req->body.last, p, n);

    return NGX_OK;
}


/*
 * A connection from the pool failed before a byte of the answer: the
 * server closed it while it was idle, most likely, and never read the
 * request.  Once more on a new connection.
 */
static void
ngx_omni_client_retry(ngx_omni_client_request_t *req, const char *why)
{
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni client %p: reused connection %s, sending again",
                   req, why);

    (void) ngx_atomic_fetch_add(&ngx_omni_client_stats->retried, 1);

    ngx_omni_client_close(req->conn);
    req->conn = NULL;

    req->retried = 1;
    req->reused = 0;
    req->out.pos = req->out.start;
    req->in.pos = req->in.start;
    req->in.last = req->in.start;
    req->http->state = 0;
    req->close = 0;

    ngx_omni_client_resolve(req);
}


/* a budget, but never past the request's deadline */
static void
ngx_omni_client_timer(ngx_omni_client_request_t *req, ngx_event_t *ev,
    ngx_msec_t timeout)
{
    ngx_msec_int_t  left;

    left = (ngx_msec_int_t) (req->deadline - ngx_current_msec);

    if (left < 1) {
        left = 1;
    }

    ngx_add_timer(ev, ngx_min(timeout, (ngx_msec_t) left));
}


static void
ngx_omni_client_done(ngx_omni_client_request_t *req)
{
    ngx_uint_t               cls;
    ngx_omni_client_conn_t  *oc;

    oc = req->conn;
    req->state = NGX_OMNI_CLIENT_DONE;
    req->response.body.data = req->body.start;
    req->response.body.len = req->body.last - req->body.start;

    cls = req->response.status / 100;
    (void) ngx_atomic_fetch_add(
               &ngx_omni_client_stats->responses[cls < 6 ? cls : 0], 1);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni client %p: answered %ui, %uz body bytes", req,
                   req->response.status, req->response.body.len);

    req->conn = NULL;
    oc->request = NULL;
    oc->requests++;

    if (req->close || req->until_close
        || oc->requests >= NGX_OMNI_CLIENT_CONN_REQUESTS
        || ngx_exiting || ngx_terminate || ngx_quit)
    {
        ngx_omni_client_close(oc);

    } else {
        ngx_omni_client_keep(oc);
    }

    ngx_omni_client_finish(req);
}


static void
ngx_omni_client_fail(ngx_omni_client_request_t *req, ngx_uint_t error,
    const char *fmt, ...)
{
    u_char      *p;
    va_list      args;
    ngx_uint_t   level;
    u_char       text[NGX_MAX_ERROR_STR];

    va_start(args, fmt);
    p = ngx_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    req->response.error = error;
    req->response.reason.len = p - text;
    req->response.reason.data = text;
    req->response.reason.data = ngx_pstrdup(req->pool,
                                            &req->response.reason);
    if (req->response.reason.data == NULL) {
        req->response.reason.len = 0;
    }

    (void) ngx_atomic_fetch_add(&ngx_omni_client_stats->errors[error], 1);

    level = error == NGX_OMNI_CLIENT_E_INTERNAL ? NGX_LOG_ALERT
                                                : NGX_LOG_WARN;
    ngx_log_error(level, ngx_cycle->log, 0, "omni client: %*s", p - text,
                  text);

    if (req->resolving) {
        ngx_resolve_name_done(req->resolving);
        req->resolving = NULL;
    }

    if (req->conn) {
        ngx_omni_client_close(req->conn);
        req->conn = NULL;
    }

    if (req->state == NGX_OMNI_CLIENT_START) {
        /* inside ngx_omni_client_request(): the next turn calls back */
        req->state = NGX_OMNI_CLIENT_DONE;
        ngx_post_event(&req->posted, &ngx_posted_events);
        return;
    }

    req->state = NGX_OMNI_CLIENT_DONE;
    ngx_omni_client_finish(req);
}


static void
ngx_omni_client_finish(ngx_omni_client_request_t *req)
{
    req->handler(req->data, &req->response);

    ngx_omni_client_free(req);
}


/* back to the upstream's pool; the oldest idle one goes when it is full */
static void
ngx_omni_client_keep(ngx_omni_client_conn_t *oc)
{
    ngx_queue_t                 *q;
    ngx_connection_t            *c;
    ngx_omni_client_upstream_t  *u;

    u = oc->upstream;
    c = oc->connection;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_omni_client_close(oc);
        return;
    }

    if (u->nidle == NGX_OMNI_CLIENT_IDLE_MAX) {
        q = ngx_queue_last(&u->idle);
        ngx_omni_client_close(ngx_queue_data(q, ngx_omni_client_conn_t,
                                             queue));
    }

    ngx_queue_insert_head(&u->idle, &oc->queue);
    u->nidle++;

    c->idle = 1;
    c->read->handler = ngx_omni_client_idle_handler;
    c->write->handler = ngx_omni_client_dummy_handler;

    /* an idle connection never holds a stopping worker */
    c->read->cancelable = 1;
    ngx_add_timer(c->read, NGX_OMNI_CLIENT_IDLE_TIMEOUT);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni client: connection %p kept, %ui idle", c, u->nidle);

    if (c->read->ready) {
        ngx_omni_client_idle_handler(c->read);
    }
}


/* an idle connection heard something: closed by the server, or junk */
static void
ngx_omni_client_idle_handler(ngx_event_t *ev)
{
    int                n;
    char               buf[1];
    ngx_connection_t  *c;

    c = ev->data;

    if (!c->close && !ev->timedout) {
        n = recv(c->fd, buf, 1, MSG_PEEK);

        if (n == -1 && ngx_socket_errno == NGX_EAGAIN) {
            ev->ready = 0;

            if (ngx_handle_read_event(c->read, 0) == NGX_OK) {
                return;
            }
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni client: idle connection %p closes (%s)", c,
                   c->close ? "worker stops"
                   : ev->timedout ? "idle timeout" : "server closed");

    ngx_omni_client_close(c->data);
}


static void
ngx_omni_client_dummy_handler(ngx_event_t *ev)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "omni client: idle write event");
}


static void
ngx_omni_client_close(ngx_omni_client_conn_t *oc)
{
    ngx_pool_t        *pool;
    ngx_connection_t  *c;

    c = oc->connection;

    if (oc->request == NULL && c->idle) {
        ngx_queue_remove(&oc->queue);
        oc->upstream->nidle--;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni client: close connection %p", c);

    if (c->ssl) {
        c->ssl->no_wait_shutdown = 1;
        (void) ngx_ssl_shutdown(c);
    }

    pool = c->pool;
    ngx_close_connection(c);
    ngx_destroy_pool(pool);
}


static void
ngx_omni_client_free(ngx_omni_client_request_t *req)
{
    if (req->posted.posted) {
        ngx_delete_posted_event(&req->posted);
    }

    if (req->resolving) {
        ngx_resolve_name_done(req->resolving);
        req->resolving = NULL;
    }

    ngx_queue_remove(&req->active);
    ngx_destroy_pool(req->pool);
}
