
/*
 * The channels' answers to a send, as the outbox reads them: the message
 * id of each channel's success, which errors are tried again (and which
 * hold the sending account), which fail the message with the channel's
 * code, and the back-off between tries.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "omni_deliver.h"


static int
judge(omni_channel_e ch, unsigned status, const char *body,
    omni_deliver_t *out)
{
    return omni_deliver_judge(ch, status, body, body ? strlen(body) : 0, 0,
                              out);
}


static long long
code_of(omni_deliver_t *d)
{
    return (long long) json_integer_value(json_object_get(d->error, "code"));
}


static const char *
title_of(omni_deliver_t *d)
{
    return json_string_value(json_object_get(d->error, "title"));
}


static void
each_channel_success_gives_its_message_id(void **state)
{
    omni_deliver_t  d;

    (void) state;

    assert_int_equal(judge(OMNI_CHANNEL_WHATSAPP, 200,
        "{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":"
        "\"16505551234\",\"wa_id\":\"16505551234\"}],\"messages\":[{\"id\":"
        "\"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3N0EyQUJDMjFEQzZCQUMzODMA\"}]}",
        &d), OMNI_DELIVER_SENT);
    assert_string_equal(d.message_id,
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3N0EyQUJDMjFEQzZCQUMzODMA");
    assert_null(d.error);

    judge(OMNI_CHANNEL_MESSENGER, 200,
          "{\"recipient_id\":\"1254477777772919\",\"message_id\":"
          "\"m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6"
          "AC8fplwlqLP_5cgXIbu7I3rBN0P\"}", &d);
    assert_int_equal(d.verdict, OMNI_DELIVER_SENT);
    assert_memory_equal(d.message_id, "m_AG5Hz2", 8);

    judge(OMNI_CHANNEL_INSTAGRAM, 200,
          "{\"recipient_id\":\"526\",\"message_id\":\"aWdfZAG1faW\"}", &d);
    assert_string_equal(d.message_id, "aWdfZAG1faW");

    judge(OMNI_CHANNEL_LINE, 200,
          "{\"sentMessages\":[{\"id\":\"461230966842064897\",\"quoteToken\":"
          "\"IStG5h1Tz7b\"}]}", &d);
    assert_string_equal(d.message_id, "461230966842064897");

    /* LINE's push may answer {}: sent, without an id */
    judge(OMNI_CHANNEL_LINE, 200, "{}", &d);
    assert_int_equal(d.verdict, OMNI_DELIVER_SENT);
    assert_string_equal(d.message_id, "");

    /* a 2xx is sent whatever its body */
    judge(OMNI_CHANNEL_WHATSAPP, 200, "not json", &d);
    assert_int_equal(d.verdict, OMNI_DELIVER_SENT);
    assert_string_equal(d.message_id, "");
}


static void
line_retry_key_accepted_before_is_sent(void **state)
{
    const char      *b;
    omni_deliver_t   d;

    (void) state;

    b = "{\"message\":\"The retry key is already accepted\","
        "\"sentMessages\":[{\"id\":\"461230966842064897\"}]}";

    assert_int_equal(omni_deliver_judge(OMNI_CHANNEL_LINE, 409, b,
                                        strlen(b), 1, &d),
                     OMNI_DELIVER_SENT);
    assert_string_equal(d.message_id, "461230966842064897");
}


static void
rate_limits_retry_and_hold_the_account(void **state)
{
    omni_deliver_t  d;

    (void) state;

    judge(OMNI_CHANNEL_WHATSAPP, 400,
          "{\"error\":{\"message\":\"(#130429) Rate limit hit\",\"type\":"
          "\"OAuthException\",\"code\":130429,\"error_data\":{"
          "\"messaging_product\":\"whatsapp\",\"details\":\"Cloud API "
          "message throughput has been reached.\"}}}", &d);
    assert_int_equal(d.verdict, OMNI_DELIVER_RETRY);
    assert_true(d.hold);
    assert_int_equal(code_of(&d), 130429);
    assert_string_equal(title_of(&d),
                        "Cloud API message throughput has been reached.");
    json_decref(d.error);

    judge(OMNI_CHANNEL_LINE, 429,
          "{\"message\":\"The API rate limit has been exceeded.\"}", &d);
    assert_int_equal(d.verdict, OMNI_DELIVER_RETRY);
    assert_true(d.hold);
    assert_int_equal(code_of(&d), 429);
    json_decref(d.error);

    judge(OMNI_CHANNEL_MESSENGER, 400,
          "{\"error\":{\"message\":\"(#613) Calls to this api have "
          "exceeded the rate limit.\",\"code\":613}}", &d);
    assert_int_equal(d.verdict, OMNI_DELIVER_RETRY);
    assert_true(d.hold);
    json_decref(d.error);
}


