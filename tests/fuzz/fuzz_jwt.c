/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for tokens: the parser and verifier on raw tokens, the key (JWK) parser, and,
 * so that fuzzed claims get past the signature, header and payload JSON that the target signs
 * itself before verifying and authorising. Whatever the bytes, nothing crashes, leaks or reads
 * out of bounds, and what verifies is well formed: normalised paths, at least one grant.
 *
 * The first byte picks the mode; the rest is split at the first 0xff byte where two inputs
 * are needed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "control/jwt.h"
#include "core/err.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char SECRET[] = "fuzz-secret-of-thirty-two-bytes!";
/* An HS256 key (kid "hs", the secret above) and a P-256 public key (kid "ec") made for this
 * target; nobody holds the EC private key, so ES256 tokens exercise only the refusals. */
static const char KEYS[] = "{\"keys\":[{\"kty\":\"oct\",\"alg\":\"HS256\",\"kid\":\"hs\","
			   "\"k\":\"ZnV6ei1zZWNyZXQtb2YtdGhpcnR5LXR3by1ieXRlcyE\"},"
			   "{\"kty\":\"EC\",\"alg\":\"ES256\",\"crv\":\"P-256\",\"kid\":\"ec\","
			   "\"x\":\"AS7j9SMmC2I3CNyegclqjaVy6Tm27WJb9mOxeRrEz1c\","
			   "\"y\":\"LaGMFPb_q265peDjge3XSAObl7_PzP-XGObEQ5UXcSE\"}]}";

static struct sl_jwt_auth *auth;

static void init(void)
{
	if (auth)
		return;
	struct sl_jwt_keys *ks;
	char err[256];
	CHECK(sl_jwt_keys_new(&ks) == 0);
	CHECK(sl_jwt_keys_add(ks, KEYS, strlen(KEYS), "fuzz", NULL, err, sizeof(err)) == 0);
	static const char *const pub[] = {"open"};
	struct sl_jwt_auth_config cfg = {.keys = ks,
					 .public_publish = pub,
					 .npublic_publish = 1,
					 .public_subscribe = pub,
					 .npublic_subscribe = 1,
					 .leeway_s = 60};
	CHECK(sl_jwt_auth_new(&cfg, &auth, err, sizeof(err)) == 0);
}

static void check_path(const char *p)
{
	size_t n = strlen(p);
	CHECK(n == 0 || (p[0] != '/' && p[n - 1] != '/'));
	CHECK(strstr(p, "//") == NULL);
}

/* Authorises a connection at path with token and checks the grant's invariants. */
static void authorise(const char *path, const char *token, size_t len)
{
	struct sl_jwt_grant *g = NULL;
	enum sl_jwt_reason r;
	char err[256];
	int rc = sl_jwt_authorize(auth, path, token, len, 1800000000, &g, &r, err, sizeof(err));
	CHECK(rc == 0 || rc == SL_EINVAL || rc == SL_ENOMEM);
	if (rc != 0) {
		CHECK(rc != SL_EINVAL || (r != SL_JWT_OK && r < SL_JWT_REASONS));
		return;
	}
	check_path(sl_jwt_grant_root(g));
	CHECK(sl_jwt_grant_can_publish(g) || sl_jwt_grant_can_subscribe(g));
	for (int role = 0; role < 2; role++) {
		const char *const *v;
		size_t n = sl_jwt_grant_prefixes(g, role, &v);
		for (size_t i = 0; i < n; i++) {
			check_path(v[i]);
			/* A grant's own prefix is always allowed. */
			CHECK(role ? sl_jwt_may_publish(g, v[i]) : sl_jwt_may_subscribe(g, v[i]));
		}
	}
	(void)sl_jwt_may_announce(g, path);
	(void)sl_jwt_grant_deadline_ns(g, 1800000000, 5);
	sl_jwt_grant_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init();
	if (size < 1 || size > 3 * SL_JWT_MAX_LEN)
		return 0;
	uint8_t mode = data[0] % 4;
	const char *in = (const char *)data + 1;
	size_t n = size - 1;
	const char *cut = memchr(in, 0xff, n);
	size_t n1 = cut ? (size_t)(cut - in) : n;
	const char *in2 = cut ? cut + 1 : in + n;
	size_t n2 = cut ? n - n1 - 1 : 0;

	if (mode == 0) {
		/* A raw token. */
		authorise("", in, n);
	} else if (mode == 1) {
		/* A key or key set. */
		struct sl_jwt_keys *ks;
		char err[256];
		CHECK(sl_jwt_keys_new(&ks) == 0);
		int rc = sl_jwt_keys_add(ks, in, n, "fuzz", NULL, err, sizeof(err));
		CHECK(rc == 0 || rc == SL_EINVAL || rc == SL_ENOTSUP || rc == SL_EDUP ||
		      rc == SL_ERANGE || rc == SL_ENOMEM);
		CHECK(rc != 0 || sl_jwt_keys_count(ks) > 0);
		sl_jwt_keys_free(ks);
	} else {
		/* Header and payload JSON, signed here with the HS256 key; mode 3 connects at a
		 * path taken from the payload's first bytes to exercise the rebasing. */
		if (n1 > SL_JWT_MAX_LEN / 2 || n2 > SL_JWT_MAX_LEN / 2)
			return 0;
		char *tok = malloc(SL_JWT_MAX_LEN * 2 + 64);
		size_t t = sl_jwt_b64url_encode((const uint8_t *)in, n1, tok);
		tok[t++] = '.';
		t += sl_jwt_b64url_encode((const uint8_t *)in2, n2, tok + t);
		uint8_t mac[32];
		CHECK(gnutls_hmac_fast(GNUTLS_MAC_SHA256, SECRET, strlen(SECRET), tok, t, mac) ==
		      0);
		tok[t++] = '.';
		t += sl_jwt_b64url_encode(mac, sizeof(mac), tok + t);
		char path[64] = "";
		if (mode == 3) {
			size_t pn = n2 < sizeof(path) - 1 ? n2 : sizeof(path) - 1;
			memcpy(path, in2, pn);
			path[pn] = '\0';
		}
		authorise(path, tok, t);
		free(tok);
	}
	return 0;
}
