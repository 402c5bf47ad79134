/* SPDX-License-Identifier: Apache-2.0 */
/* A worker's WebSocket connection over a socketpair, driven by the client side of the same
 * engines (ws.c, qmux.c): the upgrade and its subprotocol choice (moq-lite-05 first), the session
 * attached and detached, refusals, bytes that came with the head, and the peer going away. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "moq/session.h"
#include "shard/wsconn.h"
#include "track/origin.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

static struct sl_origin *origin;
static struct sl_moq_relay *relay;
static struct sl_moq_session_config scfg;
static int attached, detached;
static char chosen[32]; /* the version attach was given */
static uint64_t now = 1000000000;

static struct sl_moq_session *attach(void *arg, struct sl_wsconn *c, const char *alpn,
				     const struct sl_moq_transport_ops *ops, void *t)
{
	(void)arg;
	(void)c;
	snprintf(chosen, sizeof(chosen), "%s", alpn);
	attached++;
	return sl_moq_session_new(&scfg, ops, t, relay);
}

static void detach(void *arg, struct sl_wsconn *c, struct sl_moq_session *s)
{
	(void)arg;
	(void)c;
	detached++;
	sl_moq_session_free(s);
}

static struct sl_wsconn_host host;

static int setup(void **state)
{
	(void)state;
	origin = sl_origin_new(NULL);
	relay = sl_moq_relay_new(origin);
	sl_moq_session_config_default(&scfg);
	scfg.server = true;
	memset(&host, 0, sizeof(host));
	host.attach = attach;
	host.detach = detach;
	sl_qmux_config_default(&host.qmux);
	sl_ws_config_default(&host.ws);
	attached = detached = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sl_moq_relay_free(relay);
	sl_origin_free(origin);
	return 0;
}

/* A socketpair: sv[0] the server's (non-blocking, given to the connection), sv[1] the test's. */
static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
}

static size_t upgrade_request(const char *offers, char *buf, size_t cap)
{
	size_t len;
	assert_int_equal(sl_ws_request_write("/", "localhost", offers, KEY, buf, cap, &len), 0);
	return len;
}

/* Reads what the server wrote so far (after running its flush). */
static size_t server_output(struct sl_wsconn *c, int fd, uint8_t *buf, size_t cap)
{
	sl_wsconn_flush(c, now);
	ssize_t n = recv(fd, buf, cap, 0);
	return n > 0 ? (size_t)n : 0;
}

static void upgrade_chooses_moq_lite_05_and_attaches_a_session(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	char req[1024];
	/* The reference client's offers: lite-05 first, then lite-04, then bare names. */
	const char *offers = "qmux-01.moq-lite-05, qmux-00.moq-lite-05, qmux-01.moq-lite-04, "
			     "qmux-00.moq-lite-04, qmux-01, qmux-00, webtransport";
	size_t len = upgrade_request(offers, req, sizeof(req));
	/* The control thread read the first half; the rest is still in the socket. */
	struct sl_wsconn *c;
	assert_int_equal(sl_wsconn_new(&host, sv[0], NULL, (const uint8_t *)req, len / 2, now, &c),
			 0);
	assert_int_equal(attached, 0);
	assert_int_equal(send(sv[1], req + len / 2, len - len / 2, 0), (ssize_t)(len - len / 2));
	sl_wsconn_read(c, now);
	assert_int_equal(attached, 1);
	assert_string_equal(sl_wsconn_protocol(c), "qmux-01.moq-lite-05");
	assert_string_equal(chosen, "moq-lite-05");

	uint8_t out[8192];
	size_t n = server_output(c, sv[1], out, sizeof(out));
	struct sl_ws_http h;
	sl_ws_http_init_response(&h);
	size_t used;
	const char *why;
	assert_int_equal(sl_ws_http_feed(&h, out, n, &used, &why), 0);
	enum sl_ws_framing framing;
	char proto[SL_WS_MAX_PROTO];
	assert_int_equal(sl_ws_check_response(&h.req, KEY, offers, &framing, proto, &why), 0);
	assert_int_equal(framing, SL_WS_QMUX01);
	/* The transport parameters follow the 101 at once, as a WebSocket binary message. */
	assert_true(n > used);
	assert_int_equal(out[used] & 0x0f, 0x2);

	struct sl_ws_stats ws;
	struct sl_qmux_stats qm;
	sl_wsconn_stats(c, &ws, &qm);
	assert_true(qm.tx_frames[SL_QMUX_FK_TRANSPORT_PARAMETERS] == 1);
	assert_false(sl_wsconn_done(c));

	/* The peer goes away: the session is detached and the connection done. */
	close(sv[1]);
	sl_wsconn_read(c, now);
	assert_int_equal(detached, 1);
	sl_wsconn_flush(c, now);
	assert_true(sl_wsconn_done(c));
	sl_wsconn_free(c);
	assert_int_equal(detached, 1);
}

