/* SPDX-License-Identifier: Apache-2.0 */
#include "control/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libconfig.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_log.h>

#include "core/err.h"
#include "drivers/net/dpdk.h"

#define NS_PER_US  UINT64_C(1000)
#define NS_PER_MS  UINT64_C(1000000)
#define NS_PER_SEC UINT64_C(1000000000)
#define KIB	   UINT64_C(1024)
#define MIB	   (KIB * 1024)
#define GIB	   (MIB * 1024)
#define TIB	   (GIB * 1024)

#define FIELD(f) offsetof(struct sl_config, f), sizeof(((struct sl_config *)0)->f)

static int check_listen(const char *value, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	return sl_config_parse_addr(value, &ss, &len, err, errlen);
}

/* Empty turns the TCP listener off; anything else is one IP:PORT. */
static int check_listen_tcp(const char *value, char *err, size_t errlen)
{
	if (value[0] == '\0')
		return 0;
	return check_listen(value, err, errlen);
}

/* A Unix socket path must fit sun_path, and the admin server binds a temporary name beside it,
 * so the limit is checked here where the operator typed it rather than at bind time. */
static int check_admin(const char *value, char *err, size_t errlen)
{
	if (value[0] == '\0') {
		snprintf(err, errlen, "the path is empty");
		return SL_EINVAL;
	}
	if (strlen(value) + 24 >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(err, errlen, "a Unix socket path must be shorter than %zu bytes",
			 sizeof(((struct sockaddr_un *)0)->sun_path) - 24);
		return SL_EINVAL;
	}
	return 0;
}

static int check_neighbour(const char *value, char *err, size_t errlen)
{
	struct sl_net_dpdk_neigh n;
	if (sl_net_dpdk_parse_neigh(value, &n) != 0) {
		snprintf(err, errlen,
			 "'%s' is not IP=MAC[@DEV] (e.g. 10.0.0.1=02:00:00:00:00:01 or "
			 "[fd00::1]=02:00:00:00:00:01@1)",
			 value);
		return SL_EINVAL;
	}
	return 0;
}

static int check_weight(const char *value, char *err, size_t errlen)
{
	char *end;
	unsigned long v = strtoul(value, &end, 10);
	if (value[0] < '0' || value[0] > '9' || *end != '\0' || v > 1000) {
		snprintf(err, errlen, "'%s' is not a weight from 0 to 1000", value);
		return SL_EINVAL;
	}
	return 0;
}

