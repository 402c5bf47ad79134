/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_DRIVERS_OBJSTORE_CONFORMANCE_H
#define SL_DRIVERS_OBJSTORE_CONFORMANCE_H

#include <stddef.h>

#include "buffer/objstore.h"

/*
 * Backend-independent conformance checks of dataplane/buffer/objstore.h, so every backend
 * (memory, localdir, S3 later) is held to the same semantics: GET whole and ranged, HEAD, the
 * three PUT modes and their etags, DELETE, LIST paging with prefix and start_after, bad keys and
 * missing keys, body ownership. Runs through sl_objstore_run, so it needs a store whose poll
 * completes requests without outside help (a ring proxy works when its io side is being served
 * by another thread).
 *
 * s must be empty on entry; objects are left behind. Returns 0 when every check passed, or -1
 * with a description of the first failed check ("conformance.c:123: GET range: ...") in msg.
 * No cmocka dependency: a test asserts on the return value and prints msg.
 */
int sl_objstore_conformance(struct sl_objstore *s, char *msg, size_t cap);

#endif
