/*
 * Images for t/90_media.t, made and checked with the same Debian codecs
 * the module links (libpng, libjpeg-turbo):
 *   omni-img noise-png W H OUT        random pixels: a PNG that stays big
 *   omni-img noise-jpeg W H ORIENT OUT  quality 100, EXIF orientation
 *   omni-img bomb-png W H OUT         a valid header promising W x H
 *   omni-img check FILE               decodes every row: "png|jpeg W H O"
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <png.h>
#include <jpeglib.h>


static unsigned int  seed = 12345;


static unsigned char
noise(void)
{
    seed = seed * 1103515245 + 12345;
    return (unsigned char) (seed >> 16);
}


static int
noise_png(int w, int h, const char *out)
{
    FILE         *f;
    int           x, y;
    png_structp   png;
    png_infop     info;
    png_bytep     row;

    f = fopen(out, "wb");
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    row = malloc(w * 3);

    for (y = 0; y < h; y++) {
        for (x = 0; x < w * 3; x++) {
            row[x] = noise();
        }

        png_write_row(png, row);
    }

    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    return fclose(f);
}


static int
bomb_png(int w, int h, const char *out)
{
    int           y;
    FILE         *f;
    png_structp   png;
    png_infop     info;
    png_bytep     row;

    /* zeros compress a thousandfold: a small file, a huge image */
    f = fopen(out, "wb");
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    row = calloc(1, w);

    for (y = 0; y < h; y++) {
        png_write_row(png, row);
    }

    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    return fclose(f);
}


static int
noise_jpeg(int w, int h, int orient, const char *out)
{
    FILE                         *f;
    int                           x;
    JSAMPROW                      rows[1];
    unsigned char                *row;
    struct jpeg_compress_struct   c;
    struct jpeg_error_mgr         err;

    /* TIFF header (big-endian), one IFD entry: Orientation, SHORT */
    unsigned char  exif[] = {
        'E', 'x', 'i', 'f', 0, 0,
        'M', 'M', 0, 42, 0, 0, 0, 8,
        0, 1,
        0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0,
        0, 0, 0, 0
    };

    exif[25] = (unsigned char) orient;

    f = fopen(out, "wb");
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = w;
    c.image_height = h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    c.write_JFIF_header = FALSE;
    jpeg_start_compress(&c, TRUE);
    jpeg_write_marker(&c, JPEG_APP0 + 1, exif, sizeof(exif));

    row = malloc(w * 3);
    rows[0] = row;

    while (c.next_scanline < c.image_height) {
        for (x = 0; x < w * 3; x++) {
            row[x] = noise();
        }

        jpeg_write_scanlines(&c, rows, 1);
    }

    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    return fclose(f);
}


static int
exif_orientation(jpeg_saved_marker_ptr m)
{
    int             be, n, i;
    unsigned char  *t;
    unsigned int    len, tag;

    for ( ; m; m = m->next) {
        if (m->marker != JPEG_APP0 + 1 || m->data_length < 14
            || memcmp(m->data, "Exif\0\0", 6) != 0)
        {
            continue;
        }

        t = m->data + 6;
        len = m->data_length - 6;
        be = (t[0] == 'M');
        i = be ? (t[4] << 24 | t[5] << 16 | t[6] << 8 | t[7])
               : (t[7] << 24 | t[6] << 16 | t[5] << 8 | t[4]);
        if ((unsigned int) i + 2 > len) {
            return 0;
        }

        n = be ? (t[i] << 8 | t[i + 1]) : (t[i + 1] << 8 | t[i]);
        i += 2;

        for ( ; n > 0 && (unsigned int) i + 12 <= len; n--, i += 12) {
            tag = be ? (t[i] << 8 | t[i + 1]) : (t[i + 1] << 8 | t[i]);
            if (tag == 0x0112) {
                return be ? t[i + 9] : t[i + 8];
            }
        }
    }

    return 0;
}


static jmp_buf  jmp;


static void
jpeg_fail(j_common_ptr c)
{
    (*c->err->output_message)(c);
    longjmp(jmp, 1);
}


static int
check(const char *file)
{
    FILE                           *f;
    unsigned int                    y;
    unsigned char                   sig[8];
    JSAMPROW                        rows[1];
    png_structp                     png;
    png_infop                       info;
    png_bytep                       row;
    struct jpeg_decompress_struct   d;
    struct jpeg_error_mgr           err;

    f = fopen(file, "rb");
    if (f == NULL || fread(sig, 1, 8, f) != 8) {
        return 1;
    }

    rewind(f);

    if (png_sig_cmp(sig, 0, 8) == 0) {
        png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL,
                                     NULL);
        info = png_create_info_struct(png);
        if (setjmp(png_jmpbuf(png))) {
            return 1;
        }

        png_init_io(png, f);
        png_read_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
        printf("png %u %u 0\n", png_get_image_width(png, info),
               png_get_image_height(png, info));
        return 0;
    }

    d.err = jpeg_std_error(&err);
    err.error_exit = jpeg_fail;
    if (setjmp(jmp)) {
        return 1;
    }

    jpeg_create_decompress(&d);
    jpeg_save_markers(&d, JPEG_APP0 + 1, 0xffff);
    jpeg_stdio_src(&d, f);
    jpeg_read_header(&d, TRUE);
    jpeg_start_decompress(&d);
    row = malloc(d.output_width * d.output_components);
    rows[0] = row;

    for (y = 0; y < d.output_height; y++) {
        jpeg_read_scanlines(&d, rows, 1);
    }

    /* the saved markers live in the image's pool: read them first */
    printf("jpeg %u %u %d\n", d.image_width, d.image_height,
           exif_orientation(d.marker_list));
    jpeg_finish_decompress(&d);
    return 0;
}


int
main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "noise-png") == 0) {
        return noise_png(atoi(argv[2]), atoi(argv[3]), argv[4]);
    }

    if (argc == 5 && strcmp(argv[1], "bomb-png") == 0) {
        return bomb_png(atoi(argv[2]), atoi(argv[3]), argv[4]);
    }

    if (argc == 6 && strcmp(argv[1], "noise-jpeg") == 0) {
        return noise_jpeg(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]),
                          argv[5]);
    }

    if (argc == 3 && strcmp(argv[1], "check") == 0) {
        return check(argv[2]);
    }

    fprintf(stderr, "usage: see the comment at the top\n");
    return 2;
}
