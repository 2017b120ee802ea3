
/*
 * The channels' own messaging windows, by the names their documentation
 * gives them, so a refused send can say which rule refused it.
 */

#include "omni_window.h"


static const struct {
    const char  *rule;
    int64_t      span_ms;       /* 0: no window; -1: never open */
} omni_windows[OMNI_CHANNEL_N] = {
    { "unknown",                          -1 },
    { "whatsapp_customer_service_24h",    OMNI_WINDOW_24H_MS },
    { "messenger_standard_messaging_24h", OMNI_WINDOW_24H_MS },
    { "instagram_standard_messaging_24h", OMNI_WINDOW_24H_MS },
    { "line_no_window",                   0 }
};


int
omni_window_check(omni_channel_e channel, int64_t last_inbound_ms,
    int64_t now_ms, omni_window_t *w)
{
    int64_t  span;

    if (channel <= OMNI_CHANNEL_NONE || channel >= OMNI_CHANNEL_N) {
        channel = OMNI_CHANNEL_NONE;
    }

    span = omni_windows[channel].span_ms;
    w->rule = omni_windows[channel].rule;
    w->closes_at_ms = -1;

    if (span == 0) {
        w->open = 1;
        return 1;
    }

    if (span < 0 || last_inbound_ms < 0) {
        w->open = 0;
        return 0;
    }

    /*
     * A last message "in the future" is another host's clock ahead of
     * ours: the customer did write, so the window counts from it.  The
     * window ends exactly 24 h after, as the channels count it.
     */
    w->closes_at_ms = last_inbound_ms + span;
    w->open = now_ms < w->closes_at_ms;

    return w->open;
}
