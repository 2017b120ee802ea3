
/*
 * One inbound webhook body -> a flat list of normalized events.
 *
 *   whatsapp   {"object":"whatsapp_business_account","entry":[{"changes":
 *              [{"field":"messages","value":{"contacts","messages",
 *              "statuses","errors"}}]}]}
 *   messenger  {"object":"page","entry":[{"messaging":[..]}]}
 *   instagram  {"object":"instagram","entry":[{"messaging":[..]}]}
 *   line       {"destination","events":[..]}
 *
 * Every event is a JSON object (docs/channels-core.md has them all):
 *
 *   {"kind":"message","message_id","sender","profile_name","ts_ms",
 *    "type":"text"|"image"|"video"|"audio"|"file"|"sticker"|"location"
 *           |"button"|"postback"|"other",
 *    "text","media":{"id","url","mime","filename"},
 *    "location":{"latitude","longitude","name","address"},
 *    "reply":{"payload","title"},"sticker":{"id","package_id"},
 *    "account","redelivery","raw"}
 *   {"kind":"status","message_id","status":"sent"|"delivered"|"read"
 *           |"failed","recipient","ts_ms","watermark_ms",
 *    "error":{"code","title"},"account","raw"}
 *   {"kind":"unknown","event_key","type","reason","sender","ts_ms",
 *    "account","redelivery","raw"}
 *
 * "raw" is the channel's own JSON of that one event, for storage.  An
 * event that is not what its channel documents (a wrong type, a missing
 * id, a string over its limit) becomes "unknown" with reason
 * "malformed": it is kept, never a reason to refuse the whole body, since
 * a refused webhook comes back again and again.  Pure C over jansson.
 */

#ifndef _OMNI_HOOK_PARSE_H_INCLUDED_
#define _OMNI_HOOK_PARSE_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>

#include "omni_json_shape.h"
#include "omni_model.h"


#define OMNI_HOOK_BODY_MAX    (4 * 1024 * 1024)   /* bytes */
#define OMNI_HOOK_EVENTS_MAX  1000                /* per body */
#define OMNI_HOOK_ID_MAX      256                 /* ids, bytes */
#define OMNI_HOOK_TEXT_MAX    32768               /* texts, payloads */
#define OMNI_HOOK_SHORT_MAX   1024                /* names, titles, mimes */
#define OMNI_HOOK_URL_MAX     4096


/*
 * body, len: the raw body (not NUL-terminated), its signature already
 * checked.  Returns a new JSON array of events that the caller
 * json_decref()s, or NULL with *err filled: 413 body_too_large,
 * too_many_events; 400 invalid_json (also invalid UTF-8 and \u0000),
 * invalid_body, wrong_channel (another channel's payload);
 * 500 out_of_memory.
 */
json_t *omni_hook_parse(omni_channel_e channel, const char *body,
    size_t len, omni_json_error_t *err);


#endif /* _OMNI_HOOK_PARSE_H_INCLUDED_ */
