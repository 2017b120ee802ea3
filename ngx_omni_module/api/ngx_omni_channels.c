
/*
 * Channels (team set-up): the brand's connected WhatsApp, Messenger,
 * Instagram and LINE accounts, a plain resource (a row for ngx_omni_crud)
 * but for its credentials.  Admins connect and change them; secrets go in
 * and never come out.  One channel reads through the shared cache: the
 * webhooks and the outbound path look channels up on every message.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_cache.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_api_kit.h"
#include "ngx_omni_crud.h"
#include "ngx_omni_channels.h"
#include "omni_json_shape.h"


static ngx_int_t ngx_omni_channel_limits(ngx_omni_ctx_t *ctx);


static const omni_json_field_t  ngx_omni_channel_shape[] = {
    { "type",        OMNI_JT_STRING, 1, 32 },
    { "name",        OMNI_JT_STRING, 1, 200 },
    { "credentials", OMNI_JT_OBJECT, 0, 0 },
    { NULL, 0, 0, 0 }
};


/*
 * The longest value of each credential, in bytes: account ids are numbers
 * of at most a few dozen digits, app and channel secrets 32 hex digits,
 * verify tokens the brand's own words, access tokens a few hundred bytes
 * with room to grow.  Which keys a type takes is the database's to say.
 */
static const struct {
    const char  *key;
    size_t       max;
} ngx_omni_credential_max[] = {
    { "phone_number_id",      64 },
    { "page_id",              64 },
    { "ig_user_id",           64 },
    { "app_secret",           256 },
    { "channel_secret",       256 },
    { "verify_token",         256 },
    { "access_token",         4096 },
    { "page_access_token",    4096 },
    { "channel_access_token", 4096 },
};


ngx_omni_crud_t  ngx_omni_channels = {
    ngx_omni_channel_shape, ngx_omni_channel_limits,
    NGX_OMNI_STMT_CHANNEL_LIST, NGX_OMNI_STMT_CHANNEL_CREATE,
    NGX_OMNI_STMT_CHANNEL_GET, NGX_OMNI_STMT_CHANNEL_UPDATE,
    NGX_OMNI_CRUD_NONE,
    NGX_HTTP_CREATED, 1, NGX_OMNI_CACHE_CHANNEL
};


/* a credential over its limit is refused before anything is stored */
static ngx_int_t
ngx_omni_channel_limits(ngx_omni_ctx_t *ctx)
{
    json_t      *creds, *v;
    ngx_uint_t   i;

    creds = json_object_get(ctx->body, "credentials");

    for (i = 0; i < sizeof(ngx_omni_credential_max)
                    / sizeof(ngx_omni_credential_max[0]); i++)
    {
        v = json_object_get(creds, ngx_omni_credential_max[i].key);

        if (json_is_string(v)
            && json_string_length(v) > ngx_omni_credential_max[i].max)
        {
            return ngx_omni_fail(ctx, 422, "invalid_credentials",
                                 "Credential \"%s\" is longer than %uz "
                                 "bytes", ngx_omni_credential_max[i].key,
                                 ngx_omni_credential_max[i].max);
        }
    }

    return NGX_OK;
}
