/* SPDX-License-Identifier: Apache-2.0 */
#include "control/ctl_pubsub.h"
#include "control/client.h"
#include "core/clock.h"
#include "core/err.h"
#include "track/origin.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEC UINT64_C(1000000000)

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

void sl_frame_stamp(uint8_t *p, size_t len, uint64_t wall_ns, uint64_t number)
{
	if (len < SL_FRAME_STAMP_LEN)
		return;
	memcpy(p, "SLFRAME1", 8);
	for (int i = 0; i < 8; i++) {
		p[8 + i] = (uint8_t)(wall_ns >> (56 - 8 * i));
		p[16 + i] = (uint8_t)(number >> (56 - 8 * i));
	}
}

int sl_frame_read_stamp(const uint8_t *p, size_t len, uint64_t *wall_ns, uint64_t *number)
{
	if (len < SL_FRAME_STAMP_LEN || memcmp(p, "SLFRAME1", 8) != 0)
		return 0;
	uint64_t w = 0, n = 0;
	for (int i = 0; i < 8; i++) {
		w = (w << 8) | p[8 + i];
		n = (n << 8) | p[16 + i];
	}
	*wall_ns = w;
	*number = n;
	return 1;
}

static int parse_u64(const char *prog, const char *name, const char *v, uint64_t min, uint64_t max,
		     uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || *end || end == v || x < min || x > max) {
		fprintf(stderr, "%s: --%s: '%s' is not a number in %llu..%llu\n", prog, name, v,
			(unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = x;
	return 0;
}

static int connect_one(const char *prog, const char *url, struct sl_client **cl,
		       struct sl_client_conn **conn)
{
	int rc = sl_client_new(url, 1, cl);
	if (rc != 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, url,
			rc == SL_EINVAL ? "not a moq://HOST:PORT URL" : sl_strerror(rc));
		return SL_CTL_EXIT_USAGE;
	}
	rc = sl_client_connect(*cl, url, conn);
	if (rc == 0)
		rc = sl_client_wait_connected(*cl, 5 * SEC);
	if (rc != 0) {
		fprintf(stderr, "%s: cannot connect to %s: %s\n", prog, url,
			rc == SL_ETIMEDOUT ? "no answer within 5 s — is shardlined running?"
					   : sl_strerror(rc));
		sl_client_free(*cl);
		return SL_CTL_EXIT_CONNECT;
	}
	return 0;
}

/* ---- pub ---- */

int sl_ctl_pub_main(const struct sl_ctl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"fps", required_argument, NULL, 'f'},
		{"size", required_argument, NULL, 's'},
		{"group-frames", required_argument, NULL, 'g'},
		{"frames", required_argument, NULL, 'n'},
		{"stdin", no_argument, NULL, 'i'},
		{NULL, 0, NULL, 0},
	};
	uint64_t fps = 30, size = 1200, group_frames = 30, frames = 0;
	int use_stdin = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case 'f':
			bad = parse_u64(cli->prog, "fps", optarg, 1, 100000, &fps);
			break;
		case 's':
			bad = parse_u64(cli->prog, "size", optarg, 1, 16 << 20, &size);
			break;
		case 'g':
			bad = parse_u64(cli->prog, "group-frames", optarg, 1, 1 << 20,
					&group_frames);
			break;
		case 'n':
			bad = parse_u64(cli->prog, "frames", optarg, 0, UINT64_MAX, &frames);
			break;
		case 'i':
			use_stdin = 1;
			break;
		default:
			return SL_CTL_EXIT_USAGE;
		}
		if (bad)
			return SL_CTL_EXIT_USAGE;
	}
	if (argc - optind != 3) {
		fprintf(stderr,
			"usage: %s pub URL BROADCAST TRACK [--fps F] [--size BYTES] "
			"[--group-frames N] [--frames N] [--stdin]\n",
			cli->prog);
		return SL_CTL_EXIT_USAGE;
	}
	const char *url = argv[optind], *path = argv[optind + 1], *name = argv[optind + 2];

	struct sl_origin *origin = sl_origin_new(NULL);
	struct sl_broadcast *b;
	struct sl_track *t;
	int rc = sl_origin_publish(origin, path, &b);
	if (rc == 0)
		rc = sl_broadcast_create_track(b, name, 0, &t);
	if (rc != 0) {
		fprintf(stderr, "%s: bad broadcast or track name: %s\n", cli->prog,
			sl_strerror(rc));
		sl_origin_free(origin);
		return SL_CTL_EXIT_USAGE;
	}
	struct sl_client *cl;
	struct sl_client_conn *conn;
	if ((rc = connect_one(cli->prog, url, &cl, &conn)) != 0) {
		sl_track_unref(t);
		sl_broadcast_unref(b);
		sl_origin_free(origin);
		return rc;
	}
	rc = sl_moq_session_publish(conn->s, path, b);
	if (rc != 0) {
		fprintf(stderr, "%s: cannot publish %s: %s\n", cli->prog, path, sl_strerror(rc));
		goto out;
	}
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	uint64_t interval = SEC / fps, next = sl_clock_now_ns(), sent = 0;
	struct sl_group *g = NULL;
	char line[65536];
	size_t line_len = 0;
	bool eof = false;
	while (!interrupted && !conn->closed && !eof && (frames == 0 || sent < frames)) {
		uint64_t now = sl_clock_now_ns();
		if (!use_stdin && now < next) {
			sl_client_run(cl, next - now);
			continue;
		}
		struct sl_buf *buf = NULL;
		if (use_stdin) {
			sl_client_run(cl, 0);
			struct pollfd p = {.fd = 0, .events = POLLIN};
			if (poll(&p, 1, 5) <= 0)
				continue;
			ssize_t n = read(0, line + line_len, 1);
			if (n <= 0) {
				eof = true;
				if (line_len == 0)
					break;
			} else if (line[line_len] != '\n' && ++line_len < sizeof(line)) {
				continue;
			}
			buf = sl_buf_from(line, line_len ? line_len : 1);
			line_len = 0;
		} else {
			buf = sl_buf_alloc(size);
			memset(buf->data, 0x5a, size);
			buf->len = (uint32_t)size;
			sl_frame_stamp(buf->data, size, sl_clock_wall_ns(), sent);
			next += interval;
		}
		if (sent % group_frames == 0) {
			if (g) {
				sl_group_finish(g);
				sl_group_unref(g);
			}
			if (sl_track_append_group(t, now, &g) != 0) {
				sl_buf_unref(buf);
				break;
			}
		}
		if (sl_group_write_frame(g, sl_slice_of(buf)) == 0)
			sent++;
		sl_client_run(cl, 0);
	}
	if (g) {
		sl_group_finish(g);
		sl_group_unref(g);
	}
	sl_track_finish(t);
	/* Give the relay a moment to take the last frames before closing. */
	for (uint64_t end = sl_clock_now_ns() + SEC / 2; sl_clock_now_ns() < end && !conn->closed;)
		sl_client_run(cl, 10 * 1000000);
	fprintf(stderr, "%s: published %llu frames to %s %s/%s\n", cli->prog,
		(unsigned long long)sent, url, path, name);
	rc = conn->closed && conn->close_error ? SL_EIO : 0;
	if (rc)
		fprintf(stderr, "%s: the relay closed the connection (error %llu)\n", cli->prog,
			(unsigned long long)conn->close_error);
