
/*
 * The handlers' kit: run a statement and answer with the JSON PostgreSQL
 * built (or its error, mapped to the design's error shape), check bodies,
 * paging and ids, make statement parameters.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_pg.h"
#include "ngx_omni_http.h"
#include "ngx_omni_cache.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_api_kit.h"
#include "omni_json_shape.h"


#define NGX_OMNI_ID_MAX_LEN  18


static void ngx_omni_api_query_done(void *data, ngx_int_t rc,
    PGresult *res);


ngx_int_t
ngx_omni_api_query(ngx_omni_ctx_t *ctx, ngx_uint_t stmt, ngx_uint_t status,
    ngx_uint_t nparams, ngx_str_t *params)
{
    ctx->status = status;

    return ngx_omni_api_query_with(ctx, stmt, nparams, params,
                                   ngx_omni_api_send_value);
}


ngx_int_t
ngx_omni_api_query_with(ngx_omni_ctx_t *ctx, ngx_uint_t stmt,
    ngx_uint_t nparams, ngx_str_t *params, ngx_omni_api_result_pt done)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "omni api: query %V submitted", &ngx_omni_stmts[stmt].name);

    ctx->stmt = stmt;
    ctx->done = done;
    ctx->query = ngx_omni_pg_query(stmt, nparams, params,
                                   ngx_omni_api_query_done, ctx);

    if (ctx->query == NULL) {
        return ngx_omni_api_pg_error(ctx, NGX_HTTP_SERVICE_UNAVAILABLE, NULL);
    }

    return NGX_DONE;
}


static void
ngx_omni_api_query_done(void *data, ngx_int_t rc, PGresult *res)
{
    ngx_omni_ctx_t  *ctx = data;

    ctx->query = NULL;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "omni api: query %V result: rc %i, %i rows",
                   &ngx_omni_stmts[ctx->stmt].name, rc,
                   res ? PQntuples(res) : -1);

    if (rc != NGX_OK) {
        rc = ngx_omni_api_pg_error(ctx, rc, res);

    } else {
        rc = ctx->done(ctx, res);
    }

    ctx->resume(ctx, rc);
}


ngx_int_t
ngx_omni_api_send_value(ngx_omni_ctx_t *ctx, PGresult *res)
{
    return ngx_omni_api_send_cached(ctx, res, 0, NULL, 0);
}


/* the answer, as it is sent, is the cache's entry for the next reader */
ngx_int_t
ngx_omni_api_send_cached(ngx_omni_ctx_t *ctx, PGresult *res, ngx_uint_t kind,
    u_char *key, size_t keylen)
{
    u_char  *json;
    size_t   len;

    if (PQntuples(res) < 1 || PQnfields(res) < 1 || PQgetisnull(res, 0, 0)) {
        return ngx_omni_fail(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                             "No such resource");
    }

    len = PQgetlength(res, 0, 0);

    json = ngx_pnalloc(ctx->request->pool, len + 1);
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(json, PQgetvalue(res, 0, 0), len);
    json[len] = '\n';

    if (key) {
        ngx_omni_cache_store((ngx_omni_cache_kind_e) kind, key, keylen,
                             ctx->member.tenant_id, ctx->cache_gen,
                             json, len + 1);
    }

    return ngx_omni_api_answer(ctx, ctx->status, json, len + 1);
}


ngx_int_t
ngx_omni_api_answer(ngx_omni_ctx_t *ctx, ngx_uint_t status, u_char *json,
    size_t len)
{
    ctx->rc = ngx_omni_send_json(ctx->request, status, json, len);

    return NGX_DONE;
}


/*
 * PostgreSQL's answer to a client's mistake carries SQLSTATE "OM" + the
 * HTTP status (raised by the sql/ functions), the error code as message
 * and a sentence as detail; anything else is ours, logged, and told as a
 * plain 500.
 */
