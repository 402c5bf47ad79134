/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_HTTP_H
#define SL_CONTROL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/jwt.h"

/*
 * The plain HTTP/1.1 routes of the TCP listener (the one that also upgrades to WebSocket for
 * moq-lite over qmux), sans-IO: bytes of a request head in, the bytes of the whole response
 * out. The listener owns the socket, TLS and timers; the daemon supplies the data through
 * callbacks. The routes and their answers follow moq-relay's web.rs, so tools written for
 * moq-relay work here:
 *
 *   GET /certificate.sha256        the relay certificate's SHA-256 in lowercase hex, no newline
 *                                   (what browsers pin for WebTransport); 404 without one
 *   GET /health                    "ok\n"
 *   GET /announced[/PREFIX]        the active broadcasts under PREFIX, as paths relative to it
 *                                   (as a moq-lite ANNOUNCE names them), sorted: a JSON array
 *                                   of strings, or with ?format=text moq-relay's body, the
 *                                   paths joined by "\n"
 *   GET /fetch/BROADCAST/TRACK     one cached group of the track: the frames' payloads one
 *       [?group=N|latest]           after the other (moq-relay's body; the header Moq-Group
 *                                   says which group "latest" was); 404 when not cached
 *   GET /metrics                   the Prometheus text (control/prom.h), from the caller
 *
 * Paths are percent-decoded (a decoded '/' separates segments, as in moq-relay, and '+' stays
 * '+'), then normalised as broadcast paths (core of track/path.h): a bad escape, a NUL, bad
 * UTF-8 or a path moq-lite would refuse is 400. With an authoriser (control/jwt.h),
 * /announced and /fetch are authorised as moq-relay does: the prefix or broadcast is the
 * connection path, ?jwt= the token, and the grant must allow subscribing; a refusal is 401
 * (its body names the reason). The other routes are open: put /metrics behind a firewall.
 *
 * Every other path is 404, other methods on these paths 405 (HEAD works as GET without the
 * body). A request carrying "Upgrade: websocket" is the listener's to hand to the moq-lite
 * side (sl_http_route says so); this module does not answer it.
 *
 * CORS: browsers fetch /certificate.sha256 from the page's origin before dialling
 * WebTransport, so every answer carries "Access-Control-Allow-Origin: *", and OPTIONS
 * (preflight) on any path gets 204 with "Access-Control-Allow-Methods: GET" and
 * "Access-Control-Allow-Headers" echoing the request's Access-Control-Request-Headers when it
 * is a well-formed list of header names.
 *
 * Every answer has Content-Length (but 204, which must not) and "Connection: close": the
 * listener writes the response and closes. These endpoints are fetched once per page
 * (certificate) or once per scrape interval (metrics), so keep-alive would save a handshake
 * every few seconds at most, and closing spares the listener pipelining, request bodies and
 * idle timers on HTTP connections. "Cache-Control: no-store" too: a pinned certificate hash or
 * a broadcast list served from a cache after a rotation is worse than one more request.
 */

#define SL_HTTP_HEAD_MAX     16384 /* longest request head (request line and headers) */
#define SL_HTTP_HEADERS_MAX  100
#define SL_HTTP_BODY_MAX     (64u << 20) /* a fetched group larger than this is 500 */
#define SL_HTTP_ANNOUNCE_MAX 100000	 /* broadcasts listed at most */
#define SL_HTTP_GROUP_LATEST UINT64_MAX

/* A span of the caller's request buffer (not NUL-terminated). */
struct sl_http_str {
	const char *p;
	size_t n;
};

/* What this module needs of a request; spans point into the bytes given to sl_http_parse
 * (or wherever another parser found them). Absent headers have n == 0. */
struct sl_http_request {
	struct sl_http_str method;
	struct sl_http_str target; /* as sent: origin-form "/p?q", absolute-form, or "*" */
	unsigned minor;		   /* HTTP/1.minor */
	struct sl_http_str host, upgrade, connection, origin;
	struct sl_http_str acr_method, acr_headers; /* Access-Control-Request-{Method,Headers} */
};

/*
 * Parses the request head at the start of buf (len bytes). On success fills req and stores in
 * *head_len the bytes the head took (anything after it is a body this module never reads).
 * Strict where leniency has led to request smuggling: one SP between the request line's
 * parts, no whitespace before a header's colon, no obsolete line folding, no control
 * characters, one Host (required for HTTP/1.1); a lone LF ends a line as well as CRLF.
 * Returns 0, SL_EAGAIN (no complete head yet: read more), SL_ENOSPC (the head is longer than
 * SL_HTTP_HEAD_MAX or has more than SL_HTTP_HEADERS_MAX headers: answer 431), SL_ENOTSUP (an
 * HTTP version other than 1.x: answer 505), SL_EINVAL (malformed: answer 400).
 */
int sl_http_parse(const uint8_t *buf, size_t len, struct sl_http_request *req, size_t *head_len);

enum sl_http_route {
	SL_HTTP_ROUTE_NONE = 0, /* 404 */
	SL_HTTP_ROUTE_CERT,
	SL_HTTP_ROUTE_HEALTH,
	SL_HTTP_ROUTE_ANNOUNCED,
	SL_HTTP_ROUTE_FETCH,
	SL_HTTP_ROUTE_METRICS,
	SL_HTTP_ROUTE_UPGRADE, /* Upgrade: websocket: the listener's business, not this module's */
};

