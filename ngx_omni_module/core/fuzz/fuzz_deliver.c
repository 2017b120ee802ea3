
/*
 * libFuzzer: any bytes as a channel's answer to a send (the first byte
 * picks the channel and the status).  A verdict, an id that fits, and an
 * error object exactly when the verdict is not "sent".
 */

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "omni_deliver.h"


static const unsigned  statuses[] = { 200, 201, 400, 401, 404, 409, 429,
                                      500, 503 };


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             v;
    omni_deliver_t  d;

    if (size == 0) {
        return 0;
    }

    v = omni_deliver_judge((omni_channel_e) (data[0] % OMNI_CHANNEL_N),
                           statuses[(data[0] >> 3) % 9],
                           (const char *) data + 1, size - 1,
                           (data[0] >> 7) & 1, &d);

    if (v < 0) {
        return 0;
    }

    assert(strlen(d.message_id) < sizeof(d.message_id));
    assert((v == OMNI_DELIVER_SENT) == (d.error == NULL));

    json_decref(d.error);

    return 0;
}
