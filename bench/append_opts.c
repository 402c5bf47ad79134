/* SPDX-License-Identifier: Apache-2.0 */
/* shardline-bench append's command line (append.h): parsed without I/O, so it is unit-tested. */
#include "append.h"

#include "control/ctl_log.h"
#include "log/proto.h"
#include "log/streamset.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char sl_append_usage[] =
	"Usage: shardline-bench append URL --stream S [options]\n"
	"\n"
	"N producer connections keep K appends (one record each) in flight against a durable\n"
	"store; reports records/s, MB/s, acknowledged and failed records and the ack latency.\n"
	"URL picks the store and its client:\n"
	"  shardline://HOST:PORT  shardlined's durable streams (log protocol, shardline-log-1)\n"
	"  redis://HOST[:PORT]    Redis streams: XADD to key S.<partition>, K pipelined per\n"
	"                         connection (durability: the server's appendfsync)\n"
	"  nats://HOST[:PORT]     a JetStream stream S (file storage, subjects S.<partition>),\n"
	"                         js_PublishAsync with K pending per connection\n"
	"Options:\n"
	"  --stream S            the stream (created when missing; see --admin)\n"
	"  --partitions P        partitions records are spread over (default 1); shardline://\n"
	"                        uses the stream's own count when it already exists\n"
	"  --producers N         producer connections (default 1)\n"
	"  --size BYTES          record size, at least 24: a send-time stamp (default 1024)\n"
	"  --durability D        shardline:// only: applied, written or durable (default)\n"
	"  --in-flight K         appends outstanding per producer (default 1)\n"
	"  --duration S          measured seconds (default 10)\n"
	"  --warmup S            seconds run first and left out of the figures (default 2)\n"
	"  --rate R              shardline:// only: R records/s over all producers (default: as\n"
	"                        fast as acknowledgements allow)\n"
	"  --e2e                 shardline:// only, with --rate: also subscribe to the stream and\n"
	"                        measure produce-to-receive latency\n"
	"  --admin PATH          shardline://: the daemon's admin socket: creates the stream and\n"
	"                        reads the daemon's CPU time per record (without it the stream\n"
	"                        must exist)\n"
	"  --server-pid PID      redis:// and nats://: the server's process, for its CPU time\n"
	"  --json                one JSON object on stdout\n"
	"  --plot FILE           the ack-latency CDF as a PNG (gnuplot), data in FILE.dat\n"
	"Exit status: 0 records acknowledged and none failed, 1 the run failed, 2 bad usage or\n"
	"cannot start.\n";

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* HOST[:PORT] of a peer URL after its scheme; port defaults to dflt. */
static int parse_hostport(const char *rest, uint16_t dflt, struct sl_append_opts *o)
{
	const char *colon = strrchr(rest, ':');
	size_t hlen = colon ? (size_t)(colon - rest) : strlen(rest);
	if (hlen == 0 || hlen >= sizeof(o->host) || strchr(rest, '/') != NULL)
		return -1;
	memcpy(o->host, rest, hlen);
	o->host[hlen] = '\0';
	o->port = dflt;
	if (colon) {
		char *end;
		errno = 0;
		unsigned long p = strtoul(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || p == 0 || p > 65535)
			return -1;
		o->port = (uint16_t)p;
	}
	return 0;
}

