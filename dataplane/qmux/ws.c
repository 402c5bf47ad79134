/* SPDX-License-Identifier: Apache-2.0 */
#include "qmux/ws.h"
#include "core/err.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <wslay/wslay.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------------------------------ */
/* HTTP/1.1 request head                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* A header line longer than this is refused on its own, so one huge line is reported as what
 * it is rather than as a head that never ended. */
#define SL_WS_MAX_LINE 4096

void sl_ws_http_init(struct sl_ws_http *h)
{
	h->len = 0;
	h->scanned = 0;
	h->done = false;
	h->response = false;
	memset(&h->req, 0, sizeof(h->req));
}

void sl_ws_http_init_response(struct sl_ws_http *h)
{
	sl_ws_http_init(h);
	h->response = true;
}

static bool is_tchar(char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static struct sl_ws_str trim(const char *p, size_t n)
{
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	struct sl_ws_str s = {p, n};
	return s;
}

static bool str_ieq(struct sl_ws_str s, const char *c)
{
	size_t n = strlen(c);
	return s.len == n && strncasecmp(s.p, c, n) == 0;
}

/* True when the comma-separated list s holds token (case-insensitive). */
static bool list_has(struct sl_ws_str s, const char *token)
{
	size_t i = 0;
	if (s.p == NULL) /* an absent header: no token (and no arithmetic on NULL) */
		return false;
	while (i <= s.len) {
		size_t j = i;
		while (j < s.len && s.p[j] != ',')
			j++;
		if (str_ieq(trim(s.p + i, j - i), token))
			return true;
		i = j + 1;
	}
	return false;
}

static int parse_request_line(struct sl_ws_request *r, const char *p, size_t n, const char **why)
{
	const char *sp1 = memchr(p, ' ', n);
	if (sp1 == NULL || sp1 == p) {
		*why = "bad request line";
		return SL_ECORRUPT;
	}
	for (const char *q = p; q < sp1; q++) {
		if (!is_tchar(*q)) {
			*why = "bad request line: method";
			return SL_ECORRUPT;
		}
	}
	const char *t = sp1 + 1;
	const char *sp2 = memchr(t, ' ', (size_t)(p + n - t));
	if (sp2 == NULL || sp2 == t) {
		*why = "bad request line";
		return SL_ECORRUPT;
	}
	const char *v = sp2 + 1;
	size_t vn = (size_t)(p + n - v);
	if (vn == 8 && memcmp(v, "HTTP/1.1", 8) == 0)
		r->http11 = true;
	else if (vn == 8 && memcmp(v, "HTTP/1.0", 8) == 0)
		r->http11 = false;
	else {
		*why = "bad request line: not HTTP/1.x";
		return SL_ECORRUPT;
	}
	r->method = (struct sl_ws_str){p, (size_t)(sp1 - p)};
	r->target = (struct sl_ws_str){t, (size_t)(sp2 - t)};
	for (const char *q = t; q < sp2; q++) {
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f) {
			*why = "bad request line: target";
			return SL_ECORRUPT;
		}
	}
	if (*t != '/') {
		/* Origin form only: an upgrade is never sent to a proxy in absolute form here. */
		*why = "bad request line: target is not a path";
		return SL_ECORRUPT;
	}
	const char *qm = memchr(t, '?', r->target.len);
	if (qm != NULL) {
		r->path = (struct sl_ws_str){t, (size_t)(qm - t)};
		r->query = (struct sl_ws_str){qm + 1, (size_t)(sp2 - qm - 1)};
	} else {
		r->path = r->target;
	}
	return 0;
}

static int parse_status_line(struct sl_ws_request *r, const char *p, size_t n, const char **why)
{
	/* HTTP/1.1 SP 3DIGIT SP reason */
	if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '1' && p[7] != '0') || p[8] != ' ' ||
	    p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' ||
	    (n > 12 && p[12] != ' ')) {
		*why = "bad status line";
		return SL_ECORRUPT;
	}
	r->http11 = p[7] == '1';
	r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	return 0;
}

static int set_once(struct sl_ws_str *dst, struct sl_ws_str v, const char *dup_why,
		    const char **why)
{
	if (dst->p != NULL) {
		*why = dup_why;
		return SL_ECORRUPT;
	}
	*dst = v;
	return 0;
}

