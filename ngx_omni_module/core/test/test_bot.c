
/*
 * Bot module content: each type's shape, each channel's limits (a 422
 * that names the channel and the limit), which types can be saved
 * replies, and who manages modules.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "omni_bot.h"


/* type, channels and content as JSON; rc 0, or the error expected */
static void
check(const char *type, const char *channels, const char *content,
    int status, const char *code, const char *says)
{
    int                 rc;
    json_t             *ch, *c;
    omni_json_error_t   err;

    ch = json_loads(channels, 0, NULL);
    c = json_loads(content, 0, NULL);
    assert_non_null(ch);
    assert_non_null(c);

    memset(&err, 0, sizeof(err));
    rc = omni_bot_check(type, strlen(type), ch, c, &err);

    if (status == 0) {
        if (rc != 0) {
            print_error("refused: %s %s\n", err.code, err.message);
        }

        assert_int_equal(rc, 0);

    } else {
        assert_int_equal(rc, -1);
        assert_int_equal(err.status, status);
        assert_string_equal(err.code, code);

        if (says != NULL && strstr(err.message, says) == NULL) {
            print_error("message: %s\n", err.message);
            fail();
        }
    }

    json_decref(ch);
    json_decref(c);
}


#define ALL  "[\"whatsapp\",\"messenger\",\"instagram\",\"line\"]"
#define PB(t, p)                                                             \
    "{\"type\":\"postback\",\"title\":\"" t "\",\"payload\":\"" p "\"}"
#define URLB(t)                                                              \
    "{\"type\":\"url\",\"title\":\"" t "\",\"url\":\"https://shop.example/c\"}"
#define CARD(t)                                                              \
    "{\"title\":\"" t "\",\"image_url\":\"https://shop.example/i.png\"}"
#define REPLY(t)  "{\"title\":\"" t "\",\"payload\":\"" t "\"}"


static void
each_type_takes_its_documented_content(void **state)
{
    (void) state;

    check("text_buttons", ALL,
          "{\"text\":\"Hi\",\"buttons\":[" PB("Yes", "Y") "," PB("No", "N")
          "]}", 0, NULL, NULL);
    check("text_buttons", "[\"messenger\",\"line\"]",
          "{\"text\":\"Hi\",\"buttons\":[" PB("A", "A") "," URLB("Shop")
          "]}", 0, NULL, NULL);
    check("image_carousel", ALL,
          "{\"cards\":[{\"title\":\"Bag\",\"subtitle\":\"HK$99\","
          "\"image_media_id\":7,\"buttons\":[" URLB("Buy") "]},"
          CARD("Hat") "]}", 0, NULL, NULL);
    check("quick_replies", ALL,
          "{\"text\":\"Size?\",\"replies\":[" REPLY("S") "," REPLY("M") "]}",
          0, NULL, NULL);
    check("cart_remarketing", "[\"whatsapp\",\"messenger\",\"line\"]",
          "{\"text\":\"You left 2 items\",\"button_title\":\"Checkout\","
          "\"url\":\"https://shop.example/cart\"}", 0, NULL, NULL);
    check("coupon_card", ALL,
          "{\"title\":\"10% off\",\"description\":\"This week only\","
          "\"code\":\"SAVE10\",\"button_title\":\"Use it\","
          "\"url\":\"https://shop.example/c\",\"image_media_id\":3}",
          0, NULL, NULL);
    check("wa_keyword_auto_assign", "[\"whatsapp\"]",
          "{\"text\":\"Who would you like?\",\"options\":["
          "{\"title\":\"Sales\",\"member_id\":4},"
          "{\"title\":\"Support\",\"member_id\":5}]}", 0, NULL, NULL);
}


