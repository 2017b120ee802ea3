
/*
 * POST /media: an upload judged by its bytes, images fitted to the size
 * limit, stored content-addressed in PostgreSQL's chunk store.
 */

#ifndef _NGX_OMNI_MEDIA_H_INCLUDED_
#define _NGX_OMNI_MEDIA_H_INCLUDED_


#include "ngx_omni_api_kit.h"


ngx_int_t ngx_omni_media_upload(ngx_omni_ctx_t *ctx);


#endif /* _NGX_OMNI_MEDIA_H_INCLUDED_ */
