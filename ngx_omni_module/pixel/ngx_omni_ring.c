
/*
 * The Pixel ring: beacons as COPY rows in shared memory, appended by every
 * worker and drained by one.  It lives in an nginx zone, so a worker that
 * crashes or a reload loses nothing; the slab pool's mutex (the one lock
 * nginx's master frees when its holder dies) guards the positions.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_ring.h"


/*
 * The drainer's heartbeat: it writes the time every BEAT ms (a timer of
 * its own, so a batch that waits on PostgreSQL does not stop it); a lease
 * whose time is older than STALE ms is free, whoever has the pid now.
 */
#define NGX_OMNI_RING_BEAT   1000
#define NGX_OMNI_RING_STALE  5000


typedef struct {
    uint64_t        epoch;       /* names this ring in the database */
    uint64_t        head;        /* bytes ever appended */
    uint64_t        tail;        /* bytes stored or spooled */
    uint64_t        capacity;
    ngx_pid_t       drainer;     /* the process holding the drain lease */
    ngx_msec_t      beat;        /* its last heartbeat (monotonic ms) */
    u_char          data[1];
} ngx_omni_ring_t;


static void ngx_omni_ring_beat(ngx_event_t *ev);


static ngx_omni_ring_t  *ngx_omni_ring;
static ngx_slab_pool_t  *ngx_omni_ring_shpool;
static ngx_event_t       ngx_omni_ring_beat_ev;


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


/*
 * Only one process drains (or spools) the ring at a time: during a reload
 * the old drainer keeps it until it exits (it beats until then).
 *
 * Whether the holder lives is judged by its heartbeat, not by its pid
 * alone: a dead drainer's pid may belong to any process by now, and
 * kill(pid, 0) then says "exists" (or EPERM, another user's), so a lease
 * judged by the pid would never be taken over.  Only a running holder
 * keeps the heartbeat fresh; nginx's monotonic clock is the same for
 * every process of the host and survives a reload, as the zone does.
 * (nginx's ngx_processes[] would not do: a worker only knows the slots of
 * its own generation, and a pid there can be reused as well.)  A pid that
 * no process has (ESRCH) is still taken at once: the holder is surely
 * gone, so a crashed drainer is replaced within a flush tick.
 */
ngx_int_t
ngx_omni_ring_lease(void)
{
    ngx_int_t         rc;
    ngx_msec_int_t    age;
    ngx_omni_ring_t  *ring;

    ring = ngx_omni_ring;

    if (ring == NULL) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&ngx_omni_ring_shpool->mutex);

    /* signed: another process's clock reading may be a little ahead */
    age = (ngx_msec_int_t) (ngx_current_msec - ring->beat);

    if (ring->drainer == ngx_pid) {
        ring->beat = ngx_current_msec;
        rc = NGX_OK;

    } else if (ring->drainer == 0
               || age > NGX_OMNI_RING_STALE
               || (kill(ring->drainer, 0) == -1 && ngx_errno == NGX_ESRCH))
    {
        if (ring->drainer) {
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "omni: the Pixel ring's drainer %P is gone "
                          "(last heartbeat %M ms ago); taking over",
                          ring->drainer, (ngx_msec_t) ngx_max(age, 0));
        }

        ring->drainer = ngx_pid;
        ring->beat = ngx_current_msec;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&ngx_omni_ring_shpool->mutex);

    if (rc == NGX_OK && !ngx_omni_ring_beat_ev.timer_set) {
        ngx_omni_ring_beat_ev.handler = ngx_omni_ring_beat;
        ngx_omni_ring_beat_ev.log = ngx_cycle->log;
        /* nginx's debug log of a timer reads an fd through ev->data */
        ngx_omni_ring_beat_ev.data = &ngx_omni_ring_beat_ev;
        /* a reload or quit need not wait for it */
        ngx_omni_ring_beat_ev.cancelable = 1;
        ngx_add_timer(&ngx_omni_ring_beat_ev, NGX_OMNI_RING_BEAT);
    }

    return rc;
}


/* the holder's heartbeat, for as long as it holds the lease */
static void
ngx_omni_ring_beat(ngx_event_t *ev)
{
    ngx_uint_t  held;

    held = 0;

    ngx_shmtx_lock(&ngx_omni_ring_shpool->mutex);

    if (ngx_omni_ring->drainer == ngx_pid) {
        ngx_omni_ring->beat = ngx_current_msec;
        held = 1;
    }

    ngx_shmtx_unlock(&ngx_omni_ring_shpool->mutex);

    if (held) {
        ngx_add_timer(ev, NGX_OMNI_RING_BEAT);
    }
}


void
ngx_omni_ring_release(void)
{
    if (ngx_omni_ring == NULL) {
        return;
    }

    ngx_shmtx_lock(&ngx_omni_ring_shpool->mutex);

    if (ngx_omni_ring->drainer == ngx_pid) {
        ngx_omni_ring->drainer = 0;
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
