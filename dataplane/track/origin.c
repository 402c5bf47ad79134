/* SPDX-License-Identifier: Apache-2.0 */
#include "track/origin.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/u64map.h"
#include "track/path.h"

#include <stdlib.h>
#include <string.h>

struct sl_broadcast {
	uint32_t refcnt;
	bool active;
	struct sl_origin *origin;
	struct sl_broadcast *hnext; /* next broadcast whose path hashes alike */
	struct sl_broadcast *next;  /* every active broadcast, for the initial announce set */
	struct sl_broadcast **pprev;
	/* Broadcasts hold a handful of tracks (catalog, video, audio), so a small array searched
	 * linearly beats a hash table in both memory and time. */
	struct sl_track **tracks;
	uint32_t ntracks;
	uint32_t cap;
	uint64_t hash;
	sl_broadcast_provider_fn provider;
	void *provider_arg;
	void *user;
	char path[];
};

struct sl_announce_ev {
	char *suffix;
	bool active;
};

struct sl_announced {
	struct sl_origin *origin;
	struct sl_announced *next;
	struct sl_announced **pprev;
	struct sl_announce_ev *q; /* FIFO in a growable ring */
	uint32_t qhead, qlen, qcap;
	char *current; /* suffix handed out last, freed on the next call */
	struct sl_waitq waiters;
	char prefix[];
};

struct sl_origin {
	struct sl_u64map by_hash; /* path hash -> first broadcast in its chain */
	struct sl_broadcast *all;
	struct sl_announced *announced;
	uint32_t count;
	struct sl_track_config track_cfg;
};

struct sl_origin *sl_origin_new(const struct sl_track_config *track_defaults)
{
	struct sl_origin *o = calloc(1, sizeof(*o));
	if (o == NULL || sl_u64map_init(&o->by_hash, 16) != 0) {
		free(o);
		return NULL;
	}
	if (track_defaults)
		o->track_cfg = *track_defaults;
	else
		sl_track_config_default(&o->track_cfg);
	return o;
}

void sl_origin_free(struct sl_origin *o)
{
	if (o == NULL)
		return;
	while (o->all)
		sl_origin_unpublish(o, o->all);
	sl_u64map_fini(&o->by_hash);
	free(o);
}

void sl_origin_set_track_config(struct sl_origin *o, const struct sl_track_config *cfg)
{
	o->track_cfg = *cfg;
}

uint32_t sl_origin_broadcasts(const struct sl_origin *o)
{
	return o->count;
}

static int sl_announced_push(struct sl_announced *a, const char *suffix, bool active)
{
	if (a->qlen == a->qcap) {
		uint32_t cap = a->qcap ? a->qcap * 2 : 8;
		struct sl_announce_ev *q = malloc(cap * sizeof(*q));
		if (q == NULL)
			return SL_ENOMEM;
		for (uint32_t i = 0; i < a->qlen; i++)
			q[i] = a->q[(a->qhead + i) % a->qcap];
		free(a->q);
		a->q = q;
		a->qcap = cap;
		a->qhead = 0;
	}
	char *s = strdup(suffix);
	if (s == NULL)
		return SL_ENOMEM;
	a->q[(a->qhead + a->qlen++) % a->qcap] = (struct sl_announce_ev){s, active};
	sl_waitq_wake_all(&a->waiters);
	return 0;
}

static void sl_origin_announce(struct sl_origin *o, const char *path, bool active)
{
	for (struct sl_announced *a = o->announced; a; a = a->next) {
		const char *suffix;
		/* An announcement lost to memory exhaustion cannot be reported to anyone, so the
		 * consumer simply misses it; moq-lite subscribers resynchronise on reconnect. */
		if (sl_path_strip_prefix(path, a->prefix, &suffix))
			(void)sl_announced_push(a, suffix, active);
	}
}

static struct sl_broadcast *sl_origin_lookup(struct sl_origin *o, const char *norm, uint64_t h)
{
	uint64_t v;
	if (!sl_u64map_get(&o->by_hash, h, &v))
		return NULL;
	for (struct sl_broadcast *b = (struct sl_broadcast *)(uintptr_t)v; b; b = b->hnext)
		if (strcmp(b->path, norm) == 0)
			return b;
	return NULL;
}

