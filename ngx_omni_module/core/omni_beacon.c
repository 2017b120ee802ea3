
/*
 * Beacon rows for the ring: "KEY\tC\t{event JSON}\n".  Every string is
 * made valid UTF-8 (invalid bytes become U+FFFD), loses NUL bytes
 * (PostgreSQL's text and jsonb can't hold them) and is JSON-escaped, so
 * the line is a jsonb value whatever a browser (or anyone) sent; a long
 * URL is cut at a character boundary rather than refused, since a beacon
 * never fails.  Also the two readers of what a browser sends: a GIF
 * beacon's query, and the names in a POSTed batch that jansson can't hold.
 */

#include <stdio.h>
#include <string.h>

#include "omni_beacon.h"


static int omni_put(char **pp, char *end, const char *s, size_t len);
static int omni_put_int(char **pp, char *end, int64_t v);
static int omni_json_text(char **pp, char *end, const char *s, size_t n,
    size_t max);
static int omni_put_field(char **pp, char *end, const char *name,
    const omni_text_t *t, size_t max);
static int omni_put_props(char **pp, char *end, const omni_text_t *t);
static int omni_ident_valid(const char *p, size_t len, size_t min,
    size_t max, unsigned char class);
static omni_text_t *omni_query_field(omni_beacon_t *b, const char *name,
    size_t len);
static size_t omni_pct_decode(char *dst, const char *src, size_t len);
static int omni_hex(char c);
static int64_t omni_query_ms(const char *p, size_t len);
static int omni_json_has_nul(const char *s, size_t len);
static size_t omni_json_string_end(const char *s, size_t len, size_t i,
    int *nul);
static size_t omni_json_value_end(const char *s, size_t len, size_t i);
static size_t omni_json_skip_ws(const char *s, size_t len, size_t i);


/* jansson's own limit of nesting; deeper text it refuses anyway */
#define OMNI_JSON_DEPTH_MAX  2048


int
omni_beacon_key_valid(const char *p, size_t len)
{
    return omni_ident_valid(p, len, 4, 64, 2);
}


size_t
omni_beacon_row(const omni_beacon_t *b, char *out, size_t size)
{
    int           capture;
    char         *p, *end;
    int64_t       client_ms;
    omni_text_t   props;

    if (!omni_beacon_key_valid(b->key.data, b->key.len)
        || !omni_ident_valid(b->ev.data, b->ev.len, 1, 64, 4)
        || !omni_ident_valid(b->vid.data, b->vid.len, 1, 64, 2))
    {
        return 0;
    }

    /* no props, or none in them: left out (read back as {}) */
    props = b->props;

    if (props.len == 2 && props.data[0] == '{' && props.data[1] == '}') {
        props.data = NULL;
    }

    /* a time PostgreSQL can't hold would fail its batch: dropped instead */
    client_ms = (b->client_ms >= 0 && b->client_ms <= OMNI_BEACON_TS_MAX)
                ? b->client_ms : -1;

    capture = (b->ph.data && b->ph.len) || (b->em.data && b->em.len);

    p = out;
    end = out + size;

    /* the key and the capture flag, then the event: one JSON object */
    if ((size_t) (end - p) < b->key.len + 4) {
        return 0;
    }

    memcpy(p, b->key.data, b->key.len);
    p += b->key.len;
    *p++ = '\t';
    *p++ = capture ? 'c' : '-';
    *p++ = '\t';

#define OMNI_PUT(expr)                                                       \
    if ((expr) != 0) {                                                       \
        return 0;                                                            \
    }

    OMNI_PUT(omni_put(&p, end, "{\"t\":", 5))
    OMNI_PUT(omni_put_int(&p, end, b->received_ms))
    OMNI_PUT(omni_put(&p, end, ",\"ev\":\"", 7))
    OMNI_PUT(omni_put(&p, end, b->ev.data, b->ev.len))
    OMNI_PUT(omni_put(&p, end, "\",\"vid\":\"", 9))
    OMNI_PUT(omni_put(&p, end, b->vid.data, b->vid.len))
    OMNI_PUT(omni_put(&p, end, "\"", 1))
    OMNI_PUT(omni_put_field(&p, end, "url", &b->url, OMNI_BEACON_URL_MAX))
    OMNI_PUT(omni_put_field(&p, end, "ref", &b->ref, OMNI_BEACON_URL_MAX))

    if (client_ms >= 0) {
        OMNI_PUT(omni_put(&p, end, ",\"cts\":", 7))
        OMNI_PUT(omni_put_int(&p, end, client_ms))
    }

    OMNI_PUT(omni_put_field(&p, end, "ph", &b->ph, 64))
    OMNI_PUT(omni_put_field(&p, end, "em", &b->em, 254))
    if (props.data && props.len) {
        OMNI_PUT(omni_put(&p, end, ",\"props\":", 9))
        OMNI_PUT(omni_put_props(&p, end, &props))
    }

    OMNI_PUT(omni_put_field(&p, end, "ip", &b->ip, 64))
    OMNI_PUT(omni_put_field(&p, end, "ua", &b->ua, 512))
    OMNI_PUT(omni_put(&p, end, "}\n", 2))

#undef OMNI_PUT

    return (size_t) (p - out);
}


