/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the export queue's metadata payload (dataplane/durable/export.h): decoding
 * never crashes, names every failure, and whatever decodes re-encodes to the same bytes.
 */
#include "core/err.h"
#include "durable/export.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_export_range r;
	const char *why = NULL;
	int rc = sl_export_meta_decode(data, size, &r, &why);
	if (rc != 0) {
		CHECK(rc < 0 && why != NULL);
		return 0;
	}
	CHECK(why == NULL && size == SL_EXPORT_META_LEN && r.count > 0);
	uint8_t again[SL_EXPORT_META_LEN];
	sl_export_meta_encode(&r, again);
	CHECK(memcmp(again, data, size) == 0);
	return 0;
}
