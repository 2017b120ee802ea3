
/*
 * Channels (team set-up): the brand's connected WhatsApp, Messenger,
 * Instagram and LINE accounts.  Admins connect and change them; secrets go
 * in and never come out.  One channel reads from the shared cache: the
 * webhooks and the outbound path look channels up on every message.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_http.h"
#include "ngx_omni_cache.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_api_kit.h"
#include "ngx_omni_channels.h"
#include "omni_json_shape.h"


#define NGX_OMNI_CHANNEL_JSON_MAX  4096


static ngx_int_t ngx_omni_channel_loaded(ngx_omni_ctx_t *ctx,
    PGresult *res);
static void ngx_omni_channel_key(ngx_omni_ctx_t *ctx, int64_t id,
    u_char *key);
static ngx_int_t ngx_omni_channel_limits(ngx_omni_ctx_t *ctx);


static const omni_json_field_t  ngx_omni_channel_shape[] = {
    { "type",        OMNI_JT_STRING, 1, 32 },
    { "name",        OMNI_JT_STRING, 1, 200 },
    { "credentials", OMNI_JT_OBJECT, 0, 0 },
    { NULL, 0, 0, 0 }
};


/*
 * The longest value of each credential, in bytes: account ids are numbers
 * of at most a few dozen digits, app and channel secrets 32 hex digits,
 * verify tokens the brand's own words, access tokens a few hundred bytes
 * with room to grow.  Which keys a type takes is the database's to say.
 */
static const struct {
    const char  *key;
    size_t       max;
} ngx_omni_credential_max[] = {
    { "phone_number_id",      64 },
    { "page_id",              64 },
    { "ig_user_id",           64 },
    { "app_secret",           256 },
    { "channel_secret",       256 },
    { "verify_token",         256 },
    { "access_token",         4096 },
    { "page_access_token",    4096 },
    { "channel_access_token", 4096 },
};


ngx_int_t
ngx_omni_channels(ngx_omni_ctx_t *ctx)
{
    ngx_str_t  params[2];

    if (ctx->request->method == NGX_HTTP_GET) {
        return ngx_omni_api_list(ctx, NGX_OMNI_STMT_CHANNEL_LIST);
    }

    if (ngx_omni_api_check_body(ctx, ngx_omni_channel_shape,
                                OMNI_JSON_CREATE)
        != NGX_OK
        || ngx_omni_channel_limits(ctx) != NGX_OK)
    {
        return ctx->rc;
    }

    if (ngx_omni_param_tenant(ctx, &params[0]) != NGX_OK
        || ngx_omni_param_json(ctx->request->pool, &params[1], ctx->body)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->status = NGX_HTTP_CREATED;

    return ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_CHANNEL_CREATE, 2,
                                   params, ngx_omni_api_written);
}


ngx_int_t
ngx_omni_channel(ngx_omni_ctx_t *ctx)
{
    u_char     key[16], json[NGX_OMNI_CHANNEL_JSON_MAX], *p;
    size_t     len;
    int64_t    id;
    ngx_str_t  params[3];

    if (ngx_omni_id_params(ctx, params, &id) != NGX_OK) {
        return ctx->rc;
    }

    if (ctx->request->method == NGX_HTTP_GET) {
        ngx_omni_channel_key(ctx, id, key);

        if (ngx_omni_cache_lookup(NGX_OMNI_CACHE_CHANNEL, key, sizeof(key),
                                  json, sizeof(json), &len, &ctx->cache_gen)
            == NGX_OK)
        {
            p = ngx_pnalloc(ctx->request->pool, len);
            if (p == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_memcpy(p, json, len);

            return ngx_omni_send_json(ctx->request, NGX_HTTP_OK, p, len);
        }

        ctx->data = (void *) (intptr_t) id;

        return ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_CHANNEL_GET, 2,
                                       params, ngx_omni_channel_loaded);
    }

    if (ngx_omni_api_check_body(ctx, ngx_omni_channel_shape,
                                OMNI_JSON_UPDATE)
        != NGX_OK
        || ngx_omni_channel_limits(ctx) != NGX_OK)
    {
        return ctx->rc;
    }

    if (ngx_omni_param_json(ctx->request->pool, &params[2], ctx->body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->status = NGX_HTTP_OK;

    return ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_CHANNEL_UPDATE, 3,
                                   params, ngx_omni_api_written);
}


/* a channel from the database goes into the cache for the next reader */
static ngx_int_t
ngx_omni_channel_loaded(ngx_omni_ctx_t *ctx, PGresult *res)
{
    u_char  key[16], json[NGX_OMNI_CHANNEL_JSON_MAX];
    size_t  len;

    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        len = PQgetlength(res, 0, 0);

        if (len + 1 <= NGX_OMNI_CHANNEL_JSON_MAX) {
            ngx_omni_channel_key(ctx, (int64_t) (intptr_t) ctx->data, key);

            /* stored with its newline, as it is sent */
            ngx_memcpy(json, PQgetvalue(res, 0, 0), len);
            json[len] = '\n';

            ngx_omni_cache_store(NGX_OMNI_CACHE_CHANNEL, key, sizeof(key),
                                 ctx->member.tenant_id, ctx->cache_gen,
                                 json, len + 1);
        }
    }

    ctx->status = NGX_HTTP_OK;

    return ngx_omni_api_send_value(ctx, res);
}


/* a credential over its limit is refused before anything is stored */
static ngx_int_t
ngx_omni_channel_limits(ngx_omni_ctx_t *ctx)
{
    json_t      *creds, *v;
    ngx_uint_t   i;

    creds = json_object_get(ctx->body, "credentials");

    for (i = 0; i < sizeof(ngx_omni_credential_max)
                    / sizeof(ngx_omni_credential_max[0]); i++)
    {
        v = json_object_get(creds, ngx_omni_credential_max[i].key);

        if (json_is_string(v)
            && json_string_length(v) > ngx_omni_credential_max[i].max)
        {
            return ngx_omni_fail(ctx, 422, "invalid_credentials",
                                 "Credential \"%s\" is longer than %uz "
                                 "bytes", ngx_omni_credential_max[i].key,
                                 ngx_omni_credential_max[i].max);
        }
    }

    return NGX_OK;
}


/* tenant and channel id: a channel id alone never reaches another tenant */
static void
ngx_omni_channel_key(ngx_omni_ctx_t *ctx, int64_t id, u_char *key)
{
    ngx_memcpy(key, &ctx->member.tenant_id, 8);
    ngx_memcpy(key + 8, &id, 8);
}
