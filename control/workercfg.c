/* SPDX-License-Identifier: Apache-2.0 */
#include "control/workercfg.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "log/proto.h"

/* IPv6 (40 bytes) and UDP (8) headers: what a device MTU holds besides the QUIC datagram. */
#define IP6_UDP_HEADERS 48

static int check_workers(uint16_t id, uint16_t nworkers, char *err, size_t errlen)
{
	if (nworkers == 0 || nworkers > SL_XSHARD_MAX_WORKERS) {
		snprintf(err, errlen, "%u workers: a relay runs 1 to %u", nworkers,
			 SL_XSHARD_MAX_WORKERS);
		return SL_EINVAL;
	}
	if (id >= nworkers) {
		snprintf(err, errlen, "worker %u of %u does not exist", id, nworkers);
		return SL_EINVAL;
	}
	return 0;
}

int sl_workercfg_fill(const struct sl_config *cfg, uint16_t id, uint16_t nworkers,
		      struct sl_worker_config *out, char *err, size_t errlen)
{
	int rc = check_workers(id, nworkers, err, errlen);
	if (rc != 0)
		return rc;
	sl_worker_config_default(out);
	out->id = id;
	out->nworkers = nworkers;

	out->quic.cert_file = cfg->cert[0] ? cfg->cert : NULL;
	out->quic.key_file = cfg->key[0] ? cfg->key : NULL;
	out->quic.idle_timeout_ns = cfg->idle_timeout_ns;
	out->quic.max_data = cfg->quic_max_data;
	out->quic.max_stream_data = cfg->quic_max_stream_data;
	out->quic.max_streams_bidi = (uint64_t)cfg->quic_max_streams_bidi;
	out->quic.max_streams_uni = (uint64_t)cfg->quic_max_streams_uni;
	/* max_conns is the daemon's total; each worker's endpoint gets its share, rounded up so
	 * that the shares never add up to less than the setting. */
	out->quic.max_conns = (uint32_t)(cfg->max_conns / (int)nworkers + 1);
	/* A datagram must fit the device MTU with IPv6 and UDP headers; kernel sockets
	 * fragment or discover the path MTU themselves, so only DPDK lowers it. */
	if (strcmp(cfg->driver, "dpdk") == 0 &&
	    cfg->dpdk_mtu - IP6_UDP_HEADERS < (int)out->quic.max_udp_payload)
		out->quic.max_udp_payload = (size_t)(cfg->dpdk_mtu - IP6_UDP_HEADERS);

	out->track.max_age_ns = cfg->cache_age_ns;
	out->track.max_bytes = cfg->cache_bytes;
	out->session.send_drops = cfg->moq_send_drops;
	out->poll_idle_ns = cfg->poll_idle_us * 1000;
	out->trace_sample = cfg->trace_sample;
	out->prefault_bytes = cfg->prefault_bytes;

	/* shardlined runs its durable side exactly when it has io cores (they do its I/O). The
	 * limits are filled either way (a worker without a store ignores them); the log
	 * protocol is offered only with the durable side, so that a client asking for it
	 * fails the handshake rather than a request. */
	if (cfg->io_cores > 0) {
		size_t len = strlen(out->quic.alpn);
		snprintf(out->quic.alpn + len, sizeof(out->quic.alpn) - len, ",%s", SL_LP_ALPN);
	}
	out->dshard.flush_interval_ns = cfg->log_flush_interval_ns;
	out->dshard.flush_bytes = cfg->log_flush_bytes;
	out->dshard.max_flushes = (uint32_t)cfg->log_max_flushes;
	out->dshard.mem_budget = cfg->log_memory;
	out->dshard.max_partitions = (uint32_t)cfg->log_max_partitions;
	out->dshard.queue_capacity = (uint32_t)cfg->log_queue;
	out->dshard.max_producers = (uint32_t)cfg->log_max_producers;
	out->logsrv.max_inflight = (uint32_t)cfg->log_max_inflight;
	out->logsrv.sub_window = cfg->log_sub_window;
	return 0;
}

int sl_workercfg_runtime(const struct sl_config *cfg, uint16_t nworkers,
			 struct sl_worker_runtime *out, char *err, size_t errlen)
{
	/* Derived from the start-up mapping rather than written again, so that a running worker
	 * and one started with the same settings cannot disagree. */
	struct sl_worker_config wc;
	int rc = sl_workercfg_fill(cfg, 0, nworkers, &wc, err, errlen);
	if (rc != 0)
		return rc;
	memset(out, 0, sizeof(*out));
	out->poll_idle_ns = wc.poll_idle_ns;
	out->trace_sample = wc.trace_sample;
	out->track = wc.track;
	out->idle_timeout_ns = wc.quic.idle_timeout_ns;
	out->max_conns = wc.quic.max_conns;
	return 0;
}
