
/*
 * Request bodies: unknown fields, wrong types and missing fields are told
 * apart, and nothing else passes.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
