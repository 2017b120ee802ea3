
/*
 * Images of POST /media, in a thread of nginx's pool: the header's
 * dimensions against the pixel cap (decompression bombs), and an image
 * over the target size re-encoded as a JPEG that fits (quality steps,
 * then halving), row by row: memory is a few rows, never the image.
 */

#ifndef _NGX_OMNI_MEDIA_IMAGE_H_INCLUDED_
#define _NGX_OMNI_MEDIA_IMAGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* a header may promise at most this many pixels (a 10,000 x 5,000 photo) */
#define NGX_OMNI_MEDIA_MAX_PIXELS     (50 * 1000 * 1000)

/* an interlaced PNG needs the whole image: a lower cap for it (48 MB) */
#define NGX_OMNI_MEDIA_MAX_INTERLACED (16 * 1000 * 1000)


typedef struct {
    /* in */
    ngx_fd_t         in;
    off_t            in_offset;
    off_t            in_size;
    ngx_uint_t       png;         /* else a JPEG */
    ngx_fd_t         out;         /* where a re-encoded image goes */
    off_t            target;      /* 0: only check the header */

    /* out */
    ngx_uint_t       status;      /* 0, 413 (too many pixels), 415 */
    const char      *code;
    char             reason[120];
    ngx_uint_t       width;
    ngx_uint_t       height;
    ngx_uint_t       reencoded;   /* the result is in out, a JPEG */
    off_t            out_size;
    ngx_uint_t       quality;
    ngx_uint_t       scale;       /* 1, 2, 4 ...: the side divided by */
    ngx_uint_t       attempts;
} ngx_omni_media_image_t;


/* blocking file I/O and CPU: call it in a thread */
void ngx_omni_media_image_fit(ngx_omni_media_image_t *im);


#endif /* _NGX_OMNI_MEDIA_IMAGE_H_INCLUDED_ */