/* A client offering lite-04 only (as the older clients do) gets it. */
static void an_offer_of_moq_lite_04_alone_gets_it(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	char req[1024];
	size_t len = upgrade_request("qmux-00.moq-lite-04", req, sizeof(req));
	struct sl_wsconn *c;
	assert_int_equal(sl_wsconn_new(&host, sv[0], NULL, (const uint8_t *)req, len, now, &c), 0);
	assert_int_equal(attached, 1);
	assert_string_equal(chosen, "moq-lite-04");
	assert_string_equal(sl_wsconn_protocol(c), "qmux-00.moq-lite-04");
	sl_wsconn_free(c);
	assert_int_equal(detached, 1);
	close(sv[1]);
}

static void offers_without_a_version_we_speak_are_refused(void **state)
{
	(void)state;
	static const char *const offers[] = {"qmux-01", "qmux-01.moq-lite-03", "webtransport"};
	for (size_t i = 0; i < sizeof(offers) / sizeof(offers[0]); i++) {
		int sv[2];
		pair(sv);
		char req[1024];
		size_t len = upgrade_request(offers[i], req, sizeof(req));
		struct sl_wsconn *c;
		assert_int_equal(
			sl_wsconn_new(&host, sv[0], NULL, (const uint8_t *)req, len, now, &c), 0);
		uint8_t out[2048];
		size_t n = server_output(c, sv[1], out, sizeof(out) - 1);
		out[n] = 0;
		assert_memory_equal(out, "HTTP/1.1 400", 12);
		assert_true(sl_wsconn_done(c));
		sl_wsconn_free(c);
		close(sv[1]);
	}
	assert_int_equal(attached, 0);
}

static void a_plain_request_or_a_silent_peer_is_dropped(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	const char *get = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
	struct sl_wsconn *c;
	assert_int_equal(
		sl_wsconn_new(&host, sv[0], NULL, (const uint8_t *)get, strlen(get), now, &c), 0);
	uint8_t out[2048];
	size_t n = server_output(c, sv[1], out, sizeof(out));
	assert_true(n > 12);
	assert_memory_equal(out, "HTTP/1.1 400", 12);
	sl_wsconn_free(c);
	close(sv[1]);

	pair(sv);
	assert_int_equal(sl_wsconn_new(&host, sv[0], NULL, NULL, 0, now, &c), 0);
	uint64_t e = sl_wsconn_expiry(c);
	assert_true(e > now && e != UINT64_MAX);
	sl_wsconn_handle_expiry(c, e);
	assert_true(sl_wsconn_done(c));
	sl_wsconn_free(c);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(upgrade_chooses_moq_lite_05_and_attaches_a_session,
						setup, teardown),
		cmocka_unit_test_setup_teardown(an_offer_of_moq_lite_04_alone_gets_it, setup,
						teardown),
		cmocka_unit_test_setup_teardown(offers_without_a_version_we_speak_are_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_plain_request_or_a_silent_peer_is_dropped, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
