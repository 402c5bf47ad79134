/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the backend-independent helpers of the object-store interface: key validation,
 * request reset and the blocking sl_objstore_run driver (against a fake backend defined here, so
 * these tests do not depend on any real driver).
 */
#include "core/test_common.h"
#include "buffer/objstore.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

static void key_rules(void **state)
{
	(void)state;
	assert_int_equal(sl_obj_key_check("manifest"), 0);
	assert_int_equal(sl_obj_key_check("data/0000017f-a1b2.batch"), 0);
	assert_int_equal(sl_obj_key_check("a/b/c"), 0);
	assert_int_equal(sl_obj_key_check(".hidden/x"), 0);
	assert_int_equal(sl_obj_key_check("a/.../b"), 0);
	assert_int_equal(sl_obj_key_check("a/.sl/b"), 0);
	assert_int_equal(sl_obj_key_check(NULL), SL_EINVAL);
	assert_int_equal(sl_obj_key_check(""), SL_EINVAL);
	assert_int_equal(sl_obj_key_check("/a"), SL_EINVAL);
	assert_int_equal(sl_obj_key_check("a/"), SL_EINVAL);
	assert_int_equal(sl_obj_key_check("a//b"), SL_EINVAL);
	assert_int_equal(sl_obj_key_check("/"), SL_EINVAL);
	assert_int_equal(sl_obj_key_check("."), SL_EINVAL);
	assert_int_equal(sl_obj_key_check(".."), SL_EINVAL);
	assert_int_equal(sl_obj_key_check("a/./b"), SL_EINVAL);
	assert_int_equal(sl_obj_key_check("a/../b"), SL_EINVAL);
	assert_int_equal(sl_obj_key_check("a/.."), SL_EINVAL);
	assert_int_equal(sl_obj_key_check("../a"), SL_EINVAL);
	assert_int_equal(sl_obj_key_check(".sl-tmp"), SL_EINVAL);
	assert_int_equal(sl_obj_key_check("a/.sl-locks/b"), SL_EINVAL);
}

static void key_length_limit(void **state)
{
	(void)state;
	char k[SL_OBJ_KEY_MAX + 2];
	memset(k, 'k', sizeof(k));
	k[SL_OBJ_KEY_MAX] = '\0';
	assert_int_equal(sl_obj_key_check(k), 0);
	k[SL_OBJ_KEY_MAX] = 'k';
	k[SL_OBJ_KEY_MAX + 1] = '\0';
	assert_int_equal(sl_obj_key_check(k), SL_EINVAL);
}

static void reset_releases_everything(void **state)
{
	(void)state;
	struct sl_obj_req req;
	memset(&req, 0, sizeof(req));
	req.data = sl_buf_from("abc", 3);
	struct sl_buf *keep = sl_buf_ref(req.data);
	req.entries = calloc(2, sizeof(*req.entries));
	req.entries[0].key = strdup("a");
	req.entries[1].key = strdup("b");
	req.nentries = 2;
	req.truncated = true;
	req.result = SL_EIO;
	strcpy(req.etag, "e1");
	req.size = 3;
	req.mtime_ns = 9;
	req.key = "kept";
	sl_obj_req_reset(&req);
	assert_null(req.data);
	assert_null(req.entries);
	assert_int_equal(req.nentries, 0);
	assert_false(req.truncated);
	assert_int_equal(req.result, 0);
	assert_string_equal(req.etag, "");
	assert_int_equal(req.size, 0);
	assert_int_equal(req.mtime_ns, 0);
	assert_string_equal(req.key, "kept"); /* caller fields survive */
	assert_int_equal(sl_buf_refcnt(keep), 1);
	sl_buf_unref(keep);
	sl_obj_req_reset(&req); /* idempotent */
}

/* A fake backend: completes its one queued request after `delay` polls with `result`. */
struct fake {
	struct sl_obj_req *q;
	int delay;
	int result;
	int submit_rc;
	int polls;
};

static int fake_submit(void *impl, struct sl_obj_req *req)
{
	struct fake *f = impl;
	if (f->submit_rc != 0)
		return f->submit_rc;
	f->q = req;
	return 0;
}

static int fake_poll(void *impl, uint64_t now_ns)
{
	struct fake *f = impl;
	(void)now_ns;
	f->polls++;
	if (f->q == NULL || f->delay-- > 0)
		return 0;
	struct sl_obj_req *r = f->q;
	f->q = NULL;
	r->result = f->result;
	r->done(r);
	return 1;
}

static void fake_destroy(void *impl)
{
	(void)impl;
}

static const struct sl_objstore_ops fake_ops = {fake_submit, fake_poll, fake_destroy};

static int user_done_calls;
static void user_done(struct sl_obj_req *req)
{
	/* The caller's own done and user are back in place when it runs. */
	assert_ptr_equal(req->user, &user_done_calls);
	user_done_calls++;
}

static void run_polls_until_done(void **state)
{
	(void)state;
	struct fake f = {.delay = 5, .result = SL_EPRECOND};
	struct sl_objstore s = {&fake_ops, &f, "fake"};
	struct sl_obj_req req;
	memset(&req, 0, sizeof(req));
	req.op = SL_OBJ_HEAD;
	req.key = "k";
	req.done = user_done;
	req.user = &user_done_calls;
	user_done_calls = 0;
	assert_int_equal(sl_objstore_run(&s, &req), SL_EPRECOND);
	assert_int_equal(user_done_calls, 1);
	assert_int_equal(f.polls, 6);
	assert_ptr_equal(req.done, user_done);
	assert_ptr_equal(req.user, &user_done_calls);

	/* A NULL done is allowed for run. */
	req.done = NULL;
	req.user = NULL;
	f.delay = 0;
	f.result = 0;
	assert_int_equal(sl_objstore_run(&s, &req), 0);
	assert_null(req.done);
}

static void run_returns_submit_error(void **state)
{
	(void)state;
	struct fake f = {.submit_rc = SL_ECLOSED};
	struct sl_objstore s = {&fake_ops, &f, "fake"};
	struct sl_obj_req req;
	memset(&req, 0, sizeof(req));
	req.op = SL_OBJ_GET;
	req.key = "k";
	req.done = user_done;
	req.user = &user_done_calls;
	user_done_calls = 0;
	assert_int_equal(sl_objstore_run(&s, &req), SL_ECLOSED);
	assert_int_equal(user_done_calls, 0);
	assert_int_equal(f.polls, 0);
	assert_ptr_equal(req.done, user_done); /* restored on the error path too */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(key_rules),
		cmocka_unit_test(key_length_limit),
		cmocka_unit_test(reset_releases_everything),
		cmocka_unit_test(run_polls_until_done),
		cmocka_unit_test(run_returns_submit_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