ngx_int_t
ngx_omni_api_pg_error(ngx_omni_ctx_t *ctx, ngx_int_t rc, PGresult *res)
{
    char                *state, *primary, *detail;
    ngx_uint_t           status;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (rc == NGX_HTTP_GATEWAY_TIME_OUT) {
        return ngx_omni_fail(ctx, NGX_HTTP_GATEWAY_TIME_OUT, "timeout",
                             "The database did not answer in time");
    }

    if (rc == NGX_HTTP_SERVICE_UNAVAILABLE || res == NULL) {
        if (ngx_omni_pg_stats->schema_stale) {
            return ngx_omni_fail(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "schema_outdated",
                                 "The database schema is older than "
                                 "this server; run the migrations");
        }

        return ngx_omni_fail(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                             "database_unavailable",
                             "The database is busy or unreachable; "
                             "retry shortly");
    }

    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

    if (state == NULL) {
        state = "XX000";
    }

    if (primary == NULL) {
        primary = "";
    }

    if (state[0] == 'O' && state[1] == 'M') {
        status = ngx_atoi((u_char *) state + 2, 3);

        if (status >= 400 && status <= 599) {
            return ngx_omni_fail(ctx, status, primary, "%s",
                                 detail ? detail : primary);
        }
    }

    if (ngx_strncmp(state, "23505", 5) == 0) {
        return ngx_omni_fail(ctx, NGX_HTTP_CONFLICT, "conflict",
                             "It already exists");
    }

    if (ngx_strncmp(state, "23503", 5) == 0) {
        return ngx_omni_fail(ctx, 422, "invalid_reference",
                             "It refers to something that does not "
                             "exist");
    }

    /*
     * Class 22 (data exception) is a value PostgreSQL could not take: a
     * time or a text the client sent.  It is the client's 400, noted at
     * "info" so that one of ours still shows in the log.  Other classes
     * (0A000 feature not supported among them) stay faults of ours: an
     * input that reaches one is refused by its function before it can.
     */
    if (state[0] == '2' && state[1] == '2') {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "omni: query for \"%V\" refused a value: %s %s",
                      &r->uri, state, primary);

        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST,
                             "invalid_parameter",
                             "A parameter is not valid: %s", primary);
    }

    if (ngx_strncmp(state, "57014", 5) == 0) {
        return ngx_omni_fail(ctx, NGX_HTTP_GATEWAY_TIME_OUT, "timeout",
                             "The database did not answer in time");
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "omni: query for \"%V\" failed: %s %s",
                  &r->uri, state, primary);

    return ngx_omni_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                         "internal_error",
                         "The server failed to answer this request");
}


ngx_int_t
ngx_omni_fail(ngx_omni_ctx_t *ctx, ngx_uint_t status, const char *code,
    const char *fmt, ...)
{
    u_char   *p, msg[512];
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
    va_end(args);

    if (ctx->hold) {
        /* code may live in a PGresult, freed once this returns */
        ctx->fail_status = status;
        ctx->fail_code.len = ngx_strlen(code);
        ctx->fail_message.len = p - msg;
        ctx->fail_code.data = ngx_pnalloc(ctx->request->pool,
                                          ctx->fail_code.len + 1
                                          + ctx->fail_message.len);
        if (ctx->fail_code.data == NULL) {
            ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_DONE;
        }

        /* the code NUL-terminated, as ngx_omni_send_error() takes it */
        ctx->fail_message.data = ngx_cpymem(ctx->fail_code.data, code,
                                            ctx->fail_code.len + 1);
        ngx_memcpy(ctx->fail_message.data, msg, ctx->fail_message.len);
        ctx->rc = status;

        return NGX_DONE;
    }

    ctx->rc = ngx_omni_send_error(ctx->request, status, code, "%*s",
                                  (size_t) (p - msg), msg);

    return NGX_DONE;
}


ngx_int_t
ngx_omni_api_check_body(ngx_omni_ctx_t *ctx, const void *fields,
    ngx_uint_t mode)
{
    omni_json_error_t  err;

    if (ctx->body == NULL) {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_body",
                             "A JSON object body is required");
    }

    if (omni_json_shape_check(ctx->body, fields, (int) mode, &err) != 0) {
        return ngx_omni_fail(ctx, err.status, err.code, "%s", err.message);
    }

    return NGX_OK;
}


