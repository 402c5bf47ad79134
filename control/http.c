/* SPDX-License-Identifier: Apache-2.0 */
#include "control/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "track/path.h"

/* ---- bytes out ---- */

struct out {
	uint8_t *d;
	size_t len, cap;
	int err;
};

static void out_put(struct out *o, const void *p, size_t n)
{
	if (o->err)
		return;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 1024;
		while (cap < o->len + n)
			cap *= 2;
		uint8_t *d = realloc(o->d, cap);
		if (d == NULL) {
			o->err = SL_ENOMEM;
			return;
		}
		o->d = d;
		o->cap = cap;
	}
	if (n)
		memcpy(o->d + o->len, p, n);
	o->len += n;
}

static void out_str(struct out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		o->err = o->err ? o->err : SL_EINVAL;
		return;
	}
	out_put(o, buf, (size_t)n);
}

/* ---- characters ---- */

static bool tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A header value's bytes: visible characters, SP, HTAB and obs-text; no other control. */
static bool field_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool ieq(struct sl_http_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && strncasecmp(s.p, lit, n) == 0;
}

/* Does a comma-separated header value hold token (any case)? */
static bool has_token(struct sl_http_str v, const char *token)
{
	size_t i = 0;
	while (i < v.n) {
		while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
			i++;
		size_t s = i;
		while (i < v.n && v.p[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
			e--;
		struct sl_http_str t = {v.p + s, e - s};
		if (e > s && ieq(t, token))
			return true;
	}
	return false;
}

/* Well-formed UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static bool utf8_ok(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t k;
		uint32_t cp;
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + k >= n)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sl_http_unescape(const char *in, size_t n, bool form, char *out, size_t *outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c == '%') {
			if (i + 2 >= n)
				return SL_EINVAL;
			int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return SL_EINVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && form) {
			c = ' ';
		}
		if (c == '\0')
			return SL_EINVAL;
		out[o++] = c;
	}
	out[o] = '\0';
	if (!utf8_ok((const uint8_t *)out, o))
		return SL_EINVAL;
	*outlen = o;
	return 0;
}

/* ---- parsing ---- */

/* The next line from *pos: its span without the line end. Returns false when no line end is
 * in the buffer yet. */
static bool next_line(const uint8_t *buf, size_t len, size_t *pos, size_t *start, size_t *end)
{
	const uint8_t *nl = memchr(buf + *pos, '\n', len - *pos);
	if (nl == NULL)
		return false;
	*start = *pos;
	*end = (size_t)(nl - buf);
	if (*end > *start && buf[*end - 1] == '\r')
		(*end)--;
	*pos = (size_t)(nl - buf) + 1;
	return true;
}

int sl_http_parse(const uint8_t *buf, size_t len, struct sl_http_request *req, size_t *head_len)
{
	memset(req, 0, sizeof(*req));
	size_t limit = len < SL_HTTP_HEAD_MAX ? len : SL_HTTP_HEAD_MAX;
	int incomplete = len >= SL_HTTP_HEAD_MAX ? SL_ENOSPC : SL_EAGAIN;
	size_t pos = 0, s, e;
	/* Empty lines before the request line are ignored (RFC 9112 section 2.2). */
	do {
		if (!next_line(buf, limit, &pos, &s, &e))
			return incomplete;
	} while (s == e && pos < 64);
	if (s == e)
		return SL_EINVAL;

	/* method SP request-target SP HTTP-version */
	const char *line = (const char *)buf + s;
	size_t n = e - s, i = 0;
	while (i < n && tchar((unsigned char)line[i]))
		i++;
	if (i == 0 || i >= n || line[i] != ' ')
		return SL_EINVAL;
	req->method = (struct sl_http_str){line, i};
	size_t t = ++i;
	while (i < n && (unsigned char)line[i] > 0x20 && (unsigned char)line[i] < 0x7f)
		i++;
	if (i == t || i >= n || line[i] != ' ')
		return SL_EINVAL;
	req->target = (struct sl_http_str){line + t, i - t};
	i++;
	if (n - i != 8 || memcmp(line + i, "HTTP/", 5) != 0 || line[i + 6] != '.' ||
	    line[i + 5] < '0' || line[i + 5] > '9' || line[i + 7] < '0' || line[i + 7] > '9')
		return SL_EINVAL;
	if (line[i + 5] != '1')
		return SL_ENOTSUP;
	req->minor = (unsigned)(line[i + 7] - '0');

	unsigned nheaders = 0, nhost = 0;
	for (;;) {
		if (!next_line(buf, limit, &pos, &s, &e))
			return incomplete;
		if (s == e)
			break;
		if (++nheaders > SL_HTTP_HEADERS_MAX)
			return SL_ENOSPC;
		line = (const char *)buf + s;
		n = e - s;
		/* A line starting with whitespace is obsolete folding (or an attempt to smuggle a
		 * header past a proxy that reads it differently): refused, as RFC 9112 allows. */
		i = 0;
		while (i < n && tchar((unsigned char)line[i]))
			i++;
		if (i == 0 || i >= n || line[i] != ':')
			return SL_EINVAL;
		struct sl_http_str name = {line, i};
		i++;
		while (i < n && (line[i] == ' ' || line[i] == '\t'))
			i++;
		size_t ve = n;
		while (ve > i && (line[ve - 1] == ' ' || line[ve - 1] == '\t'))
			ve--;
		for (size_t k = i; k < ve; k++)
			if (!field_char((unsigned char)line[k]))
				return SL_EINVAL;
		struct sl_http_str value = {line + i, ve - i};
		struct sl_http_str *slot = NULL;
		if (ieq(name, "host")) {
			nhost++;
			slot = &req->host;
		} else if (ieq(name, "upgrade")) {
			slot = &req->upgrade;
		} else if (ieq(name, "connection")) {
			slot = &req->connection;
		} else if (ieq(name, "origin")) {
			slot = &req->origin;
		} else if (ieq(name, "access-control-request-method")) {
			slot = &req->acr_method;
		} else if (ieq(name, "access-control-request-headers")) {
			slot = &req->acr_headers;
		}
		if (slot && slot->p == NULL)
			*slot = value;
	}
	/* RFC 9112 section 3.2: a 1.1 request without Host, or with two, is 400. */
	if (nhost > 1 || (req->minor >= 1 && nhost == 0))
		return SL_EINVAL;
	*head_len = pos;
	return 0;
}

/* ---- routing ---- */

struct target {
	const char *path, *query; /* raw (still escaped) */
	size_t npath, nquery;
};

/* Splits a request-target into its raw path and query. Returns false for a target that has
 * no path ("*", or something that is not a URI). */
static bool split_target(const struct sl_http_request *req, struct target *t)
{
	const char *p = req->target.p;
	size_t n = req->target.n;
	memset(t, 0, sizeof(*t));
	/* absolute-form (RFC 9112 section 3.2.2), which servers must accept: the path starts
	 * after the authority. */
	size_t skip = 0;
	if (n >= 7 && strncasecmp(p, "http://", 7) == 0)
		skip = 7;
	else if (n >= 8 && strncasecmp(p, "https://", 8) == 0)
		skip = 8;
	if (skip) {
		while (skip < n && p[skip] != '/' && p[skip] != '?')
			skip++;
		p += skip;
		n -= skip;
		if (n == 0 || p[0] == '?') {
			t->path = "/";
			t->npath = 1;
			if (n) {
				t->query = p + 1;
				t->nquery = n - 1;
			}
			return true;
		}
	}
	if (n == 0 || p[0] != '/')
		return false;
	const char *q = memchr(p, '?', n);
	const char *h = memchr(p, '#', n);
	size_t end = q ? (size_t)(q - p) : n;
	if (h && (size_t)(h - p) < end)
		end = (size_t)(h - p);
	t->path = p;
	t->npath = end;
	/* A '?' after a '#' belongs to the fragment (which clients should not send at all). */
	if (q && (h == NULL || h > q)) {
		size_t qs = (size_t)(q - p) + 1, qe = h ? (size_t)(h - p) : n;
		t->query = q + 1;
		t->nquery = qe - qs;
	}
	return true;
}

static bool path_is(const struct target *t, const char *lit)
{
	return t->npath == strlen(lit) && memcmp(t->path, lit, t->npath) == 0;
}

static bool path_under(const struct target *t, const char *lit, size_t *rest)
{
	size_t n = strlen(lit);
	if (t->npath < n || memcmp(t->path, lit, n) != 0)
		return false;
	*rest = n;
	return true;
}

enum sl_http_route sl_http_route(const struct sl_http_request *req)
{
	if (req->upgrade.n && has_token(req->upgrade, "websocket"))
		return SL_HTTP_ROUTE_UPGRADE;
	struct target t;
	size_t rest;
	if (!split_target(req, &t))
		return SL_HTTP_ROUTE_NONE;
	if (path_is(&t, "/certificate.sha256"))
		return SL_HTTP_ROUTE_CERT;
	if (path_is(&t, "/health"))
		return SL_HTTP_ROUTE_HEALTH;
	if (path_is(&t, "/metrics"))
		return SL_HTTP_ROUTE_METRICS;
	if (path_is(&t, "/announced") || path_under(&t, "/announced/", &rest))
		return SL_HTTP_ROUTE_ANNOUNCED;
	if (path_under(&t, "/fetch/", &rest))
		return SL_HTTP_ROUTE_FETCH;
	return SL_HTTP_ROUTE_NONE;
}

/* ---- responses ---- */

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return NULL;
	}
}

