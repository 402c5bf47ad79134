/* SPDX-License-Identifier: Apache-2.0 */
#include "control/authcfg.h"

#include "core/err.h"
#include "track/path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int sl_authcfg_web_session(const void *ctx, const char *target, size_t len, void **grant,
			   char **root, const char **why)
{
	const struct sl_authcfg *a = ctx;
	/* The CONNECT's :path is an origin-form request target, as a WebSocket upgrade's is. */
	struct sl_http_request req;
	memset(&req, 0, sizeof(req));
	req.target.p = target;
	req.target.n = len;
	*grant = NULL;
	*root = NULL;
	char *path = NULL;
	int rc = sl_http_upgrade_path(&req, &path);
	if (rc == SL_ENOMEM) {
		*why = "out of memory";
		return 500;
	}
	if (rc != 0) {
		*why = "not a broadcast path";
		return 400;
	}
	struct sl_http_handlers h;
	memset(&h, 0, sizeof(h));
	h.auth = a ? a->auth : NULL;
	struct sl_jwt_grant *g = NULL;
	struct sl_http_response resp;
	rc = sl_http_upgrade_authorize(&h, &req, (int64_t)time(NULL), &g, &resp);
	if (rc != 0) {
		int status = rc < 0 ? 500 : resp.status;
		*why = rc < 0		    ? "out of memory"
		       : resp.status == 401 ? sl_jwt_reason_name(resp.auth_reason)
					    : "bad request";
		if (rc > 0)
			sl_http_response_free(&resp);
		free(path);
		return status;
	}
	*grant = g;
	if (path[0])
		*root = path;
	else
		free(path);
	return 0;
}

bool sl_authcfg_allow(const void *grant, enum sl_moq_auth_op op, const char *path)
{
	const struct sl_jwt_grant *g = grant;
	const char *root = sl_jwt_grant_root(g), *rel;
	if (!sl_path_strip_prefix(path, root, &rel)) {
		/* Outside the connection's path. Asking for the announcements under a prefix
		 * above it is still fine when the grant lets the peer see something: each
		 * announcement is then authorised on its own (SUBSCRIBE), and only those under
		 * the path can pass. */
		const char *below;
		return op == SL_MOQ_AUTH_ANNOUNCE && sl_path_strip_prefix(root, path, &below) &&
		       sl_jwt_may_announce(g, "");
	}
	switch (op) {
	case SL_MOQ_AUTH_PUBLISH:
		return sl_jwt_may_publish(g, rel);
	case SL_MOQ_AUTH_SUBSCRIBE:
		return sl_jwt_may_subscribe(g, rel);
	case SL_MOQ_AUTH_ANNOUNCE:
		return sl_jwt_may_announce(g, rel);
	}
	return false;
}

/* The worker's clock is monotonic; the token's exp is unix time. Both are read here, at the
 * moment the worker adopts the connection. */
static uint64_t grant_deadline(const void *grant, uint64_t now_ns)
{
	return sl_jwt_grant_deadline_ns(grant, (int64_t)time(NULL), now_ns);
}

static void grant_free(void *grant)
{
	sl_jwt_grant_free(grant);
}

/* Appends the elements of l to v (n of them so far). */
static void add_list(const struct sl_config_list *l, const char **v, size_t *n)
{
	for (unsigned i = 0; i < l->count; i++)
		v[(*n)++] = l->item[i];
}

int sl_authcfg_open(const struct sl_config *cfg, struct sl_authcfg **out, char *err, size_t errlen)
{
	*out = NULL;
	bool key = cfg->auth_key[0] != '\0', dir = cfg->auth_key_dir[0] != '\0';
	const char *pub[2 * SL_CONFIG_LIST_MAX], *sub[2 * SL_CONFIG_LIST_MAX];
	size_t npub = 0, nsub = 0;
	add_list(&cfg->auth_public, pub, &npub);
	add_list(&cfg->auth_public_publish, pub, &npub);
	add_list(&cfg->auth_public, sub, &nsub);
	add_list(&cfg->auth_public_subscribe, sub, &nsub);
	if (!key && !dir && npub == 0 && nsub == 0)
		return 0; /* off: every connection may do everything, as before tokens */
	if (key && dir) {
		snprintf(err, errlen, "auth_key and auth_key_dir: give one of them, not both");
		return SL_EINVAL;
	}
	struct sl_jwt_keys *ks = NULL;
	char why[256] = "";
	int rc = 0;
	if (key)
		rc = sl_jwt_keys_load_file(cfg->auth_key, &ks, why, sizeof(why));
	else if (dir)
		rc = sl_jwt_keys_load_dir(cfg->auth_key_dir, &ks, why, sizeof(why));
	if (rc != 0) {
		/* The loaders' messages name the file; the setting says where it came from. */
		snprintf(err, errlen, "%s: %s", key ? "auth_key" : "auth_key_dir", why);
		return rc;
	}
	struct sl_authcfg *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		sl_jwt_keys_free(ks);
		snprintf(err, errlen, "out of memory");
		return SL_ENOMEM;
	}
	struct sl_jwt_auth_config ac = {
		.keys = ks,
		.public_publish = pub,
		.npublic_publish = npub,
		.public_subscribe = sub,
		.npublic_subscribe = nsub,
		.leeway_s = (uint32_t)(cfg->auth_leeway_ns / UINT64_C(1000000000)),
	};
	rc = sl_jwt_auth_new(&ac, &a->auth, why, sizeof(why)); /* takes ks over */
	if (rc != 0) {
		snprintf(err, errlen, "auth_public: %s", why);
		free(a);
		return rc;
	}
	/* Raw QUIC sessions are anonymous at the root; without a public prefix they are
	 * refused (the authoriser says TOKEN_REQUIRED). */
	enum sl_jwt_reason reason;
	rc = sl_jwt_authorize(a->auth, "", NULL, 0, (int64_t)time(NULL), &a->quic_grant, &reason,
			      NULL, 0);
	if (rc == SL_ENOMEM) {
		sl_authcfg_free(a);
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	if (rc != 0)
		a->quic_grant = NULL;
	a->worker = (struct sl_worker_auth){.allow = sl_authcfg_allow,
					    .deadline_ns = grant_deadline,
					    .free = grant_free,
					    .quic_grant = a->quic_grant};
	*out = a;
	return 0;
}

void sl_authcfg_free(struct sl_authcfg *a)
{
	if (a == NULL)
		return;
	sl_jwt_grant_free(a->quic_grant);
	sl_jwt_auth_free(a->auth);
	free(a);
}
