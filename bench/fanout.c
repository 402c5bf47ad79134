/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shardline-bench fanout: the fan-out latency benchmark of the relay. It opens M publisher and
 * N subscriber connections to a relay (each subscriber follows publisher i % M), publishes
 * frames stamped with their send time, and measures at every subscriber the publish-to-deliver
 * latency of every frame, the order of frames inside each group, groups that never arrived or
 * arrived incomplete, and (with --admin) the relay's CPU time per delivered frame, read from
 * the kernel's accounting of the daemon's process.
 *
 * Everything runs in one thread over the tools' client runtime (control/client.h), so on a
 * small machine the benchmark competes with the relay for CPU; docs/benchmarks.md says how the
 * figures were taken.
 *
 * With --inproc the relay runs inside this process: one relay worker (dataplane/shard/worker.h)
 * on EAL lcore 1, the clients on the main lcore 0, each lcore on its own CPU. In socket mode the
 * worker listens on a kernel UDP socket on loopback and the clients use kernel sockets too; in
 * dpdk mode two ethdevs made of rings (net_ring) are cabled back to back and both sides run the
 * DPDK driver (drivers/net/dpdk.h), ARP included, so the kernel is out of the loop on both
 * ends. Running the same shape in both modes shows what bypassing the kernel saves, read from
 * the worker thread's own CPU time and packet counters.
 */
#include "fanout.h"

#include "control/client.h"
#include "control/config.h"
#include "control/ctl.h"
#include "control/ctl_pubsub.h"
#include "control/workercfg.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ring.h"
#include "drivers/net/dpdk.h"
#include "drivers/net/socket.h"
#include "shard/worker.h"
#include "track/origin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#ifdef SL_HAVE_NET_RING
#include <rte_eth_ring.h>
#endif

#define SEC UINT64_C(1000000000)

struct pub {
	struct sl_client_conn *conn;
	struct sl_broadcast *b;
	struct sl_track *t;
	struct sl_group *g;
	uint64_t sent, groups, measured_groups;
	char path[64];
};

struct sub {
	struct sl_client_conn *conn;
	struct sl_track_consumer tc;
	struct sl_group_reader r;
	bool subscribed, ended;
	uint64_t retry_at; /* when to subscribe again (monotonic ns), 0 when not waiting */
	uint64_t retries;  /* subscribes answered "not found" or refused for the stream limit */
	uint64_t frames, groups, incomplete, out_of_order, measured_frames;
	uint64_t last_number; /* frame number of the previous frame in the current group */
	uint64_t in_group;
	uint64_t group_frames_expected;
	int pub;
};

static const char *const mode_names[] = {"daemon", "socket", "dpdk"};

volatile sig_atomic_t sl_fanout_interrupted;

void sl_fanout_on_sigint(int sig)
{
	(void)sig;
	sl_fanout_interrupted = 1;
}

/* The fan-out run's samples; the sl_fanout_* calls below are this one set's. */
static struct sl_bench_samples fan;

void sl_bench_samples_add(struct sl_bench_samples *s, uint64_t ns)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1 << 16;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (s->v == NULL) {
			fprintf(stderr, "shardline-bench: out of memory\n");
			exit(1);
		}
	}
	uint64_t us = ns / 1000;
	s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

void sl_bench_samples_sort(struct sl_bench_samples *s)
{
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), cmp_u32);
}

uint32_t sl_bench_samples_pct(const struct sl_bench_samples *s, double p)
{
	if (s->n == 0)
		return 0;
	uint64_t i = (uint64_t)(p * (double)(s->n - 1) + 0.5);
	return s->v[i];
}

uint32_t sl_bench_samples_max(const struct sl_bench_samples *s)
{
	return s->n ? s->v[s->n - 1] : 0;
}

void sl_bench_samples_free(struct sl_bench_samples *s)
{
	free(s->v);
	*s = (struct sl_bench_samples){0};
}

void sl_fanout_record(uint64_t ns)
{
	sl_bench_samples_add(&fan, ns);
}

void sl_fanout_sort(void)
{
	sl_bench_samples_sort(&fan);
}

uint64_t sl_fanout_samples(void)
{
	return fan.n;
}

uint32_t sl_fanout_pct(double p)
{
	return sl_bench_samples_pct(&fan, p);
}

uint32_t sl_fanout_max(void)
{
	return sl_bench_samples_max(&fan);
}

void sl_fanout_samples_free(void)
{
	sl_bench_samples_free(&fan);
}

int sl_fanout_stat_cpu_us(const char *path, uint64_t *us)
{
	char buf[2048];
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (p == NULL)
		return -1;
	unsigned long utime = 0, stime = 0;
	/* Fields after the command: state is 3rd; utime and stime are the 14th and 15th. */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) !=
	    2)
		return -1;
	long hz = sysconf(_SC_CLK_TCK);
	*us = (uint64_t)(utime + stime) * 1000000u / (uint64_t)hz;
	return 0;
}

/* The relay's CPU time (user + system) in microseconds, from /proc/PID/stat. */
static int relay_cpu_us(long pid, uint64_t *us)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	return sl_fanout_stat_cpu_us(path, us);
}

long sl_bench_daemon_pid(const char *admin)
{
	json_t *req = json_pack("{s:s}", "cmd", "status"), *resp = NULL;
	char err[256];
	long pid = -1;
	if (sl_ctl_call(admin, req, &resp, 5000, err, sizeof(err)) == 0 && resp) {
		json_t *p = json_object_get(resp, "pid");
		if (json_is_integer(p))
			pid = (long)json_integer_value(p);
	} else {
		fprintf(stderr, "shardline-bench: cannot read the relay's status from %s: %s\n",
			admin, err);
	}
	json_decref(req);
	json_decref(resp);
	return pid;
}

/* ---- --breakdown: the relay's trace histograms, summed over its workers ---- */

struct trace_snap {
	bool ok;
	uint64_t h[SL_TRACE_STAGES][SL_TRACE_BUCKETS];
};

/* Sets (value non-NULL) or reads a setting of the relay; a read's value goes to *got. */
static int relay_config(const char *admin, const char *name, const char *value, uint64_t *got)
{
	json_t *req = value ? json_pack("{ss ss ss ss}", "cmd", "config", "op", "set", "name", name,
					"value", value)
			    : json_pack("{ss ss ss}", "cmd", "config", "op", "get", "name", name);
	json_t *resp = NULL;
	char err[256];
	int rc = sl_ctl_call(admin, req, &resp, 5000, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "shardline-bench: cannot %s %s on the relay at %s: %s\n",
			value ? "set" : "read", name, admin, err);
	} else if (got) {
		json_t *v = resp ? json_object_get(resp, "value") : NULL;
		*got = json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
	}
	json_decref(req);
	json_decref(resp);
	return rc;
}

/* Every worker's trace histograms from the relay's status, summed. */
static void trace_read(const char *admin, struct trace_snap *t)
{
	memset(t, 0, sizeof(*t));
	json_t *req = json_pack("{s:s}", "cmd", "status"), *resp = NULL;
	char err[256];
	if (sl_ctl_call(admin, req, &resp, 5000, err, sizeof(err)) != 0 || resp == NULL) {
		fprintf(stderr, "shardline-bench: cannot read the relay's trace from %s: %s\n",
			admin, err);
		json_decref(req);
		return;
	}
	size_t i;
	json_t *w;
	json_array_foreach(json_object_get(resp, "workers"), i, w)
	{
		json_t *stages = json_object_get(json_object_get(w, "trace"), "stages");
		for (int s = 0; s < SL_TRACE_STAGES && stages; s++) {
			json_t *st = json_object_get(stages,
						     sl_trace_stage_name((enum sl_trace_stage)s));
			size_t k;
			json_t *b;
			json_array_foreach(json_object_get(st, "buckets"), k, b)
			{
				json_int_t idx = json_integer_value(json_array_get(b, 0));
				json_int_t n = json_integer_value(json_array_get(b, 1));
				if (idx >= 0 && idx < SL_TRACE_BUCKETS && n > 0)
					t->h[s][idx] += (uint64_t)n;
			}
		}
	}
	t->ok = true;
	json_decref(req);
	json_decref(resp);
}

