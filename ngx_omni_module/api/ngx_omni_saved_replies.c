
/*
 * Saved replies (SPEC §2, §7).  Who may give what is the seed's table in
 * core/omni_reply_rules; an edit is judged as the create of the reply it
 * would leave, so it is merged here from the reply as read, judged, and
 * written whole unless the reply changed meanwhile.  References (media,
 * bot modules, branches) and where a reply can be sent (usable_on) are
 * the database's (sql/014).
 *
 * The list is an agent console's most frequent call: its answers are
 * kept in the shared cache per member and query, each entry stamped with
 * its tenant's generation, so that a change of a reply, a member, a
 * branch or a bot module (a local write, or NOTIFY from any host) makes
 * them stale.  Per member, since what a member sees depends on who they
 * are (their own replies, whatever their permission), not only on their
 * role and branches.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_http.h"
#include "ngx_omni_cache.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_api_kit.h"
#include "ngx_omni_saved_replies.h"
#include "omni_json_shape.h"
#include "omni_reply_rules.h"


#define NGX_OMNI_REPLY_PAGE        100
#define NGX_OMNI_REPLY_ITEMS_MAX   10
#define NGX_OMNI_REPLY_TEXT_MAX    4096
#define NGX_OMNI_REPLY_Q_MAX       64
#define NGX_OMNI_REPLY_BRANCHES    100


static ngx_int_t ngx_omni_reply_filters(ngx_omni_ctx_t *ctx,
    ngx_str_t *params);
static ngx_int_t ngx_omni_reply_listed(ngx_omni_ctx_t *ctx, PGresult *res);
static ngx_int_t ngx_omni_reply_read(ngx_omni_ctx_t *ctx,
    ngx_omni_api_result_pt done);
static ngx_int_t ngx_omni_reply_edit(ngx_omni_ctx_t *ctx, PGresult *res);
static ngx_int_t ngx_omni_reply_remove(ngx_omni_ctx_t *ctx, PGresult *res);
static json_t *ngx_omni_reply_current(ngx_omni_ctx_t *ctx, PGresult *res,
    omni_reply_action_e action);
static json_t *ngx_omni_reply_merge(json_t *current, json_t *patch);
static ngx_int_t ngx_omni_reply_judge(ngx_omni_ctx_t *ctx, json_t *reply,
    ngx_str_t *param);
static ngx_int_t ngx_omni_reply_items(ngx_omni_ctx_t *ctx, json_t *items);
static ngx_int_t ngx_omni_reply_permission(ngx_omni_ctx_t *ctx,
    json_t *perm, omni_reply_grant_t *grant, int64_t *branches,
    json_t **out);
static ngx_int_t ngx_omni_reply_param_text(ngx_omni_ctx_t *ctx,
    ngx_str_t *p, json_t *v);
static void ngx_omni_reply_manage_all(ngx_omni_ctx_t *ctx, ngx_str_t *p);


static const omni_json_field_t  ngx_omni_reply_shape[] = {
    { "title",         OMNI_JT_STRING, 1, 200 },
    { "shortcut",      OMNI_JT_STRING, 0, 64 },
    { "kind",          OMNI_JT_STRING, 1, 16 },
    { "items",         OMNI_JT_ARRAY,  0, NGX_OMNI_REPLY_ITEMS_MAX },
    { "bot_module_id", OMNI_JT_ID,     0, 0 },
    { "permission",    OMNI_JT_OBJECT, 1, 0 },
    { NULL, 0, 0, 0 }
};


/* the channel types a list can be filtered by (channels' types) */
static char  *ngx_omni_reply_channel_types[] = {
    "whatsapp", "messenger", "instagram", "line", "webchat", NULL
};


/*
 * GET /saved-replies: params tenant, member, manage_all, channel,
 * conversation, q, cursor, per_page
 */
