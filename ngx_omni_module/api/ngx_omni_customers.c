
/*
 * Customers lookup: by social identity, visitor id, email, phone, tag or
 * custom attribute, and one customer by id.  Phones are read as the
 * Pixel reads them (the tenant's default region for national numbers), so
 * "9123 4567", "+852 9123-4567" and "0085291234567" find the same one.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_http.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_api_kit.h"
#include "ngx_omni_customers.h"
#include "omni_phone.h"


#define NGX_OMNI_FILTER_MAX  512


static ngx_int_t ngx_omni_customers_filter(ngx_omni_ctx_t *ctx,
    ngx_str_t *by, ngx_str_t *value);
static ngx_int_t ngx_omni_customers_phone(ngx_omni_ctx_t *ctx,
    ngx_str_t *value);


static char  *ngx_omni_customer_filters[] = {
    "identity", "visitor_id", "email", "phone", "tag", NULL
};


ngx_int_t
ngx_omni_customers_find(ngx_omni_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  params[5];

    rc = ngx_omni_page_args(ctx, &params[3], &params[4], 200);

    if (rc == NGX_OK) {
        rc = ngx_omni_cursor_id(ctx, &params[3]);
    }

    if (rc == NGX_OK) {
        rc = ngx_omni_customers_filter(ctx, &params[1], &params[2]);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_omni_param_tenant(ctx, &params[0]) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_omni_api_query(ctx, NGX_OMNI_STMT_CUSTOMER_FIND, NGX_HTTP_OK,
                              5, params);
}


ngx_int_t
ngx_omni_customers_get(ngx_omni_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  params[2];

    rc = ngx_omni_id_params(ctx, params);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_omni_api_query(ctx, NGX_OMNI_STMT_CUSTOMER_GET, NGX_HTTP_OK,
                              2, params);
}


/*
 * At most one filter per call; "attr.KEY=VALUE" names its key in the
 * argument.  No filter lists every customer.
 */
static ngx_int_t
ngx_omni_customers_filter(ngx_omni_ctx_t *ctx, ngx_str_t *by,
    ngx_str_t *value)
{
    u_char              *p, *end, *key, *eq, *dst;
    char               **f;
    ngx_str_t            v;
    ngx_uint_t           found;
    ngx_http_request_t  *r;

    r = ctx->request;
    found = 0;

    ngx_str_set(by, "all");
    value->data = NULL;
    value->len = 0;

    for (f = ngx_omni_customer_filters; *f; f++) {
        if (ngx_omni_arg(r, *f, &v) != NGX_OK) {
            continue;
        }

        found++;
        by->data = (u_char *) *f;
        by->len = ngx_strlen(*f);
        *value = v;
    }

    /* attr.KEY: scan the raw query for the prefix */
    p = r->args.data;
    end = p + r->args.len;

    while (p < end) {
        key = p;

        while (p < end && *p != '&') {
            p++;
        }

        if (p - key > 5 && ngx_strncmp(key, "attr.", 5) == 0) {
            eq = ngx_strlchr(key, p, '=');

            if (eq == NULL || eq - key == 5) {
                return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid_parameter",
                                     "attr.KEY needs a key and a value");
            }

            found++;

            dst = ngx_pnalloc(r->pool, p - key + 2);
            if (dst == NULL) {
                return ngx_omni_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "Out of memory");
            }

            by->data = dst;
            ngx_unescape_uri(&dst, &key, eq - key, 0);
            by->len = dst - by->data;
            *dst++ = '\0';

            eq++;
            value->data = dst;
            ngx_unescape_uri(&dst, &eq, p - eq, 0);
            value->len = dst - value->data;
            *dst = '\0';
        }

        p++;
    }

    if (found > 1) {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_parameter",
                             "Give at most one of identity, visitor_id, "
                             "email, phone, tag, attr.KEY");
    }

    if (ngx_omni_arg(r, "list", &v) == NGX_OK) {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_parameter",
                             "list=mine|team is not available yet");
    }

    if (found == 0) {
        return NGX_OK;
    }

    if (value->len == 0 || value->len > NGX_OMNI_FILTER_MAX
        || ngx_strlchr(value->data, value->data + value->len, '\0'))
    {
        return ngx_omni_fail(ctx, NGX_HTTP_BAD_REQUEST, "invalid_parameter",
                             "The %V filter needs a value of 1 to %d bytes",
                             by, NGX_OMNI_FILTER_MAX);
    }

    if (by->len == 5 && ngx_strncmp(by->data, "phone", 5) == 0) {
        return ngx_omni_customers_phone(ctx, value);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_omni_customers_phone(ngx_omni_ctx_t *ctx, ngx_str_t *value)
{
    u_char        *p;
    omni_phone_t   phone;

    omni_phone_parse((char *) value->data, value->len,
                     ctx->member.default_region, &phone);

    if (phone.e164[0] == '\0') {
        /* not a number we read: look for it as it was stored */
        return NGX_OK;
    }

    p = ngx_pnalloc(ctx->request->pool, sizeof(phone.e164) + 1);
    if (p == NULL) {
        return ngx_omni_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                             "internal_error", "Out of memory");
    }

    value->data = p;
    *p++ = '+';
    p = ngx_cpystrn(p, (u_char *) phone.e164, sizeof(phone.e164));
    value->len = p - value->data;

    return NGX_OK;
}
