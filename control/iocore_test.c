/* SPDX-License-Identifier: Apache-2.0 */
#include "control/iocore.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ring.h"
#include "core/test_common.h"
#include "durable/dshard.h"
#include "drivers/objstore/conformance.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Real files and a real io_uring: a localdir store under a fresh directory, its io core on a
 * thread, and clients that reach it only through ring proxies, as cores do in the daemon. */

struct fixture {
	char root[64];
	struct sl_iocore *io;
	struct rte_ring *ctl_in, *ctl_out, *in[2], *out[2];
	struct sl_objstore *client[2];
	pthread_t tid;
};

static void *io_thread(void *arg)
{
	sl_iocore_main(arg);
	return NULL;
}

static void start(struct fixture *f, unsigned nclients, uint64_t poll_idle_ns)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->root, sizeof(f->root), "/tmp/sl-iocore-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	struct sl_iocore_config c = {.id = 3, .poll_idle_ns = poll_idle_ns};
	assert_int_equal(sl_localdir_open(f->root, NULL, &c.store), 0);
	f->ctl_in = c.ctl_in = sl_ring_alloc("ci", 8);
	f->ctl_out = c.ctl_out = sl_ring_alloc("co", 8);
	assert_non_null(f->ctl_in);
	assert_non_null(f->ctl_out);
	for (unsigned i = 0; i < nclients; i++) {
		f->in[i] = c.req_in[i] = sl_ring_alloc("in", 64);
		f->out[i] = c.req_out[i] = sl_ring_alloc("out", 64);
		assert_non_null(f->in[i]);
		assert_non_null(f->out[i]);
		assert_int_equal(sl_localdir_proxy_new(f->in[i], f->out[i], &f->client[i]), 0);
	}
	c.nclients = nclients;
	assert_int_equal(sl_iocore_new(&c, &f->io), 0);
	/* As in the daemon: every client's proxy rings the io core when it queues a request. */
	for (unsigned i = 0; i < nclients; i++)
		assert_int_equal(sl_localdir_proxy_set_bell(f->client[i], sl_iocore_bell(f->io)),
				 0);
	assert_int_equal(pthread_create(&f->tid, NULL, io_thread, f->io), 0);
}

static void ctl(struct fixture *f, uint32_t what, uint64_t id, void *obj)
{
	struct sl_msg m = {.type = SL_MSG_CONTROL, .u32 = what, .u64 = id, .obj = obj};
	assert_int_equal(sl_ring_send(f->ctl_in, &m, 1), 1);
	sl_iocore_wake(f->io);
}

/* Sends a request and waits for its reply (the next one on the ring); returns its obj. */
static void *request(struct fixture *f, uint32_t what, void *obj)
{
	static uint64_t id;
	ctl(f, what, ++id, obj);
	struct sl_msg r;
	uint64_t deadline = sl_clock_now_ns() + 10ull * 1000 * 1000 * 1000;
	while (sl_ring_recv(f->ctl_out, &r, 1) != 1) {
		assert_true(sl_clock_now_ns() < deadline);
		sched_yield();
	}
	assert_int_equal(r.type, SL_MSG_CONTROL);
	assert_int_equal(r.u32, what);
	assert_int_equal(r.u64, id);
	return r.obj;
}

static struct sl_iocore_stats stats(struct fixture *f)
{
	struct sl_iocore_stats *r = request(f, SL_IOCORE_CTL_STATS, NULL);
	assert_non_null(r);
	struct sl_iocore_stats s = *r;
	free(r);
	return s;
}

