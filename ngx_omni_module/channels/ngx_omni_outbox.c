
/*
 * The deliverer, a job of the runner, one per host.  A slice claims due
 * outbox rows (omni_outbox_claim: SKIP LOCKED, each conversation's oldest
 * pending request only, each sending account within its token bucket,
 * the claim's lease moves due_at past the longest a send can take) and
 * starts a send for each through the client; up to IN_FLIGHT sends at
 * once, and the slice ends as soon as they are started.  Each send's end
 * is judged (core/omni_deliver) and recorded by one statement: sent,
 * retry (back-off, the account held after a rate limit) or failed.
 *
 * The at-least-once window: a host that dies between the channel's 2xx
 * and the record's commit leaves the row to be claimed again once its
 * lease expires, and the channel gets it twice.  LINE's X-Line-Retry-Key
 * (made from the row) turns that second send into a "409, accepted
 * already", which counts as sent.
 *
 * Woken by NOTIFY omni_outbox (a message was queued) and a send's end
 * when the claims were limited by the sends in flight; otherwise every
 * second, when retries fall due.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_pg.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_stats.h"
#include "ngx_omni_jobs.h"
#include "ngx_omni_client.h"
#include "ngx_omni_outbox.h"
#include "omni_deliver.h"

#include <ngx_md5.h>


/* sends in flight per host */
#define NGX_OMNI_OUTBOX_IN_FLIGHT       64
/* a message is tried this many times, then failed */
#define NGX_OMNI_OUTBOX_ATTEMPTS        10
/* the lease: the longest send, and this for the record's commit */
#define NGX_OMNI_OUTBOX_LEASE_MARGIN    5000
/* a stopping worker waits this long for sends in flight */
#define NGX_OMNI_OUTBOX_DRAIN           10000
/* a type without omni_channel_api here: another host may have it */
#define NGX_OMNI_OUTBOX_NO_API_DELAY    60000
#define NGX_OMNI_OUTBOX_RETRY_AFTER_MAX 3600000
#define NGX_OMNI_OUTBOX_HOLD_MAX        60000


typedef struct {
    ngx_queue_t                  queue;
    ngx_omni_client_request_t   *request;    /* the send in flight */
    ngx_omni_pg_query_t         *query;      /* its record in flight */
    omni_channel_e               channel;
    ngx_uint_t                   attempts;   /* this one included */
    ngx_str_t                    tenant;
    ngx_str_t                    id;
    u_char                       text[2 * (NGX_INT64_LEN + 1)];
} ngx_omni_outbox_send_t;


static ngx_int_t ngx_omni_outbox_slice(ngx_omni_job_t *job);
static void ngx_omni_outbox_stop(ngx_omni_job_t *job);
static void ngx_omni_outbox_notified(ngx_str_t *channel, ngx_str_t *payload,
    void *data);
static void ngx_omni_outbox_reconnected(ngx_omni_pg_conn_t *pc, void *data);
static void ngx_omni_outbox_claimed(void *data, ngx_int_t rc,
    PGresult *res);
static void ngx_omni_outbox_start(PGresult *res, int row);
static ngx_int_t ngx_omni_outbox_call(ngx_omni_outbox_send_t *send,
    ngx_omni_client_upstream_t *u, json_t *request, char *auth);
static void ngx_omni_outbox_answered(void *data,
    ngx_omni_client_response_t *res);
static ngx_msec_int_t ngx_omni_outbox_retry_after(
    ngx_omni_client_response_t *res);
static void ngx_omni_outbox_record(ngx_omni_outbox_send_t *send,
    omni_deliver_verdict_e verdict, const char *message_id,
    ngx_msec_int_t delay, ngx_msec_int_t hold, json_t *error);
static void ngx_omni_outbox_recorded(void *data, ngx_int_t rc,
    PGresult *res);
static void ngx_omni_outbox_free(ngx_omni_outbox_send_t *send);
static void ngx_omni_outbox_drained(ngx_event_t *ev);


static ngx_omni_job_t         ngx_omni_outbox_job;
static ngx_omni_main_conf_t  *ngx_omni_outbox_conf;
static ngx_msec_t             ngx_omni_outbox_lease;

