/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_MOQ_SESSION_INT_H
#define SL_MOQ_SESSION_INT_H

/*
 * Private to dataplane/moq: the state of a moq-lite session and the functions its parts share.
 * One session is split by stream kind into session.c (core), session_sub.c, session_relay.c,
 * session_announce.c and session_fetch.c; nothing outside those files includes this header, and
 * the public interface stays moq/session.h. Shared functions carry the sm_ prefix.
 */

#include "moq/session.h"
#include "core/err.h"
#include "core/owner.h"
#include "core/pool.h"
#include "core/u64map.h"
#include "moq/seqset.h"
#include "track/path.h"

#include <stdlib.h>
#include <string.h>

#define container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* A partial control message is at most the codec's message limit plus its length prefix; a
 * group stream only ever buffers a partial header. */
#define RX_CAP	  4096
#define ARENA_CAP 4096
/* Room to encode any control message (strings are bounded by SL_MOQ_MAX_STRING). */
#define MSG_MAX (2 * SL_MOQ_MAX_STRING + SL_MOQ_MAX_HOPS * 8 + 160)

enum kind {
	K_NEW_IN,	/* a peer stream whose type has not arrived yet */
	K_ANNOUNCE_IN,	/* the peer's ANNOUNCE_INTEREST: this side answers */
	K_SUBSCRIBE_IN, /* the peer subscribes: this side publishes */
	K_FETCH_IN,
	K_PROBE_IN, /* never reset */
	K_GOAWAY_IN,
	K_GROUP_IN,
	K_IGNORE_IN, /* reset by this side; later bytes are swallowed */
	K_ANNOUNCE_OUT,
	K_SUBSCRIBE_OUT,
	K_FETCH_OUT,
	K_GOAWAY_OUT,
	K_GROUP_OUT,
	K_SETUP_IN,  /* lite-05: the peer's uni Setup stream */
	K_TRACK_IN,  /* lite-05: the peer's TRACK, answered with TRACK_INFO */
	K_SETUP_OUT, /* lite-05: ours, released once SETUP and FIN are queued */
	K_TRACK_OUT, /* lite-05 relay: our TRACK to a publisher, for its TRACK_INFO */
};

struct sl_moq_session;

/* A unit of ready work: woken by a waiter, run by poll. */
struct task {
	struct task *next;
	struct task **pprev; /* NULL when on no list */
	void (*run)(struct task *t);
	struct sl_moq_session *s;
};

struct dsub;
struct usub;
struct remote;
struct tinfo;

/*
 * The session's side of one stream: what the transport hands back with every event of the
 * stream (its user pointer), and the transport's handle for writing on it. The two point at
 * each other until either side lets go: this side releases the handle (ops.release) when it
 * frees the stream, the transport says when the handle is gone (sl_moq_session_stream_closed).
 */
struct sl_moq_stream {
	void *h; /* the transport's handle; NULL once released or closed by the transport */
	uint8_t kind;
	bool uni;
	bool rx_done;	   /* the peer finished (or reset) its side */
	bool tx_done;	   /* this side finished (or reset) its side */
	bool dead;	   /* released: waiting on the dead list for the end of the API call */
	bool first;	   /* the stream's first message was handled */
	uint64_t err_code; /* moq-lite code to reset with after a failure */
	struct sl_moq_stream *next, **pprev; /* every live stream of the session */
	struct sl_moq_stream *dnext;	     /* dead list */
	uint8_t *rx;			     /* bytes of a partial message */
	uint32_t rxlen, rxcap;
	/* Frame reception (group and fetch streams this side receives). */
	struct sl_group *g;   /* producer reference */
	struct sl_buf *fbuf;  /* frame being assembled */
	uint64_t fleft;	      /* payload bytes still expected for fbuf */
	struct sl_track *trk; /* fetch: the private track holding g */
	/* lite-05 frame timestamps: rx_ts the running sum of the deltas received (the frame
	 * being assembled has it), tx_ts the last one written; both start at 0 on every group or
	 * fetch stream, so the first delta is the absolute timestamp. */
	uint64_t rx_ts, tx_ts;
	union {
		struct dsub *d;			/* K_SUBSCRIBE_IN */
		struct usub *u;			/* K_SUBSCRIBE_OUT */
		struct {			/* K_ANNOUNCE_IN */
			struct sl_announced *a; /* relay sessions */
			struct sl_waiter w;
			struct task task;
			char *prefix; /* client sessions: normalised */
			struct sl_moq_stream *next, **pprev;
		} ai;
		struct { /* K_ANNOUNCE_OUT */
			char *prefix;
		} ao;
		struct {		 /* K_TRACK_IN waiting for the publisher's TRACK_INFO */
			struct tinfo *q; /* NULL once answered or given up */
			struct sl_waiter w;
			struct task task;
			struct sl_moq_track_info info;
		} ti;
		struct tinfo *to; /* K_TRACK_OUT: the query it answers */
		struct {	  /* K_FETCH_IN */
			struct sl_group_reader r;
			struct sl_waiter w;
			struct task task; /* fetch_retry until a group is found, then fetch_run */
			char *bpath;	  /* the request, kept to retry an upstream FETCH */
			char *name;
			uint64_t group;
			uint8_t priority;
		} fi;
		struct { /* K_GROUP_OUT */
			struct dsub *d;
			struct sl_group_reader r;
			struct sl_waiter w;
			uint64_t seq;
			uint64_t arrival_ns;
			/* Bytes written and not yet acknowledged (sl_moq_session_stream_acked):
			 * counted into the subscription's in-flight bytes while linked to it. */
			uint64_t unacked;
			bool fin; /* every frame and the fin are queued */
			struct sl_moq_stream *next, **pprev; /* the subscription's group streams */
		} go;
	} u;
};

