
/*
 * A batch of ring rows -> event blocks: the rows of one pixel key become
 * one block (one row of pixel_event_blocks), its events the JSON lines
 * joined by '\n'.  The drainer parses a batch, asks the database which
 * tenant each key names, then writes the blocks as PostgreSQL's binary
 * COPY stream and the capture lines as text.  Pure C; the caller gives
 * all memory.
 */

#ifndef _OMNI_BLOCKS_H_INCLUDED_
#define _OMNI_BLOCKS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define OMNI_BLOCKS_EVS_MAX  1024    /* distinct event names, ' '-joined */


typedef struct {
    const char  *key;
    size_t       key_len;
    int64_t      tenant_id;     /* set by the caller; 0: unknown key */
    int64_t      first_ms;
    int64_t      last_ms;
    size_t       rows;
    size_t       bytes;         /* the lines and their separators */
    size_t       at;            /* where omni_blocks_copy() puts the next */
    size_t       placed;        /* lines omni_blocks_copy() has put */
    size_t       last_ev;       /* offset of the last name added to evs */
    size_t       evs_len;
    char         evs[OMNI_BLOCKS_EVS_MAX];   /* "*" when too many */
} omni_block_t;


typedef struct {
    const char  *line;
    uint32_t     len;
    uint32_t     block;
    int          capture;
} omni_block_row_t;


typedef struct {
    omni_block_t      *blocks;
    size_t             nblocks;
    size_t             max_blocks;
    omni_block_row_t  *rows;
    size_t             nrows;
    size_t             max_rows;
    uint32_t          *slots;       /* key hash -> block index + 1 */
    size_t             nslots;      /* a power of two, > 2 * max_blocks */
    size_t             malformed;
} omni_blocks_t;


/*
 * Parses the rows of in[0..len) (whole rows, each ending '\n').  Rows that
 * are not "KEY\tC\t{"t":MS,"ev":"NAME"..." are counted as malformed and
 * left out; with verify (rows read back from a file), so are lines that
 * are not valid UTF-8 or hold a NUL.  Returns -1 when rows or blocks run
 * out of room.
 */
int omni_blocks_parse(omni_blocks_t *bs, const char *in, size_t len,
    int verify);

/* the tenant of a key's block; -1 when the batch has no such key */
int omni_blocks_set_tenant(omni_blocks_t *bs, const char *key, size_t len,
    int64_t tenant_id);

/* the rows of blocks whose key no tenant has */
size_t omni_blocks_unknown_rows(const omni_blocks_t *bs);

/*
 * The binary COPY stream for (tenant_id, first_at, last_at, n, evs,
 * events) of the blocks with a tenant; size it first with out == NULL.
 */
size_t omni_blocks_copy(omni_blocks_t *bs, char *out);

/*
 * The same stream in pieces, for a caller that writes it a slice at a
 * time: the layout (headers, trailer, room for the lines; the size, as
 * omni_blocks_copy), then the lines of rows [first, last), in row order.
 */
size_t omni_blocks_copy_layout(omni_blocks_t *bs, char *out);
void omni_blocks_copy_lines(omni_blocks_t *bs, char *out, size_t first,
    size_t last);

/*
 * "TENANT\tLINE\n" for each row to capture (a phone or email) of a block
 * with a tenant; size it first with out == NULL.  *n gets how many.
 */
size_t omni_blocks_captures(const omni_blocks_t *bs, char *out, size_t *n);


#endif /* _OMNI_BLOCKS_H_INCLUDED_ */
