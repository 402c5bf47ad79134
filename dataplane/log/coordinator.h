/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_LOG_COORDINATOR_H
#define SL_LOG_COORDINATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/wait.h"
#include "core/stats.h"

/*
 * The write coordinator: the ordering and durability point of one shard's durable path. Writes
 * arrive on named channels (bounded FIFO queues), are applied one at a time to the current
 * *delta* (an application-defined in-memory batch), and get an *epoch* (1, 2, 3, ... across all
 * channels). On a flush trigger the delta is frozen and handed to a *flusher*; a fresh delta
 * starts from the frozen one's context. Three watermarks follow the epochs:
 *
 *   applied  - the write is in the current delta (readers of the view see it);
 *   written  - the frozen delta holding it was flushed (the flusher returned a snapshot);
 *   durable  - a storage flush completed after it was written.
 *
 * applied >= written >= durable at all times, and every watermark moves in epoch order.
 *
 * The behaviour follows opendata's WriteCoordinator (../shared/reference/
 * opendata-write-coordinator.rs), re-expressed for one poll-mode core: no threads, no clock
 * reads, no allocation per write. The shard loop calls sl_coord_poll(); the flusher (typically
 * an io core behind a ring) reports back through sl_coord_flush_complete(). Everything runs on
 * the owning core; no function here is thread-safe. See docs/coordinator.md.
 *
 * Error codes used below: SL_EINVAL (bad argument), SL_ENOTFOUND (no such channel or request),
 * SL_EDUP (duplicate channel name), SL_ENOMEM, SL_ENOSPC (queue full: backpressure, the write is
 * handed back), SL_ETIMEDOUT (no queue space before the deadline, handed back), SL_ECLOSED (the
 * coordinator is stopping or stopped), SL_ELOST (a view subscriber fell behind), SL_EAGAIN (in
 * progress; a waiter was armed), SL_EEOF (no more views), and any flush error the flusher
 * reports (which then sticks: see sl_coord_flush_complete).
 */
struct sl_coord;

/* Durability levels a caller can wait for. */
enum sl_coord_durability {
	SL_DURABILITY_APPLIED = 0,
	SL_DURABILITY_WRITTEN = 1,
	SL_DURABILITY_DURABLE = 2,
};

#define SL_COORD_MAX_CHANNELS	    256
#define SL_COORD_MAX_CHANNEL_NAME   63
#define SL_COORD_MAX_QUEUE_CAPACITY (1u << 24)
#define SL_COORD_MAX_FROZEN	    64
#define SL_COORD_MAX_VIEW_QUEUE	    65536

struct sl_coord_config {
	/* Writes each channel queue admits before try_write reports SL_ENOSPC. 1 ..
	 * SL_COORD_MAX_QUEUE_CAPACITY. Default 10000. Flush commands are not counted. */
	uint32_t queue_capacity;
	/* A delta with writes older than this is flushed; the timer restarts on every flush.
	 * 0 disables the timer. The deadline saturates at UINT64_MAX, so a huge value (UINT64_MAX
	 * as "never") never fires. Default 10 s. */
	uint64_t flush_interval_ns;
	/* The delta is flushed as soon as its estimated size reaches this. UINT64_MAX disables.
	 * Default 64 MiB. */
	uint64_t flush_size_threshold;
	/* Frozen deltas not yet written (in flight at the flusher). When a flush is due and this
	 * many are in flight, the coordinator stops applying writes until one completes, so queues
	 * fill and writers see SL_ENOSPC instead of memory growing. 1 .. SL_COORD_MAX_FROZEN.
	 * Default 2. */
	uint32_t max_frozen;
	/* Views a subscriber may have unread before it is marked lost. 1 ..
	 * SL_COORD_MAX_VIEW_QUEUE. Default 16. */
	uint32_t view_queue_capacity;
	/* Queue entries one sl_coord_poll call processes at most, so a busy coordinator does not
	 * starve the rest of the shard loop. 0 means no limit. Default 1024. */
	uint32_t poll_budget;
};

