/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shardline-bench fanout --peer nats://HOST:PORT: the fan-out shape of the moq-lite path
 * (fanout.c) measured against a nats-server, so the two can be compared in one run on one
 * machine. M publisher connections publish frames stamped with their send time (the same
 * stamp, core/trace.h) to the subject bench.p<i>; N subscriber connections, each its
 * own NATS connection, subscribe to the subject of publisher i % M. Every delivered message is
 * measured like a moq-lite frame: publish-to-deliver latency, losses against the frames
 * published in the measured window, frames that went backwards, and "groups" (runs of
 * --group-frames consecutive frame numbers, the moq-lite group size) that arrived with frames
 * missing. The server's CPU time comes from /proc/PID/stat like the relay's.
 *
 * What differs from the moq-lite path, on purpose and measured as it is:
 *  - Transport: TCP + TLS (OpenSSL in the client, Go's crypto/tls in the server) instead of
 *    QUIC + TLS 1.3 over UDP (ngtcp2 + GnuTLS). One TCP stream per connection: no groups on
 *    their own streams, so a slow subscriber's backlog is queued by the server (up to its
 *    max_pending, then the server closes the connection as a slow consumer) instead of old
 *    groups being dropped.
 *  - Client threads: the NATS C client runs its own threads: per connection a reader and (unless
 *    it sends at once) a flusher, per asynchronous subscription a delivery thread, plus a few
 *    library threads; the moq-lite client runs every connection in this one thread. The report
 *    gives the thread count. Publishers use natsOptions_SetSendAsap (each publish is written to
 *    the socket at once, as the moq-lite client writes each frame in its loop iteration);
 *    subscribers use the library's defaults.
 *  - Subscribing first: NATS needs no announcement; a subscription is in place once the server
 *    answered the PING that follows it (natsConnection_FlushTimeout), which happens for every
 *    subscriber before the first frame is published.
 */
#include "fanout.h"

#include "control/ctl_pubsub.h"
#include "core/clock.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SEC UINT64_C(1000000000)
/* How long one connection attempt, and the flush that confirms the subscriptions, may take:
 * hundreds of TLS handshakes on a small machine take a while. */
#define NATS_TIMEOUT_MS 20000
/* How long the library may take to stop its threads at the end. */
#define NATS_CLOSE_WAIT_MS 10000

struct npub {
	natsConnection *nc;
	char subject[64];
	uint64_t sent, errors;
	natsStatus last_error;
};

/*
 * One subscriber. Its delivery thread (the library's) writes the counters; the main thread reads
 * them once, at the end of the measured window, after setting stopped: the lock orders the two,
 * and a message delivered after that is not counted (as the moq-lite path stops reading).
 */
struct nsub {
	natsConnection *nc;
	natsSubscription *sub;
	pthread_mutex_t lock;
	bool stopped;
	bool closed; /* the connection closed before the end of the run */
	uint64_t group_frames;
	/* The frame numbers of the measured window: [first, end). */
	uint64_t measure_first, measure_end;
	bool have_last;
	uint64_t last_number, group, in_group;
	uint64_t frames, groups, incomplete, out_of_order, measured_frames, async_errors;
	natsStatus last_error;
	uint64_t *lat; /* latencies in ns of the measured frames */
	uint64_t nlat, lat_cap;
	bool oom;
	int pub;
};

