/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the TCP listener's HTTP routes, from raw request bytes to response bytes: the head
 * parser's strictness, every route (with percent-decoding and bad inputs), CORS and
 * preflights, methods, HEAD, upgrades left to the listener, handlers that are not ready, and
 * authorisation of /announced and /fetch with tokens made here.
 */
#include "core/test_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/crypto.h>

#include "control/http.h"
#include "control/jwt.h"
#include "core/err.h"

#define NOW  INT64_C(1800000000)
#define CERT "bd3d9d4bb30f059bc26d5b32621f7bace7c859ed060297b3c98e9cf760f19df9"

static const char SECRET[] = "0123456789abcdef0123456789abcdef";

/* ---- handlers ---- */

struct world {
	bool not_ready;
	int fail; /* an error the handlers return */
	char last_prefix[128];
	char last_broadcast[128], last_track[64];
	uint64_t last_group;
};

static int announced_cb(void *arg, const char *prefix, sl_http_path_fn emit, void *ctx)
{
	struct world *w = arg;
	snprintf(w->last_prefix, sizeof(w->last_prefix), "%s", prefix);
	if (w->not_ready)
		return SL_EAGAIN;
	if (w->fail)
		return w->fail;
	static const char *const all[] = {"demo/b/c", "demo/a",	 "demox/z",	  "other",
					  "demo",     "q\"uote", "caf\xc3\xa9/x", "/demo//a/",
					  "room/a",   "room/b",	 "room/cam/x"};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		int rc = emit(ctx, all[i], strlen(all[i]));
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int fetch_cb(void *arg, const char *broadcast, const char *track, uint64_t group,
		    uint64_t *sequence, sl_http_frame_fn emit, void *ctx)
{
	struct world *w = arg;
	snprintf(w->last_broadcast, sizeof(w->last_broadcast), "%s", broadcast);
	snprintf(w->last_track, sizeof(w->last_track), "%s", track);
	w->last_group = group;
	if (w->not_ready)
		return SL_EAGAIN;
	if (w->fail)
		return w->fail;
	if (strcmp(broadcast, "demo/room") != 0 && strcmp(broadcast, "room/cam") != 0)
		return SL_ENOTFOUND;
	if (strcmp(track, "video") != 0)
		return SL_ENOTFOUND;
	if (group == SL_HTTP_GROUP_LATEST) {
		*sequence = 7;
		return emit(ctx, (const uint8_t *)"l", 1);
	}
	if (group != 5)
		return SL_ENOTFOUND;
	*sequence = 5;
	int rc = emit(ctx, (const uint8_t *)"hello", 5);
	if (rc == 0)
		rc = emit(ctx, (const uint8_t *)" ", 1);
	if (rc == 0)
		rc = emit(ctx, (const uint8_t *)"world", 5);
	return rc;
}

static const char METRICS[] = "# TYPE x counter\nx 1\n";

static int metrics_cb(void *arg, const char **text, size_t *len)
{
	struct world *w = arg;
	if (w->not_ready)
		return SL_EAGAIN;
	if (w->fail)
		return w->fail;
	*text = METRICS;
	*len = strlen(METRICS);
	return 0;
}

static struct world world;
static struct sl_http_handlers handlers = {
	.arg = &world,
	.cert_sha256 = CERT,
	.announced = announced_cb,
	.fetch = fetch_cb,
	.metrics = metrics_cb,
};

/* ---- a response, taken apart ---- */

struct answer {
	int rc;
	int status;
	char head[4096];
	char *body;
	size_t blen;
	enum sl_jwt_reason reason;
};

static void answer_free(struct answer *a)
{
	free(a->body);
	memset(a, 0, sizeof(*a));
}

/* Parses raw, answers it with h, and splits the response. */
static struct answer ask_with(const struct sl_http_handlers *h, const char *raw)
{
	struct answer a = {0};
	struct sl_http_request req;
	size_t hl;
	int rc = sl_http_parse((const uint8_t *)raw, strlen(raw), &req, &hl);
	if (rc != 0)
		fail_msg("request not parsed (%d): %s", rc, raw);
	struct sl_http_response r;
	a.rc = sl_http_respond(h, &req, NOW, &r);
	if (a.rc != 0) {
		assert_null(r.data);
		return a;
	}
	a.status = r.status;
	a.reason = r.auth_reason;
	const char *end = memmem(r.data, r.len, "\r\n\r\n", 4);
	assert_non_null(end);
	size_t hn = (size_t)(end - (const char *)r.data) + 2;
	assert_true(hn < sizeof(a.head));
	memcpy(a.head, r.data, hn);
	a.head[hn] = '\0';
	a.blen = r.len - hn - 2;
	a.body = malloc(a.blen + 1);
	memcpy(a.body, end + 4, a.blen);
	a.body[a.blen] = '\0';
	/* What every answer has. */
	char status_line[32];
	snprintf(status_line, sizeof(status_line), "HTTP/1.1 %d ", r.status);
	assert_int_equal(strncmp(a.head, status_line, strlen(status_line)), 0);
	assert_non_null(strstr(a.head, "\r\nAccess-Control-Allow-Origin: *\r\n"));
	assert_non_null(strstr(a.head, "\r\nConnection: close\r\n"));
	sl_http_response_free(&r);
	return a;
}

static struct answer ask(const char *raw)
{
	return ask_with(&handlers, raw);
}

/* A GET of target with the usual headers. */
static struct answer get(const char *target)
{
	char raw[8192];
	snprintf(raw, sizeof(raw),
		 "GET %s HTTP/1.1\r\nHost: relay.example\r\nUser-Agent: t\r\n\r\n", target);
	return ask(raw);
}

/* The value of a header in a response head ("" when absent). */
static const char *header(const struct answer *a, const char *name)
{
	static char v[1024];
	v[0] = '\0';
	for (const char *p = strstr(a->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		size_t n = strlen(name);
		if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *e = strstr(line, "\r\n");
			snprintf(v, sizeof(v), "%.*s", (int)(e - line - n - 2), line + n + 2);
			break;
		}
	}
	return v;
}

static void assert_content_length(const struct answer *a)
{
	char want[32];
	snprintf(want, sizeof(want), "%zu", a->blen);
	assert_string_equal(header(a, "Content-Length"), want);
}

/* ---- the parser ---- */

static int parse(const char *raw, struct sl_http_request *req, size_t *hl)
{
	return sl_http_parse((const uint8_t *)raw, strlen(raw), req, hl);
}

static void test_parse(void **state)
{
	(void)state;
	struct sl_http_request req;
	size_t hl;
	const char *raw =
		"GET /x?y=1 HTTP/1.1\r\nHost: a\r\nOrigin: https://page.example\r\n"
		"Upgrade:  websocket \r\nAccess-Control-Request-Headers: a, b\r\n\r\nBODY";
	assert_int_equal(parse(raw, &req, &hl), 0);
	assert_int_equal(hl, strlen(raw) - 4);
	assert_int_equal(req.method.n, 3);
	assert_memory_equal(req.target.p, "/x?y=1", 6);
	assert_int_equal(req.minor, 1);
	assert_memory_equal(req.host.p, "a", 1);
	assert_int_equal(req.upgrade.n, 9); /* whitespace around a value is not part of it */
	assert_int_equal(req.origin.n, strlen("https://page.example"));
	assert_int_equal(req.acr_headers.n, 4);

	/* Incomplete, at every length. */
	for (size_t n = 0; n < strlen(raw) - 4; n++)
		assert_int_equal(sl_http_parse((const uint8_t *)raw, n, &req, &hl), SL_EAGAIN);
	/* LF alone ends lines; empty lines before the request are skipped; HTTP/1.0 needs no
	 * Host. */
	assert_int_equal(parse("\r\n\nGET / HTTP/1.0\n\n", &req, &hl), 0);
	assert_int_equal(req.minor, 0);

	const char *bad[] = {
		"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
		"GET /  HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / http/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.10\r\nHost: a\r\n\r\n",
		"GET / HTTP/1\r\nHost: a\r\n\r\n",
		"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
		" GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\rz\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nno colon\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n: empty name\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i], &req, &hl);
		if (rc != SL_EINVAL)
			fail_msg("'%s' parsed with %d", bad[i], rc);
	}
	/* Empty lines alone: wait for more, but not forever. */
	assert_int_equal(parse("\r\n\r\n\r\n", &req, &hl), SL_EAGAIN);
	char blank[256] = "";
	for (int i = 0; i < 40; i++)
		strcat(blank, "\r\n");
	strcat(blank, "GET / HTTP/1.0\r\n\r\n");
	assert_int_equal(parse(blank, &req, &hl), SL_EINVAL);
	assert_int_equal(parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n", &req, &hl), SL_ENOTSUP);
	assert_int_equal(parse("GET / HTTP/0.9\r\nHost: a\r\n\r\n", &req, &hl), SL_ENOTSUP);

	/* Too long, and too many headers. */
	char *big = malloc(SL_HTTP_HEAD_MAX + 64);
	strcpy(big, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	size_t n = strlen(big);
	memset(big + n, 'a', SL_HTTP_HEAD_MAX);
	big[n + SL_HTTP_HEAD_MAX] = '\0';
	assert_int_equal(parse(big, &req, &hl), SL_ENOSPC);
	strcpy(big, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i <= SL_HTTP_HEADERS_MAX; i++)
		strcat(big, "X: 1\r\n");
	strcat(big, "\r\n");
	assert_int_equal(parse(big, &req, &hl), SL_ENOSPC);
	free(big);
}

/* ---- routes ---- */

static void test_certificate(void **state)
{
	(void)state;
	struct answer a = get("/certificate.sha256");
	assert_int_equal(a.status, 200);
	assert_string_equal(a.body, CERT); /* no newline: clients hex-decode the body as is */
	assert_string_equal(header(&a, "Content-Length"), "64");
	assert_string_equal(header(&a, "Content-Type"), "text/plain; charset=utf-8");
	assert_string_equal(header(&a, "Cache-Control"), "no-store");
	answer_free(&a);
	struct sl_http_handlers h = handlers;
	h.cert_sha256 = NULL;
	a = ask_with(&h, "GET /certificate.sha256 HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 404);
	assert_content_length(&a);
	answer_free(&a);
}

static void test_health_and_unknown(void **state)
{
	(void)state;
	struct answer a = get("/health");
	assert_int_equal(a.status, 200);
	assert_string_equal(a.body, "ok\n");
	assert_content_length(&a);
	answer_free(&a);
	/* Absolute-form targets are accepted. */
	a = get("http://relay.example:4443/health");
	assert_int_equal(a.status, 200);
	answer_free(&a);
	const char *unknown[] = {
		"/",	  "/healthz", "/health/", "/%68ealth",	 "/metrics/x",		"/fetch",
		"/annou", "//health", "/Health",  "/announcedx", "/certificate.sha256/"};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		a = get(unknown[i]);
		if (a.status != 404)
			fail_msg("%s: %d", unknown[i], a.status);
		assert_content_length(&a);
		answer_free(&a);
	}
	/* A target that is no path. */
	a = ask("GET * HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 400);
	answer_free(&a);
	a = ask("GET health HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 400);
	answer_free(&a);
}

static void test_methods(void **state)
{
	(void)state;
	struct answer a = ask("POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(a.status, 405);
	assert_string_equal(header(&a, "Allow"), "GET, HEAD, OPTIONS");
	assert_content_length(&a);
	answer_free(&a);
	a = ask("DELETE /fetch/a/b HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 405);
	answer_free(&a);
	a = ask("get /health HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 405);
	answer_free(&a);
	a = ask("POST /nothing HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 404);
	answer_free(&a);
	/* HEAD: the GET's headers, Content-Length included, and no body. */
	a = ask("HEAD /health HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 200);
	assert_string_equal(header(&a, "Content-Length"), "3");
	assert_int_equal(a.blen, 0);
	answer_free(&a);
	a = ask("HEAD /fetch/demo/room/video?group=5 HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 200);
	assert_string_equal(header(&a, "Content-Length"), "11");
	assert_int_equal(a.blen, 0);
	answer_free(&a);
}

static void test_cors_preflight(void **state)
{
	(void)state;
	struct answer a = ask("OPTIONS /certificate.sha256 HTTP/1.1\r\nHost: a\r\n"
			      "Origin: https://page.example\r\n"
			      "Access-Control-Request-Method: GET\r\n"
			      "Access-Control-Request-Headers: content-type, x-moq\r\n\r\n");
	assert_int_equal(a.status, 204);
	assert_string_equal(header(&a, "Access-Control-Allow-Methods"), "GET");
	assert_string_equal(header(&a, "Access-Control-Allow-Headers"), "content-type, x-moq");
	assert_string_equal(header(&a, "Content-Length"), "");
	assert_string_equal(header(&a, "Content-Type"), "");
	assert_int_equal(a.blen, 0);
	answer_free(&a);
	/* Nothing asked, nothing echoed; a value that is not a list of names is not echoed. */
	a = ask("OPTIONS /health HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 204);
	assert_string_equal(header(&a, "Access-Control-Allow-Headers"), "");
	answer_free(&a);
	a = ask("OPTIONS /health HTTP/1.1\r\nHost: a\r\n"
		"Access-Control-Request-Headers: a: b\r\n\r\n");
	assert_int_equal(a.status, 204);
	assert_string_equal(header(&a, "Access-Control-Allow-Headers"), "");
	answer_free(&a);
	a = ask("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 204);
	answer_free(&a);
	/* An ordinary answer to a cross-origin GET carries the origin header too (checked for
	 * every answer in ask). */
	a = ask("GET /health HTTP/1.1\r\nHost: a\r\nOrigin: https://page.example\r\n\r\n");
	assert_int_equal(a.status, 200);
	answer_free(&a);
}

#define DEEP "/announced/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/0/1/2/3/4/5/6"

static void test_announced(void **state)
{
	(void)state;
	struct answer a = get("/announced/demo");
	assert_int_equal(a.status, 200);
	assert_string_equal(world.last_prefix, "demo");
	assert_string_equal(header(&a, "Content-Type"), "application/json");
	assert_string_equal(a.body, "[\"\",\"a\",\"b/c\"]\n");
	assert_content_length(&a);
	answer_free(&a);
	/* moq-relay's text body. */
	a = get("/announced/demo?format=text");
	assert_string_equal(a.body, "\na\nb/c");
	answer_free(&a);
	/* Everything, escaped for JSON, sorted. */
	a = get("/announced");
	assert_string_equal(world.last_prefix, "");
	assert_string_equal(a.body,
			    "[\"caf\xc3\xa9/x\",\"demo\",\"demo/a\",\"demo/b/c\",\"demox/z\","
			    "\"other\",\"q\\\"uote\",\"room/a\",\"room/b\",\"room/cam/x\"]\n");
	answer_free(&a);
	a = get("/announced/");
	assert_int_equal(a.status, 200);
	assert_string_equal(world.last_prefix, "");
	answer_free(&a);
	/* Percent-decoding: of letters, of a '/' (a separator, as in moq-relay), '+' as itself. */
	a = get("/announced/d%65mo");
	assert_string_equal(a.body, "[\"\",\"a\",\"b/c\"]\n");
	answer_free(&a);
	a = get("/announced/demo%2Fb");
	assert_string_equal(world.last_prefix, "demo/b");
	assert_string_equal(a.body, "[\"c\"]\n");
	answer_free(&a);
	a = get("/announced//demo///");
	assert_string_equal(world.last_prefix, "demo");
	answer_free(&a);
	a = get("/announced/a+b");
	assert_int_equal(a.status, 200);
	assert_string_equal(world.last_prefix, "a+b");
	assert_string_equal(a.body, "[]\n");
	answer_free(&a);
	a = get("/announced/caf%C3%A9");
	assert_string_equal(a.body, "[\"x\"]\n");
	answer_free(&a);
	/* Bad escapes, a NUL, bytes that are not UTF-8, a path too deep, a bad format. */
	const char *bad[] = {"/announced/%zz",
			     "/announced/%4",
			     "/announced/%",
			     "/announced/%00",
			     "/announced/%ff",
			     "/announced/%C3%28",
			     "/announced/%ED%A0%80",
			     DEEP,
			     "/announced/x?format=xml",
			     "/announced/x?jwt=%zz",
			     "/announced/x?format=text&jwt=%zz"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = get(bad[i]);
		if (a.status != 400)
			fail_msg("%s: %d", bad[i], a.status);
		assert_content_length(&a);
		answer_free(&a);
	}
	/* A handler that fails. */
	world.fail = SL_EIO;
	a = get("/announced");
	assert_int_equal(a.status, 500);
	answer_free(&a);
	world.fail = 0;
}

static void test_fetch(void **state)
{
	(void)state;
	struct answer a = get("/fetch/demo/room/video?group=5");
	assert_int_equal(a.status, 200);
	assert_string_equal(world.last_broadcast, "demo/room");
	assert_string_equal(world.last_track, "video");
	assert_int_equal(world.last_group, 5);
	assert_string_equal(a.body, "hello world");
	assert_content_length(&a);
	assert_string_equal(header(&a, "Content-Type"), "application/octet-stream");
	assert_string_equal(header(&a, "Moq-Group"), "5");
	assert_string_equal(header(&a, "Access-Control-Expose-Headers"), "Moq-Group");
	answer_free(&a);
	/* The newest group, by default or by name. */
	a = get("/fetch/demo/room/video");
	assert_int_equal(world.last_group, SL_HTTP_GROUP_LATEST);
	assert_string_equal(a.body, "l");
	assert_string_equal(header(&a, "Moq-Group"), "7");
	answer_free(&a);
	/* A fragment ends the query; a '?' inside one starts none. */
	a = get("/fetch/demo/room/video?group=5#group=6");
	assert_string_equal(header(&a, "Moq-Group"), "5");
	answer_free(&a);
	a = get("/fetch/demo/room/video#x?group=5");
	assert_string_equal(header(&a, "Moq-Group"), "7");
	answer_free(&a);
	a = get("/fetch/demo/room/video?group=latest&x=1");
	assert_string_equal(header(&a, "Moq-Group"), "7");
	answer_free(&a);
	/* Percent-decoded, '/' escaped or not. */
	a = get("/fetch/demo%2Froom/vid%65o?group=%35");
	assert_int_equal(a.status, 200);
	assert_string_equal(a.body, "hello world");
	answer_free(&a);
	/* Not cached. */
	a = get("/fetch/demo/room/video?group=6");
	assert_int_equal(a.status, 404);
	answer_free(&a);
	a = get("/fetch/demo/room/audio");
	assert_int_equal(a.status, 404);
	answer_free(&a);
	a = get("/fetch/demo/room/video?group=18446744073709551614");
	assert_int_equal(a.status, 404);
	assert_int_equal(world.last_group, UINT64_C(18446744073709551614));
	answer_free(&a);
	/* Bad requests: no broadcast, bad group numbers, bad escapes. */
	const char *bad[] = {"/fetch/",
			     "/fetch/video",
			     "/fetch//video/",
			     "/fetch/a/b?group=",
			     "/fetch/a/b?group=-1",
			     "/fetch/a/b?group=+1",
			     "/fetch/a/b?group=1x",
			     "/fetch/a/b?group=%201",
			     "/fetch/a/b?group=18446744073709551615",
			     "/fetch/a/b?group=99999999999999999999",
			     "/fetch/a/%G0",
			     "/fetch/a/b%00c"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = get(bad[i]);
		if (a.status != 400)
			fail_msg("%s: %d", bad[i], a.status);
		answer_free(&a);
	}
	/* Handler failures. */
	world.fail = SL_EIO;
	a = get("/fetch/demo/room/video");
	assert_int_equal(a.status, 500);
	answer_free(&a);
	world.fail = 0;
}

static void test_metrics(void **state)
{
	(void)state;
	struct answer a = get("/metrics");
	assert_int_equal(a.status, 200);
	assert_string_equal(a.body, METRICS);
	assert_string_equal(header(&a, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
	assert_content_length(&a);
	answer_free(&a);
	world.fail = SL_EIO;
	a = get("/metrics");
	assert_int_equal(a.status, 503);
	answer_free(&a);
	world.fail = 0;
	struct sl_http_handlers h = {0};
	a = ask_with(&h, "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 404);
	answer_free(&a);
	a = ask_with(&h, "GET /announced HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 404);
	answer_free(&a);
	a = ask_with(&h, "GET /fetch/a/b HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 404);
	answer_free(&a);
}

static void test_not_ready_and_upgrade(void **state)
{
	(void)state;
	world.not_ready = true;
	const char *targets[] = {"/metrics", "/announced/x", "/fetch/a/b"};
	for (size_t i = 0; i < 3; i++) {
		struct answer a = get(targets[i]);
		assert_int_equal(a.rc, SL_EAGAIN);
		answer_free(&a);
	}
	world.not_ready = false;
	/* The listener's answer after its deadline. */
	struct sl_http_response r;
	assert_int_equal(sl_http_error(504, &r), 0);
	assert_int_equal(r.status, 504);
	assert_non_null(memmem(r.data, r.len, "HTTP/1.1 504 Gateway Timeout\r\n", 30));
	assert_non_null(memmem(r.data, r.len, "Access-Control-Allow-Origin: *\r\n", 32));
	sl_http_response_free(&r);
	assert_int_equal(sl_http_error(431, &r), 0);
	sl_http_response_free(&r);
	assert_int_equal(sl_http_error(200, &r), SL_EINVAL);
	assert_int_equal(sl_http_error(418, &r), SL_EINVAL);

	/* A WebSocket upgrade is the listener's, whatever the path. */
	struct sl_http_request req;
	size_t hl;
	const char *up = "GET /demo?jwt=x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
			 "Upgrade: WebSocket\r\nSec-WebSocket-Version: 13\r\n\r\n";
	assert_int_equal(parse(up, &req, &hl), 0);
	assert_int_equal(sl_http_route(&req), SL_HTTP_ROUTE_UPGRADE);
	assert_int_equal(sl_http_respond(&handlers, &req, NOW, &r), SL_ENOTSUP);
	up = "GET /health HTTP/1.1\r\nHost: a\r\nUpgrade: h2c, websocket\r\n\r\n";
	assert_int_equal(parse(up, &req, &hl), 0);
	assert_int_equal(sl_http_route(&req), SL_HTTP_ROUTE_UPGRADE);
	up = "GET /health HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n";
	assert_int_equal(parse(up, &req, &hl), 0);
	assert_int_equal(sl_http_route(&req), SL_HTTP_ROUTE_HEALTH);
	up = "GET /fetch/a/b HTTP/1.1\r\nHost: a\r\n\r\n";
	assert_int_equal(parse(up, &req, &hl), 0);
	assert_int_equal(sl_http_route(&req), SL_HTTP_ROUTE_FETCH);
}

static void test_unescape(void **state)
{
	(void)state;
	char out[64];
	size_t n;
	assert_int_equal(sl_http_unescape("a+b%20c%2b", 10, false, out, &n), 0);
	assert_string_equal(out, "a+b c+");
	assert_int_equal(sl_http_unescape("a+b%20c%2B", 10, true, out, &n), 0);
	assert_string_equal(out, "a b c+");
	assert_int_equal(n, 6);
	assert_int_equal(sl_http_unescape("%e2%82%ac", 9, false, out, &n), 0);
	assert_string_equal(out, "\xe2\x82\xac");
	assert_int_equal(sl_http_unescape("%f4%90%80%80", 12, false, out, &n), SL_EINVAL);
	assert_int_equal(sl_http_unescape("%c0%af", 6, false, out, &n), SL_EINVAL);
	assert_int_equal(sl_http_unescape("%e2%82", 6, false, out, &n), SL_EINVAL);
	assert_int_equal(sl_http_unescape("ab%", 3, false, out, &n), SL_EINVAL);
	assert_int_equal(sl_http_unescape("ab%2", 4, false, out, &n), SL_EINVAL);
}

/* ---- authorisation ---- */

static const char *token(const char *payload)
{
	static char tok[2048];
	const char *header = "{\"alg\":\"HS256\"}";
	size_t n = sl_jwt_b64url_encode((const uint8_t *)header, strlen(header), tok);
	tok[n++] = '.';
	n += sl_jwt_b64url_encode((const uint8_t *)payload, strlen(payload), tok + n);
	uint8_t mac[32];
	assert_int_equal(gnutls_hmac_fast(GNUTLS_MAC_SHA256, SECRET, strlen(SECRET), tok, n, mac),
			 0);
	tok[n++] = '.';
	sl_jwt_b64url_encode(mac, sizeof(mac), tok + n);
	return tok;
}

static void test_authorised(void **state)
{
	(void)state;
	struct sl_jwt_keys *ks;
	char err[256] = "", k[64], jwk[256];
	sl_jwt_b64url_encode((const uint8_t *)SECRET, strlen(SECRET), k);
	snprintf(jwk, sizeof(jwk), "{\"alg\":\"HS256\",\"k\":\"%s\"}", k);
	assert_int_equal(sl_jwt_keys_new(&ks), 0);
	assert_int_equal(sl_jwt_keys_add(ks, jwk, strlen(jwk), "k", NULL, err, sizeof(err)), 0);
	static const char *const pub[] = {"demo"};
	struct sl_jwt_auth_config cfg = {
		.keys = ks, .public_subscribe = pub, .npublic_subscribe = 1};
	struct sl_jwt_auth *auth;
	assert_int_equal(sl_jwt_auth_new(&cfg, &auth, err, sizeof(err)), 0);
	struct sl_http_handlers h = handlers;
	h.auth = auth;
	char raw[4096];

	/* Anonymous: the public prefix only. */
	struct answer a = ask_with(&h, "GET /announced/demo HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 200);
	assert_string_equal(a.body, "[\"\",\"a\",\"b/c\"]\n");
	answer_free(&a);
	a = ask_with(&h, "GET /announced/room HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 401);
	assert_int_equal(a.reason, SL_JWT_TOKEN_REQUIRED);
	assert_string_equal(a.body, "unauthorized: token_required\n");
	assert_string_equal(header(&a, "WWW-Authenticate"), "Bearer realm=\"shardline\"");
	answer_free(&a);
	/* Everything from the root: only what is public is listed. */
	a = ask_with(&h, "GET /announced HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 200);
	assert_string_equal(a.body, "[\"demo\",\"demo/a\",\"demo/b/c\"]\n");
	answer_free(&a);

	/* A token for room that may see room/a and room/cam only. */
	snprintf(raw, sizeof(raw), "GET /announced/room?jwt=%s HTTP/1.1\r\nHost: a\r\n\r\n",
		 token("{\"root\":\"room\",\"get\":[\"a\",\"cam\"]}"));
	a = ask_with(&h, raw);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.body, "[\"a\",\"cam/x\"]\n");
	answer_free(&a);
	/* Fetch: the broadcast is the connection path; a token granting its broadcast. */
	snprintf(raw, sizeof(raw), "GET /fetch/room/cam/video?jwt=%s HTTP/1.1\r\nHost: a\r\n\r\n",
		 token("{\"root\":\"room\",\"get\":\"cam\"}"));
	a = ask_with(&h, raw);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.body, "l");
	answer_free(&a);
	/* One granting a broadcast below it only. */
	snprintf(raw, sizeof(raw), "GET /fetch/room/cam/video?jwt=%s HTTP/1.1\r\nHost: a\r\n\r\n",
		 token("{\"root\":\"room\",\"get\":\"cam/hd\"}"));
	a = ask_with(&h, raw);
	assert_int_equal(a.status, 401);
	assert_int_equal(a.reason, SL_JWT_NO_ACCESS);
	answer_free(&a);
	/* One for another room, one expired, one publish-only, one not a token. */
	snprintf(raw, sizeof(raw), "GET /fetch/room/cam/video?jwt=%s HTTP/1.1\r\nHost: a\r\n\r\n",
		 token("{\"root\":\"hall\",\"get\":\"\"}"));
	a = ask_with(&h, raw);
	assert_int_equal(a.status, 401);
	assert_int_equal(a.reason, SL_JWT_ROOT_MISMATCH);
	answer_free(&a);
	snprintf(raw, sizeof(raw), "GET /announced/room?jwt=%s HTTP/1.1\r\nHost: a\r\n\r\n",
		 token("{\"root\":\"room\",\"get\":\"\",\"exp\":1700000000}"));
	a = ask_with(&h, raw);
	assert_int_equal(a.status, 401);
	assert_int_equal(a.reason, SL_JWT_EXPIRED);
	assert_string_equal(a.body, "unauthorized: expired\n");
	answer_free(&a);
	snprintf(raw, sizeof(raw), "GET /announced/room?jwt=%s HTTP/1.1\r\nHost: a\r\n\r\n",
		 token("{\"root\":\"room\",\"put\":\"\"}"));
	a = ask_with(&h, raw);
	assert_int_equal(a.status, 401);
	assert_int_equal(a.reason, SL_JWT_NO_ACCESS);
	answer_free(&a);
	a = ask_with(&h, "GET /announced/room?jwt=a.b.c HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 401);
	assert_int_equal(a.reason, SL_JWT_MALFORMED);
	answer_free(&a);
	/* An empty jwt is no jwt. */
	a = ask_with(&h, "GET /announced/demo?jwt= HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 200);
	answer_free(&a);
	/* The open routes stay open. */
	a = ask_with(&h, "GET /health HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(a.status, 200);
	answer_free(&a);

	/* WebSocket upgrades: a publish-only token is enough (a publisher), the grant is the
	 * connection's; refusals and bad paths are answered. */
	struct sl_http_request req;
	size_t hl;
	struct sl_http_response r;
	struct sl_jwt_grant *g;
	snprintf(raw, sizeof(raw),
		 "GET /room?jwt=%s HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
		 token("{\"root\":\"room\",\"put\":\"cam\"}"));
	assert_int_equal(parse(raw, &req, &hl), 0);
	assert_int_equal(sl_http_upgrade_authorize(&h, &req, 1800000000, &g, &r), 0);
	assert_non_null(g);
	assert_true(sl_jwt_may_publish(g, "cam"));
	assert_false(sl_jwt_may_subscribe(g, "cam"));
	sl_jwt_grant_free(g);
	const char *up = "GET /room HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
	assert_int_equal(parse(up, &req, &hl), 0);
	assert_int_equal(sl_http_upgrade_authorize(&h, &req, 1800000000, &g, &r), 1);
	assert_null(g);
	assert_int_equal(r.status, 401);
	assert_int_equal(r.auth_reason, SL_JWT_TOKEN_REQUIRED);
	sl_http_response_free(&r);
	up = "GET /demo/x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
	assert_int_equal(parse(up, &req, &hl), 0);
	assert_int_equal(sl_http_upgrade_authorize(&h, &req, 1800000000, &g, &r), 0);
	assert_true(sl_jwt_may_subscribe(g, ""));
	assert_false(sl_jwt_may_publish(g, ""));
	sl_jwt_grant_free(g);
	up = "GET /a%zz HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
	assert_int_equal(parse(up, &req, &hl), 0);
	assert_int_equal(sl_http_upgrade_authorize(&h, &req, 1800000000, &g, &r), 1);
	assert_int_equal(r.status, 400);
	sl_http_response_free(&r);
	/* The connection path that roots the session. */
	char *path;
	up = "GET /a//b/?jwt=x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
	assert_int_equal(parse(up, &req, &hl), 0);
	assert_int_equal(sl_http_upgrade_path(&req, &path), 0);
	assert_string_equal(path, "a/b");
	free(path);
	up = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
	assert_int_equal(parse(up, &req, &hl), 0);
	assert_int_equal(sl_http_upgrade_path(&req, &path), 0);
	assert_string_equal(path, "");
	free(path);
	up = "GET /a%zz HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
	assert_int_equal(parse(up, &req, &hl), 0);
	assert_int_equal(sl_http_upgrade_path(&req, &path), SL_EINVAL);
	/* Without an authoriser everything is allowed and there is no grant. */
	assert_int_equal(sl_http_upgrade_authorize(&handlers, &req, 0, &g, &r), 0);
	assert_null(g);
	sl_jwt_auth_free(auth);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_certificate),
		cmocka_unit_test(test_health_and_unknown),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_cors_preflight),
		cmocka_unit_test(test_announced),
		cmocka_unit_test(test_fetch),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_not_ready_and_upgrade),
		cmocka_unit_test(test_unescape),
		cmocka_unit_test(test_authorised),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
