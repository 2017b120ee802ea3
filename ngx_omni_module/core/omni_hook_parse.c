
/*
 * Webhook bodies of the four channels, walked with jansson.  The body as
 * a whole must be the channel's envelope (else the caller answers an
 * error); inside it, each event is taken as well as it can be, and what
 * cannot be taken is kept as "unknown" with its raw JSON.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "omni_beacon.h"
#include "omni_hook_parse.h"


typedef struct {
    omni_channel_e      channel;
    json_t             *events;
    const char         *account;    /* phone_number_id, page, IG, bot */
    omni_json_error_t  *err;
    int                 failed;     /* too many events, out of memory */
} omni_hook_t;


static int omni_hook_whatsapp(omni_hook_t *h, json_t *root);
static void omni_hook_wa_value(omni_hook_t *h, json_t *value);
static int omni_hook_wa_message(json_t *ev, json_t *m, json_t *contacts);
static int omni_hook_wa_status(json_t *ev, json_t *s);
static int omni_hook_meta(omni_hook_t *h, json_t *root);
static void omni_hook_meta_item(omni_hook_t *h, json_t *item);
static int omni_hook_meta_message(json_t *ev, json_t *m);
static int omni_hook_line(omni_hook_t *h, json_t *root);
static int omni_hook_line_event(json_t *ev, json_t *e);
static int omni_hook_line_message(json_t *ev, json_t *m);
static json_t *omni_hook_event(omni_hook_t *h, const char *kind);
static void omni_hook_add(omni_hook_t *h, json_t *ev, json_t *raw,
    const char *type, int rc);
static void omni_hook_unknown(omni_hook_t *h, json_t *raw,
    const char *type, const char *reason, json_t *sender, json_t *ts);
static void omni_hook_keep(omni_hook_t *h, json_t *raw, const char *type,
    const char *reason, json_t *sender, json_t *ts_ms);
static void omni_hook_append(omni_hook_t *h, json_t *ev, json_t *raw);
static int omni_hook_key(json_t *ev, const char *name, json_t *raw);
static int omni_hook_str(json_t *to, const char *name, json_t *from,
    const char *key, size_t max, int required);
static int omni_hook_num(json_t *to, const char *name, json_t *from,
    const char *key);
static int omni_hook_ts_ms(json_t *to, const char *name, json_t *v,
    int seconds);
static int omni_hook_sub(json_t *ev, const char *name, json_t *sub);
static json_t *omni_hook_fail(omni_hook_t *h, int status, const char *code,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;


static const char  *omni_hook_objects[OMNI_CHANNEL_N] = {
    NULL, "whatsapp_business_account", "page", "instagram", NULL
};


json_t *
omni_hook_parse(omni_channel_e channel, const char *body, size_t len,
    omni_json_error_t *err)
{
    int           rc;
    json_t       *root, *object;
    const char   *name;
    omni_hook_t   h;
    json_error_t  jerr;

    h.channel = channel;
    h.events = NULL;
    h.account = NULL;
    h.err = err;
    h.failed = 0;

    if (channel <= OMNI_CHANNEL_NONE || channel >= OMNI_CHANNEL_N) {
        return omni_hook_fail(&h, 400, "wrong_channel",
                              "The channel type takes no webhooks");
    }

    if (len > OMNI_HOOK_BODY_MAX) {
        return omni_hook_fail(&h, 413, "body_too_large",
                              "A webhook body holds at most %d bytes",
                              OMNI_HOOK_BODY_MAX);
    }

    root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                      &jerr);

    if (root == NULL) {
        /* jerr.text is about the channel's bytes: not echoed back */
        return omni_hook_fail(&h, 400, "invalid_json",
                              "The body is not valid JSON (line %d)",
                              jerr.line);
    }

    if (!json_is_object(root)) {
        json_decref(root);
        return omni_hook_fail(&h, 400, "invalid_body",
                              "The body must be a JSON object");
    }

    object = json_object_get(root, "object");
    name = json_string_value(object);

    if (channel == OMNI_CHANNEL_LINE ? object != NULL
        : (name == NULL || strcmp(name, omni_hook_objects[channel]) != 0))
    {
        json_decref(root);
        return omni_hook_fail(&h, 400, "wrong_channel",
                              "The body is not a %s webhook",
                              omni_channel_name(channel));
    }

    h.events = json_array();

    if (h.events == NULL) {
        json_decref(root);
        return omni_hook_fail(&h, 500, "out_of_memory", "Out of memory");
    }

    switch (channel) {
    case OMNI_CHANNEL_WHATSAPP:
        rc = omni_hook_whatsapp(&h, root);
        break;
    case OMNI_CHANNEL_LINE:
        rc = omni_hook_line(&h, root);
        break;
    default:
        rc = omni_hook_meta(&h, root);
        break;
    }

    /* the events hold their raw parts by reference */
    json_decref(root);

    if (rc != 0 || h.failed) {
        json_decref(h.events);
        return NULL;
    }

    return h.events;
}


