/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_DURABLE_DSHARD_H
#define SL_DURABLE_DSHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer/batch.h"
#include "buffer/objstore.h"
#include "core/buf.h"
#include "core/wait.h"
#include "durable/dcons.h"
#include "durable/recover.h"
#include "durable/segment.h"
#include "log/coordinator.h"
#include "log/metalog.h"
#include "log/partition.h"
#include "log/proto.h"
#include "log/streamset.h"
#include "core/stats.h"

/*
 * The durable shard: what one worker runs for the partitions it owns (DESIGN.md, "How the
 * engines compose", durable path). It composes the engines of log/ and buffer/:
 *
 *   PRODUCE -> the write coordinator assigns offsets and applies the records to the partition
 *   store (applied) -> a flush (size, interval, or at once when a producer waits for written or
 *   durable and fewer than max_flushes are in flight: group commit) encodes the frozen delta
 *   as one batch object, one shardline batch per partition range, and at the same time
 *   publishes one segment event naming it -> the object store's put completes (written) -> the
 *   event is durable in the metadata event log (durable) -> acknowledgements.
 *
 *   FETCH -> records from the partition store's memory tail, or from the batch object the
 *   partition's segment index names (read through the object store), or, when the reader is
 *   caught up, parked until records arrive or park_ns passes.
 *
 * The object write and the event are issued together so a durable acknowledgement costs one
 * sync of each, side by side, not one after the other; a crash between them leaves an event
 * whose object is missing, which recovery voids (recover.h). A record is durable only when both
 * completed and every earlier flush is durable.
 *
 * Sans-IO and single-core: the object store is any struct sl_objstore (a ring proxy to an io
 * lcore in the daemon, the memory store in tests), the metadata log is reached through struct
 * sl_dindex_ops, time comes in as now_ns. Every request completes exactly once through its
 * done callback, from inside a dshard call (possibly the one that submitted it).
 */
struct sl_dshard;

/* ---- the metadata event log, as the shard sees it ---- */

/*
 * One segment event on its way to the metadata event log. The shard fills meta_partition and
 * payload and calls ops->publish; whoever serves it (the io lcore owning the log) publishes it
 * and hands the struct back, with status set, to sl_dshard_index_done on the shard's core.
 * The metalog fields are scratch space for the server so it needs no allocation per event.
 */
struct sl_dseg_pub {
	int32_t meta_partition;
	struct sl_buf *payload; /* one reference: the server releases it */
	int status;		/* SL_EAGAIN in flight; 0 durable; else why not */
	int64_t meta_offset;	/* the event's offset in the log, when status is 0 */
	uint16_t worker;	/* the shard it came from, for routing the answer */
	void *shard_ctx;	/* the shard's own (its flush) */
	/* The object the event names (alive until the pub is back): whoever serves the pub
	 * learns of a new live object here (the retention GC, buffer/retgc.h). */
	const char *obj_key;
	uint64_t obj_size;
	/* Scratch space for the server. */
	struct sl_metalog_pub mpub;
	struct sl_waiter waiter;
	void *server;
	struct sl_dseg_pub *next;
};

struct sl_dindex_ops {
	/* Publishes pub; it comes back through sl_dshard_index_done. Returns 0, or an error
	 * (then pub stays the caller's and the flush fails with it). */
	int (*publish)(void *arg, struct sl_dseg_pub *pub);
	/*
	 * The last reference to an object went (retention dropped its last segment, a stream was
	 * deleted, a flush failed): o is handed over, to be deleted after the GC's grace period
	 * and freed with sl_dobj_free. Returns 0, or SL_ENOSPC (o stays the shard's; it asks
	 * again from its poll). NULL: the shard deletes the object itself, at once.
	 */
	int (*release)(void *arg, struct sl_dobj *o);
	/* Optional: a flush with ranges of --export streams became durable. ev is a segment event
	 * (segment.h bytes, one reference) holding only those ranges, for the export queue
	 * (durable/export.h). Returns 0 (the reference was taken), or an error (ev stays the
	 * caller's: the shard offers it again from its next poll, keeping the order). */
	int (*exported)(void *arg, struct sl_buf *ev);
	/*
	 * Optional: retention moved a partition's retained start up to start. Called before the
	 * release of any object the move frees, so whoever deletes objects can make the start
	 * durable first (durable/starts.h says why). Returns 0, or an error: then nothing is
	 * dropped and retention tries again at its next run.
	 */
	int (*start)(void *arg, uint32_t stream_id, uint32_t partition, uint64_t start);
};

