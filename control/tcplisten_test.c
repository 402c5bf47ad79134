/* SPDX-License-Identifier: Apache-2.0 */
/* The TCP listener over loopback, in one thread: the test's client sockets are non-blocking
 * and the listener is polled between their steps. TLS is covered by the integration test
 * (tests/integration/http_test.py), which has a TLS client at hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/tcplisten.h"
#include "core/err.h"

static int metrics_calls, metrics_ready_after;

static int metrics(void *arg, const char **text, size_t *len)
{
	(void)arg;
	/* Not ready for the first metrics_ready_after calls, as a handler waiting on workers. */
	if (metrics_calls++ < metrics_ready_after)
		return SL_EAGAIN;
	*text = "m 1\n";
	*len = 4;
	return 0;
}

static const struct sl_http_handlers handlers = {.cert_sha256 = "ab", .metrics = metrics};

static struct sl_tcpl *open_listener(unsigned max_conns, uint64_t timeout_ns)
{
	struct sl_tcpl_config cfg;
	sl_tcpl_config_default(&cfg);
	cfg.addr = "127.0.0.1:0";
	if (max_conns)
		cfg.max_conns = max_conns;
	if (timeout_ns)
		cfg.timeout_ns = timeout_ns;
	struct sl_tcpl *t;
	char err[128];
	assert_int_equal(sl_tcpl_open(&cfg, &handlers, &t, err, sizeof(err)), 0);
	assert_true(sl_tcpl_port(t) != 0);
	return t;
}

static int dial(struct sl_tcpl *t)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(sl_tcpl_port(t))};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Polls the listener until fd has the whole answer (the listener closes after it) or rounds
 * run out; returns the bytes read, NUL-terminated. */
static size_t read_answer(struct sl_tcpl *t, int fd, char *buf, size_t cap, int rounds)
{
	size_t len = 0;
	while (rounds-- > 0) {
		sl_tcpl_poll(t, 10);
		ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n == 0)
			break;
		if (n > 0)
			len += (size_t)n;
		else if (errno != EAGAIN)
			break;
	}
	buf[len] = '\0';
	return len;
}

static void answers_a_request_split_in_pieces(void **state)
{
	(void)state;
	struct sl_tcpl *t = open_listener(0, 0);
	int fd = dial(t);
	const char *req = "GET /certificate.sha256 HTTP/1.1\r\nHost: x\r\n\r\n";
	for (size_t i = 0; req[i]; i++) {
		assert_int_equal(send(fd, req + i, 1, 0), 1);
		sl_tcpl_poll(t, 0);
	}
	char buf[2048];
	read_answer(t, fd, buf, sizeof(buf), 100);
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(buf, "\r\n\r\nab"));
	close(fd);
	for (int i = 0; i < 10; i++)
		sl_tcpl_poll(t, 10); /* the lingering side sees the close */
	struct sl_tcpl_stats st;
	sl_tcpl_stats(t, &st);
	assert_int_equal(st.accepted, 1);
	assert_int_equal(st.requests, 1);
	assert_int_equal(st.status_2xx, 1);
	assert_int_equal(st.open, 0);
	sl_tcpl_close(t);
}