static const struct sl_config_setting settings[] = {
	{.name = "listen",
	 .type = SL_CONFIG_LIST,
	 .def = "127.0.0.1:4443",
	 .metavar = "ADDR",
	 .help = "UDP address of a QUIC endpoint, IP:PORT or [IPv6]:PORT. Repeat the flag (or "
		 "separate with commas) to listen on several addresses.",
	 FIELD(listen),
	 .check = check_listen},
	{.name = "listen_tcp",
	 .type = SL_CONFIG_STRING,
	 .def = "",
	 .def_doc = "empty (off)",
	 .metavar = "ADDR",
	 .help = "TCP address of the HTTP listener, IP:PORT or [IPv6]:PORT: /certificate.sha256, "
		 "/health, /announced, /fetch and /metrics (see the operator guide). Empty: no TCP "
		 "listener.",
	 FIELD(listen_tcp),
	 .check = check_listen_tcp},
	{.name = "tcp_tls",
	 .type = SL_CONFIG_BOOL,
	 .def = "true",
	 .metavar = "BOOL",
	 .help = "Serve the TCP listener over TLS with the QUIC endpoints' certificate (https). "
		 "Off: plain HTTP, for local use.",
	 FIELD(tcp_tls)},
	{.name = "cert_renew_before",
	 .type = SL_CONFIG_DURATION,
	 .def = "4d",
	 .metavar = "DURATION",
	 .help = "Without cert and key, shardlined makes its own certificate (ECDSA P-256, valid "
		 "14 days: the most browsers pin by hash) and makes a new one this long before it "
		 "expires; connections opened from then on get the new one, connections up keep "
		 "theirs, and /certificate.sha256 serves the new hash. `shardctl cert renew` does "
		 "it "
		 "at once.",
	 FIELD(cert_renew_before_ns),
	 .min = 3600 * NS_PER_SEC,
	 .max = 13 * 86400 * NS_PER_SEC},
	{.name = "driver",
	 .type = SL_CONFIG_STRING,
	 .def = "socket",
	 .metavar = "NAME",
	 .help = "Packet driver: socket (kernel UDP sockets, works everywhere) or dpdk (an "
		 "ethdev port).",
	 FIELD(driver),
	 .choices = "socket|dpdk"},
	{.name = "workers",
	 .type = SL_CONFIG_INT,
	 .def = "0",
	 .def_doc = "0 (all lcores but control and io)",
	 .metavar = "N",
	 .help = "Worker lcores. 0 starts one on every EAL lcore left after the control lcore "
		 "and the io lcores.",
	 FIELD(workers),
	 .min = 0,
	 .max = 1024},
	{.name = "io_cores",
	 .type = SL_CONFIG_INT,
	 .def = "1",
	 .metavar = "N",
	 .help = "Lcores that run io_uring for object-store and flush I/O on the data "
		 "directory. 0 runs a relay that keeps no data: no io lcore, and the data "
		 "directory is not used.",
	 FIELD(io_cores),
	 .min = 0,
	 .max = 64},
	{.name = "admin",
	 .type = SL_CONFIG_STRING,
	 .def_fn = sl_config_default_admin,
	 .def_doc =
		 "/run/shardline/admin.sock as root, else $XDG_RUNTIME_DIR/shardline/admin.sock, "
		 "else /tmp/shardline-UID/admin.sock",
	 .metavar = "PATH",
	 .help = "Unix socket of the admin server (shardctl connects here). Created with mode "
		 "0600.",
	 FIELD(admin),
	 .check = check_admin},
	{.name = "data_dir",
	 .type = SL_CONFIG_STRING,
	 .def_fn = sl_config_default_data_dir,
	 .def_doc = "/var/lib/shardline as root, else $XDG_DATA_HOME/shardline, else "
		    "$HOME/.local/share/shardline, else /tmp/shardline-UID/data",
	 .metavar = "PATH",
	 .help = "Directory for the local object store and the metadata log: created if "
		 "missing, locked by one daemon at a time (DATA_DIR/LOCK), and checked at start "
		 "by a durable write through every io lcore.",
	 FIELD(data_dir)},
	{.name = "cert",
	 .type = SL_CONFIG_STRING,
	 .def = "",
	 .metavar = "PATH",
	 .help = "TLS certificate chain (PEM). Empty, with key empty, uses a self-signed "
		 "certificate made at start-up.",
	 FIELD(cert)},
	{.name = "key",
	 .type = SL_CONFIG_STRING,
	 .def = "",
	 .metavar = "PATH",
	 .help = "TLS private key (PEM) matching cert.",
	 FIELD(key)},
	{.name = "auth_key",
	 .type = SL_CONFIG_STRING,
	 .def = "",
	 .def_doc = "empty (no tokens)",
	 .metavar = "PATH",
	 .help = "Tokens: the JWK or JWK Set (HS256 or ES256) that verifies the ?jwt= of "
		 "WebSocket connections, /announced and /fetch, as moq-relay's --auth-key. With a "
		 "key, connections without a token get only the auth_public prefixes. Read at "
		 "start; a key that cannot be used stops the daemon.",
	 FIELD(auth_key)},
	{.name = "auth_key_dir",
	 .type = SL_CONFIG_STRING,
	 .def = "",
	 .def_doc = "empty (no tokens)",
	 .metavar = "DIR",
	 .help = "Tokens: a directory of KID.jwk files, the key chosen by the token's kid "
		 "(moq-relay's --auth-key-dir); tokens must name a kid. Give auth_key or "
		 "auth_key_dir, not both.",
	 FIELD(auth_key_dir)},
	{.name = "auth_public",
	 .type = SL_CONFIG_LIST,
	 .def = "",
	 .def_doc = "empty",
	 .metavar = "PREFIX",
	 .help = "Tokens: broadcast path prefixes anyone may publish under and subscribe to "
		 "without a token (moq-relay's --auth-public; \"/\" is every path). Set alone, "
		 "without a key, it turns authorisation on with anonymous access only.",
	 FIELD(auth_public)},
	{.name = "auth_public_publish",
	 .type = SL_CONFIG_LIST,
	 .def = "",
	 .def_doc = "empty",
	 .metavar = "PREFIX",
	 .help = "Tokens: prefixes anyone may publish under without a token (added to "
		 "auth_public).",
	 FIELD(auth_public_publish)},
	{.name = "auth_public_subscribe",
	 .type = SL_CONFIG_LIST,
	 .def = "",
	 .def_doc = "empty",
	 .metavar = "PREFIX",
	 .help = "Tokens: prefixes anyone may subscribe to without a token (added to "
		 "auth_public).",
	 FIELD(auth_public_subscribe)},
	{.name = "auth_leeway",
	 .type = SL_CONFIG_DURATION,
	 .def = "60s",
	 .metavar = "DURATION",
	 .help = "Tokens: slack given to a token's nbf for clocks that disagree (exp gets none: "
		 "a session ends when its token expires).",
	 FIELD(auth_leeway_ns),
	 .min = 0,
	 .max = 3600 * NS_PER_SEC},
	{.name = "cache_age",
	 .type = SL_CONFIG_DURATION,
	 .def = "30s",
	 .metavar = "DURATION",
	 .help = "Live groups older than this are evicted from a track's cache (the newest group "
		 "never is). 0s disables eviction by age.",
	 FIELD(cache_age_ns),
	 .min = 0,
	 .max = 24 * 3600 * NS_PER_SEC,
	 .flags = SL_CONFIG_RUNTIME},
	{.name = "cache_bytes",
	 .type = SL_CONFIG_BYTES,
	 .def = "64MiB",
	 .metavar = "SIZE",
	 .help = "Payload bytes one track's cache may hold; the oldest groups are evicted beyond "
		 "it. 0 disables the budget.",
	 FIELD(cache_bytes),
	 .min = 0,
	 .max = TIB,
	 .flags = SL_CONFIG_RUNTIME},
	{.name = "prefault",
	 .type = SL_CONFIG_BYTES,
	 .def = "0",
	 .metavar = "SIZE",
	 .help = "Heap each worker faults in at start and keeps: a young track's cache grows "
		 "onto fresh pages, and each page fault costs microseconds on the frame's path "
		 "(10.7 us on the VMs measured). Off by default: on those VMs resident memory "
		 "also makes every wake-up dearer. 0 faults nothing in.",
	 FIELD(prefault_bytes),
	 .min = 0,
	 .max = 4 * GIB},
	{.name = "idle_timeout",
	 .type = SL_CONFIG_DURATION,
	 .def = "30s",
	 .metavar = "DURATION",
	 .help = "A QUIC or WebSocket (qmux) connection with no traffic for this long is closed; "
		 "a change applies to connections opened after it.",
	 FIELD(idle_timeout_ns),
	 .min = 100 * NS_PER_MS,
	 .max = 3600 * NS_PER_SEC,
	 .flags = SL_CONFIG_RUNTIME},
	{.name = "max_conns",
	 .type = SL_CONFIG_INT,
	 .def = "10000",
	 .metavar = "N",
	 .help = "Connections the daemon accepts in total; new ones beyond it are refused.",
	 FIELD(max_conns),
	 .min = 1,
	 .max = 10000000,
	 .flags = SL_CONFIG_RUNTIME},
	{.name = "quic_max_data",
	 .type = SL_CONFIG_BYTES,
	 .def = "16MiB",
	 .metavar = "SIZE",
	 .help = "QUIC flow-control window of a connection: bytes a peer may send before the "
		 "relay reads them.",
	 FIELD(quic_max_data),
	 .min = 64 * 1024,
	 .max = TIB},
	{.name = "quic_max_stream_data",
	 .type = SL_CONFIG_BYTES,
	 .def = "1MiB",
	 .metavar = "SIZE",
	 .help = "QUIC flow-control window of one stream (a moq-lite group or control stream).",
	 FIELD(quic_max_stream_data),
	 .min = 16 * 1024,
	 .max = TIB},
	{.name = "quic_max_streams_bidi",
	 .type = SL_CONFIG_INT,
	 .def = "100",
	 .metavar = "N",
	 .help = "Bidirectional streams a peer may have open (moq-lite announce, subscribe, "
		 "fetch, probe and goaway streams).",
	 FIELD(quic_max_streams_bidi),
	 .min = 1,
	 .max = 1000000},
	{.name = "quic_max_streams_uni",
	 .type = SL_CONFIG_INT,
	 .def = "1000",
	 .metavar = "N",
	 .help = "Unidirectional streams a peer may have open (one per moq-lite group in flight).",
	 FIELD(quic_max_streams_uni),
	 .min = 1,
	 .max = 1000000},
	{.name = "moq_send_drops",
	 .type = SL_CONFIG_BOOL,
	 .def = "false",
	 .metavar = "BOOL",
	 .help = "Send SUBSCRIBE_DROP for the groups a subscriber skips (expired, over its "
		 "in-flight budget, failed or never available), besides resetting their streams. "
		 "Off by default: moq-lite 0.15 Rust subscribers fail a subscription on any "
		 "message "
		 "after SUBSCRIBE_OK.",
	 FIELD(moq_send_drops)},
	{.name = "log_flush_interval",
	 .type = SL_CONFIG_DURATION,
	 .def = "100ms",
	 .metavar = "DURATION",
	 .help = "Durable partitions: records applied this long ago are flushed to a batch "
		 "object even when no producer waits for written or durable (those are flushed "
		 "at once, group-committed).",
	 FIELD(log_flush_interval_ns),
	 .min = NS_PER_MS,
	 .max = 3600 * NS_PER_SEC},
	{.name = "log_flush_bytes",
	 .type = SL_CONFIG_BYTES,
	 .def = "4MiB",
	 .metavar = "SIZE",
	 .help = "Durable partitions: a worker's unflushed records are flushed once they hold "
		 "this many payload bytes (the largest batch object, about).",
	 FIELD(log_flush_bytes),
	 .min = 4 * KIB,
	 .max = GIB},
	{.name = "log_max_flushes",
	 .type = SL_CONFIG_INT,
	 .def = "2",
	 .metavar = "N",
	 .help = "Durable partitions: flushes a worker keeps in flight at once; beyond it, "
		 "writes wait and producers are told to back off when the queue is full.",
	 FIELD(log_max_flushes),
	 .min = 1,
	 .max = 64},
	{.name = "log_memory",
	 .type = SL_CONFIG_BYTES,
	 .def = "256MiB",
	 .metavar = "SIZE",
	 .help = "Durable partitions: payload bytes of flushed records a worker keeps in memory "
		 "for readers; older ones are read back from their batch objects.",
	 FIELD(log_memory),
	 .min = 0,
	 .max = TIB},
	{.name = "log_max_partitions",
	 .type = SL_CONFIG_INT,
	 .def = "4096",
	 .metavar = "N",
	 .help = "Durable partitions one worker can own at once.",
	 FIELD(log_max_partitions),
	 .min = 1,
	 .max = 65536},
	{.name = "log_queue",
	 .type = SL_CONFIG_INT,
	 .def = "8192",
	 .metavar = "N",
	 .help = "Durable partitions: produce requests a worker queues before answering "
		 "OVERLOADED (the producer backs off; nothing is dropped).",
	 FIELD(log_queue),
	 .min = 1,
	 .max = 16777216},
	{.name = "log_max_inflight",
	 .type = SL_CONFIG_INT,
	 .def = "4096",
	 .metavar = "N",
	 .help = "Durable partitions: produce requests one connection may have unanswered; more "
		 "are answered OVERLOADED.",
	 FIELD(log_max_inflight),
	 .min = 1,
	 .max = 1048576},
	{.name = "log_max_producers",
	 .type = SL_CONFIG_INT,
	 .def = "64",
	 .metavar = "N",
	 .help = "Durable partitions: idempotent producers each partition remembers (about 200 "
		 "bytes each); a new one beyond that replaces the least recently used, whose "
		 "retries would then be stored again (counted in producers_evicted).",
	 FIELD(log_max_producers),
	 .min = 1,
	 .max = 65536},
	{.name = "log_sub_window",
	 .type = SL_CONFIG_BYTES,
	 .def = "1MiB",
	 .metavar = "SIZE",
	 .help = "Durable partitions: bytes a subscription may have sent and not yet "
		 "acknowledged; a consumer that stops reading stalls there, alone.",
	 FIELD(log_sub_window),
	 .min = 4 * KIB,
	 .max = GIB},
	{.name = "metalog_segment_bytes",
	 .type = SL_CONFIG_BYTES,
	 .def = "1MiB",
	 .metavar = "SIZE",
	 .help = "Size of a metadata log segment file (DATA_DIR/metalog), the unit retention "
		 "trims: smaller files bound start-up recovery closer to the retained data, larger "
		 "ones mean fewer files and rolls (see docs/metalog.md).",
	 FIELD(metalog_segment_bytes),
	 .min = 64 * KIB,
	 .max = GIB},
	{.name = "log_gc_grace",
	 .type = SL_CONFIG_DURATION,
	 .def = "60s",
	 .metavar = "DURATION",
	 .help = "Durable partitions: a batch object that retention left without any segment is "
		 "deleted this long afterwards, not at once, so that a read that found it just "
		 "before can still finish.",
	 FIELD(log_gc_grace_ns),
	 .min = 0,
	 .max = 24 * 3600 * NS_PER_SEC},
	{.name = "shard_weights",
	 .type = SL_CONFIG_LIST,
	 .def = "",
	 .def_doc = "empty (every worker the same)",
	 .metavar = "W",
	 .help = "Relative share of tracks each worker owns, one weight per worker in order "
		 "(e.g. 1,2,2,2 gives worker 0 half the tracks of the others; 0 gives it none). "
		 "The control plane turns it into the shard map every worker reads.",
	 FIELD(shard_weights),
	 .check = check_weight},
	{.name = "poll_idle_us",
	 .type = SL_CONFIG_U64,
	 .def = "100",
	 .metavar = "US",
	 .help = "Idle back-off of a poll loop that nothing wakes, in microseconds: a DPDK "
		 "worker sleeps this long, doubling while it stays idle up to 8 times this; a "
		 "worker woken by its socket and doorbell sleeps until its next deadline instead, "
		 "and only work nothing wakes it for (datagrams the kernel refused, messages "
		 "waiting for a full ring) brings it back after this long; an io lcore with I/O in "
		 "flight reaps at this interval when its io_uring cannot ring it. 0 spins (lowest "
		 "latency, one full core per lcore).",
	 FIELD(poll_idle_us),
	 .min = 0,
	 .max = 1000000,
	 .flags = SL_CONFIG_RUNTIME},
	{.name = "trace_sample",
	 .type = SL_CONFIG_U64,
	 .def = "0",
	 .metavar = "N",
	 .help = "Latency breakdown: each worker traces one benchmark frame in N (frames "
		 "stamped by shardline-bench or shardctl pub, by frame number) and counts in "
		 "shardctl status where its time went inside the relay (relay_rx, mirrored, "
		 "queued, sent). 0 turns it off; shardline-bench fanout --breakdown sets it for "
		 "its "
		 "run.",
	 FIELD(trace_sample),
	 .min = 0,
	 .max = 1000000,
	 .flags = SL_CONFIG_RUNTIME},
	{.name = "log_level",
	 .type = SL_CONFIG_STRING,
	 .def = "notice",
	 .metavar = "LEVEL",
	 .help = "Level of every shardline log module.",
	 FIELD(log_level),
	 .choices = "emerg|alert|crit|err|warning|notice|info|debug",
	 .flags = SL_CONFIG_RUNTIME},
	{.name = "hugepages",
	 .type = SL_CONFIG_BOOL,
	 .def = "true",
	 .metavar = "BOOL",
	 .help = "Back DPDK memory with hugepages. --no-hugepages runs the EAL with --no-huge "
		 "(CI, VMs, laptops).",
	 FIELD(hugepages)},
	{.name = "dpdk_devices",
	 .type = SL_CONFIG_LIST,
	 .def = "",
	 .def_doc = "empty (every device the EAL probed)",
	 .metavar = "NAME",
	 .help = "DPDK driver: ethdev devices to use, by name (net_af_packet0, 0000:01:00.0). "
		 "Devices themselves are given to the EAL after '--' (-a PCI, --vdev ...).",
	 FIELD(dpdk_devices)},
	{.name = "dpdk_neighbours",
	 .type = SL_CONFIG_LIST,
	 .def = "",
	 .metavar = "IP=MAC",
	 .help = "DPDK driver: static neighbour entries, IP=MAC[@DEV] (IPv6 in brackets), for "
		 "on-link hosts the appliance sends to before hearing from them. Others are "
		 "learned from ARP and neighbour discovery; peers that send datagrams are "
		 "answered through the next hop those came from.",
	 FIELD(dpdk_neighbours),
	 .check = check_neighbour},
	{.name = "dpdk_mbufs",
	 .type = SL_CONFIG_U64,
	 .def = "0",
	 .def_doc = "0 (sized from workers, devices and descriptors)",
	 .metavar = "N",
	 .help = "DPDK driver: packet buffers per NUMA socket.",
	 FIELD(dpdk_mbufs),
	 .min = 0,
	 .max = 16777216},
	{.name = "dpdk_rx_desc",
	 .type = SL_CONFIG_INT,
	 .def = "1024",
	 .metavar = "N",
	 .help = "DPDK driver: receive descriptors per queue (the device may round it).",
	 FIELD(dpdk_rx_desc),
	 .min = 64,
	 .max = 32768},
	{.name = "dpdk_tx_desc",
	 .type = SL_CONFIG_INT,
	 .def = "1024",
	 .metavar = "N",
	 .help = "DPDK driver: transmit descriptors per queue (the device may round it).",
	 FIELD(dpdk_tx_desc),
	 .min = 64,
	 .max = 32768},
	{.name = "dpdk_mtu",
	 .type = SL_CONFIG_INT,
	 .def = "1500",
	 .metavar = "BYTES",
	 .help = "DPDK driver: MTU set on every device (QUIC datagrams are at most 1452 bytes, so "
		 "1500 is enough).",
	 FIELD(dpdk_mtu),
	 .min = 1280,
	 .max = 9600},
	{.name = "dpdk_offload",
	 .type = SL_CONFIG_BOOL,
	 .def = "true",
	 .metavar = "BOOL",
	 .help = "DPDK driver: let devices compute and check IPv4 and UDP checksums where they "
		 "can; --no-dpdk-offload computes them in software.",
	 FIELD(dpdk_offload)},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

const struct sl_config_setting *sl_config_settings(size_t *count)
{
	if (count)
		*count = NSETTINGS;
	return settings;
}

/* Compares a setting name with user text where '-' and '_' are the same character, so that
 * `--cache-age`, `cache-age = ...` and `config get cache_age` all find cache_age. The text
 * ends at NUL or at len characters. */
static bool name_eq(const char *name, const char *text, size_t len)
{
	size_t i;
	for (i = 0; i < len && text[i] != '\0'; i++) {
		char a = name[i], b = text[i];
		if (a == '\0')
			return false;
		if (b == '-')
			b = '_';
		if (a != b)
			return false;
	}
	return name[i] == '\0';
}

static const struct sl_config_setting *find_n(const char *name, size_t len)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (name_eq(settings[i].name, name, len))
			return &settings[i];
	return NULL;
}