/* this worker's */
static ngx_queue_t            ngx_omni_outbox_sends;
static ngx_uint_t             ngx_omni_outbox_inflight;
static ngx_uint_t             ngx_omni_outbox_asked;     /* claim's limit */
static ngx_uint_t             ngx_omni_outbox_starved;   /* limit was full */
static ngx_uint_t             ngx_omni_outbox_listening;
static ngx_uint_t             ngx_omni_outbox_stopping;
static ngx_event_t            ngx_omni_outbox_drain;
static ngx_str_t              ngx_omni_outbox_holder;
static ngx_str_t              ngx_omni_outbox_rates;

/* messages a second per sending account: see docs/delivery.md */
static ngx_uint_t  ngx_omni_outbox_default_rate[OMNI_CHANNEL_N] = {
    0, 80, 250, 100, 1000
};


char *
ngx_omni_outbox_channel_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_omni_main_conf_t  *omcf = conf;

    ngx_str_t       *value;
    omni_channel_e   ch;

    value = cf->args->elts;

    ch = omni_channel_parse((char *) value[1].data, value[1].len);

    if (ch == OMNI_CHANNEL_NONE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" takes whatsapp, messenger, instagram or "
                           "line, not \"%V\"", &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    if (omcf->channel_api[ch]) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V %V\" is duplicate", &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    omcf->channel_api[ch] = ngx_omni_client_upstream_add(cf, &omcf->client,
                                                         &value[2]);
    if (omcf->channel_api[ch] == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_omni_outbox_channel_rate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_omni_main_conf_t  *omcf = conf;

    ngx_int_t        n;
    ngx_str_t       *value;
    omni_channel_e   ch;

    value = cf->args->elts;

    ch = omni_channel_parse((char *) value[1].data, value[1].len);
    n = ngx_atoi(value[2].data, value[2].len);

    if (ch == OMNI_CHANNEL_NONE || n == NGX_ERROR || n > 1000000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" takes a channel type and messages a "
                           "second (0: no limit), not \"%V %V\"",
                           &cmd->name, &value[1], &value[2]);
        return NGX_CONF_ERROR;
    }

    if (omcf->channel_rate[ch] != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    omcf->channel_rate[ch] = (ngx_uint_t) n;

    return NGX_CONF_OK;
}


/* the rates as omni_outbox_claim() takes them: {"whatsapp":80,...} */
char *
ngx_omni_outbox_init_conf(ngx_conf_t *cf, void *conf)
{
    ngx_omni_main_conf_t  *omcf = conf;

    u_char      *p;
    ngx_uint_t   ch;

    p = ngx_pnalloc(cf->pool, OMNI_CHANNEL_N * (16 + NGX_INT_T_LEN) + 2);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_omni_outbox_rates.data = p;
    *p++ = '{';

    for (ch = OMNI_CHANNEL_WHATSAPP; ch < OMNI_CHANNEL_N; ch++) {
        if (omcf->channel_rate[ch] == NGX_CONF_UNSET_UINT) {
            omcf->channel_rate[ch] = ngx_omni_outbox_default_rate[ch];
        }

        p = ngx_sprintf(p, "%s\"%s\":%ui", ch == OMNI_CHANNEL_WHATSAPP
                                           ? "" : ",",
                        omni_channel_name(ch), omcf->channel_rate[ch]);
    }

    *p++ = '}';
    ngx_omni_outbox_rates.len = p - ngx_omni_outbox_rates.data;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_omni_outbox_init_module(ngx_cycle_t *cycle)
{
    ngx_uint_t       ch, apis;
    ngx_msec_t       t;
    ngx_omni_job_t  *job;

    ngx_omni_outbox_conf = ngx_http_cycle_get_module_main_conf(cycle,
                                                     ngx_http_omni_module);
    ngx_omni_outbox_lease = 0;
    apis = 0;

    for (ch = OMNI_CHANNEL_WHATSAPP; ch < OMNI_CHANNEL_N; ch++) {
        if (ngx_omni_outbox_conf->channel_api[ch] == NULL) {
            continue;
        }

        apis++;
        t = ngx_omni_client_max_time(ngx_omni_outbox_conf->channel_api[ch]);
        ngx_omni_outbox_lease = ngx_max(ngx_omni_outbox_lease, t);
    }

    /* no channel API here: queued messages wait for a host that has one */
    if (apis == 0) {
        return NGX_OK;
    }

    ngx_omni_outbox_lease += NGX_OMNI_OUTBOX_LEASE_MARGIN;

    job = &ngx_omni_outbox_job;

    ngx_omni_job_init(job, "outbox_delivery", "the outbox deliverer",
                      NGX_OMNI_JOB_ONE_PER_HOST, ngx_omni_outbox_slice);
    job->stop = ngx_omni_outbox_stop;

    return ngx_omni_job_register(cycle, job);
}


void
ngx_omni_outbox_exit_process(ngx_cycle_t *cycle)
{
    ngx_queue_t             *q;
    ngx_omni_outbox_send_t  *send;

    (void) cycle;

    if (ngx_omni_outbox_sends.next == NULL) {
        return;
    }

    while (!ngx_queue_empty(&ngx_omni_outbox_sends)) {
        q = ngx_queue_head(&ngx_omni_outbox_sends);
        send = ngx_queue_data(q, ngx_omni_outbox_send_t, queue);

        if (send->request) {
            ngx_omni_client_cancel(send->request);
        }

        if (send->query) {
            ngx_omni_pg_query_abandon(send->query);
        }

        ngx_omni_outbox_free(send);
    }

    if (ngx_omni_outbox_drain.timer_set) {
        ngx_del_timer(&ngx_omni_outbox_drain);
    }
}


static ngx_int_t
ngx_omni_outbox_slice(ngx_omni_job_t *job)
{
    u_char      *p;
    u_char       limit[NGX_INT_T_LEN], lease[NGX_INT_T_LEN];
    ngx_str_t    params[4];
    ngx_uint_t   free;

    if (ngx_omni_outbox_sends.next == NULL) {
        ngx_queue_init(&ngx_omni_outbox_sends);

        /* who claims, in the rows: host/pid */
        p = ngx_alloc(ngx_cycle->hostname.len + 1 + NGX_INT64_LEN,
                      ngx_cycle->log);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_omni_outbox_holder.data = p;
        ngx_omni_outbox_holder.len = ngx_sprintf(p, "%V/%P",
                                                 &ngx_cycle->hostname,
                                                 ngx_pid) - p;
    }

    if (!ngx_omni_outbox_listening) {
        if (ngx_omni_pg_listen("omni_outbox", ngx_omni_outbox_notified,
                               ngx_omni_outbox_reconnected, NULL, job)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_omni_outbox_listening = 1;
    }

    free = NGX_OMNI_OUTBOX_IN_FLIGHT - ngx_omni_outbox_inflight;

    if (free == 0) {
        /* the end of a send wakes the job */
        ngx_omni_outbox_starved = 1;
        return NGX_OK;
    }

    ngx_omni_outbox_asked = free;

    params[0] = ngx_omni_outbox_holder;
    params[1].data = limit;
    params[1].len = ngx_sprintf(limit, "%ui", free) - limit;
    params[2].data = lease;
    params[2].len = ngx_sprintf(lease, "%M", ngx_omni_outbox_lease) - lease;
    params[3] = ngx_omni_outbox_rates;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni outbox: claiming up to %ui, %ui in flight", free,
                   ngx_omni_outbox_inflight);

    if (ngx_omni_pg_query(NGX_OMNI_STMT_OUTBOX_CLAIM, 4, params,
                          ngx_omni_outbox_claimed, job)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


/*
 * The job stops in this worker (reload, quit): no more claims; sends in
 * flight get NGX_OMNI_OUTBOX_DRAIN to end and be recorded, and the rows
 * of those that don't fall due again after their lease.
 */
static void
ngx_omni_outbox_stop(ngx_omni_job_t *job)
{
    (void) job;

    ngx_omni_outbox_stopping = 1;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni outbox: stop, %ui sends in flight",
                   ngx_omni_outbox_inflight);

    if (ngx_omni_outbox_inflight == 0) {
        return;
    }

    ngx_omni_outbox_drain.handler = ngx_omni_outbox_drained;
    ngx_omni_outbox_drain.log = ngx_cycle->log;
    ngx_omni_outbox_drain.cancelable = 0;

    ngx_add_timer(&ngx_omni_outbox_drain, NGX_OMNI_OUTBOX_DRAIN);
}


static void
ngx_omni_outbox_drained(ngx_event_t *ev)
{
    ngx_uint_t               n;
    ngx_queue_t             *q, *next;
    ngx_omni_outbox_send_t  *send;

    (void) ev;

    n = 0;

    for (q = ngx_queue_head(&ngx_omni_outbox_sends);
         q != ngx_queue_sentinel(&ngx_omni_outbox_sends);
         q = next)
    {
        next = ngx_queue_next(q);
        send = ngx_queue_data(q, ngx_omni_outbox_send_t, queue);

        if (send->request) {
            ngx_omni_client_cancel(send->request);
            send->request = NULL;
            ngx_omni_outbox_free(send);
            n++;
        }
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "omni: outbox: %ui sends still in flight %M ms after the "
                  "stop were given up; their messages go out again after "
                  "their lease", n, (ngx_msec_t) NGX_OMNI_OUTBOX_DRAIN);
}


static void
ngx_omni_outbox_notified(ngx_str_t *channel, ngx_str_t *payload, void *data)
{
    (void) channel;
    (void) payload;

    ngx_omni_job_wake(data);
}


/* notifications sent while the link was down are lost: look now */
static void
ngx_omni_outbox_reconnected(ngx_omni_pg_conn_t *pc, void *data)
{
    (void) pc;

    ngx_omni_job_wake(data);
}


/* rows (tenant_id, id, message_id, channel_id, channel_type, request,
 * auth_value, attempts): a send each */
static void
ngx_omni_outbox_claimed(void *data, ngx_int_t rc, PGresult *res)
{
    int  i, rows;

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "omni: claiming outbox rows failed: %s",
                      res ? PQresultErrorMessage(res) : "no database");
        ngx_omni_job_done(data, NGX_ERROR);
        return;
    }

    rows = PQntuples(res);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni outbox: %d rows claimed", rows);

    (void) ngx_atomic_fetch_add(&ngx_omni_stats->delivery.claimed, rows);

    for (i = 0; i < rows; i++) {
        ngx_omni_outbox_start(res, i);
    }

    /* as many as asked: there may be more, when sends end */
    ngx_omni_outbox_starved = (ngx_uint_t) rows == ngx_omni_outbox_asked;

    ngx_omni_job_done(data, ngx_omni_outbox_starved ? NGX_AGAIN : NGX_OK);
}


static void
ngx_omni_outbox_start(PGresult *res, int row)
{
    char                        *auth;
    json_t                      *request;
    ngx_int_t                    rc;
    ngx_omni_outbox_send_t      *send;
    ngx_omni_client_upstream_t  *u;

    send = ngx_calloc(sizeof(ngx_omni_outbox_send_t), ngx_cycle->log);
    if (send == NULL) {
        /* the row falls due again after its lease */
        return;
    }

    send->tenant.data = send->text;
    send->tenant.len = ngx_min((size_t) PQgetlength(res, row, 0),
                               NGX_INT64_LEN);
    ngx_memcpy(send->tenant.data, PQgetvalue(res, row, 0), send->tenant.len);

    send->id.data = send->text + NGX_INT64_LEN + 1;
    send->id.len = ngx_min((size_t) PQgetlength(res, row, 1), NGX_INT64_LEN);
    ngx_memcpy(send->id.data, PQgetvalue(res, row, 1), send->id.len);

    send->channel = omni_channel_parse(PQgetvalue(res, row, 4),
                                       PQgetlength(res, row, 4));
    send->attempts = ngx_atoi((u_char *) PQgetvalue(res, row, 7),
                              PQgetlength(res, row, 7));

    ngx_queue_insert_tail(&ngx_omni_outbox_sends, &send->queue);
    ngx_omni_outbox_inflight++;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni outbox %V/%V: %s, try %ui", &send->tenant,
                   &send->id, omni_channel_name(send->channel),
                   send->attempts);

    u = ngx_omni_outbox_conf->channel_api[send->channel];

    if (u == NULL) {
        ngx_omni_outbox_record(send, OMNI_DELIVER_RETRY, NULL,
                               NGX_OMNI_OUTBOX_NO_API_DELAY, 0,
                               omni_deliver_error("no_channel_api",
                                   "This host has no omni_channel_api for "
                                   "the channel's type"));
        return;
    }

    if (PQgetisnull(res, row, 6)) {
        ngx_omni_outbox_record(send, OMNI_DELIVER_FAILED, NULL, 0, 0,
                               omni_deliver_error("missing_credential",
                                   "The channel has no credential for "
                                   "this request"));
        return;
    }

    request = json_loadb(PQgetvalue(res, row, 5), PQgetlength(res, row, 5),
                         0, NULL);
    auth = PQgetvalue(res, row, 6);

    rc = ngx_omni_outbox_call(send, u, request, auth);

    json_decref(request);

    if (rc == NGX_DECLINED) {
        ngx_omni_outbox_record(send, OMNI_DELIVER_FAILED, NULL, 0, 0,
                               omni_deliver_error("invalid_request",
                                   "The queued request has no method, "
                                   "path or body"));
        return;
    }

    if (rc != NGX_OK) {
        ngx_omni_outbox_record(send, OMNI_DELIVER_RETRY, NULL,
                               omni_deliver_backoff(send->attempts,
                                                    ngx_random()),
                               0, omni_deliver_error("internal",
                                                     "Out of memory"));
    }
}