static int
omni_hook_whatsapp(omni_hook_t *h, json_t *root)
{
    size_t       i, k;
    json_t      *entries, *entry, *changes, *change, *value;
    const char  *field;

    entries = json_object_get(root, "entry");

    if (!json_is_array(entries)) {
        omni_hook_fail(h, 400, "invalid_body", "\"entry\" must be an array");
        return -1;
    }

    json_array_foreach(entries, i, entry) {
        changes = json_object_get(entry, "changes");

        if (!json_is_array(changes)) {
            omni_hook_unknown(h, entry, "entry", "malformed", NULL, NULL);
            continue;
        }

        json_array_foreach(changes, k, change) {
            field = json_string_value(json_object_get(change, "field"));
            value = json_object_get(change, "value");

            /* other fields (account updates, templates) are kept as such */
            if (field == NULL || strcmp(field, "messages") != 0
                || !json_is_object(value))
            {
                omni_hook_unknown(h, change, field ? field : "change",
                                  field ? "unsupported" : "malformed",
                                  NULL, NULL);
                continue;
            }

            omni_hook_wa_value(h, value);
        }

        if (h->failed) {
            return -1;
        }
    }

    return 0;
}


static void
omni_hook_wa_value(omni_hook_t *h, json_t *value)
{
    int      rc, seen;
    size_t   i;
    json_t  *contacts, *list, *m, *ev;

    h->account = json_string_value(json_object_get(
                     json_object_get(value, "metadata"), "phone_number_id"));

    if (h->account && strlen(h->account) > OMNI_HOOK_ID_MAX) {
        h->account = NULL;
    }

    contacts = json_object_get(value, "contacts");
    seen = 0;

    list = json_object_get(value, "messages");

    if (json_is_array(list)) {
        seen = 1;

        json_array_foreach(list, i, m) {
            ev = omni_hook_event(h, "message");
            rc = ev ? omni_hook_wa_message(ev, m, contacts) : -1;
            omni_hook_add(h, ev, m, "message", rc);
        }
    }

    list = json_object_get(value, "statuses");

    if (json_is_array(list)) {
        seen = 1;

        json_array_foreach(list, i, m) {
            ev = omni_hook_event(h, "status");
            rc = ev ? omni_hook_wa_status(ev, m) : -1;
            omni_hook_add(h, ev, m, "status", rc);
        }
    }

    /* errors of the account, not of a message: kept for the operator */
    list = json_object_get(value, "errors");

    if (json_is_array(list)) {
        seen = 1;

        json_array_foreach(list, i, m) {
            omni_hook_unknown(h, m, "error", "channel_error", NULL, NULL);
        }
    }

    if (!seen) {
        omni_hook_unknown(h, value, "messages", "unsupported", NULL, NULL);
    }
}


