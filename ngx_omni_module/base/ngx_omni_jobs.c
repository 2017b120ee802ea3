
/*
 * The job runner.  Each job has, per worker, one run event (a rest timer,
 * or posted to the next turn of the loop), a heartbeat for its lease and
 * a watchdog for the slice in flight:
 *
 *   IDLE --run--> lease? --yes--> RUNNING --slice ends--> IDLE (rest,
 *                   \--no: try again later                 next turn, or
 *                                                          back off)
 *   any --graceful stop--> (the slice in flight ends) --> STOPPED
 *
 * Leases.  ONE_PER_HOST: a pid and a heartbeat in the stats zone, taken
 * by compare-and-swap, so a worker killed while holding it wedges
 * nothing.  ONE_PER_FLEET: a row of omni_job_leases with an expiry that
 * the holder renews; taken and renewed by one statement.  EVERY_WORKER:
 * none.
 *
 * Graceful stop.  nginx calls the read handler of every idle connection
 * when a worker starts to shut down: a connection with no socket, marked
 * idle, tells the runner at once (lua-nginx-module's timers learn it the
 * same way).  From then on no slice starts; a slice in flight is given
 * what is left of slice_max (a timer that is not cancelable, so the
 * worker waits for it), then the job's stop hook runs and the lease goes.
 * Every other timer here is cancelable: a reload never waits on a rest.
 */

#include "ngx_omni_module.h"
#include "ngx_omni_jobs.h"
#include "ngx_omni_pg.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_stats.h"


#define NGX_OMNI_JOB_IDLE         0
#define NGX_OMNI_JOB_RUNNING      1
#define NGX_OMNI_JOB_STOPPED      2

/*
 * A host lease is beaten every BEAT ms by its holder (on a timer of its
 * own, so a slice that waits on PostgreSQL does not stop it) and free
 * once its beat is STALE ms old, whoever has the pid by then.
 */
#define NGX_OMNI_JOB_HOST_BEAT    1000
#define NGX_OMNI_JOB_HOST_STALE   5000
#define NGX_OMNI_JOB_HOST_RETRY   1000

/* a fleet lease lasts TTL ms from its last renewal, renewed every TTL/3 */
#define NGX_OMNI_JOB_FLEET_TTL    10000
#define NGX_OMNI_JOB_FLEET_RETRY  5000

#define NGX_OMNI_JOB_ASK_TAKE     1
#define NGX_OMNI_JOB_ASK_RENEW    2


static ngx_int_t ngx_omni_job_lease(ngx_omni_job_t *job);
static ngx_int_t ngx_omni_job_host_lease(ngx_omni_job_t *job);
static ngx_int_t ngx_omni_job_fleet_ask(ngx_omni_job_t *job,
    ngx_uint_t why);
static void ngx_omni_job_fleet_answer(void *data, ngx_int_t rc,
    PGresult *res);
static void ngx_omni_job_fleet_released(void *data, ngx_int_t rc,
    PGresult *res);
static void ngx_omni_job_taken(ngx_omni_job_t *job);
static void ngx_omni_job_lost(ngx_omni_job_t *job, const char *why);
static void ngx_omni_job_release(ngx_omni_job_t *job, ngx_uint_t exiting);
static void ngx_omni_job_run(ngx_event_t *ev);
static void ngx_omni_job_start(ngx_omni_job_t *job);
static void ngx_omni_job_finish(ngx_omni_job_t *job, ngx_int_t rc);
static void ngx_omni_job_schedule(ngx_omni_job_t *job, ngx_msec_t delay);
static ngx_msec_t ngx_omni_job_backoff(ngx_omni_job_t *job);
static void ngx_omni_job_beat(ngx_event_t *ev);
static void ngx_omni_job_watchdog(ngx_event_t *ev);
static void ngx_omni_job_stop(ngx_omni_job_t *job, ngx_uint_t exiting);
static void ngx_omni_jobs_stopping(ngx_event_t *ev);
static void ngx_omni_job_held(ngx_omni_job_t *job, ngx_uint_t held);
static ngx_atomic_uint_t ngx_omni_job_wall_ms(void);
static ngx_int_t ngx_omni_jobs_sweep(ngx_omni_job_t *job);
static void ngx_omni_jobs_swept(void *data, ngx_int_t rc, PGresult *res);


