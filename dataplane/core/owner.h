/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CORE_OWNER_H
#define SL_CORE_OWNER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * Every per-core object has exactly one owning core (DESIGN.md). In debug builds an object
 * records the thread that owns it and its entry points check that the caller is that thread,
 * so that a call from the wrong core stops the process at once instead of corrupting state
 * that has no lock. Builds with NDEBUG, or -Downer_checks=false, compile the checks out: the
 * field stays (one word) so that the layout does not depend on the build type.
 *
 * The owner is a thread, not an lcore id: unit tests run objects on plain threads, where
 * rte_lcore_id() is LCORE_ID_ANY for all of them. The identity is the address of a
 * thread-local variable, which is unique among live threads and costs no call.
 *
 * Objects are built on the control core and then handed to a worker, so creation does not
 * claim an object. The first checked call claims an unowned object; a new owner that takes
 * over an object another thread has used calls sl_owner_adopt() (the hand-over itself, a
 * launch or a ring message, orders the two threads), and an owner that is done with an object
 * another thread will free calls sl_owner_release().
 */
struct sl_owner {
	uintptr_t tid; /* 0: unowned */
};

#if !defined(NDEBUG) && !defined(SL_NO_OWNER_CHECKS)
#define SL_OWNER_CHECKS 1
#endif

/* One byte per thread whose address names the thread (core/owner.c): defined once, since a
 * static in this header would give each file its own copy and so its own idea of a thread. */
extern __thread char sl_owner_tls;

/* The calling thread's identity (never 0). */
static inline uintptr_t sl_owner_self(void)
{
	return (uintptr_t)&sl_owner_tls;
}

/* Makes the calling thread the owner of o. */
static inline void sl_owner_adopt(struct sl_owner *o)
{
	o->tid = sl_owner_self();
}

/* Leaves o unowned: the next checked call claims it. */
static inline void sl_owner_release(struct sl_owner *o)
{
	o->tid = 0;
}

/* Claims o if unowned; stops the process if another thread owns it. */
static inline void sl_owner_check(struct sl_owner *o, const char *what, const char *file, int line)
{
	uintptr_t me = sl_owner_self();
	if (o->tid == me)
		return;
	if (o->tid == 0) {
		o->tid = me;
		return;
	}
	fprintf(stderr, "%s:%d: %s used off its owner thread\n", file, line, what);
	abort();
}

/* Stops the process if another thread owns o; claims nothing (o may stay unowned). */
static inline void sl_owner_check_ro(const struct sl_owner *o, const char *what, const char *file,
				     int line)
{
	if (o->tid == 0 || o->tid == sl_owner_self())
		return;
	fprintf(stderr, "%s:%d: %s read off its owner thread\n", file, line, what);
	abort();
}

#ifdef SL_OWNER_CHECKS
/* Asserts that the calling thread owns obj (a pointer to a struct with a struct sl_owner owner). */
#define SL_ASSERT_OWNER(obj) sl_owner_check(&(obj)->owner, #obj, __FILE__, __LINE__)
/* The same for a const accessor (counters, lookups): an unowned obj stays unowned, since reading
 * it before its loop started (on the thread that built it) is fine. */
#define SL_ASSERT_OWNER_RO(obj) sl_owner_check_ro(&(obj)->owner, #obj, __FILE__, __LINE__)
#else
#define SL_ASSERT_OWNER(obj)	((void)0)
#define SL_ASSERT_OWNER_RO(obj) ((void)0)
#endif

#endif
