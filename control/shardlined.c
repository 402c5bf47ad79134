/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shardlined: the daemon. The main lcore is the control core (configuration, admin socket,
 * statistics); the next lcores run one relay worker each (dataplane/shard/worker.h) over its
 * own packet port, and the last ones the io cores (control/iocore.h), each with an io_uring on
 * the data directory. Cores talk to each other only through SPSC rings.
 */
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/ring.h"
#include "control/admin.h"
#include "control/config.h"
#include "control/durable.h"
#include "control/iocore.h"
#include "control/stats_json.h"
#include "control/prom.h"
#include "control/status_json.h"
#include "control/tcplisten.h"
#include "control/authcfg.h"
#include "control/streams.h"
#include "control/workercfg.h"
#include "drivers/net/dpdk.h"
#include "drivers/net/socket.h"
#include "quic/endpoint.h"
#include "shard/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#define MAX_WORKERS SL_XSHARD_MAX_WORKERS
#define XS_RING	    16384
#define HO_RING	    4096
#define CTL_RING    64
#define MAX_IO	    64
#define IO_RING	    256
#define DL_RING	    16384 /* durable requests between two workers */
#define ML_RING	    4096  /* segment events between a worker and the metadata log */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct daemon {
	struct sl_config cfg;
	struct sl_admin *admin;
	unsigned int nworkers;
	struct sl_worker *workers[MAX_WORKERS];
	unsigned int lcores[MAX_WORKERS];
	bool running[MAX_WORKERS]; /* launched on its lcore */
	struct rte_ring *ctl_in[MAX_WORKERS], *ctl_out[MAX_WORKERS];
	char cert_sha256[65];
	/* The certificate every worker and the TCP listener present (PEM): read from cert and
	 * key, or generated once at start, so that one hash pins them all. */
	char *cert_pem, *key_pem;
	/* A certificate made here (no cert/key set): when (wall clock, seconds) and how often it
	 * was replaced before expiring (cert_renew_before, shardctl cert renew). */
	bool cert_own;
	int64_t cert_made_s;
	uint64_t cert_renewals;
	/* The TCP listener (listen_tcp) and what its routes answer from; NULL when off. */
	struct sl_tcpl *tcpl;
	struct sl_http_handlers http;
	/* Tokens (auth_* settings); NULL when authorisation is off. Freed after the workers
	 * stop: they share its raw-QUIC grant and call its functions. */
	struct sl_authcfg *auth;
	struct sl_prom_buf metrics; /* the last /metrics text, kept until the next one */
	uint64_t stats_seq;
	uint64_t started_ns;		   /* for /metrics' uptime */
	unsigned ws_next;		   /* the worker the next WebSocket goes to */
	struct sl_net_dpdk *dpdk;	   /* the DPDK device set (driver dpdk) */
	struct sl_shard_map map;	   /* track ownership, filled before the workers start */
	struct sl_bell bells[MAX_WORKERS]; /* fd -1 until created */
	unsigned int nbells;
	/* io lcores: each owns a localdir store under data_dir/objects with its own io_uring.
	 * The control core reaches each through one ring pair (io_client: a ring proxy) for
	 * the start-up probe; the durable path will add a pair per worker. */
	unsigned int nio;
	struct sl_iocore *io[MAX_IO];
	unsigned int io_lcores[MAX_IO];
	bool io_running[MAX_IO];
	struct sl_objstore *io_client[MAX_IO];
	struct sl_objstore *io0_store; /* io lcore 0's own store, for its retention GC */
	struct rte_ring *io_ctl_in[MAX_IO], *io_ctl_out[MAX_IO];
	int data_lock; /* flock'ed data_dir/LOCK, -1 without io lcores */
	/* The durable side (with io lcores): the catalogue, recovery and metadata log until
	 * they are handed over; per worker, its ring pair to its io lcore (and the proxy made
	 * on it), its segment-event rings to io lcore 0, and the request mesh between workers. */
	bool durable;
	struct sl_dctl dctl;
	struct rte_ring *wio_q[MAX_WORKERS], *wio_a[MAX_WORKERS];
	struct sl_objstore *wio_proxy[MAX_WORKERS];
	struct rte_ring *ml_q[MAX_WORKERS], *ml_a[MAX_WORKERS];
	struct rte_ring *dl[MAX_WORKERS][MAX_WORKERS];
};

/* Sends one control message to worker i and wakes it if it sleeps. Returns what
 * sl_ring_send returned. */
static unsigned int send_ctl(struct daemon *d, unsigned int i, const struct sl_msg *m)
{
	unsigned int n = sl_ring_send(d->ctl_in[i], m, 1);
	if (n == 1 && i < d->nbells)
		sl_bell_ring(&d->bells[i]);
	return n;
}

/* ---- status ---- */

static void xstat_json(void *arg, const char *name, uint64_t value)
{
	json_object_set_new(arg, name, json_integer((json_int_t)value));
}

/* The DPDK devices as the NIC sees them: link, queues, the device's own counters (including
 * what no worker has seen: missed, no-mbuf, errors) and every non-zero extended statistic. */
static json_t *devices_json(const struct sl_net_dpdk *set)
{
	json_t *arr = json_array();
	for (unsigned i = 0; i < sl_net_dpdk_dev_count(set); i++) {
		struct sl_net_dpdk_dev_info in;
		char mac[18];
		if (sl_net_dpdk_dev_info(set, i, &in) != 0)
			continue;
		json_t *d = json_pack(
			"{s:i,s:s,s:s,s:s,s:i,s:i,s:b,s:b,s:b,s:i,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
			"s:I,"
			"s:I}",
			"port", (int)in.port_id, "name", in.name, "driver", in.driver, "mac",
			sl_l2l3_format_mac(in.mac, mac), "socket", in.socket, "queues",
			(int)in.queues, "rss", in.rss, "ip_csum_offload",
			(in.offload & SL_L2L3_TX_IPV4_CSUM) != 0, "udp_csum_offload",
			(in.offload & SL_L2L3_TX_UDP_CSUM) != 0, "mtu", (int)in.mtu, "link_up",
			in.link_up, "link_speed_mbps", (json_int_t)in.link_speed_mbps, "rx_packets",
			(json_int_t)in.rx_packets, "rx_bytes", (json_int_t)in.rx_bytes,
			"tx_packets", (json_int_t)in.tx_packets, "tx_bytes",
			(json_int_t)in.tx_bytes, "rx_missed", (json_int_t)in.rx_missed, "rx_errors",
			(json_int_t)in.rx_errors, "tx_errors", (json_int_t)in.tx_errors,
			"rx_nombuf", (json_int_t)in.rx_nombuf);
		json_t *xs = json_object();
		sl_net_dpdk_dev_xstats(set, i, xstat_json, xs);
		json_object_set_new(d, "xstats", xs);
		json_array_append_new(arr, d);
	}
	return arr;
}

/* The most cores of one kind (workers or io cores) a request goes to. */
#define MAX_PEERS (MAX_WORKERS > MAX_IO ? MAX_WORKERS : MAX_IO)

/* Sends one control message to io core k and wakes it. Returns what sl_ring_send returned. */
static unsigned int send_io_ctl(struct daemon *d, unsigned int k, const struct sl_msg *m)
{
	unsigned int n = sl_ring_send(d->io_ctl_in[k], m, 1);
	if (n == 1)
		sl_iocore_wake(d->io[k]);
	return n;
}

/*
 * Sends a request of kind to every worker (io false) or every io core (io true) through its
 * control ring, with objs[i] (when objs is not NULL) as core i's message object, and waits (up
 * to a second in all) for the answers: replies[i] is core i's malloc'd answer, or NULL if it did
 * not answer. objs[i] becomes NULL when the ring was full (the object is still the caller's)
 * and non-NULL when it was sent (the core's: it comes back as the answer or is freed with a
 * late one).
 */
static void ask_all(struct daemon *d, bool io, uint32_t kind, void **objs, void **replies)
{
	unsigned int n = io ? d->nio : d->nworkers;
	uint64_t seq = ++d->stats_seq;
	for (unsigned i = 0; i < n; i++) {
		struct sl_msg m = {.type = SL_MSG_CONTROL,
				   .u32 = kind,
				   .u64 = seq,
				   .obj = objs ? objs[i] : NULL};
		replies[i] = NULL;
		unsigned int sent = io ? send_io_ctl(d, i, &m) : send_ctl(d, i, &m);
		if (objs)
			objs[i] = sent == 1 ? (void *)1 : NULL;
	}
	uint64_t deadline = sl_clock_now_ns() + UINT64_C(1000000000);
	for (unsigned i = 0; i < n; i++) {
		struct rte_ring *out = io ? d->io_ctl_out[i] : d->ctl_out[i];
		while (replies[i] == NULL && sl_clock_now_ns() < deadline) {
			struct sl_msg r;
			if (sl_ring_recv(out, &r, 1) == 1) {
				if (r.u64 == seq && r.u32 == kind)
					replies[i] = r.obj;
				else
					free(r.obj); /* an answer to an earlier, timed-out request
						      */
				continue;
			}
			usleep(200);
		}
	}
}

/* Asks every io core for its counters (up to a second) and reports them with the data
 * directory's free space. */
static void io_status(struct daemon *d, json_t *resp)
{
	json_t *arr = json_array();
	void *replies[MAX_IO];
	ask_all(d, true, SL_IOCORE_CTL_STATS, NULL, replies);
	for (unsigned k = 0; k < d->nio; k++) {
		struct sl_iocore_stats *st = replies[k];
		json_t *ij =
			st ? sl_status_iocore_json(st)
			   : json_pack("{s:i,s:s}", "io", (int)k, "error", "no answer within 1 s");
		json_array_append_new(arr, ij);
		free(st);
	}
	json_object_set_new(resp, "io", arr);
	json_t *dd = json_pack("{s:s}", "path", d->cfg.data_dir);
	struct statvfs vfs;
	if (d->nio && statvfs(d->cfg.data_dir, &vfs) == 0) {
		json_object_set_new(
			dd, "free_bytes",
			json_integer((json_int_t)((uint64_t)vfs.f_bavail * vfs.f_frsize)));
		json_object_set_new(
			dd, "total_bytes",
			json_integer((json_int_t)((uint64_t)vfs.f_blocks * vfs.f_frsize)));
	}
	json_object_set_new(dd, "in_use", json_boolean(d->nio > 0));
	json_object_set_new(resp, "data_dir", dd);
}

static void ask_workers_with(struct daemon *d, uint32_t kind, void **objs, void **replies)
{
	ask_all(d, false, kind, objs, replies);
}

static void ask_workers(struct daemon *d, uint32_t kind, void **replies)
{
	ask_workers_with(d, kind, NULL, replies);
}

