/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shardline-metalog-tool: drives a local metadata log directory from the command line.
 *
 *   append DIR N [PARTITIONS [BATCH [KEEP]]]
 *                              publish N records round-robin over the partitions, BATCH per
 *                              group commit; print "P OFFSET" for each record only after its
 *                              publish completed (durable), flushing stdout. With KEEP, after
 *                              every batch each partition's files are trimmed below its end
 *                              minus KEEP (sl_metalog_local_trim), as retention would.
 *   verify DIR [PARTITIONS]    recover everything, check every payload, print
 *                              "partition P start S end E" lines (the retained offsets
 *                              [S, E)) and "total N" (records read).
 *
 * Payloads are a pure function of (partition, offset), so verify can prove every record intact.
 * The crash test (tests/integration/metalog_crash_test.sh) kills append with SIGKILL at random
 * moments and checks that every offset append printed survives recovery.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "drivers/metalog/local.h"
#include "log/metalog.h"

/* Fills out with the payload of (p, off); returns its length (at most 320). */
static size_t make_payload(int32_t p, int64_t off, unsigned char *out)
{
	int n = snprintf((char *)out, 64, "p=%d off=%" PRId64 " ", p, off);
	size_t len = (size_t)n + (size_t)(off % 251);
	for (size_t i = (size_t)n; i < len; i++)
		out[i] = (unsigned char)(p * 31 + off + (int64_t)i);
	return len;
}

static int open_all(const char *dir, uint32_t parts, struct sl_metalog_local **m,
		    struct sl_metalog **log)
{
	struct sl_metalog_local_config lc;
	sl_metalog_local_config_default(&lc);
	lc.dir = dir;
	lc.partitions = parts;
	lc.segment_bytes = 256 * 1024; /* small, so the crash test crosses rolls */
	char err[512];
	int rc = sl_metalog_local_open(&lc, m, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "open %s: %s (%s)\n", dir, err, sl_errname(rc));
		return rc;
	}
	struct sl_metalog_config cfg;
	sl_metalog_config_default(&cfg);
	cfg.partitions = parts;
	cfg.store = &sl_metalog_local_store_ops;
	cfg.store_ctx = *m;
	rc = sl_metalog_new(&cfg, log);
	if (rc < 0) {
		sl_metalog_local_close(*m);
		return rc;
	}
	sl_metalog_local_attach(*m, *log);
	rc = sl_metalog_recover(*log);
	if (rc < 0) {
		fprintf(stderr, "recover %s: %s\n", dir, sl_errname(rc));
		sl_metalog_free(*log);
		sl_metalog_local_close(*m);
	}
	return rc;
}

static int cmd_append(const char *dir, long n, uint32_t parts, uint32_t batch, long keep)
{
	struct sl_metalog_local *m;
	struct sl_metalog *log;
	if (open_all(dir, parts, &m, &log) < 0)
		return 1;
	struct sl_metalog_pub *pubs = calloc(batch, sizeof(*pubs));
	if (pubs == NULL)
		return 1;
	unsigned char buf[512];
	long done = 0;
	uint32_t next_part = 0;
	int status = 0;
	while (done < n && status == 0) {
		uint32_t k = 0;
		for (; k < batch && done + k < n; k++) {
			int32_t p = (int32_t)next_part;
			next_part = (next_part + 1) % parts;
			int64_t off;
			int64_t hwm;
			/* The offset is assigned by publish; derive the payload from it first. */
			sl_metalog_local_next_offset(m, p, &hwm);
			size_t len = make_payload(p, hwm, buf);
			struct sl_buf *b = sl_buf_from(buf, len);
			int rc = sl_metalog_publish(log, p, sl_slice_of(b), &pubs[k], &off);
			if (rc != SL_EAGAIN && rc != 0) {
				fprintf(stderr, "publish p%d: %s\n", p, sl_errname(rc));
				status = 1;
				break;
			}
			if (off != hwm) {
				fprintf(stderr, "offset mismatch %" PRId64 " vs %" PRId64 "\n", off,
					hwm);
				status = 1;
				break;
			}
		}
		if (sl_metalog_local_wait(m) < 0)
			status = 1;
		for (uint32_t i = 0; i < k; i++) {
			if (pubs[i].status == 0)
				printf("%d %" PRId64 "\n", pubs[i].partition, pubs[i].offset);
			else {
				fprintf(stderr, "publish p%d off %" PRId64 " failed: %s\n",
					pubs[i].partition, pubs[i].offset,
					sl_errname(pubs[i].status));
				status = 1;
			}
		}
		fflush(stdout);
		done += k;
		for (uint32_t p = 0; keep >= 0 && p < parts && status == 0; p++) {
			int64_t end;
			sl_metalog_local_next_offset(m, (int32_t)p, &end);
			int rc = sl_metalog_local_trim(m, (int32_t)p, end > keep ? end - keep : 0);
			if (rc < 0) {
				fprintf(stderr, "trim p%u: %s\n", p, sl_errname(rc));
				status = 1;
			}
		}
	}
	free(pubs);
	sl_metalog_free(log);
	sl_metalog_local_close(m);
	return status;
}