const struct sl_config_setting *sl_config_find(const char *name)
{
	return name ? find_n(name, strlen(name)) : NULL;
}

static void *field(struct sl_config *c, const struct sl_config_setting *s)
{
	return (char *)c + s->offset;
}

static const void *cfield(const struct sl_config *c, const struct sl_config_setting *s)
{
	return (const char *)c + s->offset;
}

/* ---- value parsers ---------------------------------------------------------------------- */

/* Parses a run of decimal digits at *p, advancing it. Returns SL_EINVAL when there is none and
 * SL_ERANGE on overflow. */
static int parse_digits(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	if (!isdigit((unsigned char)*s))
		return SL_EINVAL;
	while (isdigit((unsigned char)*s)) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return SL_ERANGE;
		v = v * 10 + d;
		s++;
	}
	*p = s;
	*out = v;
	return 0;
}

static int mul_add(uint64_t *acc, uint64_t n, uint64_t unit)
{
	if (unit != 0 && n > UINT64_MAX / unit)
		return SL_ERANGE;
	if (*acc > UINT64_MAX - n * unit)
		return SL_ERANGE;
	*acc += n * unit;
	return 0;
}

int sl_config_parse_duration(const char *text, uint64_t *ns)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {
		{"ns", 1},
		{"us", NS_PER_US},
		{"\xc2\xb5s", NS_PER_US},
		{"ms", NS_PER_MS},
		{"s", NS_PER_SEC},
		{"m", 60 * NS_PER_SEC},
		{"h", 3600 * NS_PER_SEC},
		{"d", 86400 * NS_PER_SEC},
	};
	if (text == NULL || *text == '\0')
		return SL_EINVAL;
	const char *p = text;
	uint64_t total = 0, n;
	int rc = parse_digits(&p, &n);
	if (rc < 0)
		return rc;
	/* A bare number is seconds: libconfig files naturally say `cache_age = 30;`. */
	if (*p == '\0')
		return mul_add(&total, n, NS_PER_SEC) < 0 ? SL_ERANGE : (*ns = total, 0);
	for (;;) {
		size_t ulen = 0;
		while (p[ulen] != '\0' && !isdigit((unsigned char)p[ulen]))
			ulen++;
		size_t i;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strlen(units[i].unit) == ulen && strncmp(units[i].unit, p, ulen) == 0)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			return SL_EINVAL;
		if (mul_add(&total, n, units[i].ns) < 0)
			return SL_ERANGE;
		p += ulen;
		if (*p == '\0')
			break;
		rc = parse_digits(&p, &n);
		if (rc < 0)
			return rc;
		if (*p == '\0') /* "1m30" : a trailing number without its unit */
			return SL_EINVAL;
	}
	*ns = total;
	return 0;
}

