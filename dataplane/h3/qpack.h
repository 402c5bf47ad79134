/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_H3_QPACK_H
#define SL_H3_QPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"
#include "h3/frame.h"

/*
 * Header fields of HTTP/3 requests and responses, compressed with QPACK (RFC 9204) by
 * nghttp3's encoder and decoder. shardline uses QPACK's static table only: it advertises a
 * dynamic table capacity of 0 and no blocked streams, so a peer's field sections never refer to
 * its encoder stream, and its own encoder never writes one. A WebTransport server sees a few
 * small field sections per connection (the CONNECT and its answer), so this costs nothing
 * worth a dynamic table; it also means a section decodes on its own, without waiting for
 * anything.
 *
 * Decoded fields are copied into a fixed-size struct sl_h3_fields, which bounds what a peer can
 * make the server keep: more fields or more bytes than it holds is H3_EXCESSIVE_LOAD, as an
 * oversize request should be refused before it is acted on.
 */

/* QPACK's error codes (RFC 9204 6). */
enum {
	SL_H3_QPACK_DECOMPRESSION_FAILED = 0x200,
	SL_H3_QPACK_ENCODER_STREAM_ERROR = 0x201,
	SL_H3_QPACK_DECODER_STREAM_ERROR = 0x202,
};

#define SL_H3_MAX_FIELDS   32
#define SL_H3_FIELDS_BYTES 4096

struct sl_h3_field {
	const char *name; /* NUL-terminated, inside the owning sl_h3_fields */
	const char *value;
	size_t name_len, value_len;
};

struct sl_h3_fields {
	struct sl_h3_field f[SL_H3_MAX_FIELDS];
	unsigned n;
	size_t used;
	char bytes[SL_H3_FIELDS_BYTES];
};

void sl_h3_fields_init(struct sl_h3_fields *fs);
/* Appends a copy of a field. Returns 0, or SL_ENOSPC when it does not fit. */
int sl_h3_fields_add(struct sl_h3_fields *fs, const char *name, size_t name_len, const char *value,
		     size_t value_len);
/* The first field named name (lower case, as HTTP/3 requires them), or NULL. */
const struct sl_h3_field *sl_h3_fields_get(const struct sl_h3_fields *fs, const char *name);

struct sl_h3_qpack;

/* Returns 0 or SL_ENOMEM. */
int sl_h3_qpack_new(struct sl_h3_qpack **out);
void sl_h3_qpack_free(struct sl_h3_qpack *q);

/*
 * Decodes one whole field section (a HEADERS frame's payload, len bytes at p) of stream_id into
 * out, and checks it as RFC 9114 4.2 and 4.3 require of any message: names in lower case and
 * free of characters HTTP forbids, values free of NUL, CR and LF, pseudo-header fields before
 * regular ones, each pseudo-header at most once, and none outside those RFC 9114 and RFC 9220
 * define (:method :scheme :authority :path :protocol :status). Returns 0, or SL_ECORRUPT with
 * *err set: QPACK_DECOMPRESSION_FAILED (a broken section, or one that needs a dynamic table),
 * H3_EXCESSIVE_LOAD (more than out holds), H3_MESSAGE_ERROR (a malformed message: the request
 * stream is reset, the connection lives on); *why says what in a few words. A decompression
 * failure is a connection error (RFC 9204 2.2): q decodes nothing afterwards.
 */
int sl_h3_qpack_decode(struct sl_h3_qpack *q, int64_t stream_id, const uint8_t *p, size_t len,
		       struct sl_h3_fields *out, enum sl_h3_error *err, const char **why);

/*
 * Writes a whole HEADERS frame (header and QPACK-encoded section) carrying the n fields for
 * stream_id. Returns 0, SL_ENOSPC (it does not fit w) or SL_ENOMEM.
 */
int sl_h3_qpack_encode(struct sl_h3_qpack *q, int64_t stream_id, const struct sl_h3_field *f,
		       size_t n, struct sl_writer *w);

/* ---- requests a WebTransport server answers ---- */

/* What an extended CONNECT for a WebTransport session (RFC 9220, draft-ietf-webtrans-http3)
 * asks for. Pointers are into the sl_h3_fields it was read from. */
struct sl_h3_connect {
	const char *authority;
	const char *path; /* the path without its query, "/" at least */
	size_t path_len;
	const char *query;     /* after '?', or "" (the token rides here: jwt=...) */
	const char *origin;    /* NULL when absent (not a browser) */
	const char *protocols; /* wt-available-protocols, raw, or NULL */
	const char *draft02;   /* sec-webtransport-http3-draft02, or NULL */
};

/*
 * Reads a decoded request. Returns 0 for a WebTransport CONNECT; SL_ENOTSUP for a well-formed
 * request of another kind (*status says how to answer it: 405 for a method other than CONNECT,
 * 501 for a CONNECT of another :protocol, 400 for a classic CONNECT); SL_ECORRUPT for a request
 * HTTP/3 calls malformed (a missing or empty required pseudo-header, :scheme not https, a path
 * not starting with '/', a response's :status in a request): reset the stream with
 * H3_MESSAGE_ERROR. *why says what in a few words.
 */
int sl_h3_read_connect(const struct sl_h3_fields *fs, struct sl_h3_connect *out, int *status,
		       const char **why);

#endif
