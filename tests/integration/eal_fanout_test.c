/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The live path of DESIGN.md across two real EAL lcores: the owner core inserts frames into its
 * track and sends one buffer reference per frame to the other worker through an SPSC rte_ring;
 * that worker mirrors the groups into its local track and fans them out to its own subscribers.
 * Checks: every subscriber on both cores gets every frame, in order within each group; payloads
 * are never copied; every buffer is freed exactly once, whichever core drops it last.
 *
 * Runs the EAL with --no-huge --no-shconf, so it needs no hugepages and no NIC. Exits 77 (meson:
 * skipped) when fewer than two lcores are available.
 */
#include "core/buf.h"
#include "core/err.h"
#include "core/ring.h"
#include "track/track.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUPS		 40
#define FRAMES_PER_GROUP 30
#define OWNER_SUBS	 50
#define WORKER_SUBS	 200
#define FRAME_SIZE	 1200

enum { MSG_GROUP_START = 1, MSG_GROUP_END = 2 };

struct sub {
	struct sl_waiter w;
	struct sl_group_reader r;
	struct sl_track_consumer c;
	uint64_t frames;
	uint64_t last_group;
	uint32_t next_frame;
	int bad;
};

static struct rte_ring *to_worker, *to_owner;

/* Reads every frame available now and checks the stamp each frame carries. */
static int sub_drain(struct sub *s)
{
	for (;;) {
		if (s->r.group == NULL) {
			int rc = sl_track_consumer_next_group(&s->c, &s->w, &s->r);
			if (rc != 0)
				return rc;
			s->last_group = sl_group_sequence(s->r.group);
			s->next_frame = 0;
		}
		struct sl_slice f;
		int rc = sl_group_read_frame(&s->r, &s->w, &f);
		if (rc == SL_EEOF) {
			if (s->next_frame != FRAMES_PER_GROUP)
				s->bad++;
			sl_group_reader_release(&s->r);
			continue;
		}
		if (rc != 0)
			return rc;
		uint64_t stamp[2];
		memcpy(stamp, sl_slice_data(&f), sizeof(stamp));
		if (stamp[0] != s->last_group || stamp[1] != s->next_frame || f.len != FRAME_SIZE)
			s->bad++;
		s->next_frame++;
		s->frames++;
	}
}

static void noop_wake(struct sl_waiter *w)
{
	(void)w;
}

static void subs_init(struct sl_track *t, struct sub *subs, int n)
{
	for (int i = 0; i < n; i++) {
		memset(&subs[i], 0, sizeof(subs[i]));
		sl_waiter_init(&subs[i].w, noop_wake);
		sl_track_consume(t, &subs[i].c);
	}
}

static uint64_t subs_check(struct sub *subs, int n)
{
	uint64_t bad = 0;
	for (int i = 0; i < n; i++) {
		if (sub_drain(&subs[i]) != SL_EEOF || subs[i].frames != GROUPS * FRAMES_PER_GROUP)
			bad++;
		bad += (uint64_t)subs[i].bad;
		sl_group_reader_release(&subs[i].r);
		sl_track_consumer_release(&subs[i].c, &subs[i].w);
	}
	return bad;
}

static void send_one(struct sl_msg m)
{
	while (sl_ring_send(to_worker, &m, 1) == 0)
		rte_pause();
}

/* The subscriber-side worker: mirrors groups from the ring into a local track. */
static int worker_main(void *arg)
{
	(void)arg;
	static struct sub subs[WORKER_SUBS];
	struct sl_track *mirror = sl_track_new("video", 0, NULL);
	struct sl_group *g = NULL;
	uint64_t copied0 = sl_buf_stats()->bytes_copied;
	subs_init(mirror, subs, WORKER_SUBS);
	for (int done = 0; !done;) {
		struct sl_msg m[32];
		unsigned int n = sl_ring_recv(to_worker, m, 32);
		for (unsigned int i = 0; i < n; i++) {
			if (m[i].type == SL_MSG_GROUP && m[i].u32 == MSG_GROUP_START) {
				sl_track_create_group(mirror, m[i].u64, 0, &g);
			} else if (m[i].type == SL_MSG_GROUP && m[i].u32 == MSG_GROUP_END) {
				sl_group_finish(g);
				sl_group_unref(g);
				g = NULL;
			} else if (m[i].type == SL_MSG_FRAME) {
				/* The message's reference moves into the group: no copy, no new
				 * ref. */
				sl_group_write_frame(g, sl_slice_of(m[i].obj));
			} else if (m[i].type == SL_MSG_SHUTDOWN) {
				sl_track_finish(mirror);
				done = 1;
			}
		}
		for (int s = 0; s < WORKER_SUBS; s++)
			sub_drain(&subs[s]);
		if (n == 0)
			rte_pause();
	}
	uint64_t bad = subs_check(subs, WORKER_SUBS);
	sl_track_unref(mirror);
	struct sl_msg reply = {.type = SL_MSG_CONTROL,
			       .u64 = bad,
			       .u32 = (uint32_t)(sl_buf_stats()->bytes_copied - copied0),
			       .obj = (void *)(uintptr_t)sl_buf_stats()->frees};
	while (sl_ring_send(to_owner, &reply, 1) == 0)
		rte_pause();
	return 0;
}

