/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_CTL_H
#define SL_CONTROL_CTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * The client side of the admin socket (see admin.h for the protocol), used by shardctl and by
 * tests: connect, send one request line, read one response line, each step bounded by a
 * timeout so a wedged daemon never hangs an operator's terminal.
 */
struct sl_ctl;

/* Responses longer than this are refused (a status of thousands of workers fits easily). */
#define SL_CTL_RESPONSE_MAX (16u * 1024 * 1024)

/*
 * Connects to the admin socket at path within timeout_ms (-1 = no limit). Errors:
 * SL_EINVAL (path empty or too long), SL_ENOTFOUND (no such file: the daemon is not running),
 * SL_ECLOSED (the file exists but nobody accepts: the daemon died), SL_ETIMEDOUT, SL_EIO
 * (another system error, e.g. permission denied), SL_ENOMEM. err gets "cannot connect to
 * admin socket PATH: REASON".
 */
int sl_ctl_connect(const char *path, int timeout_ms, struct sl_ctl **out, char *err, size_t errlen);

/* Closes the connection. NULL is a no-op. */
void sl_ctl_close(struct sl_ctl *c);

/* Sends len raw bytes (tests use it for malformed input). Errors: SL_ETIMEDOUT, SL_EIO. */
int sl_ctl_send(struct sl_ctl *c, const void *data, size_t len, int timeout_ms, char *err,
		size_t errlen);

/*
 * Reads one line; *line points into the connection's buffer (NUL-terminated, without the
 * newline) and stays valid until the next call on c. Returns the line length, or SL_ETIMEDOUT,
 * SL_EEOF (the daemon closed the connection before a full line), SL_ENOSPC (longer than
 * SL_CTL_RESPONSE_MAX), SL_EIO, SL_ENOMEM.
 */
int sl_ctl_read_line(struct sl_ctl *c, const char **line, int timeout_ms, char *err, size_t errlen);

/*
 * Sends req as one line and parses the response line into *resp (a new reference to an
 * object). A response with "ok":false is still returned with 0: the caller reads "error".
 * Errors: those of sl_ctl_send and sl_ctl_read_line, SL_ECORRUPT (the response is not a JSON
 * object).
 */
int sl_ctl_request(struct sl_ctl *c, const json_t *req, json_t **resp, int timeout_ms, char *err,
		   size_t errlen);

/* sl_ctl_connect + sl_ctl_request + sl_ctl_close. Errors: those of the three. */
int sl_ctl_call(const char *path, const json_t *req, json_t **resp, int timeout_ms, char *err,
		size_t errlen);

/*
 * The admin path shardctl uses without --admin: $SHARDLINE_ADMIN, else the daemon's default
 * (sl_config_default_admin), else /run/shardline/admin.sock when only that one exists (a root
 * daemon driven by a non-root operator in the socket's group).
 */
void sl_ctl_default_admin(char *out, size_t size);

/* ---- shardctl subcommands --------------------------------------------------------------- */

/* Exit codes of shardctl and of every subcommand. */
enum sl_ctl_exit {
	SL_CTL_EXIT_OK = 0,
	SL_CTL_EXIT_FAIL = 1,	 /* the daemon answered "ok":false */
	SL_CTL_EXIT_USAGE = 2,	 /* bad command line */
	SL_CTL_EXIT_CONNECT = 3, /* no daemon, timeout, broken connection */
	SL_CTL_EXIT_FENCED = 4,	 /* a newer instance (same consumer name) took over */
};

/* Global options, parsed by shardctl's main before a subcommand runs. */
struct sl_ctl_cli {
	const char *prog;  /* "shardctl", for messages */
	const char *admin; /* admin socket path */
	int timeout_ms;	   /* per request */
	bool pretty;	   /* indent JSON output */
};

/*
 * One subcommand. shardctl.c holds the table; a subcommand may live in its own file: e.g.
 * control/ctl_pub.c defines `int sl_ctl_pub_main(const struct sl_ctl_cli *, int, char **)`,
 * declared in control/ctl_pub.h, the file is added to shardctl_srcs in control/meson.build,
 * and shardctl.c's table gets {"pub", summary, usage, help, sl_ctl_pub_main}. fn gets
 * argv[0] = the subcommand's name, with the global options removed; `shardctl NAME --help` is
 * answered from usage and help without calling fn. fn returns an enum sl_ctl_exit code.
 */
struct sl_ctl_command {
	const char *name;
	const char *summary; /* one line, for `shardctl --help` */
	const char *usage;   /* argument synopsis after the name, e.g. "get NAME | list" */
	const char *help;    /* longer text for `shardctl NAME --help`, or NULL */
	int (*fn)(const struct sl_ctl_cli *cli, int argc, char **argv);
};

/*
 * For subcommands: sends req to the daemon and returns SL_CTL_EXIT_OK with *resp set, or prints
 * the failure to stderr ("PROG: cannot connect to admin socket PATH: ... — is shardlined
 * running?", or "PROG: daemon error: MESSAGE") and returns SL_CTL_EXIT_CONNECT or
 * SL_CTL_EXIT_FAIL with *resp NULL.
 */
int sl_ctl_cli_call(const struct sl_ctl_cli *cli, const json_t *req, json_t **resp);

/* Prints obj as one line of JSON, or indented when cli->pretty. Returns an exit code. */
int sl_ctl_cli_print(const struct sl_ctl_cli *cli, const json_t *obj);

#endif
