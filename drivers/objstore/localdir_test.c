/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the localdir object store on real files and a real io_uring: the backend-independent
 * conformance checks, durability across reopen, temporary files, conditional puts raced by two
 * processes, ENOSPC on a tiny tmpfs, and the ring proxy across two threads.
 */
#include "core/test_common.h"
#include "core/err.h"
#include "core/ring.h"
#include "drivers/objstore/conformance.h"
#include "drivers/objstore/localdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

/* A fresh directory on the real disk (tmpfs may lack user xattrs on older kernels). */
static char *mkroot(void)
{
	char *t = strdup("/tmp/sl-localdir-XXXXXX");
	assert_non_null(mkdtemp(t));
	return t;
}

static void rmtree(const char *path)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static struct sl_objstore *open_store(const char *root)
{
	struct sl_objstore *s = NULL;
	assert_int_equal(sl_localdir_open(root, NULL, &s), 0);
	assert_non_null(s);
	assert_string_equal(s->name, "localdir");
	return s;
}

static int put(struct sl_objstore *s, const char *key, const void *p, size_t n,
	       enum sl_obj_put_mode mode, const char *if_match, char *etag)
{
	struct sl_obj_req r;
	memset(&r, 0, sizeof(r));
	r.op = SL_OBJ_PUT;
	r.key = key;
	r.put_mode = mode;
	r.body = n > 0 ? sl_buf_from(p, n) : sl_buf_alloc(1);
	if (if_match != NULL)
		snprintf(r.if_match, sizeof(r.if_match), "%s", if_match);
	int rc = sl_objstore_run(s, &r);
	if (etag != NULL)
		memcpy(etag, r.etag, SL_OBJ_ETAG_MAX);
	sl_obj_req_reset(&r);
	return rc;
}

/* GETs key into buf (NUL-terminated); returns the result. */
static int get(struct sl_objstore *s, const char *key, char *buf, size_t cap, char *etag)
{
	struct sl_obj_req r;
	memset(&r, 0, sizeof(r));
	r.op = SL_OBJ_GET;
	r.key = key;
	int rc = sl_objstore_run(s, &r);
	if (rc == 0) {
		size_t n = r.data->len < cap - 1 ? r.data->len : cap - 1;
		memcpy(buf, r.data->data, n);
		buf[n] = '\0';
		if (etag != NULL)
			memcpy(etag, r.etag, SL_OBJ_ETAG_MAX);
	}
	sl_obj_req_reset(&r);
	return rc;
}

static uint32_t list_count(struct sl_objstore *s, const char *prefix)
{
	struct sl_obj_req r;
	memset(&r, 0, sizeof(r));
	r.op = SL_OBJ_LIST;
	r.prefix = prefix;
	assert_int_equal(sl_objstore_run(s, &r), 0);
	uint32_t n = r.nentries;
	sl_obj_req_reset(&r);
	return n;
}

/* Counts ".sl-tmp-" files in dir (not recursive). */
static int count_temps(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, ".sl-tmp-", 8) == 0)
			n++;
	closedir(d);
	return n;
}

static void conformance(void **state)
{
	(void)state;
	char *root = mkroot();
	struct sl_objstore *s = open_store(root);
	char msg[512];
	int rc = sl_objstore_conformance(s, msg, sizeof(msg));
	if (rc != 0)
		fail_msg("%s", msg);
	struct sl_localdir_stats st;
	assert_int_equal(sl_localdir_stats(s, &st), 0);
	assert_int_equal(st.submitted, st.completed);
	assert_true(st.precond_failed >= 5);
	sl_objstore_destroy(s);
	/* Puts left no temporary files behind. */
	char sub[600];
	snprintf(sub, sizeof(sub), "%s/cond", root);
	assert_int_equal(count_temps(root), 0);
	assert_int_equal(count_temps(sub), 0);
	rmtree(root);
	free(root);
}

/* The on-disk layout is what docs/buffer-formats.md says: the object is a plain file at
 * ROOT/<key> and its etag is the user.sl.etag xattr. */
