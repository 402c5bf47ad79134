/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the frame module: golden frames whose bytes were checked outside this code, builder
 * to parser round trips with and without transmit offloads, and one test per drop reason and
 * per acceptance rule of sl_l2l3_parse (MAC, IP, port, VLAN, padding, fragments, checksums, ARP
 * and neighbour discovery). Truncated frames are parsed from exact-size heap copies so that the
 * sanitizer build catches any read past the end.
 */
#include "core/test_common.h"
#include "core/err.h"
#include "drivers/net/l2l3.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t US_MAC[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t PEER_MAC[6] = {0x02, 0, 0, 0, 0, 0x02};
static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static const uint8_t PAYLOAD[] = "hello"; /* 5 bytes used, no NUL */

static struct sockaddr_storage sa(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
	}
	return ss;
}

static socklen_t sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

/* Our host: 192.0.2.1:4433, [2001:db8::1]:4433, and 192.0.2.9 on any port (client mode). */
static void our_local(struct sl_l2l3_local *l)
{
	memset(l, 0, sizeof(*l));
	memcpy(l->mac, US_MAC, 6);
	l->udp[0] = sa("192.0.2.1", 4433);
	l->udp[1] = sa("2001:db8::1", 4433);
	l->udp[2] = sa("192.0.2.9", 0);
	l->n = 3;
}

/* A host with one address and mac, to parse what we send it. */
static void peer_local(struct sl_l2l3_local *l, const uint8_t mac[6], const char *ip, uint16_t port)
{
	memset(l, 0, sizeof(*l));
	memcpy(l->mac, mac, 6);
	l->udp[0] = sa(ip, port);
	l->n = 1;
}

/* Builds a datagram from from:fport (PEER_MAC) to to:tport (dst_mac) carrying pl. */
static size_t dgram(uint8_t *f, const char *from, uint16_t fport, const char *to, uint16_t tport,
		    const uint8_t *dst_mac, const void *pl, size_t plen, unsigned int offload)
{
	struct sl_quic_path p;
	memset(&p, 0, sizeof(p));
	p.local = sa(from, fport);
	p.remote = sa(to, tport);
	p.local_len = sa_len(&p.local);
	p.remote_len = sa_len(&p.remote);
	memcpy(f + sl_l2l3_udp_hdr_len(p.local.ss_family), pl, plen);
	return sl_l2l3_build_udp(f, PEER_MAC, dst_mac, &p, plen, offload);
}

static size_t to_us4(uint8_t *f, unsigned int offload)
{
	return dgram(f, "198.51.100.7", 50000, "192.0.2.1", 4433, US_MAC, PAYLOAD, 5, offload);
}

static size_t to_us6(uint8_t *f, unsigned int offload)
{
	return dgram(f, "2001:db8::2", 50000, "2001:db8::1", 4433, US_MAC, PAYLOAD, 5, offload);
}

static enum sl_l2l3_kind parse(const uint8_t *f, size_t len, struct sl_l2l3_rx *rx)
{
	struct sl_l2l3_local l;
	our_local(&l);
	memset(rx, 0xa5, sizeof(*rx)); /* stale garbage must not leak through */
	enum sl_l2l3_kind k =
		sl_l2l3_parse(f, len, &l, SL_L2L3_CSUM_UNKNOWN, SL_L2L3_CSUM_UNKNOWN, rx);
	assert_int_equal(k, rx->kind);
	if (k == SL_L2L3_DROP)
		assert_true(rx->drop > SL_L2L3_DROP_NONE && rx->drop < SL_L2L3_DROP_NREASONS);
	else
		assert_int_equal(rx->drop, SL_L2L3_DROP_NONE);
	return k;
}

static enum sl_l2l3_drop drop_of(const uint8_t *f, size_t len)
{
	struct sl_l2l3_rx rx;
	assert_int_equal(parse(f, len, &rx), SL_L2L3_DROP);
	return rx.drop;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Recomputes the IPv4 header checksum of a frame without VLAN tag. */
static void fix_ip4(uint8_t *f)
{
	uint8_t *ip = f + 14;
	size_t ihl = (size_t)(ip[0] & 15) * 4;
	wr16(ip + 10, 0);
	wr16(ip + 10, sl_l2l3_csum_fold(sl_l2l3_csum_add(0, ip, ihl)));
}

/* Recomputes the ICMPv6 checksum of an untagged ND frame. */
static void fix_icmp6(uint8_t *f)
{
	uint8_t *ip = f + 14, *m = ip + 40;
	uint16_t plen = rd16(ip + 4);
	uint32_t s = sl_l2l3_csum_add(0, ip + 8, 32);
	s += 58 + plen;
	wr16(m + 2, 0);
	wr16(m + 2, sl_l2l3_csum_fold(sl_l2l3_csum_add(s, m, plen)));
}

static void assert_sa_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	assert_memory_equal(a, b, sizeof(*a));
}

static void assert_path(const struct sl_l2l3_rx *rx, const char *lip, uint16_t lport,
			const char *rip, uint16_t rport)
{
	struct sockaddr_storage l = sa(lip, lport), r = sa(rip, rport);
	assert_sa_equal(&rx->path.local, &l);
	assert_sa_equal(&rx->path.remote, &r);
	assert_int_equal(rx->path.local_len, sa_len(&l));
	assert_int_equal(rx->path.remote_len, sa_len(&r));
}

/* ---- checksums ---- */

/* A plain big-endian word sum, to check the eight-bytes-at-a-time one against. */
static uint16_t slow_csum(const uint8_t *p, size_t len)
{
	uint64_t s = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		s += rd16(p + i);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void csum_rfc1071_and_odd_lengths(void **state)
{
	(void)state;
	/* RFC 1071 section 3: 0001 f203 f4f5 f6f7 sums to 2ddf0, folds to ddf2. */
	static const uint8_t ex[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	assert_int_equal(sl_l2l3_csum_fold(sl_l2l3_csum_add(0, ex, sizeof(ex))), 0xffff & ~0xddf2);
	/* Split at even offsets, the running sum gives the same result. */
	uint32_t s = sl_l2l3_csum_add(0, ex, 2);
	s = sl_l2l3_csum_add(s, ex + 2, 6);
	assert_int_equal(sl_l2l3_csum_fold(s), 0x220d);
	/* An odd trailing byte is the high half of a word padded with zero. */
	static const uint8_t one = 0x01;
	assert_int_equal(sl_l2l3_csum_fold(sl_l2l3_csum_add(0, &one, 1)), 0xfeff);
	assert_int_equal(sl_l2l3_csum_fold(0), 0xffff);
	assert_int_equal(sl_l2l3_csum_fold(0xffff), 0);
	assert_int_equal(sl_l2l3_csum_fold(0x1fffe), 0); /* carries fold back in */

	/* Every length and alignment up to 70, and a 64 KiB run of 0xff (no overflow). */
	uint8_t buf[80];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 37 + 11);
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 70; len++)
			assert_int_equal(sl_l2l3_csum_fold(sl_l2l3_csum_add(0, buf + off, len)),
					 slow_csum(buf + off, len));
	size_t big = 65535;
	uint8_t *ff = malloc(big);
	assert_non_null(ff);
	memset(ff, 0xff, big);
	assert_int_equal(sl_l2l3_csum_fold(sl_l2l3_csum_add(0xffffffffu, ff, big)),
			 slow_csum(ff, big));
	free(ff);
}

/* A small deterministic generator (xorshift), so a failing case reproduces from its index. */
static uint32_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return (uint32_t)(*x >> 32);
}

/* The word-at-a-time sum against the plain one over random bytes: every alignment, even split
 * points (a running sum across pieces), lengths up to a jumbo frame, odd ones included. */
