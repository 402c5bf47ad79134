/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the admin server with real Unix sockets in a temporary directory, driven by the ctl
 * client and, at the end, by the built shardctl binary (path in $SHARDCTL, set by meson). The
 * server runs sl_admin_poll in its own thread, as the control lcore would, while the test
 * thread plays the clients. There is no reference implementation; the cases follow the brief
 * of issue 5: socket creation and permissions, protocol errors, concurrent and stalled
 * clients, the config command, shardctl output and exit codes.
 */
#include "core/test_common.h"
#include "control/run_ctl_test.h"
#include "core/err.h"
#include "control/admin.h"
#include "control/ctl.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 5000

static char tmpdir[] = "/tmp/sl_admin_test.XXXXXX";
static char sock_path[200];

struct server {
	struct sl_admin *a;
	struct sl_config cfg;
	pthread_t th;
	atomic_bool stop;
	bool running;
};

static void *server_main(void *arg)
{
	struct server *s = arg;
	while (!atomic_load(&s->stop))
		sl_admin_poll(s->a, 10);
	return NULL;
}

/* Servers still open when a test fails are closed by the teardown, so that one failure does
 * not leave a thread serving a dead test's stack. */
static struct server *open_servers[4];

static void server_open(struct server *s, unsigned max_clients, uint32_t idle_ms)
{
	char err[256];
	struct sl_admin_config ac = {
		.path = sock_path, .max_clients = max_clients, .client_idle_ms = idle_ms};
	memset(s, 0, sizeof(*s));
	sl_config_default(&s->cfg);
	int rc = sl_admin_open(&ac, &s->a, err, sizeof(err));
	if (rc != 0)
		fail_msg("sl_admin_open: %s", err);
	assert_int_equal(sl_admin_attach_config(s->a, &s->cfg, NULL, NULL), 0);
	for (int i = 0; i < 4; i++)
		if (open_servers[i] == NULL) {
			open_servers[i] = s;
			break;
		}
}

static void server_forget(struct server *s)
{
	for (int i = 0; i < 4; i++)
		if (open_servers[i] == s)
			open_servers[i] = NULL;
}

static void server_run(struct server *s)
{
	atomic_store(&s->stop, false);
	assert_int_equal(pthread_create(&s->th, NULL, server_main, s), 0);
	s->running = true;
}

static void server_stop(struct server *s)
{
	if (s->running) {
		atomic_store(&s->stop, true);
		pthread_join(s->th, NULL);
		s->running = false;
	}
	sl_admin_close(s->a);
	s->a = NULL;
	server_forget(s);
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 4; i++)
		if (open_servers[i])
			server_stop(open_servers[i]);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	snprintf(sock_path, sizeof(sock_path), "%s/run/admin.sock", tmpdir);
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void fill_sa(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sa->sun_path));
	memcpy(sa->sun_path, path, strlen(path) + 1);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (hay == NULL || strstr(hay, needle) == NULL)
		fail_msg("'%s' does not contain '%s'", hay ? hay : "(null)", needle);
}

static struct sl_ctl *client(void)
{
	struct sl_ctl *c;
	char err[256];
	int rc = sl_ctl_connect(sock_path, TIMEOUT_MS, &c, err, sizeof(err));
	if (rc != 0)
		fail_msg("connect: %s", err);
	return c;
}

/* Sends raw text on c and returns the parsed response line. */
static json_t *exchange(struct sl_ctl *c, const char *text)
{
	char err[256];
	const char *line;
	assert_int_equal(sl_ctl_send(c, text, strlen(text), TIMEOUT_MS, err, sizeof(err)), 0);
	int n = sl_ctl_read_line(c, &line, TIMEOUT_MS, err, sizeof(err));
	if (n < 0)
		fail_msg("read_line: %s", err);
	json_error_t jerr;
	json_t *r = json_loads(line, 0, &jerr);
	if (!json_is_object(r))
		fail_msg("response is not an object: %s", line);
	return r;
}

/* One request on a fresh connection. */
static json_t *call(const char *text)
{
	struct sl_ctl *c = client();
	json_t *r = exchange(c, text);
	sl_ctl_close(c);
	return r;
}

static const char *error_of(const json_t *r)
{
	assert_true(json_is_false(json_object_get(r, "ok")));
	return json_string_value(json_object_get(r, "error"));
}

/* ---- socket file ------------------------------------------------------------------------ */

