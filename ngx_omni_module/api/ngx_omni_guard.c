
/*
 * "omni_auth": the API's own token check (ngx_omni_auth: the shared
 * cache, PostgreSQL on a miss) in nginx's access phase, for any location.
 * A miss leaves the phases; the answer runs them again, and the handler,
 * called once more, finds its outcome in the module ctx (as auth_request
 * does).  On success the member's fields are variables for
 * proxy_set_header, and the Authorization header is taken off the list
 * an upstream is sent from.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_http.h"
#include "ngx_omni_api_kit.h"
#include "ngx_omni_auth.h"
#include "ngx_omni_guard.h"


/* not an endpoint: the log phase counts nothing for a guarded request */
#define NGX_OMNI_GUARD_ENDPOINT  NGX_OMNI_EP_N

#define NGX_OMNI_GUARD_TENANT    0
#define NGX_OMNI_GUARD_MEMBER    1
#define NGX_OMNI_GUARD_ROLE      2
#define NGX_OMNI_GUARD_BRANCHES  3
#define NGX_OMNI_GUARD_PLAN      4
#define NGX_OMNI_GUARD_NVARS     5


static ngx_int_t ngx_omni_guard_handler(ngx_http_request_t *r);
static void ngx_omni_guard_resume(ngx_omni_ctx_t *ctx, ngx_int_t rc);
static void ngx_omni_guard_outcome(ngx_omni_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_omni_guard_decide(ngx_omni_ctx_t *ctx);
static ngx_int_t ngx_omni_guard_refuse(ngx_omni_ctx_t *ctx);
static ngx_int_t ngx_omni_guard_set_variables(ngx_omni_ctx_t *ctx);
static void ngx_omni_guard_set(ngx_http_request_t *r, ngx_uint_t var,
    u_char *data, u_char *last);
static ngx_int_t ngx_omni_guard_hide_token(ngx_http_request_t *r);
static ngx_int_t ngx_omni_guard_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static char *ngx_omni_guard_list(ngx_conf_t *cf, ngx_str_t *list,
    ngx_uint_t roles, uint32_t *bits);
static void ngx_omni_guard_cleanup(void *data);


static ngx_str_t  ngx_omni_guard_names[NGX_OMNI_GUARD_NVARS] = {
    ngx_string("omni_tenant_id"),
    ngx_string("omni_member_id"),
    ngx_string("omni_role"),
    ngx_string("omni_branch_ids"),
    ngx_string("omni_plan")
};

static ngx_int_t  ngx_omni_guard_index[NGX_OMNI_GUARD_NVARS];


char *
ngx_omni_guard_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_omni_loc_conf_t  *olcf = conf;

    ngx_str_t             *value, list;
    ngx_uint_t             i;
    ngx_omni_main_conf_t  *omcf;

    if (olcf->auth != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        olcf->auth = 0;
        return NGX_CONF_OK;
    }

    olcf->auth = 1;
    olcf->auth_roles = 0;
    olcf->auth_plan = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "roles=", 6) == 0) {
            list.data = value[i].data + 6;
            list.len = value[i].len - 6;

            if (ngx_omni_guard_list(cf, &list, 1, &olcf->auth_roles)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "plan=", 5) == 0) {
            list.data = value[i].data + 5;
            list.len = value[i].len - 5;

            if (ngx_omni_guard_list(cf, &list, 0, &olcf->auth_plan)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" takes roles=R,... and plan=F,..., "
                           "not \"%V\"", &cmd->name, &value[i]);
        return NGX_CONF_ERROR;
    }

    /* the token cache and PostgreSQL come up in the workers */
    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_omni_module);
    omcf->enabled = 1;

    return NGX_CONF_OK;
}


/* "admin,supervisor" -> 1 << role each, or "cs,omo" -> feature bits */
static char *
ngx_omni_guard_list(ngx_conf_t *cf, ngx_str_t *list, ngx_uint_t roles,
    uint32_t *bits)
{
    u_char    *p, *last, *name;
    uint32_t   bit;

    p = list->data;
    last = p + list->len;

    if (list->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"omni_auth\": an empty list of %s",
                           roles ? "roles" : "features");
        return NGX_CONF_ERROR;
    }

    while (p <= last) {
        name = p;

        while (p < last && *p != ',') {
            p++;
        }

        if (roles) {
            bit = omni_role_parse((char *) name, p - name);
            bit = (bit == OMNI_ROLE_NONE) ? 0 : 1u << bit;

        } else {
            bit = omni_feature_parse((char *) name, p - name);
        }

        if (bit == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"omni_auth\": unknown %s \"%*s\"",
                               roles ? "role" : "plan feature",
                               (size_t) (p - name), name);
            return NGX_CONF_ERROR;
        }

        *bits |= bit;
        p++;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_omni_guard_add_variables(ngx_conf_t *cf)
{
    ngx_uint_t            i;
    ngx_http_variable_t  *var;

    for (i = 0; i < NGX_OMNI_GUARD_NVARS; i++) {
        var = ngx_http_add_variable(cf, &ngx_omni_guard_names[i], 0);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = ngx_omni_guard_variable;
    }

    return NGX_OK;
}