static ngx_omni_job_t    *ngx_omni_jobs[NGX_OMNI_STATS_JOBS];
static ngx_uint_t         ngx_omni_njobs;
static ngx_uint_t         ngx_omni_jobs_stop;
static ngx_connection_t  *ngx_omni_jobs_watcher;
static ngx_omni_job_t     ngx_omni_jobs_sweep_job;


ngx_int_t
ngx_omni_jobs_init_module(ngx_cycle_t *cycle)
{
    ngx_omni_job_t  *job;

    /* statics outlive a reload of the module: this cycle's jobs only */
    ngx_omni_njobs = 0;

    /*
     * The runner's own fleet job: lease rows whose holders went away
     * without giving them back (a crash, a kill) are deleted once expired,
     * so the table holds only the jobs that run.  Once a minute, by one
     * host of the fleet.
     */
    job = &ngx_omni_jobs_sweep_job;

    ngx_omni_job_init(job, "job_lease_sweep", "the job lease sweeper",
                      NGX_OMNI_JOB_ONE_PER_FLEET, ngx_omni_jobs_sweep);
    job->interval = 60000;
    job->backoff_max = 60000;

    return ngx_omni_job_register(cycle, job);
}


void
ngx_omni_job_init(ngx_omni_job_t *job, char *name, char *holder,
    ngx_uint_t lease, ngx_omni_job_slice_pt slice)
{
    ngx_memzero(job, sizeof(ngx_omni_job_t));

    job->name.data = (u_char *) name;
    job->name.len = ngx_strlen(name);
    job->holder = holder;
    job->lease = lease;
    job->interval = 1000;
    job->slice_max = 10000;
    job->backoff_min = 1000;
    job->backoff_max = 30000;
    job->slice = slice;
}


/*
 * In the master, before the workers fork: the job's slot in the stats
 * zone is the one with its name (counters go on across a reload), else
 * a free one.
 */
ngx_int_t
ngx_omni_job_register(ngx_cycle_t *cycle, ngx_omni_job_t *job)
{
    ngx_uint_t             i, free;
    ngx_omni_job_stats_t  *js;

    if (ngx_omni_stats == NULL) {
        return NGX_OK;
    }

    if (ngx_omni_njobs == NGX_OMNI_STATS_JOBS
        || job->name.len >= sizeof(js->name))
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "omni: job \"%V\" can't be registered", &job->name);
        return NGX_ERROR;
    }

    free = NGX_OMNI_STATS_JOBS;

    for (i = 0; i < NGX_OMNI_STATS_JOBS; i++) {
        js = &ngx_omni_stats->jobs[i];

        if (js->name[0] == '\0') {
            free = ngx_min(free, i);
            continue;
        }

        if (ngx_strlen(js->name) == job->name.len
            && ngx_strncmp(js->name, job->name.data, job->name.len) == 0)
        {
            break;
        }
    }

    if (i == NGX_OMNI_STATS_JOBS) {
        if (free == NGX_OMNI_STATS_JOBS) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "omni: no slot left for job \"%V\"", &job->name);
            return NGX_ERROR;
        }

        i = free;
        js = &ngx_omni_stats->jobs[i];
        ngx_memzero(js, sizeof(ngx_omni_job_stats_t));
        (void) ngx_cpystrn(js->name, job->name.data, job->name.len + 1);
    }

    /* how long a holder's beat lasts, for the status page */
    js->stale = job->lease == NGX_OMNI_JOB_ONE_PER_HOST
                ? NGX_OMNI_JOB_HOST_STALE
                : job->lease == NGX_OMNI_JOB_ONE_PER_FLEET
                  ? NGX_OMNI_JOB_FLEET_TTL : 0;

    job->index = i;
    ngx_omni_jobs[ngx_omni_njobs++] = job;

    return NGX_OK;
}


