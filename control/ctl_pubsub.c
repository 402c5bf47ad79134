/* SPDX-License-Identifier: Apache-2.0 */
#include "control/ctl_pubsub.h"
#include "control/client.h"
#include "control/sub_follow.h"
#include "core/clock.h"
#include "core/err.h"
#include "track/origin.h"
#include "track/path.h"

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

/* --version 04|05: the moq-lite version, offered as the connection's only ALPN. */
static int parse_version(const char *prog, const char *v, enum sl_moq_version *out)
{
	if (strcmp(v, "04") == 0 || strcmp(v, "4") == 0) {
		*out = SL_MOQ_LITE_04;
		return 0;
	}
	if (strcmp(v, "05") == 0 || strcmp(v, "5") == 0) {
		*out = SL_MOQ_LITE_05;
		return 0;
	}
	fprintf(stderr, "%s: --version: '%s' is not 04 or 05\n", prog, v);
	return -1;
}

static int connect_one(const char *prog, const char *url, enum sl_moq_version version,
		       struct sl_client **cl, struct sl_client_conn **conn)
{
	int rc = sl_client_new(url, 1, cl);
	if (rc != 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, url,
			rc == SL_EINVAL ? "not a moq://, https://, ws:// or wss://HOST:PORT URL"
					: sl_strerror(rc));
		return SL_CTL_EXIT_USAGE;
	}
	*conn = NULL;
	rc = sl_client_connect_moq(*cl, url, version, conn);
	if (rc == 0)
		rc = sl_client_wait_connected(*cl, 5 * SEC);
	if (rc != 0) {
		/* A WebTransport refusal names its status ("... refused ...: 401"). */
		const char *why = *conn && (*conn)->why[0] ? (*conn)->why : NULL;
		fprintf(stderr, "%s: cannot connect to %s: %s\n", prog, url,
			why		     ? why
			: rc == SL_ETIMEDOUT ? "no answer within 5 s — is shardlined running?"
			: rc == SL_ENOTSUP   ? "https:// needs a build with nghttp3"
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
		{"version", required_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	enum sl_moq_version version = SL_MOQ_LITE_04;
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
		case 'V':
			bad = parse_version(cli->prog, optarg, &version);
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
			"[--group-frames N] [--frames N] [--stdin] [--version 04|05]\n",
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
	if ((rc = connect_one(cli->prog, url, version, &cl, &conn)) != 0) {
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
	uint64_t interval = SEC / fps, next = sl_clock_now_ns(), sent = 0, t0_ns = next;
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
		/* lite-05 frames carry a timestamp: milliseconds since the publisher started (the
		 * timescale 1000 its TRACK_INFO announces). lite-04 has none. */
		if ((version == SL_MOQ_LITE_05
			     ? sl_group_write_frame_ts(g, sl_slice_of(buf),
						       (sl_clock_now_ns() - t0_ns) / 1000000)
			     : sl_group_write_frame(g, sl_slice_of(buf))) == 0)
			sent++;
		sl_client_run(cl, 0);
	}
	/*
	 * Ran out of frames or input: the track is over, and subscribers are told so with a
	 * clean end. Interrupted: the publisher goes away and the track is dropped, which
	 * `shardctl sub` takes as a publisher that may come back (control/sub_follow.h). A relay
	 * would end the track of a vanished publisher cleanly on some paths, so the drop is
	 * said here, before the connection closes.
	 */
	if (g) {
		if (!interrupted)
			sl_group_finish(g);
		sl_group_unref(g);
	}
	if (interrupted)
		sl_track_abort(t, SL_EDROPPED);
	else
		sl_track_finish(t);
	/* Give the relay a moment to take the last frames (or the drop) before closing. */
	for (uint64_t end = sl_clock_now_ns() + (interrupted ? SEC / 10 : SEC / 2);
	     sl_clock_now_ns() < end && !conn->closed;)
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

/* Connects to url and asks to hear the announcements of the broadcast at path (normalised),
 * so the subscriber learns when its publisher is there. Returns 0 or an exit code (printed). */
static int sub_connect(const char *prog, const char *url, enum sl_moq_version version,
		       const char *path, struct sl_client **cl, struct sl_client_conn **conn)
{
	int rc = connect_one(prog, url, version, cl, conn);
	if (rc != 0)
		return rc;
	/* The interest's prefix is the path itself: path segments match whole, so this hears
	 * the broadcast (and any below it, which are skipped). */
	rc = sl_moq_session_announce_interest((*conn)->s, path);
	if (rc != 0) {
		fprintf(stderr, "%s: cannot ask %s for announcements of %s: %s\n", prog, url, path,
			sl_strerror(rc));
		sl_client_free(*cl);
		return SL_CTL_EXIT_FAIL;
	}
	return 0;
}

/* After this long without the broadcast, say that we are waiting for it (most starts find it
 * announced within a round trip, and should stay quiet). */
#define WAIT_NOTICE_NS (500 * UINT64_C(1000000))

int sl_ctl_sub_main(const struct sl_ctl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"frames", required_argument, NULL, 'n'},  {"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'}, {"unordered", no_argument, NULL, 'u'},
		{"version", required_argument, NULL, 'V'}, {NULL, 0, NULL, 0},
	};
	enum sl_moq_version version = SL_MOQ_LITE_04;
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
		else if (c == 'V')
			bad = parse_version(cli->prog, optarg, &version);
		else
			return SL_CTL_EXIT_USAGE;
		if (bad)
			return SL_CTL_EXIT_USAGE;
	}
	if (argc - optind != 3) {
		fprintf(stderr,
			"usage: %s sub URL BROADCAST TRACK [--frames N] [--json] "
			"[--timeout S] [--unordered] [--version 04|05]\n",
			cli->prog);
		return SL_CTL_EXIT_USAGE;
	}
	const char *url = argv[optind], *path = argv[optind + 1], *name = argv[optind + 2];
	/* Announcements carry the normalised path ("a//b/" arrives as "a/b"). */
	char norm[SL_PATH_MAX_LEN + 1];
	size_t norm_len;
	if (strlen(path) > SL_PATH_MAX_LEN ||
	    sl_path_normalize(path, strlen(path), norm, &norm_len) != 0 || norm_len == 0) {
		fprintf(stderr, "%s: '%s' is not a broadcast path\n", cli->prog, path);
		return SL_CTL_EXIT_USAGE;
	}
	struct sl_client *cl;
	struct sl_client_conn *conn;
	int rc = sub_connect(cli->prog, url, version, norm, &cl, &conn);
	if (rc != 0)
		return rc;
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	/* A terminal reads a stream: oldest group first, unless newest-first is asked for. */
	struct sl_moq_subscribe_options so;
	sl_moq_subscribe_options_default(&so);
	so.ordered = !unordered;
	struct sl_sub_follow f;
	sl_sub_follow_init(&f, timeout_s * SEC, sl_clock_now_ns());
	struct sl_track_consumer tc;
	bool have_tc = false, said_wait = false;
	uint64_t wait_since = sl_clock_now_ns();
	struct sl_group_reader r = {0};
	uint64_t got = 0, groups = 0, frame_in_group = 0, nlat = 0, cap = 1024;
	uint64_t *lat = malloc(cap * sizeof(*lat));
	int end = 0;
	while (!interrupted && !end && (frames == 0 || got < frames)) {
		enum sl_sub_follow_state before = f.state;
		sl_client_run(cl, 5 * 1000000);
		uint64_t now = sl_clock_now_ns();
		/* Announcements first: a withdrawal that came with the end of the track must be
		 * known when that end is read. */
		struct sl_moq_announcement ev;
		while (sl_moq_session_next_announce(conn->s, NULL, &ev) == 0)
			if (strcmp(ev.path, norm) == 0)
				sl_sub_follow_announce(&f, ev.active, now);
		while (have_tc) {
			if (r.group == NULL) {
				int e = sl_track_consumer_next_group(&tc, NULL, &r);
				if (e == SL_EAGAIN)
					break;
				if (e != 0) {
					sl_track_consumer_release(&tc, NULL);
					have_tc = false;
					/* Our own connection closing drops the track too, and
					 * that is not the publisher leaving. */
					if (conn->closed)
						sl_sub_follow_closed(&f, SL_ECLOSED, now);
					sl_sub_follow_track_end(&f, e, now);
					break;
				}
				sl_sub_follow_delivered(&f);
				groups++;
				frame_in_group = 0;
			}
			struct sl_slice fr;
			uint64_t ts;
			int e = sl_group_read_frame_ts(&r, NULL, &fr, &ts);
			if (e == SL_EAGAIN)
				break;
			if (e != 0) {
				sl_group_reader_release(&r);
				continue; /* a finished or reset group: on to the next */
			}
			uint64_t sent_ns, number;
			int64_t lat_us = -1;
			if (sl_frame_read_stamp(sl_slice_data(&fr), fr.len, &sent_ns, &number)) {
				uint64_t wall = sl_clock_wall_ns();
				uint64_t l = wall > sent_ns ? wall - sent_ns : 0;
				lat_us = (int64_t)(l / 1000);
				if (nlat == cap &&
				    (lat = realloc(lat, (cap *= 2) * sizeof(*lat))) == NULL)
					return SL_CTL_EXIT_FAIL;
				lat[nlat++] = l;
			}
			/* lite-05 frames carry the publisher's timestamp: shown as "ts". */
			if (json && ts != SL_GROUP_NO_TS)
				printf("{\"group\":%llu,\"frame\":%llu,\"size\":%u,\"latency_us\":%"
				       "lld,\"ts\":%llu}\n",
				       (unsigned long long)sl_group_sequence(r.group),
				       (unsigned long long)frame_in_group, fr.len,
				       (long long)lat_us, (unsigned long long)ts);
			else if (json)
				printf("{\"group\":%llu,\"frame\":%llu,\"size\":%u,\"latency_us\":%"
				       "lld}\n",
				       (unsigned long long)sl_group_sequence(r.group),
				       (unsigned long long)frame_in_group, fr.len,
				       (long long)lat_us);
			else if (lat_us < 0)
				printf("%.*s\n", (int)fr.len, (const char *)sl_slice_data(&fr));
			else
				printf("group %llu frame %llu: %u bytes, %lld us\n",
				       (unsigned long long)sl_group_sequence(r.group),
				       (unsigned long long)frame_in_group, fr.len,
				       (long long)lat_us);
			frame_in_group++;
			got++;
			if (frames && got >= frames)
				break;
		}
		fflush(stdout);
		if (frames && got >= frames)
			break;
		if (conn->closed)
			sl_sub_follow_closed(&f, SL_ECLOSED, now);
		switch (sl_sub_follow_next(&f, now)) {
		case SL_SUB_FOLLOW_NOTHING:
			break;
		case SL_SUB_FOLLOW_SUBSCRIBE:
			rc = sl_moq_session_subscribe(conn->s, norm, name, &so, NULL, &tc);
			have_tc = rc == 0;
			sl_sub_follow_subscribed(&f, rc, now);
			if (rc == 0 && f.subscriptions > 1)
				fprintf(stderr, "%s: %s is back: subscribed to %s again\n",
					cli->prog, norm, name);
			break;
		case SL_SUB_FOLLOW_RECONNECT:
			/* The relay closed an idle connection while we waited: a new one, with
			 * its own interest, takes over. */
			sl_group_reader_release(&r);
			sl_client_free(cl);
			if ((rc = sub_connect(cli->prog, url, version, norm, &cl, &conn)) != 0) {
				free(lat);
				return rc;
			}
			break;
		case SL_SUB_FOLLOW_DONE:
			end = f.end ? f.end : SL_EEOF;
			break;
		}
		if (f.state == SL_SUB_FOLLOW_WAITING && before != SL_SUB_FOLLOW_WAITING) {
			fprintf(stderr,
				"%s: the publisher of %s went away; waiting for it to come back\n",
				cli->prog, norm);
			wait_since = now;
			said_wait = true;
		} else if (f.state == SL_SUB_FOLLOW_WAITING && !said_wait &&
			   now - wait_since >= WAIT_NOTICE_NS) {
			fprintf(stderr, "%s: waiting for %s to be announced on %s\n", cli->prog,
				norm, url);
			said_wait = true;
		} else if (f.state != SL_SUB_FOLLOW_WAITING) {
			said_wait = false;
		}
	}
	sl_group_reader_release(&r);
	if (have_tc)
		sl_track_consumer_release(&tc, NULL);
	if (end == SL_ETIMEDOUT) {
		if (f.subscriptions == 0)
			fprintf(stderr, "%s: %s was not announced on %s within %llu s\n", cli->prog,
				norm, url, (unsigned long long)timeout_s);
		else
			fprintf(stderr, "%s: %s did not come back on %s within %llu s\n", cli->prog,
				norm, url, (unsigned long long)timeout_s);
	}
	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	uint64_t p50 = nlat ? lat[nlat / 2] : 0, p99 = nlat ? lat[(nlat * 99) / 100] : 0;
	uint64_t mx = nlat ? lat[nlat - 1] : 0;
	const char *why = end == 0 || end == SL_EEOF ? "ok" : sl_strerror(end);
	if (json)
		printf("{\"summary\":true,\"frames\":%llu,\"groups\":%llu,\"subscriptions\":%llu,"
		       "\"end\":\"%s\",\"latency_us\":{\"p50\":%llu,\"p99\":%llu,\"max\":%llu}}\n",
		       (unsigned long long)got, (unsigned long long)groups,
		       (unsigned long long)f.subscriptions, why, (unsigned long long)(p50 / 1000),
		       (unsigned long long)(p99 / 1000), (unsigned long long)(mx / 1000));
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
