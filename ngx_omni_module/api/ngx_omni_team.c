
/*
 * Team set-up: the caller (/me), branches, members and their tokens.
 * Reads are open to every member of the tenant; the router lets only
 * admins write.  Branches and members are plain resources (rows for
 * ngx_omni_crud); a write bumps the tenant's cache generation before it
 * answers, so the caller's next request already sees it (other hosts
 * follow through NOTIFY).
 */

#include <openssl/rand.h>

#include "ngx_omni_module.h"
#include "ngx_omni_cache.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_api_kit.h"
#include "ngx_omni_crud.h"
#include "ngx_omni_team.h"
#include "omni_json_shape.h"


#define NGX_OMNI_TOKEN_BYTES  24


static ngx_int_t ngx_omni_team_token_made(ngx_omni_ctx_t *ctx,
    PGresult *res);


static const omni_json_field_t  ngx_omni_branch_shape[] = {
    { "name",       OMNI_JT_STRING,   1, 200 },
    { NULL, 0, 0, 0 }
};

static const omni_json_field_t  ngx_omni_member_shape[] = {
    { "name",       OMNI_JT_STRING,   1, 200 },
    { "role",       OMNI_JT_ROLE,     1, 0 },
    { "branch_ids", OMNI_JT_ID_ARRAY, 0, OMNI_MAX_BRANCHES },
    { NULL, 0, 0, 0 }
};

/* no body, or an empty object: a token has nothing to choose */
static const omni_json_field_t  ngx_omni_token_shape[] = {
    { NULL, 0, 0, 0 }
};


ngx_omni_crud_t  ngx_omni_team_branches = {
    ngx_omni_branch_shape, NULL,
    NGX_OMNI_STMT_BRANCH_LIST, NGX_OMNI_STMT_BRANCH_CREATE,
    NGX_OMNI_CRUD_NONE, NGX_OMNI_CRUD_NONE, NGX_OMNI_CRUD_NONE,
    NGX_HTTP_CREATED, 1, NGX_OMNI_CRUD_NO_CACHE
};

ngx_omni_crud_t  ngx_omni_team_members = {
    ngx_omni_member_shape, NULL,
    NGX_OMNI_STMT_MEMBER_LIST, NGX_OMNI_STMT_MEMBER_CREATE,
    NGX_OMNI_CRUD_NONE, NGX_OMNI_STMT_MEMBER_UPDATE,
    NGX_OMNI_STMT_MEMBER_DELETE,
    NGX_HTTP_CREATED, 1, NGX_OMNI_CRUD_NO_CACHE
};


ngx_int_t
ngx_omni_team_me(ngx_omni_ctx_t *ctx)
{
    ngx_str_t  params[2];

    if (ngx_omni_param_tenant(ctx, &params[0]) != NGX_OK
        || ngx_omni_param_int(ctx->request->pool, &params[1],
                              ctx->member.member_id) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_omni_api_query(ctx, NGX_OMNI_STMT_ME, NGX_HTTP_OK, 2, params);
}


/*
 * A new token is made here, shown once in the answer and stored only as
 * its SHA-256: the database never holds a usable token.
 */
ngx_int_t
ngx_omni_team_tokens(ngx_omni_ctx_t *ctx)
{
    u_char      *token, raw[NGX_OMNI_TOKEN_BYTES], sha[32];
    u_char      *hex;
    ngx_int_t    rc;
    ngx_str_t    params[3];
    ngx_pool_t  *pool;

    pool = ctx->request->pool;

    if (ctx->body) {
        rc = ngx_omni_api_check_body(ctx, ngx_omni_token_shape,
                                     OMNI_JSON_CREATE);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    rc = ngx_omni_id_params(ctx, params);
    if (rc != NGX_OK) {
        return rc;
    }

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        ngx_log_error(NGX_LOG_ALERT, ctx->request->connection->log, 0,
                      "omni: RAND_bytes() failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    token = ngx_pnalloc(pool, 3 + 2 * NGX_OMNI_TOKEN_BYTES + 1);
    hex = ngx_pnalloc(pool, 2 + 64 + 1);

    if (token == NULL || hex == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(token, "om_", 3);
    ngx_hex_dump(token + 3, raw, sizeof(raw));
    token[3 + 2 * NGX_OMNI_TOKEN_BYTES] = '\0';

    SHA256(token, 3 + 2 * NGX_OMNI_TOKEN_BYTES, sha);

    hex[0] = '\\';
    hex[1] = 'x';
    ngx_hex_dump(hex + 2, sha, sizeof(sha));
    hex[2 + 64] = '\0';

    ctx->secret = token;

    params[2].data = hex;
    params[2].len = 2 + 64;

    return ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_TOKEN_CREATE, 3, params,
                                   ngx_omni_team_token_made);
}


static ngx_int_t
ngx_omni_team_token_made(ngx_omni_ctx_t *ctx, PGresult *res)
{
    u_char  *json;
    size_t   len;
    json_t  *answer;

    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        return ngx_omni_fail(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                             "No such member");
    }

    answer = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(answer, "token", json_string((char *) ctx->secret));

    /* the body slot is freed by the cleanup whatever happens next */
    if (ctx->body) {
        json_decref(ctx->body);
    }

    ctx->body = answer;

    ngx_omni_cache_bump(ctx->member.tenant_id);

    len = json_dumpb(answer, NULL, 0, JSON_COMPACT);
    json = ngx_pnalloc(ctx->request->pool, len + 1);

    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = json_dumpb(answer, (char *) json, len, JSON_COMPACT);
    json[len++] = '\n';

    return ngx_omni_api_answer(ctx, NGX_HTTP_CREATED, json, len);
}