/*
 * Builds a response: status line, the headers every answer has, extra (complete header lines
 * or NULL), and the body unless head_only. A 204 has neither Content-Type nor Content-Length
 * (RFC 9110 section 8.6 forbids the latter).
 */
static int build(struct sl_http_response *r, int status, const char *ctype, const char *extra,
		 const void *body, size_t blen, bool head_only)
{
	const char *phrase = reason_phrase(status);
	if (phrase == NULL)
		return SL_EINVAL;
	struct out o = {0};
	out_printf(&o, "HTTP/1.1 %d %s\r\n", status, phrase);
	if (status != 204) {
		out_printf(&o, "Content-Type: %s\r\n", ctype);
		out_printf(&o, "Content-Length: %zu\r\n", blen);
	}
	out_str(&o, "Access-Control-Allow-Origin: *\r\n"
		    "Cache-Control: no-store\r\n"
		    "Connection: close\r\n");
	if (extra)
		out_str(&o, extra);
	out_str(&o, "\r\n");
	if (!head_only && status != 204)
		out_put(&o, body, blen);
	if (o.err) {
		free(o.d);
		return SL_ENOMEM;
	}
	free(r->data);
	r->data = o.d;
	r->len = o.len;
	r->status = status;
	return 0;
}

static int text(struct sl_http_response *r, int status, const char *body, const char *extra,
		bool head_only)
{
	return build(r, status, "text/plain; charset=utf-8", extra, body, strlen(body), head_only);
}

