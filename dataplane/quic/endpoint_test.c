/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Two real endpoints (ngtcp2 + GnuTLS, one server, one client) exchanging datagrams through an
 * in-memory wire: deterministic, no sockets. The wire can drop and reorder datagrams, so loss
 * recovery and reordering run for real.
 */
#include "core/test_common.h"
#include "core/err.h"
#include "quic/endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS UINT64_C(1000000)
/* The test's application protocol: QUIC runs whatever its caller names (none of its own). */
#define ALPN "sl-test"

struct dgram {
	uint8_t data[1500];
	size_t len;
	struct sl_quic_path path;
};

/* One direction of the wire: a queue of datagrams plus the loss/reorder policy. */
struct wire {
	struct dgram q[4096];
	size_t n;
	uint32_t drop_every; /* drop every Nth datagram (0: none) */
	bool reorder;	     /* deliver each pair swapped */
	/* A NAT between client and server that moved the client's mapping from port nat_from to
	 * nat_to (0: no NAT): the server sees nat_to; what it sends to nat_to reaches the client,
	 * what it still sends to nat_from is lost (the old mapping is gone). */
	uint16_t nat_from, nat_to;
	/* The driver cookie the receiving side's "driver" stamps on every datagram it hands in;
	 * the one of the last datagram sent in this direction, and of the first sent to port
	 * nat_to (a path challenge goes out before the connection moves). */
	uint64_t cookie, last_cookie, nat_first_cookie;
	bool nat_sent;
	uint64_t seen, dropped;
};

/* The test's own state of one stream: the user pointer it attaches, so every callback can be
 * checked to carry it and its handle. */
struct tag {
	struct sl_quic_stream *h; /* NULL once closed */
	int64_t id;
	uint64_t acked;
	int data, resets, acks, closes;
};

struct side {
	struct sl_quic_endpoint *ep;
	struct tag tags[256];
	int ntags;
	bool fin_back;	      /* finish our side of a peer's bidi stream when its fin arrives */
	int closes;	      /* on_stream_close calls, any user */
	int null_events;      /* stream callbacks that carried no user (detached streams) */
	int open_at_closed;   /* tags still open when on_closed ran */
	int closes_at_closed; /* on_stream_close calls before on_closed */
	struct wire *out;
	struct dgram staging;
	struct sl_quic_conn *conn;
	int connected, closed;
	uint64_t close_error;
	int64_t last_stream;
	uint8_t rx[1 << 20];
	size_t rx_len;
	int fins, resets, opens;
	/* Streams in the order their fin arrived, and their first bytes' arrival order. */
	int64_t fin_ids[16], first_ids[16];
	int nfin_ids, nfirst_ids;
};

static uint8_t *tx_alloc(void *arg, size_t max, void **token)
{
	struct side *s = arg;
	(void)max;
	*token = &s->staging;
	return s->staging.data;
}

static void tx_commit(void *arg, void *token, const struct sl_quic_path *path, size_t len)
{
	struct side *s = arg;
	struct dgram *d = token;
	if (len == 0)
		return;
	struct wire *w = s->out;
	w->seen++;
	w->last_cookie = path->cookie;
	if (w->nat_to && !w->nat_sent &&
	    ntohs(((const struct sockaddr_in *)&path->remote)->sin_port) == w->nat_to) {
		w->nat_sent = true;
		w->nat_first_cookie = path->cookie;
	}
	if (w->drop_every && w->seen % w->drop_every == 0) {
		w->dropped++;
		return;
	}
	assert_true(w->n < sizeof(w->q) / sizeof(w->q[0]));
	memcpy(w->q[w->n].data, d->data, len);
	w->q[w->n].len = len;
	w->q[w->n].path = *path;
	w->n++;
}

static void on_connected(void *arg, struct sl_quic_conn *c)
{
	struct side *s = arg;
	s->connected++;
	s->conn = c;
}

static struct tag *tag_new(struct side *s, struct sl_quic_stream *h)
{
	assert_true(s->ntags < 256);
	struct tag *t = &s->tags[s->ntags++];
	memset(t, 0, sizeof(*t));
	t->h = h;
	t->id = h ? sl_quic_stream_id(h) : -1;
	return t;
}

/* A callback's user must be the tag of the very handle it names (or NULL: detached). */
static struct tag *tag_of(struct side *s, struct sl_quic_stream *h, void *user)
{
	struct tag *t = user;
	if (t == NULL) {
		s->null_events++;
		return NULL;
	}
	assert_true(t >= s->tags && t < s->tags + s->ntags);
	assert_ptr_equal(t->h, h);
	assert_int_equal(t->id, sl_quic_stream_id(h));
	assert_ptr_equal(sl_quic_stream_user(h), t);
	return t;
}

/* Opens a local stream whose user is a new tag. */
static struct tag *open_tagged(struct side *s, struct sl_quic_conn *c, bool bidi)
{
	struct tag *t = tag_new(s, NULL);
	assert_int_equal(sl_quic_stream_open(c, bidi, t, &t->h), 0);
	t->id = sl_quic_stream_id(t->h);
	return t;
}

