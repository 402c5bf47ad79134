/* SPDX-License-Identifier: Apache-2.0 */
#include "control/jwt.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>

#include "core/err.h"
#include "track/path.h"

const char *sl_jwt_reason_name(enum sl_jwt_reason r)
{
	static const char *const names[SL_JWT_REASONS] = {
		[SL_JWT_OK] = "ok",
		[SL_JWT_MALFORMED] = "malformed",
		[SL_JWT_ALG] = "algorithm",
		[SL_JWT_UNKNOWN_KID] = "unknown_kid",
		[SL_JWT_SIGNATURE] = "signature",
		[SL_JWT_EXPIRED] = "expired",
		[SL_JWT_NOT_YET_VALID] = "not_yet_valid",
		[SL_JWT_USELESS] = "grants_nothing",
		[SL_JWT_SCOPE] = "beyond_key_scope",
		[SL_JWT_ROOT_MISMATCH] = "root_mismatch",
		[SL_JWT_NO_ACCESS] = "no_access",
		[SL_JWT_TOKEN_REQUIRED] = "token_required",
		[SL_JWT_TOKENS_DISABLED] = "tokens_disabled",
		[SL_JWT_BAD_PATH] = "bad_path",
	};
	return (unsigned)r < SL_JWT_REASONS ? names[r] : "?";
}

/* Records a refusal: its reason and a sentence. Returns SL_EINVAL for the caller to return. */
static int refuse(enum sl_jwt_reason *reason, enum sl_jwt_reason r, char *err, size_t errlen,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int refuse(enum sl_jwt_reason *reason, enum sl_jwt_reason r, char *err, size_t errlen,
		  const char *fmt, ...)
{
	if (reason)
		*reason = r;
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return SL_EINVAL;
}

/* Writes "name: message" into err and returns rc. */
static int keyerr(int rc, char *err, size_t errlen, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int keyerr(int rc, char *err, size_t errlen, const char *name, const char *fmt, ...)
{
	if (err && errlen) {
		int n = snprintf(err, errlen, "%s: ", name ? name : "key");
		if (n >= 0 && (size_t)n < errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return rc;
}

/* ---- base64url ---- */

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int sl_jwt_b64url_decode(const char *in, size_t n, bool allow_padding, uint8_t *out, size_t *outlen)
{
	if (allow_padding && n > 0 && in[n - 1] == '=') {
		/* Padding is all or nothing: the padded text is a whole number of quads. */
		if (n % 4 != 0)
			return SL_EINVAL;
		size_t pad = in[n - 2] == '=' ? 2 : 1;
		n -= pad;
		if (n % 4 != 4 - pad)
			return SL_EINVAL;
	}
	if (n % 4 == 1)
		return SL_EINVAL;
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)in[i]);
		if (v < 0)
			return SL_EINVAL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Left-over bits must be zero: otherwise two texts would decode to the same bytes, and
	 * a signature could be "changed" without changing what it signs. */
	if (acc != 0)
		return SL_EINVAL;
	*outlen = o;
	return 0;
}

size_t sl_jwt_b64url_encode(const uint8_t *in, size_t n, char *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = alphabet[(acc >> bits) & 63];
		}
		acc &= (1u << bits) - 1;
	}
	if (bits)
		out[o++] = alphabet[(acc << (6 - bits)) & 63];
	out[o] = '\0';
	return o;
}

/* ---- paths ---- */

/* A malloc'd normalised copy of the n bytes at in. Returns 0, SL_EINVAL, SL_ERANGE, SL_ENOMEM. */
static int norm_dup(const char *in, size_t n, char **out)
{
	char *buf = malloc(n + 1);
	if (buf == NULL)
		return SL_ENOMEM;
	size_t len;
	int rc = sl_path_normalize(in, n, buf, &len);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

/* a/b of two normalised paths (either may be empty), malloc'd; NULL on ENOMEM. */
static char *join(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	char *s = malloc(na + nb + 2);
	if (s == NULL)
		return NULL;
	if (na == 0)
		memcpy(s, b, nb + 1);
	else if (nb == 0)
		memcpy(s, a, na + 1);
	else
		snprintf(s, na + nb + 2, "%s/%s", a, b);
	return s;
}

static bool has_prefix(const char *path, const char *prefix)
{
	const char *rest;
	return sl_path_strip_prefix(path, prefix, &rest);
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Appends a copy of s to *v. Returns 0 or SL_ENOMEM. */
static int list_push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (nv == NULL)
		return SL_ENOMEM;
	*v = nv;
	nv[*n] = strdup(s);
	if (nv[*n] == NULL)
		return SL_ENOMEM;
	(*n)++;
	return 0;
}

/*
 * Reads a claim that is a string or an array of strings (serde's OneOrMany, which moq-token
 * uses for put and get) into a list of normalised paths. Returns 0, SL_ENOMEM, or SL_EINVAL
 * with what is wrong in err.
 */
static int path_list(const json_t *v, const char *what, char ***out, size_t *n, char *err,
		     size_t errlen)
{
	*out = NULL;
	*n = 0;
	if (v == NULL)
		return 0;
	size_t count = json_is_array(v) ? json_array_size(v) : 1;
	if (!json_is_array(v) && !json_is_string(v)) {
		snprintf(err, errlen, "\"%s\" is not a string or an array of strings", what);
		return SL_EINVAL;
	}
	if (count > SL_JWT_MAX_PREFIXES) {
		snprintf(err, errlen, "\"%s\" has %zu entries (at most %d)", what, count,
			 SL_JWT_MAX_PREFIXES);
		return SL_EINVAL;
	}
	char **list = calloc(count ? count : 1, sizeof(*list));
	if (list == NULL)
		return SL_ENOMEM;
	for (size_t i = 0; i < count; i++) {
		const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
		if (!json_is_string(e)) {
			free_list(list, i);
			snprintf(err, errlen, "\"%s\" has an entry that is not a string", what);
			return SL_EINVAL;
		}
		int rc = norm_dup(json_string_value(e), json_string_length(e), &list[i]);
		if (rc != 0) {
			free_list(list, i);
			if (rc == SL_ENOMEM)
				return rc;
			snprintf(err, errlen, "\"%s\" has an entry that is not a valid path", what);
			return SL_EINVAL;
		}
	}
	*out = list;
	*n = count;
	return 0;
}

/* ---- keys ---- */

struct key {
	char kid[SL_JWT_KID_MAX + 1]; /* "" when it has none */
	enum sl_jwt_alg alg;
	uint8_t *secret; /* HS256 */
	size_t secret_len;
	gnutls_pubkey_t pub; /* ES256 */
	/* The key's scope (moq-token's Scope), when it has one. */
	bool has_scope;
	char *scope_root;
	char **scope_put, **scope_get;
	size_t nscope_put, nscope_get;
};

struct sl_jwt_keys {
	struct key *k;
	size_t n, cap;
	bool kid_required; /* loaded from a directory: tokens must say which key */
};

static void key_clear(struct key *k)
{
	if (k->secret) {
		gnutls_memset(k->secret, 0, k->secret_len);
		free(k->secret);
	}
	if (k->pub)
		gnutls_pubkey_deinit(k->pub);
	free(k->scope_root);
	free_list(k->scope_put, k->nscope_put);
	free_list(k->scope_get, k->nscope_get);
	memset(k, 0, sizeof(*k));
}

int sl_jwt_keys_new(struct sl_jwt_keys **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : SL_ENOMEM;
}

size_t sl_jwt_keys_count(const struct sl_jwt_keys *ks)
{
	return ks ? ks->n : 0;
}

void sl_jwt_keys_free(struct sl_jwt_keys *ks)
{
	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->n; i++)
		key_clear(&ks->k[i]);
	free(ks->k);
	free(ks);
}