int sl_http_error(int status, struct sl_http_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	const char *phrase = reason_phrase(status);
	if (phrase == NULL || status < 400)
		return SL_EINVAL;
	char body[64];
	snprintf(body, sizeof(body), "%s\n", phrase);
	return text(resp, status, body, NULL, false);
}

void sl_http_response_free(struct sl_http_response *resp)
{
	if (resp == NULL)
		return;
	free(resp->data);
	memset(resp, 0, sizeof(*resp));
}

/* Is an Access-Control-Request-Headers value a list of header names (so that echoing it can
 * put nothing but header names into our answer)? */
static bool header_list_ok(struct sl_http_str v)
{
	if (v.n == 0 || v.n > 1024)
		return false;
	for (size_t i = 0; i < v.n; i++) {
		unsigned char c = (unsigned char)v.p[i];
		if (!tchar(c) && c != ',' && c != ' ' && c != '\t')
			return false;
	}
	return true;
}

static int preflight(const struct sl_http_request *req, struct sl_http_response *r)
{
	char extra[1300];
	int n = snprintf(extra, sizeof(extra),
			 "Access-Control-Allow-Methods: GET\r\n"
			 "Access-Control-Max-Age: 86400\r\n"
			 "Vary: Access-Control-Request-Headers\r\n");
	if (header_list_ok(req->acr_headers))
		snprintf(extra + n, sizeof(extra) - (size_t)n,
			 "Access-Control-Allow-Headers: %.*s\r\n", (int)req->acr_headers.n,
			 req->acr_headers.p);
	return build(r, 204, NULL, extra, NULL, 0, false);
}

/* ---- queries ---- */

struct query {
	char *jwt;	/* NULL when absent or empty */
	char *group;	/* NULL when absent */
	char *format;	/* NULL when absent */
	size_t jwt_len; /* of jwt */
};

