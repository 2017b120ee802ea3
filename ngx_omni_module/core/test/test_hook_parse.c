
/*
 * Inbound webhooks of the four channels -> normalized events.  The
 * payloads in test/hooks/ are the channels' documented webhook examples
 * (WhatsApp Cloud API "messages" webhook reference, Messenger webhook
 * events reference, Instagram webhook examples, LINE webhook event
 * objects), placeholders filled in.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "omni_hook_parse.h"


#define HOOKS  "ngx_omni_module/core/test/hooks/"


static json_t *
parse_file(omni_channel_e ch, const char *name)
{
    char               path[256], *body;
    long               n;
    FILE              *f;
    json_t            *events;
    omni_json_error_t  err;

    snprintf(path, sizeof(path), HOOKS "%s", name);
    f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    body = malloc((size_t) n);
    assert_non_null(body);
    assert_int_equal(fread(body, 1, (size_t) n, f), (size_t) n);
    fclose(f);

    events = omni_hook_parse(ch, body, (size_t) n, &err);
    free(body);

    if (events == NULL) {
        print_error("%s: %s %s\n", name, err.code, err.message);
        fail();
    }

    return events;
}


/* the event's field as a string, "" when absent */
static const char *
s(json_t *ev, const char *path)
{
    char         name[64];
    const char  *dot;
    json_t      *v;

    dot = strchr(path, '.');

    if (dot != NULL) {
        snprintf(name, sizeof(name), "%.*s", (int) (dot - path), path);
        v = json_object_get(json_object_get(ev, name), dot + 1);

    } else {
        v = json_object_get(ev, path);
    }

    return json_is_string(v) ? json_string_value(v) : "";
}


static long long
n(json_t *ev, const char *name)
{
    return (long long) json_integer_value(json_object_get(ev, name));
}


static void
whatsapp_text_message_with_the_senders_profile(void **state)
{
    json_t  *evs, *ev;

    (void) state;

    evs = parse_file(OMNI_CHANNEL_WHATSAPP, "wa_text.json");
    assert_int_equal(json_array_size(evs), 1);

    ev = json_array_get(evs, 0);
    assert_string_equal(s(ev, "kind"), "message");
    assert_string_equal(s(ev, "message_id"), "wamid.HBgLMTY1MDM4Nzk0MzkVAgAS"
                        "GBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=");
    assert_string_equal(s(ev, "sender"), "16505551234");
    assert_string_equal(s(ev, "profile_name"), "Sheena Nelson");
    assert_int_equal(n(ev, "ts_ms"), 1749416383000LL);
    assert_string_equal(s(ev, "type"), "text");
    assert_string_equal(s(ev, "text"), "Does it come in another color?");
    assert_string_equal(s(ev, "account"), "106540352242922");
    assert_string_equal(s(ev, "raw.type"), "text");
    assert_null(json_object_get(ev, "redelivery"));

    json_decref(evs);
}


static void
whatsapp_media_location_and_replies(void **state)
{
    json_t  *evs, *ev, *loc;

    (void) state;

    evs = parse_file(OMNI_CHANNEL_WHATSAPP, "wa_media.json");
    assert_int_equal(json_array_size(evs), 6);

    ev = json_array_get(evs, 0);
    assert_string_equal(s(ev, "type"), "image");
    assert_string_equal(s(ev, "media.id"), "1003383421387256");
    assert_string_equal(s(ev, "media.mime"), "image/jpeg");
    assert_string_equal(s(ev, "text"), "This is an image");

    ev = json_array_get(evs, 1);
    assert_string_equal(s(ev, "type"), "file");
    assert_string_equal(s(ev, "media.filename"), "receipt.pdf");
    assert_string_equal(s(ev, "media.mime"), "application/pdf");

    ev = json_array_get(evs, 2);
    assert_string_equal(s(ev, "type"), "location");
    loc = json_object_get(ev, "location");
    assert_true(json_real_value(json_object_get(loc, "latitude")) > 37.48);
    assert_true(json_real_value(json_object_get(loc, "longitude")) < -122.1);
    assert_string_equal(s(ev, "location.name"), "Main Street Beach");
    assert_string_equal(s(ev, "location.address"),
                        "1 Hacker Way, Menlo Park, CA 94025");

    ev = json_array_get(evs, 3);
    assert_string_equal(s(ev, "type"), "button");
    assert_string_equal(s(ev, "reply.payload"), "change-button");
    assert_string_equal(s(ev, "reply.title"), "Change");

    ev = json_array_get(evs, 4);
    assert_string_equal(s(ev, "type"), "button");
    assert_string_equal(s(ev, "reply.payload"), "Unsubscribe from Promos");

    /* a reaction is the customer writing: kept as a message of its own */
    ev = json_array_get(evs, 5);
    assert_string_equal(s(ev, "kind"), "message");
    assert_string_equal(s(ev, "type"), "other");
    assert_string_equal(s(ev, "channel_type"), "reaction");

    json_decref(evs);
}


