
/*
 * Conversations: a tenant's conversations and their messages, newest
 * first, and the outbound path.  A message's items are checked here,
 * rendered for the conversation's channel by core/omni_render within the
 * channel's window (core/omni_window, on the database's clock), and
 * stored with one outbox row per channel request in one statement; a
 * deliverer sends them later, never this request.  A preview renders the
 * same and stores nothing.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_http.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_api_kit.h"
#include "ngx_omni_conversations.h"
#include "omni_json_shape.h"
#include "omni_render.h"
#include "omni_window.h"


#define NGX_OMNI_CONV_PAGE        100
#define NGX_OMNI_CONV_CURSOR_MAX  64

/* the columns of omni_message_send_context() */
#define NGX_OMNI_CONV_TYPE        0
#define NGX_OMNI_CONV_ACCOUNT     1
#define NGX_OMNI_CONV_RECIPIENT   2
#define NGX_OMNI_CONV_INBOUND     3
#define NGX_OMNI_CONV_NOW         4
#define NGX_OMNI_CONV_WINDOW      5


static ngx_int_t ngx_omni_conv_filter_id(ngx_omni_ctx_t *ctx,
    const char *name, ngx_str_t *value);
static ngx_int_t ngx_omni_conv_filter_type(ngx_omni_ctx_t *ctx,
    ngx_str_t *value);
static ngx_int_t ngx_omni_conv_body(ngx_omni_ctx_t *ctx);
static ngx_int_t ngx_omni_conv_item(ngx_omni_ctx_t *ctx, json_t *item,
    ngx_uint_t n);
static ngx_int_t ngx_omni_conv_context(ngx_omni_ctx_t *ctx,
    ngx_omni_api_result_pt done);
static ngx_int_t ngx_omni_conv_render(ngx_omni_ctx_t *ctx, PGresult *res,
    ngx_uint_t enforce, json_t **requests);
static ngx_int_t ngx_omni_conv_store(ngx_omni_ctx_t *ctx, PGresult *res);
static ngx_int_t ngx_omni_conv_previewed(ngx_omni_ctx_t *ctx,
    PGresult *res);
static json_t *ngx_omni_conv_payload(json_t *requests);
static ngx_int_t ngx_omni_conv_param_text(ngx_pool_t *pool, ngx_str_t *p,
    char *text, size_t len);


/* a message's body: items, or a saved reply (SPEC §7) */
static const omni_json_field_t  ngx_omni_conv_message_shape[] = {
    { "items",          OMNI_JT_ARRAY, 0, OMNI_RENDER_ITEMS_MAX },
    { "saved_reply_id", OMNI_JT_ID,    0, 0 },
    { NULL, 0, 0, 0 }
};


/* the channel types a list can be filtered by (channels' types) */
static char  *ngx_omni_conv_types[] = {
    "whatsapp", "messenger", "instagram", "line", "webchat", NULL
};


ngx_int_t
ngx_omni_conversations_list(ngx_omni_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  params[6];

    /* params: tenant, per_page, cursor, customer_id, channel, channel_id */
    rc = ngx_omni_page_args(ctx, &params[2], &params[1], NGX_OMNI_CONV_PAGE);

    if (rc == NGX_OK && params[2].len > NGX_OMNI_CONV_CURSOR_MAX) {
        rc = ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_cursor",
                           "The cursor is not one this list gave out");
    }

    if (rc == NGX_OK) {
        rc = ngx_omni_conv_filter_id(ctx, "customer_id", &params[3]);
    }

    if (rc == NGX_OK) {
        rc = ngx_omni_conv_filter_type(ctx, &params[4]);
    }

    if (rc == NGX_OK) {
        rc = ngx_omni_conv_filter_id(ctx, "channel_id", &params[5]);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_omni_param_tenant(ctx, &params[0]) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_omni_api_query(ctx, NGX_OMNI_STMT_CONVERSATION_LIST,
                              NGX_HTTP_OK, 6, params);
}


ngx_int_t
ngx_omni_conversations_get(ngx_omni_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  params[2];

    rc = ngx_omni_id_params(ctx, params);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_omni_api_query(ctx, NGX_OMNI_STMT_CONVERSATION_GET,
                              NGX_HTTP_OK, 2, params);
}