static int parse_header(struct sl_ws_request *r, const char *p, size_t n, const char **why)
{
	if (n > 0 && (p[0] == ' ' || p[0] == '\t')) {
		*why = "bad header: folded line";
		return SL_ECORRUPT;
	}
	const char *colon = memchr(p, ':', n);
	if (colon == NULL || colon == p) {
		*why = "bad header: no name";
		return SL_ECORRUPT;
	}
	for (const char *q = p; q < colon; q++) {
		if (!is_tchar(*q)) {
			*why = "bad header: name";
			return SL_ECORRUPT;
		}
	}
	struct sl_ws_str name = {p, (size_t)(colon - p)};
	struct sl_ws_str val = trim(colon + 1, (size_t)(p + n - colon - 1));
	for (size_t i = 0; i < val.len; i++) {
		unsigned char ch = (unsigned char)val.p[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			*why = "bad header: control character in value";
			return SL_ECORRUPT;
		}
	}
	if (str_ieq(name, "Host"))
		return set_once(&r->host, val, "duplicate Host", why);
	if (str_ieq(name, "Upgrade"))
		return set_once(&r->upgrade, val, "duplicate Upgrade", why);
	if (str_ieq(name, "Sec-WebSocket-Key"))
		return set_once(&r->key, val, "duplicate Sec-WebSocket-Key", why);
	if (str_ieq(name, "Sec-WebSocket-Version"))
		return set_once(&r->version, val, "duplicate Sec-WebSocket-Version", why);
	if (str_ieq(name, "Sec-WebSocket-Accept"))
		return set_once(&r->accept, val, "duplicate Sec-WebSocket-Accept", why);
	if (str_ieq(name, "Origin"))
		return set_once(&r->origin, val, "duplicate Origin", why);
	if (str_ieq(name, "Connection")) {
		if (list_has(val, "upgrade"))
			r->connection_upgrade = true;
		if (r->connection.p == NULL)
			r->connection = val;
		return 0;
	}
	if (str_ieq(name, "Sec-WebSocket-Extensions")) {
		/* Kept for logs only: no extension is ever accepted. */
		if (r->extensions.p == NULL)
			r->extensions = val;
		return 0;
	}
	if (str_ieq(name, "Sec-WebSocket-Protocol")) {
		if (r->n_protocol == SL_WS_MAX_PROTO_HDR) {
			*why = "too many Sec-WebSocket-Protocol headers";
			return SL_ECORRUPT;
		}
		r->protocol[r->n_protocol++] = val;
		return 0;
	}
	return 0; /* other headers are not needed */
}

static int parse_head(struct sl_ws_http *h, size_t head_len, const char **why)
{
	struct sl_ws_request *r = &h->req;
	memset(r, 0, sizeof(*r));
	const char *p = h->buf;
	const char *end = h->buf + head_len - 2; /* the last line's CRLF ends the head */
	bool first = true;
	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
		size_t n = (size_t)(eol - p);
		if (memchr(p, '\n', n) != NULL || memchr(p, '\0', n) != NULL) {
			*why = first ? "bad request line" : "bad header: stray LF or NUL";
			return SL_ECORRUPT;
		}
		if (n > SL_WS_MAX_LINE) {
			*why = "header too long";
			return SL_ENOSPC;
		}
		int rc = !first	       ? parse_header(r, p, n, why)
			 : h->response ? parse_status_line(r, p, n, why)
				       : parse_request_line(r, p, n, why);
		if (rc != 0)
			return rc;
		first = false;
		p = eol + 2;
	}
	return 0;
}

int sl_ws_http_feed(struct sl_ws_http *h, const uint8_t *p, size_t n, size_t *used,
		    const char **why)
{
	*used = 0;
	if (h->done)
		return 0;
	size_t room = SL_WS_MAX_HEAD - h->len;
	size_t take = n < room ? n : room;
	memcpy(h->buf + h->len, p, take);
	size_t old = h->len;
	h->len += take;
	/* Search from three bytes before the new data: the terminator may straddle feeds. */
	size_t from = h->scanned >= 3 ? h->scanned - 3 : 0;
	const char *e = memmem(h->buf + from, h->len - from, "\r\n\r\n", 4);
	if (e == NULL) {
		h->scanned = h->len;
		*used = take;
		/* A first line that is already longer than any line may be says so early. */
		const char *nl = memchr(h->buf, '\n', h->len);
		if (nl == NULL && h->len > SL_WS_MAX_LINE) {
			*why = "request line too long";
			return SL_ENOSPC;
		}
		if (h->len == SL_WS_MAX_HEAD) {
			*why = "request head too long";
			return SL_ENOSPC;
		}
		if (h->len >= 2 && h->buf[0] == '\r' && h->buf[1] == '\n') {
			*why = "bad request line: empty";
			return SL_ECORRUPT;
		}
		return SL_EAGAIN;
	}
	size_t head_len = (size_t)(e - h->buf) + 4;
	*used = head_len - old;
	h->len = head_len;
	int rc = parse_head(h, head_len, why);
	if (rc != 0)
		return rc;
	h->done = true;
	return 0;
}