/* ---- requests ---- */

enum sl_dreq_kind {
	SL_DREQ_PRODUCE = 1,
	SL_DREQ_FETCH = 2,
	SL_DREQ_MARKS = 3,
	SL_DREQ_CONSUMER = 4, /* struct sl_dconsumer: a named consumer's claim or commit */
};

/*
 * What every request starts with. code is 0 or an enum sl_lp_code, and err the SL_E* cause
 * when there is one (a storage failure's). done runs once on the core that completed the
 * request (the owner's); the daemon's routing sends it back to origin there.
 */
struct sl_dreq {
	uint8_t kind;
	uint16_t origin;
	uint32_t partition;
	uint64_t stream_id;
	int code;
	int err;
	uint64_t detail;
	void (*done)(struct sl_dreq *r);
	void *user;
	/* Free for the routing layer that carries requests between cores. */
	struct sl_dreq *next;
	void (*route_done)(struct sl_dreq *r);
	void *route_ctx;
};

/*
 * A PRODUCE of count records to one partition. recs[i] each hold one buffer reference; when
 * the records are applied (code 0, or any error after records_taken was set) the store owns
 * them and the caller must only free the array; otherwise they are still the caller's.
 */
struct sl_dproduce {
	struct sl_dreq h;
	uint8_t durability; /* enum sl_lp_durability */
	uint32_t count;
	struct sl_slice *recs;
	bool records_taken;    /* set once the store took the references */
	uint64_t first_offset; /* out, when applied */
	/* Idempotent producers (PRODUCE_IDEM): the producer's id and the sequence number of the
	 * first record in its numbering of this partition. A request whose records the partition
	 * already holds appends nothing and completes with code 0, duplicate set and the
	 * original first_offset; a sequence past the next expected one completes with
	 * OUT_OF_ORDER_SEQUENCE, detail the expected sequence. */
	bool idempotent;
	uint64_t producer_id, sequence;
	bool duplicate; /* out */
	/* Private. */
	bool idem_tracked; /* an entry of the producer table waits for this write */
	struct sl_pstore_append app;
	struct sl_coord_waiter wait;
	struct sl_dshard *ds;
};

/* Where a fetch starts: the first fetch of a subscription may name a position, later ones an
 * offset. */
enum sl_dfetch_from {
	SL_DFETCH_OFFSET = 0,	/* carry on at offset (it was resolved before) */
	SL_DFETCH_EARLIEST = 1, /* the oldest retained offset */
	SL_DFETCH_LATEST = 2,	/* the next offset to be written */
	/* An explicit start: offset must lie in [start, high water], else the answer is
	 * OFFSET_OUT_OF_RANGE (a later fetch past the high water mark waits instead). */
	SL_DFETCH_START_AT = 3,
};

/*
 * Reads records of one partition from offset on. Answered with records [first, first + count)
 * (count may be 0 when nothing arrived within park_ns), at most max_bytes of payload (but at
 * least one record) and never past what isolation allows. recs is allocated by the shard and
 * holds one buffer reference per record: release everything with sl_dfetch_release.
 */
/* Segments one fetch reads from the object store at once. Durable producers with few
 * requests in flight make small segments (a few records each); reading several per fetch keeps
 * a backlog read from paying one io round trip per segment. */
#define SL_DFETCH_GETS 8

struct sl_dfetch {
	struct sl_dreq h;
	uint8_t isolation; /* enum sl_lp_isolation */
	uint8_t from;	   /* enum sl_dfetch_from; set to SL_DFETCH_OFFSET once resolved */
	uint64_t offset;   /* in: where to read (SL_DFETCH_OFFSET) */
	uint64_t max_bytes;
	uint64_t park_ns; /* 0: answer at once even when empty */
	/* A named subscription's claim (dcons.h): a fetch whose claim a newer one overtook is
	 * answered FENCED (detail: the newer epoch). cons_id 0: no consumer. */
	uint64_t cons_id, cons_epoch;
	/* Out. */
	uint64_t first;
	uint32_t count;
	struct sl_slice *recs;
	uint64_t bytes;
	struct sl_lp_marks marks; /* the partition's marks when answered */
	/* Private. */
	struct sl_dshard *ds;
	void *part;
	struct sl_dfetch *pnext, **ppprev; /* the partition's parked list */
	struct sl_dfetch *tnext, **tpprev; /* the shard's timeout list */
	uint64_t deadline;
	/* Reads of consecutive segments in flight for this fetch, answered together. */
	struct sl_obj_req gets[SL_DFETCH_GETS];
	void *seg_objs[SL_DFETCH_GETS];
	uint64_t seg_firsts[SL_DFETCH_GETS], seg_counts[SL_DFETCH_GETS];
	struct sl_batch batches[SL_DFETCH_GETS];
	uint32_t ngets, gets_left;
	int get_err;
	uint64_t trunc_gen; /* the partition's index generation when the reads went out */
};

