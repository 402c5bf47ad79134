/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of token verification, key loading and per-path authorisation. Tokens are made here:
 * HS256 with GnuTLS's HMAC, ES256 with a P-256 key GnuTLS generates for the run. The
 * authorisation cases follow moq-token's Claims::authorize and moq-relay's public access; one
 * token and key are moq-token's own interoperability vector (made by @moq/token in JS).
 */
#include "core/test_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "control/jwt.h"
#include "core/err.h"

#define NOW INT64_C(1800000000)

static char tmpdir[] = "/tmp/sl_jwt_test.XXXXXX";

/* The HS256 secret of the tests (32 bytes) and its JWK. */
static const char SECRET[] = "0123456789abcdef0123456789abcdef";
static char hs_jwk[256];

/* The ES256 key of the run. */
static gnutls_privkey_t ec_priv;
static char ec_jwk[512];
static char ec_x[64], ec_y[64];

/* moq-token's interoperability vector (rs/moq-token/src/key.rs): a key and a token made by
 * the JS @moq/token package; the token has no exp. */
static const char JS_HS256_KEY[] =
	"{\"kty\":\"oct\",\"alg\":\"HS256\",\"k\":\"xm6xsSkfFqzPU3KfcbAcF2_h0OkStxQ_nNqVPYl0ync\","
	"\"kid\":\"js-test-key\",\"key_ops\":[\"sign\",\"verify\"],\"guest\":[],\"guest_sub\":[],"
	"\"guest_pub\":[]}";
static const char JS_HS256_TOKEN[] =
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImpzLXRlc3Qta2V5In0."
	"eyJyb290IjoibGl2ZSIsInB1dCI6WyJjYW1lcmExIl0sImdldCI6WyJjYW1lcmExIiwiY2FtZXJhMiJdLCJpYXQiOj"
	"E3"
	"NzUxNzY3NTR9.tHNQtHh_HCIKxXOexDCM7AkjqWzbULLZzjEckfOGRfY";

static void b64(const void *p, size_t n, char *out)
{
	sl_jwt_b64url_encode(p, n, out);
}

/* Left-pads or strips a big-endian integer to exactly 32 bytes. */
static void fixed32(const gnutls_datum_t *d, uint8_t out[32])
{
	const uint8_t *p = d->data;
	size_t n = d->size;
	while (n > 32 && *p == 0) {
		p++;
		n--;
	}
	assert_true(n <= 32);
	memset(out, 0, 32);
	memcpy(out + 32 - n, p, n);
}

/* header.payload of the two JSON texts, base64url'd, into buf. */
static size_t signing_input(const char *header, const char *payload, char *buf)
{
	size_t n = sl_jwt_b64url_encode((const uint8_t *)header, strlen(header), buf);
	buf[n++] = '.';
	n += sl_jwt_b64url_encode((const uint8_t *)payload, strlen(payload), buf + n);
	return n;
}

/* A token signed with HS256 over the given header and payload (static buffer). */
static const char *hs_token_with(const char *header, const char *payload, const char *secret)
{
	static char tok[8192];
	size_t n = signing_input(header, payload, tok);
	uint8_t mac[32];
	assert_int_equal(gnutls_hmac_fast(GNUTLS_MAC_SHA256, secret, strlen(secret), tok, n, mac),
			 0);
	tok[n++] = '.';
	b64(mac, sizeof(mac), tok + n);
	return tok;
}

static const char *hs_token(const char *payload)
{
	return hs_token_with("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, SECRET);
}

/* A token signed with the run's ES256 key (static buffer). */
static const char *es_token_with(const char *header, const char *payload)
{
	static char tok[8192];
	size_t n = signing_input(header, payload, tok);
	gnutls_datum_t data = {(unsigned char *)tok, (unsigned)n}, sig, r, s;
	assert_true(gnutls_privkey_sign_data2(ec_priv, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &sig) >=
		    0);
	assert_int_equal(gnutls_decode_rs_value(&sig, &r, &s), 0);
	uint8_t rs[64];
	fixed32(&r, rs);
	fixed32(&s, rs + 32);
	gnutls_free(sig.data);
	gnutls_free(r.data);
	gnutls_free(s.data);
	tok[n++] = '.';
	b64(rs, sizeof(rs), tok + n);
	return tok;
}

static const char *es_token(const char *payload)
{
	return es_token_with("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"ec1\"}", payload);
}

static struct sl_jwt_keys *keys_of(const char *jwk)
{
	struct sl_jwt_keys *ks;
	char err[256] = "";
	assert_int_equal(sl_jwt_keys_new(&ks), 0);
	int rc = sl_jwt_keys_add(ks, jwk, strlen(jwk), "test", NULL, err, sizeof(err));
	if (rc != 0)
		fail_msg("key refused: %s", err);
	return ks;
}

/* Verifies token with ks at NOW; returns the reason (SL_JWT_OK on success). */
static enum sl_jwt_reason verify_reason(const struct sl_jwt_keys *ks, const char *token)
{
	struct sl_jwt_claims c;
	enum sl_jwt_reason r = SL_JWT_REASONS;
	char err[256] = "";
	int rc = sl_jwt_verify(ks, token, strlen(token), NOW, 60, &c, &r, err, sizeof(err));
	if (rc == 0)
		assert_int_equal(r, SL_JWT_OK);
	else
		assert_int_equal(rc, SL_EINVAL);
	assert_true(rc == 0 || err[0] != '\0');
	sl_jwt_claims_clear(&c);
	return r;
}

static const char *write_file(const char *name, const char *text)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	return path;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("'%s' does not contain '%s'", hay, needle);
}

