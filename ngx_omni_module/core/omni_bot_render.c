
/*
 * Each channel's interactive message as its documentation shows it:
 * WhatsApp Cloud API "Interactive messages" (reply buttons, list, CTA
 * URL), Messenger "Button template", "Generic template" and "Quick
 * replies", Instagram "Generic template" and "Quick replies", LINE
 * "Template messages" (buttons), "Flex messages" (carousel) and "Quick
 * reply".  Path, auth and the body's envelope come from omni_render.
 */

#include <stdio.h>
#include <string.h>

#include "omni_bot_render.h"


#define OMNI_BOT_LINE_ALT_MAX  400       /* LINE's altText, characters */


static json_t *omni_bot_whatsapp(const omni_bot_t *bot, size_t i,
    const char **wa_type);
static json_t *omni_bot_messenger(omni_channel_e channel,
    const omni_bot_t *bot);
static json_t *omni_bot_line(const omni_bot_t *bot);
static json_t *omni_bot_wa_buttons(const omni_text_t *text,
    const omni_bot_button_t *b, size_t n);
static json_t *omni_bot_meta_buttons(const omni_bot_button_t *b, size_t n);
static json_t *omni_bot_meta_template(json_t *payload);
static json_t *omni_bot_line_action(const omni_bot_button_t *b);
static json_t *omni_bot_line_bubble(const omni_bot_card_t *card);
static json_t *omni_bot_payload(const omni_bot_button_t *b);
static json_t *omni_bot_str(const omni_text_t *t);
static json_t *omni_bot_join(const omni_text_t *a, const omni_text_t *b);
static json_t *omni_bot_alt(const omni_text_t *t);


json_t *
omni_bot_render(omni_channel_e channel, const omni_render_to_t *to,
    omni_bot_type_e type, json_t *content, omni_json_error_t *err)
{
    size_t          i, n;
    json_t         *list, *message, *body;
    const char     *wa_type;
    omni_bot_t      bot;
    omni_render_t   target;

    if (omni_render_target(channel, to, &target, err) != 0
        || omni_bot_parse(type, content, 1, &bot, err) != 0
        || omni_bot_limits(channel, &bot, err) != 0)
    {
        return NULL;
    }

    list = json_array();
    if (list == NULL) {
        goto failed;
    }

    /* a WhatsApp carousel is a message per card; anything else one */
    n = (channel == OMNI_CHANNEL_WHATSAPP && type == OMNI_BOT_IMAGE_CAROUSEL)
        ? bot.ncards : 1;

    for (i = 0; i < n; i++) {
        wa_type = "interactive";

        switch (channel) {

        case OMNI_CHANNEL_WHATSAPP:
            message = omni_bot_whatsapp(&bot, i, &wa_type);
            break;

        case OMNI_CHANNEL_MESSENGER:
        case OMNI_CHANNEL_INSTAGRAM:
            message = omni_bot_messenger(channel, &bot);
            break;

        default:
            message = omni_bot_line(&bot);
            break;
        }

        body = omni_render_envelope(channel, to, wa_type, message);

        if (body == NULL
            || json_array_append_new(list,
                   json_pack("{s:s, s:s, s:s, s:o}", "method", "POST",
                             "path", target.path, "auth", target.auth,
                             "body", body))
               != 0)
        {
            goto failed;
        }
    }

    return list;

failed:

    json_decref(list);

    err->status = 500;
    err->code = "render_failed";
    snprintf(err->message, sizeof(err->message),
             "The bot module cannot be rendered for %s",
             omni_channel_name(channel));

    return NULL;
}


/*
 * The object under "interactive" (or, for a carousel card without
 * buttons, under "image"); i is the carousel's card.
 */
