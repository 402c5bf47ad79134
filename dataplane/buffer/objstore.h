/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BUFFER_OBJSTORE_H
#define SL_BUFFER_OBJSTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"

/*
 * The object store interface: where durable batches and manifests live. It is asynchronous and
 * completion-based so a shard or io core can drive it without blocking: the caller fills a
 * request it owns, submits it, and later calls poll, which completes requests by calling their
 * done function on the polling thread. Backends implement struct sl_objstore_ops:
 *
 *   memory    (drivers/objstore/memory.c)   in-process, for tests; with fault injection
 *   localdir  (drivers/objstore/localdir.c) files under a root directory, io_uring on an io lcore;
 *             shard-side callers use a ring proxy with the same ops (requests and completions
 *             cross SPSC rings), so callers never know which core does the I/O
 *
 * Keys are '/'-separated object names ("data/0000017f...-a1b2.batch", "manifest"); they must be
 * non-empty, at most SL_OBJ_KEY_MAX bytes, contain no NUL, no empty segment, no "." or ".."
 * segment, and no segment starting with ".sl-" (reserved for backends' own files: localdir keeps
 * temporary files and locks under such names). Etags are opaque strings that change on every
 * successful put of a key.
 */

#define SL_OBJ_KEY_MAX	512
#define SL_OBJ_ETAG_MAX 64

enum sl_obj_op {
	SL_OBJ_GET = 1,	   /* whole object, or [offset, offset + length) when length > 0 */
	SL_OBJ_HEAD = 2,   /* size, etag and mtime only */
	SL_OBJ_PUT = 3,	   /* see enum sl_obj_put_mode */
	SL_OBJ_DELETE = 4, /* deleting a missing key completes with SL_ENOTFOUND */
	SL_OBJ_LIST = 5,   /* one page of keys under a prefix, in byte order */
};

enum sl_obj_put_mode {
	SL_OBJ_PUT_OVERWRITE = 0, /* unconditional */
	SL_OBJ_PUT_CREATE = 1,	  /* only if the key does not exist, else SL_EPRECOND */
	SL_OBJ_PUT_IF_MATCH = 2,  /* only if the current etag equals if_match, else SL_EPRECOND */
	/*
	 * Like CREATE (only if the key does not exist, else SL_EPRECOND), but the object may be
	 * written in place: it can be seen, incomplete, while the put runs, and a crash may leave
	 * it incomplete. Only a completed put promises the whole object, durably. For objects no
	 * one reads before their put completed and whose readers know their length (the durable
	 * shard's batch objects, which the metadata log names with their size): a backend then
	 * saves the temporary file, the rename and the key lock. Backends without a faster way
	 * run it as CREATE.
	 */
	SL_OBJ_PUT_CREATE_DIRECT = 3,
};

/* One listed object. */
struct sl_obj_entry {
	char *key;
	uint64_t size;
	uint64_t mtime_ns; /* wall-clock nanoseconds of the last successful put */
	char etag[SL_OBJ_ETAG_MAX];
};

/*
 * A request. The caller owns it (it is never allocated by the store) and must not touch it
 * between submit and its done call. Strings the request points at must stay valid until then.
 */
struct sl_obj_req {
	/* ---- filled by the caller ---- */
	enum sl_obj_op op;
	enum sl_obj_put_mode put_mode;
	const char *key;		/* GET HEAD PUT DELETE */
	uint64_t offset;		/* GET range start; past the end is SL_EINVAL */
	uint64_t length;		/* GET range length; 0 = to the end; cut at the end */
	struct sl_buf *body;		/* PUT: the store takes over this reference */
	char if_match[SL_OBJ_ETAG_MAX]; /* PUT_IF_MATCH */
	const char *prefix;		/* LIST: keys starting with prefix ("" = all) */
	const char *start_after;	/* LIST: resume after this key (NULL = from the start) */
	uint32_t max_keys;		/* LIST page size; 0 = backend default (1000) */
	void (*done)(struct sl_obj_req *req);
	void *user;

	/* ---- filled by the store before done ---- */
	int result;		      /* 0, SL_ENOTFOUND, SL_EPRECOND, SL_EIO, SL_ENOSPC,
					 SL_EINVAL (bad key or range), SL_ENOMEM, SL_ECLOSED */
	char etag[SL_OBJ_ETAG_MAX];   /* GET HEAD PUT: the object's etag */
	uint64_t size;		      /* GET HEAD: the whole object's size */
	uint64_t mtime_ns;	      /* GET HEAD */
	struct sl_buf *data;	      /* GET: a reference the caller must release */
	struct sl_obj_entry *entries; /* LIST: release with sl_obj_req_reset */
	uint32_t nentries;
	bool truncated; /* LIST: more keys follow the last one */

	/* ---- private to the store ---- */
	struct sl_obj_req *next_;
	uint64_t due_ns_;
	/* ---- private to a ring proxy (drivers/objstore/localdir.h): the caller's done and user
	 * while the request is served on another core ---- */
	void (*proxy_done_)(struct sl_obj_req *req);
	void *proxy_user_;
};

struct sl_objstore_ops {
	/* Queues req. Returns 0 (done will be called from a later poll), or SL_EINVAL (malformed
	 * request: bad key, missing body), SL_ENOSPC (submission queue full: retry after a poll),
	 * SL_ECLOSED (store closed); on an error done is not called and req is the caller's again
	 * (a PUT body reference stays with the caller too). */
	int (*submit)(void *impl, struct sl_obj_req *req);
	/* Makes progress without blocking and completes finished requests by calling their done.
	 * now_ns drives injected delays and timeouts. Returns the number completed. */
	int (*poll)(void *impl, uint64_t now_ns);
	/* Completes every queued request with SL_ECLOSED, then frees the backend. */
	void (*destroy)(void *impl);
};

struct sl_objstore {
	const struct sl_objstore_ops *ops;
	void *impl;
	const char *name; /* "memory", "localdir", ... */
};

static inline int sl_objstore_submit(struct sl_objstore *s, struct sl_obj_req *req)
{
	return s->ops->submit(s->impl, req);
}

static inline int sl_objstore_poll(struct sl_objstore *s, uint64_t now_ns)
{
	return s->ops->poll(s->impl, now_ns);
}

/* Destroys the store (ops->destroy): queued requests complete with SL_ECLOSED. NULL is ignored.
 * After it returns s itself may be freed memory (backends embed it in their state). */
static inline void sl_objstore_destroy(struct sl_objstore *s)
{
	if (s != NULL)
		s->ops->destroy(s->impl);
}

/* Validates an object key (rules above). Returns 0 or SL_EINVAL. */
int sl_obj_key_check(const char *key);

/* Clears a request for reuse: releases data and LIST entries, zeroes the result fields. */
void sl_obj_req_reset(struct sl_obj_req *req);

/*
 * Submits req and polls until it completes (no other request may be in flight on s from this
 * caller's point of view). For tools, tests and start-up code; never on a hot path.
 * Returns req->result, or the submit error.
 */
int sl_objstore_run(struct sl_objstore *s, struct sl_obj_req *req);

#endif
