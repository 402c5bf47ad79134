/* SPDX-License-Identifier: Apache-2.0 */
#include "core/trace.h"
#include "core/clock.h"

#include <string.h>

void sl_frame_stamp(uint8_t *p, size_t len, uint64_t wall_ns, uint64_t number)
{
	if (len < SL_FRAME_STAMP_LEN)
		return;
	memcpy(p, "SLFRAME1", 8);
	for (int i = 0; i < 8; i++) {
		p[8 + i] = (uint8_t)(wall_ns >> (56 - 8 * i));
		p[16 + i] = (uint8_t)(number >> (56 - 8 * i));
	}
}

int sl_frame_read_stamp(const uint8_t *p, size_t len, uint64_t *wall_ns, uint64_t *number)
{
	if (len < SL_FRAME_STAMP_LEN || memcmp(p, "SLFRAME1", 8) != 0)
		return 0;
	uint64_t w = 0, n = 0;
	for (int i = 0; i < 8; i++) {
		w = (w << 8) | p[8 + i];
		n = (n << 8) | p[16 + i];
	}
	*wall_ns = w;
	*number = n;
	return 1;
}

const char *sl_trace_stage_name(enum sl_trace_stage s)
{
	static const char *const names[SL_TRACE_STAGES] = {"relay_rx", "mirrored", "queued",
							   "sent"};
	return (unsigned)s < SL_TRACE_STAGES ? names[s] : "?";
}

void sl_trace_init(struct sl_trace *t, uint64_t sample)
{
	memset(t, 0, sizeof(*t));
	t->sample = sample;
}

size_t sl_trace_bucket(uint64_t ns)
{
	if (ns < 8)
		return (size_t)ns;
	unsigned e = 63u - (unsigned)__builtin_clzll(ns); /* >= 3 */
	size_t i = (size_t)(e - 2) * 8 + (size_t)((ns >> (e - 3)) & 7);
	return i < SL_TRACE_BUCKETS ? i : SL_TRACE_BUCKETS - 1;
}

uint64_t sl_trace_bucket_low(size_t i)
{
	if (i < 8)
		return i;
	unsigned e = (unsigned)(i / 8) + 2;
	return (UINT64_C(1) << e) | ((uint64_t)(i % 8) << (e - 3));
}

void sl_trace_record(struct sl_trace *t, enum sl_trace_stage s, uint64_t ns)
{
	if ((unsigned)s >= SL_TRACE_STAGES)
		return;
	t->count[s]++;
	t->hist[s][sl_trace_bucket(ns)]++;
}

void sl_trace_frame_on(struct sl_trace *t, enum sl_trace_stage s, const uint8_t *p, size_t len)
{
	uint64_t sent, number;
	if (!sl_frame_read_stamp(p, len, &sent, &number) || number % t->sample != 0)
		return;
	uint64_t now = sl_clock_wall_ns();
	sl_trace_record(t, s, now > sent ? now - sent : 0);
	if (s == SL_TRACE_QUEUED && t->npending < SL_TRACE_PENDING)
		t->pending[t->npending++] = sent;
}

void sl_trace_sent_now(struct sl_trace *t)
{
	uint64_t now = sl_clock_wall_ns();
	for (uint32_t i = 0; i < t->npending; i++)
		sl_trace_record(t, SL_TRACE_SENT, now > t->pending[i] ? now - t->pending[i] : 0);
	t->npending = 0;
}

uint64_t sl_trace_quantile(const uint64_t *hist, uint64_t n, double q)
{
	if (n == 0)
		return 0;
	uint64_t want = (uint64_t)(q * (double)n);
	if (want >= n)
		want = n - 1;
	uint64_t seen = 0;
	for (size_t i = 0; i < SL_TRACE_BUCKETS; i++) {
		seen += hist[i];
		if (seen > want)
			return sl_trace_bucket_low(i);
	}
	return sl_trace_bucket_low(SL_TRACE_BUCKETS - 1);
}