/* The observations between two snapshots, of one stage: count and p50/p99 in µs. */
static uint64_t trace_diff(const struct trace_snap *a, const struct trace_snap *b, int s,
			   double *p50, double *p99)
{
	uint64_t h[SL_TRACE_BUCKETS], n = 0;
	for (size_t i = 0; i < SL_TRACE_BUCKETS; i++) {
		h[i] = b->h[s][i] >= a->h[s][i] ? b->h[s][i] - a->h[s][i] : 0;
		n += h[i];
	}
	*p50 = (double)sl_trace_quantile(h, n, 0.5) / 1e3;
	*p99 = (double)sl_trace_quantile(h, n, 0.99) / 1e3;
	return n;
}

/* How long a subscriber waits before it subscribes again (see subscribe). */
#define SUBSCRIBE_RETRY_NS (SEC / 20)

/*
 * Subscribes s to the track "video" of broadcast path. The relay answers a SUBSCRIBE to a
 * broadcast it has not seen announced with "not found" at once: it keeps no interest to serve
 * later. That happens whenever the publisher's announcement is still on its way when the
 * subscriber asks (the relay busy, a loaded machine, another worker), so a subscriber that
 * hears "not found" before any group arrived, or whose SUBSCRIBE could not open a stream yet
 * (SL_EBUSY), waits SUBSCRIBE_RETRY_NS and asks again, for as long as the run lasts. Any other
 * error ends the subscriber.
 */
static void subscribe(struct sub *s, const char *path, uint64_t now)
{
	int rc = sl_moq_session_subscribe(s->conn->s, path, "video", NULL, NULL, &s->tc);
	s->retry_at = 0;
	if (rc == 0) {
		s->subscribed = true;
	} else if (rc == SL_EBUSY) {
		s->retry_at = now + SUBSCRIBE_RETRY_NS;
		s->retries++;
	} else {
		s->ended = true;
	}
}

static void drain(struct sub *s, uint64_t measure_from)
{
	for (;;) {
		if (s->r.group == NULL) {
			int rc = sl_track_consumer_next_group(&s->tc, NULL, &s->r);
			if (rc == SL_EAGAIN)
				return;
			if (rc == SL_ENOTFOUND && s->groups == 0) {
				/* Not announced at the relay yet: ask again soon (subscribe). */
				sl_track_consumer_release(&s->tc, NULL);
				s->subscribed = false;
				s->retries++;
				s->retry_at = sl_clock_now_ns() + SUBSCRIBE_RETRY_NS;
				return;
			}
			if (rc != 0) {
				s->ended = true;
				return;
			}
			s->groups++;
			s->in_group = 0;
		}
		struct sl_slice f;
		int rc = sl_group_read_frame(&s->r, NULL, &f);
		if (rc == SL_EAGAIN)
			return;
		if (rc != 0) {
			if (rc != SL_EEOF || s->in_group < s->group_frames_expected)
				s->incomplete++; /* reset, or ended before all its frames arrived */
			sl_group_reader_release(&s->r);
			continue;
		}
		uint64_t sent, number, now = sl_clock_wall_ns();
		if (!sl_frame_read_stamp(sl_slice_data(&f), f.len, &sent, &number))
			continue;
		if (s->in_group > 0 && number != s->last_number + 1)
			s->out_of_order++;
		s->last_number = number;
		s->in_group++;
		s->frames++;
		if (sent >= measure_from) {
			s->measured_frames++;
			sl_fanout_record(now > sent ? now - sent : 0);
		}
	}
}

/* ---- the in-process relay (--inproc) ---- */

#define INPROC_CTL_RING 64
/* Each direction of the ring cable holds this many frames: like a NIC's descriptor ring, it
 * is what a burst of the fan-out must fit in before the other side reads. */
#define INPROC_WIRE_RING 4096
/* Mbufs per device set: the wire ring, the transmit queue and the receive bursts of one side
 * with room to spare (the driver's own estimate assumes a NIC that pins receive descriptors). */
#define INPROC_MBUFS	  16384
#define INPROC_RELAY_IP	  "10.90.0.1"
#define INPROC_RELAY_PORT 4443
#define INPROC_CLIENT_IP  "10.90.0.2"
/* The client side receives on any UDP port of its address; its connections use this one. */
#define INPROC_CLIENT_PORT 40000

struct inproc {
	enum sl_fanout_inproc mode;
	bool eal, launched;
	unsigned int lcore;
	int tid; /* the worker thread's kernel id, written by the worker's lcore */
	struct sl_worker *w;
	struct rte_ring *ctl_in, *ctl_out;
	struct rte_ring *wire_up, *wire_down; /* client -> relay, relay -> client */
	struct sl_net_dpdk *relay_set, *client_set;
	uint64_t seq;
	char url[64];
};

/* What the worker did up to one moment: its thread's CPU time and its port's packets. */
struct wsample {
	uint64_t at_ns, cpu_ns, rx, tx;
};

static int worker_lcore(void *arg)
{
	struct inproc *ip = arg;
	/* The benchmark reads this thread's CPU time from /proc, so it needs the kernel's id. */
	__atomic_store_n(&ip->tid, rte_sys_gettid(), __ATOMIC_RELEASE);
	return sl_worker_main(ip->w);
}

/*
 * CPU time of the worker thread in nanoseconds. schedstat (the scheduler's own run time, in
 * nanoseconds) is preferred: utime and stime in stat count clock ticks of 10 ms, too coarse for
 * a relay that is idle most of a 10 s window. stat is the fallback on kernels without it.
 */
static int thread_cpu_ns(int tid, uint64_t *ns)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
	FILE *f = fopen(path, "r");
	if (f) {
		unsigned long long run = 0;
		int n = fscanf(f, "%llu", &run);
		fclose(f);
		if (n == 1) {
			*ns = run;
			return 0;
		}
	}
	uint64_t us;
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	if (sl_fanout_stat_cpu_us(path, &us) != 0)
		return -1;
	*ns = us * 1000u;
	return 0;
}

/* The EAL on two lcores: 0 (this thread, the clients) and 1 (the relay worker), each on its own
 * CPU of the affinity mask when there are two, on plain pages, without PCI probing. */
static int inproc_eal(struct inproc *ip, const char *prog)
{
	cpu_set_t set;
	int cpus[2], ncpu = 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (int c = 0; c < CPU_SETSIZE && ncpu < 2; c++)
			if (CPU_ISSET(c, &set))
				cpus[ncpu++] = c;
	if (ncpu == 0)
		cpus[ncpu++] = 0;
	if (ncpu == 1)
		cpus[ncpu++] = cpus[0];
	static char lcores[64], prefix[64], name[256];
	snprintf(lcores, sizeof(lcores), "0@%d,1@%d", cpus[0], cpus[1]);
	snprintf(prefix, sizeof(prefix), "--file-prefix=shardline-bench-%d", (int)getpid());
	snprintf(name, sizeof(name), "%s", prog);
	/* --no-shconf: one process, nothing to share, so no runtime files (the directory is removed
	 * by inproc_stop). */
	char *argv[] = {name,
			"--lcores",
			lcores,
			"--no-huge",
			"-m",
			"512",
			"--no-pci",
			"--no-telemetry",
			"--no-shconf",
			prefix,
			"--log-level=lib.*:error",
			NULL};
	if (rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv) < 0) {
		fprintf(stderr, "shardline-bench: EAL initialisation failed: %s\n",
			rte_strerror(rte_errno));
		return -1;
	}
	ip->eal = true;
	ip->lcore = rte_get_next_lcore(-1, 1, 0);
	if (ip->lcore >= RTE_MAX_LCORE) {
		fprintf(stderr, "shardline-bench: the EAL has no lcore for the relay worker\n");
		return -1;
	}
	return 0;
}