static int setup(void **state)
{
	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	char k[64];
	b64(SECRET, strlen(SECRET), k);
	snprintf(hs_jwk, sizeof(hs_jwk), "{\"kty\":\"oct\",\"alg\":\"HS256\",\"k\":\"%s\"}", k);

	if (gnutls_privkey_init(&ec_priv) < 0 ||
	    gnutls_privkey_generate(ec_priv, GNUTLS_PK_ECDSA,
				    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0)
		return -1;
	gnutls_ecc_curve_t curve;
	gnutls_datum_t x, y;
	if (gnutls_privkey_export_ecc_raw2(ec_priv, &curve, &x, &y, NULL,
					   GNUTLS_EXPORT_FLAG_NO_LZ) < 0)
		return -1;
	uint8_t xb[32], yb[32];
	fixed32(&x, xb);
	fixed32(&y, yb);
	gnutls_free(x.data);
	gnutls_free(y.data);
	b64(xb, 32, ec_x);
	b64(yb, 32, ec_y);
	snprintf(ec_jwk, sizeof(ec_jwk),
		 "{\"kty\":\"EC\",\"alg\":\"ES256\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\","
		 "\"kid\":\"ec1\",\"key_ops\":[\"verify\"]}",
		 ec_x, ec_y);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	gnutls_privkey_deinit(ec_priv);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- base64url ---- */

static void test_b64url(void **state)
{
	(void)state;
	uint8_t out[64];
	size_t n;
	char enc[64];
	for (size_t len = 0; len < 20; len++) {
		uint8_t in[20];
		for (size_t i = 0; i < len; i++)
			in[i] = (uint8_t)(0xf0 + i * 7);
		size_t m = sl_jwt_b64url_encode(in, len, enc);
		assert_int_equal(m, strlen(enc));
		assert_null(strchr(enc, '='));
		assert_int_equal(sl_jwt_b64url_decode(enc, m, false, out, &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(out, in, len);
	}
	assert_int_equal(sl_jwt_b64url_decode("-_-_", 4, false, out, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(out[0], 0xfb);
	/* Standard base64's alphabet, whitespace and a stray character are refused. */
	assert_int_equal(sl_jwt_b64url_decode("ab+/", 4, false, out, &n), SL_EINVAL);
	assert_int_equal(sl_jwt_b64url_decode("ab c", 4, false, out, &n), SL_EINVAL);
	assert_int_equal(sl_jwt_b64url_decode("a", 1, false, out, &n), SL_EINVAL);
	assert_int_equal(sl_jwt_b64url_decode("abcde", 5, false, out, &n), SL_EINVAL);
	/* Unused trailing bits must be zero: "QQ" is 'A'; "QR" would be 'A' too. */
	assert_int_equal(sl_jwt_b64url_decode("QQ", 2, false, out, &n), 0);
	assert_int_equal(sl_jwt_b64url_decode("QR", 2, false, out, &n), SL_EINVAL);
	assert_int_equal(sl_jwt_b64url_decode("QUI", 3, false, out, &n), 0);
	assert_int_equal(sl_jwt_b64url_decode("QUJ", 3, false, out, &n), SL_EINVAL);
	/* Padding: only where allowed, and only whole. */
	assert_int_equal(sl_jwt_b64url_decode("QQ==", 4, false, out, &n), SL_EINVAL);
	assert_int_equal(sl_jwt_b64url_decode("QQ==", 4, true, out, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sl_jwt_b64url_decode("QUI=", 4, true, out, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(sl_jwt_b64url_decode("QQ=", 3, true, out, &n), SL_EINVAL);
	assert_int_equal(sl_jwt_b64url_decode("QUI==", 5, true, out, &n), SL_EINVAL);
	assert_int_equal(sl_jwt_b64url_decode("QUJD===", 7, true, out, &n), SL_EINVAL);
	assert_int_equal(sl_jwt_b64url_decode("=", 1, true, out, &n), SL_EINVAL);
	assert_int_equal(sl_jwt_b64url_decode("====", 4, true, out, &n), SL_EINVAL);
}

/* ---- verification ---- */

static void test_hs256_valid(void **state)
{
	(void)state;
	struct sl_jwt_keys *ks = keys_of(hs_jwk);
	const char *tok =
		hs_token("{\"root\":\"/room//123/\",\"put\":\"alice\",\"get\":[\"\",\"b\"],"
			 "\"exp\":1800000100,\"iat\":1799999000,\"sub\":\"ignored\"}");
	struct sl_jwt_claims c;
	enum sl_jwt_reason r;
	char err[256] = "";
	assert_int_equal(sl_jwt_verify(ks, tok, strlen(tok), NOW, 0, &c, &r, err, sizeof(err)), 0);
	assert_int_equal(c.alg, SL_JWT_HS256);
	assert_string_equal(c.root, "room/123");
	assert_int_equal(c.nput, 1);
	assert_string_equal(c.put[0], "alice");
	assert_int_equal(c.nget, 2);
	assert_string_equal(c.get[0], "");
	assert_string_equal(c.get[1], "b");
	assert_true(c.has_exp && c.exp == 1800000100);
	assert_true(c.has_iat && c.iat == 1799999000);
	assert_false(c.has_nbf);
	assert_string_equal(c.kid, "");
	sl_jwt_claims_clear(&c);
	/* null times are absent times, as moq-token reads them. */
	assert_int_equal(verify_reason(ks, hs_token("{\"get\":\"x\",\"exp\":null,\"iat\":null}")),
			 SL_JWT_OK);
	sl_jwt_keys_free(ks);
}

static void test_expiry_and_nbf(void **state)
{
	(void)state;
	struct sl_jwt_keys *ks = keys_of(hs_jwk);
	char p[128];
	snprintf(p, sizeof(p), "{\"get\":\"x\",\"exp\":%lld}", (long long)NOW + 1);
	assert_int_equal(verify_reason(ks, hs_token(p)), SL_JWT_OK);
	snprintf(p, sizeof(p), "{\"get\":\"x\",\"exp\":%lld}", (long long)NOW);
	assert_int_equal(verify_reason(ks, hs_token(p)), SL_JWT_EXPIRED);
	snprintf(p, sizeof(p), "{\"get\":\"x\",\"exp\":%lld}", (long long)NOW - 3600);
	assert_int_equal(verify_reason(ks, hs_token(p)), SL_JWT_EXPIRED);
	/* nbf with the 60 s leeway verify_reason gives. */
	snprintf(p, sizeof(p), "{\"get\":\"x\",\"nbf\":%lld}", (long long)NOW + 60);
	assert_int_equal(verify_reason(ks, hs_token(p)), SL_JWT_OK);
	snprintf(p, sizeof(p), "{\"get\":\"x\",\"nbf\":%lld}", (long long)NOW + 61);
	assert_int_equal(verify_reason(ks, hs_token(p)), SL_JWT_NOT_YET_VALID);
	snprintf(p, sizeof(p), "{\"get\":\"x\",\"nbf\":%lld}", (long long)NOW - 10);
	assert_int_equal(verify_reason(ks, hs_token(p)), SL_JWT_OK);
	sl_jwt_keys_free(ks);
}

static void test_wrong_signature(void **state)
{
	(void)state;
	struct sl_jwt_keys *ks = keys_of(hs_jwk);
	const char *payload = "{\"get\":\"x\"}";
	assert_int_equal(verify_reason(ks, hs_token_with("{\"alg\":\"HS256\"}", payload,
							 "another-secret-of-32-bytes-or-more")),
			 SL_JWT_SIGNATURE);
	/* One character of the signature changed. */
	char tok[8192];
	snprintf(tok, sizeof(tok), "%s", hs_token(payload));
	size_t n = strlen(tok);
	tok[n - 2] = tok[n - 2] == 'A' ? 'B' : 'A';
	assert_int_equal(verify_reason(ks, tok), SL_JWT_SIGNATURE);
	/* The payload changed under a good signature: the claims grow. */
	snprintf(tok, sizeof(tok), "%s", hs_token(payload));
	char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
	char forged[8192 + 64], pb[64];
	b64("{\"get\":\"\"}", 10, pb);
	snprintf(forged, sizeof(forged), "%.*s.%s%s", (int)(dot1 - tok), tok, pb, dot2);
	assert_int_equal(verify_reason(ks, forged), SL_JWT_SIGNATURE);
	/* Signatures of the wrong length (the right MAC, cut short, and zeros). */
	snprintf(tok, sizeof(tok), "%s", hs_token(payload));
	dot2 = strrchr(tok, '.');
	uint8_t mac[40];
	size_t maclen;
	assert_int_equal(sl_jwt_b64url_decode(dot2 + 1, strlen(dot2 + 1), false, mac, &maclen), 0);
	assert_int_equal(maclen, 32);
	b64(mac, 31, dot2 + 1);
	assert_int_equal(verify_reason(ks, tok), SL_JWT_SIGNATURE);
	memset(mac, 0, sizeof(mac));
	b64(mac, 33, dot2 + 1);
	assert_int_equal(verify_reason(ks, tok), SL_JWT_SIGNATURE);
	sl_jwt_keys_free(ks);
}

static void test_wrong_alg(void **state)
{
	(void)state;
	struct sl_jwt_keys *hs = keys_of(hs_jwk), *ec = keys_of(ec_jwk);
	const char *payload = "{\"get\":\"x\"}";
	char pb[64], hb[128], tok[512];
	b64(payload, strlen(payload), pb);
	/* alg none, with and without a signature, in any case. */
	const char *nones[] = {"{\"alg\":\"none\"}", "{\"alg\":\"None\"}",  "{\"alg\":\"NONE\"}",
			       "{\"alg\":\"\"}",     "{\"alg\":\"HS512\"}", "{\"alg\":\"RS256\"}",
			       "{\"alg\":\"hs256\"}"};
	for (size_t i = 0; i < sizeof(nones) / sizeof(nones[0]); i++) {
		b64(nones[i], strlen(nones[i]), hb);
		snprintf(tok, sizeof(tok), "%s.%s.", hb, pb);
		assert_int_equal(verify_reason(hs, tok), SL_JWT_ALG);
		snprintf(tok, sizeof(tok), "%s.%s.AAAA", hb, pb);
		assert_int_equal(verify_reason(hs, tok), SL_JWT_ALG);
		assert_int_equal(verify_reason(ec, tok), SL_JWT_ALG);
	}
	/* The classic confusion: an HS256 token "signed" with the EC public key as its secret. */
	char pubsecret[160];
	snprintf(pubsecret, sizeof(pubsecret), "%s%s", ec_x, ec_y);
	assert_int_equal(verify_reason(ec, hs_token_with("{\"alg\":\"HS256\",\"kid\":\"ec1\"}",
							 payload, pubsecret)),
			 SL_JWT_ALG);
	/* An ES256 token against an HS256 key. */
	assert_int_equal(verify_reason(hs, es_token_with("{\"alg\":\"ES256\"}", payload)),
			 SL_JWT_ALG);
	/* No alg at all, or not a string. */
	assert_int_equal(verify_reason(hs, hs_token_with("{\"typ\":\"JWT\"}", payload, SECRET)),
			 SL_JWT_MALFORMED);
	assert_int_equal(verify_reason(hs, hs_token_with("{\"alg\":1}", payload, SECRET)),
			 SL_JWT_MALFORMED);
	sl_jwt_keys_free(hs);
	sl_jwt_keys_free(ec);
}

static void test_es256(void **state)
{
	(void)state;
	struct sl_jwt_keys *ks = keys_of(ec_jwk);
	/* Many signatures, so that r and s with a high bit set and with leading zero bytes are
	 * all seen (the DER form differs for them). */
	for (int i = 0; i < 64; i++) {
		char p[128];
		snprintf(p, sizeof(p), "{\"root\":\"r\",\"get\":\"g%d\",\"exp\":%lld}", i,
			 (long long)NOW + 100);
		struct sl_jwt_claims c;
		enum sl_jwt_reason r;
		char err[256] = "";
		const char *tok = es_token(p);
		int rc = sl_jwt_verify(ks, tok, strlen(tok), NOW, 0, &c, &r, err, sizeof(err));
		if (rc != 0)
			fail_msg("ES256 token %d refused: %s", i, err);
		assert_int_equal(c.alg, SL_JWT_ES256);
		assert_string_equal(c.kid, "ec1");
		sl_jwt_claims_clear(&c);
	}
	/* A signature of the wrong length, and a changed one. */
	char tok[8192];
	snprintf(tok, sizeof(tok), "%s", es_token("{\"get\":\"x\"}"));
	char *dot2 = strrchr(tok, '.');
	char shorter[8192];
	uint8_t rs[64];
	size_t rslen;
	assert_int_equal(sl_jwt_b64url_decode(dot2 + 1, strlen(dot2 + 1), false, rs, &rslen), 0);
	assert_int_equal(rslen, 64);
	snprintf(shorter, sizeof(shorter), "%.*s", (int)(dot2 + 1 - tok), tok);
	b64(rs, 63, shorter + strlen(shorter));
	assert_int_equal(verify_reason(ks, shorter), SL_JWT_SIGNATURE);
	dot2[5] = dot2[5] == 'A' ? 'B' : 'A';
	assert_int_equal(verify_reason(ks, tok), SL_JWT_SIGNATURE);
	/* A DER signature where JWS wants r||s. */
	snprintf(tok, sizeof(tok), "%s", es_token("{\"get\":\"x\"}"));
	char sign_in[1024];
	size_t n = signing_input("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"ec1\"}",
				 "{\"get\":\"x\"}", sign_in);
	gnutls_datum_t data = {(unsigned char *)sign_in, (unsigned)n}, sig;
	assert_true(gnutls_privkey_sign_data2(ec_priv, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &sig) >=
		    0);
	char der[256];
	b64(sig.data, sig.size, der);
	gnutls_free(sig.data);
	snprintf(tok, sizeof(tok), "%s.%s", sign_in, der);
	assert_int_equal(verify_reason(ks, tok), SL_JWT_SIGNATURE);
	sl_jwt_keys_free(ks);
}

static void test_malformed(void **state)
{
	(void)state;
	struct sl_jwt_keys *ks = keys_of(hs_jwk);
	const char *good = hs_token("{\"get\":\"x\"}");
	char tok[SL_JWT_MAX_LEN + 64];
	const char *bad[] = {
		"",
		"abc",
		"a.b",
		"a.b.c.d",
		"..",
		"eyJhbGciOiJIUzI1NiJ9..",
		".eyJnZXQiOiJ4In0.AAAA",
		"eyJhbGciOiJIUzI1NiJ9=.eyJnZXQiOiJ4In0.AAAA",
		"e yJhbGciOiJIUzI1NiJ9.eyJnZXQiOiJ4In0.AAAA",
		"eyJhbGciOiJIUzI1NiJ9.eyJnZXQiOiJ4In0.AA+A",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum sl_jwt_reason r = verify_reason(ks, bad[i]);
		if (r != SL_JWT_MALFORMED)
			fail_msg("'%s' gave %s", bad[i], sl_jwt_reason_name(r));
	}
	/* Headers that are not JSON objects, or have duplicate members or crit. */
	const char *hdrs[] = {"[\"alg\",\"HS256\"]",
			      "{\"alg\":\"HS256\"",
			      "\"HS256\"",
			      "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
			      "{\"alg\":\"HS256\",\"crit\":[\"b64\"]}",
			      "{\"alg\":\"HS256\"} x"};
	for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++)
		assert_int_equal(
			verify_reason(ks, hs_token_with(hdrs[i], "{\"get\":\"x\"}", SECRET)),
			SL_JWT_MALFORMED);
	/* Signed payloads of the wrong shape or types. */
	const char *payloads[] = {
		"[]",
		"not json",
		"{\"get\":\"x\"",
		"{\"get\":\"x\",\"get\":\"y\"}",
		"{\"root\":1,\"get\":\"x\"}",
		"{\"root\":null,\"get\":\"x\"}",
		"{\"get\":1}",
		"{\"get\":null}",
		"{\"get\":[\"x\",2]}",
		"{\"get\":{\"a\":\"b\"}}",
		"{\"get\":\"x\",\"exp\":\"1900000000\"}",
		"{\"get\":\"x\",\"exp\":1.9e9}",
		"{\"get\":\"x\",\"nbf\":true}",
		"{\"get\":\"x\",\"iat\":[]}",
		"{\"get\":\"x\",\"exp\":99999999999999999999999}",
		"{\"get\":\"a\\u0000b\"}",
	};
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		enum sl_jwt_reason r = verify_reason(ks, hs_token(payloads[i]));
		if (r != SL_JWT_MALFORMED)
			fail_msg("payload '%s' gave %s", payloads[i], sl_jwt_reason_name(r));
	}
	/* Too many prefixes, and a path too deep. */
	char p[4096] = "{\"get\":[";
	for (int i = 0; i <= SL_JWT_MAX_PREFIXES; i++)
		strcat(p, i ? ",\"a\"" : "\"a\"");
	strcat(p, "]}");
	assert_int_equal(verify_reason(ks, hs_token(p)), SL_JWT_MALFORMED);
	strcpy(p, "{\"get\":\"");
	for (int i = 0; i < 40; i++)
		strcat(p, "a/");
	strcat(p, "\"}");
	assert_int_equal(verify_reason(ks, hs_token(p)), SL_JWT_MALFORMED);
	/* Oversize: a good token with padding made too long. */
	memset(tok, 'A', sizeof(tok));
	tok[sizeof(tok) - 1] = '\0';
	memcpy(tok, good, strlen(good));
	assert_int_equal(verify_reason(ks, tok), SL_JWT_MALFORMED);
	/* A useless token: nothing granted. */
	assert_int_equal(verify_reason(ks, hs_token("{\"root\":\"x\"}")), SL_JWT_USELESS);
	assert_int_equal(verify_reason(ks, hs_token("{\"put\":[],\"get\":[]}")), SL_JWT_USELESS);
	/* NULL keys: nothing verifies. */
	assert_int_equal(verify_reason(NULL, good), SL_JWT_UNKNOWN_KID);
	sl_jwt_keys_free(ks);
}

static void test_kid(void **state)
{
	(void)state;
	/* A directory of keys: tokens must name one of them. */
	char dir[300];
	snprintf(dir, sizeof(dir), "%s/keys", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	char k[64], jwk[256];
	b64(SECRET, strlen(SECRET), k);
	snprintf(jwk, sizeof(jwk), "{\"alg\":\"HS256\",\"k\":\"%s\"}", k);
	write_file("keys/hs1.jwk", jwk);
	write_file("keys/ec1.jwk", ec_jwk);
	write_file("keys/README", "not a key");
	struct sl_jwt_keys *ks;
	char err[512] = "";
	int rc = sl_jwt_keys_load_dir(dir, &ks, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(sl_jwt_keys_count(ks), 2);
	const char *p = "{\"get\":\"x\"}";
	assert_int_equal(
		verify_reason(ks, hs_token_with("{\"alg\":\"HS256\",\"kid\":\"hs1\"}", p, SECRET)),
		SL_JWT_OK);
	assert_int_equal(verify_reason(ks, es_token(p)), SL_JWT_OK);
	assert_int_equal(
		verify_reason(ks, hs_token_with("{\"alg\":\"HS256\",\"kid\":\"hs2\"}", p, SECRET)),
		SL_JWT_UNKNOWN_KID);
	assert_int_equal(verify_reason(ks, hs_token_with("{\"alg\":\"HS256\"}", p, SECRET)),
			 SL_JWT_UNKNOWN_KID);
	assert_int_equal(verify_reason(ks, hs_token_with("{\"alg\":\"HS256\",\"kid\":\"../hs1\"}",
							 p, SECRET)),
			 SL_JWT_UNKNOWN_KID);
	assert_int_equal(
		verify_reason(ks, hs_token_with("{\"alg\":\"HS256\",\"kid\":7}", p, SECRET)),
		SL_JWT_UNKNOWN_KID);
	/* The right kid with the other key's algorithm. */
	assert_int_equal(
		verify_reason(ks, hs_token_with("{\"alg\":\"HS256\",\"kid\":\"ec1\"}", p, SECRET)),
		SL_JWT_ALG);
	sl_jwt_keys_free(ks);

	/* One key from a file: the token's kid does not matter, unless the key names one. */
	const char *path = write_file("one.jwk", jwk);
	assert_int_equal(sl_jwt_keys_load_file(path, &ks, err, sizeof(err)), 0);
	assert_int_equal(verify_reason(ks, hs_token_with("{\"alg\":\"HS256\"}", p, SECRET)),
			 SL_JWT_OK);
	assert_int_equal(
		verify_reason(ks, hs_token_with("{\"alg\":\"HS256\",\"kid\":\"any\"}", p, SECRET)),
		SL_JWT_OK);
	sl_jwt_keys_free(ks);
	ks = keys_of(ec_jwk);
	assert_int_equal(verify_reason(ks, es_token_with("{\"alg\":\"ES256\",\"kid\":\"ec2\"}", p)),
			 SL_JWT_UNKNOWN_KID);
	assert_int_equal(verify_reason(ks, es_token_with("{\"alg\":\"ES256\"}", p)), SL_JWT_OK);
	sl_jwt_keys_free(ks);
}

static void test_moq_token_vector(void **state)
{
	(void)state;
	struct sl_jwt_keys *ks = keys_of(JS_HS256_KEY);
	struct sl_jwt_claims c;
	enum sl_jwt_reason r;
	char err[256] = "";
	assert_int_equal(sl_jwt_verify(ks, JS_HS256_TOKEN, strlen(JS_HS256_TOKEN), NOW, 0, &c, &r,
				       err, sizeof(err)),
			 0);
	assert_string_equal(c.kid, "js-test-key");
	assert_string_equal(c.root, "live");
	assert_int_equal(c.nput, 1);
	assert_string_equal(c.put[0], "camera1");
	assert_int_equal(c.nget, 2);
	assert_string_equal(c.get[0], "camera1");
	assert_string_equal(c.get[1], "camera2");
	assert_false(c.has_exp);
	assert_true(c.has_iat && c.iat == 1775176754);
	sl_jwt_claims_clear(&c);
	/* The same key written the way moq-token-cli writes it: base64url of the JSON. */
	char enc[1024];
	b64(JS_HS256_KEY, strlen(JS_HS256_KEY), enc);
	struct sl_jwt_keys *ks2;
	assert_int_equal(sl_jwt_keys_new(&ks2), 0);
	assert_int_equal(sl_jwt_keys_add(ks2, enc, strlen(enc), "b64", NULL, err, sizeof(err)), 0);
	assert_int_equal(verify_reason(ks2, JS_HS256_TOKEN), SL_JWT_OK);
	sl_jwt_keys_free(ks2);
	/* Another key does not verify it. */
	struct sl_jwt_keys *other = keys_of(hs_jwk);
	assert_int_equal(verify_reason(other, JS_HS256_TOKEN), SL_JWT_SIGNATURE);
	sl_jwt_keys_free(other);
	sl_jwt_keys_free(ks);
}

static void test_key_scope(void **state)
{
	(void)state;
	char k[64], jwk[512];
	b64(SECRET, strlen(SECRET), k);
	snprintf(jwk, sizeof(jwk),
		 "{\"alg\":\"HS256\",\"k\":\"%s\",\"scope\":{\"root\":\"project\",\"put\":["
		 "\"live\"],"
		 "\"get\":[\"watch\"]}}",
		 k);
	struct sl_jwt_keys *ks = keys_of(jwk);
	assert_int_equal(
		verify_reason(ks, hs_token("{\"root\":\"project/live/room\",\"put\":\"\"}")),
		SL_JWT_OK);
	assert_int_equal(verify_reason(ks, hs_token("{\"root\":\"\",\"put\":\"project/live/a\","
						    "\"get\":\"project/watch\"}")),
			 SL_JWT_OK);
	/* A sibling, a role the scope does not give, and a root above the scope's. */
	assert_int_equal(verify_reason(ks, hs_token("{\"root\":\"project/lively\",\"put\":\"\"}")),
			 SL_JWT_SCOPE);
	assert_int_equal(verify_reason(ks, hs_token("{\"root\":\"project/live\",\"get\":\"\"}")),
			 SL_JWT_SCOPE);
	assert_int_equal(verify_reason(ks, hs_token("{\"put\":\"\"}")), SL_JWT_SCOPE);
	assert_int_equal(verify_reason(ks, hs_token("{\"root\":\"project\",\"put\":[\"live/a\","
						    "\"other\"]}")),
			 SL_JWT_SCOPE);
	sl_jwt_keys_free(ks);
}

/* ---- key loading ---- */

static void key_refused(const char *jwk, int want, const char *needle)
{
	struct sl_jwt_keys *ks;
	char err[512] = "";
	assert_int_equal(sl_jwt_keys_new(&ks), 0);
	int rc = sl_jwt_keys_add(ks, jwk, strlen(jwk), "k.jwk", NULL, err, sizeof(err));
	if (rc != want)
		fail_msg("'%s': %d (%s), wanted %d", jwk, rc, err, want);
	assert_contains(err, "k.jwk: ");
	assert_contains(err, needle);
	sl_jwt_keys_free(ks);
}

static void test_key_errors(void **state)
{
	(void)state;
	char k[64], short_k[64], buf[1200];
	b64(SECRET, strlen(SECRET), k);
	b64(SECRET, 31, short_k);
	key_refused("", SL_EINVAL, "empty");
	key_refused("{\"alg\":", SL_EINVAL, "not JSON");
	key_refused("!!!", SL_EINVAL, "neither a JSON key nor base64url");
	key_refused("[1]", SL_EINVAL, "neither");
	key_refused("{\"kty\":\"oct\"}", SL_EINVAL, "no \"alg\"");
	snprintf(buf, sizeof(buf), "{\"alg\":\"HS384\",\"k\":\"%s\"}", k);
	key_refused(buf, SL_ENOTSUP, "alg \"HS384\" is not supported");
	key_refused("{\"kty\":\"RSA\",\"alg\":\"RS256\",\"n\":\"AQAB\",\"e\":\"AQAB\"}", SL_ENOTSUP,
		    "RS256");
	key_refused("{\"kty\":\"OKP\",\"alg\":\"ES256\",\"crv\":\"Ed25519\",\"x\":\"AA\"}",
		    SL_ENOTSUP, "kty \"OKP\"");
	snprintf(buf, sizeof(buf), "{\"alg\":\"HS256\",\"k\":\"%s\"}", short_k);
	key_refused(buf, SL_EINVAL, "at least 32");
	key_refused("{\"alg\":\"HS256\"}", SL_EINVAL, "\"k\"");
	key_refused("{\"alg\":\"HS256\",\"k\":\"a+b/\"}", SL_EINVAL, "\"k\"");
	snprintf(buf, sizeof(buf), "{\"alg\":\"ES256\",\"k\":\"%s\"}", k);
	key_refused(buf, SL_EINVAL, "cannot have alg ES256");
	snprintf(buf, sizeof(buf), "{\"kty\":\"EC\",\"alg\":\"HS256\",\"crv\":\"P-256\"}");
	key_refused(buf, SL_EINVAL, "cannot have alg HS256");
	snprintf(buf, sizeof(buf),
		 "{\"kty\":\"EC\",\"alg\":\"ES256\",\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\"}",
		 ec_x, ec_y);
	key_refused(buf, SL_ENOTSUP, "P-256");
	snprintf(buf, sizeof(buf),
		 "{\"kty\":\"EC\",\"alg\":\"ES256\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"AQAB\"}",
		 ec_x);
	key_refused(buf, SL_EINVAL, "32 bytes");
	/* A point that is not on the curve: y changed. */
	char y2[64];
	snprintf(y2, sizeof(y2), "%s", ec_y);
	y2[3] = y2[3] == 'A' ? 'B' : 'A';
	snprintf(buf, sizeof(buf),
		 "{\"kty\":\"EC\",\"alg\":\"ES256\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}",
		 ec_x, y2);
	key_refused(buf, SL_EINVAL, "not a point on P-256");
	snprintf(buf, sizeof(buf), "{\"alg\":\"HS256\",\"k\":\"%s\",\"key_ops\":[\"sign\"]}", k);
	key_refused(buf, SL_EINVAL, "\"verify\"");
	snprintf(buf, sizeof(buf), "{\"alg\":\"HS256\",\"k\":\"%s\",\"key_ops\":\"verify\"}", k);
	key_refused(buf, SL_EINVAL, "key_ops");
	snprintf(buf, sizeof(buf), "{\"alg\":\"HS256\",\"k\":\"%s\",\"kid\":\"a.b\"}", k);
	key_refused(buf, SL_EINVAL, "\"kid\"");
	snprintf(buf, sizeof(buf), "{\"alg\":\"HS256\",\"k\":\"%s\",\"scope\":{}}", k);
	key_refused(buf, SL_EINVAL, "useless");
	snprintf(buf, sizeof(buf),
		 "{\"keys\":[{\"alg\":\"HS256\",\"k\":\"%s\",\"kid\":\"a\"},"
		 "{\"alg\":\"HS256\",\"k\":\"%s\",\"kid\":\"a\"}]}",
		 k, k);
	key_refused(buf, SL_EDUP, "already loaded");
	snprintf(buf, sizeof(buf),
		 "{\"keys\":[{\"alg\":\"HS256\",\"k\":\"%s\",\"kid\":\"a\"},"
		 "{\"alg\":\"HS256\",\"k\":\"%s\"}]}",
		 k, k);
	key_refused(buf, SL_EINVAL, "every key needs a \"kid\"");
	key_refused("{\"keys\":[]}", SL_EINVAL, "non-empty");

	/* A key set: two kids, each verifies its tokens. */
	snprintf(buf, sizeof(buf), "{\"keys\":[{\"alg\":\"HS256\",\"k\":\"%s\",\"kid\":\"a\"},%s]}",
		 k, ec_jwk);
	const char *path = write_file("set.json", buf);
	struct sl_jwt_keys *ks;
	char err[512] = "";
	assert_int_equal(sl_jwt_keys_load_file(path, &ks, err, sizeof(err)), 0);
	assert_int_equal(sl_jwt_keys_count(ks), 2);
	assert_int_equal(verify_reason(ks, es_token("{\"get\":\"x\"}")), SL_JWT_OK);
	assert_int_equal(verify_reason(ks, hs_token_with("{\"alg\":\"HS256\",\"kid\":\"a\"}",
							 "{\"get\":\"x\"}", SECRET)),
			 SL_JWT_OK);
	assert_int_equal(verify_reason(ks, hs_token("{\"get\":\"x\"}")), SL_JWT_UNKNOWN_KID);
	sl_jwt_keys_free(ks);

	/* Files: errors name the file. */
	char missing[300];
	snprintf(missing, sizeof(missing), "%s/nope.jwk", tmpdir);
	assert_int_equal(sl_jwt_keys_load_file(missing, &ks, err, sizeof(err)), SL_EIO);
	assert_contains(err, missing);
	assert_contains(err, "No such file");
	path = write_file("bad.jwk", "{\"alg\":\"HS256\",\"k\":1}");
	assert_int_equal(sl_jwt_keys_load_file(path, &ks, err, sizeof(err)), SL_EINVAL);
	assert_contains(err, path);
	assert_int_equal(sl_jwt_keys_load_file(tmpdir, &ks, err, sizeof(err)), SL_EIO);

	/* Directories: a file named for another kid, a bad name, none at all. */
	char dir[300];
	snprintf(dir, sizeof(dir), "%s/d1", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	write_file("d1/other.jwk", ec_jwk);
	assert_int_equal(sl_jwt_keys_load_dir(dir, &ks, err, sizeof(err)), SL_EINVAL);
	assert_contains(err, "d1/other.jwk");
	assert_contains(err, "\"ec1\"");
	snprintf(dir, sizeof(dir), "%s/d2", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	write_file("d2/a b.jwk", ec_jwk);
	assert_int_equal(sl_jwt_keys_load_dir(dir, &ks, err, sizeof(err)), SL_EINVAL);
	assert_contains(err, "a b.jwk");
	snprintf(dir, sizeof(dir), "%s/d3", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(sl_jwt_keys_load_dir(dir, &ks, err, sizeof(err)), SL_ENOTFOUND);
	assert_contains(err, "d3");
	snprintf(dir, sizeof(dir), "%s/d4", tmpdir);
	assert_int_equal(sl_jwt_keys_load_dir(dir, &ks, err, sizeof(err)), SL_EIO);
	assert_contains(err, "d4");
}

/* ---- authorisation ---- */

/* The grant of claims {root, get, put} at path; NULL and *reason when refused. */
static struct sl_jwt_grant *authorize(const char *root, const char *const *get, size_t nget,
				      const char *const *put, size_t nput, const char *path,
				      enum sl_jwt_reason *reason)
{
	struct sl_jwt_claims c = {0};
	c.root = (char *)root;
	c.get = (char **)get;
	c.nget = nget;
	c.put = (char **)put;
	c.nput = nput;
	struct sl_jwt_grant *g = NULL;
	*reason = SL_JWT_OK;
	int rc = sl_jwt_grant_from_claims(&c, path, &g, reason);
	assert_true(rc == 0 || rc == SL_EINVAL);
	return rc == 0 ? g : NULL;
}

static void assert_prefixes(const struct sl_jwt_grant *g, bool publish, const char *want)
{
	const char *const *v;
	size_t n = sl_jwt_grant_prefixes(g, publish, &v);
	char got[256] = "";
	for (size_t i = 0; i < n; i++) {
		strcat(got, i ? "," : "");
		strcat(got, v[i]);
	}
	assert_string_equal(got, want);
}

static void test_authorize_like_moq_token(void **state)
{
	(void)state;
	enum sl_jwt_reason r;
	const char *all[] = {""}, *alice[] = {"alice"}, *bob[] = {"bob"}, *demo[] = {"demo"};
	/* The path is the root. */
	struct sl_jwt_grant *g = authorize("room/123", all, 1, alice, 1, "room/123", &r);
	assert_non_null(g);
	assert_prefixes(g, false, "");
	assert_prefixes(g, true, "alice");
	assert_string_equal(sl_jwt_grant_root(g), "room/123");
	sl_jwt_grant_free(g);
	/* The path extends the root: what lies below it remains. */
	g = authorize("room/123", bob, 1, alice, 1, "room/123/alice", &r);
	assert_non_null(g);
	assert_prefixes(g, false, "");
	assert_prefixes(g, true, "");
	assert_false(sl_jwt_grant_can_subscribe(g));
	assert_true(sl_jwt_grant_can_publish(g));
	sl_jwt_grant_free(g);
	/* The path is a parent of the root: the root's rest is put in front. */
	g = authorize("demo", all, 1, alice, 1, "/", &r);
	assert_non_null(g);
	assert_prefixes(g, false, "demo");
	assert_prefixes(g, true, "demo/alice");
	sl_jwt_grant_free(g);
	/* An empty root grants what it lists, wherever the connection is. */
	g = authorize("", demo, 1, NULL, 0, "demo/room", &r);
	assert_non_null(g);
	assert_prefixes(g, false, "");
	assert_prefixes(g, true, "");
	sl_jwt_grant_free(g);
	/* Slashes mean nothing at the ends. */
	const char *bobslash[] = {"bob"};
	g = authorize("room/123", bobslash, 1, NULL, 0, "//room/123//", &r);
	assert_non_null(g);
	assert_prefixes(g, false, "bob");
	sl_jwt_grant_free(g);
	/* Segment boundaries: foo does not cover foobar. */
	assert_null(authorize("foo", all, 1, all, 1, "foobar", &r));
	assert_int_equal(r, SL_JWT_ROOT_MISMATCH);
	assert_null(authorize("demo", all, 1, all, 1, "other", &r));
	assert_int_equal(r, SL_JWT_ROOT_MISMATCH);
	/* Overlapping, but every grant lies elsewhere. */
	assert_null(authorize("", demo, 1, NULL, 0, "other", &r));
	assert_int_equal(r, SL_JWT_NO_ACCESS);
}

static void test_may(void **state)
{
	(void)state;
	enum sl_jwt_reason r;
	const char *get[] = {"demo", "live/cam1"}, *put[] = {"up"};
	struct sl_jwt_grant *g = authorize("", get, 2, put, 1, "", &r);
	assert_non_null(g);
	assert_true(sl_jwt_may_subscribe(g, "demo"));
	assert_true(sl_jwt_may_subscribe(g, "demo/x"));
	assert_true(sl_jwt_may_subscribe(g, "/demo//x/"));
	assert_false(sl_jwt_may_subscribe(g, "demox"));
	assert_false(sl_jwt_may_subscribe(g, "demo2/x"));
	assert_false(sl_jwt_may_subscribe(g, "live"));
	assert_true(sl_jwt_may_subscribe(g, "live/cam1/hd"));
	assert_false(sl_jwt_may_subscribe(g, "up"));
	assert_true(sl_jwt_may_publish(g, "up/a"));
	assert_false(sl_jwt_may_publish(g, "upx"));
	assert_false(sl_jwt_may_publish(g, "demo/x"));
	/* Announcements: under a prefix a grant lies in, or one that lies in a grant. */
	assert_true(sl_jwt_may_announce(g, ""));
	assert_true(sl_jwt_may_announce(g, "live"));
	assert_true(sl_jwt_may_announce(g, "demo/x"));
	assert_false(sl_jwt_may_announce(g, "lively"));
	assert_false(sl_jwt_may_announce(g, "up"));
	assert_int_equal(sl_jwt_grant_expires(g), 0);
	assert_int_equal(sl_jwt_grant_deadline_ns(g, NOW, 5), UINT64_MAX);
	sl_jwt_grant_free(g);

	/* The connection path is the root for the broadcasts it names. */
	const char *a[] = {"a"};
	g = authorize("room", a, 1, NULL, 0, "room", &r);
	assert_true(sl_jwt_may_subscribe(g, "a/b"));
	assert_false(sl_jwt_may_subscribe(g, "room/a"));
	sl_jwt_grant_free(g);

	g = sl_jwt_grant_unrestricted("/x/");
	assert_non_null(g);
	assert_string_equal(sl_jwt_grant_root(g), "x");
	assert_true(sl_jwt_may_publish(g, "anything/at/all"));
	assert_true(sl_jwt_may_subscribe(g, ""));
	sl_jwt_grant_free(g);
}

static struct sl_jwt_auth *auth_of(struct sl_jwt_keys *ks, const char *const *pub, size_t npub,
				   const char *const *sub, size_t nsub)
{
	struct sl_jwt_auth_config cfg = {.keys = ks,
					 .public_publish = pub,
					 .npublic_publish = npub,
					 .public_subscribe = sub,
					 .npublic_subscribe = nsub,
					 .leeway_s = 60};
	struct sl_jwt_auth *a;
	char err[256] = "";
	int rc = sl_jwt_auth_new(&cfg, &a, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	return a;
}

static void test_authorize_connections(void **state)
{
	(void)state;
	const char *sub[] = {"public"};
	struct sl_jwt_auth *a = auth_of(keys_of(hs_jwk), NULL, 0, sub, 1);
	struct sl_jwt_grant *g = NULL;
	enum sl_jwt_reason r;
	char err[256] = "";
	char p[256];
	snprintf(p, sizeof(p), "{\"root\":\"room\",\"put\":\"alice\",\"get\":\"\",\"exp\":%lld}",
		 (long long)NOW + 30);
	const char *tok = hs_token(p);
	assert_int_equal(
		sl_jwt_authorize(a, "/room", tok, strlen(tok), NOW, &g, &r, err, sizeof(err)), 0);
	assert_true(sl_jwt_may_publish(g, "alice/cam"));
	assert_false(sl_jwt_may_publish(g, "bob"));
	assert_true(sl_jwt_may_subscribe(g, "bob"));
	assert_int_equal(sl_jwt_grant_expires(g), NOW + 30);
	assert_int_equal(sl_jwt_grant_deadline_ns(g, NOW, 1000), 1000 + 30 * UINT64_C(1000000000));
	assert_int_equal(sl_jwt_grant_deadline_ns(g, NOW + 31, 1000), 1000);
	sl_jwt_grant_free(g);
	/* Another room. */
	assert_int_equal(
		sl_jwt_authorize(a, "/hall", tok, strlen(tok), NOW, &g, &r, err, sizeof(err)),
		SL_EINVAL);
	assert_int_equal(r, SL_JWT_ROOT_MISMATCH);
	assert_contains(err, "\"room\"");
	/* A bad token is refused even where public access would have let it in: a client that
	 * sent a token meant to use it. */
	assert_int_equal(sl_jwt_authorize(a, "public", "x.y.z", 5, NOW, &g, &r, err, sizeof(err)),
			 SL_EINVAL);
	assert_int_equal(r, SL_JWT_MALFORMED);
	/* Anonymous: the public prefix, or below it, or above it. */
	assert_int_equal(sl_jwt_authorize(a, "public/x", NULL, 0, NOW, &g, &r, err, sizeof(err)),
			 0);
	assert_true(sl_jwt_may_subscribe(g, "y"));
	assert_false(sl_jwt_grant_can_publish(g));
	sl_jwt_grant_free(g);
	assert_int_equal(sl_jwt_authorize(a, "", "", 0, NOW, &g, &r, err, sizeof(err)), 0);
	assert_true(sl_jwt_may_subscribe(g, "public/x"));
	assert_false(sl_jwt_may_subscribe(g, "private"));
	assert_false(sl_jwt_grant_can_publish(g));
	sl_jwt_grant_free(g);
	assert_int_equal(sl_jwt_authorize(a, "private", NULL, 0, NOW, &g, &r, err, sizeof(err)),
			 SL_EINVAL);
	assert_int_equal(r, SL_JWT_TOKEN_REQUIRED);
	assert_int_equal(sl_jwt_authorize(a, "publicity", NULL, 0, NOW, &g, &r, err, sizeof(err)),
			 SL_EINVAL);
	assert_int_equal(r, SL_JWT_TOKEN_REQUIRED);
	/* A path deeper than moq-lite allows is no path. */
	char deep[128] = "public";
	for (int i = 0; i < 40; i++)
		strcat(deep, "/a");
	assert_int_equal(sl_jwt_authorize(a, deep, NULL, 0, NOW, &g, &r, err, sizeof(err)),
			 SL_EINVAL);
	assert_int_equal(r, SL_JWT_BAD_PATH);
	sl_jwt_auth_free(a);

	/* No keys: tokens are refused, public access stays. */
	a = auth_of(NULL, sub, 1, NULL, 0);
	assert_int_equal(
		sl_jwt_authorize(a, "public", tok, strlen(tok), NOW, &g, &r, err, sizeof(err)),
		SL_EINVAL);
	assert_int_equal(r, SL_JWT_TOKENS_DISABLED);
	assert_int_equal(sl_jwt_authorize(a, "public", NULL, 0, NOW, &g, &r, err, sizeof(err)), 0);
	assert_true(sl_jwt_may_publish(g, "a"));
	sl_jwt_grant_free(g);
	sl_jwt_auth_free(a);

	/* A public prefix that is not a path is refused at configuration. */
	deep[0] = '\0';
	for (int i = 0; i < 40; i++)
		strcat(deep, "a/");
	const char *bad[] = {deep};
	struct sl_jwt_auth_config cfg = {.public_publish = bad, .npublic_publish = 1};
	assert_int_equal(sl_jwt_auth_new(&cfg, &a, err, sizeof(err)), SL_EINVAL);
	assert_contains(err, "public publish prefix");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url),
		cmocka_unit_test(test_hs256_valid),
		cmocka_unit_test(test_expiry_and_nbf),
		cmocka_unit_test(test_wrong_signature),
		cmocka_unit_test(test_wrong_alg),
		cmocka_unit_test(test_es256),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_kid),
		cmocka_unit_test(test_moq_token_vector),
		cmocka_unit_test(test_key_scope),
		cmocka_unit_test(test_key_errors),
		cmocka_unit_test(test_authorize_like_moq_token),
		cmocka_unit_test(test_may),
		cmocka_unit_test(test_authorize_connections),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
