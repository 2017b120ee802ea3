
/*
 * Bot module content, strictly: every field known, every string UTF-8
 * and within its cap, every URL https (LINE fetches nothing else), so
 * that what is stored always renders.  The channels' limits are those of
 * their documentation (WhatsApp Cloud API interactive messages, Messenger
 * templates and quick replies, Instagram messaging, LINE Messaging API);
 * see docs/api.md, "Bot modules".
 */

#include <stdio.h>
#include <string.h>

#include "omni_bot.h"
#include "omni_render.h"


#define OMNI_BOT_WHERE_MAX  48


/*
 * One channel's limits, in characters.  A zero takes the content's own
 * cap; what a channel cannot show at all is refused by name.
 */
typedef struct {
    size_t       text;          /* a text with buttons */
    const char  *text_name;
    size_t       reply_text;    /* a text with quick replies */
    size_t       buttons;
    const char  *buttons_name;
    size_t       button_title;
    size_t       replies;
    const char  *replies_name;
    size_t       reply_title;
    size_t       cards;
    const char  *cards_name;
    size_t       card_buttons;
    size_t       card_title;
    size_t       card_subtitle;
    size_t       payload;
    const char  *payload_name;
} omni_bot_limit_t;


static const omni_bot_limit_t  omni_bot_limits_of[OMNI_CHANNEL_N] = {
    { 0 },

    /* whatsapp: interactive reply buttons, list, CTA URL messages */
    { 1024, "characters of an interactive body", 1024,
      3, "reply buttons", 20,
      10, "list rows", 24,
      10, "carousel cards", 3, 0, 0,
      256, "characters of a reply id" },

    /* messenger: button and generic templates, quick replies */
    { 640, "characters of a button template's text", 2000,
      3, "buttons per template", 20,
      13, "quick replies", 20,
      10, "generic-template elements", 3, 80, 80,
      1000, "characters of a postback payload" },

    /* instagram: generic template, quick replies */
    { 80, "characters of a generic element's title", 1000,
      3, "buttons per template", 20,
      13, "quick replies", 20,
      10, "generic elements", 3, 80, 80,
      1000, "characters of a postback payload" },

    /* line: buttons template, flex carousel, quick reply */
    { 160, "characters of a buttons template's text", 5000,
      4, "template actions", 20,
      13, "quick reply items", 20,
      12, "flex bubbles", 3, 0, 0,
      300, "characters of postback data" }
};


static const char  *omni_bot_type_names[] = {
    "", "text_buttons", "image_carousel", "quick_replies",
    "cart_remarketing", "coupon_card", "wa_keyword_auto_assign"
};


static int omni_bot_text_buttons(json_t *c, omni_bot_t *bot,
    omni_json_error_t *err);
static int omni_bot_quick_replies(json_t *c, omni_bot_t *bot,
    omni_json_error_t *err);
static int omni_bot_carousel(json_t *c, int resolved, omni_bot_t *bot,
    omni_json_error_t *err);
static int omni_bot_cart(json_t *c, omni_bot_t *bot, omni_json_error_t *err);
static int omni_bot_coupon(json_t *c, int resolved, omni_bot_t *bot,
    omni_json_error_t *err);
static int omni_bot_assign(json_t *c, omni_bot_t *bot,
    omni_json_error_t *err);
static int omni_bot_button(json_t *b, const char *where,
    omni_bot_button_t *out, omni_json_error_t *err);
static int omni_bot_fields(json_t *obj, const char *where,
    const char **known, omni_json_error_t *err);
static int omni_bot_string(json_t *obj, const char *key, const char *where,
    int required, size_t max, omni_text_t *out, omni_json_error_t *err);
static int omni_bot_url(json_t *obj, const char *key, const char *where,
    size_t max, omni_text_t *out, omni_json_error_t *err);
static int omni_bot_id(json_t *obj, const char *key, const char *where,
    int64_t *out, omni_json_error_t *err);
static int omni_bot_image(json_t *obj, const char *where, int resolved,
    int required, omni_text_t *url, int64_t *id, omni_json_error_t *err);
static int omni_bot_array(json_t *obj, const char *key, const char *where,
    size_t min, size_t max, json_t **out, omni_json_error_t *err);
static int omni_bot_over(omni_channel_e channel, const char *what,
    size_t max, size_t n, omni_json_error_t *err);
