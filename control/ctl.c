/* SPDX-License-Identifier: Apache-2.0 */
#include "control/ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control/config.h"
#include "core/err.h"

struct sl_ctl {
	int fd;
	char *buf;
	size_t len, cap;
	size_t consumed; /* bytes of buf that the previous line (and its newline) used */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline (-1 = none). Returns 0, SL_ETIMEDOUT or SL_EIO. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int t = -1;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0)
				return SL_ETIMEDOUT;
			t = (int)left;
		}
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, t);
		if (n > 0)
			return 0;
		if (n == 0)
			return SL_ETIMEDOUT;
		if (errno != EINTR)
			return SL_EIO;
	}
}

static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

int sl_ctl_connect(const char *path, int timeout_ms, struct sl_ctl **out, char *err, size_t errlen)
{
	*out = NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "cannot connect to admin socket '%s': path empty or too long",
			 path ? path : "");
		return SL_EINVAL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return SL_EIO;
	}
	int64_t deadline = deadline_of(timeout_ms);
	int rc = 0;
	/* A Unix connect fails with EAGAIN when the listener's backlog is full; retry until the
	 * deadline rather than report a busy daemon as a dead one. */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if (e == EINTR)
			continue;
		if (e == EAGAIN || e == EINPROGRESS) {
			if (deadline >= 0 && now_ms() >= deadline) {
				rc = SL_ETIMEDOUT;
				snprintf(err, errlen,
					 "cannot connect to admin socket %s: timed out", path);
				break;
			}
			struct timespec ts = {0, 5 * 1000000};
			nanosleep(&ts, NULL);
			continue;
		}
		rc = e == ENOENT ? SL_ENOTFOUND : e == ECONNREFUSED ? SL_ECLOSED : SL_EIO;
		snprintf(err, errlen, "cannot connect to admin socket %s: %s", path, strerror(e));
		break;
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	struct sl_ctl *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return SL_ENOMEM;
	}
	c->fd = fd;
	*out = c;
	return 0;
}

void sl_ctl_close(struct sl_ctl *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c->buf);
	free(c);
}

int sl_ctl_send(struct sl_ctl *c, const void *data, size_t len, int timeout_ms, char *err,
		size_t errlen)
{
	const char *p = data;
	int64_t deadline = deadline_of(timeout_ms);
	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			snprintf(err, errlen, "admin socket write failed: %s", strerror(errno));
			return SL_EIO;
		}
		int rc = wait_fd(c->fd, POLLOUT, deadline);
		if (rc < 0) {
			snprintf(err, errlen, "admin socket write %s",
				 rc == SL_ETIMEDOUT ? "timed out" : "failed");
			return rc;
		}
	}
	return 0;
}

int sl_ctl_read_line(struct sl_ctl *c, const char **line, int timeout_ms, char *err, size_t errlen)
{
	/* Drop the previous line only now, so the pointer handed out last time stayed valid. */
	if (c->consumed > 0) {
		memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
		c->len -= c->consumed;
		c->consumed = 0;
	}
	int64_t deadline = deadline_of(timeout_ms);
	size_t scanned = 0;
	for (;;) {
		char *nl =
			c->len > scanned ? memchr(c->buf + scanned, '\n', c->len - scanned) : NULL;
		if (nl) {
			*nl = '\0';
			*line = c->buf;
			c->consumed = (size_t)(nl - c->buf) + 1;
			return (int)(nl - c->buf);
		}
		scanned = c->len;
		if (c->len >= SL_CTL_RESPONSE_MAX) {
			snprintf(err, errlen, "admin response longer than %u bytes",
				 SL_CTL_RESPONSE_MAX);
			return SL_ENOSPC;
		}
		if (c->cap - c->len < 4096) {
			size_t cap = c->cap ? c->cap * 2 : 8192;
			char *n = realloc(c->buf, cap + 1);
			if (n == NULL)
				return SL_ENOMEM;
			c->buf = n;
			c->cap = cap;
		}
		ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (n > 0) {
			c->len += (size_t)n;
			continue;
		}
		if (n == 0) {
			snprintf(err, errlen, "the daemon closed the admin connection");
			return SL_EEOF;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			snprintf(err, errlen, "admin socket read failed: %s", strerror(errno));
			return SL_EIO;
		}
		int rc = wait_fd(c->fd, POLLIN, deadline);
		if (rc < 0) {
			snprintf(err, errlen, "no answer from the daemon %s",
				 rc == SL_ETIMEDOUT ? "before the timeout" : "(poll failed)");
			return rc;
		}
	}
}

