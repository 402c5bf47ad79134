/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the local metadata log's segment-file recovery (drivers/metalog/local.c).
 * The input is the contents of one or two segment files of a partition. They are written into
 * a fresh temporary directory (removed after each input), opened with sl_metalog_local_open and
 * recovered into a metadata log engine. Whatever the bytes, the open must return 0 or an error with
 * a message (a torn tail is cut, anything else that does not verify is refused), and what it
 * recovers must be exactly the records framed at the start of the files, dense from the first
 * file's base (a log trimmed from the front starts there; 0 otherwise).
 * Optionally a record is then appended and the log reopened, which checks that writing resumes at
 * the right byte after a torn tail was cut.
 *
 * Input layout:
 *   byte 0   flags: bit 0 two segment files (else one); bit 1 two partitions, the files go to
 *            partition 1 and partition 0 stays empty; bit 2 append a record and reopen after a
 *            successful open
 *   byte 1   base offset of the second segment (of the only one with one file: any base is
 *            valid, as left by trimming)
 *   byte 2-3 with two files, the first one's length (little-endian, clamped to what is left)
 *   rest     the file contents
 */
#include "core/err.h"
#include "core/log.h"
#include "drivers/metalog/local.h"
#include "log/metalog.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

/* Inputs are small (libFuzzer runs with -max_len=4096); longer ones are cut so that a single
 * input never costs more than a few small writes. */
#define MAX_CONTENTS   8192
#define MAX_RECORD     1024
#define SEGMENT_BYTES  2048 /* small, so an append after recovery may roll */
#define APPEND_PAYLOAD "fuzz-append"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct file {
	int64_t base;
	const uint8_t *bytes;
	size_t len;
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void write_file(const char *dir, uint32_t part, const struct file *f)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/p%u/%020" PRId64 ".seg", dir, part, f->base);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	size_t off = 0;
	while (off < f->len) {
		ssize_t n = write(fd, f->bytes + off, f->len - off);
		CHECK(n > 0);
		off += (size_t)n;
	}
	close(fd);
}

/* Removes dir and everything in it (two levels: partition directories and their files). */
static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	struct dirent *e;
	char path[512];
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		struct stat st;
		CHECK(lstat(path, &st) == 0);
		if (S_ISDIR(st.st_mode))
			remove_tree(path);
		else
			CHECK(unlink(path) == 0);
	}
	closedir(d);
	CHECK(rmdir(dir) == 0);
}

struct opened {
	struct sl_metalog_local *m;
	struct sl_metalog *log;
};

/* Opens driver and engine. Returns the driver's open code; on success recovery must work too
 * (open validated every byte recovery reads). */
static int open_all(const char *dir, uint32_t parts, struct opened *o)
{
	struct sl_metalog_local_config lc;
	sl_metalog_local_config_default(&lc);
	lc.dir = dir;
	lc.partitions = parts;
	lc.segment_bytes = SEGMENT_BYTES;
	lc.max_record_bytes = MAX_RECORD;
	lc.ring_entries = 4;
	char err[512];
	err[0] = 'x'; /* open must overwrite it: a stale message would hide a missing one */
	int rc = sl_metalog_local_open(&lc, &o->m, err, sizeof(err));
	if (rc != 0) {
		CHECK(rc == SL_ECORRUPT || rc == SL_EIO || rc == SL_ENOMEM);
		CHECK(rc == SL_ENOMEM || (err[0] != '\0' && strstr(err, "metalog") != NULL));
		return rc;
	}
	struct sl_metalog_config cfg;
	sl_metalog_config_default(&cfg);
	cfg.partitions = parts;
	cfg.store = &sl_metalog_local_store_ops;
	cfg.store_ctx = o->m;
	CHECK(sl_metalog_new(&cfg, &o->log) == 0);
	sl_metalog_local_attach(o->m, o->log);
	CHECK(sl_metalog_recover(o->log) == 0);
	return 0;
}

static void close_all(struct opened *o)
{
	sl_metalog_free(o->log);
	sl_metalog_local_close(o->m);
}

/*
 * Reads every record of partition p and checks it against the files as written: records are
 * dense from the partition's start offset (the first file's base) and each is the next frame of the
 * files in base order (magic, length, offset and payload at exactly that byte position). Only the
 * last file may have bytes left over (the torn tail that was cut). Returns the number of records.
 */
