
/*
 * Bot modules: parse, authorize (core/omni_bot's roles), check the
 * module as a whole (core/omni_bot: its type's content and every claimed
 * channel's limits), one statement.  An edit is judged on the module it
 * makes: the stored one read, the request merged in, the result checked
 * and written only if nothing changed it in between (SQL's 409).
 */

#include "ngx_omni_module.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_api_kit.h"
#include "ngx_omni_bot_modules.h"
#include "omni_json_shape.h"
#include "omni_bot.h"


static ngx_int_t ngx_omni_bot_module_check(ngx_omni_ctx_t *ctx,
    json_t *module);
static ngx_int_t ngx_omni_bot_module_merge(ngx_omni_ctx_t *ctx,
    PGresult *res);


static const omni_json_field_t  ngx_omni_bot_module_shape[] = {
    { "name",     OMNI_JT_STRING, 1, 200 },
    { "type",     OMNI_JT_STRING, 1, 32 },
    { "channels", OMNI_JT_ARRAY,  1, OMNI_CHANNEL_N - 1 },
    { "content",  OMNI_JT_OBJECT, 1, 0 },
    { NULL, 0, 0, 0 }
};


ngx_int_t
ngx_omni_bot_modules(ngx_omni_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_str_t            params[3];
    ngx_uint_t           method;
    omni_bot_action_e    action;
    ngx_http_request_t  *r;

    r = ctx->request;
    method = r->method;

    action = (method == NGX_HTTP_GET) ? OMNI_BOT_READ
             : (method == NGX_HTTP_DELETE) ? OMNI_BOT_DELETE : OMNI_BOT_WRITE;

    if (!omni_bot_may(ctx->member.role, action)) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni api: bot module refused to role %d",
                       ctx->member.role);

        return ngx_omni_fail(ctx, NGX_HTTP_FORBIDDEN, "forbidden_role",
                             "Your role may not %s bot modules",
                             action == OMNI_BOT_DELETE ? "delete" : "manage");
    }

    if (ctx->nargs == 0) {
        if (method == NGX_HTTP_GET) {
            return ngx_omni_api_list(ctx, NGX_OMNI_STMT_BOT_MODULE_LIST);
        }

        rc = ngx_omni_api_check_body(ctx, ngx_omni_bot_module_shape,
                                     OMNI_JSON_CREATE);

        if (rc == NGX_OK) {
            rc = ngx_omni_bot_module_check(ctx, ctx->body);
        }

        if (rc != NGX_OK) {
            return rc;
        }

        if (ngx_omni_param_tenant(ctx, &params[0]) != NGX_OK
            || ngx_omni_param_int(r->pool, &params[1],
                                  ctx->member.member_id) != NGX_OK
            || ngx_omni_param_json(r->pool, &params[2], ctx->body) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->status = NGX_HTTP_CREATED;

        return ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_BOT_MODULE_CREATE,
                                       3, params, ngx_omni_api_written);
    }

    rc = ngx_omni_id_params(ctx, params);
    if (rc != NGX_OK) {
        return rc;
    }

    switch (method) {

    case NGX_HTTP_GET:
        return ngx_omni_api_query(ctx, NGX_OMNI_STMT_BOT_MODULE_GET,
                                  NGX_HTTP_OK, 2, params);

    case NGX_HTTP_DELETE:
        ctx->status = NGX_HTTP_OK;

        return ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_BOT_MODULE_DELETE,
                                       2, params, ngx_omni_api_written);

    default:
        rc = ngx_omni_api_check_body(ctx, ngx_omni_bot_module_shape,
                                     OMNI_JSON_UPDATE);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_BOT_MODULE_GET, 2,
                                       params, ngx_omni_bot_module_merge);
    }
}


/* the module as it would be stored: NGX_OK, or answered (422 and kin) */
static ngx_int_t
ngx_omni_bot_module_check(ngx_omni_ctx_t *ctx, json_t *module)
{
    json_t             *type;
    omni_json_error_t   err;

    type = json_object_get(module, "type");

    if (omni_bot_check(json_string_value(type), json_string_length(type),
                       json_object_get(module, "channels"),
                       json_object_get(module, "content"), &err)
        != 0)
    {
        return ngx_omni_fail(ctx, err.status, err.code, "%s", err.message);
    }

    return NGX_OK;
}


/* the stored module, the request's fields over it, checked, written */
static ngx_int_t
ngx_omni_bot_module_merge(ngx_omni_ctx_t *ctx, PGresult *res)
{
    json_t              *module;
    ngx_int_t            rc;
    ngx_str_t            params[3];
    ngx_http_request_t  *r;

    r = ctx->request;

    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        return ngx_omni_fail(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                             "No such resource");
    }

    module = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), 0,
                        NULL);

    if (module == NULL || json_object_update_existing(module, ctx->body)) {
        json_decref(module);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni api: bot module %L merged", ctx->id);

    rc = ngx_omni_bot_module_check(ctx, module);

    if (rc == NGX_OK) {
        if (ngx_omni_param_tenant(ctx, &params[0]) != NGX_OK
            || ngx_omni_param_int(r->pool, &params[1], ctx->id) != NGX_OK
            || ngx_omni_param_json(r->pool, &params[2], module) != NGX_OK)
        {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    json_decref(module);

    if (rc != NGX_OK) {
        return rc;
    }

    ctx->status = NGX_HTTP_OK;

    return ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_BOT_MODULE_UPDATE, 3,
                                   params, ngx_omni_api_written);
}
