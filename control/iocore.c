/* SPDX-License-Identifier: Apache-2.0 */
#include "control/iocore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_lcore.h>

#include "core/bell.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/lcore.h"
#include "core/log.h"
#include "core/owner.h"
#include "core/ring.h"
#include "durable/dshard.h"
#include "durable/starts.h"

/* Built on the control core, then touched only by the io lcore until its loop returns (asserted
 * in debug builds, core/owner.h): the store, the servers and the metadata log are its alone. */
struct sl_iocore {
	struct sl_owner owner;
	struct sl_iocore_config cfg;
	/* The loop skeleton: doorbell (bell), control rings, loop counters (its poll_idle_ns, not
	 * cfg's, is the one in force). */
	struct sl_lcore lc;
	struct sl_localdir_server *srv[SL_IOCORE_MAX_CLIENTS];
	struct sl_bell bell;
	unsigned int lcore;
	bool stopping;
	uint64_t served;
	/* Segment events published and waiting to go back to their worker (the ring was full),
	 * and the number still at the metadata log's store. */
	struct sl_dseg_pub *seg_done_head, *seg_done_tail;
	uint32_t seg_at_store;
	uint64_t segments_in, segments_out, segment_errors;
	/* The retention GC (SL_IOCORE_CTL_GC) and the trim points it gave so far. */
	struct sl_retgc *gc;
	uint64_t objects_released;
	/* The retained starts (SL_IOCORE_CTL_STARTS): the GC deletes only what their durable
	 * version lets go (durable/starts.h). */
	struct sl_dstarts *starts;
	/* Released objects wait until every worker's ring was read empty in a pass that began
	 * after their own (pass counts those passes) before the GC stamps them: a start sent by
	 * one worker before another worker's release of a shared object may still sit in a ring
	 * read before the release arrived. */
	struct sl_dobj **rel;
	uint64_t *rel_pass;
	uint32_t nrel, caprel;
	uint64_t pass;
	int64_t trim_point[SL_IOCORE_META_PARTITIONS];
	/* The batch export queue (with the metadata log only). */
	struct sl_export *exp;
	/* Completions of the store's (and the log's) io_uring ring the doorbell: with I/O in
	 * flight the loop can sleep until one arrives instead of coming back to look. */
	bool store_rings, log_rings;
};

static bool rings_pending(void *arg);

/* ---- the batch export queue (durable/export.h), beside the metadata log ---- */

static int export_start(struct sl_iocore *io)
{
	struct sl_stream_set *set = io->cfg.streams;
	io->cfg.streams = NULL;
	if (io->cfg.mlog == NULL) {
		sl_stream_set_unref(set);
		return 0;
	}
	struct sl_export_config ec;
	sl_export_config_default(&ec);
	ec.store = io->cfg.store;
	int rc = sl_export_new(&ec, &io->exp);
	if (rc == 0 && set != NULL)
		rc = sl_export_set_streams(io->exp, set);
	sl_stream_set_unref(set);
	return rc;
}

/* A durable flush of --export streams from a worker (segment event bytes). */
static void export_add(struct sl_iocore *io, struct sl_buf *b)
{
	struct sl_seg_event ev;
	const char *why = NULL;
	int rc = io->exp ? sl_seg_decode(b->data, b->len, &ev, &why) : SL_ENOTSUP;
	if (rc == 0) {
		if (sl_export_add(io->exp, &ev) < 0)
			SL_LOG(LOG, WARNING, "export: out of memory: %s not exported", ev.key);
		sl_seg_event_release(&ev);
	} else {
		SL_LOG(LOG, ERR, "export: bad event from a worker: %s",
		       why ? why : sl_strerror(rc));
	}
	sl_buf_unref(b);
}

static void export_control(struct sl_iocore *io, struct sl_lcore *lc, const struct sl_msg *m)
{
	if (m->u32 == SL_IOCORE_CTL_STREAMS) {
		struct sl_stream_set *set = m->obj;
		if (io->exp && set && sl_export_set_streams(io->exp, set) != 0)
			SL_LOG(LOG, ERR, "export: out of memory taking the new streams");
		sl_stream_set_unref(set);
		return;
	}
	struct sl_iocore_export_info *x = m->obj;
	if (x != NULL)
		x->rc = io->exp ? sl_export_stream_info(io->exp, x->name, &x->info) : SL_ENOTSUP;
	sl_lcore_reply(lc, m, m->obj, free);
}

