
/*
 * The Pixel's edge: beacons (GIF and POST) and the script, no token.
 */

#ifndef _NGX_OMNI_BEACON_H_INCLUDED_
#define _NGX_OMNI_BEACON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_omni_pixel_handler(ngx_http_request_t *r, ngx_str_t *path);
/* the beacon's answer: the 43-byte GIF, not to be cached */
ngx_int_t ngx_omni_pixel_send_gif(ngx_http_request_t *r);


#endif /* _NGX_OMNI_BEACON_H_INCLUDED_ */
