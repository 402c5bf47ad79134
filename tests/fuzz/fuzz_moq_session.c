/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the moq-lite-04 session engine on the relay side. The input is a list of
 * records `op(1) stream(1) len(1) bytes(len)`: stream data (with or without FIN), stream
 * resets, opens and polls (which advance time and write a group into a local track), all on
 * arbitrary stream ids of either direction and initiator. The relay's own ANNOUNCE_INTEREST is
 * stream 1, so inputs can announce a broadcast, subscribe to it (the session then subscribes
 * upstream to itself on stream 5) and feed group streams. Nothing may crash, leak or break an
 * invariant the sanitizers check.
 */
#include "core/err.h"
#include "moq/session.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fake {
	int64_t nbidi, nuni;
};

static int f_open(void *t, bool bidi, int64_t *id)
{
	struct fake *f = t;
	if ((bidi ? f->nbidi : f->nuni) >= 64)
		return SL_EBUSY;
	int64_t n = bidi ? f->nbidi++ : f->nuni++;
	*id = (n << 2) | (bidi ? 0 : 2) | 1;
	return 0;
}

static int f_write(void *t, int64_t id, struct sl_slice data, bool fin)
{
	(void)t;
	(void)id;
	(void)fin;
	sl_buf_unref(data.buf);
	return 0;
}

static int f_reset(void *t, int64_t id, uint64_t code)
{
	(void)t;
	(void)id;
	(void)code;
	return 0;
}

static void f_close(void *t, uint64_t code, const char *reason)
{
	(void)t;
	(void)code;
	(void)reason;
}

static uint64_t f_unacked(void *t, int64_t id)
{
	(void)t;
	return (uint64_t)id & 0xfff; /* some streams look slow, to exercise the budget */
}

/* No send order: the session must work with a transport that has none. */
static const struct sl_moq_transport_ops fops = {f_open,  f_write,   f_reset,
						 f_close, f_unacked, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_origin *o = sl_origin_new(NULL);
	struct sl_moq_relay *r = sl_moq_relay_new(o);
	struct fake f = {0, 0};
	struct sl_moq_session_config cfg;
	sl_moq_session_config_default(&cfg);
	cfg.server = true;
	cfg.max_inflight_bytes = 4096;
	cfg.max_frame_bytes = 512;
	cfg.max_streams = 256;
	struct sl_moq_session *s = sl_moq_session_new(&cfg, &fops, &f, r);
	struct sl_broadcast *b = NULL;
	struct sl_track *t = NULL;
	if (o == NULL || r == NULL || s == NULL)
		abort();
	if (sl_origin_publish(o, "demo", &b) != 0 ||
	    sl_broadcast_create_track(b, "clock", 0, &t) != 0)
		abort();
	uint64_t now = 1000000000;
	sl_moq_session_poll(s, now); /* opens the ANNOUNCE_INTEREST on stream 1 */
	size_t i = 0;
	while (i + 3 <= size) {
		uint8_t op = data[i], id = data[i + 1], len = data[i + 2];
		i += 3;
		size_t n = len;
		if (n > size - i)
			n = size - i;
		switch (op % 5) {
		case 0:
		case 1:
			sl_moq_session_stream_data(s, id, data + i, n, op % 5 == 1);
			i += n;
			break;
		case 2:
			sl_moq_session_stream_reset(s, id, len);
			break;
		case 3: {
			now += (uint64_t)len * 1000000;
			struct sl_group *g;
			if (sl_track_append_group(t, now, &g) == 0) {
				struct sl_buf *fb = sl_buf_from("frame", 5);
				if (fb)
					sl_group_write_frame(g, sl_slice_of(fb));
				if (op & 0x80)
					sl_group_finish(g);
				sl_group_unref(g);
			}
			sl_moq_session_poll(s, now);
			break;
		}
		default:
			sl_moq_session_stream_open(s, id);
			break;
		}
	}
	sl_moq_session_poll(s, now);
	struct sl_moq_session_stats st;
	sl_moq_session_stats(s, &st);
	if (st.subscribes_active > cfg.max_subscriptions)
		abort();
	sl_moq_session_free(s);
	sl_moq_relay_free(r);
	sl_track_unref(t);
	sl_broadcast_unref(b);
	sl_origin_free(o);
	return 0;
}