/* moq-token's KeyId rule: 1 to 128 of [A-Za-z0-9_-], so that a kid is safe as a file name. */
static bool valid_kid(const char *s, size_t n)
{
	if (n == 0 || n > SL_JWT_KID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* Decodes a base64url JWK member (padded or not, as moq-token accepts) into a malloc'd buffer.
 * Returns 0, SL_ENOMEM, SL_EINVAL (absent, not a string, not base64url). */
static int jwk_bytes(const json_t *jwk, const char *member, uint8_t **out, size_t *len)
{
	const json_t *v = json_object_get(jwk, member);
	if (!json_is_string(v))
		return SL_EINVAL;
	size_t n = json_string_length(v);
	uint8_t *buf = malloc(n / 4 * 3 + 3);
	if (buf == NULL)
		return SL_ENOMEM;
	if (sl_jwt_b64url_decode(json_string_value(v), n, true, buf, len) != 0) {
		free(buf);
		return SL_EINVAL;
	}
	*out = buf;
	return 0;
}

static int jwk_scope(const json_t *scope, struct key *k, const char *name, char *err, size_t errlen)
{
	char why[160];
	if (!json_is_object(scope))
		return keyerr(SL_EINVAL, err, errlen, name, "\"scope\" is not an object");
	const json_t *root = json_object_get(scope, "root");
	if (root && !json_is_string(root))
		return keyerr(SL_EINVAL, err, errlen, name, "\"scope\".\"root\" is not a string");
	int rc = root ? norm_dup(json_string_value(root), json_string_length(root), &k->scope_root)
		      : norm_dup("", 0, &k->scope_root);
	if (rc == SL_ENOMEM)
		return rc;
	if (rc != 0)
		return keyerr(SL_EINVAL, err, errlen, name,
			      "\"scope\".\"root\" is not a valid path");
	rc = path_list(json_object_get(scope, "put"), "put", &k->scope_put, &k->nscope_put, why,
		       sizeof(why));
	if (rc == 0)
		rc = path_list(json_object_get(scope, "get"), "get", &k->scope_get, &k->nscope_get,
			       why, sizeof(why));
	if (rc == SL_ENOMEM)
		return rc;
	if (rc != 0)
		return keyerr(SL_EINVAL, err, errlen, name, "\"scope\": %s", why);
	/* moq-token refuses a scope that permits nothing: such a key could sign no token. */
	if (k->nscope_put == 0 && k->nscope_get == 0)
		return keyerr(SL_EINVAL, err, errlen, name,
			      "\"scope\" grants neither put nor get, so the key is useless");
	k->has_scope = true;
	return 0;
}

/* Fills k from one JWK object. */
static int jwk_parse(const json_t *jwk, struct key *k, const char *name, const char *kid_from_name,
		     char *err, size_t errlen)
{
	if (!json_is_object(jwk))
		return keyerr(SL_EINVAL, err, errlen, name, "a key is not a JSON object");
	const json_t *alg = json_object_get(jwk, "alg");
	if (!json_is_string(alg))
		return keyerr(SL_EINVAL, err, errlen, name,
			      "no \"alg\" (HS256 or ES256), which moq-token keys always have");
	const char *a = json_string_value(alg);
	if (strcmp(a, "HS256") == 0) {
		k->alg = SL_JWT_HS256;
	} else if (strcmp(a, "ES256") == 0) {
		k->alg = SL_JWT_ES256;
	} else {
		return keyerr(SL_ENOTSUP, err, errlen, name,
			      "alg \"%.32s\" is not supported (shardline verifies HS256 and ES256)",
			      a);
	}
	/* moq-token's rule for keys written before "kty" existed: they are secrets. */
	const json_t *ktyv = json_object_get(jwk, "kty");
	if (ktyv && !json_is_string(ktyv))
		return keyerr(SL_EINVAL, err, errlen, name, "\"kty\" is not a string");
	const char *kty = ktyv ? json_string_value(ktyv) : "oct";

	const json_t *ops = json_object_get(jwk, "key_ops");
	if (ops) {
		bool verify = false;
		size_t i;
		json_t *op;
		if (!json_is_array(ops))
			return keyerr(SL_EINVAL, err, errlen, name,
				      "\"key_ops\" is not an array of strings");
		json_array_foreach(ops, i, op)
		{
			if (!json_is_string(op))
				return keyerr(SL_EINVAL, err, errlen, name,
					      "\"key_ops\" is not an array of strings");
			verify |= strcmp(json_string_value(op), "verify") == 0;
		}
		if (!verify)
			return keyerr(SL_EINVAL, err, errlen, name,
				      "\"key_ops\" does not allow \"verify\"");
	}

	const json_t *kid = json_object_get(jwk, "kid");
	if (kid && !json_is_null(kid)) {
		if (!json_is_string(kid) ||
		    !valid_kid(json_string_value(kid), json_string_length(kid)))
			return keyerr(SL_EINVAL, err, errlen, name,
				      "\"kid\" is not 1 to %d letters, digits, '-' or '_'",
				      SL_JWT_KID_MAX);
		snprintf(k->kid, sizeof(k->kid), "%s", json_string_value(kid));
	}
	if (kid_from_name) {
		if (k->kid[0] && strcmp(k->kid, kid_from_name) != 0)
			return keyerr(SL_EINVAL, err, errlen, name,
				      "the key's kid \"%s\" is not the one its file is named for "
				      "(\"%s\")",
				      k->kid, kid_from_name);
		snprintf(k->kid, sizeof(k->kid), "%s", kid_from_name);
	}

	int rc;
	if (strcmp(kty, "oct") == 0) {
		if (k->alg != SL_JWT_HS256)
			return keyerr(SL_EINVAL, err, errlen, name,
				      "a secret (kty \"oct\") key cannot have alg %s", a);
		rc = jwk_bytes(jwk, "k", &k->secret, &k->secret_len);
		if (rc == SL_ENOMEM)
			return rc;
		if (rc != 0)
			return keyerr(SL_EINVAL, err, errlen, name,
				      "\"k\" is missing or not base64url");
		if (k->secret_len < SL_JWT_MIN_SECRET)
			return keyerr(SL_EINVAL, err, errlen, name,
				      "the secret is %zu bytes; HS256 keys need at least %d",
				      k->secret_len, SL_JWT_MIN_SECRET);
	} else if (strcmp(kty, "EC") == 0) {
		if (k->alg != SL_JWT_ES256)
			return keyerr(SL_EINVAL, err, errlen, name, "an EC key cannot have alg %s",
				      a);
		const json_t *crv = json_object_get(jwk, "crv");
		if (!json_is_string(crv) || strcmp(json_string_value(crv), "P-256") != 0)
			return keyerr(SL_ENOTSUP, err, errlen, name,
				      "\"crv\" must be \"P-256\" for ES256");
		uint8_t *x = NULL, *y = NULL;
		size_t xn = 0, yn = 0;
		rc = jwk_bytes(jwk, "x", &x, &xn);
		if (rc == 0)
			rc = jwk_bytes(jwk, "y", &y, &yn);
		if (rc == 0 && (xn != 32 || yn != 32))
			rc = SL_ERANGE;
		if (rc == 0) {
			gnutls_datum_t dx = {x, 32}, dy = {y, 32};
			if (gnutls_pubkey_init(&k->pub) < 0) {
				rc = SL_ENOMEM;
			} else if (gnutls_pubkey_import_ecc_raw(k->pub, GNUTLS_ECC_CURVE_SECP256R1,
								&dx, &dy) < 0 ||
				   gnutls_pubkey_verify_params(k->pub) < 0) {
				rc = SL_ECORRUPT;
			}
		}
		free(x);
		free(y);
		if (rc == SL_ENOMEM)
			return rc;
		if (rc == SL_ECORRUPT)
			return keyerr(SL_EINVAL, err, errlen, name,
				      "\"x\", \"y\" are not a point on P-256");
		if (rc != 0)
			return keyerr(SL_EINVAL, err, errlen, name,
				      "\"x\" and \"y\" must be 32 bytes of base64url each");
	} else {
		return keyerr(
			SL_ENOTSUP, err, errlen, name,
			"kty \"%.16s\" is not supported (\"oct\" for HS256, \"EC\" for ES256)",
			kty);
	}

	const json_t *scope = json_object_get(jwk, "scope");
	if (scope && !json_is_null(scope))
		return jwk_scope(scope, k, name, err, errlen);
	return 0;
}

static int keys_push(struct sl_jwt_keys *ks, struct key *k, const char *name, char *err,
		     size_t errlen)
{
	/* Several keys: each must be findable by its kid, or tokens could not say which. */
	bool keyless = k->kid[0] == '\0';
	for (size_t i = 0; i < ks->n; i++) {
		keyless |= ks->k[i].kid[0] == '\0';
		if (k->kid[0] && strcmp(ks->k[i].kid, k->kid) == 0)
			return keyerr(SL_EDUP, err, errlen, name, "kid \"%s\" is already loaded",
				      k->kid);
	}
	if (ks->n > 0 && keyless)
		return keyerr(SL_EINVAL, err, errlen, name,
			      "with more than one key, every key needs a \"kid\"");
	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 4;
		struct key *nk = realloc(ks->k, cap * sizeof(*nk));
		if (nk == NULL)
			return SL_ENOMEM;
		ks->k = nk;
		ks->cap = cap;
	}
	ks->k[ks->n++] = *k;
	memset(k, 0, sizeof(*k));
	return 0;
}

int sl_jwt_keys_add(struct sl_jwt_keys *ks, const char *text, size_t len, const char *name,
		    const char *kid_from_name, char *err, size_t errlen)
{
	if (ks == NULL || (text == NULL && len))
		return SL_EINVAL;
	if (len > SL_JWT_MAX_KEY_BYTES)
		return keyerr(SL_ERANGE, err, errlen, name, "larger than %d bytes",
			      SL_JWT_MAX_KEY_BYTES);
	while (len && (*text == ' ' || *text == '\t' || *text == '\r' || *text == '\n')) {
		text++;
		len--;
	}
	while (len && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\r' ||
		       text[len - 1] == '\n'))
		len--;
	if (len == 0)
		return keyerr(SL_EINVAL, err, errlen, name, "empty");

	/* moq-token-cli writes keys as base64url of the JSON; a JSON key starts with '{'. */
	uint8_t *decoded = NULL;
	const char *json = text;
	size_t jlen = len;
	if (text[0] != '{') {
		decoded = malloc(len / 4 * 3 + 3);
		if (decoded == NULL)
			return SL_ENOMEM;
		if (sl_jwt_b64url_decode(text, len, true, decoded, &jlen) != 0) {
			free(decoded);
			return keyerr(SL_EINVAL, err, errlen, name,
				      "neither a JSON key nor base64url of one");
		}
		json = (const char *)decoded;
	}
	json_error_t jerr;
	json_t *root = json_loadb(json, jlen, JSON_REJECT_DUPLICATES, &jerr);
	free(decoded);
	if (root == NULL)
		return keyerr(SL_EINVAL, err, errlen, name, "not JSON (%s, at line %d)", jerr.text,
			      jerr.line);

	int rc = 0;
	const json_t *set = json_object_get(root, "keys");
	if (set) {
		if (kid_from_name) {
			rc = keyerr(SL_EINVAL, err, errlen, name,
				    "a key directory holds one key per file, not a key set");
		} else if (!json_is_array(set) || json_array_size(set) == 0) {
			rc = keyerr(SL_EINVAL, err, errlen, name,
				    "\"keys\" is not a non-empty array of keys");
		}
		for (size_t i = 0; rc == 0 && i < json_array_size(set); i++) {
			struct key k = {0};
			rc = jwk_parse(json_array_get(set, i), &k, name, NULL, err, errlen);
			if (rc == 0)
				rc = keys_push(ks, &k, name, err, errlen);
			key_clear(&k);
		}
	} else {
		struct key k = {0};
		rc = jwk_parse(root, &k, name, kid_from_name, err, errlen);
		if (rc == 0)
			rc = keys_push(ks, &k, name, err, errlen);
		key_clear(&k);
	}
	json_decref(root);
	return rc;
}

