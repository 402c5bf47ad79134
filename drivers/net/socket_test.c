/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel socket driver on real loopback sockets: batches both ways (IPv4, and IPv6 when the
 * host has ::1), GSO runs and their boundaries, GRO splitting, the local address of datagrams on
 * a wildcard bind, SO_REUSEPORT spreading flows over worker sockets, buffer exhaustion on both
 * sides, and a QUIC handshake plus a 1 MB stream between two endpoints over two ports.
 * Every wait is bounded by poll() timeouts and a deadline.
 */
#include "core/test_common.h"
#include "core/clock.h"
#include "core/err.h"
#include "drivers/net/socket.h"
#ifdef SL_NET_TEST_QUIC
#include "shard/handoff.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MS UINT64_C(1000000)

/* ---- helpers ---- */

static struct sl_pktio *open_port(const char *const *addrs, unsigned int n, bool client,
				  void (*tweak)(struct sl_net_socket_config *))
{
	struct sl_net_socket_config cfg;
	sl_net_socket_config_default(&cfg);
	cfg.client = client;
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(sl_net_socket_config_add(&cfg, addrs[i]), 0);
	if (tweak)
		tweak(&cfg);
	struct sl_pktio *p = NULL;
	int rc = sl_net_socket_open(&cfg, &p);
	if (rc != 0)
		fail_msg("open: %s (errno %s)", sl_errname(rc), strerror(errno));
	return p;
}

static struct sl_pktio *open_one(const char *addr, void (*tweak)(struct sl_net_socket_config *))
{
	return open_port(&addr, 1, false, tweak);
}

static struct sl_pktio *open_client(void (*tweak)(struct sl_net_socket_config *))
{
	return open_port(NULL, 0, true, tweak);
}

/* The address socket i of p is bound to, with addr's host part when the bind is a wildcard
 * (so it can be used as a destination). */
static void bound(struct sl_pktio *p, unsigned int i, const char *host, struct sockaddr_storage *ss,
		  socklen_t *len)
{
	assert_int_equal(sl_net_socket_local(p, i, ss, len), 0);
	if (host == NULL)
		return;
	if (ss->ss_family == AF_INET)
		assert_int_equal(inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr),
				 1);
	else
		assert_int_equal(inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr),
				 1);
}

