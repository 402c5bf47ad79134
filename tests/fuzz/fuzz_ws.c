/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the WebSocket side of the qmux fallback. The first byte picks what is fed
 * and how it is split: the HTTP/1.1 request-head parser (then the upgrade checks, the
 * subprotocol choice and the answers), a client's parser and check of the 101 answer, or the
 * frame decoder of a server or a client connection. Nothing may crash or leak; a head that parses
 * must answer within its buffer; a connection that failed must have queued a close with a code and
 * stop taking bytes.
 */
#include "core/err.h"
#include "qmux/ws.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t messages;

static void on_message(void *arg, const uint8_t *d, size_t len)
{
	(void)arg;
	if (len > 0)
		CHECK(d != NULL);
	messages++;
}

static void fuzz_http(const uint8_t *data, size_t size, size_t step)
{
	static struct sl_ws_http h;
	sl_ws_http_init(&h);
	size_t off = 0;
	int rc = SL_EAGAIN;
	const char *why = NULL;
	while (off < size && rc == SL_EAGAIN) {
		size_t k = size - off < step ? size - off : step, used = 0;
		rc = sl_ws_http_feed(&h, data + off, k, &used, &why);
		CHECK(used <= k);
		off += used;
		if (rc == SL_EAGAIN)
			CHECK(used == k);
	}
	if (rc == SL_ENOSPC || rc == SL_ECORRUPT)
		CHECK(why != NULL);
	if (rc != 0)
		return;
	CHECK(h.req.path.len <= h.req.target.len);
	int status = 0;
	char out[2048];
	size_t len;
	if (sl_ws_check_upgrade(&h.req, &status, &why) != 0) {
		CHECK(status == 400 || status == 426);
		CHECK(sl_ws_response_error(status, why, out, sizeof(out), &len) == 0);
		return;
	}
	static const struct sl_ws_select_config cfg = {
		.alpn = {"moq-lite-05", "moq-lite-04"}, .n_alpn = 2, .bare = true};
	struct sl_ws_choice ch;
	rc = sl_ws_select(&h.req, &cfg, &ch, &why);
	CHECK(rc == 0 || rc == SL_ENOTFOUND || rc == SL_ENOTSUP);
	if (rc == 0) {
		CHECK(sl_ws_response_101(&h.req, &ch, out, sizeof(out), &len) == 0);
		CHECK(memcmp(out, "HTTP/1.1 101 ", 13) == 0);
	}
}

/* A client reading the server's answer. */
static void fuzz_response(const uint8_t *data, size_t size)
{
	static struct sl_ws_http h;
	sl_ws_http_init_response(&h);
	size_t used;
	const char *why = NULL;
	if (sl_ws_http_feed(&h, data, size, &used, &why) != 0)
		return;
	enum sl_ws_framing fr;
	char proto[SL_WS_MAX_PROTO];
	int rc = sl_ws_check_response(
		&h.req, "dGhlIHNhbXBsZSBub25jZQ==", "qmux-01.moq-lite-05, qmux-00, webtransport",
		&fr, proto, &why);
	CHECK(rc == 0 || (rc == SL_ECORRUPT && why != NULL));
	if (rc == 0)
		CHECK(fr <= SL_WS_LEGACY && strlen(proto) < SL_WS_MAX_PROTO);
}

static void fuzz_frames(const uint8_t *data, size_t size, size_t step, bool server)
{
	struct sl_ws_config cfg;
	sl_ws_config_default(&cfg);
	cfg.server = server;
	cfg.max_message = 4096;
	cfg.out_cap = 8192;
	struct sl_ws_callbacks cb = {.on_message = on_message};
	struct sl_ws_conn *c;
	CHECK(sl_ws_conn_new(&cfg, &cb, NULL, &c) == 0);
	size_t off = 0;
	int rc = 0;
	while (off < size) {
		size_t k = size - off < step ? size - off : step;
		rc = sl_ws_recv(c, data + off, k);
		off += k;
		const uint8_t *p;
		size_t n = sl_ws_pending(c, &p);
		sl_ws_consume(c, n);
		if (rc != 0)
			break;
		/* Answer every message: the output path runs too. */
		CHECK(sl_ws_send(c, data, size < 300 ? size : 300) == 0 || sl_ws_done(c));
	}
	if (rc == SL_ECORRUPT) {
		const char *why;
		CHECK(sl_ws_error(c, &why) != 0 && why != NULL);
		CHECK(sl_ws_done(c));
		CHECK(sl_ws_recv(c, data, size) == SL_ECLOSED);
	}
	sl_ws_conn_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	size_t step = 1 + (mode >> 2) * 7;
	data++;
	size--;
	switch (mode & 3) {
	case 0:
		fuzz_http(data, size, step);
		break;
	case 1:
		fuzz_frames(data, size, step, true);
		break;
	case 3:
		fuzz_response(data, size);
		break;
	default:
		fuzz_frames(data, size, step, false);
		break;
	}
	return 0;
}
