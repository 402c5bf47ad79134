/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the settings table and everything it drives: defaults, value parsers, libconfig
 * files (real temporary files), command-line flags, help text. There is no reference
 * implementation for this module; the cases follow the brief of issue 5 (every setting type,
 * precedence file < flags, error messages naming setting, value, accepted form and file:line).
 */
#include "core/test_common.h"
#include "core/err.h"
#include "control/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <rte_log.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEC UINT64_C(1000000000)
#define MIB (UINT64_C(1024) * 1024)

static char tmpdir[] = "/tmp/sl_config_test.XXXXXX";

static int setup_dir(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to a new file in the test's directory and returns its path (static buffer). */
static const char *write_file(const char *name, const char *text)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	return path;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("'%s' does not contain '%s'", hay, needle);
}

/* ---- defaults --------------------------------------------------------------------------- */

static void test_defaults(void **state)
{
	(void)state;
	struct sl_config c;
	sl_config_default(&c);
	assert_int_equal(c.listen.count, 1);
	assert_string_equal(c.listen.item[0], "127.0.0.1:4443");
	assert_string_equal(c.driver, "socket");
	assert_int_equal(c.workers, 0);
	assert_int_equal(c.io_cores, 1);
	assert_string_equal(c.data_dir, "/var/lib/shardline");
	assert_string_equal(c.cert, "");
	assert_string_equal(c.key, "");
	assert_int_equal(c.cache_age_ns, 30 * SEC);
	assert_int_equal(c.cache_bytes, 64 * MIB);
	assert_int_equal(c.idle_timeout_ns, 30 * SEC);
	assert_int_equal(c.max_conns, 10000);
	assert_int_equal(c.poll_idle_us, 100);
	assert_string_equal(c.log_level, "notice");
	assert_true(c.hugepages);
	char err[256];
	assert_int_equal(sl_config_check(&c, err, sizeof(err)), 0);
}

/* Every default in the table goes through the operator's parser without error: a typo in the
 * table would otherwise leave a field silently zero. */
static void test_every_default_parses(void **state)
{
	(void)state;
	size_t n;
	const struct sl_config_setting *tab = sl_config_settings(&n);
	assert_true(n >= 15);
	for (size_t i = 0; i < n; i++) {
		struct sl_config c;
		char def[SL_CONFIG_STR_MAX], err[256] = "";
		memset(&c, 0, sizeof(c));
		if (tab[i].def_fn)
			tab[i].def_fn(def, sizeof(def));
		else
			snprintf(def, sizeof(def), "%s", tab[i].def);
		int rc = sl_config_set(&c, tab[i].name, def, false, err, sizeof(err));
		if (rc != 0)
			fail_msg("default of %s does not parse: %s", tab[i].name, err);
		assert_non_null(tab[i].help);
		assert_true(sl_config_find(tab[i].name) == &tab[i]);
	}
}

static void test_default_admin_path(void **state)
{
	(void)state;
	char p[256];
	const char *old = getenv("XDG_RUNTIME_DIR");
	char *saved = old ? strdup(old) : NULL;
	setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
	sl_config_default_admin(p, sizeof(p));
	if (geteuid() == 0) {
		assert_string_equal(p, "/run/shardline/admin.sock");
	} else {
		assert_string_equal(p, "/run/user/1234/shardline/admin.sock");
		unsetenv("XDG_RUNTIME_DIR");
		sl_config_default_admin(p, sizeof(p));
		char want[64];
		snprintf(want, sizeof(want), "/tmp/shardline-%u/admin.sock", (unsigned)geteuid());
		assert_string_equal(p, want);
	}
	if (saved)
		setenv("XDG_RUNTIME_DIR", saved, 1);
	else
		unsetenv("XDG_RUNTIME_DIR");
	free(saved);
}

/* Restores an environment variable saved by save_env. */
static void restore_env(const char *name, char *saved)
{
	if (saved)
		setenv(name, saved, 1);
	else
		unsetenv(name);
	free(saved);
}

static char *save_env(const char *name)
{
	const char *v = getenv(name);
	return v ? strdup(v) : NULL;
}

