
/*
 * Channel webhooks in: "omni_webhooks;" serves POST /omni/hooks/{channel}
 * (signed events, durable in the inbox before the 200) and GET (Meta's
 * subscription handshake).
 */

#ifndef _NGX_OMNI_HOOKS_H_INCLUDED_
#define _NGX_OMNI_HOOKS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* the content handler of an "omni_webhooks" location */
ngx_int_t ngx_omni_hooks_handler(ngx_http_request_t *r);


#endif /* _NGX_OMNI_HOOKS_H_INCLUDED_ */
