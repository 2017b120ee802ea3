
/*
 * libpq on nginx's event loop.  Every connection, pooled or dedicated,
 * runs the same state machine:
 *
 *   DOWN --connect--> CONNECTING --PQconnectPoll OK--> SETUP --> READY
 *    ^                                  (settings, schema check,  |  ^
 *    |                                   every statement prepared)|  |
 *    +---- close + back-off <--- broken / timed out / failed -- BUSY +
 *
 * libpq owns the socket; nginx only wraps it in a connection for events,
 * and never closes it.  Nothing here blocks: no PQexec, no PQprepare, no
 * PQconnectdb, no PQcancel (it opens a connection); a query over its time
 * ends on the server by statement_timeout, and a connection that does not
 * answer at all is closed and reopened.
 */

#include <openssl/ssl.h>

#include "ngx_omni_module.h"
#include "ngx_omni_pg.h"
#include "ngx_omni_stmt.h"


#define NGX_OMNI_PG_DOWN        0
#define NGX_OMNI_PG_CONNECTING  1
#define NGX_OMNI_PG_SETUP       2
#define NGX_OMNI_PG_READY       3
#define NGX_OMNI_PG_BUSY        4

/*
 * Reconnecting: at once after a loss (a restarted PostgreSQL is usually
 * back by then, or soon), then 100 ms doubling to 500 ms while it keeps
 * failing, so the API is back within about half a second of PostgreSQL.
 * A connection refused costs the server nothing; one to a host that does
 * not answer waits for its own timeout before it counts as a failure.
 */
#define NGX_OMNI_PG_BACKOFF_MIN  100
#define NGX_OMNI_PG_BACKOFF_MAX  500

/* setup steps before the statements; then one step per statement */
#define NGX_OMNI_PG_STEP_SETTINGS  0
#define NGX_OMNI_PG_STEP_VERSION   1
#define NGX_OMNI_PG_STEP_LISTEN    2
#define NGX_OMNI_PG_STEP_PREPARE   3

#define NGX_OMNI_PG_MAX_CHUNKS  4

/*
 * COPY data handed to libpq a turn of the event loop: a batch of
 * megabytes sent at once would hold the worker (and grow libpq's buffer
 * to its size); the rest goes on the next turn or the next write event.
 */
#define NGX_OMNI_PG_COPY_SLICE  (128 * 1024)


struct ngx_omni_pg_query_s {
    ngx_queue_t                 queue;
    ngx_uint_t                  stmt;
    int                         nparams;
    char                      **values;
    ngx_omni_pg_handler_pt      handler;
    void                       *data;
    unsigned                    abandoned:1;
    ngx_event_t                 deadline;   /* omni_pg_timeout after asked */
};


struct ngx_omni_pg_conn_s {
    ngx_queue_t                 queue;      /* in the worker's list */
    PGconn                     *pg;
    ngx_connection_t           *c;
    ngx_uint_t                  state;
    ngx_uint_t                  step;
    ngx_uint_t                  pooled;
    const char                 *name;
    ngx_msec_t                  backoff;
    ngx_event_t                 timer;      /* connect, command, back-off */

    /* the command in flight */
    ngx_omni_pg_query_t        *query;      /* pooled: owned here */
    ngx_omni_pg_handler_pt      handler;
    void                       *data;
    PGresult                   *result;
    unsigned                    flushing:1;
    unsigned                    copying:1;
    unsigned                    copy_ended:1;
    unsigned                    in_setup:1;

    ngx_str_t                   chunks[NGX_OMNI_PG_MAX_CHUNKS];
    ngx_uint_t                  nchunks;
    ngx_uint_t                  chunk;
    size_t                      chunk_sent; /* of chunks[chunk] */

    /* dedicated connections */
    ngx_omni_pg_conn_event_pt   ready;
    ngx_omni_pg_conn_event_pt   lost;
    void                       *ev_data;
    ngx_omni_pg_notify_pt       notify;
    char                       *listen;     /* "LISTEN channel" */
};


static ngx_omni_pg_conn_t *ngx_omni_pg_conn_new(const char *name,
    ngx_uint_t pooled);
static void ngx_omni_pg_connect(ngx_omni_pg_conn_t *pc);
static ngx_int_t ngx_omni_pg_wrap(ngx_omni_pg_conn_t *pc);
static void ngx_omni_pg_unwrap(ngx_omni_pg_conn_t *pc);
static void ngx_omni_pg_event(ngx_event_t *ev);
static void ngx_omni_pg_timer(ngx_event_t *ev);
static void ngx_omni_pg_poll_connect(ngx_omni_pg_conn_t *pc);
static void ngx_omni_pg_setup_next(ngx_omni_pg_conn_t *pc, PGresult *res);
static void ngx_omni_pg_setup_done(void *data, ngx_int_t rc, PGresult *res);
static ngx_int_t ngx_omni_pg_sent(ngx_omni_pg_conn_t *pc, int ok);
static void ngx_omni_pg_write(ngx_omni_pg_conn_t *pc);
static void ngx_omni_pg_read(ngx_omni_pg_conn_t *pc);
static ngx_int_t ngx_omni_pg_more_input(ngx_omni_pg_conn_t *pc);
static void ngx_omni_pg_complete(ngx_omni_pg_conn_t *pc, ngx_int_t rc);
static void ngx_omni_pg_broken(ngx_omni_pg_conn_t *pc, const char *what,
    ngx_int_t rc);