static struct sockaddr_storage inproc_addr(const char *ip, uint16_t port)
{
	char text[64];
	struct sockaddr_storage ss;
	socklen_t len;
	snprintf(text, sizeof(text), "%s:%u", ip, port);
	sl_net_parse_addr(text, &ss, &len); /* the callers' addresses are constants that parse */
	return ss;
}

#ifdef SL_HAVE_NET_RING
/* One side of the ring cable: a DPDK device set on ethdev dev that answers for addr. */
static int inproc_dpdk_set(const char *dev, const char *addr, uint16_t port,
			   struct sl_net_dpdk **set, struct sl_pktio **io)
{
	struct sl_net_dpdk_config dc;
	char err[512];
	sl_net_dpdk_config_default(&dc);
	dc.addrs[0] = inproc_addr(addr, port);
	dc.naddrs = 1;
	dc.nworkers = 1;
	snprintf(dc.devs[0], sizeof(dc.devs[0]), "%s", dev);
	dc.ndevs = 1;
	dc.mbufs = INPROC_MBUFS;
	int rc = sl_net_dpdk_setup(&dc, set, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "shardline-bench: %s\n", err);
		return rc;
	}
	rc = sl_net_dpdk_open(*set, 0, io);
	if (rc != 0)
		fprintf(stderr, "shardline-bench: cannot open the DPDK port of %s: %s\n", dev,
			sl_strerror(rc));
	return rc;
}

/*
 * Two ring-backed ethdevs cabled back to back: the relay's device receives what the client's
 * sends and the other way round. No neighbour is configured: the first datagram each way waits
 * for an ARP exchange over the rings, as it would on a real link.
 */
static int inproc_dpdk(struct inproc *ip, struct sl_pktio **relay, struct sl_client **cl)
{
	ip->wire_up = rte_ring_create("sl_bench_up", INPROC_WIRE_RING, (int)rte_socket_id(),
				      RING_F_SP_ENQ | RING_F_SC_DEQ);
	ip->wire_down = rte_ring_create("sl_bench_down", INPROC_WIRE_RING, (int)rte_socket_id(),
					RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (ip->wire_up == NULL || ip->wire_down == NULL) {
		fprintf(stderr, "shardline-bench: cannot create the wire rings: %s\n",
			rte_strerror(rte_errno));
		return -1;
	}
	/* rte_eth_from_rings names the devices net_ring_<name>. */
	if (rte_eth_from_rings("bench_relay", &ip->wire_up, 1, &ip->wire_down, 1, rte_socket_id()) <
		    0 ||
	    rte_eth_from_rings("bench_client", &ip->wire_down, 1, &ip->wire_up, 1,
			       rte_socket_id()) < 0) {
		fprintf(stderr, "shardline-bench: cannot create the ring ethdevs: %s\n",
			rte_strerror(rte_errno));
		return -1;
	}
	struct sl_pktio *cport = NULL;
	if (inproc_dpdk_set("net_ring_bench_relay", INPROC_RELAY_IP, INPROC_RELAY_PORT,
			    &ip->relay_set, relay) != 0 ||
	    inproc_dpdk_set("net_ring_bench_client", INPROC_CLIENT_IP, 0, &ip->client_set,
			    &cport) != 0) {
		sl_pktio_close(*relay);
		*relay = NULL;
		return -1;
	}
	struct sockaddr_storage local = inproc_addr(INPROC_CLIENT_IP, INPROC_CLIENT_PORT);
	int rc = sl_client_new_ports(&cport, &local, 1, cl);
	if (rc != 0) {
		fprintf(stderr, "shardline-bench: cannot create the DPDK client: %s\n",
			sl_strerror(rc));
		sl_pktio_close(*relay);
		*relay = NULL;
		return -1;
	}
	snprintf(ip->url, sizeof(ip->url), "moq://%s:%u", INPROC_RELAY_IP, INPROC_RELAY_PORT);
	return 0;
}
#endif

/* The relay's port on a loopback UDP socket (an ephemeral port, so runs never collide) and
 * clients over kernel sockets, as in the daemon mode. */
static int inproc_socket(struct inproc *ip, unsigned nports, struct sl_pktio **relay,
			 struct sl_client **cl)
{
	struct sl_net_socket_config nc;
	struct sockaddr_storage ss;
	socklen_t len;
	sl_net_socket_config_default(&nc);
	sl_net_socket_config_add(&nc, "127.0.0.1:0");
	int rc = sl_net_socket_open(&nc, relay);
	if (rc == 0 && (rc = sl_net_socket_local(*relay, 0, &ss, &len)) == 0) {
		snprintf(ip->url, sizeof(ip->url), "moq://127.0.0.1:%u",
			 ntohs(((struct sockaddr_in *)&ss)->sin_port));
		rc = sl_client_new(ip->url, nports, cl);
	}
	if (rc != 0) {
		fprintf(stderr, "shardline-bench: cannot open the loopback relay and clients: %s\n",
			sl_strerror(rc));
		sl_pktio_close(*relay);
		*relay = NULL;
		return -1;
	}
	return 0;
}

/*
 * Starts the EAL, the ports, one relay worker on lcore 1 (configured like the daemon's
 * defaults) and the client over the matching ports. On failure the caller still calls
 * inproc_stop, which undoes whatever was done.
 */
static int inproc_start(struct inproc *ip, const struct sl_fanout_opts *o, unsigned nports,
			struct sl_client **cl)
{
	struct sl_pktio *relay = NULL;
	*cl = NULL;
	if (inproc_eal(ip, o->prog) != 0)
		return -1;
	if (o->inproc == SL_FANOUT_INPROC_DPDK) {
#ifdef SL_HAVE_NET_RING
		if (inproc_dpdk(ip, &relay, cl) != 0)
			return -1;
#else
		fprintf(stderr, "shardline-bench: built without DPDK's net_ring driver; --inproc "
				"dpdk is not available\n");
		return -1;
#endif
	} else if (inproc_socket(ip, nports, &relay, cl) != 0) {
		return -1;
	}
	ip->ctl_in = sl_ring_create("sl_bench_ci", INPROC_CTL_RING, (int)rte_socket_id());
	ip->ctl_out = sl_ring_create("sl_bench_co", INPROC_CTL_RING, (int)rte_socket_id());
	if (ip->ctl_in == NULL || ip->ctl_out == NULL) {
		fprintf(stderr, "shardline-bench: cannot create the control rings: %s\n",
			rte_strerror(rte_errno));
		sl_pktio_close(relay);
		return -1;
	}
	/* The daemon's defaults, mapped as shardlined maps them, so the in-process relay is the
	 * relay the daemon mode measures. Only what this relay is differs: its driver, its idle
	 * back-off (--poll-idle-us) and no durable side (no io core, so moq-lite alone). */
	struct sl_config dcfg;
	struct sl_worker_config wc;
	char err[256];
	sl_config_default(&dcfg);
	int rc = sl_config_set(&dcfg, "driver",
			       o->inproc == SL_FANOUT_INPROC_DPDK ? "dpdk" : "socket", false, err,
			       sizeof(err));
	dcfg.poll_idle_us = o->poll_idle_us;
	dcfg.io_cores = 0;
	/* One worker: no cross-worker rings (the worker needs none). */
	if (rc == 0)
		rc = sl_workercfg_fill(&dcfg, 0, 1, &wc, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "shardline-bench: the relay worker's settings: %s\n", err);
		sl_pktio_close(relay);
		return -1;
	}
	wc.port = relay;
	wc.ctl_in = ip->ctl_in;
	wc.ctl_out = ip->ctl_out;
	wc.socket = (int)rte_lcore_to_socket_id(ip->lcore);
	rc = sl_worker_new(&wc, sl_clock_now_ns(), &ip->w);
	if (rc != 0) {
		fprintf(stderr, "shardline-bench: cannot create the relay worker: %s\n",
			sl_strerror(rc));
		sl_pktio_close(relay);
		return -1;
	}
	if (rte_eal_remote_launch(worker_lcore, ip, ip->lcore) != 0) {
		fprintf(stderr, "shardline-bench: cannot launch the relay worker on lcore %u\n",
			ip->lcore);
		return -1;
	}
	ip->launched = true;
	for (uint64_t end = sl_clock_now_ns() + SEC;
	     __atomic_load_n(&ip->tid, __ATOMIC_ACQUIRE) == 0 && sl_clock_now_ns() < end;)
		usleep(100);
	return 0;
}