static void
whatsapp_statuses_move_our_messages_with_errors(void **state)
{
    json_t  *evs, *ev;

    (void) state;

    evs = parse_file(OMNI_CHANNEL_WHATSAPP, "wa_statuses.json");
    assert_int_equal(json_array_size(evs), 2);

    ev = json_array_get(evs, 0);
    assert_string_equal(s(ev, "kind"), "status");
    assert_string_equal(s(ev, "status"), "delivered");
    assert_string_equal(s(ev, "message_id"), "wamid.HBgLMTY1MDM4Nzk0MzkVAgAR"
                        "GBJDQjZCMzlEQUE4OTJBMTE4RTUA");
    assert_string_equal(s(ev, "recipient"), "16505551234");
    assert_int_equal(n(ev, "ts_ms"), 1750263773000LL);
    assert_null(json_object_get(ev, "error"));

    ev = json_array_get(evs, 1);
    assert_string_equal(s(ev, "status"), "failed");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(ev, "error"), "code")), 131047);
    assert_string_equal(s(ev, "error.title"), "Re-engagement message");

    json_decref(evs);
}


static void
messenger_messages_postbacks_deliveries_reads_echoes(void **state)
{
    json_t  *evs, *ev;

    (void) state;

    evs = parse_file(OMNI_CHANNEL_MESSENGER, "messenger.json");
    assert_int_equal(json_array_size(evs), 7);

    /* a quick reply is text and a button's payload */
    ev = json_array_get(evs, 0);
    assert_string_equal(s(ev, "kind"), "message");
    assert_string_equal(s(ev, "message_id"),
                        "mid.1457764197618:41d102a3e1ae206a38");
    assert_string_equal(s(ev, "sender"), "1254477777772919");
    assert_int_equal(n(ev, "ts_ms"), 1458692752478LL);
    assert_string_equal(s(ev, "type"), "button");
    assert_string_equal(s(ev, "text"), "hello, world!");
    assert_string_equal(s(ev, "reply.payload"), "DEVELOPER_DEFINED_PAYLOAD");
    assert_string_equal(s(ev, "reply.title"), "hello, world!");
    assert_string_equal(s(ev, "account"), "682498302938465");

    ev = json_array_get(evs, 1);
    assert_string_equal(s(ev, "type"), "image");
    assert_string_equal(s(ev, "media.url"), "https://scontent.xx.fbcdn.net/"
                        "v/t1.15752-9/image.jpg");

    ev = json_array_get(evs, 2);
    assert_string_equal(s(ev, "type"), "postback");
    assert_string_equal(s(ev, "message_id"), "m_MESSAGE-ID");
    assert_string_equal(s(ev, "reply.payload"), "GET_STARTED_PAYLOAD");
    assert_string_equal(s(ev, "reply.title"), "Get Started");

    ev = json_array_get(evs, 3);
    assert_string_equal(s(ev, "kind"), "status");
    assert_string_equal(s(ev, "status"), "delivered");
    assert_string_equal(s(ev, "message_id"),
                        "mid.1458668856218:ed81099e15d3f4f233");
    assert_string_equal(s(ev, "recipient"), "1254477777772919");
    assert_int_equal(n(ev, "watermark_ms"), 1458668856253LL);

    /* a read names no message: everything up to the watermark */
    ev = json_array_get(evs, 4);
    assert_string_equal(s(ev, "status"), "read");
    assert_null(json_object_get(ev, "message_id"));
    assert_int_equal(n(ev, "watermark_ms"), 1458668856253LL);

    ev = json_array_get(evs, 5);
    assert_string_equal(s(ev, "kind"), "unknown");
    assert_string_equal(s(ev, "type"), "echo");
    assert_null(json_object_get(ev, "sender"));

    ev = json_array_get(evs, 6);
    assert_string_equal(s(ev, "kind"), "unknown");
    assert_string_equal(s(ev, "type"), "reaction");
    assert_string_equal(s(ev, "reason"), "unsupported");
    assert_string_equal(s(ev, "sender"), "1254477777772919");
    assert_int_equal(strncmp(s(ev, "event_key"), "h:", 2), 0);
    assert_int_equal(strlen(s(ev, "event_key")), 66);

    json_decref(evs);
}


