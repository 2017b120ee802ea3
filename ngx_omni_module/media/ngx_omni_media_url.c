
/*
 * The URL rule of media: the operator says where the fleet serves
 * /omni/media/ (omni_media_url, an absolute prefix that channels can
 * fetch); without it the URL is the path alone, which a browser of the
 * same site can use but a channel cannot.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_media_url.h"


ngx_int_t
ngx_omni_media_url(ngx_pool_t *pool, ngx_str_t *sha256hex, ngx_str_t *mime,
    ngx_str_t *out)
{
    u_char                *p;
    ngx_str_t              prefix, ext;
    ngx_omni_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_omni_module);

    if (omcf && omcf->media_url.len) {
        prefix = omcf->media_url;

    } else {
        ngx_str_set(&prefix, "/omni/media/");
    }

    if (mime->len == 9 && ngx_strncmp(mime->data, "image/png", 9) == 0) {
        ngx_str_set(&ext, ".png");

    } else if (mime->len == 10
               && ngx_strncmp(mime->data, "image/jpeg", 10) == 0)
    {
        ngx_str_set(&ext, ".jpg");

    } else if (mime->len == 9
               && ngx_strncmp(mime->data, "video/mp4", 9) == 0)
    {
        ngx_str_set(&ext, ".mp4");

    } else {
        ngx_str_null(&ext);
    }

    p = ngx_pnalloc(pool, prefix.len + sha256hex->len + ext.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    p = ngx_cpymem(p, prefix.data, prefix.len);
    p = ngx_cpymem(p, sha256hex->data, sha256hex->len);
    p = ngx_cpymem(p, ext.data, ext.len);
    out->len = p - out->data;

    return NGX_OK;
}