ngx_int_t
ngx_omni_jobs_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t         i;
    ngx_socket_t       fd;
    ngx_omni_job_t    *job;
    ngx_connection_t  *c, *saved;

    ngx_omni_jobs_stop = 0;

    if (ngx_omni_stats == NULL || ngx_omni_njobs == 0) {
        return NGX_OK;
    }

    /*
     * The watcher: no socket (its fd is neither a real one nor -1), idle,
     * so that a graceful stop calls its read handler.  ngx_get_connection
     * would file it under fd 0 in the poll-style file table: put back
     * whatever was there.
     */
    fd = 0;
    saved = cycle->files ? cycle->files[fd] : NULL;

    c = ngx_get_connection(fd, cycle->log);

    if (cycle->files) {
        cycle->files[fd] = saved;
    }

    if (c == NULL) {
        return NGX_ERROR;
    }

    c->fd = (ngx_socket_t) -2;
    c->idle = 1;
    c->read->handler = ngx_omni_jobs_stopping;
    c->read->log = cycle->log;
    ngx_omni_jobs_watcher = c;

    for (i = 0; i < ngx_omni_njobs; i++) {
        job = ngx_omni_jobs[i];

        job->state = NGX_OMNI_JOB_IDLE;
        job->held = 0;
        job->asking = 0;
        job->again = 0;
        job->calling = 0;
        job->failures = 0;

        job->run.handler = ngx_omni_job_run;
        job->run.data = job;
        job->run.log = cycle->log;
        job->beat.handler = ngx_omni_job_beat;
        job->beat.data = job;
        job->beat.log = cycle->log;
        job->beat.cancelable = 1;
        job->watchdog.handler = ngx_omni_job_watchdog;
        job->watchdog.data = job;
        job->watchdog.log = cycle->log;

        if (job->lease == NGX_OMNI_JOB_EVERY_WORKER) {
            ngx_omni_job_held(job, 1);
        }

        /* the first look at the lease comes soon, whatever the interval */
        ngx_omni_job_schedule(job, ngx_min(job->interval,
                                           NGX_OMNI_JOB_HOST_RETRY));
    }

    return NGX_OK;
}


/*
 * The worker leaves (after a graceful stop, or at once on a fast one):
 * every job not yet stopped stops here; a fleet lease can't be given back
 * without a round trip, so it expires instead.
 */
void
ngx_omni_jobs_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t  i;

    (void) cycle;

    for (i = 0; i < ngx_omni_njobs; i++) {
        ngx_omni_job_stop(ngx_omni_jobs[i], 1);
    }

    if (ngx_omni_jobs_watcher) {
        /* back to fd 0 for ngx_free_connection's file table look-up */
        ngx_omni_jobs_watcher->fd = 0;
        ngx_free_connection(ngx_omni_jobs_watcher);
        ngx_omni_jobs_watcher->fd = (ngx_socket_t) -1;
        ngx_omni_jobs_watcher = NULL;
    }
}


void
ngx_omni_job_done(ngx_omni_job_t *job, ngx_int_t rc)
{
    if (job->calling) {
        /* the slice has not returned NGX_DONE yet: it will see this */
        job->early_rc = rc;
        return;
    }

    if (job->state != NGX_OMNI_JOB_RUNNING) {
        /* its stop came first: the runner gave up waiting for it */
        ngx_log_debug1(NGX_LOG_DEBUG_CORE, ngx_cycle->log, 0,
                       "omni job \"%V\": late slice end ignored",
                       &job->name);
        return;
    }

    ngx_omni_job_finish(job, rc);
}


void
ngx_omni_job_wake(ngx_omni_job_t *job)
{
    if (job->state == NGX_OMNI_JOB_RUNNING) {
        job->again = 1;
        return;
    }

    if (job->state != NGX_OMNI_JOB_IDLE || !job->held || ngx_omni_jobs_stop) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_CORE, ngx_cycle->log, 0,
                   "omni job \"%V\": woken", &job->name);

    ngx_omni_job_schedule(job, 0);
}


