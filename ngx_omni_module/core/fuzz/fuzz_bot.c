
/*
 * libFuzzer: any bytes as a bot module's content, of any type, checked
 * for any channel and rendered there.  Either an error with a code, or
 * requests whose bodies are JSON.
 */

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "omni_bot_render.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char               *text;
    json_t             *content, *channels, *list;
    json_error_t        jerr;
    omni_bot_type_e     type;
    omni_channel_e      channel;
    omni_render_to_t    to;
    omni_json_error_t   err;

    if (size < 2) {
        return 0;
    }

    content = json_loadb((const char *) data + 2, size - 2, 0, &jerr);

    if (content == NULL) {
        return 0;
    }

    type = (omni_bot_type_e) (data[0] % OMNI_BOT_N);
    channel = (omni_channel_e) (data[1] % OMNI_CHANNEL_N);

    to.to.data = "16505551234";
    to.to.len = 11;
    to.account.data = "106540352242922";
    to.account.len = 15;

    channels = json_pack("[s]", channel ? omni_channel_name(channel)
                                        : "webchat");

    if (omni_bot_check(omni_bot_type_name(type),
                       strlen(omni_bot_type_name(type)), channels, content,
                       &err)
        != 0)
    {
        assert(err.code != NULL && err.status >= 400);
    }

    list = omni_bot_render(channel, &to, type, content, &err);

    if (list == NULL) {
        assert(err.code != NULL && err.status >= 400);

    } else {
        assert(json_array_size(list) >= 1);

        /* what goes to the channel always dumps */
        text = json_dumps(list, JSON_COMPACT);
        assert(text != NULL);
        free(text);
        json_decref(list);
    }

    json_decref(channels);
    json_decref(content);

    return 0;
}
