/* SPDX-License-Identifier: Apache-2.0 */
#include "shard/moq_quic.h"

static int mq_open(void *t, bool bidi, int64_t *id)
{
	return sl_quic_stream_open(t, bidi, id);
}

static int mq_write(void *t, int64_t id, struct sl_slice data, bool fin)
{
	return sl_quic_stream_write(t, id, data, fin);
}

static int mq_reset(void *t, int64_t id, uint64_t code)
{
	return sl_quic_stream_reset(t, id, code);
}

static void mq_close(void *t, uint64_t code, const char *reason)
{
	sl_quic_conn_close(t, code, reason);
}

static uint64_t mq_unacked(void *t, int64_t id)
{
	return sl_quic_stream_unacked(t, id);
}

static void mq_set_order(void *t, int64_t id, uint64_t order)
{
	sl_quic_stream_set_order(t, id, order);
}

const struct sl_moq_transport_ops sl_moq_quic_transport = {
	.open_stream = mq_open,
	.write = mq_write,
	.reset = mq_reset,
	.close = mq_close,
	.unacked = mq_unacked,
	.set_order = mq_set_order,
};
