
/*
 * Bot modules rendered into each channel's interactive messages.  The
 * expected bodies follow the request examples of each channel's
 * documentation (WhatsApp Cloud API "Interactive reply buttons", "list"
 * and "CTA URL button" messages; Messenger "Button template", "Generic
 * template", "Quick replies"; Instagram "Generic template", "Quick
 * replies"; LINE "Buttons template", "Flex Message" carousel, "Quick
 * reply"), with their placeholders filled in.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "omni_bot_render.h"


#define T(s)  { s, sizeof(s) - 1 }

static const omni_render_to_t  wa_to = { T("16505551234"),
                                         T("106540352242922") };
static const omni_render_to_t  fb_to = { T("1254477777772919"), T("") };
static const omni_render_to_t  ig_to = { T("527419123456789"),
                                         T("17841400000000000") };
static const omni_render_to_t  line_to = {
    T("U4af4980629d7b2a3f4b1c0e9d8f7a6b5"), T("") };


#define WA_HEAD                                                              \
    "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\"," \
    "\"to\":\"16505551234\","
#define FB_HEAD                                                              \
    "{\"recipient\":{\"id\":\"1254477777772919\"},"                          \
    "\"messaging_type\":\"RESPONSE\","
#define IG_HEAD  "{\"recipient\":{\"id\":\"527419123456789\"},"
#define LINE_HEAD  "{\"to\":\"U4af4980629d7b2a3f4b1c0e9d8f7a6b5\","


/*
 * The module rendered; want is the JSON array of the bodies expected,
 * path and auth are those of every request.
 */
static void
expect(omni_channel_e ch, const omni_render_to_t *to, omni_bot_type_e type,
    const char *content, const char *path, const char *auth,
    const char *want)
{
    size_t              i;
    char               *got;
    json_t             *c, *list, *bodies, *w, *r;
    omni_json_error_t   err;

    c = json_loads(content, 0, NULL);
    w = json_loads(want, 0, NULL);
    assert_non_null(c);
    assert_non_null(w);

    list = omni_bot_render(ch, to, type, c, &err);

    if (list == NULL) {
        print_error("refused: %s %s\n", err.code, err.message);
        fail();
    }

    bodies = json_array();

    json_array_foreach(list, i, r) {
        assert_string_equal(json_string_value(json_object_get(r, "method")),
                            "POST");
        assert_string_equal(json_string_value(json_object_get(r, "path")),
                            path);
        assert_string_equal(json_string_value(json_object_get(r, "auth")),
                            auth);
        json_array_append(bodies, json_object_get(r, "body"));
    }

    if (!json_equal(bodies, w)) {
        got = json_dumps(bodies, JSON_SORT_KEYS);
        print_error("got %s\n", got);
        free(got);
        fail();
    }

    json_decref(bodies);
    json_decref(list);
    json_decref(w);
    json_decref(c);
}


#define WA  OMNI_CHANNEL_WHATSAPP, &wa_to
#define WA_REQ  "/106540352242922/messages", "access_token"
#define FB  OMNI_CHANNEL_MESSENGER, &fb_to
#define FB_REQ  "/me/messages", "page_access_token"
#define IG  OMNI_CHANNEL_INSTAGRAM, &ig_to
#define IG_REQ  "/17841400000000000/messages", "access_token"
#define LN  OMNI_CHANNEL_LINE, &line_to
#define LN_REQ  "/v2/bot/message/push", "channel_access_token"


static const char  *buttons =
    "{\"text\":\"What do you want to do next?\",\"buttons\":["
    "{\"type\":\"postback\",\"title\":\"Track order\",\"payload\":\"TRACK\"},"
    "{\"type\":\"postback\",\"title\":\"Talk to us\",\"payload\":\"AGENT\"}"
    "]}";


