
/*
 * Event blocks from ring rows; see omni_blocks.h.
 */

#include <stdio.h>
#include <string.h>

#include "omni_beacon.h"
#include "omni_blocks.h"


/* PostgreSQL's timestamps count microseconds from 2000-01-01 UTC */
#define OMNI_PG_EPOCH_MS  946684800000LL


static long omni_block_find(omni_blocks_t *bs, const char *key, size_t len,
    int add);
static void omni_block_add_ev(omni_block_t *b, const char *ev, size_t len);
static int omni_line_valid(const unsigned char *p, size_t len);
static char *omni_put16(char *p, uint16_t v);
static char *omni_put32(char *p, uint32_t v);
static char *omni_put64(char *p, uint64_t v);


int
omni_blocks_parse(omni_blocks_t *bs, const char *in, size_t len, int verify)
{
    long               i, last;
    size_t             n, keylen;
    int64_t            ms;
    const char        *p, *end, *nl, *key, *line, *ev, *q;
    omni_block_t      *b;
    omni_block_row_t  *row;

    p = in;
    end = in + len;
    last = -1;

    for ( /* void */ ; p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t) (end - p));
        if (nl == NULL) {
            nl = end;
        }

        /* KEY \t C \t {"t":MS,"ev":"NAME" */
        key = p;
        q = memchr(p, '\t', (size_t) (nl - p));

        if (q == NULL || q == key || q - key > 64 || nl - q < 18
            || q[2] != '\t' || memcmp(q + 3, "{\"t\":", 5) != 0)
        {
            bs->malformed++;
            continue;
        }

        keylen = (size_t) (q - key);

        for (n = 0; n < keylen; n++) {
            if (!((key[n] >= 'a' && key[n] <= 'z')
                  || (key[n] >= 'A' && key[n] <= 'Z')
                  || (key[n] >= '0' && key[n] <= '9')
                  || key[n] == '_' || key[n] == '-'))
            {
                break;
            }
        }

        line = q + 3;
        q = line + 5;
        ms = 0;

        while (q < nl && *q >= '0' && *q <= '9' && ms < OMNI_PG_EPOCH_MS * 1000)
        {
            ms = ms * 10 + (*q++ - '0');
        }

        if (n != keylen || q == line + 5 || nl - q < 9
            || memcmp(q, ",\"ev\":\"", 7) != 0
            || (verify && !omni_line_valid((const unsigned char *) line,
                                           (size_t) (nl - line))))
        {
            bs->malformed++;
            continue;
        }

        ev = q + 7;
        q = memchr(ev, '"', (size_t) (nl - ev));

        if (q == NULL || q == ev || q - ev > 64) {
            bs->malformed++;
            continue;
        }

        /* rows of one key come in runs: try the last row's block first */
        if (last < 0 || bs->blocks[last].key_len != keylen
            || memcmp(bs->blocks[last].key, key, keylen) != 0)
        {
            last = omni_block_find(bs, key, keylen, 1);
        }

        i = last;

        if (i < 0 || bs->nrows == bs->max_rows) {
            return -1;
        }

        b = &bs->blocks[i];

        if (b->rows == 0 || ms < b->first_ms) {
            b->first_ms = ms;
        }

        if (b->rows == 0 || ms > b->last_ms) {
            b->last_ms = ms;
        }

        b->rows++;
        b->bytes += (size_t) (nl - line) + 1;
        omni_block_add_ev(b, ev, (size_t) (q - ev));

        row = &bs->rows[bs->nrows++];
        row->line = line;
        row->len = (uint32_t) (nl - line);
        row->block = (uint32_t) i;
        row->capture = (key[keylen + 1] == 'c');
    }

    return 0;
}


int
omni_blocks_set_tenant(omni_blocks_t *bs, const char *key, size_t len,
    int64_t tenant_id)
{
    long  i;

    i = omni_block_find(bs, key, len, 0);

    if (i < 0) {
        return -1;
    }

    bs->blocks[i].tenant_id = tenant_id;

    return 0;
}


size_t
omni_blocks_unknown_rows(const omni_blocks_t *bs)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < bs->nblocks; i++) {
        if (bs->blocks[i].tenant_id == 0) {
            n += bs->blocks[i].rows;
        }
    }

    return n;
}


size_t
omni_blocks_copy(omni_blocks_t *bs, char *out)
{
    size_t  size;

    size = omni_blocks_copy_layout(bs, out);

    if (out != NULL) {
        omni_blocks_copy_lines(bs, out, 0, bs->nrows);
    }

    return size;
}


size_t
omni_blocks_copy_layout(omni_blocks_t *bs, char *out)
{
    char          *p;
    size_t         i, size;
    omni_block_t  *b;

    /* header, then per block: 6 fields, 4 fixed-size; the trailer */
    size = 19 + 2;

    for (i = 0; i < bs->nblocks; i++) {
        b = &bs->blocks[i];

        if (b->tenant_id != 0) {
            size += 2 + 4 * 6 + 8 + 8 + 8 + 4 + b->evs_len + b->bytes - 1;
        }
    }

    if (out == NULL) {
        return size;
    }

    p = out;
    memcpy(p, "PGCOPY\n\377\r\n\0", 11);
    p = omni_put32(p + 11, 0);
    p = omni_put32(p, 0);

    for (i = 0; i < bs->nblocks; i++) {
        b = &bs->blocks[i];

        if (b->tenant_id == 0) {
            continue;
        }

        p = omni_put16(p, 6);
        p = omni_put32(p, 8);
        p = omni_put64(p, (uint64_t) b->tenant_id);
        p = omni_put32(p, 8);
        p = omni_put64(p, (uint64_t) ((b->first_ms - OMNI_PG_EPOCH_MS) * 1000));
        p = omni_put32(p, 8);
        p = omni_put64(p, (uint64_t) ((b->last_ms - OMNI_PG_EPOCH_MS) * 1000));
        p = omni_put32(p, 4);
        p = omni_put32(p, (uint32_t) b->rows);
        p = omni_put32(p, (uint32_t) b->evs_len);
        memcpy(p, b->evs, b->evs_len);
        p += b->evs_len;
        p = omni_put32(p, (uint32_t) (b->bytes - 1));

        /* the lines go in at b->at, in the order they came */
        b->at = (size_t) (p - out);
        b->placed = 0;
        p += b->bytes - 1;
    }

    memcpy(p, "\xff\xff", 2);

    return size;
}


