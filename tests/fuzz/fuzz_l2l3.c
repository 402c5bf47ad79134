/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the Ethernet/IP/UDP/ARP/ND frame parser. The first byte picks what the device
 * claims to have checked (IP and L4 checksum state); the rest is one received frame, parsed
 * against a fixed host with an IPv4, an IPv6 and a port-0 (any port) address. The result must be
 * self-consistent (kind and drop reason agree, a datagram's payload lies inside the frame, the
 * addresses have the right family), and whatever is accepted must survive the trip back through
 * the builders: a datagram rebuilt from its path and payload parses to the same path and bytes,
 * an ARP request or neighbour solicitation is answered by a reply the asker parses as one.
 */
#include "drivers/net/l2l3.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t US_MAC[SL_L2L3_MAC_LEN] = {0x02, 0, 0, 0, 0, 0x01};

static void set4(struct sockaddr_storage *ss, uint32_t ip, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	a->sin_addr.s_addr = htonl(ip);
}

static void set6(struct sockaddr_storage *ss, uint8_t last, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	a->sin6_addr.s6_addr[0] = 0x20;
	a->sin6_addr.s6_addr[1] = 0x01;
	a->sin6_addr.s6_addr[2] = 0x0d;
	a->sin6_addr.s6_addr[3] = 0xb8;
	a->sin6_addr.s6_addr[15] = last;
}

/* 192.0.2.1:4433, [2001:db8::1]:4433, 192.0.2.9:any (the seeds are built for these). */
static void our_local(struct sl_l2l3_local *l)
{
	memset(l, 0, sizeof(*l));
	memcpy(l->mac, US_MAC, SL_L2L3_MAC_LEN);
	set4(&l->udp[0], 0xc0000201, 4433);
	set6(&l->udp[1], 1, 4433);
	set4(&l->udp[2], 0xc0000209, 0);
	l->n = 3;
}

static bool in_frame(const uint8_t *p, size_t n, const uint8_t *f, size_t len)
{
	return p >= f && p <= f + len && n <= (size_t)(f + len - p);
}

