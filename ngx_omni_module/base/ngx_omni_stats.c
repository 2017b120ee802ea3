
/*
 * Counters in shared memory and the Prometheus text of /omni/status.
 * Increments are lock-free atomics: a worker killed mid-update can't
 * wedge anything, and the hot path pays one atomic add.
 */

#include "ngx_omni_stats.h"
#include "ngx_omni_http.h"
#include "ngx_omni_cache.h"


static u_char *ngx_omni_stats_requests(u_char *p);
static u_char *ngx_omni_stats_pixel(u_char *p);
static u_char *ngx_omni_stats_hooks(u_char *p);
static u_char *ngx_omni_stats_pg(u_char *p);
static u_char *ngx_omni_stats_cache(u_char *p);
static u_char *ngx_omni_stats_jobs(u_char *p);
static u_char *ngx_omni_stats_client(u_char *p);
static u_char *ngx_omni_stats_delivery(u_char *p);


ngx_omni_stats_t  *ngx_omni_stats;
ngx_omni_stats_pixel_gauges_pt  ngx_omni_stats_pixel_gauges;


#define NGX_OMNI_HOOK_OUTCOME_NAME(id, name)  name,

char  *ngx_omni_hook_outcome_names[NGX_OMNI_HOOK_OUTCOME_N] = {
    NGX_OMNI_HOOK_OUTCOMES(NGX_OMNI_HOOK_OUTCOME_NAME)
};


#define NGX_OMNI_EP_NAME(id, metric)  metric,
#define NGX_OMNI_EP_ROUTE_NAME(methods, pattern, id, metric, handler,       \
                               resource, features, admin_writes)            \
    metric,

static char  *ngx_omni_endpoint_names[NGX_OMNI_EP_N] = {
    NGX_OMNI_ENDPOINTS(NGX_OMNI_EP_NAME)
    NGX_OMNI_API_ROUTES(NGX_OMNI_EP_ROUTE_NAME)
};

/* upper bounds in ms; the last bucket is +Inf */
static ngx_msec_int_t  ngx_omni_latency_bounds[NGX_OMNI_LATENCY_BUCKETS - 1] =
    { 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500 };

static char  *ngx_omni_latency_le[NGX_OMNI_LATENCY_BUCKETS] = {
    "0.001", "0.002", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
    "0.5", "1", "2.5", "+Inf"
};

static char  *ngx_omni_status_classes[6] = {
    "other", "1xx", "2xx", "3xx", "4xx", "5xx"
};


ngx_int_t
ngx_omni_stats_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    if (data) {
        /* a reload keeps the counters running */
        shm_zone->data = data;
        ngx_omni_stats = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        ngx_omni_stats = shpool->data;
        return NGX_OK;
    }

    ngx_omni_stats = ngx_slab_calloc(shpool, sizeof(ngx_omni_stats_t));
    if (ngx_omni_stats == NULL) {
        return NGX_ERROR;
    }

    shpool->data = ngx_omni_stats;
    shm_zone->data = ngx_omni_stats;

    return NGX_OK;
}


ngx_int_t
ngx_omni_stats_init_process(ngx_cycle_t *cycle)
{
    ngx_omni_worker_stats_t  *ws;

    (void) cycle;

    if (ngx_omni_stats == NULL) {
        return NGX_OK;
    }

    ws = &ngx_omni_stats->workers[ngx_worker % NGX_OMNI_STATS_WORKERS];

    ngx_memzero(ws, sizeof(ngx_omni_worker_stats_t));
    ws->pid = ngx_pid;

    ngx_omni_pg_stats = &ws->pg;
    ngx_omni_client_stats = &ngx_omni_stats->client;

    return NGX_OK;
}


