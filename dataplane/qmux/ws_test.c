/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/err.h"
#include "qmux/test_traces.h"
#include "qmux/ws.h"

#include <string.h>

/* The Node `ws` request of the byte-level reference (section a), key and list verbatim. */
static const char node_offers[] =
	"qmux-02.moq-lite-05,qmux-01.moq-lite-05,qmux-00.moq-lite-05,qmux-02.moq-lite-04,"
	"qmux-01.moq-lite-04,qmux-00.moq-lite-04,qmux-02.moq-lite-03,qmux-01.moq-lite-03,"
	"qmux-00.moq-lite-03,qmux-02.moql,qmux-01.moql,qmux-00.moql,qmux-01.moqt-20,"
	"qmux-01.moqt-18,qmux-02.moqt-17,qmux-01.moqt-17,qmux-00.moqt-17,qmux-02.moqt-16,"
	"qmux-01.moqt-16,qmux-00.moqt-16,qmux-02.moqt-15,qmux-01.moqt-15,qmux-00.moqt-15,"
	"qmux-02,qmux-01,qmux-00,webtransport";

static char node_request[4096];

static void make_node_request(const char *offers)
{
	snprintf(node_request, sizeof(node_request),
		 "GET /some/root?jwt=abc HTTP/1.1\r\n"
		 "Sec-WebSocket-Version: 13\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		 "Connection: Upgrade\r\n"
		 "Upgrade: websocket\r\n"
		 "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
		 "%s%s%s"
		 "Host: 127.0.0.1:4799\r\n\r\n",
		 offers ? "Sec-WebSocket-Protocol: " : "", offers ? offers : "",
		 offers ? "\r\n" : "");
}

static const struct sl_ws_select_config sel = {
	.alpn = {"moq-lite-05", "moq-lite-04"},
	.n_alpn = 2,
	.bare = true,
};

static bool sstr_eq(struct sl_ws_str s, const char *c)
{
	return s.len == strlen(c) && memcmp(s.p, c, s.len) == 0;
}

/* Parses req fed in pieces of `step` bytes (0: all at once). */
static int parse(struct sl_ws_http *h, const char *req, size_t step, const char **why)
{
	sl_ws_http_init(h);
	size_t n = strlen(req), off = 0;
	int rc = SL_EAGAIN;
	while (off < n && rc == SL_EAGAIN) {
		size_t k = step ? (n - off < step ? n - off : step) : n - off, used;
		rc = sl_ws_http_feed(h, (const uint8_t *)req + off, k, &used, why);
		off += used;
	}
	return rc;
}

static void accept_key_rfc_example(void **state)
{
	(void)state;
	char out[29];
	const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
	assert_int_equal(sl_ws_accept_key(key, strlen(key), out), 0);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void node_request_any_split(void **state)
{
	(void)state;
	make_node_request(node_offers);
	static const size_t steps[] = {0, 1, 2, 3, 7, 64};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct sl_ws_http h;
		const char *why = NULL;
		assert_int_equal(parse(&h, node_request, steps[i], &why), 0);
		const struct sl_ws_request *r = &h.req;
		assert_true(sstr_eq(r->method, "GET"));
		assert_true(sstr_eq(r->path, "/some/root"));
		assert_true(sstr_eq(r->query, "jwt=abc"));
		assert_true(sstr_eq(r->host, "127.0.0.1:4799"));
		assert_true(sstr_eq(r->key, "dGhlIHNhbXBsZSBub25jZQ=="));
		assert_true(sstr_eq(r->version, "13"));
		assert_true(r->connection_upgrade);
		assert_true(sl_ws_is_upgrade(r));
		int status;
		assert_int_equal(sl_ws_check_upgrade(r, &status, &why), 0);
		struct sl_ws_choice ch;
		assert_int_equal(sl_ws_select(r, &sel, &ch, &why), 0);
		assert_string_equal(ch.protocol, "qmux-01.moq-lite-05");
		assert_int_equal(ch.framing, SL_WS_QMUX01);
		assert_int_equal(ch.alpn, 0);
		char resp[512];
		size_t len;
		assert_int_equal(sl_ws_response_101(r, &ch, resp, sizeof(resp), &len), 0);
		/* The reference's answer (section a), and no Sec-WebSocket-Extensions. */
		const char *want = "HTTP/1.1 101 Switching Protocols\r\n"
				   "Upgrade: websocket\r\n"
				   "Connection: Upgrade\r\n"
				   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
				   "Sec-WebSocket-Protocol: qmux-01.moq-lite-05\r\n\r\n";
		assert_int_equal(len, strlen(want));
		assert_memory_equal(resp, want, len);
	}
}