struct sl_export *sl_iocore_export(struct sl_iocore *io)
{
	return io->exp;
}

int sl_iocore_new(const struct sl_iocore_config *cfg, struct sl_iocore **out)
{
	if (cfg == NULL || out == NULL || cfg->store == NULL || cfg->ctl_in == NULL ||
	    cfg->ctl_out == NULL || cfg->nclients > SL_IOCORE_MAX_CLIENTS)
		return SL_EINVAL;
	for (unsigned i = 0; i < cfg->nclients; i++)
		if (cfg->req_in[i] == NULL || cfg->req_out[i] == NULL)
			return SL_EINVAL;
	if (cfg->nml > SL_IOCORE_MAX_CLIENTS || (cfg->nml > 0 && cfg->mlog == NULL))
		return SL_EINVAL;
	for (unsigned i = 0; i < cfg->nml; i++)
		if (cfg->ml_in[i] == NULL || cfg->ml_out[i] == NULL)
			return SL_EINVAL;
	struct sl_iocore *io = calloc(1, sizeof(*io));
	if (io == NULL)
		return SL_ENOMEM;
	io->cfg = *cfg;
	if (sl_bell_init(&io->bell) != 0) {
		free(io);
		return SL_EIO;
	}
	/* Every client and the control core ring the doorbell, so the io core is signalled: with
	 * nothing in flight it sleeps until rung, capped at SL_IOCORE_IDLE_MAX_NS. It never backs
	 * off: in-flight I/O brings it back after poll_idle_ns (see idle_wait). */
	struct sl_lcore_config lc = {
		.bell = &io->bell,
		.ctl_in = cfg->ctl_in,
		.ctl_out = cfg->ctl_out,
		.signalled = true,
		.poll_idle_ns = cfg->poll_idle_ns,
		.backoff_max = 1,
		.max_sleep_ns = SL_IOCORE_IDLE_MAX_NS,
		.pending = rings_pending,
		.arg = io,
	};
	sl_lcore_init(&io->lc, &lc);
	io->store_rings = sl_localdir_set_eventfd(cfg->store, io->bell.fd) == 0;
	io->log_rings =
		cfg->mlocal == NULL || sl_metalog_local_set_eventfd(cfg->mlocal, io->bell.fd) == 0;
	if (export_start(io) != 0) {
		io->cfg.store = NULL; /* still the caller's */
		sl_iocore_free(io);
		return SL_ENOMEM;
	}
	for (unsigned i = 0; i < cfg->nclients; i++) {
		io->srv[i] = sl_localdir_server_new(cfg->store, cfg->req_in[i], cfg->req_out[i]);
		if (io->srv[i] == NULL) {
			io->cfg.store = NULL; /* still the caller's */
			sl_iocore_free(io);
			return SL_ENOMEM;
		}
	}
	*out = io;
	return 0;
}

static uint32_t inflight(const struct sl_iocore *io)
{
	uint32_t n = io->seg_at_store + (sl_retgc_busy(io->gc) ? 1 : 0) + io->nrel;
	if (io->exp && !sl_export_idle(io->exp))
		n++;
	for (unsigned i = 0; i < io->cfg.nclients; i++)
		n += sl_localdir_server_inflight(io->srv[i]);
	if (io->seg_done_head != NULL)
		n++;
	return n;
}

/* ---- the metadata event log ---- */

static void seg_finished(struct sl_iocore *io, struct sl_dseg_pub *p)
{
	if (p->status != 0)
		io->segment_errors++;
	/* Durable in the log: the object it names is live until its worker releases it. The
	 * worker holds the object until the pub is back, so the release always comes after. */
	if (p->status == 0 && io->gc != NULL && p->obj_key != NULL)
		sl_retgc_live(io->gc, p->obj_key, p->obj_size, 1, p->meta_partition,
			      p->meta_offset);
	p->next = NULL;
	if (io->seg_done_tail)
		io->seg_done_tail->next = p;
	else
		io->seg_done_head = p;
	io->seg_done_tail = p;
}

