/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_NET_L2L3_H
#define SL_NET_L2L3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quic/endpoint.h"

/*
 * Ethernet, ARP, IPv4, IPv6, ICMPv6 neighbour discovery and UDP for the DPDK driver: what the
 * kernel does for the socket driver, done on the frame bytes. Pure functions over byte buffers
 * (no mbuf, no EAL), so the parser is fuzzed and the builders are tested without a device; the
 * driver (drivers/net/dpdk.c) calls them with mbuf data pointers.
 *
 * Scope is what a UDP appliance needs and nothing else: Ethernet II frames with at most one
 * 802.1Q tag skipped on receive (never added on send), IPv4 without fragments (options are
 * skipped), IPv6 with no extension headers, UDP, ARP for IPv4 over Ethernet, and ICMPv6
 * neighbour solicitation/advertisement. Everything else is classified as a drop with a reason
 * so the driver can count it.
 */

#define SL_L2L3_MAC_LEN	  6
#define SL_L2L3_MAX_LOCAL 8
/* Ethernet (14) + IPv6 (40) + UDP (8): the most header room a datagram needs in front. */
#define SL_L2L3_MAX_HDR 62
/* The shortest Ethernet frame without FCS; builders pad ARP and ND frames up to it. */
#define SL_L2L3_MIN_FRAME 60

/* What a received frame is. */
enum sl_l2l3_kind {
	SL_L2L3_UDP = 0,	 /* a UDP datagram for one of our addresses and ports */
	SL_L2L3_ARP_REQUEST = 1, /* an ARP request for one of our IPv4 addresses */
	SL_L2L3_ARP_REPLY = 2,	 /* an ARP reply (any target: we learn from it) */
	SL_L2L3_ND_SOLICIT = 3,	 /* a neighbour solicitation for one of our IPv6 addresses */
	SL_L2L3_ND_ADVERT = 4,	 /* a neighbour advertisement (we learn from it) */
	SL_L2L3_DROP = 5,	 /* anything else; see enum sl_l2l3_drop */
};

/* Why a frame was dropped (SL_L2L3_DROP); the driver keeps one counter per reason. */
enum sl_l2l3_drop {
	SL_L2L3_DROP_NONE = 0,
	SL_L2L3_DROP_MALFORMED = 1, /* truncated or inconsistent lengths, bad version, ... */
	SL_L2L3_DROP_CHECKSUM = 2,  /* IPv4 header, UDP or ICMPv6 checksum wrong */
	SL_L2L3_DROP_NOT_OURS = 3,  /* another host's MAC, IP or port; an ARP/NS for another IP */
	SL_L2L3_DROP_PROTOCOL = 4,  /* an EtherType, IP protocol or ICMPv6 type we do not handle */
	SL_L2L3_DROP_FRAGMENT = 5,  /* an IPv4 fragment or an IPv6 extension header */
	SL_L2L3_DROP_NREASONS = 6,
};

/* The addresses this host answers for. A port of 0 in udp[] accepts any UDP port on that IP
 * (client mode, ephemeral ports). IPv4 addresses answer ARP, IPv6 addresses answer ND. */
struct sl_l2l3_local {
	uint8_t mac[SL_L2L3_MAC_LEN];
	struct sockaddr_storage udp[SL_L2L3_MAX_LOCAL]; /* AF_INET or AF_INET6, port included */
	unsigned int n;
};

/* Checksum state the NIC reported for a received frame (from mbuf ol_flags). */
enum sl_l2l3_csum {
	SL_L2L3_CSUM_UNKNOWN = 0, /* verify in software */
	SL_L2L3_CSUM_GOOD = 1,	  /* verified by the device: skip */
	SL_L2L3_CSUM_BAD = 2,	  /* the device saw a bad checksum: drop */
};

/* The result of parsing one frame. Pointers point into the frame. */
struct sl_l2l3_rx {
	enum sl_l2l3_kind kind;
	enum sl_l2l3_drop drop;
	uint8_t src_mac[SL_L2L3_MAC_LEN];
	/* UDP: the payload and the path as the QUIC endpoint wants it (local = our address and
	 * port the datagram was sent to, remote = the sender's). */
	const uint8_t *payload;
	uint32_t payload_len;
	struct sl_quic_path path;
	/* ARP and ND: the sender's IP (sockaddr_in/in6, port 0) and link-layer address (ARP
	 * sender hardware address; ND source/target link-layer option; has_ll false when an ND
	 * message carries none), and the IP asked about or advertised. */
	struct sockaddr_storage sender;
	uint8_t sender_mac[SL_L2L3_MAC_LEN];
	bool has_ll;
	struct sockaddr_storage target;
};

