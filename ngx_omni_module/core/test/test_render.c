
/*
 * Outbound items rendered into each channel's own send request.  The
 * expected bodies are the request examples of each channel's
 * documentation (WhatsApp Cloud API "Send messages", Messenger Send API,
 * Instagram messaging, LINE "Send push message"), with their
 * placeholders filled in.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "omni_render.h"


#define T(s)  { s, sizeof(s) - 1 }

static const omni_render_to_t  wa_to = { T("16505551234"),
                                         T("106540352242922") };
static const omni_render_to_t  fb_to = { T("1254477777772919"), T("") };
static const omni_render_to_t  ig_to = { T("527419123456789"),
                                         T("17841400000000000") };
static const omni_render_to_t  line_to = {
    T("U4af4980629d7b2a3f4b1c0e9d8f7a6b5"), T("") };


static void
expect_body(omni_render_t *r, const char *json)
{
    json_t        *want;
    json_error_t   jerr;

    want = json_loads(json, 0, &jerr);
    assert_non_null(want);

    if (!json_equal(r->body, want)) {
        char  *got;

        got = json_dumps(r->body, JSON_SORT_KEYS);
        print_error("got %s\n", got);
        free(got);
        fail();
    }

    json_decref(want);
    json_decref(r->body);
    r->body = NULL;
}


static void
render(omni_channel_e ch, const omni_render_to_t *to, omni_item_e type,
    const char *text, const char *url, const char *filename,
    const char *preview, omni_render_t *r, omni_json_error_t *err, int rc)
{
    omni_render_item_t  it;

    memset(&it, 0, sizeof(it));
    it.type = type;

#define SET(f, s)  if (s) { it.f.data = s; it.f.len = strlen(s); }
    SET(text, text)
    SET(url, url)
    SET(filename, filename)
    SET(preview_url, preview)
#undef SET

    assert_int_equal(omni_render_item(ch, to, &it, r, err), rc);

    if (rc != 0) {
        assert_null(r->body);
    }
}


static void
whatsapp_text_is_the_cloud_api_example(void **state)
{
    omni_render_t      r;
    omni_json_error_t  err;

    (void) state;

    render(OMNI_CHANNEL_WHATSAPP, &wa_to, OMNI_ITEM_TEXT,
           "Does it come in another color?", NULL, NULL, NULL, &r, &err, 0);
    assert_string_equal(r.path, "/106540352242922/messages");
    assert_string_equal(r.auth, "access_token");
    expect_body(&r, "{\"messaging_product\":\"whatsapp\","
                "\"recipient_type\":\"individual\",\"to\":\"16505551234\","
                "\"type\":\"text\",\"text\":{\"preview_url\":false,"
                "\"body\":\"Does it come in another color?\"}}");

    /* a link gets its preview */
    render(OMNI_CHANNEL_WHATSAPP, &wa_to, OMNI_ITEM_TEXT,
           "See https://example.com/sale", NULL, NULL, NULL, &r, &err, 0);
    expect_body(&r, "{\"messaging_product\":\"whatsapp\","
                "\"recipient_type\":\"individual\",\"to\":\"16505551234\","
                "\"type\":\"text\",\"text\":{\"preview_url\":true,"
                "\"body\":\"See https://example.com/sale\"}}");
}


