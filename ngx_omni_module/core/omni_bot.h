
/*
 * Bot modules (SPEC §2, §7): each type's content, read from the API's
 * JSON into one model, checked against the content's own caps and
 * against the limits of each channel the module claims.  Who may manage
 * bot modules.  Pure C over jansson; the model points into the JSON it
 * was read from, which must outlive it.
 */

#ifndef _OMNI_BOT_H_INCLUDED_
#define _OMNI_BOT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "omni_beacon.h"
#include "omni_json_shape.h"
#include "omni_model.h"


/* the content's own caps, whatever the channels (characters) */
#define OMNI_BOT_TEXT_MAX          5000
#define OMNI_BOT_TITLE_MAX         80
#define OMNI_BOT_CODE_MAX          40
#define OMNI_BOT_PAYLOAD_MAX       1000
#define OMNI_BOT_URL_MAX           1000     /* bytes: LINE's uri action */
#define OMNI_BOT_BUTTONS_MAX       4
#define OMNI_BOT_REPLIES_MAX       13
#define OMNI_BOT_CARDS_MAX         12
#define OMNI_BOT_CARD_BUTTONS_MAX  3
#define OMNI_BOT_ASSIGN_MAX        3


typedef enum {
    OMNI_BOT_NONE = 0,
    OMNI_BOT_TEXT_BUTTONS,
    OMNI_BOT_IMAGE_CAROUSEL,
    OMNI_BOT_QUICK_REPLIES,
    OMNI_BOT_CART_REMARKETING,
    OMNI_BOT_COUPON_CARD,
    OMNI_BOT_WA_KEYWORD_AUTO_ASSIGN,
    OMNI_BOT_N
} omni_bot_type_e;


typedef enum {
    OMNI_BOT_READ = 0,
    OMNI_BOT_WRITE,            /* create, edit */
    OMNI_BOT_DELETE
} omni_bot_action_e;


typedef struct {
    unsigned     url:1;         /* a link, else a postback */
    omni_text_t  title;
    omni_text_t  value;         /* the postback's payload, or the URL */
    int64_t      member_id;     /* wa_keyword_auto_assign: who gets it */
} omni_bot_button_t;


typedef struct {
    omni_text_t        title;
    omni_text_t        subtitle;
    omni_text_t        image_url;
    int64_t            image_media_id;     /* 0: none */
    size_t             nbuttons;
    omni_bot_button_t  buttons[OMNI_BOT_CARD_BUTTONS_MAX];
} omni_bot_card_t;


typedef struct {
    omni_bot_type_e    type;
    omni_text_t        text;        /* coupon_card: its description */
    omni_text_t        title;       /* coupon_card */
    omni_text_t        code;        /* coupon_card */
    omni_text_t        list_title;  /* quick_replies as a WhatsApp list */
    omni_text_t        alt_text;    /* LINE's altText, when given */
    omni_text_t        image_url;   /* coupon_card */
    int64_t            image_media_id;
    size_t             nbuttons;    /* text_buttons; cart and coupon: 1 */
    omni_bot_button_t  buttons[OMNI_BOT_BUTTONS_MAX];
    size_t             nreplies;    /* quick_replies */
    omni_bot_button_t  replies[OMNI_BOT_REPLIES_MAX];
    size_t             ncards;      /* image_carousel */
    omni_bot_card_t    cards[OMNI_BOT_CARDS_MAX];
} omni_bot_t;


/* "text_buttons", ... -> type; OMNI_BOT_NONE else */
omni_bot_type_e omni_bot_type_parse(const char *name, size_t len);
const char *omni_bot_type_name(omni_bot_type_e type);

/* 0 for cart_remarketing, coupon_card, wa_keyword_auto_assign (SPEC §2) */
int omni_bot_saved_reply_ok(omni_bot_type_e type);

/*
 * Bot modules are shared building blocks of a tenant: every member reads
 * them; the roles that may create bot saved replies (SPEC §2: admin,
 * supervisor, cs_manager, marketer, marketing_cs) create and edit every
 * module; of them, the marketer never deletes, as with saved replies.
 */
int omni_bot_may(omni_role_e role, omni_bot_action_e action);

/*
 * content (a JSON object) as the type's model.  resolved: images must be
 * URLs (image_media_id not resolved: 422 media_unresolved), as for a
 * render; else either form is taken.  Returns 0, or -1 with *err filled
 * (422 invalid_content naming the field, 400 invalid_type).
 */
int omni_bot_parse(omni_bot_type_e type, json_t *content, int resolved,
    omni_bot_t *bot, omni_json_error_t *err);

/*
 * The channel's own limits: 0, or -1 with *err filled: 422 channel_limit
 * naming the channel and the limit ("whatsapp allows at most 3 reply
 * buttons ..."), 422 channel_not_supported (wa_keyword_auto_assign off
 * WhatsApp), 400 unsupported_channel.
 */
int omni_bot_limits(omni_channel_e channel, const omni_bot_t *bot,
    omni_json_error_t *err);

/*
 * A module as the API takes it: type name, channels (a JSON array of
 * channel names, non-empty, no repeats) and content, each checked, the
 * content against every channel claimed.  Returns 0, or -1 with *err.
 */
int omni_bot_check(const char *type, size_t type_len, json_t *channels,
    json_t *content, omni_json_error_t *err);

/* characters (code points) of UTF-8 text; (size_t) -1 if not UTF-8/NUL */
size_t omni_bot_chars(const omni_text_t *text);


#endif /* _OMNI_BOT_H_INCLUDED_ */