static void test_socket_mode_and_status(void **state)
{
	(void)state;
	struct server s;
	server_open(&s, 0, 0);
	struct stat stb;
	assert_int_equal(stat(sock_path, &stb), 0);
	assert_true(S_ISSOCK(stb.st_mode));
	assert_int_equal(stb.st_mode & 0777, 0600);
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/run", tmpdir);
	assert_int_equal(stat(dir, &stb), 0);
	assert_int_equal(stb.st_mode & 0777, 0700);
	assert_string_equal(sl_admin_path(s.a), sock_path);
	/* No temporary name is left beside it. */
	char tmp[256];
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", sock_path, (long)getpid());
	assert_int_equal(access(tmp, F_OK), -1);

	server_run(&s);
	json_t *r = call("{\"cmd\":\"status\"}\n");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "version")), SL_VERSION);
	assert_int_equal(json_integer_value(json_object_get(r, "pid")), getpid());
	assert_true(json_is_integer(json_object_get(r, "uptime_s")));
	json_t *adm = json_object_get(r, "admin");
	assert_int_equal(json_integer_value(json_object_get(adm, "accepted")), 1);
	assert_int_equal(json_integer_value(json_object_get(adm, "clients")), 1);
	json_decref(r);

	r = call("{\"cmd\":\"help\"}\n");
	json_t *cmds = json_object_get(r, "commands");
	assert_int_equal(json_array_size(cmds), 3); /* status, help, config */
	json_decref(r);
	server_stop(&s);
	/* Closing removed the socket it created. */
	assert_int_equal(access(sock_path, F_OK), -1);
}

