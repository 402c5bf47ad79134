/* SPDX-License-Identifier: Apache-2.0 */
#include "control/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Writes text to path durably: a temporary file, fsync, rename, fsync of the directory. */
static int write_durably(const char *dir, const char *path, const char *text, char *err,
			 size_t errlen)
{
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	size_t n = strlen(text);
	if (fd < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return SL_EIO;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		return SL_EIO;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		snprintf(err, errlen, "cannot sync directory %s: %s", dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return SL_EIO;
	}
	close(dfd);
	return 0;
}

int sl_dctl_next_boot(const char *data_dir, uint64_t *boot, char *err, size_t errlen)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/BOOT", data_dir);
	uint64_t last = 0;
	FILE *f = fopen(path, "r");
	if (f != NULL) {
		char line[64] = "";
		char *end = NULL;
		if (fgets(line, sizeof(line), f) != NULL)
			last = strtoull(line, &end, 10);
		fclose(f);
		if (end == NULL || end == line || (*end != '\n' && *end != '\0')) {
			snprintf(err, errlen,
				 "%s does not hold a start number (a decimal line); fix or remove "
				 "it",
				 path);
			return SL_ECORRUPT;
		}
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return SL_EIO;
	}
	char text[32];
	snprintf(text, sizeof(text), "%" PRIu64 "\n", last + 1);
	int rc = write_durably(data_dir, path, text, err, errlen);
	if (rc == 0)
		*boot = last + 1;
	return rc;
}

int sl_dctl_snapshot(struct sl_dctl *d)
{
	struct sl_stream_set *s = sl_catalog_snapshot(d->catalog);
	if (s == NULL)
		return SL_ENOMEM;
	sl_stream_set_unref(d->streams);
	d->streams = s;
	return 0;
}

int sl_dctl_open(struct sl_dctl *d, const char *data_dir, uint64_t segment_bytes, char *err,
		 size_t errlen)
{
	uint64_t t0 = mono_ns();
	memset(d, 0, sizeof(*d));
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/streams.json", data_dir);
	int rc = sl_catalog_open(path, &d->catalog, err, errlen);
	if (rc == 0)
		rc = sl_dctl_snapshot(d);
	if (rc == 0)
		rc = sl_dctl_next_boot(data_dir, &d->boot, err, errlen);
	if (rc != 0)
		return rc;

	snprintf(path, sizeof(path), "%s/metalog", data_dir);
	struct sl_metalog_local_config lc;
	sl_metalog_local_config_default(&lc);
	lc.dir = path;
	lc.partitions = SL_DCTL_META_PARTITIONS;
	if (segment_bytes)
		lc.segment_bytes = segment_bytes;
	rc = sl_metalog_local_open(&lc, &d->mlocal, err, errlen);
	if (rc != 0)
		return rc;
	struct sl_metalog_config mc;
	sl_metalog_config_default(&mc);
	mc.partitions = SL_DCTL_META_PARTITIONS;
	mc.store = &sl_metalog_local_store_ops;
	mc.store_ctx = d->mlocal;
	/* retain_records stays 0: recovery must read every event. Afterwards the io lcore
	 * trims each record as soon as it is published (workers keep their own index). */
	if ((rc = sl_metalog_new(&mc, &d->mlog)) != 0) {
		snprintf(err, errlen, "cannot create the metadata log: %s", sl_strerror(rc));
		return rc;
	}
	sl_metalog_local_attach(d->mlocal, d->mlog);
	if ((rc = sl_metalog_recover(d->mlog)) != 0) {
		snprintf(err, errlen, "cannot recover the metadata log in %s: %s", path,
			 sl_strerror(rc));
		return rc;
	}
	if ((rc = sl_drecovery_new(d->streams, &d->rec)) != 0) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	/* Every segment event, from where every partition of the log starts (past what was
	 * trimmed from its files). */
	struct sl_metalog_start starts[SL_DCTL_META_PARTITIONS];
	for (int32_t i = 0; i < SL_DCTL_META_PARTITIONS; i++) {
		int64_t first = 0;
		sl_metalog_start_offset(d->mlog, i, &first);
		starts[i] = (struct sl_metalog_start){i, first};
	}
	struct sl_metalog_sub *sub;
	if ((rc = sl_metalog_subscribe(d->mlog, starts, SL_DCTL_META_PARTITIONS, &sub)) != 0) {
		snprintf(err, errlen, "cannot read the metadata log: %s", sl_strerror(rc));
		return rc;
	}
	struct sl_metalog_record m;
	while ((rc = sl_metalog_sub_poll(sub, NULL, &m)) == 0) {
		const char *why = NULL;
		int e = sl_drecovery_add_event_at(d->rec, m.payload.buf->data + m.payload.off,
						  m.payload.len, m.partition, m.offset, &why);
		if (m.partition >= 0 && m.partition < SL_DCTL_META_PARTITIONS &&
		    m.offset + 1 > d->meta_end[m.partition])
			d->meta_end[m.partition] = m.offset + 1;
		if (e != 0) {
			snprintf(err, errlen,
				 "%s: record %" PRId64 " of partition %d is not a segment event "
				 "(%s: %s); the log was written by another version or is damaged",
				 path, m.offset, (int)m.partition, sl_strerror(e), why ? why : "?");
			sl_metalog_unsubscribe(sub);
			return SL_ECORRUPT;
		}
		d->events++;
	}
	sl_metalog_unsubscribe(sub);
	/* The events are in the recovery now: the log lets go of its copies. */
	for (int32_t i = 0; i < SL_DCTL_META_PARTITIONS; i++) {
		int64_t hwm = 0;
		sl_metalog_high_water_mark(d->mlog, i, &hwm);
		sl_metalog_trim(d->mlog, i, hwm);
	}
	d->recover_ns = mono_ns() - t0;
	return 0;
}

