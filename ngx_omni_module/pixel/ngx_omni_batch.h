
/*
 * A Pixel batch: ring rows turned into COPY blocks, one per pixel key
 * (core/omni_blocks), in memory kept from batch to batch.
 */

#ifndef _NGX_OMNI_BATCH_H_INCLUDED_
#define _NGX_OMNI_BATCH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "omni_blocks.h"


/* memory kept from batch to batch, grown when a batch needs more */
enum {
    NGX_OMNI_BATCH_MEM_FILE = 0,    /* spool file bytes being replayed */
    NGX_OMNI_BATCH_MEM_IN,          /* a batch that wraps, in one piece */
    NGX_OMNI_BATCH_MEM_ROWS,
    NGX_OMNI_BATCH_MEM_BLOCKS,
    NGX_OMNI_BATCH_MEM_SLOTS,
    NGX_OMNI_BATCH_MEM_KEYS,
    NGX_OMNI_BATCH_MEM_OUT,         /* the COPY stream, then the captures */
    NGX_OMNI_BATCH_MEM_N
};


typedef struct {
    void                 *data;
    size_t                size;
} ngx_omni_batch_buffer_t;


typedef struct {
    /* the batch's bytes: whole rows, in one or two pieces */
    ngx_str_t             chunks[2];
    ngx_uint_t            nchunks;
    ngx_uint_t            rows;

    /* the batch shaped into blocks */
    omni_blocks_t         blocks;
    size_t                unknown;       /* rows of keys no tenant has */
    size_t                malformed;     /* rows that are not ours */
    int64_t               oldest_ms;
    ngx_str_t             keys;          /* {"key","key"} */
    ngx_str_t             copy;          /* the binary COPY stream */
    ngx_str_t             captures;      /* "TENANT\tLINE\n"... */

    ngx_omni_batch_buffer_t  mem[NGX_OMNI_BATCH_MEM_N];
} ngx_omni_batch_t;


/*
 * The batch's rows into blocks and its keys into a text[] literal; verify
 * checks rows read back from a file as PostgreSQL would.
 */
ngx_int_t ngx_omni_batch_shape(ngx_omni_batch_t *b, ngx_uint_t verify);
/* the tenant of a key, as the database answered */
void ngx_omni_batch_set_tenant(ngx_omni_batch_t *b, u_char *key, size_t len,
    int64_t tenant_id);
/* after the tenants: the COPY stream and the captures of known keys */
ngx_int_t ngx_omni_batch_encode(ngx_omni_batch_t *b);

/* a reusable buffer of at least size bytes; NULL when memory runs out */
void *ngx_omni_batch_buffer(ngx_omni_batch_t *b, ngx_uint_t which,
    size_t size);
void ngx_omni_batch_free(ngx_omni_batch_t *b);

ngx_uint_t ngx_omni_batch_count_rows(ngx_str_t *chunks, ngx_uint_t n);
/* the length of the first rows rows of the chunks */
uint64_t ngx_omni_batch_rows_len(ngx_str_t *chunks, ngx_uint_t n,
    ngx_uint_t rows);


#endif /* _NGX_OMNI_BATCH_H_INCLUDED_ */
