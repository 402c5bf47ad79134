/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmarks of the metadata event log (issue 3).
 *
 *   bm_metalog_backlog/S       records/s delivered from a 1M-record backlog to S subscribers
 *                              (items = records x subscribers; target >= 10 M/s)
 *   bm_metalog_live/S          publish one record, S subscribers poll it (live fan-out)
 *   bm_metalog_local_group/K   durable publishes/s through drivers/metalog/local with group
 *                              commit, K publishes in flight per loop iteration; p50/p99
 *                              publish-to-acknowledgement latency in ns, records per fdatasync
 *   bm_metalog_local_fsync_each/K  the same with one write + fdatasync per record
 *   bm_disk_fdatasync          the disk's own append + fdatasync latency (p50/p99), measured in
 *                              the same run, same directory, for comparison
 *   bm_metalog_recover_trimmed/N  start-up of a log of N 128-byte events (1 MiB segment files,
 *                              the daemon's default) trimmed to its last 50000: open (validates
 *                              every file kept) + sl_metalog_local_recover (hands every record
 *                              over). Should not grow with N.
 *   bm_metalog_recover_full/N  the same log untrimmed, for contrast (grows with N)
 *
 * The durable benchmarks write under $SL_BENCH_DIR (default /var/tmp), which should be on the
 * disk under test, not a tmpfs.
 */
#include "gbench_shim.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "drivers/metalog/local.h"
#include "log/metalog.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BACKLOG	 1000000
#define MAX_SUBS 16

static struct sl_metalog *new_mem_log(void)
{
	struct sl_metalog_config cfg;
	sl_metalog_config_default(&cfg);
	cfg.partitions = 1;
	cfg.chunk_records = 4096;
	struct sl_metalog *log;
	if (sl_metalog_new(&cfg, &log) < 0)
		abort();
	return log;
}

static void bm_metalog_backlog(struct sl_bench *b)
{
	int nsubs = (int)sl_bench_arg(b, 0);
	struct sl_metalog *log = new_mem_log();
	/* One shared 100-byte payload: the log stores references, so this measures the engine. */
	char payload[100];
	memset(payload, 'm', sizeof(payload));
	struct sl_buf *buf = sl_buf_from(payload, sizeof(payload));
	for (int i = 0; i < BACKLOG; i++)
		sl_metalog_publish(log, 0, sl_slice_of(sl_buf_ref(buf)), NULL, NULL);
	struct sl_metalog_sub *subs[MAX_SUBS];
	struct sl_metalog_start a = {0, 0};
	for (int s = 0; s < nsubs; s++)
		sl_metalog_subscribe(log, &a, 1, &subs[s]);
	uint64_t delivered = 0, sum = 0;
	while (sl_bench_running_batch(b, 1024)) {
		for (int s = 0; s < nsubs; s++) {
			struct sl_metalog_record r;
			for (int k = 0; k < 1024 / nsubs + 1; k++) {
				if (sl_metalog_sub_poll(subs[s], NULL, &r) != 0) {
					/* End of the backlog: start over from offset 0. */
					sl_metalog_unsubscribe(subs[s]);
					sl_metalog_subscribe(log, &a, 1, &subs[s]);
					sl_metalog_sub_poll(subs[s], NULL, &r);
				}
				sum += r.payload.len;
				delivered++;
			}
		}
	}
	sl_bench_items(b, (int64_t)delivered);
	sl_bench_counter(b, "ns/record", (double)delivered, SL_BENCH_NS_PER);
	if (sum == 0)
		sl_bench_error(b, "nothing delivered");
	for (int s = 0; s < nsubs; s++)
		sl_metalog_unsubscribe(subs[s]);
	sl_metalog_free(log);
	sl_buf_unref(buf);
}
SL_BENCHMARK(bm_metalog_backlog, 1, 16);