static json_t *
omni_bot_whatsapp(const omni_bot_t *bot, size_t i, const char **wa_type)
{
    size_t                  k;
    json_t                 *o, *rows, *header, *text;
    omni_text_t             list_title;
    const omni_bot_card_t  *card;

    switch (bot->type) {

    case OMNI_BOT_QUICK_REPLIES:
        if (bot->nreplies <= 3) {
            return omni_bot_wa_buttons(&bot->text, bot->replies,
                                       bot->nreplies);
        }

        rows = json_array();

        for (k = 0; rows != NULL && k < bot->nreplies; k++) {
            json_array_append_new(rows,
                json_pack("{s:o, s:o}",
                          "id", omni_bot_str(&bot->replies[k].value),
                          "title", omni_bot_str(&bot->replies[k].title)));
        }

        list_title = bot->list_title;

        if (list_title.len == 0) {
            list_title.data = "Options";
            list_title.len = sizeof("Options") - 1;
        }

        return json_pack("{s:s, s:{s:o}, s:{s:o, s:[{s:o}]}}",
                         "type", "list",
                         "body", "text", omni_bot_str(&bot->text),
                         "action", "button", omni_bot_str(&list_title),
                         "sections", "rows", rows);

    case OMNI_BOT_IMAGE_CAROUSEL:
        card = &bot->cards[i];
        text = card->subtitle.len ? omni_bot_join(&card->title,
                                                  &card->subtitle)
                                  : omni_bot_str(&card->title);

        if (card->nbuttons == 0) {
            *wa_type = "image";

            return json_pack("{s:o, s:o}", "link",
                             omni_bot_str(&card->image_url),
                             "caption", text);
        }

        o = omni_bot_wa_buttons(NULL, card->buttons, card->nbuttons);

        if (o == NULL
            || json_object_set_new(o, "body",
                                   json_pack("{s:o}", "text", text)) != 0
            || json_object_set_new(o, "header",
                   json_pack("{s:s, s:{s:o}}", "type", "image", "image",
                             "link", omni_bot_str(&card->image_url)))
               != 0)
        {
            json_decref(o);
            return NULL;
        }

        return o;

    case OMNI_BOT_COUPON_CARD:
        o = omni_bot_wa_buttons(NULL, bot->buttons, bot->nbuttons);

        if (bot->image_url.len) {
            header = json_pack("{s:s, s:{s:o}}", "type", "image", "image",
                               "link", omni_bot_str(&bot->image_url));
            text = omni_bot_join(&bot->title, &bot->text);

        } else {
            header = json_pack("{s:s, s:o}", "type", "text", "text",
                               omni_bot_str(&bot->title));
            text = omni_bot_str(&bot->text);
        }

        if (o == NULL
            || json_object_set_new(o, "header", header) != 0
            || json_object_set_new(o, "body",
                                   json_pack("{s:o}", "text", text)) != 0
            || json_object_set_new(o, "footer",
                                   json_pack("{s:o}", "text",
                                             omni_bot_str(&bot->code)))
               != 0)
        {
            json_decref(o);
            return NULL;
        }

        return o;

    default:
        /* text_buttons, cart_remarketing, wa_keyword_auto_assign */
        return omni_bot_wa_buttons(&bot->text, bot->buttons, bot->nbuttons);
    }
}


/*
 * Reply buttons ("button"), or a CTA URL message for a URL button (the
 * limits let through one URL button alone); the body's text when given.
 */
static json_t *
omni_bot_wa_buttons(const omni_text_t *text, const omni_bot_button_t *b,
    size_t n)
{
    size_t   i;
    json_t  *o, *buttons;

    if (n > 0 && b[0].url) {
        o = json_pack("{s:s, s:{s:s, s:{s:o, s:o}}}",
                      "type", "cta_url",
                      "action", "name", "cta_url",
                      "parameters", "display_text", omni_bot_str(&b[0].title),
                      "url", omni_bot_str(&b[0].value));

    } else {
        buttons = json_array();

        for (i = 0; buttons != NULL && i < n; i++) {
            json_array_append_new(buttons,
                json_pack("{s:s, s:{s:o, s:o}}", "type", "reply",
                          "reply", "id", omni_bot_payload(&b[i]),
                          "title", omni_bot_str(&b[i].title)));
        }

        o = json_pack("{s:s, s:{s:o}}", "type", "button",
                      "action", "buttons", buttons);
    }

    if (o != NULL && text != NULL
        && json_object_set_new(o, "body",
                               json_pack("{s:o}", "text", omni_bot_str(text)))
           != 0)
    {
        json_decref(o);
        return NULL;
    }

    return o;
}