static void
text_buttons_as_each_channel_shows_buttons(void **state)
{
    (void) state;

    expect(WA, OMNI_BOT_TEXT_BUTTONS, buttons, WA_REQ,
        "[" WA_HEAD "\"type\":\"interactive\",\"interactive\":{"
        "\"type\":\"button\",\"body\":{\"text\":\"What do you want to do "
        "next?\"},\"action\":{\"buttons\":["
        "{\"type\":\"reply\",\"reply\":{\"id\":\"TRACK\","
        "\"title\":\"Track order\"}},"
        "{\"type\":\"reply\",\"reply\":{\"id\":\"AGENT\","
        "\"title\":\"Talk to us\"}}]}}}]");

    expect(FB, OMNI_BOT_TEXT_BUTTONS, buttons, FB_REQ,
        "[" FB_HEAD "\"message\":{\"attachment\":{\"type\":\"template\","
        "\"payload\":{\"template_type\":\"button\",\"text\":\"What do you "
        "want to do next?\",\"buttons\":["
        "{\"type\":\"postback\",\"title\":\"Track order\","
        "\"payload\":\"TRACK\"},"
        "{\"type\":\"postback\",\"title\":\"Talk to us\","
        "\"payload\":\"AGENT\"}]}}}}]");

    expect(IG, OMNI_BOT_TEXT_BUTTONS, buttons, IG_REQ,
        "[" IG_HEAD "\"message\":{\"attachment\":{\"type\":\"template\","
        "\"payload\":{\"template_type\":\"generic\",\"elements\":[{"
        "\"title\":\"What do you want to do next?\",\"buttons\":["
        "{\"type\":\"postback\",\"title\":\"Track order\","
        "\"payload\":\"TRACK\"},"
        "{\"type\":\"postback\",\"title\":\"Talk to us\","
        "\"payload\":\"AGENT\"}]}]}}}}]");

    expect(LN, OMNI_BOT_TEXT_BUTTONS, buttons, LN_REQ,
        "[" LINE_HEAD "\"messages\":[{\"type\":\"template\","
        "\"altText\":\"What do you want to do next?\",\"template\":{"
        "\"type\":\"buttons\",\"text\":\"What do you want to do next?\","
        "\"actions\":["
        "{\"type\":\"postback\",\"label\":\"Track order\",\"data\":\"TRACK\","
        "\"displayText\":\"Track order\"},"
        "{\"type\":\"postback\",\"label\":\"Talk to us\",\"data\":\"AGENT\","
        "\"displayText\":\"Talk to us\"}]}}]}]");
}


static void
a_url_button_is_whatsapp_cta_url_and_a_web_url_elsewhere(void **state)
{
    static const char  *cart =
        "{\"text\":\"You left 2 items in your cart\","
        "\"button_title\":\"Checkout\",\"url\":\"https://shop.example/cart\"}";

    (void) state;

    expect(WA, OMNI_BOT_CART_REMARKETING, cart, WA_REQ,
        "[" WA_HEAD "\"type\":\"interactive\",\"interactive\":{"
        "\"type\":\"cta_url\",\"body\":{\"text\":\"You left 2 items in your "
        "cart\"},\"action\":{\"name\":\"cta_url\",\"parameters\":{"
        "\"display_text\":\"Checkout\","
        "\"url\":\"https://shop.example/cart\"}}}}]");

    expect(FB, OMNI_BOT_CART_REMARKETING, cart, FB_REQ,
        "[" FB_HEAD "\"message\":{\"attachment\":{\"type\":\"template\","
        "\"payload\":{\"template_type\":\"button\",\"text\":\"You left 2 "
        "items in your cart\",\"buttons\":[{\"type\":\"web_url\","
        "\"url\":\"https://shop.example/cart\",\"title\":\"Checkout\"}]}}}}]");

    expect(LN, OMNI_BOT_CART_REMARKETING, cart, LN_REQ,
        "[" LINE_HEAD "\"messages\":[{\"type\":\"template\","
        "\"altText\":\"You left 2 items in your cart\",\"template\":{"
        "\"type\":\"buttons\",\"text\":\"You left 2 items in your cart\","
        "\"actions\":[{\"type\":\"uri\",\"label\":\"Checkout\","
        "\"uri\":\"https://shop.example/cart\"}]}}]}]");
}