/* The non-root choices in order; as root the test checks them with a borrowed effective uid. */
static void check_user_data_dir(void)
{
	char p[256], want[256];
	setenv("XDG_DATA_HOME", "/home/u/.data", 1);
	setenv("HOME", "/home/u", 1);
	sl_config_default_data_dir(p, sizeof(p));
	assert_string_equal(p, "/home/u/.data/shardline");
	setenv("XDG_DATA_HOME", "relative", 1); /* not absolute: ignored, as XDG says */
	sl_config_default_data_dir(p, sizeof(p));
	assert_string_equal(p, "/home/u/.local/share/shardline");
	unsetenv("XDG_DATA_HOME");
	unsetenv("HOME");
	sl_config_default_data_dir(p, sizeof(p));
	snprintf(want, sizeof(want), "/tmp/shardline-%u/data", (unsigned)geteuid());
	assert_string_equal(p, want);
}

static void test_default_data_dir(void **state)
{
	(void)state;
	char p[256];
	char *xdg = save_env("XDG_DATA_HOME"), *home = save_env("HOME");
	if (geteuid() == 0) {
		sl_config_default_data_dir(p, sizeof(p));
		assert_string_equal(p, "/var/lib/shardline");
		assert_int_equal(seteuid(65534), 0);
		check_user_data_dir();
		assert_int_equal(seteuid(0), 0);
	} else {
		check_user_data_dir();
	}
	restore_env("XDG_DATA_HOME", xdg);
	restore_env("HOME", home);
}

/* ---- value parsers ---------------------------------------------------------------------- */

static void test_parse_duration(void **state)
{
	(void)state;
	uint64_t ns;
	assert_int_equal(sl_config_parse_duration("30s", &ns), 0);
	assert_int_equal(ns, 30 * SEC);
	assert_int_equal(sl_config_parse_duration("500ms", &ns), 0);
	assert_int_equal(ns, 500000000);
	assert_int_equal(sl_config_parse_duration("2m", &ns), 0);
	assert_int_equal(ns, 120 * SEC);
	assert_int_equal(sl_config_parse_duration("1h30m", &ns), 0);
	assert_int_equal(ns, 5400 * SEC);
	assert_int_equal(sl_config_parse_duration("250us", &ns), 0);
	assert_int_equal(ns, 250000);
	assert_int_equal(sl_config_parse_duration("10ns", &ns), 0);
	assert_int_equal(ns, 10);
	assert_int_equal(sl_config_parse_duration("30", &ns), 0);
	assert_int_equal(ns, 30 * SEC);
	assert_int_equal(sl_config_parse_duration("0s", &ns), 0);
	assert_int_equal(ns, 0);

	assert_int_equal(sl_config_parse_duration("", &ns), SL_EINVAL);
	assert_int_equal(sl_config_parse_duration("s", &ns), SL_EINVAL);
	assert_int_equal(sl_config_parse_duration("30x", &ns), SL_EINVAL);
	assert_int_equal(sl_config_parse_duration("1m30", &ns), SL_EINVAL);
	assert_int_equal(sl_config_parse_duration("-1s", &ns), SL_EINVAL);
	assert_int_equal(sl_config_parse_duration("1.5s", &ns), SL_EINVAL);
	assert_int_equal(sl_config_parse_duration("30 s", &ns), SL_EINVAL);
	assert_int_equal(sl_config_parse_duration("99999999999h", &ns), SL_ERANGE);
	assert_int_equal(sl_config_parse_duration("99999999999999999999ns", &ns), SL_ERANGE);
}