/*
 * The request of contract 1: {"method","path","auth","body"} to the
 * type's API base, Bearer the credential; LINE gets a retry key made
 * from the row, the same on every try.  NGX_DECLINED: not such a request.
 */
static ngx_int_t
ngx_omni_outbox_call(ngx_omni_outbox_send_t *send,
    ngx_omni_client_upstream_t *u, json_t *request, char *auth)
{
    char                    *body;
    u_char                  *p, bearer[1024], key[37], md5[16];
    ngx_md5_t                ctx;
    ngx_uint_t               i;
    ngx_keyval_t             headers[3];
    ngx_omni_client_call_t   call;

    call.method.data = (u_char *) json_string_value(json_object_get(request,
                                                                    "method"));
    call.path.data = (u_char *) json_string_value(json_object_get(request,
                                                                  "path"));

    if (call.method.data == NULL || call.path.data == NULL
        || !json_is_object(json_object_get(request, "body"))
        || ngx_strlen(auth) > sizeof(bearer) - sizeof("Bearer "))
    {
        return NGX_DECLINED;
    }

    call.method.len = ngx_strlen(call.method.data);
    call.path.len = ngx_strlen(call.path.data);

    body = json_dumps(json_object_get(request, "body"), JSON_COMPACT);
    if (body == NULL) {
        return NGX_ERROR;
    }

    call.body.data = (u_char *) body;
    call.body.len = ngx_strlen(body);

    ngx_str_set(&headers[0].key, "Authorization");
    headers[0].value.data = bearer;
    headers[0].value.len = ngx_sprintf(bearer, "Bearer %s", auth) - bearer;
    ngx_str_set(&headers[1].key, "Content-Type");
    ngx_str_set(&headers[1].value, "application/json");

    call.headers = headers;
    call.nheaders = 2;

    if (send->channel == OMNI_CHANNEL_LINE) {
        ngx_md5_init(&ctx);
        ngx_md5_update(&ctx, send->tenant.data, send->tenant.len);
        ngx_md5_update(&ctx, ":", 1);
        ngx_md5_update(&ctx, send->id.data, send->id.len);
        ngx_md5_update(&ctx, ":", 1);
        ngx_md5_update(&ctx, call.body.data, call.body.len);
        ngx_md5_final(md5, &ctx);

        /* a UUID's shape: 8-4-4-4-12 hex digits */
        p = key;

        for (i = 0; i < 16; i++) {
            if (i == 4 || i == 6 || i == 8 || i == 10) {
                *p++ = '-';
            }

            p = ngx_sprintf(p, "%02xd", md5[i]);
        }

        ngx_str_set(&headers[2].key, "X-Line-Retry-Key");
        headers[2].value.data = key;
        headers[2].value.len = p - key;
        call.nheaders = 3;
    }

    call.handler = ngx_omni_outbox_answered;
    call.data = send;

    send->request = ngx_omni_client_request(u, &call);

    free(body);

    return send->request ? NGX_OK : NGX_ERROR;
}