static void
quick_replies_and_whatsapp_lists(void **state)
{
    static const char  *three =
        "{\"text\":\"Pick a color:\",\"replies\":["
        "{\"title\":\"Red\",\"payload\":\"RED\"},"
        "{\"title\":\"Green\",\"payload\":\"GREEN\"}]}";
    static const char  *four =
        "{\"text\":\"Which size?\",\"list_title\":\"Sizes\",\"replies\":["
        "{\"title\":\"S\",\"payload\":\"S\"},"
        "{\"title\":\"M\",\"payload\":\"M\"},"
        "{\"title\":\"L\",\"payload\":\"L\"},"
        "{\"title\":\"XL\",\"payload\":\"XL\"}]}";

    (void) state;

    expect(FB, OMNI_BOT_QUICK_REPLIES, three, FB_REQ,
        "[" FB_HEAD "\"message\":{\"text\":\"Pick a color:\","
        "\"quick_replies\":["
        "{\"content_type\":\"text\",\"title\":\"Red\",\"payload\":\"RED\"},"
        "{\"content_type\":\"text\",\"title\":\"Green\","
        "\"payload\":\"GREEN\"}]}}]");

    expect(IG, OMNI_BOT_QUICK_REPLIES, three, IG_REQ,
        "[" IG_HEAD "\"message\":{\"text\":\"Pick a color:\","
        "\"quick_replies\":["
        "{\"content_type\":\"text\",\"title\":\"Red\",\"payload\":\"RED\"},"
        "{\"content_type\":\"text\",\"title\":\"Green\","
        "\"payload\":\"GREEN\"}]}}]");

    expect(LN, OMNI_BOT_QUICK_REPLIES, three, LN_REQ,
        "[" LINE_HEAD "\"messages\":[{\"type\":\"text\","
        "\"text\":\"Pick a color:\",\"quickReply\":{\"items\":["
        "{\"type\":\"action\",\"action\":{\"type\":\"postback\","
        "\"label\":\"Red\",\"data\":\"RED\",\"displayText\":\"Red\"}},"
        "{\"type\":\"action\",\"action\":{\"type\":\"postback\","
        "\"label\":\"Green\",\"data\":\"GREEN\","
        "\"displayText\":\"Green\"}}]}}]}]");

    /* up to 3: reply buttons */
    expect(WA, OMNI_BOT_QUICK_REPLIES, three, WA_REQ,
        "[" WA_HEAD "\"type\":\"interactive\",\"interactive\":{"
        "\"type\":\"button\",\"body\":{\"text\":\"Pick a color:\"},"
        "\"action\":{\"buttons\":["
        "{\"type\":\"reply\",\"reply\":{\"id\":\"RED\",\"title\":\"Red\"}},"
        "{\"type\":\"reply\",\"reply\":{\"id\":\"GREEN\","
        "\"title\":\"Green\"}}]}}}]");

    /* more: a list's rows */
    expect(WA, OMNI_BOT_QUICK_REPLIES, four, WA_REQ,
        "[" WA_HEAD "\"type\":\"interactive\",\"interactive\":{"
        "\"type\":\"list\",\"body\":{\"text\":\"Which size?\"},"
        "\"action\":{\"button\":\"Sizes\",\"sections\":[{\"rows\":["
        "{\"id\":\"S\",\"title\":\"S\"},{\"id\":\"M\",\"title\":\"M\"},"
        "{\"id\":\"L\",\"title\":\"L\"},{\"id\":\"XL\",\"title\":\"XL\"}"
        "]}]}}}]");
}


static const char  *carousel =
    "{\"cards\":["
    "{\"title\":\"Classic T-Shirt\",\"subtitle\":\"HK$199\","
    "\"image_url\":\"https://shop.example/t.png\",\"buttons\":["
    "{\"type\":\"url\",\"title\":\"View\",\"url\":\"https://shop.example/t\"}"
    "]},"
    "{\"title\":\"Cap\",\"image_url\":\"https://shop.example/c.png\"}]}";