/* `connections`: one object per open connection on every worker. */
static int cmd_connections(void *arg, const json_t *req, json_t *resp, char *err, size_t errlen)
{
	(void)req;
	(void)err;
	(void)errlen;
	struct daemon *d = arg;
	void *replies[MAX_WORKERS];
	ask_workers(d, SL_WORKER_CTL_CONNS, replies);
	json_t *conns = json_array();
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct sl_worker_conns *l = replies[i];
		for (uint32_t k = 0; l && k < l->n; k++) {
			const struct sl_worker_conn_info *c = &l->conn[k];
			char addr[80];
			sl_net_format_addr((const struct sockaddr *)&c->quic.remote, addr,
					   sizeof(addr));
			json_array_append_new(
				conns,
				json_pack("{s:i,s:s,s:b,s:s,s:I,s:I,s:I,s:I,s:f,s:f,"
					  "s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
					  "worker", (int)l->worker, "remote", addr, "established",
					  c->quic.established, "alpn", c->alpn, "rx_packets",
					  (json_int_t)c->quic.rx_datagrams, "rx_bytes",
					  (json_int_t)c->quic.rx_bytes, "tx_packets",
					  (json_int_t)c->quic.tx_datagrams, "tx_bytes",
					  (json_int_t)c->quic.tx_bytes, "rtt_ms",
					  (double)c->quic.smoothed_rtt_ns / 1e6, "min_rtt_ms",
					  (double)c->quic.min_rtt_ns / 1e6, "cwnd",
					  (json_int_t)c->quic.cwnd, "bytes_in_flight",
					  (json_int_t)c->quic.bytes_in_flight, "streams",
					  (json_int_t)c->quic.streams_open, "unacked_bytes",
					  (json_int_t)c->quic.stream_bytes_unacked, "subscriptions",
					  (json_int_t)c->subscriptions, "upstreams",
					  (json_int_t)c->upstreams, "groups_sent",
					  (json_int_t)c->groups_sent, "groups_reset",
					  (json_int_t)c->groups_reset, "payload_in",
					  (json_int_t)c->payload_in, "payload_out",
					  (json_int_t)c->payload_out, "decode_errors",
					  (json_int_t)c->decode_errors));
		}
		free(l);
	}
	json_object_set_new(resp, "connections", conns);
	return 0;
}

/* ---- streams ---- */

/* The batch export queue on io core 0 (beside the metadata log) learns the streams too; it
 * does not answer: a lost message would only delay export entries until the next change. */
static void push_export_streams(struct daemon *d)
{
	if (d->nio == 0)
		return;
	struct sl_msg m = {.type = SL_MSG_CONTROL,
			   .u32 = SL_IOCORE_CTL_STREAMS,
			   .obj = sl_stream_set_ref(d->dctl.streams)};
	if (send_io_ctl(d, 0, &m) != 1)
		sl_stream_set_unref(m.obj);
}

/* An export stream's queue (length, consumer epoch, last acknowledgement), as io core 0 knows
 * it, for describe and status. */
static json_t *export_queue_json(struct daemon *d, const struct sl_stream_def *def)
{
	void *objs[MAX_IO], *replies[MAX_IO];
	struct sl_iocore_export_info *asks[MAX_IO];
	for (unsigned k = 0; k < d->nio; k++) {
		asks[k] = calloc(1, sizeof(*asks[k]));
		if (asks[k])
			snprintf(asks[k]->name, sizeof(asks[k]->name), "%s", def->name);
		objs[k] = asks[k];
	}
	ask_all(d, true, SL_IOCORE_CTL_EXPORT_INFO, objs, replies);
	json_t *ej = NULL;
	for (unsigned k = 0; k < d->nio; k++) {
		struct sl_iocore_export_info *x = replies[k];
		if (x != NULL && x->rc == 0 && ej == NULL) {
			const struct sl_export_stream_info *in = &x->info;
			ej = json_pack("{s:s,s:b,s:i,s:I,s:I,s:I,s:I,s:I,s:I}", "stream", def->name,
				       "known", in->known, "length", (int)in->length, "epoch",
				       (json_int_t)in->epoch, "next_sequence",
				       (json_int_t)in->next_sequence, "pending",
				       (json_int_t)in->pending, "enqueued",
				       (json_int_t)in->enqueued, "enqueue_failed",
				       (json_int_t)in->enqueue_failed, "dropped_max_age",
				       (json_int_t)in->dropped_max_age);
			if (ej != NULL)
				json_object_set_new(ej, "last_ack",
						    in->has_last_ack
							    ? json_integer((json_int_t)in->last_ack)
							    : json_null());
		}
		if (objs[k] == NULL)
			free(asks[k]); /* never sent */
		free(replies[k]);
	}
	return ej ? ej
		  : json_pack("{s:s,s:s}", "stream", def->name, "error", "no answer within 1 s");
}

static void describe_export(struct daemon *d, const struct sl_stream_def *def, json_t *resp)
{
	if (def->export_enabled && d->nio > 0)
		json_object_set_new(resp, "export", export_queue_json(d, def));
}

/* status: every export stream's queue, in "durable" beside the stream count. */
static void status_export(struct daemon *d, json_t *durable)
{
	json_t *arr = json_array();
	for (uint32_t i = 0; d->nio > 0 && i < sl_catalog_count(d->dctl.catalog); i++) {
		const struct sl_stream_def *def = sl_catalog_at(d->dctl.catalog, i);
		if (def->export_enabled)
			json_array_append_new(arr, export_queue_json(d, def));
	}
	json_object_set_new(durable, "export_queues", arr);
}

/* Sends every worker the catalogue's new snapshot and waits for them to take it, so that a
 * stream is served everywhere by the time `stream create` answers. */
static int push_streams(struct daemon *d, char *err, size_t errlen)
{
	if (sl_dctl_snapshot(&d->dctl) != 0) {
		snprintf(err, errlen, "out of memory");
		return SL_ENOMEM;
	}
	void *objs[MAX_WORKERS], *replies[MAX_WORKERS];
	for (unsigned i = 0; i < d->nworkers; i++)
		objs[i] = sl_stream_set_ref(d->dctl.streams);
	struct sl_stream_set *refs[MAX_WORKERS];
	for (unsigned i = 0; i < d->nworkers; i++)
		refs[i] = objs[i];
	ask_workers_with(d, SL_WORKER_CTL_STREAMS, objs, replies);
	push_export_streams(d);
	int rc = 0;
	for (unsigned i = 0; i < d->nworkers; i++) {
		if (objs[i] == NULL)
			sl_stream_set_unref(refs[i]);
		int *res = replies[i];
		if (res == NULL && rc == 0) {
			snprintf(
				err, errlen,
				"worker %u has not taken the change yet (it will: the catalogue is "
				"saved)",
				i);
			rc = SL_ETIMEDOUT;
		} else if (res != NULL && *res != 0 && rc == 0) {
			snprintf(err, errlen,
				 "worker %u cannot serve every partition: %s (see "
				 "log_max_partitions)",
				 i, sl_strerror(*res));
			rc = *res;
		}
		free(res);
	}
	return rc;
}

static int stream_create(struct daemon *d, const json_t *req, json_t *resp, char *err,
			 size_t errlen)
{
	struct sl_stream_def want;
	int rc = sl_catalog_admin_create_args(req, &want, err, errlen);
	if (rc != 0)
		return rc;
	const struct sl_stream_def *got;
	bool created = false;
	rc = sl_catalog_create(d->dctl.catalog, &want, &got, &created, err, errlen);
	if (rc != 0)
		return rc;
	json_object_set_new(resp, "created", json_boolean(created));
	json_object_set_new(resp, "stream", sl_stream_def_json(got));
	return created ? push_streams(d, err, errlen) : 0;
}

