
/*
 * Beacon rows: what a browser sends becomes one ring row whose JSON line
 * jsonb accepts, or is refused; a long URL is cut, never the reason to
 * lose an event.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "omni_beacon.h"


#define TEXT(s)  { s, sizeof(s) - 1 }


static omni_beacon_t
beacon(void)
{
    omni_beacon_t  b;

    memset(&b, 0, sizeof(b));
    b.received_ms = 1764050000123;
    b.client_ms = -1;
    b.key = (omni_text_t) TEXT("px_0123abcd");
    b.ev = (omni_text_t) TEXT("pageview");
    b.vid = (omni_text_t) TEXT("h3J-x_9");

    return b;
}


static void
a_pageview_is_key_flag_and_a_json_line(void **state)
{
    char           row[OMNI_BEACON_ROW_MAX];
    size_t         len;
    omni_beacon_t  b;

    (void) state;

    b = beacon();
    b.url = (omni_text_t) TEXT("https://shop.example/p?a=1");
    b.ip = (omni_text_t) TEXT("127.0.0.1");

    len = omni_beacon_row(&b, row, sizeof(row));
    assert_true(len > 0);
    row[len] = '\0';
    assert_string_equal(row, "px_0123abcd\t-\t{\"t\":1764050000123,"
                             "\"ev\":\"pageview\",\"vid\":\"h3J-x_9\","
                             "\"url\":\"https://shop.example/p?a=1\","
                             "\"ip\":\"127.0.0.1\"}\n");

    b.ph = (omni_text_t) TEXT("+65 8123 4567");
    b.client_ms = 1764050000000;
    len = omni_beacon_row(&b, row, sizeof(row));
    row[len] = '\0';
    assert_non_null(strstr(row, "\tc\t{"));
    assert_non_null(strstr(row, ",\"cts\":1764050000000,"
                                "\"ph\":\"+65 8123 4567\","));
}


static void
a_client_time_postgresql_cant_hold_is_dropped(void **state)
{
    char           row[OMNI_BEACON_ROW_MAX];
    size_t         len;
    omni_beacon_t  b;

    (void) state;

    b = beacon();
    b.client_ms = 9223372036854775807LL;
    len = omni_beacon_row(&b, row, sizeof(row));
    assert_true(len > 0);
    row[len] = '\0';
    assert_null(strstr(row, "cts"));

    b.client_ms = OMNI_BEACON_TS_MAX;
    len = omni_beacon_row(&b, row, sizeof(row));
    row[len] = '\0';
    assert_non_null(strstr(row, "\"cts\":253402300799999}"));
}


static void
bad_key_event_or_visitor_is_refused(void **state)
{
    char           row[OMNI_BEACON_ROW_MAX];
    omni_beacon_t  b;

    (void) state;

    b = beacon();
    b.key = (omni_text_t) TEXT("px");
    assert_int_equal(omni_beacon_row(&b, row, sizeof(row)), 0);

    b = beacon();
    b.ev = (omni_text_t) TEXT("page view");
    assert_int_equal(omni_beacon_row(&b, row, sizeof(row)), 0);

    b = beacon();
    b.vid.data = NULL;
    assert_int_equal(omni_beacon_row(&b, row, sizeof(row)), 0);

    b = beacon();
    b.vid = (omni_text_t) TEXT("a\tb");
    assert_int_equal(omni_beacon_row(&b, row, sizeof(row)), 0);
}


static void
quotes_controls_backslashes_are_escaped_nul_dropped(void **state)
{
    char           row[OMNI_BEACON_ROW_MAX];
    size_t         len;
    omni_beacon_t  b;

    (void) state;

    b = beacon();
    b.url.data = "a\tb\nc\\d\0e\r\"";
    b.url.len = 11;

    len = omni_beacon_row(&b, row, sizeof(row));
    row[len] = '\0';
    assert_non_null(strstr(row, "\"url\":\"a\\u0009b\\u000ac\\\\de\\u000d"
                                "\\\"\"}"));
    /* one line: the only newline ends it */
    assert_ptr_equal(strchr(row, '\n'), row + len - 1);

    b = beacon();
    b.props = (omni_text_t) TEXT("{\"a\":\"x\\u0000y\",\n\"b\":\"\\\\u0000\"}");
    len = omni_beacon_row(&b, row, sizeof(row));
    row[len] = '\0';
    assert_non_null(strstr(row, "\"props\":{\"a\":\"xy\", \"b\":\"\\\\u0000\"}"));
}


static void
invalid_utf8_is_replaced_valid_kept(void **state)
{
    char           row[OMNI_BEACON_ROW_MAX];
    size_t         len;
    omni_beacon_t  b;

    (void) state;

    b = beacon();
    b.ref = (omni_text_t) TEXT("\xe9\x90\xb5 \xff\xc3(");

    len = omni_beacon_row(&b, row, sizeof(row));
    row[len] = '\0';
    assert_non_null(strstr(row, "\"ref\":\"\xe9\x90\xb5 \xef\xbf\xbd\xef\xbf\xbd(\"}"));
}


static void
a_long_url_is_cut_not_refused(void **state)
{
    char           url[5000], row[OMNI_BEACON_ROW_MAX];
    size_t         len;
    omni_beacon_t  b;

    (void) state;

    memset(url, 'u', sizeof(url));
    b = beacon();
    b.url.data = url;
    b.url.len = sizeof(url);

    len = omni_beacon_row(&b, row, sizeof(row));
    assert_true(len > OMNI_BEACON_URL_MAX);
    assert_true(len < OMNI_BEACON_URL_MAX + 200);
}


static void
props_are_a_json_object(void **state)
{
    char    props[256];
    size_t  used;

    (void) state;

    used = 0;
    assert_int_equal(omni_beacon_props_add(props, sizeof(props), &used,
                                           "sku", 3, "A\"1", 3), 0);
    assert_int_equal(omni_beacon_props_add(props, sizeof(props), &used,
                                           "n", 1, "\x01\0", 2), 0);
    assert_int_equal(omni_beacon_props_close(props, sizeof(props), &used), 0);
    assert_string_equal(props, "{\"sku\":\"A\\\"1\",\"n\":\"\\u0001\"}");

    used = 0;
    assert_int_equal(omni_beacon_props_close(props, sizeof(props), &used), 0);
    assert_string_equal(props, "{}");

    used = 0;
    assert_int_equal(omni_beacon_props_add(props, 8, &used, "long", 4,
                                           "value", 5), -1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(a_pageview_is_key_flag_and_a_json_line),
        cmocka_unit_test(a_client_time_postgresql_cant_hold_is_dropped),
        cmocka_unit_test(bad_key_event_or_visitor_is_refused),
        cmocka_unit_test(quotes_controls_backslashes_are_escaped_nul_dropped),
        cmocka_unit_test(invalid_utf8_is_replaced_valid_kept),
        cmocka_unit_test(a_long_url_is_cut_not_refused),
        cmocka_unit_test(props_are_a_json_object),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