static void
image_carousel_as_generic_template_and_flex(void **state)
{
    (void) state;

    expect(FB, OMNI_BOT_IMAGE_CAROUSEL, carousel, FB_REQ,
        "[" FB_HEAD "\"message\":{\"attachment\":{\"type\":\"template\","
        "\"payload\":{\"template_type\":\"generic\",\"elements\":["
        "{\"title\":\"Classic T-Shirt\",\"subtitle\":\"HK$199\","
        "\"image_url\":\"https://shop.example/t.png\",\"buttons\":["
        "{\"type\":\"web_url\",\"url\":\"https://shop.example/t\","
        "\"title\":\"View\"}]},"
        "{\"title\":\"Cap\",\"image_url\":\"https://shop.example/c.png\"}"
        "]}}}}]");

    expect(IG, OMNI_BOT_IMAGE_CAROUSEL, carousel, IG_REQ,
        "[" IG_HEAD "\"message\":{\"attachment\":{\"type\":\"template\","
        "\"payload\":{\"template_type\":\"generic\",\"elements\":["
        "{\"title\":\"Classic T-Shirt\",\"subtitle\":\"HK$199\","
        "\"image_url\":\"https://shop.example/t.png\",\"buttons\":["
        "{\"type\":\"web_url\",\"url\":\"https://shop.example/t\","
        "\"title\":\"View\"}]},"
        "{\"title\":\"Cap\",\"image_url\":\"https://shop.example/c.png\"}"
        "]}}}}]");

    expect(LN, OMNI_BOT_IMAGE_CAROUSEL, carousel, LN_REQ,
        "[" LINE_HEAD "\"messages\":[{\"type\":\"flex\","
        "\"altText\":\"Classic T-Shirt\",\"contents\":{\"type\":\"carousel\","
        "\"contents\":["
        "{\"type\":\"bubble\",\"hero\":{\"type\":\"image\","
        "\"url\":\"https://shop.example/t.png\",\"size\":\"full\","
        "\"aspectRatio\":\"20:13\",\"aspectMode\":\"cover\"},"
        "\"body\":{\"type\":\"box\",\"layout\":\"vertical\",\"contents\":["
        "{\"type\":\"text\",\"text\":\"Classic T-Shirt\",\"weight\":\"bold\","
        "\"wrap\":true},{\"type\":\"text\",\"text\":\"HK$199\","
        "\"size\":\"sm\",\"wrap\":true}]},"
        "\"footer\":{\"type\":\"box\",\"layout\":\"vertical\",\"contents\":["
        "{\"type\":\"button\",\"style\":\"link\",\"action\":{\"type\":\"uri\","
        "\"label\":\"View\",\"uri\":\"https://shop.example/t\"}}]}},"
        "{\"type\":\"bubble\",\"hero\":{\"type\":\"image\","
        "\"url\":\"https://shop.example/c.png\",\"size\":\"full\","
        "\"aspectRatio\":\"20:13\",\"aspectMode\":\"cover\"},"
        "\"body\":{\"type\":\"box\",\"layout\":\"vertical\",\"contents\":["
        "{\"type\":\"text\",\"text\":\"Cap\",\"weight\":\"bold\","
        "\"wrap\":true}]}}]}}]}]");
}


static void
whatsapp_carousel_is_a_message_per_card(void **state)
{
    (void) state;

    expect(WA, OMNI_BOT_IMAGE_CAROUSEL, carousel, WA_REQ,
        "[" WA_HEAD "\"type\":\"interactive\",\"interactive\":{"
        "\"type\":\"cta_url\",\"header\":{\"type\":\"image\",\"image\":{"
        "\"link\":\"https://shop.example/t.png\"}},"
        "\"body\":{\"text\":\"Classic T-Shirt\\nHK$199\"},"
        "\"action\":{\"name\":\"cta_url\",\"parameters\":{"
        "\"display_text\":\"View\",\"url\":\"https://shop.example/t\"}}}},"
        WA_HEAD "\"type\":\"image\",\"image\":{"
        "\"link\":\"https://shop.example/c.png\",\"caption\":\"Cap\"}}]");
}


