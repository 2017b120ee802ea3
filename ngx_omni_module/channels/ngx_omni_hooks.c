
/*
 * Channel webhooks in.  POST /omni/hooks/{channel_id}: the channel from
 * the shared cache (else one query), the signature checked on the raw
 * body before anything parses it (core/omni_hook_sig), the body parsed
 * into normalized events (core/omni_hook_parse), and the events made
 * durable in webhook_inbox before the channel hears 200 -- a channel does
 * not send an acknowledged event again.  Applying them is the inbox job's
 * (ngx_omni_inbox.c), off the request path.  GET answers Meta's
 * subscription handshake.
 *
 * Group commit: each worker keeps one queue of accepted webhooks.  While
 * no insert of its own is out, everything queued goes to PostgreSQL as one
 * statement (one commit); webhooks that arrive meanwhile wait for the next
 * one.  A burst of a broadcast's statuses costs a few commits, not one
 * each, and no request is answered before the commit that holds it.
 */

#include <openssl/sha.h>
#include <openssl/crypto.h>

#include "ngx_omni_module.h"
#include "ngx_omni_http.h"
#include "ngx_omni_pg.h"
#include "ngx_omni_stmt.h"
#include "ngx_omni_cache.h"
#include "ngx_omni_stats.h"
#include "ngx_omni_hooks.h"
#include "ngx_omni_inbox.h"
#include "omni_hook_sig.h"
#include "omni_hook_parse.h"


#define NGX_OMNI_HOOK_SECRET_MAX     256
#define NGX_OMNI_HOOK_ACCOUNT_MAX    128
#define NGX_OMNI_HOOK_CHALLENGE_MAX  128
#define NGX_OMNI_HOOK_ID_LEN         18

/* one commit: at most this many webhooks, about this many bytes */
#define NGX_OMNI_HOOKS_BATCH         256
#define NGX_OMNI_HOOKS_BATCH_BYTES   (8 * 1024 * 1024)

/* inserts out at once per worker (see docs/webhooks.md) */
#define NGX_OMNI_HOOKS_INFLIGHT      2

/* waiting in a worker for the next commit; beyond: 503, retried later */
#define NGX_OMNI_HOOKS_WAITING       4096
#define NGX_OMNI_HOOKS_WAITING_BYTES (64 * 1024 * 1024)


/* a channel as the shared cache keeps it (a fixed size, no pointers) */
typedef struct {
    int64_t                  tenant_id;
    omni_channel_e           type;         /* NONE: takes no webhooks */
    uint32_t                 secret_len;
    uint32_t                 verify_len;
    uint32_t                 account_len;
    u_char                   secret[NGX_OMNI_HOOK_SECRET_MAX];
    u_char                   verify_token[NGX_OMNI_HOOK_SECRET_MAX];
    u_char                   account[NGX_OMNI_HOOK_ACCOUNT_MAX];
} ngx_omni_hook_channel_t;


typedef struct {
    ngx_uint_t               endpoint;     /* first: see ngx_omni_tag() */
    ngx_http_request_t      *request;
    int64_t                  channel_id;
    uint64_t                 cache_gen;
    ngx_omni_hook_channel_t  channel;
    ngx_omni_pg_query_t     *query;        /* the channel's load */
    ngx_str_t                events;       /* the parsed events, JSON */
    ngx_uint_t               nevents;
    ngx_queue_t              queue;        /* waiting, or in the commit */
    unsigned                 queued:1;
    unsigned                 committing:1;
} ngx_omni_hook_ctx_t;


/* one insert out: the webhooks it holds */
typedef struct {
    ngx_queue_t              committing;
    ngx_uint_t               inflight;     /* its insert is out */
} ngx_omni_hooks_commit_t;


/* this worker's group commit */
typedef struct {
    ngx_queue_t              waiting;
    ngx_uint_t               nwaiting;
    size_t                   waiting_bytes;
    ngx_omni_hooks_commit_t  commits[NGX_OMNI_HOOKS_INFLIGHT];
    ngx_event_t              flush;        /* posted: send what waits */
} ngx_omni_hooks_queue_t;


static ngx_int_t ngx_omni_hooks_channel_id(ngx_http_request_t *r,
    int64_t *id);
static void ngx_omni_hooks_body_read(ngx_http_request_t *r);
static ngx_int_t ngx_omni_hooks_channel(ngx_omni_hook_ctx_t *ctx);
static void ngx_omni_hooks_channel_loaded(void *data, ngx_int_t rc,
    PGresult *res);