int main(int argc, char **argv)
{
	(void)argc;
	char *eal_argv[] = {
		argv[0],       "--no-huge",	 "-m", "128", "--no-pci",
		"--no-shconf", "--no-telemetry", "-l", "0-1", "--log-level=lib.eal:error",
		NULL};
	int eal_argc = (int)(sizeof(eal_argv) / sizeof(eal_argv[0])) - 1;
	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		fprintf(stderr, "eal_fanout_test: rte_eal_init failed: %s\n",
			rte_strerror(rte_errno));
		return 1;
	}
	if (rte_lcore_count() < 2) {
		fprintf(stderr, "eal_fanout_test: needs two lcores, skipping\n");
		rte_eal_cleanup();
		return 77;
	}
	to_worker = sl_ring_create("to_worker", 256, (int)rte_socket_id());
	to_owner = sl_ring_create("to_owner", 16, (int)rte_socket_id());
	if (to_worker == NULL || to_owner == NULL) {
		fprintf(stderr, "eal_fanout_test: ring: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	unsigned int worker = rte_get_next_lcore(-1, 1, 0);
	rte_eal_remote_launch(worker_main, NULL, worker);

	static struct sub subs[OWNER_SUBS];
	struct sl_track *t = sl_track_new("video", 0, NULL);
	subs_init(t, subs, OWNER_SUBS);
	uint64_t copied0 = sl_buf_stats()->bytes_copied, allocs0 = sl_buf_stats()->allocs;
	for (uint64_t gs = 0; gs < GROUPS; gs++) {
		struct sl_group *g;
		if (sl_track_append_group(t, gs, &g) != 0)
			return 1;
		send_one((struct sl_msg){.type = SL_MSG_GROUP, .u32 = MSG_GROUP_START, .u64 = gs});
		for (uint64_t f = 0; f < FRAMES_PER_GROUP; f++) {
			struct sl_buf *b = sl_buf_alloc(FRAME_SIZE);
			uint64_t stamp[2] = {gs, f};
			memset(b->data, 0, FRAME_SIZE);
			memcpy(b->data, stamp, sizeof(stamp));
			b->len = FRAME_SIZE;
			/* One reference for the worker that has subscribers, one for the local
			 * group. */
			send_one((struct sl_msg){.type = SL_MSG_FRAME, .obj = sl_buf_ref(b)});
			sl_group_write_frame(g, sl_slice_of(b));
			for (int s = 0; s < OWNER_SUBS; s++)
				sub_drain(&subs[s]);
		}
		sl_group_finish(g);
		sl_group_unref(g);
		send_one((struct sl_msg){.type = SL_MSG_GROUP, .u32 = MSG_GROUP_END, .u64 = gs});
	}
	sl_track_finish(t);
	send_one((struct sl_msg){.type = SL_MSG_SHUTDOWN});
	uint64_t bad = subs_check(subs, OWNER_SUBS);
	uint64_t owner_copied = sl_buf_stats()->bytes_copied - copied0;
	sl_track_unref(t);

	struct sl_msg reply;
	while (sl_ring_recv(to_owner, &reply, 1) == 0)
		rte_pause();
	rte_eal_mp_wait_lcore();
	uint64_t allocs = sl_buf_stats()->allocs - allocs0;
	uint64_t frees = sl_buf_stats()->frees + (uint64_t)(uintptr_t)reply.obj;
	printf("owner: %d subscribers, bad=%lu; worker: %d subscribers, bad=%lu\n", OWNER_SUBS,
	       (unsigned long)bad, WORKER_SUBS, (unsigned long)reply.u64);
	printf("frames=%d buffers allocated=%lu freed=%lu payload bytes copied=%lu\n",
	       GROUPS * FRAMES_PER_GROUP, (unsigned long)allocs, (unsigned long)frees,
	       (unsigned long)(owner_copied + reply.u32));
	int ok = bad == 0 && reply.u64 == 0 && allocs == GROUPS * FRAMES_PER_GROUP &&
		 frees == allocs && owner_copied == 0 && reply.u32 == 0;
	rte_ring_free(to_worker);
	rte_ring_free(to_owner);
	rte_eal_cleanup();
	printf("%s\n", ok ? "PASS" : "FAIL");
	return ok ? 0 : 1;
}