static int
omni_hook_wa_message(json_t *ev, json_t *m, json_t *contacts)
{
    size_t       i;
    json_t      *c, *sub, *part;
    const char  *type, *from, *wa_id, *kind;

    if (!json_is_object(m)
        || omni_hook_str(ev, "message_id", m, "id", OMNI_HOOK_ID_MAX, 1)
        || omni_hook_str(ev, "sender", m, "from", OMNI_HOOK_ID_MAX, 1)
        || omni_hook_ts_ms(ev, "ts_ms", json_object_get(m, "timestamp"), 1))
    {
        return -1;
    }

    type = json_string_value(json_object_get(m, "type"));

    if (type == NULL) {
        return -1;
    }

    /* the sender's profile comes beside the messages, by wa_id */
    from = json_string_value(json_object_get(m, "from"));

    json_array_foreach(contacts, i, c) {
        wa_id = json_string_value(json_object_get(c, "wa_id"));

        if (wa_id != NULL && strcmp(wa_id, from) == 0) {
            if (omni_hook_str(ev, "profile_name",
                              json_object_get(c, "profile"), "name",
                              OMNI_HOOK_SHORT_MAX, 0))
            {
                return -1;
            }

            break;
        }
    }

    if (strcmp(type, "text") == 0) {
        json_object_set_new(ev, "type", json_string("text"));

        return omni_hook_str(ev, "text", json_object_get(m, "text"), "body",
                             OMNI_HOOK_TEXT_MAX, 1);
    }

    if (strcmp(type, "image") == 0 || strcmp(type, "video") == 0
        || strcmp(type, "audio") == 0 || strcmp(type, "document") == 0
        || strcmp(type, "sticker") == 0)
    {
        kind = strcmp(type, "document") == 0 ? "file" : type;
        json_object_set_new(ev, "type", json_string(kind));

        part = json_object_get(m, type);
        sub = json_object();

        if (!json_is_object(part)
            || omni_hook_str(sub, "id", part, "id", OMNI_HOOK_ID_MAX, 1)
            || omni_hook_str(sub, "url", part, "url", OMNI_HOOK_URL_MAX, 0)
            || omni_hook_str(sub, "mime", part, "mime_type",
                             OMNI_HOOK_SHORT_MAX, 0)
            || omni_hook_str(sub, "filename", part, "filename",
                             OMNI_HOOK_SHORT_MAX, 0)
            || omni_hook_str(ev, "text", part, "caption", OMNI_HOOK_TEXT_MAX,
                             0))
        {
            json_decref(sub);
            return -1;
        }

        return omni_hook_sub(ev, "media", sub);
    }

    if (strcmp(type, "location") == 0) {
        json_object_set_new(ev, "type", json_string("location"));

        part = json_object_get(m, "location");
        sub = json_object();

        if (!json_is_object(part)
            || omni_hook_num(sub, "latitude", part, "latitude")
            || omni_hook_num(sub, "longitude", part, "longitude")
            || omni_hook_str(sub, "name", part, "name", OMNI_HOOK_SHORT_MAX,
                             0)
            || omni_hook_str(sub, "address", part, "address",
                             OMNI_HOOK_SHORT_MAX, 0))
        {
            json_decref(sub);
            return -1;
        }

        return omni_hook_sub(ev, "location", sub);
    }

    /* a template's quick-reply button, or an interactive message's reply */
    if (strcmp(type, "button") == 0 || strcmp(type, "interactive") == 0) {
        json_object_set_new(ev, "type", json_string("button"));

        part = json_object_get(m, type);

        if (strcmp(type, "interactive") == 0) {
            kind = json_string_value(json_object_get(part, "type"));

            if (kind == NULL || (strcmp(kind, "button_reply") != 0
                                 && strcmp(kind, "list_reply") != 0))
            {
                json_object_set_new(ev, "type", json_string("other"));
                json_object_set_new(ev, "channel_type",
                                    json_string("interactive"));
                return 0;
            }

            part = json_object_get(part, kind);
        }

        sub = json_object();

        if (!json_is_object(part)
            || omni_hook_str(sub, "payload", part,
                             strcmp(type, "button") == 0 ? "payload" : "id",
                             OMNI_HOOK_TEXT_MAX, 0)
            || omni_hook_str(sub, "title", part,
                             strcmp(type, "button") == 0 ? "text" : "title",
                             OMNI_HOOK_SHORT_MAX, 0))
        {
            json_decref(sub);
            return -1;
        }

        return omni_hook_sub(ev, "reply", sub);
    }

    /* reactions, contacts, orders, "unsupported": the customer did write */
    json_object_set_new(ev, "type", json_string("other"));

    return omni_hook_str(ev, "channel_type", m, "type", OMNI_HOOK_SHORT_MAX,
                         1);
}


static int
omni_hook_wa_status(json_t *ev, json_t *s)
{
    size_t       i;
    json_t      *e, *sub;
    const char  *status;

    static const char  *known[] = { "sent", "delivered", "read", "failed" };

    if (!json_is_object(s)
        || omni_hook_str(ev, "message_id", s, "id", OMNI_HOOK_ID_MAX, 1)
        || omni_hook_str(ev, "recipient", s, "recipient_id",
                         OMNI_HOOK_ID_MAX, 0)
        || omni_hook_ts_ms(ev, "ts_ms", json_object_get(s, "timestamp"), 1))
    {
        return -1;
    }

    status = json_string_value(json_object_get(s, "status"));

    for (i = 0; status && i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(status, known[i]) == 0) {
            break;
        }
    }

    if (status == NULL || i == sizeof(known) / sizeof(known[0])) {
        /* "deleted", "warning": not a step of our outbound message */
        return 1;
    }

    json_object_set_new(ev, "status", json_string(known[i]));

    e = json_array_get(json_object_get(s, "errors"), 0);

    if (e == NULL) {
        return 0;
    }

    sub = json_object();

    if (!json_is_object(e) || !json_is_integer(json_object_get(e, "code"))
        || omni_hook_str(sub, "title", e, "title", OMNI_HOOK_SHORT_MAX, 0))
    {
        json_decref(sub);
        return -1;
    }

    json_object_set(sub, "code", json_object_get(e, "code"));

    if (json_object_get(sub, "title") == NULL
        && omni_hook_str(sub, "title", e, "message", OMNI_HOOK_SHORT_MAX, 0))
    {
        json_decref(sub);
        return -1;
    }

    return omni_hook_sub(ev, "error", sub);
}