static void test_socket_takeover_rules(void **state)
{
	(void)state;
	struct server s, t;
	char err[256];
	struct sl_admin *b;
	struct sl_admin_config ac = {.path = sock_path};

	/* A live server's socket is never taken. */
	server_open(&s, 0, 0);
	assert_int_equal(sl_admin_open(&ac, &b, err, sizeof(err)), SL_EBUSY);
	assert_contains(err, "another daemon is listening");
	assert_null(b);
	server_stop(&s);

	/* A stale socket (its owner died without unlinking) is replaced. */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa;
	fill_sa(&sa, sock_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(access(sock_path, F_OK), 0);
	server_open(&s, 0, 0);
	server_run(&s);
	json_t *r = call("{\"cmd\":\"status\"}\n");
	json_decref(r);
	server_stop(&s);

	/* A regular file is not a socket and is left alone. */
	FILE *f = fopen(sock_path, "w");
	fputs("precious", f);
	fclose(f);
	assert_int_equal(sl_admin_open(&ac, &b, err, sizeof(err)), SL_EINVAL);
	assert_contains(err, "is not a socket");
	assert_int_equal(unlink(sock_path), 0);

	/* A server closed after its file was removed and another server took the path leaves
	 * the newcomer's socket in place. */
	server_open(&s, 0, 0);
	assert_int_equal(unlink(sock_path), 0);
	server_open(&t, 0, 0);
	server_stop(&s);
	assert_int_equal(access(sock_path, F_OK), 0);
	server_stop(&t);
	assert_int_equal(access(sock_path, F_OK), -1);

	/* A path too long for sun_path is refused before anything is created. */
	char longp[200];
	memset(longp, 'p', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	ac.path = longp;
	assert_int_equal(sl_admin_open(&ac, &b, err, sizeof(err)), SL_EINVAL);
	assert_contains(err, "too long");
	ac.path = "";
	assert_int_equal(sl_admin_open(&ac, &b, err, sizeof(err)), SL_EINVAL);
}

/* ---- protocol errors -------------------------------------------------------------------- */

static void test_malformed_requests(void **state)
{
	(void)state;
	struct server s;
	server_open(&s, 0, 0);
	server_run(&s);
	struct sl_ctl *c = client();
	json_t *r;

	r = exchange(c, "{\"cmd\":\n");
	assert_contains(error_of(r), "bad JSON");
	json_decref(r);
	r = exchange(c, "[1,2]\n");
	assert_contains(error_of(r), "must be a JSON object");
	json_decref(r);
	r = exchange(c, "{\"id\":5}\n");
	assert_contains(error_of(r), "missing field 'cmd'");
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 5);
	json_decref(r);
	r = exchange(c, "{\"cmd\":42}\n");
	assert_contains(error_of(r), "missing field 'cmd'");
	json_decref(r);
	r = exchange(c, "{\"cmd\":\"reboot\",\"id\":\"x\"}\n");
	assert_contains(error_of(r), "unknown command 'reboot'");
	assert_string_equal(json_string_value(json_object_get(r, "id")), "x");
	json_decref(r);
	r = exchange(c, "{\"cmd\":\"status\",\"cmd\":\"help\"}\n");
	assert_contains(error_of(r), "duplicate");
	json_decref(r);
	/* Blank lines and CRLF are tolerated; the connection still works after all of the
	 * above. */
	r = exchange(c, "\n   \n{\"cmd\":\"status\",\"id\":1}\r\n");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
	json_decref(r);
	sl_ctl_close(c);
	server_stop(&s);
}

static void test_line_too_long(void **state)
{
	(void)state;
	struct server s;
	server_open(&s, 0, 0);
	server_run(&s);
	struct sl_ctl *c = client();
	char err[256];
	size_t n = SL_ADMIN_LINE_MAX + 5000;
	char *big = malloc(n + 64);
	memset(big, ' ', n);
	memcpy(big, "{\"cmd\":\"status\",\"pad\":\"", 23);
	memcpy(big + n, "\"}\n{\"cmd\":\"status\",\"id\":2}\n", 28);
	assert_int_equal(sl_ctl_send(c, big, strlen(big), TIMEOUT_MS, err, sizeof(err)), 0);
	free(big);
	const char *line;
	assert_true(sl_ctl_read_line(c, &line, TIMEOUT_MS, err, sizeof(err)) > 0);
	assert_contains(line, "request line too long (limit 65536 bytes)");
	/* The rest of the long line was skipped and the next request answered. */
	assert_true(sl_ctl_read_line(c, &line, TIMEOUT_MS, err, sizeof(err)) > 0);
	assert_contains(line, "\"ok\":true");
	assert_contains(line, "\"id\":2");
	sl_ctl_close(c);

	/* A line of exactly the limit is still accepted. */
	c = client();
	big = malloc(SL_ADMIN_LINE_MAX + 2);
	memset(big, ' ', SL_ADMIN_LINE_MAX);
	memcpy(big, "{\"cmd\":\"help\"}", 14);
	big[SL_ADMIN_LINE_MAX] = '\n';
	big[SL_ADMIN_LINE_MAX + 1] = '\0';
	json_t *r = exchange(c, big);
	free(big);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	sl_ctl_close(c);
	server_stop(&s);
}

/* `printf '{"cmd":"status"}' | socat - UNIX-CONNECT:...`: no final newline, then a shutdown of
 * the write side. The request is still answered before the server closes. */
static void test_half_close_without_newline(void **state)
{
	(void)state;
	struct server s;
	server_open(&s, 0, 0);
	server_run(&s);
	const char *req = "{\"cmd\":\"help\"}\n{\"cmd\":\"status\",\"id\":9}";
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa;
	fill_sa(&sa, sock_path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	char buf[8192];
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
		assert_true(n >= 0);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	char *nl = strchr(buf, '\n');
	assert_non_null(nl);
	assert_contains(nl + 1, "\"id\":9");
	assert_int_equal(buf[got - 1], '\n');
	server_stop(&s);
}

/* A process forked while a client is connected (a test running shardctl, a daemon starting a
 * helper) shares the client's socket until it execs or exits: the server's close must still
 * take the client out of its epoll set, or a later event names the freed client (heap
 * use-after-free under ASan). */
static void test_close_while_a_child_holds_the_socket(void **state)
{
	(void)state;
	struct server s;
	server_open(&s, 0, 0);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa;
	fill_sa(&sa, sock_path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	for (int i = 0; i < 10; i++)
		sl_admin_poll(s.a, 10); /* accepted */
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		usleep(300 * 1000); /* holds every descriptor of the server's process */
		_exit(0);
	}
	const char *req = "{\"cmd\":\"help\"}\n";
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	/* The server answers and closes its end; the peer then closes too, which (were the
	 * closed client still registered) reports HUP for it on every later poll. */
	for (int i = 0; i < 20; i++)
		sl_admin_poll(s.a, 5);
	close(fd);
	for (int i = 0; i < 20; i++)
		sl_admin_poll(s.a, 5);
	struct sl_admin_stats st;
	sl_admin_stats(s.a, &st);
	assert_int_equal(st.clients, 0);
	assert_int_equal(st.requests, 1);
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	server_stop(&s);
}

/* ---- handlers --------------------------------------------------------------------------- */

static int status_handler(void *arg, const json_t *req, json_t *resp, char *err, size_t errlen)
{
	(void)req;
	(void)err;
	(void)errlen;
	struct sl_admin *a = *(struct sl_admin **)arg;
	int rc = sl_admin_status_base(a, resp);
	json_object_set_new(resp, "driver", json_string("socket"));
	json_t *w = json_pack("[{si si si si sI sI sI sI}]", "lcore", 1, "connections", 3, "tracks",
			      2, "subscribers", 7, "rx_packets", (json_int_t)100, "rx_bytes",
			      (json_int_t)123456, "tx_packets", (json_int_t)700, "tx_bytes",
			      (json_int_t)654321);
	json_object_set_new(resp, "workers", w);
	return rc;
}

/* When set, the connections handler answers without its array. */
static atomic_bool conns_broken;

static int conns_handler(void *arg, const json_t *req, json_t *resp, char *err, size_t errlen)
{
	(void)arg;
	(void)req;
	(void)err;
	(void)errlen;
	if (atomic_load(&conns_broken))
		return 0;
	json_t *c = json_pack("[{si ss sb sf sI sI sI sI}]", "worker", 1, "remote",
			      "127.0.0.1:4000", "established", 1, "rtt_ms", 1.5, "cwnd",
			      (json_int_t)12288, "bytes_in_flight", (json_int_t)0, "streams",
			      (json_int_t)2, "payload_out", (json_int_t)5000);
	return json_object_set_new(resp, "connections", c) == 0 ? 0 : SL_ENOMEM;
}

static int failing_handler(void *arg, const json_t *req, json_t *resp, char *err, size_t errlen)
{
	(void)resp;
	if (arg != NULL)
		return SL_EBUSY; /* no message: the code's text is used */
	const char *what = json_string_value(json_object_get(req, "what"));
	if (what == NULL) {
		snprintf(err, errlen, "missing field 'what'");
		return SL_EINVAL;
	}
	json_object_set_new(resp, "echo", json_string(what));
	return 0;
}

static void test_register_commands(void **state)
{
	(void)state;
	struct server s;
	server_open(&s, 0, 0);
	assert_int_equal(sl_admin_register(s.a, "status", "daemon status", status_handler, &s.a),
			 0);
	assert_int_equal(sl_admin_register(s.a, "echo", "echo 'what'", failing_handler, NULL), 0);
	assert_int_equal(sl_admin_register(s.a, "busy", "always busy", failing_handler, &s), 0);
	assert_int_equal(sl_admin_register(s.a, "", "x", failing_handler, NULL), SL_EINVAL);
	assert_int_equal(sl_admin_register(s.a, "nofn", "x", NULL, NULL), SL_EINVAL);
	server_run(&s);

	json_t *r = call("{\"cmd\":\"status\"}\n");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "driver")), "socket");
	assert_non_null(json_object_get(r, "uptime_s"));
	json_t *w0 = json_array_get(json_object_get(r, "workers"), 0);
	assert_int_equal(json_integer_value(json_object_get(w0, "subscribers")), 7);
	json_decref(r);

	r = call("{\"cmd\":\"echo\",\"what\":\"hi\"}\n");
	assert_string_equal(json_string_value(json_object_get(r, "echo")), "hi");
	json_decref(r);
	r = call("{\"cmd\":\"echo\"}\n");
	assert_string_equal(error_of(r), "missing field 'what'");
	json_decref(r);
	r = call("{\"cmd\":\"busy\"}\n");
	assert_contains(error_of(r), "busy: ");
	assert_null(json_object_get(r, "echo"));
	json_decref(r);

	r = call("{\"cmd\":\"help\"}\n");
	assert_int_equal(json_array_size(json_object_get(r, "commands")), 5);
	json_decref(r);
	server_stop(&s);
}

