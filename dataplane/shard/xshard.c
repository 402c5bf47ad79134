/* SPDX-License-Identifier: Apache-2.0 */
#include "shard/xshard.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/owner.h"
#include "core/ring.h"
#include "core/u64map.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Message types on the cross-worker rings (above the generic ones of core/ring.h). */
enum {
	XS_ANNOUNCE = 32, /* u32 active, obj = strdup'd path */
	XS_SUBSCRIBE,	  /* u64 mirror id, obj = struct xs_sub_req */
	XS_UNSUBSCRIBE,	  /* u64 mirror id */
	XS_GROUP_START,	  /* u64 mirror id, obj = sequence */
	XS_FRAME,	  /* u64 mirror id, obj = struct sl_buf reference (the whole buffer) */
	XS_GROUP_END,	  /* u64 mirror id, obj = sequence */
	XS_GROUP_ABORT,	  /* u64 mirror id, obj = sequence, u32 = -error */
	XS_TRACK_END,	  /* u64 mirror id, u32 = -error (0: finished cleanly) */
	/* u64 mirror id, obj = the timestamp of the XS_FRAME that follows. Sent only for frames
	 * that carry one (moq-lite-05 publishers), so lite-04 tracks cost no extra message. */
	XS_FRAME_TS,
};

#define XS_RX_BUDGET  512 /* messages drained per ring per poll */
#define XS_FWD_BUDGET 256 /* messages one forwarder may emit per poll */

struct xs_sub_req {
	uint8_t priority;
	uint16_t track_off; /* the track name starts at names + track_off */
	char names[];	    /* path\0track\0 */
};

/* A path this worker publishes (a local broadcast) or mirrors (a proxy). */
struct xs_path {
	uint16_t ingest;
	struct sl_broadcast *proxy; /* NULL for a local broadcast */
	char path[];
};

struct xs_mirror {
	struct sl_xshard *x;
	uint64_t id;
	uint16_t src;
	struct sl_broadcast *b;
	struct sl_track *t;
	struct sl_group *cur;
	uint64_t cur_seq;
	uint64_t next_ts; /* from XS_FRAME_TS, for the next frame; SL_GROUP_NO_TS if none */
};

struct xs_fwd {
	struct sl_waiter w; /* first: the wake callback finds the forwarder from it */
	struct sl_xshard *x;
	uint64_t key;
	uint16_t dest;
	uint64_t mirror_id;
	struct sl_track_consumer c;
	struct sl_group_reader r;
	bool ready;
	struct xs_fwd *next_ready;
};

/* Messages that found a ring full wait here, in order, for the next poll. */
struct xs_outq {
	struct sl_msg *q;
	uint32_t head, len, cap;
};

struct sl_xshard {
	struct sl_owner owner; /* the worker's lcore (core/owner.h) */
	struct sl_xshard_config cfg;
	struct sl_shard_map map;
	struct sl_origin *origin;
	struct sl_announced *ann;
	struct sl_waiter ann_w;
	bool ann_ready;
	struct sl_u64map paths;	  /* hash(path) -> struct xs_path * */
	struct sl_u64map mirrors; /* mirror id -> struct xs_mirror * */
	struct sl_u64map fwds;	  /* (dest << 48 | mirror id) -> struct xs_fwd * */
	uint64_t next_mirror_id;
	struct xs_fwd *ready;
	struct xs_outq out[SL_XSHARD_MAX_WORKERS];
	struct sl_xshard_stats stats;
};

/* ---- sending ---- */

static void xs_send(struct sl_xshard *x, uint16_t dest, struct sl_msg m)
{
	struct xs_outq *o = &x->out[dest];
	x->stats.msgs_out++;
	if (o->len == 0 && sl_ring_send(x->cfg.to[dest], &m, 1) == 1)
		return;
	if (o->len == o->cap) {
		uint32_t cap = o->cap ? o->cap * 2 : 64;
		struct sl_msg *n = malloc(cap * sizeof(*n));
		/* Without memory the message cannot wait; it is dropped like a lost packet would
		 * be, and its buffer reference released. Frames are best effort on the live path;
		 * control messages are retried by their owners (re-subscribe on demand). */
		if (n == NULL) {
			if (m.type == XS_FRAME)
				sl_buf_unref(m.obj);
			return;
		}
		for (uint32_t i = 0; i < o->len; i++)
			n[i] = o->q[(o->head + i) % o->cap];
		free(o->q);
		o->q = n;
		o->cap = cap;
		o->head = 0;
	}
	o->q[(o->head + o->len++) % o->cap] = m;
	x->stats.ring_full++;
}

