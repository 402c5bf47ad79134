/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_MOQ_SESSION_H
#define SL_MOQ_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/trace.h"
#include "core/wait.h"
#include "moq/codec.h"
#include "track/origin.h"
#include "track/track.h"
#include "core/stats.h"

/*
 * A moq-lite session over one connection, sans-IO, in the version the connection negotiated
 * (cfg.version: lite-04 or lite-05; docs/moq.md says what lite-05 changes). The caller owns the
 * transport (a QUIC connection in the shard, an in-memory pipe in tests): it feeds stream events in
 * with the sl_moq_session_stream_* calls and gives the session a table of transport operations to
 * open, write and reset streams. sl_moq_session_poll moves ready track data onto group streams; it
 * visits only subscriptions whose waiters fired, never every subscription.
 *
 * Streams are handles both ways, never ids to look up: the transport gives the session an
 * opaque handle per stream (open_stream, sl_moq_session_stream_accept), and the session gives
 * the transport its struct sl_moq_stream, which the transport keeps with its stream (QUIC's
 * stream user data) and hands to every event of that stream. Acknowledgements arrive the same
 * way (sl_moq_session_stream_acked), so the in-flight budget is counted, not polled. The pair
 * is undone from either side: the session calls ops->release when it is done with a stream
 * (the transport then hands no more events of it with the session's pointer), and the
 * transport calls sl_moq_session_stream_closed when its stream ends first (the session then
 * never uses the handle again).
 *
 * Two roles share the code:
 *  - relay sessions (created with a struct sl_moq_relay): the peer's ANNOUNCEs become broadcasts
 *    in the shard's origin, SUBSCRIBEs are served from that origin, and a track of a broadcast
 *    another session announced is fed by ONE upstream subscription shared by every subscriber;
 *    a FETCH for a group the origin does not hold goes to that session's peer;
 *  - client sessions (relay NULL): publish local broadcasts (sl_moq_session_publish) and
 *    subscribe to remote tracks (sl_moq_session_subscribe) into local tracks.
 *
 * Everything runs on the core that owns the connection; sessions of one relay share its origin
 * and therefore must run on the same core. See docs/moq.md.
 */
struct sl_moq_session;
struct sl_moq_relay;
/* The session's side of one stream, handed to the transport as its user pointer. */
struct sl_moq_stream;

/* Implemented by the caller over a QUIC connection (or anything with QUIC stream semantics).
 * A handle is the transport's own (for QUIC, struct sl_quic_stream *); the session only passes
 * it back. */
struct sl_moq_transport_ops {
	/* Opens a local stream whose events carry user (the session's stream) and stores its
	 * handle in *handle. Returns 0, SL_EBUSY when the peer's stream limit is reached (the
	 * session retries once sl_moq_session_writable says so, or on a later poll), or another
	 * negative code. */
	int (*open_stream)(void *t, bool bidi, void *user, void **handle);
	/* Queues data (and fin) on a stream. Takes over data.buf's reference, also on error;
	 * data.buf is NULL when data.len is 0 (a bare fin). Returns 0 or a negative code. The
	 * transport reports the bytes back through sl_moq_session_stream_acked once the peer
	 * has them. */
	int (*write)(void *t, void *handle, struct sl_slice data, bool fin);
	/* Resets the sending side and stops the receiving side of a stream. */
	int (*reset)(void *t, void *handle, uint64_t code);
	/* The session is done with the stream and forgets the handle: later events of it must
	 * not carry the session's pointer (the stream itself lives on in the transport as long as
	 * it needs to, e.g. to deliver bytes already written). Never called after
	 * sl_moq_session_stream_closed for that stream, nor after sl_moq_session_closed. */
	void (*release)(void *t, void *handle);
	/* Closes the connection with a moq-lite error code (0 = clean). */
	void (*close)(void *t, uint64_t code, const char *reason);
	/* Optional: where a stream stands when the connection cannot send everything queued;
	 * lower is sent first. Group streams get one from subscriber priority, publisher
	 * priority and the group's place in the subscription's order (sl_moq_group_order). */
	void (*set_order)(void *t, void *handle, uint64_t order);
};

