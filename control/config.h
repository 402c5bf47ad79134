/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_CONFIG_H
#define SL_CONTROL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

/*
 * The daemon's settings. One static table (see sl_config_settings) describes every setting:
 * its name, type, default, help text, where it lives in struct sl_config, its valid range and
 * whether it may change while the daemon runs. That table alone drives the defaults, the
 * libconfig file, the command-line flags, the --help text, and the admin socket's
 * `config get/set/list`, so a setting added to the table is at once documented, parseable
 * everywhere and visible to shardctl (DESIGN.md, convention 7).
 *
 * Order of precedence: sl_config_default(), then the file given with --config, then flags.
 *
 * The struct is plain data with fixed-size strings so it can be copied by value (the control
 * core validates a runtime change on a copy, then commits it). Only the control core touches
 * it; workers learn about runtime changes through ring messages sent by the daemon.
 */

#define SL_CONFIG_STR_MAX  256 /* capacity of string settings, NUL included */
#define SL_CONFIG_ADDR_MAX 64  /* capacity of one list element (an address), NUL included */
#define SL_CONFIG_LIST_MAX 16  /* elements in a list setting */

struct sl_config_list {
	unsigned count;
	char item[SL_CONFIG_LIST_MAX][SL_CONFIG_ADDR_MAX];
};

struct sl_config {
	struct sl_config_list listen;	     /* IP:PORT or [IPv6]:PORT, one QUIC endpoint each */
	char listen_tcp[SL_CONFIG_ADDR_MAX]; /* IP:PORT of the TCP (HTTP) listener; "" = off */
	bool tcp_tls;			     /* TLS on the TCP listener */
	uint64_t cert_renew_before_ns;	     /* renew the self-signed certificate this early */
	char driver[16];		     /* "socket" or "dpdk" */
	int workers; /* 0 = every lcore but control and io (sl_config_workers) */
	int io_cores;
	char admin[SL_CONFIG_STR_MAX]; /* Unix socket path of the admin server */
	char data_dir[SL_CONFIG_STR_MAX];
	char cert[SL_CONFIG_STR_MAX]; /* PEM; empty with key empty = self-signed */
	char key[SL_CONFIG_STR_MAX];
	/* Tokens (control/jwt.h): off when all of these are empty. */
	char auth_key[SL_CONFIG_STR_MAX];	     /* JWK or JWK Set file */
	char auth_key_dir[SL_CONFIG_STR_MAX];	     /* directory of KID.jwk files */
	struct sl_config_list auth_public;	     /* anonymous publish and subscribe */
	struct sl_config_list auth_public_publish;   /* anonymous publish */
	struct sl_config_list auth_public_subscribe; /* anonymous subscribe */
	uint64_t auth_leeway_ns;		     /* slack for a token's nbf */
	uint64_t cache_age_ns;			     /* live group cache age */
	uint64_t cache_bytes;			     /* live cache byte budget per track */
	uint64_t prefault_bytes;		     /* heap each worker faults in at start */
	uint64_t idle_timeout_ns;		     /* QUIC idle timeout */
	int max_conns;				     /* connections per daemon */
	uint64_t poll_idle_us;			     /* back-off of an idle poll loop */
	uint64_t trace_sample;			     /* fan-out breakdown: 1 stamped frame in N */
	uint64_t quic_max_data;			     /* QUIC connection flow-control window */
	uint64_t quic_max_stream_data;		     /* QUIC per-stream flow-control window */
	int quic_max_streams_bidi;		     /* bidirectional streams a peer may open */
	int quic_max_streams_uni;		     /* unidirectional streams a peer may open */
	char log_level[16];			     /* emerg .. debug */
	bool hugepages;			       /* false: the EAL runs with --no-huge (CI, VMs) */
	struct sl_config_list dpdk_devices;    /* ethdev names; empty = every probed port */
	struct sl_config_list dpdk_neighbours; /* static "IP=MAC[@DEV]" entries */
	uint64_t dpdk_mbufs;		       /* per NUMA socket; 0 = sized from the queues */
	int dpdk_rx_desc, dpdk_tx_desc;	       /* descriptors per queue */
	int dpdk_mtu;
	bool dpdk_offload;		     /* checksum offloads where the device has them */
	struct sl_config_list shard_weights; /* per worker; empty = equal */
	bool moq_send_drops;		     /* SUBSCRIBE_DROP for skipped groups */
	/* The durable side, per worker unless said otherwise. */
	uint64_t log_flush_interval_ns; /* a delta this old is flushed */
	uint64_t log_flush_bytes;	/* a delta this large is flushed */
	int log_max_flushes;		/* flushes in flight */
	uint64_t log_memory;		/* flushed record bytes kept in memory */
	int log_max_partitions;		/* partitions owned at once */
	int log_queue;			/* produce requests queued before OVERLOADED */
	int log_max_inflight;		/* produce requests in flight per connection */
	int log_max_producers;		/* idempotent producers remembered per partition */
	uint64_t log_sub_window;	/* unacknowledged bytes per subscription */
	uint64_t metalog_segment_bytes; /* metadata log segment file size (the trim unit) */
	uint64_t log_gc_grace_ns;	/* an expired object is deleted this long after */
};

