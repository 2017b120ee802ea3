
/*
 * Table-driven phone classification.  The ranges are those of
 * libphonenumber's PhoneNumberMetadata.xml (v8.13), rewritten as prefix
 * tables: a national number is mobile when its length is one the region's
 * mobiles use and one of the region's mobile prefixes starts it.
 */

#include <string.h>

#include "omni_phone.h"


#define OMNI_PHONE_MAX_DIGITS  20


typedef struct {
    const char   *prefix;        /* of the national number */
    unsigned      min_len;       /* national digits, both inclusive */
    unsigned      max_len;
} omni_phone_range_t;


typedef struct {
    const char                *region;
    const char                *cc;
    int                        trunk_zero;    /* national form starts "0" */
    unsigned                   min_len;       /* any valid national number */
    unsigned                   max_len;
    const omni_phone_range_t  *mobile;
} omni_phone_region_t;


/* Singapore: 8 digits; mobiles 8 and 9 (but 99x, the emergency block) */
static const omni_phone_range_t  omni_phone_sg_mobile[] = {
    { "8", 8, 8 }, { "90", 8, 8 }, { "91", 8, 8 }, { "92", 8, 8 },
    { "93", 8, 8 }, { "94", 8, 8 }, { "95", 8, 8 }, { "96", 8, 8 },
    { "97", 8, 8 }, { "98", 8, 8 },
    { NULL, 0, 0 }
};

/* Malaysia: mobiles 1x, 9 digits, 11x and 15x also 10 (not 1300/1700/1800) */
static const omni_phone_range_t  omni_phone_my_mobile[] = {
    { "10", 9, 9 }, { "11", 10, 10 }, { "12", 9, 9 }, { "13", 9, 9 },
    { "14", 9, 9 }, { "15", 9, 10 }, { "16", 9, 9 }, { "17", 9, 9 },
    { "18", 9, 9 }, { "19", 9, 9 },
    { NULL, 0, 0 }
};

/* Indonesia: mobiles 8[1-9], 9 to 12 digits */
static const omni_phone_range_t  omni_phone_id_mobile[] = {
    { "81", 9, 12 }, { "82", 9, 12 }, { "83", 9, 12 }, { "85", 9, 12 },
    { "87", 9, 12 }, { "88", 9, 12 }, { "89", 9, 12 },
    { NULL, 0, 0 }
};

/* Hong Kong: 8 digits; 5, 6, 9 and parts of 4, 7, 8 are mobile */
static const omni_phone_range_t  omni_phone_hk_mobile[] = {
    { "5", 8, 8 }, { "6", 8, 8 }, { "90", 8, 8 }, { "91", 8, 8 },
    { "92", 8, 8 }, { "93", 8, 8 }, { "94", 8, 8 }, { "95", 8, 8 },
    { "96", 8, 8 }, { "97", 8, 8 }, { "98", 8, 8 },
    { "46", 8, 8 }, { "47", 8, 8 }, { "70", 8, 8 }, { "73", 8, 8 },
    { "74", 8, 8 }, { "76", 8, 8 }, { "77", 8, 8 }, { "84", 8, 8 },
    { "85", 8, 8 }, { "86", 8, 8 }, { "87", 8, 8 }, { "89", 8, 8 },
    { NULL, 0, 0 }
};

/* Macau: 8 digits; mobiles 6[2-8] */
static const omni_phone_range_t  omni_phone_mo_mobile[] = {
    { "62", 8, 8 }, { "63", 8, 8 }, { "64", 8, 8 }, { "65", 8, 8 },
    { "66", 8, 8 }, { "67", 8, 8 }, { "68", 8, 8 },
    { NULL, 0, 0 }
};


/* longer country codes first: "852" must not be read as "85" + "2..." */
static const omni_phone_region_t  omni_phone_regions[] = {
    { "HK", "852", 0, 8, 8, omni_phone_hk_mobile },
    { "MO", "853", 0, 8, 8, omni_phone_mo_mobile },
    { "SG", "65", 0, 8, 8, omni_phone_sg_mobile },
    { "MY", "60", 1, 8, 10, omni_phone_my_mobile },
    { "ID", "62", 1, 7, 12, omni_phone_id_mobile },
    { NULL, NULL, 0, 0, 0, NULL }
};


static size_t omni_phone_digits(const unsigned char *p, size_t len,
    char *digits, int *plus);
static void omni_phone_classify(const omni_phone_region_t *r,
    const char *national, size_t len, omni_phone_t *out);
static int omni_phone_national_fits(const omni_phone_region_t *r,
    const char *national, size_t len);
static const omni_phone_region_t *omni_phone_region(const char *code);
static void omni_phone_other(const char *digits, size_t n,
    omni_phone_t *out);


