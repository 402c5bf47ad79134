/* SPDX-License-Identifier: Apache-2.0 */
#include "buffer/objstore.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"

int sl_obj_key_check(const char *key)
{
	if (key == NULL || key[0] == '\0')
		return SL_EINVAL;
	/* strnlen stops one past the limit, so an over-long key is never walked in full. */
	size_t n = strnlen(key, SL_OBJ_KEY_MAX + 1);
	if (n > SL_OBJ_KEY_MAX)
		return SL_EINVAL;
	const char *seg = key;
	for (size_t i = 0; i <= n; i++) {
		if (key[i] != '/' && key[i] != '\0')
			continue;
		size_t len = (size_t)(key + i - seg);
		if (len == 0)
			return SL_EINVAL; /* leading, trailing or doubled '/' */
		if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return SL_EINVAL;
		/* Segments starting with ".sl-" are reserved for backends' own files (temporary
		 * files and locks of localdir), so no key can collide with them. */
		if (len >= 4 && memcmp(seg, ".sl-", 4) == 0)
			return SL_EINVAL;
		seg = key + i + 1;
	}
	return 0;
}

void sl_obj_req_reset(struct sl_obj_req *req)
{
	sl_buf_unref(req->data);
	req->data = NULL;
	if (req->entries != NULL) {
		for (uint32_t i = 0; i < req->nentries; i++)
			free(req->entries[i].key);
		free(req->entries);
	}
	req->entries = NULL;
	req->nentries = 0;
	req->truncated = false;
	req->result = 0;
	req->etag[0] = '\0';
	req->size = 0;
	req->mtime_ns = 0;
}

/* sl_objstore_run borrows the request's done and user for the duration of the call. */
struct run_ctx {
	void (*done)(struct sl_obj_req *req);
	void *user;
	bool finished;
};

static void run_done(struct sl_obj_req *req)
{
	struct run_ctx *ctx = req->user;
	req->done = ctx->done;
	req->user = ctx->user;
	ctx->finished = true;
	if (req->done != NULL)
		req->done(req);
}

int sl_objstore_run(struct sl_objstore *s, struct sl_obj_req *req)
{
	struct run_ctx ctx = {req->done, req->user, false};
	req->done = run_done;
	req->user = &ctx;
	int rc = sl_objstore_submit(s, req);
	if (rc != 0) {
		req->done = ctx.done;
		req->user = ctx.user;
		return rc;
	}
	while (!ctx.finished) {
		/* A tool-side helper, not an engine: it may read the clock. Yield between empty
		 * polls so a backend served by another thread (the ring proxy) gets the CPU. */
		if (sl_objstore_poll(s, sl_clock_now_ns()) == 0 && !ctx.finished)
			sched_yield();
	}
	return req->result;
}
