
/*
 * The customer-service window: WhatsApp, Messenger and Instagram take a
 * free-form message from a business only within 24 hours of the
 * customer's last message to it; LINE has no such rule.  Pure C, no
 * allocation.
 */

#ifndef _OMNI_WINDOW_H_INCLUDED_
#define _OMNI_WINDOW_H_INCLUDED_


#include <stdint.h>

#include "omni_model.h"


/* 24 h in milliseconds */
#define OMNI_WINDOW_24H_MS  (24LL * 60 * 60 * 1000)


typedef struct {
    int          open;
    const char  *rule;          /* the channel's rule, for window_closed */
    int64_t      closes_at_ms;  /* -1: never closes, or never opened */
} omni_window_t;


/*
 * last_inbound_ms < 0: the customer never wrote on this channel.  Fills
 * *w and returns w->open; an unknown channel is closed (rule "unknown").
 */
int omni_window_check(omni_channel_e channel, int64_t last_inbound_ms,
    int64_t now_ms, omni_window_t *w);


#endif /* _OMNI_WINDOW_H_INCLUDED_ */