static void *on_stream_open(void *arg, struct sl_quic_conn *c, struct sl_quic_stream *h)
{
	(void)c;
	struct side *s = arg;
	s->opens++;
	s->last_stream = sl_quic_stream_id(h);
	assert_null(sl_quic_stream_user(h));
	return tag_new(s, h);
}

static void on_stream_data(void *arg, struct sl_quic_conn *c, struct sl_quic_stream *h, void *user,
			   const uint8_t *data, size_t len, bool fin)
{
	struct side *s = arg;
	struct tag *t = tag_of(s, h, user);
	if (t)
		t->data++;
	int64_t id = sl_quic_stream_id(h);
	assert_true(s->rx_len + len <= sizeof(s->rx));
	if (len) /* a bare fin has no bytes, and may have no pointer */
		memcpy(s->rx + s->rx_len, data, len);
	s->rx_len += len;
	s->fins += fin;
	bool seen = false;
	for (int i = 0; i < s->nfirst_ids; i++)
		seen |= s->first_ids[i] == id;
	if (!seen && len && s->nfirst_ids < 16)
		s->first_ids[s->nfirst_ids++] = id;
	if (fin && s->nfin_ids < 16)
		s->fin_ids[s->nfin_ids++] = id;
	if (fin && s->fin_back && !(id & 2))
		assert_int_equal(sl_quic_stream_write(c, h, (struct sl_slice){0}, true), 0);
}

static void on_stream_reset(void *arg, struct sl_quic_conn *c, struct sl_quic_stream *h, void *user,
			    uint64_t err)
{
	(void)c;
	(void)err;
	struct side *s = arg;
	struct tag *t = tag_of(s, h, user);
	if (t)
		t->resets++;
	s->resets++;
}

static void on_stream_acked(void *arg, struct sl_quic_conn *c, struct sl_quic_stream *h, void *user,
			    uint64_t bytes)
{
	(void)c;
	struct side *s = arg;
	struct tag *t = tag_of(s, h, user);
	assert_true(bytes > 0);
	if (t) {
		t->acks++;
		t->acked += bytes;
		/* Acknowledged bytes are no longer counted as unacknowledged. */
		assert_true(sl_quic_stream_unacked(h) <= UINT64_C(1) << 30);
	}
}

static void on_stream_close(void *arg, struct sl_quic_conn *c, struct sl_quic_stream *h, void *user)
{
	(void)c;
	struct side *s = arg;
	struct tag *t = tag_of(s, h, user);
	s->closes++;
	if (t) {
		t->closes++;
		assert_int_equal(t->closes, 1);
		t->h = NULL; /* the handle dies when this returns */
	}
}

static void on_closed(void *arg, struct sl_quic_conn *c, uint64_t error)
{
	struct side *s = arg;
	s->closed++;
	s->closes_at_closed = s->closes;
	s->open_at_closed = 0;
	for (int i = 0; i < s->ntags; i++)
		s->open_at_closed += s->tags[i].h != NULL;
	s->close_error = error;
	if (s->conn == c)
		s->conn = NULL;
}

static const struct sl_quic_callbacks cbs = {
	.tx_alloc = tx_alloc,
	.tx_commit = tx_commit,
	.on_connected = on_connected,
	.on_stream_open = on_stream_open,
	.on_stream_data = on_stream_data,
	.on_stream_reset = on_stream_reset,
	.on_stream_acked = on_stream_acked,
	.on_stream_close = on_stream_close,
	.on_closed = on_closed,
};

static struct wire c2s, s2c;
static struct side server, client;
static uint64_t now;

