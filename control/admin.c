/* SPDX-License-Identifier: Apache-2.0 */
#include "control/admin.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

#ifndef SL_VERSION
#define SL_VERSION "unknown"
#endif

/* Input is read in chunks of this size; a client's buffer grows up to the line limit. */
#define READ_CHUNK 16384
/* A client whose unread responses exceed this is not read from until it catches up, so a
 * client that pipelines requests without reading cannot make the daemon buffer without end. */
#define OUT_HIGH   (1024 * 1024)
#define MAX_EVENTS 64

struct client {
	int fd;
	char *in;
	size_t in_len, in_cap;
	bool discarding; /* skipping the rest of a line that was too long */
	bool eof;	 /* the peer shut down its side; close once responses are written */
	bool reading;	 /* EPOLLIN is armed */
	char *out;
	size_t out_off, out_len, out_cap;
	uint64_t last_ns;
};

struct command {
	char *name;
	const char *summary;
	sl_admin_handler_fn fn;
	void *arg;
};

struct sl_admin {
	int lfd, epfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	unsigned max_clients;
	uint64_t idle_ns;
	uint64_t started_ns;
	struct client **clients; /* max_clients slots, NULL when free */
	struct command *cmds;
	size_t ncmds;
	struct sl_config *cfg;
	sl_admin_apply_fn apply;
	void *apply_arg;
	struct sl_admin_stats st;
	bool have_mask;
	sigset_t wait_mask;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- socket file ------------------------------------------------------------------------ */

static int mkdirs(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
	return SL_EIO;
}

static void fill_sun(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, strlen(path) + 1);
}

/* Decides whether an existing path may be replaced: only a socket that refuses connections
 * (its daemon died without unlinking it). */
static int check_existing(const char *path, char *err, size_t errlen)
{
	struct stat stb;
	if (lstat(path, &stb) < 0)
		return 0;
	if (!S_ISSOCK(stb.st_mode)) {
		snprintf(err, errlen,
			 "%s exists and is not a socket; remove it or choose another "
			 "admin path",
			 path);
		return SL_EINVAL;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return SL_EIO;
	}
	struct sockaddr_un sa;
	fill_sun(&sa, path);
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	close(fd);
	if (rc == 0 || e == EAGAIN) {
		snprintf(err, errlen, "another daemon is listening on %s", path);
		return SL_EBUSY;
	}
	return 0; /* ECONNREFUSED and friends: a stale socket */
}

int sl_admin_open(const struct sl_admin_config *cfg, struct sl_admin **out, char *err,
		  size_t errlen)
{
	*out = NULL;
	const char *path = cfg ? cfg->path : NULL;
	char tmp[sizeof(((struct sockaddr_un *)0)->sun_path)];
	if (path == NULL || path[0] == '\0') {
		snprintf(err, errlen, "the admin socket path is empty");
		return SL_EINVAL;
	}
	int n = snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(err, errlen, "admin socket path %s is too long for a Unix socket", path);
		return SL_EINVAL;
	}
	int rc = mkdirs(path, err, errlen);
	if (rc < 0)
		return rc;
	rc = check_existing(path, err, errlen);
	if (rc < 0)
		return rc;

	struct sl_admin *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return SL_ENOMEM;
	a->lfd = a->epfd = -1;
	a->max_clients = cfg->max_clients ? cfg->max_clients : 64;
	a->idle_ns = (uint64_t)(cfg->client_idle_ms ? cfg->client_idle_ms : 60000) * 1000000u;
	a->started_ns = now_ns();
	snprintf(a->path, sizeof(a->path), "%s", path);
	a->clients = calloc(a->max_clients, sizeof(*a->clients));
	if (a->clients == NULL) {
		free(a);
		return SL_ENOMEM;
	}

	const char *what;
	a->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->lfd < 0) {
		what = "socket";
		goto fail_io;
	}
	struct sockaddr_un sa;
	fill_sun(&sa, tmp);
	unlink(tmp); /* a leftover of an earlier process that had our pid */
	if (bind(a->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		what = "bind";
		goto fail_io;
	}
	/* The temporary name is not known to anyone yet, so the window between bind (mode from
	 * the umask) and chmod exposes nothing; the final name only ever has mode 0600. */
	if (chmod(tmp, 0600) < 0) {
		what = "chmod";
		goto fail_tmp;
	}
	if (listen(a->lfd, 64) < 0) {
		what = "listen";
		goto fail_tmp;
	}
	if (rename(tmp, path) < 0) {
		what = "rename";
		goto fail_tmp;
	}
	struct stat stb;
	if (stat(path, &stb) == 0) {
		a->dev = stb.st_dev;
		a->ino = stb.st_ino;
	}
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (a->epfd < 0) {
		what = "epoll_create1";
		goto fail_io;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->lfd, &ev) < 0) {
		what = "epoll_ctl";
		goto fail_io;
	}
	if (sl_admin_register(a, "status", "version, uptime and counters", NULL, NULL) < 0 ||
	    sl_admin_register(a, "help", "list the commands", NULL, NULL) < 0) {
		sl_admin_close(a);
		return SL_ENOMEM;
	}
	*out = a;
	return 0;