/* Fills cfg with the defaults documented above. */
void sl_coord_config_default(struct sl_coord_config *cfg);

/*
 * A write (or a flush command), owned by the caller. Embed it in the caller's own record and use
 * container_of in the done callback. While the coordinator holds it, status is SL_EAGAIN and the
 * caller must not touch it. done runs exactly once when the coordinator lets go of it, from
 * inside a coordinator call (poll, stop, free, or the call that failed it); afterwards the
 * caller owns it again, and on any non-apply failure the write was not applied and may be
 * retried as is.
 */
struct sl_coord_write;
typedef void (*sl_coord_write_fn)(struct sl_coord_write *w);

struct sl_coord_write {
	/* Set by the caller. */
	void *data;		/* the payload, read by the delta's apply */
	sl_coord_write_fn done; /* may be NULL */
	/* Set by the coordinator. */
	int status;	 /* SL_EAGAIN while queued; 0 applied; else why not (see below) */
	uint64_t epoch;	 /* the write's epoch (also on an apply error); for a flush command the
			  * last epoch applied before it; 0 when never applied */
	uint64_t result; /* what the delta's apply returned through w->result */
	/* Private. */
	struct sl_coord_write *next;
	uint64_t deadline_ns;
	uint8_t kind;
};

/*
 * A wait for an epoch to reach a durability level. Caller-owned; done runs once with status 0
 * (reached) or an error, after which the caller owns it again.
 */
struct sl_coord_waiter;
typedef void (*sl_coord_waiter_fn)(struct sl_coord_waiter *w);

struct sl_coord_waiter {
	sl_coord_waiter_fn done; /* set by the caller; may be NULL */
	int status;		 /* SL_EAGAIN while armed; then 0 or the error */
	/* Private. */
	uint64_t epoch;
	uint8_t level;
	bool armed;
	struct sl_coord_waiter *next, *prev;
};

/*
 * The delta interface. Any kind of state can be coordinated: a partition's record batch, a
 * key/value memtable, a counter. All pointers are opaque to the coordinator; arg is the
 * delta_arg given at creation. Everything is called on the owning core.
 */
enum sl_coord_obj_kind {
	SL_COORD_OBJ_DELTA = 0,	  /* an unfrozen delta (released when the coordinator is freed) */
	SL_COORD_OBJ_CONTEXT = 1, /* a context no delta took (init failed before free) */
	SL_COORD_OBJ_READER = 2,  /* a reader returned by reader() */
	SL_COORD_OBJ_FROZEN_VIEW = 3, /* a frozen view returned by freeze() */
};

struct sl_coord_frozen_out {
	void *frozen; /* handed to the flusher, which then owns it */
	void *view;   /* the readable image of the frozen delta, shown in views until written */
	void *ctx;    /* state that carries over into the next delta (init's ctx) */
};

struct sl_coord_delta_ops {
	/* Returns a new, empty delta that takes over ctx, or NULL (then ctx stays with the
	 * coordinator and init is retried on the next poll). */
	void *(*init)(void *arg, void *ctx);
	/* Applies w (its data) to delta, optionally storing a result in w->result. Returns 0 or a
	 * negative error that is handed to the writer as its status; the epoch is spent either
	 * way. */
	int (*apply)(void *arg, void *delta, struct sl_coord_write *w);
	/* The delta's size for the flush threshold (bytes, or any unit the threshold uses). */
	uint64_t (*estimate_size)(void *arg, const void *delta);
	/* Consumes delta and fills out. Returns 0, or an error that leaves delta untouched (the
	 * freeze is retried on the next poll). */
	int (*freeze)(void *arg, void *delta, struct sl_coord_frozen_out *out);
	/* A reader of the live delta: it sees writes as they are applied and stays valid after the
	 * delta is frozen, until released. Called once per delta. NULL is allowed. */
	void *(*reader)(void *arg, void *delta);
	/* Releases an object of the given kind; the coordinator holds no pointer to it after. */
	void (*release)(void *arg, enum sl_coord_obj_kind kind, void *obj);
};

