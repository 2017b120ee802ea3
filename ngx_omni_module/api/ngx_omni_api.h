
/*
 * The JSON API's router: a request below /omni/api/v1/ is routed, read,
 * authenticated, gated and handed to its endpoint's handler.
 */

#ifndef _NGX_OMNI_API_H_INCLUDED_
#define _NGX_OMNI_API_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* path: below "api/v1/", e.g. "members/12/tokens" */
ngx_int_t ngx_omni_api_handler(ngx_http_request_t *r, ngx_str_t *path);


#endif /* _NGX_OMNI_API_H_INCLUDED_ */