/* Reads a whole key file into a malloc'd buffer. */
static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return keyerr(SL_EIO, err, errlen, path, "cannot open: %s", strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		return keyerr(SL_EIO, err, errlen, path, "not a regular file");
	}
	if (st.st_size > SL_JWT_MAX_KEY_BYTES) {
		fclose(f);
		return keyerr(SL_ERANGE, err, errlen, path, "larger than %d bytes",
			      SL_JWT_MAX_KEY_BYTES);
	}
	char *buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		fclose(f);
		return SL_ENOMEM;
	}
	size_t n = fread(buf, 1, (size_t)st.st_size, f);
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		return keyerr(SL_EIO, err, errlen, path, "read failed");
	}
	*out = buf;
	*len = n;
	return 0;
}

int sl_jwt_keys_load_file(const char *path, struct sl_jwt_keys **out, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int rc = read_file(path, &text, &len, err, errlen);
	if (rc != 0)
		return rc;
	struct sl_jwt_keys *ks;
	rc = sl_jwt_keys_new(&ks);
	if (rc == 0)
		rc = sl_jwt_keys_add(ks, text, len, path, NULL, err, errlen);
	free(text);
	if (rc != 0) {
		sl_jwt_keys_free(ks);
		return rc;
	}
	*out = ks;
	return 0;
}