/*
 * The flusher interface. Requests are issued in epoch order, each with a request id; the
 * flusher completes each later (or from inside the call) with sl_coord_flush_complete. Delta
 * flushes may be in flight together (up to max_frozen) and may complete in any order; the
 * coordinator applies their results in epoch order. A storage flush is issued only after every
 * request before it completed, so it covers all of them.
 */
struct sl_coord_flusher_ops {
	/* Writes frozen (now owned by the flusher, whatever this returns) holding exactly epochs
	 * [epoch_start, epoch_end). Returns 0, or an error that fails the flush at once. */
	int (*flush_delta)(void *arg, uint64_t req_id, void *frozen, uint64_t epoch_start,
			   uint64_t epoch_end);
	/* Makes everything written so far durable. Returns 0, or an error (fails it at once). */
	int (*flush_storage)(void *arg, uint64_t req_id);
	/* Releases a storage snapshot handed over by sl_coord_flush_complete (or at creation). */
	void (*release_snapshot)(void *arg, void *snapshot);
};

/* Everything sl_coord_new needs besides the tunables. The ops tables must outlive every view. */
struct sl_coord_env {
	const char *const *channels; /* names, copied; 1 .. SL_COORD_MAX_CHANNELS, unique */
	uint32_t nchannels;
	const struct sl_coord_delta_ops *delta_ops;
	void *delta_arg;
	void *initial_ctx; /* handed to the first init */
	const struct sl_coord_flusher_ops *flusher_ops;
	void *flusher_arg;
	void *initial_snapshot; /* may be NULL; released through release_snapshot */
};

/*
 * Creates a coordinator and its first delta. Writes may be queued at once; nothing is applied
 * until sl_coord_start. Returns 0 and *out, or SL_EINVAL (NULL or incomplete argument, config
 * out of range, empty or too long channel name), SL_EDUP (two channels share a name),
 * SL_ENOMEM (including the first init returning NULL; initial_ctx and initial_snapshot stay
 * with the caller on every error).
 */
int sl_coord_new(const struct sl_coord_config *cfg, const struct sl_coord_env *env,
		 struct sl_coord **out);

/*
 * Frees c. Whatever is still queued or waiting completes with SL_ECLOSED; subscribers are
 * detached (their next receive returns SL_ECLOSED). Call it after sl_coord_stop finished, or
 * accept that in-flight flushes are abandoned: the flusher must not complete them after this.
 */
void sl_coord_free(struct sl_coord *c);

/* Looks a channel up by name. Returns its id (>= 0), SL_ENOTFOUND or SL_EINVAL (NULL). */
int sl_coord_channel(const struct sl_coord *c, const char *name);

/* Starts applying writes and arms the flush timer from now_ns. Idempotent. Returns 0 or
 * SL_ECLOSED (stopped). */
int sl_coord_start(struct sl_coord *c, uint64_t now_ns);

/*
 * Queues w on channel ch. Returns 0 (w completes later through done), SL_ENOSPC (the queue is
 * full: backpressure), SL_ECLOSED (stopping or stopped), the sticky flush error, or SL_EINVAL
 * (bad channel, NULL w). On any error w is untouched, done is not called, and w belongs to
 * the caller.
 */
int sl_coord_try_write(struct sl_coord *c, int ch, struct sl_coord_write *w);

/*
 * Like sl_coord_try_write, but when the queue is full the write waits for space until
 * deadline_ns: it returns 0 and w is admitted in FIFO order as the queue drains, or completes
 * with status SL_ETIMEDOUT from the first poll at or after the deadline (handed back, not
 * applied). Returns SL_ETIMEDOUT at once if the queue is full and deadline_ns <= now_ns, and the
 * errors of sl_coord_try_write except SL_ENOSPC.
 */
int sl_coord_write(struct sl_coord *c, int ch, struct sl_coord_write *w, uint64_t deadline_ns,
		   uint64_t now_ns);

