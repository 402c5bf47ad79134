/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the moq-lite session engine on the relay side, run on every input twice:
 * once in moq-lite-04 and once in moq-lite-05 (where the peer may also open a Setup stream, uni
 * type 1, and Track streams, bidi type 6, and the relay's Setup stream is its uni stream 3, so
 * the same inputs reach both versions' parsers). The input is a list of
 * records `op(1) stream(1) len(1) bytes(len)`: stream data (with or without FIN), stream
 * resets, polls (which advance time and write a group into a local track), and, on a stream
 * the peer has not opened yet, its open, else an acknowledgement of len * 16 bytes the session
 * wrote on it or (odd len, a local stream) the transport closing it; all on arbitrary stream ids
 * of either direction and initiator. The relay's own ANNOUNCE_INTEREST is stream 1, so inputs
 * can announce a broadcast, subscribe to it (the session then subscribes upstream to itself on
 * stream 5) and feed group streams. Nothing may crash, leak or break an invariant the
 * sanitizers check, and the session must never use a handle it released or the transport
 * closed.
 */
#include "core/err.h"
#include "moq/session.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The transport's side of a stream (its handle), by QUIC-style id: ids stay below 256. */
struct fstream {
	bool exists, released, closed;
	struct sl_moq_stream *user;
	uint64_t unacked;
};

struct fake {
	int64_t nbidi, nuni;
	struct fstream s[256];
};

static struct fstream *live(void *h)
{
	struct fstream *fs = h;
	if (!fs->exists || fs->released || fs->closed)
		abort(); /* a handle used after the session released it or it was closed */
	return fs;
}

static int f_open(void *t, bool bidi, void *user, void **handle)
{
	struct fake *f = t;
	if ((bidi ? f->nbidi : f->nuni) >= 64)
		return SL_EBUSY;
	int64_t n = bidi ? f->nbidi++ : f->nuni++;
	struct fstream *fs = &f->s[(n << 2) | (bidi ? 0 : 2) | 1];
	memset(fs, 0, sizeof(*fs));
	fs->exists = true;
	fs->user = user;
	*handle = fs;
	return 0;
}

static int f_write(void *t, void *h, struct sl_slice data, bool fin)
{
	(void)t;
	(void)fin;
	live(h)->unacked += data.len;
	sl_buf_unref(data.buf);
	return 0;
}

static int f_reset(void *t, void *h, uint64_t code)
{
	(void)t;
	(void)code;
	live(h)->unacked = 0;
	return 0;
}

static void f_release(void *t, void *h)
{
	(void)t;
	struct fstream *fs = live(h);
	fs->released = true;
	fs->user = NULL;
}

static void f_close(void *t, uint64_t code, const char *reason)
{
	(void)t;
	(void)code;
	(void)reason;
}

/* No send order: the session must work with a transport that has none. */
static const struct sl_moq_transport_ops fops = {
	.open_stream = f_open,
	.write = f_write,
	.reset = f_reset,
	.release = f_release,
	.close = f_close,
};

/* The session's pointer for stream id as a transport would hand it over: a peer's stream
 * (client-initiated: bit 0 clear) is opened on first sight. */
static struct sl_moq_stream *user_of(struct sl_moq_session *s, struct fake *f, uint8_t id)
{
	struct fstream *fs = &f->s[id];
	if (!fs->exists && (id & 1) == 0) {
		fs->exists = true;
		fs->user = sl_moq_session_stream_accept(s, fs, (id & 2) == 0);
	}
	return fs->user;
}

static void run(const uint8_t *data, size_t size, enum sl_moq_version version)
{
	struct sl_origin *o = sl_origin_new(NULL);
	struct sl_moq_relay *r = sl_moq_relay_new(o);
	struct fake *f = calloc(1, sizeof(*f));
	struct sl_moq_session_config cfg;
	sl_moq_session_config_default(&cfg);
	cfg.server = true;
	cfg.max_inflight_bytes = 4096;
	cfg.max_frame_bytes = 512;
	cfg.max_streams = 256;
	cfg.version = version;
	struct sl_moq_session *s = f ? sl_moq_session_new(&cfg, &fops, f, r) : NULL;
	struct sl_broadcast *b = NULL;
	struct sl_track *t = NULL;
	if (o == NULL || r == NULL || s == NULL)
		abort();
	if (sl_origin_publish(o, "demo", &b) != 0 ||
	    sl_broadcast_create_track(b, "clock", 0, &t) != 0)
		abort();
	uint64_t now = 1000000000;
	sl_moq_session_poll(s, now); /* opens the ANNOUNCE_INTEREST on stream 1 */
	size_t i = 0;
	while (i + 3 <= size) {
		uint8_t op = data[i], id = data[i + 1], len = data[i + 2];
		i += 3;
		size_t n = len;
		if (n > size - i)
			n = size - i;
		switch (op % 5) {
		case 0:
		case 1:
			sl_moq_session_stream_data(s, user_of(s, f, id), data + i, n, op % 5 == 1);
			i += n;
			break;
		case 2:
			sl_moq_session_stream_reset(s, user_of(s, f, id), len);
			break;
		case 3: {
			now += (uint64_t)len * 1000000;
			struct sl_group *g;
			if (sl_track_append_group(t, now, &g) == 0) {
				struct sl_buf *fb = sl_buf_from("frame", 5);
				/* Timestamped frames (as from a lite-05 publisher) or not. */
				if (fb && (op & 0x40))
					sl_group_write_frame_ts(g, sl_slice_of(fb),
								(uint64_t)len << 4);
				else if (fb)
					sl_group_write_frame(g, sl_slice_of(fb));
				if (op & 0x80)
					sl_group_finish(g);
				sl_group_unref(g);
			}
			sl_moq_session_poll(s, now);
			break;
		}
		default: {
			struct fstream *fs = &f->s[id];
			if (!fs->exists || fs->user == NULL) {
				user_of(s, f, id);
			} else if ((id & 1) && (len & 1)) {
				struct sl_moq_stream *u = fs->user;
				fs->user = NULL;
				fs->closed = true;
				sl_moq_session_stream_closed(s, u);
			} else {
				uint64_t k = (uint64_t)len * 16;
				if (k > fs->unacked)
					k = fs->unacked;
				fs->unacked -= k;
				sl_moq_session_stream_acked(s, fs->user, k);
			}
			break;
		}
		}
	}
	sl_moq_session_poll(s, now);
	struct sl_moq_session_stats st;
	sl_moq_session_stats(s, &st);
	if (st.subscribes_active > cfg.max_subscriptions)
		abort();
	sl_moq_session_free(s);
	free(f);
	sl_moq_relay_free(r);
	sl_track_unref(t);
	sl_broadcast_unref(b);
	sl_origin_free(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, SL_MOQ_LITE_04);
	run(data, size, SL_MOQ_LITE_05);
	return 0;
}
