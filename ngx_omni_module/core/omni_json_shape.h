
/*
 * Request bodies checked against a declared shape before anything else
 * looks at them: the one place that says "unknown field", "must be a
 * string", "missing".  Pure C over jansson.
 */

#ifndef _OMNI_JSON_SHAPE_H_INCLUDED_
#define _OMNI_JSON_SHAPE_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>


typedef enum {
    OMNI_JT_STRING = 1,        /* non-empty, at most max UTF-8 bytes */
    OMNI_JT_ID,                /* positive integer */
    OMNI_JT_ID_ARRAY,          /* array of positive integers, at most max */
    OMNI_JT_ROLE,              /* one of the role names */
    OMNI_JT_OBJECT,
    OMNI_JT_ARRAY              /* non-empty array, at most max entries;
                                  the entries are the caller's to check */
} omni_json_type_e;


typedef struct {
    const char         *name;
    omni_json_type_e    type;
    int                 required;
    size_t              max;
} omni_json_field_t;


typedef struct {
    int                 status;          /* 400 or 422 */
    const char         *code;
    char                message[192];
} omni_json_error_t;


/* fills err (message printf-style, cut to fit) and returns -1 */
int omni_json_error(omni_json_error_t *err, int status, const char *code,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;


#define OMNI_JSON_CREATE   0
#define OMNI_JSON_UPDATE   1           /* nothing required, but not empty */


/*
 * fields ends with a { NULL } entry.  Returns 0 when body fits, -1 with
 * *err filled otherwise.
 */
int omni_json_shape_check(json_t *body, const omni_json_field_t *fields,
    int mode, omni_json_error_t *err);

/*
 * The length of the longest start of the UTF-8 text p (len bytes) that
 * holds at most max bytes and ends between two characters.
 */
size_t omni_utf8_cut(const char *p, size_t len, size_t max);

/*
 * Any bytes as text for an answer: at most max bytes into out, valid
 * UTF-8 that a strict decoder takes.  A byte that starts no valid
 * character becomes U+FFFD; a character cut short by the end of in, or
 * one that does not fit in max, is left out.  Returns the bytes written.
 */
size_t omni_utf8_clean(char *out, size_t max, const char *in, size_t len);


#endif /* _OMNI_JSON_SHAPE_H_INCLUDED_ */