static void query_free(struct query *q)
{
	free(q->jwt);
	free(q->group);
	free(q->format);
}

/* Decodes the parameters this module knows; the last of a repeated one wins (as moq-relay
 * takes the last jwt). Returns 0, SL_EINVAL (a bad escape), SL_ENOMEM. */
static int query_parse(const char *p, size_t n, struct query *q)
{
	memset(q, 0, sizeof(*q));
	size_t i = 0;
	while (i < n) {
		size_t s = i;
		while (i < n && p[i] != '&')
			i++;
		const char *pair = p + s;
		size_t pn = i - s;
		i++;
		if (pn == 0)
			continue;
		const char *eq = memchr(pair, '=', pn);
		size_t kn = eq ? (size_t)(eq - pair) : pn;
		char key[16];
		size_t klen;
		if (kn >= sizeof(key)) {
			/* Not one of ours, but it must still be a valid escape. */
			char *tmp = malloc(kn + 1);
			if (tmp == NULL)
				return SL_ENOMEM;
			int rc = sl_http_unescape(pair, kn, true, tmp, &klen);
			free(tmp);
			if (rc != 0)
				return rc;
			continue;
		}
		if (sl_http_unescape(pair, kn, true, key, &klen) != 0)
			return SL_EINVAL;
		const char *vp = eq ? eq + 1 : pair + pn;
		size_t vn = eq ? pn - kn - 1 : 0;
		char *v = malloc(vn + 1);
		size_t vlen;
		if (v == NULL)
			return SL_ENOMEM;
		if (sl_http_unescape(vp, vn, true, v, &vlen) != 0) {
			free(v);
			return SL_EINVAL;
		}
		char **slot = NULL;
		if (strcmp(key, "jwt") == 0)
			slot = &q->jwt;
		else if (strcmp(key, "group") == 0)
			slot = &q->group;
		else if (strcmp(key, "format") == 0)
			slot = &q->format;
		if (slot == NULL) {
			free(v);
			continue;
		}
		free(*slot);
		*slot = v;
		if (slot == &q->jwt)
			q->jwt_len = vlen;
	}
	/* moq-relay treats an empty jwt as none. */
	if (q->jwt && q->jwt_len == 0) {
		free(q->jwt);
		q->jwt = NULL;
	}
	return 0;
}

/* ---- routes ---- */

/* Decodes and normalises the raw path bytes after a route's prefix. NULL and *rc on error. */
static char *route_path(const char *raw, size_t n, int *rc)
{
	char *dec = malloc(n + 1), *norm = malloc(n + 1);
	size_t dn, nn;
	*rc = SL_ENOMEM;
	if (dec && norm) {
		*rc = sl_http_unescape(raw, n, false, dec, &dn);
		if (*rc == 0)
			*rc = sl_path_normalize(dec, dn, norm, &nn) == 0 ? 0 : SL_EINVAL;
	}
	free(dec);
	if (*rc != 0) {
		free(norm);
		return NULL;
	}
	return norm;
}

/*
 * The grant for a connection at path, or a 401 built into r (returns 1). 0 with *g NULL when
 * there is no authoriser (everything is allowed). need_subscribe: a grant that cannot
 * subscribe is refused too (HTTP reads); otherwise one that can do neither is.
 */
static int authorise_for(const struct sl_http_handlers *h, const char *path, const struct query *q,
			 int64_t now_s, bool need_subscribe, struct sl_jwt_grant **g,
			 struct sl_http_response *r, bool head_only, int *rc)
{
	*g = NULL;
	*rc = 0;
	if (h->auth == NULL)
		return 0;
	enum sl_jwt_reason why = SL_JWT_OK;
	int arc = sl_jwt_authorize(h->auth, path, q->jwt, q->jwt_len, now_s, g, &why, NULL, 0);
	if (arc == SL_ENOMEM) {
		*rc = arc;
		return 1;
	}
	if (arc == 0 && !sl_jwt_grant_can_subscribe(*g) &&
	    (need_subscribe || !sl_jwt_grant_can_publish(*g))) {
		sl_jwt_grant_free(*g);
		*g = NULL;
		why = SL_JWT_NO_ACCESS;
		arc = SL_EINVAL;
	}
	if (arc == 0)
		return 0;
	char body[96];
	snprintf(body, sizeof(body), "unauthorized: %s\n", sl_jwt_reason_name(why));
	*rc = text(r, 401, body, "WWW-Authenticate: Bearer realm=\"shardline\"\r\n", head_only);
	r->auth_reason = why;
	return 1;
}

