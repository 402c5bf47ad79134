/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The loop skeleton on its own: a sleeping loop is woken at once by a message and its doorbell,
 * sleeps until its deadline when nothing comes, backs off when nothing can wake it, and frees
 * an answer its control core cannot receive. Rings live in plain memory (no EAL); a pthread
 * plays the other core. Latency bounds are generous (the machine is shared): only a lost wake-up
 * takes as long as the sleeps asked for here.
 */
#include "core/lcore.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/test_common.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MS UINT64_C(1000000)
#define S  (1000 * MS)

struct fixture {
	struct sl_bell bell;
	struct rte_ring *in, *out;
	struct sl_lcore lc;
	unsigned int handled;
	uint64_t last_id;
};

static void fixture_init(struct fixture *f, bool bell, bool signalled, uint64_t poll_idle_ns,
			 uint32_t backoff_max)
{
	memset(f, 0, sizeof(*f));
	f->bell.fd = -1;
	if (bell)
		assert_int_equal(sl_bell_init(&f->bell), 0);
	f->in = sl_ring_alloc("lc_in", 64);
	f->out = sl_ring_alloc("lc_out", 64);
	assert_non_null(f->in);
	assert_non_null(f->out);
	struct sl_lcore_config c = {
		.bell = bell ? &f->bell : NULL,
		.ctl_in = f->in,
		.ctl_out = f->out,
		.signalled = signalled,
		.poll_idle_ns = poll_idle_ns,
		.backoff_max = backoff_max,
		.max_sleep_ns = 10 * S,
	};
	sl_lcore_init(&f->lc, &c);
}

static void fixture_fini(struct fixture *f)
{
	struct sl_msg m;
	while (sl_ring_recv(f->out, &m, 1) == 1)
		free(m.obj);
	sl_bell_fini(&f->bell);
	free(f->in);
	free(f->out);
}

/* Queues a control request the way the control core does: message first, then the bell, rung
 * only if the loop announced it sleeps. */
static void post(struct fixture *f, uint32_t kind, uint64_t id)
{
	struct sl_msg m = {.type = SL_MSG_CONTROL, .u32 = kind, .u64 = id};
	assert_int_equal(sl_ring_send(f->in, &m, 1), 1);
	if (f->bell.fd >= 0 && sl_bell_wants_ring(&f->bell))
		sl_bell_ring(&f->bell);
}

static void handler(void *arg, struct sl_lcore *lc, const struct sl_msg *m)
{
	struct fixture *f = arg;
	assert_ptr_equal(lc, &f->lc);
	f->handled++;
	f->last_id = m->u64;
}

static void *sender(void *arg)
{
	struct fixture *f = arg;
	/* Until the loop announced its sleep, then a little more: it is in ppoll by then. */
	uint64_t end = sl_clock_now_ns() + 5 * S;
	while (!sl_bell_sleeping(&f->bell) && sl_clock_now_ns() < end)
		sched_yield();
	struct timespec ts = {0, 20 * 1000 * 1000};
	nanosleep(&ts, NULL);
	post(f, 1, 42);
	return NULL;
}

/* A message for a sleeping loop ends its sleep at once, not at the deadline; the control ring
 * then hands it to the handler. */
static void message_wakes_sleeper(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f, true, true, 100 * 1000, 8);
	sl_lcore_adopt(&f.lc);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, sender, &f), 0);
	uint64_t t0 = sl_clock_now_ns();
	assert_true(sl_lcore_idle_wait(&f.lc, t0, t0 + 10 * S, NULL, 0));
	uint64_t took = sl_clock_now_ns() - t0;
	pthread_join(t, NULL);
	assert_true(took < 3 * S);
	assert_int_equal(f.lc.idle_sleeps, 1);
	assert_int_equal(f.lc.wakeups, 1);
	assert_false(sl_bell_sleeping(&f.bell));
	assert_int_equal(sl_lcore_control(&f.lc, handler, &f), 1);
	assert_int_equal(f.handled, 1);
	assert_int_equal(f.last_id, 42);
	/* The bell's counter was reset: the next sleep lasts until its deadline. */
	t0 = sl_clock_now_ns();
	assert_true(sl_lcore_idle_wait(&f.lc, t0, t0 + 20 * MS, NULL, 0));
	assert_true(sl_clock_now_ns() - t0 >= 20 * MS);
	assert_int_equal(f.lc.wakeups, 1);
	fixture_fini(&f);
}

static struct fixture *window_fixture;

/* The idle hook runs right before the bell is armed: a message sent then finds the loop
 * awake, so its sender does not ring. */
static void send_in_window(void *arg)
{
	(void)arg;
	post(window_fixture, 1, 7);
}

static bool pending_yes(void *arg)
{
	(void)arg;
	return true;
}

/* What arrived before the sleep, unrung, is found by the look at the rings after arming: the
 * loop does not sleep at all. */
