/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_SHARD_MOQ_QUIC_H
#define SL_SHARD_MOQ_QUIC_H

#include "moq/session.h"
#include "quic/endpoint.h"

/*
 * moq-lite sessions over QUIC connections: the transport operations a session needs, mapped
 * onto sl_quic streams. The transport pointer given to sl_moq_session_new is the struct
 * sl_quic_conn itself; a session's stream handles are struct sl_quic_stream, and the session's
 * struct sl_moq_stream rides in each one's user pointer. Used by the relay's workers and by the
 * client tools alike, whose endpoint callbacks forward a connection's stream events to its
 * session: on_stream_open returns sl_moq_quic_accept, and the others pass their user pointer
 * on (sl_moq_session_stream_data, _reset, _acked, _closed).
 */
extern const struct sl_moq_transport_ops sl_moq_quic_transport;

/* The peer opened qs on session s's connection: the session's stream, to return from
 * on_stream_open (NULL: the session takes none). */
void *sl_moq_quic_accept(struct sl_moq_session *s, struct sl_quic_stream *qs);

#endif
