
/*
 * The JSON API's backbone: match the route, read the body, hand over to
 * auth, gate by plan and role, run the endpoint's handler, and end the
 * request once every step of it has come back here.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_http.h"
#include "ngx_omni_api.h"
#include "ngx_omni_api_kit.h"
#include "ngx_omni_auth.h"
#include "ngx_omni_crud.h"
#include "ngx_omni_team.h"
#include "ngx_omni_channels.h"
#include "ngx_omni_customers.h"
#include "ngx_omni_conversations.h"
#include "ngx_omni_bot_modules.h"
#include "ngx_omni_pixel_log.h"
#include "ngx_omni_saved_replies.h"
#include "ngx_omni_media.h"


static ngx_omni_route_t *ngx_omni_api_route(ngx_omni_ctx_t *ctx,
    ngx_str_t *path, ngx_uint_t *allowed);
static void ngx_omni_api_body_read(ngx_http_request_t *r);
static ngx_int_t ngx_omni_api_start(ngx_omni_ctx_t *ctx);
static ngx_int_t ngx_omni_api_authorized(ngx_omni_ctx_t *ctx);
static void ngx_omni_api_resume(ngx_omni_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_omni_api_outcome(ngx_omni_ctx_t *ctx, ngx_int_t rc);
static void ngx_omni_api_finalize(ngx_omni_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_omni_api_allow_header(ngx_http_request_t *r,
    ngx_uint_t allowed);
static void ngx_omni_api_cleanup(void *data);


#define NGX_OMNI_API_ROUTE(methods, pattern, id, metric, handler,         \
                           resource, features, admin_writes)                \
    { methods, pattern, NGX_OMNI_EP_##id, handler, resource, features,      \
      admin_writes },

static ngx_omni_route_t  ngx_omni_routes[] = {
    NGX_OMNI_API_ROUTES(NGX_OMNI_API_ROUTE)
    { 0, NULL, 0, NULL, NULL, 0, 0 }
};


ngx_int_t
ngx_omni_api_handler(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t            rc;
    ngx_uint_t           allowed;
    ngx_omni_ctx_t      *ctx;
    ngx_http_cleanup_t  *cln;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_omni_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->endpoint = NGX_OMNI_EP_OTHER;
    ctx->request = r;
    ctx->resume = ngx_omni_api_resume;
    ctx->rc = NGX_DONE;
    ngx_http_set_ctx(r, ctx, ngx_http_omni_module);

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_omni_api_cleanup;
    cln->data = ctx;

    ctx->route = ngx_omni_api_route(ctx, path, &allowed);

    if (ctx->route == NULL) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni api: no route for %V \"%V\"",
                       &r->method_name, path);

        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (allowed == 0) {
            return ngx_omni_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "No such resource: %V", &r->uri);
        }

        if (ngx_omni_api_allow_header(r, allowed) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_omni_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                   "method_not_allowed",
                                   "%V is not allowed on %V",
                                   &r->method_name, &r->uri);
    }

    ctx->endpoint = ctx->route->endpoint;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni api: route %V \"%s\"",
                   &r->method_name, ctx->route->pattern);

    if (ctx->endpoint == NGX_OMNI_EP_MEDIA) {
        if (ngx_omni_media_refused(r, &rc)) {
            return rc;
        }

        /* media goes to a file whatever its size, never whole in memory */
        r->request_body_in_file_only = 1;
        r->request_body_in_clean_file = 1;

    } else {
        /* bodies stay in memory: /omni/ sets client_body_buffer_size */
        r->request_body_in_single_buf = 1;
    }

    rc = ngx_http_read_client_request_body(r, ngx_omni_api_body_read);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * "members/12/tokens" against "members/ * /tokens": a '*' takes one
 * segment of digits.  *allowed collects the methods of patterns that
 * matched the path but not the method (for 405 and Allow).
 */
static ngx_omni_route_t *
ngx_omni_api_route(ngx_omni_ctx_t *ctx, ngx_str_t *path, ngx_uint_t *allowed)
{
    u_char            *p, *end, *seg;
    char              *pat;
    ngx_uint_t         n;
    ngx_omni_route_t  *route;

    *allowed = 0;

    end = path->data + path->len;

    while (end > path->data && end[-1] == '/') {
        end--;
    }

    for (route = ngx_omni_routes; route->pattern; route++) {
        p = path->data;
        pat = route->pattern;
        n = 0;

        while (*pat && p < end) {
            if (*pat == '*') {
                seg = p;

                while (p < end && *p >= '0' && *p <= '9') {
                    p++;
                }

                if (p == seg || (p < end && *p != '/')
                    || n == NGX_OMNI_MAX_ARGS)
                {
                    break;
                }

                ctx->args[n].data = seg;
                ctx->args[n].len = p - seg;
                n++;
                pat++;
                continue;
            }

            if ((u_char) *pat != *p) {
                break;
            }

            pat++;
            p++;
        }

        if (*pat != '\0' || p != end) {
            continue;
        }

        if (!(route->method & ctx->request->method)) {
            *allowed |= route->method;
            continue;
        }

        ctx->nargs = n;
        return route;
    }

    return NULL;
}


static void
ngx_omni_api_body_read(ngx_http_request_t *r)
{
    ngx_int_t        rc;
    ngx_omni_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_omni_module);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni api: body read, %O bytes",
                   r->headers_in.content_length_n > 0
                   ? r->headers_in.content_length_n : 0);

    rc = ngx_omni_api_outcome(ctx, ngx_omni_api_start(ctx));

    if (rc == NGX_DONE) {
        return;
    }

    ngx_omni_api_finalize(ctx, rc);
}