/* newest first, paged by id */
ngx_int_t
ngx_omni_conversations_messages(ngx_omni_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  params[4];

    /* params: tenant, conversation, cursor, per_page */
    rc = ngx_omni_id_params(ctx, params);

    if (rc == NGX_OK) {
        rc = ngx_omni_page_args(ctx, &params[2], &params[3],
                                NGX_OMNI_CONV_PAGE);
    }

    if (rc == NGX_OK) {
        rc = ngx_omni_cursor_id(ctx, &params[2]);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_omni_api_query(ctx, NGX_OMNI_STMT_MESSAGE_LIST, NGX_HTTP_OK,
                              4, params);
}


ngx_int_t
ngx_omni_conversations_send(ngx_omni_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_omni_conv_body(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_omni_conv_context(ctx, ngx_omni_conv_store);
}


ngx_int_t
ngx_omni_conversations_preview(ngx_omni_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_omni_conv_body(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_omni_conv_context(ctx, ngx_omni_conv_previewed);
}


/* ?NAME=ID: digits, or absent (value->data NULL: SQL's NULL) */
static ngx_int_t
ngx_omni_conv_filter_id(ngx_omni_ctx_t *ctx, const char *name,
    ngx_str_t *value)
{
    ngx_int_t  rc;

    rc = ngx_omni_arg(ctx->request, name, value);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }

    if (value->len == 0 || value->len > 18
        || ngx_atoof(value->data, value->len) <= 0)
    {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_parameter",
                             "%s must be an id (a positive whole number)",
                             name);
    }

    return NGX_OK;
}


/* ?channel=TYPE: a channel type's name, as channels have it */
static ngx_int_t
ngx_omni_conv_filter_type(ngx_omni_ctx_t *ctx, ngx_str_t *value)
{
    char       **t;
    ngx_int_t    rc;

    rc = ngx_omni_arg(ctx->request, "channel", value);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }

    for (t = ngx_omni_conv_types; *t; t++) {
        if (value->len == ngx_strlen(*t)
            && ngx_strncmp(value->data, *t, value->len) == 0)
        {
            return NGX_OK;
        }
    }

    return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_parameter",
                         "channel must be a channel type: whatsapp, "
                         "messenger, instagram, line or webchat");
}


/*
 * {"items":[…]} or {"saved_reply_id"}.  Text items go out today; media
 * items need the media capability and saved replies theirs: both are
 * refused by name until they land.
 */
static ngx_int_t
ngx_omni_conv_body(ngx_omni_ctx_t *ctx)
{
    size_t      i;
    json_t     *items, *item, *reply;
    ngx_int_t   rc;

    rc = ngx_omni_api_check_body(ctx, ngx_omni_conv_message_shape,
                                 OMNI_JSON_CREATE);
    if (rc != NGX_OK) {
        return rc;
    }

    items = json_object_get(ctx->body, "items");
    reply = json_object_get(ctx->body, "saved_reply_id");

    if (items && reply) {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_body",
                             "Give either items or saved_reply_id");
    }

    if (reply) {
        return ngx_omni_fail(ctx, 422, "saved_reply_not_found",
                             "No saved reply %L: saved replies are not "
                             "available on this server yet; send items",
                             (int64_t) json_integer_value(reply));
    }

    if (items == NULL) {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "missing_field",
                             "Field \"items\" (or \"saved_reply_id\") is "
                             "required");
    }

    json_array_foreach(items, i, item) {
        rc = ngx_omni_conv_item(ctx, item, i + 1);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return NGX_OK;
}


