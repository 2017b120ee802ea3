
/*
 * Who is calling: "Authorization: Bearer TOKEN" -> member, tenant, role,
 * branches, plan.  Tokens are stored as SHA-256 only; the shared cache
 * answers most calls without a query, and a change anywhere (NOTIFY) or a
 * local write makes its entries stale.
 */

#include <openssl/sha.h>

#include "ngx_omni_module.h"
#include "ngx_omni_cache.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_api_kit.h"
#include "ngx_omni_auth.h"


#define NGX_OMNI_TOKEN_MIN  16
#define NGX_OMNI_TOKEN_MAX  128


static ngx_int_t ngx_omni_auth_loaded(ngx_omni_ctx_t *ctx, PGresult *res);
static ngx_int_t ngx_omni_auth_member(ngx_omni_member_t *m, PGresult *res);
static ngx_int_t ngx_omni_auth_refuse(ngx_omni_ctx_t *ctx, const char *code,
    const char *message);
static ngx_int_t ngx_omni_auth_known(ngx_omni_ctx_t *ctx);


ngx_int_t
ngx_omni_auth(ngx_omni_ctx_t *ctx)
{
    size_t               len;
    u_char              *p, *last, hex[2 + 64 + 1];
    ngx_str_t            param;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r;

    r = ctx->request;
    h = r->headers_in.authorization;

    if (h == NULL) {
        return ngx_omni_auth_refuse(ctx, "missing_token",
                                    "An Authorization: Bearer token is "
                                    "required");
    }

    p = h->value.data;
    last = p + h->value.len;

    if (h->value.len < 7 || ngx_strncasecmp(p, (u_char *) "Bearer ", 7) != 0)
    {
        return ngx_omni_auth_refuse(ctx, "invalid_token",
                                    "The Authorization header must be "
                                    "\"Bearer TOKEN\"");
    }

    p += 7;

    while (p < last && *p == ' ') {
        p++;
    }

    ctx->token.data = p;

    for ( /* void */ ; p < last; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
        {
            break;
        }
    }

    ctx->token.len = p - ctx->token.data;

    if (p != last || ctx->token.len < NGX_OMNI_TOKEN_MIN
        || ctx->token.len > NGX_OMNI_TOKEN_MAX)
    {
        return ngx_omni_auth_refuse(ctx, "invalid_token",
                                    "The token is not valid");
    }

    SHA256(ctx->token.data, ctx->token.len, ctx->token_sha256);

    if (ngx_omni_cache_lookup(NGX_OMNI_CACHE_TOKEN, ctx->token_sha256, 32,
                              &ctx->member, sizeof(ngx_omni_member_t), &len,
                              &ctx->cache_gen)
        == NGX_OK && len == sizeof(ngx_omni_member_t))
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni api: token cache hit");

        return ngx_omni_auth_known(ctx);
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni api: token cache miss");

    /* bytea in hex input form */
    hex[0] = '\\';
    hex[1] = 'x';
    ngx_hex_dump(hex + 2, ctx->token_sha256, 32);
    hex[2 + 64] = '\0';

    param.data = hex;
    param.len = 2 + 64;

    return ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_AUTH_TOKEN, 1, &param,
                                   ngx_omni_auth_loaded);
}


/* the router resumes with NGX_OK: the member is known */
static ngx_int_t
ngx_omni_auth_loaded(ngx_omni_ctx_t *ctx, PGresult *res)
{
    if (PQntuples(res) != 1
        || ngx_omni_auth_member(&ctx->member, res) != NGX_OK)
    {
        return ngx_omni_auth_refuse(ctx, "invalid_token",
                                    "The token is not valid");
    }

    ngx_omni_cache_store(NGX_OMNI_CACHE_TOKEN, ctx->token_sha256, 32,
                         ctx->member.tenant_id, ctx->cache_gen,
                         &ctx->member, sizeof(ngx_omni_member_t));

    return ngx_omni_auth_known(ctx);
}


static ngx_int_t
ngx_omni_auth_known(ngx_omni_ctx_t *ctx)
{
    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "omni api: authenticated member %L of tenant %L, "
                   "role %d", ctx->member.member_id, ctx->member.tenant_id,
                   ctx->member.role);

    return NGX_OK;
}


/* one row of omni_auth_token(): member, tenant, role, branches, plan, region */
static ngx_int_t
ngx_omni_auth_member(ngx_omni_member_t *m, PGresult *res)
{
    char  *v, *end;

    ngx_memzero(m, sizeof(ngx_omni_member_t));

    m->member_id = ngx_atoof((u_char *) PQgetvalue(res, 0, 0),
                             PQgetlength(res, 0, 0));
    m->tenant_id = ngx_atoof((u_char *) PQgetvalue(res, 0, 1),
                             PQgetlength(res, 0, 1));
    m->role = omni_role_parse(PQgetvalue(res, 0, 2), PQgetlength(res, 0, 2));
    m->plan = omni_plan_parse_array(PQgetvalue(res, 0, 4),
                                    PQgetlength(res, 0, 4));

    if (m->member_id <= 0 || m->tenant_id <= 0 || m->role == OMNI_ROLE_NONE) {
        return NGX_ERROR;
    }

    /* "{3,7}": branch ids, never quoted */
    v = PQgetvalue(res, 0, 3);

    if (*v == '{') {
        v++;
    }

    while (*v && *v != '}' && m->nbranches < OMNI_MAX_BRANCHES) {
        m->branch_ids[m->nbranches] = strtoll(v, &end, 10);

        if (end == v) {
            break;
        }

        m->nbranches++;
        v = (*end == ',') ? end + 1 : end;
    }

    v = PQgetvalue(res, 0, 5);

    if (PQgetlength(res, 0, 5) == 2) {
        m->default_region[0] = v[0];
        m->default_region[1] = v[1];
    }

    return NGX_OK;
}


static ngx_int_t
ngx_omni_auth_refuse(ngx_omni_ctx_t *ctx, const char *code,
    const char *message)
{
    ngx_http_request_t  *r;

    r = ctx->request;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni api: authentication refused: %s", code);

    if (ctx->hold) {
        /* the guard adds the header if it sends the answer */
        return ngx_omni_fail(ctx, NGX_HTTP_UNAUTHORIZED, code, "%s", message);
    }

    r->headers_out.www_authenticate = ngx_list_push(&r->headers_out.headers);
    if (r->headers_out.www_authenticate == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.www_authenticate->hash = 1;
    ngx_str_set(&r->headers_out.www_authenticate->key, "WWW-Authenticate");
    ngx_str_set(&r->headers_out.www_authenticate->value,
                "Bearer realm=\"omni\"");

    return ngx_omni_fail(ctx, NGX_HTTP_UNAUTHORIZED, code, "%s", message);
}
