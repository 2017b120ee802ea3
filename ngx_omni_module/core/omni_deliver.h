
/*
 * What a channel's answer to a send means for the outbox: sent (with the
 * channel's message id), try again (and whether the whole sending account
 * must wait: a rate limit), or failed for good (with the channel's error
 * code and title).  And the back-off between tries.  Pure C over jansson;
 * the tables are in docs/delivery.md.
 */

#ifndef _OMNI_DELIVER_H_INCLUDED_
#define _OMNI_DELIVER_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "omni_model.h"


/* back-off: 1 s doubling to 5 min, full jitter */
#define OMNI_DELIVER_BACKOFF_MIN_MS   1000
#define OMNI_DELIVER_BACKOFF_MAX_MS   300000

#define OMNI_DELIVER_ID_MAX           256


typedef enum {
    OMNI_DELIVER_SENT = 0,
    OMNI_DELIVER_RETRY,
    OMNI_DELIVER_FAILED
} omni_deliver_verdict_e;


typedef struct {
    omni_deliver_verdict_e  verdict;
    /* SENT: the channel's id of the message; "" when it gives none */
    char                    message_id[OMNI_DELIVER_ID_MAX];
    /* RETRY: a rate limit of the sending account, not of this message */
    int                     hold;
    /* RETRY, FAILED: {"code": the channel's code, "title": its words} */
    json_t                 *error;
} omni_deliver_t;


/*
 * An HTTP answer of the channel's send API: status and body.
 * accepted_before: LINE said this retry key was accepted already (409
 * with X-Line-Accepted-Request-Id), so the message went out earlier.
 * Fills *out (out->error is a new reference, or NULL) and returns its
 * verdict; -1 when out of memory.
 */
int omni_deliver_judge(omni_channel_e channel, unsigned status,
    const char *body, size_t len, int accepted_before, omni_deliver_t *out);

/*
 * No answer (a timeout, a cut, a refused certificate): an error object
 * {"code": code, "title": title}; NULL when out of memory.
 */
json_t *omni_deliver_error(const char *code, const char *title);

/*
 * The wait before try attempts + 1, in ms (attempts >= 1 made so far):
 * a random point (r, any value) in [0, min(MAX, MIN * 2^(attempts-1))],
 * "full jitter", so that hosts that failed together do not retry
 * together.
 */
int64_t omni_deliver_backoff(unsigned attempts, uint32_t r);


#endif /* _OMNI_DELIVER_H_INCLUDED_ */
