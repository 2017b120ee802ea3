
/*
 * libFuzzer: any bytes, any region; the result is always a sane number.
 */

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "omni_phone.h"


static const char  *regions[] = { "HK", "SG", "MY", "ID", "MO", "TW", NULL };


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t         i, n;
    omni_phone_t   p;

    if (size == 0) {
        return 0;
    }

    omni_phone_parse((const char *) data + 1, size - 1,
                     regions[data[0] % 7], &p);

    n = strlen(p.e164);
    assert(n <= 15);

    for (i = 0; i < n; i++) {
        assert(p.e164[i] >= '0' && p.e164[i] <= '9');
    }

    assert(p.kind != OMNI_PHONE_INVALID || n == 0);
    assert(p.kind != OMNI_PHONE_MOBILE || p.region[0] != '\0');

    return 0;
}
