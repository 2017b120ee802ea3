
/*
 * Saved replies: the list (cached per member in shared memory), one
 * reply, create, edit and delete under the seed's table of rights.
 */

#ifndef _NGX_OMNI_SAVED_REPLIES_H_INCLUDED_
#define _NGX_OMNI_SAVED_REPLIES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_omni_api_kit.h"


ngx_int_t ngx_omni_saved_replies_list(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_saved_replies_get(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_saved_replies_create(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_saved_replies_update(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_saved_replies_delete(ngx_omni_ctx_t *ctx);


#endif /* _NGX_OMNI_SAVED_REPLIES_H_INCLUDED_ */
