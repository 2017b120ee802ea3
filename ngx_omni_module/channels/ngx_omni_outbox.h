
/*
 * The deliverer: queued messages out of PostgreSQL's outbox, through the
 * channels' send APIs, with retries, back-off and each sending account's
 * rate across the fleet.  See docs/delivery.md.
 */

#ifndef _NGX_OMNI_OUTBOX_H_INCLUDED_
#define _NGX_OMNI_OUTBOX_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* "omni_channel_api TYPE URL;" and "omni_channel_rate TYPE N;" */
char *ngx_omni_outbox_channel_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_omni_outbox_channel_rate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* init main conf: the rates' defaults */
char *ngx_omni_outbox_init_conf(ngx_conf_t *cf, void *conf);

/* init_module: the deliverer is a job of the runner, one per host */
ngx_int_t ngx_omni_outbox_init_module(ngx_cycle_t *cycle);
/* exit_process: sends still in flight end here; their rows fall due */
void ngx_omni_outbox_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_OMNI_OUTBOX_H_INCLUDED_ */
