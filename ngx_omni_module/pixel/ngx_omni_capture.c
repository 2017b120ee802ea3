
/*
 * Phone capture, off the hot path: captured phones wait in PostgreSQL
 * (omni_px_captures) until the drainer claims a batch, reads each number
 * with core/omni_phone (the tenant's default region for national forms),
 * and applies them in one statement: WhatsApp identities for the mobiles
 * of SG, MY, ID, HK, MO, a phone attribute for the rest.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_pg.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_stats.h"
#include "ngx_omni_ring.h"
#include "ngx_omni_capture.h"
#include "omni_phone.h"


#define NGX_OMNI_CAPTURE_BATCH     500
#define NGX_OMNI_CAPTURE_INTERVAL  1000


static void ngx_omni_capture_tick(ngx_event_t *ev);
static void ngx_omni_capture_claim(void);
static void ngx_omni_capture_claimed(void *data, ngx_int_t rc,
    PGresult *res);
static void ngx_omni_capture_applied(void *data, ngx_int_t rc,
    PGresult *res);
static void ngx_omni_capture_rest(void);


static ngx_event_t  ngx_omni_capture_timer;
static ngx_uint_t   ngx_omni_capture_busy;
static ngx_uint_t   ngx_omni_capture_again;
static ngx_uint_t   ngx_omni_capture_last;


ngx_int_t
ngx_omni_capture_init_process(ngx_cycle_t *cycle)
{
    ngx_omni_capture_timer.handler = ngx_omni_capture_tick;
    ngx_omni_capture_timer.log = cycle->log;
    ngx_omni_capture_timer.data = &ngx_omni_capture_timer;
    ngx_omni_capture_timer.cancelable = 1;

    ngx_add_timer(&ngx_omni_capture_timer, NGX_OMNI_CAPTURE_INTERVAL);

    return NGX_OK;
}


void
ngx_omni_capture_wake(void)
{
    if (ngx_omni_capture_busy) {
        ngx_omni_capture_again = 1;
        return;
    }

    ngx_omni_capture_claim();
}


static void
ngx_omni_capture_tick(ngx_event_t *ev)
{
    (void) ev;

    /* leftovers (a crash between claim and apply) are claimed again */
    if (!ngx_omni_capture_busy && ngx_omni_ring_lease() == NGX_OK) {
        ngx_omni_capture_claim();
    }

    if (!ngx_exiting) {
        ngx_add_timer(&ngx_omni_capture_timer, NGX_OMNI_CAPTURE_INTERVAL);
    }
}


static void
ngx_omni_capture_claim(void)
{
    u_char     n[NGX_INT_T_LEN];
    ngx_str_t  param;

    param.data = n;
    param.len = ngx_sprintf(n, "%d", NGX_OMNI_CAPTURE_BATCH) - n;

    ngx_omni_capture_again = 0;
    ngx_omni_capture_busy = 1;

    if (ngx_omni_pg_query(NGX_OMNI_STMT_PX_CLAIM, 1, &param,
                          ngx_omni_capture_claimed, NULL)
        == NULL)
    {
        ngx_omni_capture_busy = 0;
    }
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

    (void) data;

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "omni: claiming captured phones failed: %s",
                      res ? PQresultErrorMessage(res) : "no database");
        ngx_omni_capture_rest();
        return;
    }

    rows = PQntuples(res);

    if (rows == 0) {
        ngx_omni_capture_rest();
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
        ngx_omni_capture_rest();
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
                          ngx_omni_capture_applied, NULL)
        == NULL)
    {
        ngx_omni_capture_rest();
    }

    ngx_free(ids);
    ngx_free(e164s);
    ngx_free(kinds);
}


static void
ngx_omni_capture_applied(void *data, ngx_int_t rc, PGresult *res)
{
    (void) data;

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "omni: applying captured phones failed: %s",
                      res ? PQresultErrorMessage(res) : "no database");
        ngx_omni_capture_rest();
        return;
    }

    (void) ngx_atomic_fetch_add(&ngx_omni_stats->pixel.captures_applied,
                                ngx_omni_capture_last);

    /* a full batch: there may be more right behind it */
    if (ngx_omni_capture_last == NGX_OMNI_CAPTURE_BATCH
        || ngx_omni_capture_again)
    {
        ngx_omni_capture_claim();
        return;
    }

    ngx_omni_capture_busy = 0;
}


static void
ngx_omni_capture_rest(void)
{
    ngx_omni_capture_busy = 0;
}