/* A group the subscription saw but has not opened a stream for yet. */
struct pending {
	struct sl_group_reader r;
	uint64_t seq;
	uint64_t arrival_ns;
};

/*
 * A downstream subscription: the peer subscribed, this side sends groups.
 *
 * Accounting for SUBSCRIBE_DROP and the end of a bounded range (which groups were collected,
 * resolved, or lost in a gap) is the sequence set acct; see moq/seqset.h.
 */
struct dsub {
	struct task task;
	struct sl_moq_session *s;
	struct sl_moq_stream *st; /* the Subscribe stream */
	struct dsub *next, **pprev;
	uint64_t id;
	struct sl_track_consumer cons;
	struct sl_waiter w;
	uint8_t priority;
	bool ordered;
	bool has_end;
	bool has_newest;
	bool range_done; /* the bounded range is complete: no more groups are collected */
	bool past_end;	 /* a group past the end was seen: what is missing up to it is dropped */
	bool has_seen;
	bool finished;	 /* the Subscribe stream was finished or reset by this side */
	bool ok_sent;	 /* lite-05: SUBSCRIBE_OK (the first group) went out */
	int track_state; /* 0 live, 1 ended cleanly, < 0 abort code */
	uint64_t end;
	uint64_t max_latency_ns;
	uint64_t newest_seq, newest_ns;
	uint64_t seen_max; /* the largest sequence the consumer returned, sent or not */
	struct sl_seqset acct;
	struct sl_seqdrops drops;
	struct pending *pend;
	uint32_t npend, pcap;
	struct sl_moq_stream *groups;
	/* The unacknowledged bytes of its group streams, kept as they are written, acknowledged
	 * or dropped (never summed over the streams): what max_inflight_bytes bounds. */
	uint64_t inflight;
};

/* An upstream subscription: this side subscribed, the peer sends groups. */
struct usub {
	struct task task; /* retries the stream open when the peer's limit was reached */
	struct sl_moq_session *s;
	struct sl_moq_stream *st; /* NULL until opened */
	struct usub *next, **pprev;
	uint64_t id;
	struct sl_track *track;
	struct remote *rb; /* relay: the remote broadcast it feeds; NULL for a client */
	bool ok;
	struct sl_moq_subscribe_options o;
	char *broadcast;
	char *name;
};

/*
 * Relay, lite-05: what a remote broadcast's publisher said about one of its tracks (TRACK_INFO),
 * asked once with our own TRACK and kept for every later downstream TRACK; downstream Track
 * streams wait on it meanwhile.
 */
struct tinfo {
	struct tinfo *next;
	struct sl_moq_stream *st; /* our Track stream while the answer is pending */
	bool known;
	struct sl_moq_track_info info;
	struct sl_waitq waiters;
	char name[];
};

/* Relay: a broadcast the peer announced, published into the origin on its behalf. */
struct remote {
	struct sl_moq_session *s;
	struct sl_broadcast *b;
	struct sl_moq_stream *ann; /* the interest stream it was announced on */
	struct remote *next, **pprev;
	struct tinfo *tinfos;
	uint32_t ntinfos;
	char path[];
};

/* Track names whose TRACK_INFO a relay keeps per remote broadcast: a subscriber asking for
 * endless names gets synthesized answers past it instead of growing the list and opening
 * streams to the publisher. */
#define SM_MAX_TINFOS 64

/* Client: a broadcast this side offers. */
struct pub {
	struct sl_broadcast *b;
	struct pub *next;
	char path[];
};

