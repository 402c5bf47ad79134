/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_DRIVERS_OBJSTORE_LOCALDIR_H
#define SL_DRIVERS_OBJSTORE_LOCALDIR_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ring.h>

#include "buffer/objstore.h"
#include "core/stats.h"

/*
 * localdir: the embedded default object store. Objects are files under a root directory (key
 * "a/b/c" is ROOT/a/b/c; intermediate directories are created on put). It runs on an io lcore:
 * every file operation of GET, HEAD, PUT and DELETE is an io_uring SQE (openat, statx, read,
 * write, fsetxattr, fgetxattr/getxattr, fsync, renameat, unlinkat, close), submitted and reaped
 * by poll, which never blocks. The on-disk layout is in docs/buffer-formats.md:
 *
 *   - A put writes ROOT/<dir>/.sl-tmp-<pid>-<seq>-<rand>, sets its etag xattr, fsyncs it,
 *     renames it over ROOT/<key> and fsyncs the directory; only then does it complete, so a
 *     completed put survives power loss and a reader sees the old or the new object, never a mix.
 *   - The etag is the xattr "user.sl.etag" of the object's file: it moves with the rename, so
 *     content and etag change in one atomic step. The filesystem must support user xattrs
 *     (ext4, xfs, btrfs; tmpfs since Linux 6.6).
 *   - Every put and delete holds flock(LOCK_EX) on ROOT/.sl-locks/<bucket> (one of 4096 files
 *     chosen by a hash of the key) from the precondition check to the rename or unlink, so
 *     conditional puts are atomic between threads and between processes sharing the directory.
 *     The lock is taken with LOCK_NB; a busy lock parks the request until a later poll.
 *   - LIST walks the tree with readdir, synchronously inside poll: io_uring has no getdents
 *     operation, and listing is rare (manifest recovery, GC). It reads every name under the
 *     prefix's directory, sorts, and returns one page; cost O(keys under that directory).
 *   - Names starting with ".sl-" are never listed (sl_obj_key_check reserves them). Temporary
 *     files whose creating process is gone are deleted by sl_localdir_open.
 *
 * Limitations: a key cannot be both an object and a prefix of another key's directory ("a" and
 * "a/b"): such a put fails with SL_EINVAL. Empty directories left by deletes are not removed.
 *
 * Shard cores reach the store through a ring proxy: sl_localdir_proxy_new gives a struct
 * sl_objstore whose submit sends the request over an SPSC ring, and sl_localdir_serve, called
 * in the io lcore's loop, runs it on the real store and sends it back; the proxy's poll calls
 * done on the shard core. Callers use the same ops either way.
 */

struct sl_localdir_config {
	uint32_t queue_depth;	/* io_uring submission queue entries; default 128 */
	uint32_t max_inflight;	/* requests worked on at once (more wait in FIFO); default 64,
				   at most queue_depth */
	uint32_t list_max_keys; /* LIST page size when the request says 0; default 1000 */
	bool fsync;		/* fsync files and directories (default true). false is for
				   benchmarks of the bare write path only */
};

void sl_localdir_config_default(struct sl_localdir_config *c);

/*
 * Opens (creating if needed) the store rooted at root, creates ROOT/.sl-locks, deletes temporary
 * files of dead processes, and sets up the io_uring. cfg NULL means defaults. *out is freed by
 * sl_objstore_destroy. Errors: SL_EINVAL (NULL argument, bad config), SL_ENOTSUP (io_uring or
 * user xattrs unavailable), SL_EIO (root cannot be created or opened), SL_ENOMEM.
 */
int sl_localdir_open(const char *root, const struct sl_localdir_config *cfg,
		     struct sl_objstore **out);

/* Makes every completion of the store's io_uring signal the eventfd fd, so the loop that
 * polls the store can sleep on fd instead of waking up to look (an io lcore registers its
 * doorbell). Returns 0, SL_EINVAL (not a localdir store, bad fd) or SL_EIO. */
int sl_localdir_set_eventfd(struct sl_objstore *s, int fd);

/* Whether the store has work no completion will announce (requests waiting for a busy key
 * lock, SQEs not yet submitted): its poller must come back on a timer. */
bool sl_localdir_needs_poll(const struct sl_objstore *s);

/* Counters of a localdir store, readable on its io core. */
struct sl_localdir_stats {
	uint64_t submitted;
	uint64_t completed;
	uint64_t bytes_written;
	uint64_t bytes_read;
	uint64_t lock_busy;	 /* lock attempts that found the key's lock held */
	uint64_t precond_failed; /* conditional puts refused */
	uint64_t temp_cleaned;	 /* stale temporary files deleted at open */
	uint64_t sqe_submitted;
};
/* Its members, for status and the counter sums (core/stats.h). */
extern const struct sl_stat_field sl_localdir_stats_fields[];

/* Fills out from a store made by sl_localdir_open. Returns 0, or SL_EINVAL for another store. */
int sl_localdir_stats(struct sl_objstore *s, struct sl_localdir_stats *out);

/*
 * The shard side of a ring proxy: a store whose submit sends req (as struct sl_msg type
 * SL_MSG_IO, obj = req) on to_io and whose poll receives completed requests from from_io and
 * calls their done on the polling thread. Both rings are SPSC: one proxy per ring pair. submit
 * errors: SL_EINVAL (bad key, missing body, unknown op), SL_ENOSPC (to_io full: poll and retry),
 * SL_ECLOSED. Destroying the proxy waits (yielding) until every request it sent has come back,
 * so the io side must still be serving. Returns 0 or SL_EINVAL/SL_ENOMEM.
 */
int sl_localdir_proxy_new(struct rte_ring *to_io, struct rte_ring *from_io,
			  struct sl_objstore **out);

/* Makes the proxy ring bell (the io core's doorbell, core/bell.h) after every request it
 * queues, so an idle io core can sleep until there is work instead of polling its rings.
 * NULL stops it. Returns 0, or SL_EINVAL when proxy is not a ring proxy. */
struct sl_bell;
int sl_localdir_proxy_set_bell(struct sl_objstore *proxy, struct sl_bell *bell);

/* The io side of one proxy's ring pair, serving requests on backend (any store, normally a
 * localdir store owned by this io core). */
struct sl_localdir_server;

/* Returns a server, or NULL on a NULL argument or allocation failure. */
struct sl_localdir_server *sl_localdir_server_new(struct sl_objstore *backend,
						  struct rte_ring *from_shard,
						  struct rte_ring *to_shard);

/*
 * One turn of the io loop for this ring pair: receives requests, submits them to the backend,
 * polls the backend with now_ns, and sends completed requests back (keeping them in order when
 * the return ring is full). Several servers may share one backend; call sl_objstore_poll on it
 * once per loop in addition, or let each server poll it (harmless). Returns the number of
 * completions sent back.
 */
int sl_localdir_serve(struct sl_localdir_server *srv, uint64_t now_ns);

/* Number of requests received and not yet sent back. */
uint32_t sl_localdir_server_inflight(const struct sl_localdir_server *srv);

/* Frees the server; requests still in flight must have been served (inflight 0). */
void sl_localdir_server_free(struct sl_localdir_server *srv);

#endif