/*
 * Queues a flush command behind the writes already queued on channel ch (it is not counted
 * against the capacity). When the coordinator reaches it, w completes with status 0 and epoch =
 * the last epoch applied so far; the delta is frozen and flushed if it holds writes, and with
 * flush_storage a storage flush follows (even with no new writes), so waiting for w->epoch at
 * SL_DURABILITY_DURABLE then means "everything before this command is durable". Returns 0,
 * SL_ECLOSED, the sticky flush error, or SL_EINVAL.
 */
int sl_coord_flush(struct sl_coord *c, int ch, struct sl_coord_write *w, bool flush_storage);

/* Pauses (the queue is kept but not drained) or resumes channel ch. Returns 0 or SL_EINVAL. */
int sl_coord_pause(struct sl_coord *c, int ch, bool paused);

/*
 * Does the coordinator's work at time now_ns: expires timed-out writes, drains unpaused channel
 * queues in round-robin (one entry per channel per turn) applying writes and flush commands,
 * checks the size and interval triggers, freezes and issues flushes, and advances a stop in
 * progress. Returns the time by which it wants to be polled again: now_ns when work is left
 * (budget spent), a timer deadline, or UINT64_MAX when only an external event can make
 * progress.
 */
uint64_t sl_coord_poll(struct sl_coord *c, uint64_t now_ns);

/*
 * Reports the result of flush request req_id: rc 0 (success) or a negative error. For a delta
 * flush, snapshot is the storage snapshot that now includes it (NULL keeps the previous one). A
 * storage flush changes no view, so a snapshot passed with one is released at once through
 * release_snapshot, as is a snapshot sent with a failure. Ownership passes when this returns 0;
 * on SL_ENOTFOUND or SL_EINVAL the snapshot stays with the caller. Results are applied in
 * request order: the view is published, then the written (or, for a storage flush, durable)
 * watermark advances and its waiters complete. A failed flush first publishes a view without
 * frozen deltas (neither the failed one nor any after it can ever be written, so none is shown
 * as on its way to storage; snapshot and last_written stay those of the last written delta),
 * then fails every waiter at WRITTEN or DURABLE (and waiters for epochs not yet applied) with
 * rc, fails queued writes with rc, and makes every later write or flush return rc: the
 * coordinator can no longer make anything durable. Requests still in flight are accepted when
 * they complete and their results discarded. Returns 0, SL_ENOTFOUND (unknown or already
 * completed id) or SL_EINVAL (rc > 0).
 */
int sl_coord_flush_complete(struct sl_coord *c, uint64_t req_id, int rc, void *snapshot,
			    uint64_t now_ns);

/*
 * Stops the coordinator: new writes fail with SL_ECLOSED at once, writes still waiting for
 * queue space and writes queued on paused channels complete with SL_ECLOSED, the rest of the
 * queues is applied, the delta is flushed, and a storage flush makes everything applied
 * durable. Progress happens in sl_coord_poll and sl_coord_flush_complete. Returns 0 once the
 * stop finished, the sticky flush error if it finished after a flush failed, or SL_EAGAIN
 * (still stopping; w, if not NULL, is armed and fires when it finishes). Call it again to learn
 * the result.
 */
int sl_coord_stop(struct sl_coord *c, struct sl_waiter *w, uint64_t now_ns);

/*
 * Waits for epoch to reach level. Returns 0 (reached now; w not armed), SL_EAGAIN (armed: w
 * completes later, in epoch order within its level), the sticky flush error (for WRITTEN or
 * DURABLE, or an epoch that can no longer be applied), SL_ECLOSED (stopped and epoch was never
 * applied), or SL_EINVAL (bad level, NULL w).
 */
int sl_coord_wait(struct sl_coord *c, struct sl_coord_waiter *w, uint64_t epoch,
		  enum sl_coord_durability level);

/* Disarms w if it is armed (its done is not called). */
void sl_coord_wait_cancel(struct sl_coord *c, struct sl_coord_waiter *w);

