
/*
 * The Pixel flusher: a job of the runner, one process per host (the job's
 * lease holder), moves beacons from the ring, and from spool files, to
 * PostgreSQL.
 */

#ifndef _NGX_OMNI_FLUSHER_H_INCLUDED_
#define _NGX_OMNI_FLUSHER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* init_module: registers the job */
ngx_int_t ngx_omni_flusher_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_omni_flusher_init_process(ngx_cycle_t *cycle);
void ngx_omni_flusher_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_OMNI_FLUSHER_H_INCLUDED_ */
