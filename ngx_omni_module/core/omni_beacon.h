
/*
 * One Pixel beacon -> one ring row:
 *
 *   KEY \t C \t {"t":MS,"ev":"..","vid":"..",["url":"..",.."props":{..},..]} \n
 *
 * C is 'c' when the event carries a phone or email to capture, else '-'.
 * The JSON line is stored as it is and read back as jsonb, so it must be
 * acceptable whatever a browser (or anyone) sent: one bad line would fail
 * its whole batch.  Pure C, no allocation.
 */

#ifndef _OMNI_BEACON_H_INCLUDED_
#define _OMNI_BEACON_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define OMNI_BEACON_ROW_MAX    8192
#define OMNI_BEACON_URL_MAX    2048
#define OMNI_BEACON_PROPS_MAX  50

/* 9999-12-31T23:59:59.999Z, the last millisecond PostgreSQL can show */
#define OMNI_BEACON_TS_MAX     253402300799999LL


typedef struct {
    const char  *data;          /* NULL: absent */
    size_t       len;
} omni_text_t;


typedef struct {
    int64_t      received_ms;
    int64_t      client_ms;     /* < 0 or > OMNI_BEACON_TS_MAX: absent */
    omni_text_t  key;
    omni_text_t  ev;
    omni_text_t  vid;
    omni_text_t  url;
    omni_text_t  ref;
    omni_text_t  ph;
    omni_text_t  em;
    omni_text_t  props;         /* JSON object text; absent or {}: left out */
    omni_text_t  ip;
    omni_text_t  ua;
} omni_beacon_t;


/* the length of the valid UTF-8 character at p, 0 if p starts none */
size_t omni_utf8_char(const unsigned char *p, size_t len);

/* the key in a beacon's path: [A-Za-z0-9_-]{4,64} */
int omni_beacon_key_valid(const char *p, size_t len);

/*
 * Writes the row (key, capture flag, JSON line, '\n') into out; returns
 * its length, or 0 when the beacon is rejected (bad key, ev or vid, or a
 * row over size).
 */
size_t omni_beacon_row(const omni_beacon_t *b, char *out, size_t size);

/*
 * Appends "KEY":"VALUE" (JSON-escaped, invalid UTF-8 replaced) to a JSON
 * object being built in buf[0..*used); call with *used == 0 first and
 * omni_beacon_props_close() last.  Returns -1 when it does not fit.
 */
int omni_beacon_props_add(char *buf, size_t size, size_t *used,
    const char *key, size_t keylen, const char *val, size_t vallen);
int omni_beacon_props_close(char *buf, size_t size, size_t *used);

/*
 * Reads a GIF beacon's query, all of it, into b's ev, vid, url, ref, ts,
 * ph, em and props (p.NAME=VALUE).  Names and values are percent-decoded
 * into buf, which needs len bytes (decoding never grows); the properties
 * become a JSON object in props (OMNI_BEACON_ROW_MAX bytes is enough: a
 * row could not hold more).  Returns 0, or -1 when the beacon can't be
 * stored whole: more than OMNI_BEACON_PROPS_MAX properties, or more than
 * props holds.  b's other fields are left as they are.
 */
int omni_beacon_query(omni_beacon_t *b, const char *q, size_t len,
    char *buf, char *props, size_t size);

/*
 * Drops, in place, every object member whose name holds a \u0000 from
 * JSON text, with its value; returns the new length.  jansson refuses
 * such a name (and jsonb any NUL), which would cost a whole POST batch
 * rather than that member.
 */
size_t omni_beacon_json_drop_nul_names(char *text, size_t len);


#endif /* _OMNI_BEACON_H_INCLUDED_ */
