
/*
 * Channels: the brand's connected WhatsApp, Messenger, Instagram and LINE
 * accounts.
 */

#ifndef _NGX_OMNI_CHANNELS_H_INCLUDED_
#define _NGX_OMNI_CHANNELS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_omni_api_kit.h"


ngx_int_t ngx_omni_channels(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_channel(ngx_omni_ctx_t *ctx);


#endif /* _NGX_OMNI_CHANNELS_H_INCLUDED_ */