void sl_dfetch_release(struct sl_dfetch *f);

/* Marks of n partitions of one stream (parts given, marks filled). code is set when any
 * partition is unknown. */
struct sl_dmarks {
	struct sl_dreq h;
	uint32_t n;
	const uint32_t *parts;
	struct sl_lp_marks *marks;
};

/* A named consumer's claim of a partition or commit of a position in it (durable/dcons.h). */
struct sl_dconsumer {
	struct sl_dreq h;
	struct sl_dcons_req q;
};

/* ---- configuration ---- */

/* How often a shard applies its streams' retention (dshard.c, retention_run): retention is
 * measured in seconds and bytes of whole segments, so once a second is precise enough and
 * costs nothing on the request path. */
#define SL_DSHARD_RETENTION_NS (1000ull * 1000 * 1000)

struct sl_dshard_config {
	uint16_t worker;
	uint64_t boot; /* this start's number: names objects and orders segment events */
	/* Wall-clock minus monotonic time (ns): segments record when they were made, in wall
	 * time, for retention by age; the shard itself only ever sees now_ns. */
	int64_t wall_offset_ns;
	/* Ownership: owners[slot] is the worker owning a shard-map slot (nslots, a power of
	 * two); a partition's slot is sl_stream_partition_slot(name, partition, nslots). NULL:
	 * this shard owns every partition (tests, tools). */
	const uint16_t *owners;
	uint32_t nslots;
	uint32_t max_partitions;    /* partitions owned at once; default 4096 */
	uint64_t mem_budget;	    /* flushed record bytes kept in memory; default 256 MiB */
	uint64_t flush_bytes;	    /* a delta this large is flushed; default 4 MiB */
	uint64_t flush_interval_ns; /* a delta this old is flushed; default 100 ms */
	uint32_t max_flushes;	    /* flushes in flight (frozen deltas); default 2 */
	uint32_t queue_capacity;    /* produce requests queued before OVERLOADED; default 8192 */
	uint64_t fetch_bytes;	    /* default max_bytes of a fetch; 1 MiB */
	uint64_t overload_retry_ms; /* OVERLOADED's detail: how long producers back off; 5 */
	uint32_t max_producers;	    /* idempotent producers per partition (log_max_producers); 64 */
	uint32_t meta_partitions;   /* the metadata log's partition count; default 16 */
	bool zstd;		    /* compress batches (default false) */
	struct sl_objstore *store;  /* required; the shard polls it */
	const struct sl_dindex_ops *index;
	void *index_arg;
};

void sl_dshard_config_default(struct sl_dshard_config *cfg);

/*
 * Creates a shard serving the partitions of streams that it owns, each continuing from what
 * rec recovered (NULL: everything starts empty); it takes the recovered segments of the
 * partitions it owns out of rec. Takes a reference on streams. Returns 0, SL_EINVAL (bad
 * config), SL_ENOSPC (more owned partitions than max_partitions), SL_ENOMEM.
 */
int sl_dshard_new(const struct sl_dshard_config *cfg, struct sl_stream_set *streams,
		  struct sl_drecovery *rec, uint64_t now_ns, struct sl_dshard **out);

/*
 * Frees the shard. Requests still held complete with SHUTTING_DOWN; in-flight object requests
 * must have completed (stop first) or the store must be destroyed after this. NULL is ignored.
 */
void sl_dshard_free(struct sl_dshard *ds);

/*
 * Takes over a new stream set (a reference is taken): partitions of new streams that this
 * shard owns start empty; partitions of streams no longer in the set are dropped (their
 * waiting fetches complete with UNKNOWN_STREAM and their objects are deleted once no segment
 * references them). Returns 0, SL_ENOSPC (some new partitions could not be placed: they answer
 * INTERNAL), SL_ENOMEM.
 */
