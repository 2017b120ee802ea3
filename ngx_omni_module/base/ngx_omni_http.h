
/*
 * One way to answer and one way to read a body, for every surface of the
 * module: JSON, JSON errors, raw bytes, query arguments.
 */

#ifndef _NGX_OMNI_HTTP_H_INCLUDED_
#define _NGX_OMNI_HTTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_omni_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *json, size_t len);
ngx_int_t ngx_omni_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *fmt, ...);
ngx_int_t ngx_omni_send_bytes(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len, ngx_uint_t memory);
const char *ngx_omni_status_code_name(ngx_uint_t status);
ngx_int_t ngx_omni_body_bytes(ngx_http_request_t *r, ngx_str_t *out);

/* the URI below the location's prefix, leading slashes off: "api/v1/me" */
void ngx_omni_location_tail(ngx_http_request_t *r, ngx_str_t *path);
ngx_int_t ngx_omni_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);

/*
 * Marks a request as one of ours for the metrics of its endpoint.  The
 * module ctx of every omni request starts with its endpoint number; a
 * request with no other state (a beacon) gets a static tag, no allocation.
 */
void ngx_omni_tag(ngx_http_request_t *r, ngx_uint_t endpoint);


#endif /* _NGX_OMNI_HTTP_H_INCLUDED_ */
