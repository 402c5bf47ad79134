/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the track engine: the input is a script of producer and consumer operations
 * (create, append, write, finish, abort, read, start_at, get_group, time passing) on one track
 * with both an age limit and a byte budget. After every step the engine's invariants are checked;
 * at the end everything is released, so ASan reports any leaked group or buffer.
 */
#include "core/buf.h"
#include "core/err.h"
#include "track/track.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

#define SEC UINT64_C(1000000000)
enum { NPROD = 4, NCONS = 4 };

struct cons {
	struct sl_track_consumer c;
	struct sl_group_reader r;
	struct sl_waiter w;
	uint64_t min_seq;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t next(const uint8_t *data, size_t size, size_t *i)
{
	return *i < size ? data[(*i)++] : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_track_config cfg = {.max_age_ns = 30 * SEC, .max_bytes = 16 * 1024};
	struct sl_track *t = sl_track_new("fuzz", 0, &cfg);
	struct sl_group *prod[NPROD] = {0};
	struct cons cons[NCONS];
	memset(cons, 0, sizeof(cons));
	for (int k = 0; k < NCONS; k++) {
		sl_waiter_init(&cons[k].w, NULL);
		sl_track_consume(t, &cons[k].c);
	}
	uint64_t now = 0, max = 0;
	bool has_max = false, finished = false, aborted = false;
	size_t i = 0;
	while (i < size) {
		uint8_t op = next(data, size, &i), arg = next(data, size, &i);
		int slot = arg % NPROD;
		struct sl_group *g = NULL;
		int rc;
		switch (op % 10) {
		case 0:
		case 1:
			rc = op % 10 == 0 ? sl_track_create_group(t, arg % 64, now, &g)
					  : sl_track_append_group(t, now, &g);
			if (rc == 0) {
				uint64_t seq = sl_group_sequence(g);
				CHECK(!aborted);
				if (!has_max || seq > max)
					max = seq;
				has_max = true;
				sl_group_unref(prod[slot]);
				prod[slot] = g;
			} else {
				CHECK(rc == SL_EDUP || rc == SL_ECLOSED ||
				      (aborted && rc == SL_ECANCEL));
			}
			break;
		case 2:
			if (prod[slot]) {
				struct sl_buf *b = sl_buf_alloc((size_t)arg * 16 + 1);
				b->len = b->cap;
				rc = sl_group_write_frame(prod[slot], sl_slice_of(b));
				CHECK(rc == 0 || rc == SL_ECLOSED || rc < SL_ERR_MIN ||
				      rc == SL_ECANCEL);
			}
			break;
		case 3:
			if (prod[slot])
				sl_group_finish(prod[slot]);
			break;
		case 4:
			if (prod[slot])
				sl_group_abort(prod[slot], SL_ECANCEL);
			break;
		case 5:
			rc = sl_track_finish(t);
			CHECK(rc != 0 || !finished);
			finished |= rc == 0;
			break;
		case 6:
			rc = sl_track_finish_at(t, arg % 2 ? max : arg);
			CHECK(rc != 0 || (!finished && has_max));
			finished |= rc == 0;
			break;
		case 7:
			if (arg > 0xf0) {
				rc = sl_track_abort(t, SL_ECANCEL);
				CHECK(rc == 0 || aborted);
				aborted = true;
			}
			break;
		case 8: {
			struct cons *c = &cons[arg % NCONS];
			struct sl_slice f;
			if (c->r.group == NULL) {
				rc = sl_track_consumer_next_group(&c->c, &c->w, &c->r);
				if (rc == 0)
					CHECK(sl_group_sequence(c->r.group) >= c->min_seq);
				else
					CHECK(rc == SL_EAGAIN || rc == SL_EEOF || rc == SL_ECANCEL);
				CHECK(rc != SL_EEOF || finished);
			} else {
				rc = sl_group_read_frame(&c->r, &c->w, &f);
				if (rc == 0)
					CHECK(f.len > 0 && f.buf != NULL);
				else if (rc != SL_EAGAIN)
					sl_group_reader_release(&c->r);
			}
			break;
		}
		default: {
			struct cons *c = &cons[arg % NCONS];
			struct sl_group_reader r;
			now += (uint64_t)(arg % 16) * 4 * SEC;
			if (arg & 0x80) {
				c->min_seq = arg % 64;
				sl_track_consumer_start_at(&c->c, c->min_seq);
			}
			rc = sl_track_consumer_get_group(&c->c, arg % 64, NULL, &r);
			if (rc == 0) {
				CHECK(sl_group_sequence(r.group) == arg % 64);
				sl_group_reader_release(&r);
			}
			break;
		}
		}
		/* Invariants after every step. */
		struct sl_track_stats st;
		uint64_t latest;
		sl_track_stats(t, &st);
		if (has_max) {
			CHECK(sl_track_latest(t, &latest) == 0 && latest == max);
			CHECK(sl_track_is_cached(t, max)); /* the newest group is never evicted */
		}
		CHECK(st.bytes_cached <= cfg.max_bytes || st.groups_cached == 1);
		CHECK(st.consumers == NCONS);
	}
	for (int k = 0; k < NCONS; k++) {
		sl_group_reader_release(&cons[k].r);
		sl_track_consumer_release(&cons[k].c, &cons[k].w);
	}
	for (int k = 0; k < NPROD; k++)
		sl_group_unref(prod[k]);
	sl_track_unref(t);
	return 0;
}
