
/*
 * Shared-memory caches (slab + rbtree + LRU, as limit_req keeps its
 * states): bearer tokens -> member, channels.  Coherent across workers
 * (one zone) and across hosts (PostgreSQL NOTIFY on "omni_cache" with the
 * tenant id bumps that tenant's generation; an entry of an older
 * generation is stale and reloaded).
 */

#ifndef _NGX_OMNI_CACHE_H_INCLUDED_
#define _NGX_OMNI_CACHE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


typedef enum {
    NGX_OMNI_CACHE_TOKEN = 0,      /* sha256(token) -> ngx_omni_member_t */
    NGX_OMNI_CACHE_CHANNEL,        /* channel id -> channel, later */
    NGX_OMNI_CACHE_REPLY_PAGE,     /* a member's query -> a saved-reply
                                      list page, as answered */
    NGX_OMNI_CACHE_KINDS
} ngx_omni_cache_kind_e;


typedef struct {
    ngx_atomic_t   hits;
    ngx_atomic_t   misses;
    ngx_atomic_t   stale;
    ngx_atomic_t   evictions;
    ngx_atomic_t   entries;
    ngx_atomic_t   bumps;
    ngx_atomic_t   kind_hits[NGX_OMNI_CACHE_KINDS];
    ngx_atomic_t   kind_misses[NGX_OMNI_CACHE_KINDS];
} ngx_omni_cache_stats_t;


/* a kind's name on the status page */
extern const char  *ngx_omni_cache_kind_names[NGX_OMNI_CACHE_KINDS];


ngx_int_t ngx_omni_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data);

/*
 * NGX_OK: a fresh entry, its value copied into value (at most size bytes,
 * *len set).  NGX_DECLINED: missing or stale; *gen is the token to hand
 * to ngx_omni_cache_store() after loading from the database, read now so
 * that a change committed during the load is never cached as fresh.
 */
ngx_int_t ngx_omni_cache_lookup(ngx_omni_cache_kind_e kind, u_char *key,
    size_t keylen, void *value, size_t size, size_t *len, uint64_t *gen);
/* as ngx_omni_cache_lookup(), the value copied into the pool, whole */
ngx_int_t ngx_omni_cache_get(ngx_omni_cache_kind_e kind, u_char *key,
    size_t keylen, ngx_pool_t *pool, ngx_str_t *value, uint64_t *gen);
void ngx_omni_cache_store(ngx_omni_cache_kind_e kind, u_char *key,
    size_t keylen, int64_t tenant_id, uint64_t gen, void *value, size_t len);

/* tenant_id < 0: every tenant (after a lost NOTIFY connection) */
void ngx_omni_cache_bump(int64_t tenant_id);

/*
 * The listener: one per host (worker 0) LISTENs and bumps; no entry is
 * trusted while it does not listen.
 */
ngx_int_t ngx_omni_cache_init_process(ngx_cycle_t *cycle);
void ngx_omni_cache_exit_process(ngx_cycle_t *cycle);

ngx_omni_cache_stats_t *ngx_omni_cache_stats(void);


#endif /* _NGX_OMNI_CACHE_H_INCLUDED_ */