struct annev {
	char *path;
	bool active;
};

struct tlist {
	struct task *head;
};

struct sl_moq_relay {
	struct sl_owner owner;
	struct sl_origin *origin;
	/* The streams of every session of this relay: they are opened and closed per group per
	 * subscriber, and the relay is per core, so they come from its pool, not the heap. */
	struct sl_pool streams;
	uint32_t sessions;
	struct sl_u64map remotes; /* broadcast pointer -> struct remote, for upstream FETCH */
	struct sl_moq_relay_stats st;
};

struct sl_moq_session {
	struct sl_owner owner;
	struct sl_moq_session_config cfg;
	struct sl_moq_transport_ops ops;
	void *t;
	struct sl_moq_relay *relay;
	char *publish_prefix;
	char *root; /* cfg.root normalised; NULL when it is the origin's root */
	uint64_t now;
	bool closed;
	bool v05;	 /* speaks moq-lite-05 (cfg.version) */
	bool setup_open; /* lite-05: our SETUP is queued (or lite-04: none is sent) */
	uint64_t peer_origin;
	char *peer_path;
	/* The transport said the connection is gone (sl_moq_session_closed): its handles are
	 * dead, so nothing is released through it any more. */
	bool transport_gone;
	bool interest_open; /* the relay's publish-prefix interest is open, or none is wanted */
	uint32_t depth;
	uint32_t nstreams; /* live streams (max_streams) */
	uint32_t ndsubs;
	uint64_t next_sub_id;
	struct sl_u64map dsubs; /* peer's subscribe id -> dsub */
	struct sl_u64map usubs; /* own subscribe id -> usub */
	struct sl_moq_stream *all;
	struct sl_moq_stream *dead;
	struct dsub *dsub_list;
	struct usub *usub_list;
	struct remote *remotes;
	struct pub *pubs;
	struct sl_moq_stream *ann_ins; /* client: the peer's interests, for later publishes */
	struct tlist ready, blocked;
	/* The owner's ready callback and clock (sl_moq_session_set_ready); signalled while the
	 * owner knows there is work and has not polled yet. */
	void (*on_ready)(void *arg);
	void *ready_arg;
	const uint64_t *now_src;
	bool signalled;
	/* Other sessions' FETCHes waiting for this (upstream) session's stream limit. */
	struct sl_waitq credit_waiters;
	struct sl_buf *arena;
	struct annev *aq;
	uint32_t aqhead, aqlen, aqcap;
	char *acur;
	struct sl_waitq awaiters;
	char *goaway_uri;
	struct sl_moq_session_stats st;
};

/* ---- ready work (small: inlined in every part) ---- */

static inline void sm_task_unlink(struct task *t)
{
	if (t->pprev == NULL)
		return;
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	t->next = NULL;
	t->pprev = NULL;
}

static inline void sm_task_push(struct tlist *l, struct task *t)
{
	sm_task_unlink(t);
	t->next = l->head;
	if (l->head)
		l->head->pprev = &t->next;
	t->pprev = &l->head;
	l->head = t;
}

static inline void sm_task_init(struct task *t, struct sl_moq_session *s,
				void (*run)(struct task *))
{
	t->next = NULL;
	t->pprev = NULL;
	t->run = run;
	t->s = s;
}

/* Queues t to run at the next poll, telling the owner the first time since its last poll. */
static inline void sm_ready_push(struct sl_moq_session *s, struct task *t)
{
	sm_task_push(&s->ready, t);
	if (s->on_ready && !s->signalled) {
		s->signalled = true;
		s->on_ready(s->ready_arg);
	}
}

/* ---- session.c: lifecycle, streams, transport writes, the parser and dispatch, poll ---- */

char *sm_str_dup(struct sl_moq_str m);
/* A broadcast path or prefix the peer named, as the origin knows it: below the session's root
 * (normalised then), or as it came without one. NULL on ENOMEM or a path that does not fit. */
char *sm_path_in(const struct sl_moq_session *s, struct sl_moq_str m);
/* A path of the origin as the peer knows it: without the session's root. */
const char *sm_path_out(const struct sl_moq_session *s, const char *full);
bool sm_str_has_nul(struct sl_moq_str m);
char *sm_path_norm(const char *in, size_t n);
/* Does the owner's authorisation hook allow op on path (true without a hook)? A refusal is
 * counted in auth_refused. */