static void nsub_account(struct nsub *s, uint64_t sent, uint64_t number, uint64_t now)
{
	if (s->have_last && number <= s->last_number) {
		s->out_of_order++; /* went backwards, or came twice */
	} else {
		uint64_t g = number / s->group_frames;
		if (!s->have_last || g != s->group) {
			/* Some frames of the previous group never came (a gap, not a reset: NATS
			 * has no groups, so this is what "incomplete" means here). */
			if (s->have_last && s->in_group < s->group_frames)
				s->incomplete++;
			s->group = g;
			s->in_group = 0;
			s->groups++;
		}
		s->in_group++;
		s->last_number = number;
		s->have_last = true;
	}
	s->frames++;
	if (number < s->measure_first || number >= s->measure_end)
		return;
	s->measured_frames++;
	if (s->nlat == s->lat_cap) {
		uint64_t cap = s->lat_cap ? s->lat_cap * 2 : 1024;
		uint64_t *n = realloc(s->lat, cap * sizeof(*n));
		if (n == NULL) {
			s->oom = true;
			return;
		}
		s->lat = n;
		s->lat_cap = cap;
	}
	s->lat[s->nlat++] = now > sent ? now - sent : 0;
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	struct nsub *s = closure;
	uint64_t now = sl_clock_wall_ns(), sent, number;
	int stamped = sl_frame_read_stamp((const uint8_t *)natsMsg_GetData(msg),
					  (size_t)natsMsg_GetDataLength(msg), &sent, &number);
	natsMsg_Destroy(msg);
	if (!stamped)
		return;
	pthread_mutex_lock(&s->lock);
	if (!s->stopped)
		nsub_account(s, sent, number, now);
	pthread_mutex_unlock(&s->lock);
}

static void on_closed(natsConnection *nc, void *closure)
{
	(void)nc;
	struct nsub *s = closure;
	pthread_mutex_lock(&s->lock);
	if (!s->stopped)
		s->closed = true;
	pthread_mutex_unlock(&s->lock);
}

/* Asynchronous errors of a subscriber's connection: a slow consumer on the client side (the
 * library's pending queue of the subscription is full and it drops messages), a permission
 * error... Counted and the last one reported. */
static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
	(void)nc;
	(void)sub;
	struct nsub *s = closure;
	pthread_mutex_lock(&s->lock);
	s->async_errors++;
	s->last_error = err;
	pthread_mutex_unlock(&s->lock);
}

/*
 * Checks url ("nats://HOST:PORT" or "tls://HOST:PORT", HOST a name, an IPv4 address or
 * [IPv6], an optional user@ before it) and returns its port, or -1 with a message.
 */
static int url_port(const char *url, bool no_tls)
{
	const char *p;
	if (strncmp(url, "nats://", 7) == 0) {
		p = url + 7;
	} else if (strncmp(url, "tls://", 6) == 0) {
		if (no_tls) {
			fprintf(stderr,
				"shardline-bench: --peer %s asks for TLS; --no-tls does not\n",
				url);
			return -1;
		}
		p = url + 6;
	} else {
		fprintf(stderr,
			"shardline-bench: --peer '%s': expected nats://HOST:PORT or "
			"tls://HOST:PORT\n",
			url);
		return -1;
	}
	const char *at = strrchr(p, '@');
	if (at)
		p = at + 1;
	const char *colon = NULL;
	if (*p == '[') {
		const char *close = strchr(p, ']');
		colon = close && close[1] == ':' ? close + 1 : NULL;
	} else {
		colon = strrchr(p, ':');
	}
	char *end;
	unsigned long port = colon && colon > p ? strtoul(colon + 1, &end, 10) : 0;
	if (colon == NULL || colon == p || !isdigit((unsigned char)colon[1]) || *end != '\0' ||
	    port == 0 || port > 65535) {
		fprintf(stderr, "shardline-bench: --peer '%s': no HOST:PORT (port 1..65535)\n",
			url);
		return -1;
	}
	return (int)port;
}

/* The inode of a TCP socket listening on port, from the kernel's socket tables of this network
 * namespace, or 0. */
static unsigned long listener_inode(int port)
{
	static const char *const tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
	for (unsigned t = 0; t < 2; t++) {
		FILE *f = fopen(tables[t], "r");
		if (f == NULL)
			continue;
		char line[512];
		unsigned long found = 0;
		while (!found && fgets(line, sizeof(line), f)) {
			unsigned lport, state;
			unsigned long inode;
			/* "sl local rem st tx:rx tr:when retrnsmt uid timeout inode": the local
			 * address is ADDR:PORT in hex, state 0A is LISTEN. */
			if (sscanf(line,
				   " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x "
				   "%*x %*u %*u %lu",
				   &lport, &state, &inode) == 3 &&
			    (int)lport == port && state == 0x0a && inode != 0)
				found = inode;
		}
		fclose(f);
		if (found)
			return found;
	}
	return 0;
}

