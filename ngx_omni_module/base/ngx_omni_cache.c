
/*
 * The shared cache: one zone for every worker of a host, laid out as
 * limit_req keeps its states (slab pool, rbtree by hash, LRU queue,
 * eviction of the oldest when the slab is full).
 *
 * Freshness is by generation, not by expiry: each entry carries the
 * generation of its tenant's slot when it was stored, and a change to a
 * tenant (a local write, or NOTIFY omni_cache from any host) bumps that
 * slot.  Only the slab pool's own mutex guards the tree, since nginx's
 * master frees that one when a worker dies holding it; generations and
 * counters are lock-free atomics.
 *
 * The bumps come from one listener per host: while it is not listening
 * (PostgreSQL restarting, the link lost, worker 0 starting) a change would
 * go unseen, so then no entry is trusted and every lookup goes to the
 * database.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_pg.h"
#include "ngx_omni_cache.h"


#define NGX_OMNI_CACHE_SLOTS      1024
#define NGX_OMNI_CACHE_VALUE_MAX  4096
#define NGX_OMNI_CACHE_PAGE_MAX   (256 * 1024)
#define NGX_OMNI_CACHE_KEY_MAX    128


typedef struct {
    u_char                   color;
    u_char                   kind;
    u_char                   keylen;
    u_char                   pad;
    uint32_t                 len;
    int64_t                  tenant_id;
    ngx_atomic_uint_t        gen;
    ngx_queue_t              queue;
    u_char                   data[1];      /* key, then value */
} ngx_omni_cache_node_t;


typedef struct {
    ngx_rbtree_t             rbtree;
    ngx_rbtree_node_t        sentinel;
    ngx_queue_t              lru;
    ngx_omni_cache_stats_t   stats;
    ngx_atomic_t             changes;
    ngx_atomic_t             listener;     /* its pid while it listens */
    ngx_atomic_t             gen[NGX_OMNI_CACHE_SLOTS];
} ngx_omni_cache_sh_t;


static ngx_int_t ngx_omni_cache_find_value(ngx_omni_cache_kind_e kind,
    u_char *key, size_t keylen, ngx_pool_t *pool, ngx_str_t *value,
    uint64_t *gen);
static void ngx_omni_cache_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_rbtree_node_t *ngx_omni_cache_find(ngx_omni_cache_kind_e kind,
    u_char *key, size_t keylen, uint32_t hash);
static void ngx_omni_cache_remove(ngx_rbtree_node_t *node);
static uint32_t ngx_omni_cache_hash(ngx_omni_cache_kind_e kind, u_char *key,
    size_t keylen);
static void ngx_omni_cache_notified(ngx_str_t *channel, ngx_str_t *payload,
    void *data);
static void ngx_omni_cache_reconnected(ngx_omni_pg_conn_t *pc, void *data);
static void ngx_omni_cache_lost(ngx_omni_pg_conn_t *pc, void *data);


const char  *ngx_omni_cache_kind_names[NGX_OMNI_CACHE_KINDS] = {
    "token", "channel", "reply_page"
};


/* the largest value of each kind: a page of a list is bigger than a row */
static const size_t  ngx_omni_cache_value_max[NGX_OMNI_CACHE_KINDS] = {
    NGX_OMNI_CACHE_VALUE_MAX, NGX_OMNI_CACHE_VALUE_MAX,
    NGX_OMNI_CACHE_PAGE_MAX
};


static ngx_omni_cache_sh_t     *ngx_omni_cache_sh;
static ngx_slab_pool_t         *ngx_omni_cache_shpool;
static ngx_omni_cache_stats_t   ngx_omni_cache_no_stats;


ngx_int_t
ngx_omni_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t      *shpool;
    ngx_omni_cache_sh_t  *sh;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    ngx_omni_cache_shpool = shpool;

    if (data) {
        /* a reload keeps the entries; they carry their own generations */
        shm_zone->data = data;
        ngx_omni_cache_sh = data;
        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        ngx_omni_cache_sh = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_omni_cache_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel,
                    ngx_omni_cache_rbtree_insert);
    ngx_queue_init(&sh->lru);

    shpool->data = sh;
    shm_zone->data = sh;
    ngx_omni_cache_sh = sh;

    shpool->log_nomem = 0;

    return NGX_OK;
}


