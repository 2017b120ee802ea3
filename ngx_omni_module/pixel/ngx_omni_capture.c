
/*
 * Phone capture, off the hot path: captured phones wait in PostgreSQL
 * (omni_px_captures) until a slice of this job claims a batch, reads each
 * number with core/omni_phone (the tenant's default region for national
 * forms), and applies them in one statement: WhatsApp identities for the
 * mobiles of SG, MY, ID, HK, MO, a phone attribute for the rest.
 *
 * A job of the runner, one per host: the claim (omni_px_capture_claim,
 * FOR UPDATE SKIP LOCKED) keeps hosts apart, so the work grows with the
 * fleet; leftovers of a crash between claim and apply are claimed again
 * once their claim is a minute old.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_pg.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_stats.h"
#include "ngx_omni_jobs.h"
#include "ngx_omni_capture.h"
#include "omni_phone.h"


#define NGX_OMNI_CAPTURE_BATCH     500


static ngx_int_t ngx_omni_capture_slice(ngx_omni_job_t *job);
static void ngx_omni_capture_claimed(void *data, ngx_int_t rc,
    PGresult *res);
static void ngx_omni_capture_applied(void *data, ngx_int_t rc,
    PGresult *res);


static ngx_omni_job_t  ngx_omni_capture_job;
static ngx_uint_t      ngx_omni_capture_last;


ngx_int_t
ngx_omni_capture_init_module(ngx_cycle_t *cycle)
{
    ngx_omni_job_t  *job;

    job = &ngx_omni_capture_job;

    ngx_omni_job_init(job, "pixel_capture", "the phone capture worker",
                      NGX_OMNI_JOB_ONE_PER_HOST, ngx_omni_capture_slice);

    return ngx_omni_job_register(cycle, job);
}


/* the flusher stored captures: claim them now, not at the next rest's end */
void
ngx_omni_capture_wake(void)
{
    ngx_omni_job_wake(&ngx_omni_capture_job);
}


static ngx_int_t
ngx_omni_capture_slice(ngx_omni_job_t *job)
{
    u_char     n[NGX_INT_T_LEN];
    ngx_str_t  param;

    param.data = n;
    param.len = ngx_sprintf(n, "%d", NGX_OMNI_CAPTURE_BATCH) - n;

    if (ngx_omni_pg_query(NGX_OMNI_STMT_PX_CLAIM, 1, &param,
                          ngx_omni_capture_claimed, job)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


/* rows (id, tenant_id, phone_raw, default_region) -> three arrays */
static void
ngx_omni_capture_claimed(void *data, ngx_int_t rc, PGresult *res)
{
    int            i, rows;
    u_char        *ids, *e164s, *kinds, *pi, *pe, *pk;
    char          *raw;
    ngx_str_t      params[3];
    omni_phone_t   phone;

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "omni: claiming captured phones failed: %s",
                      res ? PQresultErrorMessage(res) : "no database");
        ngx_omni_job_done(data, NGX_ERROR);
        return;
    }

    rows = PQntuples(res);

    if (rows == 0) {
        ngx_omni_job_done(data, NGX_OK);
        return;
    }

    ngx_omni_capture_last = (ngx_uint_t) rows;

    ids = ngx_alloc(rows * (NGX_INT64_LEN + 1) + 2, ngx_cycle->log);
    e164s = ngx_alloc(rows * 19 + 2, ngx_cycle->log);
    kinds = ngx_alloc(rows * 10 + 2, ngx_cycle->log);

    if (ids == NULL || e164s == NULL || kinds == NULL) {
        ngx_free(ids);
        ngx_free(e164s);
        ngx_free(kinds);
        ngx_omni_job_done(data, NGX_ERROR);
        return;
    }

    pi = ngx_cpymem(ids, "{", 1);
    pe = ngx_cpymem(e164s, "{", 1);
    pk = ngx_cpymem(kinds, "{", 1);

    for (i = 0; i < rows; i++) {
        raw = PQgetisnull(res, i, 2) ? "" : PQgetvalue(res, i, 2);

        (void) omni_phone_parse(raw, ngx_strlen(raw), PQgetvalue(res, i, 3),
                                &phone);

        if (i > 0) {
            *pi++ = ',';
            *pe++ = ',';
            *pk++ = ',';
        }

        pi = ngx_cpymem(pi, PQgetvalue(res, i, 0), PQgetlength(res, i, 0));

        /* digits and kind names need no quoting in an array literal */
        if (phone.e164[0]) {
            pe = ngx_sprintf(pe, "%s", phone.e164);

        } else {
            pe = ngx_cpymem(pe, "NULL", 4);
        }

        pk = ngx_sprintf(pk, "%s", omni_phone_kind_name(phone.kind));
    }

    *pi++ = '}';
    *pe++ = '}';
    *pk++ = '}';

    params[0].data = ids;
    params[0].len = pi - ids;
    params[1].data = e164s;
    params[1].len = pe - e164s;
    params[2].data = kinds;
    params[2].len = pk - kinds;

    if (ngx_omni_pg_query(NGX_OMNI_STMT_PX_APPLY, 3, params,
                          ngx_omni_capture_applied, data)
        == NULL)
    {
        ngx_omni_job_done(data, NGX_ERROR);
    }

    ngx_free(ids);
    ngx_free(e164s);
    ngx_free(kinds);
}


static void
ngx_omni_capture_applied(void *data, ngx_int_t rc, PGresult *res)
{
    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "omni: applying captured phones failed: %s",
                      res ? PQresultErrorMessage(res) : "no database");
        ngx_omni_job_done(data, NGX_ERROR);
        return;
    }

    (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.captures_applied,
                                ngx_omni_capture_last);

    /* a full batch: there may be more right behind it */
    ngx_omni_job_done(data, ngx_omni_capture_last == NGX_OMNI_CAPTURE_BATCH
                            ? NGX_AGAIN : NGX_OK);
}