void
ngx_omni_stats_request(ngx_uint_t endpoint, ngx_uint_t status,
    ngx_msec_int_t elapsed_ms)
{
    ngx_uint_t                  i, cls, code;
    ngx_omni_endpoint_stats_t  *es;

    if (ngx_omni_stats == NULL || endpoint >= NGX_OMNI_EP_N) {
        return;
    }

    es = &ngx_omni_stats->endpoints[endpoint];

    for (i = 0; i < NGX_OMNI_LATENCY_BUCKETS - 1; i++) {
        if (elapsed_ms <= ngx_omni_latency_bounds[i]) {
            break;
        }
    }

    cls = (status >= 100 && status < 600) ? status / 100 : 0;
    code = (status >= 400 && status < 416) ? status - 400 : 0;

    (void) ngx_atomic_fetch_add(&es->count, 1);
    (void) ngx_atomic_fetch_add(&es->sum_us, elapsed_ms * 1000);
    (void) ngx_atomic_fetch_add(&es->bucket[i], 1);
    (void) ngx_atomic_fetch_add(&es->status[cls], 1);

    if (code) {
        (void) ngx_atomic_fetch_add(&es->codes[code], 1);
    }
}


ngx_int_t
ngx_omni_status_handler(ngx_http_request_t *r)
{
    u_char     *p, *buf;
    size_t      size;
    ngx_str_t   type = ngx_string("text/plain; version=0.0.4");

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_omni_tag(r, NGX_OMNI_EP_STATUS);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_omni_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                   "method_not_allowed",
                                   "The status page is read-only");
    }

    if (ngx_omni_stats == NULL) {
        return ngx_omni_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "unavailable",
                                   "No location of this server uses omni");
    }

    size = NGX_OMNI_EP_N * 6144 + NGX_OMNI_STATS_WORKERS * 1024 + 8192
           + 4096 + NGX_OMNI_STATS_JOBS * 512;

    buf = ngx_pnalloc(r->pool, size);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_omni_stats_requests(buf);
    p = ngx_omni_stats_pixel(p);
    p = ngx_omni_stats_hooks(p);
    p = ngx_omni_stats_pg(p);
    p = ngx_omni_stats_cache(p);
    p = ngx_omni_stats_jobs(p);
    p = ngx_omni_stats_client(p);
    p = ngx_omni_stats_delivery(p);

    r->headers_out.last_modified_time = -1;

    return ngx_omni_send_bytes(r, NGX_HTTP_OK, &type, buf, p - buf, 0);
}


static u_char *
ngx_omni_stats_requests(u_char *p)
{
    ngx_uint_t                  e, i;
    ngx_atomic_uint_t           cumulative;
    ngx_omni_endpoint_stats_t  *es;

    p = ngx_sprintf(p, "# HELP omni_requests_total Requests answered, by "
                       "endpoint and status class.\n"
                       "# TYPE omni_requests_total counter\n");

    for (e = 0; e < NGX_OMNI_EP_N; e++) {
        es = &ngx_omni_stats->endpoints[e];

        for (i = 0; i < 6; i++) {
            if (es->status[i] == 0) {
                continue;
            }

            p = ngx_sprintf(p, "omni_requests_total{endpoint=\"%s\","
                               "status=\"%s\"} %uA\n",
                            ngx_omni_endpoint_names[e],
                            ngx_omni_status_classes[i], es->status[i]);
        }

        for (i = 1; i < 16; i++) {
            if (es->codes[i] == 0) {
                continue;
            }

            p = ngx_sprintf(p, "omni_requests_total{endpoint=\"%s\","
                               "status=\"%ui\"} %uA\n",
                            ngx_omni_endpoint_names[e], 400 + i,
                            es->codes[i]);
        }
    }

    p = ngx_sprintf(p, "# HELP omni_request_duration_seconds Time from "
                       "request to answer, by endpoint.\n"
                       "# TYPE omni_request_duration_seconds histogram\n");

    for (e = 0; e < NGX_OMNI_EP_N; e++) {
        es = &ngx_omni_stats->endpoints[e];

        if (es->count == 0) {
            continue;
        }

        cumulative = 0;

        for (i = 0; i < NGX_OMNI_LATENCY_BUCKETS; i++) {
            cumulative += es->bucket[i];
            p = ngx_sprintf(p, "omni_request_duration_seconds_bucket"
                               "{endpoint=\"%s\",le=\"%s\"} %uA\n",
                            ngx_omni_endpoint_names[e],
                            ngx_omni_latency_le[i], cumulative);
        }

        p = ngx_sprintf(p, "omni_request_duration_seconds_sum"
                           "{endpoint=\"%s\"} %uA.%06uA\n"
                           "omni_request_duration_seconds_count"
                           "{endpoint=\"%s\"} %uA\n",
                        ngx_omni_endpoint_names[e], es->sum_us / 1000000,
                        es->sum_us % 1000000,
                        ngx_omni_endpoint_names[e], es->count);
    }

    return p;
}


