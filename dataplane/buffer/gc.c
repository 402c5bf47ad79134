/* SPDX-License-Identifier: Apache-2.0 */
#include "buffer/gc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer/manifest.h"
#include "core/err.h"

/* ---- ULIDs ---- */

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void sl_ulid_encode(uint64_t ms, const uint8_t rnd[10], char out[SL_ULID_LEN + 1])
{
	unsigned __int128 v = (unsigned __int128)(ms & 0xffffffffffffULL) << 80;
	for (int i = 0; i < 10; i++)
		v |= (unsigned __int128)rnd[i] << (8 * (9 - i));
	for (int i = SL_ULID_LEN - 1; i >= 0; i--) {
		out[i] = crockford[(unsigned)(v & 31)];
		v >>= 5;
	}
	out[SL_ULID_LEN] = '\0';
}

static int crockford_value(char ch)
{
	if (ch >= 'a' && ch <= 'z')
		ch = (char)(ch - 'a' + 'A');
	const char *p = ch ? strchr(crockford, ch) : NULL;
	return p ? (int)(p - crockford) : -1;
}

int sl_ulid_time(const char *s, size_t n, uint64_t *ms)
{
	if (n != SL_ULID_LEN)
		return SL_EINVAL;
	uint64_t t = 0;
	for (size_t i = 0; i < SL_ULID_LEN; i++) {
		int v = crockford_value(s[i]);
		if (v < 0 || (i == 0 && v > 7)) /* 26 x 5 bits = 130: the top 2 must be zero */
			return SL_EINVAL;
		if (i < 10)
			t = (t << 5) | (uint64_t)v;
	}
	*ms = t;
	return 0;
}

int sl_gc_batch_time(const char *key, uint64_t *ms)
{
	const char *name = strrchr(key, '/');
	name = name ? name + 1 : key;
	size_t n = strlen(name);
	if (n != SL_ULID_LEN + 6 || strcmp(name + SL_ULID_LEN, ".batch") != 0)
		return SL_EINVAL;
	return sl_ulid_time(name, SL_ULID_LEN, ms);
}

/* ---- the collector ---- */

enum gc_state {
	GC_IDLE = 0,
	GC_MANIFEST,
	GC_LIST,
	GC_DELETE,
};

struct sl_gc {
	struct sl_objstore *store;
	struct sl_gc_config cfg;
	char *manifest_key;
	char *prefix; /* "<data_prefix>/" */
	struct sl_manifest *m;
	struct sl_manifest_op mop;
	struct sl_obj_req req;
	int state;
	bool scheduled;
	uint64_t next_ns;
	uint64_t cycle_now_ns;
	/* The cycle's snapshot: referenced locations, sorted, and the oldest referenced time. */
	char **refs;
	size_t nrefs;
	bool has_oldest;
	uint64_t oldest_ms;
	/* Deletion candidates found by the listing. */
	char **cands;
	size_t ncands, capcands, next_cand;
	char *start_after;
	void (*done)(struct sl_gc *gc, int rc, void *user);
	void *user;
	/* Freed while a cycle was in flight: the store still holds one of our requests, so the
	 * memory goes only when that request completes (see sl_gc_free). */
	bool orphaned;
	struct sl_gc_stats stats;
};

void sl_gc_config_default(struct sl_gc_config *c)
{
	c->manifest_key = "manifest";
	c->data_prefix = "data";
	c->interval_ns = 300ULL * 1000000000ULL;
	c->grace_ns = 600ULL * 1000000000ULL;
	c->list_page = 1000;
}

struct sl_gc *sl_gc_new(struct sl_objstore *s, const struct sl_gc_config *cfg)
{
	struct sl_gc_config def;
	if (cfg == NULL) {
		sl_gc_config_default(&def);
		cfg = &def;
	}
	if (s == NULL || cfg->data_prefix == NULL || sl_obj_key_check(cfg->data_prefix) != 0)
		return NULL;
	struct sl_gc *gc = calloc(1, sizeof(*gc));
	if (gc == NULL)
		return NULL;
	gc->store = s;
	gc->cfg = *cfg;
	gc->manifest_key = strdup(cfg->manifest_key ? cfg->manifest_key : "");
	size_t pl = strlen(cfg->data_prefix);
	gc->prefix = malloc(pl + 2);
	struct sl_manifest_config mc;
	sl_manifest_config_default(&mc);
	mc.key = gc->manifest_key;
	if (gc->prefix)
		snprintf(gc->prefix, pl + 2, "%s/", cfg->data_prefix);
	gc->m = gc->manifest_key && gc->prefix ? sl_manifest_new(s, &mc) : NULL;
	if (gc->m == NULL) {
		free(gc->manifest_key);
		free(gc->prefix);
		free(gc);
		return NULL;
	}
	gc->cfg.manifest_key = gc->manifest_key;
	gc->cfg.data_prefix = NULL; /* the copy lives in prefix */
	if (gc->cfg.list_page == 0)
		gc->cfg.list_page = 1000;
	return gc;
}