static void bytes_after_head_are_left(void **state)
{
	(void)state;
	make_node_request(node_offers);
	char buf[4200];
	size_t n = strlen(node_request);
	memcpy(buf, node_request, n);
	memcpy(buf + n, "\x82\x85", 2); /* the first frame's bytes follow in the same read */
	struct sl_ws_http h;
	sl_ws_http_init(&h);
	size_t used;
	const char *why;
	assert_int_equal(sl_ws_http_feed(&h, (const uint8_t *)buf, n + 2, &used, &why), 0);
	assert_int_equal(used, n);
}

static const char *select_for(const char *offers, int *alpn, enum sl_ws_framing *fr, int *rc,
			      const struct sl_ws_select_config *cfg)
{
	static struct sl_ws_http h;
	static struct sl_ws_choice ch;
	const char *why;
	make_node_request(offers);
	assert_int_equal(parse(&h, node_request, 0, &why), 0);
	*rc = sl_ws_select(&h.req, cfg ? cfg : &sel, &ch, &why);
	*alpn = ch.alpn;
	*fr = ch.framing;
	return ch.protocol;
}

static void browser_list_and_variants(void **state)
{
	(void)state;
	/* Browsers join with ", ". */
	char browser[2048];
	size_t o = 0;
	for (const char *p = node_offers; *p; p++) {
		browser[o++] = *p;
		if (*p == ',')
			browser[o++] = ' ';
	}
	browser[o] = '\0';
	int alpn, rc;
	enum sl_ws_framing fr;
	assert_string_equal(select_for(browser, &alpn, &fr, &rc, NULL), "qmux-01.moq-lite-05");
	assert_int_equal(rc, 0);

	struct {
		const char *offers, *want;
		int alpn;
		enum sl_ws_framing fr;
	} cases[] = {
		{"qmux-00.moq-lite-05", "qmux-00.moq-lite-05", 0, SL_WS_QMUX00},
		{"qmux-00.moq-lite-05, qmux-01.moq-lite-04", "qmux-00.moq-lite-05", 0,
		 SL_WS_QMUX00},
		{"qmux-01.moq-lite-04,qmux-00.moq-lite-04", "qmux-01.moq-lite-04", 1, SL_WS_QMUX01},
		{"qmux-02.moq-lite-05, qmux-02", "qmux-02", -1, SL_WS_QMUX02},
		{"webtransport, qmux-00", "qmux-00", -1, SL_WS_QMUX00},
		{"webtransport", "webtransport", -1, SL_WS_LEGACY},
		{" qmux-01 ,\tqmux-02 ", "qmux-02", -1, SL_WS_QMUX02},
		/* The old 0.2.2 client, plain and forced to lite-04. */
		{"qmux-00, webtransport", "qmux-00", -1, SL_WS_QMUX00},
		{"qmux-00, webtransport, qmux-00.moq-lite-04, webtransport.moq-lite-04",
		 "qmux-00.moq-lite-04", 1, SL_WS_QMUX00},
		/* Its legacy framing with a version: the last of the pairs, before bare names. */
		{"webtransport.moq-lite-04", "webtransport.moq-lite-04", 1, SL_WS_LEGACY},
		{"webtransport, webtransport.moq-lite-04", "webtransport.moq-lite-04", 1,
		 SL_WS_LEGACY},
		{"webtransport.moq-lite-05, qmux-00.moq-lite-04", "qmux-00.moq-lite-04", 1,
		 SL_WS_QMUX00},
		{"webtransport.moq-lite-04, webtransport.moq-lite-05", "webtransport.moq-lite-05",
		 0, SL_WS_LEGACY},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = select_for(cases[i].offers, &alpn, &fr, &rc, NULL);
		assert_int_equal(rc, 0);
		assert_string_equal(got, cases[i].want);
		assert_int_equal(alpn, cases[i].alpn);
		assert_int_equal(fr, cases[i].fr);
	}
	/* qmux-02 is never paired with an application protocol (moq-relay's list). */
	select_for("qmux-02.moq-lite-05", &alpn, &fr, &rc, NULL);
	assert_int_equal(rc, SL_ENOTFOUND);
	/* Bare names off: only the pairs. */
	struct sl_ws_select_config strict = sel;
	strict.bare = false;
	select_for("qmux-00, webtransport", &alpn, &fr, &rc, &strict);
	assert_int_equal(rc, SL_ENOTFOUND);
	{
		/* The refusal names the cause: an in-band-only offer. */
		struct sl_ws_http h2;
		struct sl_ws_choice ch2;
		const char *why2;
		make_node_request("qmux-00, webtransport");
		assert_int_equal(parse(&h2, node_request, 0, &why2), 0);
		assert_int_equal(sl_ws_select(&h2.req, &strict, &ch2, &why2), SL_ENOTFOUND);
		assert_non_null(strstr(why2, "in-band version negotiation"));
		make_node_request("qmux-01.moqt-18");
		assert_int_equal(parse(&h2, node_request, 0, &why2), 0);
		assert_int_equal(sl_ws_select(&h2.req, &strict, &ch2, &why2), SL_ENOTFOUND);
		assert_null(strstr(why2, "in-band"));
	}
	assert_string_equal(select_for("webtransport.moq-lite-04", &alpn, &fr, &rc, &strict),
			    "webtransport.moq-lite-04");
	assert_int_equal(fr, SL_WS_LEGACY);
	assert_string_equal(select_for(node_offers, &alpn, &fr, &rc, &strict),
			    "qmux-01.moq-lite-05");
}