fail_tmp:
	snprintf(err, errlen, "%s %s: %s", what, tmp, strerror(errno));
	unlink(tmp);
	goto fail;
fail_io:
	snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
fail:
	sl_admin_close(a);
	return SL_EIO;
}

static void client_close(struct sl_admin *a, unsigned slot)
{
	if (slot >= a->max_clients)
		return;
	struct client *c = a->clients[slot];
	if (c == NULL)
		return;
	/* Explicitly: close removes the descriptor from the epoll set only when no other
	 * descriptor shares its open file, and a child forked meanwhile (before its exec closes
	 * it) does share it; its events would then name a freed client. */
	epoll_ctl(a->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
	a->clients[slot] = NULL;
	a->st.clients--;
}

void sl_admin_close(struct sl_admin *a)
{
	if (a == NULL)
		return;
	if (a->clients)
		for (unsigned i = 0; i < a->max_clients; i++)
			client_close(a, i);
	free(a->clients);
	if (a->lfd >= 0) {
		close(a->lfd);
		/* Unlink only our own socket: a second daemon that replaced a stale file must not
		 * lose its socket when this one shuts down. */
		struct stat stb;
		if (a->ino != 0 && stat(a->path, &stb) == 0 && stb.st_dev == a->dev &&
		    stb.st_ino == a->ino)
			unlink(a->path);
	}
	if (a->epfd >= 0)
		close(a->epfd);
	for (size_t i = 0; i < a->ncmds; i++)
		free(a->cmds[i].name);
	free(a->cmds);
	free(a);
}

int sl_admin_fd(const struct sl_admin *a)
{
	return a->epfd;
}

const char *sl_admin_path(const struct sl_admin *a)
{
	return a->path;
}

void sl_admin_stats(const struct sl_admin *a, struct sl_admin_stats *out)
{
	*out = a->st;
}

int sl_admin_register(struct sl_admin *a, const char *cmd, const char *summary,
		      sl_admin_handler_fn fn, void *arg)
{
	if (cmd == NULL || cmd[0] == '\0')
		return SL_EINVAL;
	/* Built-ins are registered with fn NULL and dispatched by name; callers must pass one. */
	bool builtin = fn == NULL && (strcmp(cmd, "status") == 0 || strcmp(cmd, "help") == 0 ||
				      strcmp(cmd, "config") == 0);
	if (fn == NULL && !builtin)
		return SL_EINVAL;
	for (size_t i = 0; i < a->ncmds; i++) {
		if (strcmp(a->cmds[i].name, cmd) == 0) {
			a->cmds[i].summary = summary;
			a->cmds[i].fn = fn;
			a->cmds[i].arg = arg;
			return 0;
		}
	}
	struct command *nc = realloc(a->cmds, (a->ncmds + 1) * sizeof(*nc));
	if (nc == NULL)
		return SL_ENOMEM;
	a->cmds = nc;
	char *name = strdup(cmd);
	if (name == NULL)
		return SL_ENOMEM;
	a->cmds[a->ncmds++] = (struct command){name, summary, fn, arg};
	return 0;
}

int sl_admin_attach_config(struct sl_admin *a, struct sl_config *cfg, sl_admin_apply_fn apply,
			   void *arg)
{
	a->cfg = cfg;
	a->apply = apply;
	a->apply_arg = arg;
	return sl_admin_register(a, "config", "get, set or list settings (op, name, value)", NULL,
				 NULL);
}

/* ---- built-in commands ------------------------------------------------------------------ */

static int set_new(json_t *obj, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(obj, key, v) < 0)
		return SL_ENOMEM;
	return 0;
}