static void bm_metalog_live(struct sl_bench *b)
{
	int nsubs = (int)sl_bench_arg(b, 0);
	struct sl_metalog *log = new_mem_log();
	char payload[100];
	memset(payload, 'l', sizeof(payload));
	struct sl_buf *buf = sl_buf_from(payload, sizeof(payload));
	struct sl_metalog_sub *subs[MAX_SUBS];
	struct sl_metalog_start a = {0, 0};
	for (int s = 0; s < nsubs; s++)
		sl_metalog_subscribe(log, &a, 1, &subs[s]);
	uint64_t delivered = 0;
	while (sl_bench_running(b)) {
		sl_metalog_publish(log, 0, sl_slice_of(sl_buf_ref(buf)), NULL, NULL);
		for (int s = 0; s < nsubs; s++) {
			struct sl_metalog_record r;
			if (sl_metalog_sub_poll(subs[s], NULL, &r) == 0)
				delivered++;
		}
	}
	sl_bench_items(b, (int64_t)delivered);
	for (int s = 0; s < nsubs; s++)
		sl_metalog_unsubscribe(subs[s]);
	sl_metalog_free(log);
	sl_buf_unref(buf);
}
SL_BENCHMARK(bm_metalog_live, 1, 16);

/* ---- durable ---- */

static const char *bench_dir(void)
{
	const char *d = getenv("SL_BENCH_DIR");
	return d && *d ? d : "/var/tmp";
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct lat {
	uint64_t *v;
	size_t n, cap;
};

static void lat_add(struct lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4096;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = ns;
}

static void lat_report(struct sl_bench *b, struct lat *l)
{
	if (l->n == 0)
		return;
	qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
	sl_bench_counter(b, "p50_ns", (double)l->v[l->n / 2], SL_BENCH_VALUE);
	sl_bench_counter(b, "p99_ns", (double)l->v[l->n * 99 / 100], SL_BENCH_VALUE);
	free(l->v);
}

/* Completion hook: timestamps every acknowledged record, then forwards to the engine. */
struct hook {
	struct sl_metalog *log;
	int64_t acked;		/* records of partition 0 acknowledged so far */
	uint64_t *published_at; /* ring indexed by offset % window */
	size_t window;
	struct lat lat;
};

static void hook_done(void *arg, int32_t partition, int64_t end, int rc)
{
	struct hook *h = arg;
	if (rc == 0) {
		uint64_t now = sl_clock_now_ns();
		for (int64_t o = h->acked; o < end; o++)
			lat_add(&h->lat, now - h->published_at[(size_t)o % h->window]);
		h->acked = end;
	}
	sl_metalog_store_done(h->log, partition, end, rc);
}

static void run_local(struct sl_bench *b, bool sync_each)
{
	int k = (int)sl_bench_arg(b, 0);
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/sl-metalog-bench-XXXXXX", bench_dir());
	if (mkdtemp(dir) == NULL) {
		sl_bench_error(b, "mkdtemp failed (set SL_BENCH_DIR)");
		return;
	}
	struct sl_metalog_local_config lc;
	sl_metalog_local_config_default(&lc);
	lc.dir = dir;
	lc.sync_each = sync_each;
	struct sl_metalog_local *m;
	char err[512];
	if (sl_metalog_local_open(&lc, &m, err, sizeof(err)) < 0) {
		sl_bench_error(b, err);
		return;
	}
	struct sl_metalog_config cfg;
	sl_metalog_config_default(&cfg);
	cfg.store = &sl_metalog_local_store_ops;
	cfg.store_ctx = m;
	struct sl_metalog *log;
	sl_metalog_new(&cfg, &log);
	struct hook h = {.log = log, .window = (size_t)k};
	h.published_at = calloc((size_t)k, sizeof(uint64_t));
	sl_metalog_local_set_done(m, hook_done, &h);
	char payload[100];
	memset(payload, 'd', sizeof(payload));
	int64_t published = 0;
	/* Durable publishing mostly waits for the disk, so the rate is taken over wall-clock time
	 * (items_per_second divides by CPU time). */
	uint64_t t0 = sl_clock_now_ns();
	while (sl_bench_running(b)) {
		for (int i = 0; i < k; i++) {
			int64_t off;
			h.published_at[(size_t)published % h.window] = sl_clock_now_ns();
			sl_metalog_publish(log, 0,
					   sl_slice_of(sl_buf_from(payload, sizeof(payload))), NULL,
					   &off);
			published++;
		}
		sl_metalog_local_wait(m);
	}
	uint64_t wall = sl_clock_now_ns() - t0;
	struct sl_metalog_local_stats st;
	sl_metalog_local_stats(m, &st);
	sl_bench_items(b, h.acked);
	sl_bench_counter(b, "durable/s_wall", wall ? (double)h.acked * 1e9 / (double)wall : 0,
			 SL_BENCH_VALUE);
	sl_bench_counter(b, "records/fdatasync",
			 st.fdatasyncs ? (double)st.records_durable / (double)st.fdatasyncs : 0,
			 SL_BENCH_VALUE);
	lat_report(b, &h.lat);
	if (h.acked != published)
		sl_bench_error(b, "some publishes failed");
	sl_metalog_free(log);
	sl_metalog_local_close(m);
	free(h.published_at);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		sl_bench_error(b, "cleanup failed");
}
/* The argument is the number of publishes in flight per loop iteration. */
static void bm_metalog_local_group(struct sl_bench *b)
{
	run_local(b, false);
}
SL_BENCHMARK(bm_metalog_local_group, 1, 16, 256);

static void bm_metalog_local_fsync_each(struct sl_bench *b)
{
	run_local(b, true);
}
SL_BENCHMARK(bm_metalog_local_fsync_each, 1, 16);

static void bm_disk_fdatasync(struct sl_bench *b)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/sl-fdatasync-XXXXXX", bench_dir());
	int fd = mkstemp(path);
	if (fd < 0) {
		sl_bench_error(b, "mkstemp failed (set SL_BENCH_DIR)");
		return;
	}
	unlink(path);
	char rec[124];
	memset(rec, 'f', sizeof(rec));
	struct lat l = {0};
	uint64_t total = 0;
	while (sl_bench_running(b)) {
		uint64_t t0 = sl_clock_now_ns();
		if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec) || fdatasync(fd) != 0) {
			sl_bench_error(b, "write/fdatasync failed");
			break;
		}
		lat_add(&l, sl_clock_now_ns() - t0);
		total += sl_clock_now_ns() - t0;
	}
	sl_bench_counter(b, "fdatasync/s_wall", total ? (double)l.n * 1e9 / (double)total : 0,
			 SL_BENCH_VALUE);
	sl_bench_items(b, sl_bench_iterations(b));
	lat_report(b, &l);
	close(fd);
}
SL_BENCHMARK_NOARG(bm_disk_fdatasync);

