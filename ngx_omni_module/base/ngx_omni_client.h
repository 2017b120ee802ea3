
/*
 * The outbound HTTP/1.1 client on nginx's event loop: channel send APIs
 * today, Salesforce and the other callers of outside APIs next.  An
 * upstream is a base URL the operator configured (never tenant input);
 * a request goes to a path below it and its answer comes back to a
 * handler, once, on a later turn of the loop.  See docs/delivery.md.
 */

#ifndef _NGX_OMNI_CLIENT_H_INCLUDED_
#define _NGX_OMNI_CLIENT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* why a request got no answer: the kinds of the errors' metric */
#define NGX_OMNI_CLIENT_ERRORS(X)                                           \
    X(REQUEST,     "bad_request")       /* the caller's request is unfit */ \
    X(RESOLVE,     "resolve")           /* the host's name did not resolve */\
    X(CONNECT,     "connect")           /* refused, unreachable */          \
    X(TLS,         "tls")               /* the handshake failed */          \
    X(TLS_VERIFY,  "tls_verify_failed") /* the certificate is not trusted */\
    X(TIMEOUT,     "timeout")                                               \
    X(CLOSED,      "closed")            /* cut before the answer ended */   \
    X(INVALID,     "invalid_response")  /* not HTTP/1.x as we read it */    \
    X(TOO_LARGE,   "too_large")         /* over omni_client_max_response */ \
    X(INTERNAL,    "internal")          /* out of memory, a socket error */


#define NGX_OMNI_CLIENT_ERROR_ENUM(id, name)  NGX_OMNI_CLIENT_E_##id,

enum {
    NGX_OMNI_CLIENT_OK = 0,
    NGX_OMNI_CLIENT_ERRORS(NGX_OMNI_CLIENT_ERROR_ENUM)
    NGX_OMNI_CLIENT_E_N
};


typedef struct ngx_omni_client_upstream_s  ngx_omni_client_upstream_t;
typedef struct ngx_omni_client_request_s   ngx_omni_client_request_t;


/* the client's settings, a part of the module's main conf */
typedef struct {
    ngx_msec_t                   connect_timeout;  /* TCP and TLS */
    ngx_msec_t                   send_timeout;     /* the whole request */
    ngx_msec_t                   read_timeout;     /* the whole answer */
    size_t                       max_response;     /* body bytes */
    ngx_str_t                    trusted_certificate;  /* empty: system */
    ngx_ssl_t                   *ssl;              /* the first https one */
    ngx_array_t                  upstreams;        /* upstream pointers */
} ngx_omni_client_conf_t;


/* what the handler gets: valid until it returns */
typedef struct {
    ngx_uint_t                   error;     /* NGX_OMNI_CLIENT_OK or _E_* */
    ngx_str_t                    reason;    /* the error, as a sentence */
    ngx_uint_t                   status;    /* the HTTP status, no error */
    ngx_list_t                   headers;   /* ngx_table_elt_t */
    ngx_str_t                    body;      /* whole, chunks joined */
} ngx_omni_client_response_t;

typedef void (*ngx_omni_client_handler_pt)(void *data,
    ngx_omni_client_response_t *res);


/* a request; its strings need only live until ngx_omni_client_request() */
typedef struct {
    ngx_str_t                    method;
    ngx_str_t                    path;      /* below the upstream's prefix */
    ngx_keyval_t                *headers;   /* Authorization, Content-Type */
    ngx_uint_t                   nheaders;
    ngx_str_t                    body;
    ngx_omni_client_handler_pt   handler;
    void                        *data;
} ngx_omni_client_call_t;


typedef struct {
    ngx_atomic_t                 requests;
    ngx_atomic_t                 responses[6];  /* 1xx..5xx, [0] other */
    ngx_atomic_t                 errors[NGX_OMNI_CLIENT_E_N];
    ngx_atomic_t                 opened;        /* new connections */
    ngx_atomic_t                 reused;        /* from the keep-alive pool */
    ngx_atomic_t                 retried;       /* reused, cut, sent again */
    ngx_atomic_t                 tls_resumed;   /* abbreviated handshakes */
} ngx_omni_client_stats_t;


void ngx_omni_client_conf_init(ngx_omni_client_conf_t *ccf);
/* init main conf: defaults; TLS context and resolvers, once configured */
char *ngx_omni_client_conf_merge(ngx_conf_t *cf,
    ngx_omni_client_conf_t *ccf);

/*
 * Configuration time: an upstream for a base URL (https://host[:port]
 * [/prefix]; http:// only for local servers); NULL after an error said
 * to the configuration log.
 */
ngx_omni_client_upstream_t *ngx_omni_client_upstream_add(ngx_conf_t *cf,
    ngx_omni_client_conf_t *ccf, ngx_str_t *url);

/* the longest a request to this upstream can take, retry included */
ngx_msec_t ngx_omni_client_max_time(ngx_omni_client_upstream_t *u);

/* the base URL, for logs */
ngx_str_t *ngx_omni_client_upstream_url(ngx_omni_client_upstream_t *u);

/*
 * Sends a request.  The handler is called exactly once, never inside
 * this call, unless the request is canceled first.  NULL: out of memory
 * (the handler is never called).
 */
ngx_omni_client_request_t *ngx_omni_client_request(
    ngx_omni_client_upstream_t *u, ngx_omni_client_call_t *call);

/* the request's owner is gone: never call back, close and free all */
void ngx_omni_client_cancel(ngx_omni_client_request_t *req);

/* a header of the answer, by name (case-insensitive); NULL: none */
ngx_str_t *ngx_omni_client_header(ngx_omni_client_response_t *res,
    const char *name);

/* the name of an error kind, for metrics and records */
const char *ngx_omni_client_error_name(ngx_uint_t error);

/* worker exit: requests in flight end without a call back, pools close */
void ngx_omni_client_exit_process(ngx_cycle_t *cycle);


/* written where ngx_omni_stats_init_process() points it: shared memory */
extern ngx_omni_client_stats_t  *ngx_omni_client_stats;


#endif /* _NGX_OMNI_CLIENT_H_INCLUDED_ */
