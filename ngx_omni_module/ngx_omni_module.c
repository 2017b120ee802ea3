
/*
 * ngx_http_omni_module: directives, configuration, process init and the
 * routing of a location's requests to the Pixel, the JSON API, channel
 * webhooks and the status page.  Nothing else lives here.
 */

#include "ngx_omni_module.h"
#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif
#include "ngx_omni_http.h"
#include "ngx_omni_api.h"
#include "ngx_omni_guard.h"
#include "ngx_omni_beacon.h"
#include "ngx_omni_cache.h"
#include "ngx_omni_stats.h"
#include "ngx_omni_jobs.h"
#include "ngx_omni_ring.h"
#include "ngx_omni_flusher.h"
#include "ngx_omni_capture.h"
#include "ngx_omni_hooks.h"
#include "ngx_omni_inbox.h"
#include "ngx_omni_client.h"
#include "ngx_omni_outbox.h"
#include "ngx_omni_media_serve.h"

#include <libpq-fe.h>


/*
 * Another size than the last release's: a reload onto the new module gets
 * a new zone rather than reading the old one with the new layout.
 */
#define NGX_OMNI_STATS_ZONE_SIZE   (288 * 1024)

/*
 * The cache's zone is named after its layout's version (bump it with the
 * layout of ngx_omni_cache.c's entries): a reload onto a module with
 * another layout gets a new zone instead of reading the old one's entries.
 */
#define NGX_OMNI_CACHE_ZONE        "omni_cache_2"


