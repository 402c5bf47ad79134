/* SPDX-License-Identifier: Apache-2.0 */
#include "shard/moq_qmux.h"

/* The session's handles are the connection's streams, and its streams ride in their user data. */

static int mx_open(void *t, bool bidi, void *user, void **handle)
{
	struct sl_qmux_stream *s;
	int rc = sl_qmux_stream_open(t, bidi, user, &s);
	if (rc == 0)
		*handle = s;
	return rc;
}

static int mx_write(void *t, void *h, struct sl_slice data, bool fin)
{
	return sl_qmux_stream_write(t, h, data, fin);
}

static int mx_reset(void *t, void *h, uint64_t code)
{
	return sl_qmux_stream_reset(t, h, code);
}

static void mx_release(void *t, void *h)
{
	(void)t;
	sl_qmux_stream_set_user(h, NULL);
}

static void mx_close(void *t, uint64_t code, const char *reason)
{
	sl_qmux_close(t, code, reason);
}

static void mx_set_order(void *t, void *h, uint64_t order)
{
	sl_qmux_stream_set_order(t, h, order);
}

const struct sl_moq_transport_ops sl_moq_qmux_transport = {
	.open_stream = mx_open,
	.write = mx_write,
	.reset = mx_reset,
	.release = mx_release,
	.close = mx_close,
	.set_order = mx_set_order,
};

void sl_moq_qmux_accept(struct sl_moq_session *s, struct sl_qmux_stream *qs)
{
	/* Bidirectional streams have bit 1 clear, whichever side opened them, as in QUIC. */
	void *st = sl_moq_session_stream_accept(s, qs, (sl_qmux_stream_id(qs) & 2) == 0);
	sl_qmux_stream_set_user(qs, st);
}