static void
coupon_and_keyword_cards(void **state)
{
    static const char  *coupon =
        "{\"title\":\"10% off\",\"description\":\"This week only\","
        "\"code\":\"SAVE10\",\"button_title\":\"Shop now\","
        "\"url\":\"https://shop.example/sale\"}";
    static const char  *assign =
        "{\"text\":\"Who would you like to talk to?\",\"options\":["
        "{\"title\":\"Sales\",\"member_id\":4},"
        "{\"title\":\"Support\",\"member_id\":5}]}";

    (void) state;

    /* SPEC §6: a WhatsApp coupon shows its link as a button */
    expect(WA, OMNI_BOT_COUPON_CARD, coupon, WA_REQ,
        "[" WA_HEAD "\"type\":\"interactive\",\"interactive\":{"
        "\"type\":\"cta_url\",\"header\":{\"type\":\"text\","
        "\"text\":\"10% off\"},\"body\":{\"text\":\"This week only\"},"
        "\"footer\":{\"text\":\"SAVE10\"},"
        "\"action\":{\"name\":\"cta_url\",\"parameters\":{"
        "\"display_text\":\"Shop now\","
        "\"url\":\"https://shop.example/sale\"}}}}]");

    expect(FB, OMNI_BOT_COUPON_CARD, coupon, FB_REQ,
        "[" FB_HEAD "\"message\":{\"attachment\":{\"type\":\"template\","
        "\"payload\":{\"template_type\":\"generic\",\"elements\":["
        "{\"title\":\"10% off\",\"subtitle\":\"This week only\\nSAVE10\","
        "\"buttons\":[{\"type\":\"web_url\","
        "\"url\":\"https://shop.example/sale\",\"title\":\"Shop now\"}]}"
        "]}}}}]");

    expect(LN, OMNI_BOT_COUPON_CARD, coupon, LN_REQ,
        "[" LINE_HEAD "\"messages\":[{\"type\":\"template\","
        "\"altText\":\"10% off\",\"template\":{\"type\":\"buttons\","
        "\"title\":\"10% off\",\"text\":\"This week only\\nSAVE10\","
        "\"actions\":[{\"type\":\"uri\",\"label\":\"Shop now\","
        "\"uri\":\"https://shop.example/sale\"}]}}]}]");

    expect(WA, OMNI_BOT_WA_KEYWORD_AUTO_ASSIGN, assign, WA_REQ,
        "[" WA_HEAD "\"type\":\"interactive\",\"interactive\":{"
        "\"type\":\"button\",\"body\":{\"text\":\"Who would you like to "
        "talk to?\"},\"action\":{\"buttons\":["
        "{\"type\":\"reply\",\"reply\":{\"id\":\"assign:4\","
        "\"title\":\"Sales\"}},"
        "{\"type\":\"reply\",\"reply\":{\"id\":\"assign:5\","
        "\"title\":\"Support\"}}]}}}]");
}


static void
refused_renders_say_why(void **state)
{
    json_t             *c;
    omni_json_error_t   err;
    omni_render_to_t    bad = { T("1650 555"), T("106540352242922") };

    (void) state;

    c = json_loads("{\"cards\":[{\"title\":\"a\",\"image_media_id\":9}]}",
                   0, NULL);
    assert_null(omni_bot_render(OMNI_CHANNEL_LINE, &line_to,
                                OMNI_BOT_IMAGE_CAROUSEL, c, &err));
    assert_string_equal(err.code, "media_unresolved");
    json_decref(c);

    c = json_loads(buttons, 0, NULL);
    assert_null(omni_bot_render(OMNI_CHANNEL_WHATSAPP, &bad,
                                OMNI_BOT_TEXT_BUTTONS, c, &err));
    assert_string_equal(err.code, "invalid_recipient");
    assert_null(omni_bot_render(OMNI_CHANNEL_NONE, &wa_to,
                                OMNI_BOT_TEXT_BUTTONS, c, &err));
    assert_string_equal(err.code, "unsupported_channel");
    json_decref(c);

    c = json_loads("{\"text\":\"a\",\"options\":[{\"title\":\"a\","
                   "\"member_id\":4}]}", 0, NULL);
    assert_null(omni_bot_render(OMNI_CHANNEL_LINE, &line_to,
                                OMNI_BOT_WA_KEYWORD_AUTO_ASSIGN, c, &err));
    assert_string_equal(err.code, "channel_not_supported");
    json_decref(c);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(text_buttons_as_each_channel_shows_buttons),
        cmocka_unit_test(
            a_url_button_is_whatsapp_cta_url_and_a_web_url_elsewhere),
        cmocka_unit_test(quick_replies_and_whatsapp_lists),
        cmocka_unit_test(image_carousel_as_generic_template_and_flex),
        cmocka_unit_test(whatsapp_carousel_is_a_message_per_card),
        cmocka_unit_test(coupon_and_keyword_cards),
        cmocka_unit_test(refused_renders_say_why),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
