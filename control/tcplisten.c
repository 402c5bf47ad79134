/* SPDX-License-Identifier: Apache-2.0 */
#include "control/tcplisten.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/err.h"
#include "core/stats.h"
#include "control/config.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 64
#define LINGER_NS  UINT64_C(1000000000)

enum conn_state {
	ST_HANDSHAKE, /* TLS handshake under way */
	ST_READ,      /* reading the request head */
	ST_WAIT,      /* a handler is not ready (SL_EAGAIN): asked again on every poll */
	ST_WRITE,     /* writing the answer */
	ST_LINGER,    /* answer out, our side shut: reading to the peer's end (see conn_step) */
	ST_HANDED,    /* a WebSocket handed on: socket and TLS are someone else's */
};

struct conn {
	int fd;
	gnutls_session_t tls; /* NULL on a plain listener */
	enum conn_state state;
	uint32_t events; /* what epoll watches now */
	uint64_t deadline_ns;
	size_t in_len, head_len;
	struct sl_http_response resp;
	size_t out_off;
	uint8_t in[SL_HTTP_HEAD_MAX];
};

struct sl_tcpl {
	struct sl_tcpl_config cfg;
	const struct sl_http_handlers *h;
	int lfd, epfd;
	uint16_t port;
	gnutls_certificate_credentials_t cred;
	/* Credentials replaced by sl_tcpl_set_cert: TLS sessions made with them live on, here or
	 * on a worker that took over an upgraded connection, so they go with the listener. */
	struct retired_cred {
		gnutls_certificate_credentials_t cred;
		struct retired_cred *next;
	} * retired;
	gnutls_priority_t prio;
	struct conn **conns; /* max_conns slots */
	unsigned waiting;    /* connections in ST_WAIT */
	struct sl_tcpl_stats st;
};

#define T struct sl_tcpl_stats
const struct sl_stat_field sl_tcpl_stats_fields[] = {
	SL_STAT_U(T, accepted, NULL),	  SL_STAT_U(T, refused_full, NULL),
	SL_STAT_G(T, open, NULL),	  SL_STAT_U(T, tls_failed, NULL),
	SL_STAT_U(T, timed_out, NULL),	  SL_STAT_U(T, requests, NULL),
	SL_STAT_U(T, status_2xx, NULL),	  SL_STAT_U(T, status_4xx, NULL),
	SL_STAT_U(T, status_5xx, NULL),	  SL_STAT_U(T, upgrades, NULL),
	SL_STAT_U(T, auth_refused, NULL), SL_STAT_TABLE_END,
};
#undef T

void sl_tcpl_config_default(struct sl_tcpl_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_conns = 256;
	cfg->timeout_ns = UINT64_C(10000000000);
}

static int fail(char *err, size_t errlen, int rc, const char *fmt, const char *arg)
{
	snprintf(err, errlen, fmt, arg);
	return rc;
}

