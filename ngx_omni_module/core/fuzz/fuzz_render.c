
/*
 * libFuzzer: any bytes as the "items" of a send, to any channel.  Either
 * an error with a code, or one request per item whose body is JSON.
 */

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "omni_render.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char               *text;
    json_t             *items, *list;
    json_error_t        jerr;
    omni_json_error_t   err;
    omni_render_to_t    to;

    if (size == 0) {
        return 0;
    }

    items = json_loadb((const char *) data + 1, size - 1, 0, &jerr);

    if (items == NULL) {
        return 0;
    }

    to.to.data = "16505551234";
    to.to.len = 11;
    to.account.data = "106540352242922";
    to.account.len = 15;

    list = omni_render_items((omni_channel_e) (data[0] % OMNI_CHANNEL_N),
                             &to, items, &err);

    if (list == NULL) {
        assert(err.code != NULL && err.status >= 400);

    } else {
        assert(json_array_size(list) == json_array_size(items));

        /* what goes to the channel always dumps */
        text = json_dumps(list, JSON_COMPACT);
        assert(text != NULL);
        free(text);
        json_decref(list);
    }

    json_decref(items);

    return 0;
}