static int cmp_cons(const void *a, const void *b)
{
	const struct sl_dcons_info *x = *(const struct sl_dcons_info *const *)a;
	const struct sl_dcons_info *y = *(const struct sl_dcons_info *const *)b;
	int c = strcmp(x->name, y->name);
	return c != 0 ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* The stream's named consumers, by name: the highest epoch of any of its partitions, and per
 * partition the epoch, the durable committed position and the lag behind the partition's next
 * offset (byp: the partitions' answers, for next_offset). */
static json_t *consumers_json(const struct sl_stream_def *def, void **replies, unsigned nworkers,
			      const struct sl_dpart_info **byp)
{
	json_t *arr = json_array();
	size_t total = 0;
	for (unsigned i = 0; i < nworkers; i++)
		if (replies[i])
			total += ((struct sl_worker_describe *)replies[i])->ncons;
	const struct sl_dcons_info **all = calloc(total ? total : 1, sizeof(*all));
	if (all == NULL)
		return arr;
	size_t k = 0;
	for (unsigned i = 0; i < nworkers; i++) {
		struct sl_worker_describe *r = replies[i];
		for (uint32_t j = 0; r && j < r->ncons; j++)
			all[k++] = &r->cons[j];
	}
	qsort(all, k, sizeof(*all), cmp_cons);
	json_t *cur = NULL, *parts = NULL;
	uint64_t epoch = 0;
	for (size_t i = 0; i < k; i++) {
		const struct sl_dcons_info *c = all[i];
		if (cur == NULL || strcmp(c->name, all[i - 1]->name) != 0) {
			cur = json_pack("{s:s}", "name", c->name);
			parts = json_array();
			json_object_set_new(cur, "partitions", parts);
			json_array_append_new(arr, cur);
			epoch = 0;
		}
		if (c->epoch > epoch)
			epoch = c->epoch;
		json_object_set_new(cur, "epoch", json_integer((json_int_t)epoch));
		json_t *p = json_pack("{s:i,s:I}", "partition", (int)c->partition, "epoch",
				      (json_int_t)c->epoch);
		if (c->committed) {
			json_object_set_new(p, "committed_offset",
					    json_integer((json_int_t)c->offset));
			const struct sl_dpart_info *in =
				byp && c->partition < def->partitions ? byp[c->partition] : NULL;
			if (in != NULL)
				json_object_set_new(
					p, "lag",
					json_integer((json_int_t)(in->next > c->offset
									  ? in->next - c->offset
									  : 0)));
		} else {
			json_object_set_new(p, "committed_offset", json_null());
		}
		json_array_append_new(parts, p);
	}
	free(all);
	return arr;
}

static int stream_describe(struct daemon *d, const char *name, json_t *resp, char *err,
			   size_t errlen)
{
	const struct sl_stream_def *def = sl_catalog_find(d->dctl.catalog, name);
	if (def == NULL) {
		snprintf(err, errlen, "no stream named %s", name);
		return SL_ENOTFOUND;
	}
	void *objs[MAX_WORKERS], *replies[MAX_WORKERS];
	struct sl_worker_describe *asks[MAX_WORKERS];
	for (unsigned i = 0; i < d->nworkers; i++) {
		asks[i] = calloc(1, sizeof(*asks[i]) + def->partitions * sizeof(asks[i]->info[0]));
		if (asks[i] == NULL) {
			for (unsigned k = 0; k < i; k++)
				free(asks[k]);
			snprintf(err, errlen, "out of memory");
			return SL_ENOMEM;
		}
		asks[i]->stream_id = def->id;
		asks[i]->cap = def->partitions;
		objs[i] = asks[i];
	}
	ask_workers_with(d, SL_WORKER_CTL_DESCRIBE, objs, replies);
	json_t *parts = json_array();
	/* Partition p's answer, from whichever worker owns it. */
	const struct sl_dpart_info **byp = calloc(def->partitions, sizeof(*byp));
	unsigned *owner = calloc(def->partitions, sizeof(*owner));
	for (unsigned i = 0; byp && owner && i < d->nworkers; i++) {
		struct sl_worker_describe *r = replies[i];
		for (uint32_t k = 0; r && k < r->n && k < r->cap; k++)
			if (r->info[k].partition < def->partitions) {
				byp[r->info[k].partition] = &r->info[k];
				owner[r->info[k].partition] = i;
			}
	}
	for (uint32_t p = 0; byp && owner && p < def->partitions; p++) {
		const struct sl_dpart_info *in = byp[p];
		if (in == NULL) {
			json_array_append_new(parts, json_pack("{s:i,s:s}", "partition", (int)p,
							       "error", "no answer within 1 s"));
			continue;
		}
		json_array_append_new(
			parts,
			json_pack("{s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "partition", (int)p,
				  "worker", (int)owner[p], "start_offset", (json_int_t)in->start,
				  "next_offset", (json_int_t)in->next, "durable_offset",
				  (json_int_t)in->durable, "memory_records",
				  (json_int_t)in->mem_records, "memory_bytes",
				  (json_int_t)in->mem_bytes, "objects", (json_int_t)in->objects,
				  "object_bytes", (json_int_t)in->object_bytes));
	}
	json_t *consumers = consumers_json(def, replies, d->nworkers, byp);
	free(byp);
	free(owner);
	for (unsigned i = 0; i < d->nworkers; i++) {
		if (objs[i] == NULL)
			free(asks[i]); /* never sent */
		if (replies[i] != NULL)
			free(((struct sl_worker_describe *)replies[i])->cons);
		free(replies[i]);
	}
	json_object_set_new(resp, "stream", sl_stream_def_json(def));
	json_object_set_new(resp, "partitions", parts);
	describe_export(d, def, resp);
	json_object_set_new(resp, "consumers", consumers);
	return 0;
}

/* Whether the daemon keeps no durable streams (--io-cores 0); err then says so. */
static bool no_durable(const struct daemon *d, char *err, size_t errlen)
{
	if (!d->durable)
		snprintf(err, errlen,
			 "this daemon runs without io lcores (--io-cores 0): it keeps no durable "
			 "streams");
	return !d->durable;
}

/* `consumer`: op delete, stream, name: forgets a named consumer's positions and epochs in
 * every partition (each worker deletes those of the partitions it owns). */
static int cmd_consumer(void *arg, const json_t *req, json_t *resp, char *err, size_t errlen)
{
	struct daemon *d = arg;
	if (no_durable(d, err, errlen))
		return SL_ENOTSUP;
	const char *op = json_string_value(json_object_get(req, "op"));
	const char *stream = json_string_value(json_object_get(req, "stream"));
	const char *name = json_string_value(json_object_get(req, "name"));
	if (op == NULL || strcmp(op, "delete") != 0 || stream == NULL || name == NULL) {
		snprintf(err, errlen, "consumer needs \"op\":\"delete\", \"stream\" and \"name\"");
		return SL_EINVAL;
	}
	const struct sl_stream_def *def = sl_catalog_find(d->dctl.catalog, stream);
	if (def == NULL) {
		snprintf(err, errlen, "no stream named %s", stream);
		return SL_ENOTFOUND;
	}
	if (!sl_dcons_name_valid(name, strlen(name))) {
		snprintf(err, errlen, "'%s' is not a valid consumer name", name);
		return SL_EINVAL;
	}
	void *objs[MAX_WORKERS], *replies[MAX_WORKERS];
	struct sl_worker_consumer_delete *asks[MAX_WORKERS];
	for (unsigned i = 0; i < d->nworkers; i++) {
		asks[i] = calloc(1, sizeof(*asks[i]));
		if (asks[i] == NULL) {
			for (unsigned k = 0; k < i; k++)
				free(asks[k]);
			snprintf(err, errlen, "out of memory");
			return SL_ENOMEM;
		}
		asks[i]->stream_id = def->id;
		snprintf(asks[i]->name, sizeof(asks[i]->name), "%s", name);
		objs[i] = asks[i];
	}
	ask_workers_with(d, SL_WORKER_CTL_CONSUMER_DELETE, objs, replies);
	uint64_t n = 0;
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct sl_worker_consumer_delete *r = replies[i];
		if (r != NULL)
			n += r->n;
		if (objs[i] == NULL)
			free(asks[i]); /* never sent */
		free(replies[i]);
	}
	if (n == 0) {
		snprintf(err, errlen, "stream %s has no consumer named %s", stream, name);
		return SL_ENOTFOUND;
	}
	json_object_set_new(resp, "partitions", json_integer((json_int_t)n));
	return 0;
}

/* `stream`: op create, list, describe or delete (docs/operator.md, "Streams"). */
static int cmd_stream(void *arg, const json_t *req, json_t *resp, char *err, size_t errlen)
{
	struct daemon *d = arg;
	if (no_durable(d, err, errlen))
		return SL_ENOTSUP;
	const char *op = json_string_value(json_object_get(req, "op"));
	const char *name = json_string_value(json_object_get(req, "name"));
	if (op == NULL) {
		snprintf(err, errlen, "stream needs \"op\": create, list, describe or delete");
		return SL_EINVAL;
	}
	if (strcmp(op, "list") == 0) {
		json_t *arr = json_array();
		for (uint32_t i = 0; i < sl_catalog_count(d->dctl.catalog); i++)
			json_array_append_new(
				arr, sl_stream_def_json(sl_catalog_at(d->dctl.catalog, i)));
		json_object_set_new(resp, "streams", arr);
		return 0;
	}
	if (strcmp(op, "create") == 0)
		return stream_create(d, req, resp, err, errlen);
	if (name == NULL) {
		snprintf(err, errlen, "stream %s needs \"name\"", op);
		return SL_EINVAL;
	}
	if (strcmp(op, "describe") == 0)
		return stream_describe(d, name, resp, err, errlen);
	if (strcmp(op, "delete") == 0) {
		struct sl_stream_def gone;
		int rc = sl_catalog_delete(d->dctl.catalog, name, &gone, err, errlen);
		if (rc != 0)
			return rc;
		json_object_set_new(resp, "deleted", sl_stream_def_json(&gone));
		return push_streams(d, err, errlen);
	}
	snprintf(err, errlen, "unknown stream op '%s' (create, list, describe or delete)", op);
	return SL_EINVAL;
}

/*
 * GET /metrics on the TCP listener: the same collection as cmd_status (every worker and io lcore
 * asked through its control ring, up to a second), rendered as Prometheus text. It runs on the
 * control thread, the only one that may use the control rings.
 */
static int http_metrics(void *arg, const char **text, size_t *len)
{
	struct daemon *d = arg;
	void *wr[MAX_WORKERS], *ir[MAX_IO];
	const struct sl_worker_stats *ws[MAX_WORKERS];
	const struct sl_iocore_stats *is[MAX_IO];
	unsigned nw = 0, ni = 0;
	ask_workers(d, SL_WORKER_CTL_STATS, wr);
	for (unsigned i = 0; i < d->nworkers; i++)
		if (wr[i])
			ws[nw++] = wr[i];
	ask_all(d, true, SL_IOCORE_CTL_STATS, NULL, ir);
	for (unsigned k = 0; k < d->nio; k++)
		if (ir[k])
			is[ni++] = ir[k];
	unsigned slots[MAX_WORKERS] = {0};
	for (unsigned s = 0; s < SL_SHARD_MAP_SLOTS; s++)
		slots[d->map.slot[s]]++;
	struct sl_admin_stats as;
	sl_admin_stats(d->admin, &as);
	struct sl_prom_status st = {.workers = ws,
				    .nworkers = nw,
				    .io = is,
				    .nio = ni,
				    .workers_unanswered = d->nworkers - nw,
				    .io_unanswered = d->nio - ni,
				    .shard_map_slots = slots,
				    .nslots = d->nworkers,
				    .uptime_s = (sl_clock_now_ns() - d->started_ns) / 1000000000u,
				    .admin = &as,
				    .recovery = d->durable ? &d->dctl.rec_stats : NULL};
	struct statvfs vfs;
	if (d->nio && statvfs(d->cfg.data_dir, &vfs) == 0) {
		st.has_data_dir = true;
		st.data_dir_free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		st.data_dir_total_bytes = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	}
	sl_prom_buf_free(&d->metrics);
	sl_prom_buf_init(&d->metrics);
	int rc = sl_prom_render_status(&d->metrics, &st);
	if (rc == 0 && d->tcpl) {
		struct sl_tcpl_stats ts;
		sl_tcpl_stats(d->tcpl, &ts);
		const void *obj = &ts;
		struct sl_prom_set set = {.prefix = "shardline_tcp_",
					  .help_path = "tcp",
					  .table = sl_tcpl_stats_fields,
					  .objs = &obj,
					  .n = 1};
		rc = sl_prom_render_set(&d->metrics, &set);
	}
	for (unsigned i = 0; i < d->nworkers; i++)
		free(wr[i]);
	for (unsigned k = 0; k < d->nio; k++)
		free(ir[k]);
	if (rc == 0)
		rc = d->metrics.err;
	if (rc != 0)
		return rc;
	*text = d->metrics.data;
	*len = d->metrics.len;
	return 0;
}

/*
 * GET /announced: every worker lists what its origin has active under the prefix (a broadcast
 * published on one worker is announced to the others, but asking all of them costs one control
 * round and misses nothing while an announcement is crossing); the union.
 */
static int http_announced(void *arg, const char *prefix, sl_http_path_fn emit, void *ctx)
{
	struct daemon *d = arg;
	void *objs[MAX_WORKERS], *replies[MAX_WORKERS];
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct sl_worker_announced *a = calloc(1, sizeof(*a));
		if (a)
			snprintf(a->prefix, sizeof(a->prefix), "%s", prefix);
		objs[i] = a;
	}
	for (unsigned i = 0; i < d->nworkers; i++)
		if (objs[i] == NULL) {
			for (unsigned k = 0; k < d->nworkers; k++)
				free(objs[k]);
			return SL_ENOMEM;
		}
	void *sent[MAX_WORKERS];
	memcpy(sent, objs, sizeof(sent));
	ask_workers_with(d, SL_WORKER_CTL_ANNOUNCED, objs, replies);
	size_t n = 0, cap = 0;
	int rc = 0;
	const char **paths = NULL;
	for (unsigned i = 0; i < d->nworkers; i++) {
		if (objs[i] == NULL)
			free(sent[i]); /* the ring was full: still ours */
		struct sl_worker_announced *a = replies[i];
		if (a == NULL) {
			rc = objs[i] ? SL_ETIMEDOUT : SL_EBUSY;
			continue;
		}
		const char *p = a->path;
		for (uint32_t k = 0; k < a->n; k++, p += strlen(p) + 1) {
			if (n == cap) {
				const char **np =
					realloc(paths, (cap = cap ? cap * 2 : 64) * sizeof(*paths));
				if (np == NULL) {
					rc = SL_ENOMEM;
					break;
				}
				paths = np;
			}
			paths[n++] = p;
		}
	}
	/* http.c sorts them and drops the duplicates. */
	for (size_t k = 0; k < n && rc == 0; k++)
		rc = emit(ctx, paths[k], strlen(paths[k]));
	free(paths);
	for (unsigned i = 0; i < d->nworkers; i++)
		free(replies[i]);
	return rc;
}

