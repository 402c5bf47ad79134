/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for broadcast path normalisation and prefix matching: normalising is idempotent,
 * leaves no empty segment, and a prefix match always yields a suffix that rebuilds the path.
 */
#include "core/err.h"
#include "track/path.h"

#include <stdint.h>
#include <stdio.h>
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
	/* The first byte splits the input into a path and a prefix. */
	if (size == 0 || size > 4 * SL_PATH_MAX_LEN)
		return 0;
	size_t cut = data[0] % size;
	const char *in = (const char *)data + 1;
	size_t n1 = cut, n2 = size - 1 - cut;
	char a[4 * SL_PATH_MAX_LEN + 1], b[4 * SL_PATH_MAX_LEN + 1], again[4 * SL_PATH_MAX_LEN + 1];
	size_t la, lb, l2;
	int ra = sl_path_normalize(in, n1, a, &la);
	int rb = sl_path_normalize(in + n1, n2, b, &lb);
	CHECK(ra == 0 || ra == SL_ERANGE || ra == SL_EINVAL);
	if (ra != 0 || rb != 0)
		return 0;
	CHECK(strlen(a) == la && la <= SL_PATH_MAX_LEN);
	CHECK(la == 0 || (a[0] != '/' && a[la - 1] != '/'));
	CHECK(strstr(a, "//") == NULL);
	CHECK(sl_path_normalize(a, la, again, &l2) == 0 && l2 == la && memcmp(a, again, la) == 0);
	const char *suffix;
	if (sl_path_strip_prefix(a, b, &suffix)) {
		char rebuilt[2 * (4 * SL_PATH_MAX_LEN + 1) + 2];
		if (lb == 0)
			snprintf(rebuilt, sizeof(rebuilt), "%s", suffix);
		else if (*suffix == '\0')
			snprintf(rebuilt, sizeof(rebuilt), "%s", b);
		else
			snprintf(rebuilt, sizeof(rebuilt), "%s/%s", b, suffix);
		CHECK(strcmp(rebuilt, a) == 0);
	}
	return 0;
}