static void csum_random_runs(void **state)
{
	(void)state;
	uint64_t x = 0x9e3779b97f4a7c15u;
	uint8_t buf[9000 + 16];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rnd(&x);
	for (int i = 0; i < 4000; i++) {
		size_t off = rnd(&x) % 16;
		size_t len = i < 2000 ? rnd(&x) % 1600 : rnd(&x) % 9001;
		size_t cut = len ? (rnd(&x) % (len + 1)) & ~(size_t)1 : 0;
		uint32_t start = rnd(&x);
		uint32_t s = sl_l2l3_csum_add(start, buf + off, cut);
		s = sl_l2l3_csum_add(s, buf + off + cut, len - cut);
		/* The plain sum of the same words, with start folded in as a 16-bit value. */
		uint16_t want = slow_csum(buf + off, len);
		uint32_t t = (uint32_t)(uint16_t)~want + (start & 0xffff) + (start >> 16);
		while (t >> 16)
			t = (t & 0xffff) + (t >> 16);
		if (sl_l2l3_csum_fold(s) != (uint16_t)~t)
			fail_msg("case %d: off %zu len %zu cut %zu", i, off, len, cut);
	}
	/* Runs of 0xff make every 64-bit add carry: the counted carries must all come back. */
	memset(buf, 0xff, sizeof(buf));
	for (size_t len = 0; len <= 9000; len += 997)
		assert_int_equal(sl_l2l3_csum_fold(sl_l2l3_csum_add(0, buf + 3, len)),
				 slow_csum(buf + 3, len));
}

/* The UDP and IPv4 header checksums of built frames against a reference that lays the pseudo-
 * header out byte by byte (RFC 768, RFC 8200 section 8.1) and sums big-endian words, over random
 * addresses, ports and payloads of every parity, with and without transmit offloads. */
static void build_udp_random_against_reference(void **state)
{
	(void)state;
	uint64_t x = 0x2545f4914f6cdd1du;
	uint8_t f[SL_L2L3_MAX_HDR + 1600], ref[40 + 8 + 1600];
	for (int i = 0; i < 3000; i++) {
		bool v6 = i & 1;
		unsigned int offload = (unsigned int)(i % 12 < 8 ? 0 : rnd(&x) % 4);
		size_t plen = rnd(&x) % 1501; /* 0 .. 1500, odd and even */
		struct sl_quic_path p;
		memset(&p, 0, sizeof(p));
		if (v6) {
			struct sockaddr_in6 *l = (struct sockaddr_in6 *)&p.local;
			struct sockaddr_in6 *r = (struct sockaddr_in6 *)&p.remote;
			l->sin6_family = r->sin6_family = AF_INET6;
			for (int k = 0; k < 16; k++) {
				l->sin6_addr.s6_addr[k] = (uint8_t)rnd(&x);
				r->sin6_addr.s6_addr[k] = (uint8_t)rnd(&x);
			}
			l->sin6_port = (uint16_t)rnd(&x);
			r->sin6_port = (uint16_t)rnd(&x);
		} else {
			struct sockaddr_in *l = (struct sockaddr_in *)&p.local;
			struct sockaddr_in *r = (struct sockaddr_in *)&p.remote;
			l->sin_family = r->sin_family = AF_INET;
			l->sin_addr.s_addr = rnd(&x);
			r->sin_addr.s_addr = rnd(&x);
			l->sin_port = (uint16_t)rnd(&x);
			r->sin_port = (uint16_t)rnd(&x);
		}
		p.local_len = sa_len(&p.local);
		p.remote_len = sa_len(&p.remote);
		size_t hl = sl_l2l3_udp_hdr_len(p.local.ss_family);
		for (size_t k = 0; k < plen; k++)
			f[hl + k] = (uint8_t)rnd(&x);
		size_t n = sl_l2l3_build_udp(f, US_MAC, PEER_MAC, &p, plen, offload);
		assert_int_equal(n, hl + plen);
		const uint8_t *ip = f + 14, *u = f + hl - 8;
		size_t ulen = 8 + plen, ph;
		if (v6) {
			memcpy(ref, ip + 8, 32);
			ref[32] = ref[33] = 0;
			ref[34] = (uint8_t)(ulen >> 8);
			ref[35] = (uint8_t)ulen;
			ref[36] = ref[37] = ref[38] = 0;
			ref[39] = IPPROTO_UDP;
			ph = 40;
		} else {
			uint16_t ipc = rd16(ip + 10);
			if (offload & SL_L2L3_TX_IPV4_CSUM) {
				assert_int_equal(ipc, 0);
			} else {
				uint8_t h[20];
				memcpy(h, ip, 20);
				h[10] = h[11] = 0;
				if (ipc != slow_csum(h, 20))
					fail_msg("case %d: IPv4 header checksum %04x", i, ipc);
			}
			memcpy(ref, ip + 12, 8);
			ref[8] = 0;
			ref[9] = IPPROTO_UDP;
			ref[10] = (uint8_t)(ulen >> 8);
			ref[11] = (uint8_t)ulen;
			ph = 12;
		}
		uint16_t got = rd16(u + 6), want;
		if (offload & SL_L2L3_TX_UDP_CSUM) {
			/* What the device expects: the pseudo-header sum, folded, not inverted. */
			want = (uint16_t)~slow_csum(ref, ph);
		} else {
			memcpy(ref + ph, u, ulen);
			ref[ph + 6] = ref[ph + 7] = 0;
			want = slow_csum(ref, ph + ulen);
			if (want == 0)
				want = 0xffff;
		}
		if (got != want)
			fail_msg("case %d: %s, %zu payload bytes, offload %u: UDP checksum %04x, "
				 "want %04x",
				 i, v6 ? "IPv6" : "IPv4", plen, offload, got, want);
		if (offload == 0) {
			/* And the receiver's check agrees. */
			struct sl_l2l3_local l;
			memset(&l, 0, sizeof(l));
			memcpy(l.mac, PEER_MAC, 6);
			l.udp[0] = p.remote;
			l.n = 1;
			struct sl_l2l3_rx rx;
			enum sl_l2l3_kind k = sl_l2l3_parse(f, n, &l, SL_L2L3_CSUM_UNKNOWN,
							    SL_L2L3_CSUM_UNKNOWN, &rx);
			if (k != SL_L2L3_UDP)
				fail_msg("case %d: parsed as %d (drop %d)", i, k, rx.drop);
		}
	}
}

/* ---- golden frames ---- */

/*
 * 192.0.2.1:4433 -> 198.51.100.7:50000, "hello", from 02:00:00:00:00:01 to 02:00:00:00:00:02.
 * Checked with python3's struct module and by hand: the IPv4 header words 4500 0021 0000 4000
 * 4011 0000 c000 0201 c633 6407 sum to 2b16d, fold to b16f, invert to 4e90. The UDP checksum
 * over pseudo-header (c000 0201 c633 6407 0011 000d) + 1151 c350 000d 0000 6865 6c6c 6f00 is
 * fb23; the pseudo-header alone folds to ec5a (what the offloaded field holds).
 */
static const uint8_t GOLDEN4[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x08, 0x00, 0x45, 0x00, 0x00, 0x21, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
	0x4e, 0x90, 0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33, 0x64, 0x07, 0x11, 0x51,
	0xc3, 0x50, 0x00, 0x0d, 0xfb, 0x23, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};

/* [2001:db8::1]:4433 -> [2001:db8::2]:50000, "hello", same MACs (python3 struct), UDP checksum
 * 8beb. */
static const uint8_t GOLDEN6[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd,
	0x60, 0x00, 0x00, 0x00, 0x00, 0x0d, 0x11, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x11, 0x51,
	0xc3, 0x50, 0x00, 0x0d, 0x8b, 0xeb, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};

/* 2001:db8::1 (02:..:01) solicits 2001:db8::2: to ff02::1:ff00:2 at 33:33:ff:00:00:02, hop
 * limit 255, ICMPv6 checksum 1c27 (python3 struct), source link-layer option 01 01 + MAC. */
