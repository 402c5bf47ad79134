/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/err.h"
#include "core/pool.h"

#include <pthread.h>
#include <stdalign.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

struct obj {
	uint64_t a, b, c;
};

/* An object put back is the next one handed out: the hot path reuses warm memory. */
static void reuses_put_objects(void **state)
{
	(void)state;
	struct sl_pool p;
	assert_int_equal(sl_pool_init(&p, "t", sizeof(struct obj), 0, 4, 0), 0);
	struct obj *a = sl_pool_get(&p);
	assert_non_null(a);
	a->a = 1;
	sl_pool_put(&p, a);
	struct obj *b = sl_pool_zget(&p);
	assert_ptr_equal(a, b);
	assert_int_equal(b->a, 0);
	struct sl_pool_stats st;
	sl_pool_stats(&p, &st);
	assert_int_equal(st.slabs, 1);
	assert_int_equal(st.in_use, 1);
	assert_int_equal(st.gets, 2);
	sl_pool_put(&p, b);
	sl_pool_put(&p, NULL);
	sl_pool_fini(&p);
}

/* A pool grows one slab at a time, and only when its free list is empty. */
static void grows_in_slabs(void **state)
{
	(void)state;
	enum { N = 100 };
	struct sl_pool p;
	struct obj *o[N];
	assert_int_equal(sl_pool_init(&p, "t", sizeof(struct obj), 0, 8, 0), 0);
	for (int i = 0; i < N; i++) {
		o[i] = sl_pool_get(&p);
		assert_non_null(o[i]);
		memset(o[i], i, sizeof(*o[i]));
	}
	struct sl_pool_stats st;
	sl_pool_stats(&p, &st);
	assert_int_equal(st.slabs, (N + 7) / 8);
	assert_int_equal(st.capacity, st.slabs * 8);
	assert_int_equal(st.in_use, N);
	/* Every object is distinct and kept its bytes: no two overlap. */
	for (int i = 0; i < N; i++)
		for (size_t k = 0; k < sizeof(*o[i]); k++)
			assert_int_equal(((uint8_t *)o[i])[k], (uint8_t)i);
	for (int i = 0; i < N; i++)
		sl_pool_put(&p, o[i]);
	for (int i = 0; i < N; i++)
		o[i] = sl_pool_get(&p);
	sl_pool_stats(&p, &st);
	assert_int_equal(st.slabs, (N + 7) / 8); /* the second round came from the free list */
	for (int i = 0; i < N; i++)
		sl_pool_put(&p, o[i]);
	sl_pool_fini(&p);
}

static void cap_refuses(void **state)
{
	(void)state;
	struct sl_pool p;
	assert_int_equal(sl_pool_init(&p, "t", 24, 0, 16, 3), 0);
	void *a = sl_pool_get(&p), *b = sl_pool_get(&p), *c = sl_pool_get(&p);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_null(sl_pool_get(&p));
	struct sl_pool_stats st;
	sl_pool_stats(&p, &st);
	assert_int_equal(st.fails, 1);
	sl_pool_put(&p, b);
	assert_ptr_equal(sl_pool_get(&p), b);
	sl_pool_put(&p, a);
	sl_pool_put(&p, b);
	sl_pool_put(&p, c);
	sl_pool_fini(&p);
}

static void aligns_objects(void **state)
{
	(void)state;
	static const size_t aligns[] = {0, 1, 8, 16, 64, 128, 4096};
	for (size_t i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
		struct sl_pool p;
		assert_int_equal(sl_pool_init(&p, "t", 40, aligns[i], 5, 0), 0);
		size_t want =
			aligns[i] < 8 ? (aligns[i] == 0 ? alignof(max_align_t) : 8) : aligns[i];
		void *o[12];
		for (int k = 0; k < 12; k++) {
			o[k] = sl_pool_get(&p);
			assert_non_null(o[k]);
			assert_int_equal((uintptr_t)o[k] % want, 0);
		}
		for (int k = 0; k < 12; k++)
			sl_pool_put(&p, o[k]);
		sl_pool_fini(&p);
	}
	struct sl_pool p;
	assert_int_equal(sl_pool_init(&p, "t", 0, 0, 0, 0), SL_EINVAL);
	assert_int_equal(sl_pool_init(&p, "t", 8, 24, 0, 0), SL_EINVAL);
	assert_int_equal(sl_pool_init(&p, "t", 8, 8192, 0, 0), SL_EINVAL);
}

/* Under ASan a free object is poisoned, so a use after put is reported like a use after free. */
static void poisons_free_objects(void **state)
{
	(void)state;
#ifdef TEST_ASAN
	struct sl_pool p;
	assert_int_equal(sl_pool_init(&p, "t", sizeof(struct obj), 0, 4, 0), 0);
	struct obj *a = sl_pool_get(&p);
	assert_false(__asan_address_is_poisoned(&a->c));
	sl_pool_put(&p, a);
	assert_true(__asan_address_is_poisoned(a));
	assert_true(__asan_address_is_poisoned(&a->c));
	a = sl_pool_get(&p);
	assert_false(__asan_address_is_poisoned(&a->c));
	sl_pool_put(&p, a);
	sl_pool_fini(&p);
#else
	skip();
#endif
}

#ifdef SL_OWNER_CHECKS
static void *use_pool(void *arg)
{
	sl_pool_put(arg, sl_pool_get(arg));
	return NULL;
}
#endif

/* A pool used by a thread other than its owner stops the process (debug builds). */
static void asserts_its_owner(void **state)
{
	(void)state;
#ifdef SL_OWNER_CHECKS
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sl_pool p;
		sl_pool_init(&p, "t", 16, 0, 0, 0);
		sl_pool_put(&p, sl_pool_get(&p)); /* this thread claims it */
		pthread_t t;
		pthread_create(&t, NULL, use_pool, &p);
		pthread_join(t, NULL);
		_exit(0);
	}
	int ws = 0;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFSIGNALED(ws));
	assert_int_equal(WTERMSIG(ws), SIGABRT);
	/* Released, the pool is claimed by its next user. */
	struct sl_pool p;
	sl_pool_init(&p, "t", 16, 0, 0, 0);
	sl_pool_put(&p, sl_pool_get(&p));
	sl_owner_release(&p.owner);
	pthread_t t;
	pthread_create(&t, NULL, use_pool, &p);
	pthread_join(t, NULL);
	sl_owner_adopt(&p.owner);
	sl_pool_fini(&p);
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reuses_put_objects),	cmocka_unit_test(grows_in_slabs),
		cmocka_unit_test(cap_refuses),		cmocka_unit_test(aligns_objects),
		cmocka_unit_test(poisons_free_objects), cmocka_unit_test(asserts_its_owner),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
