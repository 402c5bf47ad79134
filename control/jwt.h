/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_JWT_H
#define SL_CONTROL_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Per-path authorisation with JSON Web Tokens, as moq-relay does it (moq-dev/moq,
 * rs/moq-token and rs/moq-relay/src/auth.rs), so that tokens minted for moq-relay (by
 * moq-token-cli, @moq/token or any JWT library) work against shardline unchanged.
 *
 * A client puts its token in the connection URL's query, `?jwt=TOKEN`; the URL's path is the
 * connection's root. Everything below is sans-IO except the two key loaders, which read files
 * once at start-up (or on a reload the daemon decides on).
 *
 * Tokens: compact JWS, `header.payload.signature`, each part base64url without padding.
 *
 *   header   alg  "HS256" (HMAC-SHA256) or "ES256" (ECDSA P-256, SHA-256, raw r||s signature).
 *                 It must equal the key's alg: "none", any other algorithm and a token whose alg
 *                 differs from its key's are refused before any signature is looked at.
 *            kid  selects the key when the keys came from a directory or a set of several keys
 *                 (moq-relay's --auth-key-dir: file KID.jwk). With one key file it may be left
 *                 out; when both the token and that key name a kid they must agree.
 *            crit refused whatever it lists (no JWS extension is understood here).
 *            typ and any other member are ignored, as jsonwebtoken does.
 *   payload  root  string; the path the grants below are relative to ("" if absent).
 *            put   string or array of strings: prefixes the holder may publish under.
 *            get   string or array of strings: prefixes the holder may subscribe to (and see
 *                  announced). moq-token calls these publish and subscribe; "pub"/"sub" are not
 *                  used because "sub" is a registered JWT claim.
 *            exp   integer seconds since the epoch (or null): refused at and after it, and the
 *                  session a token opened is to be closed then (sl_jwt_grant_expires).
 *            nbf   integer seconds (or null): refused before it, less the configured leeway.
 *                  moq-token ignores nbf; honouring it is RFC 7519's rule and only ever
 *                  refuses a token its minter said was not valid yet.
 *            iat   integer seconds (or null): informational, as in moq-token.
 *            Any other claim is ignored. A token granting neither put nor get is refused (it
 *            is useless, moq-token's rule).
 *
 * Keys: JWK (RFC 7517) as moq-token writes them, either as JSON or as base64url of the JSON
 * (moq-token-cli writes the latter), or a JWK Set {"keys": [...]} in one file.
 *
 *   {"kty":"oct","alg":"HS256","k":"<base64url secret, at least 32 bytes>","kid":"..."}
 *   {"kty":"EC","alg":"ES256","crv":"P-256","x":"<32 bytes>","y":"<32 bytes>","kid":"..."}
 *
 * "kty" defaults to "oct" when absent (moq-token's compatibility rule); "alg" is required;
 * "key_ops", when present, must contain "verify"; a private "d" is ignored (the relay only
 * verifies, so give it the public key); "kid" follows moq-token's KeyId rule (1 to 128 of
 * [A-Za-z0-9_-]). "scope" ({"root", "put", "get"}) caps what the key's tokens may grant: a
 * token granting more than its key's scope is refused, as moq-token does. HS384/HS512, ES384,
 * RSA, PS and EdDSA keys are refused at load with a message saying so.
 *
 * Authorisation (moq-token's Claims::authorize and moq-relay's finalize): the connection path
 * and the token's root must overlap on whole segments, in either direction. When the path is
 * at or below the root, each grant is narrowed to what lies below the path; when the path is
 * above the root, the rest of the root is put in front of each grant. The resulting prefixes
 * are relative to the connection path, as are the broadcast paths a session names, and a
 * broadcast is allowed when one of them is a whole-segment prefix of it ("demo" allows "demo"
 * and "demo/x", never "demox"). Paths are normalised first: slashes at either end and repeated
 * slashes mean nothing ("/a//b/" is "a/b").
 *
 * Anonymous connections (no token) get the configured public prefixes (moq-relay's
 * --auth-public-publish / --auth-public-subscribe), which are relative to the origin's root,
 * if one of them overlaps the connection path; otherwise they are refused.
 */

struct sl_jwt_keys;
struct sl_jwt_auth;
struct sl_jwt_grant;

#define SL_JWT_MAX_LEN	     8192 /* longest token accepted, in bytes */
#define SL_JWT_KID_MAX	     128  /* moq-token's KeyId limit */
#define SL_JWT_MAX_PREFIXES  64	  /* grants per list (put, get, public, scope) */
#define SL_JWT_MIN_SECRET    32	  /* bytes of an HS256 secret, moq-token's minimum */
#define SL_JWT_MAX_KEY_BYTES 65536

enum sl_jwt_alg {
	SL_JWT_HS256 = 1,
	SL_JWT_ES256 = 2,
};

/* Why a connection or token was refused. Stable names (sl_jwt_reason_name) for counters. */
enum sl_jwt_reason {
	SL_JWT_OK = 0,
	SL_JWT_MALFORMED,   /* not three base64url parts of JSON objects, a wrong type, too long */
	SL_JWT_ALG,	    /* alg "none", unsupported, or not the key's */
	SL_JWT_UNKNOWN_KID, /* no key for the kid, or a kid is needed and missing */
	SL_JWT_SIGNATURE,   /* the signature does not verify */
	SL_JWT_EXPIRED,	    /* now >= exp */
	SL_JWT_NOT_YET_VALID,	/* now + leeway < nbf */
	SL_JWT_USELESS,		/* grants neither put nor get */
	SL_JWT_SCOPE,		/* grants more than the key's scope allows */
	SL_JWT_ROOT_MISMATCH,	/* the connection path and the token's root do not overlap */
	SL_JWT_NO_ACCESS,	/* they overlap, but every grant lies outside the path */
	SL_JWT_TOKEN_REQUIRED,	/* no token and no public prefix covers the path */
	SL_JWT_TOKENS_DISABLED, /* a token was given but no keys are configured */
	SL_JWT_BAD_PATH,	/* the connection path is not a valid broadcast path */
	SL_JWT_REASONS,
};

/* "malformed", "expired", ...; "?" out of range. */
const char *sl_jwt_reason_name(enum sl_jwt_reason r);

/* ---- base64url (RFC 4648 section 5) ---- */

/*
 * Decodes n characters of base64url at in into out (room for n * 3 / 4 bytes) and stores the
 * length in *outlen. Strict: only [A-Za-z0-9_-], no whitespace, unused trailing bits must be
 * zero, and a length of 1 mod 4 is refused. allow_padding accepts trailing '=' (padded to a
 * multiple of 4, as old moq-token keys were written); tokens never have it. Returns 0 or
 * SL_EINVAL.
 */
int sl_jwt_b64url_decode(const char *in, size_t n, bool allow_padding, uint8_t *out,
			 size_t *outlen);

/* Encodes n bytes without padding into out (room for (n * 4 + 2) / 3 + 1 with the NUL).
 * Returns the length written, NUL not counted. */
size_t sl_jwt_b64url_encode(const uint8_t *in, size_t n, char *out);

/* ---- keys ---- */

/* An empty key set (to add JWKs to from memory). Returns 0 or SL_ENOMEM. */
int sl_jwt_keys_new(struct sl_jwt_keys **out);

/*
 * Adds the key (or JWK Set) in the len bytes at text: JSON, or base64url of JSON, surrounding
 * whitespace ignored. name is what error messages call it (a file name). kid_from_name, when
 * not NULL, is the kid the key is filed under (a directory's KID.jwk): a key without a kid
 * takes it, one with another kid is refused. Returns 0, SL_EINVAL (err says what is wrong with
 * which key), SL_ENOTSUP (a key type or algorithm not verified here), SL_EDUP (a kid already
 * in the set), SL_ENOMEM.
 */
int sl_jwt_keys_add(struct sl_jwt_keys *ks, const char *text, size_t len, const char *name,
		    const char *kid_from_name, char *err, size_t errlen);

/*
 * Loads one key file (a JWK or a JWK Set; moq-relay's --auth-key). Tokens need no kid when the
 * file holds one key. Returns 0 or the codes of sl_jwt_keys_add, SL_EIO (unreadable, err names
 * the file and the system's reason), SL_ERANGE (larger than SL_JWT_MAX_KEY_BYTES).
 */
int sl_jwt_keys_load_file(const char *path, struct sl_jwt_keys **out, char *err, size_t errlen);

/*
 * Loads every KID.jwk in a directory (moq-relay's --auth-key-dir; other files are skipped, so
 * a README or an editor's backup does no harm). Tokens must name their kid. A key file the
 * relay cannot use fails the whole load, naming the file: a key that silently does not work
 * is worse at start-up than a refusal to start. Call again to pick up new keys. Returns 0 or
 * the codes of sl_jwt_keys_load_file, SL_ENOTFOUND (no .jwk file in it).
 */
int sl_jwt_keys_load_dir(const char *dir, struct sl_jwt_keys **out, char *err, size_t errlen);

/* Keys in the set. */
size_t sl_jwt_keys_count(const struct sl_jwt_keys *ks);

void sl_jwt_keys_free(struct sl_jwt_keys *ks);

/* ---- verification ---- */

/* A verified token's claims, normalised (paths without outer or repeated slashes). */
struct sl_jwt_claims {
	enum sl_jwt_alg alg;
	char kid[SL_JWT_KID_MAX + 1]; /* "" when the header has none */
	char *root;		      /* "" when absent */
	char **put, **get;
	size_t nput, nget;
	bool has_exp, has_nbf, has_iat;
	int64_t exp, nbf, iat;
};

/*
 * Verifies the len bytes of token against the key set at unix time now_s (nbf gets leeway_s
 * of slack for clocks that disagree) and fills out (release with sl_jwt_claims_clear, which
 * is also safe after a failure). The signature is checked before the payload is decoded, so
 * unauthenticated bytes never reach the claim parser. Returns 0, SL_ENOMEM, or SL_EINVAL with
 * *reason (MALFORMED, ALG, UNKNOWN_KID, SIGNATURE, EXPIRED, NOT_YET_VALID, USELESS, SCOPE) and
 * a sentence in err. reason and err may be NULL.
 */
int sl_jwt_verify(const struct sl_jwt_keys *ks, const char *token, size_t len, int64_t now_s,
		  uint32_t leeway_s, struct sl_jwt_claims *out, enum sl_jwt_reason *reason,
		  char *err, size_t errlen);

void sl_jwt_claims_clear(struct sl_jwt_claims *c);

/* ---- authorisation ---- */

struct sl_jwt_auth_config {
	/* Verification keys, taken over by sl_jwt_auth_new (freed with the authoriser, or at
	 * once when it fails). NULL: every token is refused, only public access remains. */
	struct sl_jwt_keys *keys;
	/* Anonymous access: prefixes, relative to the origin's root, that a connection without a
	 * token may publish under and subscribe to. */
	const char *const *public_publish;
	size_t npublic_publish;
	const char *const *public_subscribe;
	size_t npublic_subscribe;
	uint32_t leeway_s; /* slack for nbf; 60 is a common choice */
};

/* Creates an authoriser. Returns 0, SL_EINVAL (a public prefix is not a valid path; err says
 * which), SL_ENOMEM. */
int sl_jwt_auth_new(const struct sl_jwt_auth_config *cfg, struct sl_jwt_auth **out, char *err,
		    size_t errlen);

void sl_jwt_auth_free(struct sl_jwt_auth *a);

/*
 * Decides what a connection to path (the URL's path, percent-decoded) may do. jwt is the
 * ?jwt= value (len bytes; NULL or empty: anonymous, as moq-relay treats an empty value). now_s
 * is unix time. On success *out is a new grant (sl_jwt_grant_free). Returns 0, SL_ENOMEM, or
 * SL_EINVAL with *reason (any of the verification reasons, ROOT_MISMATCH, NO_ACCESS,
 * TOKEN_REQUIRED, TOKENS_DISABLED, BAD_PATH) and err. A refusal is what moq-relay answers
 * with 401 Unauthorized.
 */
int sl_jwt_authorize(const struct sl_jwt_auth *a, const char *path, const char *jwt, size_t len,
		     int64_t now_s, struct sl_jwt_grant **out, enum sl_jwt_reason *reason,
		     char *err, size_t errlen);

/*
 * The grant of verified claims at path (moq-token's Claims::authorize), for callers that
 * verified a token themselves. Returns 0, SL_ENOMEM, SL_EINVAL with *reason ROOT_MISMATCH,
 * NO_ACCESS or BAD_PATH.
 */
int sl_jwt_grant_from_claims(const struct sl_jwt_claims *c, const char *path,
			     struct sl_jwt_grant **out, enum sl_jwt_reason *reason);

/* A grant that allows everything under path, never expiring: what a daemon without
 * authorisation gives every connection. NULL on ENOMEM or a bad path. */
struct sl_jwt_grant *sl_jwt_grant_unrestricted(const char *path);

void sl_jwt_grant_free(struct sl_jwt_grant *g);

/* May the connection publish the broadcast at path (relative to the connection's path)? */
bool sl_jwt_may_publish(const struct sl_jwt_grant *g, const char *path);

/* May it subscribe to the broadcast at path (relative to the connection's path)? */
bool sl_jwt_may_subscribe(const struct sl_jwt_grant *g, const char *path);

/*
 * May it ask for announcements under prefix? True when some broadcast under prefix could be
 * one it may subscribe to (a subscribe grant lies under the prefix or contains it); the relay
 * then announces only the broadcasts sl_jwt_may_subscribe allows.
 */
bool sl_jwt_may_announce(const struct sl_jwt_grant *g, const char *prefix);

/* Does it allow publishing, or subscribing, anything at all? moq-relay refuses a client whose
 * declared role (publisher, subscriber) its token gives nothing for. */
bool sl_jwt_grant_can_publish(const struct sl_jwt_grant *g);
bool sl_jwt_grant_can_subscribe(const struct sl_jwt_grant *g);

/* The connection's path, normalised. */
const char *sl_jwt_grant_root(const struct sl_jwt_grant *g);

/* The prefixes (relative to the connection's path) it may publish under / subscribe to. */
size_t sl_jwt_grant_prefixes(const struct sl_jwt_grant *g, bool publish, const char *const **out);

/*
 * When the session must end: the token's exp in unix seconds, or 0 when it has none (an
 * anonymous or unrestricted grant, or a token without exp). The daemon closes the session then,
 * as moq-relay does; sl_jwt_grant_deadline_ns converts it to the monotonic clock.
 */
int64_t sl_jwt_grant_expires(const struct sl_jwt_grant *g);

/* The monotonic time (ns) at which the session must close, given unix time now_s and the
 * monotonic now_ns read at the same moment; UINT64_MAX when it never has to; now_ns when
 * already due. */
uint64_t sl_jwt_grant_deadline_ns(const struct sl_jwt_grant *g, int64_t now_s, uint64_t now_ns);

#endif