/* ---- config ----------------------------------------------------------------------------- */

static int veto_calls;

static int veto_big_conns(void *arg, const struct sl_config_setting *s,
			  const struct sl_config *next, char *err, size_t errlen)
{
	(void)arg;
	veto_calls++;
	if (strcmp(s->name, "max_conns") == 0 && next->max_conns > 50000) {
		snprintf(err, errlen, "max_conns above 50000 needs a restart");
		return SL_EBUSY;
	}
	return 0;
}

static void test_config_command(void **state)
{
	(void)state;
	struct server s;
	server_open(&s, 0, 0);
	assert_int_equal(sl_admin_attach_config(s.a, &s.cfg, veto_big_conns, NULL), 0);
	veto_calls = 0;
	server_run(&s);
	json_t *r;

	r = call("{\"cmd\":\"config\",\"op\":\"get\",\"name\":\"cache_age\"}\n");
	assert_string_equal(json_string_value(json_object_get(r, "value")), "30s");
	assert_true(json_is_true(json_object_get(r, "runtime")));
	json_decref(r);
	r = call("{\"cmd\":\"config\",\"op\":\"get\",\"name\":\"listen\"}\n");
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "value"), 0)),
			    "127.0.0.1:4443");
	json_decref(r);
	r = call("{\"cmd\":\"config\",\"op\":\"get\",\"name\":\"max-conns\"}\n");
	assert_int_equal(json_integer_value(json_object_get(r, "value")), 10000);
	assert_string_equal(json_string_value(json_object_get(r, "name")), "max_conns");
	json_decref(r);

	r = call("{\"cmd\":\"config\",\"op\":\"set\",\"name\":\"cache_age\",\"value\":\"10s\"}\n");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "previous")), "30s");
	assert_string_equal(json_string_value(json_object_get(r, "value")), "10s");
	json_decref(r);
	r = call("{\"cmd\":\"config\",\"op\":\"set\",\"name\":\"max_conns\",\"value\":20}\n");
	assert_int_equal(json_integer_value(json_object_get(r, "value")), 20);
	json_decref(r);
	r = call("{\"cmd\":\"config\",\"op\":\"set\",\"name\":\"max_conns\",\"value\":60000}\n");
	assert_string_equal(error_of(r), "max_conns above 50000 needs a restart");
	json_decref(r);
	r = call(
		"{\"cmd\":\"config\",\"op\":\"set\",\"name\":\"cache_age\",\"value\":\"later\"}\n");
	assert_contains(error_of(r), "bad value 'later' for cache_age");
	json_decref(r);
	r = call("{\"cmd\":\"config\",\"op\":\"set\",\"name\":\"listen\",\"value\":[\"1.2.3.4:5\"]}"
		 "\n");
	assert_contains(error_of(r), "'listen' cannot be changed at runtime");
	assert_contains(error_of(r), "--listen");
	json_decref(r);
	r = call("{\"cmd\":\"config\",\"op\":\"set\",\"name\":\"io_cores\",\"value\":2}\n");
	assert_contains(error_of(r), "--io-cores");
	json_decref(r);
	r = call("{\"cmd\":\"config\",\"op\":\"set\",\"name\":\"cache_age\",\"value\":1.5}\n");
	assert_contains(error_of(r), "field 'value' of cache_age must be");
	json_decref(r);
	r = call("{\"cmd\":\"config\",\"op\":\"set\",\"name\":\"cache_age\"}\n");
	assert_string_equal(error_of(r), "missing field 'value'");
	json_decref(r);
	r = call("{\"cmd\":\"config\",\"op\":\"get\"}\n");
	assert_contains(error_of(r), "missing field 'name'");
	json_decref(r);
	r = call("{\"cmd\":\"config\",\"op\":\"get\",\"name\":\"colour\"}\n");
	assert_string_equal(error_of(r), "unknown setting 'colour'");
	json_decref(r);
	r = call("{\"cmd\":\"config\"}\n");
	assert_contains(error_of(r), "missing field 'op'");
	json_decref(r);
	r = call("{\"cmd\":\"config\",\"op\":\"delete\"}\n");
	assert_contains(error_of(r), "unknown op 'delete'");
	json_decref(r);

	r = call("{\"cmd\":\"config\",\"op\":\"list\"}\n");
	size_t n;
	sl_config_settings(&n);
	json_t *arr = json_object_get(r, "settings");
	assert_int_equal(json_array_size(arr), n);
	json_t *e;
	size_t i;
	bool seen = false;
	json_array_foreach(arr, i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "name")), "cache_age") == 0) {
			seen = true;
			assert_string_equal(json_string_value(json_object_get(e, "value")), "10s");
			assert_string_equal(json_string_value(json_object_get(e, "default")),
					    "30s");
			assert_string_equal(json_string_value(json_object_get(e, "type")),
					    "duration");
		}
		assert_non_null(json_object_get(e, "help"));
	}
	assert_true(seen);
	json_decref(r);
	server_stop(&s);

	/* Only valid runtime changes reached the callback, and the failed ones left no trace. */
	assert_int_equal(veto_calls, 3);
	assert_int_equal(s.cfg.cache_age_ns, UINT64_C(10000000000));
	assert_int_equal(s.cfg.max_conns, 20);
	assert_int_equal(s.cfg.listen.count, 1);
}

