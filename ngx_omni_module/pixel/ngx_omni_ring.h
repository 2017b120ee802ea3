
/*
 * The Pixel ring: beacons as COPY text rows in shared memory, appended by
 * every worker, drained by one per host (the flusher job's lease holder).
 */

#ifndef _NGX_OMNI_RING_H_INCLUDED_
#define _NGX_OMNI_RING_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


ngx_int_t ngx_omni_ring_init_zone(ngx_shm_zone_t *shm_zone, void *data);

/* append one complete row (ending in '\n'); NGX_DECLINED when full */
ngx_int_t ngx_omni_ring_append(u_char *row, size_t len);

/*
 * The drainer's view.  Positions count bytes ever written, so they are
 * also the ring's place in the database's exactly-once ledger.
 */
uint64_t ngx_omni_ring_epoch(void);
void ngx_omni_ring_range(uint64_t *tail, uint64_t *head);
/* bytes [from, to) as one or two chunks; to is cut back to a row's end */
ngx_uint_t ngx_omni_ring_chunks(uint64_t from, uint64_t *to,
    ngx_str_t *chunks);
void ngx_omni_ring_advance(uint64_t to);

/* for the status page */
void ngx_omni_ring_fill(uint64_t *used, uint64_t *capacity);


#endif /* _NGX_OMNI_RING_H_INCLUDED_ */
