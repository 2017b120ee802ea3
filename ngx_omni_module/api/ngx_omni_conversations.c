
/*
 * Conversations: a tenant's conversations and their messages, newest
 * first, and the outbound path.  A message's items (or the saved reply it
 * names) are checked here, resolved by the database for the channel and
 * the sender (media, a saved reply they may use there), rendered for the
 * conversation's channel by core/omni_render or, a bot module,
 * core/omni_bot_render within the channel's window (core/omni_window, on
 * the database's clock), and stored with one outbox row per channel
 * request in one statement; a deliverer sends them later, never this
 * request.  A preview renders the same and stores nothing.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_http.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_api_kit.h"
#include "ngx_omni_conversations.h"
#include "omni_json_shape.h"
#include "omni_render.h"
#include "omni_bot.h"
#include "omni_bot_render.h"
#include "omni_window.h"
#include "ngx_omni_media_url.h"


#define NGX_OMNI_CONV_PAGE        100
#define NGX_OMNI_CONV_CURSOR_MAX  64

/* the columns of omni_message_send_context() */
#define NGX_OMNI_CONV_TYPE        0
#define NGX_OMNI_CONV_ACCOUNT     1
#define NGX_OMNI_CONV_RECIPIENT   2
#define NGX_OMNI_CONV_INBOUND     3
#define NGX_OMNI_CONV_NOW         4
#define NGX_OMNI_CONV_WINDOW      5


/* a send's state between its queries (ctx->state) */
typedef struct {
    json_t                    *content;   /* omni_message_content()'s */
    ngx_omni_api_result_pt     next;      /* store, or answer a preview */
} ngx_omni_conv_send_t;


static ngx_int_t ngx_omni_conv_filter_id(ngx_omni_ctx_t *ctx,
    const char *name, ngx_str_t *value);
static ngx_int_t ngx_omni_conv_filter_type(ngx_omni_ctx_t *ctx,
    ngx_str_t *value);
static ngx_int_t ngx_omni_conv_body(ngx_omni_ctx_t *ctx);
static ngx_int_t ngx_omni_conv_item(ngx_omni_ctx_t *ctx, json_t *item,
    ngx_uint_t n);
static ngx_int_t ngx_omni_conv_content(ngx_omni_ctx_t *ctx,
    ngx_omni_api_result_pt next);
static ngx_int_t ngx_omni_conv_content_loaded(ngx_omni_ctx_t *ctx,
    PGresult *res);
static void ngx_omni_conv_content_free(void *data);
static ngx_int_t ngx_omni_conv_context(ngx_omni_ctx_t *ctx,
    ngx_omni_api_result_pt done);
static json_t *ngx_omni_conv_items(ngx_omni_ctx_t *ctx, json_t *content);
static json_t *ngx_omni_conv_bot_content(ngx_omni_ctx_t *ctx, json_t *v,
    json_t *media);
static json_t *ngx_omni_conv_media_of(json_t *media, json_t *id);
static ngx_int_t ngx_omni_conv_media_url(ngx_omni_ctx_t *ctx, json_t *media,
    json_t *id, ngx_str_t *url);
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

    return ngx_omni_conv_content(ctx, ngx_omni_conv_store);
}