int sl_append_parse(int argc, char **argv, struct sl_append_opts *o, char *err, size_t errlen)
{
	static const struct option lo[] = {
		{"stream", required_argument, NULL, 'S'},
		{"partitions", required_argument, NULL, 'p'},
		{"producers", required_argument, NULL, 'n'},
		{"size", required_argument, NULL, 's'},
		{"durability", required_argument, NULL, 'D'},
		{"in-flight", required_argument, NULL, 'k'},
		{"duration", required_argument, NULL, 'd'},
		{"warmup", required_argument, NULL, 'w'},
		{"rate", required_argument, NULL, 'r'},
		{"e2e", no_argument, NULL, 'e'},
		{"admin", required_argument, NULL, 'a'},
		{"server-pid", required_argument, NULL, 'P'},
		{"json", no_argument, NULL, 'j'},
		{"plot", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*o = (struct sl_append_opts){.partitions = 1,
				     .producers = 1,
				     .size = 1024,
				     .in_flight = 1,
				     .duration = 10,
				     .warmup = 2,
				     .durability = SL_LP_DURABLE};
	bool durability_set = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		uint64_t *dst = NULL, min = 1, max = 0;
		switch (c) {
		case 'S':
			o->stream = optarg;
			continue;
		case 'p':
			dst = &o->partitions, max = SL_STREAM_MAX_PARTITIONS;
			break;
		case 'n':
			dst = &o->producers, max = 1024;
			break;
		case 's':
			dst = &o->size, min = SL_REC_STAMP_LEN, max = 1 << 20;
			break;
		case 'k':
			dst = &o->in_flight, max = 65536;
			break;
		case 'd':
			dst = &o->duration, max = 86400;
			break;
		case 'w':
			dst = &o->warmup, min = 0, max = 3600;
			break;
		case 'r':
			dst = &o->rate, max = 10000000;
			break;
		case 'P':
			dst = &o->server_pid, max = 4194304; /* PID_MAX_LIMIT */
			break;
		case 'D':
			durability_set = true;
			if (strcmp(optarg, "applied") == 0)
				o->durability = SL_LP_APPLIED;
			else if (strcmp(optarg, "written") == 0)
				o->durability = SL_LP_WRITTEN;
			else if (strcmp(optarg, "durable") == 0)
				o->durability = SL_LP_DURABLE;
			else
				return fail(err, errlen,
					    "--durability: '%s' is not applied, written or durable",
					    optarg);
			continue;
		case 'e':
			o->e2e = true;
			continue;
		case 'a':
			o->admin = optarg;
			continue;
		case 'j':
			o->json = true;
			continue;
		case 'o':
			o->plot = optarg;
			continue;
		case 'h':
			return 1;
		case ':':
			return fail(err, errlen, "%s needs a value", argv[optind - 1]);
		default:
			return fail(err, errlen, "unknown option '%s'", argv[optind - 1]);
		}
		char *end;
		errno = 0;
		unsigned long long v = strtoull(optarg, &end, 10);
		if (errno || *end || end == optarg || optarg[0] == '-' || v < min || v > max) {
			const char *name = "?";
			for (const struct option *x = lo; x->name; x++)
				if (x->val == c)
					name = x->name;
			return fail(err, errlen, "--%s: '%s' is not a number in %llu..%llu", name,
				    optarg, (unsigned long long)min, (unsigned long long)max);
		}
		*dst = v;
	}
	if (argc - optind != 1)
		return fail(err, errlen, argc - optind == 0 ? "needs a URL" : "takes one URL");
	o->url = argv[optind];
	if (strncmp(o->url, "shardline://", 12) == 0) {
		o->target = SL_APPEND_SHARDLINE;
	} else if (strncmp(o->url, "redis://", 8) == 0) {
		o->target = SL_APPEND_REDIS;
		if (parse_hostport(o->url + 8, 6379, o) != 0)
			return fail(err, errlen, "'%s' is not a redis://HOST[:PORT] URL", o->url);
	} else if (strncmp(o->url, "nats://", 7) == 0) {
		o->target = SL_APPEND_NATS;
		if (parse_hostport(o->url + 7, 4222, o) != 0)
			return fail(err, errlen, "'%s' is not a nats://HOST[:PORT] URL", o->url);
	} else {
		return fail(err, errlen,
			    "'%s' is not a shardline://, redis:// or nats://HOST:PORT URL", o->url);
	}
	if (o->stream == NULL)
		return fail(err, errlen, "--stream S is required");
	/* One name rule for all three: shardline's, which Redis keys and NATS subjects accept
	 * (a dot separates the partition in both). */
	if (!sl_stream_name_valid(o->stream, strlen(o->stream)) || strchr(o->stream, '.'))
		return fail(err, errlen,
			    "--stream: '%s' is not a stream name (1 to 249 of A-Z a-z 0-9 _ -)",
			    o->stream);
	bool shardline = o->target == SL_APPEND_SHARDLINE;
	if (!shardline && durability_set)
		return fail(err, errlen,
			    "--durability is shardline://'s: %s's durability is the server's "
			    "setting (%s)",
			    o->target == SL_APPEND_REDIS ? "Redis" : "JetStream",
			    o->target == SL_APPEND_REDIS ? "appendfsync" : "sync_interval");
	if (!shardline && (o->admin || o->rate || o->e2e))
		return fail(err, errlen, "%s is shardline://'s (this URL names a %s server)",
			    o->admin  ? "--admin"
			    : o->rate ? "--rate"
				      : "--e2e",
			    o->target == SL_APPEND_REDIS ? "Redis" : "NATS");
	if (shardline && o->server_pid)
		return fail(err, errlen,
			    "--server-pid is for redis:// and nats://; shardlined's CPU comes "
			    "from --admin");
	if (o->e2e && o->rate == 0)
		return fail(err, errlen,
			    "--e2e measures latency at a steady rate: give --rate R as well");
	return 0;
}
