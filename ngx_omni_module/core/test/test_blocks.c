
/*
 * Event blocks: a batch of ring rows becomes one block per pixel key, in
 * PostgreSQL's binary COPY layout; rows that are not ours are counted,
 * never sent.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "omni_blocks.h"


static omni_block_t      blocks[8];
static omni_block_row_t  rows[32];
static uint32_t          slots[32];


static omni_blocks_t
batch(void)
{
    omni_blocks_t  bs;

    memset(&bs, 0, sizeof(bs));
    memset(slots, 0, sizeof(slots));
    bs.blocks = blocks;
    bs.max_blocks = 8;
    bs.rows = rows;
    bs.max_rows = 32;
    bs.slots = slots;
    bs.nslots = 32;

    return bs;
}


static const char  two_keys[] =
    "keyA\t-\t{\"t\":946684800001,\"ev\":\"pageview\",\"vid\":\"v1\"}\n"
    "keyB\tc\t{\"t\":946684800005,\"ev\":\"signup\",\"vid\":\"v2\",\"ph\":\"1\"}\n"
    "keyA\t-\t{\"t\":946684800003,\"ev\":\"cart\",\"vid\":\"v1\"}\n"
    "keyA\t-\t{\"t\":946684800002,\"ev\":\"pageview\",\"vid\":\"v3\"}\n";


static uint64_t
get(const char *p, int n)
{
    uint64_t  v;

    for (v = 0; n--; p++) {
        v = (v << 8) | (unsigned char) *p;
    }

    return v;
}


static void
rows_group_by_key_in_order(void **state)
{
    omni_blocks_t  bs;

    (void) state;

    bs = batch();
    assert_int_equal(omni_blocks_parse(&bs, two_keys, sizeof(two_keys) - 1, 0),
                     0);
    assert_int_equal(bs.nblocks, 2);
    assert_int_equal(bs.nrows, 4);
    assert_int_equal(bs.malformed, 0);

    assert_int_equal(blocks[0].rows, 3);
    assert_int_equal(blocks[0].first_ms, 946684800001LL);
    assert_int_equal(blocks[0].last_ms, 946684800003LL);
    assert_int_equal(blocks[0].evs_len, strlen("pageview cart"));
    assert_memory_equal(blocks[0].evs, "pageview cart", blocks[0].evs_len);

    assert_int_equal(blocks[1].rows, 1);
    assert_true(rows[1].capture);
    assert_false(rows[0].capture);
}


static void
the_copy_stream_is_binary_copy(void **state)
{
    char           out[2048];
    const char    *p;
    size_t         size, len, n;
    omni_blocks_t  bs;

    (void) state;

    bs = batch();
    assert_int_equal(omni_blocks_parse(&bs, two_keys, sizeof(two_keys) - 1, 0),
                     0);
    assert_int_equal(omni_blocks_set_tenant(&bs, "keyA", 4, 7), 0);
    assert_int_equal(omni_blocks_set_tenant(&bs, "keyC", 4, 8), -1);
    assert_int_equal(blocks[0].tenant_id, 7);    /* keyB: no tenant */

    assert_int_equal(omni_blocks_unknown_rows(&bs), 1);

    size = omni_blocks_copy(&bs, NULL);
    assert_true(size < sizeof(out));
    assert_int_equal(omni_blocks_copy(&bs, out), size);

    assert_memory_equal(out, "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19);
    p = out + 19;
    assert_int_equal(get(p, 2), 6);
    assert_int_equal(get(p + 2, 4), 8);
    assert_int_equal(get(p + 6, 8), 7);
    assert_int_equal(get(p + 14, 4), 8);
    assert_int_equal(get(p + 18, 8), 1000);      /* µs after 2000-01-01 */
    assert_int_equal(get(p + 30, 8), 3000);
    assert_int_equal(get(p + 42, 4), 3);
    len = get(p + 46, 4);
    assert_memory_equal(p + 50, "pageview cart", len);
    p += 50 + len;
    len = get(p, 4);
    p += 4;
    assert_memory_equal(p, "{\"t\":946684800001,\"ev\":\"pageview\","
                           "\"vid\":\"v1\"}\n{\"t\":946684800003,", 56);
    assert_int_equal(p[len - 1], '}');
    assert_int_equal(get(p + len, 2), 0xffff);
    assert_ptr_equal(p + len + 2, out + size);

    /* the capture of keyB is not sent: no tenant */
    assert_int_equal(omni_blocks_captures(&bs, NULL, &n), 0);
    assert_int_equal(n, 0);

    blocks[1].tenant_id = 9;
    size = omni_blocks_captures(&bs, out, &n);
    assert_int_equal(n, 1);
    assert_memory_equal(out, "9\t{\"t\":946684800005,", 20);
    assert_int_equal(out[size - 1], '\n');
}