static int omni_bot_button_limits(omni_channel_e channel,
    const omni_bot_limit_t *lim, const omni_bot_button_t *b, size_t n,
    omni_json_error_t *err);


omni_bot_type_e
omni_bot_type_parse(const char *name, size_t len)
{
    int  i;

    for (i = OMNI_BOT_TEXT_BUTTONS; i < OMNI_BOT_N; i++) {
        if (strlen(omni_bot_type_names[i]) == len
            && memcmp(omni_bot_type_names[i], name, len) == 0)
        {
            return (omni_bot_type_e) i;
        }
    }

    return OMNI_BOT_NONE;
}


const char *
omni_bot_type_name(omni_bot_type_e type)
{
    if (type <= OMNI_BOT_NONE || type >= OMNI_BOT_N) {
        return "";
    }

    return omni_bot_type_names[type];
}


int
omni_bot_saved_reply_ok(omni_bot_type_e type)
{
    return type == OMNI_BOT_TEXT_BUTTONS || type == OMNI_BOT_IMAGE_CAROUSEL
           || type == OMNI_BOT_QUICK_REPLIES;
}


int
omni_bot_may(omni_role_e role, omni_bot_action_e action)
{
    if (role <= OMNI_ROLE_NONE || role >= OMNI_ROLE_N) {
        return 0;
    }

    if (action == OMNI_BOT_READ) {
        return 1;
    }

    switch (role) {

    case OMNI_ROLE_ADMIN:
    case OMNI_ROLE_SUPERVISOR:
    case OMNI_ROLE_CS_MANAGER:
    case OMNI_ROLE_MARKETING_CS:
        return 1;

    case OMNI_ROLE_MARKETER:
        return action == OMNI_BOT_WRITE;

    default:
        return 0;
    }
}


int
omni_bot_parse(omni_bot_type_e type, json_t *content, int resolved,
    omni_bot_t *bot, omni_json_error_t *err)
{
    memset(bot, 0, sizeof(omni_bot_t));
    bot->type = type;

    if (!json_is_object(content)) {
        return omni_json_error(err, 422, "invalid_content",
                             "content must be an object");
    }

    switch (type) {

    case OMNI_BOT_TEXT_BUTTONS:
        return omni_bot_text_buttons(content, bot, err);

    case OMNI_BOT_IMAGE_CAROUSEL:
        return omni_bot_carousel(content, resolved, bot, err);

    case OMNI_BOT_QUICK_REPLIES:
        return omni_bot_quick_replies(content, bot, err);

    case OMNI_BOT_CART_REMARKETING:
        return omni_bot_cart(content, bot, err);

    case OMNI_BOT_COUPON_CARD:
        return omni_bot_coupon(content, resolved, bot, err);

    case OMNI_BOT_WA_KEYWORD_AUTO_ASSIGN:
        return omni_bot_assign(content, bot, err);

    default:
        return omni_json_error(err, 400, "invalid_type",
                             "Unknown bot module type");
    }
}