static void ngx_omni_pg_close(ngx_omni_pg_conn_t *pc);
static void ngx_omni_pg_idle(ngx_omni_pg_conn_t *pc);
static ngx_int_t ngx_omni_pg_run(ngx_omni_pg_conn_t *pc,
    ngx_omni_pg_query_t *q, ngx_uint_t defer);
static void ngx_omni_pg_query_timeout(ngx_event_t *ev);
static void ngx_omni_pg_query_free(ngx_omni_pg_query_t *q);
static void ngx_omni_pg_fail_queue(ngx_int_t rc);
static void ngx_omni_pg_update_gauges(void);


ngx_omni_pg_stats_t  *ngx_omni_pg_stats;

static ngx_omni_pg_stats_t   ngx_omni_pg_local_stats;
static ngx_omni_main_conf_t *ngx_omni_pg_conf;
static char                 *ngx_omni_pg_conninfo;
static ngx_queue_t           ngx_omni_pg_conns;
static ngx_queue_t           ngx_omni_pg_waiting;
static ngx_uint_t            ngx_omni_pg_nwaiting;
static ngx_uint_t            ngx_omni_pg_up;        /* pooled, ready|busy */
static ngx_uint_t            ngx_omni_pg_down;      /* failed since last up */
static ngx_int_t             ngx_omni_pg_stale_logged = -1;


ngx_int_t
ngx_omni_pg_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t             i;
    ngx_omni_pg_conn_t    *pc;
    ngx_omni_main_conf_t  *omcf;

    if (ngx_omni_pg_stats == NULL) {
        ngx_omni_pg_stats = &ngx_omni_pg_local_stats;
    }

    ngx_queue_init(&ngx_omni_pg_conns);
    ngx_queue_init(&ngx_omni_pg_waiting);

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_omni_module);
    ngx_omni_pg_conf = omcf;

    if (omcf->pg_conninfo.len == 0) {
        return NGX_OK;
    }

    ngx_omni_pg_conninfo = ngx_alloc(omcf->pg_conninfo.len + 1, cycle->log);
    if (ngx_omni_pg_conninfo == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn((u_char *) ngx_omni_pg_conninfo,
                       omcf->pg_conninfo.data, omcf->pg_conninfo.len + 1);

    for (i = 0; i < omcf->pg_pool_size; i++) {
        pc = ngx_omni_pg_conn_new("pool", 1);
        if (pc == NULL) {
            return NGX_ERROR;
        }

        ngx_omni_pg_connect(pc);
    }

    return NGX_OK;
}


void
ngx_omni_pg_exit_process(ngx_cycle_t *cycle)
{
    ngx_queue_t         *q;
    ngx_omni_pg_conn_t  *pc;

    (void) cycle;

    if (ngx_omni_pg_conf == NULL) {
        return;
    }

    ngx_omni_pg_fail_queue(NGX_HTTP_SERVICE_UNAVAILABLE);

    while (!ngx_queue_empty(&ngx_omni_pg_conns)) {
        q = ngx_queue_head(&ngx_omni_pg_conns);
        pc = ngx_queue_data(q, ngx_omni_pg_conn_t, queue);

        ngx_queue_remove(q);
        ngx_omni_pg_close(pc);

        if (pc->timer.timer_set) {
            ngx_del_timer(&pc->timer);
        }

        ngx_free(pc->listen);
        ngx_free(pc);
    }
}


ngx_omni_pg_query_t *
ngx_omni_pg_query(ngx_uint_t stmt, ngx_uint_t nparams, ngx_str_t *params,
    ngx_omni_pg_handler_pt handler, void *data)
{
    u_char               *p;
    size_t                size;
    ngx_uint_t            i;
    ngx_queue_t          *q;
    ngx_omni_pg_conn_t   *pc;
    ngx_omni_pg_query_t  *query;

    if (ngx_omni_pg_conninfo == NULL
        || (ngx_omni_pg_up == 0 && ngx_omni_pg_down)
        || ngx_omni_pg_nwaiting >= ngx_omni_pg_conf->pg_queue_size + 1
        || stmt >= NGX_OMNI_STMT_N)
    {
        ngx_omni_pg_stats->rejected++;
        return NULL;
    }

    /* the query and NUL-terminated copies of its params, in one block */
    size = sizeof(ngx_omni_pg_query_t) + nparams * sizeof(char *);

    for (i = 0; i < nparams; i++) {
        size += params[i].data ? params[i].len + 1 : 0;
    }

    query = ngx_alloc(size, ngx_cycle->log);
    if (query == NULL) {
        return NULL;
    }

    ngx_memzero(query, sizeof(ngx_omni_pg_query_t));

    query->stmt = stmt;
    query->nparams = (int) nparams;
    query->values = (char **) (query + 1);
    query->handler = handler;
    query->data = data;

    p = (u_char *) (query->values + nparams);

    for (i = 0; i < nparams; i++) {
        if (params[i].data == NULL) {
            query->values[i] = NULL;
            continue;
        }

        query->values[i] = (char *) p;
        p = ngx_cpymem(p, params[i].data, params[i].len);
        *p++ = '\0';
    }

    /*
     * The caller's answer is due omni_pg_timeout from now, whether the
     * query waits for a connection, runs, or the server never answers:
     * the server's statement_timeout only starts when the statement does,
     * and the connection's own timer gives it a second more.
     */
    query->deadline.handler = ngx_omni_pg_query_timeout;
    query->deadline.data = query;
    query->deadline.log = ngx_cycle->log;
    ngx_add_timer(&query->deadline, ngx_omni_pg_conf->pg_timeout);

    /* an idle connection takes it at once */
    for (q = ngx_queue_head(&ngx_omni_pg_conns);
         q != ngx_queue_sentinel(&ngx_omni_pg_conns);
         q = ngx_queue_next(q))
    {
        pc = ngx_queue_data(q, ngx_omni_pg_conn_t, queue);

        if (pc->pooled && pc->state == NGX_OMNI_PG_READY
            && ngx_omni_pg_run(pc, query, 1) == NGX_OK)
        {
            return query;
        }
    }

    if (ngx_omni_pg_nwaiting >= ngx_omni_pg_conf->pg_queue_size) {
        ngx_omni_pg_query_free(query);
        ngx_omni_pg_stats->rejected++;
        return NULL;
    }

    ngx_queue_insert_tail(&ngx_omni_pg_waiting, &query->queue);
    ngx_omni_pg_nwaiting++;
    ngx_omni_pg_update_gauges();

    return query;
}