static int start_known(void *arg, const struct sl_dstart *s)
{
	return sl_drecovery_set_start(arg, s->stream_id, s->partition, s->start);
}

/* The retained starts retention had made durable (durable/starts.h): ranges below them are
 * not read again, whether their objects are there or not. A damaged object stops the start:
 * without it a partition could be cut at a deleted object. */
static int read_starts(struct sl_dctl *d, struct sl_objstore *client, char *err, size_t errlen)
{
	struct sl_obj_req r;
	memset(&r, 0, sizeof(r));
	r.op = SL_OBJ_GET;
	r.key = SL_DSTARTS_KEY;
	int rc = sl_objstore_run(client, &r);
	if (rc == SL_ENOTFOUND) {
		sl_obj_req_reset(&r);
		return 0; /* retention never deleted anything */
	}
	if (rc != 0) {
		snprintf(err, errlen, "cannot read the retained starts (objects/%s): %s",
			 SL_DSTARTS_KEY, sl_strerror(rc));
		sl_obj_req_reset(&r);
		return rc;
	}
	const char *why = NULL;
	rc = sl_dstarts_decode(r.data->data, r.data->len, start_known, d->rec, &why);
	if (rc != 0)
		snprintf(err, errlen,
			 "objects/%s is damaged (%s: %s); it says where retention cut each "
			 "partition, and starting without it could cut partitions short",
			 SL_DSTARTS_KEY, sl_strerror(rc), why ? why : "?");
	sl_obj_req_reset(&r);
	return rc;
}