/*
 * The channel's answer, or none.  No answer (timeouts, cuts, a refused
 * certificate) is tried again: an operator's fix of a certificate or a
 * resolver resumes delivery.
 */
static void
ngx_omni_outbox_answered(void *data, ngx_omni_client_response_t *res)
{
    char                    *reason;
    ngx_msec_int_t           delay, hold, after;
    omni_deliver_t           d;
    ngx_omni_outbox_send_t  *send;

    send = data;
    send->request = NULL;
    after = -1;

    if (res->error) {
        reason = ngx_calloc(res->reason.len + 1, ngx_cycle->log);
        if (reason) {
            ngx_memcpy(reason, res->reason.data, res->reason.len);
        }

        ngx_memzero(&d, sizeof(omni_deliver_t));
        d.verdict = res->error == NGX_OMNI_CLIENT_E_REQUEST
                    ? OMNI_DELIVER_FAILED : OMNI_DELIVER_RETRY;
        d.error = omni_deliver_error(ngx_omni_client_error_name(res->error),
                                     reason ? reason : "");
        ngx_free(reason);

    } else {
        after = ngx_omni_outbox_retry_after(res);

        if (omni_deliver_judge(send->channel, res->status,
                               (char *) res->body.data, res->body.len,
                               send->channel == OMNI_CHANNEL_LINE
                               && res->status == 409
                               && ngx_omni_client_header(res,
                                      "X-Line-Accepted-Request-Id"),
                               &d)
            < 0)
        {
            ngx_memzero(&d, sizeof(omni_deliver_t));
            d.verdict = OMNI_DELIVER_RETRY;
            d.error = omni_deliver_error("internal", "Out of memory");
        }
    }

    if (d.verdict == OMNI_DELIVER_SENT) {
        ngx_omni_outbox_record(send, OMNI_DELIVER_SENT, d.message_id, 0, 0,
                               NULL);
        return;
    }

    if (d.verdict == OMNI_DELIVER_RETRY
        && send->attempts >= NGX_OMNI_OUTBOX_ATTEMPTS)
    {
        d.verdict = OMNI_DELIVER_FAILED;
    }

    delay = omni_deliver_backoff(send->attempts, ngx_random());

    /* Retry-After, or a rate limit without one: the account waits */
    hold = after >= 0 ? after
           : d.hold ? ngx_min(OMNI_DELIVER_BACKOFF_MIN_MS
                              << ngx_min(send->attempts - 1, 10),
                              NGX_OMNI_OUTBOX_HOLD_MAX)
           : 0;

    delay = ngx_max(delay, hold);

    ngx_omni_outbox_record(send, d.verdict, NULL, delay, hold, d.error);
}


