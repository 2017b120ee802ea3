
/*
 * libFuzzer: any bytes as a signature header, over a fixed body and
 * secret.  Nothing but the one true value passes, and a value that
 * passes is exactly the channel's form.
 */

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "omni_hook_sig.h"


static const char  body[] = "{\"object\":\"page\",\"entry\":[]}";
static const char  secret[] = "fuzz-secret";


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    omni_hook_sig_e  rc;

    rc = omni_hook_sig_meta((const char *) data, size, secret,
                            sizeof(secret) - 1, body, sizeof(body) - 1);

    assert(rc != OMNI_HOOK_SIG_NO_SECRET);
    assert(rc != OMNI_HOOK_SIG_OK
           || (size == 71 && memcmp(data, "sha256=", 7) == 0));

    rc = omni_hook_sig_line((const char *) data, size, secret,
                            sizeof(secret) - 1, body, sizeof(body) - 1);

    assert(rc != OMNI_HOOK_SIG_NO_SECRET);
    assert(rc != OMNI_HOOK_SIG_OK || (size == 44 && data[43] == '='));

    /* the body itself as signed data, with the header as the secret */
    rc = omni_hook_sig_meta(body, sizeof(body) - 1, (const char *) data,
                            size, data, size);

    assert(rc == OMNI_HOOK_SIG_MALFORMED);

    return 0;
}
