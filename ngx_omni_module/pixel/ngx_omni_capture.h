
/*
 * Phone capture off the hot path: captured phones of the stored batches
 * become WhatsApp identities on their customers.
 */

#ifndef _NGX_OMNI_CAPTURE_H_INCLUDED_
#define _NGX_OMNI_CAPTURE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* init_module: phone capture is a job of the runner, one per host */
ngx_int_t ngx_omni_capture_init_module(ngx_cycle_t *cycle);
/* a batch with captures was stored: claim them now, not at the rest's end */
void ngx_omni_capture_wake(void);


#endif /* _NGX_OMNI_CAPTURE_H_INCLUDED_ */