int sl_admin_status_base(struct sl_admin *a, json_t *resp)
{
	json_t *adm = json_pack(
		"{sI sI sI sI sI sI sI sI sI}", "clients", (json_int_t)a->st.clients, "accepted",
		(json_int_t)a->st.accepted, "rejected", (json_int_t)a->st.rejected, "requests",
		(json_int_t)a->st.requests, "errors", (json_int_t)a->st.errors, "lines_too_long",
		(json_int_t)a->st.lines_too_long, "idle_closed", (json_int_t)a->st.idle_closed,
		"bytes_in", (json_int_t)a->st.bytes_in, "bytes_out", (json_int_t)a->st.bytes_out);
	int rc = 0;
	rc |= set_new(resp, "version", json_string(SL_VERSION));
	rc |= set_new(resp, "pid", json_integer((json_int_t)getpid()));
	rc |= set_new(resp, "uptime_s",
		      json_integer((json_int_t)((now_ns() - a->started_ns) / 1000000000u)));
	rc |= set_new(resp, "admin", adm);
	return rc ? SL_ENOMEM : 0;
}

static int cmd_help(struct sl_admin *a, json_t *resp)
{
	json_t *arr = json_array();
	if (arr == NULL)
		return SL_ENOMEM;
	for (size_t i = 0; i < a->ncmds; i++)
		json_array_append_new(arr, json_pack("{ss ss}", "cmd", a->cmds[i].name, "summary",
						     a->cmds[i].summary ? a->cmds[i].summary : ""));
	return set_new(resp, "commands", arr);
}

json_t *sl_admin_setting_json(const struct sl_config *cfg, const struct sl_config_setting *s)
{
	const void *f = (const char *)cfg + s->offset;
	char buf[64];
	switch (s->type) {
	case SL_CONFIG_STRING:
		return json_string((const char *)f);
	case SL_CONFIG_INT:
		return json_integer(*(const int *)f);
	case SL_CONFIG_U64:
		return json_integer((json_int_t) * (const uint64_t *)f);
	case SL_CONFIG_BOOL:
		return json_boolean(*(const bool *)f);
	case SL_CONFIG_DURATION:
		sl_config_format_duration(*(const uint64_t *)f, buf, sizeof(buf));
		return json_string(buf);
	case SL_CONFIG_BYTES:
		sl_config_format_bytes(*(const uint64_t *)f, buf, sizeof(buf));
		return json_string(buf);
	case SL_CONFIG_LIST: {
		const struct sl_config_list *l = f;
		json_t *arr = json_array();
		for (unsigned i = 0; arr && i < l->count; i++)
			json_array_append_new(arr, json_string(l->item[i]));
		return arr;
	}
	}
	return NULL;
}

static const char *type_name(enum sl_config_type t)
{
	static const char *const names[] = {"string",	"int",	 "uint64", "bool",
					    "duration", "bytes", "list"};
	return names[t];
}

static json_t *setting_entry(const struct sl_config *cfg, const struct sl_config_setting *s)
{
	struct sl_config def;
	sl_config_default(&def);
	return json_pack("{ss ss so so sb ss}", "name", s->name, "type", type_name(s->type),
			 "value", sl_admin_setting_json(cfg, s), "default",
			 sl_admin_setting_json(&def, s), "runtime",
			 (s->flags & SL_CONFIG_RUNTIME) != 0, "help", s->help);
}

/* Turns a JSON value into the text sl_config_set parses: numbers and booleans as written,
 * arrays as comma-separated elements. */
static int value_text(const json_t *v, char *out, size_t size)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		return snprintf(out, size, "%s", json_string_value(v)) < (int)size ? 0 : SL_ENOSPC;
	case JSON_INTEGER:
		snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return 0;
	case JSON_TRUE:
	case JSON_FALSE:
		snprintf(out, size, "%s", json_is_true(v) ? "true" : "false");
		return 0;
	case JSON_ARRAY: {
		size_t i, off = 0;
		json_t *e;
		out[0] = '\0';
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e))
				return SL_EINVAL;
			int n = snprintf(out + off, size - off, "%s%s", i ? "," : "",
					 json_string_value(e));
			if (n < 0 || (size_t)n >= size - off)
				return SL_ENOSPC;
			off += (size_t)n;
		}
		return 0;
	}
	default:
		return SL_EINVAL;
	}
}

