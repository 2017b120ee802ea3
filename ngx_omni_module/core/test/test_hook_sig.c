
/*
 * Webhook signatures on the raw body.  The expected values were computed
 * apart from this code, with `openssl dgst -sha256 -hmac SECRET` over the
 * same bytes (hex for Meta, base64 of the binary digest for LINE).
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "omni_hook_sig.h"


#define S(s)  s, sizeof(s) - 1

static const char  wa_body[] =
    "{\"object\":\"whatsapp_business_account\",\"entry\":[]}";
static const char  wa_secret[] = "app-secret-1";
static const char  wa_sig[] =
    "sha256=0ca28c0f1996234eb6829e59ad3c11a18161f6eb043943d601e420c312432cdf";

static const char  line_body[] = "{\"destination\":\"U0123\",\"events\":[]}";
static const char  line_secret[] = "line-channel-secret";
static const char  line_sig[] = "DqJwnENfrQlJ3f3gOVFYUsNLL/PC/tuqIsLgbRHvlxs=";

/* bytes that are not text: a NUL and an invalid UTF-8 byte */
static const char  bin_body[] = "a\0b\xff";


static void
meta_signature_of_the_body_passes(void **state)
{
    (void) state;

    assert_int_equal(omni_hook_sig_meta(S(wa_sig), S(wa_secret),
                                        S(wa_body)),
                     OMNI_HOOK_SIG_OK);

    assert_int_equal(omni_hook_sig_meta(S("sha256=398f1bb32135dd9b1a0dc0ce"
                                          "b6bca44d8c3de087d8d66b84af3eccc6"
                                          "77f1f3cc"), S(wa_secret),
                                        S(bin_body)),
                     OMNI_HOOK_SIG_OK);

    /* an empty body has a signature too */
    assert_int_equal(omni_hook_sig_meta(S("sha256=141680187efb610d9f28ea61"
                                          "7a8fe902610e8a09ae982bf690d88a64"
                                          "73b8ee46"), S(wa_secret),
                                        NULL, 0),
                     OMNI_HOOK_SIG_OK);
}


static void
meta_signature_in_upper_case_hex_passes(void **state)
{
    char    sig[sizeof(wa_sig)];
    size_t  i;

    (void) state;

    memcpy(sig, wa_sig, sizeof(wa_sig));

    for (i = 7; i < sizeof(wa_sig) - 1; i++) {
        if (sig[i] >= 'a' && sig[i] <= 'f') {
            sig[i] = (char) (sig[i] - 'a' + 'A');
        }
    }

    assert_int_equal(omni_hook_sig_meta(sig, sizeof(sig) - 1, S(wa_secret),
                                        S(wa_body)),
                     OMNI_HOOK_SIG_OK);
}


static void
meta_signature_of_another_body_or_secret_mismatches(void **state)
{
    char  body[sizeof(wa_body)];

    (void) state;

    memcpy(body, wa_body, sizeof(wa_body));
    body[2] = 'O';

    assert_int_equal(omni_hook_sig_meta(S(wa_sig), S(wa_secret),
                                        body, sizeof(body) - 1),
                     OMNI_HOOK_SIG_MISMATCH);
    assert_int_equal(omni_hook_sig_meta(S(wa_sig), S("app-secret-2"),
                                        S(wa_body)),
                     OMNI_HOOK_SIG_MISMATCH);

    /* one byte more or less of the body */
    assert_int_equal(omni_hook_sig_meta(S(wa_sig), S(wa_secret),
                                        wa_body, sizeof(wa_body) - 2),
                     OMNI_HOOK_SIG_MISMATCH);
    assert_int_equal(omni_hook_sig_meta(S(wa_sig), S(wa_secret),
                                        wa_body, sizeof(wa_body)),
                     OMNI_HOOK_SIG_MISMATCH);
}


static void
meta_malformed_or_missing_headers_are_refused(void **state)
{
    (void) state;

    assert_int_equal(omni_hook_sig_meta(NULL, 0, S(wa_secret), S(wa_body)),
                     OMNI_HOOK_SIG_MISSING);
    assert_int_equal(omni_hook_sig_meta("", 0, S(wa_secret), S(wa_body)),
                     OMNI_HOOK_SIG_MISSING);

    /* the older SHA-1 header's form, no prefix, short, long, not hex */
    assert_int_equal(omni_hook_sig_meta(S("sha1=0ca28c0f1996234eb6829e59ad3c"
                                          "11a18161f6eb"), S(wa_secret),
                                        S(wa_body)),
                     OMNI_HOOK_SIG_MALFORMED);
    assert_int_equal(omni_hook_sig_meta(wa_sig + 7, sizeof(wa_sig) - 8,
                                        S(wa_secret), S(wa_body)),
                     OMNI_HOOK_SIG_MALFORMED);
    assert_int_equal(omni_hook_sig_meta(wa_sig, sizeof(wa_sig) - 2,
                                        S(wa_secret), S(wa_body)),
                     OMNI_HOOK_SIG_MALFORMED);
    assert_int_equal(omni_hook_sig_meta(wa_sig, sizeof(wa_sig),
                                        S(wa_secret), S(wa_body)),
                     OMNI_HOOK_SIG_MALFORMED);
    assert_int_equal(omni_hook_sig_meta(S("sha256=0ca28c0f1996234eb6829e59ad"
                                          "3c11a18161f6eb043943d601e420c3124"
                                          "32cdg"), S(wa_secret), S(wa_body)),
                     OMNI_HOOK_SIG_MALFORMED);
    assert_int_equal(omni_hook_sig_meta(S("SHA256=0ca28c0f1996234eb6829e59ad"
                                          "3c11a18161f6eb043943d601e420c3124"
                                          "32cdf"), S(wa_secret), S(wa_body)),
                     OMNI_HOOK_SIG_MALFORMED);
}