static void seg_wake(struct sl_waiter *w)
{
	struct sl_dseg_pub *p =
		(struct sl_dseg_pub *)((char *)w - offsetof(struct sl_dseg_pub, waiter));
	struct sl_iocore *io = p->server;
	SL_ASSERT_OWNER(io);
	io->seg_at_store--;
	p->status = p->mpub.status;
	p->meta_offset = p->mpub.offset;
	seg_finished(io, p);
}

/* ---- the retention GC ---- */

/*
 * An object released by a worker. The unit of the GC's count is the struct sl_dobj: its own
 * atomic reference count already adds up the segments of every worker holding it (after a
 * restart with another worker count, one object's ranges may be owned by several), so the
 * worker that drops the last one releases the object's one GC reference.
 */
static void gc_release(struct sl_iocore *io, struct sl_dobj *o)
{
	io->objects_released++;
	/* Without a GC (never handed over) the object stays until the next start removes it. */
	if (io->gc == NULL) {
		sl_dobj_free(o);
		return;
	}
	if (io->nrel == io->caprel) {
		uint32_t ncap = io->caprel ? io->caprel * 2 : 256;
		struct sl_dobj **nr = realloc(io->rel, ncap * sizeof(*nr));
		uint64_t *np = nr ? realloc(io->rel_pass, ncap * sizeof(*np)) : NULL;
		if (nr != NULL)
			io->rel = nr;
		if (np == NULL) {
			/* Left on disk: the next start finds it unreferenced. */
			sl_dobj_free(o);
			return;
		}
		io->rel_pass = np;
		io->caprel = ncap;
	}
	io->rel[io->nrel] = o;
	io->rel_pass[io->nrel++] = io->pass;
}

/* A partition's retained start moved (its worker sends it before releasing what it freed). */
static void start_moved(struct sl_iocore *io, const struct sl_msg *m)
{
	if (io->starts != NULL &&
	    sl_dstarts_set(io->starts, m->u32, (uint32_t)(uintptr_t)m->obj, m->u64) != 0)
		SL_LOG(LOG, ERR, "retention: out of memory recording a start; deletes wait");
}

/* After a pass over the rings (drained: each was read empty): the releases read before the
 * last whole drained pass go to the GC, stamped with the starts' version, which by then holds
 * every start sent before them. */
static void releases_to_gc(struct sl_iocore *io, bool drained)
{
	if (io->gc == NULL)
		return;
	if (drained)
		io->pass++;
	if (io->nrel == 0)
		return;
	if (io->starts != NULL)
		sl_retgc_gate(io->gc, sl_dstarts_version(io->starts),
			      sl_dstarts_durable(io->starts));
	uint32_t k = 0;
	uint64_t now = sl_clock_now_ns();
	for (uint32_t i = 0; i < io->nrel; i++) {
		if (io->rel_pass[i] + 2 <= io->pass) {
			sl_retgc_release(io->gc, io->rel[i]->key, 1, now);
			sl_dobj_free(io->rel[i]);
			continue;
		}
		io->rel[k] = io->rel[i];
		io->rel_pass[k++] = io->rel_pass[i];
	}
	io->nrel = k;
}

/* Deletes what the grace period let go, and moves the metadata log's trim points. */
static int gc_poll(struct sl_iocore *io, uint64_t now)
{
	if (io->gc == NULL)
		return 0;
	if (io->starts != NULL) {
		sl_dstarts_poll(io->starts, now);
		sl_retgc_gate(io->gc, sl_dstarts_version(io->starts),
			      sl_dstarts_durable(io->starts));
	}
	sl_retgc_poll(io->gc, now);
	int work = 0;
	for (int32_t p = 0; p < SL_IOCORE_META_PARTITIONS; p++) {
		int64_t tp = sl_retgc_trim_point(io->gc, p);
		if (tp <= io->trim_point[p])
			continue;
		io->trim_point[p] = tp;
		/* Every event below tp names a deleted object: the log lets go of them in memory
		 * and on disk (whole segment files), so recovery never reads them again. A failed
		 * file trim is counted by the store (trim_errors) and retried at the next move. */
		if (io->cfg.mlocal != NULL)
			(void)sl_iocore_metalog_trim(io, p, tp);
		else
			sl_metalog_trim(io->cfg.mlog, p, tp);
		work++;
	}
	return work;
}

