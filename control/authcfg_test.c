/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "control/authcfg.h"
#include "core/err.h"

static char tmpdir[] = "/tmp/sl_authcfg_test.XXXXXX";
static char keyfile[64], badfile[64];
static const char SECRET[] = "0123456789abcdef0123456789abcdef";

static void b64(const void *p, size_t n, char *out)
{
	sl_jwt_b64url_encode(p, n, out);
}

/* An HS256 token over payload, signed with SECRET (static buffer). */
static const char *token(const char *payload)
{
	static char tok[4096];
	const char *header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	size_t n = sl_jwt_b64url_encode((const uint8_t *)header, strlen(header), tok);
	tok[n++] = '.';
	n += sl_jwt_b64url_encode((const uint8_t *)payload, strlen(payload), tok + n);
	uint8_t mac[32];
	assert_int_equal(gnutls_hmac_fast(GNUTLS_MAC_SHA256, SECRET, strlen(SECRET), tok, n, mac),
			 0);
	tok[n++] = '.';
	b64(mac, sizeof(mac), tok + n);
	return tok;
}

static int setup(void **state)
{
	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(keyfile, sizeof(keyfile), "%s/hs.jwk", tmpdir);
	snprintf(badfile, sizeof(badfile), "%s/bad.jwk", tmpdir);
	char k[64];
	b64(SECRET, strlen(SECRET), k);
	FILE *f = fopen(keyfile, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "{\"kty\":\"oct\",\"alg\":\"HS256\",\"k\":\"%s\"}\n", k);
	fclose(f);
	f = fopen(badfile, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "{\"kty\":\"oct\",\"alg\":\"HS512\",\"k\":\"%s\"}\n", k);
	fclose(f);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(keyfile);
	unlink(badfile);
	rmdir(tmpdir);
	return 0;
}