int
omni_bot_limits(omni_channel_e channel, const omni_bot_t *bot,
    omni_json_error_t *err)
{
    size_t                   i, max;
    const char              *name;
    const omni_bot_card_t   *card;
    const omni_bot_limit_t  *lim;

    if (channel <= OMNI_CHANNEL_NONE || channel >= OMNI_CHANNEL_N) {
        return omni_json_error(err, 400, "unsupported_channel",
                             "The channel type is not one bot modules "
                             "support");
    }

    lim = &omni_bot_limits_of[channel];
    name = omni_channel_name(channel);

    switch (bot->type) {

    case OMNI_BOT_WA_KEYWORD_AUTO_ASSIGN:
        if (channel != OMNI_CHANNEL_WHATSAPP) {
            return omni_json_error(err, 422, "channel_not_supported",
                                 "wa_keyword_auto_assign works on whatsapp "
                                 "only, not on %s", name);
        }

        /* fall through */

    case OMNI_BOT_TEXT_BUTTONS:
    case OMNI_BOT_CART_REMARKETING:
        if (omni_bot_over(channel, lim->text_name, lim->text,
                          omni_bot_chars(&bot->text), err)
            || omni_bot_over(channel, lim->buttons_name, lim->buttons,
                             bot->nbuttons, err))
        {
            return -1;
        }

        return omni_bot_button_limits(channel, lim, bot->buttons,
                                      bot->nbuttons, err);

    case OMNI_BOT_QUICK_REPLIES:
        if (omni_bot_over(channel, "characters of a text",
                          lim->reply_text, omni_bot_chars(&bot->text), err)
            || omni_bot_over(channel, lim->replies_name, lim->replies,
                             bot->nreplies, err))
        {
            return -1;
        }

        /* up to 3 go out as WhatsApp reply buttons, more as list rows */
        max = lim->reply_title;

        if (channel == OMNI_CHANNEL_WHATSAPP && bot->nreplies <= 3) {
            max = lim->button_title;
        }

        for (i = 0; i < bot->nreplies; i++) {
            if (omni_bot_over(channel, "characters of a quick reply's "
                              "title", max,
                              omni_bot_chars(&bot->replies[i].title), err)
                || omni_bot_over(channel, lim->payload_name, lim->payload,
                                 omni_bot_chars(&bot->replies[i].value),
                                 err))
            {
                return -1;
            }
        }

        if (channel == OMNI_CHANNEL_WHATSAPP && bot->nreplies > 3) {
            return omni_bot_over(channel, "characters of a list's button",
                                 20, bot->list_title.len
                                     ? omni_bot_chars(&bot->list_title) : 0,
                                 err);
        }

        return 0;

    case OMNI_BOT_IMAGE_CAROUSEL:
        if (omni_bot_over(channel, lim->cards_name, lim->cards, bot->ncards,
                          err))
        {
            return -1;
        }

        for (i = 0; i < bot->ncards; i++) {
            card = &bot->cards[i];

            if ((lim->card_title
                 && omni_bot_over(channel, "characters of a card's title",
                                  lim->card_title,
                                  omni_bot_chars(&card->title), err))
                || (lim->card_subtitle
                    && omni_bot_over(channel, "characters of a card's "
                                     "subtitle", lim->card_subtitle,
                                     omni_bot_chars(&card->subtitle), err))
                || omni_bot_over(channel, "buttons per card",
                                 lim->card_buttons, card->nbuttons, err)
                || omni_bot_button_limits(channel, lim, card->buttons,
                                          card->nbuttons, err))
            {
                return -1;
            }
        }

        return 0;

    case OMNI_BOT_COUPON_CARD:
        /* the code goes below the description, on a line of its own */
        max = omni_bot_chars(&bot->text) + 1 + omni_bot_chars(&bot->code);

        switch (channel) {

        case OMNI_CHANNEL_WHATSAPP:
            if (omni_bot_over(channel, "characters of a header",
                              60, omni_bot_chars(&bot->title), err)
                || omni_bot_over(channel, "characters of a footer",
                                 60, omni_bot_chars(&bot->code), err)
                || omni_bot_over(channel, lim->text_name, lim->text,
                                 omni_bot_chars(&bot->text), err))
            {
                return -1;
            }

            break;

        case OMNI_CHANNEL_LINE:
            if (omni_bot_over(channel, "characters of a template's title",
                              40, omni_bot_chars(&bot->title), err)
                || omni_bot_over(channel, "characters of a titled "
                                 "template's text (description and code)",
                                 60, max, err))
            {
                return -1;
            }

            break;

        default:
            if (omni_bot_over(channel, "characters of a card's title",
                              lim->card_title, omni_bot_chars(&bot->title),
                              err)
                || omni_bot_over(channel, "characters of a card's subtitle "
                                 "(description and code)",
                                 lim->card_subtitle, max, err))
            {
                return -1;
            }

            break;
        }

        return omni_bot_button_limits(channel, lim, bot->buttons,
                                      bot->nbuttons, err);

    default:
        return omni_json_error(err, 400, "invalid_type",
                             "Unknown bot module type");
    }
}