static void
whatsapp_media_are_links_and_files_are_documents(void **state)
{
    omni_render_t      r;
    omni_json_error_t  err;

    (void) state;

    render(OMNI_CHANNEL_WHATSAPP, &wa_to, OMNI_ITEM_IMAGE, NULL,
           "https://example.com/m/a.jpg", NULL, NULL, &r, &err, 0);
    expect_body(&r, "{\"messaging_product\":\"whatsapp\","
                "\"recipient_type\":\"individual\",\"to\":\"16505551234\","
                "\"type\":\"image\","
                "\"image\":{\"link\":\"https://example.com/m/a.jpg\"}}");

    render(OMNI_CHANNEL_WHATSAPP, &wa_to, OMNI_ITEM_VIDEO, NULL,
           "https://example.com/m/b.mp4", NULL, NULL, &r, &err, 0);
    expect_body(&r, "{\"messaging_product\":\"whatsapp\","
                "\"recipient_type\":\"individual\",\"to\":\"16505551234\","
                "\"type\":\"video\","
                "\"video\":{\"link\":\"https://example.com/m/b.mp4\"}}");

    render(OMNI_CHANNEL_WHATSAPP, &wa_to, OMNI_ITEM_FILE, NULL,
           "https://example.com/m/c", "price list.pdf", NULL, &r, &err, 0);
    expect_body(&r, "{\"messaging_product\":\"whatsapp\","
                "\"recipient_type\":\"individual\",\"to\":\"16505551234\","
                "\"type\":\"document\","
                "\"document\":{\"link\":\"https://example.com/m/c\","
                "\"filename\":\"price list.pdf\"}}");
}


static void
messenger_is_the_send_api_example(void **state)
{
    omni_render_t      r;
    omni_json_error_t  err;

    (void) state;

    render(OMNI_CHANNEL_MESSENGER, &fb_to, OMNI_ITEM_TEXT, "hello, world!",
           NULL, NULL, NULL, &r, &err, 0);
    assert_string_equal(r.path, "/me/messages");
    assert_string_equal(r.auth, "page_access_token");
    expect_body(&r, "{\"recipient\":{\"id\":\"1254477777772919\"},"
                "\"messaging_type\":\"RESPONSE\","
                "\"message\":{\"text\":\"hello, world!\"}}");

    render(OMNI_CHANNEL_MESSENGER, &fb_to, OMNI_ITEM_IMAGE, NULL,
           "http://www.messenger-rocks.com/image.jpg", NULL, NULL, &r, &err,
           0);
    expect_body(&r, "{\"recipient\":{\"id\":\"1254477777772919\"},"
                "\"messaging_type\":\"RESPONSE\","
                "\"message\":{\"attachment\":{\"type\":\"image\","
                "\"payload\":{\"url\":"
                "\"http://www.messenger-rocks.com/image.jpg\","
                "\"is_reusable\":true}}}}");

    render(OMNI_CHANNEL_MESSENGER, &fb_to, OMNI_ITEM_FILE, NULL,
           "https://example.com/m/c.pdf", "c.pdf", NULL, &r, &err, 0);
    expect_body(&r, "{\"recipient\":{\"id\":\"1254477777772919\"},"
                "\"messaging_type\":\"RESPONSE\","
                "\"message\":{\"attachment\":{\"type\":\"file\","
                "\"payload\":{\"url\":\"https://example.com/m/c.pdf\","
                "\"is_reusable\":true}}}}");
}


static void
instagram_goes_to_the_ig_users_endpoint(void **state)
{
    omni_render_t      r;
    omni_json_error_t  err;

    (void) state;

    render(OMNI_CHANNEL_INSTAGRAM, &ig_to, OMNI_ITEM_TEXT, "Hi there",
           NULL, NULL, NULL, &r, &err, 0);
    assert_string_equal(r.path, "/17841400000000000/messages");
    assert_string_equal(r.auth, "access_token");
    expect_body(&r, "{\"recipient\":{\"id\":\"527419123456789\"},"
                "\"message\":{\"text\":\"Hi there\"}}");

    render(OMNI_CHANNEL_INSTAGRAM, &ig_to, OMNI_ITEM_VIDEO, NULL,
           "https://example.com/m/b.mp4", NULL, NULL, &r, &err, 0);
    expect_body(&r, "{\"recipient\":{\"id\":\"527419123456789\"},"
                "\"message\":{\"attachment\":{\"type\":\"video\","
                "\"payload\":{\"url\":\"https://example.com/m/b.mp4\"}}}}");
}