ngx_uint_t
ngx_omni_job_overtime(ngx_omni_job_t *job)
{
    ngx_time_update();

    return ngx_current_msec - job->started >= job->slice_max;
}


static void
ngx_omni_job_run(ngx_event_t *ev)
{
    ngx_omni_job_t  *job;

    job = ev->data;

    if (job->state != NGX_OMNI_JOB_IDLE) {
        return;
    }

    if (ngx_omni_jobs_stop || ngx_exiting || ngx_terminate || ngx_quit) {
        ngx_omni_job_stop(job, 0);
        return;
    }

    switch (ngx_omni_job_lease(job)) {

    case NGX_OK:
        ngx_omni_job_start(job);
        return;

    case NGX_AGAIN:
        /* PostgreSQL is asked: its answer goes on from here */
        return;

    default: /* NGX_DECLINED: another process has it */
        ngx_omni_job_schedule(job, job->lease == NGX_OMNI_JOB_ONE_PER_FLEET
                                   ? NGX_OMNI_JOB_FLEET_RETRY
                                   : NGX_OMNI_JOB_HOST_RETRY);
        return;
    }
}


/* NGX_OK: this process runs the job now; NGX_DECLINED: another one does */
static ngx_int_t
ngx_omni_job_lease(ngx_omni_job_t *job)
{
    switch (job->lease) {

    case NGX_OMNI_JOB_ONE_PER_HOST:
        return ngx_omni_job_host_lease(job);

    case NGX_OMNI_JOB_ONE_PER_FLEET:
        if (job->held) {
            return NGX_OK;
        }

        return ngx_omni_job_fleet_ask(job, NGX_OMNI_JOB_ASK_TAKE);

    default:
        return NGX_OK;
    }
}


/*
 * Whether the holder lives is judged by its heartbeat, not by its pid
 * alone: a dead holder's pid may belong to any process by now, and
 * kill(pid, 0) then says "exists" (or EPERM, another user's), so a lease
 * judged by the pid would never be taken over.  Only a running holder
 * keeps the heartbeat fresh; nginx's monotonic clock is the same for
 * every process of the host and survives a reload, as the zone does.
 * (nginx's ngx_processes[] would not do: a worker only knows the slots of
 * its own generation, and a pid there can be reused as well.)  A pid that
 * no process has (ESRCH) is taken at once: the holder is surely gone, so
 * a crashed holder is replaced within a retry.
 *
 * The pid is swapped in with compare-and-swap: of two takers only one
 * wins, and no lock of ours is left held by a worker killed here.
 */
static ngx_int_t
ngx_omni_job_host_lease(ngx_omni_job_t *job)
{
    ngx_pid_t              holder;
    ngx_msec_int_t         age;
    ngx_omni_job_stats_t  *js;

    js = &ngx_omni_stats->jobs[job->index];

    holder = (ngx_pid_t) js->holder;

    if (holder == ngx_pid) {
        js->beat = ngx_current_msec;

        if (!job->held) {
            ngx_omni_job_taken(job);
        }

        return NGX_OK;
    }

    if (job->held) {
        ngx_omni_job_lost(job, "another process holds it");
    }

    /* signed: another process's clock reading may be a little ahead */
    age = (ngx_msec_int_t) (ngx_current_msec - js->beat);

    if (holder != 0
        && age <= NGX_OMNI_JOB_HOST_STALE
        && !(kill(holder, 0) == -1 && ngx_errno == NGX_ESRCH))
    {
        return NGX_DECLINED;
    }

    /*
     * The beat first: whoever sees this process as the holder sees it
     * beating, and does not take the lease in turn.  Should the swap
     * fail, another taker has just won and beats from now on.
     */
    js->beat = ngx_current_msec;

    if (!ngx_atomic_cmp_set(&js->holder, (ngx_atomic_uint_t) holder,
                            (ngx_atomic_uint_t) ngx_pid))
    {
        return NGX_DECLINED;
    }

    if (holder) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "omni: %s %P is gone (last heartbeat %M ms ago); "
                      "taking over", job->holder, holder,
                      (ngx_msec_t) ngx_max(age, 0));
    }

    ngx_omni_job_taken(job);

    return NGX_OK;
}


