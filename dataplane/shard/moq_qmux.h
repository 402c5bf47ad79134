/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_SHARD_MOQ_QMUX_H
#define SL_SHARD_MOQ_QMUX_H

#include "moq/session.h"
#include "qmux/qmux.h"

/*
 * moq-lite sessions over qmux connections (the WebSocket fallback): moq_quic.h's counterpart.
 * The transport pointer given to sl_moq_session_new is the struct sl_qmux_conn itself; a
 * session's stream handles are struct sl_qmux_stream, and the session's struct sl_moq_stream
 * rides in each one's user pointer. Used by the relay's WebSocket connections (wsconn.c) and by
 * the tools' client runtime (control/client_ws.c), whose qmux callbacks forward a connection's
 * stream events to its session: on_stream_open attaches sl_moq_qmux_accept, and the others pass
 * their user pointer on (sl_moq_session_stream_data, _reset, _acked, _closed).
 */
extern const struct sl_moq_transport_ops sl_moq_qmux_transport;

/* The peer opened qs on session s's connection: attaches the session's stream to it (NULL when
 * the session takes none, so that its events are not reported). */
void sl_moq_qmux_accept(struct sl_moq_session *s, struct sl_qmux_stream *qs);

#endif