int sl_dshard_set_streams(struct sl_dshard *ds, struct sl_stream_set *streams, uint64_t now_ns);

/* Submits a request; it completes through r->done exactly once, maybe from inside this call. */
void sl_dshard_submit(struct sl_dshard *ds, struct sl_dreq *r, uint64_t now_ns);

/* The metadata log's answer for a pub this shard published. */
void sl_dshard_index_done(struct sl_dshard *ds, struct sl_dseg_pub *pub, uint64_t now_ns);

/*
 * Does the shard's work: polls the object store, the coordinator, expires parked fetches,
 * rebuilds the write path after a storage failure. Returns the time by which it wants to be
 * polled again (now_ns when work is left, UINT64_MAX when only an external event matters).
 */
uint64_t sl_dshard_poll(struct sl_dshard *ds, uint64_t now_ns);

/* Whether partition p of stream is owned by this shard (by the ownership map). */
bool sl_dshard_owns(const struct sl_dshard *ds, const char *stream, uint32_t partition);

/*
 * Stops taking writes (PRODUCE answers SHUTTING_DOWN), flushes what was applied and waits for
 * it to be durable. Returns 0 when done, SL_EAGAIN while flushes are in flight (keep polling
 * and delivering index answers), or the storage error that stopped it.
 */
int sl_dshard_stop(struct sl_dshard *ds, uint64_t now_ns);

/* One partition as `shardctl stream describe` shows it. */
struct sl_dpart_info {
	uint32_t partition;
	uint64_t start, next, durable;
	uint64_t mem_records, mem_bytes;
	uint64_t objects, object_bytes;
};

/* Fills up to cap entries for the partitions of stream_id this shard owns, in partition order;
 * returns how many it has (may exceed cap). */
uint32_t sl_dshard_describe(const struct sl_dshard *ds, uint64_t stream_id,
			    struct sl_dpart_info *out, uint32_t cap);

/* Takes a recovered consumer state if this shard owns its partition (else ignores it).
 * Returns 0, SL_ENOMEM. */
int sl_dshard_load_consumer(struct sl_dshard *ds, const struct sl_dcons_entry *e);

/* The consumer states of stream_id held by this shard (see sl_dcons_describe). */
uint32_t sl_dshard_consumers(const struct sl_dshard *ds, uint64_t stream_id,
			     struct sl_dcons_info *out, uint32_t cap);

/* Deletes consumer name of stream_id in the partitions this shard owns; returns how many
 * partition states it had. */
uint32_t sl_dshard_delete_consumer(struct sl_dshard *ds, uint64_t stream_id, const char *name);

struct sl_dshard_stats {
	uint64_t partitions;
	uint64_t produce_requests, produce_records, produce_bytes;
	uint64_t produce_errors, produce_overloaded;
	uint64_t fetches, fetch_records, fetch_bytes, fetches_parked, fetches_from_objects;
	uint64_t fetch_errors;
	uint64_t flushes, flush_bytes, flush_errors, objects_written, objects_deleted;
	uint64_t events_published, events_failed;
	uint64_t rebuilds; /* write paths rebuilt after a storage failure */
	/* Idempotent producers: retries answered without appending, requests refused for a
	 * sequence gap, producers forgotten to make room (least recently used first). */
	uint64_t produce_duplicates, produce_out_of_order, producers_evicted;
	uint64_t object_read_errors;
	/* Retention: segments dropped from the index, their records and object bytes. */
	uint64_t segments_expired, records_expired, bytes_expired;
	uint64_t objects_released; /* handed to the GC (sl_dindex_ops.release) */
	uint64_t exports;	   /* durable flushes handed to the export queue */
	uint64_t export_failed;	   /* not handed over (out of memory) */
	uint32_t flushes_in_flight;
	struct sl_pstore_stats pstore;
	struct sl_coord_stats coord;
	struct sl_dcons_stats cons;
};
/* Its members, for status and the counter sums (core/stats.h). */
extern const struct sl_stat_field sl_dshard_stats_fields[];

void sl_dshard_stats(const struct sl_dshard *ds, struct sl_dshard_stats *out);

/*
 * The shard is its worker's (core/owner.h): debug builds check that every call comes from the
 * thread that owns it. The worker's loop adopts it when it starts, since the control core built
 * it, and disowns it when it stops, so that the control core may free it.
 */
void sl_dshard_adopt(struct sl_dshard *ds);
void sl_dshard_disown(struct sl_dshard *ds);

#endif
