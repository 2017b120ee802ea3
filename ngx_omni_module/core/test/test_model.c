
/*
 * Roles and plans by name: the wire names of SPEC §0.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "omni_model.h"


static void
every_role_of_the_seed_round_trips(void **state)
{
    int          i;
    const char  *name;

    (void) state;

    for (i = OMNI_ROLE_ADMIN; i < OMNI_ROLE_N; i++) {
        name = omni_role_name((omni_role_e) i);
        assert_int_equal(omni_role_parse(name, strlen(name)), i);
    }
}


static void
unknown_or_partial_role_is_refused(void **state)
{
    (void) state;

    assert_int_equal(omni_role_parse("root", 4), OMNI_ROLE_NONE);
    assert_int_equal(omni_role_parse("admi", 4), OMNI_ROLE_NONE);
    assert_int_equal(omni_role_parse("admin2", 6), OMNI_ROLE_NONE);
    assert_int_equal(omni_role_parse("", 0), OMNI_ROLE_NONE);
    assert_string_equal(omni_role_name(OMNI_ROLE_N), "");
}


static void
plan_array_from_postgresql_becomes_bits(void **state)
{
    const char  *all = "{cs,omo,marketing_advanced,flagship,social_cdp,"
                       "salesforce}";

    (void) state;

    assert_int_equal(omni_plan_parse_array("{cs,omo}", 8),
                     OMNI_FEATURE_CS | OMNI_FEATURE_OMO);
    assert_int_equal(omni_plan_parse_array(all, strlen(all)), 0x3f);
    assert_int_equal(omni_plan_parse_array("{}", 2), 0);
    assert_int_equal(omni_plan_parse_array("{cs,future}", 11),
                     OMNI_FEATURE_CS);
    assert_int_equal(omni_plan_parse_array("cs,omo", 6), 0);
    assert_int_equal(omni_plan_parse_array("{", 1), 0);
}


static void
channel_types_round_trip_and_nothing_else_is_one(void **state)
{
    int          i;
    const char  *name;

    (void) state;

    for (i = OMNI_CHANNEL_WHATSAPP; i < OMNI_CHANNEL_N; i++) {
        name = omni_channel_name((omni_channel_e) i);
        assert_int_equal(omni_channel_parse(name, strlen(name)), i);
    }

    assert_int_equal(omni_channel_parse("whatsap", 7), OMNI_CHANNEL_NONE);
    assert_int_equal(omni_channel_parse("LINE", 4), OMNI_CHANNEL_NONE);
    assert_int_equal(omni_channel_parse("", 0), OMNI_CHANNEL_NONE);
    assert_string_equal(omni_channel_name(OMNI_CHANNEL_N), "");
}


static void
every_feature_round_trips_by_position(void **state)
{
    size_t       i;
    uint32_t     bit, seen;
    const char  *name;

    (void) state;

    seen = 0;

    for (i = 0; (bit = omni_feature_at(i, &name)) != 0; i++) {
        assert_int_equal(omni_feature_parse(name, strlen(name)), bit);
        seen |= bit;
    }

    assert_int_equal(seen, 0x3f);
    assert_string_equal(name, "");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(every_role_of_the_seed_round_trips),
        cmocka_unit_test(unknown_or_partial_role_is_refused),
        cmocka_unit_test(plan_array_from_postgresql_becomes_bits),
        cmocka_unit_test(channel_types_round_trip_and_nothing_else_is_one),
        cmocka_unit_test(every_feature_round_trips_by_position),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