static const uint8_t GOLDEN_NS[] = {
	0x33, 0x33, 0xff, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd, 0x60,
	0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x02, 0x87, 0x00, 0x1c, 0x27, 0x00, 0x00,
	0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x02, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
};

/* 192.0.2.1 (02:..:01) asks who has 198.51.100.7: broadcast, target MAC zero, padded to 60. */
static const uint8_t GOLDEN_ARP[60] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06,
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0xc0, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 0x33, 0x64, 0x07,
};

static size_t golden_build(uint8_t *f, const char *from, const char *to, unsigned int offload)
{
	struct sl_quic_path p;
	memset(&p, 0, sizeof(p));
	p.local = sa(from, 4433);
	p.remote = sa(to, 50000);
	memcpy(f + sl_l2l3_udp_hdr_len(p.local.ss_family), PAYLOAD, 5);
	return sl_l2l3_build_udp(f, US_MAC, PEER_MAC, &p, 5, offload);
}

static void golden_ipv4_udp(void **state)
{
	(void)state;
	uint8_t f[128];
	memset(f, 0xee, sizeof(f));
	assert_int_equal(golden_build(f, "192.0.2.1", "198.51.100.7", 0), sizeof(GOLDEN4));
	assert_memory_equal(f, GOLDEN4, sizeof(GOLDEN4));
	assert_int_equal(f[sizeof(GOLDEN4)], 0xee); /* nothing written past the frame */

	/* The receiving host sees our path from its side. */
	struct sl_l2l3_local l;
	peer_local(&l, PEER_MAC, "198.51.100.7", 50000);
	struct sl_l2l3_rx rx;
	assert_int_equal(sl_l2l3_parse(GOLDEN4, sizeof(GOLDEN4), &l, SL_L2L3_CSUM_UNKNOWN,
				       SL_L2L3_CSUM_UNKNOWN, &rx),
			 SL_L2L3_UDP);
	assert_int_equal(rx.payload_len, 5);
	assert_ptr_equal(rx.payload, GOLDEN4 + 42);
	assert_memory_equal(rx.src_mac, US_MAC, 6);
	assert_path(&rx, "198.51.100.7", 50000, "192.0.2.1", 4433);

	/* Offloads: header checksum left 0, UDP field = the folded pseudo-header sum. */
	assert_int_equal(golden_build(f, "192.0.2.1", "198.51.100.7",
				      SL_L2L3_TX_IPV4_CSUM | SL_L2L3_TX_UDP_CSUM),
			 sizeof(GOLDEN4));
	assert_int_equal(rd16(f + 24), 0);
	assert_int_equal(rd16(f + 40), 0xec5a);
	assert_memory_equal(f, GOLDEN4, 24);
	assert_memory_equal(f + 26, GOLDEN4 + 26, 14);
}

static void golden_ipv6_udp(void **state)
{
	(void)state;
	uint8_t f[128];
	memset(f, 0xee, sizeof(f));
	assert_int_equal(golden_build(f, "2001:db8::1", "2001:db8::2", 0), sizeof(GOLDEN6));
	assert_memory_equal(f, GOLDEN6, sizeof(GOLDEN6));
	assert_int_equal(f[sizeof(GOLDEN6)], 0xee);
	/* IPv4 header offload means nothing to IPv6. */
	assert_int_equal(golden_build(f, "2001:db8::1", "2001:db8::2", SL_L2L3_TX_IPV4_CSUM),
			 sizeof(GOLDEN6));
	assert_memory_equal(f, GOLDEN6, sizeof(GOLDEN6));

	struct sl_l2l3_local l;
	peer_local(&l, PEER_MAC, "2001:db8::2", 50000);
	struct sl_l2l3_rx rx;
	assert_int_equal(sl_l2l3_parse(GOLDEN6, sizeof(GOLDEN6), &l, SL_L2L3_CSUM_UNKNOWN,
				       SL_L2L3_CSUM_UNKNOWN, &rx),
			 SL_L2L3_UDP);
	assert_int_equal(rx.payload_len, 5);
	assert_ptr_equal(rx.payload, GOLDEN6 + 62);
	assert_path(&rx, "2001:db8::2", 50000, "2001:db8::1", 4433);
}

static void golden_arp_and_nd_solicit(void **state)
{
	(void)state;
	uint8_t f[256];
	struct sockaddr_storage me4 = sa("192.0.2.1", 0), them4 = sa("198.51.100.7", 0);
	/* The dst_mac of a request is ignored: requests are always broadcast. */
	assert_int_equal(sl_l2l3_build_arp(f, 1, US_MAC, &me4, PEER_MAC, &them4), 60);
	assert_memory_equal(f, GOLDEN_ARP, 60);

	struct sockaddr_storage me6 = sa("2001:db8::1", 0), them6 = sa("2001:db8::2", 0);
	memset(f, 0xee, sizeof(f));
	assert_int_equal(sl_l2l3_build_nd_solicit(f, US_MAC, &me6, &them6), sizeof(GOLDEN_NS));
	assert_memory_equal(f, GOLDEN_NS, sizeof(GOLDEN_NS));
}

/* ---- round trips ---- */

static void udp_round_trip(size_t (*build)(uint8_t *, unsigned int), const char *lip,
			   const char *rip, int family)
{
	uint8_t f[256];
	struct sl_l2l3_local l;
	our_local(&l);
	struct sl_l2l3_rx rx;
	const unsigned int offloads[] = {0, SL_L2L3_TX_IPV4_CSUM, SL_L2L3_TX_UDP_CSUM,
					 SL_L2L3_TX_IPV4_CSUM | SL_L2L3_TX_UDP_CSUM};
	for (size_t i = 0; i < sizeof(offloads) / sizeof(offloads[0]); i++) {
		unsigned int off = offloads[i];
		size_t len = build(f, off);
		assert_int_equal(len, sl_l2l3_udp_hdr_len(family) + 5);
		bool ip_left = family == AF_INET && (off & SL_L2L3_TX_IPV4_CSUM);
		bool udp_left = off & SL_L2L3_TX_UDP_CSUM;
		/* What the device would have checked, as it reports it. */
		enum sl_l2l3_kind k =
			sl_l2l3_parse(f, len, &l, SL_L2L3_CSUM_GOOD, SL_L2L3_CSUM_GOOD, &rx);
		assert_int_equal(k, SL_L2L3_UDP);
		assert_memory_equal(rx.payload, PAYLOAD, 5);
		assert_path(&rx, lip, 4433, rip, 50000);
		assert_memory_equal(rx.src_mac, PEER_MAC, 6);
		/* Software checking rejects exactly the fields left to the device. */
		k = sl_l2l3_parse(f, len, &l, SL_L2L3_CSUM_UNKNOWN, SL_L2L3_CSUM_UNKNOWN, &rx);
		if (ip_left || udp_left) {
			assert_int_equal(k, SL_L2L3_DROP);
			assert_int_equal(rx.drop, SL_L2L3_DROP_CHECKSUM);
		} else {
			assert_int_equal(k, SL_L2L3_UDP);
			assert_int_equal(rx.payload_len, 5);
			assert_ptr_equal(rx.payload, f + sl_l2l3_udp_hdr_len(family));
			assert_path(&rx, lip, 4433, rip, 50000);
		}
		k = sl_l2l3_parse(f, len, &l, SL_L2L3_CSUM_GOOD, SL_L2L3_CSUM_UNKNOWN, &rx);
		assert_int_equal(k, udp_left ? SL_L2L3_DROP : SL_L2L3_UDP);
		k = sl_l2l3_parse(f, len, &l, SL_L2L3_CSUM_UNKNOWN, SL_L2L3_CSUM_GOOD, &rx);
		assert_int_equal(k, ip_left ? SL_L2L3_DROP : SL_L2L3_UDP);
	}
}

