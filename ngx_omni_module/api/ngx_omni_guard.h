
/*
 * "omni_auth": omni's tokens, roles and plans in front of any location
 * (a proxied back end), in nginx's access phase.
 */

#ifndef _NGX_OMNI_GUARD_H_INCLUDED_
#define _NGX_OMNI_GUARD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* omni_auth [roles=R,...] [plan=F,...] | off */
char *ngx_omni_guard_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* preconfiguration: $omni_tenant_id, $omni_member_id, $omni_role, ... */
ngx_int_t ngx_omni_guard_add_variables(ngx_conf_t *cf);

/* postconfiguration: the access phase's handler */
ngx_int_t ngx_omni_guard_init(ngx_conf_t *cf);


#endif /* _NGX_OMNI_GUARD_H_INCLUDED_ */