ngx_int_t
ngx_omni_cache_lookup(ngx_omni_cache_kind_e kind, u_char *key,
    size_t keylen, void *value, size_t size, size_t *len, uint64_t *gen)
{
    ngx_int_t  rc;
    ngx_str_t  v;

    v.data = value;
    v.len = size;

    rc = ngx_omni_cache_find_value(kind, key, keylen, NULL, &v, gen);
    *len = (rc == NGX_OK) ? v.len : 0;

    return rc;
}


ngx_int_t
ngx_omni_cache_get(ngx_omni_cache_kind_e kind, u_char *key, size_t keylen,
    ngx_pool_t *pool, ngx_str_t *value, uint64_t *gen)
{
    return ngx_omni_cache_find_value(kind, key, keylen, pool, value, gen);
}


/*
 * The value, if fresh: copied into value->data (at most value->len bytes)
 * or, with a pool, into memory of the pool's of its own length.
 */
static ngx_int_t
ngx_omni_cache_find_value(ngx_omni_cache_kind_e kind, u_char *key,
    size_t keylen, ngx_pool_t *pool, ngx_str_t *value, uint64_t *gen)
{
    u_char                 *to;
    uint32_t                hash;
    ngx_int_t               rc;
    ngx_rbtree_node_t      *node;
    ngx_omni_cache_sh_t    *sh;
    ngx_omni_cache_node_t  *cn;

    sh = ngx_omni_cache_sh;

    if (sh == NULL) {
        *gen = 0;
        return NGX_DECLINED;
    }

    /* read before the database is: a change during the load shows */
    *gen = sh->changes;

    if (keylen > NGX_OMNI_CACHE_KEY_MAX) {
        return NGX_DECLINED;
    }

    if (sh->listener == 0) {
        /* nobody hears the changes now: only the database knows */
        (void) ngx_atomic_fetch_add(&sh->stats.misses, 1);
        (void) ngx_atomic_fetch_add(&sh->stats.kind_misses[kind], 1);
        return NGX_DECLINED;
    }

    hash = ngx_omni_cache_hash(kind, key, keylen);
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&ngx_omni_cache_shpool->mutex);

    node = ngx_omni_cache_find(kind, key, keylen, hash);

    if (node) {
        cn = (ngx_omni_cache_node_t *) &node->color;

        if (cn->gen == sh->gen[(uint64_t) cn->tenant_id
                               % NGX_OMNI_CACHE_SLOTS]
            && (pool || cn->len <= value->len))
        {
            to = pool ? ngx_pnalloc(pool, cn->len) : value->data;

            if (to) {
                ngx_memcpy(to, cn->data + cn->keylen, cn->len);
                value->data = to;
                value->len = cn->len;

                ngx_queue_remove(&cn->queue);
                ngx_queue_insert_head(&sh->lru, &cn->queue);

                rc = NGX_OK;
            }

        } else {
            ngx_omni_cache_remove(node);
            (void) ngx_atomic_fetch_add(&sh->stats.stale, 1);
        }
    }

    ngx_shmtx_unlock(&ngx_omni_cache_shpool->mutex);

    if (rc == NGX_OK) {
        (void) ngx_atomic_fetch_add(&sh->stats.hits, 1);
        (void) ngx_atomic_fetch_add(&sh->stats.kind_hits[kind], 1);

    } else {
        (void) ngx_atomic_fetch_add(&sh->stats.misses, 1);
        (void) ngx_atomic_fetch_add(&sh->stats.kind_misses[kind], 1);
    }

    return rc;
}