static void cfg_set(struct sl_config *c, const char *name, const char *value)
{
	char err[256];
	if (sl_config_set(c, name, value, false, err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

static void off_by_default(void **state)
{
	(void)state;
	struct sl_config c;
	sl_config_default(&c);
	struct sl_authcfg *a = (struct sl_authcfg *)1;
	char err[256];
	assert_int_equal(sl_authcfg_open(&c, &a, err, sizeof(err)), 0);
	assert_null(a);
}

static void bad_keys_are_start_up_errors(void **state)
{
	(void)state;
	struct sl_config c;
	struct sl_authcfg *a;
	char err[512] = "";
	sl_config_default(&c);
	cfg_set(&c, "auth_key", badfile);
	assert_int_not_equal(sl_authcfg_open(&c, &a, err, sizeof(err)), 0);
	assert_null(a);
	assert_non_null(strstr(err, "auth_key"));
	assert_non_null(strstr(err, "bad.jwk"));

	sl_config_default(&c);
	cfg_set(&c, "auth_key", "/nonexistent/key.jwk");
	assert_int_equal(sl_authcfg_open(&c, &a, err, sizeof(err)), SL_EIO);
	assert_non_null(strstr(err, "/nonexistent/key.jwk"));

	sl_config_default(&c);
	cfg_set(&c, "auth_key", keyfile);
	cfg_set(&c, "auth_key_dir", tmpdir);
	assert_int_equal(sl_authcfg_open(&c, &a, err, sizeof(err)), SL_EINVAL);
	assert_non_null(strstr(err, "not both"));
}

/* A key without public prefixes: raw QUIC (no token) is refused, tokens decide the rest. */
static void key_without_public_refuses_anonymous(void **state)
{
	(void)state;
	struct sl_config c;
	struct sl_authcfg *a;
	char err[256];
	sl_config_default(&c);
	cfg_set(&c, "auth_key", keyfile);
	assert_int_equal(sl_authcfg_open(&c, &a, err, sizeof(err)), 0);
	assert_non_null(a);
	assert_null(a->quic_grant);
	assert_null(a->worker.quic_grant);

	/* A token for root "demo" granting put "cam" and get "": at /demo, the session names
	 * full paths under demo. */
	char payload[256];
	snprintf(payload, sizeof(payload),
		 "{\"root\":\"demo\",\"put\":[\"cam\"],\"get\":[\"\"],\"exp\":%lld}",
		 (long long)time(NULL) + 100);
	const char *tok = token(payload);
	struct sl_jwt_grant *g;
	enum sl_jwt_reason why;
	assert_int_equal(
		sl_jwt_authorize(a->auth, "demo", tok, strlen(tok), time(NULL), &g, &why, NULL, 0),
		0);
	assert_true(sl_authcfg_allow(g, SL_MOQ_AUTH_PUBLISH, "demo/cam"));
	assert_true(sl_authcfg_allow(g, SL_MOQ_AUTH_PUBLISH, "demo/cam/hd"));
	assert_false(sl_authcfg_allow(g, SL_MOQ_AUTH_PUBLISH, "demo/other"));
	assert_false(sl_authcfg_allow(g, SL_MOQ_AUTH_PUBLISH, "cam"));
	assert_true(sl_authcfg_allow(g, SL_MOQ_AUTH_SUBSCRIBE, "demo/other"));
	assert_false(sl_authcfg_allow(g, SL_MOQ_AUTH_SUBSCRIBE, "other"));
	assert_false(sl_authcfg_allow(g, SL_MOQ_AUTH_SUBSCRIBE, "demox"));
	/* The whole tree may be asked for announcements (each is then checked), but not a
	 * prefix beside the root. */
	assert_true(sl_authcfg_allow(g, SL_MOQ_AUTH_ANNOUNCE, ""));
	assert_true(sl_authcfg_allow(g, SL_MOQ_AUTH_ANNOUNCE, "demo"));
	assert_false(sl_authcfg_allow(g, SL_MOQ_AUTH_ANNOUNCE, "other"));
	/* The session ends at exp: about 100 s from now on the worker's clock. */
	uint64_t now = UINT64_C(5000000000);
	uint64_t dl = a->worker.deadline_ns(g, now);
	assert_true(dl > now + UINT64_C(98000000000) && dl <= now + UINT64_C(101000000000));
	a->worker.free(g);
	sl_authcfg_free(a);
}

static void public_prefixes_make_the_quic_grant(void **state)
{
	(void)state;
	struct sl_config c;
	struct sl_authcfg *a;
	char err[256];
	sl_config_default(&c);
	cfg_set(&c, "auth_public", "anon");
	cfg_set(&c, "auth_public_subscribe", "live");
	assert_int_equal(sl_authcfg_open(&c, &a, err, sizeof(err)), 0);
	assert_non_null(a);
	assert_non_null(a->quic_grant);
	const void *g = a->worker.quic_grant;
	assert_true(a->worker.allow(g, SL_MOQ_AUTH_PUBLISH, "anon/x"));
	assert_true(a->worker.allow(g, SL_MOQ_AUTH_SUBSCRIBE, "anon/x"));
	assert_false(a->worker.allow(g, SL_MOQ_AUTH_PUBLISH, "live/x"));
	assert_true(a->worker.allow(g, SL_MOQ_AUTH_SUBSCRIBE, "live/x"));
	assert_false(a->worker.allow(g, SL_MOQ_AUTH_SUBSCRIBE, "secret"));
	assert_int_equal(a->worker.deadline_ns(g, 7), UINT64_MAX);
	/* A token is refused without keys. */
	const char *tok = token("{\"put\":[\"\"]}");
	struct sl_jwt_grant *tg;
	enum sl_jwt_reason why;
	assert_int_equal(
		sl_jwt_authorize(a->auth, "", tok, strlen(tok), time(NULL), &tg, &why, NULL, 0),
		SL_EINVAL);
	assert_int_equal(why, SL_JWT_TOKENS_DISABLED);
	sl_authcfg_free(a);

	/* "/" is every path. */
	sl_config_default(&c);
	cfg_set(&c, "auth_public", "/");
	assert_int_equal(sl_authcfg_open(&c, &a, err, sizeof(err)), 0);
	assert_true(a->worker.allow(a->worker.quic_grant, SL_MOQ_AUTH_PUBLISH, "any/thing"));
	sl_authcfg_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(off_by_default),
		cmocka_unit_test(bad_keys_are_start_up_errors),
		cmocka_unit_test(key_without_public_refuses_anonymous),
		cmocka_unit_test(public_prefixes_make_the_quic_grant),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
