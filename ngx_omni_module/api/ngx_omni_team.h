
/*
 * Team set-up: the caller (/me), branches, members and their tokens.
 */

#ifndef _NGX_OMNI_TEAM_H_INCLUDED_
#define _NGX_OMNI_TEAM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_omni_api_kit.h"
#include "ngx_omni_crud.h"


/* rows of ngx_omni_crud: GET|POST branches; members, PATCH|DELETE one */
extern ngx_omni_crud_t  ngx_omni_team_branches;
extern ngx_omni_crud_t  ngx_omni_team_members;

ngx_int_t ngx_omni_team_me(ngx_omni_ctx_t *ctx);
ngx_int_t ngx_omni_team_tokens(ngx_omni_ctx_t *ctx);


#endif /* _NGX_OMNI_TEAM_H_INCLUDED_ */