int sl_dctl_objects(struct sl_dctl *d, struct sl_objstore *client, char *err, size_t errlen)
{
	uint64_t t0 = mono_ns();
	char after[SL_OBJ_KEY_MAX + 1] = "";
	int rc = 0;
	for (;;) {
		struct sl_obj_req r;
		memset(&r, 0, sizeof(r));
		r.op = SL_OBJ_LIST;
		r.prefix = "data/";
		r.start_after = after[0] ? after : NULL;
		r.max_keys = 10000;
		rc = sl_objstore_run(client, &r);
		if (rc != 0) {
			snprintf(err, errlen, "cannot list the batch objects: %s", sl_strerror(rc));
			sl_obj_req_reset(&r);
			return rc;
		}
		for (uint32_t i = 0; i < r.nentries && rc == 0; i++)
			rc = sl_drecovery_add_object(d->rec, r.entries[i].key, r.entries[i].size);
		bool more = r.truncated && r.nentries > 0;
		if (more)
			snprintf(after, sizeof(after), "%s", r.entries[r.nentries - 1].key);
		sl_obj_req_reset(&r);
		if (rc != 0) {
			snprintf(err, errlen, "cannot index the batch objects: %s",
				 sl_strerror(rc));
			return rc;
		}
		if (!more)
			break;
	}
	if ((rc = read_starts(d, client, err, errlen)) != 0)
		return rc;
	/* Retention by age measures against the wall clock, as the workers' does. */
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	sl_drecovery_set_wall(d->rec,
			      (uint64_t)wall.tv_sec * 1000 + (uint64_t)wall.tv_nsec / 1000000);
	if ((rc = sl_drecovery_finish(d->rec)) != 0) {
		snprintf(err, errlen, "cannot rebuild the segment index: %s", sl_strerror(rc));
		return rc;
	}
	sl_drecovery_stats(d->rec, &d->rec_stats);
	/* Written but never indexed (a crash between an object and its event), left by a deleted
	 * stream, or expired: no reader can reach them. They go through the retention GC
	 * (sl_dctl_gc), not at once: it deletes nothing before the starts that let it go are
	 * durable (a partition's older range may sit in an object another partition still
	 * holds), and asks the export queue's pins first. */
	d->orphans_deferred = d->rec_stats.orphans;
	d->recover_ns += mono_ns() - t0;
	return 0;
}

int sl_dctl_consumers(struct sl_dctl *d, struct sl_objstore *client, char *err, size_t errlen)
{
	char after[SL_OBJ_KEY_MAX + 1] = "";
	for (;;) {
		struct sl_obj_req r;
		memset(&r, 0, sizeof(r));
		r.op = SL_OBJ_LIST;
		r.prefix = SL_DCONS_PREFIX;
		r.start_after = after[0] ? after : NULL;
		r.max_keys = 10000;
		int rc = sl_objstore_run(client, &r);
		if (rc != 0) {
			snprintf(err, errlen, "cannot list the consumer objects: %s",
				 sl_strerror(rc));
			sl_obj_req_reset(&r);
			return rc;
		}
		for (uint32_t i = 0; i < r.nentries && rc == 0; i++) {
			const char *key = r.entries[i].key;
			struct sl_dcons_entry e;
			if (sl_dcons_parse_key(key, &e) != 0) {
				snprintf(err, errlen,
					 "objects/%s is not a consumer position "
					 "(consumers/STREAM_ID/"
					 "NAME/PARTITION); move it away",
					 key);
				rc = SL_ECORRUPT;
				break;
			}
			const struct sl_stream_def *def =
				sl_stream_set_find_id(d->streams, e.stream_id);
			struct sl_obj_req g;
			memset(&g, 0, sizeof(g));
			g.key = key;
			if (def == NULL || e.partition >= def->partitions) {
				/* Its stream was deleted while the daemon was down, or mid-way. */
				g.op = SL_OBJ_DELETE;
				rc = sl_objstore_run(client, &g);
				sl_obj_req_reset(&g);
				if (rc == SL_ENOTFOUND)
					rc = 0;
				if (rc != 0)
					snprintf(err, errlen, "cannot delete objects/%s: %s", key,
						 sl_strerror(rc));
				d->consumers_deleted++;
				continue;
			}
			g.op = SL_OBJ_GET;
			rc = sl_objstore_run(client, &g);
			if (rc == 0 && sl_dcons_decode(g.data->data, g.data->len, &e) != 0)
				rc = SL_ECORRUPT;
			sl_obj_req_reset(&g);
			if (rc != 0) {
				snprintf(err, errlen,
					 "cannot read the consumer position objects/%s: %s", key,
					 sl_strerror(rc));
				break;
			}
			if (d->nconsumers % 64 == 0) {
				struct sl_dcons_entry *v =
					realloc(d->consumers, (d->nconsumers + 64) * sizeof(*v));
				if (v == NULL) {
					snprintf(err, errlen, "out of memory");
					rc = SL_ENOMEM;
					break;
				}
				d->consumers = v;
			}
			d->consumers[d->nconsumers++] = e;
		}
		bool more = rc == 0 && r.truncated && r.nentries > 0;
		if (more)
			snprintf(after, sizeof(after), "%s", r.entries[r.nentries - 1].key);
		sl_obj_req_reset(&r);
		if (rc != 0)
			return rc;
		if (!more)
			return 0;
	}
}

