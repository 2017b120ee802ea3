
/*
 * Every SQL statement the module runs, prepared on each connection.
 * All of them call functions of ngx_omni_module/sql: the module never
 * builds SQL text, and the schema owns the logic of each answer.
 */

#ifndef _NGX_OMNI_STMT_H_INCLUDED_
#define _NGX_OMNI_STMT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_OMNI_STATEMENTS(X)                                              \
    X(SCHEMA_VERSION,  "SELECT omni_schema_version()")                      \
    X(AUTH_TOKEN,      "SELECT member_id, tenant_id, role, branch_ids,"     \
                       " plan, default_region"                              \
                       " FROM omni_auth_token($1::bytea)")                  \
    X(ME,              "SELECT omni_me($1, $2)")                            \
    /* media: api/ngx_omni_media.c, media/ */                               \
    X(MEDIA_BLOB_BEGIN, "SELECT omni_media_blob_begin($1::bytea, $2, $3,"  \
                       " $4)")                                              \
    X(MEDIA_CHUNK_PUT, "SELECT omni_media_chunk_put($1::bytea, $2,"         \
                       " $3::bytea)")                                       \
    X(MEDIA_CREATE,    "SELECT omni_media_create($1, $2, $3, $4, $5, $6,"   \
                       " $7, $8::bytea, $9)")                               \
    X(MEDIA_BLOB,      "SELECT mime, size, chunks"                          \
                       " FROM omni_media_blob($1::bytea)")                  \
    X(MEDIA_CHUNK,     "SELECT omni_media_chunk($1::bytea, $2)")            \
    X(BRANCH_LIST,     "SELECT omni_branch_list($1, $2, $3)")               \
    X(BRANCH_CREATE,   "SELECT omni_branch_create($1, $2::jsonb)")          \
    X(MEMBER_LIST,     "SELECT omni_member_list($1, $2, $3)")               \
    X(MEMBER_CREATE,   "SELECT omni_member_create($1, $2::jsonb)")          \
    X(MEMBER_UPDATE,   "SELECT omni_member_update($1, $2, $3::jsonb)")      \
    X(MEMBER_DELETE,   "SELECT omni_member_delete($1, $2)")                 \
    /* bot modules: api/ngx_omni_bot_modules.c */                           \
    X(BOT_MODULE_LIST,   "SELECT omni_bot_module_list($1, $2, $3)")         \
    X(BOT_MODULE_GET,    "SELECT omni_bot_module_get($1, $2)")              \
    X(BOT_MODULE_CREATE, "SELECT omni_bot_module_create($1, $2,"            \
                         " $3::jsonb)")                                     \
    X(BOT_MODULE_UPDATE, "SELECT omni_bot_module_update($1, $2,"            \
                         " $3::jsonb)")                                     \
    X(BOT_MODULE_DELETE, "SELECT omni_bot_module_delete($1, $2)")           \
    X(TOKEN_CREATE,    "SELECT omni_token_create($1, $2, $3::bytea)")       \
    X(CHANNEL_LIST,    "SELECT omni_channel_list($1, $2, $3)")              \
    X(CHANNEL_GET,     "SELECT omni_channel_get($1, $2)")                   \
    X(CHANNEL_CREATE,  "SELECT omni_channel_create($1, $2::jsonb)")         \
    X(CHANNEL_UPDATE,  "SELECT omni_channel_update($1, $2, $3::jsonb)")     \
    /* webhooks in: channels/ngx_omni_hooks.c, ngx_omni_inbox.c */          \
    X(HOOK_CHANNEL,    "SELECT tenant_id, type, secret, verify_token,"      \
                       " account FROM omni_hook_channel($1)")               \
    X(HOOK_ACCEPT,     "SELECT omni_hook_accept($1::jsonb)")                \
    X(INBOX_APPLY,     "SELECT omni_inbox_apply($1)")                       \
    X(CUSTOMER_GET,    "SELECT omni_customer_get($1, $2)")                  \
    X(CUSTOMER_FIND,   "SELECT omni_customer_find($1, $2, $3, $4, $5)")     \
    /* conversations: api/ngx_omni_conversations.c */                      \
    X(CONVERSATION_LIST, "SELECT omni_conversation_list($1, $2, $3, $4,"   \
                         " $5, $6)")                                        \
    X(CONVERSATION_GET, "SELECT omni_conversation_get($1, $2)")             \
    X(MESSAGE_LIST,    "SELECT omni_message_list($1, $2, $3, $4)")          \
    X(MESSAGE_CONTEXT, "SELECT channel_type, account, recipient,"           \
                       " last_inbound_ms, now_ms, window_json"              \
                       " FROM omni_message_send_context($1, $2)")           \
    X(MESSAGE_CONTENT, "SELECT omni_message_content($1, $2, $3, $4,"        \
                       " $5::jsonb)")                                       \
    X(MESSAGE_SEND,    "SELECT omni_message_send($1, $2, $3, $4,"           \
                       " $5::jsonb, $6::jsonb, $7::bigint)")                \
    /* saved replies: api/ngx_omni_saved_replies.c */                       \
    X(SAVED_REPLY_LIST, "SELECT omni_saved_reply_list($1, $2, $3, $4, $5,"  \
                        " $6, $7, $8)")                                     \
    X(SAVED_REPLY_GET, "SELECT omni_saved_reply_get($1, $2, $3, $4)")       \
    X(SAVED_REPLY_CREATE, "SELECT omni_saved_reply_create($1, $2,"          \
                          " $3::jsonb)")                                    \
    X(SAVED_REPLY_UPDATE, "SELECT omni_saved_reply_update($1, $2,"          \
                          " $3::jsonb, $4::timestamptz)")                   \
    X(SAVED_REPLY_DELETE, "SELECT omni_saved_reply_delete($1, $2,"          \
                          " $3::timestamptz)")                              \
    X(PIXEL_LOG,       "SELECT omni_pixel_log($1, $2, $3, $4,"              \
                       " $5::timestamptz, $6::timestamptz)")                \
    X(PX_RING_LOCK,    "SELECT omni_px_ring_lock($1)")                      \
    X(PX_KEYS,         "SELECT key, tenant_id FROM omni_px_keys($1)")       \
    X(PX_STORED,       "SELECT omni_px_stored($1, $2, $3)")                 \
    X(PX_CLAIM,        "SELECT id, tenant_id, phone_raw, default_region"    \
                       " FROM omni_px_capture_claim($1)")                   \
    X(PX_APPLY,        "SELECT omni_px_capture_apply($1::bigint[],"         \
                       " $2::text[], $3::text[])")                          \
    X(JOB_LEASE,       "SELECT omni_job_lease($1, $2, $3, $4)")             \
    X(JOB_RELEASE,     "SELECT omni_job_release($1, $2, $3)")               \
    X(JOB_LEASE_SWEEP, "SELECT omni_job_lease_sweep()")                     \
    /* delivery: channels/ngx_omni_outbox.c */                              \
    X(OUTBOX_CLAIM,    "SELECT tenant_id, id, message_id, channel_id,"      \
                       " channel_type, request, auth_value, attempts"       \
                       " FROM omni_outbox_claim($1, $2, $3, $4::jsonb)")    \
    X(OUTBOX_SENT,     "SELECT omni_outbox_sent($1, $2, $3, $4)")           \
    X(OUTBOX_RETRY,    "SELECT omni_outbox_retry($1, $2, $3, $4, $5,"       \
                       " $6::jsonb)")                                       \
    X(OUTBOX_FAILED,   "SELECT omni_outbox_failed($1, $2, $3, $4::jsonb)")


#define NGX_OMNI_STMT_ENUM(name, sql)  NGX_OMNI_STMT_##name,

typedef enum {
    NGX_OMNI_STATEMENTS(NGX_OMNI_STMT_ENUM)
    NGX_OMNI_STMT_N
} ngx_omni_stmt_e;


typedef struct {
    ngx_str_t   name;       /* prepared statement name: "omni_<stmt>" */
    const char *sql;
} ngx_omni_stmt_t;


extern ngx_omni_stmt_t  ngx_omni_stmts[NGX_OMNI_STMT_N];


#endif /* _NGX_OMNI_STMT_H_INCLUDED_ */
