
/*
 * A media's public URL, for answers and for sending: the operator's
 * omni_media_url prefix + the sha256 in hex + the type's extension.
 */

#ifndef _NGX_OMNI_MEDIA_URL_H_INCLUDED_
#define _NGX_OMNI_MEDIA_URL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* "https://shop.example/omni/media/" + 64 hex + ".png"; out in pool */
ngx_int_t ngx_omni_media_url(ngx_pool_t *pool, ngx_str_t *sha256hex,
    ngx_str_t *mime, ngx_str_t *out);


#endif /* _NGX_OMNI_MEDIA_URL_H_INCLUDED_ */