static int authorise(const struct sl_http_handlers *h, const char *path, const struct query *q,
		     int64_t now_s, struct sl_jwt_grant **g, struct sl_http_response *r,
		     bool head_only, int *rc)
{
	return authorise_for(h, path, q, now_s, true, g, r, head_only, rc);
}

int sl_http_upgrade_path(const struct sl_http_request *req, char **path)
{
	struct target t;
	int rc = SL_EINVAL;
	*path = split_target(req, &t) ? route_path(t.path, t.npath, &rc) : NULL;
	return *path ? 0 : rc;
}

/* 1 (an answer was built) when building it worked, its error otherwise. */
static int answered(int rc)
{
	return rc == 0 ? 1 : rc;
}

int sl_http_upgrade_authorize(const struct sl_http_handlers *h, const struct sl_http_request *req,
			      int64_t now_s, struct sl_jwt_grant **grant,
			      struct sl_http_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	*grant = NULL;
	if (h->auth == NULL)
		return 0;
	struct target t;
	if (!split_target(req, &t))
		return answered(text(resp, 400, "bad request target\n", NULL, false));
	struct query q;
	int rc = query_parse(t.query, t.nquery, &q);
	if (rc != 0) {
		query_free(&q);
		return rc == SL_ENOMEM ? rc : answered(text(resp, 400, "bad query\n", NULL, false));
	}
	char *path = route_path(t.path, t.npath, &rc);
	if (path == NULL) {
		query_free(&q);
		return rc == SL_ENOMEM ? rc : answered(text(resp, 400, "bad path\n", NULL, false));
	}
	int refused = authorise_for(h, path, &q, now_s, false, grant, resp, false, &rc);
	free(path);
	query_free(&q);
	if (rc != 0) {
		sl_http_response_free(resp);
		return rc;
	}
	return refused;
}

struct announce_ctx {
	const char *prefix;
	const struct sl_jwt_grant *g;
	char **v;
	size_t n, cap;
	int err;
};

static int announce_emit(void *ctx, const char *path, size_t len)
{
	struct announce_ctx *a = ctx;
	if (a->err)
		return a->err;
	if (a->n >= SL_HTTP_ANNOUNCE_MAX)
		return SL_ENOSPC;
	char *norm = malloc(len + 1);
	if (norm == NULL)
		return a->err = SL_ENOMEM;
	size_t nn;
	const char *suffix;
	/* A name that is no path, not under the prefix, not allowed or not UTF-8 (it could not
	 * be written into JSON faithfully) is left out. */
	if (sl_path_normalize(path, len, norm, &nn) != 0 ||
	    !sl_path_strip_prefix(norm, a->prefix, &suffix) ||
	    (a->g && !sl_jwt_may_subscribe(a->g, suffix)) ||
	    !utf8_ok((const uint8_t *)suffix, strlen(suffix))) {
		free(norm);
		return 0;
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		char **v = realloc(a->v, cap * sizeof(*v));
		if (v == NULL) {
			free(norm);
			return a->err = SL_ENOMEM;
		}
		a->v = v;
		a->cap = cap;
	}
	memmove(norm, suffix, strlen(suffix) + 1);
	a->v[a->n++] = norm;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void json_string_out(struct out *o, const char *s)
{
	out_str(o, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			out_put(o, esc, 2);
		} else if (c < 0x20) {
			out_printf(o, "\\u%04x", c);
		} else {
			out_put(o, s, 1);
		}
	}
	out_str(o, "\"");
}