static ngx_int_t ngx_omni_hooks_channel_row(ngx_omni_hook_channel_t *ch,
    PGresult *res);
static uint32_t ngx_omni_hooks_value(PGresult *res, int col, u_char *to,
    size_t room);
static ngx_int_t ngx_omni_hooks_known(ngx_omni_hook_ctx_t *ctx);
static ngx_int_t ngx_omni_hooks_handshake(ngx_omni_hook_ctx_t *ctx);
static ngx_int_t ngx_omni_hooks_accept(ngx_omni_hook_ctx_t *ctx);
static omni_hook_sig_e ngx_omni_hooks_signature(ngx_omni_hook_ctx_t *ctx,
    ngx_str_t *body);
static ngx_int_t ngx_omni_hooks_enqueue(ngx_omni_hook_ctx_t *ctx);
static ngx_omni_hooks_commit_t *ngx_omni_hooks_free_commit(
    ngx_omni_hooks_queue_t *q);
static void ngx_omni_hooks_flush(ngx_event_t *ev);
static void ngx_omni_hooks_committed(void *data, ngx_int_t rc,
    PGresult *res);
static void ngx_omni_hooks_answer(ngx_omni_hook_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_omni_hooks_db_error(ngx_http_request_t *r,
    ngx_int_t rc);
static void ngx_omni_hooks_finalize(ngx_http_request_t *r, ngx_int_t rc);
static void ngx_omni_hooks_cleanup(void *data);


static ngx_omni_hooks_queue_t  ngx_omni_hooks_queue;
static ngx_uint_t              ngx_omni_hooks_queue_ready;
static ngx_str_t               ngx_omni_hooks_text_type =
    ngx_string("text/plain; charset=utf-8");
static ngx_str_t               ngx_omni_hooks_json_type =
    ngx_string("application/json");


ngx_int_t
ngx_omni_hooks_handler(ngx_http_request_t *r)
{
    int64_t               id;
    ngx_int_t             rc;
    ngx_table_elt_t      *h;
    ngx_omni_hook_ctx_t  *ctx;
    ngx_http_cleanup_t   *cln;

    ngx_omni_tag(r, NGX_OMNI_EP_HOOKS);

    if (ngx_omni_hooks_channel_id(r, &id) != NGX_OK) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_omni_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                   "Webhooks go to /omni/hooks/{channel "
                                   "id}");
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST))) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "GET, POST");

        return ngx_omni_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                   "method_not_allowed",
                                   "A channel posts its webhooks; GET is "
                                   "the subscription handshake");
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_omni_hook_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->endpoint = NGX_OMNI_EP_HOOKS;
    ctx->request = r;
    ctx->channel_id = id;
    ngx_http_set_ctx(r, ctx, ngx_http_omni_module);

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_omni_hooks_cleanup;
    cln->data = ctx;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni hooks: %V for channel %L", &r->method_name, id);

    if (r->method == NGX_HTTP_POST) {
        if (r->headers_in.content_length_n > OMNI_HOOK_BODY_MAX) {
            (void) ngx_atomic_fetch_add(
                               &ngx_omni_stats->hooks.refused_body, 1);
            return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        }

        rc = ngx_http_read_client_request_body(r, ngx_omni_hooks_body_read);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_omni_hooks_channel(ctx);

    if (rc == NGX_DONE) {
        /* the channel's load answers; ours until it finalizes */
        r->main->count++;
        r->read_event_handler = ngx_http_test_reading;
        return NGX_DONE;
    }

    if (rc == NGX_ERROR) {
        return ngx_omni_hooks_db_error(r, NGX_HTTP_SERVICE_UNAVAILABLE);
    }

    return ngx_omni_hooks_known(ctx);
}


/* "/omni/hooks/123": the digits after the location's prefix */
static ngx_int_t
ngx_omni_hooks_channel_id(ngx_http_request_t *r, int64_t *id)
{
    ngx_str_t  path;

    ngx_omni_location_tail(r, &path);

    if (path.len < 1 || path.len > NGX_OMNI_HOOK_ID_LEN) {
        return NGX_ERROR;
    }

    *id = ngx_atoof(path.data, path.len);

    return *id > 0 ? NGX_OK : NGX_ERROR;
}


