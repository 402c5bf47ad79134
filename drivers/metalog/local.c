/* SPDX-License-Identifier: Apache-2.0 */
#include "drivers/metalog/local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/err.h"
#include "core/log.h"

#define SEG_NAME_LEN 24 /* 20 digits + ".seg" */

/* io_uring user data: batches carry (partition << 1) | is_fsync; a trim's SQEs carry UD_TRIM,
 * UD_DIRSYNC for its directory fsyncs, and for an unlink the file's size in the low bits, so
 * the completion alone says what was deleted. */
#define UD_TRIM	   (UINT64_C(1) << 63)
#define UD_DIRSYNC (UINT64_C(1) << 62)
#define UD_SIZE	   (UD_DIRSYNC - 1)

struct rec {
	struct sl_slice payload; /* holds one reference */
	int64_t offset;
};

struct seg {
	int64_t base;
	uint64_t size; /* durable bytes; for the last segment lpart.seg_size is the live value */
};

struct lpart {
	int dirfd;
	int fd; /* the last segment, opened for writing */
	int64_t seg_base;
	uint64_t seg_size; /* durable bytes in the last segment */
	struct seg *segs;  /* every segment file, oldest first; the last is the one written */
	uint32_t nsegs;
	uint32_t segs_cap;
	int64_t start;	 /* the first retained offset: the base of the oldest segment */
	int64_t durable; /* one past the last durable offset */
	int64_t next;	 /* the next offset append accepts */
	int broken;	 /* sticky error after an fdatasync failure */

	/* FIFO of accepted records: the in-flight batch is its first batch_n entries. */
	struct rec *q;
	uint32_t qcap;
	uint32_t qhead;
	uint32_t qlen;

	bool inflight;
	uint8_t cqes_left;
	uint32_t batch_n;
	uint64_t batch_bytes;
	int64_t batch_end;
	int wres;
	int fres;
	unsigned char *stage;
	size_t stage_cap;
};

struct sl_metalog_local {
	struct io_uring ring;
	struct sl_metalog_local_config cfg;
	char *dir;
	int dirfd;
	struct lpart *parts;
	uint32_t nparts;
	uint32_t queued_records; /* accepted and not yet durable or failed, all partitions */
	uint64_t queued_bytes;	 /* their payload bytes */
	uint32_t trim_sqes;	 /* unlink and directory fsync SQEs of trims still in flight */
	bool uring_unlink;	 /* the kernel has IORING_OP_UNLINKAT */
	struct sl_metalog_local_stats stats;
};

void sl_metalog_local_config_default(struct sl_metalog_local_config *c)
{
	memset(c, 0, sizeof(*c));
	c->partitions = 1;
	c->segment_bytes = UINT64_C(64) << 20;
	c->max_record_bytes = 1u << 20;
	c->max_batch_bytes = 4u << 20;
	c->ring_entries = 64;
	c->max_queued_records = 65536;
	c->max_queued_bytes = UINT64_C(64) << 20;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* XXH3-64 (seed 0) of header bytes 0..15 followed by the payload. */
static uint64_t frame_sum(const unsigned char *hdr16, const void *payload, size_t len)
{
	XXH3_state_t st;
	XXH3_INITSTATE(&st);
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, hdr16, 16);
	XXH3_64bits_update(&st, payload, len);
	return XXH3_64bits_digest(&st);
}

static void frame_encode(unsigned char *out, int64_t offset, const void *payload, uint32_t len)
{
	put_le32(out, SL_METALOG_LOCAL_MAGIC);
	put_le32(out + 4, len);
	put_le64(out + 8, (uint64_t)offset);
	put_le64(out + 16, frame_sum(out, payload, len));
	memcpy(out + SL_METALOG_LOCAL_HDR_LEN, payload, len);
}

static int errno_to_sl(int e)
{
	if (e == ENOSPC || e == EDQUOT || e == EFBIG)
		return SL_ENOSPC;
	if (e == ENOMEM)
		return SL_ENOMEM;
	return SL_EIO;
}

static void seg_name(char out[SEG_NAME_LEN + 1], int64_t base)
{
	snprintf(out, SEG_NAME_LEN + 1, "%020" PRId64 ".seg", base);
}

static int report(char *errmsg, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int report(char *errmsg, size_t errlen, int rc, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	SL_LOG(METALOG, ERR, "%s", buf);
	if (errmsg && errlen)
		snprintf(errmsg, errlen, "%s", buf);
	return rc;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i])
			return false;
	}
	return true;
}

static int push_seg(struct lpart *lp, int64_t base)
{
	if (lp->nsegs == lp->segs_cap) {
		uint32_t cap = lp->segs_cap ? lp->segs_cap * 2 : 8;
		struct seg *n = realloc(lp->segs, cap * sizeof(*n));
		if (n == NULL)
			return SL_ENOMEM;
		lp->segs = n;
		lp->segs_cap = cap;
	}
	lp->segs[lp->nsegs++] = (struct seg){base, 0};
	return 0;
}