int sl_ctl_request(struct sl_ctl *c, const json_t *req, json_t **resp, int timeout_ms, char *err,
		   size_t errlen)
{
	*resp = NULL;
	char *text = json_dumps(req, JSON_COMPACT);
	if (text == NULL)
		return SL_ENOMEM;
	size_t n = strlen(text);
	char *msg = realloc(text, n + 2);
	if (msg == NULL) {
		free(text);
		return SL_ENOMEM;
	}
	msg[n] = '\n';
	msg[n + 1] = '\0';
	int64_t deadline = deadline_of(timeout_ms);
	int rc = sl_ctl_send(c, msg, n + 1, timeout_ms, err, errlen);
	free(msg);
	if (rc < 0)
		return rc;
	int left = deadline < 0 ? -1 : (int)(deadline - now_ms());
	if (deadline >= 0 && left < 0)
		left = 0;
	const char *line;
	rc = sl_ctl_read_line(c, &line, left, err, errlen);
	if (rc < 0)
		return rc;
	json_error_t jerr;
	json_t *r = json_loads(line, 0, &jerr);
	if (!json_is_object(r)) {
		json_decref(r);
		snprintf(err, errlen, "the daemon's response is not a JSON object: %.80s", line);
		return SL_ECORRUPT;
	}
	*resp = r;
	return 0;
}

int sl_ctl_call(const char *path, const json_t *req, json_t **resp, int timeout_ms, char *err,
		size_t errlen)
{
	struct sl_ctl *c;
	*resp = NULL;
	int rc = sl_ctl_connect(path, timeout_ms, &c, err, errlen);
	if (rc < 0)
		return rc;
	rc = sl_ctl_request(c, req, resp, timeout_ms, err, errlen);
	sl_ctl_close(c);
	return rc;
}

void sl_ctl_default_admin(char *out, size_t size)
{
	const char *env = getenv("SHARDLINE_ADMIN");
	if (env && env[0]) {
		snprintf(out, size, "%s", env);
		return;
	}
	sl_config_default_admin(out, size);
	struct stat stb;
	if (stat(out, &stb) < 0 && stat("/run/shardline/admin.sock", &stb) == 0)
		snprintf(out, size, "/run/shardline/admin.sock");
}

int sl_ctl_cli_call(const struct sl_ctl_cli *cli, const json_t *req, json_t **resp)
{
	char err[512];
	int rc = sl_ctl_call(cli->admin, req, resp, cli->timeout_ms, err, sizeof(err));
	if (rc < 0) {
		bool down = rc == SL_ENOTFOUND || rc == SL_ECLOSED;
		fprintf(stderr, "%s: %s%s\n", cli->prog, err,
			down ? " — is shardlined running?" : "");
		return SL_CTL_EXIT_CONNECT;
	}
	if (!json_is_true(json_object_get(*resp, "ok"))) {
		const char *e = json_string_value(json_object_get(*resp, "error"));
		fprintf(stderr, "%s: daemon error: %s\n", cli->prog, e ? e : "(no message)");
		json_decref(*resp);
		*resp = NULL;
		return SL_CTL_EXIT_FAIL;
	}
	return SL_CTL_EXIT_OK;
}

int sl_ctl_cli_print(const struct sl_ctl_cli *cli, const json_t *obj)
{
	size_t flags = JSON_ENCODE_ANY | (cli->pretty ? JSON_INDENT(2) : JSON_COMPACT);
	if (json_dumpf(obj, stdout, flags) < 0 || fputc('\n', stdout) == EOF ||
	    fflush(stdout) == EOF) {
		fprintf(stderr, "%s: cannot write output: %s\n", cli->prog, strerror(errno));
		return SL_CTL_EXIT_FAIL;
	}
	return SL_CTL_EXIT_OK;
}