void
ngx_omni_pg_query_abandon(ngx_omni_pg_query_t *q)
{
    if (q->queue.next != NULL) {
        /* still waiting: nothing was sent, forget it */
        ngx_queue_remove(&q->queue);
        ngx_omni_pg_nwaiting--;
        ngx_omni_pg_update_gauges();
        ngx_omni_pg_query_free(q);
        return;
    }

    /* in flight: its answer is read and dropped */
    q->abandoned = 1;

    if (q->deadline.timer_set) {
        ngx_del_timer(&q->deadline);
    }
}


ngx_omni_pg_conn_t *
ngx_omni_pg_conn_open(const char *name, ngx_omni_pg_conn_event_pt ready,
    ngx_omni_pg_conn_event_pt lost, void *data)
{
    ngx_omni_pg_conn_t  *pc;

    if (ngx_omni_pg_conninfo == NULL) {
        return NULL;
    }

    pc = ngx_omni_pg_conn_new(name, 0);
    if (pc == NULL) {
        return NULL;
    }

    pc->ready = ready;
    pc->lost = lost;
    pc->ev_data = data;

    ngx_omni_pg_connect(pc);

    return pc;
}


ngx_int_t
ngx_omni_pg_conn_prepared(ngx_omni_pg_conn_t *pc, ngx_uint_t stmt,
    ngx_uint_t nparams, ngx_str_t *params, ngx_omni_pg_handler_pt handler,
    void *data)
{
    int          ok;
    char        *values[8];
    u_char      *p, *heap, buf[512];
    size_t       size;
    ngx_uint_t   i;

    if (pc->state != NGX_OMNI_PG_READY) {
        return NGX_BUSY;
    }

    if (nparams > 8 || stmt >= NGX_OMNI_STMT_N) {
        return NGX_ERROR;
    }

    size = 0;

    for (i = 0; i < nparams; i++) {
        size += params[i].data ? params[i].len + 1 : 0;
    }

    /* libpq copies the values into its output buffer while sending */
    ngx_memzero(values, sizeof(values));
    heap = NULL;
    p = buf;

    if (size > sizeof(buf)) {
        heap = ngx_alloc(size, ngx_cycle->log);
        if (heap == NULL) {
            return NGX_ERROR;
        }

        p = heap;
    }

    for (i = 0; i < nparams; i++) {
        if (params[i].data == NULL) {
            values[i] = NULL;
            continue;
        }

        values[i] = (char *) p;
        p = ngx_cpymem(p, params[i].data, params[i].len);
        *p++ = '\0';
    }

    pc->handler = handler;
    pc->data = data;

    ok = PQsendQueryPrepared(pc->pg, (char *) ngx_omni_stmts[stmt].name.data,
                             (int) nparams, (const char * const *) values,
                             NULL, NULL, 0);

    if (heap) {
        ngx_free(heap);
    }

    return ngx_omni_pg_sent(pc, ok);
}


ngx_int_t
ngx_omni_pg_conn_simple(ngx_omni_pg_conn_t *pc, const char *sql,
    ngx_omni_pg_handler_pt handler, void *data)
{
    if (pc->state != NGX_OMNI_PG_READY) {
        return NGX_BUSY;
    }

    pc->handler = handler;
    pc->data = data;

    return ngx_omni_pg_sent(pc, PQsendQuery(pc->pg, sql));
}


ngx_int_t
ngx_omni_pg_conn_copy(ngx_omni_pg_conn_t *pc, ngx_str_t *chunks,
    ngx_uint_t nchunks, ngx_omni_pg_handler_pt handler, void *data)
{
    ngx_uint_t  i;

    if (pc->state != NGX_OMNI_PG_READY
        || PQtransactionStatus(pc->pg) != PQTRANS_ACTIVE)
    {
        return NGX_BUSY;
    }

    if (nchunks > NGX_OMNI_PG_MAX_CHUNKS) {
        return NGX_ERROR;
    }

    for (i = 0; i < nchunks; i++) {
        pc->chunks[i] = chunks[i];
    }

    pc->nchunks = nchunks;
    pc->chunk = 0;
    pc->chunk_sent = 0;
    pc->copying = 1;
    pc->copy_ended = 0;
    pc->handler = handler;
    pc->data = data;
    pc->state = NGX_OMNI_PG_BUSY;

    ngx_add_timer(&pc->timer, ngx_omni_pg_conf->pg_timeout + 1000);

    ngx_omni_pg_write(pc);

    return NGX_OK;
}