static void
pair_rate_limit_retries_without_holding_the_account(void **state)
{
    omni_deliver_t  d;

    (void) state;

    judge(OMNI_CHANNEL_WHATSAPP, 400,
          "{\"error\":{\"message\":\"(#131056) (Business Account, Consumer "
          "Account) pair rate limit hit\",\"code\":131056}}", &d);
    assert_int_equal(d.verdict, OMNI_DELIVER_RETRY);
    assert_false(d.hold);
    json_decref(d.error);
}


static void
server_errors_and_transients_retry(void **state)
{
    omni_deliver_t  d;

    (void) state;

    judge(OMNI_CHANNEL_WHATSAPP, 500,
          "{\"error\":{\"message\":\"An unknown error occurred\",\"code\":1,"
          "\"is_transient\":true}}", &d);
    assert_int_equal(d.verdict, OMNI_DELIVER_RETRY);
    assert_false(d.hold);
    json_decref(d.error);

    judge(OMNI_CHANNEL_LINE, 500, "{\"message\":\"An error occurred\"}", &d);
    assert_int_equal(d.verdict, OMNI_DELIVER_RETRY);
    json_decref(d.error);

    /* a 503 of a proxy in front, no JSON */
    judge(OMNI_CHANNEL_MESSENGER, 503, "<html>busy</html>", &d);
    assert_int_equal(d.verdict, OMNI_DELIVER_RETRY);
    assert_int_equal(code_of(&d), 503);
    json_decref(d.error);

    /* a 400 that Graph marks transient */
    judge(OMNI_CHANNEL_INSTAGRAM, 400,
          "{\"error\":{\"message\":\"try later\",\"code\":9999,"
          "\"is_transient\":true}}", &d);
    assert_int_equal(d.verdict, OMNI_DELIVER_RETRY);
    json_decref(d.error);
}


static void
channel_refusals_fail_with_the_channel_code(void **state)
{
    omni_deliver_t  d;

    (void) state;

    judge(OMNI_CHANNEL_WHATSAPP, 400,
          "{\"error\":{\"message\":\"(#131026) Message Undeliverable.\","
          "\"code\":131026,\"error_data\":{\"details\":\"Message "
          "Undeliverable.\"}}}", &d);
    assert_int_equal(d.verdict, OMNI_DELIVER_FAILED);
    assert_int_equal(code_of(&d), 131026);
    assert_string_equal(title_of(&d), "Message Undeliverable.");
    json_decref(d.error);

    judge(OMNI_CHANNEL_WHATSAPP, 401,
          "{\"error\":{\"message\":\"Error validating access token\","
          "\"code\":190}}", &d);
    assert_int_equal(d.verdict, OMNI_DELIVER_FAILED);
    assert_int_equal(code_of(&d), 190);
    json_decref(d.error);

    judge(OMNI_CHANNEL_LINE, 400,
          "{\"message\":\"The request body has 1 error(s)\",\"details\":"
          "[{\"message\":\"May not be empty\",\"property\":\"messages[0]."
          "text\"}]}", &d);
    assert_int_equal(d.verdict, OMNI_DELIVER_FAILED);
    assert_int_equal(code_of(&d), 400);
    assert_string_equal(title_of(&d), "The request body has 1 error(s)");
    json_decref(d.error);

    judge(OMNI_CHANNEL_MESSENGER, 404, NULL, &d);
    assert_int_equal(d.verdict, OMNI_DELIVER_FAILED);
    assert_int_equal(code_of(&d), 404);
    json_decref(d.error);
}


static void
backoff_doubles_to_five_minutes_with_full_jitter(void **state)
{
    (void) state;

    /* the top of each range: r = cap */
    assert_int_equal(omni_deliver_backoff(1, 1000), 1000);
    assert_int_equal(omni_deliver_backoff(2, 2000), 2000);
    assert_int_equal(omni_deliver_backoff(3, 4000), 4000);
    assert_int_equal(omni_deliver_backoff(9, 256000), 256000);
    assert_int_equal(omni_deliver_backoff(10, 300000), 300000);
    assert_int_equal(omni_deliver_backoff(50, 300000), 300000);

    /* never above the cap, whatever r */
    assert_true(omni_deliver_backoff(1, 0xffffffff) <= 1000);
    assert_true(omni_deliver_backoff(100, 0xffffffff) <= 300000);
    assert_int_equal(omni_deliver_backoff(3, 0), 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(each_channel_success_gives_its_message_id),
        cmocka_unit_test(line_retry_key_accepted_before_is_sent),
        cmocka_unit_test(rate_limits_retry_and_hold_the_account),
        cmocka_unit_test(pair_rate_limit_retries_without_holding_the_account),
        cmocka_unit_test(server_errors_and_transients_retry),
        cmocka_unit_test(channel_refusals_fail_with_the_channel_code),
        cmocka_unit_test(backoff_doubles_to_five_minutes_with_full_jitter),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