static int
omni_hook_meta(omni_hook_t *h, json_t *root)
{
    size_t       i, k;
    json_t      *entries, *entry, *list, *item;
    const char  *field;

    static const char  *others[] = { "changes", "standby" };

    entries = json_object_get(root, "entry");

    if (!json_is_array(entries)) {
        omni_hook_fail(h, 400, "invalid_body", "\"entry\" must be an array");
        return -1;
    }

    json_array_foreach(entries, i, entry) {
        h->account = json_string_value(json_object_get(entry, "id"));

        if (h->account && strlen(h->account) > OMNI_HOOK_ID_MAX) {
            h->account = NULL;
        }

        list = json_object_get(entry, "messaging");

        if (json_is_array(list)) {
            json_array_foreach(list, k, item) {
                omni_hook_meta_item(h, item);
            }

        } else {
            /* comments, handover "standby": kept, not conversations */
            field = NULL;

            for (k = 0; k < sizeof(others) / sizeof(others[0]); k++) {
                if (json_is_array(json_object_get(entry, others[k]))) {
                    field = others[k];
                    break;
                }
            }

            if (field == NULL) {
                omni_hook_unknown(h, entry, "entry", "malformed", NULL, NULL);

            } else {
                json_array_foreach(json_object_get(entry, field), k, item) {
                    omni_hook_unknown(h, item, field, "unsupported", NULL,
                                      NULL);
                }
            }
        }

        if (h->failed) {
            return -1;
        }
    }

    return 0;
}


static void
omni_hook_meta_item(omni_hook_t *h, json_t *item)
{
    int          rc;
    size_t       i;
    json_t      *ev, *sender, *ts, *m, *mids, *mid;
    const char  *key;

    sender = json_object_get(json_object_get(item, "sender"), "id");
    ts = json_object_get(item, "timestamp");
    m = json_object_get(item, "message");

    if (json_is_object(m)) {
        if (json_is_true(json_object_get(m, "is_echo"))) {
            /* the page's own message: ours through the API, or the inbox */
            omni_hook_unknown(h, item, "echo", "echo", NULL, ts);
            return;
        }

        if (json_is_true(json_object_get(m, "is_deleted"))) {
            omni_hook_unknown(h, item, "message_deleted", "unsupported",
                              sender, ts);
            return;
        }

        ev = omni_hook_event(h, "message");
        rc = -1;

        if (ev != NULL
            && omni_hook_str(ev, "sender", json_object_get(item, "sender"),
                             "id", OMNI_HOOK_ID_MAX, 1) == 0
            && omni_hook_ts_ms(ev, "ts_ms", ts, 0) == 0)
        {
            rc = omni_hook_meta_message(ev, m);
        }

        omni_hook_add(h, ev, item, "message", rc);
        return;
    }

    m = json_object_get(item, "postback");

    if (json_is_object(m)) {
        ev = omni_hook_event(h, "message");
        rc = -1;

        if (ev != NULL
            && omni_hook_str(ev, "sender", json_object_get(item, "sender"),
                             "id", OMNI_HOOK_ID_MAX, 1) == 0
            && omni_hook_ts_ms(ev, "ts_ms", ts, 0) == 0
            && omni_hook_str(ev, "message_id", m, "mid", OMNI_HOOK_ID_MAX,
                             0) == 0)
        {
            json_object_set_new(ev, "type", json_string("postback"));
            json_object_set_new(ev, "reply", json_object());

            rc = omni_hook_str(json_object_get(ev, "reply"), "payload", m,
                               "payload", OMNI_HOOK_TEXT_MAX, 0)
                 || omni_hook_str(json_object_get(ev, "reply"), "title", m,
                                  "title", OMNI_HOOK_SHORT_MAX, 0)
                 ? -1 : 0;

            /* an older postback has no mid: its own content is its key */
            if (rc == 0 && json_object_get(ev, "message_id") == NULL) {
                rc = omni_hook_key(ev, "message_id", item);
            }
        }

        omni_hook_add(h, ev, item, "postback", rc);
        return;
    }

    /* a delivery names our messages; a read is all up to its watermark */
    key = json_is_object(json_object_get(item, "delivery")) ? "delivery"
          : json_is_object(json_object_get(item, "read")) ? "read" : NULL;

    if (key == NULL) {
        /* reactions, referrals, opt-ins, edits: the first key names it */
        omni_hook_unknown(h, item, NULL, "unsupported", sender, ts);
        return;
    }

    m = json_object_get(item, key);
    mids = json_object_get(m, "mids");

    if (!json_is_array(mids) || json_array_size(mids) == 0) {
        mids = NULL;
    }

    for (i = 0; i == 0 || (mids && i < json_array_size(mids)); i++) {
        ev = omni_hook_event(h, "status");
        rc = -1;

        mid = mids ? json_array_get(mids, i) : json_object_get(m, "mid");

        if (ev != NULL
            && omni_hook_str(ev, "recipient", json_object_get(item, "sender"),
                             "id", OMNI_HOOK_ID_MAX, 1) == 0
            && omni_hook_ts_ms(ev, "ts_ms", ts, 0) == 0
            && (json_object_get(m, "watermark") == NULL
                || omni_hook_ts_ms(ev, "watermark_ms",
                                   json_object_get(m, "watermark"), 0) == 0)
            && (mid == NULL || (json_is_string(mid)
                                && json_string_length(mid) > 0
                                && json_string_length(mid)
                                   <= OMNI_HOOK_ID_MAX)))
        {
            json_object_set_new(ev, "status",
                                json_string(key[0] == 'd' ? "delivered"
                                                          : "read"));

            if (mid != NULL) {
                json_object_set(ev, "message_id", mid);
                rc = 0;

            } else {
                /* without a watermark nor a mid it says nothing */
                rc = json_object_get(ev, "watermark_ms") ? 0 : -1;
            }
        }

        omni_hook_add(h, ev, item, key, rc);
    }
}