static void
line_push_is_the_messaging_api_example(void **state)
{
    omni_render_t      r;
    omni_json_error_t  err;

    (void) state;

    render(OMNI_CHANNEL_LINE, &line_to, OMNI_ITEM_TEXT, "Hello, world1",
           NULL, NULL, NULL, &r, &err, 0);
    assert_string_equal(r.path, "/v2/bot/message/push");
    assert_string_equal(r.auth, "channel_access_token");
    expect_body(&r, "{\"to\":\"U4af4980629d7b2a3f4b1c0e9d8f7a6b5\","
                "\"messages\":[{\"type\":\"text\","
                "\"text\":\"Hello, world1\"}]}");

    render(OMNI_CHANNEL_LINE, &line_to, OMNI_ITEM_IMAGE, NULL,
           "https://example.com/original.jpg", NULL,
           "https://example.com/preview.jpg", &r, &err, 0);
    expect_body(&r, "{\"to\":\"U4af4980629d7b2a3f4b1c0e9d8f7a6b5\","
                "\"messages\":[{\"type\":\"image\","
                "\"originalContentUrl\":\"https://example.com/original.jpg\","
                "\"previewImageUrl\":\"https://example.com/preview.jpg\"}]}");

    /* an image is its own preview when none is given */
    render(OMNI_CHANNEL_LINE, &line_to, OMNI_ITEM_IMAGE, NULL,
           "https://example.com/original.jpg", NULL, NULL, &r, &err, 0);
    expect_body(&r, "{\"to\":\"U4af4980629d7b2a3f4b1c0e9d8f7a6b5\","
                "\"messages\":[{\"type\":\"image\","
                "\"originalContentUrl\":\"https://example.com/original.jpg\","
                "\"previewImageUrl\":\"https://example.com/original.jpg\"}]}");

    render(OMNI_CHANNEL_LINE, &line_to, OMNI_ITEM_VIDEO, NULL,
           "https://example.com/original.mp4", NULL,
           "https://example.com/preview.jpg", &r, &err, 0);
    expect_body(&r, "{\"to\":\"U4af4980629d7b2a3f4b1c0e9d8f7a6b5\","
                "\"messages\":[{\"type\":\"video\","
                "\"originalContentUrl\":\"https://example.com/original.mp4\","
                "\"previewImageUrl\":\"https://example.com/preview.jpg\"}]}");
}


static void
file_reply_refused_on_line_and_instagram(void **state)
{
    omni_render_t      r;
    omni_json_error_t  err;

    (void) state;

    render(OMNI_CHANNEL_LINE, &line_to, OMNI_ITEM_FILE, NULL,
           "https://example.com/m/c.pdf", "c.pdf", NULL, &r, &err, -1);
    assert_string_equal(err.code, "file_not_supported");
    assert_int_equal(err.status, 422);
    assert_non_null(strstr(err.message, "line"));

    render(OMNI_CHANNEL_INSTAGRAM, &ig_to, OMNI_ITEM_FILE, NULL,
           "https://example.com/m/c.pdf", "c.pdf", NULL, &r, &err, -1);
    assert_string_equal(err.code, "file_not_supported");
}


static void
line_video_needs_a_preview_and_https(void **state)
{
    omni_render_t      r;
    omni_json_error_t  err;

    (void) state;

    render(OMNI_CHANNEL_LINE, &line_to, OMNI_ITEM_VIDEO, NULL,
           "https://example.com/original.mp4", NULL, NULL, &r, &err, -1);
    assert_string_equal(err.code, "preview_required");

    render(OMNI_CHANNEL_LINE, &line_to, OMNI_ITEM_IMAGE, NULL,
           "http://example.com/original.jpg", NULL, NULL, &r, &err, -1);
    assert_string_equal(err.code, "invalid_media_url");

    render(OMNI_CHANNEL_LINE, &line_to, OMNI_ITEM_IMAGE, NULL,
           "https://example.com/original.jpg", NULL,
           "http://example.com/p.jpg", &r, &err, -1);
    assert_string_equal(err.code, "invalid_media_url");
}


