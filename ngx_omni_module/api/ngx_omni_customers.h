
/*
 * Customers lookup: by identity, visitor, email, phone, tag or attribute,
 * and one customer by id.
 */

#ifndef _NGX_OMNI_CUSTOMERS_H_INCLUDED_
#define _NGX_OMNI_CUSTOMERS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_omni_api_kit.h"


ngx_int_t ngx_omni_customers_find(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_customers_get(ngx_omni_ctx_t *ctx);


#endif /* _NGX_OMNI_CUSTOMERS_H_INCLUDED_ */