static void addr(struct sockaddr_storage *ss, socklen_t *len, uint16_t port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	memset(ss, 0, sizeof(*ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*len = sizeof(*in);
}

/* Delivers what is on the wire; returns the number of datagrams delivered. */
static size_t deliver(struct wire *w, struct side *to)
{
	size_t n = w->n;
	struct dgram *tmp = malloc(n * sizeof(*tmp));
	memcpy(tmp, w->q, n * sizeof(*tmp));
	w->n = 0;
	for (size_t i = 0; i < n; i++) {
		size_t k = i;
		if (w->reorder && i % 2 == 0 && i + 1 < n)
			k = i + 1;
		else if (w->reorder && i % 2 == 1)
			k = i - 1;
		/* The receiver sees the path from its own side: swap local and remote. */
		struct sl_quic_path p;
		p.local = tmp[k].path.remote;
		p.local_len = tmp[k].path.remote_len;
		p.remote = tmp[k].path.local;
		p.remote_len = tmp[k].path.local_len;
		p.cookie = w->cookie;
		if (w->nat_to) {
			/* c2s: the client's port as the server sees it (remote); s2c: the port the
			 * server sent to, as the client receives it (local). */
			struct sockaddr_in *a =
				(struct sockaddr_in *)(to == &server ? &p.remote : &p.local);
			if (ntohs(a->sin_port) == w->nat_from && to == &server)
				a->sin_port = htons(w->nat_to);
			else if (ntohs(a->sin_port) == w->nat_to && to == &client)
				a->sin_port = htons(w->nat_from);
			else if (ntohs(a->sin_port) == w->nat_from && to == &client) {
				w->dropped++;
				continue;
			}
		}
		sl_quic_endpoint_recv(to->ep, &p, tmp[k].data, tmp[k].len, now);
	}
	free(tmp);
	return n;
}

/* Runs both sides until the wire is quiet, advancing time to each timer, but never more than
 * span_ns past the start (so a quiet connection is not idled out behind the test's back). */
static void run_for(int rounds, uint64_t span_ns)
{
	uint64_t until = now + span_ns;
	for (int i = 0; i < rounds; i++) {
		sl_quic_endpoint_flush(client.ep, now);
		sl_quic_endpoint_flush(server.ep, now);
		size_t moved = deliver(&c2s, &server) + deliver(&s2c, &client);
		if (moved == 0) {
			uint64_t t1 = sl_quic_endpoint_expiry(client.ep);
			uint64_t t2 = sl_quic_endpoint_expiry(server.ep);
			uint64_t t = t1 < t2 ? t1 : t2;
			if (t == UINT64_MAX || t > until)
				return;
			if (t > now)
				now = t;
			sl_quic_endpoint_handle_expiry(client.ep, now);
			sl_quic_endpoint_handle_expiry(server.ep, now);
		} else {
			now += 1 * MS; /* one millisecond of wire latency per round */
		}
	}
}

static void run(int rounds)
{
	run_for(rounds, 5000 * MS);
}

static int setup(void **state)
{
	(void)state;
	struct sl_quic_config cfg;
	memset(&c2s, 0, sizeof(c2s));
	memset(&s2c, 0, sizeof(s2c));
	memset(&server, 0, sizeof(server));
	memset(&client, 0, sizeof(client));
	now = 1000 * MS;
	sl_quic_config_default(&cfg);
	cfg.server = true;
	cfg.worker_id = 3;
	snprintf(cfg.alpn, sizeof(cfg.alpn), ALPN);
	server.out = &s2c;
	assert_int_equal(sl_quic_endpoint_new(&cfg, &cbs, &server, now, &server.ep), 0);
	sl_quic_config_default(&cfg);
	snprintf(cfg.alpn, sizeof(cfg.alpn), ALPN);
	client.out = &c2s;
	assert_int_equal(sl_quic_endpoint_new(&cfg, &cbs, &client, now, &client.ep), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sl_quic_endpoint_free(client.ep);
	sl_quic_endpoint_free(server.ep);
	return 0;
}

static struct sl_quic_conn *connect_client(void)
{
	struct sl_quic_path p;
	memset(&p, 0, sizeof(p)); /* cookie 0: the client's "driver" stamps none */
	struct sl_quic_conn *c;
	addr(&p.local, &p.local_len, 40000);
	addr(&p.remote, &p.remote_len, 4443);
	assert_int_equal(sl_quic_connect(client.ep, &p, "localhost", now, &c), 0);
	run(200);
	return c;
}

static void handshake_completes_with_alpn_and_worker_cids(void **state)
{
	(void)state;
	struct sl_quic_conn *c = connect_client();
	assert_int_equal(client.connected, 1);
	assert_int_equal(server.connected, 1);
	assert_true(sl_quic_conn_established(c));
	struct sl_quic_stats st;
	sl_quic_endpoint_stats(server.ep, &st);
	assert_int_equal(st.conns, 1);
	assert_int_equal(st.conns_accepted, 1);
	char hex[65];
	assert_int_equal(sl_quic_endpoint_cert_sha256(server.ep, hex), 0);
	assert_int_equal(strlen(hex), 64);
	/* Server-issued CIDs name worker 3. */
	uint8_t cid[SL_QUIC_CID_LEN] = {0, 3};
	assert_int_equal(sl_quic_cid_worker(cid, sizeof(cid)), 3);
	assert_int_equal(sl_quic_cid_worker(cid, 8), -1);
	char alpn[16];
	assert_string_equal(sl_quic_conn_alpn(c, alpn, sizeof(alpn)), ALPN);
	assert_string_equal(sl_quic_conn_alpn(server.conn, alpn, sizeof(alpn)), ALPN);
}

/* Replaces both endpoints with ones whose ALPN lists are server_alpn and client_alpn. */
static void remake(const char *server_alpn, const char *client_alpn)
{
	struct sl_quic_config cfg;
	sl_quic_endpoint_free(client.ep);
	sl_quic_endpoint_free(server.ep);
	memset(&c2s, 0, sizeof(c2s));
	memset(&s2c, 0, sizeof(s2c));
	memset(&server, 0, sizeof(server));
	memset(&client, 0, sizeof(client));
	server.out = &s2c;
	client.out = &c2s;
	sl_quic_config_default(&cfg);
	cfg.server = true;
	cfg.worker_id = 3;
	snprintf(cfg.alpn, sizeof(cfg.alpn), "%s", server_alpn);
	assert_int_equal(sl_quic_endpoint_new(&cfg, &cbs, &server, now, &server.ep), 0);
	sl_quic_config_default(&cfg);
	snprintf(cfg.alpn, sizeof(cfg.alpn), "%s", client_alpn);
	assert_int_equal(sl_quic_endpoint_new(&cfg, &cbs, &client, now, &client.ep), 0);
}

static void server_with_several_protocols_picks_the_offered_one(void **state)
{
	(void)state;
	char alpn[32];
	/* A server with two protocols (as the daemon has moq-lite and the log protocol): a
	 * client offering the second gets it... */
	remake("first-app,second-app", "second-app");
	struct sl_quic_conn *c = connect_client();
	assert_int_equal(server.connected, 1);
	assert_string_equal(sl_quic_conn_alpn(server.conn, alpn, sizeof(alpn)), "second-app");
	assert_string_equal(sl_quic_conn_alpn(c, alpn, sizeof(alpn)), "second-app");
	/* ... a client offering both gets the server's first choice, cut to the buffer... */
	remake("first-app,second-app", "second-app,first-app");
	connect_client();
	assert_int_equal(server.connected, 1);
	assert_string_equal(sl_quic_conn_alpn(server.conn, alpn, sizeof(alpn)), "first-app");
	assert_string_equal(sl_quic_conn_alpn(server.conn, alpn, 4), "fir");
	/* ... and one offering nothing in common never connects. */
	remake("first-app,second-app", "h3");
	connect_client();
	assert_int_equal(server.connected, 0);
	assert_int_equal(client.connected, 0);
	/* No protocol (the default: QUIC has none of its own), empty names and too many names
	 * are configuration errors, for a server and for a client. */
	struct sl_quic_config cfg;
	struct sl_quic_endpoint *ep;
	sl_quic_config_default(&cfg);
	assert_string_equal(cfg.alpn, "");
	assert_int_equal(sl_quic_endpoint_new(&cfg, &cbs, NULL, now, &ep), SL_EINVAL);
	cfg.server = true;
	assert_int_equal(sl_quic_endpoint_new(&cfg, &cbs, NULL, now, &ep), SL_EINVAL);
	snprintf(cfg.alpn, sizeof(cfg.alpn), "a,,b");
	assert_int_equal(sl_quic_endpoint_new(&cfg, &cbs, NULL, now, &ep), SL_EINVAL);
	snprintf(cfg.alpn, sizeof(cfg.alpn), "a,b,c,d,e");
	assert_int_equal(sl_quic_endpoint_new(&cfg, &cbs, NULL, now, &ep), SL_EINVAL);
}

/* Sends total bytes on a new uni stream of side s's connection c. Returns its tag. */
static struct tag *send_stream(struct side *s, struct sl_quic_conn *c, size_t total, size_t piece,
			       uint8_t seed)
{
	struct tag *t = open_tagged(s, c, false);
	for (size_t off = 0; off < total; off += piece) {
		size_t n = total - off < piece ? total - off : piece;
		struct sl_buf *b = sl_buf_alloc(n);
		for (size_t i = 0; i < n; i++)
			b->data[i] = (uint8_t)(seed + off + i);
		b->len = (uint32_t)n;
		assert_int_equal(sl_quic_stream_write(c, t->h, sl_slice_of(b), off + n >= total),
				 0);
	}
	return t;
}

static void check_rx(struct side *s, size_t total, uint8_t seed)
{
	assert_int_equal(s->rx_len, total);
	for (size_t i = 0; i < total; i++)
		if (s->rx[i] != (uint8_t)(seed + i))
			fail_msg("byte %zu differs", i);
	assert_int_equal(s->fins, 1);
}

static void stream_data_arrives_in_order_and_buffers_are_released(void **state)
{
	(void)state;
	struct sl_quic_conn *c = connect_client();
	uint64_t frees = sl_buf_stats()->frees, allocs = sl_buf_stats()->allocs;
	struct tag *t = send_stream(&client, c, 200000, 4000, 7);
	run(2000);
	check_rx(&server, 200000, 7);
	struct sl_quic_conn_stats cs;
	sl_quic_conn_stats(c, &cs);
	assert_true(cs.established);
	assert_true(cs.tx_bytes > 200000 && cs.tx_datagrams > 100 && cs.rx_datagrams > 0);
	assert_true(cs.smoothed_rtt_ns > 0);
	assert_int_equal(cs.stream_bytes_unacked, 0);
	/* Every queued buffer was released once acknowledged. */
	assert_int_equal(sl_buf_stats()->frees - frees, sl_buf_stats()->allocs - allocs);
	assert_int_equal(server.opens, 1);
	/* The acknowledgements came as callbacks carrying the stream's user, and both ends
	 * closed the stream once everything was through. */
	assert_int_equal(t->acked, 200000);
	assert_true(t->acks > 1);
	assert_int_equal(t->closes, 1);
	assert_int_equal(server.tags[0].closes, 1);
	assert_true(server.tags[0].data > 1);
	assert_int_equal(cs.streams_open, 0);
	/* And the server can answer on its own stream. */
	send_stream(&server, server.conn, 5000, 1200, 1);
	run(500);
	check_rx(&client, 5000, 1);
	assert_int_equal(client.null_events + server.null_events, 0);
}

/* Three streams queued at once on a connection that cannot send them all at once (the
 * congestion window of a fresh connection): they finish in the order set, not the order they
 * were queued, and a stream moved up while pending overtakes. */
static void streams_are_written_in_their_order_when_constrained(void **state)
{
	(void)state;
	struct sl_quic_conn *c = connect_client();
	struct tag *t[4];
	int64_t ids[4];
	uint64_t order[4] = {30, 10, 20, 40};
	for (int i = 0; i < 4; i++) {
		t[i] = open_tagged(&client, c, false);
		ids[i] = t[i]->id;
		sl_quic_stream_set_order(c, t[i]->h, order[i]);
		for (size_t off = 0; off < 60000; off += 1000) {
			struct sl_buf *b = sl_buf_alloc(1000);
			memset(b->data, 'a' + i, 1000);
			b->len = 1000;
			assert_int_equal(sl_quic_stream_write(c, t[i]->h, sl_slice_of(b),
							      off + 1000 >= 60000),
					 0);
		}
	}
	/* The last one queued becomes the most urgent while everything is still pending. */
	sl_quic_stream_set_order(c, t[3]->h, 5);
	run(4000);
	assert_int_equal(server.rx_len, 4 * 60000);
	assert_int_equal(server.nfin_ids, 4);
	int64_t want[4] = {ids[3], ids[1], ids[2], ids[0]};
	for (int i = 0; i < 4; i++)
		assert_int_equal(server.fin_ids[i], want[i]);
	/* Strict: the least urgent stream's first byte arrives after the most urgent finished. */
	assert_int_equal(server.first_ids[0], ids[3]);
	assert_int_equal(server.first_ids[3], ids[0]);
}

/* The client's NAT mapping changes mid-transfer: the server must follow the new address (after
 * validating it), or everything it sends is lost in the old mapping. */
static void nat_rebinding_is_followed(void **state)
{
	(void)state;
	struct sl_quic_conn *c = connect_client();
	send_stream(&client, c, 20000, 1000, 3);
	run(300);
	check_rx(&server, 20000, 3);
	c2s.nat_from = s2c.nat_from = 40000;
	c2s.nat_to = s2c.nat_to = 51234;
	/* Both directions after the move: the client keeps talking, the server answers. */
	server.rx_len = 0;
	server.fins = 0;
	send_stream(&client, c, 30000, 1000, 9);
	send_stream(&server, server.conn, 30000, 1000, 5);
	run(3000);
	check_rx(&server, 30000, 9);
	check_rx(&client, 30000, 5);
	struct sl_quic_conn_stats cs;
	sl_quic_conn_stats(server.conn, &cs);
	assert_int_equal(ntohs(((struct sockaddr_in *)&cs.remote)->sin_port), 51234);
	struct sl_quic_stats st;
	sl_quic_endpoint_stats(server.ep, &st);
	assert_int_equal(st.migrations, 1);
}

/* The driver's cookie (DPDK: the next hop) is kept with the connection and handed back on
 * transmit: the newest decrypted datagram's wins, a 0 one leaves it, and a connection that
 * moves to a new address takes the cookie of the datagrams from there. */
static void driver_cookie_follows_the_peer(void **state)
{
	(void)state;
	c2s.cookie = 0xa1;
	struct sl_quic_conn *c = connect_client();
	assert_int_equal(server.connected, 1);
	assert_int_equal(s2c.last_cookie, 0xa1);
	assert_int_equal(c2s.last_cookie, 0); /* the client's "driver" stamped none */
	/* The same addresses through another router (a fail-over): replies follow. */
	c2s.cookie = 0xa2;
	send_stream(&client, c, 5000, 1000, 1);
	run(300);
	check_rx(&server, 5000, 1);
	send_stream(&server, server.conn, 100, 100, 2);
	run(300);
	assert_int_equal(s2c.last_cookie, 0xa2);
	/* A driver with nothing to say keeps what the connection has. */
	c2s.cookie = 0;
	send_stream(&client, c, 100, 100, 3);
	send_stream(&server, server.conn, 100, 100, 4);
	run(300);
	assert_int_equal(s2c.last_cookie, 0xa2);
	/* NAT rebinding: the path challenge and everything after go out with the new cookie. */
	c2s.nat_from = s2c.nat_from = 40000;
	c2s.nat_to = s2c.nat_to = 51234;
	c2s.cookie = 0xb7;
	client.rx_len = 0;
	client.fins = 0;
	send_stream(&client, c, 100, 100,
		    5); /* one datagram: the server answers before a second one */
	run(3000);
	send_stream(&server, server.conn, 3000, 1000, 6);
	run(3000);
	check_rx(&client, 3000, 6);
	assert_true(s2c.nat_sent);
	assert_int_equal(s2c.nat_first_cookie, 0xb7);
	assert_int_equal(s2c.last_cookie, 0xb7);
	struct sl_quic_stats st;
	sl_quic_endpoint_stats(server.ep, &st);
	assert_int_equal(st.migrations, 1);
}

/* A flush visits only the connections that got work: twenty idle ones cost nothing. */
static void only_connections_with_work_are_flushed(void **state)
{
	(void)state;
	struct sl_quic_conn *cs[20];
	for (int i = 0; i < 20; i++)
		cs[i] = connect_client();
	run(50);
	sl_quic_endpoint_flush(client.ep, now);
	struct sl_quic_stats a, b;
	sl_quic_endpoint_stats(client.ep, &a);
	assert_int_equal(a.conns, 20);
	sl_quic_endpoint_flush(client.ep, now);
	sl_quic_endpoint_stats(client.ep, &b);
	assert_int_equal(b.conns_flushed, a.conns_flushed);
	send_stream(&client, cs[7], 1000, 1000, 1);
	sl_quic_endpoint_flush(client.ep, now);
	sl_quic_endpoint_stats(client.ep, &b);
	assert_int_equal(b.conns_flushed - a.conns_flushed, 1);
	/* The next deadline is known without a flush pending, and every connection still
	 * completes its work when the timers run. */
	assert_true(sl_quic_endpoint_expiry(client.ep) > now);
	assert_true(sl_quic_endpoint_expiry(client.ep) != UINT64_MAX);
	run(200);
	assert_int_equal(server.rx_len, 1000);
}

static void loss_and_reordering_are_recovered(void **state)
{
	(void)state;
	struct sl_quic_conn *c = connect_client();
	c2s.drop_every = 7;
	s2c.drop_every = 5;
	c2s.reorder = true;
	send_stream(&client, c, 300000, 1200, 3);
	run(20000);
	assert_true(c2s.dropped > 10);
	check_rx(&server, 300000, 3);
}

static void handshake_survives_loss(void **state)
{
	(void)state;
	c2s.drop_every = 2;
	struct sl_quic_conn *c = connect_client();
	(void)c;
	run(2000);
	assert_int_equal(client.connected, 1);
	assert_int_equal(server.connected, 1);
}

static void garbage_is_dropped_and_unknown_short_headers_get_a_reset(void **state)
{
	(void)state;
	struct sl_quic_path p;
	memset(&p, 0, sizeof(p));
	addr(&p.local, &p.local_len, 4443);
	addr(&p.remote, &p.remote_len, 50000);
	uint8_t junk[100];
	memset(junk, 0x41, sizeof(junk)); /* short header, unknown 16-byte dcid */
	assert_int_equal(sl_quic_endpoint_recv(server.ep, &p, junk, sizeof(junk), now), 0);
	uint8_t lng[10] = {0xc0, 0, 0, 0, 1, 200}; /* long header, truncated */
	assert_int_equal(sl_quic_endpoint_recv(server.ep, &p, lng, sizeof(lng), now), 0);
	assert_int_equal(sl_quic_endpoint_recv(server.ep, &p, junk, 0, now), 0);
	struct sl_quic_stats st;
	sl_quic_endpoint_stats(server.ep, &st);
	assert_int_equal(st.rx_dropped, 3);
	assert_int_equal(st.stateless_resets, 1);
	assert_int_equal(st.conns, 0);
	assert_int_equal(s2c.n, 1);
	assert_true(s2c.q[0].len < sizeof(junk));
}

static void application_close_reaches_the_peer(void **state)
{
	(void)state;
	struct sl_quic_conn *c = connect_client();
	sl_quic_conn_close(c, 42, "bye");
	run(100);
	assert_int_equal(client.closed, 1);
	assert_int_equal(client.close_error, 42);
	assert_int_equal(server.closed, 1);
	assert_int_equal(server.close_error, 42);
	struct sl_quic_stats st;
	sl_quic_endpoint_stats(server.ep, &st);
	assert_int_equal(st.conns, 0);
}

static void idle_connections_time_out(void **state)
{
	(void)state;
	connect_client();
	/* Nothing to send: timers run until the idle timeout (30 s) closes both. */
	run_for(100000, 60000 * MS);
	assert_int_equal(client.closed, 1);
	assert_int_equal(server.closed, 1);
}

static void reset_stream_releases_queued_data(void **state)
{
	(void)state;
	struct sl_quic_conn *c = connect_client();
	uint64_t frees = sl_buf_stats()->frees, allocs = sl_buf_stats()->allocs;
	struct tag *t = open_tagged(&client, c, false);
	for (int i = 0; i < 50; i++) {
		struct sl_buf *b = sl_buf_alloc(1000);
		b->len = 1000;
		memset(b->data, 9, 1000);
		assert_int_equal(sl_quic_stream_write(c, t->h, sl_slice_of(b), false), 0);
		if (i == 0) /* the peer learns of the stream (a stream reset before any of its
			     * data arrived is never reported to the peer's application) */
			run(50);
	}
	assert_int_equal(sl_quic_stream_unacked(t->h), 49000);
	assert_int_equal(t->acked, 1000);
	sl_quic_stream_reset(c, t->h, 7);
	/* The handle stays valid until the stream closes; a write on it is refused. */
	struct sl_buf *b = sl_buf_alloc(1);
	b->len = 1;
	assert_int_equal(sl_quic_stream_write(c, t->h, sl_slice_of(b), false), SL_ECLOSED);
	run(500);
	assert_int_equal(server.resets, 1);
	assert_int_equal(server.tags[0].resets, 1);
	assert_int_equal(sl_buf_stats()->frees - frees, sl_buf_stats()->allocs - allocs);
	/* The reset was acknowledged and the peer stopped its side: the stream closed once. */
	assert_int_equal(t->closes, 1);
	assert_int_equal(server.tags[0].closes, 1);
}

/* A connection that ends with streams open closes each of them once, with its user, before
 * on_closed; a detached stream's callbacks carry NULL from then on. */
static void streams_close_once_when_the_connection_closes(void **state)
{
	(void)state;
	struct sl_quic_conn *c = connect_client();
	struct tag *bidi = open_tagged(&client, c, true);
	struct tag *uni = open_tagged(&client, c, false);
	struct tag *gone = open_tagged(&client, c, false);
	struct tag *ts[3] = {bidi, uni, gone};
	for (int i = 0; i < 3; i++) {
		struct sl_buf *b = sl_buf_alloc(100);
		b->len = 100;
		memset(b->data, 'x', 100);
		assert_int_equal(sl_quic_stream_write(c, ts[i]->h, sl_slice_of(b), false), 0);
	}
	run(200);
	assert_int_equal(server.opens, 3);
	assert_int_equal(bidi->acked + uni->acked + gone->acked, 300);
	/* The application forgets one stream early: it detaches itself. */
	sl_quic_stream_set_user(gone->h, NULL);
	gone->h = NULL;
	struct sl_quic_conn_stats cs;
	sl_quic_conn_stats(c, &cs);
	assert_int_equal(cs.streams_open, 3);
	assert_int_equal(cs.stream_bytes_unacked, 0);
	sl_quic_conn_close(c, 0, "bye");
	run(100);
	assert_int_equal(client.closed, 1);
	assert_int_equal(server.closed, 1);
	/* Each side: every stream closed exactly once (tag_of checked the users), before
	 * on_closed. */
	assert_int_equal(bidi->closes, 1);
	assert_int_equal(uni->closes, 1);
	assert_int_equal(gone->closes, 0);
	assert_int_equal(client.closes, 3);
	assert_int_equal(client.closes_at_closed, 3);
	assert_int_equal(client.open_at_closed, 0);
	assert_int_equal(client.null_events, 1); /* the detached stream's close */
	assert_int_equal(server.closes, 3);
	assert_int_equal(server.closes_at_closed, 3);
	assert_int_equal(server.open_at_closed, 0);
	for (int i = 0; i < server.ntags; i++)
		assert_int_equal(server.tags[i].closes, 1);
}

/* Streams the peer finished give their credit back: over a connection's life a peer opens many
 * times max_streams_uni / max_streams_bidi streams, only so many at once. The rx buffer of the
 * test is not looked at; the tags are (each peer stream closes once). */
static void finished_peer_streams_give_their_credit_back(void **state)
{
	(void)state;
	struct sl_quic_conn *c = connect_client();
	server.fin_back = true;
	int uni = 0, bidi = 0;
	for (int round = 0; round < 25; round++) {
		for (int i = 0; i < 100; i++) {
			struct sl_quic_stream *h;
			bool b = i < 10;
			assert_int_equal(sl_quic_stream_open(c, b, NULL, &h), 0);
			struct sl_buf *buf = sl_buf_alloc(1);
			buf->data[0] = 1;
			buf->len = 1;
			assert_int_equal(sl_quic_stream_write(c, h, sl_slice_of(buf), true), 0);
			uni += !b;
			bidi += b;
		}
		run(300);
		server.rx_len = 0;
		server.ntags = 0; /* every one of them closed: the tags are reused */
		assert_int_equal(server.closes, uni + bidi);
		assert_int_equal(client.closes, uni + bidi);
	}
	/* 2250 uni streams against a limit of 1000, 250 bidi against 100. */
	assert_int_equal(uni, 2250);
	assert_int_equal(bidi, 250);
	struct sl_quic_conn_stats cs;
	sl_quic_conn_stats(c, &cs);
	assert_int_equal(cs.streams_open, 0);
}

/* The application stops a peer's unidirectional stream mid-way: the stream is over for it, so
 * it closes once (at the next flush, not inside the reset call), and nothing more of it is
 * reported even as the peer's bytes and its RESET_STREAM still arrive. */
static void a_stopped_peer_stream_closes_once(void **state)
{
	(void)state;
	struct sl_quic_conn *c = connect_client();
	struct tag *t = open_tagged(&client, c, false);
	for (int i = 0; i < 3; i++) {
		struct sl_buf *b = sl_buf_alloc(1000);
		b->len = 1000;
		memset(b->data, 'y', 1000);
		assert_int_equal(sl_quic_stream_write(c, t->h, sl_slice_of(b), false), 0);
		if (i == 0)
			run(50);
	}
	assert_int_equal(server.ntags, 1);
	struct tag *st = &server.tags[0];
	sl_quic_stream_reset(server.conn, st->h, 9);
	assert_int_equal(st->closes, 0);
	run(300);
	assert_int_equal(st->closes, 1);
	assert_int_equal(server.closes, 1);
	assert_int_equal(server.null_events, 0);
	/* The peer was asked to stop: ngtcp2 reset its stream (nothing to report to it) and the
	 * stream ended. */
	assert_int_equal(t->resets, 0);
	assert_int_equal(t->closes, 1);
	struct sl_quic_conn_stats cs;
	sl_quic_conn_stats(server.conn, &cs);
	assert_int_equal(cs.streams_open, 0);
}

static void bad_configs_are_refused(void **state)
{
	(void)state;
	struct sl_quic_config cfg;
	struct sl_quic_endpoint *ep;
	sl_quic_config_default(&cfg);
	snprintf(cfg.alpn, sizeof(cfg.alpn), ALPN); /* each case wrong in one thing only */
	cfg.cert_days = 30;
	cfg.server = true;
	assert_int_equal(sl_quic_endpoint_new(&cfg, &cbs, NULL, now, &ep), SL_EINVAL);
	sl_quic_config_default(&cfg);
	snprintf(cfg.alpn, sizeof(cfg.alpn), ALPN);
	cfg.max_udp_payload = 500;
	assert_int_equal(sl_quic_endpoint_new(&cfg, &cbs, NULL, now, &ep), SL_EINVAL);
	sl_quic_config_default(&cfg);
	snprintf(cfg.alpn, sizeof(cfg.alpn), ALPN);
	cfg.server = true;
	cfg.cert_file = "/nonexistent/cert.pem";
	cfg.key_file = "/nonexistent/key.pem";
	assert_int_equal(sl_quic_endpoint_new(&cfg, &cbs, NULL, now, &ep), SL_EIO);
	struct sl_quic_path p = {0};
	struct sl_quic_conn *c;
	assert_int_equal(sl_quic_connect(server.ep, &p, NULL, now, &c), SL_EINVAL);
}

/* One PEM given to several endpoints (a daemon's workers) makes them present one certificate:
 * the same hash, which is the hash of that PEM's certificate, and differs from a generated one. */
static void endpoints_share_a_given_certificate(void **state)
{
	(void)state;
	char *cert, *key;
	assert_int_equal(sl_quic_self_signed(0, &cert, &key), SL_EINVAL);
	assert_int_equal(sl_quic_self_signed(15, &cert, &key), SL_EINVAL);
	assert_int_equal(sl_quic_self_signed(13, &cert, &key), 0);
	assert_non_null(strstr(cert, "BEGIN CERTIFICATE"));
	assert_non_null(strstr(key, "PRIVATE KEY"));
	struct sl_quic_config cfg;
	struct sl_quic_endpoint *a, *b, *own;
	sl_quic_config_default(&cfg);
	snprintf(cfg.alpn, sizeof(cfg.alpn), ALPN);
	cfg.server = true;
	assert_int_equal(sl_quic_endpoint_new(&cfg, &cbs, NULL, now, &own), 0);
	cfg.cert_pem = cert;
	cfg.key_pem = key;
	assert_int_equal(sl_quic_endpoint_new(&cfg, &cbs, NULL, now, &a), 0);
	cfg.worker_id = 1;
	assert_int_equal(sl_quic_endpoint_new(&cfg, &cbs, NULL, now, &b), 0);
	char ha[65], hb[65], hown[65];
	assert_int_equal(sl_quic_endpoint_cert_sha256(a, ha), 0);
	assert_int_equal(sl_quic_endpoint_cert_sha256(b, hb), 0);
	assert_int_equal(sl_quic_endpoint_cert_sha256(own, hown), 0);
	assert_string_equal(ha, hb);
	assert_string_not_equal(ha, hown);
	/* A key that does not match the certificate is refused. */
	char *cert2, *key2;
	assert_int_equal(sl_quic_self_signed(1, &cert2, &key2), 0);
	cfg.key_pem = key2;
	struct sl_quic_endpoint *bad;
	assert_int_equal(sl_quic_endpoint_new(&cfg, &cbs, NULL, now, &bad), SL_EIO);
	sl_quic_endpoint_free(a);
	sl_quic_endpoint_free(b);
	sl_quic_endpoint_free(own);
	free(cert);
	free(key);
	free(cert2);
	free(key2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(handshake_completes_with_alpn_and_worker_cids,
						setup, teardown),
		cmocka_unit_test_setup_teardown(server_with_several_protocols_picks_the_offered_one,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			stream_data_arrives_in_order_and_buffers_are_released, setup, teardown),
		cmocka_unit_test_setup_teardown(only_connections_with_work_are_flushed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(loss_and_reordering_are_recovered, setup, teardown),
		cmocka_unit_test_setup_teardown(nat_rebinding_is_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(driver_cookie_follows_the_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(streams_are_written_in_their_order_when_constrained,
						setup, teardown),
		cmocka_unit_test_setup_teardown(handshake_survives_loss, setup, teardown),
		cmocka_unit_test_setup_teardown(
			garbage_is_dropped_and_unknown_short_headers_get_a_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(application_close_reaches_the_peer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(idle_connections_time_out, setup, teardown),
		cmocka_unit_test_setup_teardown(reset_stream_releases_queued_data, setup, teardown),
		cmocka_unit_test_setup_teardown(streams_close_once_when_the_connection_closes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(finished_peer_streams_give_their_credit_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_stopped_peer_stream_closes_once, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_configs_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(endpoints_share_a_given_certificate, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