static void
rows_not_ours_are_counted_and_left_out(void **state)
{
    static const char  bad[] =
        "1764050000123\tkeyA\tpageview\tv1\t\\N\n"      /* the old layout */
        "keyA\t-\t{\"t\":x,\"ev\":\"pageview\"}\n"
        "key A\t-\t{\"t\":1,\"ev\":\"pageview\"}\n"
        "keyA\t-\t{\"t\":1,\"ev\":\"page\xff\"}\n"
        "keyA\t-\t{\"t\":1,\"ev\":\"ok\"}\n";
    omni_blocks_t  bs;

    (void) state;

    bs = batch();
    assert_int_equal(omni_blocks_parse(&bs, bad, sizeof(bad) - 1, 0), 0);
    assert_int_equal(bs.malformed, 3);
    assert_int_equal(bs.nrows, 2);

    /* read back from a file: invalid UTF-8 is not sent either */
    bs = batch();
    assert_int_equal(omni_blocks_parse(&bs, bad, sizeof(bad) - 1, 1), 0);
    assert_int_equal(bs.malformed, 4);
    assert_int_equal(bs.nrows, 1);
}


static void
too_many_event_names_mean_any(void **state)
{
    int                      i;
    size_t                   len;
    omni_block_t             one[1];
    omni_blocks_t            bs;
    static char              in[300 * 64];
    static omni_block_row_t  many_rows[300];
    static uint32_t          many_slots[4];

    (void) state;

    /* 300 names of 5 bytes do not fit in 1024 */
    len = 0;

    for (i = 0; i < 300; i++) {
        len += (size_t) snprintf(in + len, sizeof(in) - len,
                                 "keyA\t-\t{\"t\":1,\"ev\":\"ev%03d\"}\n", i);
    }

    memset(&bs, 0, sizeof(bs));
    bs.blocks = one;
    bs.max_blocks = 1;
    bs.rows = many_rows;
    bs.max_rows = 300;
    bs.slots = many_slots;
    bs.nslots = 4;

    assert_int_equal(omni_blocks_parse(&bs, in, len, 0), 0);
    assert_int_equal(one[0].rows, 300);
    assert_int_equal(one[0].evs_len, 1);
    assert_int_equal(one[0].evs[0], '*');

    /* a second key: no room for its block */
    assert_int_equal(omni_blocks_parse(&bs,
                         "keyB\t-\t{\"t\":1,\"ev\":\"a\"}\n", 24, 0), -1);
}


/* a batch parsed and written a slice at a time is the batch in one go */
static void
slices_make_the_same_stream(void **state)
{
    char           whole[2048], sliced[2048];
    size_t         size, i, half;
    omni_blocks_t  bs;

    (void) state;

    bs = batch();
    assert_int_equal(omni_blocks_parse(&bs, two_keys, sizeof(two_keys) - 1, 0),
                     0);
    assert_int_equal(omni_blocks_set_tenant(&bs, "keyA", 4, 7), 0);
    assert_int_equal(omni_blocks_set_tenant(&bs, "keyB", 4, 9), 0);
    size = omni_blocks_copy(&bs, whole);

    /* the same rows, parsed in two pieces at a row's end */
    bs = batch();
    half = (size_t) (strchr(two_keys, '\n') - two_keys) + 1;
    assert_int_equal(omni_blocks_parse(&bs, two_keys, half, 0), 0);
    assert_int_equal(omni_blocks_parse(&bs, two_keys + half,
                                       sizeof(two_keys) - 1 - half, 0), 0);
    assert_int_equal(bs.nrows, 4);
    assert_int_equal(omni_blocks_set_tenant(&bs, "keyA", 4, 7), 0);
    assert_int_equal(omni_blocks_set_tenant(&bs, "keyB", 4, 9), 0);

    memset(sliced, 0, sizeof(sliced));
    assert_int_equal(omni_blocks_copy_layout(&bs, sliced), size);

    for (i = 0; i < bs.nrows; i++) {
        omni_blocks_copy_lines(&bs, sliced, i, i + 1);
    }

    assert_memory_equal(sliced, whole, size);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(rows_group_by_key_in_order),
        cmocka_unit_test(the_copy_stream_is_binary_copy),
        cmocka_unit_test(slices_make_the_same_stream),
        cmocka_unit_test(rows_not_ours_are_counted_and_left_out),
        cmocka_unit_test(too_many_event_names_mean_any),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