ngx_int_t
ngx_omni_pg_listen(const char *channel, ngx_omni_pg_notify_pt notify,
    ngx_omni_pg_conn_event_pt reconnected, ngx_omni_pg_conn_event_pt lost,
    void *data)
{
    size_t               len;
    const char          *p;
    ngx_omni_pg_conn_t  *pc;

    if (ngx_omni_pg_conninfo == NULL) {
        return NGX_OK;
    }

    /* an identifier from our own code, but LISTEN can't take a parameter */
    for (p = channel; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || *p == '_')) {
            return NGX_ERROR;
        }
    }

    pc = ngx_omni_pg_conn_new("listener", 0);
    if (pc == NULL) {
        return NGX_ERROR;
    }

    len = sizeof("LISTEN ") + ngx_strlen(channel);

    pc->listen = ngx_alloc(len, ngx_cycle->log);
    if (pc->listen == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_sprintf((u_char *) pc->listen, "LISTEN %s%Z", channel);

    pc->notify = notify;
    pc->ready = reconnected;
    pc->lost = lost;
    pc->ev_data = data;

    ngx_omni_pg_connect(pc);

    return NGX_OK;
}


static ngx_omni_pg_conn_t *
ngx_omni_pg_conn_new(const char *name, ngx_uint_t pooled)
{
    ngx_omni_pg_conn_t  *pc;

    pc = ngx_calloc(sizeof(ngx_omni_pg_conn_t), ngx_cycle->log);
    if (pc == NULL) {
        return NULL;
    }

    pc->name = name;
    pc->pooled = pooled;
    pc->backoff = NGX_OMNI_PG_BACKOFF_MIN;
    pc->timer.handler = ngx_omni_pg_timer;
    pc->timer.data = pc;
    pc->timer.log = ngx_cycle->log;

    ngx_queue_insert_tail(&ngx_omni_pg_conns, &pc->queue);

    return pc;
}


static void
ngx_omni_pg_connect(ngx_omni_pg_conn_t *pc)
{
    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    pc->pg = PQconnectStart(ngx_omni_pg_conninfo);

    if (pc->pg == NULL || PQstatus(pc->pg) == CONNECTION_BAD) {
        ngx_omni_pg_broken(pc, "connect", NGX_ERROR);
        return;
    }

    if (ngx_omni_pg_wrap(pc) != NGX_OK) {
        ngx_omni_pg_broken(pc, "connect", NGX_ERROR);
        return;
    }

    pc->state = NGX_OMNI_PG_CONNECTING;
    ngx_omni_pg_stats->connections++;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni pg %s: connect start, fd %d", pc->name,
                   PQsocket(pc->pg));

    /* a connect that hangs (a dead host) is given up like a slow query */
    pc->timer.cancelable = 0;
    ngx_add_timer(&pc->timer, ngx_omni_pg_conf->pg_timeout);

    /* libpq: start as if PQconnectPoll had asked to write */
    ngx_omni_pg_poll_connect(pc);
}


static ngx_int_t
ngx_omni_pg_wrap(ngx_omni_pg_conn_t *pc)
{
    int                fd;
    ngx_connection_t  *c;

    fd = PQsocket(pc->pg);
    if (fd == -1) {
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, ngx_cycle->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = pc;
    c->read->handler = ngx_omni_pg_event;
    c->write->handler = ngx_omni_pg_event;
    c->read->log = ngx_cycle->log;
    c->write->log = ngx_cycle->log;

    /* edge-triggered where available: every step drains what it can */
    if (ngx_add_conn) {
        if (ngx_add_conn(c) != NGX_OK) {
            ngx_free_connection(c);
            return NGX_ERROR;
        }

    } else if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_CLEAR_EVENT)
               != NGX_OK
               || ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_CLEAR_EVENT)
                  != NGX_OK)
    {
        ngx_free_connection(c);
        return NGX_ERROR;
    }

    pc->c = c;

    return NGX_OK;
}


/* nginx lets go of the socket; libpq still owns it and closes it */
static void
ngx_omni_pg_unwrap(ngx_omni_pg_conn_t *pc)
{
    ngx_connection_t  *c;

    c = pc->c;
    if (c == NULL) {
        return;
    }

    if (ngx_del_conn) {
        (void) ngx_del_conn(c, NGX_CLOSE_EVENT);

    } else {
        if (c->read->active) {
            (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
        }

        if (c->write->active) {
            (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
        }
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);
    pc->c = NULL;
}


static void
ngx_omni_pg_event(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_omni_pg_conn_t  *pc;

    c = ev->data;
    pc = c->data;

    switch (pc->state) {

    case NGX_OMNI_PG_CONNECTING:
        ngx_omni_pg_poll_connect(pc);
        return;

    case NGX_OMNI_PG_DOWN:
        return;

    default:
        if (ev->write) {
            ngx_omni_pg_write(pc);

        } else {
            ngx_omni_pg_read(pc);
        }
    }
}


static void
ngx_omni_pg_poll_connect(ngx_omni_pg_conn_t *pc)
{
    PostgresPollingStatusType  rc;

    for ( ;; ) {
        rc = PQconnectPoll(pc->pg);

        /* libpq may move to another socket (the next host or address) */
        if (pc->c == NULL || PQsocket(pc->pg) != pc->c->fd) {
            ngx_omni_pg_unwrap(pc);

            if (ngx_omni_pg_wrap(pc) != NGX_OK) {
                ngx_omni_pg_broken(pc, "connect", NGX_ERROR);
                return;
            }

            /* a fresh registration: its first edge may already be gone */
            continue;
        }

        break;
    }

    switch (rc) {

    case PGRES_POLLING_READING:
    case PGRES_POLLING_WRITING:
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "omni pg %s: connect poll: waiting to %s", pc->name,
                       rc == PGRES_POLLING_READING ? "read" : "write");
        return;

    case PGRES_POLLING_OK:
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "omni pg %s: connect ok", pc->name);
        break;

    default:
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "omni pg %s: connect failed", pc->name);
        ngx_omni_pg_broken(pc, "connect", NGX_ERROR);
        return;
    }

    if (PQsetnonblocking(pc->pg, 1) != 0) {
        ngx_omni_pg_broken(pc, "connect", NGX_ERROR);
        return;
    }

    if (pc->timer.timer_set) {
        ngx_del_timer(&pc->timer);
    }

    pc->state = NGX_OMNI_PG_SETUP;
    pc->step = NGX_OMNI_PG_STEP_SETTINGS;
    pc->in_setup = 1;

    ngx_omni_pg_setup_next(pc, NULL);
}