int
omni_bot_check(const char *type, size_t type_len, json_t *channels,
    json_t *content, omni_json_error_t *err)
{
    size_t           i, j;
    json_t          *v;
    omni_bot_t       bot;
    omni_bot_type_e  t;
    omni_channel_e   ch, seen[OMNI_CHANNEL_N];

    t = omni_bot_type_parse(type, type_len);

    if (t == OMNI_BOT_NONE) {
        return omni_json_error(err, 422, "invalid_type",
                             "type must be text_buttons, image_carousel, "
                             "quick_replies, cart_remarketing, coupon_card "
                             "or wa_keyword_auto_assign");
    }

    if (!json_is_array(channels) || json_array_size(channels) == 0
        || json_array_size(channels) >= OMNI_CHANNEL_N)
    {
        return omni_json_error(err, 422, "invalid_channels",
                             "channels must list one to four of whatsapp, "
                             "messenger, instagram, line");
    }

    if (omni_bot_parse(t, content, 0, &bot, err) != 0) {
        return -1;
    }

    json_array_foreach(channels, i, v) {
        ch = json_is_string(v) ? omni_channel_parse(json_string_value(v),
                                                    json_string_length(v))
                               : OMNI_CHANNEL_NONE;

        if (ch == OMNI_CHANNEL_NONE) {
            return omni_json_error(err, 422, "invalid_channels",
                                 "channels[%zu] must be whatsapp, messenger, "
                                 "instagram or line", i);
        }

        for (j = 0; j < i; j++) {
            if (seen[j] == ch) {
                return omni_json_error(err, 422, "invalid_channels",
                                     "channels names %s twice",
                                     omni_channel_name(ch));
            }
        }

        seen[i] = ch;

        if (omni_bot_limits(ch, &bot, err) != 0) {
            return -1;
        }
    }

    return 0;
}


size_t
omni_bot_chars(const omni_text_t *text)
{
    size_t                i, k, n;
    const unsigned char  *p;

    p = (const unsigned char *) text->data;
    n = 0;

    for (i = 0; i < text->len; i += k) {
        k = omni_utf8_char(p + i, text->len - i);

        if (k == 0 || p[i] == '\0') {
            return (size_t) -1;
        }

        n++;
    }

    return n;
}


static int
omni_bot_text_buttons(json_t *c, omni_bot_t *bot, omni_json_error_t *err)
{
    char     where[OMNI_BOT_WHERE_MAX];
    size_t   i;
    json_t  *list, *b;

    static const char  *known[] = { "text", "buttons", NULL };

    if (omni_bot_fields(c, "content", known, err)
        || omni_bot_string(c, "text", "content", 1, OMNI_BOT_TEXT_MAX,
                           &bot->text, err)
        || omni_bot_array(c, "buttons", "content", 1, OMNI_BOT_BUTTONS_MAX,
                          &list, err))
    {
        return -1;
    }

    json_array_foreach(list, i, b) {
        snprintf(where, sizeof(where), "content.buttons[%zu]", i);

        if (omni_bot_button(b, where, &bot->buttons[i], err) != 0) {
            return -1;
        }
    }

    bot->nbuttons = json_array_size(list);

    return 0;
}


static int
omni_bot_quick_replies(json_t *c, omni_bot_t *bot, omni_json_error_t *err)
{
    char                where[OMNI_BOT_WHERE_MAX];
    size_t              i;
    json_t             *list, *r;
    omni_bot_button_t  *reply;

    static const char  *known[] = { "text", "replies", "list_title", NULL };
    static const char  *reply_known[] = { "title", "payload", NULL };

    if (omni_bot_fields(c, "content", known, err)
        || omni_bot_string(c, "text", "content", 1, OMNI_BOT_TEXT_MAX,
                           &bot->text, err)
        || omni_bot_string(c, "list_title", "content", 0, OMNI_BOT_TITLE_MAX,
                           &bot->list_title, err)
        || omni_bot_array(c, "replies", "content", 1, OMNI_BOT_REPLIES_MAX,
                          &list, err))
    {
        return -1;
    }

    json_array_foreach(list, i, r) {
        snprintf(where, sizeof(where), "content.replies[%zu]", i);
        reply = &bot->replies[i];

        if (omni_bot_fields(r, where, reply_known, err)
            || omni_bot_string(r, "title", where, 1, OMNI_BOT_TITLE_MAX,
                               &reply->title, err)
            || omni_bot_string(r, "payload", where, 1, OMNI_BOT_PAYLOAD_MAX,
                               &reply->value, err))
        {
            return -1;
        }
    }

    bot->nreplies = json_array_size(list);

    return 0;
}