/* Publishes what the workers sent, lets the log's store work, and sends the published events
 * back. Returns the events handled. */
static int segments(struct sl_iocore *io)
{
	int work = 0;
	struct sl_msg m[32];
	bool drained = true;
	for (unsigned k = 0; k < io->cfg.nml; k++) {
		unsigned n = sl_ring_recv(io->cfg.ml_in[k], m, 32);
		drained = drained && n < 32;
		for (unsigned i = 0; i < n; i++) {
			if (m[i].type == SL_MSG_OBJ_RELEASE) {
				gc_release(io, m[i].obj);
				continue;
			}
			if (m[i].type == SL_MSG_DSTART) {
				start_moved(io, &m[i]);
				continue;
			}
			/* u32 1: a durable flush of --export streams (worker.c ix_exported). */
			if (m[i].u32 == 1) {
				export_add(io, m[i].obj);
				continue;
			}
			struct sl_dseg_pub *p = m[i].obj;
			io->segments_in++;
			p->server = io;
			p->worker = (uint16_t)k;
			struct sl_slice payload = sl_slice_of(p->payload);
			p->payload = NULL; /* the log takes the reference, also on error */
			int rc = sl_metalog_publish(io->cfg.mlog, p->meta_partition, payload,
						    &p->mpub, &p->meta_offset);
			if (rc == SL_EAGAIN) {
				sl_waiter_init(&p->waiter, seg_wake);
				io->seg_at_store++;
				if (sl_metalog_pub_poll(&p->mpub, &p->waiter) != SL_EAGAIN)
					seg_wake(&p->waiter);
				continue;
			}
			p->status = rc;
			seg_finished(io, p);
		}
		work += (int)n;
	}
	releases_to_gc(io, drained);
	if (io->cfg.mlocal != NULL)
		work += sl_metalog_local_poll(io->cfg.mlocal) > 0;
	bool rung[SL_IOCORE_MAX_CLIENTS] = {false};
	while (io->seg_done_head) {
		struct sl_dseg_pub *p = io->seg_done_head;
		/* Read before sending: once on the ring, p belongs to its worker again. */
		struct sl_dseg_pub *next = p->next;
		uint16_t worker = p->worker;
		int32_t part = p->meta_partition;
		int64_t off = p->meta_offset;
		bool ok = p->status == 0;
		struct sl_msg a = {.type = SL_MSG_SEGMENT, .obj = p};
		if (sl_ring_send(io->cfg.ml_out[worker], &a, 1) != 1)
			break;
		io->seg_done_head = next;
		if (next == NULL)
			io->seg_done_tail = NULL;
		io->segments_out++;
		/* The worker indexes the segment itself: the log needs no copy in memory. */
		if (ok)
			sl_metalog_trim(io->cfg.mlog, part, off + 1);
		rung[worker] = true;
		work++;
	}
	for (unsigned k = 0; k < io->cfg.nml; k++)
		if (rung[k] && io->cfg.ml_bell[k])
			sl_bell_ring(io->cfg.ml_bell[k]);
	return work;
}

int sl_iocore_metalog_trim(struct sl_iocore *io, int32_t partition, int64_t below)
{
	SL_ASSERT_OWNER(io);
	if (io->cfg.mlog == NULL || io->cfg.mlocal == NULL)
		return SL_ENOTSUP;
	int rc = sl_metalog_trim(io->cfg.mlog, partition, below);
	if (rc < 0)
		return rc;
	return sl_metalog_local_trim(io->cfg.mlocal, partition, below);
}

