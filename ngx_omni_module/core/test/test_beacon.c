
/*
 * Beacon rows: what a browser sends becomes one ring row whose JSON line
 * jsonb accepts, or is refused; a long URL is cut, never the reason to
 * lose an event.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
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


/* reads q as a GIF beacon: the row's JSON line, or NULL when refused */
static const char *
query_row(const char *q)
{
    char           buf[16384], props[OMNI_BEACON_ROW_MAX], *line;
    size_t         len;
    omni_beacon_t  b;

    static char    row[OMNI_BEACON_ROW_MAX + 1];

    b = beacon();
    b.ev.data = NULL;
    b.vid.data = NULL;

    if (omni_beacon_query(&b, q, strlen(q), buf, props, sizeof(props)) != 0)
    {
        return NULL;
    }

    len = omni_beacon_row(&b, row, sizeof(row) - 1);

    if (len == 0) {
        return NULL;
    }

    row[len - 1] = '\0';
    line = strchr(strchr(row, '\t') + 1, '\t') + 1;

    return line;
}


static void
a_query_is_read_to_its_end(void **state)
{
    char         q[12000], *p;
    const char  *line;

    (void) state;

    assert_string_equal(query_row("ev=pageview&vid=v1&url=https%3A%2F%2Fs%2F"
                                  "&ts=1764050000000&ph=%2B65%208123%204567"
                                  "&em=a%40b.c&p.sku=A1&p.%E9%90%B5=%22"),
                        "{\"t\":1764050000123,\"ev\":\"pageview\","
                        "\"vid\":\"v1\",\"url\":\"https://s/\","
                        "\"cts\":1764050000000,\"ph\":\"+65 8123 4567\","
                        "\"em\":\"a@b.c\",\"props\":{\"sku\":\"A1\","
                        "\"\xe9\x90\xb5\":\"\\\"\"}}");

    /* omni.js's order: long url and ref first, what matters after them */
    p = q;
    p += sprintf(p, "ev=form_submit&vid=v2&url=");
    memset(p, 'u', 5000);
    p += 5000;
    p += sprintf(p, "&ref=");
    memset(p, 'r', 5000);
    p += 5000;
    sprintf(p, "&ts=1764050000000&ph=%%2B6581234567&em=e%%40x.y&p.form=f");

    line = query_row(q);
    assert_non_null(line);
    assert_non_null(strstr(line, "\"cts\":1764050000000,"
                                 "\"ph\":\"+6581234567\",\"em\":\"e@x.y\","
                                 "\"props\":{\"form\":\"f\"}}"));
}


static void
a_query_that_cant_be_stored_whole_is_refused(void **state)
{
    int            i;
    char           q[8192], buf[8192], props[OMNI_BEACON_ROW_MAX], *p;
    omni_beacon_t  b;

    (void) state;

    p = q + sprintf(q, "ev=x&vid=v");

    for (i = 1; i <= OMNI_BEACON_PROPS_MAX; i++) {
        p += sprintf(p, "&p.k%d=%d", i, i);
    }

    assert_non_null(query_row(q));

    sprintf(p, "&p.one=too_many");
    assert_null(query_row(q));

    /* properties a row can't hold: refused, not cut */
    memset(&b, 0, sizeof(b));
    p = q + sprintf(q, "ev=x&vid=v&p.big=");
    memset(p, 'v', 3000);
    p[3000] = '\0';
    assert_int_equal(omni_beacon_query(&b, q, strlen(q), buf, props, 2048),
                     -1);
}


static void
a_nul_costs_what_its_field_says(void **state)
{
    (void) state;

    /* identifiers: refused */
    assert_null(query_row("ev=a%00b&vid=v"));
    assert_null(query_row("ev=x&vid=v%00"));

    /* a property's name: that property; any other value: the byte */
    assert_string_equal(query_row("ev=x&vid=v&url=a%00b&p.%00=1&p.k%00=2"
                                  "&p.ok=c%00d"),
                        "{\"t\":1764050000123,\"ev\":\"x\",\"vid\":\"v\","
                        "\"url\":\"ab\",\"props\":{\"ok\":\"cd\"}}");

    /* only NUL-named properties: none */
    assert_string_equal(query_row("ev=x&vid=v&p.%00=1"),
                        "{\"t\":1764050000123,\"ev\":\"x\",\"vid\":\"v\"}");
}