static void stop(struct fixture *f, unsigned nclients)
{
	for (unsigned i = 0; i < nclients; i++)
		sl_objstore_destroy(f->client[i]); /* waits until its requests came back */
	ctl(f, SL_IOCORE_CTL_STOP, 0, NULL);
	pthread_join(f->tid, NULL);
	sl_iocore_free(f->io);
	free(f->ctl_in);
	free(f->ctl_out);
	for (unsigned i = 0; i < nclients; i++) {
		free(f->in[i]);
		free(f->out[i]);
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
}

/* The object-store contract holds through the io core, which sleeps on its doorbell between
 * requests and is woken by the client's proxy. */
static void conformance_through_io_core(void **state)
{
	(void)state;
	struct fixture f;
	start(&f, 1, 20 * 1000);
	char msg[512];
	if (sl_objstore_conformance(f.client[0], msg, sizeof(msg)) != 0)
		fail_msg("%s", msg);
	struct sl_iocore_stats s = stats(&f);
	assert_int_equal(s.id, 3);
	assert_int_equal(s.clients, 1);
	assert_int_equal(s.inflight, 0);
	assert_true(s.served > 10);
	assert_int_equal(s.store.submitted, s.store.completed);
	assert_true(s.store.bytes_written > 0);
	assert_true(s.idle_sleeps > 0); /* it slept between requests instead of spinning */
	assert_true(s.wakeups > 0);	/* and the proxy's submits woke it */
	/* Idle with nothing in flight, it sleeps until rung (at most SL_IOCORE_IDLE_MAX_NS)
	 * instead of polling every poll_idle_ns (20 us here: ~1000 loops in 20 ms). */
	struct timespec ts = {0, 20 * 1000 * 1000};
	nanosleep(&ts, NULL);
	struct sl_iocore_stats s2 = stats(&f);
	assert_true(s2.loops - s.loops < 10);
	stop(&f, 1);
}

struct client_run {
	struct sl_objstore *s;
	int id, ok;
};

static void *client_thread(void *arg)
{
	struct client_run *c = arg;
	for (int i = 0; i < 20; i++) {
		char key[64], body[32];
		snprintf(key, sizeof(key), "c%d/k%d", c->id, i);
		int n = snprintf(body, sizeof(body), "%d:%d", c->id, i);
		struct sl_obj_req r;
		memset(&r, 0, sizeof(r));
		r.op = SL_OBJ_PUT;
		r.key = key;
		r.body = sl_buf_from(body, (size_t)n);
		if (sl_objstore_run(c->s, &r) != 0)
			return NULL;
		sl_obj_req_reset(&r);
		r.op = SL_OBJ_GET;
		r.key = key;
		if (sl_objstore_run(c->s, &r) != 0 || r.data == NULL || r.data->len != (size_t)n ||
		    memcmp(r.data->data, body, (size_t)n) != 0)
			return NULL;
		sl_obj_req_reset(&r);
		c->ok++;
	}
	return NULL;
}

/* Two client cores at once, each on its own ring pair, share the one store. */
static void two_clients_share_the_store(void **state)
{
	(void)state;
	struct fixture f;
	start(&f, 2, 50 * 1000);
	struct client_run c[2] = {{f.client[0], 0, 0}, {f.client[1], 1, 0}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, client_thread, &c[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(c[0].ok, 20);
	assert_int_equal(c[1].ok, 20);
	struct sl_iocore_stats s = stats(&f);
	assert_int_equal(s.served, 80);
	/* The files are really there. */
	char path[128];
	struct stat st;
	snprintf(path, sizeof(path), "%s/c1/k19", f.root);
	assert_int_equal(stat(path, &st), 0);
	stop(&f, 2);
}

/* Requests whose memory is freed (and reused) the moment they complete, many in flight, back
 * through a small return ring: the io core must not look at a request once it sent it back
 * (ASan catches a read of freed memory here). */
struct churn {
	struct sl_objstore *s;
	int inflight, done, bad;
};

static void churn_done(struct sl_obj_req *r)
{
	struct churn *c = r->user;
	c->done++;
	c->inflight--;
	if (r->result != 0 || r->data == NULL || r->data->len != 5)
		c->bad++;
	sl_obj_req_reset(r);
	memset(r, 0x5a, sizeof(*r)); /* as a reused slot would look */
	free(r);
}

static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	int sent = 0;
	while (c->done < 2000) {
		while (sent < 2000 && c->inflight < 48) {
			struct sl_obj_req *r = calloc(1, sizeof(*r));
			r->op = SL_OBJ_GET;
			r->key = "churn";
			r->done = churn_done;
			r->user = c;
			if (sl_objstore_submit(c->s, r) != 0) {
				free(r);
				break;
			}
			c->inflight++;
			sent++;
		}
		sl_objstore_poll(c->s, sl_clock_now_ns());
	}
	return NULL;
}

static void completed_requests_are_not_touched_again(void **state)
{
	(void)state;
	struct fixture f;
	start(&f, 2, 20 * 1000);
	struct sl_obj_req w;
	memset(&w, 0, sizeof(w));
	w.op = SL_OBJ_PUT;
	w.key = "churn";
	w.body = sl_buf_from("hello", 5);
	assert_int_equal(sl_objstore_run(f.client[0], &w), 0);
	sl_obj_req_reset(&w);
	struct churn c[2] = {{f.client[0], 0, 0, 0}, {f.client[1], 0, 0, 0}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn_thread, &c[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(c[i].done, 2000);
		assert_int_equal(c[i].bad, 0);
	}
	stop(&f, 2);
}

/* The start-up probe writes, reads back and deletes its object; a run-time poll_idle change
 * is taken; a busy-polling core (poll_idle 0) works too. */
static void probe_and_config(void **state)
{
	(void)state;
	struct fixture f;
	start(&f, 1, 0);
	char err[256] = "";
	assert_int_equal(
		sl_iocore_probe(f.io, f.client[0], 10ull * 1000 * 1000 * 1000, err, sizeof(err)),
		0);
	char path[128];
	struct stat st;
	snprintf(path, sizeof(path), "%s/shardline/probe/io-3", f.root);
	assert_int_not_equal(stat(path, &st), 0); /* deleted again */
	/* CONFIG is answered with its own object once it applied. */
	struct sl_iocore_runtime *rt = malloc(sizeof(*rt));
	assert_non_null(rt);
	rt->poll_idle_ns = 30 * 1000;
	assert_ptr_equal(request(&f, SL_IOCORE_CTL_CONFIG, rt), rt);
	free(rt);
	struct sl_iocore_stats s = stats(&f);
	assert_int_equal(s.served, 3);
	assert_int_equal(s.store.completed, 3);
	assert_int_equal(
		sl_iocore_probe(f.io, f.client[0], 10ull * 1000 * 1000 * 1000, err, sizeof(err)),
		0);
	s = stats(&f);
	assert_true(s.idle_sleeps > 0); /* no longer busy-polling */
	stop(&f, 1);
}

/* The retention GC on the io core owning the metadata log: a segment event published through
 * it makes its object live, a worker's release makes it dead, and the object leaves the
 * directory once the grace period passed, moving the log partition's trim point past it. */
static void released_objects_are_deleted_by_the_gc(void **state)
{
	(void)state;
	struct fixture f;
	memset(&f, 0, sizeof(f));
	snprintf(f.root, sizeof(f.root), "/tmp/sl-iocore-XXXXXX");
	assert_non_null(mkdtemp(f.root));
	struct sl_iocore_config c = {.id = 0, .poll_idle_ns = 0};
	assert_int_equal(sl_localdir_open(f.root, NULL, &c.store), 0);
	f.ctl_in = c.ctl_in = sl_ring_alloc("ci", 8);
	f.ctl_out = c.ctl_out = sl_ring_alloc("co", 8);
	f.in[0] = c.req_in[0] = sl_ring_alloc("in", 64);
	f.out[0] = c.req_out[0] = sl_ring_alloc("out", 64);
	c.nclients = 1;
	assert_int_equal(sl_localdir_proxy_new(f.in[0], f.out[0], &f.client[0]), 0);
	struct sl_metalog_config mc;
	sl_metalog_config_default(&mc);
	mc.partitions = 16;
	assert_int_equal(sl_metalog_new(&mc, &c.mlog), 0);
	struct rte_ring *ml_in = sl_ring_alloc("mli", 64), *ml_out = sl_ring_alloc("mlo", 64);
	c.nml = 1;
	c.ml_in[0] = ml_in;
	c.ml_out[0] = ml_out;
	struct sl_objstore *store = c.store;
	assert_int_equal(sl_iocore_new(&c, &f.io), 0);
	sl_localdir_proxy_set_bell(f.client[0], sl_iocore_bell(f.io));
	assert_int_equal(pthread_create(&f.tid, NULL, io_thread, f.io), 0);

	struct sl_obj_req put = {0};
	put.op = SL_OBJ_PUT;
	put.key = "data/0000000001/w000-000000000001.batch";
	put.body = sl_buf_from("batch", 5);
	assert_int_equal(sl_objstore_run(f.client[0], &put), 0);
	sl_obj_req_reset(&put);
	char path[192];
	snprintf(path, sizeof(path), "%s/data/0000000001/w000-000000000001.batch", f.root);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);

	struct sl_retgc_config gc;
	sl_retgc_config_default(&gc);
	gc.store = store; /* the io core's own: only the io core polls it */
	gc.grace_ns = 0;
	struct sl_retgc *g;
	assert_int_equal(sl_retgc_new(&gc, &g), 0);
	assert_null(request(&f, SL_IOCORE_CTL_GC, g));

	/* The segment event, as a worker publishes it. */
	struct sl_dseg_pub pub;
	memset(&pub, 0, sizeof(pub));
	pub.meta_partition = 2;
	pub.payload = sl_buf_from("event", 5);
	pub.status = SL_EAGAIN;
	pub.obj_key = "data/0000000001/w000-000000000001.batch";
	pub.obj_size = 5;
	struct sl_msg m = {.type = SL_MSG_SEGMENT, .obj = &pub};
	assert_int_equal(sl_ring_send(ml_in, &m, 1), 1);
	sl_iocore_wake(f.io);
	uint64_t deadline = sl_clock_now_ns() + 10ull * 1000 * 1000 * 1000;
	while (sl_ring_recv(ml_out, &m, 1) != 1) {
		assert_true(sl_clock_now_ns() < deadline);
		sched_yield();
	}
	assert_ptr_equal(m.obj, &pub);
	assert_int_equal(pub.status, 0);
	struct sl_iocore_stats s = stats(&f);
	assert_int_equal(s.gc.objects_live, 1);
	assert_int_equal(s.metalog_trim_point[2], 0);

	/* Its last segment went: the worker releases it. */
	m = (struct sl_msg){.type = SL_MSG_OBJ_RELEASE,
			    .obj = sl_dobj_new("data/0000000001/w000-000000000001.batch", 5)};
	assert_int_equal(sl_ring_send(ml_in, &m, 1), 1);
	sl_iocore_wake(f.io);
	do {
		assert_true(sl_clock_now_ns() < deadline);
		sl_iocore_wake(f.io);
		sched_yield();
		s = stats(&f);
	} while (s.gc.gc_deleted < 1);
	assert_int_not_equal(stat(path, &st), 0);
	assert_int_equal(s.objects_released, 1);
	assert_int_equal(s.gc.objects_live, 0);
	assert_int_equal(s.gc.gc_bytes_deleted, 5);
	assert_int_equal(s.metalog_trim_point[2], 1);

	stop(&f, 1);
	free(ml_in);
	free(ml_out);
}

/* A data directory the io core cannot write into fails the probe and says which step. */
static void probe_reports_the_failing_step(void **state)
{
	(void)state;
	struct fixture f;
	start(&f, 1, 10 * 1000);
	/* A file where the probe's directory would go: the put cannot create it. */
	char path[128];
	snprintf(path, sizeof(path), "%s/shardline", f.root);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	char err[256] = "";
	int rc = sl_iocore_probe(f.io, f.client[0], 10ull * 1000 * 1000 * 1000, err, sizeof(err));
	assert_int_not_equal(rc, 0);
	assert_non_null(strstr(err, "io core 3 could not write the probe object"));
	stop(&f, 1);
}

/* Retention's trim reaches the metadata log's files: whole segments below the trim point go,
 * and the start offset survives the io core (a restart recovers from it). */
static void metalog_trim_deletes_segments(void **state)
{
	(void)state;
	char root[] = "/tmp/sl-iocore-XXXXXX";
	assert_non_null(mkdtemp(root));
	char mdir[96];
	snprintf(mdir, sizeof(mdir), "%s/metalog", root);
	struct sl_metalog_local_config lc;
	sl_metalog_local_config_default(&lc);
	lc.dir = mdir;
	lc.partitions = 2;
	lc.segment_bytes = 3 * (SL_METALOG_LOCAL_HDR_LEN + 10) + 5; /* 3 records of 10 bytes */
	struct sl_iocore_config c = {.id = 0};
	assert_int_equal(sl_metalog_local_open(&lc, &c.mlocal, NULL, 0), 0);
	struct sl_metalog_config mc;
	sl_metalog_config_default(&mc);
	mc.partitions = 2;
	mc.store = &sl_metalog_local_store_ops;
	mc.store_ctx = c.mlocal;
	assert_int_equal(sl_metalog_new(&mc, &c.mlog), 0);
	sl_metalog_local_attach(c.mlocal, c.mlog);
	assert_int_equal(sl_metalog_recover(c.mlog), 0);
	assert_int_equal(sl_localdir_open(root, NULL, &c.store), 0);
	c.ctl_in = sl_ring_alloc("a", 8);
	c.ctl_out = sl_ring_alloc("b", 8);
	struct sl_iocore *io;
	assert_int_equal(sl_iocore_new(&c, &io), 0);
	for (int i = 0; i < 10; i++) /* files 0, 3, 6, 9 of partition 1 */
		assert_int_equal(sl_metalog_publish(c.mlog, 1,
						    sl_slice_of(sl_buf_from("0123456789", 10)),
						    NULL, NULL),
				 SL_EAGAIN);
	assert_int_equal(sl_metalog_local_wait(c.mlocal), 0);
	assert_int_equal(sl_iocore_metalog_trim(io, 1, 7), 2);
	assert_int_equal(sl_iocore_metalog_trim(io, 2, 7), SL_EINVAL);
	assert_int_equal(sl_iocore_metalog_trim(io, 1, -1), SL_EINVAL);
	assert_int_equal(sl_metalog_local_wait(c.mlocal), 0);
	struct sl_iocore_stats st;
	sl_iocore_stats(io, &st);
	assert_int_equal(st.mlocal.segments_deleted, 2);
	assert_int_equal(st.mlocal.start_offset[1], 6);
	assert_int_equal(st.mlocal.start_offset[0], 0);
	assert_int_equal(st.mlog.trimmed, 7); /* and the copies in memory */
	sl_iocore_free(io);		      /* closes the log */

	assert_int_equal(sl_metalog_local_open(&lc, &c.mlocal, NULL, 0), 0);
	int64_t start;
	assert_int_equal(sl_metalog_local_start_offset(c.mlocal, 1, &start), 0);
	assert_int_equal(start, 6);
	sl_metalog_local_close(c.mlocal);

	/* An io core without the log has nothing to trim. */
	c.mlog = NULL;
	c.mlocal = NULL;
	assert_int_equal(sl_localdir_open(root, NULL, &c.store), 0);
	assert_int_equal(sl_iocore_new(&c, &io), 0);
	assert_int_equal(sl_iocore_metalog_trim(io, 0, 1), SL_ENOTSUP);
	sl_iocore_free(io);
	free(c.ctl_in);
	free(c.ctl_out);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

static void bad_config_is_refused(void **state)
{
	(void)state;
	struct sl_iocore *io = NULL;
	struct sl_iocore_config c = {0};
	assert_int_equal(sl_iocore_new(NULL, &io), SL_EINVAL);
	assert_int_equal(sl_iocore_new(&c, &io), SL_EINVAL); /* no store */
	char root[] = "/tmp/sl-iocore-XXXXXX";
	assert_non_null(mkdtemp(root));
	assert_int_equal(sl_localdir_open(root, NULL, &c.store), 0);
	assert_int_equal(sl_iocore_new(&c, &io), SL_EINVAL); /* no control rings */
	c.ctl_in = sl_ring_alloc("a", 8);
	c.ctl_out = sl_ring_alloc("b", 8);
	assert_non_null(c.ctl_in);
	assert_non_null(c.ctl_out);
	c.nclients = 1; /* with a NULL ring pair */
	assert_int_equal(sl_iocore_new(&c, &io), SL_EINVAL);
	c.nclients = SL_IOCORE_MAX_CLIENTS + 1;
	assert_int_equal(sl_iocore_new(&c, &io), SL_EINVAL);
	assert_null(io);
	c.nclients = 0;
	assert_int_equal(sl_iocore_new(&c, &io), 0);
	assert_int_equal(sl_iocore_probe(io, NULL, 1, NULL, 0), SL_EINVAL);
	/* Only a ring proxy takes a doorbell. */
	assert_int_equal(sl_localdir_proxy_set_bell(c.store, sl_iocore_bell(io)), SL_EINVAL);
	assert_int_equal(sl_localdir_proxy_set_bell(NULL, NULL), SL_EINVAL);
	sl_iocore_free(io); /* never launched: frees the store too */
	sl_iocore_free(NULL);
	free(c.ctl_in);
	free(c.ctl_out);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(conformance_through_io_core),
		cmocka_unit_test(two_clients_share_the_store),
		cmocka_unit_test(completed_requests_are_not_touched_again),
		cmocka_unit_test(probe_and_config),
		cmocka_unit_test(probe_reports_the_failing_step),
		cmocka_unit_test(bad_config_is_refused),
		cmocka_unit_test(metalog_trim_deletes_segments),
		cmocka_unit_test(released_objects_are_deleted_by_the_gc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