/*
 * The send order of a group stream (lower first), as moq-lite intends: the subscriber's priority
 * first (higher is sent first), the publisher's track priority breaking ties, then the group:
 * oldest first when the subscription is ordered, newest first otherwise.
 */
uint64_t sl_moq_group_order(uint8_t sub_priority, uint8_t pub_priority, bool ordered,
			    uint64_t sequence);

/* What a relay session asks its owner's authorisation hook (sl_moq_session_config.authorize)
 * before it acts for the peer. Paths are normalised broadcast paths as the peer named them. */
enum sl_moq_auth_op {
	SL_MOQ_AUTH_PUBLISH,   /* the peer announced the broadcast at path */
	SL_MOQ_AUTH_SUBSCRIBE, /* the peer subscribes to or fetches from path, or would be told
				* that it is announced */
	SL_MOQ_AUTH_ANNOUNCE,  /* the peer asks for the announcements under the prefix path */
};

struct sl_moq_session_config {
	/* The session's end of the connection: true for the accepting (relay) side. */
	bool server;
	/* The moq-lite version spoken: SL_MOQ_LITE_04 (default) or SL_MOQ_LITE_05, fixed by the
	 * connection (the ALPN on raw QUIC, the subprotocol on a WebSocket); see docs/moq.md. */
	enum sl_moq_version version;
	/* lite-05: this side's origin (hop) id, sent in SETUP and ANNOUNCE_OK and put in
	 * ANNOUNCE_INTEREST's exclude_hop. 0 (default): a non-zero 53-bit value derived from the
	 * session's address, distinct per session. */
	uint64_t origin_id;
	/* Relay sessions only: the prefix the peer may publish under, asked for with one
	 * ANNOUNCE_INTEREST when the session starts. Default "" (everything); NULL opens none. */
	const char *publish_prefix;
	/*
	 * Relay sessions only: the connection's path (a WebSocket URL's, as moq-relay roots a
	 * session there). Every broadcast path and prefix the peer names is relative to it: the
	 * peer's "cam" at root "demo" is "demo/cam" in the origin, and the peer is told paths
	 * without the root. Default NULL or "": the origin's root, paths as the peer names them.
	 */
	const char *root;
	/* Per downstream subscription: bytes written to group streams and not yet acknowledged.
	 * Above it the oldest groups except the newest are reset. Default 4 MiB. */
	uint64_t max_inflight_bytes;
	/* Largest frame accepted on a group or fetch stream; larger resets the stream with the
	 * bounds code. Default 16 MiB. */
	uint64_t max_frame_bytes;
	/* Live streams of any kind; a peer that opens more gets the session closed with the
	 * bounds code. Default 65536. */
	uint32_t max_streams;
	/* Downstream subscriptions the peer may hold at once; more are reset with the bounds
	 * code. Default 4096. */
	uint32_t max_subscriptions;
	/* Send SUBSCRIBE_DROP for the groups a subscription skips (expired, over the in-flight
	 * budget, failed upstream, or never available), besides resetting their streams.
	 * Default false: moq-lite 0.15.x Rust subscribers fail a subscription on any message after
	 * SUBSCRIBE_OK, and @moq/lite 0.2.2 leaves it unread (see docs/moq.md). */
	bool send_drops;
	/* The owner's latency breakdown (core/trace.h): frames received from a publisher and
	 * frames queued to a subscriber pass its stages. NULL: none. */
	struct sl_trace *trace;
	/*
	 * Relay sessions: the connection's credentials (a token's grant, control/jwt.h), asked
	 * with auth_arg before the peer's ANNOUNCE is published into the origin (a refusal
	 * ignores that broadcast, as moq-relay does), before a SUBSCRIBE or FETCH is served (a
	 * refusal resets its stream with SL_MOQ_ERR_UNAUTHORIZED), before an ANNOUNCE_INTEREST
	 * is answered (likewise) and before each broadcast is announced on it (a refusal leaves
	 * it out). Each refusal counts in auth_refused. NULL (default): everything is allowed.
	 */
	bool (*authorize)(void *auth_arg, enum sl_moq_auth_op op, const char *path);
	void *auth_arg;
};