static void test_parse_bytes(void **state)
{
	(void)state;
	uint64_t b;
	assert_int_equal(sl_config_parse_bytes("64MiB", &b), 0);
	assert_int_equal(b, 64 * MIB);
	assert_int_equal(sl_config_parse_bytes("1G", &b), 0);
	assert_int_equal(b, 1024 * MIB);
	assert_int_equal(sl_config_parse_bytes("1GB", &b), 0);
	assert_int_equal(b, 1000000000);
	assert_int_equal(sl_config_parse_bytes("512k", &b), 0);
	assert_int_equal(b, 512 * 1024);
	assert_int_equal(sl_config_parse_bytes("4096", &b), 0);
	assert_int_equal(b, 4096);
	assert_int_equal(sl_config_parse_bytes("4096B", &b), 0);
	assert_int_equal(b, 4096);
	assert_int_equal(sl_config_parse_bytes("2 mib", &b), 0);
	assert_int_equal(b, 2 * MIB);
	assert_int_equal(sl_config_parse_bytes("1Ti", &b), 0);
	assert_int_equal(b, 1024 * 1024 * MIB);

	assert_int_equal(sl_config_parse_bytes("", &b), SL_EINVAL);
	assert_int_equal(sl_config_parse_bytes("MiB", &b), SL_EINVAL);
	assert_int_equal(sl_config_parse_bytes("1X", &b), SL_EINVAL);
	assert_int_equal(sl_config_parse_bytes("1.5G", &b), SL_EINVAL);
	assert_int_equal(sl_config_parse_bytes("1MiBs", &b), SL_EINVAL);
	assert_int_equal(sl_config_parse_bytes("-1", &b), SL_EINVAL);
	assert_int_equal(sl_config_parse_bytes("100000000T", &b), SL_ERANGE);
}

static void test_format_units(void **state)
{
	(void)state;
	char b[32];
	sl_config_format_duration(30 * SEC, b, sizeof(b));
	assert_string_equal(b, "30s");
	sl_config_format_duration(1500000000, b, sizeof(b));
	assert_string_equal(b, "1500ms");
	sl_config_format_duration(5400 * SEC, b, sizeof(b));
	assert_string_equal(b, "90m");
	sl_config_format_duration(0, b, sizeof(b));
	assert_string_equal(b, "0s");
	sl_config_format_duration(7, b, sizeof(b));
	assert_string_equal(b, "7ns");
	sl_config_format_bytes(64 * MIB, b, sizeof(b));
	assert_string_equal(b, "64MiB");
	sl_config_format_bytes(1000, b, sizeof(b));
	assert_string_equal(b, "1000");
	sl_config_format_bytes(0, b, sizeof(b));
	assert_string_equal(b, "0");
	sl_config_format_bytes(3 * 1024, b, sizeof(b));
	assert_string_equal(b, "3KiB");
}