/*
 * One statement takes or renews the lease row (see omni_job_lease() in
 * sql/006): it is ours when it is free, expired, or already ours.
 */
static ngx_int_t
ngx_omni_job_fleet_ask(ngx_omni_job_t *job, ngx_uint_t why)
{
    u_char     pid[NGX_INT_T_LEN], ttl[NGX_INT_T_LEN];
    ngx_str_t  params[4];

    if (job->asking) {
        /* a renewal is out: its answer goes on with the run */
        if (why == NGX_OMNI_JOB_ASK_TAKE) {
            job->asking = why;
        }

        return NGX_AGAIN;
    }

    params[0] = job->name;
    params[1] = ngx_cycle->hostname;
    params[2].data = pid;
    params[2].len = ngx_sprintf(pid, "%P", ngx_pid) - pid;
    params[3].data = ttl;
    params[3].len = ngx_sprintf(ttl, "%M", (ngx_msec_t) NGX_OMNI_JOB_FLEET_TTL)
                    - ttl;

    if (ngx_omni_pg_query(NGX_OMNI_STMT_JOB_LEASE, 4, params,
                          ngx_omni_job_fleet_answer, job)
        == NULL)
    {
        /* no database now: as if another host held it */
        return NGX_DECLINED;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_CORE, ngx_cycle->log, 0,
                   "omni job \"%V\": asking for the fleet lease (%s)",
                   &job->name, why == NGX_OMNI_JOB_ASK_TAKE ? "take" : "renew");

    job->asking = why;

    return NGX_AGAIN;
}


static void
ngx_omni_job_fleet_answer(void *data, ngx_int_t rc, PGresult *res)
{
    ngx_uint_t       why;
    ngx_omni_job_t  *job;

    job = data;
    why = job->asking;
    job->asking = 0;

    if (rc == NGX_OK && PQntuples(res) == 1
        && *PQgetvalue(res, 0, 0) == 't')
    {
        job->renewed = ngx_current_msec;

        if (!job->held) {
            ngx_omni_job_taken(job);
        }

        ngx_omni_stats->jobs[job->index].beat = ngx_current_msec;

    } else if (rc == NGX_OK) {
        if (job->held) {
            ngx_omni_job_lost(job, "another host holds it");
        }

    } else if (job->held
               && ngx_current_msec - job->renewed
                  >= NGX_OMNI_JOB_FLEET_TTL / 2)
    {
        /* not renewed for half its life: the next try would be late */
        ngx_omni_job_lost(job, "it could not be renewed");
    }

    if (job->state == NGX_OMNI_JOB_STOPPED) {
        /* taken while the job stopped: give it back */
        ngx_omni_job_release(job, 0);
        return;
    }

    if (why != NGX_OMNI_JOB_ASK_TAKE || job->state != NGX_OMNI_JOB_IDLE) {
        return;
    }

    if (ngx_omni_jobs_stop || ngx_exiting) {
        ngx_omni_job_stop(job, 0);
        return;
    }

    if (job->held) {
        ngx_omni_job_start(job);
        return;
    }

    ngx_omni_job_schedule(job, NGX_OMNI_JOB_FLEET_RETRY);
}


static void
ngx_omni_job_taken(ngx_omni_job_t *job)
{
    ngx_msec_t  beat;

    ngx_omni_job_held(job, 1);

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "omni: job \"%V\": lease taken", &job->name);

    beat = job->lease == NGX_OMNI_JOB_ONE_PER_FLEET
           ? NGX_OMNI_JOB_FLEET_TTL / 3 : NGX_OMNI_JOB_HOST_BEAT;

    if (!job->beat.timer_set) {
        ngx_add_timer(&job->beat, beat);
    }
}