static void
ngx_omni_hooks_body_read(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_omni_hook_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_omni_module);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni hooks: body read, %O bytes",
                   r->headers_in.content_length_n > 0
                   ? r->headers_in.content_length_n : 0);

    /* a client that goes away from now on ends the request (cleanup) */
    r->read_event_handler = ngx_http_test_reading;

    rc = ngx_omni_hooks_channel(ctx);

    if (rc == NGX_DONE) {
        return;
    }

    if (rc == NGX_ERROR) {
        rc = ngx_omni_hooks_db_error(r, NGX_HTTP_SERVICE_UNAVAILABLE);

    } else {
        rc = ngx_omni_hooks_known(ctx);

        if (rc == NGX_DONE) {
            return;
        }
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * NGX_OK: ctx->channel is known; NGX_DONE: its load is out; NGX_ERROR:
 * it could not even be asked for (nothing sent yet)
 */
static ngx_int_t
ngx_omni_hooks_channel(ngx_omni_hook_ctx_t *ctx)
{
    u_char               digits[NGX_INT64_LEN];
    size_t               len;
    ngx_str_t            param;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ngx_omni_cache_lookup(NGX_OMNI_CACHE_CHANNEL,
                              (u_char *) &ctx->channel_id,
                              sizeof(int64_t), &ctx->channel,
                              sizeof(ngx_omni_hook_channel_t), &len,
                              &ctx->cache_gen)
        == NGX_OK && len == sizeof(ngx_omni_hook_channel_t))
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni hooks: channel cache hit");
        return NGX_OK;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni hooks: channel cache miss");

    param.data = digits;
    param.len = ngx_sprintf(digits, "%L", ctx->channel_id) - digits;

    ctx->query = ngx_omni_pg_query(NGX_OMNI_STMT_HOOK_CHANNEL, 1, &param,
                                   ngx_omni_hooks_channel_loaded, ctx);

    if (ctx->query == NULL) {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


static void
ngx_omni_hooks_channel_loaded(void *data, ngx_int_t rc, PGresult *res)
{
    ngx_omni_hook_ctx_t  *ctx = data;

    ngx_http_request_t  *r;

    ctx->query = NULL;
    r = ctx->request;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni hooks: channel loaded: rc %i, %i rows",
                   rc, res ? PQntuples(res) : -1);

    if (rc != NGX_OK) {
        if (res) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "omni: loading channel %L failed: %s",
                          ctx->channel_id, PQresultErrorMessage(res));
        }

        rc = ngx_omni_hooks_db_error(r, rc);

    } else if (PQntuples(res) != 1) {
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->hooks.refused_channel,
                                    1);
        rc = ngx_omni_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                 "No channel %L", ctx->channel_id);

    } else if (ngx_omni_hooks_channel_row(&ctx->channel, res) != NGX_OK) {
        rc = ngx_omni_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error",
                                 "The channel could not be read");

    } else {
        ngx_omni_cache_store(NGX_OMNI_CACHE_CHANNEL,
                             (u_char *) &ctx->channel_id, sizeof(int64_t),
                             ctx->channel.tenant_id, ctx->cache_gen,
                             &ctx->channel, sizeof(ngx_omni_hook_channel_t));

        rc = ngx_omni_hooks_known(ctx);

        if (rc == NGX_DONE) {
            return;
        }
    }

    ngx_omni_hooks_finalize(r, rc);
}


/*
 * (tenant_id, type, secret, verify_token, account) -> the cached struct.
 * A value longer than its room is left empty: an empty secret accepts no
 * signature and an empty verify token no handshake, so a channel set up
 * that way refuses its webhooks (logged) rather than checking a prefix.
 */
static ngx_int_t
ngx_omni_hooks_channel_row(ngx_omni_hook_channel_t *ch, PGresult *res)
{
    ngx_memzero(ch, sizeof(ngx_omni_hook_channel_t));

    ch->tenant_id = ngx_atoof((u_char *) PQgetvalue(res, 0, 0),
                              PQgetlength(res, 0, 0));
    ch->type = omni_channel_parse(PQgetvalue(res, 0, 1),
                                  PQgetlength(res, 0, 1));

    if (ch->tenant_id <= 0) {
        return NGX_ERROR;
    }

    ch->secret_len = ngx_omni_hooks_value(res, 2, ch->secret,
                                          sizeof(ch->secret));
    ch->verify_len = ngx_omni_hooks_value(res, 3, ch->verify_token,
                                          sizeof(ch->verify_token));
    ch->account_len = ngx_omni_hooks_value(res, 4, ch->account,
                                           sizeof(ch->account));

    return NGX_OK;
}