void
ngx_omni_cache_store(ngx_omni_cache_kind_e kind, u_char *key, size_t keylen,
    int64_t tenant_id, uint64_t gen, void *value, size_t len)
{
    size_t                  n;
    uint32_t                hash;
    ngx_atomic_uint_t       slot_gen;
    ngx_queue_t            *q;
    ngx_rbtree_node_t      *node;
    ngx_omni_cache_sh_t    *sh;
    ngx_omni_cache_node_t  *cn;

    sh = ngx_omni_cache_sh;

    if (sh == NULL || keylen > NGX_OMNI_CACHE_KEY_MAX
        || len > ngx_omni_cache_value_max[kind] || tenant_id < 0)
    {
        return;
    }

    hash = ngx_omni_cache_hash(kind, key, keylen);
    n = offsetof(ngx_rbtree_node_t, color)
        + offsetof(ngx_omni_cache_node_t, data) + keylen + len;

    ngx_shmtx_lock(&ngx_omni_cache_shpool->mutex);

    /*
     * The slot's generation is read before the change counter, and a bump
     * raises the counter before the slot: a bump during the load is either
     * seen here (not stored) or leaves the entry stale.
     */
    slot_gen = sh->gen[(uint64_t) tenant_id % NGX_OMNI_CACHE_SLOTS];
    ngx_memory_barrier();

    if (sh->changes != gen) {
        goto done;
    }

    node = ngx_omni_cache_find(kind, key, keylen, hash);
    if (node) {
        ngx_omni_cache_remove(node);
    }

    node = ngx_slab_alloc_locked(ngx_omni_cache_shpool, n);

    while (node == NULL && !ngx_queue_empty(&sh->lru)) {
        /* full: the least recently used go first */
        q = ngx_queue_last(&sh->lru);
        cn = ngx_queue_data(q, ngx_omni_cache_node_t, queue);

        ngx_omni_cache_remove((ngx_rbtree_node_t *)
                              ((u_char *) cn
                               - offsetof(ngx_rbtree_node_t, color)));
        (void) ngx_atomic_fetch_add(&sh->stats.evictions, 1);

        node = ngx_slab_alloc_locked(ngx_omni_cache_shpool, n);
    }

    if (node == NULL) {
        goto done;
    }

    node->key = hash;
    cn = (ngx_omni_cache_node_t *) &node->color;

    cn->kind = (u_char) kind;
    cn->keylen = (u_char) keylen;
    cn->len = (uint32_t) len;
    cn->tenant_id = tenant_id;
    cn->gen = slot_gen;
    ngx_memcpy(cn->data, key, keylen);
    ngx_memcpy(cn->data + keylen, value, len);

    ngx_rbtree_insert(&sh->rbtree, node);
    ngx_queue_insert_head(&sh->lru, &cn->queue);
    (void) ngx_atomic_fetch_add(&sh->stats.entries, 1);

done:

    ngx_shmtx_unlock(&ngx_omni_cache_shpool->mutex);
}


void
ngx_omni_cache_bump(int64_t tenant_id)
{
    ngx_uint_t            i;
    ngx_omni_cache_sh_t  *sh;

    sh = ngx_omni_cache_sh;
    if (sh == NULL) {
        return;
    }

    /* the counter first: see ngx_omni_cache_store() */
    (void) ngx_atomic_fetch_add(&sh->changes, 1);

    if (tenant_id < 0) {
        for (i = 0; i < NGX_OMNI_CACHE_SLOTS; i++) {
            (void) ngx_atomic_fetch_add(&sh->gen[i], 1);
        }

    } else {
        (void) ngx_atomic_fetch_add(
                   &sh->gen[(uint64_t) tenant_id % NGX_OMNI_CACHE_SLOTS], 1);
    }
    (void) ngx_atomic_fetch_add(&sh->stats.bumps, 1);
}


ngx_int_t
ngx_omni_cache_init_process(ngx_cycle_t *cycle)
{
    (void) cycle;

    /* one listener per host is enough: the zone is the host's */
    if (ngx_worker != 0 || ngx_omni_cache_sh == NULL) {
        return NGX_OK;
    }

    /*
     * A new worker 0 (after a reload, or after the last one crashed) is
     * not listening yet, whatever the zone says about its predecessor.
     */
    ngx_omni_cache_sh->listener = 0;

    return ngx_omni_pg_listen("omni_cache", ngx_omni_cache_notified,
                              ngx_omni_cache_reconnected,
                              ngx_omni_cache_lost, NULL);
}


void
ngx_omni_cache_exit_process(ngx_cycle_t *cycle)
{
    (void) cycle;

    ngx_omni_cache_lost(NULL, NULL);
}


