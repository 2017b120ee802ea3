
/*
 * omni: the back end of an omnichannel customer-messaging platform,
 * served by nginx workers.  Types shared by every file of the module.
 */

#ifndef _NGX_OMNI_MODULE_H_INCLUDED_
#define _NGX_OMNI_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "omni_model.h"
#include "ngx_omni_pg.h"


/* bump together with the newest ngx_omni_module/sql/NNN_*.sql */
#define NGX_OMNI_SCHEMA_VERSION   5

#define NGX_OMNI_MAX_ARGS         4


typedef struct ngx_omni_ctx_s  ngx_omni_ctx_t;

typedef ngx_int_t (*ngx_omni_api_handler_pt)(ngx_omni_ctx_t *ctx);
typedef ngx_int_t (*ngx_omni_api_result_pt)(ngx_omni_ctx_t *ctx,
    PGresult *res);


typedef struct {
    ngx_str_t                 pg_conninfo;
    ngx_uint_t                pg_pool_size;
    ngx_uint_t                pg_queue_size;
    ngx_msec_t                pg_timeout;

    size_t                    cache_size;
    ngx_shm_zone_t           *cache_zone;
    ngx_shm_zone_t           *stats_zone;

    size_t                    ring_size;
    ngx_shm_zone_t           *ring_zone;
    ngx_str_t                 spool_dir;
    ngx_msec_t                flush_interval;
    ngx_uint_t                flush_batch;

    ngx_uint_t                enabled;     /* some location says "omni" */
} ngx_omni_main_conf_t;


typedef struct {
    ngx_uint_t                handler;     /* NGX_OMNI_LOC_* */
} ngx_omni_loc_conf_t;


#define NGX_OMNI_LOC_NONE         0
#define NGX_OMNI_LOC_API          1
#define NGX_OMNI_LOC_STATUS       2
#define NGX_OMNI_LOC_ERROR        3    /* nginx's errors, as JSON */
#define NGX_OMNI_LOC_ERROR_GIF    4    /* ... as a beacon's GIF */
#define NGX_OMNI_LOC_ERROR_NGINX  5    /* ... as nginx's own page */


/* the caller, as the cache and the database know it */
typedef struct {
    int64_t                   member_id;
    int64_t                   tenant_id;
    omni_role_e               role;
    uint32_t                  plan;        /* bit set of OMNI_FEATURE_* */
    char                      default_region[3];
    ngx_uint_t                nbranches;
    int64_t                   branch_ids[OMNI_MAX_BRANCHES];
} ngx_omni_member_t;


/* one route of the JSON API: METHOD + path pattern ("members/ *") */
typedef struct {
    ngx_uint_t                method;      /* NGX_HTTP_GET | ... */
    char                     *pattern;
    ngx_uint_t                endpoint;    /* NGX_OMNI_EP_* for metrics */
    ngx_omni_api_handler_pt   handler;
    uint32_t                  features;    /* any of these plan features */
    ngx_uint_t                admin_writes;  /* only admins change it */
} ngx_omni_route_t;


struct ngx_omni_ctx_s {
    ngx_uint_t                endpoint;    /* first: see ngx_omni_tag() */
    ngx_http_request_t       *request;
    ngx_omni_route_t         *route;
    ngx_str_t                 args[NGX_OMNI_MAX_ARGS];  /* '*' segments */
    ngx_uint_t                nargs;

    ngx_omni_member_t         member;
    ngx_str_t                 token;
    uint64_t                  cache_gen;   /* generation read before a miss */
    u_char                    token_sha256[32];

    json_t                   *body;        /* request JSON, freed by cleanup */
    ngx_omni_pg_query_t      *query;       /* in flight, abandoned by cleanup */
    ngx_omni_api_handler_pt   next;        /* after authentication */
    ngx_omni_api_result_pt    done;        /* after the query */
    ngx_uint_t                status;      /* of a JSON answer from SQL */
    ngx_int_t                 rc;          /* of an error already sent */
    void                     *data;        /* handler's own state */
};


/* endpoints, for per-endpoint metrics; keep in step with the names table */
enum {
    NGX_OMNI_EP_OTHER = 0,
    NGX_OMNI_EP_PIXEL_GIF,
    NGX_OMNI_EP_PIXEL_POST,
    NGX_OMNI_EP_PIXEL_JS,
    NGX_OMNI_EP_ME,
    NGX_OMNI_EP_BRANCHES,
    NGX_OMNI_EP_MEMBERS,
    NGX_OMNI_EP_MEMBER,
    NGX_OMNI_EP_TOKENS,
    NGX_OMNI_EP_CUSTOMERS,
    NGX_OMNI_EP_CUSTOMER,
    NGX_OMNI_EP_PIXEL_LOGS,
    NGX_OMNI_EP_STATUS,
    NGX_OMNI_EP_CHANNELS,
    NGX_OMNI_EP_CHANNEL,
    NGX_OMNI_EP_N
};