/*
 * Reads the worker's CPU time and asks it for its counters through its control ring. The
 * clients keep running while the answer comes (within one worker loop iteration), so the
 * measurement does not stall the frames it measures. Returns 0 or -1 (no answer in 2 s).
 */
static int inproc_sample(struct inproc *ip, struct sl_client *cl, struct wsample *out)
{
	int tid = __atomic_load_n(&ip->tid, __ATOMIC_ACQUIRE);
	out->at_ns = sl_clock_now_ns();
	if (tid == 0 || thread_cpu_ns(tid, &out->cpu_ns) != 0)
		return -1;
	struct sl_msg m = {.type = SL_MSG_CONTROL, .u32 = SL_WORKER_CTL_STATS, .u64 = ++ip->seq};
	if (sl_ring_send(ip->ctl_in, &m, 1) != 1)
		return -1;
	for (uint64_t end = out->at_ns + 2 * SEC; sl_clock_now_ns() < end;) {
		struct sl_msg r;
		if (sl_ring_recv(ip->ctl_out, &r, 1) != 1) {
			sl_client_run(cl, 20000);
			continue;
		}
		struct sl_worker_stats *st = r.obj;
		if (r.u32 != SL_WORKER_CTL_STATS || r.u64 != ip->seq || st == NULL) {
			free(st); /* the answer to an earlier request that timed out */
			continue;
		}
		out->rx = st->port.rx_packets;
		out->tx = st->port.tx_packets;
		free(st);
		return 0;
	}
	return -1;
}

/* Stops the worker and takes everything down: the worker before the device sets (it holds a
 * port on one), the frames left on the wire before their pools. The client must be freed
 * already (its port is on the client set). */
static void inproc_stop(struct inproc *ip)
{
	if (ip->launched) {
		struct sl_msg m = {.type = SL_MSG_CONTROL, .u32 = SL_WORKER_CTL_STOP};
		while (sl_ring_send(ip->ctl_in, &m, 1) != 1)
			usleep(100);
		rte_eal_mp_wait_lcore();
	}
	struct sl_msg r;
	while (ip->ctl_out && sl_ring_recv(ip->ctl_out, &r, 1) == 1)
		free(r.obj);
	sl_worker_free(ip->w);
	struct rte_ring *wires[] = {ip->wire_up, ip->wire_down};
	for (unsigned i = 0; i < 2; i++) {
		struct rte_mbuf *mb = NULL;
		while (wires[i] && rte_ring_dequeue(wires[i], (void **)&mb) == 0)
			rte_pktmbuf_free(mb);
	}
	sl_net_dpdk_free(ip->relay_set);
	sl_net_dpdk_free(ip->client_set);
	rte_ring_free(ip->wire_up);
	rte_ring_free(ip->wire_down);
	rte_ring_free(ip->ctl_in);
	rte_ring_free(ip->ctl_out);
	if (ip->eal) {
		/* The EAL creates its runtime directory even without shared config and leaves it;
		 * it is empty with --no-shconf, so rmdir is enough. */
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
		rte_eal_cleanup();
		rmdir(dir);
	}
	memset(ip, 0, sizeof(*ip));
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: shardline-bench fanout URL [--subscribers N] [--publishers M] [--fps F]\n"
		"         [--size BYTES] [--group-frames G] [--duration S] [--warmup S]\n"
		"         [--ports P] [--admin PATH [--breakdown]] [--announce-wait-ms MS] "
		"[--json]\n"
		"         [--plot FILE] [--version 04|05] [--prefault-mib N] [--sub-url URL]\n"
		"       shardline-bench fanout --inproc socket|dpdk [--poll-idle-us US] [options "
		"above]\n"
		"       shardline-bench fanout --peer nats://HOST:PORT [--tls-ca FILE | "
		"--tls-insecure\n"
		"         | --no-tls] [--nats-pid PID] [--subscribers ... --plot, as above]\n"
		"\n"
		"Measures publish-to-deliver latency through a moq-lite relay at URL\n"
		"(moq://HOST:PORT over raw QUIC; https://HOST:PORT/ over WebTransport (HTTP/3,\n"
		"ALPN h3, on the QUIC port); ws://HOST:PORT/ or wss://HOST:PORT/ over\n"
		"WebSocket+qmux, the relay's listen_tcp listener; certificates not verified).\n"
		"--sub-url URL connects the subscribers there instead (e.g. the publisher on\n"
		"QUIC, the subscribers on WebTransport). Defaults: 100 subscribers, 1 "
		"publisher, 60 fps, 4096-byte "
		"frames,\n"
		"60-frame groups, 10 s measured after a 2 s warm-up, connections spread over up to "
		"32\n"
		"local ports. --admin reads the relay's pid from its admin socket to report its "
		"CPU\n"
		"time per delivered frame. --plot writes a latency CDF (FILE.dat and, when gnuplot "
		"is\n"
		"installed, FILE as PNG). The subscribers subscribe --announce-wait-ms after the\n"
		"publishers announced (default 200); one that the relay answers \"not found\" "
		"because\n"
		"the announcement has not reached it yet subscribes again every 50 ms.\n"
		"--version 04|05 is the moq-lite version every connection offers as its only ALPN\n"
		"(moq-lite-04 by default; shardlined accepts both).\n"
		"--breakdown (with --admin) also says where the time goes inside the relay: it "
		"sets\n"
		"the relay's trace_sample to 1 for the run (and back after), and reports for each\n"
		"stage the time since publish, p50 and p99 over the measured window: relay_rx "
		"(the\n"
		"publisher's worker took the frame in), mirrored (another worker took it off the\n"
		"cross-worker ring), queued (the subscriber's worker queued it on its stream), "
		"sent\n"
		"(that worker's flush returned) and delivered (the subscriber read it).\n"
		"--prefault-mib N faults in N MiB of this process's heap before the run (default "
		"0;\n"
		"shardlined's `prefault` setting is the relay's side of the same thing).\n"
		"\n"
		"--inproc runs the relay in this process instead (no URL needed): one relay worker "
		"on\n"
		"EAL lcore 1, the clients on lcore 0, one CPU each. 'socket' puts both sides on "
		"kernel\n"
		"UDP sockets over loopback; 'dpdk' cables two ring-backed ethdevs (net_ring) back "
		"to\n"
		"back and runs the DPDK driver on both sides (relay %s:%u, clients %s,\n"
		"ARP over the rings), so the kernel is out of the loop. The report adds the "
		"worker's\n"
		"CPU per frame, its packets, packets/s and CPU cycles per packet over the "
		"measured\n"
		"window. --poll-idle-us is the worker's idle back-off (default 100; 0 "
		"busy-polls).\n"
		"\n"
		"--peer measures the same shape against a NATS server (nats-server) with the NATS "
		"C\n"
		"client (libnats%s): M publisher connections publish the stamped frames to\n"
		"subject bench.p<i>; N subscriber connections (one NATS connection each) subscribe "
		"to\n"
		"the subject of publisher i %% M, and the server confirms every subscription (a "
		"flush)\n"
		"before the first frame. The same report, and every JSON key of the moq-lite path\n"
		"(subscribe_retries is always 0) plus mode, peer, tls, client_threads,\n"
		"publish_errors, client_dropped and async_errors; relay_cpu_us_per_frame is\n"
		"nats-server's CPU from /proc/PID/stat of --nats-pid, or of the process listening\n"
		"on the URL's port. TLS is on: --tls-ca FILE verifies the server's certificate\n"
		"against FILE (without it: against the system's CA store), and the client checks\n"
		"that the certificate names HOST; --tls-insecure encrypts without verifying;\n"
		"--no-tls speaks plain TCP. It exits 2 when it cannot start (a bad URL, no server\n"
		"there, TLS refused) and 1 when a publisher's connection closes during the run.\n"
		"What differs from the moq-lite path: TCP + TLS instead of QUIC, one ordered "
		"stream\n"
		"per connection (no groups to drop: a slow subscriber queues at the server until\n"
		"the server cuts it off), and the NATS client runs its own threads (a reader and "
		"a\n"
		"flusher per connection, a delivery thread per subscription; publishers write "
		"each\n"
		"frame at once) where the moq-lite client runs every connection in this one\n"
		"thread. The report counts the threads. bench/fanout_compare.sh runs both side by\n"
		"side.\n",
		INPROC_RELAY_IP, INPROC_RELAY_PORT, INPROC_CLIENT_IP,
#ifdef SL_HAVE_NATS
		""
#else
		"; NOT BUILT IN: install libnats-dev and run meson setup again"
#endif
	);
}