static void cycle_reset(struct sl_gc *gc)
{
	for (size_t i = 0; i < gc->nrefs; i++)
		free(gc->refs[i]);
	free(gc->refs);
	gc->refs = NULL;
	gc->nrefs = 0;
	for (size_t i = 0; i < gc->ncands; i++)
		free(gc->cands[i]);
	free(gc->cands);
	gc->cands = NULL;
	gc->ncands = gc->capcands = gc->next_cand = 0;
	free(gc->start_after);
	gc->start_after = NULL;
	gc->has_oldest = false;
	sl_manifest_op_release(&gc->mop);
	sl_obj_req_reset(&gc->req);
}

static void gc_release(struct sl_gc *gc)
{
	cycle_reset(gc);
	sl_manifest_free(gc->m);
	free(gc->manifest_key);
	free(gc->prefix);
	free(gc);
}

void sl_gc_free(struct sl_gc *gc)
{
	if (gc == NULL)
		return;
	/*
	 * The store has no cancel: a cycle in flight owns a request (ours or the manifest's) that
	 * the store will complete later, calling into this memory. Keep it until then; the
	 * completion handlers release it instead of going on with the cycle.
	 */
	if (gc->state != GC_IDLE) {
		gc->orphaned = true;
		gc->done = NULL;
		return;
	}
	gc_release(gc);
}