int
omni_beacon_props_add(char *buf, size_t size, size_t *used, const char *key,
    size_t keylen, const char *val, size_t vallen)
{
    char  *p, *end;

    p = buf + *used;
    end = buf + size;

    if (end - p < 8) {
        return -1;
    }

    *p++ = (*used == 0) ? '{' : ',';
    *p++ = '"';

    if (omni_json_text(&p, end, key, keylen, (size_t) -1) != 0
        || end - p < 4)
    {
        return -1;
    }

    *p++ = '"';
    *p++ = ':';
    *p++ = '"';

    if (omni_json_text(&p, end, val, vallen, (size_t) -1) != 0
        || end - p < 2)
    {
        return -1;
    }

    *p++ = '"';
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


/*
 * Every part of the query is read, however long: a field left unread
 * would be an event stored without it.  Percent-decoding is the URL
 * Standard's: "%" and two hex digits make a byte, any other "%" stays
 * as it is; "+" stays a plus (omni.js writes a space as %20, and a phone
 * typed as "+65 ..." in a hand-made beacon keeps its "+").
 */
int
omni_beacon_query(omni_beacon_t *b, const char *q, size_t len, char *buf,
    char *props, size_t size)
{
    char         *name, *val;
    size_t        i, end, eq, nlen, vlen, used, nprops;
    const char   *amp, *sep;
    omni_text_t  *field;

    used = 0;
    nprops = 0;

    for (i = 0; i < len; i = end + 1) {
        amp = memchr(q + i, '&', len - i);
        end = amp ? (size_t) (amp - q) : len;
        sep = memchr(q + i, '=', end - i);
        eq = sep ? (size_t) (sep - q) : end;

        if (eq == i) {
            continue;
        }

        name = buf;
        nlen = omni_pct_decode(name, q + i, eq - i);
        val = name + nlen;
        vlen = (eq < end) ? omni_pct_decode(val, q + eq + 1, end - eq - 1)
                          : 0;

        field = omni_query_field(b, name, nlen);

        if (field) {
            field->data = val;
            field->len = vlen;

            /* kept: the next part decodes after it */
            buf = val + vlen;
            continue;
        }

        if (nlen == 2 && name[0] == 't' && name[1] == 's') {
            b->client_ms = omni_query_ms(val, vlen);
            continue;
        }

        if (nlen <= 2 || name[0] != 'p' || name[1] != '.') {
            continue;
        }

        /* a NUL in a property's name costs that property, as in a POST */
        if (memchr(name + 2, '\0', nlen - 2) != NULL) {
            continue;
        }

        if (nprops == OMNI_BEACON_PROPS_MAX
            || omni_beacon_props_add(props, size, &used, name + 2, nlen - 2,
                                     val, vlen) != 0)
        {
            return -1;
        }

        nprops++;
    }

    if (nprops) {
        if (omni_beacon_props_close(props, size, &used) != 0) {
            return -1;
        }

        b->props.data = props;
        b->props.len = used;
    }

    return 0;
}


/*
 * A member is dropped only where it is one: a string after "{" or "," in
 * an object, then ":" and a value, then "," and a string or "}".  Its
 * comma goes with it (the one after it, or the one before it when it was
 * the last), so JSON stays JSON.  What isn't JSON around it is left for
 * the parser to refuse; inside the dropped value it is not looked at.
 */
size_t
omni_beacon_json_drop_nul_names(char *text, size_t len)
{
    int            nul, in_object;
    char           c, last;
    size_t         i, o, end, next, after, depth, comma;
    unsigned char  objects[OMNI_JSON_DEPTH_MAX / 8];

    /* nearly every body has no \u0000 at all */
    if (len == 0 || !omni_json_has_nul(text, len)) {
        return len;
    }

    i = 0;
    o = 0;
    depth = 0;
    comma = 0;
    last = '\0';

    while (i < len) {
        c = text[i];

        if (c == '"') {
            end = omni_json_string_end(text, len, i, &nul);

            if (end == 0) {
                break;
            }

            in_object = depth
                        && (objects[(depth - 1) / 8] & (1 << (depth - 1) % 8));

            if (nul && in_object && (last == '{' || last == ',')) {
                next = omni_json_skip_ws(text, len, end);
                next = (next < len && text[next] == ':')
                       ? omni_json_value_end(text, len,
                                     omni_json_skip_ws(text, len, next + 1))
                       : 0;

                if (next) {
                    next = omni_json_skip_ws(text, len, next);
                    after = (next < len)
                            ? omni_json_skip_ws(text, len, next + 1) : len;

                    if (next < len && text[next] == ','
                        && after < len && text[after] == '"')
                    {
                        /* the member and the comma after it */
                        i = next + 1;
                        continue;
                    }

                    if (next < len && text[next] == '}') {
                        /* the last member: the comma before it */
                        if (last == ',') {
                            o = comma;
                            last = '"';
                        }

                        i = next;
                        continue;
                    }
                }
            }

            memmove(text + o, text + i, end - i);
            o += end - i;
            i = end;
            last = '"';
            continue;
        }

        if (c == '{' || c == '[') {
            if (depth == OMNI_JSON_DEPTH_MAX) {
                break;
            }

            if (c == '{') {
                objects[depth / 8] |= (unsigned char) (1 << depth % 8);

            } else {
                objects[depth / 8] &= (unsigned char) ~(1 << depth % 8);
            }

            depth++;

        } else if ((c == '}' || c == ']') && depth) {
            depth--;
        }

        if (c == ',') {
            comma = o;
        }

        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            last = c;
        }

        text[o++] = c;
        i++;
    }

    /* the rest as it was: too deep, or not JSON */
    memmove(text + o, text + i, len - i);

    return o + (len - i);
}