/*
 * GET /fetch: the group from the worker that has it cached. The owner shard of the track has it,
 * and so does every worker with subscribers to it; any copy is the same group.
 */
static int http_fetch(void *arg, const char *broadcast, const char *track, uint64_t group,
		      uint64_t *sequence, sl_http_frame_fn emit, void *ctx)
{
	struct daemon *d = arg;
	void *objs[MAX_WORKERS], *sent[MAX_WORKERS], *replies[MAX_WORKERS];
	int rc = 0;
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct sl_worker_fetch *f = calloc(1, sizeof(*f));
		if (f) {
			snprintf(f->broadcast, sizeof(f->broadcast), "%s", broadcast);
			snprintf(f->track, sizeof(f->track), "%s", track);
			f->group = group;
			/* Any worker reaches every broadcast (through the cross-worker links):
			 * one subscription is enough. */
			f->subscribe = i == 0;
		} else {
			rc = SL_ENOMEM;
		}
		objs[i] = sent[i] = f;
	}
	if (rc != 0) {
		for (unsigned i = 0; i < d->nworkers; i++)
			free(objs[i]);
		return rc;
	}
	ask_workers_with(d, SL_WORKER_CTL_FETCH, objs, replies);
	rc = SL_ENOTFOUND;
	bool done = false;
	for (unsigned i = 0; i < d->nworkers; i++) {
		if (objs[i] == NULL)
			free(sent[i]);
		struct sl_worker_fetch *f = replies[i];
		if (f && !done && f->rc == SL_EAGAIN)
			rc = SL_EAGAIN; /* unless another worker has the group */
		if (f == NULL || done || f->rc == SL_ENOTFOUND || f->rc == SL_EAGAIN)
			continue;
		done = true;
		rc = f->rc;
		*sequence = f->sequence;
		size_t off = 0;
		for (uint32_t k = 0; rc == 0 && k < f->frames; k++) {
			uint32_t len;
			memcpy(&len, f->data + off, 4);
			rc = emit(ctx, f->data + off + 4, len);
			off += 4 + len;
		}
	}
	for (unsigned i = 0; i < d->nworkers; i++)
		free(replies[i]);
	return rc;
}

/* Reads a whole (small) file as a NUL-terminated string; NULL on failure (errno set). */
static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	do {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap += 65536);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/*
 * The daemon's one certificate: the operator's cert and key, or a self-signed pair made here
 * once. Every worker's QUIC endpoint would otherwise make its own, so that a hash pinned from
 * /certificate.sha256 (or status) would match one worker in N.
 */
static int load_cert(struct daemon *d)
{
	if (d->cfg.cert[0] || d->cfg.key[0]) {
		/* The workers load the files themselves (and say what is wrong with them);
		 * the TCP listener needs the text. */
		if (d->cfg.listen_tcp[0] && d->cfg.tcp_tls &&
		    ((d->cert_pem = read_text(d->cfg.cert)) == NULL ||
		     (d->key_pem = read_text(d->cfg.key)) == NULL)) {
			fprintf(stderr, "shardlined: cannot read %s: %s\n",
				d->cert_pem ? d->cfg.key : d->cfg.cert, strerror(errno));
			return -1;
		}
		return 0;
	}
	struct sl_quic_config qc;
	sl_quic_config_default(&qc);
	int rc = sl_quic_self_signed(qc.cert_days, &d->cert_pem, &d->key_pem);
	if (rc != 0) {
		fprintf(stderr, "shardlined: cannot make a self-signed certificate: %s\n",
			sl_strerror(rc));
		return -1;
	}
	d->cert_own = true;
	d->cert_made_s = (int64_t)time(NULL);
	return 0;
}

/* How long the certificate shardlined makes is valid (sl_quic_self_signed's days). */
static int64_t cert_lifetime_s(void)
{
	struct sl_quic_config qc;
	sl_quic_config_default(&qc);
	return (int64_t)qc.cert_days * 86400;
}

/*
 * Replaces the certificate shardlined made with a new one, everywhere it is presented: each
 * worker's QUIC endpoint (SL_WORKER_CTL_CERT, for connections made from then on) and the TCP
 * listener; /certificate.sha256 and status then give the new hash. Browsers fetch the hash
 * before each connection, so they follow. Returns 0, SL_EINVAL (the operator's own
 * certificate is in use: replace the files and restart), or an error with err saying which
 * part failed (the parts that took the new certificate keep it).
 */
static int renew_cert(struct daemon *d, char *err, size_t errlen)
{
	if (!d->cert_own) {
		snprintf(err, errlen,
			 "the certificate is the operator's (cert, key): replace its files and "
			 "restart");
		return SL_EINVAL;
	}
	char *cert = NULL, *key = NULL;
	struct sl_quic_config qc;
	sl_quic_config_default(&qc);
	int rc = sl_quic_self_signed(qc.cert_days, &cert, &key);
	if (rc != 0) {
		snprintf(err, errlen, "cannot make a certificate: %s", sl_strerror(rc));
		return rc;
	}
	void *objs[MAX_WORKERS], *replies[MAX_WORKERS];
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct sl_worker_cert *wc = malloc(sizeof(*wc));
		if (wc)
			*wc = (struct sl_worker_cert){.cert_pem = cert, .key_pem = key, .rc = -1};
		objs[i] = wc;
	}
	void *mine[MAX_WORKERS];
	memcpy(mine, objs, sizeof(objs[0]) * d->nworkers);
	ask_all(d, false, SL_WORKER_CTL_CERT, objs, replies);
	rc = 0;
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct sl_worker_cert *wc = replies[i];
		if (objs[i] == NULL)
			free(mine[i]); /* never sent */
		if (rc == 0 && (wc == NULL || wc->rc != 0)) {
			snprintf(err, errlen, "worker %u did not take the new certificate%s", i,
				 wc ? "" : " within 1 s");
			rc = SL_EIO;
		}
		free(wc);
	}
	if (rc == 0 && d->tcpl && d->cfg.tcp_tls)
		rc = sl_tcpl_set_cert(d->tcpl, cert, key, err, errlen);
	if (rc != 0) {
		/* A worker that answers late still reads the text: it stays. */
		return rc;
	}
	sl_worker_cert_sha256(d->workers[0], d->cert_sha256);
	free(d->cert_pem);
	free(d->key_pem);
	d->cert_pem = cert;
	d->key_pem = key;
	d->cert_made_s = (int64_t)time(NULL);
	d->cert_renewals++;
	printf("shardlined: new certificate, sha256 %s\n", d->cert_sha256);
	fflush(stdout);
	return 0;
}

/* Renews the certificate shardlined made once it is within cert_renew_before of expiring
 * (called from the control loop, which wakes at least once a second). */
static void maybe_renew_cert(struct daemon *d)
{
	if (!d->cert_own)
		return;
	int64_t due = d->cert_made_s + cert_lifetime_s() -
		      (int64_t)(d->cfg.cert_renew_before_ns / UINT64_C(1000000000));
	if ((int64_t)time(NULL) < due)
		return;
	char err[256];
	if (renew_cert(d, err, sizeof(err)) != 0) {
		fprintf(stderr,
			"shardlined: renewing the certificate: %s (tried again in a "
			"minute)\n",
			err);
		d->cert_made_s += 60; /* not at every pass */
	}
}

/* The certificate in status and in `cert renew`'s answer: its hash, and for one shardlined made,
 * when it expires and is due to be replaced (unix seconds) and how often it was. */
static void cert_json(const struct daemon *d, json_t *resp)
{
	json_object_set_new(resp, "cert_sha256", json_string(d->cert_sha256));
	if (!d->cert_own)
		return;
	int64_t exp = d->cert_made_s + cert_lifetime_s();
	int64_t before = (int64_t)(d->cfg.cert_renew_before_ns / UINT64_C(1000000000));
	json_object_set_new(resp, "cert_expires", json_integer((json_int_t)exp));
	json_object_set_new(resp, "cert_renewal_due", json_integer((json_int_t)(exp - before)));
	json_object_set_new(resp, "cert_renewals", json_integer((json_int_t)d->cert_renewals));
}

static int cmd_cert(void *arg, const json_t *req, json_t *resp, char *err, size_t errlen)
{
	struct daemon *d = arg;
	const char *op = json_string_value(json_object_get(req, "op"));
	if (op == NULL || strcmp(op, "renew") != 0) {
		snprintf(err, errlen, "cert: unknown op (want renew)");
		return SL_EINVAL;
	}
	int rc = renew_cert(d, err, errlen);
	if (rc != 0)
		return rc;
	cert_json(d, resp);
	return 0;
}

/*
 * A WebSocket upgrade on the TCP listener: the connection goes to a worker, round robin, as it
 * is (the worker answers the upgrade and runs the moq session, sharing its relay with its QUIC
 * sessions). Returns 0 or SL_ENOMEM/SL_EBUSY (the listener answers 503).
 */
static int tcp_upgrade(void *arg, int fd, void *tls, const uint8_t *bytes, size_t len,
		       struct sl_jwt_grant *grant, const char *path)
{
	struct daemon *d = arg;
	struct sl_worker_ws *m = malloc(sizeof(*m) + len);
	if (m == NULL)
		return SL_ENOMEM;
	m->fd = fd;
	m->tls = tls;
	m->grant = grant;
	snprintf(m->root, sizeof(m->root), "%s", path);
	m->len = len;
	memcpy(m->data, bytes, len);
	unsigned i = d->ws_next++ % d->nworkers;
	struct sl_msg msg = {.type = SL_MSG_CONTROL, .u32 = SL_WORKER_CTL_WS, .obj = m};
	if (send_ctl(d, i, &msg) != 1) {
		free(m);
		return SL_EBUSY;
	}
	return 0;
}