static void udp_round_trip_ipv4(void **state)
{
	(void)state;
	udp_round_trip(to_us4, "192.0.2.1", "198.51.100.7", AF_INET);
}

static void udp_round_trip_ipv6(void **state)
{
	(void)state;
	udp_round_trip(to_us6, "2001:db8::1", "2001:db8::2", AF_INET6);
}

/* Whatever was in the result before, the same frame gives byte-identical paths and addresses
 * (padding included), so callers may compare them with memcmp. */
static void results_are_memcmp_comparable(void **state)
{
	(void)state;
	uint8_t f[256];
	struct sl_l2l3_local l;
	our_local(&l);
	struct sl_l2l3_rx a, b;
	size_t (*builds[])(uint8_t *, unsigned int) = {to_us4, to_us6};
	for (int i = 0; i < 2; i++) {
		size_t len = builds[i](f, 0);
		memset(&a, 0x00, sizeof(a));
		memset(&b, 0xff, sizeof(b));
		assert_int_equal(sl_l2l3_parse(f, len, &l, 0, 0, &a), SL_L2L3_UDP);
		assert_int_equal(sl_l2l3_parse(f, len, &l, 0, 0, &b), SL_L2L3_UDP);
		assert_memory_equal(&a.path, &b.path, sizeof(a.path));
	}
	struct sockaddr_storage them = sa("198.51.100.7", 0), us = sa("192.0.2.1", 0);
	size_t len = sl_l2l3_build_arp(f, 1, PEER_MAC, &them, NULL, &us);
	memset(&a, 0x00, sizeof(a));
	memset(&b, 0xff, sizeof(b));
	assert_int_equal(sl_l2l3_parse(f, len, &l, 0, 0, &a), SL_L2L3_ARP_REQUEST);
	assert_int_equal(sl_l2l3_parse(f, len, &l, 0, 0, &b), SL_L2L3_ARP_REQUEST);
	assert_memory_equal(&a.sender, &b.sender, sizeof(a.sender));
	assert_memory_equal(&a.target, &b.target, sizeof(a.target));
	struct sockaddr_storage them6 = sa("2001:db8::2", 0), us6 = sa("2001:db8::1", 0);
	len = sl_l2l3_build_nd_solicit(f, PEER_MAC, &them6, &us6);
	memset(&a, 0x00, sizeof(a));
	memset(&b, 0xff, sizeof(b));
	assert_int_equal(sl_l2l3_parse(f, len, &l, 0, 0, &a), SL_L2L3_ND_SOLICIT);
	assert_int_equal(sl_l2l3_parse(f, len, &l, 0, 0, &b), SL_L2L3_ND_SOLICIT);
	assert_memory_equal(&a.sender, &b.sender, sizeof(a.sender));
	assert_memory_equal(&a.target, &b.target, sizeof(a.target));
}

/* Larger payloads of every length, odd and even, through the software checksum both ways. */
static void udp_round_trip_lengths(void **state)
{
	(void)state;
	static uint8_t pl[1500], f[1600];
	for (size_t i = 0; i < sizeof(pl); i++)
		pl[i] = (uint8_t)(i * 7 + 3);
	for (size_t n = 0; n <= 1400; n += (n < 40 ? 1 : 97)) {
		struct sl_l2l3_rx rx;
		size_t len = dgram(f, "198.51.100.7", 1, "192.0.2.1", 4433, US_MAC, pl, n, 0);
		assert_int_equal(parse(f, len, &rx), SL_L2L3_UDP);
		assert_int_equal(rx.payload_len, n);
		assert_memory_equal(rx.payload, pl, n);
		len = dgram(f, "2001:db8::2", 1, "2001:db8::1", 4433, US_MAC, pl, n, 0);
		assert_int_equal(parse(f, len, &rx), SL_L2L3_UDP);
		assert_int_equal(rx.payload_len, n);
		assert_memory_equal(rx.payload, pl, n);
	}
}

/* A datagram whose checksum computes to 0 goes out as 0xffff and is accepted. */
static void udp_checksum_zero_sent_as_ffff(void **state)
{
	(void)state;
	const char *pairs[2][2] = {{"198.51.100.7", "192.0.2.1"}, {"2001:db8::2", "2001:db8::1"}};
	for (int i = 0; i < 2; i++) {
		uint8_t f[128], pl[2] = {0, 0};
		size_t len = dgram(f, pairs[i][0], 50000, pairs[i][1], 4433, US_MAC, pl, 2, 0);
		size_t u = len - 10;
		uint16_t c = rd16(f + u + 6);
		assert_int_not_equal(c, 0xffff);
		/* Adding the checksum itself as a payload word makes the sum 0xffff. */
		wr16(pl, c);
		len = dgram(f, pairs[i][0], 50000, pairs[i][1], 4433, US_MAC, pl, 2, 0);
		assert_int_equal(rd16(f + u + 6), 0xffff);
		struct sl_l2l3_rx rx;
		assert_int_equal(parse(f, len, &rx), SL_L2L3_UDP);
	}
}

static void build_udp_rejects(void **state)
{
	(void)state;
	assert_int_equal(sl_l2l3_udp_hdr_len(AF_INET), 42);
	assert_int_equal(sl_l2l3_udp_hdr_len(AF_INET6), 62);
	assert_int_equal(sl_l2l3_udp_hdr_len(AF_UNIX), 0);
	uint8_t f[128];
	struct sl_quic_path p;
	memset(&p, 0, sizeof(p));
	p.local = sa("192.0.2.1", 1);
	p.remote = sa("2001:db8::2", 2);
	assert_int_equal(sl_l2l3_build_udp(f, US_MAC, PEER_MAC, &p, 5, 0), 0);
	p.local.ss_family = AF_UNIX;
	p.remote.ss_family = AF_UNIX;
	assert_int_equal(sl_l2l3_build_udp(f, US_MAC, PEER_MAC, &p, 5, 0), 0);

	/* 65507 is the largest IPv4 UDP payload; one more is refused. */
	uint8_t *big = calloc(1, 42 + 65508);
	assert_non_null(big);
	p.local = sa("192.0.2.1", 1);
	p.remote = sa("192.0.2.2", 2);
	assert_int_equal(sl_l2l3_build_udp(big, US_MAC, PEER_MAC, &p, 65508, 0), 0);
	assert_int_equal(sl_l2l3_build_udp(big, US_MAC, PEER_MAC, &p, 65507, 0), 42 + 65507);
	assert_int_equal(rd16(big + 16), 65535); /* IPv4 total length */
	struct sl_l2l3_local l;
	peer_local(&l, PEER_MAC, "192.0.2.2", 2);
	struct sl_l2l3_rx rx;
	assert_int_equal(
		sl_l2l3_parse(big, 42 + 65507, &l, SL_L2L3_CSUM_UNKNOWN, SL_L2L3_CSUM_UNKNOWN, &rx),
		SL_L2L3_UDP);
	assert_int_equal(rx.payload_len, 65507);
	free(big);
}

/* ---- drops ---- */

