
/*
 * Phone capture rules (SPEC §4): mobiles of SG, MY, ID, HK, MO become
 * WhatsApp ids in every form people type them; everything else does not.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "omni_phone.h"


static void
expect(const char *in, const char *region, omni_phone_kind_e kind,
    const char *e164)
{
    omni_phone_t  p;

    omni_phone_parse(in, strlen(in), region, &p);

    if (p.kind != kind || strcmp(p.e164, e164) != 0) {
        fail_msg("\"%s\" in %s: got %s \"%s\", want %s \"%s\"", in,
                 region ? region : "(none)", omni_phone_kind_name(p.kind),
                 p.e164, omni_phone_kind_name(kind), e164);
    }
}


static void
sg_mobile_in_every_form_becomes_whatsapp_id(void **state)
{
    (void) state;

    expect("+65 8123 4567", "HK", OMNI_PHONE_MOBILE, "6581234567");
    expect("+6581234567", NULL, OMNI_PHONE_MOBILE, "6581234567");
    expect("0065-8123-4567", "HK", OMNI_PHONE_MOBILE, "6581234567");
    expect("8123 4567", "SG", OMNI_PHONE_MOBILE, "6581234567");
    expect("(65) 9123.4567", "SG", OMNI_PHONE_MOBILE, "6591234567");
    expect("6591234567", "SG", OMNI_PHONE_MOBILE, "6591234567");
    expect("+65 6123 4567", "SG", OMNI_PHONE_FIXED, "6561234567");
    expect("+65 9912 3456", "SG", OMNI_PHONE_FIXED, "6599123456");
}


static void
my_mobile_with_and_without_trunk_zero(void **state)
{
    (void) state;

    expect("+60 12-345 6789", "HK", OMNI_PHONE_MOBILE, "60123456789");
    expect("012-345 6789", "MY", OMNI_PHONE_MOBILE, "60123456789");
    expect("+60 012 345 6789", NULL, OMNI_PHONE_MOBILE, "60123456789");
    expect("011-1234 5678", "MY", OMNI_PHONE_MOBILE, "601112345678");
    expect("0060 17 234 5678", "SG", OMNI_PHONE_MOBILE, "60172345678");
    expect("03-2345 6789", "MY", OMNI_PHONE_FIXED, "60323456789");
    expect("1300 88 1234", "MY", OMNI_PHONE_FIXED, "601300881234");
}


static void
id_mobile_of_every_length(void **state)
{
    (void) state;

    expect("+62 812-345-678", "HK", OMNI_PHONE_MOBILE, "62812345678");
    expect("0812 3456 7890", "ID", OMNI_PHONE_MOBILE, "6281234567890");
    expect("+62 81234567890", NULL, OMNI_PHONE_MOBILE, "6281234567890");
    expect("+62 21 8350123", "HK", OMNI_PHONE_FIXED, "62218350123");
}


static void
hk_and_mo_mobiles(void **state)
{
    (void) state;

    expect("5123 4567", "HK", OMNI_PHONE_MOBILE, "85251234567");
    expect("+852 9123-4567", "SG", OMNI_PHONE_MOBILE, "85291234567");
    expect("00852 6123 4567", "SG", OMNI_PHONE_MOBILE, "85261234567");
    expect("85251234567", "HK", OMNI_PHONE_MOBILE, "85251234567");
    expect("2123 4567", "HK", OMNI_PHONE_FIXED, "85221234567");
    expect("+853 6612 3456", "HK", OMNI_PHONE_MOBILE, "85366123456");
    expect("6612 3456", "MO", OMNI_PHONE_MOBILE, "85366123456");
    expect("+853 2821 2345", "HK", OMNI_PHONE_FIXED, "85328212345");
}


static void
full_width_digits_count(void **state)
{
    (void) state;

    /* "＋８５２ ９１２３ ４５６７" typed with a Chinese input method */
    expect("\xef\xbc\x8b\xef\xbc\x98\xef\xbc\x95\xef\xbc\x92 "
           "\xef\xbc\x99\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93 "
           "\xef\xbc\x94\xef\xbc\x95\xef\xbc\x96\xef\xbc\x97",
           "SG", OMNI_PHONE_MOBILE, "85291234567");
}


static void
other_countries_are_kept_as_other(void **state)
{
    (void) state;

    expect("+1 415 555 2671", "HK", OMNI_PHONE_OTHER, "14155552671");
    expect("+44 20 7946 0958", "HK", OMNI_PHONE_OTHER, "442079460958");
    expect("+886 912 345 678", "HK", OMNI_PHONE_OTHER, "886912345678");
}


static void
wrong_lengths_are_not_mobiles(void **state)
{
    (void) state;

    expect("+65 8123 456", "HK", OMNI_PHONE_OTHER, "658123456");
    expect("+852 5123 45678", "HK", OMNI_PHONE_OTHER, "852512345678");
    expect("5123", "HK", OMNI_PHONE_INVALID, "");
    expect("+1 23", "HK", OMNI_PHONE_INVALID, "");
    expect("+1234567890123456", "HK", OMNI_PHONE_INVALID, "");
}


static void
garbage_is_invalid(void **state)
{
    omni_phone_t  p;
    char          big[10240];

    (void) state;

    expect("", "HK", OMNI_PHONE_INVALID, "");
    expect("call me", "HK", OMNI_PHONE_INVALID, "");
    expect("9123 4567 ext 2", "HK", OMNI_PHONE_INVALID, "");
    expect("91+234567", "HK", OMNI_PHONE_INVALID, "");
    expect("++85291234567", "HK", OMNI_PHONE_INVALID, "");
    expect("9123 4567", NULL, OMNI_PHONE_INVALID, "");
    expect("9123 4567", "TW", OMNI_PHONE_INVALID, "");

    omni_phone_parse("9123\0" "4567", 9, "HK", &p);
    assert_int_equal(p.kind, OMNI_PHONE_INVALID);

    memset(big, '9', sizeof(big));
    omni_phone_parse(big, sizeof(big), "HK", &p);
    assert_int_equal(p.kind, OMNI_PHONE_INVALID);

    omni_phone_parse(NULL, 0, "HK", &p);
    assert_int_equal(p.kind, OMNI_PHONE_INVALID);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(sg_mobile_in_every_form_becomes_whatsapp_id),
        cmocka_unit_test(my_mobile_with_and_without_trunk_zero),
        cmocka_unit_test(id_mobile_of_every_length),
        cmocka_unit_test(hk_and_mo_mobiles),
        cmocka_unit_test(full_width_digits_count),
        cmocka_unit_test(other_countries_are_kept_as_other),
        cmocka_unit_test(wrong_lengths_are_not_mobiles),
        cmocka_unit_test(garbage_is_invalid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