static uint32_t
ngx_omni_hooks_value(PGresult *res, int col, u_char *to, size_t room)
{
    size_t  len;

    if (PQgetisnull(res, 0, col)) {
        return 0;
    }

    len = PQgetlength(res, 0, col);

    if (len > room) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "omni: a credential of a channel is longer than %uz "
                      "bytes: its webhooks are refused", room);
        return 0;
    }

    ngx_memcpy(to, PQgetvalue(res, 0, col), len);

    return (uint32_t) len;
}


/* the channel is known: the handshake, or the webhook itself */
static ngx_int_t
ngx_omni_hooks_known(ngx_omni_hook_ctx_t *ctx)
{
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ctx->channel.type == OMNI_CHANNEL_NONE) {
        /* a webchat channel: our own widget, no channel posts to it */
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->hooks.refused_channel,
                                    1);
        return ngx_omni_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                   "Channel %L takes no webhooks",
                                   ctx->channel_id);
    }

    if (r->method == NGX_HTTP_POST) {
        return ngx_omni_hooks_accept(ctx);
    }

    return ngx_omni_hooks_handshake(ctx);
}


/*
 * Meta's handshake: GET ?hub.mode=subscribe&hub.verify_token=T
 * &hub.challenge=C answers C as text when T is the channel's verify
 * token.  Both tokens are hashed before the comparison, so that neither
 * their bytes nor their lengths show in its time.
 */
static ngx_int_t
ngx_omni_hooks_handshake(ngx_omni_hook_ctx_t *ctx)
{
    u_char               *p, *last;
    u_char                want[SHA256_DIGEST_LENGTH];
    u_char                got[SHA256_DIGEST_LENGTH];
    ngx_str_t             mode, token, challenge;
    ngx_http_request_t   *r;

    r = ctx->request;

    if (ngx_omni_arg(r, "hub.mode", &mode) == NGX_ERROR
        || ngx_omni_arg(r, "hub.verify_token", &token) == NGX_ERROR
        || ngx_omni_arg(r, "hub.challenge", &challenge) == NGX_ERROR)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (mode.len != sizeof("subscribe") - 1
        || ngx_strncmp(mode.data, "subscribe", mode.len) != 0)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni hooks: handshake refused: hub.mode");

        return ngx_omni_send_error(r, NGX_HTTP_FORBIDDEN,
                                   "verification_failed",
                                   "hub.mode must be subscribe");
    }

    SHA256(ctx->channel.verify_token, ctx->channel.verify_len, want);
    SHA256(token.data ? token.data : (u_char *) "", token.len, got);

    if (ctx->channel.verify_len == 0
        || CRYPTO_memcmp(want, got, SHA256_DIGEST_LENGTH) != 0)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni hooks: handshake refused: hub.verify_token");

        return ngx_omni_send_error(r, NGX_HTTP_FORBIDDEN,
                                   "verification_failed",
                                   "hub.verify_token is not this "
                                   "channel's");
    }

    /* echoed as text: a short token of safe characters only */
    p = challenge.data;
    last = p + challenge.len;

    while (p < last
           && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')
               || (*p >= 'A' && *p <= 'Z') || *p == '-' || *p == '_'
               || *p == '.' || *p == '~'))
    {
        p++;
    }

    if (challenge.len == 0 || challenge.len > NGX_OMNI_HOOK_CHALLENGE_MAX
        || p != last)
    {
        return ngx_omni_send_error(r, NGX_HTTP_BAD_REQUEST,
                                   "invalid_challenge",
                                   "hub.challenge must be 1 to %d letters, "
                                   "digits, '-', '_', '.' or '~'",
                                   NGX_OMNI_HOOK_CHALLENGE_MAX);
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni hooks: handshake answered");

    (void) ngx_atomic_fetch_add(&ngx_omni_stats->hooks.handshakes, 1);

    r->headers_out.last_modified_time = -1;

    return ngx_omni_send_bytes(r, NGX_HTTP_OK, &ngx_omni_hooks_text_type,
                               challenge.data, challenge.len, 0);
}