static void corrupted_checksums(void **state)
{
	(void)state;
	uint8_t f[128];
	struct sl_l2l3_local l;
	our_local(&l);
	struct sl_l2l3_rx rx;

	/* A payload bit flipped: UDP checksum, both families. */
	size_t len = to_us4(f, 0);
	f[len - 1] ^= 0x01;
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_CHECKSUM);
	/* The device said the checksum was good: the module trusts it. */
	assert_int_equal(sl_l2l3_parse(f, len, &l, SL_L2L3_CSUM_UNKNOWN, SL_L2L3_CSUM_GOOD, &rx),
			 SL_L2L3_UDP);
	len = to_us6(f, 0);
	f[len - 1] ^= 0x01;
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_CHECKSUM);

	/* The IPv4 header's TTL changed without its checksum. */
	len = to_us4(f, 0);
	f[14 + 8]--;
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_CHECKSUM);
	fix_ip4(f);
	assert_int_equal(parse(f, len, &rx), SL_L2L3_UDP);

	/* The device saw a bad checksum: dropped even though the bytes are right. */
	len = to_us4(f, 0);
	assert_int_equal(sl_l2l3_parse(f, len, &l, SL_L2L3_CSUM_BAD, SL_L2L3_CSUM_UNKNOWN, &rx),
			 SL_L2L3_DROP);
	assert_int_equal(rx.drop, SL_L2L3_DROP_CHECKSUM);
	assert_int_equal(sl_l2l3_parse(f, len, &l, SL_L2L3_CSUM_UNKNOWN, SL_L2L3_CSUM_BAD, &rx),
			 SL_L2L3_DROP);
	assert_int_equal(rx.drop, SL_L2L3_DROP_CHECKSUM);
	len = to_us6(f, 0);
	assert_int_equal(sl_l2l3_parse(f, len, &l, SL_L2L3_CSUM_UNKNOWN, SL_L2L3_CSUM_BAD, &rx),
			 SL_L2L3_DROP);
	assert_int_equal(rx.drop, SL_L2L3_DROP_CHECKSUM);
}

static void udp_checksum_zero(void **state)
{
	(void)state;
	uint8_t f[128];
	struct sl_l2l3_local l;
	our_local(&l);
	struct sl_l2l3_rx rx;
	/* IPv4: 0 means the sender computed none (RFC 768); accepted even if a device calls it
	 * bad, as some do. */
	size_t len = to_us4(f, 0);
	wr16(f + 40, 0);
	f[len - 1] ^= 0xff; /* no checksum, so nothing notices */
	assert_int_equal(parse(f, len, &rx), SL_L2L3_UDP);
	assert_int_equal(sl_l2l3_parse(f, len, &l, SL_L2L3_CSUM_UNKNOWN, SL_L2L3_CSUM_BAD, &rx),
			 SL_L2L3_UDP);
	/* IPv6: the checksum is mandatory, whatever the device says. */
	len = to_us6(f, 0);
	wr16(f + 60, 0);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_CHECKSUM);
	assert_int_equal(sl_l2l3_parse(f, len, &l, SL_L2L3_CSUM_UNKNOWN, SL_L2L3_CSUM_GOOD, &rx),
			 SL_L2L3_DROP);
	assert_int_equal(rx.drop, SL_L2L3_DROP_CHECKSUM);
}

/* Every prefix of a valid frame, from an exact-size heap copy, in every checksum mode. */
static void truncated(const uint8_t *f, size_t full, bool expect_malformed)
{
	struct sl_l2l3_local l;
	our_local(&l);
	for (size_t n = 0; n < full; n++) {
		uint8_t *c = malloc(n ? n : 1);
		assert_non_null(c);
		memcpy(c, f, n);
		for (int ipc = 0; ipc < 3; ipc++) {
			for (int l4c = 0; l4c < 3; l4c++) {
				struct sl_l2l3_rx rx;
				enum sl_l2l3_kind k =
					sl_l2l3_parse(c, n, &l, (enum sl_l2l3_csum)ipc,
						      (enum sl_l2l3_csum)l4c, &rx);
				assert_int_not_equal(k, SL_L2L3_UDP);
				assert_int_equal(k, rx.kind);
				if (expect_malformed) {
					assert_int_equal(k, SL_L2L3_DROP);
					assert_int_equal(rx.drop, SL_L2L3_DROP_MALFORMED);
				}
			}
		}
		free(c);
	}
}

static void truncated_frames(void **state)
{
	(void)state;
	uint8_t f[256];
	truncated(f, to_us4(f, 0), true);
	truncated(f, to_us6(f, 0), true);
	/* With a VLAN tag. */
	size_t len = to_us4(f, 0);
	memmove(f + 16, f + 12, len - 12);
	wr16(f + 12, 0x8100);
	wr16(f + 14, 7);
	truncated(f, len + 4, true);
	/* ARP and ND: a prefix of a padded frame may still be a whole message; it must never
	 * become a datagram, and below the message length it must be malformed. */
	struct sockaddr_storage them4 = sa("198.51.100.7", 0), us4 = sa("192.0.2.1", 0);
	len = sl_l2l3_build_arp(f, 1, PEER_MAC, &them4, NULL, &us4);
	truncated(f, 42, true);
	truncated(f, len, false);
	struct sockaddr_storage them6 = sa("2001:db8::2", 0), us6 = sa("2001:db8::1", 0);
	len = sl_l2l3_build_nd_solicit(f, PEER_MAC, &them6, &us6);
	truncated(f, len, true);
}

static void ethernet_padding_ignored(void **state)
{
	(void)state;
	uint8_t f[128];
	struct sl_l2l3_rx rx;
	uint8_t one = 0x42;
	/* A one-byte datagram is a 43-byte frame; the wire pads it to 60 with whatever. */
	size_t len = dgram(f, "198.51.100.7", 9, "192.0.2.1", 4433, US_MAC, &one, 1, 0);
	assert_int_equal(len, 43);
	memset(f + len, 0x5a, 60 - len);
	assert_int_equal(parse(f, 60, &rx), SL_L2L3_UDP);
	assert_int_equal(rx.payload_len, 1);
	assert_int_equal(rx.payload[0], 0x42);
	len = dgram(f, "2001:db8::2", 9, "2001:db8::1", 4433, US_MAC, &one, 1, 0);
	memset(f + len, 0x5a, 8);
	assert_int_equal(parse(f, len + 8, &rx), SL_L2L3_UDP);
	assert_int_equal(rx.payload_len, 1);
}

static void vlan_tag_skipped(void **state)
{
	(void)state;
	uint8_t f[256];
	struct sl_l2l3_rx rx;
	const uint16_t tpids[] = {0x8100, 0x88a8};
	for (int i = 0; i < 2; i++) {
		size_t len = to_us6(f, 0);
		memmove(f + 16, f + 12, len - 12);
		wr16(f + 12, tpids[i]);
		wr16(f + 14, 100);
		assert_int_equal(parse(f, len + 4, &rx), SL_L2L3_UDP);
		assert_ptr_equal(rx.payload, f + 66);
		assert_memory_equal(rx.payload, PAYLOAD, 5);
		assert_path(&rx, "2001:db8::1", 4433, "2001:db8::2", 50000);
	}
	/* A second tag (QinQ) is not walked. */
	size_t len = to_us4(f, 0);
	memmove(f + 20, f + 12, len - 12);
	wr16(f + 12, 0x88a8);
	wr16(f + 14, 5);
	wr16(f + 16, 0x8100);
	wr16(f + 18, 6);
	assert_int_equal(drop_of(f, len + 8), SL_L2L3_DROP_PROTOCOL);
}