static u_char *
ngx_omni_stats_pixel(u_char *p)
{
    uint64_t                 used, capacity, spooled;
    ngx_omni_pixel_stats_t  *ps;

    ps = &ngx_omni_stats->pixel;

    used = 0;
    capacity = 0;
    spooled = 0;

    if (ngx_omni_stats_pixel_gauges) {
        ngx_omni_stats_pixel_gauges(&used, &capacity, &spooled);
    }

    p = ngx_sprintf(p,
        "# TYPE omni_pixel_beacons_total counter\n"
        "omni_pixel_beacons_total{result=\"accepted\"} %uA\n"
        "omni_pixel_beacons_total{result=\"rejected\"} %uA\n"
        "omni_pixel_beacons_total{result=\"unknown_key\"} %uA\n"
        "# TYPE omni_pixel_events_flushed_total counter\n"
        "omni_pixel_events_flushed_total %uA\n"
        "# TYPE omni_pixel_flush_batches_total counter\n"
        "omni_pixel_flush_batches_total %uA\n"
        "# TYPE omni_pixel_flush_errors_total counter\n"
        "omni_pixel_flush_errors_total %uA\n"
        "# TYPE omni_pixel_events_spooled_total counter\n"
        "omni_pixel_events_spooled_total %uA\n"
        "# TYPE omni_pixel_events_replayed_total counter\n"
        "omni_pixel_events_replayed_total %uA\n"
        "# HELP omni_pixel_events_lost_total Accepted events that could be "
        "neither stored nor spooled; must stay 0.\n"
        "# TYPE omni_pixel_events_lost_total counter\n"
        "omni_pixel_events_lost_total %uA\n"
        "# HELP omni_pixel_events_set_aside_total Rows PostgreSQL refused, "
        "kept in the spool directory's rejected-*.rows.\n"
        "# TYPE omni_pixel_events_set_aside_total counter\n"
        "omni_pixel_events_set_aside_total %uA\n"
        "# TYPE omni_pixel_captures_applied_total counter\n"
        "omni_pixel_captures_applied_total %uA\n"
        "# TYPE omni_pixel_flush_lag_max_seconds gauge\n"
        "omni_pixel_flush_lag_max_seconds %uA.%03uA\n"
        "# TYPE omni_pixel_ring_used_bytes gauge\n"
        "omni_pixel_ring_used_bytes %uL\n"
        "# TYPE omni_pixel_ring_capacity_bytes gauge\n"
        "omni_pixel_ring_capacity_bytes %uL\n"
        "# TYPE omni_pixel_spool_bytes gauge\n"
        "omni_pixel_spool_bytes %uL\n",
        ps->beacons_accepted, ps->beacons_rejected, ps->beacons_unknown_key,
        ps->events_flushed, ps->flush_batches, ps->flush_errors,
        ps->events_spooled, ps->events_replayed, ps->events_lost,
        ps->events_set_aside, ps->captures_applied,
        ps->flush_lag_ms_max / 1000, ps->flush_lag_ms_max % 1000,
        used, capacity, spooled);

    return p;
}


