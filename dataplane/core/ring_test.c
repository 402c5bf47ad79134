/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/buf.h"
#include "core/ring.h"

#include <pthread.h>
#include <stdlib.h>

static void *ring_mem(unsigned int count)
{
	size_t n = sl_ring_memsize(count);
	assert_true(n > 0);
	return aligned_alloc(64, (n + 63) & ~(size_t)63);
}

static void burst_in_and_out(void **state)
{
	(void)state;
	void *mem = ring_mem(8);
	struct rte_ring *r = sl_ring_init_mem(mem, "t1", 8);
	assert_non_null(r);
	struct sl_msg in[16], out[16];
	for (int i = 0; i < 16; i++)
		in[i] = (struct sl_msg){.type = SL_MSG_NOP, .u64 = (uint64_t)i};
	/* A ring for 8 takes at least 8 and the sender keeps the rest. */
	unsigned int sent = sl_ring_send(r, in, 16);
	assert_true(sent >= 8 && sent < 16);
	unsigned int got = sl_ring_recv(r, out, 16);
	assert_int_equal(got, sent);
	for (unsigned int i = 0; i < got; i++)
		assert_int_equal(out[i].u64, i);
	assert_int_equal(sl_ring_recv(r, out, 16), 0);
	assert_null(sl_ring_init_mem(mem, "t2", 0));
	free(mem);
}

/* A heap ring behaves like one in caller memory and is released with free(). */
static void heap_ring(void **state)
{
	(void)state;
	assert_null(sl_ring_alloc("t0", 0));
	struct rte_ring *r = sl_ring_alloc("th", 5);
	assert_non_null(r);
	assert_true(((uintptr_t)r & 63) == 0);
	struct sl_msg in[8] = {{.type = SL_MSG_NOP, .u64 = 7}}, out[8];
	assert_true(sl_ring_send(r, in, 8) >= 5);
	assert_true(sl_ring_recv(r, out, 8) >= 5);
	assert_int_equal(out[0].u64, 7);
	free(r);
}

struct xfer {
	struct rte_ring *r;
	int n;
};

/* The producer hands buffer references to the consumer, as a worker hands frames to another. */
static void *producer(void *arg)
{
	struct xfer *x = arg;
	for (int i = 0; i < x->n;) {
		struct sl_buf *b = sl_buf_alloc(8);
		b->len = 8;
		*(uint64_t *)b->data = (uint64_t)i;
		struct sl_msg m = {.type = SL_MSG_BUF, .u64 = (uint64_t)i, .obj = b};
		while (sl_ring_send(x->r, &m, 1) == 0)
			;
		i++;
	}
	return NULL;
}

static void spsc_transfers_references_in_order(void **state)
{
	(void)state;
	void *mem = ring_mem(64);
	struct xfer x = {sl_ring_init_mem(mem, "t3", 64), 200000};
	pthread_t th;
	pthread_create(&th, NULL, producer, &x);
	for (int i = 0; i < x.n;) {
		struct sl_msg m[32];
		unsigned int got = sl_ring_recv(x.r, m, 32);
		for (unsigned int k = 0; k < got; k++, i++) {
			assert_int_equal(m[k].type, SL_MSG_BUF);
			assert_int_equal(m[k].u64, (uint64_t)i);
			struct sl_buf *b = m[k].obj;
			assert_int_equal(*(uint64_t *)b->data, (uint64_t)i);
			sl_buf_unref(b);
		}
	}
	pthread_join(th, NULL);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(burst_in_and_out),
		cmocka_unit_test(heap_ring),
		cmocka_unit_test(spsc_transfers_references_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