/* Opens the TCP listener (listen_tcp) once the workers run and the certificate hash is known. */
static int start_tcp(struct daemon *d)
{
	if (d->cfg.listen_tcp[0] == '\0')
		return 0;
	/* The certificate's hash is served with TLS or without: the reference client, given an
	 * http:// URL, fetches it over plain HTTP and then pins it for WebTransport. */
	d->http = (struct sl_http_handlers){.arg = d,
					    .cert_sha256 = d->cert_sha256,
					    .announced = http_announced,
					    .fetch = http_fetch,
					    .metrics = http_metrics,
					    .auth = d->auth ? d->auth->auth : NULL};
	struct sl_tcpl_config tc;
	sl_tcpl_config_default(&tc);
	tc.addr = d->cfg.listen_tcp;
	tc.upgrade = tcp_upgrade;
	tc.upgrade_arg = d;
	if (d->cfg.tcp_tls) {
		tc.cert_pem = d->cert_pem;
		tc.key_pem = d->key_pem;
	}
	char err[256];
	if (sl_tcpl_open(&tc, &d->http, &d->tcpl, err, sizeof(err)) != 0) {
		fprintf(stderr, "shardlined: TCP listener: %s%s%s\n", err, errno ? ": " : "",
			errno ? strerror(errno) : "");
		return -1;
	}
	return 0;
}

/* Asks every worker for its counters and reports them with the daemon's own. */
static int cmd_status(void *arg, const json_t *req, json_t *resp, char *err, size_t errlen)
{
	(void)req;
	(void)err;
	(void)errlen;
	struct daemon *d = arg;
	sl_admin_status_base(d->admin, resp);
	json_object_set_new(resp, "driver", json_string(d->cfg.driver));
	cert_json(d, resp);
	json_t *listen = json_array();
	for (unsigned i = 0; i < d->cfg.listen.count; i++)
		json_array_append_new(listen, json_string(d->cfg.listen.item[i]));
	json_object_set_new(resp, "listen", listen);
	if (d->tcpl) {
		struct sl_tcpl_stats ts;
		sl_tcpl_stats(d->tcpl, &ts);
		json_t *tj = sl_stats_to_json(&ts, sl_tcpl_stats_fields);
		json_object_set_new(tj, "listen", json_string(d->cfg.listen_tcp));
		json_object_set_new(tj, "tls", json_boolean(d->cfg.tcp_tls));
		json_object_set_new(resp, "tcp", tj);
	}
	void *replies[MAX_WORKERS];
	ask_workers(d, SL_WORKER_CTL_STATS, replies);
	json_t *workers = json_array();
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct sl_worker_stats *st = replies[i];
		if (st) {
			json_array_append_new(workers, sl_status_worker_json(st));
			free(st);
		} else {
			json_array_append_new(workers, json_pack("{s:i,s:s}", "worker", (int)i,
								 "error", "no answer within 1 s"));
		}
	}
	json_object_set_new(resp, "workers", workers);
	json_t *slots = json_array();
	unsigned count[MAX_WORKERS] = {0};
	for (unsigned s = 0; s < SL_SHARD_MAP_SLOTS; s++)
		count[d->map.slot[s]]++;
	for (unsigned i = 0; i < d->nworkers; i++)
		json_array_append_new(slots, json_integer(count[i]));
	json_object_set_new(resp, "shard_map_slots", slots);
	io_status(d, resp);
	if (d->durable) {
		json_t *rec = sl_stats_to_json(&d->dctl.rec_stats, sl_drecovery_stats_fields);
		json_object_set_new(rec, "orphans_to_gc",
				    json_integer((json_int_t)d->dctl.orphans_deferred));
		json_object_set_new(rec, "ms", json_real((double)d->dctl.recover_ns / 1e6));
		json_t *dj = json_pack("{s:I,s:i,s:o}", "boot", (json_int_t)d->dctl.boot, "streams",
				       (int)sl_catalog_count(d->dctl.catalog), "recovery", rec);
		status_export(d, dj);
		json_object_set_new(resp, "durable", dj);
	}
	if (d->dpdk) {
		json_object_set_new(resp, "devices", devices_json(d->dpdk));
		json_object_set_new(resp, "neighbours",
				    json_integer((json_int_t)sl_net_dpdk_neigh_count(d->dpdk)));
	}
	return 0;
}

/*
 * Sends a copy of the size bytes at value to every worker (io false) or io core (io true) as its
 * CONFIG request and waits for each to answer that it applied them. Returns 0, SL_ENOMEM,
 * SL_EBUSY (a control ring was full) or SL_ETIMEDOUT (a core did not answer within a second),
 * with err naming the first core that failed. The cores that answered run with the change
 * then, but the setting is not recorded: setting it again is harmless and makes them agree.
 */
static int send_config(struct daemon *d, bool io, const void *value, size_t size, char *err,
		       size_t errlen)
{
	unsigned int n = io ? d->nio : d->nworkers;
	const char *who = io ? "io core" : "worker";
	void *objs[MAX_PEERS], *mine[MAX_PEERS], *replies[MAX_PEERS];
	for (unsigned i = 0; i < n; i++) {
		objs[i] = mine[i] = malloc(size);
		if (objs[i] == NULL) {
			for (unsigned k = 0; k < i; k++)
				free(objs[k]);
			snprintf(err, errlen, "out of memory");
			return SL_ENOMEM;
		}
		memcpy(objs[i], value, size);
	}
	ask_all(d, io, io ? SL_IOCORE_CTL_CONFIG : SL_WORKER_CTL_CONFIG, objs, replies);
	int rc = 0;
	for (unsigned i = 0; i < n; i++) {
		if (objs[i] == NULL) {
			free(mine[i]); /* never sent */
			if (rc == 0)
				snprintf(err, errlen,
					 "%s %u did not take the change (control ring full): set "
					 "it again",
					 who, i);
			rc = rc ? rc : SL_EBUSY;
		} else if (replies[i] == NULL) {
			if (rc == 0)
				snprintf(err, errlen,
					 "%s %u did not confirm the change within 1 s (it may "
					 "still apply it): set it again",
					 who, i);
			rc = rc ? rc : SL_ETIMEDOUT;
		}
		free(replies[i]);
	}
	return rc;
}

/* Runtime settings: the log level applies at once in this process; the others are sent to
 * every io core and worker, which apply them to what they create from then on (new tracks, new
 * connections) and to their idle back-off, and answer once they did. */
static int apply_setting(void *arg, const struct sl_config_setting *s, const struct sl_config *next,
			 char *err, size_t errlen)
{
	struct daemon *d = arg;
	if (strcmp(s->name, "log_level") == 0) {
		sl_log_set_level("shardline.*", sl_config_log_level(next));
		return 0;
	}
	/* The same mapping as at start, so that a setting changed at runtime means what it
	 * would after a restart; computed before anything is sent, so a failure changes
	 * nothing. */
	struct sl_worker_runtime wrt;
	int rc = sl_workercfg_runtime(next, (uint16_t)d->nworkers, &wrt, err, errlen);
	if (rc != 0)
		return rc;
	struct sl_iocore_runtime iort = {.poll_idle_ns = next->poll_idle_us * 1000};
	rc = send_config(d, true, &iort, sizeof(iort), err, errlen);
	if (rc == 0)
		rc = send_config(d, false, &wrt, sizeof(wrt), err, errlen);
	return rc;
}

/* ---- start-up ---- */

/* The EAL's arguments: lcore 0 is control, lcores 1..n the workers and the io cores after them,
 * spread over the CPUs this process may use (several lcores share a CPU on small machines:
 * loops back off when idle). */
static int eal_start(const struct sl_config *cfg, unsigned nlcores, int extra_argc,
		     char **extra_argv, char *prog)
{
	cpu_set_t set;
	int cpus[CPU_SETSIZE], ncpu = 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set))
				cpus[ncpu++] = c;
	if (ncpu == 0)
		cpus[ncpu++] = 0;
	static char lcores[4096], prefix[64], loglevel[64];
	size_t off = 0;
	for (unsigned l = 0; l <= nlcores && off < sizeof(lcores) - 16; l++)
		off += (size_t)snprintf(lcores + off, sizeof(lcores) - off, "%s%u@%d", l ? "," : "",
					l, cpus[l % (unsigned)ncpu]);
	snprintf(prefix, sizeof(prefix), "--file-prefix=shardline-%d", (int)getpid());
	snprintf(loglevel, sizeof(loglevel), "--log-level=lib.*:error");
	char *argv[64];
	int argc = 0;
	argv[argc++] = prog;
	argv[argc++] = "--lcores";
	argv[argc++] = lcores;
	argv[argc++] = prefix;
	argv[argc++] = loglevel;
	argv[argc++] = "--no-telemetry";
	/* No secondary processes attach to the daemon (shardctl talks to the admin socket), so
	 * the EAL keeps no shared configuration files: nothing is left behind in /var/run/dpdk
	 * by a daemon that was killed. */
	argv[argc++] = "--no-shconf";
	bool extra_nohuge = false, extra_mem = false;
	for (int i = 0; i < extra_argc; i++) {
		extra_nohuge |= strcmp(extra_argv[i], "--no-huge") == 0;
		extra_mem |= strcmp(extra_argv[i], "-m") == 0 ||
			     strncmp(extra_argv[i], "--socket-mem", 12) == 0;
	}
	if (strcmp(cfg->driver, "socket") == 0 || !cfg->hugepages || extra_nohuge) {
		/* The socket driver needs no DMA memory; the EAL then runs on plain pages (as
		 * does the DPDK driver on software devices in tests and VMs). */
		if (!extra_nohuge)
			argv[argc++] = "--no-huge";
		if (!extra_mem) {
			argv[argc++] = "-m";
			argv[argc++] = "512";
		}
	}
	if (strcmp(cfg->driver, "socket") == 0)
		argv[argc++] = "--no-pci";
	for (int i = 0; i < extra_argc && argc < 62; i++)
		argv[argc++] = extra_argv[i];
	argv[argc] = NULL;
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "shardlined: EAL initialisation failed: %s\n",
			rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

static struct rte_ring *ring(const char *kind, unsigned a, unsigned b, unsigned size)
{
	char name[RTE_RING_NAMESIZE];
	snprintf(name, sizeof(name), "%s_%u_%u", kind, a, b);
	struct rte_ring *r = sl_ring_create(name, size, (int)rte_socket_id());
	if (r == NULL)
		fprintf(stderr, "shardlined: cannot create ring %s: %s\n", name,
			rte_strerror(rte_errno));
	return r;
}

/*
 * Workers bind the listen addresses with SO_REUSEPORT, which would let a second daemon on the
 * same port silently take half of the connections. A plain bind first proves the port is free.
 */