/* Which route a request is for (by its path only; the method is checked by sl_http_respond). A
 * listener calls this first, to hand upgrades on, and to learn that /metrics or /fetch needs
 * data it may have to gather (see SL_EAGAIN below). */
enum sl_http_route sl_http_route(const struct sl_http_request *req);

/* Called by the announced handler once per active broadcast (path relative to the origin's
 * root). Returns 0, or SL_ENOSPC past SL_HTTP_ANNOUNCE_MAX (stop then). */
typedef int (*sl_http_path_fn)(void *ctx, const char *path, size_t len);

/* Called by the fetch handler once per frame, in order. Returns 0, or SL_ENOSPC when the body
 * would pass SL_HTTP_BODY_MAX, or SL_ENOMEM (stop then, and return what it returned). */
typedef int (*sl_http_frame_fn)(void *ctx, const uint8_t *payload, size_t len);

/*
 * Where the answers come from. Every callback may return SL_EAGAIN: the data is not at hand
 * yet (a group still arriving, counters being collected from the workers); sl_http_respond
 * then returns SL_EAGAIN and the listener calls it again with the same request when it has
 * the data, or answers 504 with sl_http_error after its own deadline (moq-relay waits up to
 * 30 s for a fetch).
 */
struct sl_http_handlers {
	void *arg;
	/* The certificate's SHA-256 as 64 lowercase hex digits (sl_worker_cert_sha256); NULL or
	 * "": no certificate (a plain listener), 404. */
	const char *cert_sha256;
	/* The active broadcasts under prefix (normalised, "" for all): emit(ctx, path, len) for
	 * each. Returns 0, SL_EAGAIN, or another SL_E* (500). NULL: 404. */
	int (*announced)(void *arg, const char *prefix, sl_http_path_fn emit, void *ctx);
	/* The frames of group number group (SL_HTTP_GROUP_LATEST: the newest) of track in
	 * broadcast, and its number in *sequence. Returns 0, SL_ENOTFOUND (404), SL_EAGAIN, or
	 * another SL_E* (500). NULL: 404. */
	int (*fetch)(void *arg, const char *broadcast, const char *track, uint64_t group,
		     uint64_t *sequence, sl_http_frame_fn emit, void *ctx);
	/* The Prometheus text: *text stays the caller's and valid until sl_http_respond returns.
	 * Returns 0, SL_EAGAIN, or another SL_E* (503). NULL: 404. */
	int (*metrics)(void *arg, const char **text, size_t *len);
	/* Authorises /announced and /fetch; NULL: open, as a daemon without tokens is. */
	const struct sl_jwt_auth *auth;
};

struct sl_http_response {
	uint8_t *data; /* the whole response, head and body (malloc'd) */
	size_t len;
	int status;
	/* A 401's reason, for the listener's refusal counters (SL_JWT_OK otherwise). */
	enum sl_jwt_reason auth_reason;
};

/*
 * Builds the response to req at unix time now_s (token expiry) into resp (release with
 * sl_http_response_free). Returns 0 with any status in resp->status, SL_EAGAIN (a handler is
 * not ready; nothing built), SL_ENOTSUP (an upgrade request), SL_ENOMEM.
 */
int sl_http_respond(const struct sl_http_handlers *h, const struct sl_http_request *req,
		    int64_t now_s, struct sl_http_response *resp);

/*
 * The connection path of a WebSocket upgrade: the request path, percent-decoded and
 * normalised as a broadcast path ("" for "/"), which roots the connection's moq session as
 * moq-relay does. On success *path is malloc'd. Returns 0, SL_EINVAL (not a path a session
 * could have: answer 400), SL_ENOMEM.
 */
int sl_http_upgrade_path(const struct sl_http_request *req, char **path);

/*
 * Authorises a WebSocket upgrade (SL_HTTP_ROUTE_UPGRADE) as moq-relay does: the request path,
 * percent-decoded and normalised, is the connection's root, ?jwt= its token, and the grant
 * decides what the connection's moq session may publish and subscribe to (control/jwt.h). At
 * unix time now_s. Returns 0 with *grant the connection's grant (NULL when h->auth is NULL:
 * no authorisation, everything allowed), 1 with a 401 (reason in resp->auth_reason and in
 * the body, "unauthorized: REASON") or a 400 (a bad path or query) built into resp, or
 * SL_ENOMEM. A grant that allows neither publishing nor subscribing is a 401 (no_access).
 */
int sl_http_upgrade_authorize(const struct sl_http_handlers *h, const struct sl_http_request *req,
			      int64_t now_s, struct sl_jwt_grant **grant,
			      struct sl_http_response *resp);

/* A short text answer with the common headers, for the listener's own errors (400 and 431 from
 * sl_http_parse, 505, 504 after a handler's SL_EAGAIN lasted too long). Returns 0, SL_EINVAL (a
 * status this module does not know), SL_ENOMEM. */
int sl_http_error(int status, struct sl_http_response *resp);

void sl_http_response_free(struct sl_http_response *resp);

/*
 * Percent-decodes n bytes at in into out (room for n + 1; NUL-terminated), '+' as a space when
 * form is true (query values) and as itself otherwise (paths), and stores the length in
 * *outlen. Returns 0, or SL_EINVAL for a bad escape, a NUL, or bytes that are not UTF-8.
 */
int sl_http_unescape(const char *in, size_t n, bool form, char *out, size_t *outlen);

#endif
