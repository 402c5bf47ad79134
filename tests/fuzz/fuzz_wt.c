/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the WebTransport server connection (dataplane/h3/wt.h) with a real moq-lite
 * session behind it: the input is a script of a client's stream events (open a bidi or uni
 * stream, bytes on one, its end, a reset, its close, acknowledgements), and the bytes may be a
 * control stream, a CONNECT, capsules or session streams. The first script runs after a valid
 * control stream and CONNECT when the first byte is odd, so the fuzzer reaches the session
 * quickly. When the first byte has bit 1 set, the connection is a client
 * (sl_wt_conn_new_client) and the script plays the server: the preamble is then the server's
 * SETTINGS and a 200 naming moq-lite-05 on the client's CONNECT stream. Nothing may crash or
 * leak; the host gets back every session it attached.
 */
#include "core/buf.h"
#include "core/err.h"
#include "h3/wt.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STREAMS 32

struct qs {
	bool used, open, closed, bidi, ours;
	void *user;
	uint64_t written;
};

static struct qs streams[MAX_STREAMS];
static int attached, detached;
static bool conn_closed, client_mode;

static struct qs *qs_get(void)
{
	for (int i = 0; i < MAX_STREAMS; i++) {
		if (!streams[i].used) {
			memset(&streams[i], 0, sizeof(streams[i]));
			streams[i].used = true;
			streams[i].open = true;
			return &streams[i];
		}
	}
	return NULL;
}

static int lo_open(void *t, bool bidi, void *user, void **handle)
{
	(void)t;
	(void)bidi;
	struct qs *q = qs_get();
	if (q == NULL)
		return SL_EBUSY;
	q->bidi = bidi;
	q->ours = true;
	q->user = user;
	*handle = q;
	return 0;
}

static int lo_write(void *t, void *h, struct sl_slice d, bool fin)
{
	(void)t;
	(void)fin;
	struct qs *q = h;
	CHECK(q->used);
	q->written += d.len;
	if (d.buf)
		sl_buf_unref(d.buf);
	return 0;
}

static int lo_reset(void *t, void *h, uint64_t code)
{
	(void)t;
	(void)h;
	(void)code;
	return 0;
}

static void lo_release(void *t, void *h)
{
	(void)t;
	((struct qs *)h)->user = NULL;
}

static void lo_close(void *t, uint64_t code, const char *reason)
{
	(void)t;
	(void)code;
	(void)reason;
	conn_closed = true;
}

static const struct sl_moq_transport_ops lower = {lo_open,    lo_write, lo_reset,
						  lo_release, lo_close, NULL};

static struct sl_moq_session *h_attach(void *arg, struct sl_wt_conn *c,
				       const struct sl_h3_connect *req, const char *alpn,
				       const struct sl_moq_transport_ops *ops, void *t, int *status,
				       const char **why)
{
	(void)arg;
	(void)c;
	(void)req;
	(void)status;
	(void)why;
	struct sl_moq_session_config cfg;
	sl_moq_session_config_default(&cfg);
	cfg.server = !client_mode;
	cfg.version = strcmp(alpn, "moq-lite-05") == 0 ? SL_MOQ_LITE_05 : SL_MOQ_LITE_04;
	attached++;
	return sl_moq_session_new(&cfg, ops, t, NULL);
}

static void h_detach(void *arg, struct sl_wt_conn *c, struct sl_moq_session *s)
{
	(void)arg;
	(void)c;
	detached++;
	sl_moq_session_free(s);
}

/* A control stream and a CONNECT offering both versions, as Chromium sends them. */
static const uint8_t preamble_ctl[] = {0x00, 0x04, 0x04, 0x33, 0x01, 0x08, 0x01};
static const uint8_t preamble_connect[] = {
	0x01, 0x3a, 0x00, 0x00, 0xcf, 0xd7, 0x50, 0x01, 'a', 0xc1, 0x27, 0x02, ':', 'p',  'r',
	'o',  't',  'o',  'c',	'o',  'l',  0x0c, 'w',	'e', 'b',  't',	 'r',  'a', 'n',  's',
	'p',  'o',  'r',  't',	0x27, 0x0f, 'w',  't',	'-', 'a',  'v',	 'a',  'i', 'l',  'a',
	'b',  'l',  'e',  '-',	'p',  'r',  'o',  't',	'o', 'c',  'o',	 'l',  's', 0x0d, '"',
	'm',  'o',  'q',  '-',	'l',  'i',  't',  'e',	'-', '0',  '5',	 '"'};

/* The server's side of the preamble for a client: SETTINGS enabling extended CONNECT, datagrams
 * and WebTransport, then (on the client's CONNECT stream) a 200 naming moq-lite-05. */
