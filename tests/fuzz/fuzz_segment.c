/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for segment events (dataplane/durable/segment.h) and the recovery that consumes
 * them: decoding must never crash and must name the field of a failure; whatever decodes
 * re-encodes to an event that decodes to the same fields; and a recovery fed the decoded event
 * (twice, with an object listing derived from the input) rebuilds partitions that are
 * contiguous, start at or below their end, and whose segments sit inside their objects.
 */
#include "core/err.h"
#include "durable/recover.h"
#include "durable/segment.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sl_stream_set *streams;

static void same(const struct sl_seg_event *a, const struct sl_seg_event *b)
{
	CHECK(a->boot == b->boot && a->worker == b->worker && a->seq == b->seq);
	CHECK(a->wall_ms == b->wall_ms && a->object_size == b->object_size);
	CHECK(strcmp(a->key, b->key) == 0 && a->nranges == b->nranges);
	for (uint32_t i = 0; i < a->nranges; i++) {
		const struct sl_seg_range *x = &a->ranges[i], *y = &b->ranges[i];
		CHECK(x->stream_id == y->stream_id && x->partition == y->partition);
		CHECK(x->first == y->first && x->count == y->count && x->off == y->off);
		CHECK(x->len == y->len && x->bytes == y->bytes && x->nidem == y->nidem);
		uint64_t end = x->first;
		for (uint32_t k = 0; k < x->nidem; k++) {
			const struct sl_seg_idem *e = &x->idem[k], *f = &y->idem[k];
			CHECK(e->producer_id == f->producer_id && e->sequence == f->sequence);
			CHECK(e->offset == f->offset && e->count == f->count);
			/* Inside the range, in order, not overlapping. */
			CHECK(e->count > 0 && e->offset >= end);
			CHECK(e->offset + e->count <= x->first + x->count);
			end = e->offset + e->count;
		}
	}
}

static void recover(const uint8_t *data, size_t size, const struct sl_seg_event *ev)
{
	struct sl_drecovery *r;
	CHECK(sl_drecovery_new(streams, &r) == 0);
	/* The object is listed (or not, or shorter) as the input's last byte says. */
	uint8_t mode = size ? data[size - 1] % 3 : 0;
	if (mode != 0)
		CHECK(sl_drecovery_add_object(
			      r, ev->key, mode == 1 ? ev->object_size : ev->object_size / 2) == 0);
	CHECK(sl_drecovery_add_event(r, data, size, NULL) == 0);
	CHECK(sl_drecovery_add_event(r, data, size, NULL) == 0);
	CHECK(sl_drecovery_finish(r) == 0);
	for (uint32_t i = 0; i < ev->nranges; i++) {
		const struct sl_drec_part *p =
			sl_drecovery_find(r, ev->ranges[i].stream_id, ev->ranges[i].partition);
		if (p == NULL)
			continue;
		CHECK(p->start <= p->end);
		uint64_t at = p->start;
		for (uint32_t k = 0; k < p->nsegs; k++) {
			CHECK(p->segs[k].first == at && p->segs[k].count > 0);
			CHECK(p->segs[k].off + p->segs[k].len <= p->segs[k].obj->size);
			at += p->segs[k].count;
		}
		CHECK(at == p->end);
	}
	sl_drecovery_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (streams == NULL) {
		struct sl_stream_def d[2];
		memset(d, 0, sizeof(d));
		d[0].id = 1;
		strcpy(d[0].name, "a");
		d[0].partitions = 4;
		d[1].id = 3;
		strcpy(d[1].name, "b");
		d[1].partitions = 1;
		streams = sl_stream_set_new(d, 2, 1);
		CHECK(streams != NULL);
	}
	struct sl_seg_event ev;
	const char *why = NULL;
	int rc = sl_seg_decode(data, size, &ev, &why);
	if (rc != 0) {
		CHECK(why != NULL && rc < 0);
		CHECK(ev.ranges == NULL);
		return 0;
	}
	struct sl_buf *b;
	CHECK(sl_seg_encode(&ev, &b) == 0);
	CHECK(b->len <= size); /* the encoder writes minimal varints */
	struct sl_seg_event again;
	CHECK(sl_seg_decode(b->data, b->len, &again, NULL) == 0);
	same(&ev, &again);
	sl_seg_event_release(&again);
	sl_buf_unref(b);
	recover(data, size, &ev);
	sl_seg_event_release(&ev);
	return 0;
}
