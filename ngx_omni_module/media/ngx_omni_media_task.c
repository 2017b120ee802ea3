
/*
 * Thread tasks of a request, the way nginx's own "aio threads" hold one:
 * r->main->blocked keeps the request alive under the thread, r->aio
 * says a task is out, and the request's write handler carries on.
 */

#include "ngx_omni_module.h"
#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif
#include "ngx_omni_media_task.h"


#if (NGX_THREADS)
static void ngx_omni_media_task_thread(void *data, ngx_log_t *log);
#endif
static void ngx_omni_media_task_done(ngx_event_t *ev);


ngx_int_t
ngx_omni_media_task_post(ngx_omni_media_task_t *t)
{
    ngx_http_request_t    *r;
#if (NGX_THREADS)
    ngx_thread_task_t     *task;
    ngx_thread_pool_t     *pool;
    ngx_omni_main_conf_t  *omcf;
#endif

    r = t->request;

    r->main->blocked++;
    r->aio = 1;
    r->write_event_handler = t->after;

#if (NGX_THREADS)
    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    pool = omcf->thread_pool.len
           ? ngx_thread_pool_get((ngx_cycle_t *) ngx_cycle,
                                 &omcf->thread_pool)
           : NULL;

    if (pool) {
        task = t->task;

        if (task == NULL) {
            task = ngx_thread_task_alloc(r->pool, 0);
            if (task == NULL) {
                goto failed;
            }

            task->ctx = t;
            task->handler = ngx_omni_media_task_thread;
            task->event.handler = ngx_omni_media_task_done;
            task->event.data = t;
            task->event.log = r->connection->log;
            t->task = task;
        }

        if (ngx_thread_task_post(pool, task) == NGX_OK) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "omni media: task posted to the thread pool");
            return NGX_OK;
        }

        /* the pool's queue is full: this one runs on the loop */
    }
#endif

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni media: task runs on the event loop");

    t->work(t->data);

    t->inline_done.handler = ngx_omni_media_task_done;
    t->inline_done.data = t;
    t->inline_done.log = r->connection->log;
    ngx_post_event(&t->inline_done, &ngx_posted_events);

    return NGX_OK;

#if (NGX_THREADS)
failed:

    r->main->blocked--;
    r->aio = 0;

    return NGX_ERROR;
#endif
}


#if (NGX_THREADS)

static void
ngx_omni_media_task_thread(void *data, ngx_log_t *log)
{
    ngx_omni_media_task_t  *t = data;

    (void) log;

    t->work(t->data);
}

#endif


static void
ngx_omni_media_task_done(ngx_event_t *ev)
{
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_omni_media_task_t  *t;

    t = ev->data;
    r = t->request;
    c = r->connection;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "omni media: task done");

    r->main->blocked--;
    r->aio = 0;

    /* t->after, or nginx's finalizer if the request was ended meanwhile */
    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}
