/* SPDX-License-Identifier: Apache-2.0 */
#include "shard/moq_quic.h"

/* The session's handles are the endpoint's streams, and its streams ride in their user data. */

static int mq_open(void *t, bool bidi, void *user, void **handle)
{
	struct sl_quic_stream *qs;
	int rc = sl_quic_stream_open(t, bidi, user, &qs);
	if (rc == 0)
		*handle = qs;
	return rc;
}

static int mq_write(void *t, void *h, struct sl_slice data, bool fin)
{
	return sl_quic_stream_write(t, h, data, fin);
}

static int mq_reset(void *t, void *h, uint64_t code)
{
	sl_quic_stream_reset(t, h, code);
	return 0;
}

static void mq_release(void *t, void *h)
{
	(void)t;
	sl_quic_stream_set_user(h, NULL);
}

static void mq_close(void *t, uint64_t code, const char *reason)
{
	sl_quic_conn_close(t, code, reason);
}

static void mq_set_order(void *t, void *h, uint64_t order)
{
	sl_quic_stream_set_order(t, h, order);
}

const struct sl_moq_transport_ops sl_moq_quic_transport = {
	.open_stream = mq_open,
	.write = mq_write,
	.reset = mq_reset,
	.release = mq_release,
	.close = mq_close,
	.set_order = mq_set_order,
};

void *sl_moq_quic_accept(struct sl_moq_session *s, struct sl_quic_stream *qs)
{
	return sl_moq_session_stream_accept(s, qs, (sl_quic_stream_id(qs) & 2) == 0);
}
