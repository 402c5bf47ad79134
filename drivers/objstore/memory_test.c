/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the in-process object store: the objstore.h contract and the fault injection that the
 * buffer's tests rely on. */
#include "core/test_common.h"
#include "core/err.h"
#include "drivers/objstore/conformance.h"
#include "drivers/objstore/memory.h"

#include <stdio.h>
#include <string.h>

struct done_rec {
	int calls;
	int result;
};

static void rec_done(struct sl_obj_req *req)
{
	struct done_rec *r = req->user;
	r->calls++;
	r->result = req->result;
}

static void req_init(struct sl_obj_req *req, enum sl_obj_op op, const char *key,
		     struct done_rec *rec)
{
	memset(req, 0, sizeof(*req));
	req->op = op;
	req->key = key;
	req->done = rec_done;
	req->user = rec;
}

/* Submits and polls once at now; the request must complete in that poll. */
static int run_at(struct sl_objstore *s, struct sl_obj_req *req, uint64_t now)
{
	struct done_rec *r = req->user;
	int before = r->calls;
	assert_int_equal(sl_objstore_submit(s, req), 0);
	sl_objstore_poll(s, now);
	assert_int_equal(r->calls, before + 1);
	return req->result;
}

static int put(struct sl_objstore *s, const char *key, const char *val, enum sl_obj_put_mode mode,
	       const char *if_match, char *etag_out)
{
	struct done_rec rec = {0};
	struct sl_obj_req req;
	req_init(&req, SL_OBJ_PUT, key, &rec);
	req.put_mode = mode;
	req.body = sl_buf_from(val, strlen(val));
	if (if_match)
		snprintf(req.if_match, sizeof(req.if_match), "%s", if_match);
	int rc = run_at(s, &req, 1);
	if (etag_out)
		memcpy(etag_out, req.etag, SL_OBJ_ETAG_MAX);
	return rc;
}

static int get(struct sl_objstore *s, const char *key, char *out, size_t cap, char *etag)
{
	struct done_rec rec = {0};
	struct sl_obj_req req;
	req_init(&req, SL_OBJ_GET, key, &rec);
	int rc = run_at(s, &req, 1);
	if (rc == 0) {
		assert_true(req.data->len < cap);
		memcpy(out, req.data->data, req.data->len);
		out[req.data->len] = '\0';
		if (etag)
			memcpy(etag, req.etag, SL_OBJ_ETAG_MAX);
	}
	sl_obj_req_reset(&req);
	return rc;
}

static void put_get_delete(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	char e1[SL_OBJ_ETAG_MAX], e2[SL_OBJ_ETAG_MAX], eg[SL_OBJ_ETAG_MAX], buf[64];
	assert_int_equal(put(s, "a/b", "hello", SL_OBJ_PUT_OVERWRITE, NULL, e1), 0);
	assert_int_equal(get(s, "a/b", buf, sizeof(buf), eg), 0);
	assert_string_equal(buf, "hello");
	assert_string_equal(eg, e1);
	/* The same bytes again still get a new etag. */
	assert_int_equal(put(s, "a/b", "hello", SL_OBJ_PUT_OVERWRITE, NULL, e2), 0);
	assert_string_not_equal(e1, e2);

	struct done_rec rec = {0};
	struct sl_obj_req req;
	req_init(&req, SL_OBJ_HEAD, "a/b", &rec);
	assert_int_equal(run_at(s, &req, 5), 0);
	assert_int_equal(req.size, 5);
	assert_string_equal(req.etag, e2);

	req_init(&req, SL_OBJ_DELETE, "a/b", &rec);
	assert_int_equal(run_at(s, &req, 5), 0);
	req_init(&req, SL_OBJ_DELETE, "a/b", &rec);
	assert_int_equal(run_at(s, &req, 5), SL_ENOTFOUND);
	assert_int_equal(get(s, "a/b", buf, sizeof(buf), NULL), SL_ENOTFOUND);
	sl_objstore_memory_destroy(s);
}