static void
text_limits_per_channel_in_characters(void **state)
{
    char                text[4 * 5001 + 1];
    size_t              i, n;
    omni_render_t       r;
    omni_json_error_t   err;
    omni_render_item_t  it;

    static const struct {
        omni_channel_e           ch;
        const omni_render_to_t  *to;
        size_t                   max;
    } limits[] = {
        { OMNI_CHANNEL_WHATSAPP,  &wa_to,   4096 },
        { OMNI_CHANNEL_MESSENGER, &fb_to,   2000 },
        { OMNI_CHANNEL_INSTAGRAM, &ig_to,   1000 },
        { OMNI_CHANNEL_LINE,      &line_to, 5000 },
    };

    (void) state;

    /* "€" is 3 bytes and 1 character: limits count characters */
    for (i = 0; i < 4; i++) {
        assert_int_equal(omni_render_text_max(limits[i].ch), limits[i].max);

        for (n = 0; n < limits[i].max; n++) {
            memcpy(text + 3 * n, "\xe2\x82\xac", 3);
        }

        memset(&it, 0, sizeof(it));
        it.type = OMNI_ITEM_TEXT;
        it.text.data = text;
        it.text.len = 3 * n;

        assert_int_equal(omni_render_item(limits[i].ch, limits[i].to, &it,
                                          &r, &err), 0);
        json_decref(r.body);

        memcpy(text + 3 * n, "!", 1);
        it.text.len++;

        assert_int_equal(omni_render_item(limits[i].ch, limits[i].to, &it,
                                          &r, &err), -1);
        assert_string_equal(err.code, "text_too_long");
        assert_int_equal(err.status, 422);
    }
}


static void
bad_text_recipient_or_account_is_refused(void **state)
{
    omni_render_t       r;
    omni_json_error_t   err;
    omni_render_item_t  it;
    omni_render_to_t    to;

    (void) state;

    render(OMNI_CHANNEL_WHATSAPP, &wa_to, OMNI_ITEM_TEXT, "", NULL, NULL,
           NULL, &r, &err, -1);
    assert_string_equal(err.code, "empty_text");

    memset(&it, 0, sizeof(it));
    it.type = OMNI_ITEM_TEXT;
    it.text.data = "a\0b";
    it.text.len = 3;
    assert_int_equal(omni_render_item(OMNI_CHANNEL_LINE, &line_to, &it, &r,
                                      &err), -1);
    assert_string_equal(err.code, "invalid_text");

    it.text.data = "caf\xe9";
    it.text.len = 4;
    assert_int_equal(omni_render_item(OMNI_CHANNEL_LINE, &line_to, &it, &r,
                                      &err), -1);
    assert_string_equal(err.code, "invalid_text");

    /* an account id is a path segment: digits only */
    to = wa_to;
    to.account.data = "../me";
    to.account.len = 5;
    render(OMNI_CHANNEL_WHATSAPP, &to, OMNI_ITEM_TEXT, "hi", NULL, NULL,
           NULL, &r, &err, -1);
    assert_string_equal(err.code, "invalid_account");

    to = fb_to;
    to.to.data = "12 34";
    to.to.len = 5;
    render(OMNI_CHANNEL_MESSENGER, &to, OMNI_ITEM_TEXT, "hi", NULL, NULL,
           NULL, &r, &err, -1);
    assert_string_equal(err.code, "invalid_recipient");

    render(OMNI_CHANNEL_NONE, &fb_to, OMNI_ITEM_TEXT, "hi", NULL, NULL,
           NULL, &r, &err, -1);
    assert_string_equal(err.code, "unsupported_channel");

    render(OMNI_CHANNEL_MESSENGER, &fb_to, OMNI_ITEM_NONE, "hi", NULL, NULL,
           NULL, &r, &err, -1);
    assert_string_equal(err.code, "unsupported_item");

    render(OMNI_CHANNEL_MESSENGER, &fb_to, OMNI_ITEM_IMAGE, NULL,
           "ftp://example.com/a.jpg", NULL, NULL, &r, &err, -1);
    assert_string_equal(err.code, "invalid_media_url");

    render(OMNI_CHANNEL_MESSENGER, &fb_to, OMNI_ITEM_IMAGE, NULL,
           "https://example.com/a b.jpg", NULL, NULL, &r, &err, -1);
    assert_string_equal(err.code, "invalid_media_url");
}


