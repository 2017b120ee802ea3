
/*
 * A batch of ring rows -> event blocks: the rows of one pixel key become
 * one block (one row of pixel_event_blocks), its events the JSON lines
 * joined by '\n'.  The drainer parses a batch, then writes the blocks as
 * the binary arrays that omni_px_store() takes (the database finds each
 * key's tenant) and the capture lines as text.  Pure C; the caller gives
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
    int64_t      first_ms;
    int64_t      last_ms;
    size_t       rows;
    size_t       bytes;         /* the lines and their separators */
    size_t       at;            /* where omni_blocks_lines() puts the next */
    size_t       placed;        /* lines omni_blocks_lines() has put */
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

/* omni_px_store()'s arrays, in the order of its parameters */
#define OMNI_BLOCKS_KEYS      0     /* text[] */
#define OMNI_BLOCKS_FIRST_AT  1     /* timestamptz[] */
#define OMNI_BLOCKS_LAST_AT   2     /* timestamptz[] */
#define OMNI_BLOCKS_N         3     /* int4[] */
#define OMNI_BLOCKS_EVS       4     /* text[] */
#define OMNI_BLOCKS_EVENTS    5     /* text[] */
#define OMNI_BLOCKS_ARRAYS    6

typedef struct {
    size_t       at[OMNI_BLOCKS_ARRAYS];    /* where each begins in out */
    size_t       len[OMNI_BLOCKS_ARRAYS];
} omni_blocks_arrays_t;

/*
 * The blocks as PostgreSQL binary arrays, one after another in out, with
 * room left in the last for the events' lines; size it first with
 * out == NULL (a fills either way).
 */
size_t omni_blocks_arrays(omni_blocks_t *bs, char *out,
    omni_blocks_arrays_t *a);

/*
 * The lines of rows [first, last) into the room omni_blocks_arrays() left
 * them, in row order: a caller may write them a slice at a time.
 */
void omni_blocks_lines(omni_blocks_t *bs, char *out, size_t first,
    size_t last);

/*
 * "KEY\tLINE\n" for each row to capture (a phone or email); size it first
 * with out == NULL.  *n gets how many.
 */
size_t omni_blocks_captures(const omni_blocks_t *bs, char *out, size_t *n);


#endif /* _OMNI_BLOCKS_H_INCLUDED_ */