/* Fills c with the defaults documented above. */
void sl_moq_session_config_default(struct sl_moq_session_config *c);

/* Message kinds, for the per-type counters. */
enum sl_moq_msg {
	SL_MOQ_MSG_ANNOUNCE_INTEREST,
	SL_MOQ_MSG_ANNOUNCE,
	SL_MOQ_MSG_SUBSCRIBE,
	SL_MOQ_MSG_SUBSCRIBE_UPDATE,
	SL_MOQ_MSG_SUBSCRIBE_OK,
	SL_MOQ_MSG_SUBSCRIBE_DROP,
	SL_MOQ_MSG_GROUP,
	SL_MOQ_MSG_FRAME,
	SL_MOQ_MSG_FETCH,
	SL_MOQ_MSG_PROBE,
	SL_MOQ_MSG_GOAWAY,
	/* lite-05 only */
	SL_MOQ_MSG_SETUP,
	SL_MOQ_MSG_ANNOUNCE_OK,
	SL_MOQ_MSG_TRACK,
	SL_MOQ_MSG_TRACK_INFO,
	SL_MOQ_MSG_SUBSCRIBE_END,
	SL_MOQ_MSG_COUNT,
};

/* The counter name of a message kind ("subscribe_ok"), or "?" out of range. */
const char *sl_moq_msg_name(enum sl_moq_msg m);

/* Counters of one session, for shardctl. */
struct sl_moq_session_stats {
	uint64_t msgs_in[SL_MOQ_MSG_COUNT];
	uint64_t msgs_out[SL_MOQ_MSG_COUNT];
	uint64_t bytes_in;	    /* every stream byte received */
	uint64_t bytes_out;	    /* every stream byte written (headers and payload) */
	uint64_t payload_in;	    /* frame payload bytes received */
	uint64_t payload_out;	    /* frame payload bytes written */
	uint64_t decode_errors;	    /* malformed messages (stream reset or session closed) */
	uint64_t protocol_errors;   /* well-formed but not allowed here */
	uint64_t unknown_streams;   /* streams of an unknown type, reset */
	uint64_t streams_in;	    /* streams the peer opened */
	uint64_t streams_out;	    /* streams this side opened */
	uint64_t resets_in;	    /* streams the peer reset or stopped */
	uint64_t resets_out;	    /* streams this side reset */
	uint64_t groups_in;	    /* group streams received into a track */
	uint64_t groups_in_dropped; /* group streams refused (unknown subscription, duplicate) */
	uint64_t groups_sent;	    /* group streams finished (all frames queued, fin sent) */
	uint64_t groups_reset;	    /* group streams reset for any reason */
	uint64_t groups_late;	    /* ... of which older than the subscriber's max latency */
	uint64_t groups_lagged;	    /* ... of which over the in-flight byte budget */
	uint64_t drops_sent;	    /* groups covered by the SUBSCRIBE_DROPs sent (send_drops) */
	uint64_t subscribes_in;	    /* downstream subscriptions accepted */
	uint64_t subscribes_active; /* downstream subscriptions now */
	uint64_t upstreams_active;  /* subscriptions this session holds with the peer now */
	uint64_t fetches_served;
	uint64_t
		auth_refused; /* announces, subscribes, fetches and interests refused (authorize) */
	uint64_t close_code;  /* the code the session closed with (valid once closed) */
	bool closed;
	bool closed_locally; /* this side closed it (a protocol error, or sl_moq_session_close) */
};
/* Its members, for status and the counter sums (core/stats.h). */
extern const struct sl_stat_field sl_moq_session_stats_fields[];

/* Subscription options; sl_moq_subscribe_options_default gives what @moq/lite sends: priority
 * 0, ordered 0, max latency 0 (none), start at the latest group, no end. */
struct sl_moq_subscribe_options {
	uint8_t priority;
	bool ordered;
	uint64_t max_latency_ms;
	bool has_start;
	uint64_t start;
	bool has_end; /* inclusive */
	uint64_t end;
};

void sl_moq_subscribe_options_default(struct sl_moq_subscribe_options *o);

