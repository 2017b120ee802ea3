
/*
 * Each channel's request as its documentation shows it.  Everything a
 * path is built from is checked to be digits (account ids) so a stored
 * value can never aim a request at another endpoint; the rest only
 * ever goes into the JSON body.
 */

#include <stdio.h>
#include <string.h>

#include "omni_render.h"


typedef struct {
    const char  *auth;
    size_t       text_max;      /* characters */
    unsigned     media_https:1; /* media URLs must be https */
    unsigned     file:1;        /* takes files */
    unsigned     account:1;     /* the path holds the account id */
} omni_render_rule_t;


static const omni_render_rule_t  omni_render_rules[OMNI_CHANNEL_N] = {
    { NULL,                   0,    0, 0, 0 },
    { "access_token",         4096, 0, 1, 1 },     /* whatsapp */
    { "page_access_token",    2000, 0, 1, 0 },     /* messenger */
    { "access_token",         1000, 0, 0, 1 },     /* instagram */
    { "channel_access_token", 5000, 1, 0, 0 }      /* line */
};


static json_t *omni_render_whatsapp(const omni_render_item_t *item);
static json_t *omni_render_meta(omni_channel_e channel,
    const omni_render_item_t *item);
static json_t *omni_render_line(const omni_render_item_t *item);
static int omni_render_check(omni_channel_e channel,
    const omni_render_item_t *item, omni_json_error_t *err);
static int omni_render_text_check(omni_channel_e channel,
    const omni_text_t *text, omni_json_error_t *err);
static int omni_render_id_valid(const omni_text_t *id, int digits);
static int omni_render_has_link(const omni_text_t *text);


static const char  *omni_item_names[] = { "", "text", "image", "video",
                                          "file" };

/* WhatsApp's "type" of each item */
static const char  *omni_render_wa_types[] = { "", "text", "image", "video",
                                               "document" };


omni_item_e
omni_item_parse(const char *name, size_t len)
{
    int  i;

    for (i = OMNI_ITEM_TEXT; i <= OMNI_ITEM_FILE; i++) {
        if (strlen(omni_item_names[i]) == len
            && memcmp(omni_item_names[i], name, len) == 0)
        {
            return (omni_item_e) i;
        }
    }

    return OMNI_ITEM_NONE;
}


size_t
omni_render_text_max(omni_channel_e channel)
{
    if (channel <= OMNI_CHANNEL_NONE || channel >= OMNI_CHANNEL_N) {
        return 0;
    }

    return omni_render_rules[channel].text_max;
}


int
omni_render_item(omni_channel_e channel, const omni_render_to_t *to,
    const omni_render_item_t *item, omni_render_t *out,
    omni_json_error_t *err)
{
    json_t  *message;

    if (omni_render_target(channel, to, out, err) != 0) {
        return -1;
    }

    if (omni_render_check(channel, item, err) != 0) {
        out->path[0] = '\0';
        out->auth = NULL;
        return -1;
    }

    switch (channel) {

    case OMNI_CHANNEL_WHATSAPP:
        message = omni_render_whatsapp(item);
        break;

    case OMNI_CHANNEL_MESSENGER:
    case OMNI_CHANNEL_INSTAGRAM:
        message = omni_render_meta(channel, item);
        break;

    default:
        message = omni_render_line(item);
        break;
    }

    out->body = omni_render_envelope(channel, to,
                                     omni_render_wa_types[item->type],
                                     message);

    /* jansson refuses only what the checks let through by mistake */
    if (out->body == NULL) {
        out->path[0] = '\0';
        out->auth = NULL;

        return omni_json_error(err, 400, "invalid_item",
                                "The item cannot be rendered");
    }

    return 0;
}