static void message_in_sleep_window_is_seen(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f, true, true, 100 * 1000, 8);
	window_fixture = &f;
	sl_lcore_set_idle_hook(&f.lc, send_in_window, NULL);
	uint64_t t0 = sl_clock_now_ns();
	assert_false(sl_lcore_idle_wait(&f.lc, t0, t0 + 10 * S, NULL, 0));
	assert_true(sl_clock_now_ns() - t0 < 3 * S);
	assert_int_equal(f.lc.idle_sleeps, 0);
	assert_false(sl_bell_sleeping(&f.bell));
	sl_lcore_set_idle_hook(&f.lc, NULL, NULL);
	assert_int_equal(sl_lcore_control(&f.lc, handler, &f), 1);
	assert_int_equal(f.last_id, 7);
	/* The loop's other rings, through its pending callback, count the same. */
	f.lc.cfg.pending = pending_yes;
	assert_false(sl_lcore_idle_wait(&f.lc, t0, t0 + 10 * S, NULL, 0));
	assert_int_equal(f.lc.idle_sleeps, 0);
	fixture_fini(&f);
}

/* With nothing coming, the sleep lasts until the deadline and no longer; a deadline already
 * passed does not sleep. */
static void sleep_ends_at_deadline(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f, true, true, 100 * 1000, 8);
	uint64_t t0 = sl_clock_now_ns();
	assert_true(sl_lcore_idle_wait(&f.lc, t0, t0 + 30 * MS, NULL, 0));
	uint64_t took = sl_clock_now_ns() - t0;
	assert_true(took >= 30 * MS);
	assert_true(took < 3 * S);
	assert_int_equal(f.lc.idle_sleeps, 1);
	assert_int_equal(f.lc.wakeups, 0);
	assert_false(sl_lcore_idle_wait(&f.lc, t0 + 5, t0, NULL, 0));
	assert_int_equal(f.lc.idle_sleeps, 1);
	/* max_sleep_ns caps a signalled loop's sleep when the deadline is far. */
	f.lc.cfg.max_sleep_ns = 30 * MS;
	t0 = sl_clock_now_ns();
	assert_true(sl_lcore_idle_wait(&f.lc, t0, UINT64_MAX, NULL, 0));
	took = sl_clock_now_ns() - t0;
	assert_true(took >= 30 * MS && took < 3 * S);
	/* sl_lcore_soon: a loop with work nothing signals comes back after poll_idle_ns. */
	assert_int_equal(sl_lcore_soon(&f.lc, 1000, UINT64_MAX), 1000 + 100 * 1000);
	assert_int_equal(sl_lcore_soon(&f.lc, 1000, 2000), 2000);
	fixture_fini(&f);
}

static void *writer(void *arg)
{
	int fd = *(int *)arg;
	struct timespec ts = {0, 20 * 1000 * 1000};
	nanosleep(&ts, NULL);
	uint64_t one = 1;
	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
	return NULL;
}

/* A readable descriptor (a datagram on the port) ends the sleep too, and is no bell wake-up;
 * -1 entries (a port in poll mode) are left out. */
static void descriptor_wakes_sleeper(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f, true, true, 100 * 1000, 8);
	int fds[2] = {-1, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
	assert_true(fds[1] >= 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, writer, &fds[1]), 0);
	uint64_t t0 = sl_clock_now_ns();
	assert_true(sl_lcore_idle_wait(&f.lc, t0, t0 + 10 * S, fds, 2));
	assert_true(sl_clock_now_ns() - t0 < 3 * S);
	pthread_join(t, NULL);
	assert_int_equal(f.lc.wakeups, 0);
	close(fds[1]);
	fixture_fini(&f);
}

static unsigned int freed;

static void counting_free(void *obj)
{
	freed++;
	free(obj);
}

/* A reply echoes its request's kind and id; one the ring cannot take is freed by the lcore, not
 * leaked (AddressSanitizer's leak check fails this test otherwise). */
static void reply_that_does_not_fit_is_freed(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f, false, false, 100 * 1000, 8);
	free(f.out);
	f.out = f.lc.cfg.ctl_out = sl_ring_alloc("lc_small", 4);
	assert_non_null(f.out);
	struct sl_msg req = {.type = SL_MSG_CONTROL, .u32 = 5, .u64 = 99};
	unsigned int sent = 0;
	freed = 0;
	int rc;
	while ((rc = sl_lcore_reply(&f.lc, &req, malloc(16), counting_free)) == 0)
		assert_true(++sent < 64);
	assert_int_equal(rc, SL_ENOSPC);
	assert_true(sent > 0);
	assert_int_equal(freed, 1);
	/* A reply without an object, or without a way to free it, is not freed. */
	assert_int_equal(sl_lcore_reply(&f.lc, &req, NULL, counting_free), SL_ENOSPC);
	assert_int_equal(freed, 1);
	struct sl_msg r;
	assert_int_equal(sl_ring_recv(f.out, &r, 1), 1);
	assert_int_equal(r.type, SL_MSG_CONTROL);
	assert_int_equal(r.u32, 5);
	assert_int_equal(r.u64, 99);
	free(r.obj);
	fixture_fini(&f);
}

/* A loop nothing can wake sleeps poll_idle_ns, then twice, four and eight times that while it
 * stays idle, never longer; work (or a new poll_idle_ns) starts it again from poll_idle_ns. A
 * loop that is signalled does not back off: it sleeps until its deadline. */