static void no_offer_and_bad_offer(void **state)
{
	(void)state;
	int alpn, rc;
	enum sl_ws_framing fr;
	/* Nothing offered: moq-relay upgrades anyway, legacy framing, in-band version. */
	const char *got = select_for(NULL, &alpn, &fr, &rc, NULL);
	assert_int_equal(rc, 0);
	assert_string_equal(got, "");
	assert_int_equal(fr, SL_WS_LEGACY);
	assert_int_equal(alpn, -1);
	struct sl_ws_http h;
	const char *why;
	make_node_request(NULL);
	assert_int_equal(parse(&h, node_request, 0, &why), 0);
	struct sl_ws_choice ch;
	assert_int_equal(sl_ws_select(&h.req, &sel, &ch, &why), 0);
	assert_false(ch.offered);
	char resp[512];
	size_t len;
	assert_int_equal(sl_ws_response_101(&h.req, &ch, resp, sizeof(resp), &len), 0);
	resp[len] = '\0';
	assert_null(strstr(resp, "Sec-WebSocket-Protocol"));
	struct sl_ws_select_config strict = sel;
	strict.bare = false;
	select_for(NULL, &alpn, &fr, &rc, &strict);
	assert_int_equal(rc, SL_ENOTSUP);

	/* Offers, none acceptable: 400, never an echo. */
	select_for("moq-lite-05, qmux-01.moq-lite-03, qmux-01.moqt-18", &alpn, &fr, &rc, NULL);
	assert_int_equal(rc, SL_ENOTFOUND);
	assert_int_equal(sl_ws_response_error(400, "no acceptable Sec-WebSocket-Protocol offered",
					      resp, sizeof(resp), &len),
			 0);
	assert_memory_equal(resp, "HTTP/1.1 400 Bad Request\r\n", 26);
	resp[len] = '\0';
	assert_non_null(strstr(resp, "Connection: close\r\n"));
}

static void offers_over_several_lines(void **state)
{
	(void)state;
	const char *req = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
			  "Connection: keep-alive, Upgrade\r\n"
			  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			  "Sec-WebSocket-Version: 13\r\n"
			  "Sec-WebSocket-Protocol: qmux-00.moq-lite-04\r\n"
			  "sec-websocket-protocol: qmux-01.moq-lite-05\r\n\r\n";
	struct sl_ws_http h;
	const char *why;
	assert_int_equal(parse(&h, req, 5, &why), 0);
	int status;
	assert_int_equal(sl_ws_check_upgrade(&h.req, &status, &why), 0);
	struct sl_ws_choice ch;
	assert_int_equal(sl_ws_select(&h.req, &sel, &ch, &why), 0);
	assert_string_equal(ch.protocol, "qmux-01.moq-lite-05");
	assert_int_equal(h.req.query.len, 0);
}

