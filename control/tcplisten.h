/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_TCPLISTEN_H
#define SL_CONTROL_TCPLISTEN_H

#include <stdint.h>
#include <stddef.h>

#include "control/http.h"
#include "core/stats.h"

/*
 * The TCP listener of shardlined (`listen_tcp`): accepts connections, runs TLS over them with
 * the daemon's certificate (GnuTLS, non-blocking) or none, reads one HTTP/1.1 request head,
 * answers it with control/http.c and closes. It runs on the control thread, in the same loop as
 * the admin socket: its answers (/metrics above all) need every worker's counters, which only
 * the control thread collects, and a request costs one short exchange, so nothing here is on
 * a worker's hot path.
 *
 * A WebSocket upgrade (moq-lite over qmux) is handed on (cfg.upgrade): the daemon gives it to a
 * worker, whose moq sessions share its relay (docs/architecture.md, "TCP connections").
 *
 * Every connection has one deadline (timeout_ns) for its TLS handshake, its request and its
 * answer together, so a client that opens a connection and stays silent holds a slot for at
 * most that long; past max_conns, new connections are closed at once and counted.
 */

struct sl_tcpl;

struct sl_tcpl_config {
	const char *addr; /* IP:PORT or [IPv6]:PORT; port 0 picks one (sl_tcpl_port) */
	/* The certificate chain and key (PEM text) for TLS; both NULL: plain HTTP. */
	const char *cert_pem, *key_pem;
	unsigned max_conns; /* open at once; default 256 */
	/* A WebSocket upgrade request, authorised (sl_http_upgrade_authorize: a refusal is
	 * answered 401 here and never handed on; a path that is not a broadcast path is 400):
	 * hands the connection on (the socket, the GnuTLS session or NULL, every byte read so
	 * far, the request head first, the connection's grant, NULL without authorisation, and
	 * its normalised path, sl_http_upgrade_path, the callee's to copy). 0: the callee owns
	 * fd, tls and grant now; an error: the listener frees the grant, answers 503 and closes.
	 * NULL: upgrades get 501. */
	int (*upgrade)(void *arg, int fd, void *tls, const uint8_t *bytes, size_t len,
		       struct sl_jwt_grant *grant, const char *path);
	void *upgrade_arg;
	uint64_t timeout_ns; /* handshake + request + answer; default 10 s */
};

/* The listener's counters (rendered in status as "tcp"). */
struct sl_tcpl_stats {
	uint64_t accepted;
	uint64_t refused_full; /* closed at accept: max_conns were open */
	uint64_t open;	       /* gauge */
	uint64_t tls_failed;   /* handshakes that failed */
	uint64_t timed_out;
	uint64_t requests; /* request heads parsed (or refused as malformed) */
	uint64_t status_2xx, status_4xx, status_5xx;
	uint64_t upgrades; /* WebSocket upgrade requests handed on */
	/* Requests refused with 401 (a WebSocket upgrade, /announced, /fetch): each is logged
	 * once with its reason (control/jwt.h's names). */
	uint64_t auth_refused;
};

/* Its rows, for the status JSON and /metrics (core/stats.h). */
extern const struct sl_stat_field sl_tcpl_stats_fields[];

void sl_tcpl_config_default(struct sl_tcpl_config *cfg);

/*
 * Binds and listens on cfg->addr and prepares TLS. handlers must stay valid (and its strings
 * unchanged) until sl_tcpl_close. Returns 0, SL_EINVAL (bad address, only one of cert and key,
 * a PEM GnuTLS refuses), SL_EIO (socket, bind or listen failed: errno set), SL_ENOMEM; err
 * says why.
 */
int sl_tcpl_open(const struct sl_tcpl_config *cfg, const struct sl_http_handlers *handlers,
		 struct sl_tcpl **out, char *err, size_t errlen);

/* The epoll descriptor, readable when sl_tcpl_poll has work; for embedding in another loop. */
int sl_tcpl_fd(const struct sl_tcpl *t);

/* The bound port (useful with port 0). */
uint16_t sl_tcpl_port(const struct sl_tcpl *t);

/*
 * Waits up to timeout_ms (0 = not at all) for activity, then accepts, moves every ready
 * connection on (handshake, read, answer, write) and closes those past their deadline.
 * Returns the number of requests answered, or SL_EIO if epoll failed.
 */
int sl_tcpl_poll(struct sl_tcpl *t, int timeout_ms);

/* How soon sl_tcpl_poll wants to run again even without activity, in ms: a request waiting for
 * data (SL_EAGAIN from a handler, e.g. a group being fetched) is asked again every 20 ms; -1
 * when none waits. */
int sl_tcpl_wait_ms(const struct sl_tcpl *t);

void sl_tcpl_stats(const struct sl_tcpl *t, struct sl_tcpl_stats *out);

/* Closes every connection and the listening socket. NULL is a no-op. */
void sl_tcpl_close(struct sl_tcpl *t);

/*
 * Presents a new certificate and key (PEM text) to TLS connections accepted from now on;
 * those already up keep theirs. Nothing to do on a plain listener. Returns 0, SL_EINVAL (the
 * PEM does not load; err says why; nothing changes) or SL_ENOMEM.
 */
int sl_tcpl_set_cert(struct sl_tcpl *t, const char *cert_pem, const char *key_pem, char *err,
		     size_t errlen);

#endif
