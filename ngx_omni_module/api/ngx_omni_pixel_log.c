
/*
 * The Pixel log page: a tenant's events newest first, up to 100 a page
 * (the seed's page size), filtered by event name and time, paged by an
 * opaque keyset cursor that PostgreSQL makes and checks.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_http.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_api_kit.h"
#include "ngx_omni_pixel_log.h"


#define NGX_OMNI_PIXEL_LOG_PAGE  100


ngx_int_t
ngx_omni_pixel_logs(ngx_omni_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_str_t            params[6];
    ngx_uint_t           i;
    ngx_http_request_t  *r;

    static char  *args[] = { "ev", "since", "until" };

    r = ctx->request;

    /* params: tenant, per_page, cursor, ev, since, until */
    rc = ngx_omni_page_args(ctx, &params[2], &params[1],
                            NGX_OMNI_PIXEL_LOG_PAGE);
    if (rc != NGX_OK) {
        return rc;
    }

    for (i = 0; i < 3; i++) {
        if (ngx_omni_arg(r, args[i], &params[3 + i]) == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (params[3 + i].data && params[3 + i].len == 0) {
            params[3 + i].data = NULL;
        }

        if (params[3 + i].len > 128) {
            return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST,
                                 "invalid_parameter",
                                 "%s is longer than 128 bytes", args[i]);
        }
    }

    if (ngx_omni_param_tenant(ctx, &params[0]) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_omni_api_query(ctx, NGX_OMNI_STMT_PIXEL_LOG, NGX_HTTP_OK, 6,
                              params);
}