static void
percent_decoding_is_the_url_standards(void **state)
{
    (void) state;

    assert_string_equal(query_row("ev=x&vid=v&url=100%25+off%zz%4&ref=%"),
                        "{\"t\":1764050000123,\"ev\":\"x\",\"vid\":\"v\","
                        "\"url\":\"100%+off%zz%4\",\"ref\":\"%\"}");

    /* names are decoded too; parts without a name or "=" */
    assert_string_equal(query_row("%65v=x&&=y&vid=v&ref&p.=z&other=1"),
                        "{\"t\":1764050000123,\"ev\":\"x\",\"vid\":\"v\","
                        "\"ref\":\"\"}");

    /* a time: digits PostgreSQL can hold, else absent; the last one wins */
    assert_non_null(strstr(query_row("ev=x&vid=v&ts=5&ts=%31%32"),
                           "\"cts\":12}"));
    assert_null(strstr(query_row("ev=x&vid=v&ts=12a"), "cts"));
    assert_null(strstr(query_row("ev=x&vid=v&ts=-1"), "cts"));
    assert_null(strstr(query_row("ev=x&vid=v&ts=253402300800000"), "cts"));
    assert_null(strstr(query_row("ev=x&vid=v&ts=99999999999999999999999"),
                       "cts"));
    assert_non_null(strstr(query_row("ev=x&vid=v&ts=253402300799999"),
                           "\"cts\":253402300799999}"));
}


/* the text after omni_beacon_json_drop_nul_names() */
static const char *
dropped(const char *json)
{
    size_t       len;
    static char  text[1024];

    len = strlen(json);
    memcpy(text, json, len);
    len = omni_beacon_json_drop_nul_names(text, len);
    text[len] = '\0';

    return text;
}


static void
a_nul_in_a_name_costs_that_member(void **state)
{
    (void) state;

    assert_string_equal(dropped("[{\"ev\":\"x\",\"props\":"
                                "{\"a\\u0000b\":\"x\",\"c\":\"y\"}}]"),
                        "[{\"ev\":\"x\",\"props\":{\"c\":\"y\"}}]");

    /* first, last, only, nested, with spaces, several in a row */
    assert_string_equal(dropped("{\"c\":1, \"\\u0000\" : [1,{\"}\":\"]\"}] }"),
                        "{\"c\":1}");
    assert_string_equal(dropped("{\"\\u0000\":{\"a\":[]}}"), "{}");
    assert_string_equal(dropped("{\"a\":{\"x\\u0000\":null,\"y\\u0000\":true"
                                ",\"z\":\"\\u0000\"}}"),
                        "{\"a\":{\"z\":\"\\u0000\"}}");
    assert_string_equal(dropped("{\"a\":1,\"b\\u0000\":2,\"c\\u0000\":3}"),
                        "{\"a\":1}");

    /* values keep theirs (the row drops the byte); arrays hold no names */
    assert_string_equal(dropped("[\"\\u0000\",{\"k\":\"\\u0000\"}]"),
                        "[\"\\u0000\",{\"k\":\"\\u0000\"}]");
    assert_string_equal(dropped("[\"a\\u0000\",1]"), "[\"a\\u0000\",1]");

    /* an escaped backslash, not an escape */
    assert_string_equal(dropped("{\"a\\\\u0000\":1}"),
                        "{\"a\\\\u0000\":1}");

    /* not JSON: left as it was, for the parser to refuse */
    assert_string_equal(dropped("{\"a\\u0000\":1 \"b\":2}"),
                        "{\"a\\u0000\":1 \"b\":2}");
    assert_string_equal(dropped("{\"a\\u0000\":[1}"), "{\"a\\u0000\":[1}");
    assert_string_equal(dropped("{\"a\\u0000"), "{\"a\\u0000");
    assert_string_equal(dropped("{\"a\\u0000\":"), "{\"a\\u0000\":");
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
        cmocka_unit_test(a_query_is_read_to_its_end),
        cmocka_unit_test(a_query_that_cant_be_stored_whole_is_refused),
        cmocka_unit_test(a_nul_costs_what_its_field_says),
        cmocka_unit_test(percent_decoding_is_the_url_standards),
        cmocka_unit_test(a_nul_in_a_name_costs_that_member),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
