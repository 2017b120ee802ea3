
/*
 * Body shape checks.  A client that sends a field we do not know gets told
 * so rather than silently ignored: a typo ("branchIds") would otherwise
 * look like success.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "omni_beacon.h"
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
                                  "Unknown field \"%.*s\"", key, 0);
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
                                  "Field \"%.*s\" is required", f->name, 0);
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
                                  "Field \"%.*s\" must be a string",
                                  f->name, 0);
        }

        len = json_string_length(v);
        s = json_string_value(v);

        if (len == 0 || memchr(s, '\0', len) != NULL) {
            return omni_json_fail(err, 400, "invalid_field",
                                  "Field \"%.*s\" must be a non-empty text",
                                  f->name, 0);
        }

        if (f->max && len > f->max) {
            return omni_json_fail(err, 400, "invalid_field",
                                  "Field \"%.*s\" is longer than %zu bytes",
                                  f->name, f->max);
        }

        return 0;

    case OMNI_JT_ID:
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            return omni_json_fail(err, 400, "invalid_field",
                                  "Field \"%.*s\" must be a positive integer",
                                  f->name, 0);
        }

        return 0;

    case OMNI_JT_ID_ARRAY:
        if (!json_is_array(v)) {
            return omni_json_fail(err, 400, "invalid_field",
                                  "Field \"%.*s\" must be an array of ids",
                                  f->name, 0);
        }

        if (f->max && json_array_size(v) > f->max) {
            return omni_json_fail(err, 422, "too_many_items",
                                  "Field \"%.*s\" holds at most %zu ids",
                                  f->name, f->max);
        }

        json_array_foreach(v, i, item) {
            if (!json_is_integer(item) || json_integer_value(item) <= 0) {
                return omni_json_fail(err, 400, "invalid_field",
                                      "Field \"%.*s\" must be an array of "
                                      "positive integers", f->name, 0);
            }
        }

        return 0;

    case OMNI_JT_ROLE:
        if (!json_is_string(v)) {
            return omni_json_fail(err, 400, "invalid_field",
                                  "Field \"%.*s\" must be a string",
                                  f->name, 0);
        }

        if (omni_role_parse(json_string_value(v), json_string_length(v))
            == OMNI_ROLE_NONE)
        {
            return omni_json_fail(err, 422, "invalid_role",
                                  "Field \"%.*s\" must be one of admin, "
                                  "supervisor, cs_manager, cs_agent, "
                                  "sales_manager, sales_agent, marketer, "
                                  "marketing_cs", f->name, 0);
        }

        return 0;

    case OMNI_JT_OBJECT:
        if (!json_is_object(v)) {
            return omni_json_fail(err, 400, "invalid_field",
                                  "Field \"%.*s\" must be an object",
                                  f->name, 0);
        }

        return 0;

    case OMNI_JT_ARRAY:
        if (!json_is_array(v) || json_array_size(v) == 0) {
            return omni_json_fail(err, 400, "invalid_field",
                                  "Field \"%.*s\" must be a non-empty array",
                                  f->name, 0);
        }

        if (f->max && json_array_size(v) > f->max) {
            return omni_json_fail(err, 422, "too_many_items",
                                  "Field \"%.*s\" holds at most %zu entries",
                                  f->name, f->max);
        }

        return 0;
    }

    return omni_json_fail(err, 400, "invalid_field",
                          "Field \"%.*s\" has an unexpected type", f->name,
                          0);
}


static int
omni_json_fail(omni_json_error_t *err, int status, const char *code,
    const char *fmt, const char *name, size_t n)
{
    int     w;
    char    text[2 * sizeof(err->message)];
    size_t  len;

    err->status = status;
    err->code = code;

    if (name == NULL) {
        snprintf(text, sizeof(text), "%s", fmt);

    } else {
        /* a field's name is the client's text: 64 bytes of it, whole */
        w = (int) omni_utf8_cut(name, strlen(name), 64);

        /* fmt is one of this file's literals: a name, then maybe a size */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#endif
        snprintf(text, sizeof(text), fmt, w, name, n);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
    }

    len = omni_utf8_clean(err->message, sizeof(err->message) - 1, text,
                          strlen(text));
    err->message[len] = '\0';

    return -1;
}


size_t
omni_utf8_cut(const char *p, size_t len, size_t max)
{
    if (len <= max) {
        return len;
    }

    /* back over the continuation bytes of the character max falls in */
    while (max > 0 && ((unsigned char) p[max] & 0xc0) == 0x80) {
        max--;
    }

    return max;
}


size_t
omni_utf8_clean(char *out, size_t max, const char *in, size_t len)
{
    size_t                i, k, n, need;
    const unsigned char  *p;

    p = (const unsigned char *) in;
    n = 0;

    for (i = 0; i < len; i += k) {
        k = omni_utf8_char(p + i, len - i);

        if (k != 0) {
            if (n + k > max) {
                break;
            }

            memcpy(out + n, p + i, k);
            n += k;
            continue;
        }

        /* the start of a character that in was cut inside of */
        need = (p[i] >= 0xc2 && p[i] <= 0xdf) ? 2
               : (p[i] >= 0xe0 && p[i] <= 0xef) ? 3
               : (p[i] >= 0xf0 && p[i] <= 0xf4) ? 4 : 0;

        if (need > len - i) {
            for (k = 1; i + k < len && (p[i + k] & 0xc0) == 0x80; k++) {
                /* void */
            }

            if (i + k == len) {
                break;
            }
        }

        k = 1;

        if (n + 3 > max) {
            break;
        }

        memcpy(out + n, "\xef\xbf\xbd", 3);
        n += 3;
    }

    return n;
}


int
omni_json_error(omni_json_error_t *err, int status, const char *code,
    const char *fmt, ...)
{
    va_list  ap;

    err->status = status;
    err->code = code;

    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);

    return -1;
}