/* the lease went elsewhere: the slice in flight ends, no other starts */
static void
ngx_omni_job_lost(ngx_omni_job_t *job, const char *why)
{
    ngx_omni_job_held(job, 0);

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "omni: job \"%V\": lease lost: %s", &job->name, why);

    if (job->beat.timer_set) {
        ngx_del_timer(&job->beat);
    }
}


static void
ngx_omni_job_release(ngx_omni_job_t *job, ngx_uint_t exiting)
{
    u_char                 pid[NGX_INT_T_LEN];
    ngx_str_t              params[3];
    ngx_omni_job_stats_t  *js;

    if (job->beat.timer_set) {
        ngx_del_timer(&job->beat);
    }

    if (!job->held) {
        return;
    }

    ngx_omni_job_held(job, 0);

    switch (job->lease) {

    case NGX_OMNI_JOB_ONE_PER_HOST:
        js = &ngx_omni_stats->jobs[job->index];
        (void) ngx_atomic_cmp_set(&js->holder, (ngx_atomic_uint_t) ngx_pid, 0);
        break;

    case NGX_OMNI_JOB_ONE_PER_FLEET:
        if (exiting) {
            /* no round trip left: the row expires by itself */
            break;
        }

        params[0] = job->name;
        params[1] = ngx_cycle->hostname;
        params[2].data = pid;
        params[2].len = ngx_sprintf(pid, "%P", ngx_pid) - pid;

        /* its deadline timer keeps a leaving worker until it is answered */
        (void) ngx_omni_pg_query(NGX_OMNI_STMT_JOB_RELEASE, 3, params,
                                 ngx_omni_job_fleet_released, job);
        break;

    default:
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "omni: job \"%V\": lease released", &job->name);
}


static void
ngx_omni_job_fleet_released(void *data, ngx_int_t rc, PGresult *res)
{
    ngx_omni_job_t  *job;

    job = data;

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "omni: job \"%V\": giving back the lease failed "
                      "(it expires in %d s): %s", &job->name,
                      NGX_OMNI_JOB_FLEET_TTL / 1000,
                      res ? PQresultErrorMessage(res) : "no database");
    }
}


static void
ngx_omni_job_start(ngx_omni_job_t *job)
{
    ngx_int_t              rc;
    ngx_omni_job_stats_t  *js;

    js = &ngx_omni_stats->jobs[job->index];

    job->state = NGX_OMNI_JOB_RUNNING;
    job->started = ngx_current_msec;
    job->again = 0;

    (void) ngx_atomic_fetch_add(&js->runs, 1);

    ngx_log_debug1(NGX_LOG_DEBUG_CORE, ngx_cycle->log, 0,
                   "omni job \"%V\": slice start", &job->name);

    job->watchdog.cancelable = 1;
    ngx_add_timer(&job->watchdog, job->slice_max);

    job->calling = 1;
    job->early_rc = NGX_DONE;

    rc = job->slice(job);

    job->calling = 0;

    if (rc == NGX_DONE) {
        if (job->early_rc == NGX_DONE) {
            /* out: ngx_omni_job_done() ends it */
            return;
        }

        rc = job->early_rc;
    }

    ngx_omni_job_finish(job, rc);
}


static void
ngx_omni_job_finish(ngx_omni_job_t *job, ngx_int_t rc)
{
    ngx_msec_t             delay;
    ngx_omni_job_stats_t  *js;

    js = &ngx_omni_stats->jobs[job->index];

    if (job->watchdog.timer_set) {
        ngx_del_timer(&job->watchdog);
    }

    job->state = NGX_OMNI_JOB_IDLE;

    ngx_log_debug3(NGX_LOG_DEBUG_CORE, ngx_cycle->log, 0,
                   "omni job \"%V\": slice result %i after %M ms",
                   &job->name, rc, ngx_current_msec - job->started);

    if (rc == NGX_ERROR) {
        (void) ngx_atomic_fetch_add(&js->errors, 1);
        job->failures++;

    } else {
        js->last_success = ngx_omni_job_wall_ms();
        job->failures = 0;
    }

    if (ngx_omni_jobs_stop || ngx_exiting || ngx_terminate || ngx_quit) {
        ngx_omni_job_stop(job, 0);
        return;
    }

    switch (rc) {

    case NGX_OK:
        delay = job->again ? 0 : job->interval;
        break;

    case NGX_AGAIN:
        delay = 0;
        break;

    default:
        delay = ngx_omni_job_backoff(job);
        break;
    }

    ngx_omni_job_schedule(job, delay);
}


