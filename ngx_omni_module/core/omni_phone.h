
/*
 * Phone numbers as shoppers type them, for the Pixel's phone capture:
 * mobiles of Singapore, Malaysia, Indonesia, Hong Kong and Macau become
 * WhatsApp ids (E.164 digits); everything else is told apart so that it
 * is kept as a phone attribute only.  Pure C: no allocation, no I/O.
 */

#ifndef _OMNI_PHONE_H_INCLUDED_
#define _OMNI_PHONE_H_INCLUDED_


#include <stddef.h>


typedef enum {
    OMNI_PHONE_INVALID = 0,     /* not a number we can read at all */
    OMNI_PHONE_OTHER,           /* E.164-looking, but another country, or
                                   a length its region does not use */
    OMNI_PHONE_FIXED,           /* a supported region, not a mobile range */
    OMNI_PHONE_MOBILE           /* a mobile of SG, MY, ID, HK or MO */
} omni_phone_kind_e;


typedef struct {
    omni_phone_kind_e  kind;
    char               region[3];    /* "SG", "MY", "ID", "HK", "MO" or "" */
    char               e164[16];     /* digits, country code first, no '+';
                                        "" when INVALID */
} omni_phone_t;


/*
 * in/len: raw input (any bytes, not NUL-terminated).  default_region: the
 * tenant's ISO code for numbers typed without a country code (NULL or an
 * unsupported region: such numbers are INVALID).  Always fills *out.
 */
int omni_phone_parse(const char *in, size_t len, const char *default_region,
    omni_phone_t *out);

const char *omni_phone_kind_name(omni_phone_kind_e kind);


#endif /* _OMNI_PHONE_H_INCLUDED_ */
