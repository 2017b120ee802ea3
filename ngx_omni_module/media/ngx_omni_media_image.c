
/*
 * The image codec of POST /media: libpng and libjpeg-turbo (Debian's),
 * driven a row at a time.  Every attempt decodes the source again from
 * its file and encodes straight into the output file; an attempt that
 * outgrows the target stops at once.  The libraries' errors come back by
 * longjmp() to the one attempt running, which then frees what it holds.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include <stdio.h>
#include <setjmp.h>
#include <png.h>
#include <jpeglib.h>

#include "ngx_omni_media_image.h"


#define NGX_OMNI_JPEG_EXIF  (JPEG_APP0 + 1)


typedef struct {
    struct jpeg_error_mgr          pub;
    jmp_buf                       *jmp;
    char                          *msg;
} ngx_omni_jpeg_err_t;


/* one attempt's state: in memory, not in registers, across longjmp() */
typedef struct {
    ngx_omni_media_image_t        *im;
    jmp_buf                        jmp;
    char                           msg[JMSG_LENGTH_MAX];

    FILE                          *in;
    FILE                          *out;

    png_structp                    png;
    png_infop                      info;
    u_char                        *image;     /* an interlaced PNG, whole */
    png_bytep                     *rows;      /* into image */
    ngx_uint_t                     y;

    struct jpeg_decompress_struct  jd;
    struct jpeg_compress_struct    jc;
    ngx_omni_jpeg_err_t            jerr;
    ngx_uint_t                     jd_made;
    ngx_uint_t                     jc_made;
    ngx_uint_t                     header_only;

    u_char                        *exif;      /* APP1 payload, "Exif\0\0" */
    size_t                         exif_len;

    u_char                        *row;
    u_char                        *out_row;
    uint32_t                      *sums;
} ngx_omni_image_run_t;


static ngx_int_t ngx_omni_image_attempt(ngx_omni_media_image_t *im,
    ngx_uint_t quality, ngx_uint_t scale);
static ngx_int_t ngx_omni_image_open(ngx_omni_image_run_t *run);
static void ngx_omni_image_open_png(ngx_omni_image_run_t *run);
static void ngx_omni_image_open_jpeg(ngx_omni_image_run_t *run);
static void ngx_omni_image_read_row(ngx_omni_image_run_t *run);
static ngx_int_t ngx_omni_image_encode(ngx_omni_image_run_t *run,
    ngx_uint_t quality, ngx_uint_t scale);
static void ngx_omni_image_close(ngx_omni_image_run_t *run);
static void ngx_omni_png_error(png_structp png, png_const_charp msg);
static void ngx_omni_png_warning(png_structp png, png_const_charp msg);
static void ngx_omni_jpeg_error(j_common_ptr cinfo);
static void ngx_omni_jpeg_message(j_common_ptr cinfo);


/* quality steps at each scale; then the sides are halved */
static ngx_uint_t  ngx_omni_image_qualities[] = { 85, 70, 55, 40 };


void
ngx_omni_media_image_fit(ngx_omni_media_image_t *im)
{
    ngx_int_t   rc;
    ngx_uint_t  q, scale;

    im->status = 0;
    im->reencoded = 0;

    /* the header alone: dimensions, the pixel cap, a decoder that starts */
    rc = ngx_omni_image_attempt(im, 0, 0);

    if (rc != NGX_OK || im->in_size <= im->target || im->target == 0) {
        return;
    }

    for (scale = 1; scale <= 64; scale *= 2) {

        if (im->width / scale < 16 || im->height / scale < 16) {
            break;
        }

        for (q = 0; q < sizeof(ngx_omni_image_qualities)
                        / sizeof(ngx_omni_image_qualities[0]); q++)
        {
            /* a halved image starts at its second step: it was too big */
            if (scale > 1 && q == 0) {
                continue;
            }

            rc = ngx_omni_image_attempt(im, ngx_omni_image_qualities[q],
                                        scale);

            if (rc == NGX_OK) {
                im->reencoded = 1;
                im->quality = ngx_omni_image_qualities[q];
                im->scale = scale;
                return;
            }

            if (rc != NGX_DECLINED) {
                return;
            }
        }
    }

    im->status = 413;
    im->code = "media_too_large";
    ngx_cpystrn((u_char *) im->reason, (u_char *) "The image does not fit "
                "the size limit even downscaled", sizeof(im->reason));
}


/*
 * NGX_OK: done (header checked, or the JPEG fits); NGX_DECLINED: the
 * output outgrew the target; NGX_ERROR: im->status says why.
 */