void sl_iocore_stats(const struct sl_iocore *io, struct sl_iocore_stats *out)
{
	SL_ASSERT_OWNER_RO(io);
	memset(out, 0, sizeof(*out));
	out->id = io->cfg.id;
	out->lcore = io->lcore;
	out->clients = io->cfg.nclients;
	out->loops = io->lc.loops;
	out->idle_sleeps = io->lc.idle_sleeps;
	out->wakeups = io->lc.wakeups;
	out->served = io->served;
	out->inflight = inflight(io);
	if (io->cfg.store != NULL && sl_localdir_stats(io->cfg.store, &out->store) != 0)
		memset(&out->store, 0, sizeof(out->store));
	out->metalog = io->cfg.mlog != NULL;
	out->segments_in = io->segments_in;
	out->segments_out = io->segments_out;
	out->segment_errors = io->segment_errors;
	if (io->gc)
		sl_retgc_stats(io->gc, &out->gc);
	out->objects_released = io->objects_released;
	if (io->starts)
		sl_dstarts_stats(io->starts, &out->starts);
	for (int p = 0; p < SL_IOCORE_META_PARTITIONS; p++)
		out->metalog_trim_point[p] =
			io->trim_point[p] > 0 ? (uint64_t)io->trim_point[p] : 0;
	if (io->cfg.mlog)
		sl_metalog_stats(io->cfg.mlog, &out->mlog);
	if (io->cfg.mlocal)
		sl_metalog_local_stats(io->cfg.mlocal, &out->mlocal);
	if (io->exp)
		sl_export_stats(io->exp, &out->exp);
}

/* Control requests: answered in the loop, so the control core never touches the store. */
static void control(void *arg, struct sl_lcore *lc, const struct sl_msg *m)
{
	struct sl_iocore *io = arg;
	switch (m->u32) {
	case SL_IOCORE_CTL_STOP:
		io->stopping = true;
		break;
	case SL_IOCORE_CTL_CONFIG: {
		const struct sl_iocore_runtime *rt = m->obj;
		if (rt != NULL)
			sl_lcore_set_poll_idle(lc, rt->poll_idle_ns);
		sl_lcore_reply(lc, m, m->obj, free);
		break;
	}
	case SL_IOCORE_CTL_GC:
		if (io->gc == NULL) {
			io->gc = m->obj;
			/* Batches an export queue still lists outlive their segments. */
			if (io->exp != NULL)
				sl_retgc_set_pinned(io->gc, sl_export_pinned, io->exp);
		} else
			sl_retgc_free(m->obj); /* one GC only */
		sl_lcore_reply(lc, m, NULL, NULL);
		break;
	case SL_IOCORE_CTL_STARTS:
		if (io->starts == NULL)
			io->starts = m->obj;
		else
			sl_dstarts_free(m->obj);
		sl_lcore_reply(lc, m, NULL, NULL);
		break;
	case SL_IOCORE_CTL_STREAMS:
	case SL_IOCORE_CTL_EXPORT_INFO:
		export_control(io, lc, m);
		break;
	case SL_IOCORE_CTL_STATS: {
		struct sl_iocore_stats *s = malloc(sizeof(*s));
		if (s != NULL)
			sl_iocore_stats(io, s);
		sl_lcore_reply(lc, m, s, free);
		break;
	}
	default:
		break;
	}
}

/* Whether a client's request or a segment event waits (the control ring is the lcore's). */
static bool rings_pending(void *arg)
{
	const struct sl_iocore *io = arg;
	for (unsigned i = 0; i < io->cfg.nclients; i++)
		if (rte_ring_count(io->cfg.req_in[i]))
			return true;
	for (unsigned i = 0; i < io->cfg.nml; i++)
		if (rte_ring_count(io->cfg.ml_in[i]))
			return true;
	return false;
}

/*
 * Sleeps while there is nothing to do, on the doorbell, which every client rings. With I/O in
 * flight the store is reaped again after at most poll_idle_ns, since completions do not ring,
 * unless the store's io_uring (and the metadata log's) signal the doorbell on every completion:
 * then SL_IOCORE_INFLIGHT_MAX_NS is only a safety net.
 */
static void idle_wait(struct sl_iocore *io, uint64_t now)
{
	uint64_t deadline = UINT64_MAX;
	if (inflight(io)) {
		if (io->store_rings && io->log_rings && !sl_localdir_needs_poll(io->cfg.store))
			deadline = now + SL_IOCORE_INFLIGHT_MAX_NS;
		else
			deadline = sl_lcore_soon(&io->lc, now, deadline);
	}
	sl_lcore_idle_wait(&io->lc, now, deadline, NULL, 0);
}