static int
omni_hook_meta_message(json_t *ev, json_t *m)
{
    json_t      *a, *payload, *sub, *c;
    const char  *type;

    if (omni_hook_str(ev, "message_id", m, "mid", OMNI_HOOK_ID_MAX, 1)
        || omni_hook_str(ev, "text", m, "text", OMNI_HOOK_TEXT_MAX, 0))
    {
        return -1;
    }

    if (json_is_object(json_object_get(m, "quick_reply"))) {
        json_object_set_new(ev, "type", json_string("button"));
        sub = json_object();

        if (omni_hook_str(sub, "payload", json_object_get(m, "quick_reply"),
                          "payload", OMNI_HOOK_TEXT_MAX, 0)
            || omni_hook_str(sub, "title", m, "text", OMNI_HOOK_SHORT_MAX, 0))
        {
            json_decref(sub);
            return -1;
        }

        return omni_hook_sub(ev, "reply", sub);
    }

    a = json_object_get(m, "attachments");

    if (a == NULL) {
        json_object_set_new(ev, "type", json_string(
                                json_object_get(ev, "text") ? "text"
                                                             : "other"));
        return 0;
    }

    /* several images come as one message: the first is the one named */
    if (!json_is_array(a) || json_array_size(a) == 0) {
        return -1;
    }

    if (json_array_size(a) > 1) {
        json_object_set_new(ev, "attachments",
                            json_integer((json_int_t) json_array_size(a)));
    }

    a = json_array_get(a, 0);
    type = json_string_value(json_object_get(a, "type"));
    payload = json_object_get(a, "payload");

    if (type == NULL) {
        return -1;
    }

    if (strcmp(type, "location") == 0) {
        json_object_set_new(ev, "type", json_string("location"));
        c = json_object_get(payload, "coordinates");
        sub = json_object();

        if (!json_is_object(c) || omni_hook_num(sub, "latitude", c, "lat")
            || omni_hook_num(sub, "longitude", c, "long")
            || omni_hook_str(sub, "name", a, "title", OMNI_HOOK_SHORT_MAX, 0))
        {
            json_decref(sub);
            return -1;
        }

        return omni_hook_sub(ev, "location", sub);
    }

    if (strcmp(type, "image") == 0 || strcmp(type, "video") == 0
        || strcmp(type, "audio") == 0 || strcmp(type, "file") == 0
        || strcmp(type, "sticker") == 0)
    {
        json_object_set_new(ev, "type", json_string(type));
        sub = json_object();

        if (!json_is_object(payload)
            || omni_hook_str(sub, "url", payload, "url", OMNI_HOOK_URL_MAX, 0))
        {
            json_decref(sub);
            return -1;
        }

        if (json_is_integer(json_object_get(payload, "sticker_id"))) {
            json_object_set_new(ev, "type", json_string("sticker"));
            json_object_set_new(ev, "sticker", json_pack("{s:O}", "id",
                                json_object_get(payload, "sticker_id")));
        }

        return omni_hook_sub(ev, "media", sub);
    }

    /* fallback, template, share, story mention, reel */
    json_object_set_new(ev, "type", json_string("other"));

    return omni_hook_str(ev, "channel_type", a, "type", OMNI_HOOK_SHORT_MAX,
                         1);
}


