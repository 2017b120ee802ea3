
/*
 * Every endpoint of the module, in one place: its metric name on
 * /omni/status and, for the JSON API, its route.  Nothing is kept in step
 * by hand: ngx_omni_module.h numbers both lists (NGX_OMNI_EP_*),
 * ngx_omni_stats.c names them, ngx_omni_api.c makes the route table.
 */

#ifndef _NGX_OMNI_API_ROUTES_H_INCLUDED_
#define _NGX_OMNI_API_ROUTES_H_INCLUDED_


/*
 * The endpoints outside the JSON API: X(id, metric).  OTHER comes first:
 * it is endpoint 0, a request of ours that nothing else claimed.
 */
#define NGX_OMNI_ENDPOINTS(X)                                               \
    X(OTHER,       "other")                                                 \
    X(PIXEL_GIF,   "pixel_gif")                                             \
    X(PIXEL_POST,  "pixel_post")                                            \
    X(PIXEL_JS,    "pixel_js")                                              \
    X(STATUS,      "status")                                                \
    X(HOOKS,       "hooks")                                                 \
    X(MEDIA_FILE,  "media_file")


/*
 * The JSON API below /omni/api/v1/:
 *
 *   X(methods, pattern, id, metric, handler, resource, features,
 *     admin_writes)
 *
 * A '*' of a pattern takes one segment of digits (ctx->args).  resource:
 * the row a generic handler serves (ngx_omni_crud's), else NULL.
 * features: the tenant's plan holds one of these (0: any plan).
 * admin_writes: only an admin may use a method other than GET.
 */
#define NGX_OMNI_API_ROUTES(X)                                              \
    X(NGX_HTTP_GET, "me",                                                   \
      ME, "me", ngx_omni_team_me, NULL, 0, 0)                               \
    X(NGX_HTTP_GET|NGX_HTTP_POST, "branches",                               \
      BRANCHES, "branches", ngx_omni_crud, &ngx_omni_team_branches, 0, 1)   \
    X(NGX_HTTP_GET|NGX_HTTP_POST, "members",                                \
      MEMBERS, "members", ngx_omni_crud, &ngx_omni_team_members, 0, 1)      \
    X(NGX_HTTP_PATCH|NGX_HTTP_DELETE, "members/*",                          \
      MEMBER, "member", ngx_omni_crud, &ngx_omni_team_members, 0, 1)        \
    X(NGX_HTTP_POST, "members/*/tokens",                                    \
      TOKENS, "tokens", ngx_omni_team_tokens, NULL, 0, 1)                   \
    X(NGX_HTTP_GET, "customers",                                            \
      CUSTOMERS, "customers", ngx_omni_customers_find, NULL, 0, 0)          \
    X(NGX_HTTP_GET, "customers/*",                                          \
      CUSTOMER, "customer", ngx_omni_customers_get, NULL, 0, 0)             \
    X(NGX_HTTP_GET, "pixel/logs",                                           \
      PIXEL_LOGS, "pixel_logs", ngx_omni_pixel_logs, NULL,                  \
      OMNI_FEATURES_PIXEL, 0)                                               \
    X(NGX_HTTP_GET|NGX_HTTP_POST, "channels",                               \
      CHANNELS, "channels", ngx_omni_crud, &ngx_omni_channels, 0, 1)        \
    X(NGX_HTTP_GET|NGX_HTTP_PATCH, "channels/*",                            \
      CHANNEL, "channel", ngx_omni_crud, &ngx_omni_channels, 0, 1)          \
    X(NGX_HTTP_GET, "conversations",                                        \
      CONVERSATIONS, "conversations", ngx_omni_conversations_list, NULL,    \
      OMNI_FEATURES_MESSAGING, 0)                                           \
    X(NGX_HTTP_GET, "conversations/*",                                      \
      CONVERSATION, "conversation", ngx_omni_conversations_get, NULL,       \
      OMNI_FEATURES_MESSAGING, 0)                                           \
    X(NGX_HTTP_GET, "conversations/*/messages",                             \
      MESSAGES, "messages", ngx_omni_conversations_messages, NULL,          \
      OMNI_FEATURES_MESSAGING, 0)                                           \
    X(NGX_HTTP_POST, "conversations/*/messages",                            \
      MESSAGE_SEND, "message_send", ngx_omni_conversations_send, NULL,      \
      OMNI_FEATURES_MESSAGING, 0)                                           \
    X(NGX_HTTP_POST, "conversations/*/preview",                             \
      MESSAGE_PREVIEW, "message_preview", ngx_omni_conversations_preview,   \
      NULL, OMNI_FEATURES_MESSAGING, 0)                                     \
    X(NGX_HTTP_GET|NGX_HTTP_POST, "bot-modules",                            \
      BOT_MODULES, "bot_modules", ngx_omni_bot_modules, NULL,               \
      OMNI_FEATURES_MESSAGING, 0)                                           \
    X(NGX_HTTP_GET|NGX_HTTP_PATCH|NGX_HTTP_DELETE, "bot-modules/*",         \
      BOT_MODULE, "bot_module", ngx_omni_bot_modules, NULL,                 \
      OMNI_FEATURES_MESSAGING, 0)                                           \
    X(NGX_HTTP_GET, "saved-replies",                                        \
      SAVED_REPLIES, "saved_replies", ngx_omni_saved_replies_list, NULL,    \
      OMNI_FEATURES_MESSAGING, 0)                                           \
    X(NGX_HTTP_POST, "saved-replies",                                       \
      SAVED_REPLY_CREATE, "saved_reply_create",                             \
      ngx_omni_saved_replies_create, NULL, OMNI_FEATURES_MESSAGING, 0)      \
    X(NGX_HTTP_GET, "saved-replies/*",                                      \
      SAVED_REPLY, "saved_reply", ngx_omni_saved_replies_get, NULL,         \
      OMNI_FEATURES_MESSAGING, 0)                                           \
    X(NGX_HTTP_PATCH, "saved-replies/*",                                    \
      SAVED_REPLY_UPDATE, "saved_reply_update",                             \
      ngx_omni_saved_replies_update, NULL, OMNI_FEATURES_MESSAGING, 0)      \
    X(NGX_HTTP_DELETE, "saved-replies/*",                                   \
      SAVED_REPLY_DELETE, "saved_reply_delete",                             \
      ngx_omni_saved_replies_delete, NULL, OMNI_FEATURES_MESSAGING, 0)      \
    X(NGX_HTTP_POST, "media",                                               \
      MEDIA, "media", ngx_omni_media_upload, NULL,                          \
      OMNI_FEATURES_MESSAGING, 0)


#endif /* _NGX_OMNI_API_ROUTES_H_INCLUDED_ */