static int
omni_bot_carousel(json_t *c, int resolved, omni_bot_t *bot,
    omni_json_error_t *err)
{
    char              where[OMNI_BOT_WHERE_MAX];
    char              bwhere[2 * OMNI_BOT_WHERE_MAX];
    size_t            i, j;
    json_t           *cards, *card, *buttons, *b;
    omni_bot_card_t  *out;

    static const char  *known[] = { "cards", "alt_text", NULL };
    static const char  *card_known[] = { "title", "subtitle", "image_url",
                                         "image_media_id", "buttons", NULL };

    if (omni_bot_fields(c, "content", known, err)
        || omni_bot_string(c, "alt_text", "content", 0, 400,
                           &bot->alt_text, err)
        || omni_bot_array(c, "cards", "content", 1, OMNI_BOT_CARDS_MAX,
                          &cards, err))
    {
        return -1;
    }

    json_array_foreach(cards, i, card) {
        snprintf(where, sizeof(where), "content.cards[%zu]", i);
        out = &bot->cards[i];

        if (omni_bot_fields(card, where, card_known, err)
            || omni_bot_string(card, "title", where, 1, OMNI_BOT_TITLE_MAX,
                               &out->title, err)
            || omni_bot_string(card, "subtitle", where, 0,
                               OMNI_BOT_TITLE_MAX, &out->subtitle, err)
            || omni_bot_image(card, where, resolved, 1, &out->image_url,
                              &out->image_media_id, err))
        {
            return -1;
        }

        buttons = NULL;

        if (json_object_get(card, "buttons") != NULL
            && omni_bot_array(card, "buttons", where, 1,
                              OMNI_BOT_CARD_BUTTONS_MAX, &buttons, err))
        {
            return -1;
        }

        json_array_foreach(buttons, j, b) {
            snprintf(bwhere, sizeof(bwhere), "%.*s.buttons[%zu]",
                     OMNI_BOT_WHERE_MAX, where, j);

            if (omni_bot_button(b, bwhere, &out->buttons[j], err) != 0) {
                return -1;
            }
        }

        out->nbuttons = json_array_size(buttons);
    }

    bot->ncards = json_array_size(cards);

    return 0;
}


static int
omni_bot_cart(json_t *c, omni_bot_t *bot, omni_json_error_t *err)
{
    static const char  *known[] = { "text", "button_title", "url", NULL };

    bot->nbuttons = 1;
    bot->buttons[0].url = 1;

    if (omni_bot_fields(c, "content", known, err)
        || omni_bot_string(c, "text", "content", 1, OMNI_BOT_TEXT_MAX,
                           &bot->text, err)
        || omni_bot_string(c, "button_title", "content", 1,
                           OMNI_BOT_TITLE_MAX, &bot->buttons[0].title, err)
        || omni_bot_url(c, "url", "content", OMNI_BOT_URL_MAX,
                        &bot->buttons[0].value, err))
    {
        return -1;
    }

    return 0;
}


static int
omni_bot_coupon(json_t *c, int resolved, omni_bot_t *bot,
    omni_json_error_t *err)
{
    static const char  *known[] = { "title", "description", "code", "url",
                                    "button_title", "image_url",
                                    "image_media_id", NULL };

    bot->nbuttons = 1;
    bot->buttons[0].url = 1;

    if (omni_bot_fields(c, "content", known, err)
        || omni_bot_string(c, "title", "content", 1, OMNI_BOT_TITLE_MAX,
                           &bot->title, err)
        || omni_bot_string(c, "description", "content", 1,
                           OMNI_BOT_TITLE_MAX, &bot->text, err)
        || omni_bot_string(c, "code", "content", 1, OMNI_BOT_CODE_MAX,
                           &bot->code, err)
        || omni_bot_string(c, "button_title", "content", 1,
                           OMNI_BOT_TITLE_MAX, &bot->buttons[0].title, err)
        || omni_bot_url(c, "url", "content", OMNI_BOT_URL_MAX,
                        &bot->buttons[0].value, err)
        || omni_bot_image(c, "content", resolved, 0, &bot->image_url,
                          &bot->image_media_id, err))
    {
        return -1;
    }

    return 0;
}