static int
omni_hook_line(omni_hook_t *h, json_t *root)
{
    int          rc;
    size_t       i;
    json_t      *events, *e, *ev;
    const char  *type;

    events = json_object_get(root, "events");

    if (!json_is_array(events)) {
        omni_hook_fail(h, 400, "invalid_body", "\"events\" must be an array");
        return -1;
    }

    h->account = json_string_value(json_object_get(root, "destination"));

    if (h->account && strlen(h->account) > OMNI_HOOK_ID_MAX) {
        h->account = NULL;
    }

    json_array_foreach(events, i, e) {
        type = json_string_value(json_object_get(e, "type"));

        if (type == NULL
            || (strcmp(type, "message") != 0 && strcmp(type, "postback") != 0))
        {
            /* follow, unfollow, join, ...: who did it is worth keeping */
            omni_hook_unknown(h, e, type, type ? "unsupported" : "malformed",
                              json_object_get(json_object_get(e, "source"),
                                              "userId"),
                              json_object_get(e, "timestamp"));

        } else {
            ev = omni_hook_event(h, "message");
            rc = ev ? omni_hook_line_event(ev, e) : -1;
            omni_hook_add(h, ev, e, type, rc);
        }

        if (h->failed) {
            return -1;
        }
    }

    return 0;
}


static int
omni_hook_line_event(json_t *ev, json_t *e)
{
    json_t      *sub;
    const char  *type;

    /* a group member who has not agreed to share it has no userId */
    if (omni_hook_str(ev, "sender", json_object_get(e, "source"), "userId",
                      OMNI_HOOK_ID_MAX, 1)
        || omni_hook_ts_ms(ev, "ts_ms", json_object_get(e, "timestamp"), 0))
    {
        return -1;
    }

    type = json_string_value(json_object_get(e, "type"));

    if (strcmp(type, "message") == 0) {
        return omni_hook_line_message(ev, json_object_get(e, "message"));
    }

    /* a postback has no id of its own: the event's id is stable across
     * redeliveries */
    json_object_set_new(ev, "type", json_string("postback"));
    sub = json_object();

    if (omni_hook_str(ev, "message_id", e, "webhookEventId",
                      OMNI_HOOK_ID_MAX, 1)
        || omni_hook_str(sub, "payload", json_object_get(e, "postback"),
                         "data", OMNI_HOOK_TEXT_MAX, 1))
    {
        json_decref(sub);
        return -1;
    }

    return omni_hook_sub(ev, "reply", sub);
}


static int
omni_hook_line_message(json_t *ev, json_t *m)
{
    json_t      *sub, *cp;
    const char  *type, *provider;

    if (!json_is_object(m)
        || omni_hook_str(ev, "message_id", m, "id", OMNI_HOOK_ID_MAX, 1))
    {
        return -1;
    }

    type = json_string_value(json_object_get(m, "type"));

    if (type == NULL) {
        return -1;
    }

    if (strcmp(type, "text") == 0) {
        json_object_set_new(ev, "type", json_string("text"));
        return omni_hook_str(ev, "text", m, "text", OMNI_HOOK_TEXT_MAX, 1);
    }

    if (strcmp(type, "image") == 0 || strcmp(type, "video") == 0
        || strcmp(type, "audio") == 0 || strcmp(type, "file") == 0)
    {
        json_object_set_new(ev, "type", json_string(type));
        sub = json_object();

        /* content kept by LINE is fetched by the message id */
        cp = json_object_get(m, "contentProvider");
        provider = json_string_value(json_object_get(cp, "type"));

        if (provider != NULL && strcmp(provider, "external") == 0) {
            if (omni_hook_str(sub, "url", cp, "originalContentUrl",
                              OMNI_HOOK_URL_MAX, 1))
            {
                json_decref(sub);
                return -1;
            }

        } else {
            json_object_set(sub, "id", json_object_get(m, "id"));
        }

        if (omni_hook_str(sub, "filename", m, "fileName",
                          OMNI_HOOK_SHORT_MAX, 0))
        {
            json_decref(sub);
            return -1;
        }

        return omni_hook_sub(ev, "media", sub);
    }

    if (strcmp(type, "location") == 0) {
        json_object_set_new(ev, "type", json_string("location"));
        sub = json_object();

        if (omni_hook_num(sub, "latitude", m, "latitude")
            || omni_hook_num(sub, "longitude", m, "longitude")
            || omni_hook_str(sub, "name", m, "title", OMNI_HOOK_SHORT_MAX, 0)
            || omni_hook_str(sub, "address", m, "address",
                             OMNI_HOOK_SHORT_MAX, 0))
        {
            json_decref(sub);
            return -1;
        }

        return omni_hook_sub(ev, "location", sub);
    }

    if (strcmp(type, "sticker") == 0) {
        json_object_set_new(ev, "type", json_string("sticker"));
        sub = json_object();

        if (omni_hook_str(sub, "id", m, "stickerId", OMNI_HOOK_ID_MAX, 1)
            || omni_hook_str(sub, "package_id", m, "packageId",
                             OMNI_HOOK_ID_MAX, 1))
        {
            json_decref(sub);
            return -1;
        }

        return omni_hook_sub(ev, "sticker", sub);
    }

    json_object_set_new(ev, "type", json_string("other"));

    return omni_hook_str(ev, "channel_type", m, "type", OMNI_HOOK_SHORT_MAX,
                         1);
}