int sl_tcpl_open(const struct sl_tcpl_config *cfg, const struct sl_http_handlers *handlers,
		 struct sl_tcpl **out, char *err, size_t errlen)
{
	*out = NULL;
	struct sockaddr_storage ss;
	socklen_t slen;
	if (cfg->max_conns == 0 || cfg->timeout_ns == 0 || (!cfg->cert_pem != !cfg->key_pem))
		return fail(err, errlen, SL_EINVAL, "%s", "bad TCP listener configuration");
	if (sl_config_parse_addr(cfg->addr, &ss, &slen, err, errlen) != 0)
		return SL_EINVAL;
	struct sl_tcpl *t = calloc(1, sizeof(*t));
	if (t == NULL || (t->conns = calloc(cfg->max_conns, sizeof(*t->conns))) == NULL) {
		free(t);
		return fail(err, errlen, SL_ENOMEM, "%s", "out of memory");
	}
	t->cfg = *cfg;
	t->h = handlers;
	t->lfd = t->epfd = -1;
	int rc = SL_EIO;
	if (cfg->cert_pem) {
		gnutls_datum_t c = {(unsigned char *)(uintptr_t)cfg->cert_pem,
				    (unsigned)strlen(cfg->cert_pem)};
		gnutls_datum_t k = {(unsigned char *)(uintptr_t)cfg->key_pem,
				    (unsigned)strlen(cfg->key_pem)};
		int grc;
		if (gnutls_certificate_allocate_credentials(&t->cred) != 0 ||
		    gnutls_priority_init(&t->prio, "NORMAL", NULL) != 0) {
			rc = fail(err, errlen, SL_ENOMEM, "%s", "out of memory");
			goto out;
		}
		grc = gnutls_certificate_set_x509_key_mem(t->cred, &c, &k, GNUTLS_X509_FMT_PEM);
		if (grc < 0) {
			rc = fail(err, errlen, SL_EINVAL, "TLS certificate or key: %s",
				  gnutls_strerror(grc));
			goto out;
		}
	}
	t->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (t->lfd < 0 || setsockopt(t->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(t->lfd, (struct sockaddr *)&ss, slen) != 0 || listen(t->lfd, 128) != 0) {
		rc = fail(err, errlen, SL_EIO, "cannot listen on %s", cfg->addr);
		goto out;
	}
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	if (getsockname(t->lfd, (struct sockaddr *)&bound, &blen) == 0)
		t->port = ntohs(bound.ss_family == AF_INET6
					? ((struct sockaddr_in6 *)&bound)->sin6_port
					: ((struct sockaddr_in *)&bound)->sin_port);
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (t->epfd < 0 || epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->lfd, &ev) != 0) {
		rc = fail(err, errlen, SL_EIO, "%s", "epoll failed");
		goto out;
	}
	*out = t;
	return 0;
out:
	sl_tcpl_close(t);
	return rc;
}

int sl_tcpl_fd(const struct sl_tcpl *t)
{
	return t->epfd;
}

uint16_t sl_tcpl_port(const struct sl_tcpl *t)
{
	return t->port;
}

void sl_tcpl_stats(const struct sl_tcpl *t, struct sl_tcpl_stats *out)
{
	*out = t->st;
}

static void conn_close(struct sl_tcpl *t, unsigned slot)
{
	struct conn *c = t->conns[slot];
	if (c == NULL)
		return;
	if (c->state == ST_WAIT)
		t->waiting--;
	if (c->state == ST_HANDED) {
		epoll_ctl(t->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	} else {
		if (c->tls)
			gnutls_deinit(c->tls);
		close(c->fd); /* which removes it from the epoll set */
	}
	sl_http_response_free(&c->resp);
	free(c);
	t->conns[slot] = NULL;
	t->st.open--;
}

/* Watches c for what its state waits on (TLS may need to write to read, and the other way). */
static void conn_arm(struct sl_tcpl *t, unsigned slot, bool want_write)
{
	struct conn *c = t->conns[slot];
	uint32_t events = want_write ? EPOLLOUT : EPOLLIN;
	if (events == c->events)
		return;
	struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)slot + 1};
	epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->events = events;
}

static void accept_conns(struct sl_tcpl *t, uint64_t now)
{
	for (;;) {
		int fd = accept4(t->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or a connection that died in the backlog */
		unsigned slot = 0;
		while (slot < t->cfg.max_conns && t->conns[slot])
			slot++;
		struct conn *c = slot < t->cfg.max_conns ? calloc(1, sizeof(*c)) : NULL;
		if (c == NULL) {
			t->st.refused_full++;
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->deadline_ns = now + t->cfg.timeout_ns;
		c->state = ST_READ;
		if (t->cred) {
			if (gnutls_init(&c->tls, GNUTLS_SERVER | GNUTLS_NONBLOCK) != 0 ||
			    gnutls_priority_set(c->tls, t->prio) != 0 ||
			    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, t->cred) != 0) {
				if (c->tls)
					gnutls_deinit(c->tls);
				free(c);
				close(fd);
				t->st.tls_failed++;
				continue;
			}
			/* ALPN is optional here (HTTP/1.1 is all this port speaks), but a client
			 * that offers h2 first must learn that it gets HTTP/1.1. */
			static const gnutls_datum_t http11 = {(unsigned char *)"http/1.1", 8};
			(void)gnutls_alpn_set_protocols(c->tls, &http11, 1, 0);
			gnutls_transport_set_int(c->tls, fd);
			gnutls_handshake_set_timeout(c->tls, 0);
			c->state = ST_HANDSHAKE;
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)slot + 1};
		if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			if (c->tls)
				gnutls_deinit(c->tls);
			free(c);
			close(fd);
			continue;
		}
		c->events = EPOLLIN;
		t->conns[slot] = c;
		t->st.accepted++;
		t->st.open++;
	}
}