int sl_origin_publish(struct sl_origin *o, const char *path, struct sl_broadcast **out)
{
	size_t n = strlen(path), len;
	struct sl_broadcast *b = calloc(1, sizeof(*b) + n + 1);
	if (b == NULL)
		return SL_ENOMEM;
	int rc = sl_path_normalize(path, n, b->path, &len);
	if (rc != 0) {
		free(b);
		return rc;
	}
	b->hash = sl_hash64(b->path, len, 0);
	if (sl_origin_lookup(o, b->path, b->hash)) {
		free(b);
		return SL_EDUP;
	}
	uint64_t v;
	if (sl_u64map_get(&o->by_hash, b->hash, &v)) {
		b->hnext = (struct sl_broadcast *)(uintptr_t)v;
		sl_u64map_remove(&o->by_hash, b->hash);
	}
	rc = sl_u64map_insert(&o->by_hash, b->hash, (uint64_t)(uintptr_t)b);
	if (rc != 0) {
		if (b->hnext)
			sl_u64map_insert(&o->by_hash, b->hash, (uint64_t)(uintptr_t)b->hnext);
		free(b);
		return rc;
	}
	b->refcnt = 2; /* the origin's and the publisher's */
	b->active = true;
	b->origin = o;
	b->next = o->all;
	if (o->all)
		o->all->pprev = &b->next;
	b->pprev = &o->all;
	o->all = b;
	o->count++;
	sl_origin_announce(o, b->path, true);
	*out = b;
	return 0;
}

int sl_origin_unpublish(struct sl_origin *o, struct sl_broadcast *b)
{
	if (!b->active || b->origin != o)
		return SL_ECLOSED;
	b->active = false;
	/* Unlink from the hash chain. */
	uint64_t v;
	sl_u64map_get(&o->by_hash, b->hash, &v);
	struct sl_broadcast *head = (struct sl_broadcast *)(uintptr_t)v;
	if (head == b) {
		sl_u64map_remove(&o->by_hash, b->hash);
		if (b->hnext)
			sl_u64map_insert(&o->by_hash, b->hash, (uint64_t)(uintptr_t)b->hnext);
	} else {
		for (struct sl_broadcast *p = head; p; p = p->hnext)
			if (p->hnext == b) {
				p->hnext = b->hnext;
				break;
			}
	}
	*b->pprev = b->next;
	if (b->next)
		b->next->pprev = b->pprev;
	o->count--;
	for (uint32_t i = 0; i < b->ntracks; i++)
		sl_track_abort(b->tracks[i], SL_EDROPPED); /* a finished track refuses: fine */
	sl_origin_announce(o, b->path, false);
	sl_broadcast_unref(b);
	return 0;
}

struct sl_broadcast *sl_origin_find(struct sl_origin *o, const char *path)
{
	size_t n = strlen(path), len;
	char norm[SL_PATH_MAX_LEN + 1];
	if (n > 4 * SL_PATH_MAX_LEN)
		return NULL;
	char *buf = n < sizeof(norm) ? norm : malloc(n + 1);
	if (buf == NULL)
		return NULL;
	struct sl_broadcast *b = NULL;
	if (sl_path_normalize(path, n, buf, &len) == 0)
		b = sl_origin_lookup(o, buf, sl_hash64(buf, len, 0));
	if (buf != norm)
		free(buf);
	return b;
}

struct sl_broadcast *sl_broadcast_ref(struct sl_broadcast *b)
{
	b->refcnt++;
	return b;
}

void sl_broadcast_unref(struct sl_broadcast *b)
{
	if (b == NULL || --b->refcnt > 0)
		return;
	for (uint32_t i = 0; i < b->ntracks; i++)
		sl_track_unref(b->tracks[i]);
	free(b->tracks);
	free(b);
}

const char *sl_broadcast_path(const struct sl_broadcast *b)
{
	return b->path;
}

struct sl_track *sl_broadcast_track(struct sl_broadcast *b, const char *name)
{
	for (uint32_t i = 0; i < b->ntracks; i++)
		if (strcmp(sl_track_name(b->tracks[i]), name) == 0)
			return b->tracks[i];
	return NULL;
}