static int
omni_bot_assign(json_t *c, omni_bot_t *bot, omni_json_error_t *err)
{
    char                where[OMNI_BOT_WHERE_MAX];
    size_t              i;
    json_t             *list, *o;
    omni_bot_button_t  *b;

    static const char  *known[] = { "text", "options", NULL };
    static const char  *option_known[] = { "title", "member_id", NULL };

    if (omni_bot_fields(c, "content", known, err)
        || omni_bot_string(c, "text", "content", 1, OMNI_BOT_TEXT_MAX,
                           &bot->text, err)
        || omni_bot_array(c, "options", "content", 1, OMNI_BOT_ASSIGN_MAX,
                          &list, err))
    {
        return -1;
    }

    json_array_foreach(list, i, o) {
        snprintf(where, sizeof(where), "content.options[%zu]", i);
        b = &bot->buttons[i];

        if (omni_bot_fields(o, where, option_known, err)
            || omni_bot_string(o, "title", where, 1, OMNI_BOT_TITLE_MAX,
                               &b->title, err)
            || omni_bot_id(o, "member_id", where, &b->member_id, err))
        {
            return -1;
        }

        /* the keyword: what the customer taps or types */
        b->value = b->title;
    }

    bot->nbuttons = json_array_size(list);

    return 0;
}


/* {"type":"postback","title","payload"} | {"type":"url","title","url"} */
static int
omni_bot_button(json_t *b, const char *where, omni_bot_button_t *out,
    omni_json_error_t *err)
{
    omni_text_t  type;

    static const char  *postback_known[] = { "type", "title", "payload",
                                             NULL };
    static const char  *url_known[] = { "type", "title", "url", NULL };

    if (omni_bot_string(b, "type", where, 1, 16, &type, err) != 0) {
        return -1;
    }

    if (type.len == 8 && memcmp(type.data, "postback", 8) == 0) {
        return (omni_bot_fields(b, where, postback_known, err)
                || omni_bot_string(b, "title", where, 1, OMNI_BOT_TITLE_MAX,
                                   &out->title, err)
                || omni_bot_string(b, "payload", where, 1,
                                   OMNI_BOT_PAYLOAD_MAX, &out->value, err))
               ? -1 : 0;
    }

    if (type.len == 3 && memcmp(type.data, "url", 3) == 0) {
        out->url = 1;

        return (omni_bot_fields(b, where, url_known, err)
                || omni_bot_string(b, "title", where, 1, OMNI_BOT_TITLE_MAX,
                                   &out->title, err)
                || omni_bot_url(b, "url", where, OMNI_BOT_URL_MAX,
                                &out->value, err))
               ? -1 : 0;
    }

    return omni_json_error(err, 422, "invalid_content",
                         "%s.type must be postback or url", where);
}


static int
omni_bot_fields(json_t *obj, const char *where, const char **known,
    omni_json_error_t *err)
{
    json_t       *v;
    const char   *key, **k;

    if (!json_is_object(obj)) {
        return omni_json_error(err, 422, "invalid_content",
                             "%s must be an object", where);
    }

    json_object_foreach(obj, key, v) {
        for (k = known; *k; k++) {
            if (strcmp(*k, key) == 0) {
                break;
            }
        }

        if (*k == NULL) {
            return omni_json_error(err, 422, "invalid_content",
                                 "%s: unknown field \"%.*s\"", where,
                                 (int) omni_utf8_cut(key, strlen(key), 64),
                                 key);
        }
    }

    return 0;
}


static int
omni_bot_string(json_t *obj, const char *key, const char *where,
    int required, size_t max, omni_text_t *out, omni_json_error_t *err)
{
    size_t   n;
    json_t  *v;

    v = json_object_get(obj, key);

    if (v == NULL) {
        if (required) {
            return omni_json_error(err, 422, "invalid_content",
                                 "%s.%s is required", where, key);
        }

        return 0;
    }

    out->data = json_string_value(v);
    out->len = json_string_length(v);

    if (!json_is_string(v) || out->len == 0) {
        out->data = NULL;
        out->len = 0;

        return omni_json_error(err, 422, "invalid_content",
                             "%s.%s must be a non-empty string", where, key);
    }

    n = omni_bot_chars(out);

    if (n == (size_t) -1) {
        return omni_json_error(err, 422, "invalid_content",
                             "%s.%s must be UTF-8 without NUL", where, key);
    }

    if (n > max) {
        return omni_json_error(err, 422, "invalid_content",
                             "%s.%s holds at most %zu characters", where,
                             key, max);
    }

    return 0;
}