int
omni_render_target(omni_channel_e channel, const omni_render_to_t *to,
    omni_render_t *out, omni_json_error_t *err)
{
    int          n;
    const char  *name;

    out->path[0] = '\0';
    out->auth = NULL;
    out->body = NULL;

    if (channel <= OMNI_CHANNEL_NONE || channel >= OMNI_CHANNEL_N) {
        return omni_json_error(err, 400, "unsupported_channel",
                                "The channel type is not one we send to");
    }

    name = omni_channel_name(channel);

    if (!omni_render_id_valid(&to->to, 0)) {
        return omni_json_error(err, 422, "invalid_recipient",
                                "The recipient's %s id is not valid", name);
    }

    if (omni_render_rules[channel].account
        && !omni_render_id_valid(&to->account, 1))
    {
        return omni_json_error(err, 422, "invalid_account",
                                "The channel's %s account id must be digits",
                                name);
    }

    switch (channel) {

    case OMNI_CHANNEL_WHATSAPP:
    case OMNI_CHANNEL_INSTAGRAM:
        n = snprintf(out->path, sizeof(out->path), "/%.*s/messages",
                     (int) to->account.len, to->account.data);
        break;

    case OMNI_CHANNEL_MESSENGER:
        n = snprintf(out->path, sizeof(out->path), "/me/messages");
        break;

    default:
        n = snprintf(out->path, sizeof(out->path), "/v2/bot/message/push");
        break;
    }

    if (n < 0 || (size_t) n >= sizeof(out->path)) {
        out->path[0] = '\0';
        return omni_json_error(err, 422, "invalid_account",
                                "The channel's %s account id is too long",
                                name);
    }

    out->auth = omni_render_rules[channel].auth;

    return 0;
}


json_t *
omni_render_envelope(omni_channel_e channel, const omni_render_to_t *to,
    const char *wa_type, json_t *message)
{
    json_t  *body;

    if (message == NULL) {
        return NULL;
    }

    switch (channel) {

    case OMNI_CHANNEL_WHATSAPP:
        body = json_pack("{s:s, s:s, s:s%, s:s, s:o}",
                         "messaging_product", "whatsapp",
                         "recipient_type", "individual",
                         "to", to->to.data, to->to.len,
                         "type", wa_type, wa_type, message);
        break;

    case OMNI_CHANNEL_MESSENGER:
    case OMNI_CHANNEL_INSTAGRAM:
        body = json_pack("{s:{s:s%}, s:o}", "recipient", "id", to->to.data,
                         to->to.len, "message", message);

        /* the Send API asks why a page writes; Instagram's does not */
        if (body != NULL && channel == OMNI_CHANNEL_MESSENGER) {
            json_object_set_new(body, "messaging_type",
                                json_string("RESPONSE"));
        }

        break;

    case OMNI_CHANNEL_LINE:
        body = json_pack("{s:s%, s:[o]}", "to", to->to.data, to->to.len,
                         "messages", message);
        break;

    default:
        json_decref(message);
        body = NULL;
        break;
    }

    return body;
}


json_t *
omni_render_items(omni_channel_e channel, const omni_render_to_t *to,
    json_t *items, omni_json_error_t *err)
{
    char                 message[sizeof(err->message)];
    size_t               i, k;
    json_t              *item, *list, *v;
    const char          *type;
    omni_render_t        r;
    omni_text_t         *field;
    omni_render_item_t   it;

    static const char  *names[] = { "text", "url", "filename",
                                    "preview_url" };

    if (!json_is_array(items) || json_array_size(items) == 0) {
        omni_json_error(err, 400, "invalid_items",
                         "Items must be a non-empty array");
        return NULL;
    }

    if (json_array_size(items) > OMNI_RENDER_ITEMS_MAX) {
        omni_json_error(err, 422, "too_many_items",
                         "A message holds at most %d items",
                         OMNI_RENDER_ITEMS_MAX);
        return NULL;
    }

    list = json_array();

    if (list == NULL) {
        omni_json_error(err, 500, "out_of_memory", "Out of memory");
        return NULL;
    }

    json_array_foreach(items, i, item) {
        memset(&it, 0, sizeof(it));

        type = json_string_value(json_object_get(item, "type"));

        if (type != NULL) {
            it.type = omni_item_parse(type, strlen(type));
        }

        for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
            field = (k == 0) ? &it.text : (k == 1) ? &it.url
                    : (k == 2) ? &it.filename : &it.preview_url;
            v = json_object_get(item, names[k]);

            if (v == NULL) {
                continue;
            }

            if (!json_is_string(v)) {
                omni_json_error(err, 400, "invalid_item",
                                 "Item %zu: \"%s\" must be a string",
                                 i + 1, names[k]);
                goto failed;
            }

            field->data = json_string_value(v);
            field->len = json_string_length(v);
        }

        if (omni_render_item(channel, to, &it, &r, err) != 0) {
            /* say which item, keeping the reason */
            snprintf(message, sizeof(message), "Item %zu: %.160s", i + 1,
                     err->message);
            memcpy(err->message, message, sizeof(message));
            goto failed;
        }

        if (json_array_append_new(list,
                json_pack("{s:s, s:s, s:s, s:o}", "method", "POST",
                          "path", r.path, "auth", r.auth, "body", r.body))
            != 0)
        {
            omni_json_error(err, 500, "out_of_memory", "Out of memory");
            goto failed;
        }
    }

    return list;

