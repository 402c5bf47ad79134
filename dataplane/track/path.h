/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_TRACK_PATH_H
#define SL_TRACK_PATH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Broadcast paths as moq-lite defines them: '/' separated segments, trimmed at both ends and
 * collapsed, matched by prefix on segment boundaries ("foo" matches "foo/bar", not "foobar").
 */

/* Limits kept by moq-lite's implementations; longer paths are refused rather than truncated. */
#define SL_PATH_MAX_LEN	  1024
#define SL_PATH_MAX_PARTS 32

/*
 * Normalises the n bytes at in into out (room for n + 1 bytes; NUL-terminated) and stores the
 * length in *len. Errors: SL_ERANGE (longer than SL_PATH_MAX_LEN or more than SL_PATH_MAX_PARTS
 * segments), SL_EINVAL (a NUL byte inside the path).
 */
int sl_path_normalize(const char *in, size_t n, char *out, size_t *len);

/*
 * Tests whether normalised path lies under normalised prefix on a segment boundary. On a match
 * stores in *suffix a pointer into path to the part after "prefix/" ("" when they are equal, the
 * whole path when prefix is empty).
 */
bool sl_path_strip_prefix(const char *path, const char *prefix, const char **suffix);

#endif
