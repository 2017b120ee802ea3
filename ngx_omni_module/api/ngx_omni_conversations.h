
/*
 * Conversations: lists, one conversation, its messages, and the outbound
 * path (send and preview).
 */

#ifndef _NGX_OMNI_CONVERSATIONS_H_INCLUDED_
#define _NGX_OMNI_CONVERSATIONS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_omni_api_kit.h"


ngx_int_t ngx_omni_conversations_list(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_conversations_get(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_conversations_messages(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_conversations_send(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_conversations_preview(ngx_omni_ctx_t *ctx);


#endif /* _NGX_OMNI_CONVERSATIONS_H_INCLUDED_ */