/*
 * Walks one segment. Validation mode (load == NULL) applies the recovery rules and cuts a torn
 * tail in the last segment; delivery mode hands every record to load. *count gets the number
 * of records, which start at base.
 */
static int scan_segment(struct sl_metalog_local *m, uint32_t pi, int64_t base, bool last,
			sl_metalog_load_fn load, void *arg, int64_t *count, uint64_t *valid,
			char *errmsg, size_t errlen)
{
	struct lpart *lp = &m->parts[pi];
	char name[SEG_NAME_LEN + 1];
	seg_name(name, base);
	char path[4096];
	snprintf(path, sizeof(path), "%s/p%u/%s", m->dir, pi, name);
	int fd = openat(lp->dirfd, name, (load ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		return report(errmsg, errlen, SL_EIO, "metalog: open %s: %s", path,
			      strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return report(errmsg, errlen, SL_EIO, "metalog: stat %s: %s", path,
			      strerror(errno));
	}
	size_t size = (size_t)st.st_size;
	const unsigned char *map = NULL;
	if (size > 0) {
		map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			close(fd);
			return report(errmsg, errlen, SL_EIO, "metalog: mmap %s: %s", path,
				      strerror(errno));
		}
	}
	int rc = 0;
	size_t pos = 0;
	int64_t off = base;
	const size_t H = SL_METALOG_LOCAL_HDR_LEN;
	while (pos < size) {
		size_t rem = size - pos;
		const unsigned char *h = map + pos;
		const char *why = NULL;
		bool incomplete = false;
		uint32_t len = 0;
		if (rem < H) {
			incomplete = true;
			why = "incomplete header";
		} else {
			len = get_le32(h + 4);
			if (get_le32(h) != SL_METALOG_LOCAL_MAGIC)
				why = "bad magic";
			else if (len > m->cfg.max_record_bytes)
				why = "length above max_record_bytes";
			else if (H + (size_t)len > rem) {
				incomplete = true;
				why = "incomplete payload";
			} else if (get_le64(h + 16) != frame_sum(h, h + H, len))
				why = "checksum mismatch";
			else if ((int64_t)get_le64(h + 8) != off)
				why = "unexpected record offset";
		}
		if (why == NULL) {
			if (load) {
				struct sl_buf *b = sl_buf_from(h + H, len);
				if (b == NULL && len > 0) {
					rc = SL_ENOMEM;
					break;
				}
				if (b == NULL) {
					b = sl_buf_alloc(
						1); /* an empty payload still needs a buffer */
					if (b == NULL) {
						rc = SL_ENOMEM;
						break;
					}
				}
				rc = load(arg, (int32_t)pi, off, sl_slice_of(b));
				if (rc < 0)
					break;
			}
			pos += H + len;
			off++;
			continue;
		}
		/* A torn tail is the unacknowledged end of the last write: an incomplete record, a
		 * last record that does not verify, or zeros the file system exposed past the data.
		 * Anything followed by more data is corruption and must not be cut silently. */
		bool is_last_record = incomplete || (strcmp(why, "checksum mismatch") == 0 &&
						     pos + H + len == size);
		bool torn = last && !load && (is_last_record || all_zero(h, rem));
		if (!torn) {
			rc = report(errmsg, errlen, SL_ECORRUPT,
				    "metalog: corrupt record in %s at byte %zu (log offset %" PRId64
				    "): %s; %zu bytes follow; refusing to start",
				    path, pos, off, why, rem);
			break;
		}
		SL_LOG(METALOG, WARNING,
		       "torn tail in %s at byte %zu (log offset %" PRId64 "): %s; "
		       "truncating %zu unacknowledged bytes",
		       path, pos, off, why, rem);
		if (ftruncate(fd, (off_t)pos) != 0 || fdatasync(fd) != 0) {
			rc = report(errmsg, errlen, SL_EIO, "metalog: truncate %s to %zu: %s", path,
				    pos, strerror(errno));
			break;
		}
		m->stats.torn_truncations++;
		break;
	}
	if (map)
		munmap((void *)map, size);
	close(fd);
	*count = off - base;
	*valid = pos;
	return rc;
}

static int cmp_seg(const void *a, const void *b)
{
	int64_t x = ((const struct seg *)a)->base, y = ((const struct seg *)b)->base;
	return x < y ? -1 : x > y;
}

static int open_partition(struct sl_metalog_local *m, uint32_t pi, char *errmsg, size_t errlen)
{
	struct lpart *lp = &m->parts[pi];
	char sub[32];
	snprintf(sub, sizeof(sub), "p%u", pi);
	bool created = false;
	if (mkdirat(m->dirfd, sub, 0755) == 0)
		created = true;
	else if (errno != EEXIST)
		return report(errmsg, errlen, errno_to_sl(errno), "metalog: mkdir %s/%s: %s",
			      m->dir, sub, strerror(errno));
	if (created && fsync(m->dirfd) != 0)
		return report(errmsg, errlen, SL_EIO, "metalog: fsync %s: %s", m->dir,
			      strerror(errno));
	lp->dirfd = openat(m->dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lp->dirfd < 0)
		return report(errmsg, errlen, SL_EIO, "metalog: open %s/%s: %s", m->dir, sub,
			      strerror(errno));

	int dfd = dup(lp->dirfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (d == NULL) {
		if (dfd >= 0)
			close(dfd);
		return report(errmsg, errlen, SL_EIO, "metalog: list %s/%s: %s", m->dir, sub,
			      strerror(errno));
	}
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		if (strlen(n) != SEG_NAME_LEN || strcmp(n + 20, ".seg") != 0)
			continue;
		bool digits = true;
		for (int i = 0; i < 20; i++)
			digits = digits && n[i] >= '0' && n[i] <= '9';
		if (!digits)
			continue;
		unsigned long long v = strtoull(n, NULL, 10);
		if (v > INT64_MAX) {
			rc = report(errmsg, errlen, SL_ECORRUPT,
				    "metalog: %s/%s/%s: base out of range", m->dir, sub, n);
			break;
		}
		rc = push_seg(lp, (int64_t)v);
		if (rc < 0)
			break;
	}
	closedir(d);
	if (rc < 0)
		return rc;
	if (lp->nsegs > 1)
		qsort(lp->segs, lp->nsegs, sizeof(*lp->segs), cmp_seg);

	/* Trimming removes whole files from the front, oldest first and each removal durable
	 * before the next (see sl_metalog_local_trim), so the oldest file left is where the
	 * retained log starts: everything from there on must be contiguous. */
	int64_t expect = lp->nsegs > 0 ? lp->segs[0].base : 0;
	uint64_t last_size = 0;
	for (uint32_t i = 0; i < lp->nsegs; i++) {
		char name[SEG_NAME_LEN + 1];
		seg_name(name, lp->segs[i].base);
		if (lp->segs[i].base != expect)
			return report(errmsg, errlen, SL_ECORRUPT,
				      "metalog: %s/%s/%s: segment starts at offset %" PRId64
				      " but the previous data ends at %" PRId64
				      " (missing segment?)",
				      m->dir, sub, name, lp->segs[i].base, expect);
		int64_t count;
		rc = scan_segment(m, pi, lp->segs[i].base, i + 1 == lp->nsegs, NULL, NULL, &count,
				  &last_size, errmsg, errlen);
		if (rc < 0)
			return rc;
		lp->segs[i].size = last_size;
		expect += count;
		m->stats.records_recovered += (uint64_t)count;
	}
	if (lp->nsegs == 0) {
		rc = push_seg(lp, 0);
		if (rc < 0)
			return rc;
		last_size = 0;
	}
	char name[SEG_NAME_LEN + 1];
	lp->seg_base = lp->segs[lp->nsegs - 1].base;
	lp->start = lp->segs[0].base;
	seg_name(name, lp->seg_base);
	lp->fd = openat(lp->dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (lp->fd < 0)
		return report(errmsg, errlen, errno_to_sl(errno), "metalog: open %s/%s/%s: %s",
			      m->dir, sub, name, strerror(errno));
	/* A segment created here must survive a crash before its first record. */
	if (lp->nsegs == 1 && last_size == 0 && fsync(lp->dirfd) != 0)
		return report(errmsg, errlen, SL_EIO, "metalog: fsync %s/%s: %s", m->dir, sub,
			      strerror(errno));
	lp->seg_size = last_size;
	lp->durable = lp->next = expect;
	return 0;
}

int sl_metalog_local_open(const struct sl_metalog_local_config *cfg, struct sl_metalog_local **out,
			  char *errmsg, size_t errlen)
{
	if (errmsg && errlen)
		errmsg[0] = '\0';
	if (cfg == NULL || out == NULL || cfg->dir == NULL || cfg->partitions == 0 ||
	    cfg->partitions > SL_METALOG_MAX_PARTITIONS || cfg->segment_bytes == 0 ||
	    cfg->max_record_bytes == 0 || cfg->max_record_bytes > (UINT32_MAX >> 1) ||
	    cfg->ring_entries < 2 || cfg->max_queued_records == 0 ||
	    cfg->max_queued_bytes < cfg->max_record_bytes)
		return report(errmsg, errlen, SL_EINVAL, "metalog: invalid configuration");
	struct sl_metalog_local *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return SL_ENOMEM;
	m->cfg = *cfg;
	m->dirfd = -1;
	m->dir = strdup(cfg->dir);
	m->parts = calloc(cfg->partitions, sizeof(*m->parts));
	if (m->dir == NULL || m->parts == NULL) {
		free(m->dir);
		free(m->parts);
		free(m);
		return SL_ENOMEM;
	}
	m->nparts = cfg->partitions;
	for (uint32_t i = 0; i < m->nparts; i++)
		m->parts[i].dirfd = m->parts[i].fd = -1;
	int rc;
	if (mkdir(m->dir, 0755) != 0 && errno != EEXIST) {
		rc = report(errmsg, errlen, errno_to_sl(errno), "metalog: mkdir %s: %s", m->dir,
			    strerror(errno));
		goto fail_noring;
	}
	m->dirfd = open(m->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->dirfd < 0) {
		rc = report(errmsg, errlen, SL_EIO, "metalog: open %s: %s", m->dir,
			    strerror(errno));
		goto fail_noring;
	}
	for (uint32_t i = 0; i < m->nparts; i++) {
		rc = open_partition(m, i, errmsg, errlen);
		if (rc < 0)
			goto fail_noring;
	}
	int e = io_uring_queue_init(cfg->ring_entries, &m->ring, 0);
	if (e < 0) {
		rc = report(errmsg, errlen, SL_EIO, "metalog: io_uring_queue_init: %s",
			    strerror(-e));
		goto fail_noring;
	}
	struct io_uring_probe *probe = io_uring_get_probe_ring(&m->ring);
	m->uring_unlink =
		probe && io_uring_opcode_supported(probe, IORING_OP_UNLINKAT) && !cfg->sync_trim;
	io_uring_free_probe(probe);
	*out = m;
	return 0;
fail_noring:
	m->ring.ring_fd = -1;
	for (uint32_t i = 0; i < m->nparts; i++) {
		struct lpart *lp = &m->parts[i];
		if (lp->fd >= 0)
			close(lp->fd);
		if (lp->dirfd >= 0)
			close(lp->dirfd);
		free(lp->segs);
	}
	if (m->dirfd >= 0)
		close(m->dirfd);
	free(m->parts);
	free(m->dir);
	free(m);
	return rc;
}

void sl_metalog_local_set_done(struct sl_metalog_local *m, sl_metalog_local_done_fn fn, void *arg)
{
	m->cfg.done = fn;
	m->cfg.done_arg = arg;
}

static void done_to_log(void *arg, int32_t partition, int64_t end, int rc)
{
	/* The driver only reports ranges it was handed by the same log, so this cannot fail;
	 * a failure would mean the two disagree about offsets, which must be loud. */
	int e = sl_metalog_store_done(arg, partition, end, rc);
	if (e < 0)
		SL_LOG(METALOG, ERR, "store_done(p%d, %" PRId64 ", %d) refused: %s", partition, end,
		       rc, sl_strerror(e));
}

void sl_metalog_local_attach(struct sl_metalog_local *m, struct sl_metalog *log)
{
	sl_metalog_local_set_done(m, done_to_log, log);
}

static int ops_append(void *ctx, int32_t partition, int64_t offset, struct sl_slice payload)
{
	return sl_metalog_local_append(ctx, partition, offset, payload);
}

static int ops_recover(void *ctx, sl_metalog_load_fn load, void *arg)
{
	return sl_metalog_local_recover(ctx, load, arg);
}

static int ops_start(void *ctx, int32_t partition, int64_t *start)
{
	return sl_metalog_local_start_offset(ctx, partition, start);
}

const struct sl_metalog_store_ops sl_metalog_local_store_ops = {ops_append, ops_recover, ops_start};

int sl_metalog_local_recover(struct sl_metalog_local *m, sl_metalog_load_fn load, void *arg)
{
	for (uint32_t pi = 0; pi < m->nparts; pi++) {
		struct lpart *lp = &m->parts[pi];
		int64_t expect = lp->start;
		for (uint32_t i = 0; i < lp->nsegs && expect < lp->durable; i++) {
			int64_t count;
			uint64_t valid;
			int rc = scan_segment(m, pi, lp->segs[i].base, false, load, arg, &count,
					      &valid, NULL, 0);
			if (rc < 0)
				return rc;
			expect += count;
		}
		if (expect < lp->durable)
			return SL_ECORRUPT;
	}
	return 0;
}

int sl_metalog_local_append(struct sl_metalog_local *m, int32_t partition, int64_t offset,
			    struct sl_slice payload)
{
	if (partition < 0 || (uint32_t)partition >= m->nparts || payload.buf == NULL ||
	    payload.len > m->cfg.max_record_bytes)
		return SL_EINVAL;
	struct lpart *lp = &m->parts[partition];
	if (lp->broken)
		return lp->broken;
	if (offset != lp->next)
		return SL_ERANGE;
	/* The queue holds every record until its batch is durable; without a bound a publisher
	 * faster than the disk would grow it without limit. Refusing costs the engine nothing:
	 * no offset is consumed and the publisher gets SL_ENOSPC to retry later. */
	if (m->queued_records >= m->cfg.max_queued_records ||
	    payload.len > m->cfg.max_queued_bytes - m->queued_bytes) {
		m->stats.appends_refused++;
		return SL_ENOSPC;
	}
	if (lp->qlen == lp->qcap) {
		/* Grow the ring buffer, unrolling it so the FIFO starts at index 0. */
		uint32_t cap = lp->qcap ? lp->qcap * 2 : 64;
		struct rec *nq = malloc(cap * sizeof(*nq));
		if (nq == NULL)
			return SL_ENOMEM;
		for (uint32_t i = 0; i < lp->qlen; i++)
			nq[i] = lp->q[(lp->qhead + i) % lp->qcap];
		free(lp->q);
		lp->q = nq;
		lp->qcap = cap;
		lp->qhead = 0;
	}
	struct rec *r = &lp->q[(lp->qhead + lp->qlen) % lp->qcap];
	sl_buf_ref(payload.buf);
	r->payload = payload;
	r->offset = offset;
	lp->qlen++;
	lp->next = offset + 1;
	m->queued_records++;
	m->queued_bytes += payload.len;
	return 0;
}

static struct rec *q_at(struct lpart *lp, uint32_t i)
{
	return &lp->q[(lp->qhead + i) % lp->qcap];
}

static void q_drop(struct sl_metalog_local *m, struct lpart *lp, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct rec *r = q_at(lp, i);
		m->queued_bytes -= r->payload.len;
		sl_buf_unref(r->payload.buf);
	}
	m->queued_records -= n;
	lp->qhead = (lp->qhead + n) % (lp->qcap ? lp->qcap : 1);
	lp->qlen -= n;
}

/* Fails everything accepted and not durable; the file goes back to its durable size. */
static void part_fail(struct sl_metalog_local *m, uint32_t pi, int rc)
{
	struct lpart *lp = &m->parts[pi];
	m->stats.write_errors++;
	m->stats.records_failed += lp->qlen;
	q_drop(m, lp, lp->qlen);
	lp->next = lp->durable;
	if (ftruncate(lp->fd, (off_t)lp->seg_size) != 0) {
		SL_LOG(METALOG, ERR, "p%u: cannot truncate back to %" PRIu64 " bytes: %s", pi,
		       lp->seg_size, strerror(errno));
		lp->broken = SL_EIO;
	}
	if (m->cfg.done)
		m->cfg.done(m->cfg.done_arg, (int32_t)pi, lp->durable, rc);
}

static int roll(struct sl_metalog_local *m, uint32_t pi, int64_t base)
{
	struct lpart *lp = &m->parts[pi];
	char name[SEG_NAME_LEN + 1];
	seg_name(name, base);
	/* Rolling is rare (once per segment_bytes), so these are plain blocking calls. The new
	 * name must be durable before records in it can be acknowledged. */
	int fd = openat(lp->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno_to_sl(errno);
	if (fsync(lp->dirfd) != 0) {
		int e = errno;
		close(fd);
		unlinkat(lp->dirfd, name, 0);
		return errno_to_sl(e);
	}
	int rc = push_seg(lp, base);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	lp->segs[lp->nsegs - 2].size = lp->seg_size;
	close(lp->fd);
	lp->fd = fd;
	lp->seg_base = base;
	lp->seg_size = 0;
	m->stats.rolls++;
	return 0;
}

static size_t rec_bytes(const struct rec *r)
{
	return SL_METALOG_LOCAL_HDR_LEN + (size_t)r->payload.len;
}

/* Sends the partition's next batch: one write, one linked fdatasync. Returns false when the
 * ring has no room (try again next poll). */
static bool submit_batch(struct sl_metalog_local *m, uint32_t pi)
{
	struct lpart *lp = &m->parts[pi];
	if (io_uring_sq_space_left(&m->ring) < 2)
		return false;
	size_t first = rec_bytes(q_at(lp, 0));
	if (lp->seg_size > 0 && lp->seg_size + first > m->cfg.segment_bytes) {
		int rc = roll(m, pi, q_at(lp, 0)->offset);
		if (rc < 0) {
			part_fail(m, pi, rc);
			return true;
		}
	}
	size_t bytes = 0;
	uint32_t n = 0;
	while (n < lp->qlen) {
		size_t b = rec_bytes(q_at(lp, n));
		if (n > 0 && (m->cfg.sync_each || bytes + b > m->cfg.max_batch_bytes ||
			      lp->seg_size + bytes + b > m->cfg.segment_bytes))
			break;
		bytes += b;
		n++;
	}
	if (bytes > lp->stage_cap) {
		size_t cap = lp->stage_cap ? lp->stage_cap : 4096;
		while (cap < bytes)
			cap *= 2;
		unsigned char *s = realloc(lp->stage, cap);
		if (s == NULL) {
			part_fail(m, pi, SL_ENOMEM);
			return true;
		}
		lp->stage = s;
		lp->stage_cap = cap;
	}
	size_t pos = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct rec *r = q_at(lp, i);
		frame_encode(lp->stage + pos, r->offset, sl_slice_data(&r->payload),
			     r->payload.len);
		pos += rec_bytes(r);
	}
	struct io_uring_sqe *w = io_uring_get_sqe(&m->ring);
	struct io_uring_sqe *f = io_uring_get_sqe(&m->ring);
	io_uring_prep_write(w, lp->fd, lp->stage, (unsigned)bytes, lp->seg_size);
	w->flags |= IOSQE_IO_LINK;
	io_uring_sqe_set_data64(w, ((uint64_t)pi << 1) | 0);
	io_uring_prep_fsync(f, lp->fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data64(f, ((uint64_t)pi << 1) | 1);
	lp->inflight = true;
	lp->cqes_left = 2;
	lp->batch_n = n;
	lp->batch_bytes = bytes;
	lp->batch_end = q_at(lp, n - 1)->offset + 1;
	lp->wres = lp->fres = 0;
	m->stats.writes++;
	m->stats.fdatasyncs++;
	m->stats.inflight++;
	return true;
}

static void batch_finish(struct sl_metalog_local *m, uint32_t pi)
{
	struct lpart *lp = &m->parts[pi];
	lp->inflight = false;
	m->stats.inflight--;
	if (lp->wres >= 0 && (uint64_t)lp->wres == lp->batch_bytes && lp->fres == 0) {
		q_drop(m, lp, lp->batch_n);
		lp->seg_size += lp->batch_bytes;
		lp->durable = lp->batch_end;
		m->stats.records_durable += lp->batch_n;
		m->stats.bytes_durable += lp->batch_bytes;
		if (m->cfg.done)
			m->cfg.done(m->cfg.done_arg, (int32_t)pi, lp->durable, 0);
		return;
	}
	int rc;
	if (lp->wres < 0) {
		rc = errno_to_sl(-lp->wres);
	} else if ((uint64_t)lp->wres != lp->batch_bytes) {
		/* A short write to a regular file means the file system ran out of room. */
		rc = SL_ENOSPC;
	} else {
		/* After a failed fdatasync the page cache may claim data the disk never got:
		 * nothing written to this partition can be trusted again until a restart
		 * re-reads the file. */
		rc = errno_to_sl(-lp->fres);
		lp->broken = SL_EIO;
	}
	SL_LOG(METALOG, WARNING, "p%u: batch of %u records failed (write %d, fdatasync %d): %s", pi,
	       lp->batch_n, lp->wres, lp->fres, sl_strerror(rc));
	part_fail(m, pi, rc);
}

/* One finished SQE of a trim. A failure cancels the rest of its chain: those files stay on
 * disk below the start offset this run believes in, and the next open simply starts at the
 * oldest one left (they are still the front of the log, contiguous with the rest). */
static void trim_cqe(struct sl_metalog_local *m, uint64_t ud, int res)
{
	m->trim_sqes--;
	if (res < 0) {
		if (res != -ECANCELED) {
			m->stats.trim_errors++;
			SL_LOG(METALOG, WARNING, "%s: trim %s failed: %s", m->dir,
			       (ud & UD_DIRSYNC) ? "directory fsync" : "unlink", strerror(-res));
		}
		return;
	}
	if (!(ud & UD_DIRSYNC)) {
		m->stats.segments_deleted++;
		m->stats.bytes_deleted += ud & UD_SIZE;
	}
}

int sl_metalog_local_trim(struct sl_metalog_local *m, int32_t partition, int64_t below)
{
	if (m == NULL || partition < 0 || (uint32_t)partition >= m->nparts || below < 0)
		return SL_EINVAL;
	uint32_t pi = (uint32_t)partition;
	struct lpart *lp = &m->parts[pi];
	/* Only durable records can be given up: what is queued or in flight is still owed to
	 * its publisher, and a trim point past the end means "everything written so far". */
	if (below > lp->durable)
		below = lp->durable;
	if (below <= lp->start)
		return 0;
	/* The file being appended to is never deleted. When every record in it is below the
	 * trim point, roll to an empty file based at the durable end first (a blocking open +
	 * directory fsync, as every roll): the partition then keeps its start offset across a
	 * restart even with no record left. Not while a batch is in flight: that batch writes
	 * into the current file; the next trim will catch up. */
	if (below == lp->durable && lp->seg_size > 0 && !lp->inflight && !lp->broken) {
		int rc = roll(m, pi, lp->durable);
		if (rc < 0)
			SL_LOG(METALOG, WARNING, "p%u: cannot roll before trimming: %s", pi,
			       sl_strerror(rc));
	}
	uint32_t n = 0;
	while (n + 1 < lp->nsegs && lp->segs[n + 1].base <= below)
		n++;
	if (m->uring_unlink) {
		/* Two SQEs per file, and at most ring_entries of them in flight over all trims, so
		 * that trims and batches together stay within the completion queue (twice the
		 * ring). What does not fit now is left for the next trim (the caller repeats its
		 * trim point as it advances). */
		uint32_t room = io_uring_sq_space_left(&m->ring);
		uint32_t budget =
			m->cfg.ring_entries > m->trim_sqes ? m->cfg.ring_entries - m->trim_sqes : 0;
		room = (room < budget ? room : budget) / 2;
		if (n > room)
			n = room;
	}
	if (n == 0)
		return 0;
	/* Oldest first, each unlink made durable before the next is issued (linked SQEs): a
	 * crash at any point leaves a contiguous run of files, whose first base is the start
	 * offset the next open finds. unlinkat copies its path when the SQE is prepared inside
	 * io_uring_submit, so the names can live on the stack. */
	char names[64][SEG_NAME_LEN + 1];
	if (m->uring_unlink && n > 64)
		n = 64;
	for (uint32_t i = 0; i < n; i++) {
		const struct seg *sg = &lp->segs[i];
		if (!m->uring_unlink) {
			/* Without IORING_OP_UNLINKAT (kernels before 5.11) the io lcore blocks
			 * here: acceptable because a trim deletes a file per segment_bytes of
			 * metadata, i.e. rarely, and an unlink + directory fsync is one journal
			 * commit. */
			char name[SEG_NAME_LEN + 1];
			seg_name(name, sg->base);
			if (unlinkat(lp->dirfd, name, 0) != 0 && errno != ENOENT) {
				m->stats.trim_errors++;
				SL_LOG(METALOG, WARNING, "p%u: unlink %s: %s", pi, name,
				       strerror(errno));
				n = i;
				break;
			}
			if (fsync(lp->dirfd) != 0) {
				m->stats.trim_errors++;
				SL_LOG(METALOG, WARNING, "p%u: fsync after unlink: %s", pi,
				       strerror(errno));
			}
			m->stats.segments_deleted++;
			m->stats.bytes_deleted += sg->size;
			continue;
		}
		seg_name(names[i], sg->base);
		struct io_uring_sqe *u = io_uring_get_sqe(&m->ring);
		struct io_uring_sqe *f = io_uring_get_sqe(&m->ring);
		io_uring_prep_unlinkat(u, lp->dirfd, names[i], 0);
		u->flags |= IOSQE_IO_LINK;
		io_uring_sqe_set_data64(u, UD_TRIM | (sg->size & UD_SIZE));
		io_uring_prep_fsync(f, lp->dirfd, 0);
		if (i + 1 < n)
			f->flags |= IOSQE_IO_LINK;
		io_uring_sqe_set_data64(f, UD_TRIM | UD_DIRSYNC);
		m->trim_sqes += 2;
	}
	if (n == 0)
		return 0;
	memmove(lp->segs, lp->segs + n, (size_t)(lp->nsegs - n) * sizeof(*lp->segs));
	lp->nsegs -= n;
	lp->start = lp->segs[0].base;
	m->stats.trims++;
	if (m->uring_unlink) {
		int e = io_uring_submit(&m->ring);
		if (e < 0) {
			SL_LOG(METALOG, ERR, "io_uring_submit: %s", strerror(-e));
			return SL_EIO;
		}
	}
	return (int)n;
}

int sl_metalog_local_start_offset(const struct sl_metalog_local *m, int32_t partition,
				  int64_t *start)
{
	if (m == NULL || start == NULL || partition < 0 || (uint32_t)partition >= m->nparts)
		return SL_EINVAL;
	*start = m->parts[partition].start;
	return 0;
}

int sl_metalog_local_poll(struct sl_metalog_local *m)
{
	int completed = 0;
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(&m->ring, &cqe) == 0) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&m->ring, cqe);
		if (ud & UD_TRIM) {
			trim_cqe(m, ud, res);
			continue;
		}
		struct lpart *lp = &m->parts[ud >> 1];
		if (ud & 1)
			lp->fres = res;
		else
			lp->wres = res;
		if (--lp->cqes_left == 0) {
			batch_finish(m, (uint32_t)(ud >> 1));
			completed++;
		}
	}
	bool any = false;
	for (uint32_t pi = 0; pi < m->nparts; pi++) {
		struct lpart *lp = &m->parts[pi];
		if (lp->inflight || lp->qlen == 0)
			continue;
		if (!submit_batch(m, pi))
			break;
		any = any || lp->inflight;
	}
	if (any) {
		int e = io_uring_submit(&m->ring);
		if (e < 0) {
			SL_LOG(METALOG, ERR, "io_uring_submit: %s", strerror(-e));
			return SL_EIO;
		}
	}
	return completed;
}