static u_char *
ngx_omni_stats_hooks(u_char *p)
{
    ngx_uint_t               i;
    ngx_omni_hooks_stats_t  *hs;

    hs = &ngx_omni_stats->hooks;

    p = ngx_sprintf(p,
        "# HELP omni_hooks_webhooks_total Channel webhooks (POST), by what "
        "they were answered.\n"
        "# TYPE omni_hooks_webhooks_total counter\n"
        "omni_hooks_webhooks_total{result=\"accepted\"} %uA\n"
        "omni_hooks_webhooks_total{result=\"signature\"} %uA\n"
        "omni_hooks_webhooks_total{result=\"body\"} %uA\n"
        "omni_hooks_webhooks_total{result=\"channel\"} %uA\n"
        "omni_hooks_webhooks_total{result=\"busy\"} %uA\n"
        "omni_hooks_webhooks_total{result=\"failed\"} %uA\n"
        "# TYPE omni_hooks_events_total counter\n"
        "omni_hooks_events_total %uA\n"
        "# HELP omni_hooks_commits_total Inserts into the inbox (group "
        "commits); accepted webhooks / commits = webhooks per commit.\n"
        "# TYPE omni_hooks_commits_total counter\n"
        "omni_hooks_commits_total %uA\n"
        "# TYPE omni_hooks_batch_max gauge\n"
        "omni_hooks_batch_max %uA\n"
        "# TYPE omni_hooks_handshakes_total counter\n"
        "omni_hooks_handshakes_total %uA\n"
        "# TYPE omni_inbox_rows_applied_total counter\n"
        "omni_inbox_rows_applied_total %uA\n"
        "# HELP omni_inbox_events_total Inbox events by what the applier "
        "made of them.\n"
        "# TYPE omni_inbox_events_total counter\n",
        hs->accepted, hs->refused_signature, hs->refused_body,
        hs->refused_channel, hs->refused_busy, hs->failed, hs->events,
        hs->commits, hs->batch_max, hs->handshakes, hs->inbox_rows);

    for (i = 0; i < NGX_OMNI_HOOK_OUTCOME_N; i++) {
        p = ngx_sprintf(p, "omni_inbox_events_total{outcome=\"%s\"} %uA\n",
                        ngx_omni_hook_outcome_names[i], hs->applied[i]);
    }

    return p;
}


static u_char *
ngx_omni_stats_pg(u_char *p)
{
    ngx_uint_t                i, k;
    ngx_omni_pg_stats_t      *pg;
    ngx_omni_worker_stats_t  *ws;

    static struct {
        char    *name;
        char    *type;
        size_t   offset;
    } fields[] = {
        { "omni_pg_connections", "gauge",
          offsetof(ngx_omni_pg_stats_t, connections) },
        { "omni_pg_in_use", "gauge", offsetof(ngx_omni_pg_stats_t, busy) },
        { "omni_pg_waiting", "gauge",
          offsetof(ngx_omni_pg_stats_t, waiting) },
        { "omni_pg_errors_total", "counter",
          offsetof(ngx_omni_pg_stats_t, errors) },
        { "omni_pg_timeouts_total", "counter",
          offsetof(ngx_omni_pg_stats_t, timeouts) },
        { "omni_pg_rejected_total", "counter",
          offsetof(ngx_omni_pg_stats_t, rejected) },
        { "omni_pg_schema_stale", "gauge",
          offsetof(ngx_omni_pg_stats_t, schema_stale) }
    };

    for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
        p = ngx_sprintf(p, "# TYPE %s %s\n", fields[k].name, fields[k].type);

        for (i = 0; i < NGX_OMNI_STATS_WORKERS; i++) {
            ws = &ngx_omni_stats->workers[i];

            if (ws->pid == 0) {
                continue;
            }

            pg = &ws->pg;
            p = ngx_sprintf(p, "%s{worker=\"%ui\"} %ui\n", fields[k].name, i,
                            *(ngx_uint_t *) ((u_char *) pg
                                             + fields[k].offset));
        }
    }

    return p;
}