int sl_config_parse_bytes(const char *text, uint64_t *bytes)
{
	if (text == NULL || *text == '\0')
		return SL_EINVAL;
	const char *p = text;
	uint64_t n;
	int rc = parse_digits(&p, &n);
	if (rc < 0)
		return rc;
	while (*p == ' ')
		p++;
	char u[8];
	size_t ulen = strlen(p);
	if (ulen >= sizeof(u))
		return SL_EINVAL;
	for (size_t i = 0; i <= ulen; i++)
		u[i] = (char)tolower((unsigned char)p[i]);
	uint64_t mult;
	if (ulen == 0 || strcmp(u, "b") == 0) {
		mult = 1;
	} else {
		uint64_t bin, dec;
		switch (u[0]) {
		case 'k':
			bin = KIB, dec = UINT64_C(1000);
			break;
		case 'm':
			bin = MIB, dec = UINT64_C(1000000);
			break;
		case 'g':
			bin = GIB, dec = UINT64_C(1000000000);
			break;
		case 't':
			bin = TIB, dec = UINT64_C(1000000000000);
			break;
		default:
			return SL_EINVAL;
		}
		const char *rest = u + 1;
		if (*rest == '\0' || strcmp(rest, "i") == 0 || strcmp(rest, "ib") == 0)
			mult = bin;
		else if (strcmp(rest, "b") == 0)
			mult = dec;
		else
			return SL_EINVAL;
	}
	uint64_t total = 0;
	if (mul_add(&total, n, mult) < 0)
		return SL_ERANGE;
	*bytes = total;
	return 0;
}

