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
 */
#include "control/client.h"
#include "control/ctl.h"
#include "control/ctl_pubsub.h"
#include "core/clock.h"
#include "core/err.h"
#include "track/origin.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	uint64_t frames, groups, incomplete, out_of_order, measured_frames;
	uint64_t last_number; /* frame number of the previous frame in the current group */
	uint64_t in_group;
	uint64_t group_frames_expected;
	int pub;
};

struct opts {
	const char *url, *plot, *admin;
	uint64_t subscribers, publishers, fps, size, group_frames, duration, ports, warmup;
	int json;
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static uint32_t *lat;
static uint64_t nlat, lat_cap;

static void record(uint64_t ns)
{
	if (nlat == lat_cap) {
		lat_cap = lat_cap ? lat_cap * 2 : 1 << 16;
		lat = realloc(lat, lat_cap * sizeof(*lat));
		if (lat == NULL) {
			fprintf(stderr, "shardline-bench: out of memory\n");
			exit(1);
		}
	}
	uint64_t us = ns / 1000;
	lat[nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static uint32_t pct(double p)
{
	if (nlat == 0)
		return 0;
	uint64_t i = (uint64_t)(p * (double)(nlat - 1) + 0.5);
	return lat[i];
}

/* The relay's CPU time (user + system) in microseconds, from /proc/PID/stat. */
static int relay_cpu_us(long pid, uint64_t *us)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
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

static long relay_pid(const char *admin)
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

static void drain(struct sub *s, uint64_t measure_from)
{
	for (;;) {
		if (s->r.group == NULL) {
			int rc = sl_track_consumer_next_group(&s->tc, NULL, &s->r);
			if (rc == SL_EAGAIN)
				return;
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
			record(now > sent ? now - sent : 0);
		}
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: shardline-bench fanout URL [--subscribers N] [--publishers M] [--fps F]\n"
		"         [--size BYTES] [--group-frames G] [--duration S] [--warmup S] [--ports "
		"P]\n"
		"         [--admin PATH] [--json] [--plot FILE]\n\n"
		"Measures publish-to-deliver latency through a moq-lite relay at URL\n"
		"(moq://HOST:PORT). Defaults: 100 subscribers, 1 publisher, 60 fps, 4096-byte "
		"frames,\n"
		"60-frame groups, 10 s measured after a 2 s warm-up, connections spread over up to "
		"32\n"
		"local ports. --admin reads the relay's pid from its admin socket to report its "
		"CPU\n"
		"time per delivered frame. --plot writes a latency CDF (FILE.dat and, when gnuplot "
		"is\n"
		"installed, FILE as PNG).\n");
}

static int parse(int argc, char **argv, struct opts *o)
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
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*o = (struct opts){.subscribers = 100,
			   .publishers = 1,
			   .fps = 60,
			   .size = 4096,
			   .group_frames = 60,
			   .duration = 10,
			   .ports = 32,
			   .warmup = 2};
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
		case 'p':
			dst = &o->ports;
			max = 64;
			break;
		case 'a':
			o->admin = optarg;
			continue;
		case 'j':
			o->json = 1;
			continue;
		case 'o':
			o->plot = optarg;
			continue;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
		char *end;
		errno = 0;
		unsigned long long v = strtoull(optarg, &end, 10);
		if (errno || *end || end == optarg || v > max || (v == 0 && dst != &o->warmup)) {
			const char *name = "?";
			for (const struct option *x = lo; x->name; x++)
				if (x->val == c)
					name = x->name;
			fprintf(stderr, "shardline-bench: --%s: '%s' is not a number in %d..%llu\n",
				name, optarg, dst == &o->warmup ? 0 : 1, (unsigned long long)max);
			return -1;
		}
		*dst = v;
	}
	if (o->size < SL_FRAME_STAMP_LEN) {
		fprintf(stderr, "shardline-bench: --size must be at least %d (the time stamp)\n",
			SL_FRAME_STAMP_LEN);
		return -1;
	}
	if (argc - optind != 1) {
		usage(stderr);
		return -1;
	}
	o->url = argv[optind];
	return 0;
}

static void write_plot(const struct opts *o)
{
	char dat[1024];
	snprintf(dat, sizeof(dat), "%s.dat", o->plot);
	FILE *f = fopen(dat, "w");
	if (f == NULL) {
		fprintf(stderr, "shardline-bench: cannot write %s: %s\n", dat, strerror(errno));
		return;
	}
	uint64_t step = nlat > 2000 ? nlat / 2000 : 1;
	for (uint64_t i = 0; i < nlat; i += step)
		fprintf(f, "%u %.6f\n", lat[i], (double)(i + 1) / (double)nlat);
	if (nlat)
		fprintf(f, "%u 1.0\n", lat[nlat - 1]);
	fclose(f);
	char cmd[4096];
	snprintf(cmd, sizeof(cmd),
		 "gnuplot -e \"set terminal png size 900,600; set output '%s'; set logscale x; "
		 "set xlabel 'publish-to-deliver latency (us)'; set ylabel 'fraction of frames'; "
		 "set grid; set title 'shardline fan-out: %llu subscribers, %llu fps, %llu B'; "
		 "plot '%s' using 1:2 with lines title 'CDF'\" 2>&1",
		 o->plot, (unsigned long long)o->subscribers, (unsigned long long)o->fps,
		 (unsigned long long)o->size, dat);
	if (system(cmd) != 0)
		fprintf(stderr, "shardline-bench: gnuplot failed or is not installed; data in %s\n",
			dat);
}

static int fanout(int argc, char **argv)
{
	struct opts o;
	if (parse(argc, argv, &o) != 0)
		return 2;
	unsigned nports =
		(unsigned)(o.subscribers + o.publishers < o.ports ? o.subscribers + o.publishers
								  : o.ports);
	struct sl_client *cl;
	int rc = sl_client_new(o.url, nports, &cl);
	if (rc != 0) {
		fprintf(stderr, "shardline-bench: %s: %s\n", o.url, sl_strerror(rc));
		return 2;
	}
	struct sl_origin *origin = sl_origin_new(NULL);
	struct pub *pubs = calloc(o.publishers, sizeof(*pubs));
	struct sub *subs = calloc(o.subscribers, sizeof(*subs));
	long pid = o.admin ? relay_pid(o.admin) : -1;
	for (uint64_t i = 0; i < o.publishers; i++) {
		struct pub *p = &pubs[i];
		snprintf(p->path, sizeof(p->path), "bench/p%llu", (unsigned long long)i);
		if (sl_origin_publish(origin, p->path, &p->b) != 0 ||
		    sl_broadcast_create_track(p->b, "video", 0, &p->t) != 0 ||
		    sl_client_connect(cl, o.url, &p->conn) != 0) {
			fprintf(stderr, "shardline-bench: cannot set up publisher %llu\n",
				(unsigned long long)i);
			return 1;
		}
	}
	for (uint64_t i = 0; i < o.subscribers; i++) {
		subs[i].pub = (int)(i % o.publishers);
		subs[i].group_frames_expected = o.group_frames;
		if (sl_client_connect(cl, o.url, &subs[i].conn) != 0) {
			fprintf(stderr, "shardline-bench: cannot connect subscriber %llu\n",
				(unsigned long long)i);
			return 1;
		}
	}
	if ((rc = sl_client_wait_connected(cl, 20 * SEC)) != 0) {
		fprintf(stderr, "shardline-bench: cannot connect to %s: %s\n", o.url,
			rc == SL_ETIMEDOUT ? "no answer within 20 s — is the relay running?"
					   : sl_strerror(rc));
		return 1;
	}
	for (uint64_t i = 0; i < o.publishers; i++)
		sl_moq_session_publish(pubs[i].conn->s, pubs[i].path, pubs[i].b);
	/* Let the announcements reach the relay before anyone subscribes. */
	for (uint64_t end = sl_clock_now_ns() + SEC / 5; sl_clock_now_ns() < end;)
		sl_client_run(cl, 1000000);
	for (uint64_t i = 0; i < o.subscribers; i++) {
		struct sub *s = &subs[i];
		if (sl_moq_session_subscribe(s->conn->s, pubs[s->pub].path, "video", NULL, NULL,
					     &s->tc) == 0)
			s->subscribed = true;
	}
	signal(SIGINT, on_sigint);
	uint64_t interval = SEC / o.fps, start = sl_clock_now_ns();
	uint64_t measure_from_mono = start + o.warmup * SEC;
	uint64_t measure_from_wall = sl_clock_wall_ns() + o.warmup * SEC;
	uint64_t end = measure_from_mono + o.duration * SEC, next = start, frame = 0;
	uint64_t cpu0 = 0, cpu1 = 0;
	bool cpu_ok = false, measuring = false;
	while (!interrupted) {
		uint64_t now = sl_clock_now_ns();
		if (now >= end)
			break;
		if (!measuring && now >= measure_from_mono) {
			measuring = true;
			cpu_ok = pid > 0 && relay_cpu_us(pid, &cpu0) == 0;
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
		for (uint64_t i = 0; i < o.subscribers; i++)
			if (subs[i].subscribed && !subs[i].ended)
				drain(&subs[i], measure_from_wall);
	}
	if (cpu_ok && relay_cpu_us(pid, &cpu1) != 0)
		cpu_ok = false;
	/* Results. */
	uint64_t delivered = 0, expected = 0, incomplete = 0, ooo = 0, ended = 0;
	for (uint64_t i = 0; i < o.subscribers; i++) {
		delivered += subs[i].measured_frames;
		incomplete += subs[i].incomplete;
		ooo += subs[i].out_of_order;
		ended += subs[i].ended;
	}
	uint64_t measured_frames_per_pub = o.duration * o.fps;
	expected = measured_frames_per_pub * o.subscribers;
	qsort(lat, nlat, sizeof(*lat), cmp_u32);
	double cpu_per_frame = cpu_ok && delivered ? (double)(cpu1 - cpu0) / (double)delivered : -1;
	if (o.json) {
		printf("{\"subscribers\":%llu,\"publishers\":%llu,\"fps\":%llu,\"size\":%llu,"
		       "\"group_frames\":%llu,\"duration_s\":%llu,\"delivered\":%llu,"
		       "\"expected\":%llu,\"lost_frames\":%lld,\"incomplete_groups\":%llu,"
		       "\"out_of_order\":%llu,\"ended_early\":%llu,\"latency_us\":{\"p50\":%u,"
		       "\"p90\":%u,\"p99\":%u,\"p999\":%u,\"max\":%u},\"relay_cpu_us_per_frame\":%."
		       "3f}\n",
		       (unsigned long long)o.subscribers, (unsigned long long)o.publishers,
		       (unsigned long long)o.fps, (unsigned long long)o.size,
		       (unsigned long long)o.group_frames, (unsigned long long)o.duration,
		       (unsigned long long)delivered, (unsigned long long)expected,
		       (long long)expected - (long long)delivered, (unsigned long long)incomplete,
		       (unsigned long long)ooo, (unsigned long long)ended, pct(0.5), pct(0.9),
		       pct(0.99), pct(0.999), nlat ? lat[nlat - 1] : 0, cpu_per_frame);
	} else {
		printf("fan-out through %s: %llu publisher(s) -> %llu subscribers, %llu fps, "
		       "%llu-byte "
		       "frames, %llu-frame groups, %llu s measured after %llu s warm-up\n",
		       o.url, (unsigned long long)o.publishers, (unsigned long long)o.subscribers,
		       (unsigned long long)o.fps, (unsigned long long)o.size,
		       (unsigned long long)o.group_frames, (unsigned long long)o.duration,
		       (unsigned long long)o.warmup);
		printf("  delivered frames:   %llu of %llu expected (%lld lost)\n",
		       (unsigned long long)delivered, (unsigned long long)expected,
		       (long long)expected - (long long)delivered);
		printf("  latency (us):       p50 %u  p90 %u  p99 %u  p99.9 %u  max %u\n", pct(0.5),
		       pct(0.9), pct(0.99), pct(0.999), nlat ? lat[nlat - 1] : 0);
		printf("  groups:             %llu incomplete or reset, %llu frames out of order\n",
		       (unsigned long long)incomplete, (unsigned long long)ooo);
		if (cpu_ok)
			printf("  relay CPU:          %.2f us per delivered frame (%.3f s in %llu "
			       "s)\n",
			       cpu_per_frame, (double)(cpu1 - cpu0) / 1e6,
			       (unsigned long long)o.duration);
		else
			printf("  relay CPU:          not measured (give --admin PATH of the "
			       "relay)\n");
	}
	if (o.plot)
		write_plot(&o);
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
	free(lat);
	/* A run that delivered nothing is a failure: the relay or the setup is broken. */
	return delivered > 0 && ooo == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		printf("Usage: shardline-bench COMMAND ...\n\nCommands:\n  fanout   fan-out "
		       "latency "
		       "through a moq-lite relay (shardline-bench fanout --help)\n");
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "fanout") == 0)
		return fanout(argc - 1, argv + 1);
	fprintf(stderr, "shardline-bench: unknown command '%s'\n", argv[1]);
	return 2;
}