int sl_iocore_main(void *arg)
{
	struct sl_iocore *io = arg;
	io->lcore = rte_lcore_id();
	/* From here on this lcore owns the io core; given back when the loop returns, so that
	 * the control core may free it. */
	sl_owner_adopt(&io->owner);
	sl_lcore_adopt(&io->lc);
	for (;;) {
		SL_ASSERT_OWNER(io);
		sl_lcore_pass(&io->lc);
		uint64_t now = sl_clock_now_ns();
		int done = 0;
		for (unsigned i = 0; i < io->cfg.nclients; i++) {
			int k = sl_localdir_serve(io->srv[i], now);
			/* A client sleeping on its doorbell learns of its completions at once. */
			if (k > 0 && io->cfg.client_bell[i] &&
			    sl_bell_wants_ring(io->cfg.client_bell[i]))
				sl_bell_ring(io->cfg.client_bell[i]);
			done += k;
		}
		/* No client: the store still makes progress on its own work. */
		if (io->cfg.nclients == 0)
			sl_objstore_poll(io->cfg.store, now);
		io->served += (uint64_t)done;
		if (io->cfg.mlog)
			done += segments(io);
		done += gc_poll(io, now);
		if (io->exp)
			done += sl_export_poll(io->exp, sl_clock_wall_ns()) > 0;
		unsigned int ctl = sl_lcore_control(&io->lc, control, io);
		if (io->stopping && inflight(io) == 0) {
			sl_lcore_disown(&io->lc);
			sl_owner_release(&io->owner);
			return 0;
		}
		if (done == 0 && ctl == 0 && io->lc.cfg.poll_idle_ns)
			idle_wait(io, now);
	}
}

void sl_iocore_wake(struct sl_iocore *io)
{
	sl_bell_ring(&io->bell);
}

static void probe_done(struct sl_obj_req *r)
{
	*(bool *)r->user = true;
}

/* Submits r through client (whose proxy rings the io core) and polls the client until r
 * completes or the deadline passes. Returns r's result, the submit error, or SL_ETIMEDOUT (r is
 * then still in flight). */