static void
shape_errors_name_the_field(void **state)
{
    (void) state;

    check("chatbot", ALL, "{}", 422, "invalid_type", NULL);
    check("text_buttons", "[]", "{\"text\":\"a\",\"buttons\":[" PB("a", "a")
          "]}", 422, "invalid_channels", NULL);
    check("text_buttons", "[\"wechat\"]", "{\"text\":\"a\",\"buttons\":["
          PB("a", "a") "]}", 422, "invalid_channels", "channels[0]");
    check("text_buttons", "[\"line\",\"line\"]", "{\"text\":\"a\","
          "\"buttons\":[" PB("a", "a") "]}", 422, "invalid_channels",
          "twice");
    check("text_buttons", ALL, "{\"buttons\":[" PB("a", "a") "]}",
          422, "invalid_content", "content.text is required");
    check("text_buttons", ALL, "{\"text\":\"a\",\"buttons\":[]}",
          422, "invalid_content", "content.buttons");
    check("text_buttons", ALL, "{\"text\":\"a\",\"buttons\":["
          "{\"type\":\"call\",\"title\":\"a\"}]}",
          422, "invalid_content", "content.buttons[0].type");
    check("text_buttons", ALL, "{\"text\":\"a\",\"buttons\":["
          "{\"type\":\"url\",\"title\":\"a\",\"url\":\"http://x.example\"}"
          "]}", 422, "invalid_content", "https");
    check("text_buttons", ALL, "{\"text\":\"a\",\"color\":1,\"buttons\":["
          PB("a", "a") "]}", 422, "invalid_content", "unknown field");
    check("image_carousel", ALL, "{\"cards\":[{\"title\":\"a\"}]}",
          422, "invalid_content", "content.cards[0] needs image_url");
    check("image_carousel", ALL, "{\"cards\":[{\"title\":\"a\","
          "\"image_url\":\"https://a.example/i\",\"image_media_id\":2}]}",
          422, "invalid_content", "not both");
    check("image_carousel", ALL, "{\"cards\":[{\"title\":\"a\","
          "\"image_media_id\":-2}]}", 422, "invalid_content",
          "image_media_id");
    check("quick_replies", ALL, "{\"text\":\"a\",\"replies\":[{\"title\":"
          "\"a\"}]}", 422, "invalid_content", "content.replies[0].payload");
    check("coupon_card", ALL, "{\"title\":\"a\",\"description\":\"b\","
          "\"button_title\":\"c\",\"url\":\"https://a.example\"}",
          422, "invalid_content", "content.code");
    check("wa_keyword_auto_assign", "[\"whatsapp\"]", "{\"text\":\"a\","
          "\"options\":[{\"title\":\"a\",\"member_id\":\"4\"}]}",
          422, "invalid_content", "member_id");
    check("text_buttons", ALL, "{\"text\":\"\",\"buttons\":[" PB("a", "a")
          "]}", 422, "invalid_content", "non-empty");
    check("text_buttons", ALL, "[]", 422, "invalid_content", NULL);
}


static void
each_channel_limit_is_named(void **state)
{
    char    json[8192], *p;
    size_t  i;

    (void) state;

    /* 4 postback buttons: LINE takes 4 actions, the rest 3 */
    check("text_buttons", "[\"line\"]", "{\"text\":\"a\",\"buttons\":["
          PB("1", "1") "," PB("2", "2") "," PB("3", "3") "," PB("4", "4")
          "]}", 0, NULL, NULL);
    check("text_buttons", "[\"line\",\"whatsapp\"]", "{\"text\":\"a\","
          "\"buttons\":[" PB("1", "1") "," PB("2", "2") "," PB("3", "3") ","
          PB("4", "4") "]}", 422, "channel_limit",
          "whatsapp allows at most 3 reply buttons");
    check("text_buttons", "[\"messenger\"]", "{\"text\":\"a\",\"buttons\":["
          PB("1", "1") "," PB("2", "2") "," PB("3", "3") "," PB("4", "4")
          "]}", 422, "channel_limit",
          "messenger allows at most 3 buttons per template");
    check("text_buttons", "[\"whatsapp\"]", "{\"text\":\"a\",\"buttons\":["
          PB("1", "1") "," URLB("Shop") "]}", 422, "channel_limit",
          "whatsapp allows reply buttons or one URL button");
    check("text_buttons", "[\"whatsapp\"]", "{\"text\":\"a\",\"buttons\":["
          PB("A title of 21 chars!!", "1") "]}", 422, "channel_limit",
          "whatsapp allows at most 20 characters of a button's title");

    /* quick replies: 13 everywhere but WhatsApp's 10 list rows */
    p = json + sprintf(json, "{\"text\":\"a\",\"replies\":[");
    for (i = 0; i < 13; i++) {
        p += sprintf(p, "%s{\"title\":\"r%zu\",\"payload\":\"p\"}",
                     i ? "," : "", i);
    }
    sprintf(p, "]}");
    check("quick_replies", "[\"messenger\",\"instagram\",\"line\"]", json,
          0, NULL, NULL);
    check("quick_replies", "[\"whatsapp\"]", json, 422, "channel_limit",
          "whatsapp allows at most 10 list rows (this module has 13)");

    /* 12 cards: LINE's 12 flex bubbles; 10 elsewhere */
    p = json + sprintf(json, "{\"cards\":[");
    for (i = 0; i < 12; i++) {
        p += sprintf(p, "%s" CARD("c"), i ? "," : "");
    }
    sprintf(p, "]}");
    check("image_carousel", "[\"line\"]", json, 0, NULL, NULL);
    check("image_carousel", "[\"whatsapp\"]", json, 422, "channel_limit",
          "whatsapp allows at most 10 carousel cards");
    check("image_carousel", "[\"messenger\"]", json, 422, "channel_limit",
          "messenger allows at most 10 generic-template elements");
    check("image_carousel", "[\"instagram\"]", json, 422, "channel_limit",
          "instagram allows at most 10 generic elements");

    /* texts: LINE's buttons template 160, Instagram's element title 80 */
    p = json + sprintf(json, "{\"text\":\"");
    for (i = 0; i < 161; i++) {
        p += sprintf(p, "\xe5\xa5\xbd");       /* one character each */
    }
    sprintf(p, "\",\"buttons\":[" PB("a", "a") "]}");
    check("text_buttons", "[\"whatsapp\",\"messenger\"]", json, 0, NULL,
          NULL);
    check("text_buttons", "[\"line\"]", json, 422, "channel_limit",
          "line allows at most 160 characters of a buttons template's text");
    check("text_buttons", "[\"instagram\"]", json, 422, "channel_limit",
          "instagram allows at most 80 characters");

    /* LINE's postback data holds 300 characters */
    p = json + sprintf(json, "{\"text\":\"a\",\"replies\":[{\"title\":\"a\","
                       "\"payload\":\"");
    for (i = 0; i < 301; i++) {
        *p++ = 'x';
    }
    sprintf(p, "\"}]}");
    check("quick_replies", "[\"messenger\"]", json, 0, NULL, NULL);
    check("quick_replies", "[\"line\"]", json, 422, "channel_limit",
          "line allows at most 300 characters of postback data");

    /* the keyword card is WhatsApp's only */
    check("wa_keyword_auto_assign", "[\"whatsapp\",\"line\"]",
          "{\"text\":\"a\",\"options\":[{\"title\":\"a\",\"member_id\":4}]}",
          422, "channel_not_supported", "whatsapp only, not on line");

    /* coupon: WhatsApp's footer holds the code, 60 characters */
    check("coupon_card", "[\"line\"]", "{\"title\":\"t\",\"description\":"
          "\"An offer with a description of sixty characters or more, "
          "yes\",\"code\":\"C\",\"button_title\":\"b\","
          "\"url\":\"https://a.example\"}", 422, "channel_limit",
          "line allows at most 60 characters of a titled template's text");
}