static void xs_flush_out(struct sl_xshard *x, uint16_t dest)
{
	struct xs_outq *o = &x->out[dest];
	while (o->len > 0) {
		if (sl_ring_send(x->cfg.to[dest], &o->q[o->head], 1) != 1)
			return;
		o->head = (o->head + 1) % o->cap;
		o->len--;
	}
}

/* ---- paths ---- */

static struct xs_path *path_find(struct sl_xshard *x, const char *path)
{
	uint64_t v;
	if (!sl_u64map_get(&x->paths, sl_hash64(path, strlen(path), 0), &v))
		return NULL;
	struct xs_path *p = (struct xs_path *)(uintptr_t)v;
	return strcmp(p->path, path) == 0 ? p : NULL;
}

static struct xs_path *path_add(struct sl_xshard *x, const char *path, uint16_t ingest)
{
	size_t n = strlen(path);
	struct xs_path *p = calloc(1, sizeof(*p) + n + 1);
	if (p == NULL)
		return NULL;
	memcpy(p->path, path, n + 1);
	p->ingest = ingest;
	/* A 64-bit hash collision between two live paths would be refused here (the second path
	 * is then not linked), which is a far lesser evil than confusing two broadcasts. */
	if (sl_u64map_insert(&x->paths, sl_hash64(path, n, 0), (uint64_t)(uintptr_t)p) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

static void path_del(struct sl_xshard *x, struct xs_path *p)
{
	sl_u64map_remove(&x->paths, sl_hash64(p->path, strlen(p->path), 0));
	free(p);
}

uint32_t sl_shard_map_slot(const char *path, const char *track)
{
	uint64_t h = sl_hash64(path, strlen(path), 0x0ddba11);
	h = sl_hash64(track, strlen(track), h);
	return (uint32_t)(h % SL_SHARD_MAP_SLOTS);
}

int sl_shard_map_fill(struct sl_shard_map *map, uint16_t nworkers, const uint32_t *weights)
{
	if (nworkers == 0 || nworkers > SL_XSHARD_MAX_WORKERS)
		return SL_EINVAL;
	uint64_t total = 0;
	for (uint16_t w = 0; w < nworkers; w++)
		total += weights ? weights[w] : 1;
	if (total == 0)
		return SL_EINVAL;
	map->nworkers = nworkers;
	/* Smooth weighted round robin: each slot goes to the worker furthest behind its share,
	 * which interleaves workers and gives each floor or ceil of its exact share. */
	int64_t credit[SL_XSHARD_MAX_WORKERS] = {0};
	for (uint32_t s = 0; s < SL_SHARD_MAP_SLOTS; s++) {
		uint16_t best = 0;
		for (uint16_t w = 0; w < nworkers; w++) {
			credit[w] += weights ? weights[w] : 1;
			if (credit[w] > credit[best])
				best = w;
		}
		credit[best] -= (int64_t)total;
		map->slot[s] = best;
	}
	return 0;
}

uint16_t sl_xshard_owner(const struct sl_xshard *x, const char *path, const char *track)
{
	return x->map.slot[sl_shard_map_slot(path, track)];
}

/* ---- mirrors: tracks fed from another worker ---- */

static void mirror_free(struct sl_xshard *x, struct xs_mirror *m, int err)
{
	sl_u64map_remove(&x->mirrors, m->id);
	x->stats.mirrors--;
	sl_track_set_unused(m->t, NULL, NULL);
	if (m->cur) {
		if (err)
			sl_group_abort(m->cur, err);
		else
			sl_group_finish(m->cur);
		sl_group_unref(m->cur);
	}
	if (err)
		sl_track_abort(m->t, err);
	else
		sl_track_finish(m->t);
	sl_broadcast_remove_track(m->b, m->t);
	sl_track_unref(m->t);
	sl_broadcast_unref(m->b);
	free(m);
}

/* The last local reader left: stop the upstream and forget the mirror. */
static void mirror_unused(void *arg, struct sl_track *t)
{
	(void)t;
	struct xs_mirror *m = arg;
	struct sl_xshard *x = m->x;
	xs_send(x, m->src, (struct sl_msg){.type = XS_UNSUBSCRIBE, .u64 = m->id});
	mirror_free(x, m, SL_ECANCEL);
}

static int send_subscribe(struct sl_xshard *x, uint16_t dest, uint64_t id, const char *path,
			  const char *track, uint8_t prio)
{
	size_t pl = strlen(path), tl = strlen(track);
	struct xs_sub_req *r = malloc(sizeof(*r) + pl + tl + 2);
	if (r == NULL)
		return SL_ENOMEM;
	r->priority = prio;
	r->track_off = (uint16_t)(pl + 1);
	memcpy(r->names, path, pl + 1);
	memcpy(r->names + pl + 1, track, tl + 1);
	xs_send(x, dest, (struct sl_msg){.type = XS_SUBSCRIBE, .u64 = id, .obj = r});
	return 0;
}

/* The provider of proxy broadcasts: fetch the track from its owner, or from the ingest worker
 * when this worker is the owner. */
static int xs_provide(void *arg, struct sl_broadcast *b, const char *name, uint8_t prio,
		      struct sl_track **out)
{
	struct sl_xshard *x = arg;
	SL_ASSERT_OWNER(x);
	struct xs_path *p = sl_broadcast_user(b);
	uint16_t owner = sl_xshard_owner(x, p->path, name);
	uint16_t src = owner == x->cfg.self ? p->ingest : owner;
	struct xs_mirror *m = calloc(1, sizeof(*m));
	if (m)
		m->next_ts = SL_GROUP_NO_TS;
	if (m == NULL)
		return SL_ENOMEM;
	int rc = sl_broadcast_create_track(b, name, prio, &m->t);
	if (rc == 0)
		rc = sl_u64map_insert(&x->mirrors, x->next_mirror_id, (uint64_t)(uintptr_t)m);
	if (rc == 0)
		rc = send_subscribe(x, src, x->next_mirror_id, p->path, name, prio);
	if (rc != 0) {
		if (m->t) {
			sl_u64map_remove(&x->mirrors, x->next_mirror_id);
			sl_broadcast_remove_track(b, m->t);
			sl_track_unref(m->t);
		}
		free(m);
		return rc;
	}
	m->x = x;
	m->id = x->next_mirror_id++;
	m->src = src;
	m->b = sl_broadcast_ref(b);
	sl_track_set_unused(m->t, mirror_unused, m);
	x->stats.mirrors++;
	*out = sl_track_ref(m->t);
	return 0;
}

static void mirror_msg(struct sl_xshard *x, const struct sl_msg *msg, uint64_t now_ns)
{
	uint64_t v;
	if (!sl_u64map_get(&x->mirrors, msg->u64, &v)) {
		/* Unsubscribed meanwhile: whatever was in flight is dropped. */
		if (msg->type == XS_FRAME)
			sl_buf_unref(msg->obj);
		return;
	}
	struct xs_mirror *m = (struct xs_mirror *)(uintptr_t)v;
	uint64_t seq = (uint64_t)(uintptr_t)msg->obj;
	switch (msg->type) {
	case XS_GROUP_START:
		if (m->cur) {
			sl_group_abort(m->cur, SL_ECANCEL);
			sl_group_unref(m->cur);
			m->cur = NULL;
		}
		/* A group the mirror cannot take (duplicate, past the end) drops its frames. */
		if (sl_track_create_group(m->t, seq, now_ns, &m->cur) != 0)
			m->cur = NULL;
		m->cur_seq = seq;
		m->next_ts = SL_GROUP_NO_TS;
		break;
	case XS_FRAME: {
		struct sl_buf *b = msg->obj;
		if (m->cur == NULL) {
			sl_buf_unref(b);
			break;
		}
		struct sl_slice s = {b, 0, msg->u32};
		if (b != NULL) /* an empty frame has no buffer */
			sl_trace_frame(x->cfg.trace, SL_TRACE_MIRRORED, b->data, msg->u32);
		uint64_t ts = m->next_ts;
		m->next_ts = SL_GROUP_NO_TS;
		if (sl_group_write_frame_ts(m->cur, s, ts) == 0)
			x->stats.frames_mirrored++;
		break;
	}
	case XS_FRAME_TS:
		m->next_ts = seq; /* obj carries the timestamp, as it carries sequences */
		break;
	case XS_GROUP_END:
	case XS_GROUP_ABORT:
		if (m->cur && m->cur_seq == seq) {
			if (msg->type == XS_GROUP_END)
				sl_group_finish(m->cur);
			else
				sl_group_abort(m->cur, -(int)msg->u32);
			sl_group_unref(m->cur);
			m->cur = NULL;
		}
		break;
	case XS_TRACK_END:
		if (msg->u32 == (uint32_t)-SL_ENOTFOUND)
			x->stats.upstream_errors++;
		mirror_free(x, m, -(int)msg->u32);
		break;
	}
}

/* ---- forwarders: local tracks sent to another worker ---- */

static void fwd_wake(struct sl_waiter *w)
{
	struct xs_fwd *f = (struct xs_fwd *)w;
	if (f->ready)
		return;
	f->ready = true;
	f->next_ready = f->x->ready;
	f->x->ready = f;
}

static void fwd_free(struct sl_xshard *x, struct xs_fwd *f)
{
	sl_u64map_remove(&x->fwds, f->key);
	x->stats.forwarders--;
	sl_group_reader_release(&f->r);
	/* Releasing the consumer may cascade: a mirror with no reader left unsubscribes. */
	sl_track_consumer_release(&f->c, &f->w);
	if (f->ready) {
		struct xs_fwd **pp = &x->ready;
		while (*pp && *pp != f)
			pp = &(*pp)->next_ready;
		if (*pp)
			*pp = f->next_ready;
	}
	free(f);
}

/* Emits what the forwarder can send now. Returns true when it is done (track ended). */
static bool fwd_pump(struct sl_xshard *x, struct xs_fwd *f)
{
	for (int budget = XS_FWD_BUDGET; budget > 0; budget--) {
		if (x->out[f->dest].len > 0) {
			fwd_wake(&f->w); /* the ring is full: come back after it drains */
			return false;
		}
		struct sl_msg m = {.u64 = f->mirror_id};
		if (f->r.group == NULL) {
			int rc = sl_track_consumer_next_group(&f->c, &f->w, &f->r);
			if (rc == SL_EAGAIN)
				return false;
			if (rc != 0) {
				m.type = XS_TRACK_END;
				m.u32 = rc == SL_EEOF ? 0 : (uint32_t)-rc;
				xs_send(x, f->dest, m);
				return true;
			}
			m.type = XS_GROUP_START;
			m.obj = (void *)(uintptr_t)sl_group_sequence(f->r.group);
			xs_send(x, f->dest, m);
			continue;
		}
		struct sl_slice s;
		uint64_t ts;
		int rc = sl_group_read_frame_ts(&f->r, &f->w, &s, &ts);
		if (rc == SL_EAGAIN)
			return false;
		if (rc == 0 && ts != SL_GROUP_NO_TS)
			xs_send(x, f->dest,
				(struct sl_msg){.type = XS_FRAME_TS,
						.u64 = f->mirror_id,
						.obj = (void *)(uintptr_t)ts});
		m.obj = (void *)(uintptr_t)sl_group_sequence(f->r.group);
		if (rc == 0) {
			struct sl_buf *b;
			if (s.off == 0) {
				b = sl_buf_ref(s.buf);
			} else {
				/* Frames are whole buffers on the relay's ingest path; a sliced one
				 * is copied so the ring message stays one pointer. */
				b = sl_buf_from(sl_slice_data(&s), s.len);
				if (b == NULL)
					continue;
			}
			m.type = XS_FRAME;
			m.obj = b;
			m.u32 = s.len;
			x->stats.frames_forwarded++;
		} else if (rc == SL_EEOF) {
			m.type = XS_GROUP_END;
			sl_group_reader_release(&f->r);
		} else {
			m.type = XS_GROUP_ABORT;
			m.u32 = (uint32_t)-rc;
			sl_group_reader_release(&f->r);
		}
		xs_send(x, f->dest, m);
	}
	fwd_wake(&f->w); /* budget spent: more next poll */
	return false;
}

static void handle_subscribe(struct sl_xshard *x, uint16_t from, uint64_t id,
			     struct xs_sub_req *req)
{
	const char *path = req->names, *name = req->names + req->track_off;
	struct sl_broadcast *b = sl_origin_find(x->origin, path);
	struct sl_track *t = NULL;
	int rc = b ? sl_broadcast_request_track(b, name, req->priority, &t) : SL_ENOTFOUND;
	struct xs_fwd *f = NULL;
	if (rc == 0 && (f = calloc(1, sizeof(*f))) == NULL)
		rc = SL_ENOMEM;
	if (rc == 0) {
		f->key = ((uint64_t)from << 48) | id;
		if (sl_u64map_insert(&x->fwds, f->key, (uint64_t)(uintptr_t)f) != 0) {
			free(f);
			rc = SL_EDUP;
		}
	}
	if (rc != 0) {
		if (t)
			sl_track_unref(t);
		xs_send(x, from, (struct sl_msg){.type = XS_TRACK_END, .u64 = id, .u32 = -rc});
		return;
	}
	f->x = x;
	f->dest = from;
	f->mirror_id = id;
	sl_waiter_init(&f->w, fwd_wake);
	sl_track_consume(t, &f->c);
	sl_track_unref(t);
	/* Like a subscriber, the remote worker starts at the latest group. */
	uint64_t latest;
	if (sl_track_consumer_latest(&f->c, &latest) == 0)
		sl_track_consumer_start_at(&f->c, latest);
	x->stats.forwarders++;
	fwd_wake(&f->w);
}

/* ---- announcements ---- */

static void handle_announce(struct sl_xshard *x, uint16_t from, bool active, const char *path)
{
	struct xs_path *p = path_find(x, path);
	if (active) {
		struct sl_broadcast *b;
		/* A local broadcast (or another worker's proxy) already holds the path: first come,
		 * first served, as for two publishers on one worker. */
		if (p != NULL || sl_origin_find(x->origin, path) != NULL)
			return;
		if ((p = path_add(x, path, from)) == NULL)
			return;
		if (sl_origin_publish(x->origin, path, &b) != 0) {
			path_del(x, p);
			return;
		}
		p->proxy = b;
		sl_broadcast_set_user(b, p);
		sl_broadcast_set_provider(b, xs_provide, x);
		x->stats.proxies++;
	} else if (p != NULL && p->proxy != NULL && p->ingest == from) {
		struct sl_broadcast *b = p->proxy;
		path_del(x, p);
		sl_broadcast_set_user(b, NULL);
		sl_origin_unpublish(x->origin, b);
		sl_broadcast_unref(b);
		x->stats.proxies--;
	}
}

static void ann_wake(struct sl_waiter *w)
{
	struct sl_xshard *x = (struct sl_xshard *)((char *)w - offsetof(struct sl_xshard, ann_w));
	x->ann_ready = true;
}

static void broadcast_announce(struct sl_xshard *x, const char *path, bool active)
{
	for (uint16_t w = 0; w < x->cfg.nworkers; w++) {
		if (w == x->cfg.self)
			continue;
		char *copy = strdup(path);
		if (copy)
			xs_send(x, w,
				(struct sl_msg){.type = XS_ANNOUNCE, .u32 = active, .obj = copy});
	}
	x->stats.announces_out++;
}

/* Local publications (not our proxies) are told to every other worker. */
static unsigned int drain_announcements(struct sl_xshard *x)
{
	struct sl_announce ev;
	unsigned int n = 0;
	x->ann_ready = false;
	while (sl_announced_next(x->ann, &x->ann_w, &ev) == 0) {
		n++;
		struct xs_path *p = path_find(x, ev.suffix);
		if (ev.active) {
			if (p != NULL)
				continue; /* a proxy of ours, or already announced */
			if (path_add(x, ev.suffix, x->cfg.self) != NULL)
				broadcast_announce(x, ev.suffix, true);
		} else if (p != NULL && p->proxy == NULL) {
			path_del(x, p);
			broadcast_announce(x, ev.suffix, false);
		}
	}
	return n;
}

/* ---- the link ---- */

int sl_xshard_new(const struct sl_xshard_config *cfg, struct sl_origin *origin,
		  struct sl_xshard **out)
{
	if (cfg == NULL || origin == NULL || cfg->nworkers == 0 ||
	    cfg->nworkers > SL_XSHARD_MAX_WORKERS || cfg->self >= cfg->nworkers)
		return SL_EINVAL;
	for (uint16_t w = 0; w < cfg->nworkers; w++)
		if (w != cfg->self && (cfg->to[w] == NULL || cfg->from[w] == NULL))
			return SL_EINVAL;
	if (cfg->map) {
		if (cfg->map->nworkers != cfg->nworkers)
			return SL_EINVAL;
		for (uint32_t s = 0; s < SL_SHARD_MAP_SLOTS; s++)
			if (cfg->map->slot[s] >= cfg->nworkers)
				return SL_EINVAL;
	}
	struct sl_xshard *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return SL_ENOMEM;
	x->cfg = *cfg;
	/* A private copy: lookups stay on this core's cache lines, and the control plane's
	 * table may go away after start-up. */
	if (cfg->map)
		x->map = *cfg->map;
	else
		sl_shard_map_fill(&x->map, cfg->nworkers, NULL);
	x->cfg.map = NULL;
	x->origin = origin;
	x->next_mirror_id = 1;
	sl_waiter_init(&x->ann_w, ann_wake);
	if (sl_u64map_init(&x->paths, 64) || sl_u64map_init(&x->mirrors, 64) ||
	    sl_u64map_init(&x->fwds, 64) || (x->ann = sl_origin_announced(origin, "")) == NULL) {
		sl_u64map_fini(&x->paths);
		sl_u64map_fini(&x->mirrors);
		sl_u64map_fini(&x->fwds);
		free(x);
		return SL_ENOMEM;
	}
	x->ann_ready = true;
	*out = x;
	return 0;
}

static void *first_value(struct sl_u64map *m)
{
	for (size_t i = 0; i <= m->mask; i++)
		if (m->slots[i].used)
			return (void *)(uintptr_t)m->slots[i].val;
	return NULL;
}

void sl_xshard_free(struct sl_xshard *x)
{
	if (x == NULL)
		return;
	SL_ASSERT_OWNER(x);
	struct xs_fwd *f;
	while ((f = first_value(&x->fwds)) != NULL)
		fwd_free(x, f);
	struct xs_mirror *m;
	while ((m = first_value(&x->mirrors)) != NULL)
		mirror_free(x, m, SL_EDROPPED);
	struct xs_path *p;
	while ((p = first_value(&x->paths)) != NULL) {
		struct sl_broadcast *b = p->proxy;
		path_del(x, p);
		if (b) {
			sl_origin_unpublish(x->origin, b);
			sl_broadcast_unref(b);
		}
	}
	sl_waiter_cancel(&x->ann_w);
	sl_announced_free(x->ann);
	for (uint16_t w = 0; w < SL_XSHARD_MAX_WORKERS; w++) {
		struct xs_outq *o = &x->out[w];
		for (uint32_t i = 0; i < o->len; i++) {
			struct sl_msg *msg = &o->q[(o->head + i) % o->cap];
			if (msg->type == XS_FRAME)
				sl_buf_unref(msg->obj);
			else if (msg->type == XS_ANNOUNCE || msg->type == XS_SUBSCRIBE)
				free(msg->obj);
		}
		free(o->q);
	}
	sl_u64map_fini(&x->paths);
	sl_u64map_fini(&x->mirrors);
	sl_u64map_fini(&x->fwds);
	free(x);
}

static void handle(struct sl_xshard *x, uint16_t from, struct sl_msg *m, uint64_t now_ns)
{
	switch (m->type) {
	case XS_ANNOUNCE:
		handle_announce(x, from, m->u32 != 0, m->obj);
		free(m->obj);
		break;
	case XS_SUBSCRIBE:
		handle_subscribe(x, from, m->u64, m->obj);
		free(m->obj);
		break;
	case XS_UNSUBSCRIBE: {
		uint64_t v;
		if (sl_u64map_get(&x->fwds, ((uint64_t)from << 48) | m->u64, &v))
			fwd_free(x, (struct xs_fwd *)(uintptr_t)v);
		break;
	}
	case XS_GROUP_START:
	case XS_FRAME:
	case XS_GROUP_END:
	case XS_GROUP_ABORT:
	case XS_TRACK_END:
	case XS_FRAME_TS:
		mirror_msg(x, m, now_ns);
		break;
	default:
		break; /* not ours: nothing to release */
	}
}

unsigned int sl_xshard_poll(struct sl_xshard *x, uint64_t now_ns)
{
	SL_ASSERT_OWNER(x);
	unsigned int work = 0;
	for (uint16_t w = 0; w < x->cfg.nworkers; w++)
		if (w != x->cfg.self)
			xs_flush_out(x, w);
	for (uint16_t w = 0; w < x->cfg.nworkers; w++) {
		if (w == x->cfg.self)
			continue;
		struct sl_msg msgs[64];
		for (unsigned int got = 0; got < XS_RX_BUDGET;) {
			unsigned int n = sl_ring_recv(x->cfg.from[w], msgs, 64);
			if (n == 0)
				break;
			for (unsigned int i = 0; i < n; i++)
				handle(x, w, &msgs[i], now_ns);
			got += n;
			work += n;
			x->stats.msgs_in += n;
		}
	}
	if (x->ann_ready)
		work += drain_announcements(x);
	struct xs_fwd *list = x->ready;
	x->ready = NULL;
	while (list) {
		struct xs_fwd *f = list;
		list = f->next_ready;
		f->ready = false;
		work++;
		if (fwd_pump(x, f)) {
			/* The track ended: the forwarder has sent its last message. */
			fwd_free(x, f);
		}
	}
	return work;
}

bool sl_xshard_stalled(const struct sl_xshard *x)
{
	SL_ASSERT_OWNER_RO(x);
	if (x->ready || x->ann_ready)
		return true;
	for (uint16_t w = 0; w < x->cfg.nworkers; w++)
		if (x->out[w].len > 0)
			return true;
	return false;
}

void sl_xshard_stats(const struct sl_xshard *x, struct sl_xshard_stats *out)
{
	SL_ASSERT_OWNER_RO(x);
	*out = x->stats;
}

void sl_xshard_adopt(struct sl_xshard *x)
{
	sl_owner_adopt(&x->owner);
}

void sl_xshard_disown(struct sl_xshard *x)
{
	sl_owner_release(&x->owner);
}

#define T struct sl_xshard_stats
const struct sl_stat_field sl_xshard_stats_fields[] = {
	SL_STAT_U(T, msgs_in, NULL),
	SL_STAT_U(T, msgs_out, NULL),
	SL_STAT_U(T, ring_full, NULL),
	SL_STAT_U(T, announces_out, NULL),
	SL_STAT_G(T, proxies, NULL),
	SL_STAT_G(T, mirrors, NULL),
	SL_STAT_G(T, forwarders, NULL),
	SL_STAT_U(T, frames_forwarded, NULL),
	SL_STAT_U(T, frames_mirrored, NULL),
	SL_STAT_U(T, upstream_errors, NULL),
	SL_STAT_TABLE_END,
};
#undef T
