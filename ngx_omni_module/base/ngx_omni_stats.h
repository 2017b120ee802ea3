
/*
 * Counters for /omni/status, in a shared zone so that any worker's answer
 * covers all of them: requests by endpoint and status class, latency
 * histograms, the pixel ring, the jobs of the runner (with their host
 * leases), and one slot per worker for pool gauges.
 */

#ifndef _NGX_OMNI_STATS_H_INCLUDED_
#define _NGX_OMNI_STATS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_omni_module.h"
#include "ngx_omni_pg.h"
#include "ngx_omni_client.h"


#define NGX_OMNI_STATS_WORKERS     64
#define NGX_OMNI_STATS_JOBS        16
#define NGX_OMNI_LATENCY_BUCKETS   12

/* what the inbox's applier did with an event (sql/008 omni_inbox_event) */
#define NGX_OMNI_HOOK_OUTCOMES(X)                                           \
    X(MESSAGE,      "message")                                              \
    X(DUPLICATE,    "duplicate")                                            \
    X(STATUS,       "status")                                               \
    X(STATUS_EARLY, "status_early")                                         \
    X(UNKNOWN,      "unknown")                                              \
    X(FOREIGN,      "foreign")                                              \
    X(ERROR,        "error")

#define NGX_OMNI_HOOK_OUTCOME_ENUM(id, name)  NGX_OMNI_HOOK_##id,

enum {
    NGX_OMNI_HOOK_OUTCOMES(NGX_OMNI_HOOK_OUTCOME_ENUM)
    NGX_OMNI_HOOK_OUTCOME_N
};


typedef struct {
    ngx_atomic_t          beacons_accepted;
    ngx_atomic_t          beacons_rejected;      /* malformed, at the edge */
    ngx_atomic_t          beacons_unknown_key;   /* found at flush time */
    ngx_atomic_t          events_flushed;
    ngx_atomic_t          flush_batches;
    ngx_atomic_t          flush_errors;
    ngx_atomic_t          events_spooled;
    ngx_atomic_t          events_replayed;
    ngx_atomic_t          events_lost;           /* must stay 0 */
    ngx_atomic_t          events_set_aside;      /* refused by PostgreSQL */
    ngx_atomic_t          captures_applied;
    ngx_atomic_t          flush_lag_ms_max;      /* since the last scrape */
} ngx_omni_pixel_stats_t;


/*
 * Channel webhooks in: what the location answered, the group commits
 * (accepted / commits = webhooks per commit), and what the inbox's
 * applier made of the events.
 */
typedef struct {
    ngx_atomic_t          accepted;              /* durable, answered 200 */
    ngx_atomic_t          refused_signature;     /* 401 */
    ngx_atomic_t          refused_body;          /* 400, 413 */
    ngx_atomic_t          refused_channel;       /* 404: none, webchat */
    ngx_atomic_t          refused_busy;          /* 503: the queue is full */
    ngx_atomic_t          failed;                /* 503/504: not stored */
    ngx_atomic_t          events;                /* in accepted webhooks */
    ngx_atomic_t          commits;
    ngx_atomic_t          batch_max;             /* webhooks in one commit */
    ngx_atomic_t          handshakes;            /* GET answered 200 */
    ngx_atomic_t          inbox_rows;            /* applied */
    ngx_atomic_t          applied[NGX_OMNI_HOOK_OUTCOME_N];
} ngx_omni_hooks_stats_t;


/* the outbox's deliverer (channels/ngx_omni_outbox.c) */
typedef struct {
    ngx_atomic_t          claimed;
    ngx_atomic_t          sent;
    ngx_atomic_t          retried;               /* due again later */
    ngx_atomic_t          failed;                /* for good */
} ngx_omni_delivery_stats_t;


typedef struct {
    ngx_atomic_t          count;
    ngx_atomic_t          sum_us;
    ngx_atomic_t          bucket[NGX_OMNI_LATENCY_BUCKETS];
    ngx_atomic_t          status[6];             /* 1xx..5xx, [0] other */
    ngx_atomic_t          codes[16];             /* see stats.c */
} ngx_omni_endpoint_stats_t;


/*
 * A job of the runner (ngx_omni_jobs.c), found by name: the slot outlives
 * a reload.  holder and beat are the lease of a ONE_PER_HOST job; of a
 * ONE_PER_FLEET job, they say which worker of this host holds its row.
 */
typedef struct {
    u_char                name[32];      /* NUL-terminated; "" a free slot */
    ngx_atomic_t          runs;
    ngx_atomic_t          errors;
    ngx_atomic_t          last_success;  /* wall clock ms; 0: never */
    ngx_atomic_t          holder;        /* the pid holding the lease */
    ngx_atomic_t          beat;          /* its heartbeat, monotonic ms */
    ngx_atomic_t          stale;         /* ms a beat lasts; 0: no lease */
} ngx_omni_job_stats_t;


typedef struct {
    ngx_pid_t             pid;
    ngx_omni_pg_stats_t   pg;
} ngx_omni_worker_stats_t;


typedef struct {
    ngx_omni_pixel_stats_t     pixel;
    ngx_omni_hooks_stats_t     hooks;
    ngx_omni_endpoint_stats_t  endpoints[NGX_OMNI_EP_N];
    ngx_omni_worker_stats_t    workers[NGX_OMNI_STATS_WORKERS];
    ngx_omni_job_stats_t       jobs[NGX_OMNI_STATS_JOBS];
    ngx_omni_client_stats_t    client;
    ngx_omni_delivery_stats_t  delivery;
} ngx_omni_stats_t;


extern ngx_omni_stats_t  *ngx_omni_stats;
extern char  *ngx_omni_hook_outcome_names[NGX_OMNI_HOOK_OUTCOME_N];

/*
 * The Pixel's gauges (ring fill, spool bytes) live above the base: the
 * Pixel sets this pointer at init, so the status page reads them without
 * the base calling up into pixel/.
 */
typedef void (*ngx_omni_stats_pixel_gauges_pt)(uint64_t *ring_used,
    uint64_t *ring_capacity, uint64_t *spool_bytes);

extern ngx_omni_stats_pixel_gauges_pt  ngx_omni_stats_pixel_gauges;


ngx_int_t ngx_omni_stats_init_zone(ngx_shm_zone_t *shm_zone, void *data);
ngx_int_t ngx_omni_stats_init_process(ngx_cycle_t *cycle);
void ngx_omni_stats_request(ngx_uint_t endpoint, ngx_uint_t status,
    ngx_msec_int_t elapsed_ms);

/* GET /omni/status: the counters, as Prometheus text */
ngx_int_t ngx_omni_status_handler(ngx_http_request_t *r);


#endif /* _NGX_OMNI_STATS_H_INCLUDED_ */