static void
three_types_can_never_be_saved_replies(void **state)
{
    (void) state;

    assert_true(omni_bot_saved_reply_ok(OMNI_BOT_TEXT_BUTTONS));
    assert_true(omni_bot_saved_reply_ok(OMNI_BOT_IMAGE_CAROUSEL));
    assert_true(omni_bot_saved_reply_ok(OMNI_BOT_QUICK_REPLIES));
    assert_false(omni_bot_saved_reply_ok(OMNI_BOT_CART_REMARKETING));
    assert_false(omni_bot_saved_reply_ok(OMNI_BOT_COUPON_CARD));
    assert_false(omni_bot_saved_reply_ok(OMNI_BOT_WA_KEYWORD_AUTO_ASSIGN));
    assert_false(omni_bot_saved_reply_ok(OMNI_BOT_NONE));

    assert_int_equal(omni_bot_type_parse("coupon_card", 11),
                     OMNI_BOT_COUPON_CARD);
    assert_int_equal(omni_bot_type_parse("coupon_car", 10), OMNI_BOT_NONE);
    assert_string_equal(omni_bot_type_name(OMNI_BOT_QUICK_REPLIES),
                        "quick_replies");
}


static void
who_manages_bot_modules(void **state)
{
    int  r;

    /* the roles of SPEC §2 that may create bot saved replies */
    static const int  write[OMNI_ROLE_N] = {
        0, 1, 1, 1, 0, 0, 0, 1, 1
    };
    static const int  del[OMNI_ROLE_N] = {
        0, 1, 1, 1, 0, 0, 0, 0, 1
    };

    (void) state;

    for (r = OMNI_ROLE_ADMIN; r < OMNI_ROLE_N; r++) {
        assert_true(omni_bot_may((omni_role_e) r, OMNI_BOT_READ));
        assert_int_equal(omni_bot_may((omni_role_e) r, OMNI_BOT_WRITE),
                         write[r]);
        assert_int_equal(omni_bot_may((omni_role_e) r, OMNI_BOT_DELETE),
                         del[r]);
    }

    assert_false(omni_bot_may(OMNI_ROLE_NONE, OMNI_BOT_READ));
}


static void
stored_media_must_be_resolved_to_render(void **state)
{
    json_t             *c;
    omni_bot_t          bot;
    omni_json_error_t   err;

    (void) state;

    c = json_loads("{\"cards\":[{\"title\":\"a\",\"image_media_id\":9}]}",
                   0, NULL);
    assert_int_equal(omni_bot_parse(OMNI_BOT_IMAGE_CAROUSEL, c, 0, &bot,
                                    &err), 0);
    assert_int_equal(bot.cards[0].image_media_id, 9);
    assert_int_equal(omni_bot_parse(OMNI_BOT_IMAGE_CAROUSEL, c, 1, &bot,
                                    &err), -1);
    assert_string_equal(err.code, "media_unresolved");
    json_decref(c);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(each_type_takes_its_documented_content),
        cmocka_unit_test(shape_errors_name_the_field),
        cmocka_unit_test(each_channel_limit_is_named),
        cmocka_unit_test(three_types_can_never_be_saved_replies),
        cmocka_unit_test(who_manages_bot_modules),
        cmocka_unit_test(stored_media_must_be_resolved_to_render),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