/* Every capture's offer list gets the value the reference server chose. */
static void trace_offers_select_as_reference(void **state)
{
	(void)state;
	const char *files[] = {
		"lite05-qmux01-subscriber.txt",
		"lite05-qmux01-publisher.txt",
		"lite04-qmux01-subscriber.txt",
		"legacy-webtransport-lite02-subscriber.txt",
		"old-client-0.2.2-bare-qmux00-lite02-subscriber.txt",
		"old-client-0.2.2-qmux00-lite04-publisher.txt",
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct trace t;
		assert_int_equal(trace_load(files[i], &t), 0);
		assert_true(t.offered[0] != '\0');
		int alpn, rc;
		enum sl_ws_framing fr;
		const char *got = select_for(t.offered, &alpn, &fr, &rc, NULL);
		assert_int_equal(rc, 0);
		assert_string_equal(got, t.selected);
		trace_free(&t);
	}
}

static void request_errors(void **state)
{
	(void)state;
	struct {
		const char *req;
		int rc;	   /* from the parser */
		int check; /* status from sl_ws_check_upgrade, 0 = passes */
		const char *why;
	} cases[] = {
		{"POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		 0, 400, "not GET"},
		{"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Version: 13\r\n\r\n",
		 0, 400, "missing Sec-WebSocket-Key"},
		{"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: short==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		 0, 400, "bad Sec-WebSocket-Key"},
		{"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
		 0, 426, "wrong Sec-WebSocket-Version (13 is served)"},
		{"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		 0, 400, "missing Host"},
		{"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		 0, 400, "missing Upgrade: websocket"},
		{"GET / HTTP/1.0\r\nHost: x\r\n\r\n", 0, 400, "not HTTP/1.1"},
		{"GET /\r\nHost: x\r\n\r\n", SL_ECORRUPT, 0, "bad request line"},
		{"GET / HTTP/2\r\n\r\n", SL_ECORRUPT, 0, "bad request line: not HTTP/1.x"},
		{"GET http://x/ HTTP/1.1\r\n\r\n", SL_ECORRUPT, 0,
		 "bad request line: target is not a path"},
		{"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", SL_ECORRUPT, 0,
		 "bad header: folded line"},
		{"GET / HTTP/1.1\r\nHost x\r\n\r\n", SL_ECORRUPT, 0, "bad header: no name"},
		{"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", SL_ECORRUPT, 0, "duplicate Host"},
		{"\r\n\r\n", SL_ECORRUPT, 0, "bad request line: empty"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sl_ws_http h;
		const char *why = NULL;
		int rc = parse(&h, cases[i].req, 3, &why);
		assert_int_equal(rc, cases[i].rc);
		if (rc != 0) {
			assert_string_equal(why, cases[i].why);
			continue;
		}
		int status = 0;
		rc = sl_ws_check_upgrade(&h.req, &status, &why);
		assert_int_equal(rc, SL_ECORRUPT);
		assert_int_equal(status, cases[i].check);
		assert_string_equal(why, cases[i].why);
	}
	char resp[256];
	size_t len;
	assert_int_equal(sl_ws_response_error(426, "wrong version", resp, sizeof(resp), &len), 0);
	resp[len] = '\0';
	assert_non_null(strstr(resp, "Sec-WebSocket-Version: 13\r\n"));
}

static void request_too_long(void **state)
{
	(void)state;
	static char big[SL_WS_MAX_HEAD + 100];
	/* One header line longer than any may be. */
	int n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nX-Long: ");
	memset(big + n, 'a', 5000);
	strcpy(big + n + 5000, "\r\n\r\n");
	struct sl_ws_http h;
	const char *why;
	assert_int_equal(parse(&h, big, 100, &why), SL_ENOSPC);
	assert_string_equal(why, "header too long");
	/* Many short lines past 8 KiB, never ending. */
	big[0] = '\0';
	strcat(big, "GET / HTTP/1.1\r\n");
	while (strlen(big) < SL_WS_MAX_HEAD + 50)
		strcat(big, "X-A: b\r\n");
	assert_int_equal(parse(&h, big, 1000, &why), SL_ENOSPC);
	assert_string_equal(why, "request head too long");
	/* A request line that never ends. */
	memset(big, 'G', SL_WS_MAX_HEAD);
	big[SL_WS_MAX_HEAD] = '\0';
	assert_int_equal(parse(&h, big, 0, &why), SL_ENOSPC);
	assert_string_equal(why, "request line too long");
}

/* ---- frames ---- */

struct sink {
	uint8_t msgs[8][70000];
	size_t len[8];
	int n;
	int controls;
	int closes;
	uint16_t close_code;
};

static void on_message(void *arg, const uint8_t *data, size_t len)
{
	struct sink *s = arg;
	assert_true(s->n < 8);
	memcpy(s->msgs[s->n], data, len);
	s->len[s->n++] = len;
}

static void on_control(void *arg)
{
	((struct sink *)arg)->controls++;
}

static void on_close(void *arg, uint16_t code)
{
	struct sink *s = arg;
	s->closes++;
	s->close_code = code;
}

static const struct sl_ws_callbacks sink_cb = {on_message, on_control, on_close};

/* A client frame built by hand (not by the code under test). */
static size_t client_frame(uint8_t *out, bool fin, uint8_t op, bool mask, const uint8_t *p,
			   size_t n)
{
	size_t h = 0;
	out[h++] = (uint8_t)((fin ? 0x80 : 0) | op);
	uint8_t m = mask ? 0x80 : 0;
	if (n < 126) {
		out[h++] = (uint8_t)(m | n);
	} else if (n < 65536) {
		out[h++] = m | 126;
		out[h++] = (uint8_t)(n >> 8);
		out[h++] = (uint8_t)n;
	} else {
		out[h++] = m | 127;
		for (int i = 7; i >= 0; i--)
			out[h++] = (uint8_t)((uint64_t)n >> (8 * i));
	}
	const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
	if (mask) {
		memcpy(out + h, key, 4);
		h += 4;
	}
	for (size_t i = 0; i < n; i++)
		out[h + i] = mask ? p[i] ^ key[i & 3] : p[i];
	return h + n;
}

static struct sl_ws_conn *server(struct sink *s)
{
	struct sl_ws_config cfg;
	sl_ws_config_default(&cfg);
	cfg.max_message = 65536;
	struct sl_ws_conn *c;
	memset(s, 0, sizeof(*s));
	assert_int_equal(sl_ws_conn_new(&cfg, &sink_cb, s, &c), 0);
	return c;
}

static int feed_split(struct sl_ws_conn *c, const uint8_t *p, size_t n, size_t step)
{
	int rc = 0;
	for (size_t off = 0; off < n && rc == 0; off += step)
		rc = sl_ws_recv(c, p + off, n - off < step ? n - off : step);
	return rc;
}

static void masked_messages_fragments_and_ping(void **state)
{
	(void)state;
	static struct sink s;
	static uint8_t in[300000], payload[70000];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	static const size_t steps[] = {1, 3, 1000, 300000};
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		struct sl_ws_conn *c = server(&s);
		size_t n = 0;
		n += client_frame(in + n, true, 2, true, (const uint8_t *)"\x0e\x00\x00\x01\x01",
				  5);
		/* A message in three fragments with a ping between them. */
		n += client_frame(in + n, false, 2, true, payload, 100);
		n += client_frame(in + n, false, 0, true, payload + 100, 200);
		n += client_frame(in + n, true, 9, true, (const uint8_t *)"hi", 2);
		n += client_frame(in + n, true, 0, true, payload + 300, 65000 - 300);
		/* An empty binary message is a message. */
		n += client_frame(in + n, true, 2, true, NULL, 0);
		assert_int_equal(feed_split(c, in, n, steps[k]), 0);
		assert_int_equal(s.n, 3);
		assert_int_equal(s.len[0], 5);
		assert_memory_equal(s.msgs[0], "\x0e\x00\x00\x01\x01", 5);
		assert_int_equal(s.len[1], 65000);
		assert_memory_equal(s.msgs[1], payload, 65000);
		assert_int_equal(s.len[2], 0);
		assert_int_equal(s.controls, 1);
		/* The pong echoes the ping, unmasked. */
		const uint8_t *out;
		size_t on = sl_ws_pending(c, &out);
		assert_int_equal(on, 4);
		assert_memory_equal(out, "\x8a\x02hi", 4);
		sl_ws_consume(c, on);
		assert_false(sl_ws_done(c));
		sl_ws_conn_free(c);
	}
}

static void violations_close_with_codes(void **state)
{
	(void)state;
	static struct sink s;
	uint8_t in[256];
	struct {
		bool fin;
		uint8_t op;
		bool mask;
		uint8_t rsv;
		uint16_t code;
		const char *why;
	} cases[] = {
		{true, 2, false, 0, 1002, "unmasked frame from a client"},
		{true, 1, true, 0, 1003, "text message"},
		{true, 0, true, 0, 1002, "continuation without a message"},
		{true, 2, true, 0x40, 1002, "reserved bits set (no extension agreed)"},
		{true, 3, true, 0, 1002, "unknown opcode"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sl_ws_conn *c = server(&s);
		size_t n = client_frame(in, cases[i].fin, cases[i].op, cases[i].mask,
					(const uint8_t *)"abc", 3);
		in[0] |= cases[i].rsv;
		assert_int_equal(sl_ws_recv(c, in, n), SL_ECORRUPT);
		const char *why;
		assert_int_equal(sl_ws_error(c, &why), cases[i].code);
		assert_string_equal(why, cases[i].why);
		assert_true(sl_ws_done(c));
		const uint8_t *out;
		size_t on = sl_ws_pending(c, &out);
		assert_int_equal(on, 4);
		assert_int_equal(out[0], 0x88);
		assert_int_equal(out[2] << 8 | out[3], cases[i].code);
		assert_int_equal(s.n, 0);
		/* Nothing more is read. */
		assert_int_equal(sl_ws_recv(c, in, n), SL_ECLOSED);
		sl_ws_conn_free(c);
	}
	/* Too big: 1009, found from the header before the payload is read. */
	struct sl_ws_config cfg;
	sl_ws_config_default(&cfg);
	cfg.max_message = 100;
	struct sl_ws_conn *c;
	assert_int_equal(sl_ws_conn_new(&cfg, &sink_cb, &s, &c), 0);
	static uint8_t big[400], src[200];
	size_t n = client_frame(big, true, 2, true, src, 60);
	n += client_frame(big + n, true, 2, true, src, 101);
	assert_int_equal(sl_ws_recv(c, big, n), SL_ECORRUPT);
	assert_int_equal(sl_ws_error(c, NULL), SL_WS_CLOSE_TOO_BIG);
	assert_int_equal(s.n, 1);
	sl_ws_conn_free(c);
	/* A new message inside a fragmented one. */
	c = server(&s);
	n = client_frame(in, false, 2, true, (const uint8_t *)"a", 1);
	n += client_frame(in + n, true, 2, true, (const uint8_t *)"b", 1);
	assert_int_equal(sl_ws_recv(c, in, n), SL_ECORRUPT);
	assert_int_equal(sl_ws_error(c, NULL), SL_WS_CLOSE_PROTOCOL);
	sl_ws_conn_free(c);
	/* A ping longer than 125 bytes (wslay's check). */
	c = server(&s);
	in[0] = 0x89;
	in[1] = 0x80 | 126;
	in[2] = 0;
	in[3] = 200;
	assert_int_equal(sl_ws_recv(c, in, 8), SL_ECORRUPT);
	sl_ws_conn_free(c);
}

static void close_handshake(void **state)
{
	(void)state;
	static struct sink s;
	uint8_t in[64];
	/* The peer closes first (JS closes without a code: 1005). */
	struct sl_ws_conn *c = server(&s);
	size_t n = client_frame(in, true, 8, true, NULL, 0);
	assert_int_equal(sl_ws_recv(c, in, n), SL_ECLOSED);
	assert_int_equal(s.closes, 1);
	assert_int_equal(s.close_code, SL_WS_CLOSE_NO_STATUS);
	assert_true(sl_ws_done(c));
	const uint8_t *out;
	assert_int_equal(sl_ws_pending(c, &out), 2);
	assert_memory_equal(out, "\x88\x00", 2);
	assert_int_equal(sl_ws_send(c, (const uint8_t *)"x", 1), SL_ECLOSED);
	sl_ws_conn_free(c);
	/* We close first with 1000; the echo completes it. */
	c = server(&s);
	assert_int_equal(sl_ws_close(c, SL_WS_CLOSE_NORMAL), 0);
	assert_int_equal(sl_ws_close(c, SL_WS_CLOSE_NORMAL), SL_ECLOSED);
	assert_false(sl_ws_done(c));
	assert_int_equal(sl_ws_pending(c, &out), 4);
	assert_memory_equal(out, "\x88\x02\x03\xe8", 4);
	n = client_frame(in, true, 8, true, (const uint8_t *)"\x03\xe8", 2);
	assert_int_equal(sl_ws_recv(c, in, n), SL_ECLOSED);
	assert_int_equal(s.close_code, 1000);
	assert_true(sl_ws_done(c));
	assert_int_equal(sl_ws_pending(c, &out), 4); /* no second close */
	sl_ws_conn_free(c);
}

static void outgoing_headers_in_place(void **state)
{
	(void)state;
	static struct sink s;
	struct sl_ws_conn *c = server(&s);
	static const size_t sizes[] = {0, 5, 125, 126, 16382, 65535, 65536};
	static uint8_t data[70000];
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = sl_ws_msg_alloc(c, 70000);
		assert_non_null(p);
		memset(p, 0xab, sizes[i]);
		sl_ws_msg_commit(c, sizes[i]);
		const uint8_t *out;
		size_t n = sl_ws_pending(c, &out);
		size_t h = sizes[i] < 126 ? 2 : sizes[i] < 65536 ? 4 : 10;
		assert_int_equal(n, h + sizes[i]);
		assert_int_equal(out[0], 0x82);
		assert_int_equal(out[1] & 0x80, 0); /* a server never masks */
		if (sizes[i] > 0)
			assert_int_equal(out[h], 0xab);
		sl_ws_consume(c, n);
	}
	/* Backpressure: the queue fills up, then drains. */
	size_t sent = 0;
	while (sl_ws_send(c, data, 16000) == 0)
		sent++;
	assert_true(sent >= 15);
	const uint8_t *out;
	sl_ws_consume(c, sl_ws_pending(c, &out));
	assert_int_equal(sl_ws_send(c, data, 16000), 0);
	sl_ws_conn_free(c);
}

/* A client engine and a server engine back to back: masking, both directions. */
static void client_to_server_and_back(void **state)
{
	(void)state;
	static struct sink cs, ss;
	struct sl_ws_config cfg;
	sl_ws_config_default(&cfg);
	cfg.server = false;
	cfg.mask_seed = 42;
	struct sl_ws_conn *cli, *srv = server(&ss);
	memset(&cs, 0, sizeof(cs));
	assert_int_equal(sl_ws_conn_new(&cfg, &sink_cb, &cs, &cli), 0);
	static uint8_t data[20000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ (i >> 8));
	assert_int_equal(sl_ws_send(cli, data, 20), 0);
	assert_int_equal(sl_ws_send(cli, data, 20000), 0);
	assert_int_equal(sl_ws_ping(cli, (const uint8_t *)"p", 1), 0);
	const uint8_t *out;
	size_t n = sl_ws_pending(cli, &out);
	assert_int_equal(out[1] & 0x80, 0x80); /* masked */
	assert_int_equal(feed_split(srv, out, n, 777), 0);
	sl_ws_consume(cli, n);
	assert_int_equal(ss.n, 2);
	assert_memory_equal(ss.msgs[1], data, 20000);
	assert_int_equal(sl_ws_send(srv, data + 5, 300), 0);
	n = sl_ws_pending(srv, &out);
	assert_int_equal(feed_split(cli, out, n, 1), 0);
	assert_int_equal(cs.n, 1);
	assert_int_equal(cs.controls, 1); /* the pong */
	assert_memory_equal(cs.msgs[0], data + 5, 300);
	/* A server must not mask: the client refuses a masked frame. */
	uint8_t bad[16];
	size_t bn = client_frame(bad, true, 2, true, (const uint8_t *)"z", 1);
	assert_int_equal(sl_ws_recv(cli, bad, bn), SL_ECORRUPT);
	assert_int_equal(sl_ws_error(cli, NULL), SL_WS_CLOSE_PROTOCOL);
	struct sl_ws_stats st;
	sl_ws_stats(srv, &st);
	assert_int_equal(st.rx_messages, 2);
	assert_int_equal(st.pings_rx, 1);
	sl_ws_conn_free(cli);
	sl_ws_conn_free(srv);
}

static void client_request_and_framing_of(void **state)
{
	(void)state;
	char buf[512];
	size_t len;
	assert_int_equal(sl_ws_request_write("/demo?jwt=x", "127.0.0.1:4443",
					     "qmux-01.moq-lite-05, qmux-00.moq-lite-05",
					     "dGhlIHNhbXBsZSBub25jZQ==", buf, sizeof(buf), &len),
			 0);
	buf[len] = '\0';
	struct sl_ws_http h;
	const char *why;
	assert_int_equal(parse(&h, buf, 0, &why), 0);
	int status;
	assert_int_equal(sl_ws_check_upgrade(&h.req, &status, &why), 0);
	enum sl_ws_framing fr;
	assert_int_equal(sl_ws_framing_of("qmux-01.moq-lite-05", 19, &fr), 0);
	assert_int_equal(fr, SL_WS_QMUX01);
	assert_int_equal(sl_ws_framing_of("webtransport", 12, &fr), 0);
	assert_int_equal(fr, SL_WS_LEGACY);
	assert_int_equal(sl_ws_framing_of("qmux-0", 6, &fr), SL_ENOTFOUND);
	assert_int_equal(sl_ws_framing_of("qmux-011", 8, &fr), SL_ENOTFOUND);
}

/* A client's request through the server side, the answer through the client side. */
static void client_checks_answer(void **state)
{
	(void)state;
	const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
	const char *offers = "qmux-01.moq-lite-05, qmux-00.moq-lite-05, qmux-01";
	char buf[1024];
	size_t len;
	assert_int_equal(sl_ws_request_write("/", "h", offers, key, buf, sizeof(buf), &len), 0);
	buf[len] = '\0';
	struct sl_ws_http h;
	const char *why;
	assert_int_equal(parse(&h, buf, 0, &why), 0);
	struct sl_ws_choice ch;
	assert_int_equal(sl_ws_select(&h.req, &sel, &ch, &why), 0);
	assert_int_equal(sl_ws_response_101(&h.req, &ch, buf, sizeof(buf), &len), 0);
	buf[len] = '\0';
	struct sl_ws_http r;
	sl_ws_http_init_response(&r);
	size_t used;
	assert_int_equal(sl_ws_http_feed(&r, (const uint8_t *)buf, len, &used, &why), 0);
	assert_int_equal(r.req.status, 101);
	enum sl_ws_framing fr;
	char proto[SL_WS_MAX_PROTO];
	assert_int_equal(sl_ws_check_response(&r.req, key, offers, &fr, proto, &why), 0);
	assert_string_equal(proto, "qmux-01.moq-lite-05");
	assert_int_equal(fr, SL_WS_QMUX01);
	/* What a client must refuse. */
	struct {
		const char *resp, *why;
	} bad[] = {
		{"HTTP/1.1 400 Bad Request\r\n\r\n", "not 101 Switching Protocols"},
		{"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n"
		 "Sec-WebSocket-Protocol: qmux-01\r\n\r\n",
		 "wrong Sec-WebSocket-Accept"},
		{"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
		 "no Sec-WebSocket-Protocol in the answer"},
		{"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
		 "Sec-WebSocket-Protocol: qmux-02\r\n\r\n",
		 "Sec-WebSocket-Protocol not offered"},
		{"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
		 "Sec-WebSocket-Extensions: permessage-deflate\r\n"
		 "Sec-WebSocket-Protocol: qmux-01\r\n\r\n",
		 "an extension nobody offered"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sl_ws_http_init_response(&r);
		assert_int_equal(sl_ws_http_feed(&r, (const uint8_t *)bad[i].resp,
						 strlen(bad[i].resp), &used, &why),
				 0);
		assert_int_equal(sl_ws_check_response(&r.req, key, offers, &fr, proto, &why),
				 SL_ECORRUPT);
		assert_string_equal(why, bad[i].why);
	}
	sl_ws_http_init_response(&r);
	assert_int_equal(
		sl_ws_http_feed(&r, (const uint8_t *)"HTTP/1.1 1x1 No\r\n\r\n", 20, &used, &why),
		SL_ECORRUPT);
	assert_string_equal(why, "bad status line");
}

static void stats_table_covers(void **state)
{
	(void)state;
	char err[128];
	assert_int_equal(
		sl_stats_check_covers(sl_ws_stats_fields, sizeof(struct sl_ws_stats), err, 128), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accept_key_rfc_example),
		cmocka_unit_test(node_request_any_split),
		cmocka_unit_test(bytes_after_head_are_left),
		cmocka_unit_test(browser_list_and_variants),
		cmocka_unit_test(no_offer_and_bad_offer),
		cmocka_unit_test(offers_over_several_lines),
		cmocka_unit_test(trace_offers_select_as_reference),
		cmocka_unit_test(request_errors),
		cmocka_unit_test(request_too_long),
		cmocka_unit_test(masked_messages_fragments_and_ping),
		cmocka_unit_test(violations_close_with_codes),
		cmocka_unit_test(close_handshake),
		cmocka_unit_test(outgoing_headers_in_place),
		cmocka_unit_test(client_to_server_and_back),
		cmocka_unit_test(client_request_and_framing_of),
		cmocka_unit_test(client_checks_answer),
		cmocka_unit_test(stats_table_covers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