ngx_int_t
ngx_omni_saved_replies_list(ngx_omni_ctx_t *ctx)
{
    u_char              *p;
    ngx_int_t            rc;
    ngx_str_t            params[8], page;
    ngx_http_request_t  *r;

    r = ctx->request;

    rc = ngx_omni_reply_filters(ctx, params);
    if (rc != NGX_OK) {
        return rc;
    }

    /* what changes the answer: who asks, and every parameter */
    ctx->cache_key.data = ngx_pnalloc(r->pool, NGX_INT64_LEN * 2 + 32
                                      + params[3].len + params[4].len
                                      + params[5].len + params[6].len
                                      + params[7].len);
    if (ctx->cache_key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(ctx->cache_key.data, "%L|%V|%V|%V|%V|%V|%V",
                    ctx->member.member_id, &params[2], &params[3],
                    &params[4], &params[6], &params[7], &params[5]);
    ctx->cache_key.len = p - ctx->cache_key.data;

    rc = ngx_omni_cache_get(NGX_OMNI_CACHE_REPLY_PAGE, ctx->cache_key.data,
                            ctx->cache_key.len, r->pool, &page,
                            &ctx->cache_gen);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni api: saved replies page \"%V\" %s",
                   &ctx->cache_key, rc == NGX_OK ? "cached" : "not cached");

    if (rc == NGX_OK) {
        return ngx_omni_api_answer(ctx, NGX_HTTP_OK, page.data, page.len);
    }

    ctx->status = NGX_HTTP_OK;

    return ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_SAVED_REPLY_LIST, 8,
                                   params, ngx_omni_reply_listed);
}


ngx_int_t
ngx_omni_saved_replies_get(ngx_omni_ctx_t *ctx)
{
    ctx->status = NGX_HTTP_OK;

    return ngx_omni_reply_read(ctx, ngx_omni_api_send_value);
}


ngx_int_t
ngx_omni_saved_replies_create(ngx_omni_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  params[3];

    rc = ngx_omni_api_check_body(ctx, ngx_omni_reply_shape,
                                 OMNI_JSON_CREATE);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_omni_reply_judge(ctx, ctx->body, &params[2]);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_omni_param_tenant(ctx, &params[0]) != NGX_OK
        || ngx_omni_param_int(ctx->request->pool, &params[1],
                              ctx->member.member_id) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->status = NGX_HTTP_CREATED;

    return ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_SAVED_REPLY_CREATE, 3,
                                   params, ngx_omni_api_written);
}


ngx_int_t
ngx_omni_saved_replies_update(ngx_omni_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_omni_api_check_body(ctx, ngx_omni_reply_shape,
                                 OMNI_JSON_UPDATE);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_omni_reply_read(ctx, ngx_omni_reply_edit);
}


ngx_int_t
ngx_omni_saved_replies_delete(ngx_omni_ctx_t *ctx)
{
    return ngx_omni_reply_read(ctx, ngx_omni_reply_remove);
}


/* ?channel=, ?conversation_id=, ?q=, ?cursor=, ?per_page= into params */
static ngx_int_t
ngx_omni_reply_filters(ngx_omni_ctx_t *ctx, ngx_str_t *params)
{
    char               **t;
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = ctx->request;

    rc = ngx_omni_page_args(ctx, &params[6], &params[7],
                            NGX_OMNI_REPLY_PAGE);

    if (rc == NGX_OK) {
        rc = ngx_omni_cursor_id(ctx, &params[6]);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_omni_arg(r, "channel", &params[3]) == NGX_ERROR
        || ngx_omni_arg(r, "conversation_id", &params[4]) == NGX_ERROR
        || ngx_omni_arg(r, "q", &params[5]) == NGX_ERROR)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (params[3].data) {
        for (t = ngx_omni_reply_channel_types; *t; t++) {
            if (params[3].len == ngx_strlen(*t)
                && ngx_strncmp(params[3].data, *t, params[3].len) == 0)
            {
                break;
            }
        }

        if (*t == NULL) {
            return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST,
                                 "invalid_parameter",
                                 "channel must be a channel type: "
                                 "whatsapp, messenger, instagram, line or "
                                 "webchat");
        }
    }

    if (params[4].data
        && (params[4].len == 0 || params[4].len > 18
            || ngx_atoof(params[4].data, params[4].len) <= 0))
    {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_parameter",
                             "conversation_id must be an id (a positive "
                             "whole number)");
    }

    if (params[5].data && params[5].len == 0) {
        params[5].data = NULL;
    }

    if (params[5].data
        && (params[5].len > NGX_OMNI_REPLY_Q_MAX
            || ngx_strlchr(params[5].data, params[5].data + params[5].len,
                           '\0')
            || omni_utf8_cut((char *) params[5].data, params[5].len,
                             params[5].len) != params[5].len))
    {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_parameter",
                             "q must be a text of at most %d bytes",
                             NGX_OMNI_REPLY_Q_MAX);
    }

    if (ngx_omni_param_tenant(ctx, &params[0]) != NGX_OK
        || ngx_omni_param_int(r->pool, &params[1], ctx->member.member_id)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_omni_reply_manage_all(ctx, &params[2]);

    return NGX_OK;
}


