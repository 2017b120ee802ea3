
/*
 * libFuzzer: any bytes in every field; a row is either refused or one the
 * drainer takes as it is: key, flag and line, one newline at its end, no
 * NUL, valid UTF-8 (what PostgreSQL's text takes), no client time
 * PostgreSQL can't hold.
 */

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "omni_beacon.h"
#include "omni_blocks.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           row[OMNI_BEACON_ROW_MAX + 1], props[512], *props_at;
    size_t         len, i, tabs, part, used;
    uint32_t       slots[4];
    omni_beacon_t  b;
    omni_block_t   block;
    omni_blocks_t  bs;
    omni_block_row_t  one;
    static const int64_t  times[] = { -1, 0, 1764050000000,
                                      OMNI_BEACON_TS_MAX,
                                      OMNI_BEACON_TS_MAX + 1, INT64_MAX };
    omni_text_t   *cols[] = { &b.ev, &b.vid, &b.url, &b.ref, &b.ph, &b.em,
                              &b.ip, &b.ua };

    memset(&b, 0, sizeof(b));
    b.received_ms = 1764050000000;
    b.client_ms = times[size % 6];
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

    len = omni_beacon_row(&b, row, sizeof(row) - 1);

    if (len == 0) {
        return 0;
    }

    assert(row[len - 1] == '\n');
    assert(memchr(row, '\0', len) == NULL);
    assert(memchr(row, '\n', len) == row + len - 1);

    for (i = 0, tabs = 0; i < len; i++) {
        tabs += row[i] == '\t';
    }

    assert(tabs == 2);

    /* the drainer's own check, as for a row read back from a file */
    memset(&bs, 0, sizeof(bs));
    memset(slots, 0, sizeof(slots));
    bs.blocks = &block;
    bs.max_blocks = 1;
    bs.rows = &one;
    bs.max_rows = 1;
    bs.slots = slots;
    bs.nslots = 4;

    assert(omni_blocks_parse(&bs, row, len, 1) == 0);
    assert(bs.malformed == 0 && bs.nrows == 1);
    assert(block.last_ms == b.received_ms);

    /* our fields come before the props (whose keys are anyone's) */
    row[len] = '\0';
    props_at = strstr(row, ",\"props\":{");

    if (props_at) {
        *props_at = '\0';
    }

    if (b.client_ms < 0 || b.client_ms > OMNI_BEACON_TS_MAX) {
        assert(strstr(row, "\"cts\":") == NULL);
    } else {
        assert(strstr(row, "\"cts\":") != NULL);
    }

    return 0;
}