static ngx_int_t
ngx_omni_image_attempt(ngx_omni_media_image_t *im, ngx_uint_t quality,
    ngx_uint_t scale)
{
    ngx_int_t              rc;
    ngx_omni_image_run_t  *run;

    run = calloc(1, sizeof(ngx_omni_image_run_t));
    if (run == NULL) {
        im->status = 500;
        im->code = "internal_error";
        return NGX_ERROR;
    }

    run->im = im;
    run->header_only = (scale == 0);
    im->attempts++;

    if (setjmp(run->jmp)) {
        /* a library refused the bytes: it is not the image it claims */
        im->status = 415;
        im->code = "image_does_not_decode";
        (void) ngx_snprintf((u_char *) im->reason, sizeof(im->reason) - 1,
                            "The image does not decode: %s%Z", run->msg);
        ngx_omni_image_close(run);
        free(run);
        return NGX_ERROR;
    }

    rc = ngx_omni_image_open(run);

    if (rc == NGX_OK && scale) {
        rc = ngx_omni_image_encode(run, quality, scale);
    }

    ngx_omni_image_close(run);
    free(run);

    return rc;
}


static ngx_int_t
ngx_omni_image_open(ngx_omni_image_run_t *run)
{
    int                      fd;
    ngx_omni_media_image_t  *im;

    im = run->im;

    fd = dup(im->in);
    if (fd == -1 || (run->in = fdopen(fd, "rb")) == NULL) {
        if (fd != -1) {
            close(fd);
        }

        im->status = 500;
        im->code = "internal_error";
        return NGX_ERROR;
    }

    if (fseeko(run->in, im->in_offset, SEEK_SET) != 0) {
        im->status = 500;
        im->code = "internal_error";
        return NGX_ERROR;
    }

    if (im->png) {
        ngx_omni_image_open_png(run);

    } else {
        ngx_omni_image_open_jpeg(run);
    }

    if (im->width == 0 || im->height == 0
        || (uint64_t) im->width * im->height > NGX_OMNI_MEDIA_MAX_PIXELS)
    {
        im->status = 413;
        im->code = "image_too_many_pixels";
        (void) ngx_snprintf((u_char *) im->reason, sizeof(im->reason) - 1,
                            "The image claims %ui x %ui pixels, over the "
                            "cap of %ui%Z", im->width, im->height,
                            (ngx_uint_t) NGX_OMNI_MEDIA_MAX_PIXELS);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_omni_image_open_png(ngx_omni_image_run_t *run)
{
    png_uint_32              num;
    png_bytep                exif;
    png_color_16             white;
    ngx_uint_t               i;
    ngx_omni_media_image_t  *im;

    im = run->im;

    run->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, run,
                                      ngx_omni_png_error,
                                      ngx_omni_png_warning);
    if (run->png == NULL) {
        ngx_cpystrn((u_char *) run->msg, (u_char *) "out of memory",
                    sizeof(run->msg));
        longjmp(run->jmp, 1);
    }

    run->info = png_create_info_struct(run->png);
    if (run->info == NULL) {
        png_error(run->png, "out of memory");
    }

    /* the pixel cap decides, not libpng's own default of 1,000,000 rows */
    png_set_user_limits(run->png, 0x7fffffff, 0x7fffffff);
    png_init_io(run->png, run->in);
    png_read_info(run->png, run->info);

    im->width = png_get_image_width(run->png, run->info);
    im->height = png_get_image_height(run->png, run->info);

    if ((uint64_t) im->width * im->height > NGX_OMNI_MEDIA_MAX_PIXELS) {
        return;
    }

    /* whatever the PNG holds, rows of 8-bit RGB on white */
    png_set_expand(run->png);
    png_set_strip_16(run->png);
    png_set_gray_to_rgb(run->png);

    white.index = 0;
    white.red = 0xffff;
    white.green = 0xffff;
    white.blue = 0xffff;
    white.gray = 0xffff;
    png_set_background(run->png, &white, PNG_BACKGROUND_GAMMA_SCREEN, 0,
                       1.0);

    if (png_get_eXIf_1(run->png, run->info, &num, &exif) != 0 && num > 0
        && num < 65000)
    {
        run->exif = malloc(num + 6);
        if (run->exif) {
            ngx_memcpy(run->exif, "Exif\0\0", 6);
            ngx_memcpy(run->exif + 6, exif, num);
            run->exif_len = num + 6;
        }
    }

    if (png_get_interlace_type(run->png, run->info) != PNG_INTERLACE_NONE) {
        png_set_interlace_handling(run->png);
    }

    png_read_update_info(run->png, run->info);

    if (png_get_rowbytes(run->png, run->info) != im->width * 3) {
        png_error(run->png, "unexpected row layout");
    }

    if (png_get_interlace_type(run->png, run->info) == PNG_INTERLACE_NONE) {
        return;
    }

    /* passes over the whole image: it must be in memory, so a lower cap */
    if ((uint64_t) im->width * im->height > NGX_OMNI_MEDIA_MAX_INTERLACED) {
        im->width = 0;
        return;
    }

    if (run->header_only) {
        return;
    }

    run->image = malloc((size_t) im->width * 3 * im->height);
    run->rows = malloc(im->height * sizeof(png_bytep));

    if (run->image == NULL || run->rows == NULL) {
        png_error(run->png, "out of memory");
    }

    for (i = 0; i < im->height; i++) {
        run->rows[i] = run->image + i * im->width * 3;
    }

    png_read_image(run->png, run->rows);
}


static void
ngx_omni_image_open_jpeg(ngx_omni_image_run_t *run)
{
    jpeg_saved_marker_ptr    m;
    ngx_omni_media_image_t  *im;

    im = run->im;

    run->jd.err = jpeg_std_error(&run->jerr.pub);
    run->jerr.pub.error_exit = ngx_omni_jpeg_error;
    run->jerr.pub.output_message = ngx_omni_jpeg_message;
    run->jerr.jmp = &run->jmp;
    run->jerr.msg = run->msg;

    jpeg_create_decompress(&run->jd);
    run->jd_made = 1;

    /* EXIF (orientation among it) goes into the re-encoded image */
    jpeg_save_markers(&run->jd, NGX_OMNI_JPEG_EXIF, 0xffff);
    jpeg_stdio_src(&run->jd, run->in);
    (void) jpeg_read_header(&run->jd, TRUE);

    im->width = run->jd.image_width;
    im->height = run->jd.image_height;

    if ((uint64_t) im->width * im->height > NGX_OMNI_MEDIA_MAX_PIXELS) {
        return;
    }

    for (m = run->jd.marker_list; m; m = m->next) {
        if (m->marker == NGX_OMNI_JPEG_EXIF && m->data_length > 6
            && ngx_memcmp(m->data, "Exif\0\0", 6) == 0)
        {
            run->exif = malloc(m->data_length);
            if (run->exif) {
                ngx_memcpy(run->exif, m->data, m->data_length);
                run->exif_len = m->data_length;
            }

            break;
        }
    }

    if (run->header_only) {
        return;
    }

    run->jd.out_color_space = JCS_RGB;
    jpeg_start_decompress(&run->jd);

    if (run->jd.output_components != 3) {
        ngx_cpystrn((u_char *) run->msg, (u_char *) "not an RGB image",
                    sizeof(run->msg));
        longjmp(run->jmp, 1);
    }
}


static void
ngx_omni_image_read_row(ngx_omni_image_run_t *run)
{
    JSAMPROW                 rows[1];
    ngx_omni_media_image_t  *im;

    im = run->im;

    if (!im->png) {
        rows[0] = run->row;
        (void) jpeg_read_scanlines(&run->jd, rows, 1);
        return;
    }

    if (run->image) {
        ngx_memcpy(run->row, run->image + run->y * im->width * 3,
                   im->width * 3);
        run->y++;
        return;
    }

    png_read_row(run->png, run->row, NULL);
}


/* the source's rows, averaged over scale x scale boxes, into a JPEG */
static ngx_int_t
ngx_omni_image_encode(ngx_omni_image_run_t *run, ngx_uint_t quality,
    ngx_uint_t scale)
{
    int                      fd;
    off_t                    size;
    JSAMPROW                 rows[1];
    ngx_uint_t               x, y, c, ow, oh, n, rows_in, cols;
    ngx_omni_media_image_t  *im;

    im = run->im;

    ow = (im->width + scale - 1) / scale;
    oh = (im->height + scale - 1) / scale;

    run->row = malloc(im->width * 3);
    run->out_row = malloc(ow * 3);
    run->sums = calloc(ow * 3, sizeof(uint32_t));

    if (run->row == NULL || run->out_row == NULL || run->sums == NULL) {
        im->status = 500;
        im->code = "internal_error";
        return NGX_ERROR;
    }

    if (ftruncate(im->out, 0) == -1) {
        im->status = 500;
        im->code = "internal_error";
        return NGX_ERROR;
    }

    fd = dup(im->out);
    if (fd == -1 || (run->out = fdopen(fd, "wb")) == NULL) {
        if (fd != -1) {
            close(fd);
        }

        im->status = 500;
        im->code = "internal_error";
        return NGX_ERROR;
    }

    (void) fseeko(run->out, 0, SEEK_SET);

    run->jc.err = jpeg_std_error(&run->jerr.pub);
    run->jerr.pub.error_exit = ngx_omni_jpeg_error;
    run->jerr.pub.output_message = ngx_omni_jpeg_message;
    run->jerr.jmp = &run->jmp;
    run->jerr.msg = run->msg;

    jpeg_create_compress(&run->jc);
    run->jc_made = 1;

    jpeg_stdio_dest(&run->jc, run->out);

    run->jc.image_width = ow;
    run->jc.image_height = oh;
    run->jc.input_components = 3;
    run->jc.in_color_space = JCS_RGB;
    jpeg_set_defaults(&run->jc);
    jpeg_set_quality(&run->jc, (int) quality, TRUE);
    run->jc.optimize_coding = TRUE;

    if (run->exif) {
        /* EXIF's APP1 comes first; JFIF's APP0 would push it back */
        run->jc.write_JFIF_header = FALSE;
    }

    jpeg_start_compress(&run->jc, TRUE);

    if (run->exif) {
        jpeg_write_marker(&run->jc, NGX_OMNI_JPEG_EXIF, run->exif,
                          (unsigned int) run->exif_len);
    }

    rows[0] = run->out_row;
    rows_in = 0;

    for (y = 0; y < im->height; y++) {
        ngx_omni_image_read_row(run);

        for (x = 0; x < im->width; x++) {
            for (c = 0; c < 3; c++) {
                run->sums[(x / scale) * 3 + c] += run->row[x * 3 + c];
            }
        }

        rows_in++;

        if (rows_in < scale && y + 1 < im->height) {
            continue;
        }

        for (x = 0; x < ow; x++) {
            cols = ngx_min(scale, im->width - x * scale);
            n = cols * rows_in;

            for (c = 0; c < 3; c++) {
                run->out_row[x * 3 + c] =
                    (u_char) ((run->sums[x * 3 + c] + n / 2) / n);
            }
        }

        ngx_memzero(run->sums, ow * 3 * sizeof(uint32_t));
        rows_in = 0;

        (void) jpeg_write_scanlines(&run->jc, rows, 1);

        /* too big already: this attempt can only get bigger */
        if ((y & 63) == 63 && ftello(run->out) > im->target) {
            return NGX_DECLINED;
        }
    }

    jpeg_finish_compress(&run->jc);

    if (fflush(run->out) != 0) {
        im->status = 500;
        im->code = "internal_error";
        return NGX_ERROR;
    }

    size = ftello(run->out);

    if (size > im->target) {
        return NGX_DECLINED;
    }

    im->out_size = size;

    return NGX_OK;
}


static void
ngx_omni_image_close(ngx_omni_image_run_t *run)
{
    if (run->jc_made) {
        jpeg_destroy_compress(&run->jc);
    }

    if (run->jd_made) {
        jpeg_destroy_decompress(&run->jd);
    }

    if (run->png) {
        png_destroy_read_struct(&run->png, run->info ? &run->info : NULL,
                                NULL);
    }

    if (run->out) {
        (void) fclose(run->out);
    }

    if (run->in) {
        (void) fclose(run->in);
    }

    free(run->image);
    free(run->rows);
    free(run->exif);
    free(run->row);
    free(run->out_row);
    free(run->sums);
}


static void
ngx_omni_png_error(png_structp png, png_const_charp msg)
{
    ngx_omni_image_run_t  *run;

    run = png_get_error_ptr(png);

    ngx_cpystrn((u_char *) run->msg, (u_char *) msg, sizeof(run->msg));
    longjmp(run->jmp, 1);
}


static void
ngx_omni_png_warning(png_structp png, png_const_charp msg)
{
    (void) png;
    (void) msg;
}


static void
ngx_omni_jpeg_error(j_common_ptr cinfo)
{
    ngx_omni_jpeg_err_t  *err;

    err = (ngx_omni_jpeg_err_t *) cinfo->err;

    (*cinfo->err->format_message)(cinfo, err->msg);
    longjmp(*err->jmp, 1);
}


/* warnings of corrupt data: the decoder goes on, nothing to print */
static void
ngx_omni_jpeg_message(j_common_ptr cinfo)
{
    (void) cinfo;
}