int sl_config_format_duration(uint64_t ns, char *out, size_t size)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {
		{"h", 3600 * NS_PER_SEC}, {"m", 60 * NS_PER_SEC}, {"s", NS_PER_SEC},
		{"ms", NS_PER_MS},	  {"us", NS_PER_US},	  {"ns", 1},
	};
	if (ns == 0)
		return snprintf(out, size, "0s");
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ns % units[i].ns == 0)
			return snprintf(out, size, "%" PRIu64 "%s", ns / units[i].ns,
					units[i].unit);
	return snprintf(out, size, "%" PRIu64 "ns", ns); /* not reached: 1 divides everything */
}

int sl_config_format_bytes(uint64_t bytes, char *out, size_t size)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = {{"TiB", TIB}, {"GiB", GIB}, {"MiB", MIB}, {"KiB", KIB}};
	if (bytes != 0)
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (bytes % units[i].mult == 0)
				return snprintf(out, size, "%" PRIu64 "%s", bytes / units[i].mult,
						units[i].unit);
	return snprintf(out, size, "%" PRIu64, bytes);
}

int sl_config_parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len, char *err,
			 size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_text;
	memset(ss, 0, sizeof(*ss));
	if (text == NULL || *text == '\0') {
		snprintf(err, errlen, "the address is empty");
		return SL_EINVAL;
	}
	bool v6 = text[0] == '[';
	if (v6) {
		const char *close = strchr(text, ']');
		if (close == NULL || close[1] != ':') {
			snprintf(err, errlen, "an IPv6 address is written [ADDR]:PORT");
			return SL_EINVAL;
		}
		size_t hl = (size_t)(close - text - 1);
		if (hl == 0 || hl >= sizeof(host)) {
			snprintf(err, errlen, "bad IPv6 address");
			return SL_EINVAL;
		}
		memcpy(host, text + 1, hl);
		host[hl] = '\0';
		port_text = close + 2;
	} else {
		const char *colon = strrchr(text, ':');
		if (colon == NULL) {
			snprintf(err, errlen, "expected IP:PORT");
			return SL_EINVAL;
		}
		if (strchr(text, ':') != colon) {
			snprintf(err, errlen, "an IPv6 address is written [ADDR]:PORT");
			return SL_EINVAL;
		}
		size_t hl = (size_t)(colon - text);
		if (hl == 0 || hl >= sizeof(host)) {
			snprintf(err, errlen, "bad IPv4 address");
			return SL_EINVAL;
		}
		memcpy(host, text, hl);
		host[hl] = '\0';
		port_text = colon + 1;
	}
	uint64_t port;
	const char *p = port_text;
	if (parse_digits(&p, &port) < 0 || *p != '\0' || port > 65535) {
		snprintf(err, errlen, "the port must be a number from 0 to 65535");
		return SL_EINVAL;
	}
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
			snprintf(err, errlen, "'%s' is not an IPv6 address", host);
			return SL_EINVAL;
		}
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
			snprintf(err, errlen, "'%s' is not an IPv4 address", host);
			return SL_EINVAL;
		}
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
	}
	return 0;
}

/* ---- setting one value ------------------------------------------------------------------ */

/* Describes what a setting accepts, for error messages and --help. */
static void accepted(const struct sl_config_setting *s, char *out, size_t size)
{
	char lo[32], hi[32];
	switch (s->type) {
	case SL_CONFIG_STRING:
		if (s->choices) {
			/* "socket|dpdk" reads as "socket, dpdk", and stays out of the way of
			 * Markdown's table bars. */
			int n = snprintf(out, size, "one of ");
			for (const char *p = s->choices; *p && (size_t)n + 3 < size; p++) {
				if (*p == '|') {
					out[n++] = ',';
					out[n++] = ' ';
				} else {
					out[n++] = *p;
				}
			}
			out[n] = '\0';
		} else if (s->check == check_admin) {
			snprintf(out, size, "a path of at most %zu bytes",
				 sizeof(((struct sockaddr_un *)0)->sun_path) - 25);
		} else {
			snprintf(out, size, "a string of at most %zu bytes", s->size - 1);
		}
		break;
	case SL_CONFIG_INT:
	case SL_CONFIG_U64:
		snprintf(out, size, "an integer from %" PRIu64 " to %" PRIu64, s->min, s->max);
		break;
	case SL_CONFIG_BOOL:
		snprintf(out, size, "true or false");
		break;
	case SL_CONFIG_DURATION:
		sl_config_format_duration(s->min, lo, sizeof(lo));
		sl_config_format_duration(s->max, hi, sizeof(hi));
		snprintf(out, size, "a duration such as 30s, 500ms or 2m, from %s to %s", lo, hi);
		break;
	case SL_CONFIG_BYTES:
		sl_config_format_bytes(s->min, lo, sizeof(lo));
		sl_config_format_bytes(s->max, hi, sizeof(hi));
		snprintf(out, size, "a size such as 64MiB, 1G or 4096, from %s to %s", lo, hi);
		break;
	case SL_CONFIG_LIST:
		snprintf(out, size, "up to %d comma-separated %ss", SL_CONFIG_LIST_MAX,
			 s->metavar ? s->metavar : "value");
		break;
	}
}

static int bad_value(const struct sl_config_setting *s, const char *value, int rc, const char *why,
		     char *err, size_t errlen)
{
	char acc[160];
	accepted(s, acc, sizeof(acc));
	if (why && *why)
		snprintf(err, errlen, "bad value '%s' for %s: %s", value, s->name, why);
	else if (rc == SL_ERANGE)
		snprintf(err, errlen, "value '%s' for %s is out of range: expected %s", value,
			 s->name, acc);
	else
		snprintf(err, errlen, "bad value '%s' for %s: expected %s", value, s->name, acc);
	return rc;
}

static bool in_choices(const char *choices, const char *v)
{
	size_t vl = strlen(v);
	const char *p = choices;
	while (*p) {
		const char *bar = strchr(p, '|');
		size_t l = bar ? (size_t)(bar - p) : strlen(p);
		if (l == vl && strncmp(p, v, l) == 0)
			return true;
		if (!bar)
			break;
		p = bar + 1;
	}
	return false;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(v, no[i]) == 0)
			return *out = false, 0;
	}
	return SL_EINVAL;
}