/* The checks of the NATS path's options; moq_only names a moq-lite client setting given. */
static int parse_peer(int argc, const struct sl_fanout_opts *o, const char *moq_only)
{
#ifndef SL_HAVE_NATS
	(void)argc;
	(void)moq_only;
	fprintf(stderr,
		"shardline-bench: --peer %s: not built in (this shardline-bench was built "
		"without the NATS C client: install libnats-dev and run meson setup "
		"again)\n",
		o->peer);
	return -1;
#else
	const char *clash = NULL;
	if (o->inproc != SL_FANOUT_INPROC_OFF)
		clash = "--inproc runs a shardline relay of its own";
	else if (argc - optind != 0)
		clash = "a moq-lite URL names a shardline relay";
	else if (o->admin)
		clash = "--admin names a shardlined; nats-server's CPU is read from --nats-pid, or "
			"from the process listening on the URL's port";
	else if (moq_only)
		clash = moq_only;
	if (clash) {
		fprintf(stderr, "shardline-bench: --peer measures a NATS server: %s%s\n", clash,
			clash == moq_only ? " is a moq-lite client setting" : "");
		return -1;
	}
	if (o->tls_ca && o->tls_insecure) {
		fprintf(stderr, "shardline-bench: --tls-ca verifies the server, --tls-insecure "
				"skips it: choose one\n");
		return -1;
	}
	if (o->no_tls && (o->tls_ca || o->tls_insecure)) {
		fprintf(stderr, "shardline-bench: --no-tls with a TLS setting (--tls-ca or "
				"--tls-insecure)\n");
		return -1;
	}
	return 0;
#endif
}