static int cmd_verify(const char *dir, uint32_t parts)
{
	struct sl_metalog_local *m;
	struct sl_metalog *log;
	if (open_all(dir, parts, &m, &log) < 0)
		return 1;
	struct sl_metalog_start *a = calloc(parts, sizeof(*a));
	int64_t *next = calloc(parts, sizeof(*next));
	int64_t *start = calloc(parts, sizeof(*start));
	for (uint32_t i = 0; i < parts; i++) {
		/* Where the partition's retained records begin: what trimming left. */
		sl_metalog_start_offset(log, (int32_t)i, &start[i]);
		next[i] = start[i];
		a[i] = (struct sl_metalog_start){(int32_t)i, start[i]};
	}
	struct sl_metalog_sub *s;
	if (sl_metalog_subscribe(log, a, parts, &s) < 0)
		return 1;
	struct sl_metalog_record r;
	unsigned char want[512];
	int bad = 0;
	uint64_t total = 0;
	while (sl_metalog_sub_poll(s, NULL, &r) == 0) {
		size_t len = make_payload(r.partition, r.offset, want);
		if (r.offset != next[r.partition] || r.payload.len != len ||
		    memcmp(sl_slice_data(&r.payload), want, len) != 0) {
			fprintf(stderr, "bad record p%d off %" PRId64 "\n", r.partition, r.offset);
			bad = 1;
		}
		next[r.partition] = r.offset + 1;
		total++;
	}
	for (uint32_t i = 0; i < parts; i++) {
		int64_t hwm;
		sl_metalog_high_water_mark(log, (int32_t)i, &hwm);
		if (next[i] != hwm) {
			fprintf(stderr, "p%u: read up to %" PRId64 " but the end is %" PRId64 "\n",
				i, next[i], hwm);
			bad = 1;
		}
		printf("partition %u start %" PRId64 " end %" PRId64 "\n", i, start[i], next[i]);
	}
	printf("total %" PRIu64 "\n", total);
	struct sl_metalog_local_stats st;
	sl_metalog_local_stats(m, &st);
	printf("torn_truncations %" PRIu64 "\n", st.torn_truncations);
	sl_metalog_unsubscribe(s);
	free(next);
	free(start);
	free(a);
	sl_metalog_free(log);
	sl_metalog_local_close(m);
	return bad;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "append") == 0) {
		uint32_t parts = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 1;
		uint32_t batch = argc > 5 ? (uint32_t)strtoul(argv[5], NULL, 10) : 16;
		long keep = argc > 6 ? strtol(argv[6], NULL, 10) : -1;
		if (parts == 0 || batch == 0 || (argc > 6 && keep < 0)) {
			fprintf(stderr, "append: PARTITIONS and BATCH must be positive, KEEP at "
					"least 0\n");
			return 2;
		}
		return cmd_append(argv[2], strtol(argv[3], NULL, 10), parts, batch, keep);
	}
	if (argc >= 3 && strcmp(argv[1], "verify") == 0) {
		uint32_t parts = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 1;
		if (parts == 0)
			return 2;
		return cmd_verify(argv[2], parts);
	}
	fprintf(stderr,
		"usage: %s append DIR N [PARTITIONS [BATCH [KEEP]]]\n"
		"       %s verify DIR [PARTITIONS]\n",
		argv[0], argv[0]);
	return 2;
}