static int set_list(struct sl_config *c, const struct sl_config_setting *s, const char *value,
		    bool append, char *err, size_t errlen)
{
	/* Unused bytes stay zero so two configurations can be compared with memcmp. */
	struct sl_config_list l;
	if (append)
		memcpy(&l, field(c, s), sizeof(l));
	else
		memset(&l, 0, sizeof(l));
	const char *p = value;
	/* An empty value empties the list (the default of optional lists such as
	 * dpdk_devices); an empty element inside a list is still an error. */
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' && !append) {
		memcpy(field(c, s), &l, sizeof(l));
		return 0;
	}
	p = value;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		while (n > 0 && isspace((unsigned char)*p))
			p++, n--;
		while (n > 0 && isspace((unsigned char)p[n - 1]))
			n--;
		char item[SL_CONFIG_ADDR_MAX];
		if (n >= sizeof(item)) {
			snprintf(err, errlen, "bad value '%.*s' for %s: longer than %zu bytes",
				 (int)n, p, s->name, sizeof(item) - 1);
			return SL_ENOSPC;
		}
		memcpy(item, p, n);
		item[n] = '\0';
		if (n == 0) {
			snprintf(err, errlen, "bad value '%s' for %s: empty element", value,
				 s->name);
			return SL_EINVAL;
		}
		if (s->check) {
			char why[160];
			int rc = s->check(item, why, sizeof(why));
			if (rc < 0)
				return bad_value(s, item, rc, why, err, errlen);
		}
		if (l.count == SL_CONFIG_LIST_MAX) {
			snprintf(err, errlen, "too many values for %s: at most %d", s->name,
				 SL_CONFIG_LIST_MAX);
			return SL_ENOSPC;
		}
		memcpy(l.item[l.count++], item, n + 1);
		if (!comma)
			break;
		p = comma + 1;
	}
	memcpy(field(c, s), &l, sizeof(l));
	return 0;
}

static int set_value(struct sl_config *c, const struct sl_config_setting *s, const char *value,
		     bool append, char *err, size_t errlen)
{
	uint64_t v = 0;
	int rc = 0;
	if (value == NULL)
		value = "";
	switch (s->type) {
	case SL_CONFIG_LIST:
		return set_list(c, s, value, append, err, errlen);
	case SL_CONFIG_STRING: {
		size_t n = strlen(value);
		if (n >= s->size) {
			snprintf(err, errlen, "bad value for %s: longer than %zu bytes", s->name,
				 s->size - 1);
			return SL_ENOSPC;
		}
		if (s->choices && !in_choices(s->choices, value))
			return bad_value(s, value, SL_EINVAL, NULL, err, errlen);
		if (s->check) {
			char why[160];
			rc = s->check(value, why, sizeof(why));
			if (rc < 0)
				return bad_value(s, value, rc, why, err, errlen);
		}
		memset(field(c, s), 0, s->size);
		memcpy(field(c, s), value, n);
		return 0;
	}
	case SL_CONFIG_BOOL: {
		bool b;
		if (parse_bool(value, &b) < 0)
			return bad_value(s, value, SL_EINVAL, NULL, err, errlen);
		*(bool *)field(c, s) = b;
		return 0;
	}
	case SL_CONFIG_INT:
	case SL_CONFIG_U64: {
		const char *p = value;
		rc = parse_digits(&p, &v);
		if (rc == 0 && *p != '\0')
			rc = SL_EINVAL;
		break;
	}
	case SL_CONFIG_DURATION:
		rc = sl_config_parse_duration(value, &v);
		break;
	case SL_CONFIG_BYTES:
		rc = sl_config_parse_bytes(value, &v);
		break;
	}
	if (rc == 0 && (s->min != 0 || s->max != 0) && (v < s->min || v > s->max))
		rc = SL_ERANGE;
	if (rc < 0)
		return bad_value(s, value, rc, NULL, err, errlen);
	if (s->type == SL_CONFIG_INT)
		*(int *)field(c, s) = (int)v;
	else
		*(uint64_t *)field(c, s) = v;
	return 0;
}

int sl_config_set(struct sl_config *c, const char *name, const char *value, bool append, char *err,
		  size_t errlen)
{
	const struct sl_config_setting *s = sl_config_find(name);
	if (s == NULL) {
		snprintf(err, errlen, "unknown setting '%s'", name ? name : "(null)");
		return SL_ENOTFOUND;
	}
	return set_value(c, s, value, append, err, errlen);
}

static int format_setting(const struct sl_config *c, const struct sl_config_setting *s, char *out,
			  size_t size)
{
	const void *f = cfield(c, s);
	switch (s->type) {
	case SL_CONFIG_STRING:
		return snprintf(out, size, "%s", (const char *)f);
	case SL_CONFIG_INT:
		return snprintf(out, size, "%d", *(const int *)f);
	case SL_CONFIG_U64:
		return snprintf(out, size, "%" PRIu64, *(const uint64_t *)f);
	case SL_CONFIG_BOOL:
		return snprintf(out, size, "%s", *(const bool *)f ? "true" : "false");
	case SL_CONFIG_DURATION:
		return sl_config_format_duration(*(const uint64_t *)f, out, size);
	case SL_CONFIG_BYTES:
		return sl_config_format_bytes(*(const uint64_t *)f, out, size);
	case SL_CONFIG_LIST: {
		const struct sl_config_list *l = f;
		size_t total = 0;
		if (size > 0)
			out[0] = '\0';
		for (unsigned i = 0; i < l->count; i++) {
			size_t off = total < size ? total : size;
			total += (size_t)snprintf(out + off, size - off, "%s%s", i ? "," : "",
						  l->item[i]);
		}
		return (int)total;
	}
	}
	return SL_EINVAL;
}

int sl_config_format(const struct sl_config *c, const char *name, char *out, size_t size)
{
	const struct sl_config_setting *s = sl_config_find(name);
	if (s == NULL)
		return SL_ENOTFOUND;
	return format_setting(c, s, out, size);
}

void sl_config_default_admin(char *out, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (geteuid() == 0)
		snprintf(out, size, "/run/shardline/admin.sock");
	else if (xdg && xdg[0] == '/')
		snprintf(out, size, "%s/shardline/admin.sock", xdg);
	else
		snprintf(out, size, "/tmp/shardline-%u/admin.sock", (unsigned)geteuid());
}

void sl_config_default_data_dir(char *out, size_t size)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	if (geteuid() == 0)
		snprintf(out, size, "/var/lib/shardline");
	else if (xdg && xdg[0] == '/')
		snprintf(out, size, "%s/shardline", xdg);
	else if (home && home[0] == '/')
		snprintf(out, size, "%s/.local/share/shardline", home);
	else
		snprintf(out, size, "/tmp/shardline-%u/data", (unsigned)geteuid());
}

void sl_config_default(struct sl_config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct sl_config_setting *s = &settings[i];
		char buf[SL_CONFIG_STR_MAX], err[256];
		const char *def = s->def;
		if (s->def_fn) {
			s->def_fn(buf, sizeof(buf));
			def = buf;
		}
		/* The table's defaults go through the same parser as operator input; the unit
		 * tests prove each one parses, so a failure here can only be a computed default
		 * that does not fit (a very long $XDG_RUNTIME_DIR), which leaves the field empty
		 * for sl_config_check to report. */
		(void)set_value(c, s, def, false, err, sizeof(err));
	}
}

/* ---- libconfig files -------------------------------------------------------------------- */

static const char *ltype_name(int t)
{
	switch (t) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a floating-point number";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
	case CONFIG_TYPE_LIST:
		return "a list";
	case CONFIG_TYPE_GROUP:
		return "a group";
	}
	return "an unknown type";
}

