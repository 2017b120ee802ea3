
/*
 * The channels' answers to a send.  Graph (WhatsApp, Messenger,
 * Instagram) answers errors as {"error": {"code", "message",
 * "error_subcode", "is_transient", "error_data": {"details"}}}, LINE as
 * {"message", "details": [...]}.  Which codes are worth another try is
 * Meta's error-code reference for the Cloud API and the Graph API; every
 * 5xx and 429 is, for every channel.
 */

#include <stdio.h>
#include <string.h>

#include "omni_deliver.h"


typedef struct {
    long long   code;
    int         hold;      /* the sending account waits */
} omni_deliver_code_t;


/* Graph codes that a later try can get past */
static const omni_deliver_code_t  omni_deliver_transient[] = {
    { 1, 0 },              /* API Unknown: temporary */
    { 2, 0 },              /* API Service: temporary downtime */
    { 4, 1 },              /* API Too Many Calls (the app) */
    { 17, 1 },             /* API User Too Many Calls */
    { 32, 1 },             /* Page request limit */
    { 341, 1 },            /* Application limit reached */
    { 613, 1 },            /* Calls to this API exceeded the rate limit */
    { 1200, 0 },           /* Messenger: temporary send failure */
    { 80007, 1 },          /* WhatsApp Business Account rate limit */
    { 130429, 1 },         /* Cloud API throughput reached */
    { 131000, 0 },         /* Something went wrong */
    { 131016, 0 },         /* Service unavailable */
    { 131056, 0 },         /* pair rate limit: this recipient only */
    { 133004, 0 },         /* server temporarily unavailable */
};


static int omni_deliver_fill_id(omni_channel_e channel, json_t *root,
    omni_deliver_t *out);
static json_t *omni_deliver_channel_error(omni_channel_e channel,
    unsigned status, json_t *root, long long *code, int *transient);


int
omni_deliver_judge(omni_channel_e channel, unsigned status,
    const char *body, size_t len, int accepted_before, omni_deliver_t *out)
{
    int           transient;
    size_t        i;
    json_t       *root;
    long long     code;

    memset(out, 0, sizeof(omni_deliver_t));

    root = (body && len) ? json_loadb(body, len, 0, NULL) : NULL;

    if ((status >= 200 && status < 300) || accepted_before) {
        out->verdict = OMNI_DELIVER_SENT;
        omni_deliver_fill_id(channel, root, out);
        json_decref(root);
        return out->verdict;
    }

    code = -1;
    transient = 0;

    out->error = omni_deliver_channel_error(channel, status, root, &code,
                                            &transient);
    json_decref(root);

    if (out->error == NULL) {
        return -1;
    }

    out->verdict = OMNI_DELIVER_FAILED;

    if (status == 429 || status >= 500 || status == 408 || transient) {
        out->verdict = OMNI_DELIVER_RETRY;
        out->hold = status == 429;
    }

    if (channel != OMNI_CHANNEL_LINE && code >= 0) {
        for (i = 0; i < sizeof(omni_deliver_transient)
                        / sizeof(omni_deliver_transient[0]); i++)
        {
            if (omni_deliver_transient[i].code == code) {
                out->verdict = OMNI_DELIVER_RETRY;
                out->hold = omni_deliver_transient[i].hold;
                break;
            }
        }
    }

    return out->verdict;
}


json_t *
omni_deliver_error(const char *code, const char *title)
{
    return json_pack("{s:s, s:s}", "code", code, "title", title);
}


int64_t
omni_deliver_backoff(unsigned attempts, uint32_t r)
{
    int64_t  cap;

    cap = OMNI_DELIVER_BACKOFF_MIN_MS;

    while (attempts > 1 && cap < OMNI_DELIVER_BACKOFF_MAX_MS) {
        cap *= 2;
        attempts--;
    }

    if (cap > OMNI_DELIVER_BACKOFF_MAX_MS) {
        cap = OMNI_DELIVER_BACKOFF_MAX_MS;
    }

    return (int64_t) (r % (uint32_t) (cap + 1));
}


/* WhatsApp messages[0].id, Messenger/Instagram message_id, LINE
 * sentMessages[0].id (a number or a string) */
static int
omni_deliver_fill_id(omni_channel_e channel, json_t *root,
    omni_deliver_t *out)
{
    json_t      *id;
    const char  *s;

    switch (channel) {

    case OMNI_CHANNEL_WHATSAPP:
        id = json_object_get(json_array_get(json_object_get(root,
                                                            "messages"), 0),
                             "id");
        break;

    case OMNI_CHANNEL_LINE:
        id = json_object_get(json_array_get(json_object_get(root,
                                                            "sentMessages"),
                                            0),
                             "id");
        break;

    default:
        id = json_object_get(root, "message_id");
        break;
    }

    if (json_is_integer(id)) {
        snprintf(out->message_id, sizeof(out->message_id), "%lld",
                 (long long) json_integer_value(id));
        return 0;
    }

    s = json_string_value(id);

    if (s == NULL || strlen(s) >= sizeof(out->message_id)) {
        return 0;
    }

    memcpy(out->message_id, s, strlen(s) + 1);

    return 0;
}


/*
 * {"code", "title"}: Graph's error.code and message (error_data.details
 * when WhatsApp gives it); LINE's HTTP status and message; without a
 * channel error in the body, the HTTP status and a sentence.
 */
static json_t *
omni_deliver_channel_error(omni_channel_e channel, unsigned status,
    json_t *root, long long *code, int *transient)
{
    char         fallback[64];
    json_t      *e, *c, *t;
    const char  *title;

    e = json_object_get(root, "error");
    c = json_object_get(e, "code");

    if (channel != OMNI_CHANNEL_LINE && json_is_integer(c)) {
        *code = (long long) json_integer_value(c);
        *transient = json_is_true(json_object_get(e, "is_transient"));

        title = json_string_value(json_object_get(json_object_get(e,
                                                  "error_data"), "details"));
        if (title == NULL) {
            title = json_string_value(json_object_get(e, "message"));
        }

        return json_pack("{s:I, s:s}", "code", (json_int_t) *code,
                         "title", title ? title : "");
    }

    t = json_object_get(root, "message");

    if (channel == OMNI_CHANNEL_LINE && json_is_string(t)) {
        return json_pack("{s:I, s:s}", "code", (json_int_t) status,
                         "title", json_string_value(t));
    }

    snprintf(fallback, sizeof(fallback), "The channel answered HTTP %u",
             status);

    return json_pack("{s:I, s:s}", "code", (json_int_t) status,
                     "title", fallback);
}
