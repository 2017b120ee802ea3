
/*
 * A header is decoded strictly to the 32 bytes of a digest before any
 * comparison: then the comparison is always of 32 bytes, in constant
 * time, and a value of any other form is refused as malformed rather
 * than compared.
 */

#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "omni_hook_sig.h"


#define OMNI_SHA256_LEN  32

/* base64 of 32 bytes: 43 characters and one '=' */
#define OMNI_SIG_B64_LEN  44


static omni_hook_sig_e omni_hook_sig_check(const unsigned char *want,
    const char *secret, size_t slen, const void *body, size_t blen);
static int omni_hex_value(int c);
static int omni_b64_value(int c);


omni_hook_sig_e
omni_hook_sig_meta(const char *header, size_t hlen, const char *secret,
    size_t slen, const void *body, size_t blen)
{
    int            hi, lo;
    size_t         i;
    unsigned char  want[OMNI_SHA256_LEN];

    static const char  prefix[] = "sha256=";

    if (header == NULL || hlen == 0) {
        return OMNI_HOOK_SIG_MISSING;
    }

    if (hlen != sizeof(prefix) - 1 + 2 * OMNI_SHA256_LEN
        || memcmp(header, prefix, sizeof(prefix) - 1) != 0)
    {
        return OMNI_HOOK_SIG_MALFORMED;
    }

    header += sizeof(prefix) - 1;

    /* Meta sends lower case; a digit is a digit in either case */
    for (i = 0; i < OMNI_SHA256_LEN; i++) {
        hi = omni_hex_value((unsigned char) header[2 * i]);
        lo = omni_hex_value((unsigned char) header[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return OMNI_HOOK_SIG_MALFORMED;
        }

        want[i] = (unsigned char) (hi << 4 | lo);
    }

    return omni_hook_sig_check(want, secret, slen, body, blen);
}


omni_hook_sig_e
omni_hook_sig_line(const char *header, size_t hlen, const char *secret,
    size_t slen, const void *body, size_t blen)
{
    int            v;
    size_t         i, n;
    uint32_t       acc;
    unsigned char  want[OMNI_SHA256_LEN + 1];

    if (header == NULL || hlen == 0) {
        return OMNI_HOOK_SIG_MISSING;
    }

    if (hlen != OMNI_SIG_B64_LEN || header[OMNI_SIG_B64_LEN - 1] != '=') {
        return OMNI_HOOK_SIG_MALFORMED;
    }

    /* 43 characters carry 258 bits: 32 bytes and 2 bits that must be 0 */
    acc = 0;
    n = 0;

    for (i = 0; i < OMNI_SIG_B64_LEN - 1; i++) {
        v = omni_b64_value((unsigned char) header[i]);

        if (v < 0) {
            return OMNI_HOOK_SIG_MALFORMED;
        }

        acc = acc << 6 | (uint32_t) v;

        if (i % 4 == 3) {
            want[n++] = (unsigned char) (acc >> 16);
            want[n++] = (unsigned char) (acc >> 8);
            want[n++] = (unsigned char) acc;
            acc = 0;
        }
    }

    /* the last 3 characters: 18 bits, 16 of them the last two bytes */
    if (acc & 0x3) {
        return OMNI_HOOK_SIG_MALFORMED;
    }

    want[n++] = (unsigned char) (acc >> 10);
    want[n++] = (unsigned char) (acc >> 2);

    return omni_hook_sig_check(want, secret, slen, body, blen);
}


const char *
omni_hook_sig_code(omni_hook_sig_e rc)
{
    switch (rc) {
    case OMNI_HOOK_SIG_OK:
        return "ok";
    case OMNI_HOOK_SIG_MISSING:
        return "signature_missing";
    case OMNI_HOOK_SIG_MALFORMED:
        return "signature_malformed";
    case OMNI_HOOK_SIG_NO_SECRET:
        return "channel_secret_missing";
    case OMNI_HOOK_SIG_MISMATCH:
        break;
    }

    return "signature_mismatch";
}


static omni_hook_sig_e
omni_hook_sig_check(const unsigned char *want, const char *secret,
    size_t slen, const void *body, size_t blen)
{
    unsigned int   mdlen;
    unsigned char  md[EVP_MAX_MD_SIZE];

    /* an empty key would make every sender able to sign */
    if (secret == NULL || slen == 0 || slen > 0x7fffffff) {
        return OMNI_HOOK_SIG_NO_SECRET;
    }

    if (body == NULL) {
        body = "";
        blen = 0;
    }

    mdlen = 0;

    if (HMAC(EVP_sha256(), secret, (int) slen, body, blen, md, &mdlen)
        == NULL || mdlen != OMNI_SHA256_LEN)
    {
        return OMNI_HOOK_SIG_MISMATCH;
    }

    if (CRYPTO_memcmp(md, want, OMNI_SHA256_LEN) != 0) {
        return OMNI_HOOK_SIG_MISMATCH;
    }

    return OMNI_HOOK_SIG_OK;
}


static int
omni_hex_value(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


static int
omni_b64_value(int c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '+') {
        return 62;
    }

    if (c == '/') {
        return 63;
    }

    return -1;
}
