
/*
 * The customer-service window per channel: 24 h after the customer's
 * last message on WhatsApp, Messenger and Instagram, always open on LINE.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "omni_window.h"


#define NOW  1749416383000LL


static void
meta_channels_are_open_within_24h_of_the_last_inbound(void **state)
{
    int            ch;
    omni_window_t  w;

    (void) state;

    for (ch = OMNI_CHANNEL_WHATSAPP; ch <= OMNI_CHANNEL_INSTAGRAM; ch++) {
        assert_true(omni_window_check(ch, NOW - 1000, NOW, &w));
        assert_int_equal(w.closes_at_ms, NOW - 1000 + OMNI_WINDOW_24H_MS);

        /* the last millisecond inside, the first one outside */
        assert_true(omni_window_check(ch, NOW - OMNI_WINDOW_24H_MS + 1, NOW,
                                      &w));
        assert_false(omni_window_check(ch, NOW - OMNI_WINDOW_24H_MS, NOW,
                                       &w));
        assert_int_equal(w.open, 0);
    }
}


static void
closed_window_names_the_channels_rule(void **state)
{
    omni_window_t  w;

    (void) state;

    omni_window_check(OMNI_CHANNEL_WHATSAPP, NOW - 2 * OMNI_WINDOW_24H_MS,
                      NOW, &w);
    assert_string_equal(w.rule, "whatsapp_customer_service_24h");

    omni_window_check(OMNI_CHANNEL_MESSENGER, -1, NOW, &w);
    assert_false(w.open);
    assert_string_equal(w.rule, "messenger_standard_messaging_24h");
    assert_int_equal(w.closes_at_ms, -1);

    omni_window_check(OMNI_CHANNEL_INSTAGRAM, -1, NOW, &w);
    assert_string_equal(w.rule, "instagram_standard_messaging_24h");
}


static void
a_customer_who_never_wrote_closes_meta_channels(void **state)
{
    omni_window_t  w;

    (void) state;

    assert_false(omni_window_check(OMNI_CHANNEL_WHATSAPP, -1, NOW, &w));
    assert_false(omni_window_check(OMNI_CHANNEL_INSTAGRAM, -1, NOW, &w));
}


static void
line_has_no_window(void **state)
{
    omni_window_t  w;

    (void) state;

    assert_true(omni_window_check(OMNI_CHANNEL_LINE, -1, NOW, &w));
    assert_true(omni_window_check(OMNI_CHANNEL_LINE,
                                  NOW - 30 * OMNI_WINDOW_24H_MS, NOW, &w));
    assert_string_equal(w.rule, "line_no_window");
    assert_int_equal(w.closes_at_ms, -1);
}


static void
a_clock_ahead_still_counts_from_the_last_message(void **state)
{
    omni_window_t  w;

    (void) state;

    assert_true(omni_window_check(OMNI_CHANNEL_WHATSAPP, NOW + 5000, NOW,
                                  &w));
    assert_int_equal(w.closes_at_ms, NOW + 5000 + OMNI_WINDOW_24H_MS);
}


static void
an_unknown_channel_is_closed(void **state)
{
    omni_window_t  w;

    (void) state;

    assert_false(omni_window_check(OMNI_CHANNEL_NONE, NOW, NOW, &w));
    assert_false(omni_window_check((omni_channel_e) 99, NOW, NOW, &w));
    assert_string_equal(w.rule, "unknown");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(meta_channels_are_open_within_24h_of_the_last_inbound),
        cmocka_unit_test(closed_window_names_the_channels_rule),
        cmocka_unit_test(a_customer_who_never_wrote_closes_meta_channels),
        cmocka_unit_test(line_has_no_window),
        cmocka_unit_test(a_clock_ahead_still_counts_from_the_last_message),
        cmocka_unit_test(an_unknown_channel_is_closed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