static const uint8_t server_ctl[] = {0x00, 0x04, 0x09, 0x08, 0x01, 0x33,
				     0x01, 0xab, 0x60, 0x37, 0x42, 0x01};

static void client_preamble(struct sl_wt_conn *c, struct qs **peer, int *npeer)
{
	struct qs *q = qs_get();
	q->user = sl_wt_stream_accept(c, q, false);
	sl_wt_stream_data(c, q->user, server_ctl, sizeof(server_ctl), false);
	peer[(*npeer)++] = q;
	struct qs *connect = NULL;
	for (int i = 0; i < MAX_STREAMS && connect == NULL; i++)
		if (streams[i].used && streams[i].ours && streams[i].bidi)
			connect = &streams[i];
	if (connect == NULL)
		return;
	peer[(*npeer)++] = connect;
	struct sl_h3_qpack *qp;
	if (sl_h3_qpack_new(&qp) != 0)
		return;
	static const struct sl_h3_field f[] = {{":status", "200", 7, 3},
					       {"wt-protocol", "\"moq-lite-05\"", 11, 13}};
	uint8_t buf[128];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	if (sl_h3_qpack_encode(qp, 0, f, 2, &w) == 0)
		sl_wt_stream_data(c, connect->user, buf, sl_writer_len(&w), false);
	sl_h3_qpack_free(qp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	memset(streams, 0, sizeof(streams));
	attached = detached = 0;
	conn_closed = false;
	client_mode = size > 0 && (data[0] & 2);
	struct sl_wt_host host = {.attach = h_attach,
				  .detach = h_detach,
				  .alpns = {"moq-lite-05", "moq-lite-04"},
				  .n_alpns = 2};
	struct sl_wt_conn *c;
	if (client_mode
		    ? sl_wt_conn_new_client(&host, "relay:443", "/?jwt=x", &lower, NULL, &c) != 0
		    : sl_wt_conn_new(&host, &lower, NULL, &c) != 0)
		return 0;
	sl_wt_start(c);
	struct qs *peer[MAX_STREAMS];
	int npeer = 0;
	if (client_mode && (data[0] & 1)) {
		client_preamble(c, peer, &npeer);
		CHECK(attached == 1); /* the answer attached the client's session */
	} else if (size > 0 && (data[0] & 1)) {
		struct qs *q = qs_get();
		q->user = sl_wt_stream_accept(c, q, false);
		sl_wt_stream_data(c, q->user, preamble_ctl, sizeof(preamble_ctl), false);
		peer[npeer++] = q;
		q = qs_get();
		q->user = sl_wt_stream_accept(c, q, true);
		sl_wt_stream_data(c, q->user, preamble_connect, sizeof(preamble_connect), false);
		peer[npeer++] = q;
	}
	size_t off = size > 0 ? 1 : 0;
	while (off + 2 <= size && !conn_closed) {
		uint8_t op = data[off], arg = data[off + 1];
		off += 2;
		struct qs *q = npeer ? peer[arg % npeer] : NULL;
		switch (op % 7) {
		case 0: /* open */
		case 1:
			if (npeer < MAX_STREAMS) {
				struct qs *n = qs_get();
				if (n == NULL)
					break;
				n->user = sl_wt_stream_accept(c, n, op % 7 == 0);
				peer[npeer++] = n;
			}
			break;
		case 2: { /* bytes, arg / 4 of them, maybe with fin */
			size_t n = (size_t)(arg >> 2);
			if (n > size - off)
				n = size - off;
			if (q && q->open && !q->closed)
				sl_wt_stream_data(c, q->user, data + off, n, arg & 1);
			off += n;
			break;
		}
		case 3:
			if (q && !q->closed)
				sl_wt_stream_reset(c, q->user, (uint64_t)arg * 0x1234567);
			break;
		case 4:
			if (q && !q->closed) {
				sl_wt_stream_closed(c, q->user);
				q->closed = true;
				q->user = NULL;
			}
			break;
		case 5: /* acknowledge what the server wrote on its own streams */
			for (int i = 0; i < MAX_STREAMS; i++) {
				if (streams[i].used && streams[i].written && !streams[i].closed) {
					sl_wt_stream_acked(c, streams[i].user, streams[i].written);
					streams[i].written = 0;
				}
			}
			break;
		default: {
			struct sl_moq_session *s = sl_wt_session(c);
			if (s)
				sl_moq_session_poll(s, 0);
			sl_wt_writable(c);
			break;
		}
		}
	}
	sl_wt_closed(c);
	sl_wt_conn_free(c);
	CHECK(attached == detached);
	return 0;
}