static int cmd_config(struct sl_admin *a, const json_t *req, json_t *resp, char *err, size_t errlen)
{
	if (a->cfg == NULL) {
		snprintf(err, errlen, "this server has no configuration attached");
		return SL_ENOTSUP;
	}
	const char *op = json_string_value(json_object_get(req, "op"));
	if (op == NULL) {
		snprintf(err, errlen, "missing field 'op' (get, set or list)");
		return SL_EINVAL;
	}
	if (strcmp(op, "list") == 0) {
		size_t n;
		const struct sl_config_setting *tab = sl_config_settings(&n);
		json_t *arr = json_array();
		if (arr == NULL)
			return SL_ENOMEM;
		for (size_t i = 0; i < n; i++)
			if (json_array_append_new(arr, setting_entry(a->cfg, &tab[i])) < 0) {
				json_decref(arr);
				return SL_ENOMEM;
			}
		return set_new(resp, "settings", arr);
	}
	if (strcmp(op, "get") != 0 && strcmp(op, "set") != 0) {
		snprintf(err, errlen, "unknown op '%s' (get, set or list)", op);
		return SL_EINVAL;
	}
	const char *name = json_string_value(json_object_get(req, "name"));
	if (name == NULL) {
		snprintf(err, errlen, "missing field 'name' (a setting name)");
		return SL_EINVAL;
	}
	const struct sl_config_setting *s = sl_config_find(name);
	if (s == NULL) {
		snprintf(err, errlen, "unknown setting '%s'", name);
		return SL_ENOTFOUND;
	}
	if (strcmp(op, "get") == 0) {
		int rc = set_new(resp, "name", json_string(s->name));
		rc |= set_new(resp, "value", sl_admin_setting_json(a->cfg, s));
		rc |= set_new(resp, "runtime", json_boolean(s->flags & SL_CONFIG_RUNTIME));
		return rc ? SL_ENOMEM : 0;
	}
	const json_t *jv = json_object_get(req, "value");
	if (jv == NULL) {
		snprintf(err, errlen, "missing field 'value'");
		return SL_EINVAL;
	}
	if (!(s->flags & SL_CONFIG_RUNTIME)) {
		snprintf(err, errlen,
			 "setting '%s' cannot be changed at runtime; set it in the "
			 "config file or with --%s and restart shardlined",
			 s->name, s->name);
		for (char *p = strstr(err, "--"); p && *p && *p != ' '; p++)
			if (*p == '_')
				*p = '-';
		return SL_EBUSY;
	}
	char text[SL_CONFIG_LIST_MAX * SL_CONFIG_ADDR_MAX];
	int rc = value_text(jv, text, sizeof(text));
	if (rc < 0) {
		snprintf(err, errlen,
			 "field 'value' of %s must be a string, integer, boolean or "
			 "array of strings",
			 s->name);
		return rc;
	}
	struct sl_config next = *a->cfg;
	rc = sl_config_set(&next, s->name, text, false, err, errlen);
	if (rc < 0)
		return rc;
	if (a->apply) {
		rc = a->apply(a->apply_arg, s, &next, err, errlen);
		if (rc < 0)
			return rc;
	}
	json_t *prev = sl_admin_setting_json(a->cfg, s);
	*a->cfg = next;
	rc = set_new(resp, "name", json_string(s->name));
	rc |= set_new(resp, "value", sl_admin_setting_json(a->cfg, s));
	rc |= set_new(resp, "previous", prev);
	return rc ? SL_ENOMEM : 0;
}

/* ---- request dispatch ------------------------------------------------------------------- */

static int out_append(struct client *c, const char *data, size_t len)
{
	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + len)
			cap *= 2;
		char *n = realloc(c->out, cap);
		if (n == NULL)
			return SL_ENOMEM;
		c->out = n;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

static void respond(struct sl_admin *a, struct client *c, json_t *resp)
{
	char *text = json_dumps(resp, JSON_COMPACT);
	a->st.requests++;
	if (!json_is_true(json_object_get(resp, "ok")))
		a->st.errors++;
	if (text == NULL) {
		static const char oom[] = "{\"ok\":false,\"error\":\"out of memory\"}\n";
		out_append(c, oom, sizeof(oom) - 1);
		return;
	}
	out_append(c, text, strlen(text));
	out_append(c, "\n", 1);
	free(text);
}