extern ngx_module_t  ngx_http_omni_module;


/* ngx_omni_http.c: one way to answer, one way to read a body */

ngx_int_t ngx_omni_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *json, size_t len);
ngx_int_t ngx_omni_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *fmt, ...);
ngx_int_t ngx_omni_send_bytes(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len, ngx_uint_t memory);
const char *ngx_omni_status_code_name(ngx_uint_t status);
ngx_int_t ngx_omni_body_bytes(ngx_http_request_t *r, ngx_str_t *out);
ngx_int_t ngx_omni_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
void ngx_omni_finalize(ngx_omni_ctx_t *ctx, ngx_int_t rc);

/*
 * Marks a request as one of ours for the metrics of its endpoint.  The
 * module ctx of every omni request starts with its endpoint number; a
 * request with no other state (a beacon) gets a static tag, no allocation.
 */
void ngx_omni_tag(ngx_http_request_t *r, ngx_uint_t endpoint);

/* ngx_omni_api.c: routing, authentication, plan gate, JSON from SQL */

ngx_int_t ngx_omni_api_handler(ngx_http_request_t *r, ngx_str_t *path);

/*
 * Runs one statement; its single value (json built by PostgreSQL) is the
 * answer, sent with status.  ngx_omni_api_query_with() hands the result
 * to done() instead.  Both return NGX_DONE or an answer already sent.
 */
ngx_int_t ngx_omni_api_query(ngx_omni_ctx_t *ctx, ngx_uint_t stmt,
    ngx_uint_t status, ngx_uint_t nparams, ngx_str_t *params);
ngx_int_t ngx_omni_api_query_with(ngx_omni_ctx_t *ctx, ngx_uint_t stmt,
    ngx_uint_t nparams, ngx_str_t *params, ngx_omni_api_result_pt done);
ngx_int_t ngx_omni_api_send_value(ngx_omni_ctx_t *ctx, PGresult *res);
ngx_int_t ngx_omni_api_pg_error(ngx_omni_ctx_t *ctx, ngx_int_t rc,
    PGresult *res);

/*
 * Checks that send an error themselves: NGX_OK, or NGX_DECLINED with the
 * answer sent and its rc in ctx->rc.
 */
ngx_int_t ngx_omni_fail(ngx_omni_ctx_t *ctx, ngx_uint_t status,
    const char *code, const char *fmt, ...);
ngx_int_t ngx_omni_api_check_body(ngx_omni_ctx_t *ctx, const void *fields,
    ngx_uint_t mode);
ngx_int_t ngx_omni_page_args(ngx_omni_ctx_t *ctx, ngx_str_t *cursor,
    ngx_str_t *per_page, ngx_uint_t max);
ngx_int_t ngx_omni_cursor_id(ngx_omni_ctx_t *ctx, ngx_str_t *cursor);
ngx_int_t ngx_omni_arg_id(ngx_omni_ctx_t *ctx, ngx_str_t *arg, int64_t *id);
ngx_int_t ngx_omni_api_list(ngx_omni_ctx_t *ctx, ngx_uint_t stmt);
ngx_int_t ngx_omni_id_params(ngx_omni_ctx_t *ctx, ngx_str_t *params,
    int64_t *id);
ngx_int_t ngx_omni_api_written(ngx_omni_ctx_t *ctx, PGresult *res);

/* statement parameters in the request pool */
ngx_int_t ngx_omni_param_int(ngx_pool_t *pool, ngx_str_t *p, int64_t v);
ngx_int_t ngx_omni_param_json(ngx_pool_t *pool, ngx_str_t *p, json_t *v);
ngx_int_t ngx_omni_param_tenant(ngx_omni_ctx_t *ctx, ngx_str_t *p);

/* ngx_omni_auth.c: bearer token -> member */

ngx_int_t ngx_omni_auth(ngx_omni_ctx_t *ctx,
    ngx_omni_api_handler_pt next);

/* route handlers */

ngx_int_t ngx_omni_team_me(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_team_branches(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_team_members(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_team_member(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_team_tokens(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_channels(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_channel(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_customers_find(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_customers_get(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_pixel_logs(ngx_omni_ctx_t *ctx);

/* ngx_omni_pixel.c: beacons and the script (no token) */

ngx_int_t ngx_omni_pixel_handler(ngx_http_request_t *r, ngx_str_t *path);
/* the beacon's answer: the 43-byte GIF, not to be cached */
ngx_int_t ngx_omni_pixel_send_gif(ngx_http_request_t *r);

/* ngx_omni_status.c */

ngx_int_t ngx_omni_status_handler(ngx_http_request_t *r);


#endif /* _NGX_OMNI_MODULE_H_INCLUDED_ */