/* ---- relay routing state: one per shard, shared by that shard's relay sessions ---- */

struct sl_moq_relay_stats {
	uint64_t upstream_subscribes;  /* SUBSCRIBEs sent to publishers */
	uint64_t upstream_cancels;     /* ... cancelled because their last subscriber left */
	uint64_t shared_subscribes;    /* downstream subscriptions that joined a live upstream */
	uint64_t broadcasts_announced; /* remote broadcasts published into the origin */
	uint64_t broadcasts_refused;   /* announced paths already active (first one wins) */
	uint64_t upstreams_active;
	uint64_t upstream_fetches; /* FETCHes sent to publishers for groups not cached here */
};
/* Its members, for status and the counter sums (core/stats.h). */
extern const struct sl_stat_field sl_moq_relay_stats_fields[];

/* Creates routing state over origin (borrowed: it must outlive the relay). NULL on ENOMEM. */
struct sl_moq_relay *sl_moq_relay_new(struct sl_origin *origin);

/* Frees the relay. Every session created with it must have been freed first. */
void sl_moq_relay_free(struct sl_moq_relay *r);

/*
 * A relay, its stream pool and its sessions belong to one core (core/owner.h): the core that
 * runs them calls sl_moq_relay_adopt (and sl_moq_session_adopt for sessions another thread
 * created) before its first call, and the *_disown calls when it stops, so that the thread
 * that frees them may.
 */
void sl_moq_relay_adopt(struct sl_moq_relay *r);
void sl_moq_relay_disown(struct sl_moq_relay *r);

/* Copies the counters of the pool the relay's sessions take their streams from. */
struct sl_pool_stats;
void sl_moq_relay_pool_stats(const struct sl_moq_relay *r, struct sl_pool_stats *out);

struct sl_origin *sl_moq_relay_origin(struct sl_moq_relay *r);
void sl_moq_relay_stats(const struct sl_moq_relay *r, struct sl_moq_relay_stats *out);

/* ---- session lifecycle and transport events ---- */

/*
 * Creates a session on transport t (ops copied, t borrowed). relay NULL makes a client session.
 * A relay session opens its ANNOUNCE_INTEREST on the first poll. cfg NULL means defaults.
 * Returns NULL on allocation failure or when ops lacks a function.
 */
struct sl_moq_session *sl_moq_session_new(const struct sl_moq_session_config *cfg,
					  const struct sl_moq_transport_ops *ops, void *t,
					  struct sl_moq_relay *relay);

/*
 * Frees the session. If it was not closed, its streams are released (ops->release: the
 * transport must still be there) and it is treated as closed (nothing more is written to the
 * transport); tracks it fed end as described at sl_moq_session_closed.
 */
void sl_moq_session_free(struct sl_moq_session *s);

/*
 * The peer opened a stream (handle: the transport's; bidi or unidirectional). Returns the
 * session's stream, which the transport hands to every later event of it (its user pointer),
 * or NULL when the session takes no stream: it is closed, or the peer exceeded max_streams (the
 * session is then closed with the bounds code). A stream the transport has no pointer for is
 * simply not reported.
 */
struct sl_moq_stream *sl_moq_session_stream_accept(struct sl_moq_session *s, void *handle,
						   bool bidi);

/*
 * Feeds stream bytes in order; fin marks the end of the peer's side. Any split of the bytes
 * is accepted. Protocol errors are handled inside (the stream is reset or the session closed,
 * and counted). Track groups created here are timed with the now_ns of the latest poll.
 * st NULL (a stream the session released) is ignored. Returns 0, or SL_ECLOSED once the
 * session is closed.
 */
int sl_moq_session_stream_data(struct sl_moq_session *s, struct sl_moq_stream *st,
			       const uint8_t *data, size_t len, bool fin);

/* The peer reset stream st, or asked this side to stop sending on it, with code. */
void sl_moq_session_stream_reset(struct sl_moq_session *s, struct sl_moq_stream *st, uint64_t code);