static void test_parse_addr(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	socklen_t len;
	char err[128];
	assert_int_equal(sl_config_parse_addr("127.0.0.1:4443", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 4443);
	assert_int_equal(sl_config_parse_addr("[::1]:4443", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 4443);
	assert_int_equal(sl_config_parse_addr("[fe80::1:2]:0", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(sl_config_parse_addr("0.0.0.0:65535", &ss, &len, err, sizeof(err)), 0);

	assert_int_equal(sl_config_parse_addr("::1:4443", &ss, &len, err, sizeof(err)), SL_EINVAL);
	assert_contains(err, "[ADDR]:PORT");
	assert_int_equal(sl_config_parse_addr("1.2.3.4", &ss, &len, err, sizeof(err)), SL_EINVAL);
	assert_int_equal(sl_config_parse_addr("1.2.3.4:70000", &ss, &len, err, sizeof(err)),
			 SL_EINVAL);
	assert_contains(err, "port");
	assert_int_equal(sl_config_parse_addr("1.2.3.4:", &ss, &len, err, sizeof(err)), SL_EINVAL);
	assert_int_equal(sl_config_parse_addr("example.com:80", &ss, &len, err, sizeof(err)),
			 SL_EINVAL);
	assert_contains(err, "example.com");
	assert_int_equal(sl_config_parse_addr("[::1]4443", &ss, &len, err, sizeof(err)), SL_EINVAL);
	assert_int_equal(sl_config_parse_addr("[1.2.3.4]:1", &ss, &len, err, sizeof(err)),
			 SL_EINVAL);
	assert_int_equal(sl_config_parse_addr("", &ss, &len, err, sizeof(err)), SL_EINVAL);
}

/* ---- sl_config_set ---------------------------------------------------------------------- */

static void test_set_every_type(void **state)
{
	(void)state;
	struct sl_config c;
	char err[256];
	sl_config_default(&c);
	assert_int_equal(sl_config_set(&c, "driver", "dpdk", false, err, sizeof(err)), 0);
	assert_string_equal(c.driver, "dpdk");
	assert_int_equal(sl_config_set(&c, "workers", "6", false, err, sizeof(err)), 0);
	assert_int_equal(c.workers, 6);
	assert_int_equal(sl_config_set(&c, "poll_idle_us", "0", false, err, sizeof(err)), 0);
	assert_int_equal(c.poll_idle_us, 0);
	assert_int_equal(sl_config_set(&c, "hugepages", "no", false, err, sizeof(err)), 0);
	assert_false(c.hugepages);
	assert_int_equal(sl_config_set(&c, "hugepages", "TRUE", false, err, sizeof(err)), 0);
	assert_true(c.hugepages);
	assert_int_equal(sl_config_set(&c, "cache-age", "2m", false, err, sizeof(err)), 0);
	assert_int_equal(c.cache_age_ns, 120 * SEC);
	assert_int_equal(sl_config_set(&c, "cache_bytes", "1G", false, err, sizeof(err)), 0);
	assert_int_equal(c.cache_bytes, 1024 * MIB);
	assert_int_equal(
		sl_config_set(&c, "listen", "[::1]:1, 10.0.0.1:2", false, err, sizeof(err)), 0);
	assert_int_equal(c.listen.count, 2);
	assert_string_equal(c.listen.item[0], "[::1]:1");
	assert_string_equal(c.listen.item[1], "10.0.0.1:2");
	assert_int_equal(sl_config_set(&c, "listen", "10.0.0.2:3", true, err, sizeof(err)), 0);
	assert_int_equal(c.listen.count, 3);
	assert_int_equal(sl_config_set(&c, "listen", "10.0.0.9:9", false, err, sizeof(err)), 0);
	assert_int_equal(c.listen.count, 1);
	assert_string_equal(c.listen.item[0], "10.0.0.9:9");
}

static void test_set_errors_name_setting_value_and_form(void **state)
{
	(void)state;
	struct sl_config c, before;
	char err[256];
	sl_config_default(&c);
	before = c;

	assert_int_equal(sl_config_set(&c, "cache_sizes", "1", false, err, sizeof(err)),
			 SL_ENOTFOUND);
	assert_contains(err, "unknown setting 'cache_sizes'");

	assert_int_equal(sl_config_set(&c, "cache_age", "soon", false, err, sizeof(err)),
			 SL_EINVAL);
	assert_contains(err, "cache_age");
	assert_contains(err, "'soon'");
	assert_contains(err, "duration such as 30s");

	assert_int_equal(sl_config_set(&c, "cache_age", "2y", false, err, sizeof(err)), SL_EINVAL);
	assert_int_equal(sl_config_set(&c, "cache_age", "2d", false, err, sizeof(err)), SL_ERANGE);
	assert_int_equal(sl_config_set(&c, "cache_age", "25h", false, err, sizeof(err)), SL_ERANGE);
	assert_contains(err, "out of range");
	assert_contains(err, "24h");

	assert_int_equal(sl_config_set(&c, "cache_bytes", "lots", false, err, sizeof(err)),
			 SL_EINVAL);
	assert_contains(err, "64MiB, 1G or 4096");
	assert_int_equal(sl_config_set(&c, "cache_bytes", "2T", false, err, sizeof(err)),
			 SL_ERANGE);

	assert_int_equal(sl_config_set(&c, "driver", "xdp", false, err, sizeof(err)), SL_EINVAL);
	assert_contains(err, "'xdp'");
	assert_contains(err, "one of socket, dpdk");

	assert_int_equal(sl_config_set(&c, "workers", "-1", false, err, sizeof(err)), SL_EINVAL);
	assert_contains(err, "from 0 to 1024");
	assert_int_equal(sl_config_set(&c, "workers", "4x", false, err, sizeof(err)), SL_EINVAL);
	assert_int_equal(sl_config_set(&c, "io_cores", "65", false, err, sizeof(err)), SL_ERANGE);
	assert_int_equal(sl_config_set(&c, "io_cores", "0", false, err, sizeof(err)), 0);
	assert_int_equal(sl_config_set(&c, "io_cores", "1", false, err, sizeof(err)), 0);
	assert_int_equal(sl_config_set(&c, "max_conns", "", false, err, sizeof(err)), SL_EINVAL);

	assert_int_equal(sl_config_set(&c, "hugepages", "maybe", false, err, sizeof(err)),
			 SL_EINVAL);
	assert_contains(err, "true or false");

	assert_int_equal(
		sl_config_set(&c, "listen", "127.0.0.1:1,localhost:2", false, err, sizeof(err)),
		SL_EINVAL);
	assert_contains(err, "listen");
	assert_contains(err, "localhost:2");
	assert_int_equal(
		sl_config_set(&c, "listen", "127.0.0.1:1,,127.0.0.1:2", false, err, sizeof(err)),
		SL_EINVAL);

	char many[2048] = "";
	for (int i = 0; i < SL_CONFIG_LIST_MAX + 1; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s10.0.0.%d:1",
			 i ? "," : "", i);
	assert_int_equal(sl_config_set(&c, "listen", many, false, err, sizeof(err)), SL_ENOSPC);
	assert_contains(err, "at most 16");

	char longpath[400];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(sl_config_set(&c, "data_dir", longpath, false, err, sizeof(err)),
			 SL_ENOSPC);
	longpath[100] = '\0';
	assert_int_equal(sl_config_set(&c, "admin", longpath, false, err, sizeof(err)), SL_EINVAL);
	assert_contains(err, "Unix socket path");

	/* No failed call changed anything. */
	assert_memory_equal(&c, &before, sizeof(c));
}

/* Formatting a value and parsing it back gives the same configuration, for every setting. */
static void test_format_roundtrip(void **state)
{
	(void)state;
	struct sl_config a, b;
	char err[256], text[2048];
	sl_config_default(&a);
	assert_int_equal(sl_config_set(&a, "listen", "[::1]:5,1.2.3.4:6", false, err, sizeof(err)),
			 0);
	assert_int_equal(sl_config_set(&a, "cache_age", "1500ms", false, err, sizeof(err)), 0);
	assert_int_equal(sl_config_set(&a, "cache_bytes", "1000", false, err, sizeof(err)), 0);
	assert_int_equal(sl_config_set(&a, "hugepages", "false", false, err, sizeof(err)), 0);
	assert_int_equal(sl_config_set(&a, "cert", "/c.pem", false, err, sizeof(err)), 0);
	size_t n;
	const struct sl_config_setting *tab = sl_config_settings(&n);
	memset(&b, 0, sizeof(b));
	for (size_t i = 0; i < n; i++) {
		int len = sl_config_format(&a, tab[i].name, text, sizeof(text));
		assert_true(len >= 0 && (size_t)len < sizeof(text));
		int rc = sl_config_set(&b, tab[i].name, text, false, err, sizeof(err));
		if (tab[i].type == SL_CONFIG_STRING && text[0] == '\0' && rc == 0)
			continue;
		if (rc != 0)
			fail_msg("%s='%s' does not parse back: %s", tab[i].name, text, err);
	}
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(sl_config_format(&a, "nope", text, sizeof(text)), SL_ENOTFOUND);
	sl_config_format(&a, "listen", text, sizeof(text));
	assert_string_equal(text, "[::1]:5,1.2.3.4:6");
}

/* ---- libconfig files -------------------------------------------------------------------- */

static void test_file_every_type(void **state)
{
	(void)state;
	const char *path = write_file("all.conf", "# a full file\n"
						  "listen = [\"0.0.0.0:4443\", \"[::]:4443\"];\n"
						  "driver = \"dpdk\";\n"
						  "workers = 4;\n"
						  "io-cores = 2;\n"
						  "admin = \"/tmp/x/admin.sock\";\n"
						  "data_dir = \"/srv/shardline\";\n"
						  "cert = \"/etc/c.pem\";\n"
						  "key = \"/etc/k.pem\";\n"
						  "cache_age = \"45s\";\n"
						  "cache_bytes = \"128MiB\";\n"
						  "idle_timeout = 10;\n"
						  "max_conns = 500;\n"
						  "poll_idle_us = 0L;\n"
						  "log_level = \"debug\";\n"
						  "hugepages = false;\n");
	struct sl_config c;
	char err[256];
	sl_config_default(&c);
	assert_int_equal(sl_config_load_file(&c, path, err, sizeof(err)), 0);
	assert_int_equal(c.listen.count, 2);
	assert_string_equal(c.listen.item[1], "[::]:4443");
	assert_string_equal(c.driver, "dpdk");
	assert_int_equal(c.workers, 4);
	assert_int_equal(c.io_cores, 2);
	assert_string_equal(c.admin, "/tmp/x/admin.sock");
	assert_string_equal(c.data_dir, "/srv/shardline");
	assert_string_equal(c.cert, "/etc/c.pem");
	assert_string_equal(c.key, "/etc/k.pem");
	assert_int_equal(c.cache_age_ns, 45 * SEC);
	assert_int_equal(c.cache_bytes, 128 * MIB);
	assert_int_equal(c.idle_timeout_ns, 10 * SEC);
	assert_int_equal(c.max_conns, 500);
	assert_int_equal(c.poll_idle_us, 0);
	assert_string_equal(c.log_level, "debug");
	assert_false(c.hugepages);
	assert_int_equal(sl_config_log_level(&c), RTE_LOG_DEBUG);

	/* A list may also be one string; settings not in the file keep their values. */
	path = write_file("one.conf", "listen = \"10.1.1.1:9\";\ncache_bytes = 4096;\n");
	assert_int_equal(sl_config_load_file(&c, path, err, sizeof(err)), 0);
	assert_int_equal(c.listen.count, 1);
	assert_string_equal(c.listen.item[0], "10.1.1.1:9");
	assert_int_equal(c.cache_bytes, 4096);
	assert_string_equal(c.driver, "dpdk");
}

static void test_file_errors_carry_file_and_line(void **state)
{
	(void)state;
	struct sl_config c;
	char err[512], want[300];
	sl_config_default(&c);

	const char *path = write_file("unknown.conf", "workers = 2;\n\nworkerz = 3;\n");
	assert_int_equal(sl_config_load_file(&c, path, err, sizeof(err)), SL_EINVAL);
	snprintf(want, sizeof(want), "%s:3: unknown setting 'workerz'", path);
	assert_string_equal(err, want);

	path = write_file("type.conf", "driver = \"socket\";\nworkers = \"four\";\n");
	assert_int_equal(sl_config_load_file(&c, path, err, sizeof(err)), SL_EINVAL);
	snprintf(want, sizeof(want), "%s:2: workers: expected an integer, got a string", path);
	assert_string_equal(err, want);

	path = write_file("value.conf", "cache_age = \"30 seconds\";\n");
	assert_int_equal(sl_config_load_file(&c, path, err, sizeof(err)), SL_EINVAL);
	snprintf(want, sizeof(want), "%s:1: bad value '30 seconds' for cache_age", path);
	assert_contains(err, want);
	assert_contains(err, "duration such as");

	path = write_file("range.conf", "\n\nmax_conns = 0;\n");
	assert_int_equal(sl_config_load_file(&c, path, err, sizeof(err)), SL_ERANGE);
	snprintf(want, sizeof(want), "%s:3:", path);
	assert_contains(err, want);
	assert_contains(err, "max_conns");

	path = write_file("listelem.conf", "listen = [\"1.2.3.4:5\", \"nope\"];\n");
	assert_int_equal(sl_config_load_file(&c, path, err, sizeof(err)), SL_EINVAL);
	assert_contains(err, "listelem.conf:1:");
	assert_contains(err, "'nope'");

	path = write_file("listtype.conf", "listen = [1, 2];\n");
	assert_int_equal(sl_config_load_file(&c, path, err, sizeof(err)), SL_EINVAL);
	assert_contains(err, "listen: expected a string or a list of strings");

	path = write_file("bool.conf", "hugepages = \"yes\";\n");
	assert_int_equal(sl_config_load_file(&c, path, err, sizeof(err)), SL_EINVAL);
	assert_contains(err, "hugepages: expected true or false, got a string");

	path = write_file("syntax.conf", "workers = 2;\nlisten = [\"a\"\n");
	assert_int_equal(sl_config_load_file(&c, path, err, sizeof(err)), SL_EINVAL);
	snprintf(want, sizeof(want), "%s:", path);
	assert_contains(err, want);

	snprintf(want, sizeof(want), "%s/missing.conf", tmpdir);
	assert_int_equal(sl_config_load_file(&c, want, err, sizeof(err)), SL_EIO);
	assert_contains(err, "missing.conf");
	assert_contains(err, "No such file");

	assert_int_equal(
		sl_config_load_string(&c, "nested = { a = 1; };", "inline", err, sizeof(err)),
		SL_EINVAL);
	assert_string_equal(err, "inline:1: unknown setting 'nested'");
}

/* ---- command line ----------------------------------------------------------------------- */

static int parse(struct sl_config *c, struct sl_config_args *a, char *err, size_t errlen, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	va_start(ap, errlen);
	argv[argc++] = "shardlined";
	for (char *s; (s = va_arg(ap, char *)) != NULL;)
		argv[argc++] = s;
	va_end(ap);
	argv[argc] = NULL;
	return sl_config_parse_args(c, argc, argv, a, err, errlen);
}

static void test_flags(void **state)
{
	(void)state;
	struct sl_config c;
	struct sl_config_args a;
	char err[256];
	assert_int_equal(parse(&c, &a, err, sizeof(err), "--workers", "3", "--cache-age=1m",
			       "--cache_bytes", "1MiB", "--no-hugepages", "--listen", "[::1]:1",
			       "--listen=1.1.1.1:2", "--log-level", "info", NULL),
			 0);
	assert_int_equal(c.workers, 3);
	assert_int_equal(c.cache_age_ns, 60 * SEC);
	assert_int_equal(c.cache_bytes, MIB);
	assert_false(c.hugepages);
	assert_int_equal(c.listen.count, 2);
	assert_string_equal(c.listen.item[0], "[::1]:1");
	assert_string_equal(c.listen.item[1], "1.1.1.1:2");
	assert_string_equal(c.log_level, "info");
	assert_int_equal(a.next, 12);
	assert_null(a.config_path);
	assert_false(a.help);

	assert_int_equal(parse(&c, &a, err, sizeof(err), "--hugepages=false", "--hugepages", NULL),
			 0);
	assert_true(c.hugepages);
	assert_int_equal(parse(&c, &a, err, sizeof(err), "--hugepages=off", NULL), 0);
	assert_false(c.hugepages);
}

/* The file applies before every flag wherever --config appears, and a list flag replaces the
 * file's list rather than adding to it. */
static void test_flags_override_file(void **state)
{
	(void)state;
	const char *path = write_file("base.conf", "workers = 8;\nmax_conns = 7;\n"
						   "listen = [\"10.0.0.1:1\", \"10.0.0.2:2\"];\n");
	char cfgarg[300];
	snprintf(cfgarg, sizeof(cfgarg), "--config=%s", path);
	struct sl_config c;
	struct sl_config_args a;
	char err[256];
	assert_int_equal(parse(&c, &a, err, sizeof(err), "--workers", "2", "--listen", "10.0.0.3:3",
			       cfgarg, NULL),
			 0);
	assert_string_equal(a.config_path, path);
	assert_int_equal(c.workers, 2);
	assert_int_equal(c.max_conns, 7);
	assert_int_equal(c.listen.count, 1);
	assert_string_equal(c.listen.item[0], "10.0.0.3:3");

	assert_int_equal(parse(&c, &a, err, sizeof(err), "--config", path, NULL), 0);
	assert_int_equal(c.workers, 8);
	assert_int_equal(c.listen.count, 2);

	path = write_file("bad.conf", "workers = \"x\";\n");
	assert_int_equal(parse(&c, &a, err, sizeof(err), "--config", path, NULL), SL_EINVAL);
	assert_contains(err, "bad.conf:1: workers");
}

static void test_flag_errors(void **state)
{
	(void)state;
	struct sl_config c;
	struct sl_config_args a;
	char err[256];
	assert_int_equal(parse(&c, &a, err, sizeof(err), "--wokers", "3", NULL), SL_EINVAL);
	assert_contains(err, "unknown flag --wokers");
	assert_int_equal(parse(&c, &a, err, sizeof(err), "--workers", NULL), SL_EINVAL);
	assert_contains(err, "--workers needs a value");
	assert_int_equal(parse(&c, &a, err, sizeof(err), "--workers=lots", NULL), SL_EINVAL);
	assert_contains(err, "'lots' for workers");
	assert_int_equal(parse(&c, &a, err, sizeof(err), "-w", "3", NULL), SL_EINVAL);
	assert_contains(err, "unknown option -w");
	assert_int_equal(parse(&c, &a, err, sizeof(err), "--no-workers", NULL), SL_EINVAL);
	assert_contains(err, "unknown flag --no-workers");
	assert_int_equal(parse(&c, &a, err, sizeof(err), "--config", NULL), SL_EINVAL);
	assert_int_equal(parse(&c, &a, err, sizeof(err), "--cert", "/c.pem", NULL), SL_EINVAL);
	assert_contains(err, "cert and key");
	assert_int_equal(
		parse(&c, &a, err, sizeof(err), "--cert", "/c.pem", "--key", "/k.pem", NULL), 0);
}

static void test_args_stop_and_help(void **state)
{
	(void)state;
	struct sl_config c;
	struct sl_config_args a;
	char err[256];
	assert_int_equal(parse(&c, &a, err, sizeof(err), "--workers", "2", "--", "-l", "0-3", NULL),
			 0);
	assert_int_equal(a.next, 4);
	assert_int_equal(c.workers, 2);
	assert_int_equal(parse(&c, &a, err, sizeof(err), "--data-dir", "/d", "run", "--x", NULL),
			 0);
	assert_int_equal(a.next, 3);
	assert_string_equal(c.data_dir, "/d");

	/* --help wins over a broken file and broken flags: the operator asked for help. */
	assert_int_equal(parse(&c, &a, err, sizeof(err), "--config", "/nonexistent", "--bogus",
			       "--help", NULL),
			 0);
	assert_true(a.help);
	assert_int_equal(parse(&c, &a, err, sizeof(err), "--version", NULL), 0);
	assert_true(a.version);
}

static void test_help_lists_every_setting(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	sl_config_help(f, "shardlined");
	fclose(f);
	size_t n;
	const struct sl_config_setting *tab = sl_config_settings(&n);
	for (size_t i = 0; i < n; i++) {
		char flag[64];
		snprintf(flag, sizeof(flag), "--%s", tab[i].name);
		for (char *p = flag + 2; *p; p++)
			if (*p == '_')
				*p = '-';
		assert_contains(text, flag);
	}
	assert_contains(text, "Usage: shardlined");
	assert_contains(text, "--config FILE");
	assert_contains(text, "Default: 30s.");
	assert_contains(text, "Default: 64MiB.");
	assert_contains(text, "Default: 127.0.0.1:4443.");
	assert_contains(text, "--hugepages, --no-hugepages");
	assert_contains(text, "Settable at runtime.");
	free(text);

	text = NULL;
	f = open_memstream(&text, &len);
	sl_config_markdown(f);
	fclose(f);
	for (size_t i = 0; i < n; i++) {
		char cell[64];
		snprintf(cell, sizeof(cell), "| `%s` |", tab[i].name);
		assert_contains(text, cell);
	}
	assert_null(strstr(text, "socket|dpdk"));
	free(text);
}

static void test_workers_and_log_level(void **state)
{
	(void)state;
	struct sl_config c;
	sl_config_default(&c);
	assert_int_equal(sl_config_workers(&c, 8), 6);
	assert_int_equal(sl_config_workers(&c, 2), 1);
	c.io_cores = 2;
	assert_int_equal(sl_config_workers(&c, 8), 5);
	c.workers = 3;
	assert_int_equal(sl_config_workers(&c, 8), 3);
	assert_int_equal(sl_config_log_level(&c), RTE_LOG_NOTICE);
	snprintf(c.log_level, sizeof(c.log_level), "err");
	assert_int_equal(sl_config_log_level(&c), RTE_LOG_ERR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_default_parses),
		cmocka_unit_test(test_default_admin_path),
		cmocka_unit_test(test_default_data_dir),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_bytes),
		cmocka_unit_test(test_format_units),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_set_every_type),
		cmocka_unit_test(test_set_errors_name_setting_value_and_form),
		cmocka_unit_test(test_format_roundtrip),
		cmocka_unit_test(test_file_every_type),
		cmocka_unit_test(test_file_errors_carry_file_and_line),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_flags_override_file),
		cmocka_unit_test(test_flag_errors),
		cmocka_unit_test(test_args_stop_and_help),
		cmocka_unit_test(test_help_lists_every_setting),
		cmocka_unit_test(test_workers_and_log_level),
	};
	return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