/*
 * After connecting: settings, the schema check, LISTEN for the listener,
 * then every statement prepared, one round trip each (once per connection).
 */
static void
ngx_omni_pg_setup_next(ngx_omni_pg_conn_t *pc, PGresult *res)
{
    int         ok;
    char       *v;
    u_char      sql[128];
    ngx_int_t   version;
    ngx_uint_t  stmt;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni pg %s: setup step %ui", pc->name, pc->step);

    switch (pc->step) {

    case NGX_OMNI_PG_STEP_SETTINGS:
        /* the server ends a slow statement itself: the link stays usable */
        (void) ngx_sprintf(sql, "SET statement_timeout = %M; "
                                "SET application_name = 'omni'%Z",
                           ngx_omni_pg_conf->pg_timeout);
        pc->step = NGX_OMNI_PG_STEP_VERSION;
        pc->handler = ngx_omni_pg_setup_done;
        pc->data = pc;
        ok = PQsendQuery(pc->pg, (char *) sql);
        break;

    case NGX_OMNI_PG_STEP_VERSION:
        pc->step = NGX_OMNI_PG_STEP_LISTEN;
        pc->handler = ngx_omni_pg_setup_done;
        pc->data = pc;
        ok = PQsendQuery(pc->pg, ngx_omni_stmts[NGX_OMNI_STMT_SCHEMA_VERSION]
                                 .sql);
        break;

    case NGX_OMNI_PG_STEP_LISTEN:
        version = 0;

        if (res && PQresultStatus(res) == PGRES_TUPLES_OK
            && PQntuples(res) == 1)
        {
            v = PQgetvalue(res, 0, 0);
            version = ngx_atoi((u_char *) v, ngx_strlen(v));
        }

        if (version == NGX_ERROR) {
            version = 0;
        }

        if (version < NGX_OMNI_SCHEMA_VERSION) {
            /* once per version seen, not once per reconnect */
            if (ngx_omni_pg_stale_logged != version) {
                ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                              "omni: database schema is at version %i but "
                              "this module needs %d; run bin/omni-migrate",
                              version, NGX_OMNI_SCHEMA_VERSION);
                ngx_omni_pg_stale_logged = version;
            }

            ngx_omni_pg_stats->schema_stale = 1;
            ngx_omni_pg_broken(pc, NULL, NGX_ERROR);
            return;
        }

        ngx_omni_pg_stats->schema_stale = 0;
        ngx_omni_pg_stale_logged = -1;

        pc->step = NGX_OMNI_PG_STEP_PREPARE;

        if (pc->listen) {
            pc->handler = ngx_omni_pg_setup_done;
            pc->data = pc;
            ok = PQsendQuery(pc->pg, pc->listen);
            break;
        }

        /* fall through */

    default:
        stmt = pc->step - NGX_OMNI_PG_STEP_PREPARE;

        if (pc->listen || stmt >= NGX_OMNI_STMT_N) {
            pc->in_setup = 0;
            pc->backoff = 0;
            ngx_omni_pg_idle(pc);

            if (pc->ready && pc->state == NGX_OMNI_PG_READY) {
                pc->ready(pc, pc->ev_data);
            }

            return;
        }

        pc->step++;
        pc->handler = ngx_omni_pg_setup_done;
        pc->data = pc;
        ok = PQsendPrepare(pc->pg, (char *) ngx_omni_stmts[stmt].name.data,
                           ngx_omni_stmts[stmt].sql, 0, NULL);
        break;
    }

    pc->state = NGX_OMNI_PG_BUSY;

    if (ngx_omni_pg_sent(pc, ok) != NGX_OK) {
        return;
    }
}


static void
ngx_omni_pg_setup_done(void *data, ngx_int_t rc, PGresult *res)
{
    ngx_omni_pg_conn_t  *pc = data;

    if (rc != NGX_OK && pc->step != NGX_OMNI_PG_STEP_LISTEN) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "omni: preparing a PostgreSQL connection failed: %s",
                      res ? PQresultErrorMessage(res) : "connection lost");
        ngx_omni_pg_broken(pc, NULL, NGX_ERROR);
        return;
    }

    pc->state = NGX_OMNI_PG_SETUP;
    ngx_omni_pg_setup_next(pc, rc == NGX_OK ? res : NULL);
}


/* after PQsend*: push it out, then wait for the answer */
static ngx_int_t
ngx_omni_pg_sent(ngx_omni_pg_conn_t *pc, int ok)
{
    if (!ok) {
        ngx_omni_pg_broken(pc, "send", NGX_ERROR);
        return NGX_ERROR;
    }

    pc->state = NGX_OMNI_PG_BUSY;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni pg %s: query sent", pc->name);

    if (!pc->timer.timer_set) {
        pc->timer.cancelable = 0;
        ngx_add_timer(&pc->timer, ngx_omni_pg_conf->pg_timeout + 1000);
    }

    pc->flushing = 1;
    ngx_omni_pg_write(pc);

    return NGX_OK;
}


