
/*
 * Pixel spool files, in omni_pixel_spool's directory:
 *   ring-<epoch>-<from>.copy       ring bytes from a position, written
 *                                  while PostgreSQL is away or on exit;
 *   overflow-<pid>.open            rows a full ring could not take, then
 *   overflow-<pid>-<ms>.copy       closed for replay;
 *   rejected-<pid>-<ms>.rows       rows PostgreSQL refuses, and torn file
 *                                  ends: kept for the operator, never
 *                                  replayed.
 * Every file is fsync'd, and its name too, before a beacon or the ring
 * counts on it.
 */

#ifndef _NGX_OMNI_SPOOL_H_INCLUDED_
#define _NGX_OMNI_SPOOL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_omni_batch.h"


/* the spool file being replayed */
typedef struct {
    u_char                path[NGX_MAX_PATH];
    u_char                source[96];    /* its name in the database */
    uint64_t              base;          /* position of the file's byte 0 */
    uint64_t              size;
} ngx_omni_spool_file_t;


ngx_int_t ngx_omni_spool_init_process(ngx_cycle_t *cycle);
/* before the ring is spooled on exit: a spool the thread pool finished */
void ngx_omni_spool_exit_process(void);

/* a row the ring could not take goes straight to an overflow file */
ngx_int_t ngx_omni_spool_append(u_char *row, size_t len);
/* overflow files quiet for a second are closed for replay */
void ngx_omni_spool_close_overflow(void);
/*
 * The ring's undrained rows to a file, fsync'd, then the ring lets go: at
 * once, or (start) in the thread pool when there is one: NGX_AGAIN while
 * that runs (busy), the ring letting go when it is done.
 */
ngx_int_t ngx_omni_spool_ring(void);
ngx_int_t ngx_omni_spool_ring_start(void);
ngx_uint_t ngx_omni_spool_busy(void);

/*
 * Replay: the oldest spool file (NGX_DONE when there is none), then its
 * rows past the database's position, at most limit rows at a time, into
 * the batch; *from and *to get the batch's positions.
 */
ngx_int_t ngx_omni_spool_next(ngx_omni_spool_file_t *file);
ngx_int_t ngx_omni_spool_read(ngx_omni_spool_file_t *file, uint64_t drained,
    ngx_uint_t limit, ngx_omni_batch_t *b, uint64_t *from, uint64_t *to);
/* the position the database keeps once [.., to) of the file is stored */
uint64_t ngx_omni_spool_stored_to(ngx_omni_spool_file_t *file, uint64_t to);
/* [.., to) of the file is stored or set aside: a file done with goes */
void ngx_omni_spool_replayed(ngx_omni_spool_file_t *file, uint64_t to);

/*
 * A batch PostgreSQL refuses, down to one row, is kept in a rejected file
 * and counted; a file being replayed is then read on after to.
 */
ngx_int_t ngx_omni_spool_set_aside(ngx_omni_batch_t *b, u_char *source);
void ngx_omni_spool_skip(ngx_omni_spool_file_t *file, uint64_t to);

/* for the status page */
uint64_t ngx_omni_spool_bytes(void);


#endif /* _NGX_OMNI_SPOOL_H_INCLUDED_ */