/* the n-th item's shape; its text is core/omni_render's to judge */
static ngx_int_t
ngx_omni_conv_item(ngx_omni_ctx_t *ctx, json_t *item, ngx_uint_t n)
{
    json_t       *v;
    const char   *key;
    omni_item_e   type;

    if (!json_is_object(item)) {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_item",
                             "Item %ui must be an object", n);
    }

    v = json_object_get(item, "type");

    if (!json_is_string(v)) {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_item",
                             "Item %ui needs a \"type\" string", n);
    }

    type = omni_item_parse(json_string_value(v), json_string_length(v));

    if (type == OMNI_ITEM_NONE) {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "unsupported_item",
                             "Item %ui: the type must be text, image, "
                             "video or file", n);
    }

    if (type != OMNI_ITEM_TEXT) {
        return ngx_omni_fail(ctx, 422, "media_not_available",
                             "Item %ui: image, video and file items "
                             "need uploaded media (media_id), which this "
                             "server does not take yet; send text", n);
    }

    json_object_foreach(item, key, v) {
        if (ngx_strcmp(key, "type") != 0 && ngx_strcmp(key, "text") != 0) {
            return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "unknown_field",
                                 "Item %ui: unknown field \"%*s\"", n,
                                 omni_utf8_cut(key, ngx_strlen(key), 64),
                                 key);
        }
    }

    return NGX_OK;
}


/* what a send is rendered from: one row, or none for another's id */
static ngx_int_t
ngx_omni_conv_context(ngx_omni_ctx_t *ctx, ngx_omni_api_result_pt done)
{
    ngx_int_t  rc;
    ngx_str_t  params[2];

    rc = ngx_omni_id_params(ctx, params);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_MESSAGE_CONTEXT, 2,
                                   params, done);
}


/*
 * The window (closed: 422 window_closed naming the channel's rule, when
 * enforce), then the items rendered: *requests is the new list of
 * {"method","path","auth","body"}, or NGX_DONE with the refusal answered.
 */
static ngx_int_t
ngx_omni_conv_render(ngx_omni_ctx_t *ctx, PGresult *res, ngx_uint_t enforce,
    json_t **requests)
{
    char               *type;
    size_t              type_len;
    int64_t             last, now;
    omni_window_t       w;
    omni_channel_e      channel;
    omni_render_to_t    to;
    omni_json_error_t   err;

    *requests = NULL;

    if (PQntuples(res) != 1 || PQgetisnull(res, 0, NGX_OMNI_CONV_TYPE)) {
        return ngx_omni_fail(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                             "No such conversation");
    }

    type = PQgetvalue(res, 0, NGX_OMNI_CONV_TYPE);
    type_len = PQgetlength(res, 0, NGX_OMNI_CONV_TYPE);
    channel = omni_channel_parse(type, type_len);

    if (channel == OMNI_CHANNEL_NONE) {
        return ngx_omni_fail(ctx, 422, "unsupported_channel",
                             "Messages cannot be sent on %s channels", type);
    }

    last = -1;

    if (!PQgetisnull(res, 0, NGX_OMNI_CONV_INBOUND)) {
        last = ngx_atoof((u_char *) PQgetvalue(res, 0, NGX_OMNI_CONV_INBOUND),
                         PQgetlength(res, 0, NGX_OMNI_CONV_INBOUND));
    }

    now = ngx_atoof((u_char *) PQgetvalue(res, 0, NGX_OMNI_CONV_NOW),
                    PQgetlength(res, 0, NGX_OMNI_CONV_NOW));

    omni_window_check(channel, last, now, &w);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "omni api: conversation %L on %s, window %s (%s)",
                   ctx->id, type, w.open ? "open" : "closed", w.rule);

    if (enforce && !w.open) {
        if (w.closes_at_ms < 0) {
            return ngx_omni_fail(ctx, 422, "window_closed",
                                 "The customer has not written in this %s "
                                 "conversation yet, so it takes no "
                                 "free-form message (rule %s)", type,
                                 w.rule);
        }

        return ngx_omni_fail(ctx, 422, "window_closed",
                             "The customer last wrote more than 24 hours "
                             "ago: %s takes no free-form message until "
                             "they write again (rule %s)", type, w.rule);
    }

    to.to.data = PQgetvalue(res, 0, NGX_OMNI_CONV_RECIPIENT);
    to.to.len = PQgetlength(res, 0, NGX_OMNI_CONV_RECIPIENT);
    to.account.data = PQgetvalue(res, 0, NGX_OMNI_CONV_ACCOUNT);
    to.account.len = PQgetlength(res, 0, NGX_OMNI_CONV_ACCOUNT);

    *requests = omni_render_items(channel, &to,
                                  json_object_get(ctx->body, "items"), &err);

    if (*requests == NULL) {
        return ngx_omni_fail(ctx, err.status, err.code, "%s", err.message);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "omni api: rendered %uz channel requests",
                   json_array_size(*requests));

    return NGX_OK;
}


