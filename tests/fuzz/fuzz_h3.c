/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the HTTP/3 framing a WebTransport server reads from browsers (dataplane/h3).
 * The first byte picks what is fed and how it is split: a SETTINGS payload, a stream's frames
 * (a bidirectional stream, where the WebTransport signal may open it, or a unidirectional one),
 * a unidirectional stream's header, or a CLOSE_WEBTRANSPORT_SESSION capsule. Nothing may crash;
 * a stream's frames must come out the same whatever the split, every byte must be accounted
 * for, and no payload may run past its frame's length.
 */
#include "core/err.h"
#include "h3/frame.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A digest of a stream's events, independent of how its bytes were split. */
struct digest {
	uint64_t h;
	uint64_t bytes; /* consumed by frames (headers and payloads) */
	bool wt;
	uint64_t session;
	size_t app; /* bytes left to the application after a WebTransport signal */
};

static void mix(struct digest *d, uint64_t v)
{
	d->h = (d->h ^ v) * UINT64_C(0x100000001b3);
}

static void run_frames(const uint8_t *data, size_t size, bool bidi, size_t step, struct digest *d)
{
	struct sl_h3_frame_reader fr;
	sl_h3_frame_reader_init(&fr, bidi);
	memset(d, 0, sizeof(*d));
	d->h = UINT64_C(0xcbf29ce484222325);
	uint64_t in_frame = 0, frame_len = 0;
	for (size_t off = 0; off < size;) {
		size_t n = size - off < step ? size - off : step;
		const uint8_t *p = data + off;
		off += n;
		if (d->wt) {
			d->app += n;
			continue;
		}
		for (;;) {
			struct sl_h3_read ev;
			const uint8_t *before = p;
			int e = sl_h3_frame_read(&fr, &p, &n, &ev);
			d->bytes += (uint64_t)(p - before);
			if (e == SL_H3_READ_NONE) {
				CHECK(n == 0);
				break;
			}
			if (e == SL_H3_READ_FRAME) {
				mix(d, ev.type);
				mix(d, ev.len);
				in_frame = 0;
				frame_len = ev.len;
			} else if (e == SL_H3_READ_PAYLOAD) {
				in_frame += ev.data_len;
				CHECK(in_frame <= frame_len);
				for (size_t i = 0; i < ev.data_len; i++)
					mix(d, ev.data[i]);
				if (ev.end) {
					CHECK(in_frame == frame_len);
					mix(d, 0x100);
				}
			} else {
				CHECK(e == SL_H3_READ_WT_STREAM);
				CHECK(bidi);
				d->wt = true;
				d->session = ev.session;
				d->app += ev.data_len;
				break;
			}
		}
	}
	CHECK(d->bytes + d->app == size);
	if (!d->wt && sl_h3_frame_reader_at_boundary(&fr))
		CHECK(in_frame == frame_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	switch (mode % 4) {
	case 0: {
		struct sl_h3_settings s;
		enum sl_h3_error err = 0;
		int rc = sl_h3_decode_settings(data, size, &s, &err);
		CHECK(rc == 0 || (rc == SL_ECORRUPT &&
				  (err == SL_H3_SETTINGS_ERROR || err == SL_H3_FRAME_ERROR)));
		if (rc == 0) {
			CHECK(s.enable_connect_protocol <= 1 && s.h3_datagram <= 1);
			/* What decoded encodes again, and decodes to the same. */
			struct sl_h3_setting out[8] = {
				{SL_H3_SETTING_QPACK_MAX_TABLE_CAPACITY,
				 s.qpack_max_table_capacity},
				{SL_H3_SETTING_ENABLE_CONNECT_PROTOCOL, s.enable_connect_protocol},
				{SL_H3_SETTING_H3_DATAGRAM, s.h3_datagram},
				{SL_H3_SETTING_WT_MAX_SESSIONS, s.wt_max_sessions},
			};
			uint8_t buf[128];
			struct sl_writer w;
			sl_writer_init(&w, buf, sizeof(buf));
			CHECK(sl_h3_encode_settings(&w, out, 4) == 0);
			struct sl_reader r;
			sl_reader_init(&r, buf, sl_writer_len(&w));
			struct sl_h3_frame_header h;
			CHECK(sl_h3_decode_frame_header(&r, &h) == 0);
			struct sl_h3_settings again;
			CHECK(sl_h3_decode_settings(buf + sl_writer_len(&w) - h.len, h.len, &again,
						    &err) == 0);
			CHECK(again.wt_max_sessions == s.wt_max_sessions &&
			      again.h3_datagram == s.h3_datagram);
		}
		break;
	}
	case 1: {
		bool bidi = mode & 0x10;
		struct digest whole, split;
		run_frames(data, size, bidi, size ? size : 1, &whole);
		run_frames(data, size, bidi, 1 + (mode >> 5), &split);
		CHECK(whole.h == split.h && whole.bytes == split.bytes && whole.wt == split.wt &&
		      whole.session == split.session && whole.app == split.app);
		break;
	}
	case 2: {
		struct sl_h3_uni_reader a = {0}, b = {0};
		uint64_t ta, sa, tb = 0, sb = 0;
		const uint8_t *p = data;
		size_t n = size;
		int ra = sl_h3_uni_read(&a, &p, &n, &ta, &sa);
		size_t used_a = size - n;
		int rb = 0;
		size_t used_b = 0;
		for (size_t i = 0; i < size && rb == 0; i++) {
			const uint8_t *q = data + i;
			size_t one = 1;
			rb = sl_h3_uni_read(&b, &q, &one, &tb, &sb);
			used_b += 1 - one;
		}
		CHECK(ra == rb && used_a == used_b);
		if (ra == 1)
			CHECK(ta == tb && sa == sb && used_a <= 16);
		else
			CHECK(used_a == size);
		break;
	}
	default: {
		uint32_t code;
		const uint8_t *reason;
		size_t rlen;
		if (sl_h3_decode_wt_close(data, size, &code, &reason, &rlen) == 0) {
			CHECK(rlen + 4 == size && rlen <= SL_H3_WT_MAX_REASON);
			uint8_t buf[SL_H3_WT_MAX_REASON + 16];
			struct sl_writer w;
			sl_writer_init(&w, buf, sizeof(buf));
			CHECK(sl_h3_encode_wt_close(&w, code, (const char *)reason, rlen) == 0);
		}
		uint64_t h3 = 0;
		for (size_t i = 0; i < size && i < 8; i++)
			h3 = h3 << 8 | data[i];
		if (sl_h3_wt_code_from_h3(h3, &code) == 0)
			CHECK(sl_h3_wt_code_to_h3(code) == h3);
		break;
	}
	}
	return 0;
}
