
/*
 * Bot modules: a tenant's interactive messages (buttons, carousels,
 * quick replies, cart, coupon and keyword cards) that saved replies and
 * journeys send.  Every member reads them; the roles that may create bot
 * saved replies manage them (core/omni_bot).
 */

#ifndef _NGX_OMNI_BOT_MODULES_H_INCLUDED_
#define _NGX_OMNI_BOT_MODULES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_omni_api_kit.h"


/* GET|POST bot-modules, GET|PATCH|DELETE bot-modules/{id} */
ngx_int_t ngx_omni_bot_modules(ngx_omni_ctx_t *ctx);


#endif /* _NGX_OMNI_BOT_MODULES_H_INCLUDED_ */