static void
ngx_omni_pg_write(ngx_omni_pg_conn_t *pc)
{
    int         rc;
    size_t      len, sent;
    ngx_str_t  *chunk;

    sent = 0;

    while (pc->copying && pc->chunk < pc->nchunks) {
        chunk = &pc->chunks[pc->chunk];

        if (sent >= NGX_OMNI_PG_COPY_SLICE) {
            rc = PQflush(pc->pg);

            if (rc < 0) {
                ngx_omni_pg_broken(pc, "flush", NGX_ERROR);
                return;
            }

            if (rc == 0) {
                /* all out: the next slice on the next turn of the loop */
                ngx_post_event(pc->c->write, &ngx_posted_next_events);
            }

            /* else the socket is full: the next write event goes on */
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pc->c->log, 0,
                           "omni pg %s: copy slice sent, %s", pc->name,
                           rc ? "socket full" : "next turn");
            return;
        }

        len = ngx_min(chunk->len - pc->chunk_sent,
                      NGX_OMNI_PG_COPY_SLICE - sent);

        if (len) {
            rc = PQputCopyData(pc->pg, (char *) chunk->data + pc->chunk_sent,
                               (int) len);

            if (rc == 0) {
                /* libpq's buffer is full: wait for the socket */
                (void) PQflush(pc->pg);
                return;
            }

            if (rc < 0) {
                ngx_omni_pg_broken(pc, "copy", NGX_ERROR);
                return;
            }

            pc->chunk_sent += len;
            sent += len;
        }

        if (pc->chunk_sent == chunk->len) {
            pc->chunk++;
            pc->chunk_sent = 0;
        }
    }

    if (pc->copying && !pc->copy_ended) {
        rc = PQputCopyEnd(pc->pg, NULL);

        if (rc == 0) {
            (void) PQflush(pc->pg);
            return;
        }

        if (rc < 0) {
            ngx_omni_pg_broken(pc, "copy", NGX_ERROR);
            return;
        }

        pc->copy_ended = 1;
        pc->flushing = 1;
    }

    if (!pc->flushing) {
        return;
    }

    rc = PQflush(pc->pg);

    if (rc < 0) {
        ngx_omni_pg_broken(pc, "flush", NGX_ERROR);
        return;
    }

    if (rc == 1) {
        /* the rest goes when the socket takes it (the next write edge) */
        return;
    }

    pc->flushing = 0;

    /* the answer may be in already: edge-triggered, so look now */
    ngx_omni_pg_read(pc);
}


static void
ngx_omni_pg_read(ngx_omni_pg_conn_t *pc)
{
    ngx_int_t         more;
    ngx_uint_t        eof;
    PGresult         *res;
    PGnotify         *n;
    ngx_str_t         channel, payload;
    ExecStatusType    status;

    /*
     * Edge-triggered: one PQconsumeInput() reads what one recv() gives, and
     * a reply longer than that would wait forever for an edge that never
     * comes.  Read until the socket has nothing more.  The server's close
     * too: a last message and the close come in one edge (a terminated
     * backend, a restart), and libpq only sees the close on its next read;
     * missed, an idle connection would look alive until it is used.
     */
    eof = 0;

    for ( ;; ) {
        if (PQconsumeInput(pc->pg) == 0) {
            ngx_omni_pg_broken(pc, "read", NGX_ERROR);
            return;
        }

        more = ngx_omni_pg_more_input(pc);

        if (more == NGX_AGAIN) {
            break;
        }

        if (more == NGX_DONE && eof++) {
            /* libpq read nothing more and still took it for a link */
            ngx_omni_pg_broken(pc, "read", NGX_ERROR);
            return;
        }
    }

    while ((n = PQnotifies(pc->pg)) != NULL) {
        if (pc->notify) {
            channel.data = (u_char *) n->relname;
            channel.len = ngx_strlen(n->relname);
            payload.data = (u_char *) n->extra;
            payload.len = ngx_strlen(n->extra);
            pc->notify(&channel, &payload, pc->ev_data);
        }

        PQfreemem(n);
    }

    if (pc->state != NGX_OMNI_PG_BUSY || pc->flushing
        || (pc->copying && !pc->copy_ended))
    {
        if (pc->state == NGX_OMNI_PG_READY
            && PQstatus(pc->pg) == CONNECTION_BAD)
        {
            ngx_omni_pg_broken(pc, "idle", NGX_ERROR);
        }

        return;
    }

    while (!PQisBusy(pc->pg)) {
        res = PQgetResult(pc->pg);

        if (res == NULL) {
            ngx_omni_pg_complete(pc, pc->result
                                 && PQresultStatus(pc->result)
                                    == PGRES_FATAL_ERROR
                                 ? NGX_ERROR : NGX_OK);
            return;
        }

        status = PQresultStatus(res);

        if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT
            || status == PGRES_COPY_BOTH)
        {
            /* the COPY waits for its data: this is the answer for now */
            if (pc->result) {
                PQclear(pc->result);
            }

            pc->result = res;
            ngx_omni_pg_complete(pc, NGX_OK);
            return;
        }

        /* several statements in one query: keep an error, else the last */
        if (pc->result == NULL
            || PQresultStatus(pc->result) != PGRES_FATAL_ERROR)
        {
            if (pc->result) {
                PQclear(pc->result);
            }

            pc->result = res;

        } else {
            PQclear(res);
        }
    }
}


/*
 * NGX_OK: bytes still in the socket, or already decrypted inside OpenSSL;
 * NGX_DONE: the server closed the connection; NGX_AGAIN: nothing now.
 */