static void
instagram_messages_and_seen(void **state)
{
    json_t  *evs, *ev;

    (void) state;

    evs = parse_file(OMNI_CHANNEL_INSTAGRAM, "instagram.json");
    assert_int_equal(json_array_size(evs), 3);

    ev = json_array_get(evs, 0);
    assert_string_equal(s(ev, "type"), "text");
    assert_string_equal(s(ev, "sender"), "527419123456789");
    assert_string_equal(s(ev, "text"), "Do you ship to Hong Kong?");
    assert_string_equal(s(ev, "account"), "17841400000000000");

    ev = json_array_get(evs, 1);
    assert_string_equal(s(ev, "type"), "video");

    ev = json_array_get(evs, 2);
    assert_string_equal(s(ev, "kind"), "status");
    assert_string_equal(s(ev, "status"), "read");
    assert_string_equal(s(ev, "message_id"), "aWdfZAG1faXRlbToxOklHTWVzc2Fn"
                        "ZAUlEOjE3ODQxNDAxMjM0NTY3ODky");

    json_decref(evs);
}


static void
line_events_of_every_kind(void **state)
{
    json_t  *evs, *ev, *loc;

    (void) state;

    evs = parse_file(OMNI_CHANNEL_LINE, "line.json");
    assert_int_equal(json_array_size(evs), 8);

    ev = json_array_get(evs, 0);
    assert_string_equal(s(ev, "kind"), "message");
    assert_string_equal(s(ev, "message_id"), "444573844083572737");
    assert_string_equal(s(ev, "sender"), "U4af4980629d7b2a3f4b1c0e9d8f7a6b5");
    assert_int_equal(n(ev, "ts_ms"), 1462629479859LL);
    assert_string_equal(s(ev, "text"), "Hello, world! (love)");
    assert_string_equal(s(ev, "account"), "U0123456789abcdef0123456789abcdef");

    /* LINE keeps the content: its id is the message's */
    ev = json_array_get(evs, 1);
    assert_string_equal(s(ev, "type"), "image");
    assert_string_equal(s(ev, "media.id"), "354718705033693859");
    assert_true(json_is_true(json_object_get(ev, "redelivery")));

    ev = json_array_get(evs, 2);
    assert_string_equal(s(ev, "type"), "file");
    assert_string_equal(s(ev, "media.filename"), "file.txt");

    ev = json_array_get(evs, 3);
    assert_string_equal(s(ev, "type"), "location");
    loc = json_object_get(ev, "location");
    assert_true(json_real_value(json_object_get(loc, "latitude")) > 35.6);
    assert_string_equal(s(ev, "location.name"), "my location");

    ev = json_array_get(evs, 4);
    assert_string_equal(s(ev, "type"), "sticker");
    assert_string_equal(s(ev, "sticker.id"), "52002738");
    assert_string_equal(s(ev, "sticker.package_id"), "11537");

    ev = json_array_get(evs, 5);
    assert_string_equal(s(ev, "type"), "postback");
    assert_string_equal(s(ev, "message_id"), "01FZ74A0TDDPYRVKNK77XKC3ZX");
    assert_string_equal(s(ev, "reply.payload"), "storeId=12345");

    ev = json_array_get(evs, 6);
    assert_string_equal(s(ev, "kind"), "unknown");
    assert_string_equal(s(ev, "type"), "follow");
    assert_string_equal(s(ev, "event_key"), "01HMQGW40RZJPJM3RAJP7BHC2Q");
    assert_string_equal(s(ev, "sender"), "U3d3edab4f36c6292e6d8a8131f141b8b");
    assert_int_equal(n(ev, "ts_ms"), 1705891467176LL);

    ev = json_array_get(evs, 7);
    assert_string_equal(s(ev, "type"), "unfollow");

    json_decref(evs);
}


