
/*
 * Who is calling: "Authorization: Bearer TOKEN" -> the member, from the
 * shared cache or from PostgreSQL.
 */

#ifndef _NGX_OMNI_AUTH_H_INCLUDED_
#define _NGX_OMNI_AUTH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_omni_api_kit.h"


/*
 * NGX_OK: ctx->member is the caller.  NGX_DONE: refused (answered), or the
 * token is being loaded and ctx->resume() gets NGX_OK or NGX_DONE when it
 * is back.
 */
ngx_int_t ngx_omni_auth(ngx_omni_ctx_t *ctx);


#endif /* _NGX_OMNI_AUTH_H_INCLUDED_ */