/* the page as PostgreSQL built it: kept for the next ask, and answered */
static ngx_int_t
ngx_omni_reply_listed(ngx_omni_ctx_t *ctx, PGresult *res)
{
    return ngx_omni_api_send_cached(ctx, res, NGX_OMNI_CACHE_REPLY_PAGE,
                                    ctx->cache_key.data, ctx->cache_key.len);
}


/* an edit or a delete reads the reply first, as the caller may see it */
static ngx_int_t
ngx_omni_reply_read(ngx_omni_ctx_t *ctx, ngx_omni_api_result_pt done)
{
    ngx_int_t  rc;
    ngx_str_t  params[4];

    rc = ngx_omni_id_params(ctx, &params[2]);
    if (rc != NGX_OK) {
        return rc;
    }

    /* params: tenant, member, manage_all, id */
    params[0] = params[2];
    ngx_omni_reply_manage_all(ctx, &params[2]);

    if (ngx_omni_param_int(ctx->request->pool, &params[1],
                           ctx->member.member_id) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_SAVED_REPLY_GET, 4,
                                   params, done);
}


static ngx_int_t
ngx_omni_reply_edit(ngx_omni_ctx_t *ctx, PGresult *res)
{
    json_t     *current, *merged;
    ngx_int_t   rc;
    ngx_str_t   params[4];

    current = ngx_omni_reply_current(ctx, res, OMNI_REPLY_EDIT);
    if (current == NULL) {
        return NGX_DONE;
    }

    rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    merged = ngx_omni_reply_merge(current, ctx->body);

    if (merged == NULL) {
        goto done;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "omni api: saved reply %L edited, judged as a create",
                   ctx->id);

    rc = ngx_omni_reply_judge(ctx, merged, &params[2]);
    if (rc != NGX_OK) {
        goto done;
    }

    /* params: tenant, id, the reply whole, its updated_at as read */
    if (ngx_omni_param_tenant(ctx, &params[0]) != NGX_OK
        || ngx_omni_param_int(ctx->request->pool, &params[1], ctx->id)
           != NGX_OK
        || ngx_omni_reply_param_text(ctx, &params[3],
                                     json_object_get(current, "updated_at"))
           != NGX_OK)
    {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    ctx->status = NGX_HTTP_OK;
    rc = ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_SAVED_REPLY_UPDATE, 4,
                                 params, ngx_omni_api_written);

done:

    json_decref(merged);
    json_decref(current);

    return rc;
}


static ngx_int_t
ngx_omni_reply_remove(ngx_omni_ctx_t *ctx, PGresult *res)
{
    json_t     *current;
    ngx_int_t   rc;
    ngx_str_t   params[3];

    current = ngx_omni_reply_current(ctx, res, OMNI_REPLY_DELETE);
    if (current == NULL) {
        return NGX_DONE;
    }

    /* params: tenant, id, its updated_at as read */
    if (ngx_omni_param_tenant(ctx, &params[0]) != NGX_OK
        || ngx_omni_param_int(ctx->request->pool, &params[1], ctx->id)
           != NGX_OK
        || ngx_omni_reply_param_text(ctx, &params[2],
                                     json_object_get(current, "updated_at"))
           != NGX_OK)
    {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        ctx->status = NGX_HTTP_OK;
        rc = ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_SAVED_REPLY_DELETE,
                                     3, params, ngx_omni_api_written);
    }

    json_decref(current);

    return rc;
}


/*
 * The reply as read, if the caller may do the action on it; NULL with the
 * refusal answered (404 when the caller does not see it at all).
 */
