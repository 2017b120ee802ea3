
/*
 * Outbound message items -> each channel's own send-API request:
 *
 *   whatsapp   POST /{phone_number_id}/messages   (Cloud API)
 *   messenger  POST /me/messages                  (Send API, page token)
 *   instagram  POST /{ig_user_id}/messages        (Instagram messaging)
 *   line       POST /v2/bot/message/push          (Messaging API)
 *
 * The path is relative to the channel type's API base, an operator
 * setting; every request carries "Authorization: Bearer <credential>"
 * where the credential is the channel's field named by auth.  Pure C over
 * jansson: the body is a new jansson object the caller json_decref()s.
 */

#ifndef _OMNI_RENDER_H_INCLUDED_
#define _OMNI_RENDER_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>

#include "omni_beacon.h"
#include "omni_json_shape.h"
#include "omni_model.h"


#define OMNI_RENDER_PATH_MAX   64
#define OMNI_RENDER_ID_MAX     64     /* recipient and account ids, bytes */
#define OMNI_RENDER_URL_MAX    2000   /* LINE's limit, the lowest */
#define OMNI_RENDER_NAME_MAX   240    /* a file's name, bytes */
#define OMNI_RENDER_ITEMS_MAX  10


typedef enum {
    OMNI_ITEM_NONE = 0,
    OMNI_ITEM_TEXT,
    OMNI_ITEM_IMAGE,
    OMNI_ITEM_VIDEO,
    OMNI_ITEM_FILE
} omni_item_e;


typedef struct {
    omni_item_e  type;
    omni_text_t  text;          /* text: UTF-8 */
    omni_text_t  url;           /* media: an http(s) URL the channel fetches */
    omni_text_t  filename;      /* file: the name the customer sees */
    omni_text_t  preview_url;   /* LINE: image (else url) and video preview */
} omni_render_item_t;


typedef struct {
    omni_text_t  to;            /* wa_id, PSID, IGSID or LINE userId */
    omni_text_t  account;       /* phone_number_id or ig_user_id: digits */
} omni_render_to_t;


typedef struct {
    char         path[OMNI_RENDER_PATH_MAX];    /* NUL-terminated */
    const char  *auth;          /* credential name, e.g. "access_token" */
    json_t      *body;          /* new reference: the caller frees it */
} omni_render_t;


/*
 * One item -> one request in *out.  Returns 0, or -1 with *err filled
 * (422 text_too_long, empty_text, file_not_supported, preview_required,
 * invalid_media_url, invalid_recipient, invalid_account; 400 invalid_text,
 * unsupported_item, unsupported_channel); out->body is NULL then.
 */
int omni_render_item(omni_channel_e channel, const omni_render_to_t *to,
    const omni_render_item_t *item, omni_render_t *out,
    omni_json_error_t *err);

/*
 * The "items" of an API body, media already resolved to a URL:
 * [{"type":"text","text"} | {"type":"image"|"video"|"file","url",
 * "filename","preview_url"}], at most OMNI_RENDER_ITEMS_MAX, other
 * members ignored -> a new array of {"method","path","auth","body"}, one
 * per item, in order.  NULL with *err filled when any item is refused:
 * all are sent or none.
 */
json_t *omni_render_items(omni_channel_e channel, const omni_render_to_t *to,
    json_t *items, omni_json_error_t *err);

/*
 * The parts of a request every message shares, for other renderers
 * (omni_bot_render): omni_render_target() checks the recipient and the
 * account and fills out->path and out->auth (out->body NULL); returns 0,
 * or -1 with *err filled (invalid_recipient, invalid_account,
 * unsupported_channel).  omni_render_envelope() wraps one channel-native
 * message into the body: WhatsApp's object under "type": wa_type,
 * Messenger's and Instagram's "message", one of LINE's "messages".  It
 * takes message's reference, also on failure (NULL).
 */
int omni_render_target(omni_channel_e channel, const omni_render_to_t *to,
    omni_render_t *out, omni_json_error_t *err);
json_t *omni_render_envelope(omni_channel_e channel,
    const omni_render_to_t *to, const char *wa_type, json_t *message);

/* an http(s) URL a channel may fetch (https only when https) */
int omni_render_url_valid(const omni_text_t *url, int https);

/* "text", "image", "video", "file" -> type; OMNI_ITEM_NONE else */
omni_item_e omni_item_parse(const char *name, size_t len);

/* the most characters (code points) a text message may hold; 0: none */
size_t omni_render_text_max(omni_channel_e channel);


#endif /* _OMNI_RENDER_H_INCLUDED_ */