/* Retry-After: seconds, or an HTTP date; -1 when absent or unreadable */
static ngx_msec_int_t
ngx_omni_outbox_retry_after(ngx_omni_client_response_t *res)
{
    time_t      t;
    ngx_str_t  *v;
    ngx_int_t   n;

    v = ngx_omni_client_header(res, "Retry-After");

    if (v == NULL || v->len == 0) {
        return -1;
    }

    n = ngx_atoi(v->data, v->len);

    if (n == NGX_ERROR) {
        t = ngx_parse_http_time(v->data, v->len);
        if (t == NGX_ERROR) {
            return -1;
        }

        n = t > ngx_time() ? t - ngx_time() : 0;
    }

    return n > NGX_OMNI_OUTBOX_RETRY_AFTER_MAX / 1000
           ? NGX_OMNI_OUTBOX_RETRY_AFTER_MAX : (ngx_msec_int_t) n * 1000;
}


/* one statement: sent, retry or failed; takes error's reference */
static void
ngx_omni_outbox_record(ngx_omni_outbox_send_t *send,
    omni_deliver_verdict_e verdict, const char *message_id,
    ngx_msec_int_t delay, ngx_msec_int_t hold, json_t *error)
{
    char        *text;
    u_char       d[NGX_INT_T_LEN], h[NGX_INT_T_LEN];
    ngx_str_t    params[6];
    ngx_uint_t   stmt, n;

    text = error ? json_dumps(error, JSON_COMPACT) : NULL;

    params[0] = send->tenant;
    params[1] = send->id;
    params[2] = ngx_omni_outbox_holder;

    switch (verdict) {

    case OMNI_DELIVER_SENT:
        stmt = NGX_OMNI_STMT_OUTBOX_SENT;
        params[3].data = (u_char *) (message_id && message_id[0]
                                     ? message_id : NULL);
        params[3].len = params[3].data ? ngx_strlen(message_id) : 0;
        n = 4;
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->delivery.sent, 1);
        break;

    case OMNI_DELIVER_RETRY:
        stmt = NGX_OMNI_STMT_OUTBOX_RETRY;
        params[3].data = d;
        params[3].len = ngx_sprintf(d, "%i", (ngx_int_t) delay) - d;
        params[4].data = h;
        params[4].len = ngx_sprintf(h, "%i", (ngx_int_t) hold) - h;
        params[5].data = (u_char *) text;
        params[5].len = text ? ngx_strlen(text) : 0;
        n = 6;
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->delivery.retried, 1);
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "omni: outbox %V/%V: try %ui of %s did not go "
                      "through (%s); again in %i ms",
                      &send->tenant, &send->id, send->attempts,
                      omni_channel_name(send->channel),
                      text ? text : "", (ngx_int_t) delay);
        break;

    default: /* OMNI_DELIVER_FAILED */
        stmt = NGX_OMNI_STMT_OUTBOX_FAILED;
        params[3].data = (u_char *) text;
        params[3].len = text ? ngx_strlen(text) : 0;
        n = 4;
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->delivery.failed, 1);
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "omni: outbox %V/%V: %s message failed after %ui "
                      "tries: %s", &send->tenant, &send->id,
                      omni_channel_name(send->channel), send->attempts,
                      text ? text : "");
        break;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni outbox %V/%V: recording verdict %d", &send->tenant,
                   &send->id, (int) verdict);

    send->query = ngx_omni_pg_query(stmt, n, params,
                                    ngx_omni_outbox_recorded, send);

    if (text) {
        free(text);
    }

    json_decref(error);

    if (send->query == NULL) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "omni: outbox %V/%V: the outcome can't be recorded "
                      "(no database); the message goes out again after "
                      "its lease", &send->tenant, &send->id);
        ngx_omni_outbox_free(send);
    }
}


static void
ngx_omni_outbox_recorded(void *data, ngx_int_t rc, PGresult *res)
{
    ngx_omni_outbox_send_t  *send;

    send = data;
    send->query = NULL;

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "omni: outbox %V/%V: recording the outcome failed: "
                      "%s; the message goes out again after its lease",
                      &send->tenant, &send->id,
                      res ? PQresultErrorMessage(res) : "no database");
    }

    ngx_omni_outbox_free(send);
}


static void
ngx_omni_outbox_free(ngx_omni_outbox_send_t *send)
{
    ngx_queue_remove(&send->queue);
    ngx_omni_outbox_inflight--;
    ngx_free(send);

    if (ngx_omni_outbox_stopping) {
        if (ngx_omni_outbox_inflight == 0
            && ngx_omni_outbox_drain.timer_set)
        {
            ngx_del_timer(&ngx_omni_outbox_drain);
        }

        return;
    }

    /* claims of half the slots at a time, not one claim per send */
    if (ngx_omni_outbox_starved
        && ngx_omni_outbox_inflight <= NGX_OMNI_OUTBOX_IN_FLIGHT / 2)
    {
        ngx_omni_outbox_starved = 0;
        ngx_omni_job_wake(&ngx_omni_outbox_job);
    }
}
