/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_PROM_H
#define SL_CONTROL_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/admin.h"
#include "control/iocore.h"
#include "core/stats.h"
#include "core/trace.h"
#include "durable/recover.h"
#include "shard/worker.h"

/*
 * The Prometheus text exposition (format 0.0.4) of what `shardctl status` shows, for the TCP
 * listener's GET /metrics. Sans-IO: the caller collects the snapshots (as cmd_status does) and
 * gets text back.
 *
 * It walks the counter tables (core/stats.h), not the status JSON. The tables say what JSON
 * cannot: which rows are gauges (SL_STAT_F_GAUGE), which are second views of another row
 * (aliases, left out here so no series is exported twice), which are hidden, and which
 * objects are per-message-type arrays; and a row added to a table reaches /metrics with no
 * change here, which the unit test checks for every row.
 *
 * Names: "shardline_" + the row's sub-object path with '.' turned into '_' + its key, so
 * worker.quic.tx_datagrams is shardline_quic_tx_datagrams and io.metalog.log_published is
 * shardline_io_metalog_log_published (io lcore families carry "io_" so that a worker's and an
 * io lcore's "loops" are different families). Characters outside [a-zA-Z0-9_] become '_'.
 * Names keep the status keys as they are, without the "_total" suffix Prometheus suggests for
 * counters, so that one word finds a counter in both; format 0.0.4 does not require it.
 *
 * Labels: worker="N" on worker families, io="N" on io lcore families (the id rows become the
 * label and are not series themselves); per-message-type arrays (moq msgs_in, msgs_out) get
 * type="subscribe_ok" and so on. Types: SL_STAT_F_GAUGE rows, booleans and flags are gauges;
 * the other rows are counters. HELP says where the value sits in `shardctl status --json`.
 *
 * Sub-objects that `shardctl status` shows only when in use (a worker's "durable", an io
 * lcore's "metalog") are always exported, as zeros when unused: a series that comes and goes
 * with configuration breaks rate() and alerts for no gain.
 *
 * Latency: shardline_publish_to_deliver_seconds{worker, stage} is a histogram of the trace
 * (core/trace.h, `--trace-sample`): for sampled stamped frames, the time from the publisher's
 * send stamp to each stage the frame passed in the relay; stage="sent" is the delivery end.
 * Its log-linear nanosecond buckets are merged to one per power of two, le from 2^10 ns
 * (1.024 us) to 2^34 ns (17.2 s), then +Inf. A trace bucket holds values below its upper
 * bound, so each le counts the observations below it (Prometheus says "at most"; for whole
 * nanoseconds the two differ only at exactly le). There is no _sum: the trace keeps counts
 * only, and a sum made up from bucket midpoints would be a number nobody measured.
 */

/* Text being built; every function appends. An allocation failure is remembered in err and
 * makes later appends no-ops, so a renderer checks once at the end. */
struct sl_prom_buf {
	char *data; /* NUL-terminated while err is 0 */
	size_t len, cap;
	int err; /* 0 or SL_ENOMEM */
};

void sl_prom_buf_init(struct sl_prom_buf *b);
void sl_prom_buf_free(struct sl_prom_buf *b);

/*
 * Counter structs of one kind, one per core, rendered family by family (a family's samples are
 * contiguous, as the format requires).
 */
struct sl_prom_set {
	const char *prefix;    /* of every family name: "shardline_", "shardline_io_" */
	const char *label;     /* the per-core label: "worker", "io" */
	const char *help_path; /* where the objects sit in the status JSON: "workers[]" */
	const struct sl_stat_field *table;
	const char *id_key;	   /* the top-level row holding the label's value */
	const char *const *gauges; /* top-level keys that are gauges though their rows do not say
				      so (an lcore number is not a running total); NULL-ended */
	const void *const *objs;   /* the structs */
	size_t n;
};

/* Appends the families of a set. Returns 0, SL_EINVAL (no id_key row), SL_ERANGE (a name
 * longer than 159 bytes), SL_ENOMEM. */
int sl_prom_render_set(struct sl_prom_buf *b, const struct sl_prom_set *s);

/* The set descriptions of workers and io lcores (objs and n left for the caller to fill). */
extern const struct sl_prom_set sl_prom_worker_set;
extern const struct sl_prom_set sl_prom_iocore_set;

/* The admin server's counters (struct sl_admin_stats), rendered as shardline_admin_*. */
extern const struct sl_stat_field sl_prom_admin_fields[];

/* Appends shardline_publish_to_deliver_seconds and shardline_trace_sample for the traces of
 * n workers (ids[i] is trace i's worker). Returns 0 or SL_ENOMEM. */
int sl_prom_render_trace(struct sl_prom_buf *b, const struct sl_trace *const *t,
			 const unsigned *ids, size_t n);

/* The le boundaries of the latency histogram, in ns (powers of two). */
#define SL_PROM_LE_MIN_LOG2 10
#define SL_PROM_LE_MAX_LOG2 34

/* Everything `shardctl status` has, as the daemon collects it for cmd_status. */
struct sl_prom_status {
	/* Snapshots of the workers and io lcores that answered. */
	const struct sl_worker_stats *const *workers;
	size_t nworkers;
	const struct sl_iocore_stats *const *io;
	size_t nio;
	/* Workers and io lcores that did not answer in time (status says "no answer within
	 * 1 s"): exported, so that a scrape missing a core is visible. */
	unsigned workers_unanswered, io_unanswered;
	const unsigned *shard_map_slots; /* per worker index (nslots of them); NULL: left out */
	size_t nslots;
	uint64_t uptime_s;
	const struct sl_admin_stats *admin;	   /* NULL: left out */
	const struct sl_drecovery_stats *recovery; /* NULL: no durable side */
	bool has_data_dir;			   /* free_bytes/total_bytes known */
	uint64_t data_dir_free_bytes, data_dir_total_bytes;
};

/* Appends the whole exposition. Returns 0, SL_ENOMEM. */
int sl_prom_render_status(struct sl_prom_buf *b, const struct sl_prom_status *st);

/* The content type of the text: "text/plain; version=0.0.4; charset=utf-8". */
#define SL_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- pieces, for values the tables do not describe ---- */

/* "# HELP name help" and "# TYPE name type" (type: "counter", "gauge", "histogram"). */
void sl_prom_family(struct sl_prom_buf *b, const char *name, const char *type, const char *help);

/* One sample: name{labels} value. labels is NULL or NULL-ended name, value pairs; values are
 * escaped. */
void sl_prom_sample(struct sl_prom_buf *b, const char *name, const char *const *labels,
		    uint64_t value);

/* Appends printf-style text. */
void sl_prom_printf(struct sl_prom_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
