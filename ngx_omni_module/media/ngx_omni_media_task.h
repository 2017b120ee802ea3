
/*
 * A request's blocking work (image codec, hashing, chunk files) in
 * nginx's thread pool (omni_thread_pool).  While it runs the request is
 * blocked, as under "aio threads": it cannot be freed under the thread.
 * Without a pool the work runs on the loop, and the request goes on at
 * the next turn all the same.
 */

#ifndef _NGX_OMNI_MEDIA_TASK_H_INCLUDED_
#define _NGX_OMNI_MEDIA_TASK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef void (*ngx_omni_media_work_pt)(void *data);


typedef struct {
    ngx_http_request_t         *request;
    ngx_omni_media_work_pt      work;        /* in the thread */
    void                       *data;
    /* back on the loop: the request's write handler, until it returns */
    ngx_http_event_handler_pt   after;
    void                       *task;        /* ngx_thread_task_t */
    ngx_event_t                 inline_done; /* without a pool */
} ngx_omni_media_task_t;


/*
 * NGX_OK: posted, after(r) comes later (it must return at once while
 * r->aio is set: a write event of the connection may call it first).
 */
ngx_int_t ngx_omni_media_task_post(ngx_omni_media_task_t *t);


#endif /* _NGX_OMNI_MEDIA_TASK_H_INCLUDED_ */