static u_char *
ngx_omni_stats_cache(u_char *p)
{
    ngx_uint_t               k;
    ngx_omni_cache_stats_t  *cs;

    cs = ngx_omni_cache_stats();

    p = ngx_sprintf(p, "# TYPE omni_cache_kind_hits_total counter\n");

    for (k = 0; k < NGX_OMNI_CACHE_KINDS; k++) {
        p = ngx_sprintf(p, "omni_cache_kind_hits_total{kind=\"%s\"} %uA\n",
                        ngx_omni_cache_kind_names[k], cs->kind_hits[k]);
    }

    p = ngx_sprintf(p, "# TYPE omni_cache_kind_misses_total counter\n");

    for (k = 0; k < NGX_OMNI_CACHE_KINDS; k++) {
        p = ngx_sprintf(p,
                        "omni_cache_kind_misses_total{kind=\"%s\"} %uA\n",
                        ngx_omni_cache_kind_names[k], cs->kind_misses[k]);
    }

    return ngx_sprintf(p,
        "# TYPE omni_cache_hits_total counter\n"
        "omni_cache_hits_total %uA\n"
        "# TYPE omni_cache_misses_total counter\n"
        "omni_cache_misses_total %uA\n"
        "# TYPE omni_cache_stale_total counter\n"
        "omni_cache_stale_total %uA\n"
        "# TYPE omni_cache_evictions_total counter\n"
        "omni_cache_evictions_total %uA\n"
        "# TYPE omni_cache_entries gauge\n"
        "omni_cache_entries %uA\n"
        "# TYPE omni_cache_invalidations_total counter\n"
        "omni_cache_invalidations_total %uA\n",
        cs->hits, cs->misses, cs->stale, cs->evictions, cs->entries,
        cs->bumps);
}


/*
 * The runner's jobs, by job.  A lease is held on this host while its
 * holder beats; a job without a lease (every worker runs it) has no
 * lease line.
 */
static u_char *
ngx_omni_stats_jobs(u_char *p)
{
    ngx_uint_t             j, held;
    ngx_time_t            *tp;
    ngx_msec_int_t         beat_age;
    ngx_atomic_uint_t      now, age;
    ngx_omni_job_stats_t  *js;

    tp = ngx_timeofday();
    now = (ngx_atomic_uint_t) tp->sec * 1000 + tp->msec;

    p = ngx_sprintf(p, "# HELP omni_job_runs_total Slices a job ran on "
                       "this host.\n"
                       "# TYPE omni_job_runs_total counter\n");

    for (j = 0; j < NGX_OMNI_STATS_JOBS; j++) {
        js = &ngx_omni_stats->jobs[j];

        if (js->name[0]) {
            p = ngx_sprintf(p, "omni_job_runs_total{job=\"%s\"} %uA\n",
                            js->name, js->runs);
        }
    }

    p = ngx_sprintf(p, "# HELP omni_job_errors_total Slices that failed "
                       "(each one backs the job off).\n"
                       "# TYPE omni_job_errors_total counter\n");

    for (j = 0; j < NGX_OMNI_STATS_JOBS; j++) {
        js = &ngx_omni_stats->jobs[j];

        if (js->name[0]) {
            p = ngx_sprintf(p, "omni_job_errors_total{job=\"%s\"} %uA\n",
                            js->name, js->errors);
        }
    }

    p = ngx_sprintf(p, "# HELP omni_job_lease_held 1 while a worker of "
                       "this host holds the job's lease.\n"
                       "# TYPE omni_job_lease_held gauge\n");

    for (j = 0; j < NGX_OMNI_STATS_JOBS; j++) {
        js = &ngx_omni_stats->jobs[j];

        if (js->name[0] == '\0' || js->stale == 0) {
            continue;
        }

        /*
         * Signed: the holder's clock reading may be a little ahead.  A
         * holder killed a moment ago still has a fresh beat: no process
         * with its pid (ESRCH) is no holder either.
         */
        beat_age = (ngx_msec_int_t) (ngx_current_msec - js->beat);
        held = js->holder != 0
               && beat_age <= (ngx_msec_int_t) js->stale
               && !(kill((ngx_pid_t) js->holder, 0) == -1
                    && ngx_errno == NGX_ESRCH);

        p = ngx_sprintf(p, "omni_job_lease_held{job=\"%s\"} %ui\n",
                        js->name, held);
    }

    p = ngx_sprintf(p, "# HELP omni_job_last_success_age_seconds Time "
                       "since a slice of the job last ended well.\n"
                       "# TYPE omni_job_last_success_age_seconds gauge\n");

    for (j = 0; j < NGX_OMNI_STATS_JOBS; j++) {
        js = &ngx_omni_stats->jobs[j];

        if (js->name[0] == '\0' || js->last_success == 0) {
            continue;
        }

        age = now > js->last_success ? now - js->last_success : 0;

        p = ngx_sprintf(p, "omni_job_last_success_age_seconds{job=\"%s\"} "
                           "%uA.%03uA\n", js->name, age / 1000, age % 1000);
    }

    return p;
}