ngx_int_t
ngx_omni_guard_init(ngx_conf_t *cf)
{
    ngx_int_t                   index;
    ngx_uint_t                  i;
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    for (i = 0; i < NGX_OMNI_GUARD_NVARS; i++) {
        index = ngx_http_get_variable_index(cf, &ngx_omni_guard_names[i]);
        if (index == NGX_ERROR) {
            return NGX_ERROR;
        }

        ngx_omni_guard_index[i] = index;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_omni_guard_handler;

    return NGX_OK;
}


/* before the guard has passed (or where there is none): no value */
static ngx_int_t
ngx_omni_guard_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    (void) r;
    (void) data;

    v->not_found = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_omni_guard_handler(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_omni_ctx_t       *ctx;
    ngx_http_cleanup_t   *cln;
    ngx_omni_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_omni_module);

    if (olcf->auth != 1) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_omni_module);

    if (ctx != NULL) {
        /* called again: by the phases once the token is back, or early */
        if (ctx->query) {
            return NGX_AGAIN;
        }

        return ngx_omni_guard_decide(ctx);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_omni_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->endpoint = NGX_OMNI_GUARD_ENDPOINT;
    ctx->request = r;
    ctx->resume = ngx_omni_guard_resume;
    ctx->rc = NGX_DONE;
    ctx->hold = 1;

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_omni_guard_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_omni_module);

    rc = ngx_omni_auth(ctx);

    if (rc == NGX_DONE && ctx->query) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni guard: waiting for the token's load");

        return NGX_AGAIN;
    }

    ngx_omni_guard_outcome(ctx, rc);

    return ngx_omni_guard_decide(ctx);
}


/* the token's load is back: run the phases again from this handler */
static void
ngx_omni_guard_resume(ngx_omni_ctx_t *ctx, ngx_int_t rc)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ngx_omni_guard_outcome(ctx, rc);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "omni guard: token loaded, rc %i, phases resume",
                   ctx->rc);

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


/*
 * ctx->rc from the auth's rc: NGX_OK, the member is known; NGX_DONE, a
 * refusal is held in ctx (ctx->rc its status); else an error to end with.
 */
static void
ngx_omni_guard_outcome(ngx_omni_ctx_t *ctx, ngx_int_t rc)
{
    if (rc != NGX_DONE) {
        ctx->rc = rc;
    }
}


static ngx_int_t
ngx_omni_guard_decide(ngx_omni_ctx_t *ctx)
{
    ngx_http_request_t   *r;
    ngx_omni_loc_conf_t  *olcf;

    r = ctx->request;

    if (ctx->rc != NGX_OK) {
        return ngx_omni_guard_refuse(ctx);
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_omni_module);

    if (olcf->auth_roles
        && (olcf->auth_roles & (1u << ctx->member.role)) == 0)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni guard: refused: role %d", ctx->member.role);

        (void) ngx_omni_fail(ctx, NGX_HTTP_FORBIDDEN, "forbidden_role",
                             "The member's role may not use this resource");

        return ngx_omni_guard_refuse(ctx);
    }

    if (olcf->auth_plan && (ctx->member.plan & olcf->auth_plan) == 0) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni guard: refused: plan 0x%xD", ctx->member.plan);

        (void) ngx_omni_fail(ctx, NGX_HTTP_FORBIDDEN, "feature_not_in_plan",
                             "The tenant's plan does not include this "
                             "resource");

        return ngx_omni_guard_refuse(ctx);
    }

    if (!ctx->authenticated) {
        if (ngx_omni_guard_set_variables(ctx) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (!olcf->auth_forward_token
            && ngx_omni_guard_hide_token(r) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->authenticated = 1;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni guard: passed: member %L of tenant %L",
                   ctx->member.member_id, ctx->member.tenant_id);

    return NGX_OK;
}


/*
 * A refusal.  Under "satisfy any" a 401 or 403 goes back to the access
 * phase, which may still let another module allow the request (and sends
 * its error_page if none does); otherwise the answer is sent here in
 * omni's JSON shape.  A 503 (PostgreSQL down) is never a pass.
 */
static ngx_int_t
ngx_omni_guard_refuse(ngx_omni_ctx_t *ctx)
{
    ngx_int_t                  rc;
    ngx_uint_t                 status;
    ngx_table_elt_t           *h;
    ngx_http_request_t        *r;
    ngx_http_core_loc_conf_t  *clcf;

    r = ctx->request;
    status = ctx->fail_status;

    if (status == 0 || ctx->fail_code.len == 0) {
        /* nothing to tell: an internal error, nginx's own answer */
        return (ctx->rc == NGX_DONE) ? NGX_HTTP_INTERNAL_SERVER_ERROR
                                     : ctx->rc;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->satisfy == NGX_HTTP_SATISFY_ANY
        && (status == NGX_HTTP_UNAUTHORIZED || status == NGX_HTTP_FORBIDDEN))
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni guard: refused %ui, satisfy any goes on",
                       status);

        return status;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    if (status == NGX_HTTP_UNAUTHORIZED) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "WWW-Authenticate");
        ngx_str_set(&h->value, "Bearer realm=\"omni\"");
        r->headers_out.www_authenticate = h;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni guard: refused %ui: %V", status, &ctx->fail_code);

    rc = ngx_omni_send_error(r, status, (char *) ctx->fail_code.data,
                             "%V", &ctx->fail_message);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


