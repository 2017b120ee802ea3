
/*
 * Media: what an upload is, judged by its first bytes only (never its
 * name or Content-Type), and whether its kind and size are accepted.
 * Pure C, no allocation.
 */

#ifndef _OMNI_MAGIC_H_INCLUDED_
#define _OMNI_MAGIC_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* bytes to look at: enough for every signature below */
#define OMNI_MAGIC_HEAD          16

/* the limits, in bytes (MiB, as WhatsApp counts them) */
#define OMNI_MEDIA_IMAGE_TARGET  (5 * 1024 * 1024)    /* re-encoded above */
#define OMNI_MEDIA_VIDEO_MAX     (16 * 1024 * 1024)
#define OMNI_MEDIA_FILE_MAX      (8 * 1024 * 1024)


typedef enum {
    OMNI_MAGIC_UNKNOWN = 0,
    OMNI_MAGIC_PNG,
    OMNI_MAGIC_JPEG,
    OMNI_MAGIC_MP4
} omni_magic_e;


typedef enum {
    OMNI_MEDIA_ANY = 0,         /* no ?kind=: the bytes decide */
    OMNI_MEDIA_IMAGE,
    OMNI_MEDIA_VIDEO,
    OMNI_MEDIA_FILE
} omni_media_kind_e;


typedef struct {
    int                 status;     /* 0 accepted, else 413 or 415 */
    const char         *code;       /* the error's code */
    omni_media_kind_e   kind;       /* as stored */
    const char         *mime;
    int                 reencode;   /* an image above the target size */
} omni_media_verdict_t;


omni_magic_e omni_magic_sniff(const unsigned char *head, size_t len);
const char *omni_magic_mime(omni_magic_e m);
/* the extension of the public URL, without the dot */
const char *omni_magic_ext(omni_magic_e m);

/* "image", "video", "file"; -1 for anything else */
int omni_media_kind_parse(const char *s, size_t len);
const char *omni_media_kind_name(omni_media_kind_e kind);

/*
 * The rules of POST /media: an image is a PNG or a JPEG of any size (over
 * the target it is re-encoded), a video an MP4 up to 16 MiB, a file any
 * bytes up to 8 MiB.  A claimed kind the bytes are not: 415.  An empty
 * body is never media (415).
 */
void omni_media_judge(omni_media_kind_e claimed, omni_magic_e magic,
    uint64_t size, omni_media_verdict_t *v);


#endif /* _OMNI_MAGIC_H_INCLUDED_ */
