/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_CTL_TABLE_H
#define SL_CONTROL_CTL_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * What shardctl prints for people: tables of text cells in aligned columns (as `column -t`,
 * or `kubectl get`), and numbers in units a person reads at a glance ("1.2 GiB", "3.4 k",
 * "2h05m"). Scripts use each command's --json instead, which keeps exact numbers.
 */

/* Columns a table may have. */
#define SL_CTL_TABLE_MAX_COLS 32

/*
 * A table: a header row, then rows of cells, printed with two spaces between columns. Cells
 * are added left to right, top to bottom; a row that is not complete when the table is
 * printed is padded with empty cells. Fill it with sl_ctl_table_init, free it with
 * sl_ctl_table_free.
 */
struct sl_ctl_table {
	size_t cols;	/* 1 to SL_CTL_TABLE_MAX_COLS */
	size_t n, cap;	/* cells, row-major; the first row is the header */
	char **cells;	/* each malloc'd */
	uint32_t right; /* bit c set: column c (header included) is right-aligned */
	int err;	/* the first failure of an add (SL_ENOMEM), kept: checked once */
};

/*
 * Starts a table with the ncols headers in head (copied); columns whose bit is set in right
 * are right-aligned, as numbers read best. Returns 0, SL_EINVAL (ncols is 0 or above
 * SL_CTL_TABLE_MAX_COLS), or SL_ENOMEM. The table must be freed in every case.
 */
int sl_ctl_table_init(struct sl_ctl_table *t, const char *const *head, size_t ncols,
		      uint32_t right);

/*
 * Adds the next cell (text copied; NULL is added as "-", the mark of a figure the daemon did
 * not report). Returns 0 or SL_ENOMEM, which is also kept in t->err: later adds do nothing
 * and return it, so a caller may check only once, at the end.
 */
int sl_ctl_table_add(struct sl_ctl_table *t, const char *text);

/* Adds the next cell as printf formats it. Returns as sl_ctl_table_add. */
int sl_ctl_table_addf(struct sl_ctl_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Rows added so far, the header not counted (a partial row counts). */
size_t sl_ctl_table_rows(const struct sl_ctl_table *t);

/*
 * Writes the table: every line starts with indent (NULL: none), columns are as wide as their
 * widest cell, two spaces apart, and no line ends with blanks. Returns 0, t->err when an add
 * failed (nothing is written), or SL_EIO when writing to f failed.
 */
int sl_ctl_table_print(FILE *f, const struct sl_ctl_table *t, const char *indent);

/* Frees the cells. The table may be initialised again afterwards. */
void sl_ctl_table_free(struct sl_ctl_table *t);

/* ---- numbers for people ----------------------------------------------------------------- */

/* Enough for every string the functions below write. */
#define SL_CTL_HUMAN_MAX 24

/*
 * A byte count in binary units, three figures at most: "0 B", "512 B", "1.0 KiB", "12.3 MiB",
 * "345 GiB", up to EiB. Returns out.
 */
const char *sl_ctl_human_bytes(uint64_t bytes, char out[SL_CTL_HUMAN_MAX]);

/*
 * A count in decimal units: exact below 1000 ("999"), then "1.0 k", "34.5 k", "345 k",
 * "1.2 M", "7.0 G", up to E. Returns out.
 */
const char *sl_ctl_human_count(uint64_t n, char out[SL_CTL_HUMAN_MAX]);

/*
 * A length of time given in seconds, in its two largest units: "0s", "45s", "2m03s",
 * "5h07m", "3d04h". Returns out.
 */
const char *sl_ctl_human_seconds(uint64_t secs, char out[SL_CTL_HUMAN_MAX]);

/*
 * A length of time given in milliseconds, with the precision a person needs: "0.35 ms",
 * "12.5 ms", "250 ms", "1.50 s", "12.0 s". Negative or not finite: "-". Returns out.
 */
const char *sl_ctl_human_ms(double ms, char out[SL_CTL_HUMAN_MAX]);

#endif