/* ---- many clients ----------------------------------------------------------------------- */

/* A client that sends half a line and stalls, and one that pipelines requests without reading
 * its answers, do not delay a third one. */
static void test_stalled_clients_do_not_block_others(void **state)
{
	(void)state;
	struct server s;
	char err[256];
	server_open(&s, 0, 0);
	server_run(&s);

	struct sl_ctl *stalled = client();
	assert_int_equal(sl_ctl_send(stalled, "{\"cmd\":\"sta", 11, TIMEOUT_MS, err, sizeof(err)),
			 0);

	/* ~4 MB of answers that nobody reads: more than the socket buffers and the server's
	 * output high-water mark, so the server must stop reading this client. */
	struct sl_ctl *greedy = client();
	const char *req = "{\"cmd\":\"config\",\"op\":\"list\"}\n";
	char *burst = malloc(strlen(req) * 2000 + 1);
	burst[0] = '\0';
	for (int i = 0; i < 2000; i++)
		strcat(burst, req);
	/* The send may block once the server stops reading; a short timeout bounds it. */
	(void)sl_ctl_send(greedy, burst, strlen(burst), 500, err, sizeof(err));
	free(burst);

	struct sl_ctl *cs[8];
	for (int i = 0; i < 8; i++)
		cs[i] = client();
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 8; i++) {
			char text[64];
			snprintf(text, sizeof(text), "{\"cmd\":\"help\",\"id\":%d}\n",
				 i * 10 + round);
			json_t *r = exchange(cs[i], text);
			assert_int_equal(json_integer_value(json_object_get(r, "id")),
					 i * 10 + round);
			json_decref(r);
		}
	for (int i = 0; i < 8; i++)
		sl_ctl_close(cs[i]);

	/* The stalled client finishes its line and gets its answer. */
	json_t *r = exchange(stalled, "tus\",\"id\":77}\n");
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 77);
	json_decref(r);
	sl_ctl_close(stalled);

	/* The greedy client still gets its answers, in order, when it reads. */
	const char *line;
	for (int i = 0; i < 50; i++)
		assert_true(sl_ctl_read_line(greedy, &line, TIMEOUT_MS, err, sizeof(err)) > 0);
	assert_contains(line, "\"settings\"");
	sl_ctl_close(greedy);
	server_stop(&s);
}

