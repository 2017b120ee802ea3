
/*
 * POST /media: an upload judged by its bytes, images fitted to the size
 * limit, stored content-addressed in PostgreSQL's chunk store.
 */

#ifndef _NGX_OMNI_MEDIA_H_INCLUDED_
#define _NGX_OMNI_MEDIA_H_INCLUDED_


#include "ngx_omni_api_kit.h"


ngx_int_t ngx_omni_media_upload(ngx_omni_ctx_t *ctx);

/*
 * Before the body is read: a video or a file whose declared length is
 * over its kind's limit is refused at once (413, the body discarded), so
 * it never reaches the disk.  1 when it answered (*rc: the answer's rc
 * to finalize with), 0 to read the body.
 */
ngx_uint_t ngx_omni_media_refused(ngx_http_request_t *r, ngx_int_t *rc);


#endif /* _NGX_OMNI_MEDIA_H_INCLUDED_ */