/* The current watermarks. */
void sl_coord_watermarks(const struct sl_coord *c, uint64_t *applied, uint64_t *written,
			 uint64_t *durable);

/*
 * A view: what a reader of this shard's state needs to see everything applied so far. It is
 * immutable and refcounted; the frozen array is newest first, and empty in every view published
 * after a flush failure. Epoch ranges are [start, end).
 */
struct sl_coord_obj;

struct sl_coord_stamped {
	void *val;
	uint64_t epoch_start;
	uint64_t epoch_end;
	struct sl_coord_obj *obj; /* private */
};

struct sl_coord_view {
	uint64_t seq;	/* publication number, increasing */
	void *current;	/* reader of the live delta */
	void *snapshot; /* storage snapshot including every written delta */
	bool has_last_written;
	struct sl_coord_stamped last_written; /* the frozen view most recently written */
	uint32_t nfrozen;
	/* Private. */
	uint32_t refs;
	struct sl_coord_obj *current_obj, *snapshot_obj;
	struct sl_coord_stamped frozen[]; /* nfrozen entries, newest first */
};

/* Returns a new reference to the current view, or NULL on allocation failure. */
struct sl_coord_view *sl_coord_view(struct sl_coord *c);
struct sl_coord_view *sl_coord_view_ref(struct sl_coord_view *v);
/* Drops a reference; the last one releases the view's readers, frozen views and snapshot. */
void sl_coord_view_unref(struct sl_coord_view *v);

/*
 * A view subscriber, caller-owned. It receives every view published after it subscribed (on
 * each freeze and each written delta) through a bounded queue. If it lets view_queue_capacity
 * views pile up, it is marked lost: its queue is dropped and its next receive returns SL_ELOST;
 * it recovers by unsubscribing and subscribing again, which hands it the current view.
 */
struct sl_coord_sub {
	/* Private. */
	struct sl_coord *c;
	struct sl_coord_sub *next, **pprev;
	struct sl_coord_view **q;
	uint32_t cap, head, count;
	bool lost;
	struct sl_waitq waitq;
};

/*
 * Subscribes s (which must not be subscribed) and stores a reference to the current view in
 * *initial (if initial is not NULL). Returns 0, SL_ENOMEM, or SL_EINVAL.
 */
int sl_coord_subscribe(struct sl_coord *c, struct sl_coord_sub *s, struct sl_coord_view **initial);

/*
 * Receives the next view (a reference the caller must drop). Returns 0, SL_EAGAIN (w armed;
 * fires on the next publication, loss or end), SL_ELOST (fell behind: re-subscribe), SL_EEOF
 * (the coordinator stopped and every view was received) or SL_ECLOSED (not subscribed, or the
 * coordinator was freed).
 */
int sl_coord_sub_recv(struct sl_coord_sub *s, struct sl_waiter *w, struct sl_coord_view **out);

/* Unsubscribes s and drops its queued views. Safe on a detached or lost subscriber. */
void sl_coord_unsubscribe(struct sl_coord_sub *s);

/* Counters for shardctl. */
struct sl_coord_stats {
	uint64_t writes_applied;  /* writes given an epoch (apply errors included) */
	uint64_t apply_errors;	  /* applies that returned an error */
	uint64_t backpressured;	  /* try_write calls refused with SL_ENOSPC */
	uint64_t timeouts;	  /* writes that timed out waiting for queue space */
	uint64_t flushes;	  /* deltas frozen and handed to the flusher */
	uint64_t storage_flushes; /* storage flushes issued */
	uint64_t flush_errors;	  /* flush requests that failed */
	uint64_t flush_stalls;	  /* polls that stopped applying: max_frozen in flight */
	uint64_t views_published;
	uint64_t subscribers_lost;
	uint32_t frozen_in_flight;
	uint32_t queued; /* entries in all channel queues now */
};
/* Its members, for status and the counter sums (core/stats.h). */
extern const struct sl_stat_field sl_coord_stats_fields[];

void sl_coord_stats(const struct sl_coord *c, struct sl_coord_stats *out);

#endif