static json_t *
ngx_omni_reply_current(ngx_omni_ctx_t *ctx, PGresult *res,
    omni_reply_action_e action)
{
    int                    owner;
    json_t                *current, *v;
    json_error_t           jerr;
    omni_reply_refusal_t   why;

    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        (void) ngx_omni_fail(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                             "Saved reply %L does not exist", ctx->id);
        return NULL;
    }

    current = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), 0,
                         &jerr);
    if (current == NULL) {
        (void) ngx_omni_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                             "internal_error", "The reply could not be read");
        return NULL;
    }

    v = json_object_get(current, "owner_member_id");
    owner = json_is_integer(v)
            && json_integer_value(v) == ctx->member.member_id;

    if (omni_reply_may_manage(ctx->member.role, action, owner, &why) != 0) {
        (void) ngx_omni_fail(ctx, NGX_HTTP_FORBIDDEN, why.code, "%s",
                             why.message);
        json_decref(current);
        return NULL;
    }

    return current;
}


/*
 * The reply an edit would leave: the fields it gives over those read.  A
 * kind changed to bot drops the items, to custom the bot module, unless
 * the edit gives them (and is then refused as a create would be).
 */
static json_t *
ngx_omni_reply_merge(json_t *current, json_t *patch)
{
    json_t      *merged, *v;
    const char  *key;

    merged = json_object();
    if (merged == NULL) {
        return NULL;
    }

    json_object_foreach(current, key, v) {
        if (ngx_strcmp(key, "title") == 0 || ngx_strcmp(key, "kind") == 0
            || ngx_strcmp(key, "items") == 0
            || ngx_strcmp(key, "permission") == 0
            || ((ngx_strcmp(key, "shortcut") == 0
                 || ngx_strcmp(key, "bot_module_id") == 0)
                && !json_is_null(v)))
        {
            if (json_object_set(merged, key, v) != 0) {
                json_decref(merged);
                return NULL;
            }
        }
    }

    v = json_object_get(patch, "kind");

    if (v && json_object_get(patch, "items") == NULL) {
        (void) json_object_del(merged, "items");
    }

    if (v && json_object_get(patch, "bot_module_id") == NULL) {
        (void) json_object_del(merged, "bot_module_id");
    }

    if (json_object_update(merged, patch) != 0) {
        json_decref(merged);
        return NULL;
    }

    return merged;
}


/*
 * A reply whole (a create, or an edit merged): its rules, then the seed's
 * table for this caller; *param the reply as the database stores it.
 * NGX_OK, or NGX_DONE with the refusal answered.
 */
static ngx_int_t
ngx_omni_reply_judge(ngx_omni_ctx_t *ctx, json_t *reply, ngx_str_t *param)
{
    json_t                *v, *items, *bot, *out, *perm;
    int64_t                branches[NGX_OMNI_REPLY_BRANCHES];
    ngx_int_t              rc;
    omni_reply_actor_t     actor;
    omni_reply_grant_t     grant;
    omni_reply_refusal_t   why;

    v = json_object_get(reply, "kind");
    items = json_object_get(reply, "items");
    bot = json_object_get(reply, "bot_module_id");

    ngx_memzero(&grant, sizeof(grant));

    if (json_is_string(v)) {
        grant.kind = omni_reply_kind_parse(json_string_value(v),
                                           json_string_length(v));
    }

    if (grant.kind == OMNI_REPLY_KIND_NONE) {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_field",
                             "Field \"kind\" must be custom or bot");
    }

    if (grant.kind == OMNI_REPLY_CUSTOM) {
        if (bot) {
            return ngx_omni_fail(ctx, 422, "bot_module_not_allowed",
                                 "A custom reply has no bot module: give "
                                 "\"kind\": \"bot\" for a bot reply");
        }

        if (json_array_size(items) == 0) {
            return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "missing_field",
                                 "A custom reply needs \"items\"");
        }

        rc = ngx_omni_reply_items(ctx, items);
        if (rc != NGX_OK) {
            return rc;
        }

    } else {
        if (bot == NULL) {
            return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "missing_field",
                                 "A bot reply needs \"bot_module_id\"");
        }

        if (json_array_size(items) != 0) {
            return ngx_omni_fail(ctx, 422, "items_not_allowed",
                                 "A bot reply is its bot module: it has no "
                                 "items (a file needs a custom reply)");
        }
    }

    rc = ngx_omni_reply_permission(ctx, json_object_get(reply, "permission"),
                                   &grant, branches, &perm);
    if (rc != NGX_OK) {
        return rc;
    }

    actor.role = ctx->member.role;
    actor.branch_ids = ctx->member.branch_ids;
    actor.nbranches = ctx->member.nbranches;

    if (omni_reply_may_give(&actor, &grant, &why) != 0) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                       "omni api: saved reply refused: %s", why.code);

        json_decref(perm);

        return ngx_omni_fail(ctx, NGX_HTTP_FORBIDDEN, why.code, "%s",
                             why.message);
    }

    /* as stored: an absent shortcut or bot module is SQL's NULL */
    out = json_object();

    if (out == NULL
        || json_object_set(out, "title", json_object_get(reply, "title"))
        || json_object_set(out, "kind", v)
        || json_object_set_new(out, "items",
                               items ? json_incref(items) : json_array())
        || json_object_set(out, "permission", perm)
        || (json_object_get(reply, "shortcut")
            && json_object_set(out, "shortcut",
                               json_object_get(reply, "shortcut")))
        || (bot && json_object_set(out, "bot_module_id", bot))
        || ngx_omni_param_json(ctx->request->pool, param, out) != NGX_OK)
    {
        json_decref(out);
        json_decref(perm);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_decref(out);
    json_decref(perm);

    return NGX_OK;
}


