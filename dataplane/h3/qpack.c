/* SPDX-License-Identifier: Apache-2.0 */
#include "h3/qpack.h"

#include "core/err.h"

#include <nghttp3/nghttp3.h>
#include <stdlib.h>
#include <string.h>

struct sl_h3_qpack {
	nghttp3_qpack_encoder *enc;
	nghttp3_qpack_decoder *dec;
};

void sl_h3_fields_init(struct sl_h3_fields *fs)
{
	fs->n = 0;
	fs->used = 0;
}

int sl_h3_fields_add(struct sl_h3_fields *fs, const char *name, size_t name_len, const char *value,
		     size_t value_len)
{
	if (fs->n >= SL_H3_MAX_FIELDS || name_len + value_len + 2 > sizeof(fs->bytes) - fs->used)
		return SL_ENOSPC;
	struct sl_h3_field *f = &fs->f[fs->n++];
	char *p = fs->bytes + fs->used;
	memcpy(p, name, name_len);
	p[name_len] = '\0';
	memcpy(p + name_len + 1, value, value_len);
	p[name_len + 1 + value_len] = '\0';
	f->name = p;
	f->name_len = name_len;
	f->value = p + name_len + 1;
	f->value_len = value_len;
	fs->used += name_len + value_len + 2;
	return 0;
}

const struct sl_h3_field *sl_h3_fields_get(const struct sl_h3_fields *fs, const char *name)
{
	for (unsigned i = 0; i < fs->n; i++) {
		if (strcmp(fs->f[i].name, name) == 0)
			return &fs->f[i];
	}
	return NULL;
}

int sl_h3_qpack_new(struct sl_h3_qpack **out)
{
	struct sl_h3_qpack *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return SL_ENOMEM;
	/* Capacity 0 both ways: no dynamic table, so no encoder stream and nothing blocks. */
	if (nghttp3_qpack_encoder_new(&q->enc, 0, nghttp3_mem_default()) != 0 ||
	    nghttp3_qpack_decoder_new(&q->dec, 0, 0, nghttp3_mem_default()) != 0) {
		sl_h3_qpack_free(q);
		return SL_ENOMEM;
	}
	*out = q;
	return 0;
}

void sl_h3_qpack_free(struct sl_h3_qpack *q)
{
	if (q == NULL)
		return;
	if (q->enc)
		nghttp3_qpack_encoder_del(q->enc);
	if (q->dec)
		nghttp3_qpack_decoder_del(q->dec);
	free(q);
}

/* RFC 9110 5.1's token characters, lower case only (RFC 9114 4.2). */
static bool name_ok(const uint8_t *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (c != '!' && c != '#' && c != '$' && c != '%' && c != '&' && c != '\'' &&
		    c != '*' && c != '+' && c != '-' && c != '.' && c != '^' && c != '_' &&
		    c != '`' && c != '|' && c != '~')
			return false;
	}
	return true;
}

static bool value_ok(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\0' || p[i] == '\r' || p[i] == '\n')
			return false;
	}
	return true;
}

static const char *const pseudo_names[] = {":method", ":scheme",   ":authority",
					   ":path",   ":protocol", ":status"};

/* Checks one decoded field against what came before it. Returns NULL or why it is wrong. */
static const char *check_field(const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen,
			       bool *regular_seen, unsigned *pseudo_seen)
{
	if (!value_ok(value, vlen))
		return "a field value with NUL, CR or LF";
	if (nlen > 0 && name[0] == ':') {
		if (*regular_seen)
			return "a pseudo-header after a regular field";
		for (unsigned i = 0; i < sizeof(pseudo_names) / sizeof(pseudo_names[0]); i++) {
			if (strlen(pseudo_names[i]) == nlen &&
			    memcmp(pseudo_names[i], name, nlen) == 0) {
				if (*pseudo_seen & (1u << i))
					return "a repeated pseudo-header";
				*pseudo_seen |= 1u << i;
				return NULL;
			}
		}
		return "an unknown pseudo-header";
	}
	*regular_seen = true;
	if (!name_ok(name, nlen))
		return "a field name that is not a lower-case token";
	return NULL;
}

