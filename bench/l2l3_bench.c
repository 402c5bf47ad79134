/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmarks of the frame builder the DPDK driver runs for every datagram it sends (issue 14,
 * "Known costs"). Figures and the command that produced them are in docs/benchmarks.md.
 *
 *   bm_l2l3_build_udp4/LEN  Ethernet + IPv4 + UDP headers and both software checksums (a device
 *                           without offload: net_ring, af_packet, tap) for LEN payload bytes
 *   bm_l2l3_build_udp6/LEN  the same over IPv6 (no header checksum, the UDP one mandatory)
 *   bm_l2l3_csum/LEN        the Internet checksum alone over LEN bytes
 */
#include "gbench_shim.h"

#include "drivers/net/l2l3.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static uint8_t frame[SL_L2L3_MAX_HDR + 9000];
static const uint8_t MAC_A[SL_L2L3_MAC_LEN] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t MAC_B[SL_L2L3_MAC_LEN] = {0x02, 0, 0, 0, 0, 0x02};

static void path_of(struct sl_quic_path *p, int family)
{
	memset(p, 0, sizeof(*p));
	if (family == AF_INET) {
		struct sockaddr_in *l = (struct sockaddr_in *)&p->local;
		struct sockaddr_in *r = (struct sockaddr_in *)&p->remote;
		l->sin_family = r->sin_family = AF_INET;
		inet_pton(AF_INET, "10.90.0.1", &l->sin_addr);
		inet_pton(AF_INET, "10.90.0.2", &r->sin_addr);
		l->sin_port = htons(4443);
		r->sin_port = htons(40000);
	} else {
		struct sockaddr_in6 *l = (struct sockaddr_in6 *)&p->local;
		struct sockaddr_in6 *r = (struct sockaddr_in6 *)&p->remote;
		l->sin6_family = r->sin6_family = AF_INET6;
		inet_pton(AF_INET6, "fd00::1", &l->sin6_addr);
		inet_pton(AF_INET6, "fd00::2", &r->sin6_addr);
		l->sin6_port = htons(4443);
		r->sin6_port = htons(40000);
	}
}

static void build(struct sl_bench *b, int family)
{
	size_t len = (size_t)sl_bench_arg(b, 0);
	struct sl_quic_path p;
	path_of(&p, family);
	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 131 + 7);
	size_t n = 0;
	while (sl_bench_running(b)) {
		n = sl_l2l3_build_udp(frame, MAC_A, MAC_B, &p, len, 0);
		__asm__ volatile("" : : "r"(frame) : "memory");
	}
	if (n == 0)
		sl_bench_error(b, "build failed");
	sl_bench_items(b, sl_bench_iterations(b));
	sl_bench_bytes(b, sl_bench_iterations(b) * (int64_t)len);
}

static void bm_l2l3_build_udp4(struct sl_bench *b)
{
	build(b, AF_INET);
}
SL_BENCHMARK(bm_l2l3_build_udp4, 0, 1250, 1251);

static void bm_l2l3_build_udp6(struct sl_bench *b)
{
	build(b, AF_INET6);
}
SL_BENCHMARK(bm_l2l3_build_udp6, 0, 1250, 1251);

static void bm_l2l3_csum(struct sl_bench *b)
{
	size_t len = (size_t)sl_bench_arg(b, 0);
	for (size_t i = 0; i < len; i++)
		frame[i] = (uint8_t)(i * 131 + 7);
	uint32_t s = 0;
	while (sl_bench_running(b)) {
		s = sl_l2l3_csum_add(s, frame, len);
		__asm__ volatile("" : "+r"(s));
	}
	sl_bench_items(b, sl_bench_iterations(b));
	sl_bench_bytes(b, sl_bench_iterations(b) * (int64_t)len);
}
SL_BENCHMARK(bm_l2l3_csum, 20, 1250, 9000);