static void ranged_get(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	assert_int_equal(put(s, "k", "0123456789", SL_OBJ_PUT_OVERWRITE, NULL, NULL), 0);
	struct done_rec rec = {0};
	struct sl_obj_req req;
	req_init(&req, SL_OBJ_GET, "k", &rec);
	req.offset = 3;
	req.length = 4;
	assert_int_equal(run_at(s, &req, 1), 0);
	assert_int_equal(req.data->len, 4);
	assert_memory_equal(req.data->data, "3456", 4);
	assert_int_equal(req.size, 10);
	sl_obj_req_reset(&req);
	req_init(&req, SL_OBJ_GET, "k", &rec);
	req.offset = 11;
	assert_int_equal(run_at(s, &req, 1), SL_EINVAL);
	sl_objstore_memory_destroy(s);
}

static void conditional_puts(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	char e1[SL_OBJ_ETAG_MAX], e2[SL_OBJ_ETAG_MAX];
	assert_int_equal(put(s, "m", "v1", SL_OBJ_PUT_CREATE, NULL, e1), 0);
	assert_int_equal(put(s, "m", "v2", SL_OBJ_PUT_CREATE, NULL, NULL), SL_EPRECOND);
	assert_int_equal(put(s, "m", "v2", SL_OBJ_PUT_IF_MATCH, "bogus", NULL), SL_EPRECOND);
	assert_int_equal(put(s, "m", "v2", SL_OBJ_PUT_IF_MATCH, e1, e2), 0);
	/* The old etag no longer matches. */
	assert_int_equal(put(s, "m", "v3", SL_OBJ_PUT_IF_MATCH, e1, NULL), SL_EPRECOND);
	/* IF_MATCH on a missing key fails its precondition. */
	assert_int_equal(put(s, "nokey", "v", SL_OBJ_PUT_IF_MATCH, e2, NULL), SL_EPRECOND);
	char buf[16];
	assert_int_equal(get(s, "m", buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "v2");
	struct sl_objstore_memory_stats st;
	sl_objstore_memory_stats(s, &st);
	assert_int_equal(st.preconds, 4);
	assert_int_equal(st.objects, 1);
	sl_objstore_memory_destroy(s);
}

static void list_paging(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	const char *keys[] = {"data/c", "data/a", "other/x", "data/b", "data/d", "dat"};
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(put(s, keys[i], "x", SL_OBJ_PUT_OVERWRITE, NULL, NULL), 0);
	struct done_rec rec = {0};
	struct sl_obj_req req;
	req_init(&req, SL_OBJ_LIST, NULL, &rec);
	req.prefix = "data/";
	req.max_keys = 3;
	assert_int_equal(run_at(s, &req, 1), 0);
	assert_int_equal(req.nentries, 3);
	assert_true(req.truncated);
	assert_string_equal(req.entries[0].key, "data/a");
	assert_string_equal(req.entries[2].key, "data/c");
	char last[32];
	snprintf(last, sizeof(last), "%s", req.entries[2].key);
	sl_obj_req_reset(&req);

	req_init(&req, SL_OBJ_LIST, NULL, &rec);
	req.prefix = "data/";
	req.start_after = last;
	req.max_keys = 3;
	assert_int_equal(run_at(s, &req, 1), 0);
	assert_int_equal(req.nentries, 1);
	assert_false(req.truncated);
	assert_string_equal(req.entries[0].key, "data/d");
	sl_obj_req_reset(&req);

	/* Whole store, default page. */
	req_init(&req, SL_OBJ_LIST, NULL, &rec);
	req.prefix = "";
	assert_int_equal(run_at(s, &req, 1), 0);
	assert_int_equal(req.nentries, 6);
	assert_string_equal(req.entries[0].key, "dat");
	assert_string_equal(req.entries[5].key, "other/x");
	sl_obj_req_reset(&req);

	/* An empty page. */
	req_init(&req, SL_OBJ_LIST, NULL, &rec);
	req.prefix = "zzz/";
	assert_int_equal(run_at(s, &req, 1), 0);
	assert_int_equal(req.nentries, 0);
	assert_false(req.truncated);
	sl_obj_req_reset(&req);
	sl_objstore_memory_destroy(s);
}

static void invalid_requests(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct done_rec rec = {0};
	struct sl_obj_req req;
	req_init(&req, SL_OBJ_GET, "a//b", &rec);
	assert_int_equal(sl_objstore_submit(s, &req), SL_EINVAL);
	req_init(&req, SL_OBJ_PUT, "a", &rec); /* no body */
	assert_int_equal(sl_objstore_submit(s, &req), SL_EINVAL);
	req_init(&req, SL_OBJ_LIST, NULL, &rec); /* no prefix */
	assert_int_equal(sl_objstore_submit(s, &req), SL_EINVAL);
	assert_int_equal(rec.calls, 0);
	assert_int_equal(sl_objstore_memory_fail_next(s, 9, 1, SL_EIO), SL_EINVAL);
	assert_int_equal(sl_objstore_memory_fail_next(s, SL_OBJ_GET, 1, 0), SL_EINVAL);
	sl_objstore_memory_destroy(s);
}

static void fail_next_injects_errors(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	char buf[16];
	assert_int_equal(put(s, "k", "v", SL_OBJ_PUT_OVERWRITE, NULL, NULL), 0);
	assert_int_equal(sl_objstore_memory_fail_next(s, SL_OBJ_GET, 2, SL_EIO), 0);
	assert_int_equal(get(s, "k", buf, sizeof(buf), NULL), SL_EIO);
	/* Other kinds are not affected. */
	assert_int_equal(put(s, "k2", "v", SL_OBJ_PUT_OVERWRITE, NULL, NULL), 0);
	assert_int_equal(get(s, "k", buf, sizeof(buf), NULL), SL_EIO);
	assert_int_equal(get(s, "k", buf, sizeof(buf), NULL), 0);
	/* A failed put does not store anything. */
	assert_int_equal(sl_objstore_memory_fail_next(s, 0, 1, SL_ENOSPC), 0);
	assert_int_equal(put(s, "k3", "v", SL_OBJ_PUT_OVERWRITE, NULL, NULL), SL_ENOSPC);
	assert_int_equal(get(s, "k3", buf, sizeof(buf), NULL), SL_ENOTFOUND);
	struct sl_objstore_memory_stats st;
	sl_objstore_memory_stats(s, &st);
	assert_int_equal(st.injected, 3);
	sl_objstore_memory_destroy(s);
}

static void force_precond(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	sl_objstore_memory_force_precond(s, 1);
	/* Unconditional puts ignore it. */
	assert_int_equal(put(s, "k", "v", SL_OBJ_PUT_OVERWRITE, NULL, NULL), 0);
	assert_int_equal(put(s, "n", "v", SL_OBJ_PUT_CREATE, NULL, NULL), SL_EPRECOND);
	assert_int_equal(put(s, "n", "v", SL_OBJ_PUT_CREATE, NULL, NULL), 0);
	sl_objstore_memory_destroy(s);
}

static void delays_follow_poll_time(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	assert_int_equal(put(s, "k", "v", SL_OBJ_PUT_OVERWRITE, NULL, NULL), 0);
	sl_objstore_poll(s, 1000);
	assert_int_equal(sl_objstore_memory_delay(s, SL_OBJ_GET, 500), 0);
	struct done_rec rec = {0};
	struct sl_obj_req req;
	req_init(&req, SL_OBJ_GET, "k", &rec);
	assert_int_equal(sl_objstore_submit(s, &req), 0);
	/* A put submitted after the get is not delayed, and overtakes it. */
	struct done_rec prec = {0};
	struct sl_obj_req preq;
	req_init(&preq, SL_OBJ_PUT, "k", &prec);
	preq.body = sl_buf_from("w", 1);
	assert_int_equal(sl_objstore_submit(s, &preq), 0);
	assert_int_equal(sl_objstore_poll(s, 1499), 1);
	assert_int_equal(prec.calls, 1);
	assert_int_equal(rec.calls, 0);
	assert_int_equal(sl_objstore_memory_pending(s), 1);
	assert_int_equal(sl_objstore_poll(s, 1500), 1);
	assert_int_equal(rec.calls, 1);
	assert_memory_equal(req.data->data, "w", 1);
	sl_obj_req_reset(&req);

	/* hold_until pauses everything. */
	sl_objstore_memory_delay(s, SL_OBJ_GET, 0);
	sl_objstore_memory_hold_until(s, 5000);
	req_init(&req, SL_OBJ_GET, "k", &rec);
	assert_int_equal(sl_objstore_submit(s, &req), 0);
	assert_int_equal(sl_objstore_poll(s, 4999), 0);
	assert_int_equal(sl_objstore_poll(s, 5000), 1);
	sl_obj_req_reset(&req);
	sl_objstore_memory_destroy(s);
}

static void resubmit_from_done(struct sl_obj_req *req)
{
	struct done_rec *r = req->user;
	r->calls++;
	r->result = req->result;
	if (r->calls == 1) {
		sl_obj_req_reset(req);
		assert_int_equal(req->op, SL_OBJ_HEAD);
	}
}

static void destroy_completes_with_closed(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct done_rec rec = {0};
	struct sl_obj_req req;
	req_init(&req, SL_OBJ_PUT, "k", &rec);
	req.body = sl_buf_from("v", 1);
	assert_int_equal(sl_objstore_submit(s, &req), 0);
	struct done_rec rec2 = {0};
	struct sl_obj_req req2;
	req_init(&req2, SL_OBJ_HEAD, "k", &rec2);
	req2.done = resubmit_from_done;
	assert_int_equal(sl_objstore_submit(s, &req2), 0);
	sl_objstore_memory_destroy(s);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(rec.result, SL_ECLOSED);
	assert_int_equal(rec2.result, SL_ECLOSED);
	assert_null(req.body); /* the body reference was released */
}

static void queue_limit(void **state)
{
	(void)state;
	struct sl_objstore_memory_config cfg;
	sl_objstore_memory_config_default(&cfg);
	cfg.max_queued = 1;
	struct sl_objstore *s = sl_objstore_memory_new(&cfg);
	struct done_rec rec = {0};
	struct sl_obj_req a, b;
	req_init(&a, SL_OBJ_HEAD, "k", &rec);
	req_init(&b, SL_OBJ_HEAD, "k", &rec);
	assert_int_equal(sl_objstore_submit(s, &a), 0);
	assert_int_equal(sl_objstore_submit(s, &b), SL_ENOSPC);
	assert_int_equal(sl_objstore_poll(s, 1), 1);
	assert_int_equal(a.result, SL_ENOTFOUND);
	/* The blocking helper works over the memory store too. */
	assert_int_equal(sl_objstore_run(s, &b), SL_ENOTFOUND);
	assert_int_equal(rec.calls, 2);
	sl_objstore_memory_destroy(s);
}

/* The backend-independent objstore.h checks every backend must pass. */
static void passes_conformance(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	char msg[256] = "";
	int rc = sl_objstore_conformance(s, msg, sizeof(msg));
	if (rc != 0)
		print_error("%s\n", msg);
	assert_int_equal(rc, 0);
	sl_objstore_memory_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(put_get_delete),
		cmocka_unit_test(ranged_get),
		cmocka_unit_test(conditional_puts),
		cmocka_unit_test(list_paging),
		cmocka_unit_test(invalid_requests),
		cmocka_unit_test(fail_next_injects_errors),
		cmocka_unit_test(force_precond),
		cmocka_unit_test(delays_follow_poll_time),
		cmocka_unit_test(destroy_completes_with_closed),
		cmocka_unit_test(queue_limit),
		cmocka_unit_test(passes_conformance),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