static ngx_int_t
ngx_omni_guard_set_variables(ngx_omni_ctx_t *ctx)
{
    size_t               len;
    u_char              *buf, *p, *start;
    uint32_t             bit;
    ngx_uint_t           i;
    const char          *name;
    ngx_http_request_t  *r;

    r = ctx->request;

    len = 2 * NGX_INT64_LEN + OMNI_MAX_BRANCHES * (NGX_INT64_LEN + 1)
          + 32 + 8 * 24;

    buf = ngx_pnalloc(r->pool, len);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = buf;

    start = p;
    p = ngx_sprintf(p, "%L", ctx->member.tenant_id);
    ngx_omni_guard_set(r, NGX_OMNI_GUARD_TENANT, start, p);

    start = p;
    p = ngx_sprintf(p, "%L", ctx->member.member_id);
    ngx_omni_guard_set(r, NGX_OMNI_GUARD_MEMBER, start, p);

    start = p;
    p = ngx_sprintf(p, "%s", omni_role_name(ctx->member.role));
    ngx_omni_guard_set(r, NGX_OMNI_GUARD_ROLE, start, p);

    start = p;

    for (i = 0; i < ctx->member.nbranches; i++) {
        p = ngx_sprintf(p, i ? ",%L" : "%L", ctx->member.branch_ids[i]);
    }

    ngx_omni_guard_set(r, NGX_OMNI_GUARD_BRANCHES, start, p);

    start = p;

    for (i = 0; (bit = omni_feature_at(i, &name)) != 0; i++) {
        if (ctx->member.plan & bit) {
            p = ngx_sprintf(p, p == start ? "%s" : ",%s", name);
        }
    }

    ngx_omni_guard_set(r, NGX_OMNI_GUARD_PLAN, start, p);

    return NGX_OK;
}


static void
ngx_omni_guard_set(ngx_http_request_t *r, ngx_uint_t var, u_char *data,
    u_char *last)
{
    ngx_http_variable_value_t  *v;

    v = &r->variables[ngx_omni_guard_index[var]];

    v->data = data;
    v->len = last - data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
}


/*
 * Upstreams are sent the request's header list (proxy, fastcgi, grpc...):
 * a copy without the Authorization line takes its place.  The headers_in
 * pointers still point at the old lines, so the guard of a location this
 * request is redirected to still finds the token.
 */
static ngx_int_t
ngx_omni_guard_hide_token(ngx_http_request_t *r)
{
    ngx_uint_t        i, n;
    ngx_list_t        old;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *e;

    if (r->headers_in.authorization == NULL) {
        return NGX_OK;
    }

    n = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        n += part->nelts;
    }

    old = r->headers_in.headers;

    if (ngx_list_init(&r->headers_in.headers, r->pool, n ? n : 1,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (part = &old.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].key.len == sizeof("Authorization") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "Authorization",
                                   sizeof("Authorization") - 1)
                   == 0)
            {
                continue;
            }

            e = ngx_list_push(&r->headers_in.headers);
            if (e == NULL) {
                return NGX_ERROR;
            }

            *e = h[i];
        }
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni guard: Authorization kept from the upstream");

    return NGX_OK;
}


static void
ngx_omni_guard_cleanup(void *data)
{
    ngx_omni_ctx_t  *ctx = data;

    if (ctx->query) {
        ngx_omni_pg_query_abandon(ctx->query);
        ctx->query = NULL;
    }
}