static void backoff_doubles_and_resets(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f, false, false, 1000, 8);
	uint64_t want[] = {2000, 4000, 8000, 8000, 8000};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint64_t now = sl_clock_now_ns();
		assert_true(sl_lcore_idle_wait(&f.lc, now, UINT64_MAX, NULL, 0));
		assert_int_equal(f.lc.backoff, want[i]);
	}
	assert_int_equal(f.lc.idle_sleeps, 5);
	sl_lcore_worked(&f.lc);
	assert_int_equal(f.lc.backoff, 1000);
	/* A passed deadline still counts as an idle pass: the back-off grows. */
	assert_false(sl_lcore_idle_wait(&f.lc, 10, 5, NULL, 0));
	assert_int_equal(f.lc.backoff, 2000);
	sl_lcore_set_poll_idle(&f.lc, 3000);
	assert_int_equal(f.lc.backoff, 3000);
	/* backoff_max 1: the sleep stays at poll_idle_ns. */
	f.lc.cfg.backoff_max = 1;
	assert_true(sl_lcore_idle_wait(&f.lc, sl_clock_now_ns(), UINT64_MAX, NULL, 0));
	assert_int_equal(f.lc.backoff, 3000);
	f.lc.cfg.signalled = true;
	f.lc.cfg.backoff_max = 8;
	uint64_t now = sl_clock_now_ns();
	assert_true(sl_lcore_idle_wait(&f.lc, now, now + MS, NULL, 0));
	assert_int_equal(f.lc.backoff, 3000);
	fixture_fini(&f);
}

/* Requests are dispatched in order, a burst per call; a stray message of another type is
 * dropped; a loop without a control ring has none. */
static void control_dispatches_requests(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f, false, false, 1000, 8);
	struct sl_msg nop = {.type = SL_MSG_NOP};
	assert_int_equal(sl_ring_send(f.in, &nop, 1), 1);
	for (uint64_t i = 1; i <= 10; i++)
		post(&f, 1, i);
	unsigned int n = sl_lcore_control(&f.lc, handler, &f);
	assert_true(n > 0 && n < 11);
	n += sl_lcore_control(&f.lc, handler, &f);
	n += sl_lcore_control(&f.lc, handler, &f);
	assert_int_equal(n, 11);
	assert_int_equal(f.handled, 10);
	assert_int_equal(f.last_id, 10);
	assert_int_equal(sl_lcore_control(&f.lc, handler, &f), 0);
	sl_lcore_pass(&f.lc);
	assert_int_equal(f.lc.loops, 1);
	struct sl_lcore bare;
	struct sl_lcore_config c = {.poll_idle_ns = 1000};
	sl_lcore_init(&bare, &c);
	assert_int_equal(sl_lcore_control(&bare, handler, &f), 0);
	assert_int_equal(sl_lcore_reply(&bare, &nop, NULL, NULL), SL_ENOSPC);
	fixture_fini(&f);
}

#ifdef SL_OWNER_CHECKS
static void *pass_elsewhere(void *arg)
{
	sl_lcore_pass(arg);
	return NULL;
}

static void *read_elsewhere(void *arg)
{
	struct sl_lcore *lc = arg;
	SL_ASSERT_OWNER_RO(lc);
	return NULL;
}

/* Runs fn(lc) on another thread in a child process; returns whether the child was aborted. */
static bool aborts_elsewhere(struct sl_lcore *lc, void *(*fn)(void *))
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pthread_t t;
		pthread_create(&t, NULL, fn, lc);
		pthread_join(t, NULL);
		_exit(0);
	}
	int ws = 0;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	return WIFSIGNALED(ws) && WTERMSIG(ws) == SIGABRT;
}
#endif

/* The loop's thread owns its lcore: a pass or a read from another thread stops the process
 * (debug builds); a read claims nothing, and a disowned lcore is free for its next thread. */
static void asserts_its_owner(void **state)
{
	(void)state;
#ifdef SL_OWNER_CHECKS
	struct sl_lcore lc;
	struct sl_lcore_config c = {.poll_idle_ns = 1000};
	sl_lcore_init(&lc, &c);
	SL_ASSERT_OWNER_RO(&lc);
	assert_int_equal(lc.owner.tid, 0);
	assert_false(aborts_elsewhere(&lc, read_elsewhere)); /* unowned: anyone may read */
	sl_lcore_adopt(&lc);
	assert_true(aborts_elsewhere(&lc, pass_elsewhere));
	assert_true(aborts_elsewhere(&lc, read_elsewhere));
	sl_lcore_disown(&lc);
	assert_false(aborts_elsewhere(&lc, pass_elsewhere));
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(message_wakes_sleeper),
		cmocka_unit_test(message_in_sleep_window_is_seen),
		cmocka_unit_test(sleep_ends_at_deadline),
		cmocka_unit_test(descriptor_wakes_sleeper),
		cmocka_unit_test(reply_that_does_not_fit_is_freed),
		cmocka_unit_test(backoff_doubles_and_resets),
		cmocka_unit_test(control_dispatches_requests),
		cmocka_unit_test(asserts_its_owner),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
