/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CORE_TRACE_H
#define SL_CORE_TRACE_H

/*
 * Where a frame's time goes inside the relay, for `shardline-bench fanout --breakdown`.
 *
 * Benchmark frames carry their publisher's wall-clock send time (the stamp below). A worker
 * samples one stamped frame in `sample` (by frame number) and, at each stage it passes, adds
 * the time since the publisher sent it to that stage's histogram: the benchmark's own
 * publisher and subscribers supply the two ends. Nothing is kept per frame, so tracing costs
 * one 8-byte compare per frame when on and nothing when off (sample 0). Stages:
 *
 *   relay_rx   the publisher's worker took the frame off its QUIC stream into the track
 *   mirrored   another worker took it off the cross-worker ring into its mirror of the track
 *   queued     a subscriber's worker queued it on the subscriber's group stream
 *   sent       that worker's flush after queueing it returned (encrypted, handed to the driver;
 *              a connection held back by congestion sends it later than this says)
 *
 * One per worker, owned by its core.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Synthetic frames carry their send time so every subscriber can measure latency:
 * bytes 0-7 "SLFRAME1", 8-15 wall-clock send time in ns (big endian), 16-23 frame number.
 * The rest is filler. Frames shorter than SL_FRAME_STAMP_LEN carry no stamp.
 */
#define SL_FRAME_STAMP_LEN 24

void sl_frame_stamp(uint8_t *p, size_t len, uint64_t wall_ns, uint64_t number);
/* Returns 1 and the stamp if p holds one, else 0. */
int sl_frame_read_stamp(const uint8_t *p, size_t len, uint64_t *wall_ns, uint64_t *number);

enum sl_trace_stage {
	SL_TRACE_RELAY_RX,
	SL_TRACE_MIRRORED,
	SL_TRACE_QUEUED,
	SL_TRACE_SENT,
	SL_TRACE_STAGES,
};

/* The JSON name of a stage ("relay_rx"), or "?" out of range. */
const char *sl_trace_stage_name(enum sl_trace_stage s);

/* Log-linear buckets: exact below 8 ns, then 8 per power of two (12.5 % wide) up to 2^40 ns. */
#define SL_TRACE_BUCKETS 320
/* Sampled frames queued in one loop pass whose "sent" is recorded after the pass's flush. */
#define SL_TRACE_PENDING 64

struct sl_trace {
	uint64_t sample; /* trace frames whose number is a multiple of this; 0: off */
	uint64_t count[SL_TRACE_STAGES];
	uint64_t hist[SL_TRACE_STAGES][SL_TRACE_BUCKETS];
	uint64_t pending[SL_TRACE_PENDING];
	uint32_t npending;
};

void sl_trace_init(struct sl_trace *t, uint64_t sample);

size_t sl_trace_bucket(uint64_t ns);
/* The smallest value bucket i holds. */
uint64_t sl_trace_bucket_low(size_t i);

/* Adds one observation (ns since the send) to a stage. */
void sl_trace_record(struct sl_trace *t, enum sl_trace_stage s, uint64_t ns);

/* sl_trace_frame's work once tracing is on; see there. */
void sl_trace_frame_on(struct sl_trace *t, enum sl_trace_stage s, const uint8_t *p, size_t len);
void sl_trace_sent_now(struct sl_trace *t);

/*
 * A frame passes a stage: if tracing is on and the frame carries a sampled stamp, records the
 * time since its send at that stage. A queued frame is also remembered until sl_trace_sent.
 * t may be NULL (no tracing). Inline, so that with tracing off a frame costs one load.
 */
static inline void sl_trace_frame(struct sl_trace *t, enum sl_trace_stage s, const uint8_t *p,
				  size_t len)
{
	if (t != NULL && t->sample != 0)
		sl_trace_frame_on(t, s, p, len);
}

/* The loop's flush returned: the frames queued since the last call count as sent now. */
static inline void sl_trace_sent(struct sl_trace *t)
{
	if (t->npending != 0)
		sl_trace_sent_now(t);
}

/* The q-quantile (0..1) of a histogram of n observations: the low end of its bucket; 0 if
 * empty. */
uint64_t sl_trace_quantile(const uint64_t *hist, uint64_t n, double q);

#endif