static void
no_secret_accepts_no_signature(void **state)
{
    (void) state;

    assert_int_equal(omni_hook_sig_meta(S(wa_sig), NULL, 0, S(wa_body)),
                     OMNI_HOOK_SIG_NO_SECRET);
    assert_int_equal(omni_hook_sig_line(S(line_sig), "", 0, S(line_body)),
                     OMNI_HOOK_SIG_NO_SECRET);
}


static void
line_signature_of_the_body_passes(void **state)
{
    (void) state;

    assert_int_equal(omni_hook_sig_line(S(line_sig), S(line_secret),
                                        S(line_body)),
                     OMNI_HOOK_SIG_OK);
    assert_int_equal(omni_hook_sig_line(S("OY8bsyE13ZsaDcDOtrykTYw94IfY1muE"
                                          "rz7Mxnfx88w="), S(wa_secret),
                                        S(bin_body)),
                     OMNI_HOOK_SIG_OK);
}


static void
other_channels_signature_is_refused(void **state)
{
    (void) state;

    /* Meta's form on a LINE channel and LINE's on a Meta one */
    assert_int_equal(omni_hook_sig_line(S(wa_sig), S(line_secret),
                                        S(line_body)),
                     OMNI_HOOK_SIG_MALFORMED);
    assert_int_equal(omni_hook_sig_meta(S(line_sig), S(wa_secret),
                                        S(wa_body)),
                     OMNI_HOOK_SIG_MALFORMED);

    /* the right form made with another channel's secret */
    assert_int_equal(omni_hook_sig_line(S(line_sig), S(wa_secret),
                                        S(line_body)),
                     OMNI_HOOK_SIG_MISMATCH);
}


static void
line_malformed_headers_are_refused(void **state)
{
    char  sig[sizeof(line_sig)];

    (void) state;

    assert_int_equal(omni_hook_sig_line(NULL, 0, S(line_secret),
                                        S(line_body)),
                     OMNI_HOOK_SIG_MISSING);

    /* no padding, short, URL-safe alphabet, not base64 at all */
    assert_int_equal(omni_hook_sig_line(line_sig, sizeof(line_sig) - 2,
                                        S(line_secret), S(line_body)),
                     OMNI_HOOK_SIG_MALFORMED);
    assert_int_equal(omni_hook_sig_line(S("DqJwnENfrQlJ3f3gOVFYUsNLL/PC/tuqI"
                                          "sLgbRHvl=="), S(line_secret),
                                        S(line_body)),
                     OMNI_HOOK_SIG_MALFORMED);
    assert_int_equal(omni_hook_sig_line(S("DqJwnENfrQlJ3f3gOVFYUsNLL_PC_tuqI"
                                          "sLgbRHvlxs="), S(line_secret),
                                        S(line_body)),
                     OMNI_HOOK_SIG_MALFORMED);
    assert_int_equal(omni_hook_sig_line(S("not a signature at all, not at al"
                                          "l, really="), S(line_secret),
                                        S(line_body)),
                     OMNI_HOOK_SIG_MALFORMED);

    /*
     * 's' -> 't' changes only the two bits past the digest: decoders
     * that ignore them would take it for the same signature
     */
    memcpy(sig, line_sig, sizeof(line_sig));
    sig[42] = 't';
    assert_int_equal(omni_hook_sig_line(sig, sizeof(sig) - 1, S(line_secret),
                                        S(line_body)),
                     OMNI_HOOK_SIG_MALFORMED);
}


static void
every_result_has_an_error_code(void **state)
{
    (void) state;

    assert_string_equal(omni_hook_sig_code(OMNI_HOOK_SIG_MISSING),
                        "signature_missing");
    assert_string_equal(omni_hook_sig_code(OMNI_HOOK_SIG_MALFORMED),
                        "signature_malformed");
    assert_string_equal(omni_hook_sig_code(OMNI_HOOK_SIG_MISMATCH),
                        "signature_mismatch");
    assert_string_equal(omni_hook_sig_code(OMNI_HOOK_SIG_NO_SECRET),
                        "channel_secret_missing");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(meta_signature_of_the_body_passes),
        cmocka_unit_test(meta_signature_in_upper_case_hex_passes),
        cmocka_unit_test(meta_signature_of_another_body_or_secret_mismatches),
        cmocka_unit_test(meta_malformed_or_missing_headers_are_refused),
        cmocka_unit_test(no_secret_accepts_no_signature),
        cmocka_unit_test(line_signature_of_the_body_passes),
        cmocka_unit_test(other_channels_signature_is_refused),
        cmocka_unit_test(line_malformed_headers_are_refused),
        cmocka_unit_test(every_result_has_an_error_code),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
