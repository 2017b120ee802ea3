
/*
 * The Pixel ring: beacons as COPY rows in shared memory, appended by every
 * worker and drained by one.  It lives in an nginx zone, so a worker that
 * crashes or a reload loses nothing; the slab pool's mutex (the one lock
 * nginx's master frees when its holder dies) guards the positions.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_ring.h"


typedef struct {
    uint64_t        epoch;       /* names this ring in the database */
    uint64_t        head;        /* bytes ever appended */
    uint64_t        tail;        /* bytes stored or spooled */
    uint64_t        capacity;
    /*
     * Unused (the drainer's lease is the job runner's now), kept so that
     * a ring left by an older module keeps its layout across a reload.
     */
    ngx_pid_t       drainer;
    ngx_msec_t      beat;
    u_char          data[1];
} ngx_omni_ring_t;


static ngx_omni_ring_t  *ngx_omni_ring;
static ngx_slab_pool_t  *ngx_omni_ring_shpool;


ngx_int_t
ngx_omni_ring_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t            size;
    ngx_slab_pool_t  *shpool;
    ngx_omni_ring_t  *ring;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    ngx_omni_ring_shpool = shpool;

    if (data) {
        /* a reload: the rows not yet drained are still here */
        shm_zone->data = data;
        ngx_omni_ring = data;
        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        ngx_omni_ring = shpool->data;
        return NGX_OK;
    }

    /*
     * One piece as large as the slab gives: its page bookkeeping takes a
     * little, so ask for less until it fits.
     */
    size = shm_zone->shm.size - (size_t) (shpool->start - (u_char *) shpool);
    ring = NULL;

    while (ring == NULL && size > 4 * ngx_pagesize) {
        size -= size / 32;
        size &= ~((size_t) ngx_pagesize - 1);
        ring = ngx_slab_alloc(shpool, size);
    }

    if (ring == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(ring, offsetof(ngx_omni_ring_t, data));

    ring->capacity = size - offsetof(ngx_omni_ring_t, data);
    ring->epoch = ((uint64_t) ngx_time() << 20) ^ (uint64_t) ngx_random()
                  ^ ((uint64_t) ngx_pid << 40);

    shpool->data = ring;
    shm_zone->data = ring;
    ngx_omni_ring = ring;

    return NGX_OK;
}


ngx_int_t
ngx_omni_ring_append(u_char *row, size_t len)
{
    size_t            at, first;
    ngx_int_t         rc;
    ngx_omni_ring_t  *ring;

    ring = ngx_omni_ring;

    if (ring == NULL) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&ngx_omni_ring_shpool->mutex);

    if (ring->capacity - (ring->head - ring->tail) >= len) {
        at = (size_t) (ring->head % ring->capacity);
        first = ngx_min(len, (size_t) ring->capacity - at);

        ngx_memcpy(ring->data + at, row, first);
        ngx_memcpy(ring->data, row + first, len - first);

        /* the row is whole before the drainer can see it */
        ngx_memory_barrier();
        ring->head += len;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&ngx_omni_ring_shpool->mutex);

    return rc;
}


uint64_t
ngx_omni_ring_epoch(void)
{
    return ngx_omni_ring ? ngx_omni_ring->epoch : 0;
}


void
ngx_omni_ring_range(uint64_t *tail, uint64_t *head)
{
    if (ngx_omni_ring == NULL) {
        *tail = 0;
        *head = 0;
        return;
    }

    ngx_shmtx_lock(&ngx_omni_ring_shpool->mutex);
    *tail = ngx_omni_ring->tail;
    *head = ngx_omni_ring->head;
    ngx_shmtx_unlock(&ngx_omni_ring_shpool->mutex);
}


ngx_uint_t
ngx_omni_ring_chunks(uint64_t from, uint64_t *to, ngx_str_t *chunks)
{
    size_t            at, len, first;
    uint64_t          end;
    ngx_omni_ring_t  *ring;

    ring = ngx_omni_ring;
    end = *to;

    /* cut back to the end of a whole row */
    while (end > from && ring->data[(end - 1) % ring->capacity] != '\n') {
        end--;
    }

    *to = end;
    len = (size_t) (end - from);

    if (len == 0) {
        return 0;
    }

    at = (size_t) (from % ring->capacity);
    first = ngx_min(len, (size_t) ring->capacity - at);

    chunks[0].data = ring->data + at;
    chunks[0].len = first;

    if (first == len) {
        return 1;
    }

    chunks[1].data = ring->data;
    chunks[1].len = len - first;

    return 2;
}


void
ngx_omni_ring_advance(uint64_t to)
{
    if (ngx_omni_ring == NULL) {
        return;
    }

    ngx_shmtx_lock(&ngx_omni_ring_shpool->mutex);

    if (to > ngx_omni_ring->tail && to <= ngx_omni_ring->head) {
        ngx_omni_ring->tail = to;
    }

    ngx_shmtx_unlock(&ngx_omni_ring_shpool->mutex);
}


void
ngx_omni_ring_fill(uint64_t *used, uint64_t *capacity)
{
    uint64_t  tail, head;

    ngx_omni_ring_range(&tail, &head);

    *used = head - tail;
    *capacity = ngx_omni_ring ? ngx_omni_ring->capacity : 0;
}
