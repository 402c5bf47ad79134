/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmarks of the object-store buffer (issue 4). Figures and the command that produced them
 * are recorded in docs/benchmarks.md.
 *
 *   bm_batch_encode/C       encode a 1 MiB batch of 1 KiB entries, shardline layout; C = 0
 *                           uncompressed, 1 zstd (level 1, on compressible text); bytes/s of
 *                           entry payload (target >= 2 GB/s uncompressed)
 *   bm_batch_decode/C       decode the same batch (checksum, decompression, framing)
 *   bm_batch_decode_v1/C    decode the same entries in opendata's v1 layout
 *   bm_localdir_put/D       localdir PUT of 1 MiB batches with fsync of file and directory, D
 *                           requests in flight; MiB/s. Runs in $SL_BENCH_DIR (default /tmp)
 *   bm_localdir_direct      localdir CREATE_DIRECT of 1 KiB objects, one at a time, the poller
 *                           sleeping on the ring's eventfd between completions as an io lcore
 *                           does. wall_us_per_put: what one durable batch object costs, the
 *                           floor under a durable acknowledgement
 *   bm_dsync_write          the same disk's baseline: sequential 1 MiB writes to a new file
 *                           opened O_DSYNC, exactly what `dd bs=1M oflag=dsync` does. The put
 *                           target is >= 80 % of this figure.
 */
#include "gbench_shim.h"

#include "buffer/batch.h"
#include "core/err.h"
#include "drivers/objstore/localdir.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENTRY	 1024
#define NENTRIES 1024
#define MIB	 (1u << 20)

static char *g_payload;
static struct iovec g_iov[NENTRIES];

/* Entries of log-like text: compressible the way real records are, not all zeros. */
static void payload_init(void)
{
	if (g_payload != NULL)
		return;
	g_payload = malloc((size_t)ENTRY * NENTRIES);
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < (size_t)ENTRY * NENTRIES; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		static const char words[] = "ts=1712345678 level=info msg=\"request served\" id=";
		g_payload[i] = (i % 64) < 48 ? words[i % 48] : (char)('a' + x % 26);
	}
	for (int i = 0; i < NENTRIES; i++) {
		g_iov[i].iov_base = g_payload + (size_t)i * ENTRY;
		g_iov[i].iov_len = ENTRY;
	}
}

static void bm_batch_encode(struct sl_bench *b)
{
	payload_init();
	enum sl_batch_compression c = (enum sl_batch_compression)sl_bench_arg(b, 0);
	struct sl_batch_zctx *z = sl_batch_zctx_new();
	size_t out_len = 0;
	while (sl_bench_running(b)) {
		struct sl_buf *out;
		if (sl_batch_encode(SL_BATCH_SHARDLINE, c, 1, g_iov, NENTRIES, z, &out) != 0) {
			sl_bench_error(b, "encode failed");
			break;
		}
		out_len = out->len;
		sl_buf_unref(out);
	}
	sl_batch_zctx_free(z);
	sl_bench_bytes(b, sl_bench_iterations(b) * (int64_t)ENTRY * NENTRIES);
	sl_bench_counter(b, "ratio", (double)ENTRY * NENTRIES / (double)(out_len ? out_len : 1),
			 SL_BENCH_VALUE);
}
SL_BENCHMARK(bm_batch_encode, 0, 1);

static void decode_bench(struct sl_bench *b, enum sl_batch_format f)
{
	payload_init();
	enum sl_batch_compression c = (enum sl_batch_compression)sl_bench_arg(b, 0);
	struct sl_batch_zctx *z = sl_batch_zctx_new();
	struct sl_buf *enc;
	if (sl_batch_encode(f, c, 1, g_iov, NENTRIES, z, &enc) != 0) {
		sl_bench_error(b, "encode failed");
		return;
	}
	while (sl_bench_running(b)) {
		struct sl_batch batch;
		if (sl_batch_decode(enc, NULL, z, &batch, NULL) != 0 || batch.count != NENTRIES) {
			sl_bench_error(b, "decode failed");
			break;
		}
		sl_batch_release(&batch);
	}
	sl_buf_unref(enc);
	sl_batch_zctx_free(z);
	sl_bench_bytes(b, sl_bench_iterations(b) * (int64_t)ENTRY * NENTRIES);
}

