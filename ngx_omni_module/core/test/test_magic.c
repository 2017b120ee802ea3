
/*
 * Media by magic bytes: the type comes from the first bytes only, and the
 * kind's size limit decides 413; a claimed kind the bytes are not, 415.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "omni_magic.h"


static const unsigned char  png[] = {
    0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H'
};
static const unsigned char  jpeg[] = { 0xff, 0xd8, 0xff, 0xe0, 0, 16 };
static const unsigned char  mp4[] = {
    0, 0, 0, 0x20, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0
};
static const unsigned char  heic[] = {
    0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'h', 'e', 'i', 'c', 0, 0, 0, 0
};


static void
signatures_are_recognised(void **state)
{
    (void) state;

    assert_int_equal(omni_magic_sniff(png, sizeof(png)), OMNI_MAGIC_PNG);
    assert_int_equal(omni_magic_sniff(jpeg, sizeof(jpeg)), OMNI_MAGIC_JPEG);
    assert_int_equal(omni_magic_sniff(mp4, sizeof(mp4)), OMNI_MAGIC_MP4);
    assert_string_equal(omni_magic_mime(OMNI_MAGIC_PNG), "image/png");
    assert_string_equal(omni_magic_ext(OMNI_MAGIC_JPEG), "jpg");
    assert_string_equal(omni_magic_mime(OMNI_MAGIC_MP4), "video/mp4");
}


static void
short_or_foreign_bytes_are_unknown(void **state)
{
    (void) state;

    assert_int_equal(omni_magic_sniff(png, 7), OMNI_MAGIC_UNKNOWN);
    assert_int_equal(omni_magic_sniff(jpeg, 2), OMNI_MAGIC_UNKNOWN);
    assert_int_equal(omni_magic_sniff(mp4, 11), OMNI_MAGIC_UNKNOWN);
    assert_int_equal(omni_magic_sniff((const unsigned char *) "GIF89a", 6),
                     OMNI_MAGIC_UNKNOWN);
    assert_int_equal(omni_magic_sniff(NULL, 0), OMNI_MAGIC_UNKNOWN);
    /* HEIF is a still in the MP4 container: not a video */
    assert_int_equal(omni_magic_sniff(heic, sizeof(heic)),
                     OMNI_MAGIC_UNKNOWN);
    assert_string_equal(omni_magic_mime(OMNI_MAGIC_UNKNOWN),
                        "application/octet-stream");
}


static void
kinds_parse_by_name(void **state)
{
    (void) state;

    assert_int_equal(omni_media_kind_parse("image", 5), OMNI_MEDIA_IMAGE);
    assert_int_equal(omni_media_kind_parse("video", 5), OMNI_MEDIA_VIDEO);
    assert_int_equal(omni_media_kind_parse("file", 4), OMNI_MEDIA_FILE);
    assert_int_equal(omni_media_kind_parse("images", 6), -1);
    assert_int_equal(omni_media_kind_parse("", 0), -1);
}


static void
image_of_any_size_is_accepted_and_reencoded_above_5mb(void **state)
{
    omni_media_verdict_t  v;

    (void) state;

    omni_media_judge(OMNI_MEDIA_IMAGE, OMNI_MAGIC_PNG,
                     OMNI_MEDIA_IMAGE_TARGET, &v);
    assert_int_equal(v.status, 0);
    assert_false(v.reencode);

    omni_media_judge(OMNI_MEDIA_IMAGE, OMNI_MAGIC_JPEG,
                     OMNI_MEDIA_IMAGE_TARGET + 1, &v);
    assert_int_equal(v.status, 0);
    assert_true(v.reencode);
    assert_string_equal(v.mime, "image/jpeg");

    omni_media_judge(OMNI_MEDIA_IMAGE, OMNI_MAGIC_PNG, 1ULL << 32, &v);
    assert_int_equal(v.status, 0);
}


static void
video_over_16mb_is_413(void **state)
{
    omni_media_verdict_t  v;

    (void) state;

    omni_media_judge(OMNI_MEDIA_VIDEO, OMNI_MAGIC_MP4, OMNI_MEDIA_VIDEO_MAX,
                     &v);
    assert_int_equal(v.status, 0);
    assert_int_equal(v.kind, OMNI_MEDIA_VIDEO);

    omni_media_judge(OMNI_MEDIA_VIDEO, OMNI_MAGIC_MP4,
                     OMNI_MEDIA_VIDEO_MAX + 1, &v);
    assert_int_equal(v.status, 413);
    assert_string_equal(v.code, "media_too_large");
}


static void
file_over_8mb_is_413_whatever_its_bytes(void **state)
{
    omni_media_verdict_t  v;

    (void) state;

    omni_media_judge(OMNI_MEDIA_FILE, OMNI_MAGIC_UNKNOWN,
                     OMNI_MEDIA_FILE_MAX, &v);
    assert_int_equal(v.status, 0);

    omni_media_judge(OMNI_MEDIA_FILE, OMNI_MAGIC_PNG, OMNI_MEDIA_FILE_MAX + 1,
                     &v);
    assert_int_equal(v.status, 413);
}


static void
claimed_kind_the_bytes_are_not_is_415(void **state)
{
    omni_media_verdict_t  v;

    (void) state;

    omni_media_judge(OMNI_MEDIA_IMAGE, OMNI_MAGIC_MP4, 100, &v);
    assert_int_equal(v.status, 415);
    assert_string_equal(v.code, "unsupported_media_type");

    omni_media_judge(OMNI_MEDIA_VIDEO, OMNI_MAGIC_PNG, 100, &v);
    assert_int_equal(v.status, 415);

    omni_media_judge(OMNI_MEDIA_IMAGE, OMNI_MAGIC_UNKNOWN, 100, &v);
    assert_int_equal(v.status, 415);
}


static void
no_kind_lets_the_bytes_decide(void **state)
{
    omni_media_verdict_t  v;

    (void) state;

    omni_media_judge(OMNI_MEDIA_ANY, OMNI_MAGIC_PNG, 100, &v);
    assert_int_equal(v.kind, OMNI_MEDIA_IMAGE);
    omni_media_judge(OMNI_MEDIA_ANY, OMNI_MAGIC_MP4, 100, &v);
    assert_int_equal(v.kind, OMNI_MEDIA_VIDEO);
    omni_media_judge(OMNI_MEDIA_ANY, OMNI_MAGIC_UNKNOWN, 100, &v);
    assert_int_equal(v.kind, OMNI_MEDIA_FILE);
    assert_string_equal(omni_media_kind_name(v.kind), "file");
}


static void
empty_body_is_never_media(void **state)
{
    omni_media_verdict_t  v;

    (void) state;

    omni_media_judge(OMNI_MEDIA_FILE, OMNI_MAGIC_UNKNOWN, 0, &v);
    assert_int_equal(v.status, 415);
    assert_string_equal(v.code, "empty_media");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(signatures_are_recognised),
        cmocka_unit_test(short_or_foreign_bytes_are_unknown),
        cmocka_unit_test(kinds_parse_by_name),
        cmocka_unit_test(image_of_any_size_is_accepted_and_reencoded_above_5mb),
        cmocka_unit_test(video_over_16mb_is_413),
        cmocka_unit_test(file_over_8mb_is_413_whatever_its_bytes),
        cmocka_unit_test(claimed_kind_the_bytes_are_not_is_415),
        cmocka_unit_test(no_kind_lets_the_bytes_decide),
        cmocka_unit_test(empty_body_is_never_media),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
