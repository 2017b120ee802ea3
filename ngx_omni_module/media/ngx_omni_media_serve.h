
/*
 * GET /omni/media/{sha256}[.ext]: public, served by nginx from this
 * host's disk cache (sendfile, ETag, Range); a miss is filled from
 * PostgreSQL's chunk store first.
 */

#ifndef _NGX_OMNI_MEDIA_SERVE_H_INCLUDED_
#define _NGX_OMNI_MEDIA_SERVE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_omni_media_serve_handler(ngx_http_request_t *r);


#endif /* _NGX_OMNI_MEDIA_SERVE_H_INCLUDED_ */
