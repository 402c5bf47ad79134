/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shardline-buffer-tool: drives the object-store buffer on a localdir store, for crash tests and
 * operators.
 *
 *   produce DIR N   runs a producer on DIR for N entries ("<pid>-<i>", one per call, with the id
 *                   as the call's metadata payload), printing "durable <id>" for each entry only
 *                   after its produce call completed durable (the manifest lists its batch).
 *   verify DIR      decodes the manifest and every batch it lists, printing "entry <id>" for
 *                   every entry found, then decodes every other object under data/ too; prints
 *                   "ok manifest_entries=... batches=... entries=... orphans=..." and exits 0, or
 *                   names the first corrupt object and exits 1.
 *
 * This is a tool, not an engine: it reads the clock and blocks in its own loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buffer/batch.h"
#include "buffer/manifest.h"
#include "buffer/producer.h"
#include "core/clock.h"
#include "core/err.h"
#include "drivers/objstore/localdir.h"

#define MANIFEST    "manifest"
#define PREFIX	    "data"
#define MAX_PENDING 256

struct entry_call {
	struct sl_producer_call call;
	char id[32];
	bool used;
};

static int failures;

static void entry_done(struct sl_producer_call *c)
{
	struct entry_call *e = c->user;
	if (c->result == 0) {
		/* Printed (and flushed) only now: the crash test trusts every printed id. */
		printf("durable %s\n", e->id);
		fflush(stdout);
	} else {
		fprintf(stderr, "produce %s failed: %s\n", e->id, sl_errname(c->result));
		failures++;
	}
	e->used = false;
}

static void drive(struct sl_objstore *s, struct sl_producer *p)
{
	uint64_t now = sl_clock_wall_ns();
	int n = sl_objstore_poll(s, now);
	n += sl_producer_poll(p, now);
	if (n == 0)
		usleep(50);
}

static int produce(const char *dir, long count)
{
	struct sl_objstore *s = NULL;
	int rc = sl_localdir_open(dir, NULL, &s);
	if (rc != 0) {
		fprintf(stderr, "open %s: %s\n", dir, sl_strerror(rc));
		return 2;
	}
	struct sl_producer_config cfg;
	sl_producer_config_default(&cfg);
	cfg.manifest_key = MANIFEST;
	cfg.data_prefix = PREFIX;
	cfg.flush_size_bytes = 512; /* many small flushes: many places for a crash to land */
	cfg.flush_interval_ns = 2000000;
	cfg.seed = (uint64_t)getpid();
	cfg.manifest.seed = (uint64_t)getpid();
	cfg.manifest.max_attempts = 64;
	struct sl_producer *p = sl_producer_new(s, &cfg);
	if (p == NULL) {
		fprintf(stderr, "producer: out of memory\n");
		return 2;
	}
	static struct entry_call calls[MAX_PENDING];
	long next = 0;
	while (next < count) {
		struct entry_call *e = NULL;
		for (int i = 0; i < MAX_PENDING && e == NULL; i++)
			if (!calls[i].used)
				e = &calls[i];
		if (e == NULL) {
			drive(s, p);
			continue;
		}
		snprintf(e->id, sizeof(e->id), "%d-%ld", (int)getpid(), next);
		memset(&e->call, 0, sizeof(e->call));
		e->call.done = entry_done;
		e->call.user = e;
		char payload[64];
		int len = snprintf(payload, sizeof(payload), "entry %s", e->id);
		struct iovec iov = {payload, (size_t)len};
		rc = sl_producer_produce(p, &e->call, &iov, 1, e->id, (uint32_t)strlen(e->id),
					 sl_clock_wall_ns());
		if (rc != 0) {
			fprintf(stderr, "produce: %s\n", sl_strerror(rc));
			return 2;
		}
		e->used = true;
		next++;
		drive(s, p);
	}
	struct sl_producer_call close_call = {0};
	sl_producer_close(p, &close_call, sl_clock_wall_ns());
	while (close_call.pending_ || !sl_producer_idle(p))
		drive(s, p);
	sl_producer_free(p);
	sl_objstore_destroy(s);
	return failures ? 1 : 0;
}

static struct sl_buf *get(struct sl_objstore *s, const char *key, int *rc)
{
	struct sl_obj_req r = {0};
	r.op = SL_OBJ_GET;
	r.key = key;
	*rc = sl_objstore_run(s, &r);
	return *rc == 0 ? r.data : NULL;
}

/* Decodes one batch; prints its entries' ids when print is set. */
static int check_batch(struct sl_objstore *s, const char *key, bool print, uint64_t *entries)
{
	int rc;
	struct sl_buf *b = get(s, key, &rc);
	if (b == NULL) {
		printf("corrupt %s: %s\n", key, sl_errname(rc));
		return rc;
	}
	struct sl_batch batch;
	const char *why = NULL;
	rc = sl_batch_decode(b, NULL, NULL, &batch, &why);
	sl_buf_unref(b);
	if (rc != 0) {
		printf("corrupt %s: %s (%s)\n", key, sl_errname(rc), why ? why : "?");
		return rc;
	}
	for (uint32_t i = 0; i < batch.count; i++) {
		const struct sl_slice *e = &batch.entries[i];
		if (e->len < 6 || memcmp(sl_slice_data(e), "entry ", 6) != 0) {
			printf("corrupt %s: entry %u is not ours\n", key, i);
			sl_batch_release(&batch);
			return SL_ECORRUPT;
		}
		if (print)
			printf("entry %.*s\n", (int)e->len - 6, (const char *)sl_slice_data(e) + 6);
	}
	*entries += batch.count;
	sl_batch_release(&batch);
	return 0;
}

static int verify(const char *dir)
{
	struct sl_objstore *s = NULL;
	int rc = sl_localdir_open(dir, NULL, &s);
	if (rc != 0) {
		fprintf(stderr, "open %s: %s\n", dir, sl_strerror(rc));
		return 2;
	}
	struct sl_buf *m = get(s, MANIFEST, &rc);
	if (m == NULL && rc != SL_ENOTFOUND) {
		printf("corrupt manifest: %s\n", sl_errname(rc));
		return 1;
	}
	/* The manifest's locations, sorted, to tell listed batches from orphans below. */
	char **listed = NULL;
	size_t nlisted = 0;
	uint64_t entries = 0, batches = 0;
	struct sl_manifest_footer f = {0, 0, 0, 1};
	if (m) {
		const char *why = NULL;
		rc = sl_manifest_validate(m->data, m->len, &f, &why);
		if (rc != 0) {
			printf("corrupt manifest: %s (%s)\n", sl_errname(rc), why);
			return 1;
		}
		struct sl_manifest_iter it;
		struct sl_manifest_rec rec;
		sl_manifest_iter_init(&it, m->data, m->len, &f, NULL);
		listed = calloc(f.count + 1, sizeof(char *));
		while (sl_manifest_iter_next(&it, &rec, NULL) == 0) {
			char *loc = strndup(rec.location, rec.location_len);
			listed[nlisted++] = loc;
			if (check_batch(s, loc, true, &entries) != 0)
				return 1;
			batches++;
		}
		sl_buf_unref(m);
	}
	/* Every other object under data/ must decode too: a crash may orphan a batch, never
	 * leave a torn one. */
	uint64_t orphans = 0, orphan_entries = 0;
	char *after = NULL;
	for (;;) {
		struct sl_obj_req r = {0};
		r.op = SL_OBJ_LIST;
		r.prefix = PREFIX "/";
		r.start_after = after;
		rc = sl_objstore_run(s, &r);
		if (rc != 0) {
			printf("list failed: %s\n", sl_errname(rc));
			return 1;
		}
		for (uint32_t i = 0; i < r.nentries; i++) {
			bool is_listed = false;
			for (size_t k = 0; k < nlisted && !is_listed; k++)
				is_listed = strcmp(listed[k], r.entries[i].key) == 0;
			if (is_listed)
				continue;
			orphans++;
			if (check_batch(s, r.entries[i].key, false, &orphan_entries) != 0)
				return 1;
		}
		free(after);
		after = r.nentries ? strdup(r.entries[r.nentries - 1].key) : NULL;
		bool more = r.truncated;
		sl_obj_req_reset(&r);
		if (!more)
			break;
	}
	free(after);
	printf("ok manifest_entries=%u next_sequence=%llu batches=%llu entries=%llu orphans=%llu\n",
	       f.count, (unsigned long long)f.next_sequence, (unsigned long long)batches,
	       (unsigned long long)entries, (unsigned long long)orphans);
	for (size_t k = 0; k < nlisted; k++)
		free(listed[k]);
	free(listed);
	sl_objstore_destroy(s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "produce") == 0)
		return produce(argv[2], strtol(argv[3], NULL, 10));
	if (argc == 3 && strcmp(argv[1], "verify") == 0)
		return verify(argv[2]);
	fprintf(stderr, "usage: %s produce DIR N | verify DIR\n", argv[0]);
	return 2;
}