size_t
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


static int
omni_put(char **pp, char *end, const char *s, size_t len)
{
    if ((size_t) (end - *pp) < len) {
        return -1;
    }

    memcpy(*pp, s, len);
    *pp += len;

    return 0;
}


static int
omni_put_int(char **pp, char *end, int64_t v)
{
    char      digits[20], *d;
    uint64_t  u;

    /* the hot path: no printf */
    u = v < 0 ? 0 - (uint64_t) v : (uint64_t) v;
    d = digits + sizeof(digits);

    do {
        *--d = (char) ('0' + u % 10);
        u /= 10;
    } while (u);

    if (end - *pp < (digits + sizeof(digits) - d) + (v < 0)) {
        return -1;
    }

    if (v < 0) {
        *(*pp)++ = '-';
    }

    memcpy(*pp, d, (size_t) (digits + sizeof(digits) - d));
    *pp += digits + sizeof(digits) - d;

    return 0;
}


/*
 * The inside of a JSON string: quotes, backslashes and control bytes
 * escaped, NUL dropped (PostgreSQL's text and jsonb can't hold it),
 * invalid UTF-8 replaced by U+FFFD; cut at max bytes on a character.
 */
static int
omni_json_text(char **pp, char *end, const char *s, size_t n, size_t max)
{
    char                 *p;
    size_t                i, k, taken;
    const unsigned char  *u;

    p = *pp;
    taken = 0;

    for (i = 0; i < n; /* void */) {
        u = (const unsigned char *) s + i;

        /* a run of plain ASCII goes at once */
        for (k = 0; i + k < n && k < max - taken && u[k] >= 0x20
                    && u[k] < 0x80 && u[k] != '"' && u[k] != '\\';
             k++)
        { /* void */ }

        if (k) {
            if ((size_t) (end - p) < k + 8) {
                return -1;
            }

            memcpy(p, u, k);
            p += k;
            taken += k;
            i += k;
            continue;
        }

        if (end - p < 8) {
            return -1;
        }

        if (*u == '\0') {
            i++;
            continue;
        }

        k = omni_utf8_char(u, n - i);

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

        if (*u == '"' || *u == '\\') {
            *p++ = '\\';
            *p++ = (char) *u;

        } else if (*u < 0x20) {
            p += sprintf(p, "\\u%04x", *u);

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


/* ,"name":"value" when the value is there */
static int
omni_put_field(char **pp, char *end, const char *name, const omni_text_t *t,
    size_t max)
{
    size_t  len;

    if (t->data == NULL) {
        return 0;
    }

    len = strlen(name);

    if ((size_t) (end - *pp) < len + 6) {
        return -1;
    }

    *(*pp)++ = ',';
    *(*pp)++ = '"';
    memcpy(*pp, name, len);
    *pp += len;
    *(*pp)++ = '"';
    *(*pp)++ = ':';
    *(*pp)++ = '"';

    if (omni_json_text(pp, end, t->data, t->len, max) != 0
        || *pp >= end)
    {
        return -1;
    }

    *(*pp)++ = '"';

    return 0;
}


/*
 * A props object as JSON text from props_add() or jansson: copied as it
 * is, but for \u0000 escapes (jsonb refuses them) and raw line breaks or
 * tabs (the ring's separators), which JSON allows only between tokens.
 */
static int
omni_put_props(char **pp, char *end, const omni_text_t *t)
{
    char        *p;
    size_t       i;
    const char  *s;

    p = *pp;
    s = t->data;

    if ((size_t) (end - p) < t->len) {
        return -1;
    }

    for (i = 0; i < t->len; i++) {
        if (s[i] == '\\' && i + 1 < t->len) {
            if (t->len - i >= 6 && memcmp(s + i + 1, "u0000", 5) == 0) {
                i += 5;
                continue;
            }

            *p++ = s[i++];
            *p++ = s[i];
            continue;
        }

        *p++ = (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') ? ' ' : s[i];
    }

    *pp = p;

    return 0;
}


/*
 * Identifier characters: bit 0 letters and digits, bit 1 also "_-" (keys,
 * visitor ids), bit 2 also "_.:-" (event names).
 */
static const unsigned char  omni_ident_class[256] = {
    ['0'] = 7, ['1'] = 7, ['2'] = 7, ['3'] = 7, ['4'] = 7, ['5'] = 7,
    ['6'] = 7, ['7'] = 7, ['8'] = 7, ['9'] = 7,
    ['A'] = 7, ['B'] = 7, ['C'] = 7, ['D'] = 7, ['E'] = 7, ['F'] = 7,
    ['G'] = 7, ['H'] = 7, ['I'] = 7, ['J'] = 7, ['K'] = 7, ['L'] = 7,
    ['M'] = 7, ['N'] = 7, ['O'] = 7, ['P'] = 7, ['Q'] = 7, ['R'] = 7,
    ['S'] = 7, ['T'] = 7, ['U'] = 7, ['V'] = 7, ['W'] = 7, ['X'] = 7,
    ['Y'] = 7, ['Z'] = 7,
    ['a'] = 7, ['b'] = 7, ['c'] = 7, ['d'] = 7, ['e'] = 7, ['f'] = 7,
    ['g'] = 7, ['h'] = 7, ['i'] = 7, ['j'] = 7, ['k'] = 7, ['l'] = 7,
    ['m'] = 7, ['n'] = 7, ['o'] = 7, ['p'] = 7, ['q'] = 7, ['r'] = 7,
    ['s'] = 7, ['t'] = 7, ['u'] = 7, ['v'] = 7, ['w'] = 7, ['x'] = 7,
    ['y'] = 7, ['z'] = 7,
    ['_'] = 6, ['-'] = 6, ['.'] = 4, [':'] = 4,
};


static int
omni_ident_valid(const char *p, size_t len, size_t min, size_t max,
    unsigned char class)
{
    size_t  i;

    if (p == NULL || len < min || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!(omni_ident_class[(unsigned char) p[i]] & class)) {
            return 0;
        }
    }

    return 1;
}


static omni_text_t *
omni_query_field(omni_beacon_t *b, const char *name, size_t len)
{
    if (len == 2) {
        if (name[0] == 'e' && name[1] == 'v') {
            return &b->ev;
        }

        if (name[0] == 'p' && name[1] == 'h') {
            return &b->ph;
        }

        if (name[0] == 'e' && name[1] == 'm') {
            return &b->em;
        }

    } else if (len == 3) {
        if (memcmp(name, "vid", 3) == 0) {
            return &b->vid;
        }

        if (memcmp(name, "url", 3) == 0) {
            return &b->url;
        }

        if (memcmp(name, "ref", 3) == 0) {
            return &b->ref;
        }
    }

    return NULL;
}


static size_t
omni_pct_decode(char *dst, const char *src, size_t len)
{
    int     hi, lo;
    char   *d;
    size_t  i;

    d = dst;

    for (i = 0; i < len; i++) {
        if (src[i] == '%' && len - i > 2
            && (hi = omni_hex(src[i + 1])) >= 0
            && (lo = omni_hex(src[i + 2])) >= 0)
        {
            *d++ = (char) (hi << 4 | lo);
            i += 2;
            continue;
        }

        *d++ = src[i];
    }

    return (size_t) (d - dst);
}


static int
omni_hex(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/* ms since the epoch in digits (omni.js's Date.now()); else absent */
static int64_t
omni_query_ms(const char *p, size_t len)
{
    size_t   i;
    int64_t  ms;

    if (len == 0) {
        return -1;
    }

    ms = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        ms = ms * 10 + (p[i] - '0');

        /* beyond it PostgreSQL can't hold it: absent, as in a POST */
        if (ms > OMNI_BEACON_TS_MAX) {
            return -1;
        }
    }

    return ms;
}


static int
omni_json_has_nul(const char *s, size_t len)
{
    const char  *p, *end;

    end = s + len;

    for (p = s; (p = memchr(p, '\\', end - p)) != NULL; p++) {
        if (end - p >= 6 && memcmp(p + 1, "u0000", 5) == 0) {
            return 1;
        }
    }

    return 0;
}


/* past the closing quote of the string at s[i], or 0 if it has none */
static size_t
omni_json_string_end(const char *s, size_t len, size_t i, int *nul)
{
    *nul = 0;

    for (i++; i < len; i++) {
        if (s[i] == '"') {
            return i + 1;
        }

        if (s[i] == '\\') {
            if (len - i >= 6 && memcmp(s + i + 1, "u0000", 5) == 0) {
                *nul = 1;
            }

            /* the escaped character; \uXXXX's digits are plain */
            i++;
        }
    }

    return 0;
}


/*
 * Past the JSON value at s[i] (brackets matched, strings skipped), or 0
 * when there is none.
 */
static size_t
omni_json_value_end(const char *s, size_t len, size_t i)
{
    int            nul;
    char           c;
    size_t         depth, start;
    unsigned char  objects[OMNI_JSON_DEPTH_MAX / 8];

    if (i >= len) {
        return 0;
    }

    if (s[i] == '"') {
        return omni_json_string_end(s, len, i, &nul);
    }

    if (s[i] != '{' && s[i] != '[') {
        /* a number, true, false or null: up to the next delimiter */
        for (start = i; i < len; i++) {
            c = s[i];

            if (c == ',' || c == '}' || c == ']' || c == ':' || c == ' '
                || c == '\t' || c == '\r' || c == '\n')
            {
                break;
            }
        }

        return i > start ? i : 0;
    }

    depth = 0;

    while (i < len) {
        c = s[i];

        if (c == '"') {
            i = omni_json_string_end(s, len, i, &nul);

            if (i == 0) {
                return 0;
            }

            continue;
        }

        if (c == '{' || c == '[') {
            if (depth == OMNI_JSON_DEPTH_MAX) {
                return 0;
            }

            if (c == '{') {
                objects[depth / 8] |= (unsigned char) (1 << depth % 8);

            } else {
                objects[depth / 8] &= (unsigned char) ~(1 << depth % 8);
            }

            depth++;

        } else if (c == '}' || c == ']') {
            if (depth == 0
                || (c == '}')
                   != !!(objects[(depth - 1) / 8] & (1 << (depth - 1) % 8)))
            {
                return 0;
            }

            if (--depth == 0) {
                return i + 1;
            }
        }

        i++;
    }

    return 0;
}


static size_t
omni_json_skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len
           && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
    {
        i++;
    }

    return i;
}