/* signature on the raw bytes, then the parse, then the queue */
static ngx_int_t
ngx_omni_hooks_accept(ngx_omni_hook_ctx_t *ctx)
{
    size_t                   len;
    json_t                  *events;
    ngx_str_t                body;
    omni_hook_sig_e          sig;
    omni_json_error_t        err;
    ngx_http_request_t      *r;
    ngx_omni_hooks_stats_t  *hs;

    r = ctx->request;
    hs = &ngx_omni_stats->hooks;

    if (ngx_omni_body_bytes(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sig = ngx_omni_hooks_signature(ctx, &body);

    if (sig != OMNI_HOOK_SIG_OK) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni hooks: signature refused: %s",
                       omni_hook_sig_code(sig));

        (void) ngx_atomic_fetch_add(&hs->refused_signature, 1);

        return ngx_omni_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                   omni_hook_sig_code(sig),
                                   "The webhook's signature is %s",
                                   sig == OMNI_HOOK_SIG_MISSING
                                   ? "missing"
                                   : "not this channel's for this body");
    }

    events = omni_hook_parse(ctx->channel.type, (char *) body.data, body.len,
                             &err);

    if (events == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni hooks: body refused: %s", err.code);

        (void) ngx_atomic_fetch_add(&hs->refused_body, 1);

        return ngx_omni_send_error(r, err.status, err.code, "%s",
                                   err.message);
    }

    /* the events as one JSON text, in the request's pool */
    len = json_dumpb(events, NULL, 0, JSON_COMPACT);

    ctx->events.data = len ? ngx_pnalloc(r->pool, len) : NULL;

    if (ctx->events.data == NULL
        || json_dumpb(events, (char *) ctx->events.data, len, JSON_COMPACT)
           != len)
    {
        json_decref(events);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->events.len = len;
    ctx->nevents = json_array_size(events);

    json_decref(events);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni hooks: signed, %ui events, %uz bytes queued",
                   ctx->nevents, len);

    return ngx_omni_hooks_enqueue(ctx);
}


/*
 * The channel's own header only: a LINE signature on a WhatsApp channel
 * is as missing as none.
 */
static omni_hook_sig_e
ngx_omni_hooks_signature(ngx_omni_hook_ctx_t *ctx, ngx_str_t *body)
{
    ngx_str_t         header, name;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (ctx->channel.type == OMNI_CHANNEL_LINE) {
        ngx_str_set(&name, "X-Line-Signature");

    } else {
        ngx_str_set(&name, "X-Hub-Signature-256");
    }

    ngx_str_null(&header);

    part = &ctx->request->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == name.len
            && ngx_strncasecmp(h[i].key.data, name.data, name.len) == 0)
        {
            header = h[i].value;
            break;
        }
    }

    if (ctx->channel.type == OMNI_CHANNEL_LINE) {
        return omni_hook_sig_line((char *) header.data, header.len,
                                  (char *) ctx->channel.secret,
                                  ctx->channel.secret_len, body->data,
                                  body->len);
    }

    return omni_hook_sig_meta((char *) header.data, header.len,
                              (char *) ctx->channel.secret,
                              ctx->channel.secret_len, body->data,
                              body->len);
}


static ngx_int_t
ngx_omni_hooks_enqueue(ngx_omni_hook_ctx_t *ctx)
{
    ngx_uint_t               i;
    ngx_omni_hooks_queue_t  *q;

    q = &ngx_omni_hooks_queue;

    if (!ngx_omni_hooks_queue_ready) {
        ngx_queue_init(&q->waiting);

        for (i = 0; i < NGX_OMNI_HOOKS_INFLIGHT; i++) {
            ngx_queue_init(&q->commits[i].committing);
        }

        q->flush.handler = ngx_omni_hooks_flush;
        q->flush.log = ngx_cycle->log;
        q->flush.data = q;
        ngx_omni_hooks_queue_ready = 1;
    }

    if (q->nwaiting >= NGX_OMNI_HOOKS_WAITING
        || q->waiting_bytes + ctx->events.len > NGX_OMNI_HOOKS_WAITING_BYTES)
    {
        (void) ngx_atomic_fetch_add(&ngx_omni_stats->hooks.refused_busy, 1);

        return ngx_omni_send_error(ctx->request,
                                   NGX_HTTP_SERVICE_UNAVAILABLE, "busy",
                                   "Too many webhooks wait for the "
                                   "database; retry shortly");
    }

    ngx_queue_insert_tail(&q->waiting, &ctx->queue);
    ctx->queued = 1;
    q->nwaiting++;
    q->waiting_bytes += ctx->events.len;

    /*
     * Posted, not sent now: every webhook that this turn of the event loop
     * reads joins the same commit.
     */
    if (ngx_omni_hooks_free_commit(q) && !q->flush.posted) {
        ngx_post_event(&q->flush, &ngx_posted_events);
    }

    return NGX_DONE;
}