int sl_jwt_keys_load_dir(const char *dir, struct sl_jwt_keys **out, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return keyerr(SL_EIO, err, errlen, dir, "cannot open the key directory: %s",
			      strerror(errno));
	struct sl_jwt_keys *ks;
	int rc = sl_jwt_keys_new(&ks);
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n <= 4 || strcmp(e->d_name + n - 4, ".jwk") != 0)
			continue;
		char path[4096], kid[SL_JWT_KID_MAX + 1];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (!valid_kid(e->d_name, n - 4)) {
			rc = keyerr(SL_EINVAL, err, errlen, path,
				    "the file name is not KID.jwk with a valid kid (1 to %d "
				    "letters, digits, '-' or '_')",
				    SL_JWT_KID_MAX);
			break;
		}
		memcpy(kid, e->d_name, n - 4);
		kid[n - 4] = '\0';
		char *text;
		size_t len;
		rc = read_file(path, &text, &len, err, errlen);
		if (rc == 0) {
			rc = sl_jwt_keys_add(ks, text, len, path, kid, err, errlen);
			free(text);
		}
	}
	closedir(d);
	if (rc == 0 && ks->n == 0)
		rc = keyerr(SL_ENOTFOUND, err, errlen, dir, "no KID.jwk key file in the directory");
	if (rc != 0) {
		sl_jwt_keys_free(ks);
		return rc;
	}
	ks->kid_required = true;
	*out = ks;
	return 0;
}

