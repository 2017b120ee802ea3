
/*
 * libFuzzer over what POST /media reads from a client: any first bytes,
 * any claimed kind, any size (the verdict is always one of the documented
 * ones and agrees with the sniffed type); any multipart head (the part
 * found starts inside it).
 */

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "omni_magic.h"
#include "omni_multipart.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                  fn[16];
    size_t                start, blen;
    uint64_t              len;
    const char           *b;
    omni_magic_e          m;
    omni_media_verdict_t  v;

    if (size < 2) {
        return 0;
    }

    m = omni_magic_sniff(data + 2, size - 2);
    assert(m >= OMNI_MAGIC_UNKNOWN && m <= OMNI_MAGIC_MP4);

    len = (uint64_t) data[1] << (data[0] % 40);
    omni_media_judge((omni_media_kind_e) (data[0] % 4), m, len, &v);

    assert(v.status == 0 || v.status == 413 || v.status == 415);
    assert(v.mime != NULL && strlen(v.mime) > 0);
    assert(v.status != 0 || v.kind != OMNI_MEDIA_IMAGE
           || m == OMNI_MAGIC_PNG || m == OMNI_MAGIC_JPEG);
    assert(v.status != 0 || v.kind != OMNI_MEDIA_VIDEO
           || (m == OMNI_MAGIC_MP4 && len <= OMNI_MEDIA_VIDEO_MAX));
    assert(v.status != 0 || len > 0);

    if (omni_multipart_boundary((const char *) data, size < 80 ? size : 80,
                                &b, &blen) == 0)
    {
        assert(blen > 0 && blen <= OMNI_MULTIPART_BOUNDARY_MAX);
    }

    if (omni_multipart_find(data + 2, size - 2, "XX", 2, "file", &start,
                            fn, data[0] % 17) == 0)
    {
        assert(start <= size - 2);
        assert(data[0] % 17 == 0 || strlen(fn) < (size_t) data[0] % 17);
    }

    return 0;
}
