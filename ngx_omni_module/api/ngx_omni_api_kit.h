
/*
 * The handlers' kit: a request's state (ngx_omni_ctx_t) and the one way
 * a handler checks its input, runs its statement and answers.
 */

#ifndef _NGX_OMNI_API_KIT_H_INCLUDED_
#define _NGX_OMNI_API_KIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_omni_module.h"
#include "ngx_omni_pg.h"


#define NGX_OMNI_MAX_ARGS         4


typedef struct ngx_omni_ctx_s  ngx_omni_ctx_t;

typedef ngx_int_t (*ngx_omni_api_handler_pt)(ngx_omni_ctx_t *ctx);
typedef ngx_int_t (*ngx_omni_api_result_pt)(ngx_omni_ctx_t *ctx,
    PGresult *res);

/*
 * The router's continuation: a step that ends on an event of its own
 * (the token's load, a query) hands its rc back through it, so that the
 * router alone carries a request from its route to its end.
 */
typedef void (*ngx_omni_api_resume_pt)(ngx_omni_ctx_t *ctx, ngx_int_t rc);


/* one route of the JSON API: METHOD + path pattern ("members/ *") */
typedef struct {
    ngx_uint_t                method;      /* NGX_HTTP_GET | ... */
    char                     *pattern;
    ngx_uint_t                endpoint;    /* NGX_OMNI_EP_* for metrics */
    ngx_omni_api_handler_pt   handler;
    void                     *resource;    /* a generic handler's row */
    uint32_t                  features;    /* any of these plan features */
    ngx_uint_t                admin_writes;  /* only admins change it */
} ngx_omni_route_t;


struct ngx_omni_ctx_s {
    ngx_uint_t                endpoint;    /* first: see ngx_omni_tag() */
    ngx_http_request_t       *request;
    ngx_omni_route_t         *route;
    ngx_str_t                 args[NGX_OMNI_MAX_ARGS];  /* '*' segments */
    ngx_uint_t                nargs;

    ngx_omni_member_t         member;
    ngx_str_t                 token;
    uint64_t                  cache_gen;   /* generation read before a miss */
    u_char                    token_sha256[32];

    json_t                   *body;        /* request JSON, freed by cleanup */
    ngx_omni_pg_query_t      *query;       /* in flight, abandoned by cleanup */
    ngx_uint_t                stmt;        /* its statement, for the log */
    ngx_omni_api_resume_pt    resume;      /* the router's, see above */
    ngx_omni_api_result_pt    done;        /* after the query */
    ngx_uint_t                status;      /* of a JSON answer from SQL */
    ngx_int_t                 rc;          /* of the answer sent; NGX_DONE
                                              until there is one */

    /* a handler's own state, from its statement to its answer */
    int64_t                   id;          /* the path's, once checked */
    u_char                   *secret;      /* made here, shown once */
    ngx_str_t                 cache_key;   /* of an answer to cache */
    void                     *state;       /* a handler's own, for steps
                                              on threads and queries */

    /* the guard's (omni_auth): a refusal is told, not sent */
    ngx_uint_t                fail_status;
    ngx_str_t                 fail_code;
    ngx_str_t                 fail_message;

    unsigned                  authenticated:1;
    unsigned                  hold:1;      /* ngx_omni_fail() only tells */
};


/*
 * Return codes, as nginx's: NGX_OK, go on.  NGX_DONE, the caller has
 * nothing more to do: an answer was sent (its rc in ctx->rc, for the
 * router to finalize with), or a query is in flight and its answer comes
 * back through ctx->resume.  Anything else (an HTTP status, NGX_ERROR) is
 * an rc for the router to finalize with, nothing sent.
 */

/*
 * Runs one statement; its single value (json built by PostgreSQL) is the
 * answer, sent with status.  ngx_omni_api_query_with() hands the result
 * to done() instead, whose rc goes to ctx->resume (NGX_OK there: go on
 * to the next step, as after the token's load).
 */
ngx_int_t ngx_omni_api_query(ngx_omni_ctx_t *ctx, ngx_uint_t stmt,
    ngx_uint_t status, ngx_uint_t nparams, ngx_str_t *params);
ngx_int_t ngx_omni_api_query_with(ngx_omni_ctx_t *ctx, ngx_uint_t stmt,
    ngx_uint_t nparams, ngx_str_t *params, ngx_omni_api_result_pt done);

/*
 * answers: each returns NGX_DONE.  With ctx->hold, ngx_omni_fail() sends
 * nothing: status, code and message wait in ctx->fail_* for the caller.
 */
ngx_int_t ngx_omni_api_send_value(ngx_omni_ctx_t *ctx, PGresult *res);
/* the same, and the answer kept in the shared cache under (kind, key) */
ngx_int_t ngx_omni_api_send_cached(ngx_omni_ctx_t *ctx, PGresult *res,
    ngx_uint_t kind, u_char *key, size_t keylen);
ngx_int_t ngx_omni_api_written(ngx_omni_ctx_t *ctx, PGresult *res);
ngx_int_t ngx_omni_api_answer(ngx_omni_ctx_t *ctx, ngx_uint_t status,
    u_char *json, size_t len);
ngx_int_t ngx_omni_api_pg_error(ngx_omni_ctx_t *ctx, ngx_int_t rc,
    PGresult *res);
ngx_int_t ngx_omni_fail(ngx_omni_ctx_t *ctx, ngx_uint_t status,
    const char *code, const char *fmt, ...);

/* a tenant's list paged by id: fn(tenant, cursor, per_page) */
ngx_int_t ngx_omni_api_list(ngx_omni_ctx_t *ctx, ngx_uint_t stmt);

/* checks: NGX_OK, or NGX_DONE with the error answered */
ngx_int_t ngx_omni_api_check_body(ngx_omni_ctx_t *ctx, const void *fields,
    ngx_uint_t mode);
ngx_int_t ngx_omni_page_args(ngx_omni_ctx_t *ctx, ngx_str_t *cursor,
    ngx_str_t *per_page, ngx_uint_t max);
ngx_int_t ngx_omni_cursor_id(ngx_omni_ctx_t *ctx, ngx_str_t *cursor);
ngx_int_t ngx_omni_arg_id(ngx_omni_ctx_t *ctx, ngx_str_t *arg, int64_t *id);
/* params[0] the tenant, params[1] the path's id, kept in ctx->id */
ngx_int_t ngx_omni_id_params(ngx_omni_ctx_t *ctx, ngx_str_t *params);

/* statement parameters in the request pool */
ngx_int_t ngx_omni_param_int(ngx_pool_t *pool, ngx_str_t *p, int64_t v);
ngx_int_t ngx_omni_param_json(ngx_pool_t *pool, ngx_str_t *p, json_t *v);
ngx_int_t ngx_omni_param_tenant(ngx_omni_ctx_t *ctx, ngx_str_t *p);


#endif /* _NGX_OMNI_API_KIT_H_INCLUDED_ */