static int check_ports_free(const struct sl_config *cfg)
{
	for (unsigned k = 0; k < cfg->listen.count; k++) {
		struct sockaddr_storage ss;
		socklen_t len;
		if (sl_net_parse_addr(cfg->listen.item[k], &ss, &len) != 0)
			continue; /* reported when the workers open their ports */
		int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
		if (fd < 0)
			continue;
		int rc = bind(fd, (struct sockaddr *)&ss, len);
		int e = errno;
		close(fd);
		if (rc != 0) {
			fprintf(stderr, "shardlined: cannot listen on %s: %s%s\n",
				cfg->listen.item[k], strerror(e),
				e == EADDRINUSE ? " (is another shardlined running on this port?)"
						: "");
			return -1;
		}
	}
	return 0;
}

/*
 * Every device the operator gave the EAL (--vdev NAME,..., -a/--allow PCI) must have become an
 * ethdev port. The EAL only logs a device it could not probe and carries on; the appliance would
 * then run on fewer ports than configured, so start-up stops here and names the device.
 */
static int check_eal_devices(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		const char *v = NULL;
		if ((strcmp(argv[i], "--vdev") == 0 || strcmp(argv[i], "-a") == 0 ||
		     strcmp(argv[i], "--allow") == 0) &&
		    i + 1 < argc)
			v = argv[++i];
		else if (strncmp(argv[i], "--vdev=", 7) == 0)
			v = argv[i] + 7;
		else if (strncmp(argv[i], "--allow=", 8) == 0)
			v = argv[i] + 8;
		if (v == NULL)
			continue;
		char name[RTE_ETH_NAME_MAX_LEN];
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(v, ","), v);
		uint16_t pid;
		if (rte_eth_dev_get_port_by_name(name, &pid) != 0) {
			fprintf(stderr,
				"shardlined: DPDK device %s could not be opened (from '%s'; the "
				"EAL's "
				"message above says why)\n",
				name, v);
			return -1;
		}
	}
	return 0;
}

/* Sets up the DPDK devices for every worker (driver dpdk). */
static int start_dpdk(struct daemon *d)
{
	struct sl_net_dpdk_config dc;
	char err[512];
	sl_net_dpdk_config_default(&dc);
	dc.nworkers = (uint16_t)d->nworkers;
	if (d->cfg.listen.count > SL_L2L3_MAX_LOCAL ||
	    d->cfg.dpdk_devices.count > SL_NET_DPDK_MAX_DEVS) {
		fprintf(stderr,
			"shardlined: the dpdk driver takes at most %d listen addresses and %d "
			"devices\n",
			SL_L2L3_MAX_LOCAL, SL_NET_DPDK_MAX_DEVS);
		return -1;
	}
	for (unsigned k = 0; k < d->cfg.listen.count; k++) {
		socklen_t len;
		if (sl_net_parse_addr(d->cfg.listen.item[k], &dc.addrs[k], &len) != 0) {
			fprintf(stderr, "shardlined: bad listen address %s\n",
				d->cfg.listen.item[k]);
			return -1;
		}
		dc.naddrs++;
	}
	for (unsigned k = 0; k < d->cfg.dpdk_devices.count; k++) {
		snprintf(dc.devs[k], sizeof(dc.devs[k]), "%s", d->cfg.dpdk_devices.item[k]);
		dc.ndevs++;
	}
	for (unsigned k = 0; k < d->cfg.dpdk_neighbours.count && k < SL_NET_DPDK_MAX_NEIGH; k++)
		if (sl_net_dpdk_parse_neigh(d->cfg.dpdk_neighbours.item[k], &dc.neigh[dc.nneigh]) ==
		    0)
			dc.nneigh++;
	dc.mbufs = (uint32_t)d->cfg.dpdk_mbufs;
	dc.rx_desc = (uint16_t)d->cfg.dpdk_rx_desc;
	dc.tx_desc = (uint16_t)d->cfg.dpdk_tx_desc;
	dc.mtu = (uint16_t)d->cfg.dpdk_mtu;
	dc.no_offload = !d->cfg.dpdk_offload;
	if (sl_net_dpdk_setup(&dc, &d->dpdk, err, sizeof(err)) != 0) {
		fprintf(stderr, "shardlined: %s\n", err);
		return -1;
	}
	return 0;
}

