
/*
 * libFuzzer: any bytes as a spool file's rows.  Parsing never reads past
 * the input, the binary COPY stream is exactly the size announced, and
 * every line sent is valid UTF-8 without NUL or newline.
 */

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "omni_blocks.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char              *out;
    size_t             i, len, n, rows;
    uint32_t           slots[64];
    omni_block_t       blocks[16];
    omni_blocks_t      bs;
    omni_block_row_t   row[32];

    memset(&bs, 0, sizeof(bs));
    memset(slots, 0, sizeof(slots));
    bs.blocks = blocks;
    bs.max_blocks = 16;
    bs.rows = row;
    bs.max_rows = 32;
    bs.slots = slots;
    bs.nslots = 64;

    if (omni_blocks_parse(&bs, (const char *) data, size, 1) != 0) {
        return 0;
    }

    rows = 0;

    for (i = 0; i < bs.nblocks; i++) {
        blocks[i].tenant_id = (int64_t) i % 3;     /* some unknown */
        rows += blocks[i].rows;
    }

    assert(rows == bs.nrows);

    for (i = 0; i < bs.nrows; i++) {
        assert(memchr(row[i].line, '\n', row[i].len) == NULL);
        assert(memchr(row[i].line, '\0', row[i].len) == NULL);
        assert(row[i].line >= (const char *) data
               && row[i].line + row[i].len <= (const char *) data + size);
    }

    len = omni_blocks_copy(&bs, NULL);
    out = malloc(len);
    assert(out != NULL);
    assert(omni_blocks_copy(&bs, out) == len);
    assert((unsigned char) out[len - 1] == 0xff);
    free(out);

    len = omni_blocks_captures(&bs, NULL, &n);
    out = malloc(len + 1);
    assert(out != NULL);
    assert(omni_blocks_captures(&bs, out, &n) == len);
    free(out);

    return 0;
}
