
/*
 * Webhook signatures, checked on the raw body before anything parses it:
 *
 *   Meta (WhatsApp, Messenger, Instagram)
 *       X-Hub-Signature-256: sha256=<64 hex digits>
 *       HMAC-SHA256 of the body, keyed with the app secret
 *   LINE
 *       X-Line-Signature: <44 characters of base64>
 *       HMAC-SHA256 of the body, keyed with the channel secret
 *
 * Pure computation (OpenSSL's HMAC), no allocation; every input comes
 * with its length.
 */

#ifndef _OMNI_HOOK_SIG_H_INCLUDED_
#define _OMNI_HOOK_SIG_H_INCLUDED_


#include <stddef.h>


typedef enum {
    OMNI_HOOK_SIG_OK = 0,
    OMNI_HOOK_SIG_MISSING,      /* no header value (NULL or empty) */
    OMNI_HOOK_SIG_MALFORMED,    /* not of the channel's form */
    OMNI_HOOK_SIG_NO_SECRET,    /* the channel has no secret: accept none */
    OMNI_HOOK_SIG_MISMATCH      /* well formed, but not this body's */
} omni_hook_sig_e;


omni_hook_sig_e omni_hook_sig_meta(const char *header, size_t hlen,
    const char *secret, size_t slen, const void *body, size_t blen);
omni_hook_sig_e omni_hook_sig_line(const char *header, size_t hlen,
    const char *secret, size_t slen, const void *body, size_t blen);

/* "signature_missing", "signature_malformed", ... for an error answer */
const char *omni_hook_sig_code(omni_hook_sig_e rc);


#endif /* _OMNI_HOOK_SIG_H_INCLUDED_ */
