
/*
 * Request bodies: unknown fields, wrong types and missing fields are told
 * apart, and nothing else passes.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "omni_beacon.h"
#include "omni_json_shape.h"


static const omni_json_field_t  member_shape[] = {
    { "name",       OMNI_JT_STRING,   1, 200 },
    { "role",       OMNI_JT_ROLE,     1, 0 },
    { "branch_ids", OMNI_JT_ID_ARRAY, 0, 4 },
    { NULL, 0, 0, 0 }
};


static int
check(const char *text, int mode, omni_json_error_t *err)
{
    int           rc;
    json_t       *body;
    json_error_t  jerr;

    body = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(body);
    rc = omni_json_shape_check(body, member_shape, mode, err);
    json_decref(body);

    return rc;
}


static void
a_whole_member_passes(void **state)
{
    omni_json_error_t  err;

    (void) state;

    assert_int_equal(check("{\"name\":\"Amy\",\"role\":\"cs_agent\","
                           "\"branch_ids\":[1,2]}", OMNI_JSON_CREATE, &err),
                     0);
}


static void
an_unknown_field_is_named(void **state)
{
    omni_json_error_t  err;

    (void) state;

    assert_int_equal(check("{\"name\":\"Amy\",\"role\":\"admin\","
                           "\"branchIds\":[1]}", OMNI_JSON_CREATE, &err), -1);
    assert_string_equal(err.code, "unknown_field");
    assert_int_equal(err.status, 400);
    assert_non_null(strstr(err.message, "branchIds"));
}


static void
wrong_types_are_invalid_fields(void **state)
{
    omni_json_error_t  err;

    (void) state;

    assert_int_equal(check("{\"name\":7,\"role\":\"admin\"}",
                           OMNI_JSON_CREATE, &err), -1);
    assert_string_equal(err.code, "invalid_field");

    assert_int_equal(check("{\"name\":\"\",\"role\":\"admin\"}",
                           OMNI_JSON_CREATE, &err), -1);
    assert_string_equal(err.code, "invalid_field");

    assert_int_equal(check("{\"name\":\"A\",\"role\":\"admin\","
                           "\"branch_ids\":[1,\"2\"]}", OMNI_JSON_CREATE,
                           &err), -1);
    assert_string_equal(err.code, "invalid_field");

    assert_int_equal(check("{\"name\":\"A\",\"role\":\"admin\","
                           "\"branch_ids\":[0]}", OMNI_JSON_CREATE, &err), -1);
    assert_string_equal(err.code, "invalid_field");

    assert_int_equal(check("{\"name\":\"A\",\"role\":\"admin\","
                           "\"branch_ids\":[1,2,3,4,5]}", OMNI_JSON_CREATE,
                           &err), -1);
    assert_string_equal(err.code, "too_many_items");
}


static void
an_unknown_role_breaks_a_rule(void **state)
{
    omni_json_error_t  err;

    (void) state;

    assert_int_equal(check("{\"name\":\"A\",\"role\":\"owner\"}",
                           OMNI_JSON_CREATE, &err), -1);
    assert_string_equal(err.code, "invalid_role");
    assert_int_equal(err.status, 422);
}


static void
create_needs_required_fields_update_needs_one(void **state)
{
    omni_json_error_t  err;

    (void) state;

    assert_int_equal(check("{\"name\":\"A\"}", OMNI_JSON_CREATE, &err), -1);
    assert_string_equal(err.code, "missing_field");
    assert_non_null(strstr(err.message, "role"));

    assert_int_equal(check("{\"name\":\"A\"}", OMNI_JSON_UPDATE, &err), 0);
    assert_int_equal(check("{}", OMNI_JSON_UPDATE, &err), -1);
    assert_string_equal(err.code, "empty_update");
}


static void
a_body_that_is_not_an_object_is_refused(void **state)
{
    omni_json_error_t  err;

    (void) state;

    assert_int_equal(check("[1,2]", OMNI_JSON_CREATE, &err), -1);
    assert_string_equal(err.code, "invalid_body");
}


/* every byte of s starts or continues a valid UTF-8 character */
static int
utf8_valid(const char *s, size_t len)
{
    size_t  i, k;

    for (i = 0; i < len; i += k) {
        k = omni_utf8_char((const unsigned char *) s + i, len - i);

        if (k == 0) {
            return 0;
        }
    }

    return 1;
}