void
omni_blocks_copy_lines(omni_blocks_t *bs, char *out, size_t first,
    size_t last)
{
    size_t         i;
    omni_block_t  *b;

    for (i = first; i < last && i < bs->nrows; i++) {
        b = &bs->blocks[bs->rows[i].block];

        if (b->tenant_id == 0) {
            continue;
        }

        if (b->placed++) {
            out[b->at++] = '\n';
        }

        memcpy(out + b->at, bs->rows[i].line, bs->rows[i].len);
        b->at += bs->rows[i].len;
    }
}


size_t
omni_blocks_captures(const omni_blocks_t *bs, char *out, size_t *n)
{
    int                      len;
    char                     tenant[24];
    size_t                   i, size;
    const omni_block_t      *b;
    const omni_block_row_t  *row;

    size = 0;
    *n = 0;

    for (i = 0; i < bs->nrows; i++) {
        row = &bs->rows[i];
        b = &bs->blocks[row->block];

        if (!row->capture || b->tenant_id == 0) {
            continue;
        }

        len = snprintf(tenant, sizeof(tenant), "%lld\t",
                       (long long) b->tenant_id);

        if (out) {
            memcpy(out + size, tenant, (size_t) len);
            memcpy(out + size + len, row->line, row->len);
            out[size + len + row->len] = '\n';
        }

        size += (size_t) len + row->len + 1;
        (*n)++;
    }

    return size;
}


/* the block of a key: found, or (add) a new one; -1 when none */
static long
omni_block_find(omni_blocks_t *bs, const char *key, size_t len, int add)
{
    size_t         i, h, mask;
    uint32_t       slot;
    omni_block_t  *b;

    /* FNV-1a */
    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char) key[i]) * 16777619u;
    }

    mask = bs->nslots - 1;

    for (i = h & mask; /* void */; i = (i + 1) & mask) {
        slot = bs->slots[i];

        if (slot == 0) {
            break;
        }

        b = &bs->blocks[slot - 1];

        if (b->key_len == len && memcmp(b->key, key, len) == 0) {
            return (long) slot - 1;
        }
    }

    if (!add || bs->nblocks == bs->max_blocks) {
        return -1;
    }

    b = &bs->blocks[bs->nblocks];
    memset(b, 0, sizeof(omni_block_t));
    b->key = key;
    b->key_len = len;
    bs->slots[i] = (uint32_t) ++bs->nblocks;

    return (long) bs->nblocks - 1;
}


/* evs: each distinct name once; "*" (any) when they no longer fit */
static void
omni_block_add_ev(omni_block_t *b, const char *ev, size_t len)
{
    const char  *p, *end, *sp;

    if (b->evs_len == 1 && b->evs[0] == '*') {
        return;
    }

    /* most rows repeat the name before them */
    if (b->evs_len && b->evs_len - b->last_ev >= len
        && memcmp(b->evs + b->last_ev, ev, len) == 0
        && (b->last_ev + len == b->evs_len || b->evs[b->last_ev + len] == ' '))
    {
        return;
    }

    p = b->evs;
    end = b->evs + b->evs_len;

    while (p < end) {
        sp = memchr(p, ' ', (size_t) (end - p));
        if (sp == NULL) {
            sp = end;
        }

        if ((size_t) (sp - p) == len && memcmp(p, ev, len) == 0) {
            b->last_ev = (size_t) (p - b->evs);
            return;
        }

        p = sp + 1;
    }

    if (b->evs_len + len + 1 > OMNI_BLOCKS_EVS_MAX) {
        b->evs[0] = '*';
        b->evs_len = 1;
        return;
    }

    if (b->evs_len) {
        b->evs[b->evs_len++] = ' ';
    }

    b->last_ev = b->evs_len;
    memcpy(b->evs + b->evs_len, ev, len);
    b->evs_len += len;
}


/* valid UTF-8 without NUL: what PostgreSQL's text takes */
static int
omni_line_valid(const unsigned char *p, size_t len)
{
    size_t  i, n;

    for (i = 0; i < len; i += n) {
        n = (p[i] == '\0') ? 0 : omni_utf8_char(p + i, len - i);

        if (n == 0) {
            return 0;
        }
    }

    return 1;
}


static char *
omni_put16(char *p, uint16_t v)
{
    p[0] = (char) (v >> 8);
    p[1] = (char) v;

    return p + 2;
}


static char *
omni_put32(char *p, uint32_t v)
{
    p[0] = (char) (v >> 24);
    p[1] = (char) (v >> 16);
    p[2] = (char) (v >> 8);
    p[3] = (char) v;

    return p + 4;
}


static char *
omni_put64(char *p, uint64_t v)
{
    p = omni_put32(p, (uint32_t) (v >> 32));

    return omni_put32(p, (uint32_t) v);
}