int
omni_phone_parse(const char *in, size_t len, const char *default_region,
    omni_phone_t *out)
{
    int                         plus;
    char                        digits[OMNI_PHONE_MAX_DIGITS + 1];
    size_t                      n, cclen;
    const char                 *d;
    const omni_phone_region_t  *r;

    memset(out, 0, sizeof(omni_phone_t));

    if (in == NULL) {
        return 0;
    }

    n = omni_phone_digits((const unsigned char *) in, len, digits, &plus);

    if (n == 0) {
        return 0;
    }

    d = digits;

    if (!plus && n > 2 && d[0] == '0' && d[1] == '0') {
        /* "00" is the international prefix of all five regions */
        plus = 1;
        d += 2;
        n -= 2;
    }

    if (plus) {
        for (r = omni_phone_regions; r->region; r++) {
            cclen = strlen(r->cc);

            if (n > cclen && memcmp(d, r->cc, cclen) == 0) {
                d += cclen;
                n -= cclen;

                /* "+60 012..." keeps the trunk zero by habit */
                if (r->trunk_zero && n > 0 && d[0] == '0') {
                    d++;
                    n--;
                }

                omni_phone_classify(r, d, n, out);
                return 0;
            }
        }

        omni_phone_other(d, n, out);
        return 0;
    }

    r = omni_phone_region(default_region);

    if (r == NULL) {
        return 0;
    }

    if (r->trunk_zero && d[0] == '0') {
        omni_phone_classify(r, d + 1, n - 1, out);
        return 0;
    }

    /* "6581234567" typed without '+': the country code is in the digits */
    cclen = strlen(r->cc);

    if (n > cclen && memcmp(d, r->cc, cclen) == 0
        && !omni_phone_national_fits(r, d, n)
        && omni_phone_national_fits(r, d + cclen, n - cclen))
    {
        omni_phone_classify(r, d + cclen, n - cclen, out);
        return 0;
    }

    omni_phone_classify(r, d, n, out);

    return 0;
}


const char *
omni_phone_kind_name(omni_phone_kind_e kind)
{
    switch (kind) {
    case OMNI_PHONE_MOBILE:
        return "mobile";
    case OMNI_PHONE_FIXED:
        return "fixed";
    case OMNI_PHONE_OTHER:
        return "other";
    default:
        return "invalid";
    }
}


/*
 * Collects the digits, skipping the separators people type (spaces,
 * dashes, dots, parentheses, slashes, no-break spaces); full-width digits
 * count as digits.  Anything else, a '+' not in front, or too many
 * digits: nothing (0).
 */
static size_t
omni_phone_digits(const unsigned char *p, size_t len, char *digits,
    int *plus)
{
    size_t               n;
    const unsigned char *end;

    n = 0;
    *plus = 0;
    end = p + len;

    while (p < end) {
        if (*p >= '0' && *p <= '9') {
            if (n == OMNI_PHONE_MAX_DIGITS) {
                return 0;
            }

            digits[n++] = (char) *p++;
            continue;
        }

        /* U+FF10..U+FF19, full-width digits: EF BC 90..99 */
        if (end - p >= 3 && p[0] == 0xef && p[1] == 0xbc
            && p[2] >= 0x90 && p[2] <= 0x99)
        {
            if (n == OMNI_PHONE_MAX_DIGITS) {
                return 0;
            }

            digits[n++] = (char) ('0' + (p[2] - 0x90));
            p += 3;
            continue;
        }

        if (*p == '+' || (end - p >= 3 && p[0] == 0xef && p[1] == 0xbc
                          && p[2] == 0x8b))
        {
            if (n != 0 || *plus) {
                return 0;
            }

            *plus = 1;
            p += (*p == '+') ? 1 : 3;
            continue;
        }

        if (*p == ' ' || *p == '-' || *p == '.' || *p == '(' || *p == ')'
            || *p == '/' || *p == '\t')
        {
            p++;
            continue;
        }

        if (end - p >= 2 && p[0] == 0xc2 && p[1] == 0xa0) {
            p += 2;
            continue;
        }

        return 0;
    }

    digits[n] = '\0';

    return n;
}


static void
omni_phone_classify(const omni_phone_region_t *r, const char *national,
    size_t len, omni_phone_t *out)
{
    size_t                     cclen, plen;
    const omni_phone_range_t  *m;

    cclen = strlen(r->cc);

    if (len < r->min_len || len > r->max_len) {
        /* a number, but not one this region gives out */
        char  digits[OMNI_PHONE_MAX_DIGITS + 4];

        /* too short to be anyone's subscriber number */
        if (len < 6 || cclen + len > OMNI_PHONE_MAX_DIGITS) {
            return;
        }

        memcpy(digits, r->cc, cclen);
        memcpy(digits + cclen, national, len);
        omni_phone_other(digits, cclen + len, out);
        return;
    }

    if (cclen + len > 15) {
        return;
    }

    memcpy(out->e164, r->cc, cclen);
    memcpy(out->e164 + cclen, national, len);
    out->e164[cclen + len] = '\0';
    memcpy(out->region, r->region, 3);
    out->kind = OMNI_PHONE_FIXED;

    for (m = r->mobile; m->prefix; m++) {
        plen = strlen(m->prefix);

        if (len >= m->min_len && len <= m->max_len
            && memcmp(national, m->prefix, plen) == 0)
        {
            out->kind = OMNI_PHONE_MOBILE;
            return;
        }
    }
}


static int
omni_phone_national_fits(const omni_phone_region_t *r, const char *national,
    size_t len)
{
    (void) national;

    return len >= r->min_len && len <= r->max_len;
}


static const omni_phone_region_t *
omni_phone_region(const char *code)
{
    const omni_phone_region_t  *r;

    if (code == NULL) {
        return NULL;
    }

    for (r = omni_phone_regions; r->region; r++) {
        if (strncmp(r->region, code, 3) == 0) {
            return r;
        }
    }

    return NULL;
}


/* E.164 allows 15 digits; fewer than 7 is no one's phone number */
static void
omni_phone_other(const char *digits, size_t n, omni_phone_t *out)
{
    if (n < 7 || n > 15 || digits[0] == '0') {
        return;
    }

    memcpy(out->e164, digits, n);
    out->e164[n] = '\0';
    out->kind = OMNI_PHONE_OTHER;
}