int sl_metalog_local_set_eventfd(struct sl_metalog_local *m, int fd)
{
	if (m == NULL || fd < 0)
		return SL_EINVAL;
	return io_uring_register_eventfd(&m->ring, fd) == 0 ? 0 : SL_EIO;
}

bool sl_metalog_local_idle(const struct sl_metalog_local *m)
{
	if (m->trim_sqes)
		return false;
	for (uint32_t pi = 0; pi < m->nparts; pi++) {
		if (m->parts[pi].inflight || m->parts[pi].qlen)
			return false;
	}
	return true;
}

int sl_metalog_local_wait(struct sl_metalog_local *m)
{
	for (;;) {
		int rc = sl_metalog_local_poll(m);
		if (rc < 0)
			return rc;
		if (sl_metalog_local_idle(m))
			return 0;
		if (m->stats.inflight == 0 && m->trim_sqes == 0)
			continue; /* queued but the ring was full: poll submits it */
		struct io_uring_cqe *cqe;
		int e = io_uring_wait_cqe(&m->ring, &cqe);
		if (e < 0 && e != -EINTR) {
			SL_LOG(METALOG, ERR, "io_uring_wait_cqe: %s", strerror(-e));
			return SL_EIO;
		}
	}
}

int sl_metalog_local_next_offset(const struct sl_metalog_local *m, int32_t partition, int64_t *next)
{
	if (partition < 0 || (uint32_t)partition >= m->nparts)
		return SL_EINVAL;
	*next = m->parts[partition].next;
	return 0;
}