static const char *want_name(enum sl_config_type t)
{
	switch (t) {
	case SL_CONFIG_STRING:
		return "a string";
	case SL_CONFIG_INT:
	case SL_CONFIG_U64:
		return "an integer";
	case SL_CONFIG_BOOL:
		return "true or false";
	case SL_CONFIG_DURATION:
		return "a duration string such as \"30s\" or an integer of seconds";
	case SL_CONFIG_BYTES:
		return "a size string such as \"64MiB\" or an integer of bytes";
	case SL_CONFIG_LIST:
		return "a string or a list of strings";
	}
	return "?";
}

/* Turns one scalar libconfig value into the text the flag parser accepts, checking that its
 * type fits the setting. Returns 0 or SL_EINVAL. */
static int scalar_text(const config_setting_t *cs, const struct sl_config_setting *s, char *buf,
		       size_t size, const char **out)
{
	int t = config_setting_type(cs);
	bool ok;
	switch (s->type) {
	case SL_CONFIG_STRING:
	case SL_CONFIG_LIST:
		ok = t == CONFIG_TYPE_STRING;
		break;
	case SL_CONFIG_INT:
	case SL_CONFIG_U64:
		ok = t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
		break;
	case SL_CONFIG_BOOL:
		ok = t == CONFIG_TYPE_BOOL;
		break;
	default:
		ok = t == CONFIG_TYPE_STRING || t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
		break;
	}
	if (!ok)
		return SL_EINVAL;
	switch (t) {
	case CONFIG_TYPE_STRING:
		*out = config_setting_get_string(cs);
		break;
	case CONFIG_TYPE_BOOL:
		*out = config_setting_get_bool(cs) ? "true" : "false";
		break;
	default:
		/* Negative numbers are kept as text so the parser rejects them with the value. */
		snprintf(buf, size, "%lld", config_setting_get_int64(cs));
		*out = buf;
		break;
	}
	return 0;
}

static int load_config(struct sl_config *c, config_t *lc, const char *origin, char *err,
		       size_t errlen)
{
	config_setting_t *root = config_root_setting(lc);
	int n = config_setting_length(root);
	for (int i = 0; i < n; i++) {
		config_setting_t *cs = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(cs);
		const char *file = config_setting_source_file(cs);
		unsigned line = config_setting_source_line(cs);
		if (file == NULL)
			file = origin;
		const struct sl_config_setting *s = sl_config_find(name);
		if (s == NULL) {
			snprintf(err, errlen, "%s:%u: unknown setting '%s'", file, line, name);
			return SL_EINVAL;
		}
		char msg[384], num[32];
		const char *text;
		int rc = 0;
		int t = config_setting_type(cs);
		if (s->type == SL_CONFIG_LIST &&
		    (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST)) {
			int m = config_setting_length(cs);
			memset(field(c, s), 0, sizeof(struct sl_config_list));
			for (int j = 0; j < m && rc == 0; j++) {
				config_setting_t *e = config_setting_get_elem(cs, (unsigned)j);
				if (config_setting_type(e) != CONFIG_TYPE_STRING) {
					snprintf(err, errlen,
						 "%s:%u: %s: expected %s, got a list "
						 "holding %s",
						 file, line, s->name, want_name(s->type),
						 ltype_name(config_setting_type(e)));
					return SL_EINVAL;
				}
				rc = set_value(c, s, config_setting_get_string(e), true, msg,
					       sizeof(msg));
			}
		} else if (scalar_text(cs, s, num, sizeof(num), &text) < 0) {
			snprintf(err, errlen, "%s:%u: %s: expected %s, got %s", file, line, s->name,
				 want_name(s->type), ltype_name(t));
			return SL_EINVAL;
		} else {
			rc = set_value(c, s, text, false, msg, sizeof(msg));
		}
		if (rc < 0) {
			snprintf(err, errlen, "%s:%u: %s", file, line, msg);
			return rc;
		}
	}
	return 0;
}

static int finish_read(config_t *lc, int ok, const char *origin, struct sl_config *c, char *err,
		       size_t errlen)
{
	int rc;
	if (ok != CONFIG_TRUE) {
		const char *file = config_error_file(lc);
		if (config_error_type(lc) == CONFIG_ERR_FILE_IO) {
			snprintf(err, errlen, "cannot read config file %s: %s", origin,
				 strerror(errno));
			rc = SL_EIO;
		} else {
			snprintf(err, errlen, "%s:%d: %s", file ? file : origin,
				 config_error_line(lc), config_error_text(lc));
			rc = SL_EINVAL;
		}
	} else {
		rc = load_config(c, lc, origin, err, errlen);
	}
	config_destroy(lc);
	return rc;
}

int sl_config_load_file(struct sl_config *c, const char *path, char *err, size_t errlen)
{
	config_t lc;
	config_init(&lc);
	errno = 0;
	int ok = config_read_file(&lc, path);
	return finish_read(&lc, ok, path, c, err, errlen);
}

int sl_config_load_string(struct sl_config *c, const char *text, const char *origin, char *err,
			  size_t errlen)
{
	config_t lc;
	config_init(&lc);
	int ok = config_read_string(&lc, text);
	return finish_read(&lc, ok, origin, c, err, errlen);
}

/* ---- command line ----------------------------------------------------------------------- */

int sl_config_parse_args(struct sl_config *c, int argc, char **argv, struct sl_config_args *out,
			 char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	sl_config_default(c);
	int end = argc;
	/* First pass: find --config, --help and --version, wherever they are, because the file
	 * must be applied before every flag no matter where --config appears. */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0 || a[0] != '-') {
			end = i;
			break;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			out->help = true;
		} else if (strcmp(a, "--version") == 0) {
			out->version = true;
		} else if (strcmp(a, "--config") == 0) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "flag --config needs a value (FILE)");
				return SL_EINVAL;
			}
			out->config_path = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			out->config_path = a + 9;
		} else if (strncmp(a, "--", 2) == 0) {
			/* Skip a setting's separate value so it is not taken for the end of the
			 * options ("--data-dir /x" then a positional argument). */
			const char *nm = a + 2;
			const struct sl_config_setting *s = find_n(nm, strcspn(nm, "="));
			if (s && s->type != SL_CONFIG_BOOL && strchr(nm, '=') == NULL)
				i++;
		}
	}
	out->next = end < argc && strcmp(argv[end], "--") == 0 ? end + 1 : end;
	if (out->help || out->version)
		return 0;
	if (out->config_path) {
		int rc = sl_config_load_file(c, out->config_path, err, errlen);
		if (rc < 0)
			return rc;
	}
	bool seen[NSETTINGS] = {false};
	for (int i = 1; i < end; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0) {
			snprintf(err, errlen,
				 "unknown option %s (settings are --name VALUE; see "
				 "--help)",
				 a);
			return SL_EINVAL;
		}
		const char *nm = a + 2;
		const char *eq = strchr(nm, '=');
		size_t nlen = eq ? (size_t)(eq - nm) : strlen(nm);
		if (name_eq("config", nm, nlen)) {
			if (!eq)
				i++;
			continue;
		}
		const struct sl_config_setting *s = find_n(nm, nlen);
		const char *value = eq ? eq + 1 : NULL;
		if (s == NULL && nlen > 3 && strncmp(nm, "no-", 3) == 0) {
			s = find_n(nm + 3, nlen - 3);
			if (s && s->type == SL_CONFIG_BOOL && !eq) {
				value = "false";
			} else {
				s = NULL;
			}
		}
		if (s == NULL) {
			snprintf(err, errlen, "unknown flag --%.*s (see --help for the settings)",
				 (int)nlen, nm);
			return SL_EINVAL;
		}
		if (value == NULL && s->type == SL_CONFIG_BOOL)
			value = "true";
		if (value == NULL) {
			if (i + 1 >= end) {
				snprintf(err, errlen, "flag --%.*s needs a value (%s)", (int)nlen,
					 nm, s->metavar ? s->metavar : "VALUE");
				return SL_EINVAL;
			}
			value = argv[++i];
		}
		size_t idx = (size_t)(s - settings);
		int rc = set_value(c, s, value, seen[idx], err, errlen);
		if (rc < 0)
			return rc;
		seen[idx] = true;
	}
	return sl_config_check(c, err, errlen);
}

