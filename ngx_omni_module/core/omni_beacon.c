
/*
 * Beacon rows for COPY.  Every text column is made valid UTF-8 (invalid
 * bytes become U+FFFD), loses NUL bytes (PostgreSQL text can't hold
 * them) and is escaped for COPY's text format; a long URL is cut at a
 * character boundary rather than refused, since a beacon never fails.
 */

#include <stdio.h>
#include <string.h>

#include "omni_beacon.h"


static size_t omni_utf8_char(const unsigned char *p, size_t len);
static int omni_copy_text(char **pp, char *end, omni_text_t *t,
    size_t max);
static int omni_copy_int(char **pp, char *end, int64_t v);
static int omni_ident_valid(const char *p, size_t len, size_t min,
    size_t max, const char *extra);


int
omni_beacon_key_valid(const char *p, size_t len)
{
    return omni_ident_valid(p, len, 4, 64, "_-");
}


size_t
omni_beacon_row(const omni_beacon_t *b, char *out, size_t size)
{
    char         *p, *end;
    omni_text_t   props, none;

    if (!omni_beacon_key_valid(b->key.data, b->key.len)
        || !omni_ident_valid(b->ev.data, b->ev.len, 1, 64, "_.:-")
        || !omni_ident_valid(b->vid.data, b->vid.len, 1, 64, "_-"))
    {
        return 0;
    }

    props = b->props;

    if (props.data == NULL || props.len == 0) {
        props.data = "{}";
        props.len = 2;
    }

    none.data = NULL;
    none.len = 0;

    p = out;
    end = out + size;

#define OMNI_COL(expr)                                                       \
    if ((expr) != 0 || p >= end) {                                           \
        return 0;                                                            \
    }                                                                        \
    *p++ = '\t';

    OMNI_COL(omni_copy_int(&p, end, b->received_ms))
    OMNI_COL(omni_copy_text(&p, end, (omni_text_t *) &b->key, 64))
    OMNI_COL(omni_copy_text(&p, end, (omni_text_t *) &b->ev, 64))
    OMNI_COL(omni_copy_text(&p, end, (omni_text_t *) &b->vid, 64))
    OMNI_COL(omni_copy_text(&p, end, (omni_text_t *) &b->url,
                            OMNI_BEACON_URL_MAX))
    OMNI_COL(omni_copy_text(&p, end, (omni_text_t *) &b->ref,
                            OMNI_BEACON_URL_MAX))
    OMNI_COL(b->client_ms >= 0 ? omni_copy_int(&p, end, b->client_ms)
                               : omni_copy_text(&p, end, &none, 0))
    OMNI_COL(omni_copy_text(&p, end, (omni_text_t *) &b->ph, 64))
    OMNI_COL(omni_copy_text(&p, end, (omni_text_t *) &b->em, 254))
    OMNI_COL(omni_copy_text(&p, end, &props, OMNI_BEACON_ROW_MAX))
    OMNI_COL(omni_copy_text(&p, end, (omni_text_t *) &b->ip, 64))

#undef OMNI_COL

    if (omni_copy_text(&p, end, (omni_text_t *) &b->ua, 512) != 0
        || p >= end)
    {
        return 0;
    }

    *p++ = '\n';

    return (size_t) (p - out);
}


int
omni_beacon_props_add(char *buf, size_t size, size_t *used, const char *key,
    size_t keylen, const char *val, size_t vallen)
{
    size_t                i, n, k;
    const char           *s;
    const unsigned char  *u;
    char                 *p, *end;
    int                   pass;

    p = buf + *used;
    end = buf + size;

    if (p + 1 >= end) {
        return -1;
    }

    *p++ = (*used == 0) ? '{' : ',';

    for (pass = 0; pass < 2; pass++) {
        s = pass ? val : key;
        n = pass ? vallen : keylen;

        if (p + 1 >= end) {
            return -1;
        }

        *p++ = '"';

        for (i = 0; i < n; /* void */) {
            u = (const unsigned char *) s + i;

            if (end - p < 8) {
                return -1;
            }

            if (*u == '"' || *u == '\\') {
                *p++ = '\\';
                *p++ = (char) *u;
                i++;
                continue;
            }

            if (*u < 0x20) {
                p += sprintf(p, "\\u%04x", *u);
                i++;
                continue;
            }

            k = omni_utf8_char(u, n - i);

            if (k == 0) {
                memcpy(p, "\xef\xbf\xbd", 3);
                p += 3;
                i++;
                continue;
            }

            memcpy(p, u, k);
            p += k;
            i += k;
        }

        if (p + 2 >= end) {
            return -1;
        }

        *p++ = '"';

        if (pass == 0) {
            *p++ = ':';
        }
    }

    *used = (size_t) (p - buf);

    return 0;
}