static void
items_of_an_api_body_become_a_list_of_requests(void **state)
{
    json_t             *items, *list, *want;
    json_error_t        jerr;
    omni_json_error_t   err;

    (void) state;

    items = json_loads("[{\"type\":\"text\",\"text\":\"Hi\"},"
                       "{\"type\":\"image\",\"media_id\":7,"
                       "\"url\":\"https://example.com/a.jpg\"}]", 0, &jerr);
    list = omni_render_items(OMNI_CHANNEL_LINE, &line_to, items, &err);
    assert_non_null(list);

    want = json_loads("[{\"method\":\"POST\",\"path\":\"/v2/bot/message/push\","
                      "\"auth\":\"channel_access_token\",\"body\":"
                      "{\"to\":\"U4af4980629d7b2a3f4b1c0e9d8f7a6b5\","
                      "\"messages\":[{\"type\":\"text\",\"text\":\"Hi\"}]}},"
                      "{\"method\":\"POST\",\"path\":\"/v2/bot/message/push\","
                      "\"auth\":\"channel_access_token\",\"body\":"
                      "{\"to\":\"U4af4980629d7b2a3f4b1c0e9d8f7a6b5\","
                      "\"messages\":[{\"type\":\"image\","
                      "\"originalContentUrl\":\"https://example.com/a.jpg\","
                      "\"previewImageUrl\":\"https://example.com/a.jpg\"}]}}]",
                      0, &jerr);
    assert_non_null(want);
    assert_true(json_equal(list, want));
    json_decref(want);
    json_decref(list);
    json_decref(items);

    /* one refused item refuses them all, and says which */
    items = json_loads("[{\"type\":\"text\",\"text\":\"Hi\"},"
                       "{\"type\":\"file\",\"url\":\"https://e.com/c\"}]", 0,
                       &jerr);
    assert_null(omni_render_items(OMNI_CHANNEL_LINE, &line_to, items, &err));
    assert_string_equal(err.code, "file_not_supported");
    assert_non_null(strstr(err.message, "Item 2"));
    json_decref(items);

    items = json_loads("[{\"type\":\"text\",\"text\":5}]", 0, &jerr);
    assert_null(omni_render_items(OMNI_CHANNEL_LINE, &line_to, items, &err));
    assert_string_equal(err.code, "invalid_item");
    json_decref(items);

    items = json_loads("[]", 0, &jerr);
    assert_null(omni_render_items(OMNI_CHANNEL_LINE, &line_to, items, &err));
    assert_string_equal(err.code, "invalid_items");
    json_decref(items);

    items = json_loads("[1,2,3,4,5,6,7,8,9,10,11]", 0, &jerr);
    assert_null(omni_render_items(OMNI_CHANNEL_LINE, &line_to, items, &err));
    assert_string_equal(err.code, "too_many_items");
    json_decref(items);

    items = json_loads("[{\"type\":\"sticker\"}]", 0, &jerr);
    assert_null(omni_render_items(OMNI_CHANNEL_LINE, &line_to, items, &err));
    assert_string_equal(err.code, "unsupported_item");
    json_decref(items);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(whatsapp_text_is_the_cloud_api_example),
        cmocka_unit_test(whatsapp_media_are_links_and_files_are_documents),
        cmocka_unit_test(messenger_is_the_send_api_example),
        cmocka_unit_test(instagram_goes_to_the_ig_users_endpoint),
        cmocka_unit_test(line_push_is_the_messaging_api_example),
        cmocka_unit_test(file_reply_refused_on_line_and_instagram),
        cmocka_unit_test(line_video_needs_a_preview_and_https),
        cmocka_unit_test(text_limits_per_channel_in_characters),
        cmocka_unit_test(bad_text_recipient_or_account_is_refused),
        cmocka_unit_test(items_of_an_api_body_become_a_list_of_requests),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