static uint16_t port_of_addr(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
					      : ((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void path_to(struct sl_quic_path *path, const struct sockaddr_storage *dst, socklen_t len)
{
	memset(path, 0, sizeof(*path));
	path->remote = *dst;
	path->remote_len = len;
}

/* Commits one datagram of len bytes whose bytes are (seed + i). */
static void put(struct sl_pktio *p, const struct sl_quic_path *path, size_t len, uint8_t seed)
{
	void *tok;
	uint8_t *b = sl_pktio_tx_alloc(p, len, &tok);
	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seed + i);
	sl_pktio_tx_commit(p, tok, path, len);
}

static void flush_all(struct sl_pktio *p)
{
	uint64_t deadline = sl_clock_now_ns() + 2000 * MS;
	while (sl_pktio_tx_pending(p) > 0 && sl_clock_now_ns() < deadline) {
		int rc = sl_pktio_tx_flush(p);
		assert_true(rc >= 0 || rc == SL_EAGAIN);
		if (rc == SL_EAGAIN)
			usleep(1000);
	}
	assert_int_equal(sl_pktio_tx_pending(p), 0);
}

struct rcvd {
	size_t len;
	uint8_t first;
	bool intact; /* bytes are first, first+1, ... */
	struct sl_quic_path path;
};

/* Receives until want datagrams arrived or timeout_ms passed, max per burst; copies what the
 * test checks and releases the buffers. Returns how many arrived. */
static unsigned int collect(struct sl_pktio *p, struct rcvd *out, unsigned int want,
			    unsigned int max, int timeout_ms)
{
	struct sl_pkt pkts[64];
	unsigned int got = 0;
	uint64_t deadline = sl_clock_now_ns() + (uint64_t)timeout_ms * MS;
	if (max > 64)
		max = 64;
	while (got < want && sl_clock_now_ns() < deadline) {
		unsigned int n = sl_pktio_rx_burst(p, pkts, max);
		for (unsigned int i = 0; i < n; i++) {
			if (got < want && out != NULL) {
				struct rcvd *r = &out[got];
				r->len = pkts[i].len;
				r->first = pkts[i].len ? pkts[i].data[0] : 0;
				r->intact = true;
				for (uint32_t k = 0; k < pkts[i].len; k++)
					if (pkts[i].data[k] != (uint8_t)(r->first + k))
						r->intact = false;
				r->path = pkts[i].path;
			}
			got++;
		}
		sl_pktio_rx_release(p, pkts, n);
		if (n == 0) {
			struct pollfd pfd = {.fd = sl_pktio_wait_fd(p), .events = POLLIN};
			poll(&pfd, 1, 10);
		}
	}
	return got;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port &&
	       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

static bool have_v6_loopback(void)
{
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (fd < 0)
		return false;
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static void tweak_no_gso_gro(struct sl_net_socket_config *c)
{
	c->no_gso = true;
	c->no_gro = true;
}

static void tweak_no_gro(struct sl_net_socket_config *c)
{
	c->no_gro = true;
}

/* ---- tests ---- */

static void parse_addr_accepts_v4_v6_and_refuses_junk(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[64];
	assert_int_equal(sl_net_parse_addr("127.0.0.1:4443", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_string_equal(sl_net_format_addr((struct sockaddr *)&ss, buf, sizeof(buf)),
			    "127.0.0.1:4443");
	assert_int_equal(sl_net_parse_addr("[::1]:4443", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_string_equal(sl_net_format_addr((struct sockaddr *)&ss, buf, sizeof(buf)),
			    "[::1]:4443");
	assert_int_equal(sl_net_parse_addr("[::]:0", &ss, &len), 0);
	assert_int_equal(sl_net_parse_addr("0.0.0.0:65535", &ss, &len), 0);
	assert_int_equal(port_of_addr(&ss), 65535);
	assert_int_equal(sl_net_parse_addr("[fe80::1:2]:1", &ss, &len), 0);
	const char *bad[] = {"",	  "127.0.0.1",	    "127.0.0.1:",  "127.0.0.1:65536",
			     "::1:4443",  "[::1]4443",	    "[::1]:",	   "[]:1",
			     "1.2.3:4",	  "1.2.3.4:-1",	    "1.2.3.4:44a", "[127.0.0.1]:1",
			     "host:4443", "1.2.3.4:123456", "[::1:4443",   ":4443"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sl_net_parse_addr(bad[i], &ss, &len) != SL_EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	struct sl_net_socket_config cfg;
	sl_net_socket_config_default(&cfg);
	for (int i = 0; i < SL_NET_MAX_ADDRS; i++)
		assert_int_equal(sl_net_socket_config_add(&cfg, "127.0.0.1:0"), 0);
	assert_int_equal(sl_net_socket_config_add(&cfg, "127.0.0.1:0"), SL_ENOSPC);
}

static void open_refuses_bad_configs(void **state)
{
	(void)state;
	struct sl_net_socket_config cfg;
	struct sl_pktio *p = NULL;
	sl_net_socket_config_default(&cfg);
	assert_int_equal(sl_net_socket_open(&cfg, &p), SL_EINVAL); /* server without address */
	assert_int_equal(sl_net_socket_config_add(&cfg, "127.0.0.1:0"), 0);
	cfg.rx_slots = cfg.rx_batch - 1;
	assert_int_equal(sl_net_socket_open(&cfg, &p), SL_EINVAL);
	sl_net_socket_config_default(&cfg);
	assert_int_equal(sl_net_socket_config_add(&cfg, "127.0.0.1:0"), 0);
	cfg.max_dgram = 70000;
	assert_int_equal(sl_net_socket_open(&cfg, &p), SL_EINVAL);
	/* An address this host does not have: the bind fails, nothing leaks. */
	sl_net_socket_config_default(&cfg);
	assert_int_equal(sl_net_socket_config_add(&cfg, "192.0.2.1:0"), 0);
	assert_int_equal(sl_net_socket_open(&cfg, &p), SL_EIO);
	assert_null(p);
	/* A port in use without SO_REUSEPORT on the other socket. */
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t al = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &al);
	sl_net_socket_config_default(&cfg);
	cfg.naddrs = 1;
	memcpy(&cfg.addrs[0], &a, sizeof(a));
	cfg.addr_lens[0] = sizeof(a);
	assert_int_equal(sl_net_socket_open(&cfg, &p), SL_EIO);
	close(fd);
}

/* Client sends n datagrams of varied sizes in one flush; the server gets them in order, in a
 * few batches, with the client's address; it echoes them and the client gets them back. */
static void exchange_batches(const char *server_addr, const char *host)
{
	struct sl_pktio *srv = open_one(server_addr, NULL);
	struct sl_pktio *cli = open_client(NULL);
	struct sockaddr_storage sa;
	socklen_t sl;
	bound(srv, 0, host, &sa, &sl);
	struct sl_quic_path to_srv;
	path_to(&to_srv, &sa, sl);
	enum { N = 100 };
	for (int i = 0; i < N; i++)
		put(cli, &to_srv, 100 + (size_t)i * 13, (uint8_t)i);
	flush_all(cli);
	struct rcvd r[N];
	assert_int_equal(collect(srv, r, N, 64, 3000), N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].len, 100 + (size_t)i * 13);
		assert_int_equal(r[i].first, (uint8_t)i);
		assert_true(r[i].intact);
		assert_true(same_addr(&r[i].path.local, &sa));
		assert_int_equal(r[i].path.remote.ss_family, sa.ss_family);
	}
	struct sl_pktio_stats cs, ss;
	sl_pktio_stats(cli, &cs);
	sl_pktio_stats(srv, &ss);
	assert_int_equal(cs.tx_packets, N);
	assert_true(cs.tx_batches <= 4); /* 64 messages per sendmmsg */
	assert_int_equal(ss.rx_packets, N);
	assert_true(ss.rx_batches < N / 4); /* recvmmsg took many at a time */
	assert_int_equal(ss.rx_drops + ss.rx_errors + cs.tx_drops + cs.tx_errors, 0);
	/* Echo every datagram back on the path it came in on (local and remote swapped). */
	for (int i = 0; i < N; i++) {
		struct sl_quic_path back = {.local = r[i].path.local,
					    .local_len = r[i].path.local_len,
					    .remote = r[i].path.remote,
					    .remote_len = r[i].path.remote_len};
		put(srv, &back, r[i].len, r[i].first);
	}
	flush_all(srv);
	struct rcvd e[N];
	assert_int_equal(collect(cli, e, N, 64, 3000), N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(e[i].len, r[i].len);
		assert_true(e[i].intact);
		assert_true(same_addr(&e[i].path.remote, &sa));
	}
	sl_pktio_close(cli);
	sl_pktio_close(srv);
}

static void v4_batches_flow_both_ways(void **state)
{
	(void)state;
	exchange_batches("127.0.0.1:0", NULL);
}

static void v6_batches_flow_both_ways(void **state)
{
	(void)state;
	if (!have_v6_loopback())
		skip();
	exchange_batches("[::1]:0", NULL);
}

/* One port with an IPv4 and an IPv6 socket: both receive, wait_fd covers both. */
static void one_port_listens_on_v4_and_v6(void **state)
{
	(void)state;
	if (!have_v6_loopback())
		skip();
	const char *addrs[] = {"127.0.0.1:0", "[::1]:0"};
	struct sl_pktio *srv = open_port(addrs, 2, false, NULL);
	struct sl_pktio *cli = open_client(NULL);
	assert_int_equal(sl_net_socket_count(srv), 2);
	assert_int_equal(sl_net_socket_count(cli), 2); /* 0.0.0.0:0 and [::]:0 */
	struct sockaddr_storage a4, a6;
	socklen_t l4, l6;
	bound(srv, 0, NULL, &a4, &l4);
	bound(srv, 1, NULL, &a6, &l6);
	struct sl_quic_path p4, p6;
	path_to(&p4, &a4, l4);
	path_to(&p6, &a6, l6);
	put(cli, &p4, 200, 4);
	put(cli, &p6, 300, 6);
	flush_all(cli);
	struct pollfd pfd = {.fd = sl_pktio_wait_fd(srv), .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	struct rcvd r[2];
	assert_int_equal(collect(srv, r, 2, 64, 2000), 2);
	int v4 = r[0].len == 200 ? 0 : 1;
	assert_int_equal(r[v4].len, 200);
	assert_int_equal(r[1 - v4].len, 300);
	assert_true(same_addr(&r[v4].path.local, &a4));
	assert_true(same_addr(&r[1 - v4].path.local, &a6));
	/* Replies leave from the matching socket. */
	put(srv,
	    &(struct sl_quic_path){.local = r[v4].path.local,
				   .local_len = r[v4].path.local_len,
				   .remote = r[v4].path.remote,
				   .remote_len = r[v4].path.remote_len},
	    50, 1);
	put(srv,
	    &(struct sl_quic_path){.local = r[1 - v4].path.local,
				   .local_len = r[1 - v4].path.local_len,
				   .remote = r[1 - v4].path.remote,
				   .remote_len = r[1 - v4].path.remote_len},
	    60, 2);
	flush_all(srv);
	struct rcvd e[2];
	assert_int_equal(collect(cli, e, 2, 64, 2000), 2);
	assert_int_equal(e[0].len + e[1].len, 110);
	sl_pktio_close(cli);
	sl_pktio_close(srv);
}

static void gso_coalesces_equal_sized_runs(void **state)
{
	(void)state;
	/* The receivers refuse GRO so the kernel hands them each datagram on its own: what they
	 * see is exactly the datagram boundaries the sender meant. */
	struct sl_pktio *srv = open_one("127.0.0.1:0", tweak_no_gro);
	struct sl_pktio *srv2 = open_one("127.0.0.1:0", tweak_no_gro);
	struct sl_pktio *cli = open_client(NULL);
	struct sl_pktio_stats cs;
	sl_pktio_stats(cli, &cs);
	bool gso = cs.features & SL_PKTIO_F_GSO;
	struct sockaddr_storage a, b;
	socklen_t al, bl;
	bound(srv, 0, NULL, &a, &al);
	bound(srv2, 0, NULL, &b, &bl);
	struct sl_quic_path pa, pb;
	path_to(&pa, &a, al);
	path_to(&pb, &b, bl);
	/* Expected runs: 20 x 1200 + a shorter 500 (which ends the run); 3 x 1200 + the first
	 * 1000 (shorter, ends it); the other 4 x 1000 to srv, cut by the 1000 to srv2 (another
	 * destination: a plain send); 2 x 700, which the larger 900 cannot join (plain). */
	size_t sizes[64];
	int n = 0;
	for (int i = 0; i < 20; i++)
		sizes[n++] = 1200;
	sizes[n++] = 500;
	for (int i = 0; i < 3; i++)
		sizes[n++] = 1200;
	for (int i = 0; i < 5; i++)
		sizes[n++] = 1000;
	int to_b = n;
	sizes[n++] = 1000;
	sizes[n++] = 700;
	sizes[n++] = 700;
	sizes[n++] = 900;
	for (int i = 0; i < n; i++)
		put(cli, i == to_b ? &pb : &pa, sizes[i], (uint8_t)(i * 7));
	flush_all(cli);
	struct rcvd r[64];
	assert_int_equal(collect(srv, r, (unsigned int)n - 1, 64, 3000), n - 1);
	for (int i = 0, k = 0; i < n; i++) {
		if (i == to_b)
			continue;
		assert_int_equal(r[k].len, sizes[i]);
		assert_int_equal(r[k].first, (uint8_t)(i * 7));
		assert_true(r[k].intact);
		k++;
	}
	struct rcvd rb;
	assert_int_equal(collect(srv2, &rb, 1, 64, 3000), 1);
	assert_int_equal(rb.len, 1000);
	assert_int_equal(rb.first, (uint8_t)(to_b * 7));
	sl_pktio_stats(cli, &cs);
	assert_int_equal(cs.tx_packets, (uint64_t)n);
	if (gso) {
		assert_int_equal(cs.tx_gso_sends, 4);
		assert_int_equal(cs.tx_gso_segments, 21 + 4 + 4 + 2);
		assert_int_equal(cs.tx_batches, 1);
	} else {
		print_message("kernel has no UDP_SEGMENT: GSO counters not checked\n");
		assert_int_equal(cs.tx_gso_sends, 0);
	}
	/* The same traffic with GSO off goes out one datagram per message. */
	struct sl_pktio *plain = open_client(tweak_no_gso_gro);
	sl_pktio_stats(plain, &cs);
	assert_false(cs.features & SL_PKTIO_F_GSO);
	for (int i = 0; i < 10; i++)
		put(plain, &pa, 1200, (uint8_t)i);
	flush_all(plain);
	assert_int_equal(collect(srv, r, 10, 64, 3000), 10);
	sl_pktio_stats(plain, &cs);
	assert_int_equal(cs.tx_gso_sends, 0);
	assert_int_equal(cs.tx_packets, 10);
	sl_pktio_close(plain);
	sl_pktio_close(cli);
	sl_pktio_close(srv2);
	sl_pktio_close(srv);
}

static void gro_splits_coalesced_receives(void **state)
{
	(void)state;
	struct sl_pktio *srv = open_one("127.0.0.1:0", NULL);
	struct sl_pktio *cli = open_client(NULL);
	struct sl_pktio_stats ss, cs;
	sl_pktio_stats(srv, &ss);
	sl_pktio_stats(cli, &cs);
	if (!(ss.features & SL_PKTIO_F_GRO) || !(cs.features & SL_PKTIO_F_GSO)) {
		print_message("kernel lacks UDP_GRO or UDP_SEGMENT: skipped\n");
		sl_pktio_close(cli);
		sl_pktio_close(srv);
		skip();
	}
	struct sockaddr_storage a;
	socklen_t al;
	bound(srv, 0, NULL, &a, &al);
	struct sl_quic_path pa;
	path_to(&pa, &a, al);
	/* Sent as one GSO super-datagram; a GRO socket on loopback receives it whole. */
	for (int i = 0; i < 10; i++)
		put(cli, &pa, 1000, (uint8_t)(i * 3));
	put(cli, &pa, 300, 99);
	flush_all(cli);
	/* Small bursts: a coalesced receive is handed out across several calls. */
	struct rcvd r[11];
	assert_int_equal(collect(srv, r, 11, 4, 3000), 11);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(r[i].len, 1000);
		assert_int_equal(r[i].first, (uint8_t)(i * 3));
		assert_true(r[i].intact);
	}
	assert_int_equal(r[10].len, 300);
	assert_int_equal(r[10].first, 99);
	sl_pktio_stats(srv, &ss);
	assert_int_equal(ss.rx_packets, 11);
	assert_int_equal(ss.rx_gro_coalesced, 1);
	assert_int_equal(ss.rx_gro_segments, 11);
	assert_int_equal(ss.rx_batches, 1);
	sl_pktio_close(cli);
	sl_pktio_close(srv);
}

static void wildcard_bind_knows_each_datagrams_local_address(void **state)
{
	(void)state;
	struct sl_pktio *srv = open_one("0.0.0.0:0", NULL);
	struct sl_pktio *cli = open_client(NULL);
	struct sl_pktio_stats ss;
	sl_pktio_stats(srv, &ss);
	assert_true(ss.features & SL_PKTIO_F_PKTINFO);
	struct sockaddr_storage a1, a2;
	socklen_t l1, l2;
	bound(srv, 0, "127.0.0.1", &a1, &l1);
	bound(srv, 0, "127.0.0.2", &a2, &l2); /* all of 127/8 is local on Linux */
	struct sl_quic_path p1, p2;
	path_to(&p1, &a1, l1);
	path_to(&p2, &a2, l2);
	put(cli, &p1, 100, 1);
	put(cli, &p2, 200, 2);
	flush_all(cli);
	struct rcvd r[2];
	assert_int_equal(collect(srv, r, 2, 64, 2000), 2);
	assert_int_equal(r[0].len, 100);
	assert_true(same_addr(&r[0].path.local, &a1));
	assert_true(same_addr(&r[1].path.local, &a2));
	/* Answers leave from the address each peer used (IP_PKTINFO on send). */
	for (int i = 1; i >= 0; i--) {
		struct sl_quic_path back = {.local = r[i].path.local,
					    .local_len = r[i].path.local_len,
					    .remote = r[i].path.remote,
					    .remote_len = r[i].path.remote_len};
		put(srv, &back, 10 + (size_t)i, (uint8_t)i);
	}
	flush_all(srv);
	struct rcvd e[2];
	assert_int_equal(collect(cli, e, 2, 64, 2000), 2);
	assert_int_equal(e[0].len, 11);
	assert_true(same_addr(&e[0].path.remote, &a2));
	assert_int_equal(e[1].len, 10);
	assert_true(same_addr(&e[1].path.remote, &a1));
	sl_pktio_close(cli);
	sl_pktio_close(srv);
}

static void reuseport_spreads_flows_over_worker_sockets(void **state)
{
	(void)state;
	struct sl_pktio *w0 = open_one("127.0.0.1:0", NULL);
	struct sockaddr_storage a;
	socklen_t al;
	bound(w0, 0, NULL, &a, &al);
	char name[64];
	sl_net_format_addr((struct sockaddr *)&a, name, sizeof(name));
	struct sl_pktio *w1 = open_one(name, NULL); /* same port: the REUSEPORT group */
	/* 64 flows (source ports); the kernel hashes each 4-tuple to one socket. The chance that
	 * all land on one of two is 2^-63. */
	enum { FLOWS = 64 };
	for (int i = 0; i < FLOWS; i++) {
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		assert_true(fd >= 0);
		uint8_t b[32] = {(uint8_t)i};
		assert_int_equal(sendto(fd, b, sizeof(b), 0, (struct sockaddr *)&a, al),
				 (ssize_t)sizeof(b));
		close(fd);
	}
	unsigned int n0 = 0, n1 = 0;
	uint64_t deadline = sl_clock_now_ns() + 3000 * MS;
	while (n0 + n1 < FLOWS && sl_clock_now_ns() < deadline) {
		n0 += collect(w0, NULL, FLOWS, 64, 10);
		n1 += collect(w1, NULL, FLOWS, 64, 10);
	}
	assert_int_equal(n0 + n1, FLOWS);
	assert_true(n0 > 0);
	assert_true(n1 > 0);
	sl_pktio_close(w1);
	sl_pktio_close(w0);
}

static void tweak_tiny_rcvbuf(struct sl_net_socket_config *c)
{
	c->sock_buf = 1; /* the kernel rounds up to its minimum: a few datagrams */
	c->no_gro = true;
}

static void receive_queue_overflows_are_counted(void **state)
{
	(void)state;
	struct sl_pktio *srv = open_one("127.0.0.1:0", tweak_tiny_rcvbuf);
	struct sockaddr_storage a;
	socklen_t al;
	bound(srv, 0, NULL, &a, &al);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	uint8_t b[1000] = {0};
	enum { N = 200 };
	for (int i = 0; i < N; i++)
		assert_int_equal(sendto(fd, b, sizeof(b), 0, (struct sockaddr *)&a, al),
				 (ssize_t)sizeof(b));
	unsigned int got = collect(srv, NULL, N, 64, 200);
	assert_true(got < N);
	/* A datagram reports the drops before it: one more after the flood settles the count. */
	assert_int_equal(sendto(fd, b, sizeof(b), 0, (struct sockaddr *)&a, al),
			 (ssize_t)sizeof(b));
	got += collect(srv, NULL, 1, 64, 2000);
	struct sl_pktio_stats ss;
	sl_pktio_stats(srv, &ss);
	assert_int_equal(ss.rx_packets, got);
	assert_int_equal(ss.rx_overflows + got, N + 1);
	close(fd);
	sl_pktio_close(srv);
}

static void tweak_few_buffers(struct sl_net_socket_config *c)
{
	c->tx_bufs = 4;
	c->rx_batch = 4;
	c->rx_slots = 4;
	c->no_gro = true;
}

static void buffers_run_out_and_come_back(void **state)
{
	(void)state;
	struct sl_pktio *srv = open_one("127.0.0.1:0", tweak_few_buffers);
	struct sl_pktio *cli = open_client(tweak_few_buffers);
	struct sockaddr_storage a;
	socklen_t al;
	bound(srv, 0, NULL, &a, &al);
	struct sl_quic_path pa;
	path_to(&pa, &a, al);
	void *tok[5];
	uint8_t *b[5];
	for (int i = 0; i < 4; i++)
		assert_non_null(b[i] = sl_pktio_tx_alloc(cli, 1200, &tok[i]));
	assert_null(sl_pktio_tx_alloc(cli, 1200, &tok[4]));
	struct sl_pktio_stats cs;
	sl_pktio_stats(cli, &cs);
	assert_int_equal(cs.tx_nobufs, 1);
	/* Giving one back (len 0) frees it without sending. */
	sl_pktio_tx_commit(cli, tok[3], &pa, 0);
	assert_int_equal(sl_pktio_tx_pending(cli), 0);
	assert_non_null(b[3] = sl_pktio_tx_alloc(cli, 1200, &tok[3]));
	/* Larger than the port's datagrams: refused. */
	assert_null(sl_pktio_tx_alloc(cli, 1501, &tok[4]));
	for (int i = 0; i < 4; i++) {
		memset(b[i], i, 64);
		sl_pktio_tx_commit(cli, tok[i], &pa, 64);
	}
	assert_int_equal(sl_pktio_tx_pending(cli), 4);
	assert_null(sl_pktio_tx_alloc(cli, 64, &tok[4]));
	assert_int_equal(sl_pktio_tx_flush(cli), 4);
	assert_int_equal(sl_pktio_tx_pending(cli), 0);
	/* Sent buffers are free again. */
	for (int i = 0; i < 4; i++)
		assert_non_null(b[i] = sl_pktio_tx_alloc(cli, 64, &tok[i]));
	for (int i = 0; i < 4; i++) {
		memset(b[i], 10 + i, 64);
		sl_pktio_tx_commit(cli, tok[i], &pa, 64);
	}
	flush_all(cli);
	/* Receive side: 4 slots. Holding them all stops reception until they are released. */
	struct sl_pkt pkts[16];
	unsigned int n = 0;
	uint64_t deadline = sl_clock_now_ns() + 2000 * MS;
	while (n < 4 && sl_clock_now_ns() < deadline) {
		n += sl_pktio_rx_burst(srv, pkts + n, 16 - n);
		if (n < 4)
			usleep(1000);
	}
	assert_int_equal(n, 4);
	assert_int_equal(sl_pktio_rx_burst(srv, pkts + n, 16 - n), 0);
	assert_int_equal(pkts[0].data[0], 0);
	/* Releasing out of order is fine. */
	sl_pktio_rx_release(srv, &pkts[2], 2);
	sl_pktio_rx_release(srv, &pkts[0], 2);
	struct rcvd r[4];
	assert_int_equal(collect(srv, r, 4, 16, 2000), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(r[i].first, 10 + i);
	/* A destination of a family the port has no socket for is dropped at commit. */
	struct sl_pktio *v4only = open_one("127.0.0.1:0", tweak_few_buffers);
	struct sockaddr_storage v6;
	socklen_t v6l;
	assert_int_equal(sl_net_parse_addr("[::1]:9", &v6, &v6l), 0);
	struct sl_quic_path p6;
	path_to(&p6, &v6, v6l);
	assert_non_null(b[0] = sl_pktio_tx_alloc(v4only, 64, &tok[0]));
	sl_pktio_tx_commit(v4only, tok[0], &p6, 64);
	assert_int_equal(sl_pktio_tx_pending(v4only), 0);
	sl_pktio_stats(v4only, &cs);
	assert_int_equal(cs.tx_drops, 1);
	sl_pktio_close(v4only);
	sl_pktio_close(cli);
	sl_pktio_close(srv);
}

#ifdef SL_NET_TEST_QUIC
/* ---- QUIC over the driver ---- */

#define XFER (1000 * 1000)

struct qside {
	struct sl_pktio *port;
	struct sl_quic_endpoint *ep;
	struct sl_quic_conn *conn;
	int connected, closed, fins;
	uint8_t *rx;
	size_t rx_len;
	struct sl_handoff *ho; /* set for server workers that share a port */
};

static struct qside *qside_of(void *arg)
{
	return ((struct sl_pktio *)arg)->user;
}

static void q_connected(void *arg, struct sl_quic_conn *c)
{
	struct qside *s = qside_of(arg);
	s->connected++;
	s->conn = c;
}

static void q_data(void *arg, struct sl_quic_conn *c, struct sl_quic_stream *qs, void *user,
		   const uint8_t *data, size_t len, bool fin)
{
	(void)c;
	(void)qs;
	(void)user;
	struct qside *s = qside_of(arg);
	if (s->rx_len + len <= XFER)
		memcpy(s->rx + s->rx_len, data, len);
	s->rx_len += len;
	s->fins += fin;
}

static void q_closed(void *arg, struct sl_quic_conn *c, uint64_t err)
{
	(void)err;
	struct qside *s = qside_of(arg);
	s->closed++;
	if (s->conn == c)
		s->conn = NULL;
}

static const struct sl_quic_callbacks qcbs = {
	/* The driver's functions are the endpoint's transmit path, unwrapped. */
	.tx_alloc = sl_pktio_quic_tx_alloc,
	.tx_commit = sl_pktio_quic_tx_commit,
	.on_connected = q_connected,
	.on_stream_data = q_data,
	.on_closed = q_closed,
};

/* One loop iteration for a side: receive burst -> endpoint, timers, flush endpoint -> driver. */
static void q_step(struct qside *s)
{
	struct sl_pkt pkts[64];
	uint64_t now = sl_clock_now_ns();
	unsigned int n;
	while ((n = sl_pktio_rx_burst(s->port, pkts, 64)) > 0) {
		for (unsigned int i = 0; i < n; i++) {
			/* A datagram for a connection of another worker goes there instead. */
			if (s->ho &&
			    sl_handoff_route(s->ho, &pkts[i].path, pkts[i].data, pkts[i].len) != 0)
				continue;
			sl_quic_endpoint_recv(s->ep, &pkts[i].path, pkts[i].data, pkts[i].len, now);
		}
		sl_pktio_rx_release(s->port, pkts, n);
	}
	if (s->ho)
		sl_handoff_drain(s->ho, s->ep, 256, now);
	if (sl_quic_endpoint_expiry(s->ep) <= now)
		sl_quic_endpoint_handle_expiry(s->ep, now);
	/* The endpoint stops when tx buffers run out; flushing the driver frees them. */
	for (int k = 0; k < 64; k++) {
		int w = sl_quic_endpoint_flush(s->ep, now);
		int rc = sl_pktio_tx_flush(s->port);
		assert_true(rc >= 0 || rc == SL_EAGAIN);
		if (w == 0 || rc == SL_EAGAIN)
			break;
	}
}

/* Sleeps until a port is readable or the earliest timer, at most 10 ms (hand-offs between
 * sides in one thread are picked up on the next step anyway). */
static void q_wait_n(struct qside *const *sides, int n)
{
	uint64_t now = sl_clock_now_ns();
	uint64_t t = UINT64_MAX;
	struct pollfd pfd[4];
	assert_true(n <= 4);
	for (int i = 0; i < n; i++) {
		uint64_t e = sl_quic_endpoint_expiry(sides[i]->ep);
		if (e < t)
			t = e;
		pfd[i].fd = sl_pktio_wait_fd(sides[i]->port);
		pfd[i].events = POLLIN;
	}
	int ms = 10;
	if (t <= now)
		ms = 0;
	else if (t - now < 10 * MS)
		ms = (int)((t - now + MS - 1) / MS);
	poll(pfd, (nfds_t)n, ms);
}

static void q_wait(struct qside *a, struct qside *b)
{
	struct qside *sides[2] = {a, b};
	q_wait_n(sides, 2);
}

static void quic_handshake_and_1mb_stream_over_sockets(void **state)
{
	(void)state;
	struct qside srv = {0}, cli = {0};
	srv.port = open_one("127.0.0.1:0", NULL);
	cli.port = open_client(NULL);
	srv.port->user = &srv;
	cli.port->user = &cli;
	srv.rx = malloc(XFER);
	assert_non_null(srv.rx);
	uint64_t now = sl_clock_now_ns();
	struct sl_quic_config cfg;
	sl_quic_config_default(&cfg);
	snprintf(cfg.alpn, sizeof(cfg.alpn), "sl-test");
	cfg.server = true;
	cfg.worker_id = 0;
	assert_int_equal(sl_quic_endpoint_new(&cfg, &qcbs, srv.port, now, &srv.ep), 0);
	sl_quic_config_default(&cfg);
	snprintf(cfg.alpn, sizeof(cfg.alpn), "sl-test");
	assert_int_equal(sl_quic_endpoint_new(&cfg, &qcbs, cli.port, now, &cli.ep), 0);

	/* The client's path: its real local address as the driver will report it on receive. */
	struct sockaddr_storage sa, ca;
	socklen_t sal, cal;
	bound(srv.port, 0, NULL, &sa, &sal);
	bound(cli.port, 0, "127.0.0.1", &ca, &cal);
	struct sl_quic_path path = {.local = ca, .local_len = cal, .remote = sa, .remote_len = sal};
	struct sl_quic_conn *c;
	assert_int_equal(sl_quic_connect(cli.ep, &path, "localhost", now, &c), 0);

	uint64_t deadline = sl_clock_now_ns() + 10000 * MS;
	while (!(cli.connected && srv.connected) && sl_clock_now_ns() < deadline) {
		q_step(&cli);
		q_step(&srv);
		q_wait(&cli, &srv);
	}
	assert_int_equal(cli.connected, 1);
	assert_int_equal(srv.connected, 1);

	/* 1 MB on one stream, in 16 KiB buffers, fin on the last. */
	struct sl_quic_stream *sid;
	assert_int_equal(sl_quic_stream_open(c, false, NULL, &sid), 0);
	for (size_t off = 0; off < XFER; off += 16384) {
		size_t n = XFER - off < 16384 ? XFER - off : 16384;
		struct sl_buf *b = sl_buf_alloc(n);
		assert_non_null(b);
		for (size_t i = 0; i < n; i++)
			b->data[i] = (uint8_t)((off + i) * 31 + 7);
		b->len = (uint32_t)n;
		assert_int_equal(sl_quic_stream_write(c, sid, sl_slice_of(b), off + n >= XFER), 0);
	}
	deadline = sl_clock_now_ns() + 20000 * MS;
	while (srv.fins == 0 && sl_clock_now_ns() < deadline) {
		q_step(&cli);
		q_step(&srv);
		q_wait(&cli, &srv);
	}
	assert_int_equal(srv.fins, 1);
	assert_int_equal(srv.rx_len, XFER);
	for (size_t i = 0; i < XFER; i++)
		if (srv.rx[i] != (uint8_t)(i * 31 + 7))
			fail_msg("byte %zu differs", i);

	struct sl_pktio_stats cs, ss;
	sl_pktio_stats(cli.port, &cs);
	sl_pktio_stats(srv.port, &ss);
	print_message("client: %lu datagrams in %lu sendmmsg, %lu in %lu GSO sends; server: %lu "
		      "datagrams in %lu recvmmsg, %lu GRO-coalesced receives\n",
		      (unsigned long)cs.tx_packets, (unsigned long)cs.tx_batches,
		      (unsigned long)cs.tx_gso_segments, (unsigned long)cs.tx_gso_sends,
		      (unsigned long)ss.rx_packets, (unsigned long)ss.rx_batches,
		      (unsigned long)ss.rx_gro_coalesced);
	assert_true(cs.tx_packets > XFER / 1500);
	assert_true(cs.tx_batches < cs.tx_packets);
	if (cs.features & SL_PKTIO_F_GSO)
		assert_true(cs.tx_gso_sends > 0);
	assert_int_equal(cs.tx_drops + cs.tx_errors + ss.rx_drops + ss.rx_errors, 0);

	/* A clean close travels over the sockets too. */
	sl_quic_conn_close(c, 0, "done");
	deadline = sl_clock_now_ns() + 5000 * MS;
	while (!(cli.closed && srv.closed) && sl_clock_now_ns() < deadline) {
		q_step(&cli);
		q_step(&srv);
		q_wait(&cli, &srv);
	}
	assert_int_equal(cli.closed, 1);
	assert_int_equal(srv.closed, 1);
	sl_quic_endpoint_free(cli.ep);
	sl_quic_endpoint_free(srv.ep);
	sl_pktio_close(cli.port);
	sl_pktio_close(srv.port);
	free(srv.rx);
}

/*
 * Two server workers share a port. The connection is made while only worker 0 listens, so its
 * CIDs name worker 0; then worker 1 joins the REUSEPORT group with a steering program that sends
 * every datagram to it (as a changed group or a rebinding would for some flows). Worker 1 must
 * hand each one to worker 0 through the ring, and the transfer must complete as if nothing
 * happened, with worker 1's endpoint never seeing a datagram.
 */
static bool reuseport_cbpf_works(struct sock_fprog *prog)
{
	int one = 1, fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0 &&
		  bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		  setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, prog, sizeof(*prog)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void misrouted_datagrams_are_handed_to_the_owner(void **state)
{
	(void)state;
	enum { TOTAL = 200 * 1000 };
	struct sock_filter code[] = {BPF_STMT(BPF_RET | BPF_K, 1)}; /* group index 1: w1 */
	struct sock_fprog prog = {.len = 1, .filter = code};
	if (!reuseport_cbpf_works(&prog)) {
		print_message("SO_ATTACH_REUSEPORT_CBPF refused: skipped\n");
		skip();
	}
	struct qside w0 = {0}, w1 = {0}, cli = {0};
	void *mem[2];
	struct rte_ring *r01, *r10;
	for (int i = 0; i < 2; i++) {
		size_t sz = (sl_ring_memsize(1024) + 63) & ~(size_t)63;
		mem[i] = aligned_alloc(64, sz);
		assert_non_null(mem[i]);
	}
	r01 = sl_ring_init_mem(mem[0], "r01", 1024);
	r10 = sl_ring_init_mem(mem[1], "r10", 1024);
	struct rte_ring *to0[2] = {NULL, r01}, *from0[2] = {NULL, r10};
	struct rte_ring *to1[2] = {r10, NULL}, *from1[2] = {r01, NULL};
	struct sl_handoff h0, h1;
	assert_int_equal(sl_handoff_init(&h0, 0, 2, to0, from0), 0);
	assert_int_equal(sl_handoff_init(&h1, 1, 2, to1, from1), 0);

	w0.port = open_one("127.0.0.1:0", NULL);
	w0.port->user = &w0;
	w0.ho = &h0;
	w0.rx = malloc(TOTAL);
	cli.port = open_client(NULL);
	cli.port->user = &cli;
	uint64_t now = sl_clock_now_ns();
	struct sl_quic_config cfg;
	sl_quic_config_default(&cfg);
	snprintf(cfg.alpn, sizeof(cfg.alpn), "sl-test");
	cfg.server = true;
	cfg.worker_id = 0;
	assert_int_equal(sl_quic_endpoint_new(&cfg, &qcbs, w0.port, now, &w0.ep), 0);
	sl_quic_config_default(&cfg);
	snprintf(cfg.alpn, sizeof(cfg.alpn), "sl-test");
	assert_int_equal(sl_quic_endpoint_new(&cfg, &qcbs, cli.port, now, &cli.ep), 0);
	struct sockaddr_storage sa, ca;
	socklen_t sal, cal;
	bound(w0.port, 0, NULL, &sa, &sal);
	bound(cli.port, 0, "127.0.0.1", &ca, &cal);
	struct sl_quic_path path = {.local = ca, .local_len = cal, .remote = sa, .remote_len = sal};
	struct sl_quic_conn *c;
	assert_int_equal(sl_quic_connect(cli.ep, &path, "localhost", now, &c), 0);
	uint64_t deadline = sl_clock_now_ns() + 10000 * MS;
	while (!(cli.connected && w0.connected) && sl_clock_now_ns() < deadline) {
		q_step(&cli);
		q_step(&w0);
		q_wait(&cli, &w0);
	}
	assert_int_equal(w0.connected, 1);

	/* Worker 1 joins the group and steals every datagram. */
	char name[64];
	sl_net_format_addr((struct sockaddr *)&sa, name, sizeof(name));
	w1.port = open_one(name, NULL);
	w1.port->user = &w1;
	w1.ho = &h1;
	cfg.server = true;
	cfg.worker_id = 1;
	assert_int_equal(sl_quic_endpoint_new(&cfg, &qcbs, w1.port, now, &w1.ep), 0);
	assert_int_equal(setsockopt(sl_net_socket_fd(w1.port, 0), SOL_SOCKET,
				    SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)),
			 0);

	struct sl_quic_stream *sid;
	assert_int_equal(sl_quic_stream_open(c, false, NULL, &sid), 0);
	struct sl_buf *b = sl_buf_alloc(TOTAL);
	for (size_t i = 0; i < TOTAL; i++)
		b->data[i] = (uint8_t)(i * 13 + 1);
	b->len = TOTAL;
	assert_int_equal(sl_quic_stream_write(c, sid, sl_slice_of(b), true), 0);
	struct qside *sides[3] = {&cli, &w0, &w1};
	deadline = sl_clock_now_ns() + 20000 * MS;
	while (w0.fins == 0 && sl_clock_now_ns() < deadline) {
		q_step(&cli);
		q_step(&w1);
		q_step(&w0);
		q_wait_n(sides, 3);
	}
	assert_int_equal(w0.fins, 1);
	assert_int_equal(w0.rx_len, TOTAL);
	for (size_t i = 0; i < TOTAL; i++)
		if (w0.rx[i] != (uint8_t)(i * 13 + 1))
			fail_msg("byte %zu differs", i);
	struct sl_pktio_stats s1;
	sl_pktio_stats(w1.port, &s1);
	struct sl_quic_stats q1;
	sl_quic_endpoint_stats(w1.ep, &q1);
	print_message("worker 1 received %lu datagrams and handed off %lu\n",
		      (unsigned long)s1.rx_packets, (unsigned long)h1.stats.handed_off);
	assert_true(h1.stats.handed_off > 50);
	assert_int_equal(h1.stats.handed_off, s1.rx_packets);
	assert_int_equal(h0.stats.received, h1.stats.handed_off);
	assert_int_equal(h1.stats.dropped_full + h1.stats.dropped_nomem, 0);
	assert_int_equal(q1.rx_datagrams, 0);
	assert_int_equal(q1.conns_accepted, 0);

	sl_quic_endpoint_free(cli.ep);
	sl_quic_endpoint_free(w1.ep);
	sl_quic_endpoint_free(w0.ep);
	sl_pktio_close(cli.port);
	sl_pktio_close(w1.port);
	sl_pktio_close(w0.port);
	free(w0.rx);
	free(mem[0]);
	free(mem[1]);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_addr_accepts_v4_v6_and_refuses_junk),
		cmocka_unit_test(open_refuses_bad_configs),
		cmocka_unit_test(v4_batches_flow_both_ways),
		cmocka_unit_test(v6_batches_flow_both_ways),
		cmocka_unit_test(one_port_listens_on_v4_and_v6),
		cmocka_unit_test(gso_coalesces_equal_sized_runs),
		cmocka_unit_test(gro_splits_coalesced_receives),
		cmocka_unit_test(wildcard_bind_knows_each_datagrams_local_address),
		cmocka_unit_test(reuseport_spreads_flows_over_worker_sockets),
		cmocka_unit_test(buffers_run_out_and_come_back),
		cmocka_unit_test(receive_queue_overflows_are_counted),
#ifdef SL_NET_TEST_QUIC
		cmocka_unit_test(quic_handshake_and_1mb_stream_over_sockets),
		cmocka_unit_test(misrouted_datagrams_are_handed_to_the_owner),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