static void bm_batch_decode(struct sl_bench *b)
{
	decode_bench(b, SL_BATCH_SHARDLINE);
}
SL_BENCHMARK(bm_batch_decode, 0, 1);

static void bm_batch_decode_v1(struct sl_bench *b)
{
	decode_bench(b, SL_BATCH_OPENDATA_V1);
}
SL_BENCHMARK(bm_batch_decode_v1, 0, 1);

/* Disk benchmarks wait on the device, so CPU time says nothing: they report wall-clock MiB/s. */
static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report_wall(struct sl_bench *b, uint64_t n, double t0)
{
	double dt = wall_s() - t0;
	sl_bench_counter(b, "wall_MiB_per_s", dt > 0 ? (double)n / dt : 0, SL_BENCH_VALUE);
	sl_bench_counter(b, "wall_ms_per_MiB", n ? dt * 1e3 / (double)n : 0, SL_BENCH_VALUE);
}

static const char *bench_dir(void)
{
	const char *d = getenv("SL_BENCH_DIR");
	return d != NULL ? d : "/tmp";
}

struct put_slot {
	struct sl_obj_req req;
	char key[32];
	int busy;
	int failed;
};

static void put_done(struct sl_obj_req *r)
{
	struct put_slot *s = r->user;
	s->busy = 0;
	if (r->result != 0)
		s->failed = r->result;
}

static void bm_localdir_put(struct sl_bench *b)
{
	int depth = (int)sl_bench_arg(b, 0);
	char root[512];
	snprintf(root, sizeof(root), "%s/sl-bench-localdir-XXXXXX", bench_dir());
	if (mkdtemp(root) == NULL) {
		sl_bench_error(b, "mkdtemp failed");
		return;
	}
	struct sl_objstore *s;
	if (sl_localdir_open(root, NULL, &s) != 0) {
		sl_bench_error(b, "localdir open failed");
		return;
	}
	struct sl_buf *body = sl_buf_alloc(MIB);
	memset(body->data, 'x', MIB);
	body->len = MIB;
	struct put_slot slots[16];
	memset(slots, 0, sizeof(slots));
	uint64_t n = 0;
	int failed = 0;
	double t0 = wall_s();
	while (sl_bench_running(b)) {
		/* Keys cycle over 64 names: overwrites keep the disk footprint at 64 MiB while
		 * every put still allocates, writes and renames a new file. */
		struct put_slot *sl = &slots[n % (uint64_t)depth];
		while (sl->busy)
			sl_objstore_poll(s, 0);
		if (sl->failed) {
			failed = sl->failed;
			break;
		}
		snprintf(sl->key, sizeof(sl->key), "data/%02u.batch", (unsigned)(n % 64));
		memset(&sl->req, 0, sizeof(sl->req));
		sl->req.op = SL_OBJ_PUT;
		sl->req.key = sl->key;
		sl->req.body = sl_buf_ref(body);
		sl->req.done = put_done;
		sl->req.user = sl;
		sl->busy = 1;
		if (sl_objstore_submit(s, &sl->req) != 0) {
			failed = SL_EIO;
			break;
		}
		n++;
		sl_objstore_poll(s, 0);
	}
	for (int i = 0; i < depth; i++)
		while (slots[i].busy)
			sl_objstore_poll(s, 0);
	report_wall(b, n, t0);
	if (failed)
		sl_bench_error(b, sl_strerror(failed));
	sl_buf_unref(body);
	sl_objstore_destroy(s);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		sl_bench_error(b, "cleanup failed");
	sl_bench_bytes(b, (int64_t)(n * MIB));
	sl_bench_items(b, (int64_t)n);
}
SL_BENCHMARK(bm_localdir_put, 1, 4);