static int announced(const struct sl_http_handlers *h, const struct target *t,
		     const struct query *q, int64_t now_s, bool head_only,
		     struct sl_http_response *r)
{
	int rc;
	size_t skip = t->npath > strlen("/announced") ? strlen("/announced/") : t->npath;
	char *prefix = route_path(t->path + skip, t->npath - skip, &rc);
	if (prefix == NULL)
		return rc == SL_ENOMEM ? rc : text(r, 400, "bad path\n", NULL, head_only);
	bool as_text = q->format && strcmp(q->format, "text") == 0;
	if (q->format && !as_text && strcmp(q->format, "json") != 0) {
		free(prefix);
		return text(r, 400, "format is json or text\n", NULL, head_only);
	}
	struct sl_jwt_grant *g;
	if (authorise(h, prefix, q, now_s, &g, r, head_only, &rc)) {
		free(prefix);
		return rc;
	}
	struct announce_ctx a = {.prefix = prefix, .g = g};
	rc = h->announced(h->arg, prefix, announce_emit, &a);
	if (rc == 0 && a.err)
		rc = a.err;
	if (rc == 0) {
		if (a.n > 1) /* a.v is NULL when nothing was announced */
			qsort(a.v, a.n, sizeof(*a.v), cmp_str);
		struct out o = {0};
		if (!as_text)
			out_str(&o, "[");
		size_t written = 0;
		for (size_t i = 0; i < a.n; i++) {
			if (i > 0 && strcmp(a.v[i], a.v[i - 1]) == 0)
				continue;
			if (as_text) {
				out_str(&o, written ? "\n" : "");
				out_str(&o, a.v[i]);
			} else {
				out_str(&o, written ? "," : "");
				json_string_out(&o, a.v[i]);
			}
			written++;
		}
		if (!as_text)
			out_str(&o, "]\n");
		if (o.err)
			rc = SL_ENOMEM;
		else
			rc = build(r, 200,
				   as_text ? "text/plain; charset=utf-8" : "application/json", NULL,
				   o.d, o.len, head_only);
		free(o.d);
	} else if (rc != SL_EAGAIN && rc != SL_ENOMEM) {
		rc = text(r, 500, "the broadcasts could not be listed\n", NULL, head_only);
	}
	for (size_t i = 0; i < a.n; i++)
		free(a.v[i]);
	free(a.v);
	sl_jwt_grant_free(g);
	free(prefix);
	return rc;
}

struct fetch_ctx {
	struct out body;
};

static int fetch_emit(void *ctx, const uint8_t *payload, size_t len)
{
	struct fetch_ctx *f = ctx;
	if (f->body.err)
		return f->body.err;
	if (f->body.len + len > SL_HTTP_BODY_MAX || f->body.len + len < f->body.len)
		return f->body.err = SL_ENOSPC;
	out_put(&f->body, payload, len);
	return f->body.err;
}