int sl_h3_qpack_decode(struct sl_h3_qpack *q, int64_t stream_id, const uint8_t *p, size_t len,
		       struct sl_h3_fields *out, enum sl_h3_error *err, const char **why)
{
	sl_h3_fields_init(out);
	if (len == 0) {
		/* Not even the section prefix (p may be NULL then). */
		*err = (enum sl_h3_error)SL_H3_QPACK_DECOMPRESSION_FAILED;
		*why = "an empty field section";
		return SL_ECORRUPT;
	}
	nghttp3_qpack_stream_context *sctx;
	if (nghttp3_qpack_stream_context_new(&sctx, stream_id, nghttp3_mem_default()) != 0) {
		*err = SL_H3_INTERNAL_ERROR;
		*why = "out of memory";
		return SL_ENOMEM;
	}
	bool regular_seen = false, final = false;
	unsigned pseudo_seen = 0;
	int rc = 0;
	const char *bad = NULL;
	while (!final) {
		nghttp3_qpack_nv nv;
		uint8_t flags = 0;
		nghttp3_ssize used =
			nghttp3_qpack_decoder_read_request(q->dec, sctx, &nv, &flags, p, len, 1);
		if (used < 0) {
			*err = (enum sl_h3_error)SL_H3_QPACK_DECOMPRESSION_FAILED;
			*why = used == NGHTTP3_ERR_QPACK_HEADER_TOO_LARGE
				       ? "a field too large"
				       : "a broken field section";
			rc = SL_ECORRUPT;
			break;
		}
		p += used;
		len -= (size_t)used;
		if (flags & NGHTTP3_QPACK_DECODE_FLAG_EMIT) {
			nghttp3_vec n = nghttp3_rcbuf_get_buf(nv.name);
			nghttp3_vec v = nghttp3_rcbuf_get_buf(nv.value);
			if (bad == NULL) {
				bad = check_field(n.base, n.len, v.base, v.len, &regular_seen,
						  &pseudo_seen);
				if (bad == NULL &&
				    sl_h3_fields_add(out, (const char *)n.base, n.len,
						     (const char *)v.base, v.len) != 0) {
					nghttp3_rcbuf_decref(nv.name);
					nghttp3_rcbuf_decref(nv.value);
					*err = SL_H3_EXCESSIVE_LOAD;
					*why = "too many or too large fields";
					rc = SL_ECORRUPT;
					break;
				}
			}
			nghttp3_rcbuf_decref(nv.name);
			nghttp3_rcbuf_decref(nv.value);
		}
		if (flags & NGHTTP3_QPACK_DECODE_FLAG_FINAL)
			final = true;
		else if (flags & NGHTTP3_QPACK_DECODE_FLAG_BLOCKED) {
			/* It waits for dynamic-table entries this side never allowed. */
			*err = (enum sl_h3_error)SL_H3_QPACK_DECOMPRESSION_FAILED;
			*why = "a field section that needs a dynamic table";
			rc = SL_ECORRUPT;
			break;
		} else if (used == 0 && !(flags & NGHTTP3_QPACK_DECODE_FLAG_EMIT)) {
			*err = (enum sl_h3_error)SL_H3_QPACK_DECOMPRESSION_FAILED;
			*why = "a truncated field section";
			rc = SL_ECORRUPT;
			break;
		}
	}
	nghttp3_qpack_stream_context_del(sctx);
	if (rc == 0 && bad != NULL) {
		*err = SL_H3_MESSAGE_ERROR;
		*why = bad;
		rc = SL_ECORRUPT;
	}
	return rc;
}