bool sl_ws_is_upgrade(const struct sl_ws_request *req)
{
	return list_has(req->upgrade, "websocket");
}

static int b64val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* A 16-byte nonce in base64 is 22 characters and "==" (RFC 6455 4.1, point 7). */
static bool key_ok(struct sl_ws_str k)
{
	if (k.len != 24 || k.p[22] != '=' || k.p[23] != '=')
		return false;
	for (size_t i = 0; i < 22; i++) {
		if (b64val(k.p[i]) < 0)
			return false;
	}
	/* The last character carries 2 bits of data: the other 4 must be zero. */
	return (b64val(k.p[21]) & 0x0f) == 0;
}

int sl_ws_check_upgrade(const struct sl_ws_request *req, int *status, const char **why)
{
	*status = 400;
	if (!str_ieq(req->method, "GET")) {
		*why = "not GET";
		return SL_ECORRUPT;
	}
	if (!req->http11) {
		*why = "not HTTP/1.1";
		return SL_ECORRUPT;
	}
	if (req->host.p == NULL) {
		*why = "missing Host";
		return SL_ECORRUPT;
	}
	if (!sl_ws_is_upgrade(req)) {
		*why = "missing Upgrade: websocket";
		return SL_ECORRUPT;
	}
	if (!req->connection_upgrade) {
		*why = "missing Connection: upgrade";
		return SL_ECORRUPT;
	}
	if (req->key.p == NULL) {
		*why = "missing Sec-WebSocket-Key";
		return SL_ECORRUPT;
	}
	if (!key_ok(req->key)) {
		*why = "bad Sec-WebSocket-Key";
		return SL_ECORRUPT;
	}
	if (req->version.len != 2 || memcmp(req->version.p, "13", 2) != 0) {
		*status = 426;
		*why = req->version.p == NULL ? "missing Sec-WebSocket-Version"
					      : "wrong Sec-WebSocket-Version (13 is served)";
		return SL_ECORRUPT;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* subprotocol choice                                                                         */
/* ------------------------------------------------------------------------------------------ */

static bool offered(const struct sl_ws_request *req, const char *name)
{
	for (unsigned i = 0; i < req->n_protocol; i++) {
		if (list_has(req->protocol[i], name))
			return true;
	}
	return false;
}

static bool offers_any(const struct sl_ws_request *req)
{
	for (unsigned i = 0; i < req->n_protocol; i++) {
		struct sl_ws_str s = req->protocol[i];
		for (size_t j = 0; j < s.len; j++) {
			if (s.p[j] != ',' && s.p[j] != ' ' && s.p[j] != '\t')
				return true;
		}
	}
	return false;
}

static const struct {
	const char *name;
	enum sl_ws_framing framing;
} bare_names[] = {
	{"qmux-02", SL_WS_QMUX02},
	{"qmux-01", SL_WS_QMUX01},
	{"qmux-00", SL_WS_QMUX00},
	{"webtransport", SL_WS_LEGACY},
};

int sl_ws_select(const struct sl_ws_request *req, const struct sl_ws_select_config *cfg,
		 struct sl_ws_choice *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	out->alpn = -1;
	out->offered = offers_any(req);
	if (!out->offered) {
		if (!cfg->bare) {
			*why = "no Sec-WebSocket-Protocol offered";
			return SL_ENOTSUP;
		}
		out->framing = SL_WS_LEGACY;
		return 0;
	}
	/* moq-relay's order: each application protocol on qmux-01 then qmux-00 (nothing is paired
	 * with qmux-02), then the bare wire formats. Server preference, not the client's. */
	char name[SL_WS_MAX_PROTO];
	for (unsigned a = 0; a < cfg->n_alpn && a < SL_WS_MAX_ALPNS; a++) {
		for (int v = 1; v >= 0; v--) {
			int n = snprintf(name, sizeof(name), "qmux-0%d.%s", v, cfg->alpn[a]);
			if (n < 0 || (size_t)n >= sizeof(name))
				continue;
			if (offered(req, name)) {
				out->framing = v == 1 ? SL_WS_QMUX01 : SL_WS_QMUX00;
				out->alpn = (int)a;
				memcpy(out->protocol, name, (size_t)n + 1);
				return 0;
			}
		}
	}
	/* The legacy framing paired with a version ("webtransport.moq-lite-04"): moq-relay does
	 * not list it, but the old @moq/lite 0.2.x client offers it beside the qmux-00 pair, and
	 * it is its only way to a version settled by the subprotocol on its legacy framing. Last
	 * of the pairs, so no client that offers a qmux pair ever gets it. */
	for (unsigned a = 0; a < cfg->n_alpn && a < SL_WS_MAX_ALPNS; a++) {
		int n = snprintf(name, sizeof(name), "webtransport.%s", cfg->alpn[a]);
		if (n > 0 && (size_t)n < sizeof(name) && offered(req, name)) {
			out->framing = SL_WS_LEGACY;
			out->alpn = (int)a;
			memcpy(out->protocol, name, (size_t)n + 1);
			return 0;
		}
	}
	if (cfg->bare) {
		for (size_t i = 0; i < sizeof(bare_names) / sizeof(bare_names[0]); i++) {
			if (offered(req, bare_names[i].name)) {
				out->framing = bare_names[i].framing;
				snprintf(out->protocol, sizeof(out->protocol), "%s",
					 bare_names[i].name);
				return 0;
			}
		}
	}
	/* A client that offered bare names wants to settle the version in-band (the old
	 * @moq/lite 0.2.x does by default, and then asks for moq-lite-02): say so, since its
	 * fix is on the client's side (offer a version, e.g. protocols: ["moq-lite-04"]). */
	*why = "no acceptable Sec-WebSocket-Protocol offered";
	for (size_t i = 0; i < sizeof(bare_names) / sizeof(bare_names[0]); i++) {
		if (offered(req, bare_names[i].name))
			*why = "no acceptable Sec-WebSocket-Protocol offered: in-band version "
			       "negotiation (a bare qmux or webtransport offer) is not served; "
			       "offer "
			       "a version pair such as qmux-00.moq-lite-04";
	}
	return SL_ENOTFOUND;
}

int sl_ws_framing_of(const char *protocol, size_t len, enum sl_ws_framing *out)
{
	for (size_t i = 0; i < sizeof(bare_names) / sizeof(bare_names[0]); i++) {
		size_t n = strlen(bare_names[i].name);
		if (len >= n && memcmp(protocol, bare_names[i].name, n) == 0 &&
		    (len == n || protocol[n] == '.')) {
			*out = bare_names[i].framing;
			return 0;
		}
	}
	return SL_ENOTFOUND;
}

/* ------------------------------------------------------------------------------------------ */
/* responses                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void b64encode(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
}

int sl_ws_accept_key(const char *key, size_t len, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	char in[128 + sizeof(guid)];
	if (len > 128)
		return SL_EINVAL;
	memcpy(in, key, len);
	memcpy(in + len, guid, sizeof(guid) - 1);
	uint8_t digest[20];
	if (gnutls_hash_fast(GNUTLS_DIG_SHA1, in, len + sizeof(guid) - 1, digest) != 0)
		return SL_EIO;
	b64encode(digest, sizeof(digest), out);
	return 0;
}

static int finish(int n, size_t cap, size_t *len)
{
	if (n < 0 || (size_t)n >= cap)
		return SL_ENOSPC;
	*len = (size_t)n;
	return 0;
}

int sl_ws_response_101(const struct sl_ws_request *req, const struct sl_ws_choice *choice,
		       char *buf, size_t cap, size_t *len)
{
	char accept[29];
	int rc = sl_ws_accept_key(req->key.p, req->key.len, accept);
	if (rc != 0)
		return rc;
	int n;
	if (choice->protocol[0] != '\0')
		n = snprintf(buf, cap,
			     "HTTP/1.1 101 Switching Protocols\r\n"
			     "Upgrade: websocket\r\n"
			     "Connection: Upgrade\r\n"
			     "Sec-WebSocket-Accept: %s\r\n"
			     "Sec-WebSocket-Protocol: %s\r\n\r\n",
			     accept, choice->protocol);
	else
		n = snprintf(buf, cap,
			     "HTTP/1.1 101 Switching Protocols\r\n"
			     "Upgrade: websocket\r\n"
			     "Connection: Upgrade\r\n"
			     "Sec-WebSocket-Accept: %s\r\n\r\n",
			     accept);
	return finish(n, cap, len);
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 426:
		return "Upgrade Required";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

int sl_ws_response_error(int status, const char *why, char *buf, size_t cap, size_t *len)
{
	if (status < 100 || status > 999)
		return SL_EINVAL;
	size_t wl = why != NULL ? strlen(why) : 0;
	int n = snprintf(buf, cap,
			 "HTTP/1.1 %d %s\r\n"
			 "%s"
			 "Content-Type: text/plain\r\n"
			 "Content-Length: %zu\r\n"
			 "Connection: close\r\n\r\n"
			 "%s\n",
			 status, reason_phrase(status),
			 status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "", wl + 1,
			 why != NULL ? why : "");
	return finish(n, cap, len);
}

int sl_ws_request_write(const char *path, const char *host, const char *offers, const char *key,
			char *buf, size_t cap, size_t *len)
{
	int n = snprintf(buf, cap,
			 "GET %s HTTP/1.1\r\n"
			 "Host: %s\r\n"
			 "Upgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Key: %s\r\n"
			 "Sec-WebSocket-Version: 13\r\n"
			 "%s%s%s\r\n",
			 path, host, key, offers[0] ? "Sec-WebSocket-Protocol: " : "", offers,
			 offers[0] ? "\r\n" : "");
	return finish(n, cap, len);
}

int sl_ws_check_response(const struct sl_ws_request *resp, const char *key, const char *offers,
			 enum sl_ws_framing *framing, char protocol[SL_WS_MAX_PROTO],
			 const char **why)
{
	protocol[0] = '\0';
	if (resp->status != 101) {
		*why = "not 101 Switching Protocols";
		return SL_ECORRUPT;
	}
	if (!sl_ws_is_upgrade(resp) || !resp->connection_upgrade) {
		*why = "missing Upgrade: websocket or Connection: upgrade";
		return SL_ECORRUPT;
	}
	char want[29];
	if (sl_ws_accept_key(key, strlen(key), want) != 0 || resp->accept.len != 28 ||
	    memcmp(resp->accept.p, want, 28) != 0) {
		*why = "wrong Sec-WebSocket-Accept";
		return SL_ECORRUPT;
	}
	if (resp->extensions.len > 0) {
		*why = "an extension nobody offered";
		return SL_ECORRUPT;
	}
	if (resp->n_protocol > 1) {
		*why = "more than one Sec-WebSocket-Protocol";
		return SL_ECORRUPT;
	}
	struct sl_ws_str got = resp->n_protocol ? resp->protocol[0] : (struct sl_ws_str){NULL, 0};
	struct sl_ws_str off = {offers, strlen(offers)};
	if (got.len == 0) {
		if (off.len > 0) {
			*why = "no Sec-WebSocket-Protocol in the answer";
			return SL_ECORRUPT;
		}
		*framing = SL_WS_LEGACY;
		return 0;
	}
	char name[SL_WS_MAX_PROTO];
	if (got.len >= sizeof(name)) {
		*why = "Sec-WebSocket-Protocol not offered";
		return SL_ECORRUPT;
	}
	memcpy(name, got.p, got.len);
	name[got.len] = '\0';
	if (!list_has(off, name) || sl_ws_framing_of(got.p, got.len, framing) != 0) {
		*why = "Sec-WebSocket-Protocol not offered";
		return SL_ECORRUPT;
	}
	memcpy(protocol, name, got.len + 1);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* frames                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* Room kept at the end of the output queue for control frames (a pong or a close is at most
 * 2 + 4 + 125 bytes), so that messages never crowd out the answer to a ping. */
#define SL_WS_CTL_RESERVE 256

struct sl_ws_conn {
	struct sl_ws_config cfg;
	struct sl_ws_callbacks cb;
	void *arg;
	wslay_frame_context_ptr wf;
	/* the bytes of the current sl_ws_recv, read by wslay through recv_cb */
	const uint8_t *in;
	size_t in_left;
	/* the frame being received */
	bool in_frame;
	uint8_t op;
	bool fin;
	uint64_t plen, got;
	/* a data message being assembled (possibly over continuation frames) */
	bool in_msg;
	uint8_t *msg;
	size_t msg_len;
	uint8_t ctl[125];
	size_t ctl_len;
	/* output queue: pending bytes are out[head, tail) */
	uint8_t *out;
	size_t head, tail;
	bool resv;
	size_t resv_hdr, resv_max;
	bool close_sent, close_rcvd, failed;
	uint16_t err_code;
	const char *err_why;
	uint64_t mask_state;
	struct sl_ws_stats st;
};

void sl_ws_config_default(struct sl_ws_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->server = true;
	cfg->max_message = 65536;
	cfg->out_cap = 262144;
	cfg->mask_seed = 0x9e3779b97f4a7c15ull;
}

static ssize_t recv_cb(uint8_t *buf, size_t len, int flags, void *user)
{
	(void)flags;
	struct sl_ws_conn *c = user;
	size_t n = len < c->in_left ? len : c->in_left;
	if (n == 0)
		return 0; /* wslay answers WANT_READ: all fed bytes are taken */
	memcpy(buf, c->in, n);
	c->in += n;
	c->in_left -= n;
	return (ssize_t)n;
}

static ssize_t send_cb(const uint8_t *data, size_t len, int flags, void *user)
{
	/* The frame layer's send side is not used (headers are written in place). */
	(void)data;
	(void)len;
	(void)flags;
	(void)user;
	return -1;
}

static int genmask_cb(uint8_t *buf, size_t len, void *user)
{
	(void)buf;
	(void)len;
	(void)user;
	return -1;
}

int sl_ws_conn_new(const struct sl_ws_config *cfg, const struct sl_ws_callbacks *cb, void *arg,
		   struct sl_ws_conn **out)
{
	if (cfg->max_message == 0 || cfg->out_cap < 4 * SL_WS_CTL_RESERVE || cb->on_message == NULL)
		return SL_EINVAL;
	struct sl_ws_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return SL_ENOMEM;
	c->cfg = *cfg;
	c->cb = *cb;
	c->arg = arg;
	c->mask_state = cfg->mask_seed ? cfg->mask_seed : 1;
	c->msg = malloc(cfg->max_message);
	c->out = malloc(cfg->out_cap);
	struct wslay_frame_callbacks wcb = {send_cb, recv_cb, genmask_cb};
	if (c->msg == NULL || c->out == NULL || wslay_frame_context_init(&c->wf, &wcb, c) != 0) {
		free(c->msg);
		free(c->out);
		free(c);
		return SL_ENOMEM;
	}
	*out = c;
	return 0;
}

void sl_ws_conn_free(struct sl_ws_conn *c)
{
	if (c == NULL)
		return;
	wslay_frame_context_free(c->wf);
	free(c->msg);
	free(c->out);
	free(c);
}

static size_t hdr_len(const struct sl_ws_conn *c, size_t plen)
{
	size_t h = plen < 126 ? 2 : plen < 65536 ? 4 : 10;
	return c->cfg.server ? h : h + 4;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Writes a frame header at p for plen bytes of payload at p + header; masks the payload in
 * client mode. Returns the header length. */
static size_t put_frame(struct sl_ws_conn *c, uint8_t *p, uint8_t op, size_t plen)
{
	size_t h = 0;
	p[h++] = (uint8_t)(0x80 | op);
	uint8_t m = c->cfg.server ? 0 : 0x80;
	if (plen < 126) {
		p[h++] = (uint8_t)(m | plen);
	} else if (plen < 65536) {
		p[h++] = (uint8_t)(m | 126);
		p[h++] = (uint8_t)(plen >> 8);
		p[h++] = (uint8_t)plen;
	} else {
		p[h++] = (uint8_t)(m | 127);
		for (int i = 7; i >= 0; i--)
			p[h++] = (uint8_t)((uint64_t)plen >> (8 * i));
	}
	if (!c->cfg.server) {
		uint64_t k = xorshift(&c->mask_state);
		uint8_t key[4] = {(uint8_t)k, (uint8_t)(k >> 8), (uint8_t)(k >> 16),
				  (uint8_t)(k >> 24)};
		memcpy(p + h, key, 4);
		h += 4;
		uint8_t *d = p + h;
		for (size_t i = 0; i < plen; i++)
			d[i] ^= key[i & 3];
	}
	c->st.tx_frames++;
	c->st.tx_bytes += h + plen;
	return h;
}

/* Makes room for n more bytes at the tail, compacting the queue when that helps. */
static bool room_for(struct sl_ws_conn *c, size_t n, bool control)
{
	size_t cap = c->cfg.out_cap - (control ? 0 : SL_WS_CTL_RESERVE);
	if (c->tail + n <= cap)
		return true;
	if (c->head > 0) {
		memmove(c->out, c->out + c->head, c->tail - c->head);
		c->tail -= c->head;
		c->head = 0;
	}
	return c->tail + n <= cap;
}

static int queue_control(struct sl_ws_conn *c, uint8_t op, const uint8_t *data, size_t len)
{
	if (c->close_sent)
		return SL_ECLOSED;
	if (c->resv)
		return SL_ENOSPC; /* a message is being written at the tail */
	size_t h = hdr_len(c, len);
	if (!room_for(c, h + len, true))
		return SL_ENOSPC;
	uint8_t *p = c->out + c->tail;
	if (len > 0)
		memcpy(p + h, data, len);
	put_frame(c, p, op, len);
	c->tail += h + len;
	if (op == WSLAY_CONNECTION_CLOSE) {
		c->close_sent = true;
		c->st.closes_tx++;
	}
	return 0;
}

static int send_close(struct sl_ws_conn *c, uint16_t code)
{
	uint8_t b[2] = {(uint8_t)(code >> 8), (uint8_t)code};
	return queue_control(c, WSLAY_CONNECTION_CLOSE, b, code ? 2 : 0);
}

static int fail(struct sl_ws_conn *c, uint16_t code, const char *why)
{
	if (!c->failed) {
		c->failed = true;
		c->err_code = code;
		c->err_why = why;
		c->st.errors++;
		if (!c->close_sent)
			send_close(c, code);
	}
	return SL_ECORRUPT;
}

static int frame_start(struct sl_ws_conn *c, const struct wslay_frame_iocb *io)
{
	c->in_frame = true;
	c->op = io->opcode;
	c->fin = io->fin;
	c->plen = io->payload_length;
	c->got = 0;
	c->st.rx_frames++;
	if (io->rsv != 0)
		return fail(c, SL_WS_CLOSE_PROTOCOL, "reserved bits set (no extension agreed)");
	if (c->cfg.server && !io->mask)
		return fail(c, SL_WS_CLOSE_PROTOCOL, "unmasked frame from a client");
	if (!c->cfg.server && io->mask)
		return fail(c, SL_WS_CLOSE_PROTOCOL, "masked frame from a server");
	switch (io->opcode) {
	case WSLAY_CONTINUATION_FRAME:
		if (!c->in_msg)
			return fail(c, SL_WS_CLOSE_PROTOCOL, "continuation without a message");
		break;
	case WSLAY_TEXT_FRAME:
		return fail(c, SL_WS_CLOSE_UNSUPPORTED, "text message");
	case WSLAY_BINARY_FRAME:
		if (c->in_msg)
			return fail(c, SL_WS_CLOSE_PROTOCOL, "new message inside a fragmented one");
		c->in_msg = true;
		c->msg_len = 0;
		break;
	case WSLAY_CONNECTION_CLOSE:
	case WSLAY_PING:
	case WSLAY_PONG:
		c->ctl_len = 0;
		return 0; /* wslay checked fin and the 125-byte limit */
	default:
		return fail(c, SL_WS_CLOSE_PROTOCOL, "unknown opcode");
	}
	if (c->plen > (uint64_t)c->cfg.max_message - c->msg_len)
		return fail(c, SL_WS_CLOSE_TOO_BIG, "message too big");
	return 0;
}

static int frame_end(struct sl_ws_conn *c)
{
	c->in_frame = false;
	switch (c->op) {
	case WSLAY_PING:
		c->st.pings_rx++;
		if (!c->close_sent)
			queue_control(c, WSLAY_PONG, c->ctl, c->ctl_len);
		if (c->cb.on_control)
			c->cb.on_control(c->arg);
		return 0;
	case WSLAY_PONG:
		c->st.pongs_rx++;
		if (c->cb.on_control)
			c->cb.on_control(c->arg);
		return 0;
	case WSLAY_CONNECTION_CLOSE: {
		uint16_t code = SL_WS_CLOSE_NO_STATUS;
		if (c->ctl_len == 1)
			return fail(c, SL_WS_CLOSE_PROTOCOL, "close frame of one byte");
		if (c->ctl_len >= 2)
			code = (uint16_t)(c->ctl[0] << 8 | c->ctl[1]);
		c->close_rcvd = true;
		c->st.closes_rx++;
		/* Echo the peer's code, as RFC 6455 5.5.1 suggests; none when it sent none. */
		if (!c->close_sent)
			send_close(c, code == SL_WS_CLOSE_NO_STATUS ? 0 : code);
		if (c->cb.on_close)
			c->cb.on_close(c->arg, code);
		return SL_ECLOSED;
	}
	default:
		break;
	}
	if (c->fin) {
		c->in_msg = false;
		c->st.rx_messages++;
		c->cb.on_message(c->arg, c->msg, c->msg_len);
	}
	return 0;
}

int sl_ws_recv(struct sl_ws_conn *c, const uint8_t *data, size_t len)
{
	if (c->failed || c->close_rcvd)
		return SL_ECLOSED;
	c->st.rx_bytes += len;
	c->in = data;
	c->in_left = len;
	for (;;) {
		struct wslay_frame_iocb io;
		memset(&io, 0, sizeof(io));
		ssize_t r = wslay_frame_recv(c->wf, &io);
		if (r == WSLAY_ERR_WANT_READ)
			break;
		if (r < 0)
			return fail(c, SL_WS_CLOSE_PROTOCOL, "malformed frame header");
		if (!c->in_frame) {
			int rc = frame_start(c, &io);
			if (rc != 0)
				return rc;
		}
		size_t n = io.data_length;
		if (n > 0) {
			if (c->op & 0x8) {
				memcpy(c->ctl + c->ctl_len, io.data, n);
				c->ctl_len += n;
			} else {
				memcpy(c->msg + c->msg_len, io.data, n);
				c->msg_len += n;
			}
			c->got += n;
		}
		if (c->got == c->plen) {
			int rc = frame_end(c);
			if (rc != 0)
				return rc;
		}
		if (c->failed)
			return SL_ECORRUPT;
	}
	return 0;
}

uint8_t *sl_ws_msg_alloc(struct sl_ws_conn *c, size_t max)
{
	if (c->close_sent || c->resv)
		return NULL;
	size_t h = hdr_len(c, max);
	if (!room_for(c, h + max, false))
		return NULL;
	c->resv = true;
	c->resv_hdr = h;
	c->resv_max = max;
	return c->out + c->tail + h;
}

void sl_ws_msg_commit(struct sl_ws_conn *c, size_t len)
{
	if (!c->resv)
		return;
	c->resv = false;
	if (len > c->resv_max)
		len = c->resv_max;
	size_t h = hdr_len(c, len);
	uint8_t *p = c->out + c->tail;
	if (h < c->resv_hdr)
		memmove(p + h, p + c->resv_hdr, len); /* a shorter header than reserved */
	put_frame(c, p, WSLAY_BINARY_FRAME, len);
	c->tail += h + len;
	c->st.tx_messages++;
}

int sl_ws_send(struct sl_ws_conn *c, const uint8_t *data, size_t len)
{
	if (c->close_sent)
		return SL_ECLOSED;
	uint8_t *p = sl_ws_msg_alloc(c, len);
	if (p == NULL)
		return SL_ENOSPC;
	if (len > 0)
		memcpy(p, data, len);
	sl_ws_msg_commit(c, len);
	return 0;
}

int sl_ws_ping(struct sl_ws_conn *c, const uint8_t *data, size_t len)
{
	if (len > 125)
		return SL_EINVAL;
	if (c->resv)
		return SL_ENOSPC;
	int rc = queue_control(c, WSLAY_PING, data, len);
	if (rc == 0)
		c->st.pings_tx++;
	return rc;
}

int sl_ws_close(struct sl_ws_conn *c, uint16_t code)
{
	if (c->close_sent)
		return SL_ECLOSED;
	c->resv = false;
	return send_close(c, code);
}

size_t sl_ws_pending(const struct sl_ws_conn *c, const uint8_t **p)
{
	*p = c->out + c->head;
	return c->tail - c->head;
}

void sl_ws_consume(struct sl_ws_conn *c, size_t n)
{
	if (n > c->tail - c->head)
		n = c->tail - c->head;
	c->head += n;
	if (c->head == c->tail && !c->resv)
		c->head = c->tail = 0;
}

bool sl_ws_done(const struct sl_ws_conn *c)
{
	return c->failed || (c->close_sent && c->close_rcvd);
}

uint16_t sl_ws_error(const struct sl_ws_conn *c, const char **why)
{
	if (why != NULL)
		*why = c->err_why;
	return c->err_code;
}

void sl_ws_stats(const struct sl_ws_conn *c, struct sl_ws_stats *out)
{
	*out = c->st;
}

#define T struct sl_ws_stats
const struct sl_stat_field sl_ws_stats_fields[] = {
	SL_STAT_U(T, rx_bytes, NULL),
	SL_STAT_U(T, tx_bytes, NULL),
	SL_STAT_U(T, rx_messages, NULL),
	SL_STAT_U(T, tx_messages, NULL),
	SL_STAT_U(T, rx_frames, NULL),
	SL_STAT_U(T, tx_frames, NULL),
	SL_STAT_U(T, pings_rx, NULL),
	SL_STAT_U(T, pongs_rx, NULL),
	SL_STAT_U(T, pings_tx, NULL),
	SL_STAT_U(T, closes_rx, NULL),
	SL_STAT_U(T, closes_tx, NULL),
	SL_STAT_U(T, errors, NULL),
	SL_STAT_TABLE_END,
};
#undef T
