/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the retained starts object (dataplane/durable/starts.h): decoding never
 * crashes, names every failure, and whatever decodes re-encodes to the same bytes when its
 * varints were minimal (the encoder writes minimal ones; the decoder accepts any).
 */
#include "core/buf.h"
#include "core/err.h"
#include "durable/starts.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct acc {
	struct sl_dstart e[256];
	uint32_t n;
	bool full;
};

static int take(void *arg, const struct sl_dstart *s)
{
	struct acc *a = arg;
	if (a->n == 256) {
		a->full = true;
		return 1; /* stop: the round trip is checked on short objects only */
	}
	a->e[a->n++] = *s;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct acc a;
	a.n = 0;
	a.full = false;
	const char *why = NULL;
	int rc = sl_dstarts_decode(data, size, take, &a, &why);
	if (a.full)
		return 0;
	if (rc != 0) {
		CHECK(rc < 0 && why != NULL);
		return 0;
	}
	CHECK(why == NULL);
	struct sl_buf *b = sl_dstarts_encode(a.e, a.n);
	CHECK(b != NULL);
	CHECK(b->len <= size);
	if (b->len == size)
		CHECK(memcmp(b->data, data, size) == 0);
	/* What the encoder wrote decodes to the same entries. */
	struct acc again = {.n = 0};
	CHECK(sl_dstarts_decode(b->data, b->len, take, &again, NULL) == 0);
	CHECK(again.n == a.n && memcmp(again.e, a.e, a.n * sizeof(a.e[0])) == 0);
	sl_buf_unref(b);
	return 0;
}