static socklen_t fam_len(int family)
{
	return family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static void check_udp(const uint8_t *f, size_t len, const struct sl_l2l3_local *l,
		      const struct sl_l2l3_rx *rx)
{
	CHECK(in_frame(rx->payload, rx->payload_len, f, len));
	int fam = rx->path.local.ss_family;
	CHECK(fam == AF_INET || fam == AF_INET6);
	CHECK(rx->path.remote.ss_family == fam);
	CHECK(rx->path.local_len == fam_len(fam) && rx->path.remote_len == fam_len(fam));
	CHECK(rx->payload_len <= 65535 - 8);

	/* Rebuild the datagram as its sender would have sent it and parse it again. */
	static uint8_t out[SL_L2L3_MAX_HDR + 65536];
	struct sl_quic_path back;
	memset(&back, 0, sizeof(back));
	back.local = rx->path.remote;
	back.remote = rx->path.local;
	back.local_len = back.remote_len = fam_len(fam);
	size_t hl = sl_l2l3_udp_hdr_len(fam);
	memcpy(out + hl, rx->payload, rx->payload_len);
	size_t n = sl_l2l3_build_udp(out, rx->src_mac, l->mac, &back, rx->payload_len, 0);
	if (rx->payload_len > 65507) {
		CHECK(n == 0); /* IPv6 can carry more than the builder sends */
		return;
	}
	CHECK(n == hl + rx->payload_len);
	struct sl_l2l3_rx again;
	CHECK(sl_l2l3_parse(out, n, l, SL_L2L3_CSUM_UNKNOWN, SL_L2L3_CSUM_UNKNOWN, &again) ==
	      SL_L2L3_UDP);
	CHECK(again.payload_len == rx->payload_len);
	CHECK(memcmp(again.payload, rx->payload, rx->payload_len) == 0);
	CHECK(memcmp(&again.path, &rx->path, sizeof(again.path)) == 0);
	CHECK(memcmp(again.src_mac, rx->src_mac, SL_L2L3_MAC_LEN) == 0);
}

/* Answers an ARP request or a solicitation the way the driver does and checks that the asker,
 * a host with the asker's MAC, hears a reply or an advertisement for the address it asked. */
static void check_answer(const struct sl_l2l3_rx *rx)
{
	uint8_t out[128];
	size_t n;
	const uint8_t *to = rx->has_ll ? rx->sender_mac : rx->src_mac;
	if (rx->kind == SL_L2L3_ARP_REQUEST)
		n = sl_l2l3_build_arp(out, 2, US_MAC, &rx->target, to, &rx->sender);
	else
		n = sl_l2l3_build_nd_advert(out, US_MAC, &rx->target, to, &rx->sender);
	CHECK(n >= SL_L2L3_MIN_FRAME && n <= sizeof(out));
	struct sl_l2l3_local asker;
	memset(&asker, 0, sizeof(asker));
	memcpy(asker.mac, to, SL_L2L3_MAC_LEN);
	struct sl_l2l3_rx a;
	enum sl_l2l3_kind want =
		rx->kind == SL_L2L3_ARP_REQUEST ? SL_L2L3_ARP_REPLY : SL_L2L3_ND_ADVERT;
	enum sl_l2l3_kind k =
		sl_l2l3_parse(out, n, &asker, SL_L2L3_CSUM_UNKNOWN, SL_L2L3_CSUM_UNKNOWN, &a);
	CHECK(k == want);
	CHECK(a.has_ll && memcmp(a.sender_mac, US_MAC, SL_L2L3_MAC_LEN) == 0);
	CHECK(memcmp(&a.sender, &rx->target, sizeof(a.sender)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	enum sl_l2l3_csum ipc = (enum sl_l2l3_csum)(data[0] % 3);
	enum sl_l2l3_csum l4c = (enum sl_l2l3_csum)((data[0] / 3) % 3);
	const uint8_t *f = data + 1;
	size_t len = size - 1;
	struct sl_l2l3_local l;
	our_local(&l);
	struct sl_l2l3_rx rx;
	memset(&rx, 0xa5, sizeof(rx));
	enum sl_l2l3_kind k = sl_l2l3_parse(f, len, &l, ipc, l4c, &rx);
	CHECK(k == rx.kind);
	switch (k) {
	case SL_L2L3_UDP:
		CHECK(rx.drop == SL_L2L3_DROP_NONE);
		check_udp(f, len, &l, &rx);
		break;
	case SL_L2L3_ARP_REQUEST:
	case SL_L2L3_ARP_REPLY:
		CHECK(rx.drop == SL_L2L3_DROP_NONE && rx.has_ll);
		CHECK(rx.sender.ss_family == AF_INET && rx.target.ss_family == AF_INET);
		CHECK(rx.payload == NULL && rx.payload_len == 0);
		if (k == SL_L2L3_ARP_REQUEST)
			check_answer(&rx);
		break;
	case SL_L2L3_ND_SOLICIT:
	case SL_L2L3_ND_ADVERT:
		CHECK(rx.drop == SL_L2L3_DROP_NONE);
		CHECK(rx.sender.ss_family == AF_INET6 && rx.target.ss_family == AF_INET6);
		CHECK(rx.payload == NULL && rx.payload_len == 0);
		if (k == SL_L2L3_ND_SOLICIT)
			check_answer(&rx);
		break;
	case SL_L2L3_DROP:
		CHECK(rx.drop > SL_L2L3_DROP_NONE && rx.drop < SL_L2L3_DROP_NREASONS);
		/* Checksums are the only verdict a device can change: with every checksum
		 * vouched for, any other drop stays the same drop. */
		if (rx.drop != SL_L2L3_DROP_CHECKSUM) {
			struct sl_l2l3_rx g;
			CHECK(sl_l2l3_parse(f, len, &l, SL_L2L3_CSUM_GOOD, SL_L2L3_CSUM_GOOD, &g) ==
			      SL_L2L3_DROP);
			CHECK(g.drop == rx.drop);
		}
		break;
	default:
		CHECK(0);
	}
	return 0;
}