static void not_ours(void **state)
{
	(void)state;
	uint8_t f[256];
	static const uint8_t other[6] = {0x02, 0, 0, 0, 0, 0x99};
	static const uint8_t mcast6[6] = {0x33, 0x33, 0, 0, 0, 0x01};
	static const uint8_t mcast4[6] = {0x01, 0x00, 0x5e, 0, 0, 0x01};
	size_t len;
	len = dgram(f, "198.51.100.7", 1, "192.0.2.1", 4433, other, PAYLOAD, 5, 0);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_NOT_OURS);
	len = dgram(f, "198.51.100.7", 1, "192.0.2.1", 4433, BCAST, PAYLOAD, 5, 0);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_NOT_OURS);
	len = dgram(f, "198.51.100.7", 1, "192.0.2.1", 4433, mcast4, PAYLOAD, 5, 0);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_NOT_OURS);
	len = dgram(f, "2001:db8::2", 1, "2001:db8::1", 4433, mcast6, PAYLOAD, 5, 0);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_NOT_OURS);
	len = dgram(f, "2001:db8::2", 1, "2001:db8::1", 4433, BCAST, PAYLOAD, 5, 0);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_NOT_OURS);
	/* Our MAC, another IP or another port. */
	len = dgram(f, "198.51.100.7", 1, "192.0.2.2", 4433, US_MAC, PAYLOAD, 5, 0);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_NOT_OURS);
	len = dgram(f, "198.51.100.7", 1, "192.0.2.1", 4434, US_MAC, PAYLOAD, 5, 0);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_NOT_OURS);
	len = dgram(f, "2001:db8::2", 1, "2001:db8::3", 4433, US_MAC, PAYLOAD, 5, 0);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_NOT_OURS);
	len = dgram(f, "2001:db8::2", 1, "2001:db8::1", 80, US_MAC, PAYLOAD, 5, 0);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_NOT_OURS);
	/* An IPv4-mapped address is not our IPv4 address. */
	len = dgram(f, "2001:db8::2", 1, "::ffff:192.0.2.1", 4433, US_MAC, PAYLOAD, 5, 0);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_NOT_OURS);
	/* An empty local set owns nothing, and n beyond the array is clamped. */
	struct sl_l2l3_local l;
	our_local(&l);
	l.n = 0;
	struct sl_l2l3_rx rx;
	len = to_us4(f, 0);
	assert_int_equal(sl_l2l3_parse(f, len, &l, 0, 0, &rx), SL_L2L3_DROP);
	assert_int_equal(rx.drop, SL_L2L3_DROP_NOT_OURS);
	l.n = 1000;
	assert_int_equal(sl_l2l3_parse(f, len, &l, 0, 0, &rx), SL_L2L3_UDP);
}

static void port_zero_accepts_any_port(void **state)
{
	(void)state;
	uint8_t f[128];
	struct sl_l2l3_rx rx;
	const uint16_t ports[] = {1, 4433, 50000, 65535};
	for (int i = 0; i < 4; i++) {
		size_t len =
			dgram(f, "203.0.113.5", 443, "192.0.2.9", ports[i], US_MAC, PAYLOAD, 5, 0);
		assert_int_equal(parse(f, len, &rx), SL_L2L3_UDP);
		/* The path carries the real port, not the wildcard. */
		assert_path(&rx, "192.0.2.9", ports[i], "203.0.113.5", 443);
	}
	/* The same port on an address without a wildcard entry is not ours. */
	size_t len = dgram(f, "203.0.113.5", 443, "192.0.2.1", 50000, US_MAC, PAYLOAD, 5, 0);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_NOT_OURS);
}

static void ipv4_fragments_options_and_protocols(void **state)
{
	(void)state;
	uint8_t f[256];
	struct sl_l2l3_rx rx;
	/* More fragments, then an offset: both fragments. */
	size_t len = to_us4(f, 0);
	wr16(f + 20, 0x6000); /* DF|MF, as a confused sender might */
	fix_ip4(f);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_FRAGMENT);
	wr16(f + 20, 0x0001);
	fix_ip4(f);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_FRAGMENT);
	wr16(f + 20, 0x0000); /* DF clear, unfragmented: fine */
	fix_ip4(f);
	assert_int_equal(parse(f, len, &rx), SL_L2L3_UDP);

	/* Options (four NOPs) are skipped through IHL; the UDP checksum does not cover them. */
	len = to_us4(f, 0);
	memmove(f + 38, f + 34, len - 34);
	memset(f + 34, 0x01, 4);
	f[14] = 0x46;
	wr16(f + 16, (uint16_t)(rd16(f + 16) + 4));
	fix_ip4(f);
	assert_int_equal(parse(f, len + 4, &rx), SL_L2L3_UDP);
	assert_ptr_equal(rx.payload, f + 46);
	assert_memory_equal(rx.payload, PAYLOAD, 5);

	/* TCP over IPv4, extension headers and TCP over IPv6, LLDP. */
	len = to_us4(f, 0);
	f[23] = 6;
	fix_ip4(f);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_PROTOCOL);
	const uint8_t ext[] = {0, 43, 44, 50, 51, 60};
	for (size_t i = 0; i < sizeof(ext); i++) {
		len = to_us6(f, 0);
		f[20] = ext[i];
		assert_int_equal(drop_of(f, len), SL_L2L3_DROP_FRAGMENT);
	}
	len = to_us6(f, 0);
	f[20] = 6;
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_PROTOCOL);
	f[20] = 59; /* no next header */
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_PROTOCOL);
	len = to_us4(f, 0);
	wr16(f + 12, 0x88cc);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_PROTOCOL);
}

static void malformed_headers(void **state)
{
	(void)state;
	uint8_t f[256];
	size_t len = to_us4(f, 0);
	f[14] = 0x55; /* version 5 */
	fix_ip4(f);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_MALFORMED);
	len = to_us4(f, 0);
	f[14] = 0x44; /* IHL 4 */
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_MALFORMED);
	len = to_us4(f, 0);
	f[14] = 0x4f; /* IHL 15: 60 bytes, more than the total length */
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_MALFORMED);
	len = to_us4(f, 0);
	wr16(f + 16, 27); /* total length leaves 7 bytes for UDP */
	fix_ip4(f);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_MALFORMED);
	len = to_us4(f, 0);
	wr16(f + 38, 7); /* UDP length below its header */
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_MALFORMED);
	len = to_us4(f, 0);
	wr16(f + 38, 14); /* UDP length past the IP payload */
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_MALFORMED);

	len = to_us6(f, 0);
	f[14] = 0x40; /* version 4 in an IPv6 EtherType */
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_MALFORMED);
	len = to_us6(f, 0);
	wr16(f + 18, 14); /* payload length past the frame */
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_MALFORMED);
	len = to_us6(f, 0);
	wr16(f + 58, 14); /* UDP length past the payload length */
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_MALFORMED);
	len = to_us6(f, 0);
	wr16(f + 18, 7); /* payload too short for a UDP header */
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_MALFORMED);
}

/* ---- ARP ---- */