/* who calls: at once from the cache, or once the token's load is back */
static ngx_int_t
ngx_omni_api_start(ngx_omni_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_omni_auth(ctx);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_omni_api_authorized(ctx);
}


static ngx_int_t
ngx_omni_api_authorized(ngx_omni_ctx_t *ctx)
{
    ngx_str_t            body;
    json_t              *json;
    json_error_t         err;
    ngx_omni_route_t    *route;
    ngx_http_request_t  *r;

    r = ctx->request;
    route = ctx->route;

    ctx->authenticated = 1;

    if (route->features && (ctx->member.plan & route->features) == 0) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni api: gate refused: plan 0x%xD",
                       ctx->member.plan);

        return ngx_omni_send_error(r, NGX_HTTP_FORBIDDEN,
                                   "feature_not_in_plan",
                                   "The tenant's plan does not include "
                                   "this feature");
    }

    if (route->admin_writes && r->method != NGX_HTTP_GET
        && ctx->member.role != OMNI_ROLE_ADMIN)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni api: gate refused: role %d, not admin",
                       ctx->member.role);

        return ngx_omni_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden_role",
                                   "Only an admin may change the team");
    }

    /*
     * Arguments reach PostgreSQL as C strings: a %00 would silently cut
     * one short (a cursor, an attribute's key), so it is refused here for
     * every endpoint.
     */
    if (r->args.len >= 3
        && ngx_strlcasestrn(r->args.data, r->args.data + r->args.len,
                            (u_char *) "%00", 3 - 1)
           != NULL)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni api: gate refused: %%00 in the arguments");

        return ngx_omni_send_error(r, NGX_HTTP_BAD_REQUEST,
                                   "invalid_parameter",
                                   "A query argument holds a NUL byte "
                                   "(%%00)");
    }

    if (r->request_body_in_file_only) {
        /* raw bytes on disk (media): the handler reads them */
        return route->handler(ctx);
    }

    if (ngx_omni_body_bytes(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (body.len) {
        json = json_loadb((char *) body.data, body.len,
                          JSON_REJECT_DUPLICATES, &err);

        if (json == NULL) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "omni api: gate refused: the body is not JSON");

            return ngx_omni_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_json",
                                       "The body is not valid JSON: %s "
                                       "(at line %d, column %d)",
                                       err.text, err.line, err.column);
        }

        ctx->body = json;
    }

    return route->handler(ctx);
}


/*
 * A step that ended on an event of its own: the token's load (NGX_OK: the
 * member is known) or a query's answer.
 */
static void
ngx_omni_api_resume(ngx_omni_ctx_t *ctx, ngx_int_t rc)
{
    ngx_connection_t  *c;

    if (!ctx->authenticated && rc == NGX_OK) {
        rc = ngx_omni_api_authorized(ctx);
    }

    rc = ngx_omni_api_outcome(ctx, rc);

    if (rc == NGX_DONE) {
        return;
    }

    /* outside the request's own events: posted requests are ours to run */
    c = ctx->request->connection;

    ngx_omni_api_finalize(ctx, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * The rc to finalize with: a step's own, or that of the answer it sent;
 * NGX_DONE while a query is in flight (it comes back through resume).
 */
static ngx_int_t
ngx_omni_api_outcome(ngx_omni_ctx_t *ctx, ngx_int_t rc)
{
    ngx_http_request_t  *r;

    if (rc != NGX_DONE) {
        return rc;
    }

    /* r->aio: a thread task of the handler's, back through resume too */
    if (ctx->rc != NGX_DONE || ctx->query || ctx->request->aio) {
        return ctx->rc;
    }

    /* nothing answered and nothing will: never leave a client hanging */
    r = ctx->request;

    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "omni: \"%V\" ended without an answer", &r->uri);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


static void
ngx_omni_api_finalize(ngx_omni_ctx_t *ctx, ngx_int_t rc)
{
    ngx_http_request_t  *r;

    r = ctx->request;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni api: answer sent: status %ui, rc %i",
                   r->headers_out.status, rc);

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_omni_api_allow_header(ngx_http_request_t *r, ngx_uint_t allowed)
{
    u_char           *p;
    ngx_uint_t        i;
    ngx_table_elt_t  *h;

    static struct {
        ngx_uint_t   method;
        char        *name;
    } methods[] = {
        { NGX_HTTP_GET, "GET, " },
        { NGX_HTTP_POST, "POST, " },
        { NGX_HTTP_PUT, "PUT, " },
        { NGX_HTTP_PATCH, "PATCH, " },
        { NGX_HTTP_DELETE, "DELETE, " }
    };

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, sizeof("GET, POST, PUT, PATCH, DELETE, "));
    if (p == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = p;

    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (allowed & methods[i].method) {
            p = ngx_cpymem(p, methods[i].name, ngx_strlen(methods[i].name));
        }
    }

    h->value.len = p - h->value.data;

    if (h->value.len >= 2) {
        h->value.len -= 2;
    }

    return NGX_OK;
}


static void
ngx_omni_api_cleanup(void *data)
{
    ngx_omni_ctx_t  *ctx = data;

    if (ctx->query) {
        ngx_omni_pg_query_abandon(ctx->query);
        ctx->query = NULL;
    }

    if (ctx->body) {
        json_decref(ctx->body);
        ctx->body = NULL;
    }
}
