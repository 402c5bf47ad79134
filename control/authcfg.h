/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_AUTHCFG_H
#define SL_CONTROL_AUTHCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/config.h"
#include "control/http.h"
#include "control/jwt.h"
#include "shard/worker.h"

/*
 * The daemon's tokens, from its settings (auth_key, auth_key_dir, auth_public*, auth_leeway):
 * the authoriser the TCP listener checks WebSocket upgrades, /announced and /fetch with, and
 * what the workers' sessions ask (struct sl_worker_auth). Authorisation is off, as it always
 * was, when no key and no public prefix is set; with any of them, a connection may do only
 * what its token or the public prefixes grant.
 *
 * A WebSocket session is rooted at its URL path, as in moq-relay (sl_moq_session_config.root):
 * connected at /demo it names "x" for the origin's "demo/x". The session asks about the
 * origin's full paths; sl_authcfg_allow takes the grant's path (the same URL path) off them
 * and asks the grant about the rest.
 */
struct sl_authcfg {
	struct sl_jwt_auth *auth;
	/* The grant of raw QUIC sessions (moq-lite carries no token there): the anonymous one
	 * at the root; NULL when anonymous access is refused (no public prefix). */
	struct sl_jwt_grant *quic_grant;
	/* For the workers' configuration (quic_grant filled in). */
	struct sl_worker_auth worker;
};

/*
 * Builds the daemon's tokens from cfg, loading the key file or directory now. *out is NULL
 * when authorisation is off. Returns 0, SL_EINVAL (both auth_key and auth_key_dir, a public
 * prefix that is not a path, a key that cannot be used: err names the setting, the file and
 * why), the loaders' SL_EIO, SL_ENOTSUP, SL_EDUP, SL_ERANGE, SL_ENOTFOUND, or SL_ENOMEM.
 */
int sl_authcfg_open(const struct sl_config *cfg, struct sl_authcfg **out, char *err, size_t errlen);

void sl_authcfg_free(struct sl_authcfg *a);

/* May a session holding grant (a struct sl_jwt_grant) do op on the full broadcast path or
 * prefix? The struct sl_worker_auth allow function. */
bool sl_authcfg_allow(const void *grant, enum sl_moq_auth_op op, const char *path);

/*
 * The workers' web_session function (struct sl_worker_config) for WebTransport sessions; ctx
 * is the daemon's struct sl_authcfg, or NULL when authorisation is off (the path still roots
 * the session). The same decisions as a WebSocket upgrade's (control/http.h,
 * sl_http_upgrade_path and sl_http_upgrade_authorize).
 */
int sl_authcfg_web_session(const void *ctx, const char *target, size_t len, void **grant,
			   char **root, const char **why);

#endif