/*
 * Parses one received Ethernet frame of len bytes. Frames are accepted when the destination MAC
 * is ours, broadcast (ARP) or IPv6 multicast (33:33:..., ND); everything else is
 * SL_L2L3_DROP_NOT_OURS. ip_csum/l4_csum say what the device checked. Never reads outside
 * frame[0..len) and never writes to it. Always fills out->kind (and out->drop for drops); the
 * return value is out->kind.
 */
enum sl_l2l3_kind sl_l2l3_parse(const uint8_t *frame, size_t len, const struct sl_l2l3_local *local,
				enum sl_l2l3_csum ip_csum, enum sl_l2l3_csum l4_csum,
				struct sl_l2l3_rx *out);

/* Header bytes in front of a UDP payload for this family: 42 (IPv4) or 62 (IPv6); 0 for another
 * family. */
size_t sl_l2l3_udp_hdr_len(int family);

/* Transmit checksum offloads the device performs (the builder then leaves those fields as the
 * device wants them: IPv4 header checksum 0, UDP checksum = pseudo-header sum). */
enum sl_l2l3_offload {
	SL_L2L3_TX_IPV4_CSUM = 1u << 0,
	SL_L2L3_TX_UDP_CSUM = 1u << 1,
};

/*
 * Writes the Ethernet, IP and UDP headers for a datagram of payload_len bytes that already sits
 * at frame + sl_l2l3_udp_hdr_len(family), from path->local to path->remote (both of the same
 * family). Computes the checksums the device does not (offload: enum sl_l2l3_offload bits); an
 * IPv4 UDP checksum that computes to 0 is sent as 0xffff, as RFC 768 requires. TTL/hop limit 64,
 * DF set on IPv4. Returns the frame length (header + payload), or 0 when the families differ or
 * are not AF_INET/AF_INET6, or the datagram exceeds 65507 bytes.
 */
size_t sl_l2l3_build_udp(uint8_t *frame, const uint8_t src_mac[SL_L2L3_MAC_LEN],
			 const uint8_t dst_mac[SL_L2L3_MAC_LEN], const struct sl_quic_path *path,
			 size_t payload_len, unsigned int offload);

/*
 * ARP over Ethernet for IPv4. op 1 (request: dst_mac broadcast, target hardware address zero)
 * or 2 (reply to dst_mac). sender_ip and target_ip are sockaddr_in. Writes SL_L2L3_MIN_FRAME
 * bytes (padded with zeros) into frame, which must have room for them. Returns the length, or
 * 0 for a bad op or family.
 */
size_t sl_l2l3_build_arp(uint8_t *frame, int op, const uint8_t src_mac[SL_L2L3_MAC_LEN],
			 const struct sockaddr_storage *sender_ip,
			 const uint8_t dst_mac[SL_L2L3_MAC_LEN],
			 const struct sockaddr_storage *target_ip);

/*
 * ICMPv6 neighbour solicitation for target (sockaddr_in6) from src (one of our IPv6 addresses),
 * sent to the target's solicited-node multicast address and MAC, with our source link-layer
 * option (none from the unspecified address ::, as RFC 4861 requires). Returns the frame length
 * (86, or 78 from ::; at most 128), or 0 for a bad family.
 */
size_t sl_l2l3_build_nd_solicit(uint8_t *frame, const uint8_t src_mac[SL_L2L3_MAC_LEN],
				const struct sockaddr_storage *src,
				const struct sockaddr_storage *target);

/*
 * ICMPv6 neighbour advertisement answering a solicitation: from target (our address, which is
 * also the advertised target) to dst/dst_mac (the solicitor), flags Solicited and Override
 * (Router clear), with our target link-layer option. A solicitation from the unspecified address
 * (duplicate address detection) is answered to all-nodes ff02::1 without the Solicited flag.
 * Returns the frame length (at most 128), or 0 for a bad family.
 */
size_t sl_l2l3_build_nd_advert(uint8_t *frame, const uint8_t src_mac[SL_L2L3_MAC_LEN],
			       const struct sockaddr_storage *target,
			       const uint8_t dst_mac[SL_L2L3_MAC_LEN],
			       const struct sockaddr_storage *dst);

/* The Internet checksum (RFC 1071) of len bytes added to sum (host order, not folded, not
 * inverted); the builders and the parser use it, and tests check headers with it. */
uint32_t sl_l2l3_csum_add(uint32_t sum, const void *data, size_t len);
/* Folds and inverts a running sum into the 16-bit checksum (host order). */
uint16_t sl_l2l3_csum_fold(uint32_t sum);

/* "aa:bb:cc:dd:ee:ff" into mac. Returns 0 or SL_EINVAL. */
int sl_l2l3_parse_mac(const char *s, uint8_t mac[SL_L2L3_MAC_LEN]);
/* Formats mac as "aa:bb:cc:dd:ee:ff" into buf (18 bytes). Returns buf. */
char *sl_l2l3_format_mac(const uint8_t mac[SL_L2L3_MAC_LEN], char buf[18]);

#endif
