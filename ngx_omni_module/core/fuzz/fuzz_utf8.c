
/*
 * libFuzzer: any bytes as the text of an error answer.  What comes out is
 * valid UTF-8 within its limit, and valid text comes out as its own start,
 * cut between characters.
 */

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "omni_beacon.h"
#include "omni_json_shape.h"


static int
utf8_valid(const char *s, size_t len)
{
    size_t  i, k;

    for (i = 0; i < len; i += k) {
        k = omni_utf8_char((const unsigned char *) s + i, len - i);

        if (k == 0) {
            return 0;
        }
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char    out[4096];
    size_t  max, n, cut;

    if (size == 0) {
        return 0;
    }

    /* the first byte chooses the limit */
    max = data[0] * 16 % sizeof(out);
    data++;
    size--;

    n = omni_utf8_clean(out, max, (const char *) data, size);

    assert(n <= max);
    assert(utf8_valid(out, n));

    if (utf8_valid((const char *) data, size)) {
        cut = omni_utf8_cut((const char *) data, size, max);

        assert(cut <= max && cut == n);
        assert(memcmp(out, data, n) == 0);
        assert(cut == size || max - cut < 4);
    }

    return 0;
}
