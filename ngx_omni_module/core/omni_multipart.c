
/*
 * The part of POST /media's multipart body that holds the file: a small
 * scanner over the body's head, never over the whole body.
 */

#include <string.h>
#include <strings.h>

#include "omni_multipart.h"


static const unsigned char *omni_mp_search(const unsigned char *p,
    const unsigned char *end, const char *s, size_t n);
static int omni_mp_param(const unsigned char *p, const unsigned char *end,
    const char *name, const unsigned char **v, size_t *vlen);


int
omni_multipart_boundary(const char *ctype, size_t len,
    const char **boundary, size_t *blen)
{
    const unsigned char  *p, *end, *v;
    size_t                n;

    static const char  mp[] = "multipart/form-data";

    if (len < sizeof(mp) - 1 || strncasecmp(ctype, mp, sizeof(mp) - 1) != 0)
    {
        return -1;
    }

    p = (const unsigned char *) ctype + sizeof(mp) - 1;
    end = (const unsigned char *) ctype + len;

    if (p < end && *p != ';' && *p != ' ') {
        return -1;
    }

    if (omni_mp_param(p, end, "boundary", &v, &n) != 0
        || n == 0 || n > OMNI_MULTIPART_BOUNDARY_MAX)
    {
        return -2;
    }

    *boundary = (const char *) v;
    *blen = n;

    return 0;
}


int
omni_multipart_find(const unsigned char *head, size_t len,
    const char *boundary, size_t blen, const char *field,
    size_t *start, char *filename, size_t fsize)
{
    size_t                n, flen;
    const unsigned char  *p, *end, *hdrs, *hend, *line, *eol, *v;

    end = head + len;
    flen = strlen(field);

    /* the first delimiter may open the body: no CRLF before it */
    p = head;

    for ( ;; ) {
        p = omni_mp_search(p, end, "--", 2);

        if (p == NULL || (size_t) (end - p) < 2 + blen) {
            return -1;
        }

        if (memcmp(p + 2, boundary, blen) != 0
            || (p != head && (p - head < 2 || p[-2] != '\r' || p[-1] != '\n')))
        {
            p += 2;
            continue;
        }

        p += 2 + blen;

        if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            return -1;                       /* the closing delimiter */
        }

        /* transport padding, then CRLF */
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            return -1;
        }

        hdrs = p + 2;
        hend = omni_mp_search(p, end, "\r\n\r\n", 4);

        if (hend == NULL) {
            return -1;
        }

        for (line = hdrs; line < hend + 2; line = eol + 2) {
            eol = omni_mp_search(line, hend + 2, "\r\n", 2);

            if (eol == NULL) {
                break;
            }

            if (eol - line < 20
                || strncasecmp((const char *) line, "content-disposition:",
                               20) != 0)
            {
                continue;
            }

            if (omni_mp_param(line + 20, eol, "name", &v, &n) != 0
                || n != flen || memcmp(v, field, flen) != 0)
            {
                break;
            }

            if (fsize) {
                filename[0] = '\0';

                if (omni_mp_param(line + 20, eol, "filename", &v, &n) == 0) {
                    n = n < fsize - 1 ? n : fsize - 1;
                    memcpy(filename, v, n);
                    filename[n] = '\0';
                }
            }

            *start = (size_t) (hend + 4 - head);
            return 0;
        }

        p = hend + 4;
    }
}


static const unsigned char *
omni_mp_search(const unsigned char *p, const unsigned char *end,
    const char *s, size_t n)
{
    for ( /* void */ ; (size_t) (end - p) >= n; p++) {
        if (*p == (unsigned char) s[0] && memcmp(p, s, n) == 0) {
            return p;
        }
    }

    return NULL;
}


/* '; name=value' or '; name="value"' among parameters, case-blind name */
static int
omni_mp_param(const unsigned char *p, const unsigned char *end,
    const char *name, const unsigned char **v, size_t *vlen)
{
    size_t                n;
    const unsigned char  *q;

    n = strlen(name);

    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ';')) {
            p++;
        }

        q = p;

        while (q < end && *q != '=' && *q != ';') {
            q++;
        }

        if (q < end && *q == '=' && (size_t) (q - p) == n
            && strncasecmp((const char *) p, name, n) == 0)
        {
            q++;

            if (q < end && *q == '"') {
                q++;
                *v = q;

                while (q < end && *q != '"') {
                    q++;
                }

                if (q == end) {
                    return -1;
                }

                *vlen = (size_t) (q - *v);
                return 0;
            }

            *v = q;

            while (q < end && *q != ';' && *q != ' ' && *q != '\t') {
                q++;
            }

            *vlen = (size_t) (q - *v);
            return 0;
        }

        /* skip this parameter, a quoted value whole */
        while (q < end && *q != ';') {
            if (*q == '"') {
                q++;

                while (q < end && *q != '"') {
                    q++;
                }
            }

            if (q < end) {
                q++;
            }
        }

        p = q;
    }

    return -1;
}