/* Pipelined requests in one write are answered in order on the same connection. */
static void test_pipelined_requests(void **state)
{
	(void)state;
	struct server s;
	char err[256];
	server_open(&s, 0, 0);
	server_run(&s);
	struct sl_ctl *c = client();
	char text[4096] = "";
	for (int i = 0; i < 50; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
			 "{\"cmd\":\"%s\",\"id\":%d}\n", i % 3 ? "status" : "nope", i);
	assert_int_equal(sl_ctl_send(c, text, strlen(text), TIMEOUT_MS, err, sizeof(err)), 0);
	for (int i = 0; i < 50; i++) {
		const char *line;
		assert_true(sl_ctl_read_line(c, &line, TIMEOUT_MS, err, sizeof(err)) > 0);
		json_t *r = json_loads(line, 0, NULL);
		assert_int_equal(json_integer_value(json_object_get(r, "id")), i);
		assert_int_equal(json_is_true(json_object_get(r, "ok")), i % 3 != 0);
		json_decref(r);
	}
	sl_ctl_close(c);
	server_stop(&s);
	(void)err;
}

static void test_max_clients_and_idle(void **state)
{
	(void)state;
	struct server s;
	char err[256];
	const char *line;
	server_open(&s, 2, 300);
	server_run(&s);
	struct sl_ctl *a = client(), *b = client();
	json_t *r = exchange(a, "{\"cmd\":\"help\"}\n");
	json_decref(r);
	r = exchange(b, "{\"cmd\":\"help\"}\n");
	json_decref(r);
	struct sl_ctl *c = client();
	assert_true(sl_ctl_read_line(c, &line, TIMEOUT_MS, err, sizeof(err)) > 0);
	assert_contains(line, "too many admin clients");
	assert_int_equal(sl_ctl_read_line(c, &line, TIMEOUT_MS, err, sizeof(err)), SL_EEOF);
	sl_ctl_close(c);

	/* a and b say nothing for longer than 300 ms: both are closed, freeing their slots. */
	assert_int_equal(sl_ctl_read_line(a, &line, TIMEOUT_MS, err, sizeof(err)), SL_EEOF);
	assert_int_equal(sl_ctl_read_line(b, &line, TIMEOUT_MS, err, sizeof(err)), SL_EEOF);
	sl_ctl_close(a);
	sl_ctl_close(b);
	r = call("{\"cmd\":\"status\"}\n");
	json_t *adm = json_object_get(r, "admin");
	assert_int_equal(json_integer_value(json_object_get(adm, "rejected")), 1);
	assert_int_equal(json_integer_value(json_object_get(adm, "idle_closed")), 2);
	assert_int_equal(json_integer_value(json_object_get(adm, "clients")), 1);
	json_decref(r);
	server_stop(&s);
}

static void test_client_errors(void **state)
{
	(void)state;
	struct sl_ctl *c;
	char err[256];
	char missing[256];
	snprintf(missing, sizeof(missing), "%s/nobody.sock", tmpdir);
	assert_int_equal(sl_ctl_connect(missing, 100, &c, err, sizeof(err)), SL_ENOTFOUND);
	assert_contains(err, "cannot connect to admin socket");
	assert_contains(err, missing);

	/* A stale socket file: the daemon died. */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa;
	fill_sa(&sa, missing);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	/* Listening but never answering: the request times out. */
	json_t *req = json_pack("{ss}", "cmd", "status"), *resp;
	assert_int_equal(sl_ctl_call(missing, req, &resp, 200, err, sizeof(err)), SL_ETIMEDOUT);
	assert_null(resp);
	close(fd);
	assert_int_equal(sl_ctl_connect(missing, 100, &c, err, sizeof(err)), SL_ECLOSED);
	unlink(missing);
	json_decref(req);
}