/* the outbound client (base/ngx_omni_client.c), all its upstreams */
static u_char *
ngx_omni_stats_client(u_char *p)
{
    ngx_uint_t                i;
    ngx_omni_client_stats_t  *cs;

    cs = &ngx_omni_stats->client;

    p = ngx_sprintf(p, "# HELP omni_client_requests_total Requests to "
                       "outside APIs (channels), started.\n"
                       "# TYPE omni_client_requests_total counter\n"
                       "omni_client_requests_total %uA\n"
                       "# HELP omni_client_responses_total Answers, by "
                       "status class.\n"
                       "# TYPE omni_client_responses_total counter\n",
                    cs->requests);

    for (i = 0; i < 6; i++) {
        if (cs->responses[i]) {
            p = ngx_sprintf(p, "omni_client_responses_total{status=\"%s\"} "
                               "%uA\n", ngx_omni_status_classes[i],
                            cs->responses[i]);
        }
    }

    p = ngx_sprintf(p, "# HELP omni_client_errors_total Requests that got "
                       "no answer, by kind.\n"
                       "# TYPE omni_client_errors_total counter\n");

    for (i = 1; i < NGX_OMNI_CLIENT_E_N; i++) {
        p = ngx_sprintf(p, "omni_client_errors_total{kind=\"%s\"} %uA\n",
                        ngx_omni_client_error_name(i), cs->errors[i]);
    }

    return ngx_sprintf(p,
        "# HELP omni_client_connections_total Connections to outside APIs: "
        "opened, or reused from the keep-alive pool.\n"
        "# TYPE omni_client_connections_total counter\n"
        "omni_client_connections_total{how=\"opened\"} %uA\n"
        "omni_client_connections_total{how=\"reused\"} %uA\n"
        "# HELP omni_client_retries_total Requests sent again on a new "
        "connection after a reused one was closed under them.\n"
        "# TYPE omni_client_retries_total counter\n"
        "omni_client_retries_total %uA\n"
        "# TYPE omni_client_tls_resumed_total counter\n"
        "omni_client_tls_resumed_total %uA\n",
        cs->opened, cs->reused, cs->retried, cs->tls_resumed);
}


static u_char *
ngx_omni_stats_delivery(u_char *p)
{
    ngx_omni_delivery_stats_t  *ds;

    ds = &ngx_omni_stats->delivery;

    return ngx_sprintf(p,
        "# HELP omni_outbox_claimed_total Outbox requests claimed for a "
        "send.\n"
        "# TYPE omni_outbox_claimed_total counter\n"
        "omni_outbox_claimed_total %uA\n"
        "# HELP omni_outbox_sends_total Sends by outcome: sent, retry "
        "(due again later), failed (for good).\n"
        "# TYPE omni_outbox_sends_total counter\n"
        "omni_outbox_sends_total{outcome=\"sent\"} %uA\n"
        "omni_outbox_sends_total{outcome=\"retry\"} %uA\n"
        "omni_outbox_sends_total{outcome=\"failed\"} %uA\n",
        ds->claimed, ds->sent, ds->retried, ds->failed);
}