/*
 * The next run: 0 is the next turn of the loop, through
 * ngx_posted_next_events (an event posted to ngx_posted_events from its
 * own handler would run again in the same turn, and hold the loop).
 */
static void
ngx_omni_job_schedule(ngx_omni_job_t *job, ngx_msec_t delay)
{
    if (job->run.posted) {
        ngx_delete_posted_event(&job->run);
    }

    if (job->run.timer_set) {
        ngx_del_timer(&job->run);
    }

    if (delay == 0) {
        ngx_post_event(&job->run, &ngx_posted_next_events);
        return;
    }

    /* a rest: a reload or quit need not wait for it */
    job->run.cancelable = 1;
    ngx_add_timer(&job->run, delay);
}


/* doubling from backoff_min to backoff_max, then half of it random */
static ngx_msec_t
ngx_omni_job_backoff(ngx_omni_job_t *job)
{
    ngx_msec_t  delay;

    delay = job->backoff_min;

    if (job->failures > 1) {
        delay <<= ngx_min(job->failures - 1, 16);
    }

    delay = ngx_min(delay, job->backoff_max);

    /* hosts that failed together do not retry together */
    delay = delay / 2 + (ngx_msec_t) ngx_random() % (delay / 2 + 1);
    delay = ngx_max(delay, 1);

    ngx_log_debug3(NGX_LOG_DEBUG_CORE, ngx_cycle->log, 0,
                   "omni job \"%V\": failure %ui, back-off %M ms",
                   &job->name, job->failures, delay);

    return delay;
}


/* the holder's heartbeat, for as long as it holds the lease */
static void
ngx_omni_job_beat(ngx_event_t *ev)
{
    ngx_omni_job_t        *job;
    ngx_omni_job_stats_t  *js;

    job = ev->data;

    if (!job->held) {
        return;
    }

    if (job->lease == NGX_OMNI_JOB_ONE_PER_FLEET) {
        (void) ngx_omni_job_fleet_ask(job, NGX_OMNI_JOB_ASK_RENEW);
        ngx_add_timer(ev, NGX_OMNI_JOB_FLEET_TTL / 3);
        return;
    }

    js = &ngx_omni_stats->jobs[job->index];

    if ((ngx_pid_t) js->holder != ngx_pid) {
        ngx_omni_job_lost(job, "another process took it");
        return;
    }

    js->beat = ngx_current_msec;
    ngx_add_timer(ev, NGX_OMNI_JOB_HOST_BEAT);
}


/*
 * A slice in flight for slice_max: said once in the log; while the worker
 * stops, the runner waits no longer and stops the job.
 */
static void
ngx_omni_job_watchdog(ngx_event_t *ev)
{
    ngx_omni_job_t  *job;

    job = ev->data;

    if (job->state != NGX_OMNI_JOB_RUNNING) {
        return;
    }

    if (ngx_omni_jobs_stop || ngx_exiting) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "omni: job \"%V\": the slice in flight did not end "
                      "within %M ms of the stop; stopping it", &job->name,
                      job->slice_max);
        ngx_omni_job_stop(job, 0);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "omni: job \"%V\": a slice has run for %M ms",
                  &job->name, ngx_current_msec - job->started);
}


