/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_DURABLE_DCONS_H
#define SL_DURABLE_DCONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer/objstore.h"
#include "core/buf.h"
#include "core/stats.h"
#include "log/proto.h"
#include "log/streamset.h"

/*
 * Named consumers' positions and epochs (docs/durable.md, "Named consumers"), kept by the
 * durable shard that owns each partition: one state per (stream, consumer name, partition),
 * stored as one small object in the object store,
 *
 *     consumers/<stream id>/<consumer name>/<partition>
 *
 * written with SL_OBJ_PUT_OVERWRITE (the local store writes a temporary file, syncs it, renames
 * it over the key and syncs the directory, on an io lcore through io_uring). Each state has at
 * most one put in flight; requests that arrive meanwhile are covered by the next put, which
 * carries the newest position: a busy consumer's commits are batched that way, and an answer
 * is sent only once a put holding its position (or a later one) is durable.
 *
 * Objects rather than the metadata event log: that log is trimmed below the oldest live
 * segment, and a consumer that commits rarely would lose its position to trimming unless every
 * commit were re-appended forever; an object per position is overwritten in place, costs no
 * trimming rule, and is deleted with its stream.
 *
 * A CLAIM (a SUBSCRIBE_NAMED or an ASSIGN adding a partition to a named subscription) raises
 * the state's epoch by one and answers, once durable, with the new epoch and where to start. A
 * COMMIT carries the epoch of the subscription that sends it; it is refused with FENCED when a
 * newer claim raised the epoch since. Fetches of a named subscription carry (id, epoch) too and
 * are refused the same way (sl_dcons_fenced), which is how an older subscription learns it was
 * fenced.
 *
 * Sans-IO and single-core, like the shard: the store is polled by the shard, and requests
 * complete through their done callback from inside a store completion or a call below.
 */
struct sl_dcons;

/* The object body: "SLCN", version 1, then varints epoch and committed_plus_one (0: nothing
 * committed). Nothing may follow. */
#define SL_DCONS_MAGIC	 "SLCN"
#define SL_DCONS_VERSION 1
#define SL_DCONS_PREFIX	 "consumers/"

enum sl_dcons_op {
	SL_DCONS_CLAIM = 1,
	SL_DCONS_COMMIT = 2,
};

/* How a claimed partition starts (out of a CLAIM). */
enum sl_dcons_start {
	SL_DCONS_FROM_EARLIEST = 1, /* nothing committed, fallback earliest */
	SL_DCONS_FROM_LATEST = 2,   /* nothing committed, fallback latest */
	SL_DCONS_FROM_OFFSET = 3,   /* the committed position, clamped into [start, high water] */
};

/*
 * One request, embedded after a struct sl_dreq by the shard's caller (struct sl_dconsumer in
 * dshard.h). name is a valid stream-style name, NUL-terminated.
 */
struct sl_dcons_req {
	uint8_t op;	  /* enum sl_dcons_op */
	uint8_t fallback; /* CLAIM: SL_LP_START_COMMITTED_OR_EARLIEST or _OR_LATEST */
	uint64_t epoch;	  /* COMMIT: the subscription's; CLAIM out: the new one */
	uint64_t offset;  /* COMMIT: the position to store; CLAIM out: where to start */
	uint8_t from;	  /* CLAIM out: enum sl_dcons_start */
	uint64_t id;	  /* CLAIM out: the state's id, for sl_dcons_fenced */
	bool had_commit;  /* CLAIM out: a position was committed before */
	char name[SL_STREAM_NAME_MAX + 1];
	/* Private. */
	struct sl_dcons_req *next;
	void *state;
};

/* Where the shard's answers go: code is 0 or an enum sl_lp_code, detail FENCED's newer epoch. */
typedef void (*sl_dcons_done_fn)(void *arg, struct sl_dcons_req *q, int code, int err,
				 uint64_t detail);

/* Returns a table writing through store (the shard's), or NULL (no memory). */
struct sl_dcons *sl_dcons_new(struct sl_objstore *store, sl_dcons_done_fn done, void *arg);

/* Frees the table; requests waiting complete with SHUTTING_DOWN. A put still in flight keeps
 * its state alive until it completes (the store must complete it or be destroyed after). */
