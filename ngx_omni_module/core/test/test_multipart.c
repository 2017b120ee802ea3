
/*
 * POST /media's multipart body: the boundary from Content-Type and the
 * start of the "file" part, whatever fields come before it.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "omni_multipart.h"


static void
boundary_quoted_or_not(void **state)
{
    size_t       n;
    const char  *b, *ct;

    (void) state;

    ct = "multipart/form-data; boundary=abc123";
    assert_int_equal(omni_multipart_boundary(ct, strlen(ct), &b, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(b, "abc123", 6);

    ct = "Multipart/Form-Data; charset=utf-8; boundary=\"a b;c\"";
    assert_int_equal(omni_multipart_boundary(ct, strlen(ct), &b, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(b, "a b;c", 5);

    ct = "application/octet-stream";
    assert_int_equal(omni_multipart_boundary(ct, strlen(ct), &b, &n), -1);

    ct = "multipart/form-dataX; boundary=a";
    assert_int_equal(omni_multipart_boundary(ct, strlen(ct), &b, &n), -1);

    ct = "multipart/form-data";
    assert_int_equal(omni_multipart_boundary(ct, strlen(ct), &b, &n), -2);
}


static void
file_part_found_after_other_fields(void **state)
{
    char         fn[32];
    size_t       start;
    const char  *body;

    (void) state;

    body = "--XX\r\n"
           "Content-Disposition: form-data; name=\"note\"\r\n\r\n"
           "hello --XX not a delimiter\r\n"
           "--XX\r\n"
           "Content-Type: image/png\r\n"
           "content-disposition: form-data; name=\"file\"; "
           "filename=\"cat.png\"\r\n\r\n"
           "DATA\r\n--XX--\r\n";

    assert_int_equal(omni_multipart_find((const unsigned char *) body,
                                         strlen(body), "XX", 2, "file",
                                         &start, fn, sizeof(fn)), 0);
    assert_memory_equal(body + start, "DATA", 4);
    assert_string_equal(fn, "cat.png");
}


static void
no_file_part_or_truncated_head_is_not_found(void **state)
{
    char         fn[8];
    size_t       start;
    const char  *body;

    (void) state;

    body = "--XX\r\nContent-Disposition: form-data; name=\"filename\"\r\n\r\n"
           "x\r\n--XX--\r\n";
    assert_int_equal(omni_multipart_find((const unsigned char *) body,
                                         strlen(body), "XX", 2, "file",
                                         &start, fn, sizeof(fn)), -1);

    body = "--XX\r\nContent-Disposition: form-data; name=\"file\"\r\n";
    assert_int_equal(omni_multipart_find((const unsigned char *) body,
                                         strlen(body), "XX", 2, "file",
                                         &start, fn, sizeof(fn)), -1);

    /* a long filename is cut, not overflowed */
    body = "--XX\r\nContent-Disposition: form-data; name=file; "
           "filename=\"averyveryverylongname.bin\"\r\n\r\nD";
    assert_int_equal(omni_multipart_find((const unsigned char *) body,
                                         strlen(body), "XX", 2, "file",
                                         &start, fn, sizeof(fn)), 0);
    assert_string_equal(fn, "averyve");
    assert_int_equal(start, strlen(body) - 1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(boundary_quoted_or_not),
        cmocka_unit_test(file_part_found_after_other_fields),
        cmocka_unit_test(no_file_part_or_truncated_head_is_not_found),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