static void
junk_bodies_are_refused_with_a_code(void **state)
{
    size_t             i;
    omni_json_error_t  err;

    static const struct {
        omni_channel_e   ch;
        const char      *body;
        const char      *code;
    } junk[] = {
        { OMNI_CHANNEL_WHATSAPP, "", "invalid_json" },
        { OMNI_CHANNEL_WHATSAPP, "{", "invalid_json" },
        { OMNI_CHANNEL_LINE, "{\"events\":[\"\xff\"]}", "invalid_json" },
        { OMNI_CHANNEL_LINE, "{\"events\":[\"a\\u0000\"]}", "invalid_json" },
        { OMNI_CHANNEL_WHATSAPP, "[]", "invalid_body" },
        { OMNI_CHANNEL_WHATSAPP, "7", "invalid_body" },
        { OMNI_CHANNEL_WHATSAPP, "{\"object\":\"whatsapp_business_account\","
                                 "\"entry\":{}}", "invalid_body" },
        { OMNI_CHANNEL_LINE, "{\"destination\":\"U1\"}", "invalid_body" },
        { OMNI_CHANNEL_LINE, "{\"events\":7}", "invalid_body" },
        { OMNI_CHANNEL_WHATSAPP, "{\"object\":\"page\",\"entry\":[]}",
          "wrong_channel" },
        { OMNI_CHANNEL_MESSENGER, "{\"object\":\"instagram\",\"entry\":[]}",
          "wrong_channel" },
        { OMNI_CHANNEL_INSTAGRAM, "{\"entry\":[]}", "wrong_channel" },
        { OMNI_CHANNEL_LINE, "{\"object\":\"page\",\"events\":[]}",
          "wrong_channel" },
        { OMNI_CHANNEL_NONE, "{}", "wrong_channel" },
        { OMNI_CHANNEL_MESSENGER, "{\"object\":\"page\",\"entry\":[],"
                                  "\"entry\":[]}", "invalid_json" },
    };

    (void) state;

    for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        assert_null(omni_hook_parse(junk[i].ch, junk[i].body,
                                    strlen(junk[i].body), &err));
        assert_string_equal(err.code, junk[i].code);
        assert_int_equal(err.status, 400);
    }
}


static void
too_large_or_too_many_is_refused(void **state)
{
    char              *body;
    size_t             i, len;
    omni_json_error_t  err;

    (void) state;

    /* the length decides before any byte is read */
    assert_null(omni_hook_parse(OMNI_CHANNEL_LINE, "{}",
                                OMNI_HOOK_BODY_MAX + 1, &err));
    assert_string_equal(err.code, "body_too_large");
    assert_int_equal(err.status, 413);

    body = malloc(16 * (OMNI_HOOK_EVENTS_MAX + 1) + 32);
    assert_non_null(body);
    len = (size_t) sprintf(body, "{\"events\":[");

    for (i = 0; i <= OMNI_HOOK_EVENTS_MAX; i++) {
        len += (size_t) sprintf(body + len, "%s{\"type\":\"x\"}",
                                i ? "," : "");
    }

    len += (size_t) sprintf(body + len, "]}");

    assert_null(omni_hook_parse(OMNI_CHANNEL_LINE, body, len, &err));
    assert_string_equal(err.code, "too_many_events");
    assert_int_equal(err.status, 413);

    free(body);
}


