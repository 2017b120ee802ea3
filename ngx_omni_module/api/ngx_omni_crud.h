
/*
 * A plain resource of a tenant, served by one generic handler: its
 * collection (list, create) and its items (get, update, delete), each one
 * statement of sql/, described by a row.
 */

#ifndef _NGX_OMNI_CRUD_H_INCLUDED_
#define _NGX_OMNI_CRUD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_omni_cache.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_api_kit.h"
#include "omni_json_shape.h"


#define NGX_OMNI_CRUD_NONE      NGX_OMNI_STMT_N        /* no statement */
#define NGX_OMNI_CRUD_NO_CACHE  NGX_OMNI_CACHE_KINDS


/* what a shape cannot say about a body: NGX_OK, or answered as checks do */
typedef ngx_int_t (*ngx_omni_crud_check_pt)(ngx_omni_ctx_t *ctx);


typedef struct {
    const omni_json_field_t  *shape;       /* a create's or update's body */
    ngx_omni_crud_check_pt    check;       /* more of the body, or NULL */

    /* NGX_OMNI_STMT_*, or NGX_OMNI_CRUD_NONE where no route leads */
    ngx_uint_t                list;        /* fn(tenant, cursor, per_page) */
    ngx_uint_t                create;      /* fn(tenant, body) */
    ngx_uint_t                get;         /* fn(tenant, id) */
    ngx_uint_t                update;      /* fn(tenant, id, body) */
    ngx_uint_t                remove;      /* fn(tenant, id) */

    ngx_uint_t                created;     /* status of a create's answer */
    ngx_uint_t                bump;        /* a write stales the tenant's
                                              cached members and channels */
    ngx_uint_t                cache;       /* items read through this
                                              shared cache, or NO_CACHE */
} ngx_omni_crud_t;


/*
 * The handler of a route whose resource is an ngx_omni_crud_t: a pattern
 * without '*' is the collection, one with a '*' an item.
 */
ngx_int_t ngx_omni_crud(ngx_omni_ctx_t *ctx);


#endif /* _NGX_OMNI_CRUD_H_INCLUDED_ */