/* ?cursor=C&per_page=N; the cursor is opaque here, SQL checks it */
ngx_int_t
ngx_omni_page_args(ngx_omni_ctx_t *ctx, ngx_str_t *cursor,
    ngx_str_t *per_page, ngx_uint_t max)
{
    ngx_int_t            n;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ngx_omni_arg(r, "cursor", cursor) == NGX_ERROR
        || ngx_omni_arg(r, "per_page", per_page) == NGX_ERROR)
    {
        return ngx_omni_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                             "internal_error", "Out of memory");
    }

    if (cursor->data && cursor->len == 0) {
        cursor->data = NULL;
    }

    if (per_page->data == NULL) {
        if (ngx_omni_param_int(r->pool, per_page, (int64_t) ngx_min(50, max))
            != NGX_OK)
        {
            return ngx_omni_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "Out of memory");
        }

        return NGX_OK;
    }

    n = ngx_atoi(per_page->data, per_page->len);

    if (n < 1 || (ngx_uint_t) n > max) {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_parameter",
                             "per_page must be a whole number from 1 to %ui",
                             max);
    }

    return NGX_OK;
}


/*
 * params[0] = the caller's tenant, params[1] = the path's id: the first
 * two parameters of every statement about one thing of the tenant.
 */
ngx_int_t
ngx_omni_id_params(ngx_omni_ctx_t *ctx, ngx_str_t *params)
{
    ngx_int_t  rc;

    rc = ngx_omni_arg_id(ctx, &ctx->args[0], &ctx->id);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_omni_param_tenant(ctx, &params[0]) != NGX_OK
        || ngx_omni_param_int(ctx->request->pool, &params[1], ctx->id)
           != NGX_OK)
    {
        return ngx_omni_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                             "internal_error", "Out of memory");
    }

    return NGX_OK;
}


/* a write of cached data is committed: stale caches here first, then answer */
ngx_int_t
ngx_omni_api_written(ngx_omni_ctx_t *ctx, PGresult *res)
{
    ngx_omni_cache_bump(ctx->member.tenant_id);

    return ngx_omni_api_send_value(ctx, res);
}


/* a tenant's list paged by id: fn(tenant, cursor, per_page) */
ngx_int_t
ngx_omni_api_list(ngx_omni_ctx_t *ctx, ngx_uint_t stmt)
{
    ngx_int_t  rc;
    ngx_str_t  params[3];

    rc = ngx_omni_page_args(ctx, &params[1], &params[2], 200);

    if (rc == NGX_OK) {
        rc = ngx_omni_cursor_id(ctx, &params[1]);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_omni_param_tenant(ctx, &params[0]) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_omni_api_query(ctx, stmt, NGX_HTTP_OK, 3, params);
}


/* a cursor of a list paged by id is the last id seen */
ngx_int_t
ngx_omni_cursor_id(ngx_omni_ctx_t *ctx, ngx_str_t *cursor)
{
    if (cursor->data
        && (cursor->len > NGX_OMNI_ID_MAX_LEN
            || ngx_atoof(cursor->data, cursor->len) == NGX_ERROR))
    {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_cursor",
                             "The cursor is not one this list gave out");
    }

    return NGX_OK;
}


ngx_int_t
ngx_omni_arg_id(ngx_omni_ctx_t *ctx, ngx_str_t *arg, int64_t *id)
{
    /* the router let only digits through; a huge one is just not found */
    if (arg->len > NGX_OMNI_ID_MAX_LEN) {
        return ngx_omni_fail(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                             "No such resource");
    }

    *id = ngx_atoof(arg->data, arg->len);

    if (*id <= 0) {
        return ngx_omni_fail(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                             "No such resource");
    }

    return NGX_OK;
}


ngx_int_t
ngx_omni_param_int(ngx_pool_t *pool, ngx_str_t *p, int64_t v)
{
    p->data = ngx_pnalloc(pool, NGX_INT64_LEN + 1);
    if (p->data == NULL) {
        return NGX_ERROR;
    }

    p->len = ngx_sprintf(p->data, "%L", v) - p->data;
    p->data[p->len] = '\0';

    return NGX_OK;
}


ngx_int_t
ngx_omni_param_tenant(ngx_omni_ctx_t *ctx, ngx_str_t *p)
{
    return ngx_omni_param_int(ctx->request->pool, p, ctx->member.tenant_id);
}


ngx_int_t
ngx_omni_param_json(ngx_pool_t *pool, ngx_str_t *p, json_t *v)
{
    size_t  len;

    len = json_dumpb(v, NULL, 0, JSON_COMPACT);
    if (len == 0) {
        return NGX_ERROR;
    }

    p->data = ngx_pnalloc(pool, len + 1);
    if (p->data == NULL) {
        return NGX_ERROR;
    }

    p->len = json_dumpb(v, (char *) p->data, len, JSON_COMPACT);
    p->data[p->len] = '\0';

    return NGX_OK;
}

