
/*
 * Magic bytes: PNG's eight-byte signature, JPEG's SOI marker followed by
 * a marker, and an ISO base media file whose first box is "ftyp" with a
 * video brand (HEIF and AVIF are stills in the same container).
 */

#include <string.h>

#include "omni_magic.h"


static int omni_magic_is_mp4(const unsigned char *p, size_t len);


omni_magic_e
omni_magic_sniff(const unsigned char *head, size_t len)
{
    static const unsigned char  png[8] = {
        0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'
    };

    if (len >= sizeof(png) && memcmp(head, png, sizeof(png)) == 0) {
        return OMNI_MAGIC_PNG;
    }

    if (len >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff) {
        return OMNI_MAGIC_JPEG;
    }

    if (omni_magic_is_mp4(head, len)) {
        return OMNI_MAGIC_MP4;
    }

    return OMNI_MAGIC_UNKNOWN;
}


static int
omni_magic_is_mp4(const unsigned char *p, size_t len)
{
    size_t       i;
    uint32_t     box;

    static const char  *stills[] = {
        "heic", "heix", "mif1", "msf1", "avif", "avis", NULL
    };

    if (len < 12 || memcmp(p + 4, "ftyp", 4) != 0) {
        return 0;
    }

    /* the box holds at least its header and the major brand */
    box = ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
          | ((uint32_t) p[2] << 8) | p[3];

    if (box < 12 && box != 1) {
        return 0;
    }

    for (i = 8; i < 12; i++) {
        if (p[i] < 0x20 || p[i] > 0x7e) {
            return 0;
        }
    }

    for (i = 0; stills[i]; i++) {
        if (memcmp(p + 8, stills[i], 4) == 0) {
            return 0;
        }
    }

    return 1;
}


const char *
omni_magic_mime(omni_magic_e m)
{
    switch (m) {
    case OMNI_MAGIC_PNG:
        return "image/png";
    case OMNI_MAGIC_JPEG:
        return "image/jpeg";
    case OMNI_MAGIC_MP4:
        return "video/mp4";
    default:
        return "application/octet-stream";
    }
}


const char *
omni_magic_ext(omni_magic_e m)
{
    switch (m) {
    case OMNI_MAGIC_PNG:
        return "png";
    case OMNI_MAGIC_JPEG:
        return "jpg";
    case OMNI_MAGIC_MP4:
        return "mp4";
    default:
        return "bin";
    }
}


int
omni_media_kind_parse(const char *s, size_t len)
{
    if (len == 5 && memcmp(s, "image", 5) == 0) {
        return OMNI_MEDIA_IMAGE;
    }

    if (len == 5 && memcmp(s, "video", 5) == 0) {
        return OMNI_MEDIA_VIDEO;
    }

    if (len == 4 && memcmp(s, "file", 4) == 0) {
        return OMNI_MEDIA_FILE;
    }

    return -1;
}


const char *
omni_media_kind_name(omni_media_kind_e kind)
{
    switch (kind) {
    case OMNI_MEDIA_IMAGE:
        return "image";
    case OMNI_MEDIA_VIDEO:
        return "video";
    case OMNI_MEDIA_FILE:
        return "file";
    default:
        return "any";
    }
}


void
omni_media_judge(omni_media_kind_e claimed, omni_magic_e magic,
    uint64_t size, omni_media_verdict_t *v)
{
    omni_media_kind_e  kind;

    memset(v, 0, sizeof(*v));
    v->mime = omni_magic_mime(magic);

    if (size == 0) {
        v->status = 415;
        v->code = "empty_media";
        return;
    }

    kind = claimed;

    if (kind == OMNI_MEDIA_ANY) {
        kind = (magic == OMNI_MAGIC_PNG || magic == OMNI_MAGIC_JPEG)
               ? OMNI_MEDIA_IMAGE
               : (magic == OMNI_MAGIC_MP4) ? OMNI_MEDIA_VIDEO
                                           : OMNI_MEDIA_FILE;
    }

    v->kind = kind;

    switch (kind) {

    case OMNI_MEDIA_IMAGE:
        if (magic != OMNI_MAGIC_PNG && magic != OMNI_MAGIC_JPEG) {
            v->status = 415;
            v->code = "unsupported_media_type";
            return;
        }

        v->reencode = (size > OMNI_MEDIA_IMAGE_TARGET);
        return;

    case OMNI_MEDIA_VIDEO:
        if (magic != OMNI_MAGIC_MP4) {
            v->status = 415;
            v->code = "unsupported_media_type";
            return;
        }

        if (size > OMNI_MEDIA_VIDEO_MAX) {
            v->status = 413;
            v->code = "media_too_large";
        }

        return;

    default:
        if (size > OMNI_MEDIA_FILE_MAX) {
            v->status = 413;
            v->code = "media_too_large";
        }

        return;
    }
}