/* the message and its outbox rows, in one statement: 201 and the message */
static ngx_int_t
ngx_omni_conv_store(ngx_omni_ctx_t *ctx, PGresult *res)
{
    json_t      *requests;
    ngx_int_t    rc;
    ngx_str_t    params[6];
    ngx_pool_t  *pool;

    rc = ngx_omni_conv_render(ctx, res, 1, &requests);
    if (rc != NGX_OK) {
        return rc;
    }

    pool = ctx->request->pool;

    /* params: tenant, conversation, member, channel type, items, requests */
    rc = ngx_omni_param_tenant(ctx, &params[0]);

    if (rc == NGX_OK) {
        rc = ngx_omni_param_int(pool, &params[1], ctx->id);
    }

    if (rc == NGX_OK) {
        rc = ngx_omni_param_int(pool, &params[2], ctx->member.member_id);
    }

    if (rc == NGX_OK) {
        rc = ngx_omni_conv_param_text(pool, &params[3],
                                      PQgetvalue(res, 0, NGX_OMNI_CONV_TYPE),
                                      PQgetlength(res, 0,
                                                  NGX_OMNI_CONV_TYPE));
    }

    if (rc == NGX_OK) {
        rc = ngx_omni_param_json(pool, &params[4],
                                 json_object_get(ctx->body, "items"));
    }

    if (rc == NGX_OK) {
        rc = ngx_omni_param_json(pool, &params[5], requests);
    }

    json_decref(requests);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_omni_api_query(ctx, NGX_OMNI_STMT_MESSAGE_SEND,
                              NGX_HTTP_CREATED, 6, params);
}


/*
 * What a send would store, nothing stored: the channel's payload and the
 * window as the conversation shows it (a preview is answered even when
 * the window is closed: it says so).
 */
static ngx_int_t
ngx_omni_conv_previewed(ngx_omni_ctx_t *ctx, PGresult *res)
{
    u_char     *json;
    size_t      len;
    json_t     *requests, *answer, *window;
    ngx_int_t   rc;

    rc = ngx_omni_conv_render(ctx, res, 0, &requests);
    if (rc != NGX_OK) {
        return rc;
    }

    window = json_loadb(PQgetvalue(res, 0, NGX_OMNI_CONV_WINDOW),
                        PQgetlength(res, 0, NGX_OMNI_CONV_WINDOW), 0, NULL);

    answer = json_pack("{s:s%, s:o, s:o?}",
                       "channel_type",
                       PQgetvalue(res, 0, NGX_OMNI_CONV_TYPE),
                       (size_t) PQgetlength(res, 0, NGX_OMNI_CONV_TYPE),
                       "payload", ngx_omni_conv_payload(requests),
                       "window", window);

    json_decref(requests);

    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = json_dumpb(answer, NULL, 0, JSON_COMPACT);
    json = ngx_pnalloc(ctx->request->pool, len + 1);

    if (json == NULL) {
        json_decref(answer);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = json_dumpb(answer, (char *) json, len, JSON_COMPACT);
    json[len++] = '\n';

    json_decref(answer);

    return ngx_omni_api_answer(ctx, NGX_HTTP_OK, json, len);
}


/* the channel's own body, or the list of them (as the stored payload) */
static json_t *
ngx_omni_conv_payload(json_t *requests)
{
    size_t   i;
    json_t  *list, *request;

    if (json_array_size(requests) == 1) {
        return json_incref(json_object_get(json_array_get(requests, 0),
                                           "body"));
    }

    list = json_array();
    if (list == NULL) {
        return NULL;
    }

    json_array_foreach(requests, i, request) {
        if (json_array_append(list, json_object_get(request, "body")) != 0) {
            json_decref(list);
            return NULL;
        }
    }

    return list;
}


static ngx_int_t
ngx_omni_conv_param_text(ngx_pool_t *pool, ngx_str_t *p, char *text,
    size_t len)
{
    p->data = ngx_pnalloc(pool, len + 1);
    if (p->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p->data, text, len);
    p->data[len] = '\0';
    p->len = len;

    return NGX_OK;
}