static json_t *
omni_hook_event(omni_hook_t *h, const char *kind)
{
    json_t  *ev;

    ev = json_pack("{s:s}", "kind", kind);

    if (ev != NULL && h->account != NULL) {
        json_object_set_new(ev, "account", json_string(h->account));
    }

    return ev;
}


/*
 * rc 0: ev is whole; 1: a well-formed event of a kind we do not take;
 * -1: not what the channel documents.  Either way the event is kept.
 */
static void
omni_hook_add(omni_hook_t *h, json_t *ev, json_t *raw, const char *type,
    int rc)
{
    if (ev == NULL) {
        omni_hook_fail(h, 500, "out_of_memory", "Out of memory");
        return;
    }

    if (rc == 0) {
        omni_hook_append(h, ev, raw);
        return;
    }

    /* what was taken before the fault is still good to know */
    omni_hook_keep(h, raw, type, rc > 0 ? "unsupported" : "malformed",
                   json_object_get(ev, "sender"),
                   json_object_get(ev, "ts_ms"));
    json_decref(ev);
}


static void
omni_hook_unknown(omni_hook_t *h, json_t *raw, const char *type,
    const char *reason, json_t *sender, json_t *ts)
{
    json_t  *t;

    t = json_object();

    if (t == NULL) {
        omni_hook_fail(h, 500, "out_of_memory", "Out of memory");
        return;
    }

    /* a timestamp that is no good is left out, not a reason to refuse */
    omni_hook_ts_ms(t, "ts_ms", ts, 0);

    omni_hook_keep(h, raw, type, reason, sender, json_object_get(t, "ts_ms"));
    json_decref(t);
}


static void
omni_hook_keep(omni_hook_t *h, json_t *raw, const char *type,
    const char *reason, json_t *sender, json_t *ts_ms)
{
    int          i;
    void        *it;
    json_t      *ev, *id;
    const char  *key;

    static const char  *envelope[] = { "sender", "recipient", "timestamp",
                                       NULL };

    ev = omni_hook_event(h, "unknown");

    if (ev == NULL) {
        omni_hook_fail(h, 500, "out_of_memory", "Out of memory");
        return;
    }

    /* a Meta messaging item is named by its one key beside the envelope */
    if (type == NULL && json_is_object(raw)) {
        for (it = json_object_iter(raw); it;
             it = json_object_iter_next(raw, it))
        {
            key = json_object_iter_key(it);

            for (i = 0; envelope[i]; i++) {
                if (strcmp(key, envelope[i]) == 0) {
                    break;
                }
            }

            if (envelope[i] == NULL && strlen(key) <= OMNI_HOOK_SHORT_MAX) {
                type = key;
                break;
            }
        }
    }

    json_object_set_new(ev, "type", json_string(type ? type : "unknown"));
    json_object_set_new(ev, "reason", json_string(reason));

    if (json_is_string(sender) && json_string_length(sender) > 0
        && json_string_length(sender) <= OMNI_HOOK_ID_MAX)
    {
        json_object_set(ev, "sender", sender);
    }

    if (ts_ms != NULL) {
        json_object_set(ev, "ts_ms", ts_ms);
    }

    /* LINE names every event; the others are named by their content */
    id = json_object_get(raw, "webhookEventId");

    if (json_is_string(id) && json_string_length(id) > 0
        && json_string_length(id) <= OMNI_HOOK_ID_MAX)
    {
        json_object_set(ev, "event_key", id);

    } else if (omni_hook_key(ev, "event_key", raw) != 0) {
        json_decref(ev);
        omni_hook_fail(h, 500, "out_of_memory", "Out of memory");
        return;
    }

    omni_hook_append(h, ev, raw);
}