static int probe_run(struct sl_objstore *client, struct sl_obj_req *r, bool *done,
		     uint64_t deadline)
{
	*done = false;
	r->done = probe_done;
	r->user = done;
	int rc = sl_objstore_submit(client, r);
	if (rc != 0)
		return rc;
	while (!*done) {
		uint64_t now = sl_clock_now_ns();
		if (now > deadline)
			return SL_ETIMEDOUT;
		if (sl_objstore_poll(client, now) == 0) {
			struct timespec ts = {0, 50 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	return r->result;
}

int sl_iocore_probe(struct sl_iocore *io, struct sl_objstore *client, uint64_t timeout_ns,
		    char *err, size_t errlen)
{
	if (io == NULL || client == NULL)
		return SL_EINVAL;
	char key[64], body[96];
	snprintf(key, sizeof(key), "shardline/probe/io-%u", (unsigned)io->cfg.id);
	int blen = snprintf(body, sizeof(body), "shardline io core %u probe at %llu",
			    (unsigned)io->cfg.id, (unsigned long long)sl_clock_now_ns());
	/* Heap, not stack: after a timeout the io core still holds the request, and the caller
	 * gives up on start-up without waiting for it. */
	struct sl_obj_req *r = calloc(1, sizeof(*r));
	bool *done = calloc(1, sizeof(*done));
	if (r == NULL || done == NULL) {
		free(r);
		free(done);
		snprintf(err, errlen, "out of memory");
		return SL_ENOMEM;
	}
	uint64_t deadline = sl_clock_now_ns() + timeout_ns;
	const char *step = "write";
	r->op = SL_OBJ_PUT;
	r->put_mode = SL_OBJ_PUT_OVERWRITE;
	r->key = key;
	r->body = sl_buf_from(body, (size_t)blen);
	int rc = r->body ? probe_run(client, r, done, deadline) : SL_ENOMEM;
	if (rc == 0) {
		step = "read back";
		sl_obj_req_reset(r);
		r->op = SL_OBJ_GET;
		r->key = key;
		r->body = NULL;
		rc = probe_run(client, r, done, deadline);
		if (rc == 0 && (r->data == NULL || r->data->len != (size_t)blen ||
				memcmp(r->data->data, body, (size_t)blen) != 0))
			rc = SL_ECORRUPT;
	}
	if (rc == 0) {
		step = "delete";
		sl_obj_req_reset(r);
		r->op = SL_OBJ_DELETE;
		r->key = key;
		rc = probe_run(client, r, done, deadline);
	}
	if (rc != 0)
		snprintf(err, errlen, "io core %u could not %s the probe object %s: %s",
			 (unsigned)io->cfg.id, step, key, sl_strerror(rc));
	if (rc == SL_ETIMEDOUT)
		return rc; /* r and done stay with the io core */
	sl_obj_req_reset(r);
	free(r);
	free(done);
	return rc;
}

struct sl_bell *sl_iocore_bell(struct sl_iocore *io)
{
	return &io->bell;
}

void sl_iocore_free(struct sl_iocore *io)
{
	if (io == NULL)
		return;
	SL_ASSERT_OWNER(io);
	for (unsigned i = 0; i < io->cfg.nclients; i++)
		sl_localdir_server_free(io->srv[i]);
	/* Deletes still in flight complete into the GC when the store is destroyed. */
	sl_objstore_destroy(io->cfg.store);
	sl_retgc_free(io->gc);
	sl_dstarts_free(io->starts);
	for (uint32_t i = 0; i < io->nrel; i++)
		sl_dobj_free(io->rel[i]);
	free(io->rel);
	free(io->rel_pass);
	/* After the store: destroying it completes what the queue had in flight, into memory
	 * that must still be there. */
	sl_export_free(io->exp);
	/* The log's store first: it waits for its last batch and completes it into the engine. */
	if (io->cfg.mlocal)
		sl_metalog_local_close(io->cfg.mlocal);
	sl_metalog_free(io->cfg.mlog);
	sl_bell_fini(&io->bell);
	free(io);
}

/* How `shardctl status` shows an io core; "metalog" exists only on the io core that owns the
 * metadata event log (the renderer's caller drops it otherwise). */
static const char *const meta_partition_names[SL_IOCORE_META_PARTITIONS] = {
	"p0", "p1", "p2",  "p3",  "p4",	 "p5",	"p6",  "p7",
	"p8", "p9", "p10", "p11", "p12", "p13", "p14", "p15",
};

#define T struct sl_iocore_stats
const struct sl_stat_field sl_iocore_stats_fields[] = {
	SL_STAT_AS(T, id, "io", NULL),
	SL_STAT_AS(T, lcore, "lcore", NULL),
	SL_STAT_G(T, clients, NULL),
	SL_STAT_U(T, loops, NULL),
	SL_STAT_U(T, idle_sleeps, NULL),
	SL_STAT_U(T, wakeups, NULL),
	SL_STAT_U(T, served, NULL),
	SL_STAT_G(T, inflight, NULL),
	SL_STAT_SUB(T, store, "", NULL, sl_localdir_stats_fields),
	SL_STAT_HIDE(T, metalog, "says whether the \"metalog\" object is shown"),
	SL_STAT_U(T, segments_in, "metalog"),
	SL_STAT_U(T, segments_out, "metalog"),
	SL_STAT_U(T, segment_errors, "metalog"),
	/* The log's own counters carry its name: the local store's sit beside them. */
	SL_STAT_SUB(T, gc, "", "gc", sl_retgc_stats_fields),
	SL_STAT_U(T, objects_released, "gc"),
	SL_STAT_ARR(T, metalog_trim_point, "metalog_trim_point", "gc", meta_partition_names),
	SL_STAT_SUB(T, starts, "", "starts", sl_dstarts_stats_fields),
	SL_STAT_SUB(T, mlog, "log_", "metalog", sl_metalog_stats_fields),
	SL_STAT_SUB(T, mlocal, "", "metalog", sl_metalog_local_stats_fields),
	SL_STAT_SUB(T, exp, "", "metalog.export", sl_export_stats_fields),
	SL_STAT_TABLE_END,
};
#undef T
