/* SPDX-License-Identifier: Apache-2.0 */
/* The packet-driver interface is header-only; this file holds what must be defined once. */
#include "shard/pktio.h"

#define T struct sl_pktio_stats
const struct sl_stat_field sl_pktio_stats_fields[] = {
	SL_STAT_U(T, rx_packets, NULL),
	SL_STAT_U(T, rx_bytes, NULL),
	SL_STAT_U(T, rx_batches, NULL),
	SL_STAT_U(T, rx_drops, NULL),
	SL_STAT_U(T, rx_errors, NULL),
	SL_STAT_U(T, rx_overflows, NULL),
	SL_STAT_U(T, rx_gro_coalesced, NULL),
	SL_STAT_U(T, rx_gro_segments, NULL),
	SL_STAT_U(T, tx_packets, NULL),
	SL_STAT_U(T, tx_bytes, NULL),
	SL_STAT_U(T, tx_batches, NULL),
	SL_STAT_U(T, tx_drops, NULL),
	SL_STAT_U(T, tx_errors, NULL),
	SL_STAT_U(T, tx_gso_sends, NULL),
	SL_STAT_U(T, tx_gso_segments, NULL),
	SL_STAT_U(T, tx_nobufs, NULL),
	SL_STAT_U(T, tx_blocked, NULL),
	SL_STAT_U(T, rx_not_ours, NULL),
	SL_STAT_U(T, rx_malformed, NULL),
	SL_STAT_U(T, rx_bad_csum, NULL),
	SL_STAT_U(T, rx_unsupported, NULL),
	SL_STAT_U(T, arp_in, NULL),
	SL_STAT_U(T, arp_out, NULL),
	SL_STAT_U(T, nd_in, NULL),
	SL_STAT_U(T, nd_out, NULL),
	SL_STAT_U(T, neigh_held, NULL),
	SL_STAT_U(T, neigh_drops, NULL),
	/* features is one member shown as one boolean per offload that matters to operators. */
	SL_STAT_FLAGROW(T, features, SL_PKTIO_F_GSO, "gso", NULL, 0),
	SL_STAT_FLAGROW(T, features, SL_PKTIO_F_GRO, "gro", NULL, SL_STAT_F_ALIAS),
	SL_STAT_TABLE_END,
};
#undef T