static void
an_unknown_field_is_named_in_whole_characters(void **state)
{
    char               body[256], *p;
    size_t             i;
    omni_json_error_t  err;

    (void) state;

    /* 30 three-byte characters: 64 bytes of them end inside the 22nd */
    p = body;
    p += sprintf(p, "{\"name\":\"A\",\"role\":\"admin\",\"");

    for (i = 0; i < 30; i++) {
        p += sprintf(p, "\xe8\x8c\xb6");
    }

    sprintf(p, "\":1}");

    assert_int_equal(check(body, OMNI_JSON_CREATE, &err), -1);
    assert_string_equal(err.code, "unknown_field");
    assert_true(utf8_valid(err.message, strlen(err.message)));
    assert_non_null(strstr(err.message, "\"" "\xe8\x8c\xb6\xe8\x8c\xb6"));
    assert_int_equal(strlen(err.message),
                     strlen("Unknown field \"\"") + 21 * 3);
}


static void
text_is_cut_between_characters(void **state)
{
    char  out[16];

    (void) state;

    /* a two-byte character that does not fit whole is left out */
    assert_int_equal(omni_utf8_clean(out, 4, "ab\xc3\xa9", 4), 4);
    assert_int_equal(omni_utf8_clean(out, 3, "ab\xc3\xa9", 4), 2);
    assert_memory_equal(out, "ab", 2);

    /* a character the input itself ends inside of is left out */
    assert_int_equal(omni_utf8_clean(out, 16, "ab\xe8\x8c", 4), 2);
    assert_int_equal(omni_utf8_clean(out, 16, "\xf0\x9f\x8d", 3), 0);

    assert_int_equal(omni_utf8_cut("\xe8\x8c\xb6\xe8\x8c\xb6", 6, 5), 3);
    assert_int_equal(omni_utf8_cut("\xe8\x8c\xb6\xe8\x8c\xb6", 6, 6), 6);
    assert_int_equal(omni_utf8_cut("abc", 3, 64), 3);
    assert_int_equal(omni_utf8_cut("\xf0\x9f\x8d\xb5", 4, 3), 0);
}


static void
bytes_that_start_no_character_are_replaced(void **state)
{
    char    out[32];
    size_t  n;

    (void) state;

    /* a lone byte, a surrogate, an overlong slash, a stray continuation */
    n = omni_utf8_clean(out, sizeof(out), "a\xff" "b\xed\xa0\x80" "c\xc0\xaf"
                        "\x80", 10);
    assert_true(utf8_valid(out, n));
    assert_memory_equal(out, "a\xef\xbf\xbd" "b", 5);
    assert_int_equal(n, 5 + 3 * 3 + 1 + 2 * 3 + 3);

    /* a replacement that does not fit whole is left out too */
    assert_int_equal(omni_utf8_clean(out, 3, "a\xff", 2), 1);

    /* NUL and controls are characters: JSON escaping is the caller's */
    assert_int_equal(omni_utf8_clean(out, 8, "a\0\n", 3), 3);
}


static void
an_array_is_non_empty_and_bounded(void **state)
{
    json_t             *body;
    omni_json_error_t   err;

    static const omni_json_field_t  message_shape[] = {
        { "items", OMNI_JT_ARRAY, 1, 2 },
        { NULL, 0, 0, 0 }
    };

    (void) state;

    body = json_loads("{\"items\":[{},\"x\"]}", 0, NULL);
    assert_int_equal(omni_json_shape_check(body, message_shape,
                                           OMNI_JSON_CREATE, &err), 0);
    json_decref(body);

    body = json_loads("{\"items\":[]}", 0, NULL);
    assert_int_equal(omni_json_shape_check(body, message_shape,
                                           OMNI_JSON_CREATE, &err), -1);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "invalid_field");
    json_decref(body);

    body = json_loads("{\"items\":{\"type\":\"text\"}}", 0, NULL);
    assert_int_equal(omni_json_shape_check(body, message_shape,
                                           OMNI_JSON_CREATE, &err), -1);
    assert_string_equal(err.code, "invalid_field");
    json_decref(body);

    body = json_loads("{\"items\":[1,2,3]}", 0, NULL);
    assert_int_equal(omni_json_shape_check(body, message_shape,
                                           OMNI_JSON_CREATE, &err), -1);
    assert_int_equal(err.status, 422);
    assert_string_equal(err.code, "too_many_items");
    assert_non_null(strstr(err.message, "at most 2"));
    json_decref(body);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(a_whole_member_passes),
        cmocka_unit_test(an_unknown_field_is_named),
        cmocka_unit_test(wrong_types_are_invalid_fields),
        cmocka_unit_test(an_unknown_role_breaks_a_rule),
        cmocka_unit_test(create_needs_required_fields_update_needs_one),
        cmocka_unit_test(a_body_that_is_not_an_object_is_refused),
        cmocka_unit_test(an_unknown_field_is_named_in_whole_characters),
        cmocka_unit_test(text_is_cut_between_characters),
        cmocka_unit_test(bytes_that_start_no_character_are_replaced),
        cmocka_unit_test(an_array_is_non_empty_and_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