static void cycle_end(struct sl_gc *gc, int rc)
{
	cycle_reset(gc);
	gc->state = GC_IDLE;
	if (rc == 0) {
		gc->stats.cycles++;
	} else {
		gc->stats.cycles_failed++;
		gc->stats.last_error = rc;
	}
	if (gc->done) {
		void (*done)(struct sl_gc *, int, void *) = gc->done;
		gc->done = NULL;
		done(gc, rc, gc->user);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool referenced(const struct sl_gc *gc, const char *key)
{
	return gc->nrefs && bsearch(&key, gc->refs, gc->nrefs, sizeof(char *), cmp_str) != NULL;
}

static void on_req(struct sl_obj_req *req);

static void submit_list(struct sl_gc *gc)
{
	struct sl_obj_req *r = &gc->req;
	sl_obj_req_reset(r);
	memset(r, 0, sizeof(*r));
	r->op = SL_OBJ_LIST;
	r->prefix = gc->prefix;
	r->start_after = gc->start_after;
	r->max_keys = gc->cfg.list_page;
	r->done = on_req;
	r->user = gc;
	gc->state = GC_LIST;
	int rc = sl_objstore_submit(gc->store, r);
	if (rc != 0)
		cycle_end(gc, rc);
}

static void next_delete(struct sl_gc *gc)
{
	if (gc->next_cand >= gc->ncands) {
		cycle_end(gc, 0);
		return;
	}
	struct sl_obj_req *r = &gc->req;
	sl_obj_req_reset(r);
	memset(r, 0, sizeof(*r));
	r->op = SL_OBJ_DELETE;
	r->key = gc->cands[gc->next_cand];
	r->done = on_req;
	r->user = gc;
	gc->state = GC_DELETE;
	int rc = sl_objstore_submit(gc->store, r);
	if (rc != 0) {
		/* The store refused (closed or full): the rest waits for the next cycle. */
		gc->stats.delete_failed += gc->ncands - gc->next_cand;
		cycle_end(gc, 0);
	}
}

static void on_mop(struct sl_manifest_op *mop)
{
	struct sl_gc *gc = mop->user;
	if (gc->orphaned) {
		gc_release(gc);
		return;
	}
	if (mop->result != 0) {
		cycle_end(gc, mop->result);
		return;
	}
	if (mop->data) {
		struct sl_manifest_iter it;
		struct sl_manifest_footer f;
		struct sl_manifest_rec rec;
		int rc = sl_manifest_iter_init(&it, mop->data->data, mop->data->len, &f, NULL);
		if (rc == 0) {
			gc->refs = calloc(f.count ? f.count : 1, sizeof(char *));
			if (gc->refs == NULL)
				rc = SL_ENOMEM;
		}
		while (rc == 0 && (rc = sl_manifest_iter_next(&it, &rec, NULL)) == 0) {
			char *loc = strndup(rec.location, rec.location_len);
			if (loc == NULL) {
				rc = SL_ENOMEM;
				break;
			}
			gc->refs[gc->nrefs++] = loc;
			uint64_t ms;
			if (sl_gc_batch_time(loc, &ms) == 0 &&
			    (!gc->has_oldest || ms < gc->oldest_ms)) {
				gc->oldest_ms = ms;
				gc->has_oldest = true;
			}
		}
		if (rc != SL_EEOF) {
			/* A manifest we cannot read fully is no basis for deleting anything. */
			cycle_end(gc, rc);
			return;
		}
		qsort(gc->refs, gc->nrefs, sizeof(char *), cmp_str);
	}
	sl_manifest_op_release(mop);
	submit_list(gc);
}

static int add_cand(struct sl_gc *gc, const char *key)
{
	if (gc->ncands == gc->capcands) {
		size_t n = gc->capcands ? gc->capcands * 2 : 16;
		char **p = realloc(gc->cands, n * sizeof(char *));
		if (p == NULL)
			return SL_ENOMEM;
		gc->cands = p;
		gc->capcands = n;
	}
	char *k = strdup(key);
	if (k == NULL)
		return SL_ENOMEM;
	gc->cands[gc->ncands++] = k;
	return 0;
}

static void on_list(struct sl_gc *gc)
{
	struct sl_obj_req *r = &gc->req;
	if (r->result != 0) {
		cycle_end(gc, r->result);
		return;
	}
	uint64_t now_ms = gc->cycle_now_ns / 1000000;
	uint64_t grace_ms = gc->cfg.grace_ns / 1000000;
	for (uint32_t i = 0; i < r->nentries; i++) {
		const char *key = r->entries[i].key;
		uint64_t ms;
		if (sl_gc_batch_time(key, &ms) != 0) {
			gc->stats.kept_foreign++;
			continue;
		}
		/* Not older than the oldest referenced batch: maybe an enqueue still in flight. */
		if (gc->has_oldest && ms >= gc->oldest_ms) {
			gc->stats.kept_young++;
			continue;
		}
		if (now_ms < ms || now_ms - ms < grace_ms) {
			gc->stats.kept_young++;
			continue;
		}
		if (referenced(gc, key)) {
			gc->stats.kept_referenced++;
			continue;
		}
		if (add_cand(gc, key) != 0) {
			cycle_end(gc, SL_ENOMEM);
			return;
		}
	}
	if (r->truncated && r->nentries > 0) {
		char *last = strdup(r->entries[r->nentries - 1].key);
		if (last == NULL) {
			cycle_end(gc, SL_ENOMEM);
			return;
		}
		free(gc->start_after);
		gc->start_after = last;
		submit_list(gc);
		return;
	}
	sl_obj_req_reset(r);
	next_delete(gc);
}

static void on_req(struct sl_obj_req *req)
{
	struct sl_gc *gc = req->user;
	if (gc->orphaned) {
		gc_release(gc);
		return;
	}
	if (gc->state == GC_LIST) {
		on_list(gc);
		return;
	}
	/* A key already gone was deleted by someone else: the goal is met. */
	if (req->result == 0 || req->result == SL_ENOTFOUND)
		gc->stats.deleted++;
	else
		gc->stats.delete_failed++;
	gc->next_cand++;
	next_delete(gc);
}

int sl_gc_collect(struct sl_gc *gc, uint64_t now_ns,
		  void (*done)(struct sl_gc *gc, int rc, void *user), void *user)
{
	if (gc->state != GC_IDLE)
		return SL_EBUSY;
	memset(&gc->mop, 0, sizeof(gc->mop));
	gc->mop.done = on_mop;
	gc->mop.user = gc;
	gc->cycle_now_ns = now_ns;
	int rc = sl_manifest_read(gc->m, &gc->mop);
	if (rc != 0)
		return rc;
	gc->state = GC_MANIFEST;
	gc->done = done;
	gc->user = user;
	return 0;
}

int sl_gc_poll(struct sl_gc *gc, uint64_t now_ns)
{
	sl_manifest_poll(gc->m, now_ns);
	if (!gc->scheduled) {
		gc->scheduled = true;
		gc->next_ns = now_ns + gc->cfg.interval_ns;
		return 0;
	}
	if (now_ns < gc->next_ns || gc->state != GC_IDLE)
		return 0;
	gc->next_ns = now_ns + gc->cfg.interval_ns;
	if (sl_gc_collect(gc, now_ns, NULL, NULL) != 0) {
		gc->stats.cycles_failed++; /* retried at the next interval */
		return 0;
	}
	return 1;
}

bool sl_gc_running(const struct sl_gc *gc)
{
	return gc->state != GC_IDLE;
}

void sl_gc_stats(const struct sl_gc *gc, struct sl_gc_stats *out)
{
	*out = gc->stats;
}

struct run_result {
	bool done;
	int rc;
};

static void run_done(struct sl_gc *gc, int rc, void *user)
{
	(void)gc;
	struct run_result *r = user;
	r->done = true;
	r->rc = rc;
}

int sl_gc_run_once(struct sl_gc *gc, uint64_t now_ns)
{
	struct run_result r = {false, 0};
	int rc = sl_gc_collect(gc, now_ns, run_done, &r);
	if (rc != 0)
		return rc;
	while (!r.done) {
		sl_objstore_poll(gc->store, now_ns);
		sl_manifest_poll(gc->m, now_ns);
	}
	return r.rc;
}