static void count_status(struct sl_tcpl *t, int status)
{
	if (status >= 500)
		t->st.status_5xx++;
	else if (status >= 400)
		t->st.status_4xx++;
	else
		t->st.status_2xx++;
}

/* Builds the answer to the head in c->in. Returns false when not even an error answer could be
 * built (out of memory): the connection is closed then. */
static bool conn_answer(struct sl_tcpl *t, struct conn *c, const struct sl_http_request *req,
			int parse_rc)
{
	int rc, status = 0;
	bool built = false;
	if (c->state != ST_WAIT)
		t->st.requests++;
	if (parse_rc == SL_ENOSPC)
		status = 431;
	else if (parse_rc == SL_ENOTSUP)
		status = 505;
	else if (parse_rc != 0)
		status = 400;
	else if (sl_http_route(req) == SL_HTTP_ROUTE_UPGRADE) {
		/* moq-lite over a WebSocket lives on a worker: the upgrade itself is done there,
		 * but its token is checked here, so that a refused connection gets a 401 and
		 * never costs a worker anything. */
		struct sl_jwt_grant *g = NULL;
		char *path = NULL;
		int arc = 0;
		if (t->cfg.upgrade == NULL) {
			status = 501;
		} else if ((arc = sl_http_upgrade_path(req, &path)) != 0) {
			if (arc == SL_ENOMEM)
				return false;
			status = 400;
		} else if ((arc = sl_http_upgrade_authorize(t->h, req, (int64_t)time(NULL), &g,
							    &c->resp)) < 0) {
			free(path);
			return false;
		} else if (arc == 1) {
			built = true; /* a 401 or 400 */
		} else if (t->cfg.upgrade(t->cfg.upgrade_arg, c->fd, c->tls, c->in, c->in_len, g,
					  path) == 0) {
			free(path);
			t->st.upgrades++;
			c->state = ST_HANDED;
			return true;
		} else {
			sl_jwt_grant_free(g);
			status = 503;
		}
		free(path);
	}
	if (status == 0 && !built) {
		rc = sl_http_respond(t->h, req, (int64_t)time(NULL), &c->resp);
		/* Not ready (a group being fetched): asked again on every poll until the
		 * connection's deadline, which answers 504. */
		if (rc == SL_EAGAIN) {
			if (c->state != ST_WAIT)
				t->waiting++;
			c->state = ST_WAIT;
			return true;
		}
		if (rc != 0)
			status = 500;
	}
	if (c->state == ST_WAIT)
		t->waiting--;
	if (status != 0 && sl_http_error(status, &c->resp) != 0)
		return false;
	count_status(t, c->resp.status);
	if (c->resp.auth_reason != SL_JWT_OK) {
		/* One line per refused connection (each carries one request). The query is left
		 * out: it holds the token. */
		size_t n = req && parse_rc == 0 ? req->target.n : 0;
		const char *q = n ? memchr(req->target.p, '?', n) : NULL;
		if (q)
			n = (size_t)(q - req->target.p);
		t->st.auth_refused++;
		SL_LOG(CONTROL, NOTICE, "refused %s %.*s: %s",
		       sl_http_route(req) == SL_HTTP_ROUTE_UPGRADE ? "WebSocket" : "GET", (int)n,
		       n ? req->target.p : "", sl_jwt_reason_name(c->resp.auth_reason));
	}
	c->state = ST_WRITE;
	c->out_off = 0;
	return true;
}

