
/*
 * libFuzzer: any bytes in every column; a row is either refused or one
 * that COPY accepts: 12 fields, one newline at its end, no NUL.
 */

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "omni_beacon.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           row[OMNI_BEACON_ROW_MAX], props[512];
    size_t         len, i, tabs, part, used;
    omni_beacon_t  b;
    omni_text_t   *cols[] = { &b.ev, &b.vid, &b.url, &b.ref, &b.ph, &b.em,
                              &b.ip, &b.ua };

    memset(&b, 0, sizeof(b));
    b.received_ms = 1764050000000;
    b.client_ms = size % 2 ? -1 : (int64_t) size;
    b.key.data = "px_fuzz0000";
    b.key.len = 11;

    part = size / 9;

    for (i = 0; i < 8; i++) {
        cols[i]->data = (const char *) data + i * part;
        cols[i]->len = part;
    }

    /* short ev/vid so that some rows pass validation */
    b.ev.len = part ? 1 + data[0] % 8 : 0;
    b.vid.len = b.ev.len;
    if (b.ev.len > part) {
        b.ev.len = b.vid.len = part;
    }

    used = 0;
    if (omni_beacon_props_add(props, sizeof(props), &used,
                              (const char *) data + 8 * part, part / 2,
                              (const char *) data + 8 * part + part / 2,
                              size - 8 * part - part / 2) == 0
        && omni_beacon_props_close(props, sizeof(props), &used) == 0)
    {
        b.props.data = props;
        b.props.len = used;
    }

    len = omni_beacon_row(&b, row, sizeof(row));

    if (len == 0) {
        return 0;
    }

    assert(row[len - 1] == '\n');
    assert(memchr(row, '\0', len) == NULL);
    assert(memchr(row, '\n', len) == row + len - 1);

    for (i = 0, tabs = 0; i < len; i++) {
        tabs += row[i] == '\t';
    }

    assert(tabs == 11);

    return 0;
}