/* ---- verification ---- */

void sl_jwt_claims_clear(struct sl_jwt_claims *c)
{
	if (c == NULL)
		return;
	free(c->root);
	free_list(c->put, c->nput);
	free_list(c->get, c->nget);
	memset(c, 0, sizeof(*c));
}

/* Decodes one base64url part of a token into a malloc'd buffer (NUL-terminated for messages).
 */
static int part_decode(const char *p, size_t n, uint8_t **out, size_t *len)
{
	uint8_t *buf = malloc(n / 4 * 3 + 3);
	if (buf == NULL)
		return SL_ENOMEM;
	if (n == 0 || sl_jwt_b64url_decode(p, n, false, buf, len) != 0) {
		free(buf);
		return SL_EINVAL;
	}
	buf[*len] = '\0';
	*out = buf;
	return 0;
}

/* A JSON object from a decoded part, or NULL. Duplicate members are refused: two "alg"s or
 * two "put"s would let different readers of one token see different things. */
static json_t *part_json(const uint8_t *p, size_t n)
{
	json_t *j = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* An optional NumericDate claim: absent or null leaves *has false. Returns 0 or SL_EINVAL. */
static int time_claim(const json_t *payload, const char *name, bool *has, int64_t *v)
{
	const json_t *t = json_object_get(payload, name);
	*has = false;
	if (t == NULL || json_is_null(t))
		return 0;
	if (!json_is_integer(t))
		return SL_EINVAL;
	*has = true;
	*v = (int64_t)json_integer_value(t);
	return 0;
}

/* Finds the key for a token's kid (kid "" when the header has none). */
static const struct key *find_key(const struct sl_jwt_keys *ks, const char *kid)
{
	for (size_t i = 0; i < ks->n; i++)
		if (kid[0] && strcmp(ks->k[i].kid, kid) == 0)
			return &ks->k[i];
	/* One key loaded from a file serves tokens with any kid or none, as moq-relay's
	 * --auth-key does, unless the key itself names another kid. */
	if (!ks->kid_required && ks->n == 1 && (kid[0] == '\0' || ks->k[0].kid[0] == '\0'))
		return &ks->k[0];
	return NULL;
}

static bool sig_ok(const struct key *k, const char *signed_part, size_t n, const uint8_t *sig,
		   size_t siglen)
{
	if (k->alg == SL_JWT_HS256) {
		uint8_t mac[32];
		if (siglen != sizeof(mac) ||
		    gnutls_hmac_fast(GNUTLS_MAC_SHA256, k->secret, k->secret_len, signed_part, n,
				     mac) < 0)
			return false;
		/* Constant time: a compare that stops at the first difference tells an attacker
		 * how many leading bytes of a forged MAC were right. */
		return gnutls_memcmp(mac, sig, sizeof(mac)) == 0;
	}
	/* JWS carries ECDSA signatures as r||s, 32 bytes each (RFC 7518 section 3.4); GnuTLS
	 * verifies the DER form. */
	if (siglen != 64)
		return false;
	gnutls_datum_t r = {(unsigned char *)sig, 32}, s = {(unsigned char *)sig + 32, 32};
	gnutls_datum_t der = {NULL, 0};
	if (gnutls_encode_rs_value(&der, &r, &s) < 0)
		return false;
	gnutls_datum_t data = {(unsigned char *)signed_part, (unsigned)n};
	int rc = gnutls_pubkey_verify_data2(k->pub, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &der);
	gnutls_free(der.data);
	return rc >= 0;
}

/* Every path a token grants, taken from its root, must lie under one the scope grants from
 * its own root (moq-token's Scope::allows), role by role. */
static bool covers(const char *scope_root, char **granted, size_t ngranted, const char *root,
		   char **requested, size_t nrequested, bool *nomem)
{
	for (size_t i = 0; i < nrequested; i++) {
		char *want = join(root, requested[i]);
		bool ok = false;
		for (size_t j = 0; want && !ok && j < ngranted; j++) {
			char *g = join(scope_root, granted[j]);
			if (g == NULL) {
				*nomem = true;
				break;
			}
			ok = has_prefix(want, g);
			free(g);
		}
		if (want == NULL)
			*nomem = true;
		free(want);
		if (!ok)
			return false;
	}
	return true;
}

static int parse_claims(const json_t *p, struct sl_jwt_claims *c, enum sl_jwt_reason *reason,
			char *err, size_t errlen)
{
	char why[160];
	const json_t *root = json_object_get(p, "root");
	if (root && !json_is_string(root))
		return refuse(reason, SL_JWT_MALFORMED, err, errlen, "\"root\" is not a string");
	int rc = root ? norm_dup(json_string_value(root), json_string_length(root), &c->root)
		      : norm_dup("", 0, &c->root);
	if (rc == SL_ENOMEM)
		return rc;
	if (rc != 0)
		return refuse(reason, SL_JWT_MALFORMED, err, errlen,
			      "\"root\" is not a valid path");
	rc = path_list(json_object_get(p, "put"), "put", &c->put, &c->nput, why, sizeof(why));
	if (rc == 0)
		rc = path_list(json_object_get(p, "get"), "get", &c->get, &c->nget, why,
			       sizeof(why));
	if (rc == SL_ENOMEM)
		return rc;
	if (rc != 0)
		return refuse(reason, SL_JWT_MALFORMED, err, errlen, "%s", why);
	if (time_claim(p, "exp", &c->has_exp, &c->exp) != 0 ||
	    time_claim(p, "nbf", &c->has_nbf, &c->nbf) != 0 ||
	    time_claim(p, "iat", &c->has_iat, &c->iat) != 0)
		return refuse(reason, SL_JWT_MALFORMED, err, errlen,
			      "\"exp\", \"nbf\" and \"iat\" must be integer seconds");
	return 0;
}

int sl_jwt_verify(const struct sl_jwt_keys *ks, const char *token, size_t len, int64_t now_s,
		  uint32_t leeway_s, struct sl_jwt_claims *out, enum sl_jwt_reason *reason,
		  char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (reason)
		*reason = SL_JWT_OK;
	if (token == NULL || len == 0 || len > SL_JWT_MAX_LEN)
		return refuse(reason, SL_JWT_MALFORMED, err, errlen,
			      "the token is empty or longer than %d bytes", SL_JWT_MAX_LEN);
	const char *dot1 = memchr(token, '.', len);
	const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
		return refuse(reason, SL_JWT_MALFORMED, err, errlen,
			      "a token is three base64url parts separated by '.'");
	size_t hn = (size_t)(dot1 - token), pn = (size_t)(dot2 - dot1 - 1);
	size_t sn = len - (size_t)(dot2 + 1 - token);

	uint8_t *hdr = NULL, *sig = NULL, *pay = NULL;
	size_t hlen = 0, siglen = 0, plen = 0;
	json_t *h = NULL, *p = NULL;
	int rc = part_decode(token, hn, &hdr, &hlen);
	if (rc == SL_ENOMEM)
		goto out;
	h = rc == 0 ? part_json(hdr, hlen) : NULL;
	if (h == NULL) {
		rc = refuse(reason, SL_JWT_MALFORMED, err, errlen,
			    "the header is not base64url of a JSON object");
		goto out;
	}
	const json_t *alg = json_object_get(h, "alg");
	if (!json_is_string(alg)) {
		rc = refuse(reason, SL_JWT_MALFORMED, err, errlen, "the header has no \"alg\"");
		goto out;
	}
	const char *a = json_string_value(alg);
	enum sl_jwt_alg want;
	if (strcmp(a, "HS256") == 0) {
		want = SL_JWT_HS256;
	} else if (strcmp(a, "ES256") == 0) {
		want = SL_JWT_ES256;
	} else {
		/* "none" included: an unsigned token proves nothing. */
		rc = refuse(reason, SL_JWT_ALG, err, errlen,
			    "alg \"%.16s\" is refused (HS256 and ES256 are accepted)", a);
		goto out;
	}
	if (json_object_get(h, "crit")) {
		rc = refuse(reason, SL_JWT_MALFORMED, err, errlen,
			    "the header has \"crit\", and no JWS extension is understood here");
		goto out;
	}
	const json_t *kidv = json_object_get(h, "kid");
	if (kidv && !json_is_null(kidv)) {
		if (!json_is_string(kidv) ||
		    !valid_kid(json_string_value(kidv), json_string_length(kidv))) {
			rc = refuse(reason, SL_JWT_UNKNOWN_KID, err, errlen,
				    "the header's \"kid\" is not a valid key id");
			goto out;
		}
		snprintf(out->kid, sizeof(out->kid), "%s", json_string_value(kidv));
	}
	const struct key *k = ks ? find_key(ks, out->kid) : NULL;
	if (k == NULL) {
		if (out->kid[0])
			rc = refuse(reason, SL_JWT_UNKNOWN_KID, err, errlen,
				    "no key with kid \"%s\"", out->kid);
		else
			rc = refuse(reason, SL_JWT_UNKNOWN_KID, err, errlen,
				    "the token names no kid, and the keys need one");
		goto out;
	}
	/* The key decides the algorithm, never the token: otherwise a public ES256 key could
	 * be used as an HMAC secret by a token that says HS256. */
	if (k->alg != want) {
		rc = refuse(reason, SL_JWT_ALG, err, errlen, "alg %s does not match the key's %s",
			    a, k->alg == SL_JWT_HS256 ? "HS256" : "ES256");
		goto out;
	}
	out->alg = want;
	rc = part_decode(dot2 + 1, sn, &sig, &siglen);
	if (rc == SL_ENOMEM)
		goto out;
	if (rc != 0) {
		rc = refuse(reason, SL_JWT_MALFORMED, err, errlen,
			    "the signature is not base64url without padding");
		goto out;
	}
	if (!sig_ok(k, token, (size_t)(dot2 - token), sig, siglen)) {
		rc = refuse(reason, SL_JWT_SIGNATURE, err, errlen, "the signature does not verify");
		goto out;
	}

	rc = part_decode(dot1 + 1, pn, &pay, &plen);
	if (rc == SL_ENOMEM)
		goto out;
	p = rc == 0 ? part_json(pay, plen) : NULL;
	if (p == NULL) {
		rc = refuse(reason, SL_JWT_MALFORMED, err, errlen,
			    "the payload is not base64url of a JSON object");
		goto out;
	}
	rc = parse_claims(p, out, reason, err, errlen);
	if (rc != 0)
		goto out;
	if (out->has_exp && now_s >= out->exp) {
		rc = refuse(reason, SL_JWT_EXPIRED, err, errlen, "the token expired %lld s ago",
			    (long long)(now_s - out->exp));
		goto out;
	}
	if (out->has_nbf && now_s + (int64_t)leeway_s < out->nbf) {
		rc = refuse(reason, SL_JWT_NOT_YET_VALID, err, errlen,
			    "the token is not valid for another %lld s",
			    (long long)(out->nbf - now_s));
		goto out;
	}
	if (out->nput == 0 && out->nget == 0) {
		rc = refuse(reason, SL_JWT_USELESS, err, errlen,
			    "the token grants neither put nor get");
		goto out;
	}
	if (k->has_scope) {
		bool nomem = false;
		bool ok = covers(k->scope_root, k->scope_put, k->nscope_put, out->root, out->put,
				 out->nput, &nomem) &&
			  covers(k->scope_root, k->scope_get, k->nscope_get, out->root, out->get,
				 out->nget, &nomem);
		if (nomem) {
			rc = SL_ENOMEM;
			goto out;
		}
		if (!ok) {
			rc = refuse(reason, SL_JWT_SCOPE, err, errlen,
				    "the token grants more than its key's scope allows");
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(h);
	json_decref(p);
	free(hdr);
	free(sig);
	free(pay);
	if (rc != 0)
		sl_jwt_claims_clear(out);
	return rc;
}

/* ---- authorisation ---- */

struct sl_jwt_grant {
	char *root;
	char **pub, **sub;
	size_t npub, nsub;
	int64_t exp; /* 0: none */
};

struct sl_jwt_auth {
	struct sl_jwt_keys *keys;
	char **pub, **sub;
	size_t npub, nsub;
	uint32_t leeway_s;
};

void sl_jwt_grant_free(struct sl_jwt_grant *g)
{
	if (g == NULL)
		return;
	free(g->root);
	free_list(g->pub, g->npub);
	free_list(g->sub, g->nsub);
	free(g);
}

/*
 * The grants of list (relative to root) as seen from a connection at path, given what the
 * path adds below the root (suffix) or what the root adds below the path (prefix); exactly one
 * is non-empty, or neither. A grant that covers the path keeps what lies below it; one that
 * stops above the path grants all of it; others are dropped.
 */
static int rebase(char **list, size_t n, const char *prefix, const char *suffix, char ***out,
		  size_t *nout)
{
	for (size_t i = 0; i < n; i++) {
		char *g = join(prefix, list[i]);
		if (g == NULL)
			return SL_ENOMEM;
		const char *rest;
		int rc = 0;
		if (sl_path_strip_prefix(g, suffix, &rest))
			rc = list_push(out, nout, rest);
		else if (has_prefix(suffix, g))
			rc = list_push(out, nout, "");
		free(g);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int grant_build(const char *root, char **put, size_t nput, char **get, size_t nget,
		       const char *path, struct sl_jwt_grant **out, enum sl_jwt_reason *reason)
{
	struct sl_jwt_grant *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return SL_ENOMEM;
	int rc = norm_dup(path, strlen(path), &g->root);
	if (rc != 0) {
		free(g);
		if (rc == SL_ENOMEM)
			return rc;
		return refuse(reason, SL_JWT_BAD_PATH, NULL, 0, "bad path");
	}
	const char *suffix = "", *prefix = "";
	if (!sl_path_strip_prefix(g->root, root, &suffix)) {
		suffix = "";
		if (!sl_path_strip_prefix(root, g->root, &prefix)) {
			sl_jwt_grant_free(g);
			return refuse(reason, SL_JWT_ROOT_MISMATCH, NULL, 0, "root mismatch");
		}
	}
	rc = rebase(put, nput, prefix, suffix, &g->pub, &g->npub);
	if (rc == 0)
		rc = rebase(get, nget, prefix, suffix, &g->sub, &g->nsub);
	if (rc == 0 && g->npub == 0 && g->nsub == 0)
		rc = refuse(reason, SL_JWT_NO_ACCESS, NULL, 0, "no access");
	if (rc != 0) {
		sl_jwt_grant_free(g);
		return rc;
	}
	*out = g;
	return 0;
}

int sl_jwt_grant_from_claims(const struct sl_jwt_claims *c, const char *path,
			     struct sl_jwt_grant **out, enum sl_jwt_reason *reason)
{
	int rc = grant_build(c->root ? c->root : "", c->put, c->nput, c->get, c->nget, path, out,
			     reason);
	if (rc == 0)
		(*out)->exp = c->has_exp ? c->exp : 0;
	return rc;
}

struct sl_jwt_grant *sl_jwt_grant_unrestricted(const char *path)
{
	char *all[] = {""};
	struct sl_jwt_grant *g = NULL;
	char *root = NULL;
	if (norm_dup(path, strlen(path), &root) != 0)
		return NULL;
	if (grant_build(root, all, 1, all, 1, root, &g, NULL) != 0)
		g = NULL;
	free(root);
	return g;
}

int sl_jwt_auth_new(const struct sl_jwt_auth_config *cfg, struct sl_jwt_auth **out, char *err,
		    size_t errlen)
{
	struct sl_jwt_auth *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		sl_jwt_keys_free(cfg->keys);
		return SL_ENOMEM;
	}
	a->keys = cfg->keys;
	a->leeway_s = cfg->leeway_s;
	int rc = 0;
	for (int role = 0; role < 2 && rc == 0; role++) {
		const char *const *list = role ? cfg->public_subscribe : cfg->public_publish;
		size_t n = role ? cfg->npublic_subscribe : cfg->npublic_publish;
		if (n > SL_JWT_MAX_PREFIXES) {
			snprintf(err, errlen, "more than %d public prefixes", SL_JWT_MAX_PREFIXES);
			rc = SL_EINVAL;
		}
		for (size_t i = 0; rc == 0 && i < n; i++) {
			char *p;
			rc = norm_dup(list[i], strlen(list[i]), &p);
			if (rc == SL_ENOMEM)
				break;
			if (rc != 0) {
				snprintf(err, errlen,
					 "public %s prefix \"%.64s\" is not a valid path",
					 role ? "subscribe" : "publish", list[i]);
				rc = SL_EINVAL;
				break;
			}
			rc = role ? list_push(&a->sub, &a->nsub, p)
				  : list_push(&a->pub, &a->npub, p);
			free(p);
		}
	}
	if (rc != 0) {
		sl_jwt_auth_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void sl_jwt_auth_free(struct sl_jwt_auth *a)
{
	if (a == NULL)
		return;
	sl_jwt_keys_free(a->keys);
	free_list(a->pub, a->npub);
	free_list(a->sub, a->nsub);
	free(a);
}

int sl_jwt_authorize(const struct sl_jwt_auth *a, const char *path, const char *jwt, size_t len,
		     int64_t now_s, struct sl_jwt_grant **out, enum sl_jwt_reason *reason,
		     char *err, size_t errlen)
{
	if (reason)
		*reason = SL_JWT_OK;
	char *npath;
	int rc = norm_dup(path ? path : "", path ? strlen(path) : 0, &npath);
	if (rc == SL_ENOMEM)
		return rc;
	if (rc != 0)
		return refuse(reason, SL_JWT_BAD_PATH, err, errlen,
			      "the connection path is not a valid broadcast path");
	if (jwt != NULL && len > 0) {
		if (a->keys == NULL || a->keys->n == 0) {
			free(npath);
			return refuse(reason, SL_JWT_TOKENS_DISABLED, err, errlen,
				      "a token was given, but no keys are configured");
		}
		struct sl_jwt_claims c;
		enum sl_jwt_reason r = SL_JWT_OK;
		rc = sl_jwt_verify(a->keys, jwt, len, now_s, a->leeway_s, &c, &r, err, errlen);
		if (rc == 0) {
			rc = sl_jwt_grant_from_claims(&c, npath, out, &r);
			if (rc == SL_EINVAL && r == SL_JWT_ROOT_MISMATCH)
				refuse(NULL, r, err, errlen,
				       "the token is for \"%.128s\", not for \"%.128s\"", c.root,
				       npath);
			else if (rc == SL_EINVAL)
				refuse(NULL, r, err, errlen,
				       "the token grants nothing at \"%.128s\"", npath);
		}
		if (reason)
			*reason = r;
		sl_jwt_claims_clear(&c);
		free(npath);
		return rc;
	}
	/* Anonymous: the public prefixes apply when one of them overlaps the path either way
	 * (moq-relay's rule), so a connection to "" sees what is public below it. */
	bool overlaps = false;
	for (size_t i = 0; !overlaps && i < a->npub + a->nsub; i++) {
		const char *p = i < a->npub ? a->pub[i] : a->sub[i - a->npub];
		overlaps = has_prefix(npath, p) || has_prefix(p, npath);
	}
	if (!overlaps) {
		refuse(reason, SL_JWT_TOKEN_REQUIRED, err, errlen,
		       "a token is required for \"%.128s\"", npath);
		free(npath);
		return SL_EINVAL;
	}
	rc = grant_build("", a->pub, a->npub, a->sub, a->nsub, npath, out, reason);
	free(npath);
	return rc;
}

static bool any_prefix(char **list, size_t n, const char *path)
{
	char norm[SL_PATH_MAX_LEN + 1];
	size_t len, in = strlen(path);
	if (in > SL_PATH_MAX_LEN * 4 || sl_path_normalize(path, in, norm, &len) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (has_prefix(norm, list[i]))
			return true;
	return false;
}

bool sl_jwt_may_publish(const struct sl_jwt_grant *g, const char *path)
{
	return any_prefix(g->pub, g->npub, path);
}

bool sl_jwt_may_subscribe(const struct sl_jwt_grant *g, const char *path)
{
	return any_prefix(g->sub, g->nsub, path);
}

bool sl_jwt_may_announce(const struct sl_jwt_grant *g, const char *prefix)
{
	char norm[SL_PATH_MAX_LEN + 1];
	size_t len, in = strlen(prefix);
	if (in > SL_PATH_MAX_LEN * 4 || sl_path_normalize(prefix, in, norm, &len) != 0)
		return false;
	for (size_t i = 0; i < g->nsub; i++)
		if (has_prefix(norm, g->sub[i]) || has_prefix(g->sub[i], norm))
			return true;
	return false;
}

bool sl_jwt_grant_can_publish(const struct sl_jwt_grant *g)
{
	return g->npub > 0;
}

bool sl_jwt_grant_can_subscribe(const struct sl_jwt_grant *g)
{
	return g->nsub > 0;
}

const char *sl_jwt_grant_root(const struct sl_jwt_grant *g)
{
	return g->root;
}

size_t sl_jwt_grant_prefixes(const struct sl_jwt_grant *g, bool publish, const char *const **out)
{
	*out = (const char *const *)(publish ? g->pub : g->sub);
	return publish ? g->npub : g->nsub;
}

int64_t sl_jwt_grant_expires(const struct sl_jwt_grant *g)
{
	return g->exp;
}

uint64_t sl_jwt_grant_deadline_ns(const struct sl_jwt_grant *g, int64_t now_s, uint64_t now_ns)
{
	if (g->exp == 0)
		return UINT64_MAX;
	if (g->exp <= now_s)
		return now_ns;
	uint64_t left = (uint64_t)(g->exp - now_s);
	if (left > (UINT64_MAX - now_ns) / UINT64_C(1000000000))
		return UINT64_MAX;
	return now_ns + left * UINT64_C(1000000000);
}
