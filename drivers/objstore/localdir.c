/* SPDX-License-Identifier: Apache-2.0 */
#include "drivers/objstore/localdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <liburing.h>

#include "core/bell.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/ring.h"

#define ETAG_XATTR	"user.sl.etag"
#define TMP_PREFIX	".sl-tmp-"
#define LOCK_DIR	".sl-locks"
#define LOCK_BUCKETS	4096
#define ABS_MAX		(PATH_MAX + SL_OBJ_KEY_MAX + 2)
#define DEFAULT_LISTMAX 1000

enum stage {
	ST_IDLE = 0,
	ST_CLEAN,      /* a cleanup close or unlink; its result is ignored */
	ST_PUT_OPEN,   /* openat of the temporary file */
	ST_PUT_WRITE,  /* write of the body */
	ST_PUT_XATTR,  /* fsetxattr of the etag on the temporary file */
	ST_PUT_FSYNC,  /* fsync of the temporary file */
	ST_PUT_CLOSE,  /* close of the temporary file */
	ST_PUT_CHECK,  /* getxattr of the current object, under the key lock */
	ST_PUT_RENAME, /* renameat over the key, under the key lock */
	ST_DEL_UNLINK, /* unlinkat of the key, under the key lock */
	ST_DIR_OPEN,   /* openat of the key's directory */
	ST_DIR_FSYNC,  /* fsync of that directory */
	ST_GET_OPEN,   /* openat of the object */
	ST_GET_STATX,  /* statx of the open object */
	ST_GET_XATTR,  /* fgetxattr of its etag */
	ST_GET_READ,   /* read of its bytes */
	/* CREATE_DIRECT: the key itself is created (O_EXCL), then its bytes and its etag go out
	 * together, then the file and its directory are synced together: three round trips
	 * instead of ten. These stages have several SQEs in flight, told apart by a tag. */
	ST_DIRECT_OPEN,
	ST_DIRECT_DATA,
	ST_DIRECT_SYNC,
};

/* Tags of the SQEs of one direct stage, in the low bits of their user data (an op is at least
 * 8-byte aligned). */
enum {
	TAG_NONE = 0,
	TAG_WRITE = 1,
	TAG_XATTR = 2,
	TAG_FSYNC = 3,
	TAG_DIRSYNC = 4,
	TAG_MASK = 7,
};

/* Directories whose descriptor is kept open for the direct path's directory fsync: batch
 * objects of one start all live in one directory. */
#define DIRFD_CACHE 16

struct ld_op {
	struct localdir *ld;
	struct sl_obj_req *req;
	struct ld_op *next; /* free list or lock-wait list */
	enum stage stage;
	int fd;
	int lockfd;
	int err;	   /* result to report once cleanup is done */
	bool tmp_exists;   /* the temporary file is on disk and must go on failure */
	bool mkdir_tried;  /* parents were created once already */
	bool lock_after;   /* waiting for the key lock (PUT after close, or DELETE) */
	uint8_t pending;   /* direct stages: CQEs still expected */
	int stage_err;	   /* direct stages: the first error among them */
	uint64_t done_len; /* bytes written or read so far */
	uint64_t rd_off;   /* GET: file offset of the range */
	uint64_t rd_len;   /* GET: bytes of the range */
	struct statx stx;
	char xbuf[SL_OBJ_ETAG_MAX];
	char tmp[SL_OBJ_KEY_MAX + 64];
	char dir[SL_OBJ_KEY_MAX + 2];
	char abs[ABS_MAX];
};

struct localdir {
	struct sl_objstore pub;
	struct sl_localdir_config cfg;
	struct io_uring ring;
	int rootfd;
	char root[PATH_MAX];
	bool closed;
	uint32_t sq_pending; /* SQEs prepared and not yet submitted */
	uint32_t active;     /* ops in use */
	struct ld_op *ops;
	struct ld_op *free_ops;
	struct ld_op *lockwait;			  /* ops waiting for their key lock */
	struct sl_obj_req *pend_head, *pend_tail; /* submitted, not yet started */
	struct sl_obj_req *done_head, *done_tail; /* finished, done not yet called */
	uint64_t etag_seed;
	uint64_t seq;
	struct {
		char dir[SL_OBJ_KEY_MAX + 2];
		int fd;
	} dirfds[DIRFD_CACHE];
	uint32_t dirfd_next;
	struct sl_localdir_stats st;
};

static const struct sl_objstore_ops localdir_ops;

void sl_localdir_config_default(struct sl_localdir_config *c)
{
	c->queue_depth = 128;
	c->max_inflight = 64;
	c->list_max_keys = DEFAULT_LISTMAX;
	c->fsync = true;
}

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                    */

static int map_errno(int e)
{
	switch (e) {
	case ENOENT:
		return SL_ENOTFOUND;
	case ENOSPC:
	case EDQUOT:
		return SL_ENOSPC;
	case ENOMEM:
		return SL_ENOMEM;
	case ENAMETOOLONG:
	case ENOTDIR:
	case EISDIR:
	case EEXIST:
	case ENOTEMPTY:
		return SL_EINVAL;
	case ENOTSUP:
		return SL_ENOTSUP;
	default:
		return SL_EIO;
	}
}

static void req_list_push(struct sl_obj_req **head, struct sl_obj_req **tail, struct sl_obj_req *r)
{
	r->next_ = NULL;
	if (*tail != NULL)
		(*tail)->next_ = r;
	else
		*head = r;
	*tail = r;
}

static struct sl_obj_req *req_list_pop(struct sl_obj_req **head, struct sl_obj_req **tail)
{
	struct sl_obj_req *r = *head;
	if (r != NULL) {
		*head = r->next_;
		if (*head == NULL)
			*tail = NULL;
		r->next_ = NULL;
	}
	return r;
}

