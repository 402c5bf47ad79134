/* SPDX-License-Identifier: Apache-2.0 */
#include "control/ctl_table.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

int sl_ctl_table_init(struct sl_ctl_table *t, const char *const *head, size_t ncols, uint32_t right)
{
	memset(t, 0, sizeof(*t));
	if (ncols == 0 || ncols > SL_CTL_TABLE_MAX_COLS) {
		t->err = SL_EINVAL;
		return SL_EINVAL;
	}
	t->cols = ncols;
	t->right = right;
	for (size_t c = 0; c < ncols; c++)
		sl_ctl_table_add(t, head[c]);
	return t->err;
}

int sl_ctl_table_add(struct sl_ctl_table *t, const char *text)
{
	if (t->err)
		return t->err;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **cells = realloc(t->cells, cap * sizeof(*cells));
		if (cells == NULL)
			return t->err = SL_ENOMEM;
		t->cells = cells;
		t->cap = cap;
	}
	char *s = strdup(text ? text : "-");
	if (s == NULL)
		return t->err = SL_ENOMEM;
	t->cells[t->n++] = s;
	return 0;
}

int sl_ctl_table_addf(struct sl_ctl_table *t, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return sl_ctl_table_add(t, buf);
}

size_t sl_ctl_table_rows(const struct sl_ctl_table *t)
{
	if (t->cols == 0 || t->n <= t->cols)
		return 0;
	return (t->n - t->cols + t->cols - 1) / t->cols;
}

int sl_ctl_table_print(FILE *f, const struct sl_ctl_table *t, const char *indent)
{
	if (t->err)
		return t->err;
	size_t width[SL_CTL_TABLE_MAX_COLS] = {0};
	for (size_t i = 0; i < t->n; i++) {
		size_t w = strlen(t->cells[i]);
		if (w > width[i % t->cols])
			width[i % t->cols] = w;
	}
	size_t rows = (t->n + t->cols - 1) / t->cols; /* the header included */
	for (size_t r = 0; r < rows; r++) {
		const char *row[SL_CTL_TABLE_MAX_COLS];
		size_t end = 0; /* columns up to the last non-empty cell: no blanks after it */
		for (size_t c = 0; c < t->cols; c++) {
			size_t i = r * t->cols + c;
			row[c] = i < t->n ? t->cells[i] : ""; /* a partial row is padded */
			if (row[c][0])
				end = c + 1;
		}
		if (indent)
			fputs(indent, f);
		for (size_t c = 0; c < end; c++) {
			if (t->right & (UINT32_C(1) << c))
				fprintf(f, "%*s", (int)width[c], row[c]);
			else if (c + 1 == end)
				fputs(row[c], f);
			else
				fprintf(f, "%-*s", (int)width[c], row[c]);
			if (c + 1 < end)
				fputs("  ", f);
		}
		fputc('\n', f);
	}
	if (fflush(f) == EOF || ferror(f))
		return SL_EIO;
	return 0;
}

void sl_ctl_table_free(struct sl_ctl_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* ---- numbers for people ----------------------------------------------------------------- */

/* v in units of base: one decimal below 100 of a unit, none above, never "1024 KiB" (rounding
 * up to the next unit's size moves to that unit). */
static const char *scaled(uint64_t v, unsigned base, const char *const *units, size_t nunits,
			  char *out)
{
	size_t u = 0;
	double x = (double)v;
	while (u + 1 < nunits && x >= base - 0.5) {
		x /= base;
		u++;
	}
	if (u == 0)
		snprintf(out, SL_CTL_HUMAN_MAX, "%" PRIu64 "%s%s", v, units[0][0] ? " " : "",
			 units[0]);
	else if (x < 99.95)
		snprintf(out, SL_CTL_HUMAN_MAX, "%.1f %s", x, units[u]);
	else
		snprintf(out, SL_CTL_HUMAN_MAX, "%.0f %s", x, units[u]);
	return out;
}

const char *sl_ctl_human_bytes(uint64_t bytes, char out[SL_CTL_HUMAN_MAX])
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	return scaled(bytes, 1024, units, 7, out);
}

const char *sl_ctl_human_count(uint64_t n, char out[SL_CTL_HUMAN_MAX])
{
	static const char *const units[] = {"", "k", "M", "G", "T", "P", "E"};
	return scaled(n, 1000, units, 7, out);
}

const char *sl_ctl_human_seconds(uint64_t secs, char out[SL_CTL_HUMAN_MAX])
{
	uint64_t d = secs / 86400, h = secs / 3600 % 24, m = secs / 60 % 60, s = secs % 60;
	if (d > 0)
		snprintf(out, SL_CTL_HUMAN_MAX, "%" PRIu64 "d%02" PRIu64 "h", d, h);
	else if (h > 0)
		snprintf(out, SL_CTL_HUMAN_MAX, "%" PRIu64 "h%02" PRIu64 "m", h, m);
	else if (m > 0)
		snprintf(out, SL_CTL_HUMAN_MAX, "%" PRIu64 "m%02" PRIu64 "s", m, s);
	else
		snprintf(out, SL_CTL_HUMAN_MAX, "%" PRIu64 "s", s);
	return out;
}

const char *sl_ctl_human_ms(double ms, char out[SL_CTL_HUMAN_MAX])
{
	if (!isfinite(ms) || ms < 0)
		snprintf(out, SL_CTL_HUMAN_MAX, "-");
	else if (ms < 9.995)
		snprintf(out, SL_CTL_HUMAN_MAX, "%.2f ms", ms);
	else if (ms < 99.95)
		snprintf(out, SL_CTL_HUMAN_MAX, "%.1f ms", ms);
	else if (ms < 999.5)
		snprintf(out, SL_CTL_HUMAN_MAX, "%.0f ms", ms);
	else if (ms < 9995)
		snprintf(out, SL_CTL_HUMAN_MAX, "%.2f s", ms / 1000);
	else
		snprintf(out, SL_CTL_HUMAN_MAX, "%.1f s", ms / 1000);
	return out;
}
