
/*
 * The inbox's applier: webhook_inbox rows -> customers, identities,
 * conversations, messages and statuses (sql/008 omni_inbox_apply), on the
 * job runner, on every worker, rows claimed with SKIP LOCKED.
 */

#ifndef _NGX_OMNI_INBOX_H_INCLUDED_
#define _NGX_OMNI_INBOX_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* init_module: the applier is a job of the runner */
ngx_int_t ngx_omni_inbox_init_module(ngx_cycle_t *cycle);
/* webhooks were committed: apply them now, not at the rest's end */
void ngx_omni_inbox_wake(void);


#endif /* _NGX_OMNI_INBOX_H_INCLUDED_ */