static void respond_error(struct sl_admin *a, struct client *c, const json_t *id, const char *msg)
{
	json_t *r = json_pack("{sb ss}", "ok", 0, "error", msg);
	if (r && id)
		json_object_set(r, "id", (json_t *)id);
	respond(a, c, r ? r : json_null());
	json_decref(r);
}

static void handle_line(struct sl_admin *a, struct client *c, const char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	size_t skip = 0;
	while (skip < len && (line[skip] == ' ' || line[skip] == '\t'))
		skip++;
	if (skip == len)
		return; /* blank lines are keep-alives from people typing into socat */
	json_error_t jerr;
	json_t *req = json_loadb(line + skip, len - skip, JSON_REJECT_DUPLICATES, &jerr);
	char err[512];
	if (req == NULL) {
		snprintf(err, sizeof(err), "bad JSON at column %d: %s", jerr.column, jerr.text);
		respond_error(a, c, NULL, err);
		return;
	}
	const json_t *id = json_object_get(req, "id");
	if (!json_is_object(req)) {
		respond_error(a, c, NULL,
			      "a request must be a JSON object such as {\"cmd\":\"status\"}");
		json_decref(req);
		return;
	}
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	if (cmd == NULL) {
		respond_error(a, c, id,
			      "missing field 'cmd' (a string; send {\"cmd\":\"help\"} for "
			      "the list)");
		json_decref(req);
		return;
	}
	struct command *k = NULL;
	for (size_t i = 0; i < a->ncmds; i++)
		if (strcmp(a->cmds[i].name, cmd) == 0)
			k = &a->cmds[i];
	if (k == NULL) {
		snprintf(err, sizeof(err),
			 "unknown command '%.200s' (send {\"cmd\":\"help\"} for the list)", cmd);
		respond_error(a, c, id, err);
		json_decref(req);
		return;
	}
	json_t *resp = json_pack("{sb}", "ok", 1);
	if (resp && id)
		json_object_set(resp, "id", (json_t *)id);
	err[0] = '\0';
	int rc;
	if (resp == NULL)
		rc = SL_ENOMEM;
	else if (k->fn)
		rc = k->fn(k->arg, req, resp, err, sizeof(err));
	else if (strcmp(k->name, "status") == 0)
		rc = sl_admin_status_base(a, resp);
	else if (strcmp(k->name, "help") == 0)
		rc = cmd_help(a, resp);
	else
		rc = cmd_config(a, req, resp, err, sizeof(err));
	if (rc < 0) {
		if (err[0] == '\0')
			snprintf(err, sizeof(err), "%s: %s", cmd, sl_strerror(rc));
		respond_error(a, c, id, err);
	} else {
		respond(a, c, resp);
	}
	json_decref(resp);
	json_decref(req);
}

/* ---- client I/O ------------------------------------------------------------------------- */

static void client_arm(struct sl_admin *a, struct client *c)
{
	bool pending = c->out_len > c->out_off;
	bool want_read = !c->eof && c->out_len - c->out_off < OUT_HIGH;
	struct epoll_event ev = {.events = (want_read ? EPOLLIN : 0) | (pending ? EPOLLOUT : 0),
				 .data.ptr = c};
	c->reading = want_read;
	epoll_ctl(a->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what is pending until the socket is full. Returns false when the connection failed. */
static bool client_flush(struct sl_admin *a, struct client *c)
{
	while (c->out_len > c->out_off) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return true;
			if (errno == EINTR)
				continue;
			return false;
		}
		c->out_off += (size_t)n;
		a->st.bytes_out += (uint64_t)n;
	}
	c->out_off = c->out_len = 0;
	return true;
}

static void line_too_long(struct sl_admin *a, struct client *c)
{
	char msg[96];
	snprintf(msg, sizeof(msg), "request line too long (limit %d bytes)", SL_ADMIN_LINE_MAX);
	a->st.lines_too_long++;
	respond_error(a, c, NULL, msg);
}