/* ---- start-up after trimming ---- */

#define RECOVER_KEEP	50000
#define RECOVER_PAYLOAD 128

/* A log is written once per (N, trimmed) and reused by every run Google Benchmark makes of the
 * same benchmark; the directories go at exit. */
struct rlog {
	int64_t n;
	bool trimmed;
	char dir[512];
};
static struct rlog rlogs[16];
static int nrlogs;

static void rlogs_cleanup(void)
{
	for (int i = 0; i < nrlogs; i++) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rlogs[i].dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", rlogs[i].dir);
	}
}

static void rlog_config(struct sl_metalog_local_config *lc, const char *dir)
{
	sl_metalog_local_config_default(lc);
	lc->dir = dir;
	lc->segment_bytes = UINT64_C(1) << 20; /* metalog_segment_bytes' default */
}

static int rlog_fill(const char *dir, int64_t n, bool trim, char *err, size_t errlen)
{
	struct sl_metalog_local_config lc;
	rlog_config(&lc, dir);
	struct sl_metalog_local *m;
	int rc = sl_metalog_local_open(&lc, &m, err, errlen);
	if (rc < 0)
		return rc;
	unsigned char payload[RECOVER_PAYLOAD];
	memset(payload, 'e', sizeof(payload));
	struct sl_buf *b = sl_buf_from(payload, sizeof(payload));
	for (int64_t i = 0; i < n && rc == 0; i++) {
		/* The driver takes its own reference per record: one buffer serves them all. */
		while ((rc = sl_metalog_local_append(m, 0, i, sl_slice_of(b))) == SL_ENOSPC)
			if ((rc = sl_metalog_local_wait(m)) < 0)
				break;
		if (rc == 0 && i % 4096 == 4095)
			rc = sl_metalog_local_poll(m) < 0 ? SL_EIO : 0;
	}
	if (rc == 0)
		rc = sl_metalog_local_wait(m);
	/* A trim deletes as many files as the ring has room for; retention repeats its trim
	 * point as it advances, and so does this until nothing is left to delete. */
	while (rc == 0 && trim && n > RECOVER_KEEP) {
		rc = sl_metalog_local_trim(m, 0, n - RECOVER_KEEP);
		if (rc <= 0)
			break;
		rc = sl_metalog_local_wait(m);
	}
	sl_buf_unref(b);
	sl_metalog_local_close(m);
	if (rc < 0)
		snprintf(err, errlen, "writing the log failed: %s", sl_strerror(rc));
	return rc < 0 ? rc : 0;
}