/*
 * The process that holds the socket listening on TCP port: the one whose descriptor table links
 * to that socket's inode (what `ss -ltnp` does). Needs the right to read the server's /proc/PID/fd
 * (the same user, or root) and the same network namespace; returns the pid or 0.
 */
static long listener_pid(int port)
{
	unsigned long inode = listener_inode(port);
	if (inode == 0)
		return 0;
	char want[64];
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	DIR *proc = opendir("/proc");
	if (proc == NULL)
		return 0;
	long pid = 0, self = (long)getpid();
	struct dirent *de;
	while (pid == 0 && (de = readdir(proc)) != NULL) {
		char *end;
		long cand = strtol(de->d_name, &end, 10);
		if (*end != '\0' || cand <= 0 || cand == self)
			continue;
		char dir[64];
		snprintf(dir, sizeof(dir), "/proc/%ld/fd", cand);
		DIR *fds = opendir(dir);
		if (fds == NULL)
			continue;
		struct dirent *fe;
		while (pid == 0 && (fe = readdir(fds)) != NULL) {
			char link[PATH_MAX], target[64];
			snprintf(link, sizeof(link), "%s/%s", dir, fe->d_name);
			ssize_t n = readlink(link, target, sizeof(target) - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			if (strcmp(target, want) == 0)
				pid = cand;
		}
		closedir(fds);
	}
	closedir(proc);
	return pid;
}

static int server_cpu_us(long pid, uint64_t *us)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	return sl_fanout_stat_cpu_us(path, us);
}