/*
 * The peer acknowledged bytes more of what the session wrote on st (in order). A subscription's
 * in-flight bytes go down by as much, and a group stream that is finished and wholly
 * acknowledged is retired at the next poll. st NULL is ignored.
 */
void sl_moq_session_stream_acked(struct sl_moq_session *s, struct sl_moq_stream *st,
				 uint64_t bytes);

/*
 * The transport's stream is gone (both directions done, or the connection ends): the session
 * never uses its handle again. What the stream had in flight is no longer counted. Every
 * stream the session still holds must get this (or the session sl_moq_session_closed) before
 * the transport frees the handle. st NULL is ignored.
 */
void sl_moq_session_stream_closed(struct sl_moq_session *s, struct sl_moq_stream *st);

/*
 * The connection is gone. Downstream subscriptions end, upstream ones end their tracks: in a
 * relay, the broadcasts this peer announced are unpublished and their tracks finished cleanly
 * (groups in flight are aborted), so subscribers on other sessions see a clean end; in a client,
 * subscribed tracks are aborted with SL_EDROPPED. No transport operation is called from here
 * on, not even release: the handles died with the connection. Idempotent.
 */
void sl_moq_session_closed(struct sl_moq_session *s);

/* Closes the connection with a moq-lite code through ops->close, then as sl_moq_session_closed. */
void sl_moq_session_close(struct sl_moq_session *s, uint64_t code, const char *reason);

/*
 * Does the ready work: opens pending streams, writes announcements, moves frames of groups
 * whose waiters fired to group streams, expires late groups, enforces the in-flight budget.
 * now_ns is the caller's clock. Returns 0, or SL_ECLOSED once the session is closed.
 */
int sl_moq_session_poll(struct sl_moq_session *s, uint64_t now_ns);

/*
 * Lets the owner poll the session only when it has work, instead of on every loop pass.
 * Once set, the session calls ready(arg) when it gets work while none was pending (a frame
 * for a subscriber, a stream to open, a message to write; at most once until the next poll),
 * and reads the owner's clock from *now at every entry, so the groups it creates between polls
 * are timed right. Work that waits for the peer's stream limit is retried only after
 * sl_moq_session_writable. The call itself counts as work: the owner polls once after it.
 */
void sl_moq_session_set_ready(struct sl_moq_session *s, void (*ready)(void *arg), void *arg,
			      const uint64_t *now);

/* The peer raised its stream limit: work that waited for it is made ready again. */
void sl_moq_session_writable(struct sl_moq_session *s);

/* True once closed; *code (if not NULL) receives the close code. */
/* See sl_moq_relay_adopt. */
void sl_moq_session_adopt(struct sl_moq_session *s);
void sl_moq_session_disown(struct sl_moq_session *s);

bool sl_moq_session_is_closed(const struct sl_moq_session *s, uint64_t *code);

void sl_moq_session_stats(const struct sl_moq_session *s, struct sl_moq_session_stats *out);

/* ---- client role: publishing ---- */

/*
 * Offers broadcast b (a reference is taken) to the peer at path: announced on every
 * ANNOUNCE_INTEREST stream whose prefix covers it, and served to SUBSCRIBE and FETCH from b's
 * tracks. Errors: SL_EINVAL (relay session), SL_EDUP (path already published here), SL_EINVAL /
 * SL_ERANGE (bad path), SL_ECLOSED, SL_ENOMEM.
 */
int sl_moq_session_publish(struct sl_moq_session *s, const char *path, struct sl_broadcast *b);

/* Withdraws path: announces it ended (subscriptions already served continue until their
 * tracks end). Errors: SL_ENOTFOUND, SL_ECLOSED. */
int sl_moq_session_unpublish(struct sl_moq_session *s, const char *path);

/* ---- client role (any session, in fact): subscribing ---- */

/*
 * Sends SUBSCRIBE for track of broadcast on a new Subscribe stream and starts *consumer on a new
 * local track that the received groups are written into (caller releases the consumer with
 * sl_track_consumer_release). The track finishes when the publisher ends the subscription, is
 * aborted with the mapped error on a reset, with SL_ECANCEL on unsubscribe, and with
 * SL_EDROPPED when the session closes. opts NULL means the defaults. *id (if not NULL) receives
 * the subscription id. Errors: SL_EBUSY (stream limit: retry), SL_EINVAL / SL_ERANGE (empty or
 * over-long names), SL_ECLOSED, SL_ENOMEM.
 */