/* mkdir -p with mode 0750 for the directories it creates. Returns 0 or -1 (errno set). */
static int mkdirs(const char *path)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *c = p + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = 0;
		if (mkdir(p, 0750) != 0 && errno != EEXIST)
			return -1;
		*c = '/';
	}
	if (mkdir(p, 0750) != 0 && errno != EEXIST)
		return -1;
	struct stat st;
	if (stat(p, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/*
 * The data directory belongs to one daemon at a time: two io cores of different processes
 * writing the same manifests would each believe they own them. DATA_DIR/LOCK is flock'ed for
 * the daemon's lifetime (the kernel drops it when the process dies, however it dies) and holds
 * the owner's pid for the message a second daemon prints.
 */
static int open_data_dir(struct daemon *d)
{
	const char *dir = d->cfg.data_dir;
	char path[PATH_MAX];
	if (mkdirs(dir) != 0) {
		fprintf(stderr,
			"shardlined: data directory %s: %s (set --data-dir, or --io-cores 0 "
			"for a relay that keeps no data)\n",
			dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/LOCK", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		fprintf(stderr, "shardlined: data directory %s: cannot open %s: %s\n", dir, path,
			strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		char owner[32] = "";
		ssize_t n = pread(fd, owner, sizeof(owner) - 1, 0);
		owner[n > 0 ? n : 0] = 0;
		owner[strcspn(owner, "\n")] = 0;
		close(fd);
		if (e == EWOULDBLOCK)
			fprintf(stderr,
				"shardlined: data directory %s is in use by another "
				"shardlined%s%s%s; "
				"give each daemon its own --data-dir\n",
				dir, owner[0] ? " (pid " : "", owner, owner[0] ? ")" : "");
		else
			fprintf(stderr, "shardlined: data directory %s: cannot lock %s: %s\n", dir,
				path, strerror(e));
		return -1;
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		fprintf(stderr, "shardlined: data directory %s: cannot write %s: %s\n", dir, path,
			strerror(errno));
		close(fd);
		return -1;
	}
	d->data_lock = fd;
	return 0;
}

/* Every worker's doorbell, made before the io lcores start: they ring the workers whose
 * completions they send back. */
static int make_bells(struct daemon *d)
{
	for (unsigned a = 0; a < d->nworkers; a++) {
		if (sl_bell_init(&d->bells[a]) != 0) {
			fprintf(stderr, "shardlined: cannot create worker %u's doorbell: %s\n", a,
				strerror(errno));
			return -1;
		}
		d->nbells = a + 1;
	}
	return 0;
}

/*
 * Starts the io lcores (on the lcores after the workers'): each opens its own localdir store
 * (its own io_uring) on DATA_DIR/objects and must pass the probe (a durable write, read back
 * and delete through the rings) before the workers start taking traffic. Clients of io lcore k:
 * the control core (client 0), then every worker w with w % nio == k (its batch objects and
 * reads). Io lcore 0 also owns the metadata event log, recovered by then, and every worker
 * sends it segment events.
 */
static int start_io(struct daemon *d)
{
	if (d->nio == 0)
		return 0;
	char root[PATH_MAX];
	snprintf(root, sizeof(root), "%s/objects", d->cfg.data_dir);
	if (mkdirs(root) != 0) {
		fprintf(stderr, "shardlined: data directory %s: %s\n", root, strerror(errno));
		return -1;
	}
	unsigned lcore = rte_get_next_lcore(-1, 1, 0);
	for (unsigned i = 0; i < d->nworkers; i++)
		lcore = rte_get_next_lcore(lcore, 1, 0);
	for (unsigned k = 0; k < d->nio; k++) {
		struct sl_iocore_config ic = {.id = (uint16_t)k,
					      .poll_idle_ns = d->cfg.poll_idle_us * 1000};
		struct rte_ring *q = ring("ioq", k, 0, IO_RING), *a = ring("ioa", k, 0, IO_RING);
		d->io_ctl_in[k] = ring("ici", k, 0, CTL_RING);
		d->io_ctl_out[k] = ring("ico", k, 0, CTL_RING);
		if (q == NULL || a == NULL || d->io_ctl_in[k] == NULL || d->io_ctl_out[k] == NULL)
			return -1;
		ic.ctl_in = d->io_ctl_in[k];
		ic.ctl_out = d->io_ctl_out[k];
		ic.nclients = 1;
		ic.req_in[0] = q;
		ic.req_out[0] = a;
		for (unsigned w = 0; d->durable && w < d->nworkers; w++) {
			if (w % d->nio != k)
				continue;
			if ((d->wio_q[w] = ring("wioq", w, 0, IO_RING)) == NULL ||
			    (d->wio_a[w] = ring("wioa", w, 0, IO_RING)) == NULL)
				return -1;
			ic.req_in[ic.nclients] = d->wio_q[w];
			ic.req_out[ic.nclients] = d->wio_a[w];
			ic.client_bell[ic.nclients] = &d->bells[w];
			ic.nclients++;
		}
		if (d->durable && k == 0) {
			ic.mlog = d->dctl.mlog;
			ic.mlocal = d->dctl.mlocal;
			ic.streams = d->dctl.streams ? sl_stream_set_ref(d->dctl.streams) : NULL;
			ic.nml = d->nworkers;
			for (unsigned w = 0; w < d->nworkers; w++) {
				if ((d->ml_q[w] = ring("mlq", w, 0, ML_RING)) == NULL ||
				    (d->ml_a[w] = ring("mla", w, 0, ML_RING)) == NULL)
					return -1;
				ic.ml_in[w] = d->ml_q[w];
				ic.ml_out[w] = d->ml_a[w];
				ic.ml_bell[w] = &d->bells[w];
			}
		}
		int rc = sl_localdir_open(root, NULL, &ic.store);
		if (rc != 0) {
			fprintf(stderr,
				"shardlined: io core %u cannot open the object store in %s: %s%s\n",
				k, root, sl_strerror(rc),
				rc == SL_ENOTSUP
					? " (io_uring is unavailable, or the filesystem has no "
					  "user extended attributes)"
					: "");
			return -1;
		}
		if (k == 0)
			d->io0_store = ic.store;
		if ((rc = sl_localdir_proxy_new(q, a, &d->io_client[k])) != 0 ||
		    (rc = sl_iocore_new(&ic, &d->io[k])) != 0) {
			sl_objstore_destroy(ic.store);
			fprintf(stderr, "shardlined: cannot start io core %u: %s\n", k,
				sl_strerror(rc));
			return -1;
		}
		/* The io lcore owns the metadata log from here on. */
		if (ic.mlog != NULL)
			d->dctl.mlog = NULL, d->dctl.mlocal = NULL;
		sl_localdir_proxy_set_bell(d->io_client[k], sl_iocore_bell(d->io[k]));
		for (unsigned w = 0; d->durable && w < d->nworkers; w++) {
			if (w % d->nio != k)
				continue;
			if ((rc = sl_localdir_proxy_new(d->wio_q[w], d->wio_a[w],
							&d->wio_proxy[w])) != 0) {
				fprintf(stderr,
					"shardlined: cannot connect worker %u to io core %u: %s\n",
					w, k, sl_strerror(rc));
				return -1;
			}
			sl_localdir_proxy_set_bell(d->wio_proxy[w], sl_iocore_bell(d->io[k]));
		}
		d->io_lcores[k] = lcore;
		if (lcore >= RTE_MAX_LCORE ||
		    rte_eal_remote_launch(sl_iocore_main, d->io[k], lcore) != 0) {
			fprintf(stderr, "shardlined: cannot launch io core %u on lcore %u\n", k,
				lcore);
			return -1;
		}
		d->io_running[k] = true;
		lcore = rte_get_next_lcore(lcore, 1, 0);
		char err[512];
		if (sl_iocore_probe(d->io[k], d->io_client[k], UINT64_C(10000000000), err,
				    sizeof(err)) != 0) {
			fprintf(stderr, "shardlined: data directory %s: %s\n", d->cfg.data_dir,
				err);
			return -1;
		}
	}
	if (d->durable) {
		/* The batch objects, listed through io lcore 0: the index is rebuilt and what
		 * nothing references is deleted before any worker writes. */
		char err[512];
		if (sl_dctl_objects(&d->dctl, d->io_client[0], err, sizeof(err)) != 0 ||
		    sl_dctl_consumers(&d->dctl, d->io_client[0], err, sizeof(err)) != 0) {
			fprintf(stderr, "shardlined: data directory %s: %s\n", d->cfg.data_dir,
				err);
			return -1;
		}
	}
	return 0;
}

/* Stops the io lcores after the workers: control's proxies first (each waits until the io
 * core served what it sent), then the loops, then their stores. */
static void stop_io(struct daemon *d)
{
	/* Proxies no worker took (a start that failed half-way). */
	for (unsigned w = 0; w < MAX_WORKERS; w++) {
		sl_objstore_destroy(d->wio_proxy[w]);
		d->wio_proxy[w] = NULL;
	}
	for (unsigned k = 0; k < d->nio; k++) {
		if (d->io_running[k]) {
			sl_objstore_destroy(d->io_client[k]);
			d->io_client[k] = NULL;
			struct sl_msg m = {.type = SL_MSG_CONTROL, .u32 = SL_IOCORE_CTL_STOP};
			while (sl_ring_send(d->io_ctl_in[k], &m, 1) != 1)
				usleep(1000);
			sl_iocore_wake(d->io[k]);
			rte_eal_wait_lcore(d->io_lcores[k]);
			d->io_running[k] = false;
		}
		struct sl_msg r;
		while (d->io_ctl_out[k] && sl_ring_recv(d->io_ctl_out[k], &r, 1) == 1)
			free(r.obj);
		sl_objstore_destroy(d->io_client[k]); /* never launched: nothing in flight */
		d->io_client[k] = NULL;
		sl_iocore_free(d->io[k]);
		d->io[k] = NULL;
	}
	if (d->data_lock >= 0)
		close(d->data_lock);
	d->data_lock = -1;
	sl_dctl_close(&d->dctl);
}

/*
 * The retention GC, filled from the recovery, goes to io lcore 0 before any worker runs: a
 * worker may release an object from its first poll. The recovery's own object references go
 * now too, so that the last reference to an object is always a worker's, which releases it to
 * the GC.
 */
static int start_gc(struct daemon *d)
{
	struct sl_retgc *gc;
	struct sl_dstarts *starts;
	int rc = sl_dctl_gc(&d->dctl, d->io0_store, d->cfg.log_gc_grace_ns, &gc, &starts);
	if (rc != 0) {
		fprintf(stderr, "shardlined: cannot start the retention GC: %s\n", sl_strerror(rc));
		return -1;
	}
	sl_drecovery_free(d->dctl.rec);
	d->dctl.rec = NULL;
	struct sl_msg m = {.type = SL_MSG_CONTROL, .u32 = SL_IOCORE_CTL_GC, .obj = gc};
	while (sl_ring_send(d->io_ctl_in[0], &m, 1) != 1)
		usleep(1000);
	sl_iocore_wake(d->io[0]);
	/* Nothing else asks io lcore 0 anything yet: the one reply is this one's. */
	struct sl_msg r;
	while (sl_ring_recv(d->io_ctl_out[0], &r, 1) != 1)
		usleep(100);
	m = (struct sl_msg){.type = SL_MSG_CONTROL, .u32 = SL_IOCORE_CTL_STARTS, .obj = starts};
	while (sl_ring_send(d->io_ctl_in[0], &m, 1) != 1)
		usleep(1000);
	sl_iocore_wake(d->io[0]);
	while (sl_ring_recv(d->io_ctl_out[0], &r, 1) != 1)
		usleep(100);
	return 0;
}

static int start_workers(struct daemon *d, int eal_argc, char **eal_argv)
{
	bool dpdk = strcmp(d->cfg.driver, "dpdk") == 0;
	if (dpdk && check_eal_devices(eal_argc, eal_argv) != 0)
		return -1;
	if (dpdk ? start_dpdk(d) != 0 : check_ports_free(&d->cfg) != 0)
		return -1;
	/* The shard map: which worker owns which tracks, from the operator's weights. */
	uint32_t weights[MAX_WORKERS];
	const struct sl_config_list *wl = &d->cfg.shard_weights;
	if (wl->count != 0 && wl->count != d->nworkers) {
		fprintf(stderr, "shardlined: shard_weights has %u weight(s) for %u worker(s)\n",
			wl->count, d->nworkers);
		return -1;
	}
	for (unsigned i = 0; i < wl->count; i++)
		weights[i] = (uint32_t)strtoul(wl->item[i], NULL, 10);
	if (sl_shard_map_fill(&d->map, (uint16_t)d->nworkers, wl->count ? weights : NULL) != 0) {
		fprintf(stderr, "shardlined: shard_weights gives no worker any track\n");
		return -1;
	}
	struct rte_ring *xs[MAX_WORKERS][MAX_WORKERS] = {{0}},
			*ho[MAX_WORKERS][MAX_WORKERS] = {{0}};
	uint64_t now = sl_clock_now_ns();
	for (unsigned a = 0; a < d->nworkers; a++) {
		for (unsigned b = 0; b < d->nworkers && d->nworkers > 1; b++) {
			if (a == b)
				continue;
			if ((xs[a][b] = ring("xs", a, b, XS_RING)) == NULL ||
			    (ho[a][b] = ring("ho", a, b, HO_RING)) == NULL)
				return -1;
		}
		if ((d->ctl_in[a] = ring("ci", a, 0, CTL_RING)) == NULL ||
		    (d->ctl_out[a] = ring("co", a, 0, CTL_RING)) == NULL)
			return -1;
		for (unsigned b = 0; d->durable && b < d->nworkers; b++)
			if (a != b && (d->dl[a][b] = ring("dl", a, b, DL_RING)) == NULL)
				return -1;
	}
	int64_t wall_offset = (int64_t)(sl_clock_wall_ns() - sl_clock_now_ns());
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct sl_net_socket_config nc;
		sl_net_socket_config_default(&nc);
		nc.worker_id = (uint16_t)i;
		for (unsigned k = 0; k < d->cfg.listen.count; k++) {
			if (sl_net_socket_config_add(&nc, d->cfg.listen.item[k]) != 0) {
				fprintf(stderr, "shardlined: bad listen address %s\n",
					d->cfg.listen.item[k]);
				return -1;
			}
		}
		/* The settings' part first (it resets wc); the port, rings and durable state
		 * are this process's and are added below. */
		struct sl_worker_config wc;
		char err[256];
		int rc = sl_workercfg_fill(&d->cfg, (uint16_t)i, (uint16_t)d->nworkers, &wc, err,
					   sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "shardlined: worker %u: %s\n", i, err);
			return -1;
		}
		wc.auth = d->auth ? &d->auth->worker : NULL;
		/* WebTransport sessions are rooted and authorised as WebSocket upgrades are. */
		wc.web_session = sl_authcfg_web_session;
		wc.web_session_ctx = d->auth;
		if (wc.quic.cert_file == NULL && wc.quic.key_file == NULL) {
			wc.quic.cert_pem = d->cert_pem;
			wc.quic.key_pem = d->key_pem;
		}
		rc = dpdk ? sl_net_dpdk_open(d->dpdk, (uint16_t)i, &wc.port)
			  : sl_net_socket_open(&nc, &wc.port);
		if (rc != 0 && dpdk) {
			fprintf(stderr, "shardlined: cannot open the DPDK port of worker %u: %s\n",
				i, sl_strerror(rc));
			return -1;
		}
		if (rc != 0) {
			fprintf(stderr, "shardlined: cannot open the listen sockets (%s): %s\n",
				d->cfg.listen.item[0], strerror(errno));
			return -1;
		}
		for (unsigned o = 0; o < d->nworkers; o++) {
			wc.xs_to[o] = xs[i][o];
			wc.xs_from[o] = xs[o][i];
			wc.ho_to[o] = ho[i][o];
			wc.ho_from[o] = ho[o][i];
		}
		wc.map = &d->map;
		wc.bells = d->bells;
		wc.ctl_in = d->ctl_in[i];
		wc.ctl_out = d->ctl_out[i];
		if (d->durable) {
			wc.dstore = d->wio_proxy[i];
			wc.io_from = d->wio_a[i];
			wc.ml_to = d->ml_q[i];
			wc.ml_from = d->ml_a[i];
			wc.ml_bell = sl_iocore_bell(d->io[0]);
			for (unsigned o = 0; o < d->nworkers; o++) {
				wc.dl_to[o] = d->dl[i][o];
				wc.dl_from[o] = d->dl[o][i];
			}
			wc.dshard.boot = d->dctl.boot;
			wc.dshard.wall_offset_ns = wall_offset;
			wc.dshard.meta_partitions = SL_DCTL_META_PARTITIONS;
			wc.streams = d->dctl.streams;
			wc.recovery = d->dctl.rec;
			wc.consumers = d->dctl.consumers;
			wc.nconsumers = d->dctl.nconsumers;
		}
		/* Worker i runs on the i-th lcore after the main one (start_workers): its state
		 * goes on that lcore's NUMA node. */
		unsigned wl = rte_get_next_lcore(-1, 1, 0);
		for (unsigned k = 0; k < i; k++)
			wl = rte_get_next_lcore(wl, 1, 0);
		wc.socket = wl < RTE_MAX_LCORE ? (int)rte_lcore_to_socket_id(wl) : -1;
		rc = sl_worker_new(&wc, now, &d->workers[i]);
		if (rc == 0) {
			/* The worker owns its proxy now (and took a reference on the streams). */
			d->wio_proxy[i] = NULL;
			if (wc.streams)
				sl_stream_set_ref(wc.streams);
		}
		if (rc != 0) {
			sl_pktio_close(wc.port);
			fprintf(stderr, "shardlined: cannot start worker %u: %s%s\n", i,
				sl_strerror(rc),
				rc == SL_EIO ? " (certificate or key could not be loaded)" : "");
			return -1;
		}
	}
	sl_worker_cert_sha256(d->workers[0], d->cert_sha256);
	if (d->durable && start_gc(d) != 0)
		return -1;
	unsigned lcore = rte_get_next_lcore(-1, 1, 0);
	for (unsigned i = 0; i < d->nworkers; i++) {
		d->lcores[i] = lcore;
		if (rte_eal_remote_launch(sl_worker_main, d->workers[i], lcore) != 0) {
			fprintf(stderr, "shardlined: cannot launch worker %u on lcore %u\n", i,
				lcore);
			return -1;
		}
		d->running[i] = true;
		lcore = rte_get_next_lcore(lcore, 1, 0);
	}
	return 0;
}

static void stop_workers(struct daemon *d)
{
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct sl_msg m = {.type = SL_MSG_CONTROL, .u32 = SL_WORKER_CTL_STOP};
		if (d->ctl_in[i])
			send_ctl(d, i, &m);
	}
	for (unsigned i = 0; i < d->nworkers; i++)
		if (d->running[i])
			rte_eal_wait_lcore(d->lcores[i]);
	for (unsigned i = 0; i < d->nworkers; i++) {
		d->running[i] = false;
		struct sl_msg r;
		while (d->ctl_out[i] && sl_ring_recv(d->ctl_out[i], &r, 1) == 1)
			free(r.obj);
		sl_worker_free(d->workers[i]);
		d->workers[i] = NULL;
	}
	/* The devices go after every worker closed its port on them. */
	sl_net_dpdk_free(d->dpdk);
	for (unsigned i = 0; i < d->nbells; i++)
		sl_bell_fini(&d->bells[i]);
	d->nbells = 0;
	d->dpdk = NULL;
}