void sl_metalog_local_stats(const struct sl_metalog_local *m, struct sl_metalog_local_stats *out)
{
	*out = m->stats;
	out->queued_records = m->queued_records;
	out->queued_bytes = m->queued_bytes;
	out->segments = 0;
	for (uint32_t i = 0; i < m->nparts; i++) {
		out->segments += m->parts[i].nsegs;
		if (i < SL_METALOG_LOCAL_STAT_PARTS)
			out->start_offset[i] = (uint64_t)m->parts[i].start;
	}
}

void sl_metalog_local_close(struct sl_metalog_local *m)
{
	if (m == NULL)
		return;
	if (sl_metalog_local_wait(m) < 0) {
		/* The ring is unusable: drop what is queued; nothing of it was acknowledged. */
		for (uint32_t pi = 0; pi < m->nparts; pi++)
			q_drop(m, &m->parts[pi], m->parts[pi].qlen);
	}
	io_uring_queue_exit(&m->ring);
	for (uint32_t i = 0; i < m->nparts; i++) {
		struct lpart *lp = &m->parts[i];
		q_drop(m, lp, lp->qlen);
		if (lp->fd >= 0)
			close(lp->fd);
		if (lp->dirfd >= 0)
			close(lp->dirfd);
		free(lp->segs);
		free(lp->q);
		free(lp->stage);
	}
	if (m->dirfd >= 0)
		close(m->dirfd);
	free(m->parts);
	free(m->dir);
	free(m);
}

