
/*
 * multipart/form-data, as far as POST /media needs it: the boundary of a
 * Content-Type, and where the part of one field starts in the body's
 * first bytes (its end is the next delimiter, found by the caller while
 * it streams the body).  Pure C, no allocation.
 */

#ifndef _OMNI_MULTIPART_H_INCLUDED_
#define _OMNI_MULTIPART_H_INCLUDED_


#include <stddef.h>


/* RFC 2046: at most 70 characters */
#define OMNI_MULTIPART_BOUNDARY_MAX  70


/*
 * "multipart/form-data; boundary=XYZ" (quoted or not): 0 and the
 * boundary, -1 when it is not multipart/form-data, -2 when malformed.
 */
int omni_multipart_boundary(const char *ctype, size_t len,
    const char **boundary, size_t *blen);

/*
 * The first part named field (Content-Disposition: form-data;
 * name="field") within head: 0 with *start the offset of its bytes and
 * its filename="..." copied into filename (empty when none; cut to
 * fsize - 1); -1 when head holds no such part.
 */
int omni_multipart_find(const unsigned char *head, size_t len,
    const char *boundary, size_t blen, const char *field,
    size_t *start, char *filename, size_t fsize);


#endif /* _OMNI_MULTIPART_H_INCLUDED_ */