/* A group number: decimal digits only (no sign, no spaces), or "latest". */
static bool parse_group(const char *s, uint64_t *out)
{
	if (s == NULL || strcmp(s, "latest") == 0) {
		*out = SL_HTTP_GROUP_LATEST;
		return true;
	}
	uint64_t v = 0;
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - 1 - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static int fetch(const struct sl_http_handlers *h, const struct target *t, const struct query *q,
		 int64_t now_s, bool head_only, struct sl_http_response *r)
{
	int rc;
	size_t skip = strlen("/fetch/");
	char *path = route_path(t->path + skip, t->npath - skip, &rc);
	if (path == NULL)
		return rc == SL_ENOMEM ? rc : text(r, 400, "bad path\n", NULL, head_only);
	/* The last segment is the track, the rest the broadcast; both are needed. */
	char *slash = strrchr(path, '/');
	uint64_t group;
	if (slash == NULL) {
		free(path);
		return text(r, 400, "a fetch is /fetch/BROADCAST/TRACK\n", NULL, head_only);
	}
	if (!parse_group(q->group, &group)) {
		free(path);
		return text(r, 400, "group is a number or \"latest\"\n", NULL, head_only);
	}
	*slash = '\0';
	const char *broadcast = path, *track = slash + 1;
	struct sl_jwt_grant *g;
	if (authorise(h, broadcast, q, now_s, &g, r, head_only, &rc)) {
		free(path);
		return rc;
	}
	/* The grant is relative to the broadcast: it must cover the broadcast itself. */
	if (g && !sl_jwt_may_subscribe(g, "")) {
		sl_jwt_grant_free(g);
		free(path);
		r->auth_reason = SL_JWT_NO_ACCESS;
		return text(r, 401, "unauthorized: no_access\n",
			    "WWW-Authenticate: Bearer realm=\"shardline\"\r\n", head_only);
	}
	sl_jwt_grant_free(g);
	struct fetch_ctx f = {0};
	uint64_t seq = group;
	rc = h->fetch(h->arg, broadcast, track, group, &seq, fetch_emit, &f);
	if (rc == 0 && f.body.err)
		rc = f.body.err;
	if (rc == 0) {
		char extra[96];
		snprintf(extra, sizeof(extra),
			 "Moq-Group: %llu\r\nAccess-Control-Expose-Headers: Moq-Group\r\n",
			 (unsigned long long)seq);
		rc = build(r, 200, "application/octet-stream", extra, f.body.d, f.body.len,
			   head_only);
	} else if (rc == SL_ENOTFOUND) {
		rc = text(r, 404, "not found\n", NULL, head_only);
	} else if (rc == SL_ENOSPC) {
		rc = text(r, 500, "the group is too large to serve\n", NULL, head_only);
	} else if (rc != SL_EAGAIN && rc != SL_ENOMEM) {
		rc = text(r, 500, "the group could not be read\n", NULL, head_only);
	}
	free(f.body.d);
	free(path);
	return rc;
}

int sl_http_respond(const struct sl_http_handlers *h, const struct sl_http_request *req,
		    int64_t now_s, struct sl_http_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	enum sl_http_route route = sl_http_route(req);
	if (route == SL_HTTP_ROUTE_UPGRADE)
		return SL_ENOTSUP;
	/* Methods are case-sensitive (RFC 9110 section 9.1). */
	bool get = req->method.n == 3 && memcmp(req->method.p, "GET", 3) == 0;
	bool head = req->method.n == 4 && memcmp(req->method.p, "HEAD", 4) == 0;
	bool options = req->method.n == 7 && memcmp(req->method.p, "OPTIONS", 7) == 0;
	struct target t;
	bool has_path = split_target(req, &t);
	/* A preflight is answered wherever it is sent, as moq-relay's CORS layer does. */
	if (options)
		return preflight(req, resp);
	if (!has_path)
		return text(resp, 400, "bad request target\n", NULL, head);
	if (route == SL_HTTP_ROUTE_NONE)
		return text(resp, 404, "not found\n", NULL, head);
	if (!get && !head)
		return text(resp, 405, "method not allowed\n", "Allow: GET, HEAD, OPTIONS\r\n",
			    false);

	struct query q;
	int rc = query_parse(t.query, t.nquery, &q);
	if (rc != 0) {
		/* The parameters decoded before the bad one. */
		query_free(&q);
		return rc == SL_ENOMEM ? rc : text(resp, 400, "bad query\n", NULL, head);
	}

	switch (route) {
	case SL_HTTP_ROUTE_CERT:
		if (h->cert_sha256 == NULL || h->cert_sha256[0] == '\0')
			rc = text(resp, 404, "no certificate\n", NULL, head);
		else
			rc = text(resp, 200, h->cert_sha256, NULL, head);
		break;
	case SL_HTTP_ROUTE_HEALTH:
		rc = text(resp, 200, "ok\n", NULL, head);
		break;
	case SL_HTTP_ROUTE_METRICS: {
		const char *body = NULL;
		size_t len = 0;
		rc = h->metrics ? h->metrics(h->arg, &body, &len) : SL_ENOTFOUND;
		if (rc == 0)
			rc = build(resp, 200, "text/plain; version=0.0.4; charset=utf-8", NULL,
				   body, len, head);
		else if (rc == SL_ENOTFOUND)
			rc = text(resp, 404, "not found\n", NULL, head);
		else if (rc != SL_EAGAIN && rc != SL_ENOMEM)
			rc = text(resp, 503, "metrics unavailable\n", NULL, head);
		break;
	}
	case SL_HTTP_ROUTE_ANNOUNCED:
		rc = h->announced ? announced(h, &t, &q, now_s, head, resp)
				  : text(resp, 404, "not found\n", NULL, head);
		break;
	case SL_HTTP_ROUTE_FETCH:
		rc = h->fetch ? fetch(h, &t, &q, now_s, head, resp)
			      : text(resp, 404, "not found\n", NULL, head);
		break;
	default:
		rc = text(resp, 404, "not found\n", NULL, head);
		break;
	}
	query_free(&q);
	if (rc != 0)
		sl_http_response_free(resp);
	return rc;
}