static const char *const part_names[SL_METALOG_LOCAL_STAT_PARTS] = {
	"p0", "p1", "p2",  "p3",  "p4",	 "p5",	"p6",  "p7",
	"p8", "p9", "p10", "p11", "p12", "p13", "p14", "p15",
};

#define T struct sl_metalog_local_stats
const struct sl_stat_field sl_metalog_local_stats_fields[] = {
	SL_STAT_U(T, writes, NULL),
	SL_STAT_U(T, fdatasyncs, NULL),
	SL_STAT_U(T, records_durable, NULL),
	SL_STAT_U(T, bytes_durable, NULL),
	SL_STAT_U(T, records_failed, NULL),
	SL_STAT_U(T, write_errors, NULL),
	SL_STAT_U(T, rolls, NULL),
	SL_STAT_U(T, torn_truncations, NULL),
	SL_STAT_U(T, records_recovered, NULL),
	SL_STAT_U(T, appends_refused, NULL),
	SL_STAT_G(T, queued_bytes, NULL),
	SL_STAT_G(T, queued_records, NULL),
	SL_STAT_G(T, inflight, NULL),
	SL_STAT_U(T, trims, NULL),
	SL_STAT_U(T, segments_deleted, NULL),
	SL_STAT_U(T, bytes_deleted, NULL),
	SL_STAT_U(T, trim_errors, NULL),
	SL_STAT_G(T, segments, NULL),
	SL_STAT_ARR(T, start_offset, "start_offset", NULL, part_names),
	SL_STAT_TABLE_END,
};
#undef T