static void errors_and_upgrades_are_answered(void **state)
{
	(void)state;
	struct sl_tcpl *t = open_listener(0, 0);
	static const struct {
		const char *req, *status;
	} cases[] = {
		{"BAD\r\n\r\n", "HTTP/1.1 400"},
		{"GET / HTTP/2.0\r\nHost: x\r\n\r\n", "HTTP/1.1 505"},
		{"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404"},
		{"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		 "HTTP/1.1 501"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = dial(t);
		assert_int_equal(send(fd, cases[i].req, strlen(cases[i].req), 0),
				 (ssize_t)strlen(cases[i].req));
		char buf[2048];
		read_answer(t, fd, buf, sizeof(buf), 100);
		assert_memory_equal(buf, cases[i].status, strlen(cases[i].status));
		close(fd);
	}
	struct sl_tcpl_stats st;
	sl_tcpl_stats(t, &st);
	assert_int_equal(st.status_4xx, 2);
	assert_int_equal(st.status_5xx, 2);
	assert_int_equal(st.upgrades, 0); /* no one to hand them to: 501 */
	sl_tcpl_close(t);
}

static int handed_fd = -1;
static size_t handed_len;

static struct sl_jwt_grant *handed_grant;

static char handed_path[64];

static int take(void *arg, int fd, void *tls, const uint8_t *bytes, size_t len,
		struct sl_jwt_grant *grant, const char *path)
{
	(void)tls;
	(void)bytes;
	if (arg)
		return SL_EBUSY;
	handed_fd = fd;
	handed_len = len;
	handed_grant = grant;
	snprintf(handed_path, sizeof(handed_path), "%s", path);
	return 0;
}

/* An upgrade goes to the hook with the bytes read, the socket left open; a hook that refuses
 * makes a 503. */
static void upgrades_are_handed_on(void **state)
{
	(void)state;
	struct sl_tcpl_config cfg;
	sl_tcpl_config_default(&cfg);
	cfg.addr = "127.0.0.1:0";
	cfg.upgrade = take;
	struct sl_tcpl *t;
	char err[128];
	assert_int_equal(sl_tcpl_open(&cfg, &handlers, &t, err, sizeof(err)), 0);
	const char *req =
		"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
	int fd = dial(t);
	send(fd, req, strlen(req), 0);
	for (int i = 0; i < 20 && handed_fd < 0; i++)
		sl_tcpl_poll(t, 10);
	assert_true(handed_fd >= 0);
	assert_int_equal(handed_len, strlen(req));
	/* Still open: the new owner answers on it. */
	assert_int_equal(send(handed_fd, "hi", 2, MSG_NOSIGNAL), 2);
	char buf[8];
	for (int i = 0; i < 20 && recv(fd, buf, 2, 0) != 2; i++)
		usleep(10000);
	assert_memory_equal(buf, "hi", 2);
	close(handed_fd);
	close(fd);
	struct sl_tcpl_stats st;
	sl_tcpl_stats(t, &st);
	assert_int_equal(st.upgrades, 1);
	assert_int_equal(st.open, 0);
	sl_tcpl_close(t);

	cfg.upgrade_arg = &cfg; /* take() refuses now */
	assert_int_equal(sl_tcpl_open(&cfg, &handlers, &t, err, sizeof(err)), 0);
	fd = dial(t);
	send(fd, req, strlen(req), 0);
	char ans[512];
	read_answer(t, fd, ans, sizeof(ans), 100);
	assert_memory_equal(ans, "HTTP/1.1 503", 12);
	close(fd);
	sl_tcpl_close(t);
}

/* With an authoriser, an upgrade is authorised before it is handed on: a refusal is a 401
 * with the reason, counted; an allowed one carries its grant to the hook. */
static void upgrades_are_authorised(void **state)
{
	(void)state;
	static const char *const pub[] = {"pub"};
	struct sl_jwt_auth_config ac = {.public_publish = pub,
					.npublic_publish = 1,
					.public_subscribe = pub,
					.npublic_subscribe = 1};
	struct sl_jwt_auth *auth;
	char err[128];
	assert_int_equal(sl_jwt_auth_new(&ac, &auth, err, sizeof(err)), 0);
	struct sl_http_handlers h = handlers;
	h.auth = auth;
	struct sl_tcpl_config cfg;
	sl_tcpl_config_default(&cfg);
	cfg.addr = "127.0.0.1:0";
	cfg.upgrade = take;
	struct sl_tcpl *t;
	assert_int_equal(sl_tcpl_open(&cfg, &h, &t, err, sizeof(err)), 0);
	handed_fd = -1;
	const char *refused = "GET /secret?jwt=abc HTTP/1.1\r\nHost: x\r\nUpgrade: "
			      "websocket\r\nConnection: Upgrade\r\n\r\n";
	int fd = dial(t);
	send(fd, refused, strlen(refused), 0);
	char ans[1024];
	read_answer(t, fd, ans, sizeof(ans), 100);
	assert_memory_equal(ans, "HTTP/1.1 401", 12);
	assert_non_null(strstr(ans, "unauthorized: tokens_disabled"));
	close(fd);
	assert_int_equal(handed_fd, -1);
	fd = dial(t);
	const char *anon = "GET /secret HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n";
	send(fd, anon, strlen(anon), 0);
	read_answer(t, fd, ans, sizeof(ans), 100);
	assert_memory_equal(ans, "HTTP/1.1 401", 12);
	assert_non_null(strstr(ans, "unauthorized: token_required"));
	close(fd);

	const char *ok = "GET /pub HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n";
	fd = dial(t);
	send(fd, ok, strlen(ok), 0);
	for (int i = 0; i < 20 && handed_fd < 0; i++)
		sl_tcpl_poll(t, 10);
	assert_true(handed_fd >= 0);
	assert_non_null(handed_grant);
	assert_string_equal(sl_jwt_grant_root(handed_grant), "pub");
	assert_string_equal(handed_path, "pub");
	assert_true(sl_jwt_may_publish(handed_grant, "x"));
	sl_jwt_grant_free(handed_grant);
	handed_grant = NULL;
	close(handed_fd);
	close(fd);
	struct sl_tcpl_stats st;
	sl_tcpl_stats(t, &st);
	assert_int_equal(st.auth_refused, 2);
	assert_int_equal(st.upgrades, 1);
	assert_int_equal(st.status_4xx, 2);
	sl_tcpl_close(t);
	sl_jwt_auth_free(auth);
}

static void a_head_too_long_is_431(void **state)
{
	(void)state;
	struct sl_tcpl *t = open_listener(0, 0);
	int fd = dial(t);
	char line[1024];
	memset(line, 'a', sizeof(line));
	const char *start = "GET / HTTP/1.1\r\nHost: x\r\n";
	send(fd, start, strlen(start), 0);
	for (int i = 0; i < 20; i++) {
		/* The listener stops reading at 16 KiB, answers and shuts its side. */
		if (send(fd, "X-Pad: ", 7, MSG_NOSIGNAL) < 0 ||
		    send(fd, line, sizeof(line), MSG_NOSIGNAL) < 0 ||
		    send(fd, "\r\n", 2, MSG_NOSIGNAL) < 0)
			break;
		sl_tcpl_poll(t, 0);
	}
	char buf[2048];
	read_answer(t, fd, buf, sizeof(buf), 100);
	assert_memory_equal(buf, "HTTP/1.1 431", 12);
	close(fd);
	/* The lingering connection notices the close and goes. */
	for (int i = 0; i < 10; i++)
		sl_tcpl_poll(t, 10);
	struct sl_tcpl_stats st;
	sl_tcpl_stats(t, &st);
	assert_int_equal(st.open, 0);
	assert_int_equal(st.timed_out, 0);
	sl_tcpl_close(t);
}

/* A handler that is not ready is asked again until it is; one that never is gets 504 at the
 * deadline. */
static void a_handler_that_waits_is_asked_again(void **state)
{
	(void)state;
	struct sl_tcpl *t = open_listener(0, 300 * 1000000ull);
	metrics_calls = 0;
	metrics_ready_after = 3;
	int fd = dial(t);
	const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	send(fd, req, strlen(req), 0);
	char buf[2048];
	for (int i = 0; i < 10 && sl_tcpl_wait_ms(t) < 0; i++)
		sl_tcpl_poll(t, 10);
	assert_int_equal(sl_tcpl_wait_ms(t), 20); /* waiting: poll me soon */
	read_answer(t, fd, buf, sizeof(buf), 100);
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	assert_non_null(strstr(buf, "m 1\n"));
	assert_int_equal(metrics_calls, 4);
	assert_int_equal(sl_tcpl_wait_ms(t), -1);
	close(fd);

	metrics_calls = 0;
	metrics_ready_after = 1000000;
	fd = dial(t);
	send(fd, req, strlen(req), 0);
	read_answer(t, fd, buf, sizeof(buf), 100);
	assert_non_null(strstr(buf, "HTTP/1.1 504"));
	close(fd);
	struct sl_tcpl_stats st;
	sl_tcpl_stats(t, &st);
	assert_int_equal(st.requests, 2);
	assert_int_equal(st.timed_out, 1);
	assert_int_equal(sl_tcpl_wait_ms(t), -1);
	metrics_ready_after = 0;
	sl_tcpl_close(t);
}

static void silent_and_surplus_connections_are_closed(void **state)
{
	(void)state;
	struct sl_tcpl *t = open_listener(2, 100 * 1000000ull);
	int a = dial(t), b = dial(t);
	sl_tcpl_poll(t, 10);
	sl_tcpl_poll(t, 10);
	int c = dial(t); /* the third: refused at accept */
	char buf[64];
	read_answer(t, c, buf, sizeof(buf), 20);
	struct sl_tcpl_stats st;
	sl_tcpl_stats(t, &st);
	assert_int_equal(st.accepted, 2);
	assert_int_equal(st.refused_full, 1);
	/* The silent ones go at their deadline. */
	read_answer(t, a, buf, sizeof(buf), 50);
	sl_tcpl_stats(t, &st);
	assert_int_equal(st.timed_out, 2);
	assert_int_equal(st.open, 0);
	assert_int_equal(recv(b, buf, sizeof(buf), 0), 0);
	close(a);
	close(b);
	close(c);
	sl_tcpl_close(t);
}

static void bad_configurations_are_refused(void **state)
{
	(void)state;
	struct sl_tcpl_config cfg;
	struct sl_tcpl *t;
	char err[128];
	sl_tcpl_config_default(&cfg);
	cfg.addr = "nonsense";
	assert_int_equal(sl_tcpl_open(&cfg, &handlers, &t, err, sizeof(err)), SL_EINVAL);
	cfg.addr = "127.0.0.1:0";
	cfg.cert_pem = "x"; /* without a key */
	assert_int_equal(sl_tcpl_open(&cfg, &handlers, &t, err, sizeof(err)), SL_EINVAL);
	cfg.key_pem = "y"; /* not PEM */
	assert_int_equal(sl_tcpl_open(&cfg, &handlers, &t, err, sizeof(err)), SL_EINVAL);
	sl_tcpl_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(answers_a_request_split_in_pieces),
		cmocka_unit_test(errors_and_upgrades_are_answered),
		cmocka_unit_test(upgrades_are_handed_on),
		cmocka_unit_test(upgrades_are_authorised),
		cmocka_unit_test(a_head_too_long_is_431),
		cmocka_unit_test(a_handler_that_waits_is_asked_again),
		cmocka_unit_test(silent_and_surplus_connections_are_closed),
		cmocka_unit_test(bad_configurations_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