static void files_and_xattrs_on_disk(void **state)
{
	(void)state;
	char *root = mkroot();
	struct sl_objstore *s = open_store(root);
	char etag[SL_OBJ_ETAG_MAX];
	assert_int_equal(put(s, "x/y/z.batch", "payload", 7, SL_OBJ_PUT_OVERWRITE, NULL, etag), 0);
	char path[600], buf[64];
	snprintf(path, sizeof(path), "%s/x/y/z.batch", root);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "payload", 7);
	close(fd);
	ssize_t n = getxattr(path, "user.sl.etag", buf, sizeof(buf));
	assert_int_equal(n, (ssize_t)strlen(etag));
	assert_memory_equal(buf, etag, (size_t)n);
	/* A key that would need an object as a directory is refused, not half-done. */
	assert_int_equal(put(s, "x/y/z.batch/sub", "p", 1, SL_OBJ_PUT_OVERWRITE, NULL, NULL),
			 SL_EINVAL);
	assert_int_equal(list_count(s, ""), 1);
	/* A file placed by hand (no xattr) is served with a derived etag. */
	snprintf(path, sizeof(path), "%s/x/hand", root);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_int_equal(write(fd, "hi", 2), 2);
	close(fd);
	char e2[SL_OBJ_ETAG_MAX];
	assert_int_equal(get(s, "x/hand", buf, sizeof(buf), e2), 0);
	assert_string_equal(buf, "hi");
	assert_true(e2[0] != '\0');
	assert_int_equal(put(s, "x/hand", "no", 2, SL_OBJ_PUT_IF_MATCH, e2, NULL), SL_EPRECOND);
	sl_objstore_destroy(s);
	rmtree(root);
	free(root);
}

static void put_survives_reopen(void **state)
{
	(void)state;
	char *root = mkroot();
	struct sl_objstore *s = open_store(root);
	char etag[SL_OBJ_ETAG_MAX], e2[SL_OBJ_ETAG_MAX], buf[64];
	assert_int_equal(put(s, "manifest", "m1", 2, SL_OBJ_PUT_CREATE, NULL, etag), 0);
	sl_objstore_destroy(s);
	s = open_store(root);
	assert_int_equal(get(s, "manifest", buf, sizeof(buf), e2), 0);
	assert_string_equal(buf, "m1");
	assert_string_equal(e2, etag);
	/* The etag survives too, so a conditional put after a restart works. */
	assert_int_equal(put(s, "manifest", "m2", 2, SL_OBJ_PUT_IF_MATCH, etag, NULL), 0);
	sl_objstore_destroy(s);
	rmtree(root);
	free(root);
}

static pid_t dead_pid(void)
{
	pid_t p = fork();
	assert_true(p >= 0);
	if (p == 0)
		_exit(0);
	int st;
	waitpid(p, &st, 0);
	return p;
}

static void temp_files_hidden_and_cleaned(void **state)
{
	(void)state;
	char *root = mkroot();
	struct sl_objstore *s = open_store(root);
	assert_int_equal(put(s, "d/obj", "o", 1, SL_OBJ_PUT_OVERWRITE, NULL, NULL), 0);
	sl_objstore_destroy(s);

	/* Leftovers of a crashed writer, and one of a writer that is still alive (us). */
	pid_t dead = dead_pid();
	char path[600];
	snprintf(path, sizeof(path), "%s/.sl-tmp-%d-1-deadbeef", root, (int)dead);
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/d/.sl-tmp-%d-2-deadbeef", root, (int)dead);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/d/.sl-tmp-%d-3-livelive", root, (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);

	s = open_store(root);
	struct sl_localdir_stats st;
	assert_int_equal(sl_localdir_stats(s, &st), 0);
	assert_int_equal(st.temp_cleaned, 2);
	char d[600];
	snprintf(d, sizeof(d), "%s/d", root);
	assert_int_equal(count_temps(root), 0);
	assert_int_equal(count_temps(d), 1); /* the live writer's file stays */
	/* Neither temp files nor the lock directory are ever listed. */
	assert_int_equal(list_count(s, ""), 1);
	assert_int_equal(list_count(s, "d/"), 1);
	assert_int_equal(list_count(s, ".sl"), 0);
	sl_objstore_destroy(s);
	rmtree(root);
	free(root);
}

/* Many requests in flight at once, more than max_inflight, several on one key: the FIFO and
 * the in-process lock path. Every completion arrives; the key holds one of the bodies. */
struct counter {
	int done;
	int ok;
};

static void count_done(struct sl_obj_req *r)
{
	struct counter *c = r->user;
	c->done++;
	if (r->result == 0)
		c->ok++;
}