static ngx_omni_hooks_commit_t *
ngx_omni_hooks_free_commit(ngx_omni_hooks_queue_t *q)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_OMNI_HOOKS_INFLIGHT; i++) {
        if (!q->commits[i].inflight) {
            return &q->commits[i];
        }
    }

    return NULL;
}


/* no insert is out: what waits goes as one statement */
static void
ngx_omni_hooks_flush(ngx_event_t *ev)
{
    u_char                   *buf, *p;
    size_t                    size, bytes;
    ngx_str_t                 param;
    ngx_uint_t                n;
    ngx_queue_t              *qn;
    ngx_omni_hook_ctx_t      *ctx;
    ngx_omni_hooks_queue_t   *q;
    ngx_omni_hooks_commit_t  *cm;

    q = ev->data;
    cm = ngx_omni_hooks_free_commit(q);

    if (cm == NULL || ngx_queue_empty(&q->waiting)) {
        return;
    }

    /* the batch, within the caps (at least one), moves to the commit */
    n = 0;
    bytes = 0;
    size = 2;

    while (!ngx_queue_empty(&q->waiting)) {
        qn = ngx_queue_head(&q->waiting);
        ctx = ngx_queue_data(qn, ngx_omni_hook_ctx_t, queue);

        if (n > 0 && (n == NGX_OMNI_HOOKS_BATCH
                      || bytes + ctx->events.len
                         > NGX_OMNI_HOOKS_BATCH_BYTES))
        {
            break;
        }

        ngx_queue_remove(qn);
        ngx_queue_insert_tail(&cm->committing, qn);
        ctx->committing = 1;
        q->nwaiting--;
        q->waiting_bytes -= ctx->events.len;

        n++;
        bytes += ctx->events.len;
        size += ctx->events.len + sizeof("{\"t\":,\"c\":,\"e\":},")
                + 2 * NGX_INT64_LEN;
    }

    cm->inflight = 1;

    buf = ngx_alloc(size, ngx_cycle->log);
    if (buf == NULL) {
        ngx_omni_hooks_committed(cm, NGX_HTTP_SERVICE_UNAVAILABLE, NULL);
        return;
    }

    /* [{"t":tenant,"c":channel,"e":[events]}, ...] */
    p = buf;
    *p++ = '[';

    for (qn = ngx_queue_head(&cm->committing);
         qn != ngx_queue_sentinel(&cm->committing);
         qn = ngx_queue_next(qn))
    {
        ctx = ngx_queue_data(qn, ngx_omni_hook_ctx_t, queue);

        p = ngx_sprintf(p, "{\"t\":%L,\"c\":%L,\"e\":",
                        ctx->channel.tenant_id, ctx->channel_id);
        p = ngx_cpymem(p, ctx->events.data, ctx->events.len);
        *p++ = '}';
        *p++ = ',';
    }

    p[-1] = ']';

    param.data = buf;
    param.len = p - buf;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni hooks: commit sent: %ui webhooks, %uz bytes, "
                   "%ui left waiting", n, param.len, q->nwaiting);

    if (ngx_omni_pg_query(NGX_OMNI_STMT_HOOK_ACCEPT, 1, &param,
                          ngx_omni_hooks_committed, cm)
        == NULL)
    {
        ngx_free(buf);
        ngx_omni_hooks_committed(cm, NGX_HTTP_SERVICE_UNAVAILABLE, NULL);
        return;
    }

    /* another may go out at once, if more waits */
    if (!ngx_queue_empty(&q->waiting) && ngx_omni_hooks_free_commit(q)
        && !q->flush.posted)
    {
        ngx_post_event(&q->flush, &ngx_posted_events);
    }

    ngx_free(buf);
}


