
/*
 * The Pixel log page: a tenant's events, newest first.
 */

#ifndef _NGX_OMNI_PIXEL_LOG_H_INCLUDED_
#define _NGX_OMNI_PIXEL_LOG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_omni_api_kit.h"


ngx_int_t ngx_omni_pixel_logs(ngx_omni_ctx_t *ctx);


#endif /* _NGX_OMNI_PIXEL_LOG_H_INCLUDED_ */