/* Rejects what no backend could run; shared by the store and its ring proxy. */
static int validate(const struct sl_obj_req *req)
{
	switch (req->op) {
	case SL_OBJ_GET:
	case SL_OBJ_HEAD:
	case SL_OBJ_DELETE:
		return sl_obj_key_check(req->key);
	case SL_OBJ_PUT:
		if (req->body == NULL)
			return SL_EINVAL;
		if (req->put_mode != SL_OBJ_PUT_OVERWRITE && req->put_mode != SL_OBJ_PUT_CREATE &&
		    req->put_mode != SL_OBJ_PUT_IF_MATCH &&
		    req->put_mode != SL_OBJ_PUT_CREATE_DIRECT)
			return SL_EINVAL;
		return sl_obj_key_check(req->key);
	case SL_OBJ_LIST:
		return 0;
	default:
		return SL_EINVAL;
	}
}

static void flush_sq(struct localdir *ld);

static void step_direct(struct ld_op *op, unsigned tag, int res);

/* An SQE carrying op (and a tag) in its user data. The direct path has two SQEs per op in
 * flight, so a full submission queue is possible: it is submitted to make room. */
static struct io_uring_sqe *sqe_tagged(struct ld_op *op, enum stage st, unsigned tag)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&op->ld->ring);
	if (sqe == NULL) {
		flush_sq(op->ld);
		sqe = io_uring_get_sqe(&op->ld->ring);
	}
	if (sqe == NULL)
		abort(); /* the kernel took nothing: nothing sane is left to do */
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | tag);
	op->stage = st;
	op->ld->sq_pending++;
	return sqe;
}

static struct io_uring_sqe *sqe_for(struct ld_op *op, enum stage st)
{
	return sqe_tagged(op, st, TAG_NONE);
}

/* Splits key into its directory ("." for a top-level key) for dir fsync and temp names. */
static void key_dir(const char *key, char *dir, size_t cap)
{
	const char *slash = strrchr(key, '/');
	if (slash == NULL) {
		snprintf(dir, cap, ".");
		return;
	}
	snprintf(dir, cap, "%.*s", (int)(slash - key), key);
}

static void make_etag(struct localdir *ld, char *out)
{
	uint64_t v = sl_hash_u64(ld->etag_seed ^ sl_hash_u64(++ld->seq));
	snprintf(out, SL_OBJ_ETAG_MAX, "%016llx", (unsigned long long)v);
}

/* An etag for a file that has none (placed there by hand): derived from its identity. */
static void synth_etag(const struct statx *stx, char *out)
{
	snprintf(out, SL_OBJ_ETAG_MAX, "i%llx-%llx-%llx", (unsigned long long)stx->stx_ino,
		 (unsigned long long)stx->stx_mtime.tv_sec,
		 (unsigned long long)stx->stx_mtime.tv_nsec);
}

static uint64_t stx_mtime_ns(const struct statx *stx)
{
	return (uint64_t)stx->stx_mtime.tv_sec * UINT64_C(1000000000) + stx->stx_mtime.tv_nsec;
}

/* ------------------------------------------------------------------------------------------ */
/* Locks                                                                                      */

/* Tries to take the key's bucket lock. 0 held, SL_EAGAIN busy, or an error. Each attempt uses
 * its own open file description, so two requests of one process exclude each other as two
 * processes do. */