void sl_dcons_free(struct sl_dcons *c);

/* A state recovered at start-up (sl_dcons_decode of one object). */
struct sl_dcons_entry {
	uint64_t stream_id;
	uint32_t partition;
	char name[SL_STREAM_NAME_MAX + 1];
	uint64_t epoch;
	bool committed;
	uint64_t offset;
};

/* Adds a recovered state. Returns 0, SL_EDUP (already there), SL_ENOMEM. */
int sl_dcons_load(struct sl_dcons *c, const struct sl_dcons_entry *e);

/*
 * Serves q for partition (stream_id, partition) whose marks are m (the shard checked that it
 * owns it). CLAIM: raises the epoch and answers once the put is durable. COMMIT: refused with
 * FENCED (an older epoch), INVALID (no claim of that name, or an offset above the high water
 * mark); else answered once a put holding it is durable (STORAGE_FAILED if it failed).
 */
void sl_dcons_submit(struct sl_dcons *c, uint64_t stream_id, uint32_t partition,
		     const struct sl_lp_marks *m, struct sl_dcons_req *q);

/* Whether the last sl_dcons_submit was a claim that raised an epoch: true with the state's id
 * and the new epoch (q itself may be answered, and freed, by then). */
bool sl_dcons_last_claim(const struct sl_dcons *c, uint64_t *id, uint64_t *epoch);

/* Whether a fetch of consumer state id at epoch is fenced: true with *newer the epoch that
 * fenced it. A state that no longer exists (its stream was deleted) does not fence. */
bool sl_dcons_fenced(const struct sl_dcons *c, uint64_t stream_id, uint32_t partition, uint64_t id,
		     uint64_t epoch, uint64_t *newer);

/* Drops the states of streams not in set and deletes their objects. */
void sl_dcons_set_streams(struct sl_dcons *c, const struct sl_stream_set *set);

/* Deletes the states of consumer name of stream_id (all partitions this shard has); returns
 * how many. Requests waiting on them answer INVALID. */
uint32_t sl_dcons_delete(struct sl_dcons *c, uint64_t stream_id, const char *name);

/* Retries what the store could not take; returns whether work is left. */
bool sl_dcons_poll(struct sl_dcons *c);

/* Whether puts or deletes are in flight or waiting. */
bool sl_dcons_busy(const struct sl_dcons *c);

/* One state, for `shardctl stream describe`. */
struct sl_dcons_info {
	char name[SL_STREAM_NAME_MAX + 1];
	uint32_t partition;
	uint64_t epoch;
	bool committed;
	uint64_t offset; /* durable committed position, when committed */
};

/* Fills up to cap states of stream_id; returns how many there are (may exceed cap). */
uint32_t sl_dcons_describe(const struct sl_dcons *c, uint64_t stream_id, struct sl_dcons_info *out,
			   uint32_t cap);

/* The object key of a state: returns 0 or SL_ERANGE (does not fit in n bytes). */
int sl_dcons_key(char *out, size_t n, uint64_t stream_id, const char *name, uint32_t partition);
/* Parses a key made by sl_dcons_key. Returns 0 or SL_EINVAL. */
int sl_dcons_parse_key(const char *key, struct sl_dcons_entry *e);
/* Encodes / decodes an object body (epoch, committed, offset of e). Decode returns 0,
 * SL_ECORRUPT (bad magic, version, trailing bytes), SL_ETRUNC. */
size_t sl_dcons_encode(uint8_t *out, size_t n, const struct sl_dcons_entry *e);
int sl_dcons_decode(const uint8_t *p, size_t n, struct sl_dcons_entry *e);

/* Consumer names: the stream-name rule, and no leading ".sl-" (reserved by object stores). */
bool sl_dcons_name_valid(const char *name, size_t n);

struct sl_dcons_stats {
	uint64_t consumers; /* states held now (per partition) */
	uint64_t claims, commits, commits_refused_fenced, fetches_fenced;
	uint64_t consumer_writes, consumer_write_errors;
};
extern const struct sl_stat_field sl_dcons_stats_fields[];

void sl_dcons_stats(const struct sl_dcons *c, struct sl_dcons_stats *out);

#endif