static ngx_int_t
ngx_omni_pg_more_input(ngx_omni_pg_conn_t *pc)
{
    SSL      *ssl;
    u_char    b;
    ssize_t   n;

    ssl = PQsslStruct(pc->pg, "OpenSSL");

    if (ssl && SSL_pending(ssl) > 0) {
        return NGX_OK;
    }

    n = recv(PQsocket(pc->pg), &b, 1, MSG_PEEK|MSG_DONTWAIT);

    if (n > 0) {
        return NGX_OK;
    }

    if (n == 0 || ngx_socket_errno != NGX_EAGAIN) {
        return NGX_DONE;
    }

    return NGX_AGAIN;
}


/* the command in flight is answered: hand over, then take the next */
static void
ngx_omni_pg_complete(ngx_omni_pg_conn_t *pc, ngx_int_t rc)
{
    void                    *data;
    PGresult                *res;
    ngx_omni_pg_query_t     *query;
    ngx_omni_pg_handler_pt   handler;

    if (pc->timer.timer_set) {
        ngx_del_timer(&pc->timer);
    }

    res = pc->result;
    query = pc->query;
    handler = pc->handler;
    data = pc->data;

    pc->result = NULL;
    pc->query = NULL;
    pc->handler = NULL;
    pc->copying = 0;
    pc->state = pc->in_setup ? NGX_OMNI_PG_SETUP : NGX_OMNI_PG_READY;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni pg %s: result %i, %s", pc->name, rc,
                   res ? PQresStatus(PQresultStatus(res)) : "none");

    if (query) {
        if (!query->abandoned) {
            query->handler(query->data, rc, res);
        }

        ngx_omni_pg_query_free(query);

    } else if (handler) {
        handler(data, rc, res);
    }

    if (res) {
        PQclear(res);
    }

    if (pc->state == NGX_OMNI_PG_READY && pc->pooled) {
        ngx_omni_pg_idle(pc);
    }

    ngx_omni_pg_update_gauges();
}


/* a connection free for work: a pooled one takes the oldest waiting query */
static void
ngx_omni_pg_idle(ngx_omni_pg_conn_t *pc)
{
    ngx_queue_t          *q;
    ngx_omni_pg_query_t  *query;

    pc->state = NGX_OMNI_PG_READY;

    if (!pc->pooled) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "omni pg %s: idle", pc->name);
        return;
    }

    ngx_omni_pg_down = 0;

    if (!ngx_queue_empty(&ngx_omni_pg_waiting)) {
        q = ngx_queue_head(&ngx_omni_pg_waiting);
        query = ngx_queue_data(q, ngx_omni_pg_query_t, queue);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "omni pg %s: idle, takes a waiting query", pc->name);

        ngx_queue_remove(q);
        ngx_omni_pg_nwaiting--;

        if (ngx_omni_pg_run(pc, query, 0) != NGX_OK) {
            /* the link broke under it: this query's answer is that */
            query->handler(query->data, NGX_ERROR, NULL);
            ngx_omni_pg_query_free(query);
        }

        return;
    }

    if (ngx_exiting) {
        /* nothing left to do here: let the worker go */
        ngx_omni_pg_close(pc);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni pg %s: idle", pc->name);

    ngx_omni_pg_update_gauges();
}


/*
 * Sends q on pc.  A failed send closes pc without answering q: the caller
 * still owns it.  With defer, the flush waits for the next turn of the
 * event loop, so that ngx_omni_pg_query() never calls its handler before
 * it has returned.
 */
static ngx_int_t
ngx_omni_pg_run(ngx_omni_pg_conn_t *pc, ngx_omni_pg_query_t *q,
    ngx_uint_t defer)
{
    int  ok;

    q->queue.next = NULL;

    ok = PQsendQueryPrepared(pc->pg,
                             (char *) ngx_omni_stmts[q->stmt].name.data,
                             q->nparams, (const char * const *) q->values,
                             NULL, NULL, 0);
    if (!ok) {
        ngx_omni_pg_broken(pc, "send", NGX_ERROR);
        return NGX_ERROR;
    }

    pc->query = q;
    pc->handler = NULL;
    pc->state = NGX_OMNI_PG_BUSY;
    pc->flushing = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni pg %s: query %V sent", pc->name,
                   &ngx_omni_stmts[q->stmt].name);

    if (!pc->timer.timer_set) {
        pc->timer.cancelable = 0;
        ngx_add_timer(&pc->timer, ngx_omni_pg_conf->pg_timeout + 1000);
    }

    if (defer) {
        ngx_post_event(pc->c->write, &ngx_posted_events);

    } else {
        ngx_omni_pg_write(pc);
    }

    ngx_omni_pg_update_gauges();

    return NGX_OK;
}


static void
ngx_omni_pg_timer(ngx_event_t *ev)
{
    ngx_omni_pg_conn_t  *pc = ev->data;

    if (pc->state == NGX_OMNI_PG_DOWN) {
        /* back-off over: try again */
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "omni pg %s: back-off over, reconnect", pc->name);
        ngx_omni_pg_connect(pc);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "omni: PostgreSQL %s connection did not answer in time; "
                  "reconnecting", pc->name);

    ngx_omni_pg_stats->timeouts++;
    ngx_omni_pg_broken(pc, NULL, NGX_HTTP_GATEWAY_TIME_OUT);
}


/*
 * The link failed, timed out, or the schema is stale: answer what was in
 * flight with rc, close, and come back: at once the first time, then
 * after a back-off that doubles up to NGX_OMNI_PG_BACKOFF_MAX.
 */
