
/*
 * A bot module -> the channel's native interactive messages, as requests
 * of the same form as omni_render_items(): a new array of
 * {"method","path","auth","body"}, in sending order.
 *
 *   whatsapp   interactive "button" (reply buttons), "list", "cta_url";
 *              an image carousel as one message per card (see below)
 *   messenger  button and generic templates, quick_replies
 *   instagram  generic template, quick_replies
 *   line       buttons template, flex carousel, quickReply
 *
 * WhatsApp's own media carousel exists only inside approved templates,
 * which a free-form send cannot use: a carousel goes out as one message
 * per card, in order: an interactive message with the card's image as
 * its header and its buttons, or an image with a caption when the card
 * has none.
 */

#ifndef _OMNI_BOT_RENDER_H_INCLUDED_
#define _OMNI_BOT_RENDER_H_INCLUDED_


#include <jansson.h>

#include "omni_bot.h"
#include "omni_render.h"


/*
 * content as stored, its images resolved: image_media_id replaced by
 * image_url by the caller.  Checked again (omni_bot_parse, then the
 * channel's omni_bot_limits): NULL with *err filled when refused.
 */
json_t *omni_bot_render(omni_channel_e channel, const omni_render_to_t *to,
    omni_bot_type_e type, json_t *content, omni_json_error_t *err);


#endif /* _OMNI_BOT_RENDER_H_INCLUDED_ */