/* once: the stop hook while the lease is still held, then the lease goes */
static void
ngx_omni_job_stop(ngx_omni_job_t *job, ngx_uint_t exiting)
{
    if (job->state == NGX_OMNI_JOB_STOPPED) {
        return;
    }

    job->state = NGX_OMNI_JOB_STOPPED;

    ngx_log_debug2(NGX_LOG_DEBUG_CORE, ngx_cycle->log, 0,
                   "omni job \"%V\": stop%s", &job->name,
                   exiting ? " at exit" : "");

    if (job->run.posted) {
        ngx_delete_posted_event(&job->run);
    }

    if (job->run.timer_set) {
        ngx_del_timer(&job->run);
    }

    if (job->watchdog.timer_set) {
        ngx_del_timer(&job->watchdog);
    }

    if (job->held && job->lease == NGX_OMNI_JOB_ONE_PER_HOST) {
        /* the hook acts as the holder: it must still be the holder */
        if ((ngx_pid_t) ngx_omni_stats->jobs[job->index].holder != ngx_pid) {
            ngx_omni_job_lost(job, "another process took it");
        }
    }

    if (job->held && job->stop) {
        job->stop(job);
    }

    ngx_omni_job_release(job, exiting);
}


/*
 * A graceful stop begins (nginx -s reload or quit): no slice starts from
 * now on; one in flight is waited for, for what is left of its slice_max.
 */
static void
ngx_omni_jobs_stopping(ngx_event_t *ev)
{
    ngx_uint_t       i;
    ngx_msec_t       left;
    ngx_omni_job_t  *job;

    (void) ev;

    if (ngx_omni_jobs_stop) {
        return;
    }

    ngx_omni_jobs_stop = 1;

    ngx_log_debug0(NGX_LOG_DEBUG_CORE, ngx_cycle->log, 0,
                   "omni jobs: graceful stop");

    for (i = 0; i < ngx_omni_njobs; i++) {
        job = ngx_omni_jobs[i];

        if (job->state != NGX_OMNI_JOB_RUNNING) {
            ngx_omni_job_stop(job, 0);
            continue;
        }

        left = job->started + job->slice_max - ngx_current_msec;

        if ((ngx_msec_int_t) left <= 0) {
            left = 1;
        }

        if (job->watchdog.timer_set) {
            ngx_del_timer(&job->watchdog);
        }

        /* not cancelable: the worker stays until the slice ends */
        job->watchdog.cancelable = 0;
        ngx_add_timer(&job->watchdog, left);

        ngx_log_debug2(NGX_LOG_DEBUG_CORE, ngx_cycle->log, 0,
                       "omni job \"%V\": waiting up to %M ms for its slice",
                       &job->name, left);
    }
}


/*
 * A fleet lease is the database's; the stats zone says which worker of
 * this host holds it, for the status page.  (A host lease is the zone's
 * holder itself.)
 */
static void
ngx_omni_job_held(ngx_omni_job_t *job, ngx_uint_t held)
{
    ngx_omni_job_stats_t  *js;

    job->held = held;

    if (job->lease != NGX_OMNI_JOB_ONE_PER_FLEET) {
        return;
    }

    js = &ngx_omni_stats->jobs[job->index];

    if (held) {
        js->holder = (ngx_atomic_uint_t) ngx_pid;
        js->beat = ngx_current_msec;
        return;
    }

    (void) ngx_atomic_cmp_set(&js->holder, (ngx_atomic_uint_t) ngx_pid, 0);
}


static ngx_atomic_uint_t
ngx_omni_job_wall_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (ngx_atomic_uint_t) tp->sec * 1000 + tp->msec;
}


static ngx_int_t
ngx_omni_jobs_sweep(ngx_omni_job_t *job)
{
    if (ngx_omni_pg_query(NGX_OMNI_STMT_JOB_LEASE_SWEEP, 0, NULL,
                          ngx_omni_jobs_swept, job)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


static void
ngx_omni_jobs_swept(void *data, ngx_int_t rc, PGresult *res)
{
    ngx_omni_job_t  *job;

    job = data;

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "omni: sweeping expired job leases failed: %s",
                      res ? PQresultErrorMessage(res) : "no database");
        ngx_omni_job_done(job, NGX_ERROR);
        return;
    }

    ngx_omni_job_done(job, NGX_OK);
}