/* text items, or media items naming an upload by media_id */
static ngx_int_t
ngx_omni_reply_items(ngx_omni_ctx_t *ctx, json_t *items)
{
    size_t       i, len;
    json_t      *item, *v;
    const char  *key, *type;

    json_array_foreach(items, i, item) {
        if (!json_is_object(item)) {
            return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_item",
                                 "Item %uz must be an object", i + 1);
        }

        v = json_object_get(item, "type");
        type = json_string_value(v);

        if (type == NULL
            || (ngx_strcmp(type, "text") != 0
                && ngx_strcmp(type, "image") != 0
                && ngx_strcmp(type, "video") != 0
                && ngx_strcmp(type, "file") != 0))
        {
            return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_item",
                                 "Item %uz: \"type\" must be text, image, "
                                 "video or file", i + 1);
        }

        json_object_foreach(item, key, v) {
            if (ngx_strcmp(key, "type") == 0) {
                continue;
            }

            if (ngx_strcmp(type, "text") == 0
                && ngx_strcmp(key, "text") == 0)
            {
                len = json_string_length(v);

                if (!json_is_string(v) || len == 0
                    || len > NGX_OMNI_REPLY_TEXT_MAX
                    || memchr(json_string_value(v), '\0', len))
                {
                    return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST,
                                         "invalid_item",
                                         "Item %uz: \"text\" must be a text "
                                         "of 1 to %d bytes", i + 1,
                                         NGX_OMNI_REPLY_TEXT_MAX);
                }

                continue;
            }

            if (ngx_strcmp(type, "text") != 0
                && ngx_strcmp(key, "media_id") == 0)
            {
                if (!json_is_integer(v) || json_integer_value(v) <= 0) {
                    return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST,
                                         "invalid_item",
                                         "Item %uz: \"media_id\" must be an "
                                         "id", i + 1);
                }

                continue;
            }

            return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "unknown_field",
                                 "Item %uz: unknown field \"%*s\"", i + 1,
                                 omni_utf8_cut(key, ngx_strlen(key), 64),
                                 key);
        }

        if (json_object_get(item, ngx_strcmp(type, "text") == 0
                                  ? "text" : "media_id") == NULL)
        {
            return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_item",
                                 "Item %uz: a %s item needs \"%s\"", i + 1,
                                 type, ngx_strcmp(type, "text") == 0
                                       ? "text" : "media_id");
        }
    }

    return NGX_OK;
}


/*
 * {"type", "roles", "branch_ids"}: roles with "roles" only, branches with
 * "branches" only.  *out: the permission as stored, both lists present.
 */