enum sl_config_type {
	SL_CONFIG_STRING,   /* char[size] */
	SL_CONFIG_INT,	    /* int */
	SL_CONFIG_U64,	    /* uint64_t */
	SL_CONFIG_BOOL,	    /* bool */
	SL_CONFIG_DURATION, /* uint64_t nanoseconds; "30s", "500ms", "1m30s"; a bare number = s */
	SL_CONFIG_BYTES,    /* uint64_t; "64MiB", "1G" (binary), "1GB" (decimal), plain number */
	SL_CONFIG_LIST,	    /* struct sl_config_list; repeatable flag, comma-separated, array */
};

/* The setting may be changed through the admin socket while the daemon runs. */
#define SL_CONFIG_RUNTIME 0x1

struct sl_config_setting {
	const char *name; /* with underscores; flags use dashes, both spellings are accepted */
	enum sl_config_type type;
	/* The default, in the syntax the parsers accept. NULL when computed (def_fn). */
	const char *def;
	/* Computes a default that depends on the environment; def_doc describes it for docs. */
	void (*def_fn)(char *out, size_t size);
	const char *def_doc;
	const char *metavar; /* placeholder in --help: ADDR, PATH, N, ... */
	const char *help;
	size_t offset;
	size_t size;	     /* bytes of the field (capacity for strings) */
	uint64_t min, max;   /* inclusive range for INT, U64, DURATION, BYTES (0,0 = none) */
	const char *choices; /* "socket|dpdk": allowed values of a STRING, or NULL */
	/* Extra check of one value (one element for lists); returns 0 or writes why into err. */
	int (*check)(const char *value, char *err, size_t errlen);
	unsigned flags; /* SL_CONFIG_RUNTIME */
};

/* Returns the table and stores its length in *count (count may be NULL). */
const struct sl_config_setting *sl_config_settings(size_t *count);

/* Finds a setting by name; dashes and underscores are interchangeable. NULL when unknown. */
const struct sl_config_setting *sl_config_find(const char *name);

/* Fills c with every default from the table. Never fails: the defaults are checked by tests. */
void sl_config_default(struct sl_config *c);

/*
 * Sets one setting from text, as a flag or `config set` would. For a LIST, append=false
 * replaces the list and append=true adds to it; the text may hold several comma-separated
 * elements. On error c is unchanged and err holds a message naming the setting, the value and
 * what is accepted. Errors: SL_ENOTFOUND (unknown setting), SL_EINVAL (bad value),
 * SL_ERANGE (outside the setting's range), SL_ENOSPC (string or list too long).
 */
int sl_config_set(struct sl_config *c, const char *name, const char *value, bool append, char *err,
		  size_t errlen);

/*
 * Formats one setting's current value as text that sl_config_set accepts back (durations and
 * byte sizes in the largest exact unit, lists comma-separated). Returns the length that the
 * full text needs (like snprintf), or SL_ENOTFOUND for an unknown setting.
 */
int sl_config_format(const struct sl_config *c, const char *name, char *out, size_t size);

/*
 * Reads a libconfig file: top-level `name = value;` entries, lists as arrays or one string.
 * Durations and byte sizes may be strings ("30s", "64MiB") or integers (seconds, bytes).
 * Settings the file does not mention keep their value in c. On error, c may be partly
 * updated and err holds "FILE:LINE: message". Errors: SL_EIO (cannot read the file),
 * SL_EINVAL (syntax error, wrong type, bad value, unknown setting), SL_ERANGE, SL_ENOSPC.
 */