static int parse(int argc, char **argv, struct sl_fanout_opts *o)
{
	static const struct option lo[] = {
		{"subscribers", required_argument, NULL, 'n'},
		{"publishers", required_argument, NULL, 'm'},
		{"fps", required_argument, NULL, 'f'},
		{"size", required_argument, NULL, 's'},
		{"group-frames", required_argument, NULL, 'g'},
		{"duration", required_argument, NULL, 'd'},
		{"warmup", required_argument, NULL, 'w'},
		{"ports", required_argument, NULL, 'p'},
		{"admin", required_argument, NULL, 'a'},
		{"json", no_argument, NULL, 'j'},
		{"plot", required_argument, NULL, 'o'},
		{"inproc", required_argument, NULL, 'i'},
		{"poll-idle-us", required_argument, NULL, 'P'},
		{"announce-wait-ms", required_argument, NULL, 'A'},
		{"breakdown", no_argument, NULL, 'B'},
		{"prefault-mib", required_argument, NULL, 'F'},
		{"peer", required_argument, NULL, 'N'},
		{"tls-ca", required_argument, NULL, 'C'},
		{"tls-insecure", no_argument, NULL, 'I'},
		{"no-tls", no_argument, NULL, 'T'},
		{"nats-pid", required_argument, NULL, 'D'},
		{"version", required_argument, NULL, 'V'},
		{"sub-url", required_argument, NULL, 'U'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*o = (struct sl_fanout_opts){.subscribers = 100,
				     .publishers = 1,
				     .fps = 60,
				     .size = 4096,
				     .group_frames = 60,
				     .duration = 10,
				     .ports = 32,
				     .warmup = 2,
				     .poll_idle_us = 100,
				     .announce_wait_ms = 200,
				     .version = SL_MOQ_LITE_04,
				     .prog = argv[0]};
	/* moq-lite client settings given explicitly, refused with --peer. */
	const char *moq_only = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		uint64_t *dst = NULL, max = 1000000;
		switch (c) {
		case 'n':
			dst = &o->subscribers;
			max = 100000;
			break;
		case 'm':
			dst = &o->publishers;
			max = 10000;
			break;
		case 'f':
			dst = &o->fps;
			max = 10000;
			break;
		case 's':
			dst = &o->size;
			max = 1 << 20;
			break;
		case 'g':
			dst = &o->group_frames;
			break;
		case 'd':
			dst = &o->duration;
			max = 86400;
			break;
		case 'w':
			dst = &o->warmup;
			max = 3600;
			break;
		case 'F':
			dst = &o->prefault_mib;
			max = 4096;
			break;
		case 'p':
			dst = &o->ports;
			max = 64;
			moq_only = "--ports";
			break;
		case 'a':
			o->admin = optarg;
			continue;
		case 'j':
			o->json = 1;
			continue;
		case 'B':
			o->breakdown = true;
			moq_only = "--breakdown";
			continue;
		case 'o':
			o->plot = optarg;
			continue;
		case 'i':
			if (strcmp(optarg, "socket") == 0) {
				o->inproc = SL_FANOUT_INPROC_SOCKET;
			} else if (strcmp(optarg, "dpdk") == 0) {
				o->inproc = SL_FANOUT_INPROC_DPDK;
			} else {
				fprintf(stderr,
					"shardline-bench: --inproc: '%s' is neither socket nor "
					"dpdk\n",
					optarg);
				return -1;
			}
			continue;
		case 'P':
			dst = &o->poll_idle_us;
			moq_only = "--poll-idle-us";
			break;
		case 'A':
			dst = &o->announce_wait_ms;
			max = 60000;
			moq_only = "--announce-wait-ms";
			break;
		case 'N':
			o->peer = optarg;
			continue;
		case 'U':
			o->sub_url = optarg;
			moq_only = "--sub-url";
			continue;
		case 'V':
			if (strcmp(optarg, "04") == 0 || strcmp(optarg, "4") == 0) {
				o->version = SL_MOQ_LITE_04;
			} else if (strcmp(optarg, "05") == 0 || strcmp(optarg, "5") == 0) {
				o->version = SL_MOQ_LITE_05;
			} else {
				fprintf(stderr,
					"shardline-bench: --version: '%s' is not 04 or 05\n",
					optarg);
				return -1;
			}
			moq_only = "--version";
			continue;
		case 'C':
			o->tls_ca = optarg;
			continue;
		case 'I':
			o->tls_insecure = true;
			continue;
		case 'T':
			o->no_tls = true;
			continue;
		case 'D':
			dst = &o->nats_pid;
			max = 4194304; /* PID_MAX_LIMIT */
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
		char *end;
		errno = 0;
		unsigned long long v = strtoull(optarg, &end, 10);
		bool zero_ok =
			dst == &o->warmup || dst == &o->poll_idle_us || dst == &o->announce_wait_ms;
		if (errno || *end || end == optarg || v > max || (v == 0 && !zero_ok)) {
			const char *name = "?";
			for (const struct option *x = lo; x->name; x++)
				if (x->val == c)
					name = x->name;
			fprintf(stderr, "shardline-bench: --%s: '%s' is not a number in %d..%llu\n",
				name, optarg, zero_ok ? 0 : 1, (unsigned long long)max);
			return -1;
		}
		*dst = v;
	}
	if (o->size < SL_FRAME_STAMP_LEN) {
		fprintf(stderr, "shardline-bench: --size must be at least %d (the time stamp)\n",
			SL_FRAME_STAMP_LEN);
		return -1;
	}
	if (o->peer == NULL && (o->tls_ca || o->tls_insecure || o->no_tls || o->nats_pid)) {
		fprintf(stderr,
			"shardline-bench: --tls-ca, --tls-insecure, --no-tls and --nats-pid "
			"go with --peer nats://HOST:PORT\n");
		return -1;
	}
	if (o->peer)
		return parse_peer(argc, o, moq_only);
	if (o->inproc != SL_FANOUT_INPROC_OFF) {
		/* The relay is ours: a URL (such as "inproc") is accepted and ignored. */
		if (argc - optind > 1) {
			usage(stderr);
			return -1;
		}
		if (o->admin || o->breakdown || o->sub_url) {
			fprintf(stderr,
				"shardline-bench: %s names a daemon; --inproc runs "
				"its own relay\n",
				o->admin       ? "--admin"
				: o->breakdown ? "--breakdown"
					       : "--sub-url");
			return -1;
		}
		return 0;
	}
	if (argc - optind != 1) {
		usage(stderr);
		return -1;
	}
	o->url = argv[optind];
	if (o->breakdown && o->admin == NULL) {
		fprintf(stderr, "shardline-bench: --breakdown reads the relay's trace from its "
				"admin socket: give --admin PATH\n");
		return -1;
	}
	return 0;
}

void sl_bench_plot_cdf(const struct sl_bench_samples *s, const char *plot, const char *xlabel,
		       const char *ylabel, const char *title)
{
	char dat[1024];
	snprintf(dat, sizeof(dat), "%s.dat", plot);
	FILE *f = fopen(dat, "w");
	if (f == NULL) {
		fprintf(stderr, "shardline-bench: cannot write %s: %s\n", dat, strerror(errno));
		return;
	}
	uint64_t step = s->n > 2000 ? s->n / 2000 : 1;
	for (uint64_t i = 0; i < s->n; i += step)
		fprintf(f, "%u %.6f\n", s->v[i], (double)(i + 1) / (double)s->n);
	if (s->n)
		fprintf(f, "%u 1.0\n", s->v[s->n - 1]);
	fclose(f);
	char cmd[4096];
	snprintf(cmd, sizeof(cmd),
		 "gnuplot -e \"set terminal png size 900,600; set output '%s'; set logscale x; "
		 "set xlabel '%s'; set ylabel '%s'; set grid; set title '%s'; "
		 "plot '%s' using 1:2 with lines title 'CDF'\" 2>&1",
		 plot, xlabel, ylabel, title, dat);
	if (system(cmd) != 0)
		fprintf(stderr, "shardline-bench: gnuplot failed or is not installed; data in %s\n",
			dat);
}

void sl_fanout_write_plot(const struct sl_fanout_opts *o, const char *server)
{
	char title[256];
	snprintf(title, sizeof(title), "%s fan-out: %llu subscribers, %llu fps, %llu B", server,
		 (unsigned long long)o->subscribers, (unsigned long long)o->fps,
		 (unsigned long long)o->size);
	sl_bench_plot_cdf(&fan, o->plot, "publish-to-deliver latency (us)", "fraction of frames",
			  title);
}

/* The benchmark proper over a client already set up for the relay at o->url; ip is the
 * in-process relay (mode SL_FANOUT_INPROC_OFF for a daemon). Frees the client. */
static int run(const struct sl_fanout_opts *op, struct sl_client *cl, struct inproc *ip)
{
	const struct sl_fanout_opts o = *op;
	int rc;
	struct sl_origin *origin = sl_origin_new(NULL);
	struct pub *pubs = calloc(o.publishers, sizeof(*pubs));
	struct sub *subs = calloc(o.subscribers, sizeof(*subs));
	long pid = o.admin ? sl_bench_daemon_pid(o.admin) : -1;
	/* --breakdown: every stamped frame is traced during the run; the setting is put back. */
	uint64_t trace_was = 0;
	bool tracing = o.breakdown &&
		       relay_config(o.admin, "trace_sample", NULL, &trace_was) == 0 &&
		       relay_config(o.admin, "trace_sample", "1", NULL) == 0;
	static struct trace_snap tr0, tr1;
	tr0.ok = tr1.ok = false;
	for (uint64_t i = 0; i < o.publishers; i++) {
		struct pub *p = &pubs[i];
		snprintf(p->path, sizeof(p->path), "bench/p%llu", (unsigned long long)i);
		if (sl_origin_publish(origin, p->path, &p->b) != 0 ||
		    sl_broadcast_create_track(p->b, "video", 0, &p->t) != 0 ||
		    sl_client_connect_moq(cl, o.url, o.version, &p->conn) != 0) {
			fprintf(stderr, "shardline-bench: cannot set up publisher %llu\n",
				(unsigned long long)i);
			goto fail;
		}
	}
	for (uint64_t i = 0; i < o.subscribers; i++) {
		subs[i].pub = (int)(i % o.publishers);
		subs[i].group_frames_expected = o.group_frames;
		if (sl_client_connect_moq(cl, o.sub_url ? o.sub_url : o.url, o.version,
					  &subs[i].conn) != 0) {
			fprintf(stderr, "shardline-bench: cannot connect subscriber %llu\n",
				(unsigned long long)i);
			goto fail;
		}
	}
	if ((rc = sl_client_wait_connected(cl, 20 * SEC)) != 0) {
		/* A WebTransport refusal says more than "closed" (its HTTP status). */
		const char *why = NULL;
		for (uint64_t i = 0; i < o.subscribers && why == NULL; i++)
			if (subs[i].conn->why[0])
				why = subs[i].conn->why;
		for (uint64_t i = 0; i < o.publishers && why == NULL; i++)
			if (pubs[i].conn->why[0])
				why = pubs[i].conn->why;
		fprintf(stderr, "shardline-bench: cannot connect to %s: %s\n", o.url,
			why		     ? why
			: rc == SL_ETIMEDOUT ? "no answer within 20 s — is the relay running?"
					     : sl_strerror(rc));
		goto fail;
	}
	for (uint64_t i = 0; i < o.publishers; i++)
		sl_moq_session_publish(pubs[i].conn->s, pubs[i].path, pubs[i].b);
	/* Let the announcements reach the relay before anyone subscribes, so that usually no
	 * subscriber has to retry; subscribe() retries those that came too early anyway. */
	for (uint64_t end = sl_clock_now_ns() + o.announce_wait_ms * 1000000u;
	     sl_clock_now_ns() < end;)
		sl_client_run(cl, 1000000);
	for (uint64_t i = 0; i < o.subscribers; i++)
		subscribe(&subs[i], pubs[subs[i].pub].path, sl_clock_now_ns());
	signal(SIGINT, sl_fanout_on_sigint);
	uint64_t interval = SEC / o.fps, start = sl_clock_now_ns();
	uint64_t measure_from_mono = start + o.warmup * SEC;
	uint64_t measure_from_wall = sl_clock_wall_ns() + o.warmup * SEC;
	uint64_t end = measure_from_mono + o.duration * SEC, next = start, frame = 0;
	uint64_t cpu0 = 0, cpu1 = 0;
	bool cpu_ok = false, measuring = false;
	struct wsample ws0 = {0}, ws1 = {0};
	while (!sl_fanout_interrupted) {
		uint64_t now = sl_clock_now_ns();
		if (now >= end)
			break;
		if (!measuring && now >= measure_from_mono) {
			measuring = true;
			if (ip->mode != SL_FANOUT_INPROC_OFF)
				cpu_ok = inproc_sample(ip, cl, &ws0) == 0;
			else
				cpu_ok = pid > 0 && relay_cpu_us(pid, &cpu0) == 0;
			if (tracing)
				trace_read(o.admin, &tr0);
		}
		if (now >= next) {
			for (uint64_t i = 0; i < o.publishers; i++) {
				struct pub *p = &pubs[i];
				if (frame % o.group_frames == 0) {
					if (p->g) {
						sl_group_finish(p->g);
						sl_group_unref(p->g);
					}
					sl_track_append_group(p->t, now, &p->g);
					p->groups++;
					if (measuring)
						p->measured_groups++;
				}
				struct sl_buf *b = sl_buf_alloc(o.size);
				memset(b->data, 0xa5, o.size);
				b->len = (uint32_t)o.size;
				sl_frame_stamp(b->data, o.size, sl_clock_wall_ns(), frame);
				sl_group_write_frame(p->g, sl_slice_of(b));
				p->sent++;
			}
			frame++;
			next += interval;
		}
		sl_client_run(cl, next > now ? next - now : 0);
		now = sl_clock_now_ns();
		for (uint64_t i = 0; i < o.subscribers; i++) {
			struct sub *s = &subs[i];
			if (s->subscribed && !s->ended)
				drain(s, measure_from_wall);
			else if (s->retry_at && now >= s->retry_at)
				subscribe(s, pubs[s->pub].path, now);
		}
	}
	if (cpu_ok && ip->mode != SL_FANOUT_INPROC_OFF) {
		cpu_ok = inproc_sample(ip, cl, &ws1) == 0;
		cpu0 = ws0.cpu_ns / 1000;
		cpu1 = ws1.cpu_ns / 1000;
	} else if (cpu_ok && relay_cpu_us(pid, &cpu1) != 0) {
		cpu_ok = false;
	}
	if (tracing) {
		/* The frames of the window's last moments are still on their way: let them land
		 * before the relay's histograms are read. */
		for (uint64_t until = sl_clock_now_ns() + SEC / 5; sl_clock_now_ns() < until;)
			sl_client_run(cl, SEC / 100);
		trace_read(o.admin, &tr1);
		char was[24];
		snprintf(was, sizeof(was), "%llu", (unsigned long long)trace_was);
		relay_config(o.admin, "trace_sample", was, NULL);
	}
	bool breakdown = tracing && tr0.ok && tr1.ok;
	double bp50[SL_TRACE_STAGES], bp99[SL_TRACE_STAGES];
	uint64_t bn[SL_TRACE_STAGES];
	for (int s = 0; s < SL_TRACE_STAGES && breakdown; s++)
		bn[s] = trace_diff(&tr0, &tr1, s, &bp50[s], &bp99[s]);
	/* The worker's packets over the measured window, and what each one cost it. */
	uint64_t wpkts = ws1.rx + ws1.tx - ws0.rx - ws0.tx;
	double wsecs = (double)(ws1.at_ns - ws0.at_ns) / 1e9;
	double wpps = cpu_ok && wsecs > 0 ? (double)wpkts / wsecs : 0;
	double cycles = cpu_ok && wpkts ? (double)(ws1.cpu_ns - ws0.cpu_ns) / 1e9 *
						  (double)rte_get_tsc_hz() / (double)wpkts
					: -1;
	/* Results. */
	uint64_t delivered = 0, expected = 0, incomplete = 0, ooo = 0, ended = 0, retries = 0;
	for (uint64_t i = 0; i < o.subscribers; i++) {
		delivered += subs[i].measured_frames;
		incomplete += subs[i].incomplete;
		ooo += subs[i].out_of_order;
		/* A subscriber still waiting to subscribe again never got its track: it ended. */
		ended += subs[i].ended || !subs[i].subscribed;
		retries += subs[i].retries;
	}
	uint64_t measured_frames_per_pub = o.duration * o.fps;
	expected = measured_frames_per_pub * o.subscribers;
	sl_fanout_sort();
	double cpu_per_frame = cpu_ok && delivered ? (double)(cpu1 - cpu0) / (double)delivered : -1;
	if (o.json) {
		putchar('{');
		if (ip->mode != SL_FANOUT_INPROC_OFF)
			printf("\"mode\":\"%s\",\"worker_rx_packets\":%llu,\"worker_tx_packets\":%"
			       "llu,"
			       "\"worker_pps\":%.1f,\"cycles_per_packet\":%.1f,",
			       mode_names[ip->mode], (unsigned long long)(ws1.rx - ws0.rx),
			       (unsigned long long)(ws1.tx - ws0.tx), wpps, cycles);
		printf("\"subscribers\":%llu,\"publishers\":%llu,\"fps\":%llu,\"size\":%llu,"
		       "\"group_frames\":%llu,\"duration_s\":%llu,\"delivered\":%llu,"
		       "\"expected\":%llu,\"lost_frames\":%lld,\"incomplete_groups\":%llu,"
		       "\"out_of_order\":%llu,\"ended_early\":%llu,\"subscribe_retries\":%llu,"
		       "\"latency_us\":{\"p50\":%u,"
		       "\"p90\":%u,\"p99\":%u,\"p999\":%u,\"max\":%u},\"relay_cpu_us_per_frame\":%."
		       "3f",
		       (unsigned long long)o.subscribers, (unsigned long long)o.publishers,
		       (unsigned long long)o.fps, (unsigned long long)o.size,
		       (unsigned long long)o.group_frames, (unsigned long long)o.duration,
		       (unsigned long long)delivered, (unsigned long long)expected,
		       (long long)expected - (long long)delivered, (unsigned long long)incomplete,
		       (unsigned long long)ooo, (unsigned long long)ended,
		       (unsigned long long)retries, sl_fanout_pct(0.5), sl_fanout_pct(0.9),
		       sl_fanout_pct(0.99), sl_fanout_pct(0.999), sl_fanout_max(), cpu_per_frame);
		if (breakdown) {
			printf(",\"breakdown\":{");
			for (int st = 0; st < SL_TRACE_STAGES; st++)
				printf("\"%s\":{\"count\":%llu,\"p50_us\":%.1f,\"p99_us\":%.1f},",
				       sl_trace_stage_name((enum sl_trace_stage)st),
				       (unsigned long long)bn[st], bp50[st], bp99[st]);
			printf("\"delivered\":{\"count\":%llu,\"p50_us\":%u,\"p99_us\":%u}}",
			       (unsigned long long)sl_fanout_samples(), sl_fanout_pct(0.5),
			       sl_fanout_pct(0.99));
		}
		printf("}\n");
	} else {
		char where[160];
		if (ip->mode == SL_FANOUT_INPROC_DPDK)
			snprintf(where, sizeof(where),
				 "an in-process relay, DPDK on both sides over net_ring (%s)",
				 o.url);
		else if (ip->mode == SL_FANOUT_INPROC_SOCKET)
			snprintf(where, sizeof(where),
				 "an in-process relay, kernel sockets on both sides (%s)", o.url);
		else if (o.sub_url)
			snprintf(where, sizeof(where), "%s (subscribers: %s)", o.url, o.sub_url);
		else
			snprintf(where, sizeof(where), "%s", o.url);
		printf("fan-out through %s: %llu publisher(s) -> %llu subscribers, %llu fps, "
		       "%llu-byte "
		       "frames, %llu-frame groups, %llu s measured after %llu s warm-up\n",
		       where, (unsigned long long)o.publishers, (unsigned long long)o.subscribers,
		       (unsigned long long)o.fps, (unsigned long long)o.size,
		       (unsigned long long)o.group_frames, (unsigned long long)o.duration,
		       (unsigned long long)o.warmup);
		printf("  delivered frames:   %llu of %llu expected (%lld lost)\n",
		       (unsigned long long)delivered, (unsigned long long)expected,
		       (long long)expected - (long long)delivered);
		printf("  latency (us):       p50 %u  p90 %u  p99 %u  p99.9 %u  max %u\n",
		       sl_fanout_pct(0.5), sl_fanout_pct(0.9), sl_fanout_pct(0.99),
		       sl_fanout_pct(0.999), sl_fanout_max());
		printf("  groups:             %llu incomplete or reset, %llu frames out of order\n",
		       (unsigned long long)incomplete, (unsigned long long)ooo);
		if (retries || ended)
			printf("  subscribers:        %llu ended early; %llu subscribes repeated "
			       "(broadcast not announced at the relay yet)\n",
			       (unsigned long long)ended, (unsigned long long)retries);
		if (cpu_ok)
			printf("  relay CPU:          %.2f us per delivered frame (%.3f s in %llu "
			       "s)\n",
			       cpu_per_frame, (double)(cpu1 - cpu0) / 1e6,
			       (unsigned long long)o.duration);
		else if (ip->mode != SL_FANOUT_INPROC_OFF)
			printf("  relay CPU:          not measured (the worker did not answer)\n");
		else
			printf("  relay CPU:          not measured (give --admin PATH of the "
			       "relay)\n");
		if (breakdown) {
			printf("  breakdown (us since publish, p50 / p99; frames traced):\n");
			for (int st = 0; st < SL_TRACE_STAGES; st++)
				printf("    %-10s %9.1f / %-9.1f (%llu)\n",
				       sl_trace_stage_name((enum sl_trace_stage)st), bp50[st],
				       bp99[st], (unsigned long long)bn[st]);
			printf("    %-10s %9u / %-9u (%llu)\n", "delivered", sl_fanout_pct(0.5),
			       sl_fanout_pct(0.99), (unsigned long long)sl_fanout_samples());
		} else if (o.breakdown) {
			printf("  breakdown:          not measured (the relay's trace could not be "
			       "read)\n");
		}
		if (cpu_ok && ip->mode != SL_FANOUT_INPROC_OFF)
			printf("  relay worker:       %llu packets in, %llu out (%.0f packets/s), "
			       "%.0f CPU cycles per packet\n",
			       (unsigned long long)(ws1.rx - ws0.rx),
			       (unsigned long long)(ws1.tx - ws0.tx), wpps, cycles);
	}
	if (o.plot)
		sl_fanout_write_plot(&o, "shardline");
	for (uint64_t i = 0; i < o.subscribers; i++) {
		sl_group_reader_release(&subs[i].r);
		if (subs[i].subscribed)
			sl_track_consumer_release(&subs[i].tc, NULL);
	}
	for (uint64_t i = 0; i < o.publishers; i++) {
		if (pubs[i].g) {
			sl_group_finish(pubs[i].g);
			sl_group_unref(pubs[i].g);
		}
		sl_track_finish(pubs[i].t);
	}
	sl_client_close_all(cl, SEC);
	sl_client_free(cl);
	for (uint64_t i = 0; i < o.publishers; i++) {
		sl_track_unref(pubs[i].t);
		sl_broadcast_unref(pubs[i].b);
	}
	sl_origin_free(origin);
	free(pubs);
	free(subs);
	sl_fanout_samples_free();
	/* A run that delivered nothing is a failure: the relay or the setup is broken. */
	return delivered > 0 && ooo == 0 ? 0 : 1;
fail:
	sl_client_free(cl);
	return 1;
}

static int fanout(int argc, char **argv)
{
	struct sl_fanout_opts o;
	if (parse(argc, argv, &o) != 0)
		return 2;
	unsigned nports =
		(unsigned)(o.subscribers + o.publishers < o.ports ? o.subscribers + o.publishers
								  : o.ports);
	/* The clients store every frame they publish or receive, so (like the relay's workers,
	 * shardlined's `prefault` setting) they fault in a fresh page for most frames of the
	 * run; --prefault-mib faults this thread's heap in first, for every peer alike. Off by
	 * default: on the VMs measured, resident memory makes every wake-up dearer (see
	 * docs/benchmarks.md, "Page faults and prefault"). */
	if (o.prefault_mib)
		sl_alloc_prefault(o.prefault_mib << 20);
#ifdef SL_HAVE_NATS
	if (o.peer)
		return sl_fanout_nats(&o);
#endif
	struct inproc ip = {.mode = o.inproc};
	struct sl_client *cl = NULL;
	if (o.inproc != SL_FANOUT_INPROC_OFF) {
		if (inproc_start(&ip, &o, nports, &cl) != 0) {
			sl_client_free(cl);
			inproc_stop(&ip);
			return 2;
		}
		o.url = ip.url;
	} else {
		int rc = sl_client_new(o.url, nports, &cl);
		if (rc != 0) {
			fprintf(stderr, "shardline-bench: %s: %s\n", o.url, sl_strerror(rc));
			return 2;
		}
	}
	int ret = run(&o, cl, &ip);
	if (o.inproc != SL_FANOUT_INPROC_OFF)
		inproc_stop(&ip);
	return ret;
}

/* jemalloc's options, as shardlined sets them (core/alloc.h). */
const char *malloc_conf = SL_ALLOC_CONF;

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		printf("Usage: shardline-bench COMMAND ...\n\nCommands:\n"
		       "  fanout   fan-out latency through a moq-lite relay (shardline-bench "
		       "fanout --help)\n"
		       "  append   durable appends to shardlined, Redis or JetStream "
		       "(shardline-bench append --help)\n");
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "fanout") == 0)
		return fanout(argc - 1, argv + 1);
	if (strcmp(argv[1], "append") == 0)
		return sl_append_main(argc - 1, argv + 1);
	fprintf(stderr, "shardline-bench: unknown command '%s'\n", argv[1]);
	return 2;
}