/* the Send API's "message", Messenger's or Instagram's */
static json_t *
omni_bot_messenger(omni_channel_e channel, const omni_bot_t *bot)
{
    size_t                  i;
    json_t                 *list, *e;
    const omni_bot_card_t  *card;

    switch (bot->type) {

    case OMNI_BOT_QUICK_REPLIES:
        list = json_array();

        for (i = 0; list != NULL && i < bot->nreplies; i++) {
            json_array_append_new(list,
                json_pack("{s:s, s:o, s:o}", "content_type", "text",
                          "title", omni_bot_str(&bot->replies[i].title),
                          "payload", omni_bot_str(&bot->replies[i].value)));
        }

        return json_pack("{s:o, s:o}", "text", omni_bot_str(&bot->text),
                         "quick_replies", list);

    case OMNI_BOT_IMAGE_CAROUSEL:
        list = json_array();

        for (i = 0; list != NULL && i < bot->ncards; i++) {
            card = &bot->cards[i];

            e = json_pack("{s:o, s:o}", "title", omni_bot_str(&card->title),
                          "image_url", omni_bot_str(&card->image_url));

            if (e != NULL && card->subtitle.len) {
                json_object_set_new(e, "subtitle",
                                    omni_bot_str(&card->subtitle));
            }

            if (e != NULL && card->nbuttons) {
                json_object_set_new(e, "buttons",
                                    omni_bot_meta_buttons(card->buttons,
                                                          card->nbuttons));
            }

            json_array_append_new(list, e);
        }

        return omni_bot_meta_template(
                   json_pack("{s:s, s:o}", "template_type", "generic",
                             "elements", list));

    case OMNI_BOT_COUPON_CARD:
        e = json_pack("{s:o, s:o, s:o}", "title", omni_bot_str(&bot->title),
                      "subtitle", omni_bot_join(&bot->text, &bot->code),
                      "buttons", omni_bot_meta_buttons(bot->buttons,
                                                       bot->nbuttons));

        if (e != NULL && bot->image_url.len) {
            json_object_set_new(e, "image_url",
                                omni_bot_str(&bot->image_url));
        }

        return omni_bot_meta_template(
                   json_pack("{s:s, s:[o]}", "template_type", "generic",
                             "elements", e));

    default:
        /* text_buttons, cart_remarketing */
        if (channel == OMNI_CHANNEL_INSTAGRAM) {
            return omni_bot_meta_template(
                       json_pack("{s:s, s:[{s:o, s:o}]}",
                                 "template_type", "generic",
                                 "elements", "title",
                                 omni_bot_str(&bot->text),
                                 "buttons",
                                 omni_bot_meta_buttons(bot->buttons,
                                                       bot->nbuttons)));
        }

        return omni_bot_meta_template(
                   json_pack("{s:s, s:o, s:o}", "template_type", "button",
                             "text", omni_bot_str(&bot->text),
                             "buttons", omni_bot_meta_buttons(bot->buttons,
                                                              bot->nbuttons)));
    }
}


static json_t *
omni_bot_meta_buttons(const omni_bot_button_t *b, size_t n)
{
    size_t   i;
    json_t  *list;

    list = json_array();

    for (i = 0; list != NULL && i < n; i++) {
        if (b[i].url) {
            json_array_append_new(list,
                json_pack("{s:s, s:o, s:o}", "type", "web_url",
                          "url", omni_bot_str(&b[i].value),
                          "title", omni_bot_str(&b[i].title)));

        } else {
            json_array_append_new(list,
                json_pack("{s:s, s:o, s:o}", "type", "postback",
                          "title", omni_bot_str(&b[i].title),
                          "payload", omni_bot_payload(&b[i])));
        }
    }

    return list;
}


static json_t *
omni_bot_meta_template(json_t *payload)
{
    return json_pack("{s:{s:s, s:o}}", "attachment", "type", "template",
                     "payload", payload);
}


/* one of the push's "messages" */
static json_t *
omni_bot_line(const omni_bot_t *bot)
{
    size_t   i;
    json_t  *list, *t;

    switch (bot->type) {

    case OMNI_BOT_QUICK_REPLIES:
        list = json_array();

        for (i = 0; list != NULL && i < bot->nreplies; i++) {
            json_array_append_new(list,
                json_pack("{s:s, s:o}", "type", "action", "action",
                          omni_bot_line_action(&bot->replies[i])));
        }

        return json_pack("{s:s, s:o, s:{s:o}}", "type", "text",
                         "text", omni_bot_str(&bot->text),
                         "quickReply", "items", list);

    case OMNI_BOT_IMAGE_CAROUSEL:
        list = json_array();

        for (i = 0; list != NULL && i < bot->ncards; i++) {
            json_array_append_new(list,
                                  omni_bot_line_bubble(&bot->cards[i]));
        }

        return json_pack("{s:s, s:o, s:{s:s, s:o}}", "type", "flex",
                         "altText", omni_bot_alt(bot->alt_text.len
                                                 ? &bot->alt_text
                                                 : &bot->cards[0].title),
                         "contents", "type", "carousel", "contents", list);

    default:
        list = json_array();

        for (i = 0; list != NULL && i < bot->nbuttons; i++) {
            json_array_append_new(list,
                                  omni_bot_line_action(&bot->buttons[i]));
        }

        if (bot->type == OMNI_BOT_COUPON_CARD) {
            t = json_pack("{s:s, s:o, s:o, s:o}", "type", "buttons",
                          "title", omni_bot_str(&bot->title),
                          "text", omni_bot_join(&bot->text, &bot->code),
                          "actions", list);

            if (t != NULL && bot->image_url.len) {
                json_object_set_new(t, "thumbnailImageUrl",
                                    omni_bot_str(&bot->image_url));
            }

            return json_pack("{s:s, s:o, s:o}", "type", "template",
                             "altText", omni_bot_alt(&bot->title),
                             "template", t);
        }

        return json_pack("{s:s, s:o, s:{s:s, s:o, s:o}}", "type", "template",
                         "altText", omni_bot_alt(&bot->text),
                         "template", "type", "buttons",
                         "text", omni_bot_str(&bot->text),
                         "actions", list);
    }
}


