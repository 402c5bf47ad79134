/* SPDX-License-Identifier: Apache-2.0 */
#include "track/path.h"
#include "core/err.h"

#include <string.h>

int sl_path_normalize(const char *in, size_t n, char *out, size_t *len)
{
	size_t o = 0, parts = 0;
	bool in_part = false;
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		if (ch == '\0')
			return SL_EINVAL;
		if (ch == '/') {
			in_part = false;
			continue;
		}
		if (!in_part) {
			/* A new segment: separate it from the previous one with exactly one '/'. */
			if (++parts > SL_PATH_MAX_PARTS)
				return SL_ERANGE;
			if (o > 0)
				out[o++] = '/';
			in_part = true;
		}
		if (o >= SL_PATH_MAX_LEN)
			return SL_ERANGE;
		out[o++] = ch;
	}
	out[o] = '\0';
	*len = o;
	return 0;
}

bool sl_path_strip_prefix(const char *path, const char *prefix, const char **suffix)
{
	size_t pn = strlen(prefix);
	if (pn == 0) {
		*suffix = path;
		return true;
	}
	if (strncmp(path, prefix, pn) != 0)
		return false;
	if (path[pn] == '\0') {
		*suffix = path + pn;
		return true;
	}
	if (path[pn] != '/')
		return false;
	*suffix = path + pn + 1;
	return true;
}