static void arp_requests_and_replies(void **state)
{
	(void)state;
	uint8_t f[128];
	struct sl_l2l3_rx rx;
	struct sockaddr_storage them = sa("198.51.100.7", 0), us = sa("192.0.2.1", 0),
				wild = sa("192.0.2.9", 0), other = sa("192.0.2.77", 0);

	/* A request for our address (also the port-0 one): answer it. */
	size_t len = sl_l2l3_build_arp(f, 1, PEER_MAC, &them, NULL, &us);
	assert_int_equal(len, 60);
	assert_memory_equal(f, BCAST, 6);
	assert_int_equal(parse(f, len, &rx), SL_L2L3_ARP_REQUEST);
	assert_sa_equal(&rx.sender, &them);
	assert_sa_equal(&rx.target, &us);
	assert_memory_equal(rx.sender_mac, PEER_MAC, 6);
	assert_memory_equal(rx.src_mac, PEER_MAC, 6);
	assert_true(rx.has_ll);
	assert_null(rx.payload);
	assert_int_equal(rx.payload_len, 0);
	sl_l2l3_build_arp(f, 1, PEER_MAC, &them, NULL, &wild);
	assert_int_equal(parse(f, len, &rx), SL_L2L3_ARP_REQUEST);
	/* A request for another host's address. */
	sl_l2l3_build_arp(f, 1, PEER_MAC, &them, NULL, &other);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_NOT_OURS);

	/* Our answer, built as the driver does from what was parsed, in the request's own
	 * buffer, reaches the asker as a reply that teaches it our MAC. */
	sl_l2l3_build_arp(f, 1, PEER_MAC, &them, NULL, &us);
	assert_int_equal(parse(f, len, &rx), SL_L2L3_ARP_REQUEST);
	assert_int_equal(sl_l2l3_build_arp(f, 2, US_MAC, &rx.target, rx.sender_mac, &rx.sender),
			 60);
	assert_memory_equal(f, PEER_MAC, 6);
	assert_memory_equal(f + 32, PEER_MAC, 6); /* target hardware address */
	struct sl_l2l3_local pl;
	peer_local(&pl, PEER_MAC, "198.51.100.7", 0);
	assert_int_equal(sl_l2l3_parse(f, len, &pl, 0, 0, &rx), SL_L2L3_ARP_REPLY);
	assert_sa_equal(&rx.sender, &us);
	assert_sa_equal(&rx.target, &them);
	assert_memory_equal(rx.sender_mac, US_MAC, 6);
	assert_true(rx.has_ll);

	/* Replies teach whatever their target: a gratuitous one, to broadcast, counts. */
	sl_l2l3_build_arp(f, 2, PEER_MAC, &them, BCAST, &other);
	assert_int_equal(parse(f, len, &rx), SL_L2L3_ARP_REPLY);
	assert_sa_equal(&rx.sender, &them);
	assert_memory_equal(rx.sender_mac, PEER_MAC, 6);
	/* ...but not to a third host's MAC, nor on IPv6 multicast. */
	static const uint8_t other_mac[6] = {0x02, 0, 0, 0, 0, 0x99};
	sl_l2l3_build_arp(f, 2, PEER_MAC, &them, other_mac, &us);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_NOT_OURS);
	f[0] = 0x33;
	f[1] = 0x33;
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_NOT_OURS);

	/* Other operations, hardware and protocol types; inconsistent lengths. */
	sl_l2l3_build_arp(f, 1, PEER_MAC, &them, NULL, &us);
	wr16(f + 20, 3); /* RARP request */
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_PROTOCOL);
	sl_l2l3_build_arp(f, 1, PEER_MAC, &them, NULL, &us);
	wr16(f + 14, 6); /* IEEE 802 */
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_PROTOCOL);
	sl_l2l3_build_arp(f, 1, PEER_MAC, &them, NULL, &us);
	wr16(f + 16, 0x86dd);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_PROTOCOL);
	sl_l2l3_build_arp(f, 1, PEER_MAC, &them, NULL, &us);
	f[19] = 16;
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_MALFORMED);

	/* Builder refusals. */
	struct sockaddr_storage v6 = sa("2001:db8::1", 0);
	assert_int_equal(sl_l2l3_build_arp(f, 3, US_MAC, &us, BCAST, &them), 0);
	assert_int_equal(sl_l2l3_build_arp(f, 0, US_MAC, &us, BCAST, &them), 0);
	assert_int_equal(sl_l2l3_build_arp(f, 1, US_MAC, &v6, BCAST, &them), 0);
	assert_int_equal(sl_l2l3_build_arp(f, 2, US_MAC, &us, PEER_MAC, &v6), 0);
}

/* ---- neighbour discovery ---- */

/* Strips the option of an untagged NS/NA frame (payload length 24) and fixes its checksum. */
static size_t strip_nd_option(uint8_t *f)
{
	wr16(f + 18, 24);
	fix_icmp6(f);
	return 14 + 40 + 24;
}

static void nd_solicit_answered_by_advert(void **state)
{
	(void)state;
	uint8_t f[256];
	struct sl_l2l3_rx rx;
	struct sockaddr_storage them = sa("2001:db8::2", 0), us = sa("2001:db8::1", 0);
	struct sl_l2l3_local pl;
	peer_local(&pl, PEER_MAC, "2001:db8::2", 0);

	for (int with_ll = 1; with_ll >= 0; with_ll--) {
		size_t len = sl_l2l3_build_nd_solicit(f, PEER_MAC, &them, &us);
		assert_int_equal(len, 86);
		if (!with_ll)
			len = strip_nd_option(f);
		assert_int_equal(parse(f, len, &rx), SL_L2L3_ND_SOLICIT);
		assert_sa_equal(&rx.sender, &them);
		assert_sa_equal(&rx.target, &us);
		assert_int_equal(rx.has_ll, with_ll);
		if (with_ll)
			assert_memory_equal(rx.sender_mac, PEER_MAC, 6);
		assert_memory_equal(rx.src_mac, PEER_MAC, 6);

		/* The answer, as the driver builds it in the solicitation's buffer. */
		const uint8_t *to = rx.has_ll ? rx.sender_mac : rx.src_mac;
		len = sl_l2l3_build_nd_advert(f, US_MAC, &rx.target, to, &rx.sender);
		assert_int_equal(len, 86);
		assert_memory_equal(f, PEER_MAC, 6);
		assert_int_equal(f[21], 255);
		assert_int_equal(f[54], 136);
		assert_int_equal(f[58], 0x60); /* Solicited | Override */
		assert_memory_equal(f + 38, &((struct sockaddr_in6 *)&them)->sin6_addr, 16);
		assert_int_equal(sl_l2l3_parse(f, len, &pl, 0, 0, &rx), SL_L2L3_ND_ADVERT);
		assert_sa_equal(&rx.sender, &us);
		assert_sa_equal(&rx.target, &us);
		assert_true(rx.has_ll);
		assert_memory_equal(rx.sender_mac, US_MAC, 6);
		/* An advertisement without the option teaches nothing. */
		len = strip_nd_option(f);
		assert_int_equal(sl_l2l3_parse(f, len, &pl, 0, 0, &rx), SL_L2L3_ND_ADVERT);
		assert_false(rx.has_ll);
	}
}

static void nd_duplicate_address_detection(void **state)
{
	(void)state;
	uint8_t f[256];
	struct sl_l2l3_rx rx;
	struct sockaddr_storage any = sa("::", 0), us = sa("2001:db8::1", 0);
	/* From :: the solicitation carries no link-layer option. */
	size_t len = sl_l2l3_build_nd_solicit(f, PEER_MAC, &any, &us);
	assert_int_equal(len, 78);
	assert_int_equal(parse(f, len, &rx), SL_L2L3_ND_SOLICIT);
	assert_sa_equal(&rx.sender, &any);
	assert_sa_equal(&rx.target, &us);
	assert_false(rx.has_ll);
	/* The answer goes to all nodes, not solicited. */
	len = sl_l2l3_build_nd_advert(f, US_MAC, &rx.target, rx.src_mac, &rx.sender);
	assert_int_equal(len, 86);
	static const uint8_t all_mac[6] = {0x33, 0x33, 0, 0, 0, 1};
	assert_memory_equal(f, all_mac, 6);
	struct sockaddr_storage all = sa("ff02::1", 0);
	assert_memory_equal(f + 38, &((struct sockaddr_in6 *)&all)->sin6_addr, 16);
	assert_int_equal(f[58], 0x20); /* Override only */
	struct sl_l2l3_local pl;
	peer_local(&pl, PEER_MAC, "2001:db8::2", 0);
	assert_int_equal(sl_l2l3_parse(f, len, &pl, 0, 0, &rx), SL_L2L3_ND_ADVERT);
	assert_sa_equal(&rx.sender, &us);
	assert_memory_equal(rx.sender_mac, US_MAC, 6);
	/* A DAD probe with a source link-layer option breaks RFC 4861 7.1.1. */
	len = sl_l2l3_build_nd_solicit(f, PEER_MAC, &any, &us);
	wr16(f + 18, 32);
	f[78] = 1;
	f[79] = 1;
	memcpy(f + 80, PEER_MAC, 6);
	fix_icmp6(f);
	assert_int_equal(drop_of(f, 86), SL_L2L3_DROP_MALFORMED);
	/* The advert builder refuses other families. */
	struct sockaddr_storage v4 = sa("192.0.2.1", 0);
	assert_int_equal(sl_l2l3_build_nd_advert(f, US_MAC, &v4, PEER_MAC, &us), 0);
	assert_int_equal(sl_l2l3_build_nd_advert(f, US_MAC, &us, PEER_MAC, &v4), 0);
	assert_int_equal(sl_l2l3_build_nd_solicit(f, US_MAC, &v4, &us), 0);
	assert_int_equal(sl_l2l3_build_nd_solicit(f, US_MAC, &us, &v4), 0);
}