static ngx_int_t ngx_omni_handler(ngx_http_request_t *r);
static ngx_int_t ngx_omni_error_handler(ngx_http_request_t *r);
static ngx_int_t ngx_omni_log_handler(ngx_http_request_t *r);
static char *ngx_omni_set_handler(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_omni_set_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_omni_check_conninfo(ngx_conf_t *cf, ngx_str_t *conninfo);
static ngx_shm_zone_t *ngx_omni_add_zone(ngx_conf_t *cf, char *name,
    size_t size, ngx_shm_zone_init_pt init);
static char *ngx_omni_check_flush_bytes(ngx_conf_t *cf, void *post,
    void *data);
static void *ngx_omni_create_main_conf(ngx_conf_t *cf);
static char *ngx_omni_init_main_conf(ngx_conf_t *cf, void *conf);
static char *ngx_omni_init_thread_pool(ngx_conf_t *cf,
    ngx_omni_main_conf_t *omcf);
static void *ngx_omni_create_loc_conf(ngx_conf_t *cf);
static char *ngx_omni_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_omni_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_omni_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_omni_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_omni_init_process(ngx_cycle_t *cycle);
static void ngx_omni_exit_process(ngx_cycle_t *cycle);


static ngx_conf_num_bounds_t  ngx_omni_pool_bounds = {
    ngx_conf_check_num_bounds, 1, 256
};

static ngx_conf_num_bounds_t  ngx_omni_queue_bounds = {
    ngx_conf_check_num_bounds, 0, 65536
};

static ngx_conf_num_bounds_t  ngx_omni_batch_bounds = {
    ngx_conf_check_num_bounds, 1, 1000000
};

/*
 * A batch holds at least one whole beacon row (8 KB at most); it is
 * assembled in memory, and more than 16m would only make PostgreSQL's
 * pieces of work longer.
 */
static ngx_conf_post_t  ngx_omni_flush_bytes_post = {
    ngx_omni_check_flush_bytes
};


static ngx_command_t  ngx_omni_commands[] = {

    { ngx_string("omni_pg"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, pg_conninfo),
      NULL },

    { ngx_string("omni_pg_pool_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, pg_pool_size),
      &ngx_omni_pool_bounds },

    { ngx_string("omni_pg_queue"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, pg_queue_size),
      &ngx_omni_queue_bounds },

    { ngx_string("omni_pg_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, pg_timeout),
      NULL },

    { ngx_string("omni_cache_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_omni_set_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, cache_size),
      NULL },

    { ngx_string("omni_pixel_ring"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_omni_set_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, ring_size),
      NULL },

    { ngx_string("omni_pixel_spool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, spool_dir),
      NULL },

    { ngx_string("omni_pixel_flush_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, flush_interval),
      NULL },

    { ngx_string("omni_pixel_flush_batch"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, flush_batch),
      &ngx_omni_batch_bounds },

    { ngx_string("omni_pixel_flush_bytes"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, flush_bytes),
      &ngx_omni_flush_bytes_post },

    { ngx_string("omni_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, thread_pool),
      NULL },

    { ngx_string("omni_media_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, media_cache),
      NULL },

    { ngx_string("omni_media_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, media_url),
      NULL },

    { ngx_string("omni_client_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, client.connect_timeout),
      NULL },

    { ngx_string("omni_client_send_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, client.send_timeout),
      NULL },

    { ngx_string("omni_client_read_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, client.read_timeout),
      NULL },

    { ngx_string("omni_client_max_response"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, client.max_response),
      NULL },

    { ngx_string("omni_upstream_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_omni_main_conf_t, client.trusted_certificate),
      NULL },

    { ngx_string("omni_channel_api"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_omni_outbox_channel_api,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_channel_rate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_omni_outbox_channel_rate,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_omni_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) NGX_OMNI_LOC_API },

    { ngx_string("omni_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_omni_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) NGX_OMNI_LOC_STATUS },

    { ngx_string("omni_webhooks"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_omni_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) NGX_OMNI_LOC_HOOKS },

    { ngx_string("omni_media"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_omni_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) NGX_OMNI_LOC_MEDIA },

    { ngx_string("omni_error"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_omni_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) NGX_OMNI_LOC_ERROR },

    { ngx_string("omni_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_omni_guard_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_auth_forward_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_omni_loc_conf_t, auth_forward_token),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_omni_module_ctx = {
    ngx_omni_preconfiguration,             /* preconfiguration */
    ngx_omni_postconfiguration,            /* postconfiguration */

    ngx_omni_create_main_conf,             /* create main configuration */
    ngx_omni_init_main_conf,               /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_omni_create_loc_conf,              /* create location configuration */
    ngx_omni_merge_loc_conf                /* merge location configuration */
};


ngx_module_t  ngx_http_omni_module = {
    NGX_MODULE_V1,
    &ngx_omni_module_ctx,                  /* module context */
    ngx_omni_commands,                     /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_omni_init_module,                  /* init module */
    ngx_omni_init_process,                 /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_omni_exit_process,                 /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_omni_handler(ngx_http_request_t *r)
{
    u_char                    *p;
    ngx_str_t                  path;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* the path below the location: "px/KEY.gif", "api/v1/me" */
    ngx_omni_location_tail(r, &path);

    /*
     * A location of one API endpoint (the media upload's, with its own
     * body limits: "location = /omni/api/v1/media") is no mount point:
     * its path starts at the API's prefix.
     */
    if (clcf->name.len && clcf->name.data[clcf->name.len - 1] != '/') {
        p = ngx_strlcasestrn(r->uri.data, r->uri.data + r->uri.len,
                             (u_char *) "/api/v1/", 8 - 1);
        if (p) {
            path.data = p + 1;
            path.len = r->uri.data + r->uri.len - path.data;
        }
    }

    if (path.len > 3 && ngx_strncmp(path.data, "px/", 3) == 0) {
        path.data += 3;
        path.len -= 3;
        return ngx_omni_pixel_handler(r, &path);
    }

    if (path.len > 7 && ngx_strncmp(path.data, "api/v1/", 7) == 0) {
        path.data += 7;
        path.len -= 7;
        return ngx_omni_api_handler(r, &path);
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_omni_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                               "No such resource: %V", &r->uri);
}


/*
 * The target of error_page: nginx's own errors (413 body too large, 403
 * from "deny", 400 bad request) answered in the same JSON shape as ours.
 * The errors nginx finds before it chooses a location (a header sent
 * twice, a header or request line larger than large_client_header_buffers)
 * come through the server's error_page, so a location of each kind is
 * there for them: a beacon still gets its GIF ("omni_error gif"), and the
 * rest of the server nginx's own page ("omni_error nginx").
 */
static ngx_int_t
ngx_omni_error_handler(ngx_http_request_t *r)
{
    ngx_uint_t            status;
    ngx_omni_loc_conf_t  *olcf;

    status = r->err_status ? r->err_status : NGX_HTTP_NOT_FOUND;
    olcf = ngx_http_get_module_loc_conf(r, ngx_http_omni_module);

    if (olcf->handler == NGX_OMNI_LOC_ERROR_NGINX) {
        /* error_page is spent: finalizing with the status sends the page */
        return status;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    if (olcf->handler == NGX_OMNI_LOC_ERROR_GIF) {
        /* a beacon never breaks a page, but this one is not stored */
        ngx_omni_tag(r, NGX_OMNI_EP_PIXEL_GIF);
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.beacons_rejected,
                                    1);
        r->err_status = 0;
        return ngx_omni_pixel_send_gif(r);
    }

    r->headers_out.status = status;

    switch (status) {

    case NGX_HTTP_BAD_REQUEST:
        return ngx_omni_send_error(r, status, "bad_request",
                                   "The request is malformed (for example "
                                   "a header sent twice)");

    case NGX_HTTP_REQUEST_HEADER_TOO_LARGE:
        /* nginx's own code for it, never sent: the client sees 400 */
        r->err_status = NGX_HTTP_BAD_REQUEST;
        return ngx_omni_send_error(r, NGX_HTTP_BAD_REQUEST,
                                   "header_too_large",
                                   "A request header (or the cookies) is "
                                   "larger than this server accepts");

    case NGX_HTTP_REQUEST_URI_TOO_LARGE:
        return ngx_omni_send_error(r, status, "uri_too_long",
                                   "The request line (path and query) is "
                                   "longer than this server accepts");

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        return ngx_omni_send_error(r, status, "body_too_large",
                                   "The request body is larger than this "
                                   "endpoint accepts");

    case NGX_HTTP_FORBIDDEN:
        return ngx_omni_send_error(r, status, "forbidden",
                                   "Access to this resource is denied");

    default:
        return ngx_omni_send_error(r, status,
                                   ngx_omni_status_code_name(status),
                                   "The request failed with status %ui",
                                   status);
    }
}


static ngx_int_t
ngx_omni_log_handler(ngx_http_request_t *r)
{
    ngx_uint_t        *endpoint;
    ngx_time_t        *tp;
    ngx_msec_int_t     ms;

    endpoint = ngx_http_get_module_ctx(r, ngx_http_omni_module);
    if (endpoint == NULL || ngx_omni_stats == NULL) {
        return NGX_OK;
    }

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));

    ngx_omni_stats_request(*endpoint, r->headers_out.status,
                           ngx_max(ms, 0));

    return NGX_OK;
}


static char *
ngx_omni_set_handler(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_omni_loc_conf_t  *olcf = conf;

    ngx_str_t                 *value;
    ngx_omni_main_conf_t      *omcf;
    ngx_http_core_loc_conf_t  *clcf;

    if (olcf->handler != NGX_OMNI_LOC_NONE) {
        return "is duplicate";
    }

    olcf->handler = (ngx_uint_t) cmd->post;

    if (cf->args->nelts == 2) {
        value = cf->args->elts;

        if (ngx_strcmp(value[1].data, "gif") == 0) {
            olcf->handler = NGX_OMNI_LOC_ERROR_GIF;

        } else if (ngx_strcmp(value[1].data, "nginx") == 0) {
            olcf->handler = NGX_OMNI_LOC_ERROR_NGINX;

        } else if (ngx_strcmp(value[1].data, "json") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" takes json, gif or nginx, not \"%V\"",
                               &cmd->name, &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    switch (olcf->handler) {

    case NGX_OMNI_LOC_API:
        clcf->handler = ngx_omni_handler;
        omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_omni_module);
        omcf->enabled = 1;
        break;

    case NGX_OMNI_LOC_HOOKS:
        clcf->handler = ngx_omni_hooks_handler;
        omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_omni_module);
        omcf->enabled = 1;
        break;

    case NGX_OMNI_LOC_MEDIA:
        clcf->handler = ngx_omni_media_serve_handler;
        omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_omni_module);
        omcf->enabled = 1;
        break;

    case NGX_OMNI_LOC_STATUS:
        clcf->handler = ngx_omni_status_handler;
        break;

    default:
        clcf->handler = ngx_omni_error_handler;
        break;
    }

    return NGX_CONF_OK;
}


static char *
ngx_omni_check_flush_bytes(ngx_conf_t *cf, void *post, void *data)
{
    size_t  *sp = data;

    (void) cf;
    (void) post;

    if (*sp < 64 * 1024 || *sp > 16 * 1024 * 1024) {
        return "must be between 64k and 16m";
    }

    return NGX_CONF_OK;
}


static char *
ngx_omni_set_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    size_t     *sp;
    ssize_t     size;
    ngx_str_t  *value;

    sp = (size_t *) (p + cmd->offset);

    if (*sp != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs a size of at least %uzk, not \"%V\"",
                           &cmd->name, 8 * ngx_pagesize / 1024, &value[1]);
        return NGX_CONF_ERROR;
    }

    *sp = (size_t) size;

    return NGX_CONF_OK;
}


/*
 * libpq resolves a host name with a blocking getaddrinfo() when it
 * connects, which would stall a worker: only socket paths and addresses.
 */
static char *
ngx_omni_check_conninfo(ngx_conf_t *cf, ngx_str_t *conninfo)
{
    u_char               *text;
    char                 *err;
    ngx_uint_t            named, addressed;
    PQconninfoOption     *opts, *o;

    text = ngx_pnalloc(cf->pool, conninfo->len + 1);
    if (text == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) ngx_cpystrn(text, conninfo->data, conninfo->len + 1);

    err = NULL;
    opts = PQconninfoParse((char *) text, &err);

    if (opts == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"omni_pg\" is not a libpq connection string: %s",
                           err ? err : "out of memory");
        if (err) {
            PQfreemem(err);
        }

        return NGX_CONF_ERROR;
    }

    named = 0;
    addressed = 0;

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL || o->val[0] == '\0') {
            continue;
        }

        if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            addressed = 1;

        } else if (ngx_strcmp(o->keyword, "host") == 0 && o->val[0] != '/'
                   && o->val[0] != '@')
        {
            named = 1;
        }
    }

    PQconninfoFree(opts);

    if (named && !addressed) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"omni_pg\" names a host: libpq would resolve it "
                           "with a blocking call in a worker; use "
                           "host=/socket/dir or hostaddr=IP");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_shm_zone_t *
ngx_omni_add_zone(ngx_conf_t *cf, char *name, size_t size,
    ngx_shm_zone_init_pt init)
{
    ngx_str_t        zone_name;
    ngx_shm_zone_t  *shm_zone;

    zone_name.data = (u_char *) name;
    zone_name.len = ngx_strlen(name);

    shm_zone = ngx_shared_memory_add(cf, &zone_name, size,
                                     &ngx_http_omni_module);
    if (shm_zone == NULL) {
        return NULL;
    }

    shm_zone->init = init;

    return shm_zone;
}


static void *
ngx_omni_create_main_conf(ngx_conf_t *cf)
{
    ngx_uint_t             i;
    ngx_omni_main_conf_t  *omcf;

    omcf = ngx_pcalloc(cf->pool, sizeof(ngx_omni_main_conf_t));
    if (omcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     omcf->pg_conninfo = { 0, NULL };
     *     omcf->spool_dir = { 0, NULL };
     *     omcf->thread_pool = { 0, NULL };
     *     omcf->media_cache = { 0, NULL };
     *     omcf->media_url = { 0, NULL };
     *     omcf->cache_zone = NULL;
     *     omcf->enabled = 0;
     */

    omcf->pg_pool_size = NGX_CONF_UNSET_UINT;
    omcf->pg_queue_size = NGX_CONF_UNSET_UINT;
    omcf->pg_timeout = NGX_CONF_UNSET_MSEC;
    omcf->cache_size = NGX_CONF_UNSET_SIZE;
    omcf->ring_size = NGX_CONF_UNSET_SIZE;
    omcf->flush_interval = NGX_CONF_UNSET_MSEC;
    omcf->flush_batch = NGX_CONF_UNSET_UINT;
    omcf->flush_bytes = NGX_CONF_UNSET_SIZE;

    ngx_omni_client_conf_init(&omcf->client);

    for (i = 0; i < OMNI_CHANNEL_N; i++) {
        omcf->channel_rate[i] = NGX_CONF_UNSET_UINT;
    }

    return omcf;
}


static char *
ngx_omni_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_omni_main_conf_t  *omcf = conf;

    ngx_path_t  *path;

    ngx_conf_init_uint_value(omcf->pg_pool_size, 4);
    ngx_conf_init_uint_value(omcf->pg_queue_size, 256);
    ngx_conf_init_msec_value(omcf->pg_timeout, 5000);
    ngx_conf_init_size_value(omcf->cache_size, 16 * 1024 * 1024);
    ngx_conf_init_size_value(omcf->ring_size, 32 * 1024 * 1024);
    ngx_conf_init_msec_value(omcf->flush_interval, 100);
    ngx_conf_init_uint_value(omcf->flush_batch, 5000);
    ngx_conf_init_size_value(omcf->flush_bytes, 512 * 1024);

    if (omcf->spool_dir.len == 0) {
        ngx_str_set(&omcf->spool_dir, "omni_spool");
    }

    if (ngx_conf_full_name(cf->cycle, &omcf->spool_dir, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* nginx creates it at start, owned by the workers' user */
    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_CONF_ERROR;
    }

    path->name = omcf->spool_dir;
    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    if (ngx_add_path(cf, &path) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (omcf->media_cache.len == 0) {
        ngx_str_set(&omcf->media_cache, "omni_media");
    }

    if (ngx_conf_full_name(cf->cycle, &omcf->media_cache, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_CONF_ERROR;
    }

    path->name = omcf->media_cache;
    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    if (ngx_add_path(cf, &path) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* checked even without "omni": nginx -t says what is wrong */
    if (ngx_omni_client_conf_merge(cf, &omcf->client) != NGX_CONF_OK
        || ngx_omni_outbox_init_conf(cf, omcf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (!omcf->enabled) {
        return NGX_CONF_OK;
    }

    if (ngx_omni_init_thread_pool(cf, omcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (omcf->pg_conninfo.len == 0) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"omni\" is used without \"omni_pg\": the API "
                           "answers 503 and beacons are only spooled");

    } else if (ngx_omni_check_conninfo(cf, &omcf->pg_conninfo)
               != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    omcf->stats_zone = ngx_omni_add_zone(cf, "omni_stats",
                                         NGX_OMNI_STATS_ZONE_SIZE,
                                         ngx_omni_stats_init_zone);
    omcf->cache_zone = ngx_omni_add_zone(cf, NGX_OMNI_CACHE_ZONE,
                                         omcf->cache_size,
                                         ngx_omni_cache_init_zone);
    omcf->ring_zone = ngx_omni_add_zone(cf, "omni_pixel_ring",
                                        omcf->ring_size,
                                        ngx_omni_ring_init_zone);

    if (omcf->stats_zone == NULL || omcf->cache_zone == NULL
        || omcf->ring_zone == NULL)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The pool that assembles pixel batches off the event loop: "default"
 * unless told, which nginx then creates as for "aio threads" (32 threads);
 * "off", or a pool nginx does not have at start, means slices on the loop.
 */
static char *
ngx_omni_init_thread_pool(ngx_conf_t *cf, ngx_omni_main_conf_t *omcf)
{
    if (omcf->thread_pool.len == 0) {
        ngx_str_set(&omcf->thread_pool, "default");
    }

    if (omcf->thread_pool.len == 3
        && ngx_strncmp(omcf->thread_pool.data, "off", 3) == 0)
    {
        ngx_str_null(&omcf->thread_pool);
        return NGX_CONF_OK;
    }

#if (NGX_THREADS)
    if (omcf->thread_pool.len == 7
        && ngx_strncmp(omcf->thread_pool.data, "default", 7) == 0
        && ngx_thread_pool_add(cf, NULL) == NULL)
    {
        return NGX_CONF_ERROR;
    }
#else
    (void) cf;
#endif

    return NGX_CONF_OK;
}


static void *
ngx_omni_create_loc_conf(ngx_conf_t *cf)
{
    ngx_omni_loc_conf_t  *olcf;

    olcf = ngx_pcalloc(cf->pool, sizeof(ngx_omni_loc_conf_t));
    if (olcf == NULL) {
        return NULL;
    }

    olcf->auth = NGX_CONF_UNSET;
    olcf->auth_forward_token = NGX_CONF_UNSET;

    return olcf;
}


static char *
ngx_omni_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_omni_loc_conf_t  *prev = parent;
    ngx_omni_loc_conf_t  *conf = child;

    (void) cf;

    /* the handler belongs to the location that names it: no inheritance */

    /* omni_auth is inherited whole: on/off with its roles and plan */
    if (conf->auth == NGX_CONF_UNSET) {
        conf->auth = (prev->auth == NGX_CONF_UNSET) ? 0 : prev->auth;
        conf->auth_roles = prev->auth_roles;
        conf->auth_plan = prev->auth_plan;
    }

    ngx_conf_merge_value(conf->auth_forward_token, prev->auth_forward_token,
                         0);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_omni_preconfiguration(ngx_conf_t *cf)
{
    return ngx_omni_guard_add_variables(cf);
}


static ngx_int_t
ngx_omni_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_omni_log_handler;

    return ngx_omni_guard_init(cf);
}


/* the master, once the zones are up: the job runner's jobs */
static ngx_int_t
ngx_omni_init_module(ngx_cycle_t *cycle)
{
    ngx_omni_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_omni_module);

    if (omcf == NULL || !omcf->enabled) {
        return NGX_OK;
    }

    if (ngx_omni_jobs_init_module(cycle) != NGX_OK
        || ngx_omni_flusher_init_module(cycle) != NGX_OK
        || ngx_omni_capture_init_module(cycle) != NGX_OK
        || ngx_omni_inbox_init_module(cycle) != NGX_OK
        || ngx_omni_outbox_init_module(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_omni_init_process(ngx_cycle_t *cycle)
{
    ngx_omni_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_omni_module);

    /* workers only: not the cache manager or loader */
    if (omcf == NULL || !omcf->enabled
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return NGX_OK;
    }

    if (ngx_omni_stats_init_process(cycle) != NGX_OK
        || ngx_omni_pg_init_process(cycle) != NGX_OK
        || ngx_omni_cache_init_process(cycle) != NGX_OK
        || ngx_omni_flusher_init_process(cycle) != NGX_OK
        || ngx_omni_jobs_init_process(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_omni_exit_process(ngx_cycle_t *cycle)
{
    ngx_omni_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_omni_module);

    if (omcf == NULL || !omcf->enabled) {
        return;
    }

    /* the jobs' stop hooks (the flusher spools the ring) come first */
    ngx_omni_jobs_exit_process(cycle);
    ngx_omni_outbox_exit_process(cycle);
    ngx_omni_client_exit_process(cycle);
    ngx_omni_flusher_exit_process(cycle);
    ngx_omni_cache_exit_process(cycle);
    ngx_omni_pg_exit_process(cycle);
}