bool sm_allowed(struct sl_moq_session *s, enum sl_moq_auth_op op, const char *path);
char *sm_path_join(const char *prefix, const char *suffix, size_t slen);
int sm_tx(struct sl_moq_session *s, struct sl_moq_stream *st, const void *p, size_t n, bool fin);
int sm_tx_frame(struct sl_moq_session *s, struct sl_moq_stream *st, struct sl_slice f);
/* Writes a frame in the session's version: lite-05 adds the timestamp delta (ts
 * SL_GROUP_NO_TS: the session's clock in ms, never below the previous frame's). */
int sm_tx_frame_v(struct sl_moq_session *s, struct sl_moq_stream *st, struct sl_slice f,
		  uint64_t ts);
int sm_stream_open(struct sl_moq_session *s, bool bidi, uint8_t kind, struct sl_moq_stream **out);
void sm_stream_release(struct sl_moq_session *s, struct sl_moq_stream *st);
void sm_enter(struct sl_moq_session *s);
void sm_leave(struct sl_moq_session *s);
void sm_tx_fin(struct sl_moq_session *s, struct sl_moq_stream *st);
void sm_reset_stream(struct sl_moq_session *s, struct sl_moq_stream *st, uint64_t code);
void sm_session_close(struct sl_moq_session *s, uint64_t code, const char *reason);
int sm_check_name(const char *s);
/* Both names of a track request: sm_check_name each, and a track name is not empty. */
int sm_check_track_names(const char *broadcast, const char *track);

/* ---- session_sub.c: downstream subscriptions ---- */

void sm_group_out_unlink(struct sl_moq_stream *st);
void sm_dsub_free(struct dsub *d, bool reset_unfinished);
void sm_dsub_resolved(struct dsub *d, uint64_t seq);
int sm_lookup_track(struct sl_moq_session *s, const char *bpath, const char *name, uint8_t priority,
		    bool create, struct sl_track **out);
int sm_on_subscribe(struct sl_moq_session *s, struct sl_moq_stream *st,
		    const struct sl_moq_subscribe *m);
int sm_broadcast_track(struct sl_broadcast *b, const char *name, uint8_t priority, bool create,
		       struct sl_track **out);
void sm_on_subscribe_update(struct sl_moq_session *s, struct sl_moq_stream *st,
			    const struct sl_moq_subscribe_terms *m);

/* ---- session_relay.c: remote broadcasts and upstream subscriptions ---- */

void sm_usub_end(struct usub *u, int err);
void sm_remote_end(struct sl_moq_session *s, struct remote *rb);
void sm_remotes_end_stream(struct sl_moq_session *s, struct sl_moq_stream *ann);
int sm_relay_on_announce(struct sl_moq_session *s, struct sl_moq_stream *st, char *path,
			 bool active);
int sm_relay_lookup_track(struct sl_moq_session *s, const char *bpath, const char *name,
			  uint8_t priority, bool create, struct sl_track **out);
int sm_relay_fetch_upstream(struct sl_moq_session *s, struct sl_moq_stream *st);
int sm_on_group_header(struct sl_moq_session *s, struct sl_moq_stream *st,
		       const struct sl_moq_group *m);
/* lite-05 relay: the TRACK_INFO of a track of b, or a query to its publisher. Returns 1 with
 * *out filled when known, 0 when st waits (its task answers), or -1 when b's publisher cannot be
 * asked (not a lite-05 session's broadcast here, or no stream): the caller synthesizes. */
int sm_relay_track_info(struct sl_moq_session *s, struct sl_moq_stream *st, struct sl_broadcast *b,
			const char *name, struct sl_moq_track_info *out);
/* Our Track stream's answer arrived (info) or the stream ended without one (NULL). */
void sm_tinfo_done(struct sl_moq_session *s, struct sl_moq_stream *st,
		   const struct sl_moq_track_info *info);
/* Sends TRACK_INFO then FIN on a downstream Track stream. */
int sm_send_track_info(struct sl_moq_session *s, struct sl_moq_stream *st,
		       const struct sl_moq_track_info *info);

/* ---- session_announce.c: announcements ---- */

int sm_on_interest(struct sl_moq_session *s, struct sl_moq_stream *st,
		   const struct sl_moq_announce_interest *m);
int sm_on_announce(struct sl_moq_session *s, struct sl_moq_stream *st,
		   const struct sl_moq_announce *m);
void sm_open_interest(struct sl_moq_session *s, const char *prefix, bool *done, int *ret);

/* ---- session_fetch.c: FETCH ---- */

int sm_on_fetch(struct sl_moq_session *s, struct sl_moq_stream *st, const struct sl_moq_fetch *m);
int sm_fetch_open(struct sl_moq_session *s, const char *broadcast, const char *track,
		  uint8_t priority, uint64_t group, struct sl_group_reader *out);

#endif