static json_t *
omni_bot_line_action(const omni_bot_button_t *b)
{
    if (b->url) {
        return json_pack("{s:s, s:o, s:o}", "type", "uri",
                         "label", omni_bot_str(&b->title),
                         "uri", omni_bot_str(&b->value));
    }

    /* displayText: the customer's side shows what they tapped */
    return json_pack("{s:s, s:o, s:o, s:o}", "type", "postback",
                     "label", omni_bot_str(&b->title),
                     "data", omni_bot_payload(b),
                     "displayText", omni_bot_str(&b->title));
}


static json_t *
omni_bot_line_bubble(const omni_bot_card_t *card)
{
    size_t   i;
    json_t  *bubble, *texts, *buttons;

    texts = json_pack("[{s:s, s:o, s:s, s:b}]", "type", "text",
                      "text", omni_bot_str(&card->title), "weight", "bold",
                      "wrap", 1);

    if (texts != NULL && card->subtitle.len) {
        json_array_append_new(texts,
            json_pack("{s:s, s:o, s:s, s:b}", "type", "text",
                      "text", omni_bot_str(&card->subtitle), "size", "sm",
                      "wrap", 1));
    }

    bubble = json_pack("{s:s, s:{s:s, s:o, s:s, s:s, s:s}, "
                       "s:{s:s, s:s, s:o}}",
                       "type", "bubble",
                       "hero", "type", "image",
                       "url", omni_bot_str(&card->image_url),
                       "size", "full", "aspectRatio", "20:13",
                       "aspectMode", "cover",
                       "body", "type", "box", "layout", "vertical",
                       "contents", texts);

    if (bubble == NULL || card->nbuttons == 0) {
        return bubble;
    }

    buttons = json_array();

    for (i = 0; buttons != NULL && i < card->nbuttons; i++) {
        json_array_append_new(buttons,
            json_pack("{s:s, s:s, s:o}", "type", "button", "style", "link",
                      "action", omni_bot_line_action(&card->buttons[i])));
    }

    json_object_set_new(bubble, "footer",
                        json_pack("{s:s, s:s, s:o}", "type", "box",
                                  "layout", "vertical",
                                  "contents", buttons));

    return bubble;
}


/* a keyword auto-assign option answers with the member it assigns to */
static json_t *
omni_bot_payload(const omni_bot_button_t *b)
{
    char  id[32];

    if (b->member_id > 0) {
        snprintf(id, sizeof(id), "assign:%lld", (long long) b->member_id);
        return json_string(id);
    }

    return omni_bot_str(&b->value);
}


static json_t *
omni_bot_str(const omni_text_t *t)
{
    return json_stringn(t->data, t->len);
}


/* "a\nb": two checked texts, the first line and the next */
static json_t *
omni_bot_join(const omni_text_t *a, const omni_text_t *b)
{
    char    buf[4 * (OMNI_BOT_TITLE_MAX + OMNI_BOT_TITLE_MAX) + 2];
    size_t  n;

    if (a->len + 1 + b->len > sizeof(buf)) {
        return NULL;
    }

    memcpy(buf, a->data, a->len);
    buf[a->len] = '\n';
    memcpy(buf + a->len + 1, b->data, b->len);
    n = a->len + 1 + b->len;

    return json_stringn(buf, n);
}


/* LINE's altText: the text's first OMNI_BOT_LINE_ALT_MAX characters */
static json_t *
omni_bot_alt(const omni_text_t *t)
{
    size_t                i, k, n;
    const unsigned char  *p;

    p = (const unsigned char *) t->data;

    for (i = 0, n = 0; i < t->len && n < OMNI_BOT_LINE_ALT_MAX; i += k) {
        k = omni_utf8_char(p + i, t->len - i);

        if (k == 0) {
            break;
        }

        n++;
    }

    return json_stringn(t->data, i);
}