/* Moves c on as far as it goes without blocking. Returns false when it is done (answered, or
 * failed): the caller closes it. */
static bool conn_step(struct sl_tcpl *t, unsigned slot, int *answered)
{
	struct conn *c = t->conns[slot];
	for (;;) {
		switch (c->state) {
		case ST_HANDSHAKE: {
			int grc = gnutls_handshake(c->tls);
			if (grc == GNUTLS_E_AGAIN || grc == GNUTLS_E_INTERRUPTED) {
				conn_arm(t, slot, gnutls_record_get_direction(c->tls) == 1);
				return true;
			}
			if (grc < 0) {
				t->st.tls_failed++;
				return false;
			}
			c->state = ST_READ;
			break;
		}
		case ST_READ: {
			size_t room = sizeof(c->in) - c->in_len;
			ssize_t n;
			if (room == 0) {
				n = 0; /* the head did not fit: sl_http_parse says 431 below */
			} else if (c->tls) {
				n = gnutls_record_recv(c->tls, c->in + c->in_len, room);
				if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
					conn_arm(t, slot, gnutls_record_get_direction(c->tls) == 1);
					return true;
				}
				if (n <= 0)
					return false; /* closed or a TLS error before a request */
			} else {
				n = recv(c->fd, c->in + c->in_len, room, 0);
				if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
					conn_arm(t, slot, false);
					return true;
				}
				if (n <= 0)
					return false;
			}
			c->in_len += (size_t)n;
			struct sl_http_request req;
			size_t head_len;
			int prc = sl_http_parse(c->in, c->in_len, &req, &head_len);
			if (prc == SL_EAGAIN && c->in_len < sizeof(c->in))
				break; /* read more */
			if (prc == SL_EAGAIN)
				prc = SL_ENOSPC;
			c->head_len = head_len;
			if (!conn_answer(t, c, &req, prc) || c->state == ST_HANDED)
				return false;
			if (c->state == ST_WAIT)
				return true;
			(*answered)++;
			break;
		}
		case ST_LINGER: {
			/* Closing a socket with unread bytes (a body we never read, a request
			 * pipelined after ours) sends a reset, which may destroy the answer
			 * before the peer read it; so the rest is read and dropped until the
			 * peer closes, or for LINGER_NS at most. */
			uint8_t sink[4096];
			ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
				conn_arm(t, slot, false);
				return true;
			}
			if (n <= 0)
				return false;
			break;
		}
		case ST_HANDED:
			return false;
		case ST_WAIT: {
			/* The head is still in c->in: parse it again for spans into it. */
			struct sl_http_request req;
			size_t head_len;
			(void)sl_http_parse(c->in, c->head_len, &req, &head_len);
			if (!conn_answer(t, c, &req, 0))
				return false;
			if (c->state == ST_WAIT)
				return true;
			(*answered)++;
			break;
		}
		case ST_WRITE: {
			size_t left = c->resp.len - c->out_off;
			if (left == 0) {
				if (c->tls)
					gnutls_bye(c->tls, GNUTLS_SHUT_WR); /* best effort */
				shutdown(c->fd, SHUT_WR);
				c->state = ST_LINGER;
				c->deadline_ns = sl_clock_now_ns() + LINGER_NS;
				break;
			}
			ssize_t n;
			if (c->tls) {
				n = gnutls_record_send(c->tls, c->resp.data + c->out_off, left);
				if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
					conn_arm(t, slot, gnutls_record_get_direction(c->tls) == 1);
					return true;
				}
			} else {
				n = send(c->fd, c->resp.data + c->out_off, left, MSG_NOSIGNAL);
				if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
					conn_arm(t, slot, true);
					return true;
				}
			}
			if (n <= 0)
				return false;
			c->out_off += (size_t)n;
			break;
		}
		}
	}
}