/* Ends the EAL and removes its runtime directory, which is empty with --no-shconf but which the
 * EAL leaves behind. */
static void eal_cleanup(void)
{
	char rundir[PATH_MAX];
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	rmdir(rundir);
}

/* jemalloc reads its options from this symbol at start-up (core/alloc.h says which and why). */
const char *malloc_conf = SL_ALLOC_CONF;

int main(int argc, char **argv)
{
	static struct daemon d;
	struct sl_config_args args;
	char err[1024];
	/* Daemon flags come first; EAL arguments (for the DPDK driver) follow "--". */
	int dd = argc;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			dd = i;
			break;
		}
	if (sl_config_parse_args(&d.cfg, dd, argv, &args, err, sizeof(err)) != 0) {
		fprintf(stderr, "shardlined: %s\nTry 'shardlined --help'.\n", err);
		return 2;
	}
	if (args.help) {
		printf("Usage: shardlined [SETTINGS...] [-- EAL-ARGS...]\n\n"
		       "The shardline data-plane daemon: a moq-lite relay over QUIC (ALPN "
		       "moq-lite-05 or\nmoq-lite-04, URLs moq://HOST:PORT). Settings come from the "
		       "defaults, then "
		       "--config FILE,\nthen flags; every setting is also readable and, where "
		       "marked, settable through\nthe admin socket (shardctl config).\n\n");
		sl_config_help(stdout, "shardlined");
		return 0;
	}
	if (args.version) {
		printf("shardlined %s\n", SL_VERSION);
		return 0;
	}
	if (args.next < dd) {
		fprintf(stderr, "shardlined: unexpected argument '%s'\nTry 'shardlined --help'.\n",
			argv[args.next]);
		return 2;
	}
	sl_log_set_level("shardline.*", sl_config_log_level(&d.cfg));
	/* Keys are read before anything starts: a key that cannot be used is a refusal to
	 * start, not a relay that silently refuses every token. */
	if (sl_authcfg_open(&d.cfg, &d.auth, err, sizeof(err)) != 0) {
		fprintf(stderr, "shardlined: tokens: %s\n", err);
		return 1;
	}
	cpu_set_t set;
	unsigned ncpu =
		sched_getaffinity(0, sizeof(set), &set) == 0 ? (unsigned)CPU_COUNT(&set) : 1;
	d.nworkers = sl_config_workers(&d.cfg, ncpu + 1);
	if (d.nworkers > MAX_WORKERS)
		d.nworkers = MAX_WORKERS;
	d.nio = (unsigned)d.cfg.io_cores;
	d.data_lock = -1;
	if (d.nio > MAX_IO)
		d.nio = MAX_IO;
	if (d.nio && open_data_dir(&d) != 0)
		return 1;
	/* The durable side needs the data directory: the catalogue, this start's number and
	 * the metadata log are read (and a torn tail cut) before anything else runs. */
	d.durable = d.nio > 0;
	if (d.durable && sl_dctl_open(&d.dctl, d.cfg.data_dir, d.cfg.metalog_segment_bytes, err,
				      sizeof(err)) != 0) {
		fprintf(stderr, "shardlined: data directory %s: %s\n", d.cfg.data_dir, err);
		stop_io(&d);
		return 1;
	}
	if (eal_start(&d.cfg, d.nworkers + d.nio, argc - dd - (dd < argc), argv + dd + (dd < argc),
		      argv[0]) != 0) {
		stop_io(&d);
		return 1;
	}

	struct sl_admin_config ac = {.path = d.cfg.admin};
	int rc = sl_admin_open(&ac, &d.admin, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "shardlined: admin socket %s: %s\n", d.cfg.admin, err);
		stop_io(&d);
		eal_cleanup();
		return 1;
	}
	sl_admin_attach_config(d.admin, &d.cfg, apply_setting, &d);
	sl_admin_register(d.admin, "status", "daemon status and per-worker counters", cmd_status,
			  &d);
	sl_admin_register(d.admin, "connections", "every open connection with its counters",
			  cmd_connections, &d);
	sl_admin_register(d.admin, "cert", "op renew: replace the daemon's own certificate now",
			  cmd_cert, &d);
	sl_admin_register(
		d.admin, "stream",
		"durable streams: op create, list, describe or delete (see shardctl stream)",
		cmd_stream, &d);
	sl_admin_register(d.admin, "consumer",
			  "named consumers: op delete, stream, name (see shardctl consumer)",
			  cmd_consumer, &d);

	/* Before the cores start: a SIGTERM during start-up then ends in the clean shutdown
	 * below instead of killing the process with its lcores running. */
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	/* The stop signals stay blocked in every thread (the lcores inherit this mask) and are
	 * taken only while the main thread waits on the admin socket: it then wakes at once,
	 * rather than looking at the flag every 100 ms, and a signal that came during start-up
	 * is taken at the first wait. */
	sigset_t stop_sigs, wait_mask;
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGTERM);
	sigaddset(&stop_sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_sigs, &wait_mask);
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGINT);
	sl_admin_set_wait_sigmask(d.admin, &wait_mask);
	d.started_ns = sl_clock_now_ns();
	if (load_cert(&d) != 0 || make_bells(&d) != 0 || start_io(&d) != 0 ||
	    start_workers(&d, argc - dd - (dd < argc), argv + dd + (dd < argc)) != 0 ||
	    start_tcp(&d) != 0) {
		stop_workers(&d);
		stop_io(&d);
		sl_admin_close(d.admin);
		eal_cleanup();
		return 1;
	}
	/* The workers took their partitions' segments: the rest of the recovery can go. */
	sl_drecovery_free(d.dctl.rec);
	d.dctl.rec = NULL;
	printf("shardlined %s: %u worker(s), driver %s, listening on", SL_VERSION, d.nworkers,
	       d.cfg.driver);
	for (unsigned i = 0; i < d.cfg.listen.count; i++)
		printf(" moq://%s", d.cfg.listen.item[i]);
	for (unsigned i = 0; d.durable && i < d.cfg.listen.count; i++)
		printf(" shardline://%s", d.cfg.listen.item[i]);
	if (d.tcpl)
		printf(" %s://%s", d.cfg.tcp_tls ? "https" : "http", d.cfg.listen_tcp);
	printf(" (ALPN moq-lite-05, moq-lite-04%s%s), admin %s, certificate sha256 %s\n",
	       SL_WORKER_WT_ALPN[0] ? ", " SL_WT_ALPN : "", d.durable ? ", " SL_LP_ALPN : "",
	       sl_admin_path(d.admin), d.cert_sha256);
	if (d.durable)
		printf("shardlined: durable partitions: %u stream(s), start %" PRIu64 ", %" PRIu64
		       " segment event(s) recovered (%" PRIu64 " void, %" PRIu64
		       " unreferenced object(s) left to the GC) in %.1f ms\n",
		       sl_catalog_count(d.dctl.catalog), d.dctl.boot, d.dctl.events,
		       d.dctl.rec_stats.void_missing + d.dctl.rec_stats.gaps,
		       d.dctl.orphans_deferred, (double)d.dctl.recover_ns / 1e6);
	fflush(stdout);

	/* The timeout only paces the idle sweeps of the admin socket and the TCP listener. With
	 * a TCP listener, both epoll descriptors sit in one more epoll set, waited on under the
	 * stop signals' mask as the admin server's own wait is. */
	int loop = d.tcpl ? epoll_create1(EPOLL_CLOEXEC) : -1;
	if (loop >= 0) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
		epoll_ctl(loop, EPOLL_CTL_ADD, sl_admin_fd(d.admin), &ev);
		ev.data.u32 = 1;
		epoll_ctl(loop, EPOLL_CTL_ADD, sl_tcpl_fd(d.tcpl), &ev);
	}
	while (!stop_requested) {
		if (loop < 0) {
			sl_admin_poll(d.admin, 1000);
			maybe_renew_cert(&d);
			continue;
		}
		struct epoll_event evs[2];
		int ms = sl_tcpl_wait_ms(d.tcpl);
		(void)epoll_pwait(loop, evs, 2, ms >= 0 ? ms : 1000, &wait_mask);
		sl_admin_poll(d.admin, 0);
		sl_tcpl_poll(d.tcpl, 0);
		maybe_renew_cert(&d);
	}
	if (loop >= 0)
		close(loop);

	printf("shardlined: stopping\n");
	fflush(stdout);
	sl_tcpl_close(d.tcpl);
	sl_prom_buf_free(&d.metrics);
	stop_workers(&d);
	stop_io(&d);
	sl_admin_close(d.admin);
	sl_authcfg_free(d.auth);
	free(d.cert_pem);
	free(d.key_pem);
	eal_cleanup();
	return 0;
}
