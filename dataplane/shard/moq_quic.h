/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_SHARD_MOQ_QUIC_H
#define SL_SHARD_MOQ_QUIC_H

#include "moq/session.h"
#include "quic/endpoint.h"

/*
 * moq-lite sessions over QUIC connections: the transport operations a session needs, mapped
 * onto sl_quic streams. The transport pointer given to sl_moq_session_new is the struct
 * sl_quic_conn itself. Used by the relay's workers and by the client tools alike.
 */
extern const struct sl_moq_transport_ops sl_moq_quic_transport;

#endif
