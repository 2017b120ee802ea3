
/*
 * A Pixel batch: ring rows turned into COPY blocks, one per pixel key
 * (core/omni_blocks), in memory kept from batch to batch.  The work runs
 * off the event loop: in an nginx thread pool, or where there is none in
 * slices, one a turn of the loop.
 */

#ifndef _NGX_OMNI_BATCH_H_INCLUDED_
#define _NGX_OMNI_BATCH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif

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


typedef struct ngx_omni_batch_s  ngx_omni_batch_t;

/* the batch is shaped or encoded: NGX_OK or NGX_ERROR */
typedef void (*ngx_omni_batch_done_pt)(ngx_omni_batch_t *b, ngx_int_t rc);


struct ngx_omni_batch_s {
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

    size_t                taken;         /* bytes of the rows shaped */

    ngx_omni_batch_buffer_t  mem[NGX_OMNI_BATCH_MEM_N];

    /* the work in progress */
    ngx_uint_t            job;
    ngx_int_t             rc;
    ngx_uint_t            limit;         /* rows to shape at most */
    ngx_uint_t            verify;
    ngx_str_t             pieces[3];     /* whole rows, in order */
    ngx_uint_t            npieces;
    ngx_uint_t            piece;
    size_t                offset;        /* in pieces[piece] */
    ngx_uint_t            lines;         /* rows seen so far */
    size_t                next_row;      /* encode: lines written so far */
    ngx_omni_batch_done_pt  done;
    ngx_event_t           slice;         /* on the loop: the next slice */
#if (NGX_THREADS)
    ngx_thread_pool_t    *pool;
    ngx_thread_task_t    *task;
#endif
    unsigned              running:1;
};


/*
 * pool: the thread pool's name; an empty name, or one nginx has no pool
 * of, means slices on the event loop.
 */
ngx_int_t ngx_omni_batch_init(ngx_omni_batch_t *b, ngx_cycle_t *cycle,
    ngx_str_t *pool);


/*
 * The batch's first limit rows into blocks (taken: their bytes) and its
 * keys into a text[] literal; verify checks rows read back from a file as
 * PostgreSQL would.  NGX_AGAIN: done() is called when it is over (never
 * from in here); NGX_OK: nothing to do.
 */
ngx_int_t ngx_omni_batch_shape(ngx_omni_batch_t *b, ngx_uint_t limit,
    ngx_uint_t verify, ngx_omni_batch_done_pt done);
/* the tenant of a key, as the database answered */
void ngx_omni_batch_set_tenant(ngx_omni_batch_t *b, u_char *key, size_t len,
    int64_t tenant_id);
/*
 * After the tenants: the COPY stream and the captures of known keys; the
 * same answers as ngx_omni_batch_shape().
 */
ngx_int_t ngx_omni_batch_encode(ngx_omni_batch_t *b,
    ngx_omni_batch_done_pt done);

/* a reusable buffer of at least size bytes; NULL when memory runs out */
void *ngx_omni_batch_buffer(ngx_omni_batch_t *b, ngx_uint_t which,
    size_t size);
void ngx_omni_batch_free(ngx_omni_batch_t *b);

ngx_uint_t ngx_omni_batch_count_rows(ngx_str_t *chunks, ngx_uint_t n);
/* the length of the first rows rows of the chunks */
uint64_t ngx_omni_batch_rows_len(ngx_str_t *chunks, ngx_uint_t n,
    ngx_uint_t rows);


#endif /* _NGX_OMNI_BATCH_H_INCLUDED_ */