ngx_omni_cache_stats_t *
ngx_omni_cache_stats(void)
{
    if (ngx_omni_cache_sh == NULL) {
        return &ngx_omni_cache_no_stats;
    }

    return &ngx_omni_cache_sh->stats;
}


static void
ngx_omni_cache_notified(ngx_str_t *channel, ngx_str_t *payload, void *data)
{
    off_t  tenant_id;

    (void) channel;
    (void) data;

    tenant_id = ngx_atoof(payload->data, payload->len);

    /* a payload we can't read: better everything stale than one wrong */
    ngx_omni_cache_bump(tenant_id == NGX_ERROR ? -1 : (int64_t) tenant_id);
}


/*
 * Notifications sent while we were away are lost: assume the worst, then
 * trust the entries stored from now on.  The mark is taken only when free:
 * an old worker 0 whose link comes back during a reload must not take it
 * from the new one, and then clear it when it exits.
 */
static void
ngx_omni_cache_reconnected(ngx_omni_pg_conn_t *pc, void *data)
{
    (void) pc;
    (void) data;

    ngx_omni_cache_bump(-1);
    (void) ngx_atomic_cmp_set(&ngx_omni_cache_sh->listener, 0,
                              (ngx_atomic_uint_t) ngx_pid);
}


/* only this process's own mark: a newer listener may hold it already */
static void
ngx_omni_cache_lost(ngx_omni_pg_conn_t *pc, void *data)
{
    (void) pc;
    (void) data;

    if (ngx_omni_cache_sh) {
        (void) ngx_atomic_cmp_set(&ngx_omni_cache_sh->listener,
                                  (ngx_atomic_uint_t) ngx_pid, 0);
    }
}


/* entries order by hash, then by (kind, key): a total order, as rbtree needs */
static ngx_int_t
ngx_omni_cache_cmp(ngx_omni_cache_node_t *a, ngx_omni_cache_kind_e kind,
    u_char *key, size_t keylen)
{
    if (a->kind != kind) {
        return (ngx_int_t) a->kind - (ngx_int_t) kind;
    }

    if (a->keylen != keylen) {
        return (ngx_int_t) a->keylen - (ngx_int_t) keylen;
    }

    return ngx_memcmp(a->data, key, keylen);
}


static ngx_rbtree_node_t *
ngx_omni_cache_find(ngx_omni_cache_kind_e kind, u_char *key, size_t keylen,
    uint32_t hash)
{
    ngx_int_t           rc;
    ngx_rbtree_node_t  *node, *sentinel;

    node = ngx_omni_cache_sh->rbtree.root;
    sentinel = ngx_omni_cache_sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        rc = ngx_omni_cache_cmp((ngx_omni_cache_node_t *) &node->color, kind,
                                key, keylen);

        if (rc == 0) {
            return node;
        }

        node = (rc > 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_omni_cache_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t      **p;
    ngx_omni_cache_node_t   *cn, *ct;

    cn = (ngx_omni_cache_node_t *) &node->color;

    for ( ;; ) {
        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            ct = (ngx_omni_cache_node_t *) &temp->color;
            p = (ngx_omni_cache_cmp(ct, (ngx_omni_cache_kind_e) cn->kind,
                                    cn->data, cn->keylen) > 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static void
ngx_omni_cache_remove(ngx_rbtree_node_t *node)
{
    ngx_omni_cache_node_t  *cn;

    cn = (ngx_omni_cache_node_t *) &node->color;

    ngx_queue_remove(&cn->queue);
    ngx_rbtree_delete(&ngx_omni_cache_sh->rbtree, node);
    ngx_slab_free_locked(ngx_omni_cache_shpool, node);

    (void) ngx_atomic_fetch_add(&ngx_omni_cache_sh->stats.entries, -1);
}


static uint32_t
ngx_omni_cache_hash(ngx_omni_cache_kind_e kind, u_char *key, size_t keylen)
{
    uint32_t  crc;

    ngx_crc32_init(crc);
    ngx_crc32_update(&crc, (u_char *) &kind, sizeof(kind));
    ngx_crc32_update(&crc, key, keylen);
    ngx_crc32_final(crc);

    return crc;
}