int
omni_beacon_props_close(char *buf, size_t size, size_t *used)
{
    if (*used == 0) {
        if (size < 3) {
            return -1;
        }

        memcpy(buf, "{}", 3);
        *used = 2;
        return 0;
    }

    if (*used + 2 > size) {
        return -1;
    }

    buf[(*used)++] = '}';
    buf[*used] = '\0';

    return 0;
}


/* length of the valid UTF-8 character at p, 0 if p starts none */
static size_t
omni_utf8_char(const unsigned char *p, size_t len)
{
    size_t    n, i;
    uint32_t  c;

    if (p[0] < 0x80) {
        return 1;
    }

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        c = p[0] & 0x1f;

    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        c = p[0] & 0x0f;

    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        c = p[0] & 0x07;

    } else {
        return 0;
    }

    if (len < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        c = (c << 6) | (p[i] & 0x3f);
    }

    /* overlong forms, surrogates, beyond U+10FFFF */
    if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff))
        || (c >= 0xd800 && c <= 0xdfff))
    {
        return 0;
    }

    return n;
}


/* one COPY text column: \N when absent, else escaped, cut at max bytes */
static int
omni_copy_text(char **pp, char *end, omni_text_t *t, size_t max)
{
    char                 *p;
    size_t                i, k, taken;
    const unsigned char  *u;

    p = *pp;

    if (t->data == NULL) {
        if (end - p < 2) {
            return -1;
        }

        *p++ = '\\';
        *p++ = 'N';
        *pp = p;
        return 0;
    }

    taken = 0;

    for (i = 0; i < t->len; /* void */) {
        u = (const unsigned char *) t->data + i;

        if (end - p < 4) {
            return -1;
        }

        if (*u == '\0') {
            i++;
            continue;
        }

        k = omni_utf8_char(u, t->len - i);

        if (taken + (k ? k : 3) > max) {
            break;
        }

        if (k == 0) {
            memcpy(p, "\xef\xbf\xbd", 3);
            p += 3;
            taken += 3;
            i++;
            continue;
        }

        if (k == 1) {
            switch (*u) {
            case '\\':
                *p++ = '\\';
                *p++ = '\\';
                break;
            case '\t':
                *p++ = '\\';
                *p++ = 't';
                break;
            case '\n':
                *p++ = '\\';
                *p++ = 'n';
                break;
            case '\r':
                *p++ = '\\';
                *p++ = 'r';
                break;
            default:
                *p++ = (char) *u;
            }

        } else {
            memcpy(p, u, k);
            p += k;
        }

        taken += k;
        i += k;
    }

    *pp = p;

    return 0;
}


static int
omni_copy_int(char **pp, char *end, int64_t v)
{
    int  n;

    n = snprintf(*pp, (size_t) (end - *pp), "%lld", (long long) v);

    if (n < 0 || n >= end - *pp) {
        return -1;
    }

    *pp += n;

    return 0;
}


static int
omni_ident_valid(const char *p, size_t len, size_t min, size_t max,
    const char *extra)
{
    size_t  i;

    if (p == NULL || len < min || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')
              || (p[i] >= '0' && p[i] <= '9')
              || (p[i] != '\0' && strchr(extra, p[i]) != NULL)))
        {
            return 0;
        }
    }

    return 1;
}
