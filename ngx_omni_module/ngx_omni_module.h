
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
#include "ngx_omni_api_routes.h"
#include "ngx_omni_client.h"


/* bump together with the newest ngx_omni_module/sql/NNN_*.sql */
#define NGX_OMNI_SCHEMA_VERSION   15

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
    size_t                    flush_bytes;
    ngx_str_t                 thread_pool; /* empty: none, slices */

    /* media: this host's disk cache of blobs, the public URL's prefix */
    ngx_str_t                 media_cache;
    ngx_str_t                 media_url;

    /* outside APIs: the client's timeouts, TLS and upstreams */
    ngx_omni_client_conf_t    client;
    /* delivery: each channel type's API base and messages a second */
    ngx_omni_client_upstream_t *channel_api[OMNI_CHANNEL_N];
    ngx_uint_t                channel_rate[OMNI_CHANNEL_N];

    ngx_uint_t                enabled;     /* some location says "omni" */
} ngx_omni_main_conf_t;


typedef struct {
    ngx_uint_t                handler;     /* NGX_OMNI_LOC_* */

    /* "omni_auth": inherited, unlike the handler */
    ngx_flag_t                auth;
    uint32_t                  auth_roles;  /* 1 << OMNI_ROLE_*; 0: any */
    uint32_t                  auth_plan;   /* any of OMNI_FEATURE_*; 0: any */
    ngx_flag_t                auth_forward_token;
} ngx_omni_loc_conf_t;


#define NGX_OMNI_LOC_NONE         0
#define NGX_OMNI_LOC_API          1
#define NGX_OMNI_LOC_STATUS       2
#define NGX_OMNI_LOC_ERROR        3    /* nginx's errors, as JSON */
#define NGX_OMNI_LOC_ERROR_GIF    4    /* ... as a beacon's GIF */
#define NGX_OMNI_LOC_ERROR_NGINX  5    /* ... as nginx's own page */
#define NGX_OMNI_LOC_HOOKS        6    /* channel webhooks in */
#define NGX_OMNI_LOC_MEDIA        7    /* media by sha256, public */


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


/*
 * Endpoints, for per-endpoint metrics: both lists of
 * ngx_omni_api_routes.h, so that NGX_OMNI_EP_OTHER is 0.
 */
#define NGX_OMNI_EP_ENUM(id, metric)  NGX_OMNI_EP_##id,
#define NGX_OMNI_EP_ROUTE_ENUM(methods, pattern, id, metric, handler,       \
                               resource, features, admin_writes)            \
    NGX_OMNI_EP_##id,

enum {
    NGX_OMNI_ENDPOINTS(NGX_OMNI_EP_ENUM)
    NGX_OMNI_API_ROUTES(NGX_OMNI_EP_ROUTE_ENUM)
    NGX_OMNI_EP_N
};


extern ngx_module_t  ngx_http_omni_module;


#endif /* _NGX_OMNI_MODULE_H_INCLUDED_ */
