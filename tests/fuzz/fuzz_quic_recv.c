/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the QUIC endpoint's receive path: every input is one datagram from an
 * unknown peer to a server endpoint (header parsing, connection-id routing, accept, stateless
 * reset). Nothing may crash or leak, and the endpoint must keep counting what it dropped.
 */
#include "core/err.h"
#include "quic/endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t txbuf[65536];

static uint8_t *tx_alloc(void *arg, size_t max, void **token)
{
	(void)arg;
	(void)max;
	*token = NULL;
	return txbuf;
}

static void tx_commit(void *arg, void *token, const struct sl_quic_path *path, size_t len)
{
	(void)arg;
	(void)token;
	(void)path;
	(void)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sl_quic_endpoint *ep;
	static uint64_t now = 1000000000;
	static const struct sl_quic_callbacks cbs = {.tx_alloc = tx_alloc, .tx_commit = tx_commit};
	if (ep == NULL) {
		struct sl_quic_config cfg;
		sl_quic_config_default(&cfg);
		/* The daemon's protocol, so that an input carrying a real ClientHello gets as
		 * far into the handshake as it would there. */
		snprintf(cfg.alpn, sizeof(cfg.alpn), "moq-lite-04");
		cfg.server = true;
		cfg.max_conns = 64;
		if (sl_quic_endpoint_new(&cfg, &cbs, NULL, now, &ep) != 0)
			abort();
	}
	struct sl_quic_path p;
	memset(&p, 0, sizeof(p));
	struct sockaddr_in *l = (struct sockaddr_in *)&p.local,
			   *r = (struct sockaddr_in *)&p.remote;
	l->sin_family = r->sin_family = AF_INET;
	l->sin_port = htons(4443);
	r->sin_port = htons((uint16_t)(40000 + (size % 1000)));
	l->sin_addr.s_addr = r->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p.local_len = p.remote_len = sizeof(struct sockaddr_in);
	struct sl_quic_stats before, after;
	sl_quic_endpoint_stats(ep, &before);
	if (sl_quic_endpoint_recv(ep, &p, data, size, now) != 0)
		abort();
	sl_quic_endpoint_flush(ep, now);
	now += 1000000;
	sl_quic_endpoint_handle_expiry(ep, now);
	sl_quic_endpoint_stats(ep, &after);
	if (after.rx_datagrams != before.rx_datagrams + 1)
		abort();
	return 0;
}