static void gc_live(void *arg, const char *key, uint64_t size, int32_t mpart, int64_t moff)
{
	/* SL_EDUP cannot happen (one event per object); SL_ENOMEM leaves the object out, and
	 * then, when retention drops it, its release makes it dead all the same. */
	sl_retgc_live(arg, key, size, 1, mpart, moff);
}

static void seed_start(void *arg, uint64_t stream_id, uint32_t partition, uint64_t start)
{
	/* SL_ENOMEM leaves the entry out: the next move of that partition's start adds it. */
	(void)sl_dstarts_set(arg, (uint32_t)stream_id, partition, start);
}

int sl_dctl_gc(struct sl_dctl *d, struct sl_objstore *store, uint64_t grace_ns,
	       struct sl_retgc **out, struct sl_dstarts **starts)
{
	struct sl_retgc_config c;
	sl_retgc_config_default(&c);
	c.store = store;
	c.grace_ns = grace_ns;
	c.meta_partitions = SL_DCTL_META_PARTITIONS;
	/* HOOK: the export queue's pins (c.pinned, c.pinned_arg) are wired here by the lead. */
	int rc = sl_retgc_new(&c, out);
	if (rc != 0)
		return rc;
	if ((rc = sl_dstarts_new(store, starts)) != 0) {
		sl_retgc_free(*out);
		return rc;
	}
	/* Every partition's start as recovery left it, written before the first delete (the
	 * orphans below included): a restart after the deletes must find them. */
	sl_drecovery_each_start(d->rec, seed_start, *starts);
	sl_retgc_gate(*out, sl_dstarts_version(*starts), 0);
	sl_drecovery_each_live(d->rec, gc_live, *out);
	/* Unreachable already: due at once (after the starts are durable), not after a grace. */
	uint64_t now = sl_clock_now_ns();
	now = now > grace_ns ? now - grace_ns : 0;
	for (uint64_t i = 0; i < d->orphans_deferred; i++)
		sl_retgc_release(*out, sl_drecovery_orphan(d->rec, i), 1, now);
	/* Events that named nothing live (void, expired) move the trim point up to the end. */
	for (int32_t p = 0; p < SL_DCTL_META_PARTITIONS; p++)
		sl_retgc_log_end(*out, p, d->meta_end[p]);
	return 0;
}

void sl_dctl_close(struct sl_dctl *d)
{
	free(d->consumers);
	d->consumers = NULL;
	d->nconsumers = 0;
	sl_drecovery_free(d->rec);
	d->rec = NULL;
	if (d->mlocal)
		sl_metalog_local_close(d->mlocal);
	sl_metalog_free(d->mlog);
	d->mlog = NULL;
	d->mlocal = NULL;
	sl_stream_set_unref(d->streams);
	d->streams = NULL;
	sl_catalog_free(d->catalog);
	d->catalog = NULL;
}
