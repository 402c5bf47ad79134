/* SPDX-License-Identifier: Apache-2.0 */
/* The client runtime's WebSocket transport (client_ws.c) on loopback, against the relay's own
 * WebSocket connections (shard/wsconn.c) and a relay session set run in this thread: URLs, a
 * publisher and a subscriber of two moq-lite versions meeting through the relay, every frame in
 * order, a clean close, and a refused connect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/client.h"
#include "control/client_ws.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "moq/session.h"
#include "shard/wsconn.h"
#include "track/group.h"
#include "track/origin.h"
#include "track/track.h"

#define MS	  UINT64_C(1000000)
#define MAX_SRV	  8
#define NFRAMES	  12
#define PER_GROUP 4

/* ---- the relay side: a TCP listener, its WebSocket connections and their sessions ---- */

struct srv {
	int lfd;
	int port;
	struct sl_origin *origin;
	struct sl_moq_relay *relay;
	struct sl_wsconn_host host;
	struct sl_wsconn *conn[MAX_SRV];
	struct sl_moq_session *sess[MAX_SRV];
	unsigned attached, detached;
};

static struct srv srv;

static struct sl_moq_session *attach(void *arg, struct sl_wsconn *c, const char *alpn,
				     const struct sl_moq_transport_ops *ops, void *t)
{
	struct srv *s = arg;
	struct sl_moq_session_config sc;
	sl_moq_session_config_default(&sc);
	sc.server = true;
	sc.version = strcmp(alpn, SL_MOQ_ALPN_05) == 0 ? SL_MOQ_LITE_05 : SL_MOQ_LITE_04;
	for (unsigned i = 0; i < MAX_SRV; i++)
		if (s->conn[i] == c) {
			s->sess[i] = sl_moq_session_new(&sc, ops, t, s->relay);
			s->attached++;
			return s->sess[i];
		}
	return NULL;
}

static void detach(void *arg, struct sl_wsconn *c, struct sl_moq_session *ms)
{
	struct srv *s = arg;
	for (unsigned i = 0; i < MAX_SRV; i++)
		if (s->conn[i] == c)
			s->sess[i] = NULL;
	s->detached++;
	sl_moq_session_free(ms);
}