int sl_h3_qpack_encode(struct sl_h3_qpack *q, int64_t stream_id, const struct sl_h3_field *f,
		       size_t n, struct sl_writer *w)
{
	nghttp3_nv nva[SL_H3_MAX_FIELDS];
	if (n > SL_H3_MAX_FIELDS)
		return SL_ENOSPC;
	for (size_t i = 0; i < n; i++) {
		nva[i] = (nghttp3_nv){.name = (uint8_t *)(uintptr_t)f[i].name,
				      .value = (uint8_t *)(uintptr_t)f[i].value,
				      .namelen = f[i].name_len,
				      .valuelen = f[i].value_len,
				      .flags = NGHTTP3_NV_FLAG_NONE};
	}
	nghttp3_buf pbuf, rbuf, ebuf;
	nghttp3_buf_init(&pbuf);
	nghttp3_buf_init(&rbuf);
	nghttp3_buf_init(&ebuf);
	int rc = 0;
	if (nghttp3_qpack_encoder_encode(q->enc, &pbuf, &rbuf, &ebuf, stream_id, nva, n) != 0) {
		rc = SL_ENOMEM;
	} else {
		/* With no dynamic table nothing goes to the encoder stream. */
		size_t plen = nghttp3_buf_len(&pbuf), rlen = nghttp3_buf_len(&rbuf);
		rc = sl_h3_encode_frame_header(w, SL_H3_FRAME_HEADERS, plen + rlen);
		if (rc == 0 && plen)
			rc = sl_writer_bytes(w, pbuf.pos, plen);
		if (rc == 0 && rlen)
			rc = sl_writer_bytes(w, rbuf.pos, rlen);
	}
	const nghttp3_mem *mem = nghttp3_mem_default();
	nghttp3_buf_free(&pbuf, mem);
	nghttp3_buf_free(&rbuf, mem);
	nghttp3_buf_free(&ebuf, mem);
	return rc;
}

/* ---- requests ---- */

static const char *get(const struct sl_h3_fields *fs, const char *name)
{
	const struct sl_h3_field *f = sl_h3_fields_get(fs, name);
	return f ? f->value : NULL;
}

int sl_h3_read_connect(const struct sl_h3_fields *fs, struct sl_h3_connect *out, int *status,
		       const char **why)
{
	memset(out, 0, sizeof(*out));
	*status = 0;
	const char *method = get(fs, ":method"), *scheme = get(fs, ":scheme");
	const char *authority = get(fs, ":authority"), *path = get(fs, ":path");
	const char *protocol = get(fs, ":protocol");
	if (get(fs, ":status")) {
		*why = ":status in a request";
		return SL_ECORRUPT;
	}
	if (method == NULL || method[0] == '\0') {
		*why = "no :method";
		return SL_ECORRUPT;
	}
	if (strcmp(method, "CONNECT") != 0) {
		/* Any other method needs :scheme and :path (RFC 9114 4.3.1); this server has
		 * nothing to give it. */
		if (scheme == NULL || path == NULL || path[0] == '\0') {
			*why = "a request without :scheme or :path";
			return SL_ECORRUPT;
		}
		if (protocol) {
			*why = ":protocol outside a CONNECT";
			return SL_ECORRUPT;
		}
		*status = 405;
		*why = "only WebTransport CONNECT requests are served here";
		return SL_ENOTSUP;
	}
	if (protocol == NULL) {
		/* A classic CONNECT (a tunnel) carries only :method and :authority. */
		if (scheme || path) {
			*why = "a CONNECT with :scheme or :path but no :protocol";
			return SL_ECORRUPT;
		}
		*status = 400;
		*why = "this is not a proxy: CONNECT needs :protocol webtransport";
		return SL_ENOTSUP;
	}
	if (scheme == NULL || path == NULL || authority == NULL || authority[0] == '\0') {
		*why = "an extended CONNECT without :scheme, :path or :authority";
		return SL_ECORRUPT;
	}
	if (strcmp(scheme, "https") != 0) {
		*why = "an extended CONNECT whose :scheme is not https";
		return SL_ECORRUPT;
	}
	if (path[0] != '/') {
		*why = "a :path that does not start with /";
		return SL_ECORRUPT;
	}
	if (strcmp(protocol, "webtransport") != 0) {
		*status = 501;
		*why = "only the webtransport protocol is served";
		return SL_ENOTSUP;
	}
	out->authority = authority;
	out->path = path;
	const char *qm = strchr(path, '?');
	out->path_len = qm ? (size_t)(qm - path) : strlen(path);
	out->query = qm ? qm + 1 : "";
	out->origin = get(fs, "origin");
	out->protocols = get(fs, "wt-available-protocols");
	out->draft02 = get(fs, "sec-webtransport-http3-draft02");
	return 0;
}