failed:

    json_decref(list);

    return NULL;
}


static int
omni_render_check(omni_channel_e channel, const omni_render_item_t *item,
    omni_json_error_t *err)
{
    const char                *name;
    const omni_render_rule_t  *rule;

    rule = &omni_render_rules[channel];
    name = omni_channel_name(channel);

    switch (item->type) {

    case OMNI_ITEM_TEXT:
        return omni_render_text_check(channel, &item->text, err);

    case OMNI_ITEM_FILE:
        if (!rule->file) {
            return omni_json_error(err, 422, "file_not_supported",
                                    "Files cannot be sent on %s", name);
        }

        if (item->filename.len > OMNI_RENDER_NAME_MAX
            || (item->filename.len
                && memchr(item->filename.data, '\0', item->filename.len)))
        {
            return omni_json_error(err, 422, "invalid_filename",
                                    "A file's name holds at most %d bytes",
                                    OMNI_RENDER_NAME_MAX);
        }

        /* fall through */

    case OMNI_ITEM_IMAGE:
    case OMNI_ITEM_VIDEO:
        if (!omni_render_url_valid(&item->url, rule->media_https)) {
            return omni_json_error(err, 422, "invalid_media_url",
                                    "The media URL must be %s, at most %d "
                                    "bytes", rule->media_https
                                             ? "https" : "http or https",
                                    OMNI_RENDER_URL_MAX);
        }

        if (channel != OMNI_CHANNEL_LINE) {
            return 0;
        }

        if (item->preview_url.len == 0) {
            if (item->type == OMNI_ITEM_VIDEO) {
                return omni_json_error(err, 422, "preview_required",
                                        "A video on line needs a preview "
                                        "image");
            }

            return 0;
        }

        if (!omni_render_url_valid(&item->preview_url, 1)) {
            return omni_json_error(err, 422, "invalid_media_url",
                                    "The preview URL must be https, at most "
                                    "%d bytes", OMNI_RENDER_URL_MAX);
        }

        return 0;

    default:
        break;
    }

    return omni_json_error(err, 400, "unsupported_item",
                            "An item's type must be text, image, video "
                            "or file");
}


static int
omni_render_text_check(omni_channel_e channel, const omni_text_t *text,
    omni_json_error_t *err)
{
    size_t                i, k, chars, max;
    const unsigned char  *p;

    if (text->data == NULL || text->len == 0) {
        return omni_json_error(err, 422, "empty_text",
                                "A text message needs some text");
    }

    p = (const unsigned char *) text->data;
    chars = 0;

    for (i = 0; i < text->len; i += k) {
        k = omni_utf8_char(p + i, text->len - i);

        if (k == 0 || p[i] == '\0') {
            return omni_json_error(err, 400, "invalid_text",
                                    "The text must be UTF-8 without NUL");
        }

        chars++;
    }

    max = omni_render_rules[channel].text_max;

    if (chars > max) {
        return omni_json_error(err, 422, "text_too_long",
                                "A text on %s holds at most %zu characters",
                                omni_channel_name(channel), max);
    }

    return 0;
}