static int lock_try(struct ld_op *op)
{
	struct localdir *ld = op->ld;
	if (op->lockfd < 0) {
		char name[32];
		uint64_t h = sl_hash64(op->req->key, strlen(op->req->key), 0) % LOCK_BUCKETS;
		snprintf(name, sizeof(name), LOCK_DIR "/%03llx", (unsigned long long)h);
		op->lockfd = openat(ld->rootfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (op->lockfd < 0)
			return map_errno(errno);
	}
	if (flock(op->lockfd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK || errno == EINTR) {
		ld->st.lock_busy++;
		return SL_EAGAIN;
	}
	return map_errno(errno);
}

static void unlock(struct ld_op *op)
{
	if (op->lockfd >= 0) {
		/* close releases the flock; the explicit unlock documents the intent. */
		flock(op->lockfd, LOCK_UN);
		close(op->lockfd);
		op->lockfd = -1;
	}
}

/* ------------------------------------------------------------------------------------------ */
/* The state machine                                                                          */

static void finish(struct ld_op *op, int rc)
{
	struct localdir *ld = op->ld;
	struct sl_obj_req *req = op->req;
	unlock(op);
	req->result = rc;
	if (rc != 0) {
		sl_buf_unref(req->data);
		req->data = NULL;
	}
	if (req->op == SL_OBJ_PUT) {
		sl_buf_unref(req->body);
		req->body = NULL;
		if (rc != 0)
			req->etag[0] = '\0';
	}
	req_list_push(&ld->done_head, &ld->done_tail, req);
	op->req = NULL;
	op->stage = ST_IDLE;
	op->next = ld->free_ops;
	ld->free_ops = op;
	ld->active--;
	ld->st.completed++;
}

/* Closes what is open and removes the temporary file, one SQE at a time, then finishes with
 * op->err. Used by failures and by the normal end of GET, HEAD and the directory fsync. */
static void cleanup(struct ld_op *op)
{
	if (op->fd >= 0) {
		io_uring_prep_close(sqe_for(op, ST_CLEAN), op->fd);
		op->fd = -1;
		return;
	}
	if (op->tmp_exists) {
		io_uring_prep_unlinkat(sqe_for(op, ST_CLEAN), op->ld->rootfd, op->tmp, 0);
		op->tmp_exists = false;
		return;
	}
	finish(op, op->err);
}

static void fail(struct ld_op *op, int rc)
{
	op->err = rc;
	cleanup(op);
}

/* Creates the directories above key (synchronously: this happens once per new directory, and
 * io_uring's mkdirat would only add a round trip per level). */
static int make_parents(struct localdir *ld, const char *key)
{
	char path[SL_OBJ_KEY_MAX + 1];
	snprintf(path, sizeof(path), "%s", key);
	for (char *p = strchr(path, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdirat(ld->rootfd, path, 0755) != 0 && errno != EEXIST)
			return map_errno(errno);
		*p = '/';
	}
	return 0;
}

static void put_open(struct ld_op *op)
{
	io_uring_prep_openat(sqe_for(op, ST_PUT_OPEN), op->ld->rootfd, op->tmp,
			     O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
}

static void direct_open(struct ld_op *op)
{
	io_uring_prep_openat(sqe_for(op, ST_DIRECT_OPEN), op->ld->rootfd, op->req->key,
			     O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
}

static void put_write(struct ld_op *op)
{
	struct sl_buf *b = op->req->body;
	io_uring_prep_write(sqe_for(op, ST_PUT_WRITE), op->fd, b->data + op->done_len,
			    (unsigned)(b->len - op->done_len), op->done_len);
}

static void put_xattr(struct ld_op *op)
{
	io_uring_prep_fsetxattr(sqe_for(op, ST_PUT_XATTR), op->fd, ETAG_XATTR, op->req->etag, 0,
				(unsigned)strlen(op->req->etag));
}

static void put_locked(struct ld_op *op)
{
	struct sl_obj_req *req = op->req;
	if (req->op == SL_OBJ_DELETE) {
		io_uring_prep_unlinkat(sqe_for(op, ST_DEL_UNLINK), op->ld->rootfd, req->key, 0);
		return;
	}
	if (req->put_mode == SL_OBJ_PUT_OVERWRITE) {
		io_uring_prep_renameat(sqe_for(op, ST_PUT_RENAME), op->ld->rootfd, op->tmp,
				       op->ld->rootfd, req->key, 0);
		return;
	}
	/* getxattr has no dirfd form in io_uring, hence the absolute path. */
	io_uring_prep_getxattr(sqe_for(op, ST_PUT_CHECK), ETAG_XATTR, op->xbuf, op->abs,
			       SL_OBJ_ETAG_MAX - 1);
}

/* Takes the key lock and continues, or parks the op until a later poll. */
static void lock_then(struct ld_op *op)
{
	int rc = lock_try(op);
	if (rc == SL_EAGAIN) {
		op->lock_after = true;
		op->next = op->ld->lockwait;
		op->ld->lockwait = op;
		return;
	}
	op->lock_after = false;
	if (rc != 0) {
		fail(op, rc);
		return;
	}
	put_locked(op);
}

static void dir_sync(struct ld_op *op)
{
	if (!op->ld->cfg.fsync) {
		finish(op, 0);
		return;
	}
	io_uring_prep_openat(sqe_for(op, ST_DIR_OPEN), op->ld->rootfd, op->dir,
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
}

static void get_read(struct ld_op *op)
{
	struct sl_buf *b = op->req->data;
	io_uring_prep_read(sqe_for(op, ST_GET_READ), op->fd, b->data + op->done_len,
			   (unsigned)(op->rd_len - op->done_len), op->rd_off + op->done_len);
}

static void list_run(struct ld_op *op);

static void start(struct localdir *ld, struct sl_obj_req *req)
{
	struct ld_op *op = ld->free_ops;
	ld->free_ops = op->next;
	ld->active++;
	memset(op, 0, offsetof(struct ld_op, stx));
	op->ld = ld;
	op->req = req;
	op->fd = -1;
	op->lockfd = -1;
	req->data = NULL;
	req->entries = NULL;
	req->nentries = 0;
	req->truncated = false;
	switch (req->op) {
	case SL_OBJ_GET:
	case SL_OBJ_HEAD:
		io_uring_prep_openat(sqe_for(op, ST_GET_OPEN), ld->rootfd, req->key,
				     O_RDONLY | O_CLOEXEC, 0);
		return;
	case SL_OBJ_PUT:
		if (snprintf(op->abs, sizeof(op->abs), "%s/%s", ld->root, req->key) >=
		    (int)sizeof(op->abs)) {
			fail(op, SL_EINVAL);
			return;
		}
		key_dir(req->key, op->dir, sizeof(op->dir));
		make_etag(ld, req->etag);
		if (req->put_mode == SL_OBJ_PUT_CREATE_DIRECT) {
			/* Written in place: what a failure must remove is the key itself. */
			snprintf(op->tmp, sizeof(op->tmp), "%s", req->key);
			direct_open(op);
			return;
		}
		/* The creator's pid in the name lets a later open tell abandoned files from
		 * files another live process is still writing. */
		snprintf(op->tmp, sizeof(op->tmp), "%s%s" TMP_PREFIX "%d-%llx-%.8s",
			 strchr(req->key, '/') ? op->dir : "", strchr(req->key, '/') ? "/" : "",
			 (int)getpid(), (unsigned long long)ld->seq, req->etag);
		put_open(op);
		return;
	case SL_OBJ_DELETE:
		key_dir(req->key, op->dir, sizeof(op->dir));
		lock_then(op);
		return;
	case SL_OBJ_LIST:
		list_run(op);
		return;
	}
	fail(op, SL_EINVAL);
}

/* The descriptor of op's directory, from the cache (opened on a miss, synchronously: once per
 * directory while it stays cached). Returns the fd or -1. */
static int dir_fd(struct localdir *ld, const char *dir)
{
	for (uint32_t i = 0; i < DIRFD_CACHE; i++)
		if (ld->dirfds[i].fd >= 0 && strcmp(ld->dirfds[i].dir, dir) == 0)
			return ld->dirfds[i].fd;
	int fd = openat(ld->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	uint32_t i = ld->dirfd_next++ % DIRFD_CACHE;
	/* An fsync in flight on the evicted descriptor holds its own reference to the file. */
	if (ld->dirfds[i].fd >= 0)
		close(ld->dirfds[i].fd);
	snprintf(ld->dirfds[i].dir, sizeof(ld->dirfds[i].dir), "%s", dir);
	ld->dirfds[i].fd = fd;
	return fd;
}

static void direct_write(struct ld_op *op)
{
	struct sl_buf *b = op->req->body;
	io_uring_prep_write(sqe_tagged(op, ST_DIRECT_DATA, TAG_WRITE), op->fd,
			    b->data + op->done_len, (unsigned)(b->len - op->done_len),
			    op->done_len);
	op->pending++;
}

/* Bytes and etag are written: the file and its directory are synced side by side (the new
 * directory entry must be as durable as the bytes), then the put is done and the file is
 * closed without waiting for the close. */
static void direct_sync(struct ld_op *op)
{
	struct localdir *ld = op->ld;
	op->stage_err = 0;
	if (ld->cfg.fsync) {
		/* The directory after the file, not beside it: the file's commit usually carries
		 * the new entry along, and the directory's sync then costs next to nothing,
		 * where two syncs side by side make the journal commit twice. */
		op->pending = 1;
		io_uring_prep_fsync(sqe_tagged(op, ST_DIRECT_SYNC, TAG_FSYNC), op->fd, 0);
		return;
	}
	op->stage = ST_DIRECT_SYNC; /* no sync wanted: done */
	step_direct(op, TAG_NONE, 0);
}

static void step_direct(struct ld_op *op, unsigned tag, int res)
{
	struct sl_obj_req *req = op->req;
	struct localdir *ld = op->ld;
	if (tag == TAG_WRITE && res > 0) {
		op->done_len += (uint64_t)res;
		ld->st.bytes_written += (uint64_t)res;
	}
	if (res < 0 && op->stage_err == 0)
		op->stage_err = map_errno(-res);
	if (tag == TAG_WRITE && res == 0 && op->stage_err == 0)
		op->stage_err = SL_EIO;
	if (tag != TAG_NONE && op->pending > 0)
		op->pending--;
	/* A short write continues where it stopped; the etag may still be on its way. */
	if (tag == TAG_WRITE && res > 0 && op->stage_err == 0 && op->done_len < req->body->len) {
		direct_write(op);
		return;
	}
	if (op->pending > 0)
		return;
	if (op->stage_err != 0) {
		fail(op, op->stage_err);
		return;
	}
	if (op->stage == ST_DIRECT_DATA) {
		direct_sync(op);
		return;
	}
	if (tag == TAG_FSYNC) {
		int dfd = dir_fd(ld, op->dir);
		if (dfd < 0) {
			fail(op, SL_EIO);
			return;
		}
		op->pending = 1;
		io_uring_prep_fsync(sqe_tagged(op, ST_DIRECT_SYNC, TAG_DIRSYNC), dfd, 0);
		return;
	}
	/* Synced: the object is complete and durable. The close goes out with no one waiting
	 * for it (user data 0): the op is free again at once. */
	struct io_uring_sqe *c = sqe_tagged(op, ST_DIRECT_SYNC, TAG_NONE);
	io_uring_prep_close(c, op->fd);
	io_uring_sqe_set_data64(c, 0);
	op->fd = -1;
	op->tmp_exists = false;
	req->size = req->body->len;
	finish(op, 0);
}

/* An open that failed for a missing directory makes the key's parents and opens again, once.
 * Returns whether it took the failure (the op went on or failed). */
static bool open_retried(struct ld_op *op, int res, void (*reopen)(struct ld_op *))
{
	if (res != -ENOENT || op->mkdir_tried)
		return false;
	op->mkdir_tried = true;
	int rc = make_parents(op->ld, op->req->key);
	if (rc != 0)
		fail(op, rc);
	else
		reopen(op);
	return true;
}

static void step(struct ld_op *op, int res)
{
	struct sl_obj_req *req = op->req;
	struct localdir *ld = op->ld;
	switch (op->stage) {
	case ST_IDLE:
		abort();
	case ST_CLEAN:
		cleanup(op);
		return;
	case ST_DIRECT_OPEN:
		if (open_retried(op, res, direct_open))
			return;
		if (res == -EEXIST) {
			ld->st.precond_failed++;
			fail(op, SL_EPRECOND);
			return;
		}
		if (res < 0) {
			fail(op, map_errno(-res));
			return;
		}
		op->fd = res;
		op->tmp_exists = true; /* until synced, a failure removes it (tmp holds the key) */
		op->stage_err = 0;
		op->pending = 1;
		io_uring_prep_fsetxattr(sqe_tagged(op, ST_DIRECT_DATA, TAG_XATTR), op->fd,
					ETAG_XATTR, req->etag, 0, (unsigned)strlen(req->etag));
		if (req->body->len > 0)
			direct_write(op);
		return;
	case ST_DIRECT_DATA:
	case ST_DIRECT_SYNC:
		abort(); /* their CQEs carry tags */
	case ST_PUT_OPEN:
		if (open_retried(op, res, put_open))
			return;
		if (res < 0) {
			fail(op, res == -ENOENT ? SL_EIO : map_errno(-res));
			return;
		}
		op->fd = res;
		op->tmp_exists = true;
		if (req->body->len > 0)
			put_write(op);
		else
			put_xattr(op);
		return;
	case ST_PUT_WRITE:
		if (res <= 0) {
			fail(op, res < 0 ? map_errno(-res) : SL_EIO);
			return;
		}
		op->done_len += (uint64_t)res;
		ld->st.bytes_written += (uint64_t)res;
		if (op->done_len < req->body->len)
			put_write(op);
		else
			put_xattr(op);
		return;
	case ST_PUT_XATTR:
		if (res < 0) {
			fail(op, map_errno(-res));
			return;
		}
		if (ld->cfg.fsync)
			io_uring_prep_fsync(sqe_for(op, ST_PUT_FSYNC), op->fd, 0);
		else
			io_uring_prep_close(sqe_for(op, ST_PUT_CLOSE), op->fd);
		return;
	case ST_PUT_FSYNC:
		if (res < 0) {
			fail(op, map_errno(-res));
			return;
		}
		io_uring_prep_close(sqe_for(op, ST_PUT_CLOSE), op->fd);
		return;
	case ST_PUT_CLOSE:
		op->fd = -1;
		if (res < 0) {
			fail(op, SL_EIO);
			return;
		}
		lock_then(op);
		return;
	case ST_PUT_CHECK: {
		bool ok;
		if (req->put_mode == SL_OBJ_PUT_CREATE)
			ok = res == -ENOENT;
		else
			ok = res >= 0 && (size_t)res == strlen(req->if_match) &&
			     memcmp(op->xbuf, req->if_match, (size_t)res) == 0;
		if (!ok) {
			if (res < 0 && res != -ENOENT && res != -ENODATA && res != -ERANGE) {
				fail(op, map_errno(-res));
				return;
			}
			ld->st.precond_failed++;
			fail(op, SL_EPRECOND);
			return;
		}
		io_uring_prep_renameat(sqe_for(op, ST_PUT_RENAME), ld->rootfd, op->tmp, ld->rootfd,
				       req->key, 0);
		return;
	}
	case ST_PUT_RENAME:
		if (res < 0) {
			fail(op, map_errno(-res));
			return;
		}
		op->tmp_exists = false;
		unlock(op);
		req->size = req->body->len;
		dir_sync(op);
		return;
	case ST_DEL_UNLINK:
		if (res < 0) {
			fail(op,
			     res == -EISDIR || res == -ENOTDIR ? SL_ENOTFOUND : map_errno(-res));
			return;
		}
		unlock(op);
		dir_sync(op);
		return;
	case ST_DIR_OPEN:
		if (res < 0) {
			fail(op, SL_EIO);
			return;
		}
		op->fd = res;
		io_uring_prep_fsync(sqe_for(op, ST_DIR_FSYNC), op->fd, 0);
		return;
	case ST_DIR_FSYNC:
		/* The object is renamed or unlinked either way; an error here means its
		 * durability is unknown, which the caller must hear about. */
		op->err = res < 0 ? SL_EIO : 0;
		cleanup(op);
		return;
	case ST_GET_OPEN:
		if (res < 0) {
			fail(op, res == -ENOENT || res == -ENOTDIR || res == -ENAMETOOLONG
					 ? SL_ENOTFOUND
					 : map_errno(-res));
			return;
		}
		op->fd = res;
		io_uring_prep_statx(sqe_for(op, ST_GET_STATX), op->fd, "", AT_EMPTY_PATH,
				    STATX_BASIC_STATS, &op->stx);
		return;
	case ST_GET_STATX:
		if (res < 0) {
			fail(op, map_errno(-res));
			return;
		}
		if (!S_ISREG(op->stx.stx_mode)) {
			fail(op, SL_ENOTFOUND);
			return;
		}
		req->size = op->stx.stx_size;
		req->mtime_ns = stx_mtime_ns(&op->stx);
		io_uring_prep_fgetxattr(sqe_for(op, ST_GET_XATTR), op->fd, ETAG_XATTR, op->xbuf,
					SL_OBJ_ETAG_MAX - 1);
		return;
	case ST_GET_XATTR:
		if (res > 0) {
			memcpy(req->etag, op->xbuf, (size_t)res);
			req->etag[res] = '\0';
		} else {
			synth_etag(&op->stx, req->etag);
		}
		if (req->op == SL_OBJ_HEAD) {
			op->err = 0;
			cleanup(op);
			return;
		}
		if (req->offset > req->size) {
			fail(op, SL_EINVAL);
			return;
		}
		op->rd_off = req->offset;
		op->rd_len = req->size - req->offset;
		if (req->length > 0 && req->length < op->rd_len)
			op->rd_len = req->length;
		if (op->rd_len > UINT32_MAX - 64) {
			fail(op, SL_ENOMEM); /* larger than one sl_buf */
			return;
		}
		req->data = sl_buf_alloc(op->rd_len > 0 ? op->rd_len : 1);
		if (req->data == NULL) {
			fail(op, SL_ENOMEM);
			return;
		}
		if (op->rd_len == 0) {
			op->err = 0;
			cleanup(op);
			return;
		}
		get_read(op);
		return;
	case ST_GET_READ:
		if (res <= 0) {
			fail(op, res < 0 ? map_errno(-res) : SL_EIO);
			return;
		}
		op->done_len += (uint64_t)res;
		req->data->len = (uint32_t)op->done_len;
		ld->st.bytes_read += (uint64_t)res;
		if (op->done_len < op->rd_len) {
			get_read(op);
			return;
		}
		op->err = 0;
		cleanup(op);
		return;
	}
}

/* ------------------------------------------------------------------------------------------ */
/* LIST                                                                                       */

struct keyvec {
	char **v;
	size_t n, cap;
};

static int keyvec_push(struct keyvec *kv, const char *key)
{
	if (kv->n == kv->cap) {
		size_t cap = kv->cap ? kv->cap * 2 : 64;
		char **nv = realloc(kv->v, cap * sizeof(*nv));
		if (nv == NULL)
			return SL_ENOMEM;
		kv->v = nv;
		kv->cap = cap;
	}
	kv->v[kv->n] = strdup(key);
	if (kv->v[kv->n] == NULL)
		return SL_ENOMEM;
	kv->n++;
	return 0;
}

static void keyvec_free(struct keyvec *kv)
{
	for (size_t i = 0; i < kv->n; i++)
		free(kv->v[i]);
	free(kv->v);
}

/* Walks the directory whose key path is key[0..klen) ("" for the root) and collects the object
 * keys that start with prefix and sort after start_after. */
static int walk(struct localdir *ld, char *key, size_t klen, const char *prefix, size_t plen,
		const char *start_after, struct keyvec *out)
{
	int dfd = openat(ld->rootfd, klen ? key : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : map_errno(errno);
	DIR *d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return SL_ENOMEM;
	}
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
			continue;
		if (strncmp(name, ".sl-", 4) == 0)
			continue;
		size_t nlen = strlen(name);
		size_t clen = klen + (klen ? 1 : 0) + nlen;
		if (clen > SL_OBJ_KEY_MAX)
			continue;
		if (klen)
			key[klen] = '/';
		memcpy(key + klen + (klen ? 1 : 0), name, nlen + 1);
		unsigned char type = de->d_type;
		if (type == DT_UNKNOWN) {
			struct stat sb;
			if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
				goto next;
			type = S_ISDIR(sb.st_mode) ? DT_DIR : S_ISREG(sb.st_mode) ? DT_REG : 0;
		}
		if (type == DT_DIR) {
			/* Descend only where keys can still match the prefix. */
			size_t m = clen < plen ? clen : plen;
			if (memcmp(key, prefix, m) == 0 && (clen >= plen || prefix[clen] == '/'))
				rc = walk(ld, key, clen, prefix, plen, start_after, out);
		} else if (type == DT_REG) {
			if (clen >= plen && memcmp(key, prefix, plen) == 0 &&
			    (start_after == NULL || strcmp(key, start_after) > 0))
				rc = keyvec_push(out, key);
		}
	next:
		key[klen] = '\0';
	}
	closedir(d);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_run(struct ld_op *op)
{
	struct localdir *ld = op->ld;
	struct sl_obj_req *req = op->req;
	const char *prefix = req->prefix != NULL ? req->prefix : "";
	size_t plen = strlen(prefix);
	uint32_t max = req->max_keys ? req->max_keys : ld->cfg.list_max_keys;
	char key[SL_OBJ_KEY_MAX + 1];
	size_t klen = 0;
	/* Start at the prefix's directory when it is a well-formed key path, else at the root. */
	const char *slash = strrchr(prefix, '/');
	if (slash != NULL && (size_t)(slash - prefix) <= SL_OBJ_KEY_MAX) {
		klen = (size_t)(slash - prefix);
		memcpy(key, prefix, klen);
		key[klen] = '\0';
		if (sl_obj_key_check(key) != 0)
			klen = 0;
	}
	key[klen] = '\0';
	struct keyvec kv = {0};
	int rc = walk(ld, key, klen, prefix, plen, req->start_after, &kv);
	if (rc == 0 && kv.n > 0)
		qsort(kv.v, kv.n, sizeof(*kv.v), cmp_str);
	uint32_t n = rc == 0 ? (kv.n < max ? (uint32_t)kv.n : max) : 0;
	if (rc == 0 && n > 0) {
		req->entries = calloc(n, sizeof(*req->entries));
		if (req->entries == NULL)
			rc = SL_ENOMEM;
	}
	uint32_t got = 0;
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		struct statx stx;
		if (statx(ld->rootfd, kv.v[i], AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) != 0)
			continue; /* deleted since the walk */
		struct sl_obj_entry *e = &req->entries[got++];
		e->key = kv.v[i];
		kv.v[i] = NULL;
		e->size = stx.stx_size;
		e->mtime_ns = stx_mtime_ns(&stx);
		char abs[ABS_MAX];
		snprintf(abs, sizeof(abs), "%s/%s", ld->root, e->key);
		ssize_t x = getxattr(abs, ETAG_XATTR, e->etag, SL_OBJ_ETAG_MAX - 1);
		if (x > 0)
			e->etag[x] = '\0';
		else
			synth_etag(&stx, e->etag);
	}
	req->nentries = got;
	req->truncated = rc == 0 && kv.n > max;
	keyvec_free(&kv);
	if (rc != 0) {
		free(req->entries);
		req->entries = NULL;
		req->nentries = 0;
	}
	finish(op, rc);
}

/* ------------------------------------------------------------------------------------------ */
/* Store operations                                                                           */

static int ld_submit(void *impl, struct sl_obj_req *req)
{
	struct localdir *ld = impl;
	if (ld->closed)
		return SL_ECLOSED;
	int rc = validate(req);
	if (rc != 0)
		return rc;
	req->result = 0;
	req_list_push(&ld->pend_head, &ld->pend_tail, req);
	ld->st.submitted++;
	return 0;
}

/* Reaps every available CQE and advances its op. Returns the number reaped. */
static int reap(struct localdir *ld)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	/* Advance ops after marking the CQEs seen, in batches, so a step that queues an SQE
	 * never races the CQ ring. */
	struct ld_op *ops[64];
	int res[64];
	unsigned tags[64];
	for (;;) {
		unsigned k = 0;
		io_uring_for_each_cqe(&ld->ring, head, cqe)
		{
			if (k == 64)
				break;
			uint64_t ud = io_uring_cqe_get_data64(cqe);
			ops[k] = (struct ld_op *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK);
			tags[k] = (unsigned)(ud & TAG_MASK);
			res[k] = cqe->res;
			k++;
		}
		if (k == 0)
			return (int)n;
		io_uring_cq_advance(&ld->ring, k);
		for (unsigned i = 0; i < k; i++) {
			if (ops[i] == NULL)
				continue; /* a close nobody waits for */
			if (tags[i] != TAG_NONE)
				step_direct(ops[i], tags[i], res[i]);
			else
				step(ops[i], res[i]);
		}
		n += k;
	}
}

static void flush_sq(struct localdir *ld)
{
	if (ld->sq_pending == 0)
		return;
	int rc = io_uring_submit(&ld->ring);
	if (rc > 0) {
		ld->st.sqe_submitted += (uint64_t)rc;
		ld->sq_pending -= (uint32_t)rc < ld->sq_pending ? (uint32_t)rc : ld->sq_pending;
	}
}

static int call_done(struct localdir *ld)
{
	int n = 0;
	struct sl_obj_req *r;
	while ((r = req_list_pop(&ld->done_head, &ld->done_tail)) != NULL) {
		n++;
		if (r->done != NULL)
			r->done(r);
	}
	return n;
}

static int ld_poll(void *impl, uint64_t now_ns)
{
	struct localdir *ld = impl;
	(void)now_ns;
	/* Retry parked lock waiters first: they were queued earliest. */
	struct ld_op *w = ld->lockwait;
	ld->lockwait = NULL;
	while (w != NULL) {
		struct ld_op *next = w->next;
		lock_then(w);
		w = next;
	}
	while (ld->free_ops != NULL && ld->pend_head != NULL)
		start(ld, req_list_pop(&ld->pend_head, &ld->pend_tail));
	for (int round = 0; round < 4; round++) {
		flush_sq(ld);
		if (reap(ld) == 0)
			break;
		while (ld->free_ops != NULL && ld->pend_head != NULL)
			start(ld, req_list_pop(&ld->pend_head, &ld->pend_tail));
	}
	flush_sq(ld);
	return call_done(ld);
}

static void ld_destroy(void *impl)
{
	struct localdir *ld = impl;
	ld->closed = true;
	struct sl_obj_req *r;
	while ((r = req_list_pop(&ld->pend_head, &ld->pend_tail)) != NULL) {
		r->result = SL_ECLOSED;
		if (r->op == SL_OBJ_PUT) {
			sl_buf_unref(r->body);
			r->body = NULL;
		}
		req_list_push(&ld->done_head, &ld->done_tail, r);
	}
	/* Ops waiting for a lock give up; ops with I/O in flight run to their end, because the
	 * kernel still writes into their buffers. */
	struct ld_op *w = ld->lockwait;
	ld->lockwait = NULL;
	while (w != NULL) {
		struct ld_op *next = w->next;
		w->lock_after = false;
		fail(w, SL_ECLOSED);
		w = next;
	}
	while (ld->active > 0) {
		flush_sq(ld);
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe(&ld->ring, &cqe) == 0)
			reap(ld);
	}
	call_done(ld);
	io_uring_queue_exit(&ld->ring);
	for (uint32_t i = 0; i < DIRFD_CACHE; i++)
		if (ld->dirfds[i].fd >= 0)
			close(ld->dirfds[i].fd);
	close(ld->rootfd);
	free(ld->ops);
	free(ld);
}

static const struct sl_objstore_ops localdir_ops = {ld_submit, ld_poll, ld_destroy};

int sl_localdir_set_eventfd(struct sl_objstore *s, int fd)
{
	if (s == NULL || s->ops != &localdir_ops || fd < 0)
		return SL_EINVAL;
	struct localdir *ld = s->impl;
	return io_uring_register_eventfd(&ld->ring, fd) == 0 ? 0 : SL_EIO;
}

bool sl_localdir_needs_poll(const struct sl_objstore *s)
{
	if (s == NULL || s->ops != &localdir_ops)
		return false;
	const struct localdir *ld = s->impl;
	return ld->lockwait != NULL || ld->sq_pending > 0;
}

int sl_localdir_stats(struct sl_objstore *s, struct sl_localdir_stats *out)
{
	if (s == NULL || out == NULL || s->ops != &localdir_ops)
		return SL_EINVAL;
	*out = ((struct localdir *)s->impl)->st;
	return 0;
}

/* Deletes temporary files left by processes that no longer exist, in dir and below. */
static void clean_temps(struct localdir *ld, int dfd, int depth)
{
	if (depth > 64)
		return;
	int dup_fd = dup(dfd);
	if (dup_fd < 0)
		return;
	DIR *d = fdopendir(dup_fd);
	if (d == NULL) {
		close(dup_fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    strcmp(name, LOCK_DIR) == 0)
			continue;
		if (strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) {
			long pid = strtol(name + strlen(TMP_PREFIX), NULL, 10);
			bool alive = pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
			if (!alive && unlinkat(dfd, name, 0) == 0)
				ld->st.temp_cleaned++;
			continue;
		}
		struct stat sb;
		if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode)) {
			int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sub >= 0) {
				clean_temps(ld, sub, depth + 1);
				close(sub);
			}
		}
	}
	closedir(d);
}