int sl_config_load_file(struct sl_config *c, const char *path, char *err, size_t errlen);

/* Parses libconfig text held in memory; `origin` names it in messages. Errors as above. */
int sl_config_load_string(struct sl_config *c, const char *text, const char *origin, char *err,
			  size_t errlen);

/* What sl_config_parse_args found besides settings. */
struct sl_config_args {
	const char *config_path; /* --config FILE, or NULL */
	bool help;		 /* --help or -h was given: print sl_config_help and exit */
	bool version;		 /* --version was given */
	int next;		 /* index in argv of the first argument that is not an option */
};

/*
 * The whole start-up sequence for a daemon: sl_config_default, then the file named by
 * --config (wherever it appears), then every flag in argv order, then sl_config_check. Flags
 * are `--name value`, `--name=value` (dashes or underscores), `--name`/`--no-name` for
 * booleans; a list flag's first use replaces the file's list and later uses append. Parsing
 * stops at "--" (skipped) or at the first argument that does not start with "-"; argv[0] is
 * skipped. When --help or --version is seen, nothing else is parsed or loaded and 0 is returned
 * with out->help or out->version set. Errors: SL_EINVAL (unknown flag, missing value, bad value;
 * err says which), and those of sl_config_load_file.
 */
int sl_config_parse_args(struct sl_config *c, int argc, char **argv, struct sl_config_args *out,
			 char *err, size_t errlen);

/*
 * Checks what no single setting can: cert and key given together, a listen address present.
 * Errors: SL_EINVAL with err naming the settings.
 */
int sl_config_check(const struct sl_config *c, char *err, size_t errlen);

/*
 * Writes the --help text of the settings: one entry per setting with its flag, metavar, help
 * and default (computed defaults show their current value). prog names the program in the
 * usage line.
 */
void sl_config_help(FILE *f, const char *prog);

/* Writes the settings as a Markdown table (name, type, default, runtime, help) for docs. */
void sl_config_markdown(FILE *f);

/* Parses IP:PORT or [IPv6]:PORT into *ss. Returns 0 or SL_EINVAL (err says why). */
int sl_config_parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len, char *err,
			 size_t errlen);

/* Parses "30s", "500ms", "2m", "1h30m", "250us", "10ns"; a bare number is seconds. Returns 0,
 * SL_EINVAL (bad syntax) or SL_ERANGE (overflows 64 bits of nanoseconds). */
int sl_config_parse_duration(const char *text, uint64_t *ns);

/* Parses "64MiB", "1G", "512k", "10MB", "4096". K/M/G/T with or without "i"/"iB" are binary
 * (1024), "KB"/"MB"/"GB"/"TB" are decimal; case is ignored. Returns 0, SL_EINVAL, SL_ERANGE. */
int sl_config_parse_bytes(const char *text, uint64_t *bytes);

/* Writes a duration in its largest exact unit ("30s", "1500ms", "0s"). Returns as snprintf. */
int sl_config_format_duration(uint64_t ns, char *out, size_t size);

/* Writes a byte size in its largest exact binary unit ("64MiB", "1000"). Returns as snprintf. */
int sl_config_format_bytes(uint64_t bytes, char *out, size_t size);

/* Returns the rte_log level (RTE_LOG_EMERG..RTE_LOG_DEBUG) named by c->log_level. */
int sl_config_log_level(const struct sl_config *c);

/* Returns the number of workers to start given lcore_count EAL lcores: c->workers when set,
 * else lcore_count - 1 (control) - io_cores, at least 1. */
unsigned sl_config_workers(const struct sl_config *c, unsigned lcore_count);

/*
 * The default admin socket path: /run/shardline/admin.sock for root, else
 * $XDG_RUNTIME_DIR/shardline/admin.sock, else /tmp/shardline-UID/admin.sock. shardctl uses
 * the same function so that both sides agree without flags.
 */
void sl_config_default_admin(char *out, size_t size);

/* The default data directory: /var/lib/shardline as root, else $XDG_DATA_HOME/shardline, else
 * $HOME/.local/share/shardline, else /tmp/shardline-UID/data. */
void sl_config_default_data_dir(char *out, size_t size);

#endif
