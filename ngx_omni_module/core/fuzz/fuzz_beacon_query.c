
/*
 * libFuzzer: any bytes as a GIF beacon's query and as a POSTed body.
 *
 * The query reader stays inside the buffers it is given (sized exactly,
 * so AddressSanitizer sees a byte too far), its fields lie in them, its
 * props are a JSON object jansson reads, and a row made from them is one
 * the drainer takes.  The NUL-name pass never grows the text, leaves JSON
 * that parses as it was, and what it makes that parses is left as it is
 * by a second pass (run on the bytes as they are, and with each '~' made
 * a \u0000 so that names holding one come up often).
 */

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_beacon.h"
#include "omni_blocks.h"


static void fuzz_query(const uint8_t *data, size_t size);
static void fuzz_nul_names(const uint8_t *data, size_t size);
static void fuzz_nul_names_tilde(const uint8_t *data, size_t size);
static void inside(const omni_text_t *t, const char *buf, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_query(data, size);
    fuzz_nul_names(data, size);
    fuzz_nul_names_tilde(data, size);

    return 0;
}


static void
fuzz_query(const uint8_t *data, size_t size)
{
    char              *q, *buf, *props, row[OMNI_BEACON_ROW_MAX];
    size_t             len;
    json_t            *obj;
    uint32_t           slots[4];
    omni_beacon_t      b;
    omni_block_t       block;
    omni_blocks_t      bs;
    omni_block_row_t   one;
    json_error_t       err;

    q = malloc(size + 1);
    buf = malloc(size + 1);
    props = malloc(OMNI_BEACON_ROW_MAX);
    assert(q && buf && props);
    memcpy(q, data, size);

    memset(&b, 0, sizeof(b));
    b.received_ms = 1764050000000;
    b.client_ms = -1;
    b.key.data = "px_fuzz0000";
    b.key.len = 11;

    /* buf gets exactly the query's length: decoding never grows */
    if (omni_beacon_query(&b, q, size, buf, props, OMNI_BEACON_ROW_MAX)
        != 0)
    {
        goto done;
    }

    inside(&b.ev, buf, size);
    inside(&b.vid, buf, size);
    inside(&b.url, buf, size);
    inside(&b.ref, buf, size);
    inside(&b.ph, buf, size);
    inside(&b.em, buf, size);
    assert(b.client_ms >= -1 && b.client_ms <= OMNI_BEACON_TS_MAX);

    if (b.props.data) {
        assert(b.props.data == props && b.props.len < OMNI_BEACON_ROW_MAX);
        obj = json_loadb(b.props.data, b.props.len, 0, &err);
        assert(json_is_object(obj));
        assert(json_object_size(obj) <= OMNI_BEACON_PROPS_MAX);
        json_decref(obj);
    }

    len = omni_beacon_row(&b, row, sizeof(row));

    if (len == 0) {
        goto done;
    }

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

done:

    free(q);
    free(buf);
    free(props);
}


static void
fuzz_nul_names(const uint8_t *data, size_t size)
{
    char          *text, *again;
    size_t         len, len2;
    json_t        *before, *after;
    json_error_t   err;

    text = malloc(size + 1);
    again = malloc(size + 1);
    assert(text && again);
    memcpy(text, data, size);

    len = omni_beacon_json_drop_nul_names(text, size);
    assert(len <= size);

    before = json_loadb((const char *) data, size, JSON_ALLOW_NUL, &err);

    if (before) {
        /* JSON jansson reads has no NUL in a name: nothing to drop */
        assert(len == size && memcmp(text, data, size) == 0);
        json_decref(before);
    }

    after = json_loadb(text, len, JSON_ALLOW_NUL, &err);

    if (after) {
        /* and what it reads after the pass is left as it is */
        memcpy(again, text, len);
        len2 = omni_beacon_json_drop_nul_names(again, len);
        assert(len2 == len && memcmp(again, text, len) == 0);
        json_decref(after);
    }

    free(text);
    free(again);
}


/* each '~' a \u0000, so that names with one are found quickly */
static void
fuzz_nul_names_tilde(const uint8_t *data, size_t size)
{
    size_t    i, n;
    uint8_t  *text;

    text = malloc(size * 6 + 1);
    assert(text);

    for (i = 0, n = 0; i < size; i++) {
        if (data[i] == '~') {
            memcpy(text + n, "\\u0000", 6);
            n += 6;

        } else {
            text[n++] = data[i];
        }
    }

    fuzz_nul_names(text, n);
    free(text);
}


static void
inside(const omni_text_t *t, const char *buf, size_t size)
{
    if (t->data == NULL) {
        return;
    }

    assert(t->data >= buf && t->data + t->len <= buf + size);
}
