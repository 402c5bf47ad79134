/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for a qmux connection fed arbitrary messages. The first byte picks the framing
 * (qmux-00, -01, -02, legacy) and the side; the rest is a sequence of messages, each a 2-byte
 * big-endian length and its bytes. The application echoes what it reads on bidi streams,
 * opens streams of its own and resets some, and time moves, so that the send path, flow
 * control, the keep-alive and the idle timeout run as well. Nothing may crash or leak; every
 * stream hears on_stream_close exactly once; a failed connection stops taking messages.
 */
#include "core/buf.h"
#include "core/err.h"
#include "qmux/qmux.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t txbuf[65536];
static struct sl_qmux_conn *cur;
static long opened, closed;
static int closed_calls;

static uint8_t *tx_alloc(void *arg, size_t max)
{
	(void)arg;
	CHECK(max <= sizeof(txbuf));
	return txbuf;
}

static void tx_commit(void *arg, size_t len)
{
	(void)arg;
	CHECK(len <= sizeof(txbuf));
}

static void on_open(void *arg, struct sl_qmux_stream *s)
{
	(void)arg;
	opened++;
	sl_qmux_stream_set_user(s, s);
}

static void on_data(void *arg, struct sl_qmux_stream *s, void *user, const uint8_t *d, size_t len,
		    bool fin)
{
	(void)arg;
	CHECK(user == s);
	uint64_t id = sl_qmux_stream_id(s);
	if ((id & 2) == 0 && len > 0) {
		struct sl_buf *b = sl_buf_from(d, len);
		if (b != NULL)
			sl_qmux_stream_write(cur, s, sl_slice_of(b), fin);
	} else if ((id & 2) == 0 && fin) {
		sl_qmux_stream_write(cur, s, (struct sl_slice){NULL, 0, 0}, true);
	}
	if (len > 0 && d[0] == 0xee)
		sl_qmux_stream_reset(cur, s, 3);
}

static void on_close(void *arg, struct sl_qmux_stream *s, void *user)
{
	(void)arg;
	CHECK(user == s);
	closed++;
}

static void on_closed(void *arg, const struct sl_qmux_close_info *info)
{
	(void)arg;
	(void)info;
	closed_calls++;
}

static void noop_ping(void *arg)
{
	(void)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct sl_qmux_config cfg;
	sl_qmux_config_default(&cfg);
	cfg.framing = (enum sl_ws_framing)(data[0] & 3);
	cfg.server = (data[0] & 4) == 0;
	cfg.max_data = 4096;
	cfg.max_stream_data_bidi_local = cfg.max_stream_data_bidi_remote = 2048;
	cfg.max_stream_data_uni = 2048;
	cfg.max_streams_uni = cfg.max_streams_bidi = 8;
	cfg.max_open_streams = 64;
	static const struct sl_qmux_callbacks cb = {
		.tx_alloc = tx_alloc,
		.tx_commit = tx_commit,
		.on_stream_open = on_open,
		.on_stream_data = on_data,
		.on_stream_close = on_close,
		.send_ws_ping = noop_ping,
		.on_closed = on_closed,
	};
	opened = closed = 0;
	closed_calls = 0;
	uint64_t now = 0;
	CHECK(sl_qmux_conn_new(&cfg, &cb, NULL, now, &cur) == 0);
	sl_qmux_flush(cur, now);
	size_t off = 1;
	while (off + 2 <= size) {
		size_t n = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (n > size - off)
			n = size - off;
		int rc = sl_qmux_recv(cur, data + off, n, now);
		CHECK(rc == 0 || rc == SL_ECORRUPT || rc == SL_ECLOSED);
		if (rc == SL_ECORRUPT)
			CHECK(sl_qmux_recv(cur, data, 0, now) != 0);
		off += n;
		/* The application's own stream, now and then. */
		if (n > 0 && (data[off - 1] & 0x0f) == 0x05) {
			struct sl_qmux_stream *s;
			if (sl_qmux_stream_open(cur, data[off - 1] & 0x10, NULL, &s) == 0) {
				opened++;
				sl_qmux_stream_set_user(s, s);
				struct sl_buf *b = sl_buf_from(data, size < 2000 ? size : 2000);
				sl_qmux_stream_write(cur, s, sl_slice_of(b), true);
			}
		}
		now += (uint64_t)(n % 16) * 1000000000ull;
		if (sl_qmux_expiry(cur) <= now)
			sl_qmux_handle_expiry(cur, now);
		sl_qmux_flush(cur, now);
	}
	sl_qmux_flush(cur, now);
	if (!sl_qmux_closed(cur))
		sl_qmux_abort(cur);
	CHECK(closed_calls == 1);
	CHECK(opened == closed);
	sl_qmux_conn_free(cur);
	cur = NULL;
	return 0;
}
