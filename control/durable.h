/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_DURABLE_H
#define SL_CONTROL_DURABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer/objstore.h"
#include "buffer/retgc.h"
#include "control/streams.h"
#include "drivers/metalog/local.h"
#include "durable/dcons.h"
#include "durable/recover.h"
#include "durable/starts.h"
#include "log/metalog.h"

/*
 * The daemon's start-up of the durable side, on the control core before the workers run
 * (docs/durable.md, "Start-up and recovery"):
 *
 *   1. the stream catalogue, DATA_DIR/streams.json;
 *   2. this start's number, DATA_DIR/BOOT (one more than the last; it names the batch objects
 *      written from now on and orders segment events across starts);
 *   3. the metadata event log in DATA_DIR/metalog: its local store cuts a torn tail, the engine
 *      loads every durable segment event, and recovery reads them all;
 *   4. (through an io lcore, sl_dctl_objects) every batch object under data/ is listed, the
 *      segment index is rebuilt and objects nothing references are deleted.
 *
 * The engine is then trimmed (workers keep their own index; the log's memory need not hold
 * history) and handed to the io lcore that serves it.
 */

/* The metadata event log's partition count, fixed for a data directory's life: a worker's
 * segment events go to partition (worker % this). */
#define SL_DCTL_META_PARTITIONS 16

struct sl_dctl {
	struct sl_catalog *catalog;
	uint64_t boot;
	struct sl_metalog *mlog;
	struct sl_metalog_local *mlocal;
	struct sl_drecovery *rec;
	struct sl_stream_set *streams; /* the catalogue's current snapshot */
	uint64_t events;
	/* Orphans left to the retention GC instead of deleted at start (an export queue may still
	 * list them: the GC asks its pins before deleting). */
	uint64_t orphans_deferred;
	struct sl_drecovery_stats rec_stats;
	uint64_t recover_ns;			   /* how long steps 1-4 took */
	int64_t meta_end[SL_DCTL_META_PARTITIONS]; /* per log partition: after its last event */
	/* Named consumers' states (step 5), for the workers; freed by sl_dctl_close. */
	struct sl_dcons_entry *consumers;
	uint32_t nconsumers;
	uint64_t consumers_deleted; /* objects of deleted streams removed at start */
};

/*
 * Steps 1-3; segment_bytes is the metadata log's segment file size (metalog_segment_bytes, 0
 * for the driver's default). On failure err names the file and what is wrong (a corrupt
 * catalogue or log stops the start: nothing acknowledged is ever dropped silently). Returns 0,
 * SL_ECORRUPT, SL_EIO, SL_ENOMEM.
 */
int sl_dctl_open(struct sl_dctl *d, const char *data_dir, uint64_t segment_bytes, char *err,
		 size_t errlen);

/*
 * Step 4, through client (an objstore proxy to an io lcore, or any store holding the objects).
 * Returns 0 or the store's error with err saying which step failed.
 */
int sl_dctl_objects(struct sl_dctl *d, struct sl_objstore *client, char *err, size_t errlen);

/*
 * Step 5, through client: every named consumer's state under consumers/ is read (one small
 * object per stream, name and partition); objects of streams no longer in the catalogue are
 * deleted, and an object that does not decode stops the start (err names it). Returns 0 or an
 * SL_E* code.
 */
int sl_dctl_consumers(struct sl_dctl *d, struct sl_objstore *client, char *err, size_t errlen);

/*
 * The retention GC for io lcore 0 (buffer/retgc.h), over store (that io core's own; only the io
 * core polls it), filled from the recovery after step 4: every object a segment references is
 * live, with its event's position in the metadata log. Call while d->rec is still held (the
 * workers having taken their segments or not). *starts gets the retained starts table over
 * the same store, seeded with every partition's start; the GC deletes nothing (the start-up's
 * orphans included) before the table is durable. Returns 0 or the engine's error.
 */
int sl_dctl_gc(struct sl_dctl *d, struct sl_objstore *store, uint64_t grace_ns,
	       struct sl_retgc **out, struct sl_dstarts **starts);

/* Replaces d->streams with a new snapshot of the catalogue. Returns 0 or SL_ENOMEM. */
int sl_dctl_snapshot(struct sl_dctl *d);

/* Frees what d still holds (the recovery, the catalogue, the snapshot, and the log unless it
 * was handed to an io lcore: set mlog and mlocal to NULL then). */
void sl_dctl_close(struct sl_dctl *d);

/* Reads DATA_DIR/BOOT, writes it back one higher (durably), and returns the new value in
 * *boot. Exposed for tests. Returns 0 or SL_EIO / SL_ECORRUPT with err set. */
int sl_dctl_next_boot(const char *data_dir, uint64_t *boot, char *err, size_t errlen);

#endif