static void nd_solicit_builder_parses_back(void **state)
{
	(void)state;
	uint8_t f[256];
	struct sl_l2l3_rx rx;
	struct sockaddr_storage us = sa("2001:db8::1", 0), them = sa("2001:db8::2", 0);
	size_t len = sl_l2l3_build_nd_solicit(f, US_MAC, &us, &them);
	/* The peer owns the target, so at its side this is a solicitation for it. */
	struct sl_l2l3_local pl;
	peer_local(&pl, PEER_MAC, "2001:db8::2", 4433);
	assert_int_equal(sl_l2l3_parse(f, len, &pl, 0, 0, &rx), SL_L2L3_ND_SOLICIT);
	assert_sa_equal(&rx.sender, &us);
	assert_sa_equal(&rx.target, &them);
	assert_true(rx.has_ll);
	assert_memory_equal(rx.sender_mac, US_MAC, 6);
	/* Our own host does not own 2001:db8::2. */
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_NOT_OURS);
}

static void nd_drops(void **state)
{
	(void)state;
	uint8_t f[256];
	struct sockaddr_storage them = sa("2001:db8::2", 0), us = sa("2001:db8::1", 0);
	struct sl_l2l3_local l;
	our_local(&l);
	struct sl_l2l3_rx rx;
	/* Forwarded by a router (hop limit below 255): the hop limit is not in the checksum, so
	 * this is the only complaint. */
	size_t len = sl_l2l3_build_nd_solicit(f, PEER_MAC, &them, &us);
	f[21] = 254;
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_MALFORMED);
	/* A nonzero code. */
	len = sl_l2l3_build_nd_solicit(f, PEER_MAC, &them, &us);
	f[55] = 1;
	fix_icmp6(f);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_MALFORMED);
	/* An option of length 0 would loop forever; one running past the end is truncated. */
	len = sl_l2l3_build_nd_solicit(f, PEER_MAC, &them, &us);
	f[79] = 0;
	fix_icmp6(f);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_MALFORMED);
	len = sl_l2l3_build_nd_solicit(f, PEER_MAC, &them, &us);
	f[79] = 2;
	fix_icmp6(f);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_MALFORMED);
	/* An unknown option is skipped; the link-layer one after it still counts. */
	len = sl_l2l3_build_nd_solicit(f, PEER_MAC, &them, &us);
	memmove(f + 86, f + 78, 8);
	memset(f + 78, 0, 8);
	f[78] = 14; /* nonce */
	f[79] = 1;
	wr16(f + 18, 40);
	fix_icmp6(f);
	assert_int_equal(parse(f, len + 8, &rx), SL_L2L3_ND_SOLICIT);
	assert_true(rx.has_ll);
	assert_memory_equal(rx.sender_mac, PEER_MAC, 6);
	/* A corrupted checksum, or one the device calls bad. */
	len = sl_l2l3_build_nd_solicit(f, PEER_MAC, &them, &us);
	f[len - 1] ^= 0x10;
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_CHECKSUM);
	assert_int_equal(sl_l2l3_parse(f, len, &l, 0, SL_L2L3_CSUM_GOOD, &rx), SL_L2L3_ND_SOLICIT);
	f[len - 1] ^= 0x10;
	assert_int_equal(sl_l2l3_parse(f, len, &l, 0, SL_L2L3_CSUM_BAD, &rx), SL_L2L3_DROP);
	assert_int_equal(rx.drop, SL_L2L3_DROP_CHECKSUM);
	/* A solicitation for someone else. */
	struct sockaddr_storage other = sa("2001:db8::99", 0);
	len = sl_l2l3_build_nd_solicit(f, PEER_MAC, &them, &other);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_NOT_OURS);
	/* Echo request (128) and router advertisement (134): not handled here. */
	len = sl_l2l3_build_nd_solicit(f, PEER_MAC, &them, &us);
	f[54] = 128;
	fix_icmp6(f);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_PROTOCOL);
	f[54] = 134;
	fix_icmp6(f);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_PROTOCOL);
	/* ND to the broadcast MAC is not how IPv6 speaks. */
	len = sl_l2l3_build_nd_solicit(f, PEER_MAC, &them, &us);
	memcpy(f, BCAST, 6);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_NOT_OURS);
	/* Shorter than a solicitation. */
	len = sl_l2l3_build_nd_solicit(f, PEER_MAC, &them, &us);
	wr16(f + 18, 20);
	fix_icmp6(f);
	assert_int_equal(drop_of(f, len), SL_L2L3_DROP_MALFORMED);
}

/* ---- MAC text ---- */

static void mac_parse_and_format(void **state)
{
	(void)state;
	uint8_t m[6];
	char buf[18];
	assert_int_equal(sl_l2l3_parse_mac("0a:1B:2c:3D:4e:FF", m), 0);
	static const uint8_t want[6] = {0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0xff};
	assert_memory_equal(m, want, 6);
	assert_string_equal(sl_l2l3_format_mac(m, buf), "0a:1b:2c:3d:4e:ff");
	assert_ptr_equal(sl_l2l3_format_mac(US_MAC, buf), buf);
	assert_string_equal(buf, "02:00:00:00:00:01");
	assert_int_equal(sl_l2l3_parse_mac(buf, m), 0);
	assert_memory_equal(m, US_MAC, 6);

	const char *bad[] = {
		"",
		"0a:1b:2c:3d:4e",
		"0a:1b:2c:3d:4e:",
		"0a:1b:2c:3d:4e:ff:",
		"0a:1b:2c:3d:4e:ff0",
		"0a-1b-2c-3d-4e-ff",
		"a:1b:2c:3d:4e:ff",
		"0a:1b:2c:3d:4e:f",
		"0g:1b:2c:3d:4e:ff",
		" 0a:1b:2c:3d:4e:ff",
		"0a:1b:2c:3d:4e:ff ",
		"0a::1b:2c:3d:4e:ff",
		"0a1b2c3d4eff",
	};
	memcpy(m, want, 6);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sl_l2l3_parse_mac(bad[i], m), SL_EINVAL);
		assert_memory_equal(m, want, 6); /* untouched on failure */
	}
	assert_int_equal(sl_l2l3_parse_mac(NULL, m), SL_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(csum_rfc1071_and_odd_lengths),
		cmocka_unit_test(csum_random_runs),
		cmocka_unit_test(build_udp_random_against_reference),
		cmocka_unit_test(golden_ipv4_udp),
		cmocka_unit_test(golden_ipv6_udp),
		cmocka_unit_test(golden_arp_and_nd_solicit),
		cmocka_unit_test(udp_round_trip_ipv4),
		cmocka_unit_test(udp_round_trip_ipv6),
		cmocka_unit_test(results_are_memcmp_comparable),
		cmocka_unit_test(udp_round_trip_lengths),
		cmocka_unit_test(udp_checksum_zero_sent_as_ffff),
		cmocka_unit_test(build_udp_rejects),
		cmocka_unit_test(corrupted_checksums),
		cmocka_unit_test(udp_checksum_zero),
		cmocka_unit_test(truncated_frames),
		cmocka_unit_test(ethernet_padding_ignored),
		cmocka_unit_test(vlan_tag_skipped),
		cmocka_unit_test(not_ours),
		cmocka_unit_test(port_zero_accepts_any_port),
		cmocka_unit_test(ipv4_fragments_options_and_protocols),
		cmocka_unit_test(malformed_headers),
		cmocka_unit_test(arp_requests_and_replies),
		cmocka_unit_test(nd_solicit_answered_by_advert),
		cmocka_unit_test(nd_duplicate_address_detection),
		cmocka_unit_test(nd_solicit_builder_parses_back),
		cmocka_unit_test(nd_drops),
		cmocka_unit_test(mac_parse_and_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