static void
events_not_as_documented_are_kept_as_unknown(void **state)
{
    json_t             *evs, *ev;
    char               *body;
    size_t              len;
    omni_json_error_t   err;

    static const char  wa[] =
        "{\"object\":\"whatsapp_business_account\",\"entry\":[7,"
        "{\"changes\":[{\"field\":\"account_update\",\"value\":{}},"
        "{\"field\":\"messages\",\"value\":{\"messages\":["
        "{\"from\":\"1\",\"id\":\"wamid.1\",\"timestamp\":\"17x\","
        "\"type\":\"text\",\"text\":{\"body\":\"hi\"}},"
        "{\"from\":\"1\",\"id\":5,\"timestamp\":\"1700000000\","
        "\"type\":\"text\",\"text\":{\"body\":\"hi\"}},"
        "{\"from\":\"1\",\"id\":\"wamid.3\",\"timestamp\":\"1700000000\","
        "\"type\":\"text\",\"text\":{}}],"
        "\"statuses\":[{\"id\":\"wamid.4\",\"status\":\"deleted\","
        "\"timestamp\":\"1700000000\"}]}}]}]}";

    (void) state;

    evs = omni_hook_parse(OMNI_CHANNEL_WHATSAPP, wa, sizeof(wa) - 1, &err);
    assert_non_null(evs);
    assert_int_equal(json_array_size(evs), 6);

    ev = json_array_get(evs, 0);
    assert_string_equal(s(ev, "kind"), "unknown");
    assert_string_equal(s(ev, "reason"), "malformed");
    assert_true(json_is_integer(json_object_get(ev, "raw")));

    ev = json_array_get(evs, 1);
    assert_string_equal(s(ev, "type"), "account_update");
    assert_string_equal(s(ev, "reason"), "unsupported");

    /* the sender is still known when only the time is bad */
    ev = json_array_get(evs, 2);
    assert_string_equal(s(ev, "reason"), "malformed");
    assert_string_equal(s(ev, "sender"), "1");

    ev = json_array_get(evs, 3);
    assert_string_equal(s(ev, "reason"), "malformed");

    ev = json_array_get(evs, 4);
    assert_string_equal(s(ev, "reason"), "malformed");

    ev = json_array_get(evs, 5);
    assert_string_equal(s(ev, "kind"), "unknown");
    assert_string_equal(s(ev, "type"), "status");
    assert_string_equal(s(ev, "reason"), "unsupported");

    json_decref(evs);

    /* a text over the limit is not stored as a message */
    len = OMNI_HOOK_TEXT_MAX + 256;
    body = malloc(len);
    assert_non_null(body);
    len = (size_t) sprintf(body, "{\"events\":[{\"type\":\"message\","
                           "\"timestamp\":1462629479859,\"source\":"
                           "{\"userId\":\"U1\"},\"webhookEventId\":\"E1\","
                           "\"message\":{\"id\":\"1\",\"type\":\"text\","
                           "\"text\":\"");
    memset(body + len, 'a', OMNI_HOOK_TEXT_MAX + 1);
    len += OMNI_HOOK_TEXT_MAX + 1;
    len += (size_t) sprintf(body + len, "\"}}]}");

    evs = omni_hook_parse(OMNI_CHANNEL_LINE, body, len, &err);
    assert_non_null(evs);
    ev = json_array_get(evs, 0);
    assert_string_equal(s(ev, "kind"), "unknown");
    assert_string_equal(s(ev, "reason"), "malformed");
    assert_string_equal(s(ev, "event_key"), "E1");
    json_decref(evs);
    free(body);
}


static void
the_same_event_gets_the_same_key(void **state)
{
    json_t             *a, *b;
    omni_json_error_t   err;

    static const char  x[] =
        "{\"object\":\"page\",\"entry\":[{\"id\":\"1\",\"messaging\":["
        "{\"sender\":{\"id\":\"2\"},\"timestamp\":1,\"optin\":{\"ref\":\"r\"}}"
        "]}]}";
    static const char  y[] =
        "{\"entry\":[{\"messaging\":[{\"optin\":{\"ref\":\"r\"},"
        "\"timestamp\":1,\"sender\":{\"id\":\"2\"}}],\"id\":\"1\"}],"
        "\"object\":\"page\"}";

    (void) state;

    a = omni_hook_parse(OMNI_CHANNEL_MESSENGER, x, sizeof(x) - 1, &err);
    b = omni_hook_parse(OMNI_CHANNEL_MESSENGER, y, sizeof(y) - 1, &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(s(json_array_get(a, 0), "type"), "optin");
    assert_string_equal(s(json_array_get(a, 0), "event_key"),
                        s(json_array_get(b, 0), "event_key"));
    json_decref(a);
    json_decref(b);
}


static void
line_verification_body_has_no_events(void **state)
{
    json_t             *evs;
    omni_json_error_t   err;

    static const char  v[] = "{\"destination\":\"U1\",\"events\":[]}";

    (void) state;

    evs = omni_hook_parse(OMNI_CHANNEL_LINE, v, sizeof(v) - 1, &err);
    assert_non_null(evs);
    assert_int_equal(json_array_size(evs), 0);
    json_decref(evs);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(whatsapp_text_message_with_the_senders_profile),
        cmocka_unit_test(whatsapp_media_location_and_replies),
        cmocka_unit_test(whatsapp_statuses_move_our_messages_with_errors),
        cmocka_unit_test(messenger_messages_postbacks_deliveries_reads_echoes),
        cmocka_unit_test(instagram_messages_and_seen),
        cmocka_unit_test(line_events_of_every_kind),
        cmocka_unit_test(junk_bodies_are_refused_with_a_code),
        cmocka_unit_test(too_large_or_too_many_is_refused),
        cmocka_unit_test(events_not_as_documented_are_kept_as_unknown),
        cmocka_unit_test(the_same_event_gets_the_same_key),
        cmocka_unit_test(line_verification_body_has_no_events),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