static void srv_start(void)
{
	memset(&srv, 0, sizeof(srv));
	srv.origin = sl_origin_new(NULL);
	srv.relay = sl_moq_relay_new(srv.origin);
	assert_non_null(srv.relay);
	srv.host.attach = attach;
	srv.host.detach = detach;
	srv.host.arg = &srv;
	sl_qmux_config_default(&srv.host.qmux);
	sl_ws_config_default(&srv.host.ws);
	srv.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(srv.lfd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	assert_int_equal(bind(srv.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(srv.lfd, 16), 0);
	assert_int_equal(getsockname(srv.lfd, (struct sockaddr *)&a, &len), 0);
	srv.port = ntohs(a.sin_port);
}

/* One pass of the relay's loop: accept, read, sessions, write, timers. */
static void srv_step(void)
{
	uint64_t now = sl_clock_now_ns();
	int fd;
	while ((fd = accept4(srv.lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
		unsigned i = 0;
		while (i < MAX_SRV && srv.conn[i])
			i++;
		assert_true(i < MAX_SRV);
		/* The slot is found by attach, which runs inside sl_wsconn_new when the head is
		 * there already; here it never is, the socket is fresh. */
		assert_int_equal(sl_wsconn_new(&srv.host, fd, NULL, NULL, 0, now, &srv.conn[i]), 0);
	}
	for (unsigned i = 0; i < MAX_SRV; i++) {
		if (srv.conn[i] == NULL)
			continue;
		sl_wsconn_read(srv.conn[i], now);
		if (srv.sess[i])
			sl_moq_session_poll(srv.sess[i], now);
		sl_wsconn_flush(srv.conn[i], now);
		sl_wsconn_handle_expiry(srv.conn[i], now);
		if (sl_wsconn_done(srv.conn[i])) {
			sl_wsconn_free(srv.conn[i]);
			srv.conn[i] = NULL;
		}
	}
}

static void srv_stop(void)
{
	for (unsigned i = 0; i < MAX_SRV; i++)
		if (srv.conn[i])
			sl_wsconn_free(srv.conn[i]);
	close(srv.lfd);
	sl_moq_relay_free(srv.relay);
	sl_origin_free(srv.origin);
}

/* Runs both loops for up to ms milliseconds or until done() holds. */
static bool spin(struct sl_client *cl, unsigned ms, bool (*done)(void *), void *arg)
{
	uint64_t end = sl_clock_now_ns() + ms * MS;
	while (sl_clock_now_ns() < end) {
		if (done && done(arg))
			return true;
		sl_client_run(cl, MS / 2);
		srv_step();
	}
	return done ? done(arg) : true;
}

/* ---- URLs ---- */

static void urls_parse(void **state)
{
	(void)state;
	struct sl_client_ws_url u;
	assert_true(sl_client_ws_is_url("ws://127.0.0.1:80/"));
	assert_true(sl_client_ws_is_url("wss://127.0.0.1:80"));
	assert_false(sl_client_ws_is_url("moq://127.0.0.1:80"));
	assert_false(sl_client_ws_is_url("https://127.0.0.1:80"));

	assert_int_equal(sl_client_ws_parse_url("ws://127.0.0.1:8080/demo?jwt=x", &u), 0);
	assert_false(u.tls);
	assert_string_equal(u.host, "127.0.0.1:8080");
	assert_string_equal(u.name, "127.0.0.1");
	assert_string_equal(u.path, "/demo?jwt=x");
	assert_int_equal(u.addr.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&u.addr)->sin_port), 8080);

	assert_int_equal(sl_client_ws_parse_url("wss://[::1]:4443", &u), 0);
	assert_true(u.tls);
	assert_string_equal(u.host, "[::1]:4443");
	assert_string_equal(u.name, "::1");
	assert_string_equal(u.path, "/");
	assert_int_equal(u.addr.ss_family, AF_INET6);

	assert_int_equal(sl_client_ws_parse_url("wss://localhost:4443/x", &u), 0);
	assert_string_equal(u.name, "localhost");
	assert_int_equal(u.addr.ss_family, AF_INET);

	/* No port, no host, a name we do not resolve, another scheme. */
	assert_int_equal(sl_client_ws_parse_url("ws://127.0.0.1/", &u), SL_EINVAL);
	assert_int_equal(sl_client_ws_parse_url("ws:///x", &u), SL_EINVAL);
	assert_int_equal(sl_client_ws_parse_url("ws://example.com:80/", &u), SL_EINVAL);
	assert_int_equal(sl_client_ws_parse_url("moq://127.0.0.1:80", &u), SL_EINVAL);

	/* The client's own parser takes the address out of them, as of moq:// URLs. */
	struct sockaddr_storage ss;
	socklen_t len;
	assert_int_equal(sl_client_parse_url("wss://127.0.0.1:9/", &ss, &len), 0);
	assert_int_equal(sl_client_parse_url("ws://localhost:9", &ss, &len), 0);
}

/* ---- a publisher and a subscriber through the relay ---- */

static bool both_connected(void *arg)
{
	struct sl_client_conn **c = arg;
	return c[0]->connected && c[1]->connected;
}

struct reader {
	struct sl_track_consumer tc;
	struct sl_group_reader r;
	bool have_group;
	char got[NFRAMES][16];
	unsigned n, groups;
	bool ended;
};

static void read_frames(struct reader *rd)
{
	for (;;) {
		if (!rd->have_group) {
			int rc = sl_track_consumer_next_group(&rd->tc, NULL, &rd->r);
			if (rc == SL_EAGAIN)
				return;
			if (rc != 0) {
				rd->ended = true;
				return;
			}
			rd->have_group = true;
			rd->groups++;
		}
		struct sl_slice f;
		int rc = sl_group_read_frame(&rd->r, NULL, &f);
		if (rc == SL_EAGAIN)
			return;
		if (rc != 0) {
			sl_group_reader_release(&rd->r);
			rd->have_group = false;
			continue;
		}
		if (rd->n < NFRAMES) {
			size_t k = f.len < 15 ? f.len : 15;
			memcpy(rd->got[rd->n], sl_slice_data(&f), k);
			rd->got[rd->n][k] = '\0';
		}
		rd->n++;
	}
}

static bool all_read(void *arg)
{
	struct reader *rd = arg;
	read_frames(rd);
	return rd->n >= NFRAMES || rd->ended;
}

static void frames_cross_the_relay_in_order(void **state)
{
	(void)state;
	srv_start();
	char url[64];
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", srv.port);
	struct sl_client *cl;
	assert_int_equal(sl_client_new(url, 1, &cl), 0);
	/* Only moq-lite runs over the WebSocket. */
	static const struct sl_client_app_ops none = {0};
	struct sl_client_conn *x;
	assert_int_equal(sl_client_connect_app(cl, url, "foo", &none, NULL, &x), SL_ENOTSUP);

	/* The two versions meet in the relay, as on QUIC. */
	struct sl_client_conn *c[2];
	assert_int_equal(sl_client_connect_moq(cl, url, SL_MOQ_LITE_05, &c[0]), 0);
	assert_int_equal(sl_client_connect_moq(cl, url, SL_MOQ_LITE_04, &c[1]), 0);
	assert_true(spin(cl, 3000, both_connected, c));
	assert_int_equal(srv.attached, 2);

	struct sl_origin *mine = sl_origin_new(NULL);
	struct sl_broadcast *b;
	struct sl_track *t;
	assert_int_equal(sl_origin_publish(mine, "ws/cam", &b), 0);
	assert_int_equal(sl_broadcast_create_track(b, "video", 0, &t), 0);
	assert_int_equal(sl_moq_session_publish(c[0]->s, "ws/cam", b), 0);

	/* Subscribe once the relay has the announcement (it answers "not found" before). */
	spin(cl, 300, NULL, NULL);
	static struct reader rd;
	memset(&rd, 0, sizeof(rd));
	bool subscribed = false;
	for (int i = 0; i < 100 && !subscribed; i++) {
		spin(cl, 20, NULL, NULL);
		if (sl_moq_session_subscribe(c[1]->s, "ws/cam", "video", NULL, NULL, &rd.tc) != 0)
			continue;
		spin(cl, 50, NULL, NULL);
		struct sl_group_reader r;
		int rc = sl_track_consumer_next_group(&rd.tc, NULL, &r);
		if (rc == SL_EAGAIN) {
			subscribed = true;
			break;
		}
		if (rc == 0)
			sl_group_reader_release(&r);
		sl_track_consumer_release(&rd.tc, NULL);
	}
	assert_true(subscribed);

	struct sl_group *g = NULL;
	for (unsigned i = 0; i < NFRAMES; i++) {
		if (i % PER_GROUP == 0) {
			if (g) {
				sl_group_finish(g);
				sl_group_unref(g);
			}
			assert_int_equal(sl_track_append_group(t, sl_clock_now_ns(), &g), 0);
		}
		struct sl_buf *buf = sl_buf_alloc(16);
		int n = snprintf((char *)buf->data, 16, "frame%u", i);
		buf->len = (uint32_t)n;
		assert_int_equal(sl_group_write_frame(g, sl_slice_of(buf)), 0);
		spin(cl, 2, NULL, NULL);
	}
	sl_group_finish(g);
	sl_group_unref(g);
	assert_true(spin(cl, 3000, all_read, &rd));
	assert_int_equal(rd.n, NFRAMES);
	assert_int_equal(rd.groups, NFRAMES / PER_GROUP);
	for (unsigned i = 0; i < NFRAMES; i++) {
		char want[16];
		snprintf(want, sizeof(want), "frame%u", i);
		assert_string_equal(rd.got[i], want);
	}
	if (rd.have_group)
		sl_group_reader_release(&rd.r);
	sl_track_consumer_release(&rd.tc, NULL);

	/* A clean close on both connections: the relay detaches both sessions. */
	sl_client_conn_close(c[0], 0, "bye");
	sl_client_conn_close(c[1], 0, "bye");
	for (int i = 0; i < 2000 && srv.detached < 2; i++)
		spin(cl, 1, NULL, NULL);
	assert_true(c[0]->closed && c[1]->closed);
	assert_int_equal(c[0]->close_error, 0);
	assert_int_equal(srv.detached, 2);
	sl_client_close_all(cl, 100 * MS);
	sl_client_free(cl);
	sl_track_finish(t);
	sl_track_unref(t);
	sl_broadcast_unref(b);
	sl_origin_free(mine);
	srv_stop();
}

/* Nobody listens: the connection closes at once, and waiting for it says so. */
static void a_refused_connect_closes_the_connection(void **state)
{
	(void)state;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	char url[64];
	snprintf(url, sizeof(url), "wss://127.0.0.1:%d/", ntohs(a.sin_port));
	struct sl_client *cl;
	assert_int_equal(sl_client_new(url, 1, &cl), 0);
	struct sl_client_conn *c;
	assert_int_equal(sl_client_connect_moq(cl, url, SL_MOQ_LITE_05, &c), 0);
	uint64_t t0 = sl_clock_now_ns();
	assert_int_equal(sl_client_wait_connected(cl, 2000 * MS), SL_ECLOSED);
	assert_true(sl_clock_now_ns() - t0 < 1000 * MS);
	assert_true(c->closed);
	assert_false(c->connected);
	sl_client_close_all(cl, 10 * MS);
	sl_client_free(cl);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(urls_parse),
		cmocka_unit_test(frames_cross_the_relay_in_order),
		cmocka_unit_test(a_refused_connect_closes_the_connection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
