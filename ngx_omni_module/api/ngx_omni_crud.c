
/*
 * Plain resources: list a tenant's collection by id, create from a body
 * of the row's shape, read, update and delete one item by the path's id.
 * Writes answer what PostgreSQL built and, for data that the shared cache
 * holds, stale the tenant's entries before the caller sees the answer.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_cache.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_api_kit.h"
#include "ngx_omni_crud.h"
#include "omni_json_shape.h"


/* the longest item kept in the shared cache, as it is sent */
#define NGX_OMNI_CRUD_CACHE_MAX  4096


static ngx_uint_t ngx_omni_crud_stmt(ngx_omni_ctx_t *ctx,
    ngx_omni_crud_t *row);
static ngx_int_t ngx_omni_crud_body(ngx_omni_ctx_t *ctx,
    ngx_omni_crud_t *row, ngx_uint_t mode);
static ngx_int_t ngx_omni_crud_read(ngx_omni_ctx_t *ctx,
    ngx_omni_crud_t *row, ngx_uint_t stmt, ngx_str_t *params);
static ngx_int_t ngx_omni_crud_loaded(ngx_omni_ctx_t *ctx, PGresult *res);
static ngx_int_t ngx_omni_crud_write(ngx_omni_ctx_t *ctx,
    ngx_omni_crud_t *row, ngx_uint_t stmt, ngx_uint_t status,
    ngx_uint_t nparams, ngx_str_t *params);
static void ngx_omni_crud_key(ngx_omni_ctx_t *ctx, u_char *key);


ngx_int_t
ngx_omni_crud(ngx_omni_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_str_t            params[3];
    ngx_uint_t           stmt;
    ngx_omni_crud_t     *row;
    ngx_http_request_t  *r;

    r = ctx->request;
    row = ctx->route->resource;

    stmt = ngx_omni_crud_stmt(ctx, row);

    if (stmt == NGX_OMNI_CRUD_NONE) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "omni: route \"%s\" has no statement for %V",
                      ctx->route->pattern, &r->method_name);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->nargs == 0) {
        if (r->method == NGX_HTTP_GET) {
            return ngx_omni_api_list(ctx, stmt);
        }

        rc = ngx_omni_crud_body(ctx, row, OMNI_JSON_CREATE);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ngx_omni_param_tenant(ctx, &params[0]) != NGX_OK
            || ngx_omni_param_json(r->pool, &params[1], ctx->body) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_omni_crud_write(ctx, row, stmt, row->created, 2, params);
    }

    rc = ngx_omni_id_params(ctx, params);
    if (rc != NGX_OK) {
        return rc;
    }

    if (r->method == NGX_HTTP_GET) {
        return ngx_omni_crud_read(ctx, row, stmt, params);
    }

    if (r->method == NGX_HTTP_DELETE) {
        return ngx_omni_crud_write(ctx, row, stmt, NGX_HTTP_OK, 2, params);
    }

    rc = ngx_omni_crud_body(ctx, row, OMNI_JSON_UPDATE);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_omni_param_json(r->pool, &params[2], ctx->body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_omni_crud_write(ctx, row, stmt, NGX_HTTP_OK, 3, params);
}


/* the collection takes GET and POST, an item GET, PATCH and DELETE */
static ngx_uint_t
ngx_omni_crud_stmt(ngx_omni_ctx_t *ctx, ngx_omni_crud_t *row)
{
    switch (ctx->request->method) {

    case NGX_HTTP_GET:
        return ctx->nargs ? row->get : row->list;

    case NGX_HTTP_POST:
        return ctx->nargs ? NGX_OMNI_CRUD_NONE : row->create;

    case NGX_HTTP_PATCH:
        return ctx->nargs ? row->update : NGX_OMNI_CRUD_NONE;

    case NGX_HTTP_DELETE:
        return ctx->nargs ? row->remove : NGX_OMNI_CRUD_NONE;

    default:
        return NGX_OMNI_CRUD_NONE;
    }
}


static ngx_int_t
ngx_omni_crud_body(ngx_omni_ctx_t *ctx, ngx_omni_crud_t *row,
    ngx_uint_t mode)
{
    ngx_int_t  rc;

    rc = ngx_omni_api_check_body(ctx, row->shape, mode);
    if (rc != NGX_OK) {
        return rc;
    }

    if (row->check) {
        return row->check(ctx);
    }

    return NGX_OK;
}


/* an item read: through the shared cache when the row says so */
static ngx_int_t
ngx_omni_crud_read(ngx_omni_ctx_t *ctx, ngx_omni_crud_t *row,
    ngx_uint_t stmt, ngx_str_t *params)
{
    u_char  key[16], json[NGX_OMNI_CRUD_CACHE_MAX], *p;
    size_t  len;

    if (row->cache == NGX_OMNI_CRUD_NO_CACHE) {
        return ngx_omni_api_query(ctx, stmt, NGX_HTTP_OK, 2, params);
    }

    ngx_omni_crud_key(ctx, key);

    if (ngx_omni_cache_lookup(row->cache, key, sizeof(key), json,
                              sizeof(json), &len, &ctx->cache_gen)
        == NGX_OK)
    {
        p = ngx_pnalloc(ctx->request->pool, len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(p, json, len);

        return ngx_omni_api_answer(ctx, NGX_HTTP_OK, p, len);
    }

    return ngx_omni_api_query_with(ctx, stmt, 2, params,
                                   ngx_omni_crud_loaded);
}


/* an item from the database goes into the cache for the next reader */
static ngx_int_t
ngx_omni_crud_loaded(ngx_omni_ctx_t *ctx, PGresult *res)
{
    u_char            key[16];
    ngx_omni_crud_t  *row;

    row = ctx->route->resource;

    ngx_omni_crud_key(ctx, key);

    ctx->status = NGX_HTTP_OK;

    return ngx_omni_api_send_cached(ctx, res, row->cache, key, sizeof(key));
}


/* a write answers what PostgreSQL built, after the bump if cached */
static ngx_int_t
ngx_omni_crud_write(ngx_omni_ctx_t *ctx, ngx_omni_crud_t *row,
    ngx_uint_t stmt, ngx_uint_t status, ngx_uint_t nparams, ngx_str_t *params)
{
    ctx->status = status;

    return ngx_omni_api_query_with(ctx, stmt, nparams, params,
                                   row->bump ? ngx_omni_api_written
                                             : ngx_omni_api_send_value);
}


/* tenant and id: an id alone never reaches another tenant's entry */
static void
ngx_omni_crud_key(ngx_omni_ctx_t *ctx, u_char *key)
{
    ngx_memcpy(key, &ctx->member.tenant_id, 8);
    ngx_memcpy(key + 8, &ctx->id, 8);
}