static void many_in_flight(void **state)
{
	(void)state;
	char *root = mkroot();
	struct sl_localdir_config cfg;
	sl_localdir_config_default(&cfg);
	cfg.max_inflight = 4;
	cfg.queue_depth = 8;
	struct sl_objstore *s;
	assert_int_equal(sl_localdir_open(root, &cfg, &s), 0);
	enum { N = 40 };
	struct sl_obj_req r[N];
	char keys[N][16];
	struct counter c = {0, 0};
	for (int i = 0; i < N; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].op = SL_OBJ_PUT;
		snprintf(keys[i], sizeof(keys[i]), i % 2 ? "same" : "k%d", i);
		r[i].key = keys[i];
		r[i].body = sl_buf_from(keys[i], strlen(keys[i]) + 1);
		r[i].done = count_done;
		r[i].user = &c;
		assert_int_equal(sl_objstore_submit(s, &r[i]), 0);
	}
	while (c.done < N)
		sl_objstore_poll(s, 0);
	assert_int_equal(c.ok, N);
	char buf[32];
	assert_int_equal(get(s, "same", buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "same");
	assert_int_equal(list_count(s, ""), N / 2 + 1);
	for (int i = 0; i < N; i++)
		sl_obj_req_reset(&r[i]);

	/* Destroy completes queued requests with SL_ECLOSED and refuses new ones. */
	c.done = c.ok = 0;
	int closed = 0;
	for (int i = 0; i < 10; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].op = SL_OBJ_HEAD;
		r[i].key = "same";
		r[i].done = count_done;
		r[i].user = &c;
		assert_int_equal(sl_objstore_submit(s, &r[i]), 0);
	}
	sl_objstore_destroy(s);
	for (int i = 0; i < 10; i++)
		closed += r[i].result == SL_ECLOSED;
	assert_int_equal(c.done, 10);
	assert_int_equal(closed, 10);
	rmtree(root);
	free(root);
}

/* ---- two processes ---- */

struct shared {
	pthread_barrier_t bar;
	int wins[2][64];
	int lost_updates;
};

#define ROUNDS 64

static struct shared *shared_new(void)
{
	struct shared *sh =
		mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	pthread_barrierattr_t a;
	pthread_barrierattr_init(&a);
	pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&sh->bar, &a, 2);
	pthread_barrierattr_destroy(&a);
	return sh;
}

static void create_racer(const char *root, struct shared *sh, int me)
{
	struct sl_objstore *s;
	if (sl_localdir_open(root, NULL, &s) != 0)
		_exit(2);
	for (int i = 0; i < ROUNDS; i++) {
		char key[32], body[8];
		snprintf(key, sizeof(key), "race/%d", i);
		snprintf(body, sizeof(body), "p%d", me);
		pthread_barrier_wait(&sh->bar);
		int rc = put(s, key, body, strlen(body), SL_OBJ_PUT_CREATE, NULL, NULL);
		if (rc == 0)
			sh->wins[me][i] = 1;
		else if (rc != SL_EPRECOND)
			_exit(3);
	}
	sl_objstore_destroy(s);
	_exit(0);
}