/* Threads of this process now, from /proc/self/status, or 0. */
static unsigned long own_threads(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return 0;
	char line[256];
	unsigned long n = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %lu", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Every connection is a socket, and hundreds of subscribers need more than the usual soft limit
 * of 1024 descriptors: raise it to the hard limit (failure only limits the count). */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * Prints what failed, the library's status and its last error. That error starts with the
 * library's source position, "(conn.c:2088): ", which tells an operator nothing: it is cut, and
 * the rest is left out when it only repeats the status.
 */
static void nats_fail(const char *what, natsStatus st)
{
	const char *text = natsStatus_GetText(st), *detail = nats_GetLastError(NULL);
	if (detail && detail[0] == '(') {
		const char *close = strstr(detail, "): ");
		if (close)
			detail = close + 3;
	}
	bool show = detail && *detail && strcmp(detail, text) != 0;
	fprintf(stderr, "shardline-bench: %s: %s%s%s\n", what, text, show ? ": " : "",
		show ? detail : "");
}

/* What to try when a connection could not be made, from the status and the TLS setting. */
static void connect_hint(const struct sl_fanout_opts *o, natsStatus st)
{
	const char *hint = NULL;
	if (st == NATS_NO_SERVER || st == NATS_TIMEOUT)
		hint = "nothing answered there as a NATS server: is nats-server running and "
		       "listening on that address?";
	else if (st == NATS_SECURE_CONNECTION_WANTED)
		hint = "the server does not offer TLS: give --no-tls (or configure the server "
		       "with --tls)";
	else if (st == NATS_SSL_ERROR && o->no_tls)
		hint = "the server requires TLS: leave out --no-tls and give --tls-ca FILE";
	else if (st == NATS_SSL_ERROR && !o->tls_insecure)
		hint = "the server's certificate did not verify: give --tls-ca FILE (its "
		       "certificate or its CA) and a HOST the certificate names, or "
		       "--tls-insecure to encrypt without verifying";
	if (hint)
		fprintf(stderr, "shardline-bench: %s\n", hint);
}

/* The connection options every connection starts from: the server, TLS as asked, no
 * reconnection (a connection that drops must show up as ended, not be hidden by a reconnect). */
static natsOptions *base_options(const struct sl_fanout_opts *o)
{
	natsOptions *opts = NULL;
	natsStatus st = natsOptions_Create(&opts);
	if (st == NATS_OK)
		st = natsOptions_SetURL(opts, o->peer);
	if (st == NATS_OK)
		st = natsOptions_SetTimeout(opts, NATS_TIMEOUT_MS);
	if (st == NATS_OK)
		st = natsOptions_SetAllowReconnect(opts, false);
	if (st == NATS_OK && !o->no_tls)
		st = natsOptions_SetSecure(opts, true);
	if (st != NATS_OK) {
		nats_fail("cannot set up the NATS connection options", st);
		natsOptions_Destroy(opts);
		return NULL;
	}
	/* The library's own report of an unreadable file ends in "(null)": say it first. */
	if (o->tls_ca && access(o->tls_ca, R_OK) != 0) {
		fprintf(stderr, "shardline-bench: --tls-ca %s: %s\n", o->tls_ca, strerror(errno));
		natsOptions_Destroy(opts);
		return NULL;
	}
	if (o->tls_ca && (st = natsOptions_LoadCATrustedCertificates(opts, o->tls_ca)) != NATS_OK) {
		char what[PATH_MAX + 64];
		snprintf(what, sizeof(what), "--tls-ca %s: cannot load the CA certificates",
			 o->tls_ca);
		nats_fail(what, st);
		natsOptions_Destroy(opts);
		return NULL;
	}
	if (o->tls_insecure && (st = natsOptions_SkipServerVerification(opts, true)) != NATS_OK) {
		nats_fail("--tls-insecure", st);
		natsOptions_Destroy(opts);
		return NULL;
	}
	return opts;
}

static const char *tls_mode(const struct sl_fanout_opts *o)
{
	if (o->no_tls)
		return "off";
	return o->tls_insecure ? "unverified" : "verified";
}

struct nresult {
	uint64_t delivered, expected, incomplete, ooo, ended, dropped, async_errors, pub_errors;
	unsigned long threads;
	bool cpu_ok;
	uint64_t cpu_us;
	double cpu_per_frame;
	natsStatus last_sub_error, last_pub_error;
};

static void report_json(const struct sl_fanout_opts *o, const struct nresult *r)
{
	json_t *lat = json_pack(
		"{s:I,s:I,s:I,s:I,s:I}", "p50", (json_int_t)sl_fanout_pct(0.5), "p90",
		(json_int_t)sl_fanout_pct(0.9), "p99", (json_int_t)sl_fanout_pct(0.99), "p999",
		(json_int_t)sl_fanout_pct(0.999), "max", (json_int_t)sl_fanout_max());
	/* Every key of the moq-lite path, so that scripts read both alike: relay_cpu_us_per_frame
	 * is the CPU of the server relaying the frames, here nats-server, and subscribe_retries is
	 * always 0 (a NATS subscription needs no announcement to wait for). */
	json_t *j = json_pack(
		"{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
		"s:o,s:f}",
		"mode", "nats", "peer", o->peer, "tls", tls_mode(o), "client_threads",
		(json_int_t)r->threads, "publish_errors", (json_int_t)r->pub_errors,
		"client_dropped", (json_int_t)r->dropped, "subscribers", (json_int_t)o->subscribers,
		"publishers", (json_int_t)o->publishers, "fps", (json_int_t)o->fps, "size",
		(json_int_t)o->size, "group_frames", (json_int_t)o->group_frames, "duration_s",
		(json_int_t)o->duration, "delivered", (json_int_t)r->delivered, "expected",
		(json_int_t)r->expected, "lost_frames",
		(json_int_t)r->expected - (json_int_t)r->delivered, "incomplete_groups",
		(json_int_t)r->incomplete, "out_of_order", (json_int_t)r->ooo, "ended_early",
		(json_int_t)r->ended, "subscribe_retries", (json_int_t)0, "async_errors",
		(json_int_t)r->async_errors, "latency_us", lat, "relay_cpu_us_per_frame",
		r->cpu_per_frame);
	char *text = j ? json_dumps(j, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(6))
		       : NULL;
	if (text)
		printf("%s\n", text);
	else
		fprintf(stderr, "shardline-bench: cannot format the JSON result\n");
	free(text);
	json_decref(j);
}

static void report_text(const struct sl_fanout_opts *o, const struct nresult *r, long pid)
{
	printf("fan-out through nats-server at %s (TLS %s): %llu publisher(s) -> %llu "
	       "subscribers, %llu fps, %llu-byte frames, %llu-frame groups, %llu s measured after "
	       "%llu s warm-up\n",
	       o->peer, tls_mode(o), (unsigned long long)o->publishers,
	       (unsigned long long)o->subscribers, (unsigned long long)o->fps,
	       (unsigned long long)o->size, (unsigned long long)o->group_frames,
	       (unsigned long long)o->duration, (unsigned long long)o->warmup);
	printf("  delivered frames:   %llu of %llu expected (%lld lost)\n",
	       (unsigned long long)r->delivered, (unsigned long long)r->expected,
	       (long long)r->expected - (long long)r->delivered);
	printf("  latency (us):       p50 %u  p90 %u  p99 %u  p99.9 %u  max %u\n",
	       sl_fanout_pct(0.5), sl_fanout_pct(0.9), sl_fanout_pct(0.99), sl_fanout_pct(0.999),
	       sl_fanout_max());
	printf("  groups:             %llu with frames missing, %llu frames out of order\n",
	       (unsigned long long)r->incomplete, (unsigned long long)r->ooo);
	if (r->ended || r->dropped || r->async_errors)
		printf("  subscribers:        %llu connections closed early; %llu messages dropped "
		       "by the client library; %llu asynchronous errors%s%s\n",
		       (unsigned long long)r->ended, (unsigned long long)r->dropped,
		       (unsigned long long)r->async_errors, r->async_errors ? ", last: " : "",
		       r->async_errors ? natsStatus_GetText(r->last_sub_error) : "");
	if (r->pub_errors)
		printf("  publish errors:     %llu, last: %s\n", (unsigned long long)r->pub_errors,
		       natsStatus_GetText(r->last_pub_error));
	if (r->cpu_ok)
		printf("  nats-server CPU:    %.2f us per delivered frame (%.3f s in %llu s, pid "
		       "%ld)\n",
		       r->cpu_per_frame, (double)r->cpu_us / 1e6, (unsigned long long)o->duration,
		       pid);
	else if (pid > 0)
		printf("  nats-server CPU:    not measured (cannot read /proc/%ld/stat: did the "
		       "server "
		       "exit?)\n",
		       pid);
	else
		printf("  nats-server CPU:    not measured (no process of ours listens on the "
		       "URL's "
		       "port: give --nats-pid PID)\n");
	printf("  client:             %lu threads in this process (the NATS C client's own)\n",
	       r->threads);
}

int sl_fanout_nats(const struct sl_fanout_opts *o)
{
	int port = url_port(o->peer, o->no_tls);
	if (port < 0)
		return 2;
	long pid = (long)o->nats_pid;
	uint64_t probe;
	if (pid > 0 && server_cpu_us(pid, &probe) != 0) {
		fprintf(stderr, "shardline-bench: --nats-pid %ld: cannot read /proc/%ld/stat\n",
			pid, pid);
		return 2;
	}
	raise_nofile();
	natsStatus st = nats_Open(-1);
	if (st != NATS_OK) {
		nats_fail("cannot start the NATS client library", st);
		return 2;
	}
	int ret = 2;
	struct npub *pubs = calloc(o->publishers, sizeof(*pubs));
	struct nsub *subs = calloc(o->subscribers, sizeof(*subs));
	uint8_t *frame_buf = malloc(o->size);
	natsOptions *opts = NULL;
	if (pubs == NULL || subs == NULL || frame_buf == NULL) {
		fprintf(stderr, "shardline-bench: out of memory\n");
		goto out;
	}
	for (uint64_t i = 0; i < o->subscribers; i++) {
		pthread_mutex_init(&subs[i].lock, NULL);
		subs[i].pub = (int)(i % o->publishers);
		subs[i].group_frames = o->group_frames;
		/* The window is told by frame number, not by send time: a warm-up frame sent
		 * late is still warm-up, so the window holds exactly duration x fps frames. */
		subs[i].measure_first = o->warmup * o->fps;
		subs[i].measure_end = (o->warmup + o->duration) * o->fps;
	}
	if ((opts = base_options(o)) == NULL)
		goto out;
	/* Publishers write every publish to the socket at once; see the header comment. */
	for (uint64_t i = 0; i < o->publishers; i++) {
		struct npub *p = &pubs[i];
		char name[64];
		snprintf(p->subject, sizeof(p->subject), "bench.p%llu", (unsigned long long)i);
		snprintf(name, sizeof(name), "shardline-bench pub %llu", (unsigned long long)i);
		if ((st = natsOptions_SetName(opts, name)) != NATS_OK ||
		    (st = natsOptions_SetSendAsap(opts, true)) != NATS_OK ||
		    (st = natsConnection_Connect(&p->nc, opts)) != NATS_OK) {
			char what[128];
			snprintf(what, sizeof(what), "cannot connect publisher %llu to %s",
				 (unsigned long long)i, o->peer);
			nats_fail(what, st);
			connect_hint(o, st);
			goto out;
		}
	}
	if ((st = natsOptions_SetSendAsap(opts, false)) != NATS_OK) {
		nats_fail("cannot set up the subscribers' options", st);
		goto out;
	}
	/* natsConnection_Connect copies the options, so one options object serves every
	 * subscriber (and shares its TLS context) with that subscriber's callbacks set. */
	for (uint64_t i = 0; i < o->subscribers; i++) {
		struct nsub *s = &subs[i];
		char name[64];
		snprintf(name, sizeof(name), "shardline-bench sub %llu", (unsigned long long)i);
		if ((st = natsOptions_SetName(opts, name)) != NATS_OK ||
		    (st = natsOptions_SetClosedCB(opts, on_closed, s)) != NATS_OK ||
		    (st = natsOptions_SetErrorHandler(opts, on_error, s)) != NATS_OK ||
		    (st = natsConnection_Connect(&s->nc, opts)) != NATS_OK ||
		    (st = natsConnection_Subscribe(&s->sub, s->nc, pubs[s->pub].subject, on_msg,
						   s)) != NATS_OK) {
			char what[128];
			snprintf(what, sizeof(what),
				 "cannot connect and subscribe subscriber %llu to %s",
				 (unsigned long long)i, o->peer);
			nats_fail(what, st);
			connect_hint(o, st);
			goto out;
		}
	}
	/* A SUBSCRIBE is in place once the server answered the PING sent after it: from then on
	 * nothing published is missed, so no subscriber has to wait for, or retry after, the
	 * publisher (the NATS counterpart of the moq-lite path's retries). */
	for (uint64_t i = 0; i < o->subscribers; i++) {
		if ((st = natsConnection_FlushTimeout(subs[i].nc, NATS_TIMEOUT_MS)) != NATS_OK) {
			char what[128];
			snprintf(what, sizeof(what),
				 "subscriber %llu: the server did not confirm the "
				 "subscription",
				 (unsigned long long)i);
			nats_fail(what, st);
			goto out;
		}
	}
	if (pid <= 0)
		pid = listener_pid(port);
	memset(frame_buf, 0xa5, o->size);
	signal(SIGINT, sl_fanout_on_sigint);
	/* The moq-lite path's schedule: frame k of every publisher at start + k / fps, the window
	 * measured from warm-up on. */
	uint64_t interval = SEC / o->fps, start = sl_clock_now_ns();
	uint64_t measure_from_mono = start + o->warmup * SEC;
	uint64_t end = measure_from_mono + o->duration * SEC, next = start, frame = 0;
	uint64_t cpu0 = 0, cpu1 = 0;
	struct nresult r = {0};
	bool measuring = false;
	long lost_pub = -1; /* the first publisher whose connection closed */
	while (!sl_fanout_interrupted) {
		uint64_t now = sl_clock_now_ns();
		if (now >= end)
			break;
		if (!measuring && now >= measure_from_mono) {
			measuring = true;
			r.cpu_ok = pid > 0 && server_cpu_us(pid, &cpu0) == 0;
			r.threads = own_threads();
		}
		if (now >= next) {
			for (uint64_t i = 0; i < o->publishers; i++) {
				struct npub *p = &pubs[i];
				sl_frame_stamp(frame_buf, o->size, sl_clock_wall_ns(), frame);
				st = natsConnection_Publish(p->nc, p->subject, frame_buf,
							    (int)o->size);
				p->sent++;
				if (st != NATS_OK) {
					p->errors++;
					p->last_error = st;
					/* No reconnection (base_options): the run is over. */
					if (st == NATS_CONNECTION_CLOSED && lost_pub < 0)
						lost_pub = (long)i;
				}
			}
			if (lost_pub >= 0)
				break;
			frame++;
			next += interval;
		}
		now = sl_clock_now_ns();
		uint64_t until = next < end ? next : end;
		if (until > now) {
			struct timespec ts = {.tv_sec = (time_t)((until - now) / SEC),
					      .tv_nsec = (long)((until - now) % SEC)};
			nanosleep(&ts, NULL);
		}
	}
	if (r.cpu_ok && server_cpu_us(pid, &cpu1) != 0)
		r.cpu_ok = false;
	if (r.threads == 0)
		r.threads = own_threads();
	/* Close the window: what is delivered from now on is not counted. */
	for (uint64_t i = 0; i < o->subscribers; i++) {
		struct nsub *s = &subs[i];
		int64_t dropped = 0;
		pthread_mutex_lock(&s->lock);
		s->stopped = true;
		r.delivered += s->measured_frames;
		r.incomplete += s->incomplete;
		r.ooo += s->out_of_order;
		r.ended += s->closed;
		r.async_errors += s->async_errors;
		if (s->async_errors)
			r.last_sub_error = s->last_error;
		for (uint64_t k = 0; k < s->nlat; k++)
			sl_fanout_record(s->lat[k]);
		if (s->oom)
			fprintf(stderr,
				"shardline-bench: out of memory: subscriber %llu kept only "
				"%llu latencies\n",
				(unsigned long long)i, (unsigned long long)s->nlat);
		pthread_mutex_unlock(&s->lock);
		if (natsSubscription_GetDropped(s->sub, &dropped) == NATS_OK && dropped > 0)
			r.dropped += (uint64_t)dropped;
	}
	for (uint64_t i = 0; i < o->publishers; i++) {
		r.pub_errors += pubs[i].errors;
		if (pubs[i].errors)
			r.last_pub_error = pubs[i].last_error;
	}
	r.expected = o->duration * o->fps * o->subscribers;
	r.cpu_us = cpu1 - cpu0;
	r.cpu_per_frame = r.cpu_ok && r.delivered ? (double)r.cpu_us / (double)r.delivered : -1;
	sl_fanout_sort();
	if (o->json)
		report_json(o, &r);
	else
		report_text(o, &r, pid);
	if (o->plot)
		sl_fanout_write_plot(o, "nats-server");
	/* A run that delivered nothing is a failure: the server or the setup is broken. So is one
	 * whose publisher lost its connection: the window was cut short. */
	if (lost_pub >= 0)
		fprintf(stderr,
			"shardline-bench: publisher %ld's connection to %s closed during the run "
			"(the server stopped or closed it): the figures cover only part of the "
			"window\n",
			lost_pub, o->peer);
	ret = r.delivered > 0 && r.ooo == 0 && lost_pub < 0 ? 0 : 1;
out:
	for (uint64_t i = 0; subs && i < o->subscribers; i++) {
		natsSubscription_Destroy(subs[i].sub);
		natsConnection_Destroy(subs[i].nc);
	}
	for (uint64_t i = 0; pubs && i < o->publishers; i++)
		natsConnection_Destroy(pubs[i].nc);
	natsOptions_Destroy(opts);
	/* The library's threads (delivery, readers, callbacks) hold the subscribers' state until
	 * they have stopped; free it only then. */
	bool stopped = nats_CloseAndWait(NATS_CLOSE_WAIT_MS) == NATS_OK;
	for (uint64_t i = 0; stopped && subs && i < o->subscribers; i++) {
		pthread_mutex_destroy(&subs[i].lock);
		free(subs[i].lat);
	}
	if (stopped)
		free(subs);
	else
		fprintf(stderr, "shardline-bench: the NATS client library did not stop in %d ms\n",
			NATS_CLOSE_WAIT_MS);
	free(pubs);
	free(frame_buf);
	sl_fanout_samples_free();
	return ret;
}