static int64_t verify(struct opened *o, int32_t p, const struct file *files, int nfiles,
		      int64_t start)
{
	int64_t hwm, next, first, local_first;
	CHECK(sl_metalog_high_water_mark(o->log, p, &hwm) == 0);
	CHECK(sl_metalog_local_next_offset(o->m, p, &next) == 0);
	CHECK(next == hwm);
	CHECK(sl_metalog_start_offset(o->log, p, &first) == 0);
	CHECK(sl_metalog_local_start_offset(o->m, p, &local_first) == 0);
	CHECK(first == start && local_first == start);
	struct sl_metalog_start a = {p, start};
	struct sl_metalog_sub *s;
	CHECK(sl_metalog_subscribe(o->log, &a, 1, &s) == 0);
	struct sl_metalog_record r;
	int64_t count = 0;
	int fi = 0;
	size_t pos = 0;
	while (sl_metalog_sub_poll(s, NULL, &r) == 0) {
		CHECK(r.partition == p && r.offset == start + count);
		if (files != NULL) {
			while (fi < nfiles && pos == files[fi].len) {
				fi++;
				pos = 0;
			}
			CHECK(fi < nfiles);
			const struct file *f = &files[fi];
			if (pos == 0)
				CHECK(f->base == r.offset);
			CHECK(f->len - pos >= SL_METALOG_LOCAL_HDR_LEN);
			const uint8_t *h = f->bytes + pos;
			CHECK(le32(h) == SL_METALOG_LOCAL_MAGIC);
			CHECK(le32(h + 4) == r.payload.len);
			CHECK(le64(h + 8) == (uint64_t)r.offset);
			CHECK(f->len - pos - SL_METALOG_LOCAL_HDR_LEN >= r.payload.len);
			CHECK(memcmp(h + SL_METALOG_LOCAL_HDR_LEN, sl_slice_data(&r.payload),
				     r.payload.len) == 0);
			pos += SL_METALOG_LOCAL_HDR_LEN + r.payload.len;
		}
		count++;
	}
	sl_metalog_unsubscribe(s);
	CHECK(start + count == hwm);
	if (files != NULL) {
		while (fi < nfiles && pos == files[fi].len) {
			fi++;
			pos = 0;
		}
		CHECK(fi >= nfiles - 1); /* leftovers only in the last file */
	}
	return count;
}

static void run(const char *dir, uint8_t flags, const struct file *files, int nfiles)
{
	uint32_t parts = (flags & 2) ? 2 : 1;
	int32_t fp = (int32_t)parts - 1; /* the partition holding the files */
	char pdir[512];
	for (uint32_t i = 0; i < parts; i++) {
		snprintf(pdir, sizeof(pdir), "%s/p%u", dir, i);
		CHECK(mkdir(pdir, 0755) == 0);
	}
	for (int i = 0; i < nfiles; i++)
		write_file(dir, (uint32_t)fp, &files[i]);

	struct opened o;
	if (open_all(dir, parts, &o) != 0)
		return;
	int64_t start = files[0].base; /* the lower base when there are two */
	int64_t n = verify(&o, fp, files, nfiles, start);
	if (fp == 1)
		CHECK(verify(&o, 0, NULL, 0, 0) == 0);
	struct sl_metalog_local_stats st;
	sl_metalog_local_stats(o.m, &st);
	CHECK(st.records_recovered == (uint64_t)n);
	if (!(flags & 4)) {
		close_all(&o);
		return;
	}

	/* Writing resumes after the last good record: append, reopen, and find it there. */
	struct sl_metalog_pub pub;
	int64_t off;
	struct sl_buf *b = sl_buf_from(APPEND_PAYLOAD, strlen(APPEND_PAYLOAD));
	CHECK(b != NULL);
	CHECK(sl_metalog_publish(o.log, fp, sl_slice_of(b), &pub, &off) == SL_EAGAIN);
	CHECK(off == start + n);
	CHECK(sl_metalog_local_wait(o.m) == 0);
	CHECK(pub.status == 0);
	close_all(&o);
	CHECK(open_all(dir, parts, &o) == 0);
	CHECK(verify(&o, fp, NULL, 0, start) == n + 1);
	struct sl_metalog_start a = {fp, start + n};
	struct sl_metalog_sub *s;
	CHECK(sl_metalog_subscribe(o.log, &a, 1, &s) == 0);
	struct sl_metalog_record r;
	CHECK(sl_metalog_sub_poll(s, NULL, &r) == 0);
	CHECK(r.payload.len == strlen(APPEND_PAYLOAD));
	CHECK(memcmp(sl_slice_data(&r.payload), APPEND_PAYLOAD, r.payload.len) == 0);
	sl_metalog_unsubscribe(s);
	close_all(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	if (!quiet) {
		/* Every torn tail and corrupt record is logged; errors are checked through errmsg
		 * instead of flooding the run's output. */
		sl_log_set_level("shardline.*", RTE_LOG_EMERG);
		quiet = true;
	}
	if (size < 4)
		return 0;
	uint8_t flags = data[0];
	size_t len = size - 4 < MAX_CONTENTS ? size - 4 : MAX_CONTENTS;
	const uint8_t *rest = data + 4;
	struct file files[2];
	int nfiles;
	if (flags & 1) {
		size_t split = (size_t)data[2] | (size_t)data[3] << 8;
		if (split > len)
			split = len;
		files[0] = (struct file){0, rest, split};
		files[1] = (struct file){data[1], rest + split, len - split};
		nfiles = 2;
		if (files[1].base == 0) {
			/* Same name: the second write replaces the first file. */
			files[0] = files[1];
			nfiles = 1;
		}
	} else {
		files[0] = (struct file){data[1], rest, len};
		nfiles = 1;
	}

	/* A fresh directory per input, removed afterwards. tmpfs when there is one: the driver
	 * fsyncs (directory on create, truncated tails, every batch), and on a disk-backed /tmp
	 * those syncs made an input cost about 8 ms, over two minutes for a 20 000-input smoke
	 * run, to test parsing that does not depend on the file system. */
	char dir[64];
	snprintf(dir, sizeof(dir), "%s/sl-fuzz-metalog-XXXXXX",
		 access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
	run(dir, flags, files, nfiles);
	remove_tree(dir);
	return 0;
}