static const char *rlog_get(struct sl_bench *b, int64_t n, bool trimmed)
{
	for (int i = 0; i < nrlogs; i++)
		if (rlogs[i].n == n && rlogs[i].trimmed == trimmed)
			return rlogs[i].dir;
	if (nrlogs == (int)(sizeof(rlogs) / sizeof(rlogs[0]))) {
		sl_bench_error(b, "too many logs");
		return NULL;
	}
	struct rlog *r = &rlogs[nrlogs];
	snprintf(r->dir, sizeof(r->dir), "%s/sl-metalog-recover-XXXXXX", bench_dir());
	if (mkdtemp(r->dir) == NULL) {
		sl_bench_error(b, "mkdtemp failed (set SL_BENCH_DIR)");
		return NULL;
	}
	if (nrlogs++ == 0)
		atexit(rlogs_cleanup);
	r->n = n;
	r->trimmed = trimmed;
	char err[512];
	if (rlog_fill(r->dir, n, trimmed, err, sizeof(err)) < 0) {
		sl_bench_error(b, err);
		return NULL;
	}
	return r->dir;
}

static int count_load(void *arg, int32_t partition, int64_t offset, struct sl_slice payload)
{
	(void)partition;
	(void)offset;
	sl_buf_unref(payload.buf);
	++*(int64_t *)arg;
	return 0;
}

static void run_recover(struct sl_bench *b, bool trimmed)
{
	int64_t n = sl_bench_arg(b, 0);
	const char *dir = rlog_get(b, n, trimmed);
	if (dir == NULL)
		return;
	struct sl_metalog_local_config lc;
	rlog_config(&lc, dir);
	int64_t recovered = 0;
	uint64_t segments = 0;
	while (sl_bench_running(b)) {
		/* What start-up does: open (validates every file kept) and read every record. */
		struct sl_metalog_local *m;
		char err[512];
		if (sl_metalog_local_open(&lc, &m, err, sizeof(err)) < 0) {
			sl_bench_error(b, err);
			return;
		}
		recovered = 0;
		if (sl_metalog_local_recover(m, count_load, &recovered) < 0)
			sl_bench_error(b, "recover failed");
		struct sl_metalog_local_stats st;
		sl_metalog_local_stats(m, &st);
		segments = st.segments;
		sl_metalog_local_close(m);
	}
	sl_bench_items(b, sl_bench_iterations(b));
	sl_bench_counter(b, "records", (double)recovered, SL_BENCH_VALUE);
	sl_bench_counter(b, "files", (double)segments, SL_BENCH_VALUE);
}

static void bm_metalog_recover_trimmed(struct sl_bench *b)
{
	run_recover(b, true);
}
SL_BENCHMARK(bm_metalog_recover_trimmed, 100000, 1000000, 3000000);

static void bm_metalog_recover_full(struct sl_bench *b)
{
	run_recover(b, false);
}
SL_BENCHMARK(bm_metalog_recover_full, 100000, 1000000, 3000000);
