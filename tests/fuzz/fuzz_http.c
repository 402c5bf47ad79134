/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the TCP listener's HTTP routes: raw bytes through the request-head parser
 * and, when they parse, through routing, percent-decoding, authorisation and the response
 * builder (with handlers that answer like a small relay). Whatever the bytes, the answer is a
 * well-formed HTTP/1.1 response with the CORS header and a Content-Length that matches its
 * body, and nothing crashes, leaks or reads out of bounds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/http.h"
#include "control/jwt.h"
#include "core/err.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int announced(void *arg, const char *prefix, sl_http_path_fn emit, void *ctx)
{
	(void)arg;
	char own[1100];
	snprintf(own, sizeof(own), "%s/x", prefix);
	const char *paths[] = {"demo/a", "open/b", "room/c/d", own, prefix, "q\"\\\x01"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int rc = emit(ctx, paths[i], strlen(paths[i]));
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int fetch(void *arg, const char *broadcast, const char *track, uint64_t group,
		 uint64_t *sequence, sl_http_frame_fn emit, void *ctx)
{
	(void)arg;
	if (group == 13)
		return SL_EAGAIN;
	if (group == 14)
		return SL_EIO;
	if (strlen(track) % 3 == 0)
		return SL_ENOTFOUND;
	*sequence = group == SL_HTTP_GROUP_LATEST ? 99 : group;
	int rc = emit(ctx, (const uint8_t *)broadcast, strlen(broadcast));
	if (rc == 0)
		rc = emit(ctx, (const uint8_t *)track, strlen(track));
	return rc;
}

static int metrics(void *arg, const char **text, size_t *len)
{
	(void)arg;
	*text = "# TYPE x counter\nx 1\n";
	*len = strlen(*text);
	return 0;
}

static struct sl_jwt_auth *auth;

static void init(void)
{
	if (auth)
		return;
	static const char jwk[] =
		"{\"alg\":\"HS256\",\"k\":\"ZnV6ei1zZWNyZXQtb2YtdGhpcnR5LXR3by1ieXRlcyE\"}";
	struct sl_jwt_keys *ks;
	char err[256];
	CHECK(sl_jwt_keys_new(&ks) == 0);
	CHECK(sl_jwt_keys_add(ks, jwk, strlen(jwk), "fuzz", NULL, err, sizeof(err)) == 0);
	static const char *const pub[] = {"open"};
	struct sl_jwt_auth_config cfg = {
		.keys = ks, .public_subscribe = pub, .npublic_subscribe = 1};
	CHECK(sl_jwt_auth_new(&cfg, &auth, err, sizeof(err)) == 0);
}

/* The response is HTTP/1.1, has the headers every answer has, and its body is as long as its
 * Content-Length says (HEAD and 204 aside). */
static void check_response(const struct sl_http_response *r, bool head)
{
	CHECK(r->data != NULL && r->len > 12);
	CHECK(memcmp(r->data, "HTTP/1.1 ", 9) == 0);
	const uint8_t *end = memmem(r->data, r->len, "\r\n\r\n", 4);
	CHECK(end != NULL);
	size_t hn = (size_t)(end - r->data) + 4;
	char *hd = strndup((const char *)r->data, hn);
	CHECK(hd != NULL);
	CHECK(strstr(hd, "\r\nAccess-Control-Allow-Origin: *\r\n") != NULL);
	CHECK(strstr(hd, "\r\nConnection: close\r\n") != NULL);
	const char *cl = strstr(hd, "\r\nContent-Length: ");
	if (r->status == 204) {
		CHECK(cl == NULL && r->len == hn);
	} else {
		CHECK(cl != NULL);
		unsigned long long n = strtoull(cl + 18, NULL, 10);
		CHECK(head ? r->len == hn : r->len - hn == n);
	}
	free(hd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init();
	if (size > 2 * SL_HTTP_HEAD_MAX)
		return 0;
	/* The unescaper on its own, both ways. */
	char *un = malloc(size + 1);
	size_t un_len;
	if (sl_http_unescape((const char *)data, size, size % 2, un, &un_len) == 0)
		CHECK(un_len <= size && strlen(un) == un_len);
	free(un);

	struct sl_http_request req;
	size_t hl = 0;
	struct sl_http_response r;
	int rc = sl_http_parse(data, size, &req, &hl);
	CHECK(rc == 0 || rc == SL_EAGAIN || rc == SL_EINVAL || rc == SL_ENOSPC || rc == SL_ENOTSUP);
	if (rc != 0) {
		int status = rc == SL_EINVAL ? 400 : rc == SL_ENOSPC ? 431 : 505;
		if (rc != SL_EAGAIN) {
			CHECK(sl_http_error(status, &r) == 0);
			check_response(&r, false);
			sl_http_response_free(&r);
		}
		return 0;
	}
	CHECK(hl <= size);
	/* With and without an authoriser. */
	for (int pass = 0; pass < 2; pass++) {
		struct sl_http_handlers h = {.cert_sha256 = pass ? NULL : "00ff",
					     .announced = announced,
					     .fetch = fetch,
					     .metrics = metrics,
					     .auth = pass ? auth : NULL};
		enum sl_http_route route = sl_http_route(&req);
		rc = sl_http_respond(&h, &req, 1800000000, &r);
		CHECK(rc == 0 || rc == SL_EAGAIN || rc == SL_ENOTSUP || rc == SL_ENOMEM);
		CHECK(rc != SL_ENOTSUP || route == SL_HTTP_ROUTE_UPGRADE);
		if (rc != 0)
			continue;
		bool head = req.method.n == 4 && memcmp(req.method.p, "HEAD", 4) == 0;
		check_response(&r, head);
		CHECK(r.status != 401 || pass == 1);
		sl_http_response_free(&r);
	}
	return 0;
}
