
/*
 * Channels: the brand's connected WhatsApp, Messenger, Instagram and LINE
 * accounts.
 */

#ifndef _NGX_OMNI_CHANNELS_H_INCLUDED_
#define _NGX_OMNI_CHANNELS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_omni_crud.h"


/* the row of ngx_omni_crud: GET|POST channels, GET|PATCH one */
extern ngx_omni_crud_t  ngx_omni_channels;


#endif /* _NGX_OMNI_CHANNELS_H_INCLUDED_ */