int sl_tcpl_poll(struct sl_tcpl *t, int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	int n = epoll_wait(t->epfd, evs, MAX_EVENTS, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : SL_EIO;
	uint64_t now = sl_clock_now_ns();
	int answered = 0;
	for (int i = 0; i < n; i++) {
		if (evs[i].data.u64 == 0) {
			accept_conns(t, now);
			continue;
		}
		unsigned slot = (unsigned)(evs[i].data.u64 - 1);
		/* Slots are only freed here and in the sweep below, after the batch: an event for
		 * a slot closed earlier in this batch finds it NULL or reused by accept, and a
		 * reused one only gets a spurious try, which non-blocking I/O answers with EAGAIN.
		 */
		if (t->conns[slot] && !conn_step(t, slot, &answered))
			conn_close(t, slot);
	}
	for (unsigned s = 0; s < t->cfg.max_conns; s++) {
		struct conn *c = t->conns[s];
		if (c == NULL)
			continue;
		if (c->state == ST_WAIT && now >= c->deadline_ns) {
			/* Still not ready: 504, with a short grace to write it. */
			t->waiting--;
			c->deadline_ns = now + UINT64_C(1000000000);
			sl_http_response_free(&c->resp);
			if (sl_http_error(504, &c->resp) != 0) {
				conn_close(t, s);
				continue;
			}
			count_status(t, c->resp.status);
			c->state = ST_WRITE;
			c->out_off = 0;
			t->st.timed_out++;
			if (!conn_step(t, s, &answered))
				conn_close(t, s);
		} else if (c->state == ST_WAIT) {
			if (!conn_step(t, s, &answered))
				conn_close(t, s);
		} else if (now >= c->deadline_ns) {
			if (c->state != ST_LINGER)
				t->st.timed_out++;
			conn_close(t, s);
		}
	}
	return answered;
}

int sl_tcpl_wait_ms(const struct sl_tcpl *t)
{
	return t->waiting ? 20 : -1;
}

void sl_tcpl_close(struct sl_tcpl *t)
{
	if (t == NULL)
		return;
	for (unsigned s = 0; t->conns && s < t->cfg.max_conns; s++)
		conn_close(t, s);
	free(t->conns);
	if (t->lfd >= 0)
		close(t->lfd);
	if (t->epfd >= 0)
		close(t->epfd);
	if (t->prio)
		gnutls_priority_deinit(t->prio);
	if (t->cred)
		gnutls_certificate_free_credentials(t->cred);
	while (t->retired) {
		struct retired_cred *r = t->retired;
		t->retired = r->next;
		gnutls_certificate_free_credentials(r->cred);
		free(r);
	}
	free(t);
}

int sl_tcpl_set_cert(struct sl_tcpl *t, const char *cert_pem, const char *key_pem, char *err,
		     size_t errlen)
{
	if (t->cred == NULL)
		return 0; /* plain TCP: no certificate to present */
	struct retired_cred *r = malloc(sizeof(*r));
	gnutls_certificate_credentials_t cred;
	if (r == NULL || gnutls_certificate_allocate_credentials(&cred) != 0) {
		free(r);
		return fail(err, errlen, SL_ENOMEM, "%s", "out of memory");
	}
	gnutls_datum_t c = {(unsigned char *)(uintptr_t)cert_pem, (unsigned)strlen(cert_pem)};
	gnutls_datum_t k = {(unsigned char *)(uintptr_t)key_pem, (unsigned)strlen(key_pem)};
	int grc = gnutls_certificate_set_x509_key_mem(cred, &c, &k, GNUTLS_X509_FMT_PEM);
	if (grc < 0) {
		gnutls_certificate_free_credentials(cred);
		free(r);
		return fail(err, errlen, SL_EINVAL, "TLS certificate or key: %s",
			    gnutls_strerror(grc));
	}
	r->cred = t->cred;
	r->next = t->retired;
	t->retired = r;
	t->cred = cred;
	return 0;
}