ngx_int_t
ngx_omni_conversations_preview(ngx_omni_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_omni_conv_body(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_omni_conv_content(ctx, ngx_omni_conv_previewed);
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
 * {"items":[…]}, {"saved_reply_id"}, or both: a custom reply's items
 * edited before sending (a bot reply's never: the database says so).
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

    if (items == NULL && reply == NULL) {
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


/*
 * The n-th item's shape: {"type":"text","text"} or {"type":"image"|
 * "video"|"file","media_id"}; its text is core/omni_render's to judge,
 * its media the database's.
 */
static ngx_int_t
ngx_omni_conv_item(ngx_omni_ctx_t *ctx, json_t *item, ngx_uint_t n)
{
    json_t       *v;
    const char   *key, *want;
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

    want = (type == OMNI_ITEM_TEXT) ? "text" : "media_id";

    if (type != OMNI_ITEM_TEXT) {
        v = json_object_get(item, "media_id");

        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_item",
                                 "Item %ui: an image, video or file item "
                                 "needs \"media_id\", the id POST /media "
                                 "gave", n);
        }
    }

    json_object_foreach(item, key, v) {
        if (ngx_strcmp(key, "type") != 0 && ngx_strcmp(key, want) != 0) {
            return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "unknown_field",
                                 "Item %ui: unknown field \"%*s\"", n,
                                 omni_utf8_cut(key, ngx_strlen(key), 64),
                                 key);
        }
    }

    return NGX_OK;
}


/*
 * What the message sends, resolved by the database for this conversation
 * and this member: then the context, then next().
 */
static ngx_int_t
ngx_omni_conv_content(ngx_omni_ctx_t *ctx, ngx_omni_api_result_pt next)
{
    json_t                *v;
    ngx_int_t              rc;
    ngx_str_t              params[5];
    ngx_pool_t            *pool;
    ngx_pool_cleanup_t    *cln;
    ngx_omni_conv_send_t  *send;

    pool = ctx->request->pool;

    send = ngx_pcalloc(pool, sizeof(ngx_omni_conv_send_t));
    cln = ngx_pool_cleanup_add(pool, 0);

    if (send == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    send->next = next;
    cln->handler = ngx_omni_conv_content_free;
    cln->data = send;
    ctx->state = send;

    /* params: tenant, member, conversation, saved reply, items */
    rc = ngx_omni_id_params(ctx, params);
    if (rc != NGX_OK) {
        return rc;
    }

    params[2] = params[1];

    if (ngx_omni_param_int(pool, &params[1], ctx->member.member_id)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&params[3]);
    ngx_str_null(&params[4]);

    v = json_object_get(ctx->body, "saved_reply_id");

    if (v && ngx_omni_param_int(pool, &params[3], json_integer_value(v))
             != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v = json_object_get(ctx->body, "items");

    if (v && ngx_omni_param_json(pool, &params[4], v) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_omni_api_query_with(ctx, NGX_OMNI_STMT_MESSAGE_CONTENT, 5,
                                   params, ngx_omni_conv_content_loaded);
}


static ngx_int_t
ngx_omni_conv_content_loaded(ngx_omni_ctx_t *ctx, PGresult *res)
{
    ngx_omni_conv_send_t  *send = ctx->state;

    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    send->content = json_loadb(PQgetvalue(res, 0, 0),
                               PQgetlength(res, 0, 0), 0, NULL);

    if (!json_is_object(send->content)) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "omni api: conversation %L sends a %s message", ctx->id,
                   json_string_value(json_object_get(send->content,
                                                     "kind")));

    return ngx_omni_conv_context(ctx, send->next);
}


static void
ngx_omni_conv_content_free(void *data)
{
    ngx_omni_conv_send_t  *send = data;

    json_decref(send->content);
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
    json_t             *content, *items, *bot, *v;
    int64_t             last, now;
    const char         *kind;
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

    content = ((ngx_omni_conv_send_t *) ctx->state)->content;
    kind = json_string_value(json_object_get(content, "kind"));

    if (kind && ngx_strcmp(kind, "bot") == 0) {
        v = json_object_get(content, "bot_type");
        bot = ngx_omni_conv_bot_content(ctx, json_object_get(content,
                                                             "content"),
                                        json_object_get(content, "media"));
        if (bot == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *requests = omni_bot_render(channel, &to,
                                    omni_bot_type_parse(json_string_value(v),
                                                        json_string_length(v)),
                                    bot, &err);
        json_decref(bot);

    } else {
        items = ngx_omni_conv_items(ctx, content);
        if (items == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *requests = omni_render_items(channel, &to, items, &err);
        json_decref(items);
    }

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
    json_t      *requests, *content, *items, *v;
    ngx_int_t    rc;
    ngx_str_t    params[7];
    ngx_pool_t  *pool;

    rc = ngx_omni_conv_render(ctx, res, 1, &requests);
    if (rc != NGX_OK) {
        return rc;
    }

    pool = ctx->request->pool;

    /*
     * params: tenant, conversation, member, channel type, items, requests,
     * saved reply
     */
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

    /* what the message holds: the items sent, or the bot module */
    content = ((ngx_omni_conv_send_t *) ctx->state)->content;
    items = json_object_get(content, "items");

    if (json_is_array(items)) {
        items = json_incref(items);

    } else {
        items = json_pack("[{s:s, s:O, s:O}]", "type", "bot_module",
                          "bot_module_id",
                          json_object_get(content, "bot_module_id"),
                          "bot_type", json_object_get(content, "bot_type"));
    }

    if (rc == NGX_OK) {
        rc = items ? ngx_omni_param_json(pool, &params[4], items) : NGX_ERROR;
    }

    json_decref(items);

    if (rc == NGX_OK) {
        rc = ngx_omni_param_json(pool, &params[5], requests);
    }

    json_decref(requests);

    v = json_object_get(content, "saved_reply_id");
    ngx_str_null(&params[6]);

    if (rc == NGX_OK && json_is_integer(v)) {
        rc = ngx_omni_param_int(pool, &params[6], json_integer_value(v));
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_omni_api_query(ctx, NGX_OMNI_STMT_MESSAGE_SEND,
                              NGX_HTTP_CREATED, 7, params);
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


/*
 * A custom message's items as core/omni_render takes them: a media item's
 * media_id becomes the URL every host of the fleet serves it at, and a
 * file keeps its name.
 */
static json_t *
ngx_omni_conv_items(ngx_omni_ctx_t *ctx, json_t *content)
{
    size_t      i;
    json_t     *items, *item, *out, *id, *media, *name;
    ngx_str_t   url;

    items = json_array();
    if (items == NULL) {
        return NULL;
    }

    media = json_object_get(content, "media");

    json_array_foreach(json_object_get(content, "items"), i, item) {
        id = json_object_get(item, "media_id");

        if (id == NULL) {
            out = json_incref(item);

        } else {
            if (ngx_omni_conv_media_url(ctx, media, id, &url) != NGX_OK) {
                json_decref(items);
                return NULL;
            }

            out = json_pack("{s:O, s:s%}", "type",
                            json_object_get(item, "type"),
                            "url", url.data, url.len);

            name = json_object_get(ngx_omni_conv_media_of(media, id),
                                   "filename");

            if (out && json_is_string(name)) {
                json_object_set(out, "filename", name);
            }
        }

        if (out == NULL || json_array_append_new(items, out) != 0) {
            json_decref(items);
            return NULL;
        }
    }

    return items;
}


/*
 * A bot module's content as core/omni_bot_render takes it: a copy where
 * every "image_media_id" is an "image_url", wherever the type has one.
 */
static json_t *
ngx_omni_conv_bot_content(ngx_omni_ctx_t *ctx, json_t *v, json_t *media)
{
    size_t       i;
    json_t      *out, *e, *copy;
    ngx_str_t    url;
    const char  *key;

    if (json_is_array(v)) {
        out = json_array();

        json_array_foreach(v, i, e) {
            copy = ngx_omni_conv_bot_content(ctx, e, media);

            if (out == NULL || copy == NULL
                || json_array_append_new(out, copy) != 0)
            {
                json_decref(out);
                return NULL;
            }
        }

        return out;
    }

    if (!json_is_object(v)) {
        return json_deep_copy(v);
    }

    out = json_object();

    json_object_foreach(v, key, e) {
        if (ngx_strcmp(key, "image_media_id") == 0) {
            if (ngx_omni_conv_media_url(ctx, media, e, &url) != NGX_OK) {
                json_decref(out);
                return NULL;
            }

            copy = json_stringn((char *) url.data, url.len);
            key = "image_url";

        } else {
            copy = ngx_omni_conv_bot_content(ctx, e, media);
        }

        if (out == NULL || copy == NULL
            || json_object_set_new(out, key, copy) != 0)
        {
            json_decref(out);
            return NULL;
        }
    }

    return out;
}


/* media id's entry in the database's {"ID":{"sha256","mime",…}} */
static json_t *
ngx_omni_conv_media_of(json_t *media, json_t *id)
{
    u_char  key[NGX_INT64_LEN + 1];

    *ngx_sprintf(key, "%L", (int64_t) json_integer_value(id)) = '\0';

    return json_object_get(media, (char *) key);
}


/* the public URL of media id */
static ngx_int_t
ngx_omni_conv_media_url(ngx_omni_ctx_t *ctx, json_t *media, json_t *id,
    ngx_str_t *url)
{
    json_t     *m, *v;
    ngx_str_t   sha256, mime;

    m = ngx_omni_conv_media_of(media, id);

    v = json_object_get(m, "sha256");
    if (!json_is_string(v)) {
        return NGX_ERROR;
    }

    sha256.data = (u_char *) json_string_value(v);
    sha256.len = json_string_length(v);

    v = json_object_get(m, "mime");
    if (!json_is_string(v)) {
        return NGX_ERROR;
    }

    mime.data = (u_char *) json_string_value(v);
    mime.len = json_string_length(v);

    return ngx_omni_media_url(ctx->request->pool, &sha256, &mime, url);
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