static void
omni_hook_append(omni_hook_t *h, json_t *ev, json_t *raw)
{
    json_t  *v;

    if (h->failed) {
        json_decref(ev);
        return;
    }

    if (json_array_size(h->events) >= OMNI_HOOK_EVENTS_MAX) {
        json_decref(ev);
        omni_hook_fail(h, 413, "too_many_events",
                       "A webhook body holds at most %d events",
                       OMNI_HOOK_EVENTS_MAX);
        return;
    }

    v = json_object_get(json_object_get(raw, "deliveryContext"),
                        "isRedelivery");

    if (json_is_true(v)) {
        json_object_set_new(ev, "redelivery", json_true());
    }

    if (json_object_set(ev, "raw", raw) != 0
        || json_array_append_new(h->events, ev) != 0)
    {
        omni_hook_fail(h, 500, "out_of_memory", "Out of memory");
    }
}


/*
 * "h:" and the SHA-256 of the event's canonical JSON (keys sorted,
 * compact): the same event delivered twice gets the same key.
 */
static int
omni_hook_key(json_t *ev, const char *name, json_t *raw)
{
    char           key[2 + 2 * 32 + 1];
    char          *text;
    size_t         i;
    unsigned int   n;
    unsigned char  md[EVP_MAX_MD_SIZE];

    static const char  hex[] = "0123456789abcdef";

    text = json_dumps(raw, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

    if (text == NULL) {
        return -1;
    }

    n = 0;

    if (EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL) != 1
        || n != 32)
    {
        free(text);
        return -1;
    }

    free(text);

    key[0] = 'h';
    key[1] = ':';

    for (i = 0; i < 32; i++) {
        key[2 + 2 * i] = hex[md[i] >> 4];
        key[3 + 2 * i] = hex[md[i] & 0xf];
    }

    key[sizeof(key) - 1] = '\0';

    return json_object_set_new(ev, name, json_string(key));
}


/*
 * from[key] as to[name]: 0 when copied or absent and not required, -1
 * when absent and required, not a string, empty and required, or longer
 * than max bytes.
 */
static int
omni_hook_str(json_t *to, const char *name, json_t *from, const char *key,
    size_t max, int required)
{
    json_t  *v;
    size_t   len;

    v = json_object_get(from, key);

    if (v == NULL) {
        return required ? -1 : 0;
    }

    if (!json_is_string(v)) {
        return -1;
    }

    len = json_string_length(v);

    if (len > max || (required && len == 0)) {
        return -1;
    }

    return json_object_set(to, name, v);
}


static int
omni_hook_num(json_t *to, const char *name, json_t *from, const char *key)
{
    json_t  *v;

    v = json_object_get(from, key);

    if (!json_is_number(v)) {
        return -1;
    }

    return json_object_set_new(to, name, json_real(json_number_value(v)));
}


/*
 * A time as milliseconds since 1970: Meta and LINE send milliseconds as
 * numbers, WhatsApp seconds as a string of digits.
 */
static int
omni_hook_ts_ms(json_t *to, const char *name, json_t *v, int seconds)
{
    size_t       i, len;
    int64_t      ms;
    const char  *s;

    if (json_is_integer(v)) {
        ms = (int64_t) json_integer_value(v);

        if (seconds) {
            if (ms < 0 || ms > OMNI_BEACON_TS_MAX / 1000) {
                return -1;
            }

            ms *= 1000;
        }

    } else if (seconds && json_is_string(v)) {
        s = json_string_value(v);
        len = json_string_length(v);

        if (len == 0 || len > 12) {
            return -1;
        }

        ms = 0;

        for (i = 0; i < len; i++) {
            if (s[i] < '0' || s[i] > '9') {
                return -1;
            }

            ms = ms * 10 + (s[i] - '0');
        }

        if (ms > OMNI_BEACON_TS_MAX / 1000) {
            return -1;
        }

        ms *= 1000;

    } else {
        return -1;
    }

    if (ms <= 0 || ms > OMNI_BEACON_TS_MAX) {
        return -1;
    }

    return json_object_set_new(to, name, json_integer((json_int_t) ms));
}


static int
omni_hook_sub(json_t *ev, const char *name, json_t *sub)
{
    if (sub == NULL) {
        return -1;
    }

    if (json_object_size(sub) == 0) {
        json_decref(sub);
        return 0;
    }

    return json_object_set_new(ev, name, sub);
}


static json_t *
omni_hook_fail(omni_hook_t *h, int status, const char *code,
    const char *fmt, ...)
{
    va_list  ap;

    h->failed = 1;
    h->err->status = status;
    h->err->code = code;

    va_start(ap, fmt);
    vsnprintf(h->err->message, sizeof(h->err->message), fmt, ap);
    va_end(ap);

    return NULL;
}
