
/*
 * The job runner: the one place where work that no request carries runs
 * (the Pixel flusher, phone capture; later outbox delivery, broadcasts,
 * imports, Salesforce runs, journeys).  A job is a static struct that its
 * file registers at init_module; the runner gives it a lease, calls its
 * slice on a timer, rests, backs off and stops it on reload or quit.
 */

#ifndef _NGX_OMNI_JOBS_H_INCLUDED_
#define _NGX_OMNI_JOBS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* who runs a job */
#define NGX_OMNI_JOB_EVERY_WORKER   0    /* no lease: every worker */
#define NGX_OMNI_JOB_ONE_PER_HOST   1    /* a lease in shared memory */
#define NGX_OMNI_JOB_ONE_PER_FLEET  2    /* a lease row in PostgreSQL */


typedef struct ngx_omni_job_s  ngx_omni_job_t;

/*
 * One slice of work.  It returns
 *   NGX_OK     nothing more to do: the next slice after job->interval;
 *   NGX_AGAIN  more waits: the next slice on the next turn of the loop;
 *   NGX_ERROR  it failed: the next slice after a back-off that doubles
 *              from backoff_min up to backoff_max, with jitter;
 *   NGX_DONE   it goes on asynchronously (a query is out) and ends with
 *              ngx_omni_job_done(job, NGX_OK | NGX_AGAIN | NGX_ERROR).
 * A slice that runs on the event loop without waiting keeps under
 * slice_max and returns NGX_AGAIN for the rest.
 */
typedef ngx_int_t (*ngx_omni_job_slice_pt)(ngx_omni_job_t *job);

/*
 * The job stops in this worker (reload, quit, or the lease is given up):
 * called once, while the lease is still held, after the slice in flight
 * ended or was given slice_max to end and did not.
 */
typedef void (*ngx_omni_job_stop_pt)(ngx_omni_job_t *job);


struct ngx_omni_job_s {
    /* set by the job's file */
    ngx_str_t                name;          /* [a-z_], the metrics' label */
    char                    *holder;        /* the holder, for the log */
    ngx_uint_t               lease;         /* NGX_OMNI_JOB_* */
    ngx_msec_t               interval;      /* rest after NGX_OK; a job
                                               may change it between
                                               its slices */
    ngx_msec_t               slice_max;
    ngx_msec_t               backoff_min;
    ngx_msec_t               backoff_max;
    ngx_omni_job_slice_pt    slice;
    ngx_omni_job_stop_pt     stop;          /* may be NULL */
    void                    *data;

    /* the runner's */
    ngx_uint_t               index;         /* its slot in shared memory */
    ngx_uint_t               state;
    ngx_uint_t               held;          /* this process has the lease */
    ngx_uint_t               asking;        /* a lease query is out */
    ngx_uint_t               again;         /* woken while a slice ran */
    ngx_uint_t               calling;       /* inside slice() */
    ngx_uint_t               failures;
    ngx_int_t                early_rc;      /* done() inside slice() */
    ngx_msec_t               started;       /* the slice in flight's start */
    ngx_msec_t               renewed;       /* the fleet lease's last renewal */
    ngx_event_t              run;           /* rest timer, or posted */
    ngx_event_t              beat;          /* the lease's heartbeat */
    ngx_event_t              watchdog;      /* a slice in flight too long */
};


/* init_module (the master, once per cycle): the jobs of this cycle */
ngx_int_t ngx_omni_jobs_init_module(ngx_cycle_t *cycle);

/*
 * A job's struct made afresh, with the runner's usual rhythm: a rest of
 * 1 s, slices of at most 10 s, back-off from 1 s to 30 s.  The job's file
 * changes what differs, then registers it.
 */
void ngx_omni_job_init(ngx_omni_job_t *job, char *name, char *holder,
    ngx_uint_t lease, ngx_omni_job_slice_pt slice);
ngx_int_t ngx_omni_job_register(ngx_cycle_t *cycle, ngx_omni_job_t *job);

/* every worker: start the runner; on exit stop every job, free leases */
ngx_int_t ngx_omni_jobs_init_process(ngx_cycle_t *cycle);
void ngx_omni_jobs_exit_process(ngx_cycle_t *cycle);

/* the end of a slice that returned NGX_DONE */
void ngx_omni_job_done(ngx_omni_job_t *job, ngx_int_t rc);

/* work arrived: a slice soon, if this process runs the job */
void ngx_omni_job_wake(ngx_omni_job_t *job);

/* a synchronous slice has run slice_max: time to return NGX_AGAIN */
ngx_uint_t ngx_omni_job_overtime(ngx_omni_job_t *job);


#endif /* _NGX_OMNI_JOBS_H_INCLUDED_ */
