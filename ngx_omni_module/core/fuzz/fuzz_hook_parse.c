
/*
 * libFuzzer: any bytes as a webhook body of any channel.  Either an
 * error with a code, or events that each have a kind, their raw JSON,
 * and a key to store them by.
 */

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "omni_hook_parse.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t              i;
    json_t             *evs, *ev;
    const char         *kind;
    omni_json_error_t   err;

    if (size == 0) {
        return 0;
    }

    /* the first byte chooses the channel */
    evs = omni_hook_parse((omni_channel_e) (data[0] % OMNI_CHANNEL_N),
                          (const char *) data + 1, size - 1, &err);

    if (evs == NULL) {
        assert(err.code != NULL && err.status >= 400);
        return 0;
    }

    assert(json_array_size(evs) <= OMNI_HOOK_EVENTS_MAX);

    json_array_foreach(evs, i, ev) {
        kind = json_string_value(json_object_get(ev, "kind"));
        assert(kind != NULL);
        assert(json_object_get(ev, "raw") != NULL);

        if (strcmp(kind, "message") == 0) {
            assert(json_is_string(json_object_get(ev, "message_id")));
            assert(json_is_string(json_object_get(ev, "sender")));
            assert(json_is_string(json_object_get(ev, "type")));

        } else if (strcmp(kind, "status") == 0) {
            assert(json_is_string(json_object_get(ev, "status")));

        } else {
            assert(strcmp(kind, "unknown") == 0);
            assert(json_is_string(json_object_get(ev, "event_key")));
        }
    }

    json_decref(evs);

    return 0;
}
