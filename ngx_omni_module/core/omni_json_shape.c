
/*
 * Body shape checks.  A client that sends a field we do not know gets told
 * so rather than silently ignored: a typo ("branchIds") would otherwise
 * look like success.
 */

#include <stdio.h>
#include <string.h>

#include "omni_json_shape.h"
#include "omni_model.h"


static int omni_json_fail(omni_json_error_t *err, int status,
    const char *code, const char *fmt, const char *name, size_t n);
static int omni_json_check_value(json_t *v, const omni_json_field_t *f,
    omni_json_error_t *err);


int
omni_json_shape_check(json_t *body, const omni_json_field_t *fields,
    int mode, omni_json_error_t *err)
{
    const char               *key;
    json_t                   *v;
    const omni_json_field_t  *f;

    if (!json_is_object(body)) {
        return omni_json_fail(err, 400, "invalid_body",
                              "The body must be a JSON object", NULL, 0);
    }

    json_object_foreach(body, key, v) {
        for (f = fields; f->name; f++) {
            if (strcmp(f->name, key) == 0) {
                break;
            }
        }

        if (f->name == NULL) {
            return omni_json_fail(err, 400, "unknown_field",
                                  "Unknown field \"%.64s\"", key, 0);
        }

        if (omni_json_check_value(v, f, err) != 0) {
            return -1;
        }
    }

    if (mode == OMNI_JSON_UPDATE) {
        if (json_object_size(body) == 0) {
            return omni_json_fail(err, 400, "empty_update",
                                  "The body changes nothing", NULL, 0);
        }

        return 0;
    }

    for (f = fields; f->name; f++) {
        if (f->required && json_object_get(body, f->name) == NULL) {
            return omni_json_fail(err, 400, "missing_field",
                                  "Field \"%.64s\" is required", f->name, 0);
        }
    }

    return 0;
}


static int
omni_json_check_value(json_t *v, const omni_json_field_t *f,
    omni_json_error_t *err)
{
    size_t       i, len;
    json_t      *item;
    const char  *s;

    switch (f->type) {

    case OMNI_JT_STRING:
        if (!json_is_string(v)) {
            return omni_json_fail(err, 400, "invalid_field",
                                  "Field \"%.64s\" must be a string",
                                  f->name, 0);
        }

        len = json_string_length(v);
        s = json_string_value(v);

        if (len == 0 || memchr(s, '\0', len) != NULL) {
            return omni_json_fail(err, 400, "invalid_field",
                                  "Field \"%.64s\" must be a non-empty text",
                                  f->name, 0);
        }

        if (f->max && len > f->max) {
            return omni_json_fail(err, 400, "invalid_field",
                                  "Field \"%.64s\" is longer than %zu bytes",
                                  f->name, f->max);
        }

        return 0;

    case OMNI_JT_ID:
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            return omni_json_fail(err, 400, "invalid_field",
                                  "Field \"%.64s\" must be a positive integer",
                                  f->name, 0);
        }

        return 0;

    case OMNI_JT_ID_ARRAY:
        if (!json_is_array(v)) {
            return omni_json_fail(err, 400, "invalid_field",
                                  "Field \"%.64s\" must be an array of ids",
                                  f->name, 0);
        }

        if (f->max && json_array_size(v) > f->max) {
            return omni_json_fail(err, 422, "too_many_items",
                                  "Field \"%.64s\" holds at most %zu ids",
                                  f->name, f->max);
        }

        json_array_foreach(v, i, item) {
            if (!json_is_integer(item) || json_integer_value(item) <= 0) {
                return omni_json_fail(err, 400, "invalid_field",
                                      "Field \"%.64s\" must be an array of "
                                      "positive integers", f->name, 0);
            }
        }

        return 0;

    case OMNI_JT_ROLE:
        if (!json_is_string(v)) {
            return omni_json_fail(err, 400, "invalid_field",
                                  "Field \"%.64s\" must be a string",
                                  f->name, 0);
        }

        if (omni_role_parse(json_string_value(v), json_string_length(v))
            == OMNI_ROLE_NONE)
        {
            return omni_json_fail(err, 422, "invalid_role",
                                  "Field \"%.64s\" must be one of admin, "
                                  "supervisor, cs_manager, cs_agent, "
                                  "sales_manager, sales_agent, marketer, "
                                  "marketing_cs", f->name, 0);
        }

        return 0;

    case OMNI_JT_OBJECT:
        if (!json_is_object(v)) {
            return omni_json_fail(err, 400, "invalid_field",
                                  "Field \"%.64s\" must be an object",
                                  f->name, 0);
        }

        return 0;
    }

    return omni_json_fail(err, 400, "invalid_field",
                          "Field \"%.64s\" has an unexpected type", f->name,
                          0);
}


static int
omni_json_fail(omni_json_error_t *err, int status, const char *code,
    const char *fmt, const char *name, size_t n)
{
    err->status = status;
    err->code = code;

    if (name == NULL) {
        snprintf(err->message, sizeof(err->message), "%s", fmt);

    } else {
        /* fmt is one of this file's literals: a name, then maybe a size */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#endif
        snprintf(err->message, sizeof(err->message), fmt, name, n);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
    }

    return -1;
}
