/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_ADMIN_H
#define SL_CONTROL_ADMIN_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/config.h"

/*
 * The admin server: a Unix stream socket speaking line-delimited JSON, one request object per
 * line and one response object per line, in order. shardctl is one client; `socat -
 * UNIX-CONNECT:PATH` is another.
 *
 *   -> {"cmd":"status"}
 *   <- {"ok":true,"version":"0.1.0","pid":123,"uptime_s":42,...}
 *   -> {"cmd":"config","op":"set","name":"cache_age","value":"10s","id":7}
 *   <- {"ok":true,"id":7,"name":"cache_age","value":"10s","previous":"30s"}
 *   -> {"cmd":"nope"}
 *   <- {"ok":false,"error":"unknown command 'nope' (send {\"cmd\":\"help\"} for the list)"}
 *
 * A request's "id", when present, is copied into its response. Empty lines are ignored. A line
 * longer than SL_ADMIN_LINE_MAX bytes gets an error response and is skipped up to its newline.
 *
 * The server runs on the control lcore: sl_admin_poll() waits up to timeout_ms on an epoll set
 * holding the listening socket and every client, then serves what is ready. Sockets are
 * non-blocking and each client has its own input and output buffers, so a client that sends
 * half a line and stalls, or stops reading its responses, only delays itself. Data-plane cores
 * never call into this module.
 *
 * The socket file is created atomically: bound under a temporary name beside it, set to mode
 * 0600, listening, and only then renamed over PATH. An existing PATH is replaced only when it
 * is a socket nobody accepts on (a daemon that crashed); a live daemon's socket is never taken.
 */
struct sl_admin;

#define SL_ADMIN_LINE_MAX 65536

struct sl_admin_config {
	const char *path;	 /* socket path; its missing parent directories are made 0700 */
	unsigned max_clients;	 /* clients at once; more are told so and closed. 0 = 64 */
	uint32_t client_idle_ms; /* a client silent this long is closed; 0 = 60000 */
};

/* Counters of the admin server itself, also reported under "admin" by sl_admin_status_base. */
struct sl_admin_stats {
	uint64_t accepted; /* connections accepted */
	uint64_t rejected; /* connections refused because max_clients were connected */
	uint64_t requests; /* request lines answered, errors included */
	uint64_t errors;   /* responses with "ok":false */
	uint64_t lines_too_long;
	uint64_t idle_closed; /* clients closed by client_idle_ms */
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint32_t clients; /* connected now */
};

/*
 * A command handler. req is the request object (read only); resp is the response object,
 * already holding "ok":true (and "id"); the handler adds its fields. On failure it returns a
 * negative SL_E* code and writes a message into err (when it leaves err empty, the code's
 * sl_strerror text is sent); whatever it added to resp is then discarded.
 */
typedef int (*sl_admin_handler_fn)(void *arg, const json_t *req, json_t *resp, char *err,
				   size_t errlen);

/*
 * Called by `config set` with the proposed configuration (a copy holding the new value) before
 * it is committed, so the daemon can push the change to its workers or refuse it. Returns 0 to
 * commit, or a negative SL_E* with err filled to refuse (the configuration stays as it was).
 */
typedef int (*sl_admin_apply_fn)(void *arg, const struct sl_config_setting *s,
				 const struct sl_config *next, char *err, size_t errlen);

/*
 * Creates the socket and the server, with the built-in commands "status" (sl_admin_status_base
 * only) and "help" (the command list). Errors: SL_EINVAL (path empty, too long, or an existing
 * file that is not a socket), SL_EBUSY (a running daemon listens on path), SL_EIO (mkdir,
 * socket, bind, listen, rename or epoll failed; err has the system's reason), SL_ENOMEM.
 */
int sl_admin_open(const struct sl_admin_config *cfg, struct sl_admin **out, char *err,
		  size_t errlen);

/* Closes every client and the socket, and unlinks the socket file if it is still the one this
 * server created. NULL is a no-op. */
void sl_admin_close(struct sl_admin *a);

/*
 * Adds command cmd (copied), replacing a command of that name, built-ins included (the daemon
 * replaces "status" with its own handler that calls sl_admin_status_base first). summary is a
 * static string shown by "help". Errors: SL_EINVAL (empty name or NULL fn), SL_ENOMEM.
 */
int sl_admin_register(struct sl_admin *a, const char *cmd, const char *summary,
		      sl_admin_handler_fn fn, void *arg);

/*
 * Enables the "config" command over cfg, which must outlive the server and is only changed by
 * `config set` (on the control core, inside sl_admin_poll). apply may be NULL (every runtime
 * setting is then committed without asking). Errors: SL_ENOMEM.
 */
int sl_admin_attach_config(struct sl_admin *a, struct sl_config *cfg, sl_admin_apply_fn apply,
			   void *arg);

/*
 * Waits up to timeout_ms (0 = do not wait, -1 = until something happens) for activity, then
 * accepts clients, answers every complete request line, writes pending responses and closes
 * idle clients. Returns the number of requests answered, or SL_EIO if epoll itself failed.
 */
int sl_admin_poll(struct sl_admin *a, int timeout_ms);

/*
 * The signal mask sl_admin_poll waits under (epoll_pwait), NULL for none. A daemon that keeps
 * its stop signals blocked everywhere and unblocked only here learns of them at once and
 * without a race, instead of polling a flag on a short timeout.
 */
void sl_admin_set_wait_sigmask(struct sl_admin *a, const sigset_t *mask);

/* The epoll descriptor, readable when sl_admin_poll has work; for embedding in another loop. */
int sl_admin_fd(const struct sl_admin *a);

/* The socket path this server listens on. */
const char *sl_admin_path(const struct sl_admin *a);

void sl_admin_stats(const struct sl_admin *a, struct sl_admin_stats *out);

/*
 * Adds what every status response carries: "version", "pid", "uptime_s" (seconds since
 * sl_admin_open) and "admin" (the counters of struct sl_admin_stats). Returns 0 or SL_ENOMEM.
 */
int sl_admin_status_base(struct sl_admin *a, json_t *resp);

/*
 * The JSON form of one setting's value in cfg: strings, integers and booleans as themselves,
 * durations and sizes as their text ("30s", "64MiB"), lists as arrays of strings. Returns a new
 * reference, or NULL on allocation failure.
 */
json_t *sl_admin_setting_json(const struct sl_config *cfg, const struct sl_config_setting *s);

#endif