/* ---- shardctl --------------------------------------------------------------------------- */

/* Runs shardctl with the given arguments (NULL-terminated), capturing status and output. */
static void run_ctl(struct run *r, ...)
{
	va_list ap;
	va_start(ap, r);
	run_ctl_in(r, tmpdir, ap);
	va_end(ap);
}

static void test_shardctl_binary(void **state)
{
	(void)state;
	if (getenv("SHARDCTL") == NULL) {
		print_message("SHARDCTL not set (run through meson test): skipped\n");
		skip();
	}
	struct server s;
	server_open(&s, 0, 0);
	assert_int_equal(sl_admin_register(s.a, "status", "daemon status", status_handler, &s.a),
			 0);
	assert_int_equal(
		sl_admin_register(s.a, "connections", "open connections", conns_handler, NULL), 0);
	server_run(&s);
	struct run *r = malloc(sizeof(*r));
	char admin_flag[256];
	snprintf(admin_flag, sizeof(admin_flag), "--admin=%s", sock_path);

	/* By default a header and a table of workers, for people. */
	run_ctl(r, "--admin", sock_path, "status", NULL);
	assert_int_equal(r->status, 0);
	assert_contains(r->out, "version    shardlined " SL_VERSION ", pid ");
	assert_contains(r->out, "driver     socket, 1 worker\n");
	assert_contains(r->out, "WORKER  LCORE  CONNS  TRACKS");
	assert_contains(r->out, "\n     0      1      3       2       -     7      100      700  ");
	assert_string_equal(r->err, "");

	/* --json: the daemon's answer, without "ok", on one line; before or after the command. */
	run_ctl(r, "--admin", sock_path, "status", "--json", NULL);
	assert_int_equal(r->status, 0);
	json_t *j = json_loads(r->out, 0, NULL);
	assert_true(json_is_object(j));
	assert_null(json_object_get(j, "ok"));
	assert_string_equal(json_string_value(json_object_get(j, "version")), SL_VERSION);
	assert_non_null(json_object_get(j, "workers"));
	assert_ptr_equal(strchr(r->out, '\n'), r->out + strlen(r->out) - 1); /* one line */
	json_decref(j);
	run_ctl(r, "--json", admin_flag, "status", NULL);
	assert_int_equal(r->status, 0);
	assert_ptr_equal(strchr(r->out, '\n'), r->out + strlen(r->out) - 1);
	assert_contains(r->out, "\"workers\":[");

	run_ctl(r, "status", admin_flag, "--pretty", "--json", NULL);
	assert_int_equal(r->status, 0);
	assert_true(strchr(r->out, '\n') < r->out + strlen(r->out) - 1); /* indented */
	j = json_loads(r->out, 0, NULL);
	assert_true(json_is_object(j));
	json_decref(j);
	/* --pretty alone still means indented JSON, as it did before the tables. */
	run_ctl(r, "--pretty", admin_flag, "status", NULL);
	assert_int_equal(r->status, 0);
	assert_true(r->out[0] == '{' && strchr(r->out, '\n') < r->out + strlen(r->out) - 1);

	/* connections, both ways; an answer without its array is the daemon's fault: exit 1. */
	run_ctl(r, admin_flag, "connections", NULL);
	assert_int_equal(r->status, 0);
	assert_contains(r->out, "WORKER  REMOTE          SESSION");
	assert_contains(r->out, "\n     1  127.0.0.1:4000  -        1.50 ms  12.0 KiB");
	run_ctl(r, admin_flag, "connections", "--json", NULL);
	assert_int_equal(r->status, 0);
	j = json_loads(r->out, 0, NULL);
	assert_int_equal(json_array_size(json_object_get(j, "connections")), 1);
	json_decref(j);
	conns_broken = true;
	run_ctl(r, admin_flag, "connections", NULL);
	assert_int_equal(r->status, 1);
	assert_contains(r->err,
			"shardctl: connections: the daemon's answer has no 'connections' array");
	conns_broken = false;

	run_ctl(r, admin_flag, "config", "get", "cache_age", NULL);
	assert_int_equal(r->status, 0);
	assert_string_equal(r->out, "30s\n");
	run_ctl(r, admin_flag, "config", "get", "listen", "--json", NULL);
	assert_int_equal(r->status, 0);
	assert_contains(r->out, "\"value\":[\"127.0.0.1:4443\"]");
	run_ctl(r, admin_flag, "config", "set", "cache-age", "2m", NULL);
	assert_int_equal(r->status, 0);
	assert_string_equal(r->out, "cache_age: 30s -> 2m\n");
	run_ctl(r, admin_flag, "config", "get", "cache_age", "--json", NULL);
	assert_int_equal(r->status, 0);
	assert_contains(r->out, "\"value\":\"2m\"");
	run_ctl(r, admin_flag, "config", "list", "--json", NULL);
	assert_int_equal(r->status, 0);
	j = json_loads(r->out, 0, NULL);
	size_t n;
	sl_config_settings(&n);
	assert_int_equal(json_array_size(j), n); /* the array, as it always was */
	json_decref(j);
	run_ctl(r, "--json", admin_flag, "config", "list", NULL);
	assert_int_equal(r->status, 0);
	assert_true(r->out[0] == '[');
	run_ctl(r, admin_flag, "config", "list", NULL);
	assert_int_equal(r->status, 0);
	assert_true(strncmp(r->out, "SETTING ", 8) == 0);
	const char *row = strstr(r->out, "\ncache_age ");
	assert_non_null(row);
	char cols[5][64];
	assert_int_equal(sscanf(row, "%63s %63s %63s %63s %63s", cols[0], cols[1], cols[2], cols[3],
				cols[4]),
			 5);
	assert_string_equal(cols[1], "2m");
	assert_string_equal(cols[2], "set");
	assert_string_equal(cols[3], "30s");
	assert_string_equal(cols[4], "yes");
	run_ctl(r, admin_flag, "config", "set", "cache_age", "30s", "--json", NULL);
	assert_int_equal(r->status, 0);
	assert_contains(r->out, "\"previous\":\"2m\"");

	/* The daemon refuses: exit 1 and its message on stderr. */
	run_ctl(r, admin_flag, "config", "set", "listen", "1.2.3.4:5", NULL);
	assert_int_equal(r->status, 1);
	assert_contains(r->err, "daemon error: setting 'listen' cannot be changed at runtime");
	run_ctl(r, admin_flag, "config", "get", "nope", NULL);
	assert_int_equal(r->status, 1);
	assert_contains(r->err, "unknown setting 'nope'");

	/* Usage errors: exit 2. */
	run_ctl(r, admin_flag, "frobnicate", NULL);
	assert_int_equal(r->status, 2);
	assert_contains(r->err, "unknown command 'frobnicate'");
	run_ctl(r, admin_flag, "config", "set", "cache_age", NULL);
	assert_int_equal(r->status, 2);
	assert_contains(r->err, "Usage:");
	run_ctl(r, admin_flag, "status", "extra", NULL);
	assert_int_equal(r->status, 2);
	assert_contains(r->err, "status takes only --json (got 'extra')");
	run_ctl(r, admin_flag, "connections", "--pretty", "-v", NULL);
	assert_int_equal(r->status, 2);
	run_ctl(r, admin_flag, "config", "list", "all", NULL);
	assert_int_equal(r->status, 2);
	assert_contains(r->err, "list takes only --json (got 'all')");
	run_ctl(r, admin_flag, "config", "help", "--json", NULL);
	assert_int_equal(r->status, 2);
	run_ctl(r, "--timeout", "soon", "status", NULL);
	assert_int_equal(r->status, 2);
	run_ctl(r, NULL);
	assert_int_equal(r->status, 2);

	/* Help, without a daemon. */
	run_ctl(r, "--help", NULL);
	assert_int_equal(r->status, 0);
	assert_contains(r->out, "status");
	assert_contains(r->out, "config");
	assert_contains(r->out, "--admin PATH");
	assert_contains(r->out, "--json ");
	run_ctl(r, "config", "--help", NULL);
	assert_int_equal(r->status, 0);
	assert_contains(r->out, "Usage: shardctl config get NAME");
	assert_contains(r->out, "list [--json]");
	/* Each command with a table says what --json prints instead. */
	static const char *const tabled[] = {"status", "connections", "config", "stream"};
	for (size_t i = 0; i < sizeof(tabled) / sizeof(tabled[0]); i++) {
		run_ctl(r, tabled[i], "--help", NULL);
		assert_int_equal(r->status, 0);
		assert_contains(r->out, "--json prints");
	}
	run_ctl(r, "config", "help", NULL);
	assert_int_equal(r->status, 0);
	assert_contains(r->out, "--cache-age DURATION");
	run_ctl(r, "--version", NULL);
	assert_int_equal(r->status, 0);
	assert_contains(r->out, SL_VERSION);

	server_stop(&s);

	/* No daemon: exit 3 and a hint. */
	run_ctl(r, "--admin", sock_path, "status", NULL);
	assert_int_equal(r->status, 3);
	assert_contains(r->err, "cannot connect to admin socket ");
	assert_contains(r->err, sock_path);
	assert_contains(r->err, "is shardlined running?");
	assert_string_equal(r->out, "");
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_socket_mode_and_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_takeover_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_close_without_newline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_while_a_child_holds_the_socket, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_register_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stalled_clients_do_not_block_others, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_clients_and_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shardctl_binary, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