/* the commit is back: each of its webhooks hears how it went */
static void
ngx_omni_hooks_committed(void *data, ngx_int_t rc, PGresult *res)
{
    ngx_omni_hooks_commit_t  *cm = data;

    ngx_uint_t                n;
    ngx_queue_t              *qn;
    ngx_omni_hook_ctx_t      *ctx;
    ngx_omni_hooks_queue_t   *q;
    ngx_omni_hooks_stats_t   *hs;

    hs = &ngx_omni_stats->hooks;
    q = &ngx_omni_hooks_queue;
    cm->inflight = 0;

    if (rc == NGX_OK) {
        (void) ngx_atomic_fetch_add(&hs->commits, 1);

    } else {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "omni: storing webhooks failed (rc %i): %s", rc,
                      res ? PQresultErrorMessage(res) : "no database");
    }

    n = 0;

    while (!ngx_queue_empty(&cm->committing)) {
        qn = ngx_queue_head(&cm->committing);
        ngx_queue_remove(qn);

        ctx = ngx_queue_data(qn, ngx_omni_hook_ctx_t, queue);
        ctx->queued = 0;
        ctx->committing = 0;
        n++;

        ngx_omni_hooks_answer(ctx, rc);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "omni hooks: commit back: rc %i, %ui webhooks answered",
                   rc, n);

    if (n > hs->batch_max) {
        hs->batch_max = n;
    }

    if (rc == NGX_OK) {
        ngx_omni_inbox_wake();
    }

    if (!ngx_queue_empty(&q->waiting) && !q->flush.posted) {
        ngx_post_event(&q->flush, &ngx_posted_events);
    }
}


/* durable (rc NGX_OK): 200; else 503/504, and the channel sends it again */
static void
ngx_omni_hooks_answer(ngx_omni_hook_ctx_t *ctx, ngx_int_t rc)
{
    u_char                  *json;
    size_t                   len;
    ngx_http_request_t      *r;
    ngx_omni_hooks_stats_t  *hs;

    r = ctx->request;
    hs = &ngx_omni_stats->hooks;

    if (rc != NGX_OK) {
        ngx_omni_hooks_finalize(r, ngx_omni_hooks_db_error(r, rc));
        return;
    }

    (void) ngx_atomic_fetch_add(&hs->accepted, 1);
    (void) ngx_atomic_fetch_add(&hs->events, ctx->nevents);

    len = sizeof("{\"received\":}\n") - 1 + NGX_INT_T_LEN;

    json = ngx_pnalloc(r->pool, len);
    if (json == NULL) {
        ngx_omni_hooks_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    len = ngx_sprintf(json, "{\"received\":%ui}\n", ctx->nevents) - json;

    rc = ngx_omni_send_bytes(r, NGX_HTTP_OK, &ngx_omni_hooks_json_type,
                             json, len, 0);

    ngx_omni_hooks_finalize(r, rc);
}


/* the database failed the webhook: nothing stored, the channel resends */
static ngx_int_t
ngx_omni_hooks_db_error(ngx_http_request_t *r, ngx_int_t rc)
{
    (void) ngx_atomic_fetch_add(&ngx_omni_stats->hooks.failed, 1);

    if (rc == NGX_HTTP_GATEWAY_TIME_OUT) {
        return ngx_omni_send_error(r, NGX_HTTP_GATEWAY_TIME_OUT, "timeout",
                                   "The database did not answer in time; "
                                   "nothing was stored, send it again");
    }

    return ngx_omni_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                               "database_unavailable",
                               "The database is busy or unreachable; "
                               "nothing was stored, send it again");
}


/* the end of a request, from outside its own events */
static void
ngx_omni_hooks_finalize(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t  *c;

    c = r->connection;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "omni hooks: answer sent: status %ui, rc %i",
                   r->headers_out.status, rc);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * The request ends, answered or not (the client went away while its
 * webhook waited): it leaves the queue.  A commit already out keeps the
 * copy it sent; only the answer is lost, and the channel sends it again.
 */
static void
ngx_omni_hooks_cleanup(void *data)
{
    ngx_omni_hook_ctx_t  *ctx = data;

    if (ctx->query) {
        ngx_omni_pg_query_abandon(ctx->query);
        ctx->query = NULL;
    }

    if (ctx->queued) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                       "omni hooks: request gone while its webhook waited");

        ngx_queue_remove(&ctx->queue);
        ctx->queued = 0;

        if (!ctx->committing) {
            ngx_omni_hooks_queue.nwaiting--;
            ngx_omni_hooks_queue.waiting_bytes -= ctx->events.len;
        }

        ctx->committing = 0;
    }
}