/* the object under the body's "type": text, image, video or document */
static json_t *
omni_render_whatsapp(const omni_render_item_t *item)
{
    json_t  *media;

    if (item->type == OMNI_ITEM_TEXT) {
        /* a link in the text gets WhatsApp's preview, as its app does */
        return json_pack("{s:b, s:s%}",
                         "preview_url", omni_render_has_link(&item->text),
                         "body", item->text.data, item->text.len);
    }

    media = json_pack("{s:s%}", "link", item->url.data, item->url.len);

    if (media != NULL && item->type == OMNI_ITEM_FILE && item->filename.len) {
        json_object_set_new(media, "filename",
                            json_stringn(item->filename.data,
                                         item->filename.len));
    }

    return media;
}


/* the Send API's "message" */
static json_t *
omni_render_meta(omni_channel_e channel, const omni_render_item_t *item)
{
    json_t  *payload;

    static const char  *types[] = { "", "", "image", "video", "file" };

    if (item->type == OMNI_ITEM_TEXT) {
        return json_pack("{s:s%}", "text", item->text.data, item->text.len);
    }

    payload = json_pack("{s:s%}", "url", item->url.data, item->url.len);

    /* Messenger can keep the upload for the page's next sends */
    if (payload != NULL && channel == OMNI_CHANNEL_MESSENGER) {
        json_object_set_new(payload, "is_reusable", json_true());
    }

    return json_pack("{s:{s:s, s:o}}", "attachment",
                     "type", types[item->type], "payload", payload);
}


/* one of the push's "messages" */
static json_t *
omni_render_line(const omni_render_item_t *item)
{
    const omni_text_t  *preview;

    if (item->type == OMNI_ITEM_TEXT) {
        return json_pack("{s:s, s:s%}", "type", "text",
                         "text", item->text.data, item->text.len);
    }

    preview = item->preview_url.len ? &item->preview_url : &item->url;

    return json_pack("{s:s, s:s%, s:s%}",
                     "type", item->type == OMNI_ITEM_IMAGE ? "image" : "video",
                     "originalContentUrl", item->url.data, item->url.len,
                     "previewImageUrl", preview->data, preview->len);
}


int
omni_render_url_valid(const omni_text_t *url, int https)
{
    size_t       i, skip;
    const char  *p;

    if (url->data == NULL || url->len > OMNI_RENDER_URL_MAX) {
        return 0;
    }

    p = url->data;

    if (url->len > 8 && strncmp(p, "https://", 8) == 0) {
        skip = 8;

    } else if (!https && url->len > 7 && strncmp(p, "http://", 7) == 0) {
        skip = 7;

    } else {
        return 0;
    }

    /* a host, and nothing a request line or JSON reader could trip on */
    if (p[skip] == '/') {
        return 0;
    }

    for (i = 0; i < url->len; i++) {
        if ((unsigned char) p[i] <= 0x20 || (unsigned char) p[i] >= 0x7f) {
            return 0;
        }
    }

    return 1;
}


static int
omni_render_id_valid(const omni_text_t *id, int digits)
{
    size_t  i;
    int     c;

    if (id->data == NULL || id->len == 0 || id->len > OMNI_RENDER_ID_MAX) {
        return 0;
    }

    /* ids of all four channels are ASCII letters and digits */
    for (i = 0; i < id->len; i++) {
        c = (unsigned char) id->data[i];

        if (c >= '0' && c <= '9') {
            continue;
        }

        if (digits || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                        || c == '_' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static int
omni_render_has_link(const omni_text_t *text)
{
    size_t       i;
    const char  *p;

    p = text->data;

    for (i = 0; i + 7 <= text->len; i++) {
        if (strncmp(p + i, "http://", 7) == 0
            || (i + 8 <= text->len && strncmp(p + i, "https://", 8) == 0))
        {
            return 1;
        }
    }

    return 0;
}