static void
ngx_omni_pg_broken(ngx_omni_pg_conn_t *pc, const char *what, ngx_int_t rc)
{
    void                    *data;
    ngx_msec_t               delay;
    ngx_uint_t               in_setup;
    ngx_omni_pg_query_t     *query;
    ngx_omni_pg_handler_pt   handler;

    if (what) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "omni: PostgreSQL %s connection failed (%s): %s",
                      pc->name, what,
                      pc->pg ? PQerrorMessage(pc->pg) : "out of memory");
        ngx_omni_pg_stats->errors++;
    }

    query = pc->query;
    handler = pc->handler;
    data = pc->data;
    in_setup = pc->in_setup;

    pc->query = NULL;
    pc->handler = NULL;

    ngx_omni_pg_close(pc);

    if (query) {
        if (!query->abandoned) {
            query->handler(query->data, rc, NULL);
        }

        ngx_omni_pg_query_free(query);

    } else if (handler && !in_setup) {
        handler(data, rc, NULL);
    }

    if (pc->lost && !in_setup) {
        pc->lost(pc, pc->ev_data);
    }

    if (pc->pooled && ngx_omni_pg_up == 0) {
        /* no connection left: new queries fail fast until one is back */
        ngx_omni_pg_down = 1;
        ngx_omni_pg_fail_queue(NGX_HTTP_SERVICE_UNAVAILABLE);
    }

    if (ngx_exiting || ngx_terminate || ngx_quit || pc->state != NGX_OMNI_PG_DOWN
        || pc->timer.timer_set)
    {
        /* exiting, or a callback above already reconnected it */
        return;
    }

    delay = pc->backoff;
    pc->backoff = delay ? ngx_min(delay * 2, NGX_OMNI_PG_BACKOFF_MAX)
                        : NGX_OMNI_PG_BACKOFF_MIN;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni pg %s: reconnect in %M ms", pc->name, delay);

    /* a zero timer: the next turn of the event loop, never from in here */
    pc->timer.cancelable = 1;
    ngx_add_timer(&pc->timer, delay);
}


static void
ngx_omni_pg_close(ngx_omni_pg_conn_t *pc)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni pg %s: close", pc->name);

    if (pc->timer.timer_set) {
        ngx_del_timer(&pc->timer);
    }

    if (pc->result) {
        PQclear(pc->result);
        pc->result = NULL;
    }

    ngx_omni_pg_unwrap(pc);

    if (pc->pg) {
        PQfinish(pc->pg);
        pc->pg = NULL;
    }

    if (pc->state != NGX_OMNI_PG_DOWN && ngx_omni_pg_stats->connections) {
        ngx_omni_pg_stats->connections--;
    }

    pc->state = NGX_OMNI_PG_DOWN;
    pc->flushing = 0;
    pc->copying = 0;
    pc->in_setup = 0;

    ngx_omni_pg_update_gauges();
}


/* the query's time is up: 504 now, wherever it is */
static void
ngx_omni_pg_query_timeout(ngx_event_t *ev)
{
    ngx_omni_pg_query_t  *q = ev->data;

    ngx_omni_pg_stats->timeouts++;

    if (q->queue.next != NULL) {
        /* still waiting for a connection: nothing was sent */
        ngx_queue_remove(&q->queue);
        ngx_omni_pg_nwaiting--;
        ngx_omni_pg_update_gauges();

        q->handler(q->data, NGX_HTTP_GATEWAY_TIME_OUT, NULL);
        ngx_omni_pg_query_free(q);
        return;
    }

    /*
     * Running: the connection still owns it, drops the late answer, and is
     * closed by its own timer if the server stays silent.
     */
    q->abandoned = 1;
    q->handler(q->data, NGX_HTTP_GATEWAY_TIME_OUT, NULL);
}


static void
ngx_omni_pg_query_free(ngx_omni_pg_query_t *q)
{
    if (q->deadline.timer_set) {
        ngx_del_timer(&q->deadline);
    }

    ngx_free(q);
}


static void
ngx_omni_pg_fail_queue(ngx_int_t rc)
{
    ngx_queue_t          *q;
    ngx_omni_pg_query_t  *query;

    while (!ngx_queue_empty(&ngx_omni_pg_waiting)) {
        q = ngx_queue_head(&ngx_omni_pg_waiting);
        query = ngx_queue_data(q, ngx_omni_pg_query_t, queue);

        ngx_queue_remove(q);
        ngx_omni_pg_nwaiting--;

        query->handler(query->data, rc, NULL);
        ngx_omni_pg_query_free(query);
    }

    ngx_omni_pg_update_gauges();
}


static void
ngx_omni_pg_update_gauges(void)
{
    ngx_uint_t           up, busy;
    ngx_queue_t         *q;
    ngx_omni_pg_conn_t  *pc;

    up = 0;
    busy = 0;

    if (ngx_omni_pg_conns.next == NULL) {
        return;
    }

    for (q = ngx_queue_head(&ngx_omni_pg_conns);
         q != ngx_queue_sentinel(&ngx_omni_pg_conns);
         q = ngx_queue_next(q))
    {
        pc = ngx_queue_data(q, ngx_omni_pg_conn_t, queue);

        if (!pc->pooled || pc->in_setup) {
            continue;
        }

        if (pc->state == NGX_OMNI_PG_READY) {
            up++;

        } else if (pc->state == NGX_OMNI_PG_BUSY) {
            up++;
            busy++;
        }
    }

    ngx_omni_pg_up = up;
    ngx_omni_pg_stats->busy = busy;
    ngx_omni_pg_stats->waiting = ngx_omni_pg_nwaiting;
}
