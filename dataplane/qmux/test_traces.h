/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: loads an annotated capture of a real session (testdata/, copied from
 * ../shared/docs/interop-traces). Each message is a line "#NNN t=12.3ms C>S 5 bytes" followed
 * by a line of hex; the header names the offered and the selected subprotocols. The directory
 * comes from SL_QMUX_TESTDATA (set by meson), so the tests run from any working directory.
 */
#ifndef SL_QMUX_TEST_TRACES_H
#define SL_QMUX_TEST_TRACES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tmsg {
	bool c2s;
	double t_ms;
	size_t len;
	uint8_t *data;
};

struct trace {
	struct tmsg *m;
	size_t n;
	char offered[2048];
	char selected[128];
};

static inline void trace_free(struct trace *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->m[i].data);
	free(t->m);
	memset(t, 0, sizeof(*t));
}

/* Returns 0, or -1 when the file cannot be read (the message says which). */
static inline int trace_load(const char *name, struct trace *t)
{
	memset(t, 0, sizeof(*t));
	const char *dir = getenv("SL_QMUX_TESTDATA");
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "dataplane/qmux/testdata", name);
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		return -1;
	}
	static char line[1 << 16];
	size_t cap = 0;
	bool want_hex = false;
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *k;
		if ((k = strstr(line, "Sec-WebSocket-Protocol offered: ")) != NULL) {
			snprintf(t->offered, sizeof(t->offered), "%s", k + 32);
			t->offered[strcspn(t->offered, "\r\n")] = '\0';
			continue;
		}
		if ((k = strstr(line, "Sec-WebSocket-Protocol selected by server: \"")) != NULL) {
			snprintf(t->selected, sizeof(t->selected), "%s", k + 44);
			t->selected[strcspn(t->selected, "\"")] = '\0';
			continue;
		}
		unsigned idx;
		double ms;
		char dir2[4];
		size_t len;
		if (line[0] == '#' &&
		    sscanf(line, "#%u t=%lfms %3s %zu bytes", &idx, &ms, dir2, &len) == 4) {
			if (t->n == cap) {
				cap = cap ? cap * 2 : 64;
				t->m = realloc(t->m, cap * sizeof(*t->m));
			}
			struct tmsg *m = &t->m[t->n++];
			m->c2s = strcmp(dir2, "C>S") == 0;
			m->t_ms = ms;
			m->len = len;
			m->data = malloc(len ? len : 1);
			want_hex = true;
			continue;
		}
		if (want_hex) {
			struct tmsg *m = &t->m[t->n - 1];
			const char *p = line;
			for (size_t i = 0; i < m->len; i++) {
				unsigned v;
				int used;
				if (sscanf(p, " %2x%n", &v, &used) != 1) {
					fprintf(stderr, "%s: short hex line\n", name);
					fclose(f);
					return -1;
				}
				m->data[i] = (uint8_t)v;
				p += used;
			}
			want_hex = false;
		}
	}
	fclose(f);
	return 0;
}

#endif
