
/*
 * The Pixel's path from a shopper's browser to PostgreSQL:
 *   beacon handler -> shared-memory ring -> flusher (COPY) -> events table
 *                                 \-> spool file while PostgreSQL is away
 *   captured phones -> capture worker -> WhatsApp identity on the customer
 */

#ifndef _NGX_OMNI_PIXEL_H_INCLUDED_
#define _NGX_OMNI_PIXEL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* ngx_omni_ring.c: a byte ring of COPY text rows in shared memory */

ngx_int_t ngx_omni_ring_init_zone(ngx_shm_zone_t *shm_zone, void *data);

/* append one complete row (ending in '\n'); NGX_DECLINED when full */
ngx_int_t ngx_omni_ring_append(u_char *row, size_t len);

/* for the status page */
void ngx_omni_ring_fill(uint64_t *used, uint64_t *capacity);
uint64_t ngx_omni_spool_bytes(void);

/* ngx_omni_flush.c: drains the ring, spools, replays */

ngx_int_t ngx_omni_flush_init_process(ngx_cycle_t *cycle);
void ngx_omni_flush_exit_process(ngx_cycle_t *cycle);

/* a row the ring could not take goes straight to the spool */
ngx_int_t ngx_omni_spool_append(u_char *row, size_t len);

/* ngx_omni_capture.c: phone capture off the hot path */

ngx_int_t ngx_omni_capture_init_process(ngx_cycle_t *cycle);
void ngx_omni_capture_wake(void);


#endif /* _NGX_OMNI_PIXEL_H_INCLUDED_ */