int sl_localdir_open(const char *root, const struct sl_localdir_config *cfg,
		     struct sl_objstore **out)
{
	if (root == NULL || out == NULL)
		return SL_EINVAL;
	struct sl_localdir_config c;
	if (cfg != NULL)
		c = *cfg;
	else
		sl_localdir_config_default(&c);
	if (c.queue_depth == 0 || c.max_inflight == 0 || c.max_inflight > c.queue_depth)
		return SL_EINVAL;
	if (c.list_max_keys == 0)
		c.list_max_keys = DEFAULT_LISTMAX;
	if (mkdir(root, 0755) != 0 && errno != EEXIST)
		return SL_EIO;
	struct localdir *ld = calloc(1, sizeof(*ld));
	if (ld == NULL)
		return SL_ENOMEM;
	ld->cfg = c;
	if (realpath(root, ld->root) == NULL) {
		free(ld);
		return SL_EIO;
	}
	ld->rootfd = open(ld->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ld->rootfd < 0) {
		free(ld);
		return SL_EIO;
	}
	if (mkdirat(ld->rootfd, LOCK_DIR, 0755) != 0 && errno != EEXIST) {
		close(ld->rootfd);
		free(ld);
		return SL_EIO;
	}
	/* The etag scheme needs user xattrs: refuse a root that cannot keep them. */
	char probe[64];
	snprintf(probe, sizeof(probe), LOCK_DIR "/probe-%d", (int)getpid());
	int pfd = openat(ld->rootfd, probe, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	int xrc = pfd >= 0 ? fsetxattr(pfd, ETAG_XATTR, "x", 1, 0) : -1;
	int xerr = errno;
	if (pfd >= 0) {
		close(pfd);
		unlinkat(ld->rootfd, probe, 0);
	}
	if (xrc != 0) {
		close(ld->rootfd);
		free(ld);
		return xerr == ENOTSUP ? SL_ENOTSUP : SL_EIO;
	}
	clean_temps(ld, ld->rootfd, 0);
	ld->ops = calloc(c.max_inflight, sizeof(*ld->ops));
	if (ld->ops == NULL) {
		close(ld->rootfd);
		free(ld);
		return SL_ENOMEM;
	}
	for (uint32_t i = 0; i < c.max_inflight; i++) {
		ld->ops[i].next = ld->free_ops;
		ld->free_ops = &ld->ops[i];
	}
	for (uint32_t i = 0; i < DIRFD_CACHE; i++)
		ld->dirfds[i].fd = -1;
	int rc = io_uring_queue_init(c.queue_depth, &ld->ring, 0);
	if (rc != 0) {
		free(ld->ops);
		close(ld->rootfd);
		free(ld);
		return rc == -ENOMEM ? SL_ENOMEM : SL_ENOTSUP;
	}
	if (getrandom(&ld->etag_seed, sizeof(ld->etag_seed), 0) != sizeof(ld->etag_seed))
		ld->etag_seed = sl_hash_u64((uint64_t)getpid() ^ (uint64_t)(uintptr_t)ld);
	ld->pub.ops = &localdir_ops;
	ld->pub.impl = ld;
	ld->pub.name = "localdir";
	*out = &ld->pub;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Ring proxy                                                                                 */

struct ld_proxy {
	struct sl_objstore pub;
	struct rte_ring *to_io;
	struct rte_ring *from_io;
	uint32_t inflight;
	bool closed;
	struct sl_bell *bell; /* the io core's doorbell, rung after each request queued */
};

static int proxy_submit(void *impl, struct sl_obj_req *req)
{
	struct ld_proxy *p = impl;
	if (p->closed)
		return SL_ECLOSED;
	int rc = validate(req);
	if (rc != 0)
		return rc;
	struct sl_msg m = {.type = SL_MSG_IO, .obj = req};
	if (sl_ring_send(p->to_io, &m, 1) != 1)
		return SL_ENOSPC;
	p->inflight++;
	if (p->bell != NULL)
		sl_bell_ring(p->bell);
	return 0;
}

static int proxy_poll(void *impl, uint64_t now_ns)
{
	struct ld_proxy *p = impl;
	(void)now_ns;
	struct sl_msg m[32];
	int total = 0;
	unsigned n;
	while ((n = sl_ring_recv(p->from_io, m, 32)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			struct sl_obj_req *req = m[i].obj;
			p->inflight--;
			if (req->done != NULL)
				req->done(req);
		}
		total += (int)n;
	}
	return total;
}

static void proxy_destroy(void *impl)
{
	struct ld_proxy *p = impl;
	p->closed = true;
	/* Requests on the io side still point at callers' memory: wait for all of them. */
	while (p->inflight > 0)
		if (proxy_poll(p, 0) == 0)
			sched_yield();
	free(p);
}

static const struct sl_objstore_ops proxy_ops = {proxy_submit, proxy_poll, proxy_destroy};

int sl_localdir_proxy_new(struct rte_ring *to_io, struct rte_ring *from_io,
			  struct sl_objstore **out)
{
	if (to_io == NULL || from_io == NULL || out == NULL)
		return SL_EINVAL;
	struct ld_proxy *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return SL_ENOMEM;
	p->to_io = to_io;
	p->from_io = from_io;
	p->pub.ops = &proxy_ops;
	p->pub.impl = p;
	p->pub.name = "localdir-proxy";
	*out = &p->pub;
	return 0;
}

int sl_localdir_proxy_set_bell(struct sl_objstore *proxy, struct sl_bell *bell)
{
	if (proxy == NULL || proxy->ops != &proxy_ops)
		return SL_EINVAL;
	((struct ld_proxy *)proxy->impl)->bell = bell;
	return 0;
}

struct sl_localdir_server {
	struct sl_objstore *backend;
	struct rte_ring *from_shard;
	struct rte_ring *to_shard;
	uint32_t inflight;
	/* Completed requests waiting for room on to_shard, in completion order. The backend is
	 * done with a request once it called done, so its next_ link is free to use. */
	struct sl_obj_req *out_head, *out_tail;
};

static void serve_done(struct sl_obj_req *req)
{
	struct sl_localdir_server *srv = req->user;
	req->done = req->proxy_done_;
	req->user = req->proxy_user_;
	req_list_push(&srv->out_head, &srv->out_tail, req);
}

struct sl_localdir_server *sl_localdir_server_new(struct sl_objstore *backend,
						  struct rte_ring *from_shard,
						  struct rte_ring *to_shard)
{
	if (backend == NULL || from_shard == NULL || to_shard == NULL)
		return NULL;
	struct sl_localdir_server *srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return NULL;
	srv->backend = backend;
	srv->from_shard = from_shard;
	srv->to_shard = to_shard;
	return srv;
}

int sl_localdir_serve(struct sl_localdir_server *srv, uint64_t now_ns)
{
	struct sl_msg m[32];
	unsigned n = sl_ring_recv(srv->from_shard, m, 32);
	for (unsigned i = 0; i < n; i++) {
		struct sl_obj_req *req = m[i].obj;
		srv->inflight++;
		req->proxy_done_ = req->done;
		req->proxy_user_ = req->user;
		req->done = serve_done;
		req->user = srv;
		int rc = sl_objstore_submit(srv->backend, req);
		if (rc != 0) {
			/* The shard already saw submit succeed: the error travels back as the
			 * request's result (a PUT body is released, as a store would). */
			req->result = rc;
			if (req->op == SL_OBJ_PUT) {
				sl_buf_unref(req->body);
				req->body = NULL;
			}
			serve_done(req);
		}
	}
	sl_objstore_poll(srv->backend, now_ns);
	int sent = 0;
	while (srv->out_head != NULL) {
		/* Unlink before sending: once on the ring the request is the shard's again, and
		 * it may be reused or freed before this core looks at it another time. */
		struct sl_obj_req *r = srv->out_head;
		struct sl_obj_req *next = r->next_;
		r->next_ = NULL;
		struct sl_msg c = {.type = SL_MSG_IO, .obj = r};
		if (sl_ring_send(srv->to_shard, &c, 1) != 1) {
			r->next_ = next;
			break;
		}
		srv->out_head = next;
		if (next == NULL)
			srv->out_tail = NULL;
		srv->inflight--;
		sent++;
	}
	return sent;
}

uint32_t sl_localdir_server_inflight(const struct sl_localdir_server *srv)
{
	return srv->inflight;
}

void sl_localdir_server_free(struct sl_localdir_server *srv)
{
	free(srv);
}

#define T struct sl_localdir_stats
const struct sl_stat_field sl_localdir_stats_fields[] = {
	SL_STAT_U(T, submitted, NULL),
	SL_STAT_U(T, completed, NULL),
	SL_STAT_U(T, bytes_written, NULL),
	SL_STAT_U(T, bytes_read, NULL),
	SL_STAT_U(T, lock_busy, NULL),
	SL_STAT_U(T, precond_failed, NULL),
	SL_STAT_U(T, temp_cleaned, NULL),
	SL_STAT_U(T, sqe_submitted, NULL),
	SL_STAT_TABLE_END,
};
#undef T