/* Answers every complete line in the input buffer and keeps the partial tail. */
static void client_lines(struct sl_admin *a, struct client *c)
{
	size_t start = 0;
	for (;;) {
		char *nl = memchr(c->in + start, '\n', c->in_len - start);
		if (nl == NULL)
			break;
		size_t len = (size_t)(nl - (c->in + start));
		if (c->discarding) {
			c->discarding = false; /* the end of an over-long line, already answered */
		} else if (len > SL_ADMIN_LINE_MAX) {
			/* A long line that arrived in one read is refused like one that did not. */
			line_too_long(a, c);
		} else {
			handle_line(a, c, c->in + start, len);
		}
		start += len + 1;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	if (c->discarding) {
		c->in_len = 0;
	} else if (c->in_len > SL_ADMIN_LINE_MAX) {
		line_too_long(a, c);
		c->in_len = 0;
		c->discarding = true;
	}
}

/* Reads once (level-triggered epoll brings us back for more, which keeps clients fair).
 * Returns false when the client must be closed. */
static bool client_read(struct sl_admin *a, struct client *c)
{
	if (c->in_cap - c->in_len < READ_CHUNK) {
		size_t cap = c->in_len + READ_CHUNK;
		char *n = realloc(c->in, cap);
		if (n == NULL)
			return false;
		c->in = n;
		c->in_cap = cap;
	}
	ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
	c->last_ns = now_ns();
	if (n == 0) {
		/* The peer shut down its side (`echo ... | socat`): a last line without a newline
		 * is still a request, and its answer is still owed. */
		c->eof = true;
		if (c->in_len > SL_ADMIN_LINE_MAX)
			line_too_long(a, c);
		else if (c->in_len > 0 && !c->discarding)
			handle_line(a, c, c->in, c->in_len);
		c->in_len = 0;
		return true;
	}
	a->st.bytes_in += (uint64_t)n;
	c->in_len += (size_t)n;
	client_lines(a, c);
	return true;
}

static void accept_clients(struct sl_admin *a)
{
	for (;;) {
		int fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		unsigned slot;
		for (slot = 0; slot < a->max_clients; slot++)
			if (a->clients[slot] == NULL)
				break;
		struct client *c = slot < a->max_clients ? calloc(1, sizeof(*c)) : NULL;
		if (c == NULL) {
			static const char busy[] =
				"{\"ok\":false,\"error\":\"too many admin clients\"}\n";
			ssize_t ign = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			(void)ign;
			close(fd);
			a->st.rejected++;
			continue;
		}
		c->fd = fd;
		c->last_ns = now_ns();
		c->reading = true;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		a->clients[slot] = c;
		a->st.clients++;
		a->st.accepted++;
	}
}

static unsigned slot_of(struct sl_admin *a, struct client *c)
{
	for (unsigned i = 0; i < a->max_clients; i++)
		if (a->clients[i] == c)
			return i;
	return a->max_clients;
}

void sl_admin_set_wait_sigmask(struct sl_admin *a, const sigset_t *mask)
{
	a->have_mask = mask != NULL;
	if (mask)
		a->wait_mask = *mask;
}

int sl_admin_poll(struct sl_admin *a, int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	int n = epoll_pwait(a->epfd, evs, MAX_EVENTS, timeout_ms,
			    a->have_mask ? &a->wait_mask : NULL);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return SL_EIO;
	}
	uint64_t before = a->st.requests;
	for (int i = 0; i < n; i++) {
		struct client *c = evs[i].data.ptr;
		if (evs[i].events == 0)
			continue;
		if (c == NULL) {
			accept_clients(a);
			continue;
		}
		bool keep = true;
		if (evs[i].events & EPOLLIN)
			keep = client_read(a, c);
		else if (evs[i].events & (EPOLLERR | EPOLLHUP))
			keep = false;
		if (keep)
			keep = client_flush(a, c);
		if (keep && c->eof && c->out_len == c->out_off)
			keep = false; /* every answer to a half-closed client is written */
		if (keep) {
			client_arm(a, c);
		} else {
			client_close(a, slot_of(a, c));
			/* A later event of this batch may name the freed client: drop them. */
			for (int j = i + 1; j < n; j++)
				if (evs[j].data.ptr == c)
					evs[j].data.ptr = NULL, evs[j].events = 0;
		}
	}
	uint64_t now = now_ns();
	for (unsigned i = 0; i < a->max_clients; i++) {
		struct client *c = a->clients[i];
		if (c && now - c->last_ns > a->idle_ns) {
			a->st.idle_closed++;
			client_close(a, i);
		}
	}
	return (int)(a->st.requests - before);
}