out:
	sl_client_close_all(cl, SEC);
	sl_client_free(cl);
	sl_track_unref(t);
	sl_broadcast_unref(b);
	sl_origin_free(origin);
	return rc ? SL_CTL_EXIT_FAIL : SL_CTL_EXIT_OK;
}

/* ---- sub ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int sl_ctl_sub_main(const struct sl_ctl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"frames", required_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"unordered", no_argument, NULL, 'u'},
		{NULL, 0, NULL, 0},
	};
	uint64_t frames = 0, timeout_s = 0;
	int json = 0, unordered = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int bad = 0;
		if (c == 'n')
			bad = parse_u64(cli->prog, "frames", optarg, 0, UINT64_MAX, &frames);
		else if (c == 't')
			bad = parse_u64(cli->prog, "timeout", optarg, 0, 86400, &timeout_s);
		else if (c == 'j')
			json = 1;
		else if (c == 'u')
			unordered = 1;
		else
			return SL_CTL_EXIT_USAGE;
		if (bad)
			return SL_CTL_EXIT_USAGE;
	}
	if (argc - optind != 3) {
		fprintf(stderr,
			"usage: %s sub URL BROADCAST TRACK [--frames N] [--json] "
			"[--timeout S]\n",
			cli->prog);
		return SL_CTL_EXIT_USAGE;
	}
	const char *url = argv[optind], *path = argv[optind + 1], *name = argv[optind + 2];
	struct sl_client *cl;
	struct sl_client_conn *conn;
	int rc = connect_one(cli->prog, url, &cl, &conn);
	if (rc != 0)
		return rc;
	struct sl_track_consumer tc;
	uint64_t id;
	/* A terminal reads a stream: oldest group first, unless newest-first is asked for. */
	struct sl_moq_subscribe_options so;
	sl_moq_subscribe_options_default(&so);
	so.ordered = !unordered;
	rc = sl_moq_session_subscribe(conn->s, path, name, &so, &id, &tc);
	if (rc != 0) {
		fprintf(stderr, "%s: cannot subscribe: %s\n", cli->prog, sl_strerror(rc));
		sl_client_free(cl);
		return SL_CTL_EXIT_FAIL;
	}
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	struct sl_group_reader r = {0};
	uint64_t got = 0, groups = 0, frame_in_group = 0, nlat = 0, cap = 1024;
	uint64_t *lat = malloc(cap * sizeof(*lat));
	uint64_t deadline = timeout_s ? sl_clock_now_ns() + timeout_s * SEC : UINT64_MAX;
	int end = 0;
	while (!interrupted && !end && (frames == 0 || got < frames)) {
		if (sl_clock_now_ns() > deadline) {
			end = SL_ETIMEDOUT;
			break;
		}
		sl_client_run(cl, 5 * 1000000);
		for (;;) {
			if (r.group == NULL) {
				int e = sl_track_consumer_next_group(&tc, NULL, &r);
				if (e == SL_EAGAIN)
					break;
				if (e != 0) {
					end = e;
					break;
				}
				groups++;
				frame_in_group = 0;
			}
			struct sl_slice f;
			int e = sl_group_read_frame(&r, NULL, &f);
			if (e == SL_EAGAIN)
				break;
			if (e != 0) {
				sl_group_reader_release(&r);
				continue; /* a finished or reset group: on to the next */
			}
			uint64_t sent_ns, number;
			int64_t lat_us = -1;
			if (sl_frame_read_stamp(sl_slice_data(&f), f.len, &sent_ns, &number)) {
				uint64_t now = sl_clock_wall_ns();
				uint64_t l = now > sent_ns ? now - sent_ns : 0;
				lat_us = (int64_t)(l / 1000);
				if (nlat == cap &&
				    (lat = realloc(lat, (cap *= 2) * sizeof(*lat))) == NULL)
					return SL_CTL_EXIT_FAIL;
				lat[nlat++] = l;
			}
			if (json)
				printf("{\"group\":%llu,\"frame\":%llu,\"size\":%u,\"latency_us\":%"
				       "lld}\n",
				       (unsigned long long)sl_group_sequence(r.group),
				       (unsigned long long)frame_in_group, f.len,
				       (long long)lat_us);
			else if (lat_us < 0)
				printf("%.*s\n", (int)f.len, (const char *)sl_slice_data(&f));
			else
				printf("group %llu frame %llu: %u bytes, %lld us\n",
				       (unsigned long long)sl_group_sequence(r.group),
				       (unsigned long long)frame_in_group, f.len,
				       (long long)lat_us);
			frame_in_group++;
			got++;
			if (frames && got >= frames)
				break;
		}
		fflush(stdout);
		if (conn->closed && !end)
			end = SL_ECLOSED;
	}
	sl_group_reader_release(&r);
	sl_track_consumer_release(&tc, NULL);
	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	uint64_t p50 = nlat ? lat[nlat / 2] : 0, p99 = nlat ? lat[(nlat * 99) / 100] : 0;
	uint64_t mx = nlat ? lat[nlat - 1] : 0;
	const char *why = end == 0 || end == SL_EEOF ? "ok" : sl_strerror(end);
	if (json)
		printf("{\"summary\":true,\"frames\":%llu,\"groups\":%llu,\"end\":\"%s\","
		       "\"latency_us\":{\"p50\":%llu,\"p99\":%llu,\"max\":%llu}}\n",
		       (unsigned long long)got, (unsigned long long)groups, why,
		       (unsigned long long)(p50 / 1000), (unsigned long long)(p99 / 1000),
		       (unsigned long long)(mx / 1000));
	else
		fprintf(stderr,
			"%s: %llu frames in %llu groups (%s); latency p50 %llu us, p99 %llu us\n",
			cli->prog, (unsigned long long)got, (unsigned long long)groups, why,
			(unsigned long long)(p50 / 1000), (unsigned long long)(p99 / 1000));
	free(lat);
	sl_client_close_all(cl, SEC);
	sl_client_free(cl);
	int ok = end == 0 || end == SL_EEOF || (frames && got >= frames);
	return ok ? SL_CTL_EXIT_OK : SL_CTL_EXIT_FAIL;
}
