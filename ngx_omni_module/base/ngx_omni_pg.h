
/*
 * The non-blocking PostgreSQL pool: libpq on nginx's event loop.
 * This is the only part of the module that does libpq I/O.
 */

#ifndef _NGX_OMNI_PG_H_INCLUDED_
#define _NGX_OMNI_PG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <libpq-fe.h>


typedef struct ngx_omni_pg_query_s  ngx_omni_pg_query_t;
typedef struct ngx_omni_pg_conn_s   ngx_omni_pg_conn_t;


/*
 * A query's answer.  rc is
 *   NGX_OK                        res is a PGRES_TUPLES_OK/COMMAND_OK
 *                                 (or PGRES_COPY_IN after a COPY) result;
 *   NGX_ERROR                     the server refused the query: res holds
 *                                 the error (PQresultErrorField), or res is
 *                                 NULL when the connection broke under it;
 *   NGX_HTTP_SERVICE_UNAVAILABLE  no connection, queue full or the schema
 *                                 is older than the module (res NULL);
 *   NGX_HTTP_GATEWAY_TIME_OUT     no answer within omni_pg_timeout.
 * res belongs to the pool and is cleared after the handler returns.
 */
typedef void (*ngx_omni_pg_handler_pt)(void *data, ngx_int_t rc,
    PGresult *res);

/* a dedicated connection's life: up (ready for work) or lost */
typedef void (*ngx_omni_pg_conn_event_pt)(ngx_omni_pg_conn_t *pc,
    void *data);

typedef void (*ngx_omni_pg_notify_pt)(ngx_str_t *channel,
    ngx_str_t *payload, void *data);


typedef struct {
    ngx_uint_t   connections;       /* all, pooled and dedicated */
    ngx_uint_t   busy;              /* pooled connections running a query */
    ngx_uint_t   waiting;           /* queries in the wait queue */
    ngx_uint_t   errors;            /* connect failures, broken links */
    ngx_uint_t   timeouts;
    ngx_uint_t   rejected;          /* refused: queue full, no database */
    ngx_uint_t   schema_stale;      /* 1 while the schema is too old */
} ngx_omni_pg_stats_t;


/* init_process / exit_process; conninfo etc. from the main conf */
ngx_int_t ngx_omni_pg_init_process(ngx_cycle_t *cycle);
void ngx_omni_pg_exit_process(ngx_cycle_t *cycle);

/*
 * Pooled query of a prepared statement (ngx_omni_stmt.h).  Params are
 * text; a param with data == NULL is SQL NULL.  The params need only live
 * until this call returns.  Returns NULL when the query cannot even be
 * queued (the caller answers 503 at once; the handler is never called).
 */
ngx_omni_pg_query_t *ngx_omni_pg_query(ngx_uint_t stmt, ngx_uint_t nparams,
    ngx_str_t *params, ngx_omni_pg_handler_pt handler, void *data);

/* the query's owner is gone (request finalized): never call it back */
void ngx_omni_pg_query_abandon(ngx_omni_pg_query_t *q);

/*
 * A dedicated connection, outside the pool, for work that needs a session
 * of its own (the pixel flusher's transactions, LISTEN).  It connects,
 * prepares the statements, checks the schema, calls ready(); when it
 * breaks it calls lost() and reconnects with back-off by itself.
 */
ngx_omni_pg_conn_t *ngx_omni_pg_conn_open(const char *name,
    ngx_omni_pg_conn_event_pt ready, ngx_omni_pg_conn_event_pt lost,
    void *data);

/* one command at a time on a dedicated connection; NGX_BUSY if one runs */
ngx_int_t ngx_omni_pg_conn_prepared(ngx_omni_pg_conn_t *pc, ngx_uint_t stmt,
    ngx_uint_t nparams, ngx_str_t *params, ngx_omni_pg_handler_pt handler,
    void *data);
/* sql: a constant statement without parameters (BEGIN, COPY ... FROM STDIN) */
ngx_int_t ngx_omni_pg_conn_simple(ngx_omni_pg_conn_t *pc, const char *sql,
    ngx_omni_pg_handler_pt handler, void *data);
/*
 * After a COPY FROM STDIN answered PGRES_COPY_IN: send these chunks
 * (any split, rows may straddle chunks), end the copy and call handler with
 * the COPY's final result.
 */
ngx_int_t ngx_omni_pg_conn_copy(ngx_omni_pg_conn_t *pc, ngx_str_t *chunks,
    ngx_uint_t nchunks, ngx_omni_pg_handler_pt handler, void *data);

/*
 * LISTEN channel on its own connection; on every (re)connect:
 * reconnected(), on every loss (notifications missed from now): lost()
 */
ngx_int_t ngx_omni_pg_listen(const char *channel,
    ngx_omni_pg_notify_pt notify, ngx_omni_pg_conn_event_pt reconnected,
    ngx_omni_pg_conn_event_pt lost, void *data);

/*
 * Counters, written where ngx_omni_stats_init_process() points them: this
 * worker's slot in shared memory, so /omni/status shows every worker.
 */
extern ngx_omni_pg_stats_t  *ngx_omni_pg_stats;


#endif /* _NGX_OMNI_PG_H_INCLUDED_ */