static void create_race_between_processes(void **state)
{
	(void)state;
	char *root = mkroot();
	struct sl_objstore *s = open_store(root); /* creates the root and lock directory */
	struct shared *sh = shared_new();
	pid_t p[2];
	for (int me = 0; me < 2; me++) {
		p[me] = fork();
		assert_true(p[me] >= 0);
		if (p[me] == 0)
			create_racer(root, sh, me);
	}
	for (int me = 0; me < 2; me++) {
		int st;
		assert_int_equal(waitpid(p[me], &st, 0), p[me]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	for (int i = 0; i < ROUNDS; i++) {
		if (sh->wins[0][i] + sh->wins[1][i] != 1)
			fail_msg("round %d: %d winners", i, sh->wins[0][i] + sh->wins[1][i]);
		char key[32], buf[16], want[8];
		snprintf(key, sizeof(key), "race/%d", i);
		snprintf(want, sizeof(want), "p%d", sh->wins[0][i] ? 0 : 1);
		assert_int_equal(get(s, key, buf, sizeof(buf), NULL), 0);
		assert_string_equal(buf, want);
	}
	sl_objstore_destroy(s);
	munmap(sh, sizeof(*sh));
	rmtree(root);
	free(root);
}

#define INCREMENTS 60

static void increment_racer(const char *root, struct shared *sh)
{
	struct sl_objstore *s;
	if (sl_localdir_open(root, NULL, &s) != 0)
		_exit(2);
	pthread_barrier_wait(&sh->bar);
	for (int i = 0; i < INCREMENTS; i++) {
		for (;;) {
			char buf[32], etag[SL_OBJ_ETAG_MAX], body[32];
			if (get(s, "counter", buf, sizeof(buf), etag) != 0)
				_exit(3);
			snprintf(body, sizeof(body), "%ld", strtol(buf, NULL, 10) + 1);
			int rc = put(s, "counter", body, strlen(body), SL_OBJ_PUT_IF_MATCH, etag,
				     NULL);
			if (rc == 0)
				break;
			if (rc != SL_EPRECOND)
				_exit(4);
			__atomic_fetch_add(&sh->lost_updates, 1, __ATOMIC_RELAXED);
		}
	}
	sl_objstore_destroy(s);
	_exit(0);
}

/* Read-modify-write with IF_MATCH from two processes: no increment is lost. */
static void if_match_race_between_processes(void **state)
{
	(void)state;
	char *root = mkroot();
	struct sl_objstore *s = open_store(root);
	assert_int_equal(put(s, "counter", "0", 1, SL_OBJ_PUT_CREATE, NULL, NULL), 0);
	struct shared *sh = shared_new();
	pid_t p[2];
	for (int me = 0; me < 2; me++) {
		p[me] = fork();
		assert_true(p[me] >= 0);
		if (p[me] == 0)
			increment_racer(root, sh);
	}
	for (int me = 0; me < 2; me++) {
		int st;
		assert_int_equal(waitpid(p[me], &st, 0), p[me]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	char buf[32];
	assert_int_equal(get(s, "counter", buf, sizeof(buf), NULL), 0);
	assert_int_equal(strtol(buf, NULL, 10), 2 * INCREMENTS);
	/* The race was real: some attempts lost the etag race and retried. */
	print_message("if_match race: %d refused attempts retried\n", sh->lost_updates);
	sl_objstore_destroy(s);
	munmap(sh, sizeof(*sh));
	rmtree(root);
	free(root);
}

/* ---- ENOSPC ---- */

static void enospc_on_tiny_tmpfs(void **state)
{
	(void)state;
	char *root = mkroot();
	if (mount("tmpfs", root, "tmpfs", 0, "size=256k") != 0) {
		print_message("skipped: cannot mount a tmpfs (%s)\n", strerror(errno));
		rmtree(root);
		free(root);
		skip();
	}
	struct sl_objstore *s;
	int rc = sl_localdir_open(root, NULL, &s);
	if (rc == SL_ENOTSUP) {
		umount(root);
		rmtree(root);
		free(root);
		print_message("skipped: tmpfs without user xattrs\n");
		skip();
	}
	assert_int_equal(rc, 0);
	size_t n = 1u << 20;
	char *big = malloc(n);
	memset(big, 'b', n);
	assert_int_equal(put(s, "data/big", big, n, SL_OBJ_PUT_OVERWRITE, NULL, NULL), SL_ENOSPC);
	/* No partial object, no temporary file. */
	char buf[16];
	assert_int_equal(get(s, "data/big", buf, sizeof(buf), NULL), SL_ENOTFOUND);
	assert_int_equal(list_count(s, ""), 0);
	char d[600];
	snprintf(d, sizeof(d), "%s/data", root);
	assert_int_equal(count_temps(d), 0);
	/* The space came back: a small put works. */
	assert_int_equal(put(s, "data/small", "ok", 2, SL_OBJ_PUT_OVERWRITE, NULL, NULL), 0);
	/* An overwrite that does not fit leaves the old object intact. */
	assert_int_equal(put(s, "data/small", big, n, SL_OBJ_PUT_OVERWRITE, NULL, NULL), SL_ENOSPC);
	assert_int_equal(get(s, "data/small", buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "ok");
	free(big);
	sl_objstore_destroy(s);
	assert_int_equal(umount(root), 0);
	rmtree(root);
	free(root);
}

/* ---- ring proxy ---- */

struct io_thread {
	struct sl_localdir_server *srv;
	struct sl_objstore *backend;
	int stop;
	pthread_t self;
	pthread_t tid;
};

static void *io_main(void *arg)
{
	struct io_thread *t = arg;
	t->self = pthread_self();
	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE))
		if (sl_localdir_serve(t->srv, 0) == 0)
			sched_yield();
	return NULL;
}

static pthread_t done_thread;
static void note_thread(struct sl_obj_req *r)
{
	/* done runs on the shard side (the polling thread), never on the io thread. */
	done_thread = pthread_self();
	((struct counter *)r->user)->done++;
	if (r->result == 0)
		((struct counter *)r->user)->ok++;
}

static void proxy_across_threads(void **state)
{
	(void)state;
	char *root = mkroot();
	struct io_thread t = {0};
	t.backend = open_store(root);
	struct rte_ring *to_io = sl_ring_alloc("to_io", 16);
	struct rte_ring *from_io = sl_ring_alloc("from_io", 16);
	assert_non_null(to_io);
	assert_non_null(from_io);
	t.srv = sl_localdir_server_new(t.backend, to_io, from_io);
	assert_non_null(t.srv);
	struct sl_objstore *proxy;
	assert_int_equal(sl_localdir_proxy_new(to_io, from_io, &proxy), 0);
	assert_int_equal(pthread_create(&t.tid, NULL, io_main, &t), 0);

	/* The whole contract holds through the proxy. */
	char msg[512];
	if (sl_objstore_conformance(proxy, msg, sizeof(msg)) != 0)
		fail_msg("%s", msg);

	/* Bad requests are refused on the shard side, synchronously. */
	struct sl_obj_req bad;
	memset(&bad, 0, sizeof(bad));
	bad.op = SL_OBJ_GET;
	bad.key = "../etc";
	assert_int_equal(sl_objstore_submit(proxy, &bad), SL_EINVAL);

	/* Many asynchronous requests, more than the ring holds: ENOSPC means poll and retry. */
	enum { N = 100 };
	static struct sl_obj_req r[N];
	static char keys[N][16];
	struct counter c = {0, 0};
	int enospc = 0;
	for (int i = 0; i < N; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].op = SL_OBJ_PUT;
		snprintf(keys[i], sizeof(keys[i]), "p/%03d", i);
		r[i].key = keys[i];
		r[i].body = sl_buf_from(keys[i], strlen(keys[i]));
		r[i].done = note_thread;
		r[i].user = &c;
		int rc;
		while ((rc = sl_objstore_submit(proxy, &r[i])) == SL_ENOSPC) {
			enospc++;
			sl_objstore_poll(proxy, 0);
		}
		assert_int_equal(rc, 0);
	}
	while (c.done < N)
		if (sl_objstore_poll(proxy, 0) == 0)
			sched_yield();
	assert_int_equal(c.ok, N);
	assert_true(pthread_equal(done_thread, pthread_self()));
	assert_true(enospc > 0);
	for (int i = 0; i < N; i++) {
		assert_ptr_equal(r[i].done, note_thread); /* the caller's done and user are back */
		assert_ptr_equal(r[i].user, &c);
		sl_obj_req_reset(&r[i]);
	}
	assert_int_equal(list_count(proxy, "p/"), N);

	sl_objstore_destroy(proxy);
	__atomic_store_n(&t.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t.tid, NULL);
	assert_int_equal(sl_localdir_server_inflight(t.srv), 0);
	sl_localdir_server_free(t.srv);
	sl_objstore_destroy(t.backend);
	free(to_io);
	free(from_io);
	rmtree(root);
	free(root);
}

static void open_errors(void **state)
{
	(void)state;
	struct sl_objstore *s;
	assert_int_equal(sl_localdir_open(NULL, NULL, &s), SL_EINVAL);
	assert_int_equal(sl_localdir_open("/tmp", NULL, NULL), SL_EINVAL);
	struct sl_localdir_config cfg;
	sl_localdir_config_default(&cfg);
	cfg.max_inflight = cfg.queue_depth + 1;
	assert_int_equal(sl_localdir_open("/tmp/x", &cfg, &s), SL_EINVAL);
	assert_int_equal(sl_localdir_open("/proc/nonexistent/dir", NULL, &s), SL_EIO);
	struct sl_localdir_stats st;
	assert_int_equal(sl_localdir_stats(NULL, &st), SL_EINVAL);
	assert_int_equal(sl_localdir_proxy_new(NULL, NULL, &s), SL_EINVAL);
	assert_null(sl_localdir_server_new(NULL, NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(conformance),
		cmocka_unit_test(files_and_xattrs_on_disk),
		cmocka_unit_test(put_survives_reopen),
		cmocka_unit_test(temp_files_hidden_and_cleaned),
		cmocka_unit_test(many_in_flight),
		cmocka_unit_test(create_race_between_processes),
		cmocka_unit_test(if_match_race_between_processes),
		cmocka_unit_test(enospc_on_tiny_tmpfs),
		cmocka_unit_test(proxy_across_threads),
		cmocka_unit_test(open_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