static void bm_localdir_direct(struct sl_bench *b)
{
	char root[512];
	snprintf(root, sizeof(root), "%s/sl-bench-direct-XXXXXX", bench_dir());
	if (mkdtemp(root) == NULL) {
		sl_bench_error(b, "mkdtemp failed");
		return;
	}
	struct sl_objstore *s;
	int efd = eventfd(0, EFD_CLOEXEC);
	if (sl_localdir_open(root, NULL, &s) != 0 || efd < 0 || sl_localdir_set_eventfd(s, efd)) {
		sl_bench_error(b, "localdir open failed");
		return;
	}
	struct sl_buf *body = sl_buf_alloc(1024);
	memset(body->data, 'd', 1024);
	body->len = 1024;
	struct put_slot sl;
	memset(&sl, 0, sizeof(sl));
	uint64_t n = 0;
	double t0 = wall_s();
	while (sl_bench_running(b)) {
		snprintf(sl.key, sizeof(sl.key), "data/d%08llu.batch", (unsigned long long)n);
		memset(&sl.req, 0, sizeof(sl.req));
		sl.req.op = SL_OBJ_PUT;
		sl.req.put_mode = SL_OBJ_PUT_CREATE_DIRECT;
		sl.req.key = sl.key;
		sl.req.body = sl_buf_ref(body);
		sl.req.done = put_done;
		sl.req.user = &sl;
		sl.busy = 1;
		if (sl_objstore_submit(s, &sl.req) != 0) {
			sl.failed = SL_EIO;
			break;
		}
		sl_objstore_poll(s, 0);
		while (sl.busy) {
			uint64_t v;
			if (!sl_localdir_needs_poll(s) && read(efd, &v, sizeof(v)) < 0)
				break;
			sl_objstore_poll(s, 0);
		}
		if (sl.failed)
			break;
		n++;
	}
	double dt = wall_s() - t0;
	sl_bench_counter(b, "wall_us_per_put", n ? dt * 1e6 / (double)n : 0, SL_BENCH_VALUE);
	if (sl.failed)
		sl_bench_error(b, sl_strerror(sl.failed));
	sl_buf_unref(body);
	sl_objstore_destroy(s);
	close(efd);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		sl_bench_error(b, "cleanup failed");
	sl_bench_items(b, (int64_t)n);
}
SL_BENCHMARK_NOARG(bm_localdir_direct);

static void bm_dsync_write(struct sl_bench *b)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/sl-bench-dsync-XXXXXX", bench_dir());
	int fd = mkstemp(path);
	if (fd < 0) {
		sl_bench_error(b, "mkstemp failed");
		return;
	}
	close(fd);
	/* O_DSYNC on a fresh file, as dd oflag=dsync of=NEWFILE: every 1 MiB write allocates and
	 * is durable before the next starts. */
	fd = open(path, O_WRONLY | O_TRUNC | O_DSYNC);
	char *blk = malloc(MIB);
	memset(blk, 'x', MIB);
	uint64_t n = 0;
	double t0 = wall_s();
	while (sl_bench_running(b)) {
		if (n > 0 && n % 64 == 0 && ftruncate(fd, 0) == 0)
			lseek(fd, 0, SEEK_SET);
		if (write(fd, blk, MIB) != (ssize_t)MIB) {
			sl_bench_error(b, "write failed");
			break;
		}
		n++;
	}
	report_wall(b, n, t0);
	close(fd);
	unlink(path);
	free(blk);
	sl_bench_bytes(b, (int64_t)(n * MIB));
	sl_bench_items(b, (int64_t)n);
}
SL_BENCHMARK_NOARG(bm_dsync_write);