static int
omni_bot_url(json_t *obj, const char *key, const char *where, size_t max,
    omni_text_t *out, omni_json_error_t *err)
{
    if (omni_bot_string(obj, key, where, 1, max, out, err) != 0) {
        return -1;
    }

    if (out->len > max || !omni_render_url_valid(out, 1)) {
        return omni_json_error(err, 422, "invalid_content",
                             "%s.%s must be an https URL of at most %zu "
                             "bytes", where, key, max);
    }

    return 0;
}


static int
omni_bot_id(json_t *obj, const char *key, const char *where, int64_t *out,
    omni_json_error_t *err)
{
    json_t  *v;

    v = json_object_get(obj, key);

    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        return omni_json_error(err, 422, "invalid_content",
                             "%s.%s must be an id (a positive whole number)",
                             where, key);
    }

    *out = json_integer_value(v);

    return 0;
}


/* image_url or image_media_id: one, not both */
static int
omni_bot_image(json_t *obj, const char *where, int resolved, int required,
    omni_text_t *url, int64_t *id, omni_json_error_t *err)
{
    json_t  *u, *m;

    u = json_object_get(obj, "image_url");
    m = json_object_get(obj, "image_media_id");

    if (u != NULL && m != NULL) {
        return omni_json_error(err, 422, "invalid_content",
                             "%s: give image_url or image_media_id, not "
                             "both", where);
    }

    if (u != NULL) {
        return omni_bot_url(obj, "image_url", where, OMNI_RENDER_URL_MAX,
                            url, err);
    }

    if (m != NULL) {
        if (omni_bot_id(obj, "image_media_id", where, id, err) != 0) {
            return -1;
        }

        if (resolved) {
            return omni_json_error(err, 422, "media_unresolved",
                                 "%s: image_media_id %lld must be resolved "
                                 "to image_url before rendering", where,
                                 (long long) *id);
        }

        return 0;
    }

    if (required) {
        return omni_json_error(err, 422, "invalid_content",
                             "%s needs image_url or image_media_id", where);
    }

    return 0;
}


static int
omni_bot_array(json_t *obj, const char *key, const char *where, size_t min,
    size_t max, json_t **out, omni_json_error_t *err)
{
    json_t  *v;

    v = json_object_get(obj, key);

    if (!json_is_array(v) || json_array_size(v) < min
        || json_array_size(v) > max)
    {
        return omni_json_error(err, 422, "invalid_content",
                             "%s.%s must be an array of %zu to %zu entries",
                             where, key, min, max);
    }

    *out = v;

    return 0;
}


static int
omni_bot_over(omni_channel_e channel, const char *what, size_t max,
    size_t n, omni_json_error_t *err)
{
    if (max == 0 || n <= max) {
        return 0;
    }

    return omni_json_error(err, 422, "channel_limit",
                         "%s allows at most %zu %s (this module has %zu)",
                         omni_channel_name(channel), max, what, n);
}


/*
 * Titles and payloads of n buttons; WhatsApp shows either reply buttons
 * or one URL button (a CTA URL message), never both.
 */
static int
omni_bot_button_limits(omni_channel_e channel, const omni_bot_limit_t *lim,
    const omni_bot_button_t *b, size_t n, omni_json_error_t *err)
{
    size_t  i, urls;

    urls = 0;

    for (i = 0; i < n; i++) {
        if (omni_bot_over(channel, "characters of a button's title",
                          lim->button_title, omni_bot_chars(&b[i].title),
                          err))
        {
            return -1;
        }

        if (b[i].url) {
            urls++;
            continue;
        }

        if (omni_bot_over(channel, lim->payload_name, lim->payload,
                          omni_bot_chars(&b[i].value), err))
        {
            return -1;
        }
    }

    if (channel == OMNI_CHANNEL_WHATSAPP && urls > 0) {
        if (omni_bot_over(channel, "URL button per message", 1, urls, err)) {
            return -1;
        }

        if (urls != n) {
            return omni_json_error(err, 422, "channel_limit",
                                 "whatsapp allows reply buttons or one URL "
                                 "button in a message, not both");
        }
    }

    return 0;
}