int sl_moq_session_subscribe(struct sl_moq_session *s, const char *broadcast, const char *track,
			     const struct sl_moq_subscribe_options *opts, uint64_t *id,
			     struct sl_track_consumer *consumer);

/*
 * Sends SUBSCRIBE_UPDATE with new terms for subscription id (every field is sent: priority,
 * ordered, max latency, and start / end, where has_start = false keeps the publisher's current
 * start and has_end = false removes the bound). If the SUBSCRIBE is still waiting for the
 * stream limit, it goes out with these terms instead. opts NULL means the defaults (priority 0,
 * unordered, no latency bound, start kept, no end). Not for moq-lite 0.15.x Rust publishers,
 * which fail a subscription on any message after SUBSCRIBE. Errors: SL_ENOTFOUND, SL_ERANGE (a
 * value >= 2^53), SL_ECLOSED (session closed, or the subscription's stream already finished).
 */
int sl_moq_session_subscribe_update(struct sl_moq_session *s, uint64_t id,
				    const struct sl_moq_subscribe_options *opts);

/* Ends subscription id (FIN of the Subscribe stream). Errors: SL_ENOTFOUND, SL_ECLOSED. */
int sl_moq_session_unsubscribe(struct sl_moq_session *s, uint64_t id);

/*
 * Fetches one group: sends FETCH and starts *out reading a local group that the received
 * frames are written into; it finishes on the publisher's FIN and is aborted on a reset
 * (SL_ENOTFOUND when the publisher answered not-found). Release with sl_group_reader_release.
 * Errors: SL_EBUSY, SL_EINVAL / SL_ERANGE, SL_ECLOSED, SL_ENOMEM.
 */
int sl_moq_session_fetch(struct sl_moq_session *s, const char *broadcast, const char *track,
			 uint8_t priority, uint64_t group, struct sl_group_reader *out);

/* ---- announcements ---- */

/*
 * Opens an ANNOUNCE_INTEREST for prefix; the ANNOUNCEs received are queued for
 * sl_moq_session_next_announce. Errors: SL_EBUSY, SL_ERANGE, SL_ECLOSED, SL_ENOMEM.
 */
int sl_moq_session_announce_interest(struct sl_moq_session *s, const char *prefix);

struct sl_moq_announcement {
	const char *path; /* full path (prefix/suffix); valid until the next call or free */
	bool active;
};

/* Next received announcement. Returns 0, SL_EAGAIN (w armed), or SL_ECLOSED once the session
 * closed and the queue is empty. */
int sl_moq_session_next_announce(struct sl_moq_session *s, struct sl_waiter *w,
				 struct sl_moq_announcement *ev);

/* ---- goaway ---- */

/*
 * Sends GOAWAY(uri) on a new Goaway stream and finishes it (the shard does this on shutdown
 * before closing). Errors: SL_EBUSY, SL_ERANGE (uri too long), SL_ECLOSED, SL_ENOMEM.
 */
int sl_moq_session_goaway(struct sl_moq_session *s, const char *uri);

/* ---- lite-05 ---- */

/* The version the session speaks (its config's). */
enum sl_moq_version sl_moq_session_version(const struct sl_moq_session *s);

/* lite-05: the peer's origin id from its SETUP (0 until one arrived or if it sent none). */
uint64_t sl_moq_session_peer_origin(const struct sl_moq_session *s);

/* lite-05: the Path parameter of the peer's SETUP (a client over raw QUIC may name the root it
 * wants there), or NULL when none came. Recorded only: it comes after the session started, so
 * it does not become cfg.root (WebSocket sessions get theirs from the URL). */
const char *sl_moq_session_peer_path(const struct sl_moq_session *s);

/* The uri of a GOAWAY received from the peer ("" = just close), or NULL if none came. */
const char *sl_moq_session_goaway_uri(const struct sl_moq_session *s);

#endif