int sl_broadcast_create_track(struct sl_broadcast *b, const char *name, uint8_t priority,
			      struct sl_track **out)
{
	if (name == NULL || name[0] == '\0')
		return SL_EINVAL;
	if (!b->active)
		return SL_ECLOSED;
	if (sl_broadcast_track(b, name))
		return SL_EDUP;
	if (b->ntracks == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 4;
		struct sl_track **n = realloc(b->tracks, cap * sizeof(*n));
		if (n == NULL)
			return SL_ENOMEM;
		b->tracks = n;
		b->cap = cap;
	}
	struct sl_track *t = sl_track_new(name, priority, &b->origin->track_cfg);
	if (t == NULL)
		return SL_ENOMEM;
	b->tracks[b->ntracks++] = t;
	*out = sl_track_ref(t);
	return 0;
}

void sl_broadcast_set_provider(struct sl_broadcast *b, sl_broadcast_provider_fn fn, void *arg)
{
	b->provider = fn;
	b->provider_arg = arg;
}

int sl_broadcast_request_track(struct sl_broadcast *b, const char *name, uint8_t priority,
			       struct sl_track **out)
{
	if (!b->active)
		return SL_ECLOSED;
	struct sl_track *t = sl_broadcast_track(b, name);
	if (t) {
		*out = sl_track_ref(t);
		return 0;
	}
	if (b->provider == NULL)
		return SL_ENOTFOUND;
	return b->provider(b->provider_arg, b, name, priority, out);
}

int sl_broadcast_remove_track(struct sl_broadcast *b, struct sl_track *t)
{
	for (uint32_t i = 0; i < b->ntracks; i++) {
		if (b->tracks[i] == t) {
			b->tracks[i] = b->tracks[--b->ntracks];
			sl_track_unref(t);
			return 0;
		}
	}
	return SL_ENOTFOUND;
}

void sl_broadcast_set_user(struct sl_broadcast *b, void *user)
{
	b->user = user;
}

void *sl_broadcast_user(const struct sl_broadcast *b)
{
	return b->user;
}

struct sl_announced *sl_origin_announced(struct sl_origin *o, const char *prefix)
{
	size_t n = strlen(prefix), len;
	struct sl_announced *a = calloc(1, sizeof(*a) + n + 1);
	if (a == NULL)
		return NULL;
	if (sl_path_normalize(prefix, n, a->prefix, &len) != 0) {
		free(a);
		return NULL;
	}
	a->origin = o;
	sl_waitq_init(&a->waiters);
	for (struct sl_broadcast *b = o->all; b; b = b->next) {
		const char *suffix;
		if (sl_path_strip_prefix(b->path, a->prefix, &suffix) &&
		    sl_announced_push(a, suffix, true) != 0) {
			sl_announced_free(a);
			return NULL;
		}
	}
	a->next = o->announced;
	if (o->announced)
		o->announced->pprev = &a->next;
	a->pprev = &o->announced;
	o->announced = a;
	return a;
}

uint32_t sl_announced_pending(const struct sl_announced *a)
{
	return a->qlen;
}

int sl_announced_next(struct sl_announced *a, struct sl_waiter *w, struct sl_announce *ev)
{
	free(a->current);
	a->current = NULL;
	if (a->qlen == 0) {
		sl_waitq_add(&a->waiters, w);
		return SL_EAGAIN;
	}
	struct sl_announce_ev *e = &a->q[a->qhead];
	a->qhead = (a->qhead + 1) % a->qcap;
	a->qlen--;
	a->current = e->suffix;
	ev->suffix = e->suffix;
	ev->active = e->active;
	return 0;
}

void sl_announced_free(struct sl_announced *a)
{
	if (a == NULL)
		return;
	if (a->pprev) {
		*a->pprev = a->next;
		if (a->next)
			a->next->pprev = a->pprev;
	}
	sl_waitq_detach_all(&a->waiters);
	for (uint32_t i = 0; i < a->qlen; i++)
		free(a->q[(a->qhead + i) % a->qcap].suffix);
	free(a->q);
	free(a->current);
	free(a);
}