int sl_config_check(const struct sl_config *c, char *err, size_t errlen)
{
	if ((c->cert[0] == '\0') != (c->key[0] == '\0')) {
		snprintf(err, errlen, "cert and key must be given together (cert='%s', key='%s')",
			 c->cert, c->key);
		return SL_EINVAL;
	}
	if (c->listen.count == 0) {
		snprintf(err, errlen, "listen: at least one address is needed");
		return SL_EINVAL;
	}
	if (c->admin[0] == '\0') {
		snprintf(err, errlen, "admin: the admin socket path is empty");
		return SL_EINVAL;
	}
	/* The DPDK driver answers ARP and neighbour discovery for its addresses, so it needs
	 * real ones; the kernel would have resolved a wildcard for the socket driver. */
	for (unsigned i = 0; strcmp(c->driver, "dpdk") == 0 && i < c->listen.count; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		if (sl_config_parse_addr(c->listen.item[i], &ss, &len, err, errlen) != 0)
			return SL_EINVAL;
		bool any =
			ss.ss_family == AF_INET
				? ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY)
				: IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr);
		if (any) {
			snprintf(err, errlen,
				 "listen: the dpdk driver needs the address the appliance answers "
				 "for, not the wildcard %s",
				 c->listen.item[i]);
			return SL_EINVAL;
		}
	}
	return 0;
}

/* ---- help ------------------------------------------------------------------------------- */

static const char *type_name(enum sl_config_type t)
{
	static const char *const names[] = {"string",	"int",	 "uint64", "bool",
					    "duration", "bytes", "list"};
	return names[t];
}

/* Writes text wrapped at 78 columns, each line indented by indent spaces. */
static void wrap(FILE *f, const char *text, int indent)
{
	const int width = 78 - indent;
	const char *p = text;
	while (*p) {
		int len = (int)strlen(p);
		int cut = len;
		if (len > width) {
			cut = width;
			while (cut > 0 && p[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = width;
		}
		fprintf(f, "%*s%.*s\n", indent, "", cut, p);
		p += cut;
		while (*p == ' ')
			p++;
	}
}

static void default_text(const struct sl_config_setting *s, char *out, size_t size)
{
	if (s->def_fn)
		s->def_fn(out, size);
	else
		snprintf(out, size, "%s", s->def);
}

void sl_config_help(FILE *f, const char *prog)
{
	fprintf(f, "Usage: %s [OPTIONS]\n\n", prog);
	fprintf(f, "Options:\n");
	fprintf(f, "  --config FILE\n");
	wrap(f,
	     "Read settings from a libconfig file (`name = value;` per line). Flags given on "
	     "the command line override it.",
	     6);
	fprintf(f, "  -h, --help\n      Print this help and exit.\n");
	fprintf(f, "  --version\n      Print the version and exit.\n\n");
	fprintf(f, "Settings (as flags with dashes, or in the config file with underscores):\n");
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct sl_config_setting *s = &settings[i];
		char flag[64], def[SL_CONFIG_STR_MAX], acc[160], line[1024];
		snprintf(flag, sizeof(flag), "%s", s->name);
		for (char *p = flag; *p; p++)
			if (*p == '_')
				*p = '-';
		if (s->type == SL_CONFIG_BOOL)
			fprintf(f, "  --%s, --no-%s\n", flag, flag);
		else
			fprintf(f, "  --%s %s\n", flag, s->metavar ? s->metavar : "VALUE");
		default_text(s, def, sizeof(def));
		accepted(s, acc, sizeof(acc));
		snprintf(line, sizeof(line), "%s Accepts %s. Default: %s.%s", s->help, acc,
			 def[0] ? def : "(empty)",
			 s->flags & SL_CONFIG_RUNTIME ? " Settable at runtime." : "");
		wrap(f, line, 6);
	}
}

void sl_config_markdown(FILE *f)
{
	fprintf(f, "| setting | flag | type | default | runtime | description |\n");
	fprintf(f, "|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct sl_config_setting *s = &settings[i];
		char flag[64], acc[160];
		snprintf(flag, sizeof(flag), "%s", s->name);
		for (char *p = flag; *p; p++)
			if (*p == '_')
				*p = '-';
		accepted(s, acc, sizeof(acc));
		const char *def = s->def_doc ? s->def_doc : s->def;
		fprintf(f, "| `%s` | `--%s%s%s` | %s | %s%s%s | %s | %s Accepts %s. |\n", s->name,
			flag, s->type == SL_CONFIG_BOOL ? "" : " ",
			s->type == SL_CONFIG_BOOL ? "" : (s->metavar ? s->metavar : "VALUE"),
			type_name(s->type), def[0] && !s->def_doc ? "`" : "",
			def[0] ? def : "(empty)", def[0] && !s->def_doc ? "`" : "",
			s->flags & SL_CONFIG_RUNTIME ? "yes" : "no", s->help, acc);
	}
}

/* ---- helpers for the daemon ------------------------------------------------------------- */

int sl_config_log_level(const struct sl_config *c)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = {
		{"emerg", RTE_LOG_EMERG}, {"alert", RTE_LOG_ALERT},	{"crit", RTE_LOG_CRIT},
		{"err", RTE_LOG_ERR},	  {"warning", RTE_LOG_WARNING}, {"notice", RTE_LOG_NOTICE},
		{"info", RTE_LOG_INFO},	  {"debug", RTE_LOG_DEBUG},
	};
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(c->log_level, levels[i].name) == 0)
			return levels[i].level;
	return RTE_LOG_NOTICE;
}

unsigned sl_config_workers(const struct sl_config *c, unsigned lcore_count)
{
	if (c->workers > 0)
		return (unsigned)c->workers;
	unsigned reserved = 1 + (unsigned)c->io_cores;
	return lcore_count > reserved ? lcore_count - reserved : 1;
}