static ngx_int_t
ngx_omni_reply_permission(ngx_omni_ctx_t *ctx, json_t *perm,
    omni_reply_grant_t *grant, int64_t *branches, json_t **out)
{
    size_t        i;
    json_t       *v, *roles, *ids;
    const char   *key;
    omni_role_e   role;

    *out = NULL;

    json_object_foreach(perm, key, v) {
        if (ngx_strcmp(key, "type") != 0 && ngx_strcmp(key, "roles") != 0
            && ngx_strcmp(key, "branch_ids") != 0)
        {
            return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "unknown_field",
                                 "permission: unknown field \"%*s\"",
                                 omni_utf8_cut(key, ngx_strlen(key), 64),
                                 key);
        }
    }

    v = json_object_get(perm, "type");

    if (json_is_string(v)) {
        grant->perm = omni_perm_parse(json_string_value(v),
                                      json_string_length(v));
    }

    if (grant->perm == OMNI_PERM_NONE) {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_field",
                             "permission.type must be all_members, "
                             "only_me, roles or branches");
    }

    roles = json_object_get(perm, "roles");
    ids = json_object_get(perm, "branch_ids");

    if ((roles && !json_is_array(roles)) || (ids && !json_is_array(ids))) {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_field",
                             "permission.roles and permission.branch_ids "
                             "must be arrays");
    }

    json_array_foreach(roles, i, v) {
        role = json_is_string(v)
               ? omni_role_parse(json_string_value(v), json_string_length(v))
               : OMNI_ROLE_NONE;

        if (role == OMNI_ROLE_NONE) {
            return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_field",
                                 "permission.roles: entry %uz is not a "
                                 "role", i + 1);
        }

        grant->roles |= 1u << role;
    }

    if (json_array_size(ids) > NGX_OMNI_REPLY_BRANCHES) {
        return ngx_omni_fail(ctx, 422, "too_many_items",
                             "permission.branch_ids holds at most %d ids",
                             NGX_OMNI_REPLY_BRANCHES);
    }

    json_array_foreach(ids, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_field",
                                 "permission.branch_ids: entry %uz is not "
                                 "an id", i + 1);
        }

        branches[i] = json_integer_value(v);
    }

    grant->branch_ids = branches;
    grant->nbranches = json_array_size(ids);

    if ((grant->perm == OMNI_PERM_ROLES) != (grant->roles != 0)) {
        return ngx_omni_fail(ctx, 422, "invalid_permission",
                             grant->perm == OMNI_PERM_ROLES
                             ? "A roles permission names at least one role"
                             : "permission.roles goes with type roles only");
    }

    if ((grant->perm == OMNI_PERM_BRANCHES) != (grant->nbranches != 0)) {
        return ngx_omni_fail(ctx, 422, "invalid_permission",
                             grant->perm == OMNI_PERM_BRANCHES
                             ? "A branches permission names at least one "
                               "branch"
                             : "permission.branch_ids goes with type "
                               "branches only");
    }

    *out = json_object();

    if (*out == NULL
        || json_object_set(*out, "type", json_object_get(perm, "type"))
        || json_object_set_new(*out, "roles",
                               roles ? json_incref(roles) : json_array())
        || json_object_set_new(*out, "branch_ids",
                               ids ? json_incref(ids) : json_array()))
    {
        json_decref(*out);
        *out = NULL;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/* a JSON string's text as a statement parameter */
static ngx_int_t
ngx_omni_reply_param_text(ngx_omni_ctx_t *ctx, ngx_str_t *p, json_t *v)
{
    if (!json_is_string(v)) {
        return NGX_ERROR;
    }

    p->len = json_string_length(v);
    p->data = ngx_pnalloc(ctx->request->pool, p->len + 1);
    if (p->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p->data, json_string_value(v), p->len);
    p->data[p->len] = '\0';

    return NGX_OK;
}


/* whether the caller manages every reply of the tenant (the seed's table) */
static void
ngx_omni_reply_manage_all(ngx_omni_ctx_t *ctx, ngx_str_t *p)
{
    const omni_reply_rule_t  *rule;

    rule = omni_reply_rule(ctx->member.role);

    if (rule && rule->edit == OMNI_REPLY_ALL) {
        ngx_str_set(p, "t");

    } else {
        ngx_str_set(p, "f");
    }
}
