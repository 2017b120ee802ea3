
/*
 * The inbox's applier: accepted webhooks wait in webhook_inbox, durable,
 * until a slice of this job applies a batch of them in one statement
 * (omni_inbox_apply, sql/008): customers found or made by identity,
 * conversations, inbound messages stored once, statuses moved on.
 *
 * A job of the runner on every worker.  The claim (FOR UPDATE SKIP
 * LOCKED, in the applying transaction) keeps workers and hosts apart, so
 * the worker whose commit stored a webhook applies it at once (the hooks
 * wake it), and no lease hand-over ever delays a conversation; the others
 * look once a rest for webhooks that other hosts stored.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_pg.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_stats.h"
#include "ngx_omni_jobs.h"
#include "ngx_omni_inbox.h"


/*
 * Inbox rows (webhooks) a slice applies in one transaction.  A slice that
 * fails (omni_pg_timeout is also the statement's timeout, and a webhook
 * may hold 1000 events) halves the next one, down to one row, so a
 * backlog of heavy webhooks never fails the same way forever; a full
 * batch that went well doubles it back.
 */
#define NGX_OMNI_INBOX_BATCH  100


static ngx_int_t ngx_omni_inbox_slice(ngx_omni_job_t *job);
static void ngx_omni_inbox_applied(void *data, ngx_int_t rc, PGresult *res);
static ngx_int_t ngx_omni_inbox_count(PGresult *res);


static ngx_omni_job_t  ngx_omni_inbox_job;
static ngx_int_t       ngx_omni_inbox_limit = NGX_OMNI_INBOX_BATCH;


ngx_int_t
ngx_omni_inbox_init_module(ngx_cycle_t *cycle)
{
    ngx_omni_job_t  *job;

    job = &ngx_omni_inbox_job;

    ngx_omni_job_init(job, "inbox_apply", "the webhook inbox's applier",
                      NGX_OMNI_JOB_EVERY_WORKER, ngx_omni_inbox_slice);

    return ngx_omni_job_register(cycle, job);
}


void
ngx_omni_inbox_wake(void)
{
    ngx_omni_job_wake(&ngx_omni_inbox_job);
}


static ngx_int_t
ngx_omni_inbox_slice(ngx_omni_job_t *job)
{
    u_char     n[NGX_INT_T_LEN];
    ngx_str_t  param;

    param.data = n;
    param.len = ngx_sprintf(n, "%i", ngx_omni_inbox_limit) - n;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni inbox: claiming up to %i webhooks",
                   ngx_omni_inbox_limit);

    if (ngx_omni_pg_query(NGX_OMNI_STMT_INBOX_APPLY, 1, &param,
                          ngx_omni_inbox_applied, job)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


static void
ngx_omni_inbox_applied(void *data, ngx_int_t rc, PGresult *res)
{
    ngx_int_t  rows;

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "omni: applying up to %i webhooks failed: %s",
                      ngx_omni_inbox_limit,
                      res ? PQresultErrorMessage(res)
                          : (rc == NGX_HTTP_GATEWAY_TIME_OUT ? "timeout"
                                                              : "no database"));

        if (res || rc == NGX_HTTP_GATEWAY_TIME_OUT) {
            ngx_omni_inbox_limit = ngx_max(ngx_omni_inbox_limit / 2, 1);
        }

        ngx_omni_job_done(data, NGX_ERROR);
        return;
    }

    rows = ngx_omni_inbox_count(res);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni inbox: %i webhooks applied", rows);

    if (rows < ngx_omni_inbox_limit) {
        ngx_omni_job_done(data, NGX_OK);
        return;
    }

    /* a full batch: there may be more right behind it */
    ngx_omni_inbox_limit = ngx_min(ngx_omni_inbox_limit * 2,
                                   NGX_OMNI_INBOX_BATCH);

    ngx_omni_job_done(data, NGX_AGAIN);
}


/* {"rows": N, "message": n, "status": n, ...} -> the metrics; N */
static ngx_int_t
ngx_omni_inbox_count(PGresult *res)
{
    json_t                  *counts, *v;
    ngx_int_t                rows;
    ngx_uint_t               i;
    ngx_omni_hooks_stats_t  *hs;

    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        return 0;
    }

    counts = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), 0,
                        NULL);
    if (counts == NULL) {
        return 0;
    }

    hs = &ngx_omni_stats->hooks;
    rows = (ngx_int_t) json_integer_value(json_object_get(counts, "rows"));

    (void) ngx_atomic_fetch_add(&hs->inbox_rows, rows);

    for (i = 0; i < NGX_OMNI_HOOK_OUTCOME_N; i++) {
        v = json_object_get(counts, ngx_omni_hook_outcome_names[i]);

        if (json_is_integer(v)) {
            (void) ngx_atomic_fetch_add(&hs->applied[i],
                                        json_integer_value(v));
        }
    }

    json_decref(counts);

    return rows;
}
