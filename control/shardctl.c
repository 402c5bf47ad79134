/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shardctl: the operator's command line for shardlined. Global options, then a subcommand from
 * the table below. Subcommands that talk to the daemon go through the admin socket with
 * sl_ctl_cli_call; new ones (pub, sub) are entries in `commands` whose functions live in their
 * own files.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/config.h"
#include "control/ctl.h"
#include "control/ctl_export.h"
#include "control/ctl_report.h"
#include "control/ctl_stream.h"
#include "core/err.h"
#include "log/streamset.h"
#ifdef SL_HAVE_QUIC
#include "control/ctl_log.h"
#include "control/ctl_pubsub.h"
#endif

#ifndef SL_VERSION
#define SL_VERSION "unknown"
#endif

static int cmd_status(const struct sl_ctl_cli *cli, int argc, char **argv);
static int cmd_config(const struct sl_ctl_cli *cli, int argc, char **argv);
static int cmd_connections(const struct sl_ctl_cli *cli, int argc, char **argv);
static int cmd_cert(const struct sl_ctl_cli *cli, int argc, char **argv);
static int cmd_consumer(const struct sl_ctl_cli *cli, int argc, char **argv);

static const struct sl_ctl_command commands[] = {
	{.name = "status",
	 .summary = "the daemon's status: workers, io lcores, data directory, warnings",
	 .usage = "[--json]",
	 .help = SL_CTL_STATUS_HELP,
	 .fn = cmd_status},
	{.name = "connections",
	 .summary = "list the daemon's open connections with their counters",
	 .usage = "[--json]",
	 .help = SL_CTL_CONNECTIONS_HELP,
	 .fn = cmd_connections},
	{.name = "config",
	 .summary = "get, set or list the daemon's settings",
	 .usage = "get NAME [--json] | set NAME VALUE [--json] | list [--json] | help [--markdown]",
	 .help = "get   prints a setting's current value (--json: the daemon's whole answer).\n"
		 "set   changes a setting that is settable at runtime and prints old -> new\n"
		 "      (--json: the daemon's whole answer).\n"
		 "list  prints a table of every setting: SETTING, VALUE, SOURCE (default when\n"
		 "      the value is the default, else set: by the config file, a flag or\n"
		 "      config set), DEFAULT and RUNTIME (yes: config set can change it).\n"
		 "      --json prints every setting with value, default, type, runtime and\n"
		 "      help as a JSON array (--pretty indents it).\n"
		 "help  prints the settings reference without contacting the daemon\n"
		 "      (--markdown: as the table in docs/operator.md).",
	 .fn = cmd_config},
	{.name = "cert",
	 .summary = "replace the daemon's own certificate now",
	 .usage = "renew [--json]",
	 .help = "renew  makes a new self-signed certificate (ECDSA P-256, 14 days) and gives\n"
		 "       it to every worker and the TCP listener for the connections made from\n"
		 "       then on; prints its SHA-256 (what /certificate.sha256 serves now).\n"
		 "       shardlined does this by itself cert_renew_before ahead of expiry; a\n"
		 "       daemon given cert and key refuses (replace the files and restart).",
	 .fn = cmd_cert},
	{.name = "stream",
	 .summary = "create, list, describe or delete durable streams",
	 .usage = SL_CTL_STREAM_USAGE,
	 .help = SL_CTL_STREAM_HELP,
	 .fn = sl_ctl_stream_main},
	{.name = "consumer",
	 .summary = "delete a named consumer's committed positions",
	 .usage = "delete STREAM NAME [--json]",
	 .help = "delete  forgets consumer NAME of STREAM: its committed position and epoch in\n"
		 "        every partition (stream describe lists them). Its next run starts\n"
		 "        afresh (--from committed then means earliest); a subscription of\n"
		 "        that name still running goes on reading, but its commits are\n"
		 "        refused. Exit status 1 when the stream has no consumer NAME.",
	 .fn = cmd_consumer},
	{.name = "export",
	 .summary = "print and acknowledge the batches of an --export stream's queue",
	 .usage = SL_CTL_EXPORT_USAGE,
	 .help = SL_CTL_EXPORT_HELP,
	 .fn = sl_ctl_export_main},
#ifdef SL_HAVE_QUIC
	{.name = "pub",
	 .summary = "publish a track to a relay (synthetic timed frames, or lines of stdin)",
	 .usage = "URL BROADCAST TRACK [--fps F] [--size BYTES] [--group-frames N] [--frames N] "
		  "[--stdin] [--version 04|05]",
	 .help = "Connects to URL (moq://HOST:PORT, ALPN moq-lite-04, or moq-lite-05 with\n"
		 "--version 05; default 04; https://HOST:PORT/PATH for WebTransport over\n"
		 "HTTP/3 on the same QUIC port, as browsers connect: ALPN h3, an extended\n"
		 "CONNECT offering moq-lite-0N, PATH?jwt=TOKEN for a relay with tokens; or\n"
		 "ws://HOST:PORT/ and wss://HOST:PORT/ for the relay's --listen-tcp listener:\n"
		 "WebSocket+qmux, subprotocol qmux-01.moq-lite-0N; certificates are not\n"
		 "verified), announces BROADCAST and\n"
		 "serves TRACK: --fps frames per second (default 30) of --size bytes (default\n"
		 "1200) that carry their send time, a new group every --group-frames frames\n"
		 "(default 30), --frames in total (default 0: until interrupted). With --stdin,\n"
		 "each line of standard input is one frame instead. After the last frame (or\n"
		 "input line) the track is finished so subscribers see a clean end; interrupted\n"
		 "(Ctrl-C, SIGTERM), pub leaves without finishing it, and `shardctl sub` waits\n"
		 "for the next publisher of the broadcast. In moq-lite-05 every frame carries\n"
		 "a timestamp: milliseconds since pub started.",
	 .fn = sl_ctl_pub_main},
	{.name = "sub",
	 .summary = "subscribe to a track on a relay and print its frames",
	 .usage = "URL BROADCAST TRACK [--frames N] [--json] [--timeout S] [--unordered] "
		  "[--version 04|05]",
	 .help = "Subscribes to TRACK of BROADCAST from the latest group on and prints every\n"
		 "frame: text frames as lines, timed frames (from `shardctl pub`) with their\n"
		 "size and publish-to-deliver latency. --json prints one object per frame\n"
		 "(group, frame, size, latency_us, and ts: the frame's timestamp, with\n"
		 "--version 05) and a final summary object. --version picks the moq-lite\n"
		 "version (ALPN moq-lite-04, the default, or moq-lite-05). URL is\n"
		 "moq://HOST:PORT (raw QUIC), https://HOST:PORT/PATH (WebTransport over HTTP/3\n"
		 "on the QUIC port; PATH?jwt=TOKEN for a relay with tokens; a refusal exits\n"
		 "with status 3 and names the HTTP status), or ws://HOST:PORT/ or\n"
		 "wss://HOST:PORT/ (the relay's --listen-tcp listener, WebSocket+qmux). Groups "
		 "come\n"
		 "oldest first; --unordered asks for newest-first delivery (moq-lite ordered=0).\n"
		 "Started before its publisher, it waits for BROADCAST to be announced, then\n"
		 "subscribes; when the publisher goes away (its track is dropped, as by an\n"
		 "interrupted `shardctl pub`) it waits for the broadcast to come back and\n"
		 "subscribes again. Stops after\n"
		 "--frames frames, when the publisher finishes the track, on Ctrl-C, or when a\n"
		 "wait for the broadcast lasts --timeout seconds (default 0: wait indefinitely;\n"
		 "a timeout exits with status 1 and names the broadcast).",
	 .fn = sl_ctl_sub_main},
	{.name = "produce",
	 .summary = "append records to a durable stream (lines of stdin, or synthetic timed ones)",
	 .usage = SL_CTL_PRODUCE_USAGE,
	 .help = SL_CTL_PRODUCE_HELP,
	 .fn = sl_ctl_produce_main},
	{.name = "consume",
	 .summary = "read a durable stream's records from a start offset, then live",
	 .usage = SL_CTL_CONSUME_USAGE,
	 .help = SL_CTL_CONSUME_HELP,
	 .fn = sl_ctl_consume_main},
#endif
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Whether command name has a --timeout of its own (its usage names one). */
static bool takes_timeout(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return strstr(commands[i].usage, "--timeout") != NULL;
	return false;
}

/* pub and sub take --version 04|05 (the moq-lite version); elsewhere it prints ours. */
static bool takes_version(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return strstr(commands[i].usage, "--version") != NULL;
	return false;
}

static void usage(FILE *f, const char *prog, const char *admin)
{
	fprintf(f, "Usage: %s [GLOBAL OPTIONS] COMMAND [ARGS]\n\n", prog);
	fprintf(f, "Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
		"\nGlobal options (anywhere before a lone --):\n"
		"  --admin PATH       admin socket of shardlined (default: $SHARDLINE_ADMIN or\n"
		"                     the daemon's default; now %s)\n"
		"  --timeout DURATION time allowed for each request (default 5s)\n"
		"  --json             print the daemon's answer as JSON instead of text, for\n"
		"                     commands that have it (status, connections, config,\n"
		"                     stream, sub, produce, consume); the same as giving\n"
		"                     --json after the command\n"
		"  --pretty           indent JSON output; status, connections, config and\n"
		"                     stream print JSON with it, as with --json\n"
		"  -h, --help         this help; `%s COMMAND --help` for a command\n"
		"  --version          print the version\n\n"
		"Exit status: 0 ok, 1 the daemon reported an error, 2 bad usage, 3 no daemon or\n"
		"connection failure.\n",
		admin, prog);
}

static void command_usage(FILE *f, const char *prog, const struct sl_ctl_command *c)
{
	fprintf(f, "Usage: %s %s%s%s\n\n%s.\n", prog, c->name, c->usage[0] ? " " : "", c->usage,
		c->summary);
	if (c->help)
		fprintf(f, "\n%s\n", c->help);
}

/* ---- status ------------------------------------------------------------------------------ */

/* Takes --json out of argv[1..]: whether it was there. Anything else left is a usage error of
 * the command's (named in the message); returns -1 after printing it. */
static int only_json(const struct sl_ctl_cli *cli, int argc, char **argv)
{
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
			continue;
		}
		fprintf(stderr, "%s: %s takes only --json (got '%s')\nUsage: %s %s [--json]\n",
			cli->prog, argv[0], argv[i], cli->prog, argv[0]);
		return -1;
	}
	return json;
}

/* Asks the daemon cmd and prints its answer: as JSON (without "ok") with --json or --pretty,
 * else with format. */
static int report(const struct sl_ctl_cli *cli, int argc, char **argv,
		  int (*format)(FILE *, const json_t *, char *, size_t))
{
	int json = only_json(cli, argc, argv);
	if (json < 0)
		return SL_CTL_EXIT_USAGE;
	json_t *req = json_pack("{ss}", "cmd", argv[0]);
	json_t *resp;
	int rc = sl_ctl_cli_call(cli, req, &resp);
	json_decref(req);
	if (rc != SL_CTL_EXIT_OK)
		return rc;
	json_object_del(resp, "ok");
	char err[256];
	if (json || cli->pretty) {
		rc = sl_ctl_cli_print(cli, resp);
	} else if (format(stdout, resp, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s: %s\n", cli->prog, argv[0], err);
		rc = SL_CTL_EXIT_FAIL;
	}
	json_decref(resp);
	return rc;
}

static int cmd_connections(const struct sl_ctl_cli *cli, int argc, char **argv)
{
	return report(cli, argc, argv, sl_ctl_connections_format);
}

static int cmd_cert(const struct sl_ctl_cli *cli, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "renew") != 0) {
		fprintf(stderr, "%s: cert: want 'renew'\nUsage: %s cert renew [--json]\n",
			cli->prog, cli->prog);
		return SL_CTL_EXIT_USAGE;
	}
	int json = only_json(cli, argc - 1, argv + 1);
	if (json < 0)
		return SL_CTL_EXIT_USAGE;
	json_t *req = json_pack("{ss ss}", "cmd", "cert", "op", "renew");
	json_t *resp;
	int rc = sl_ctl_cli_call(cli, req, &resp);
	json_decref(req);
	if (rc != SL_CTL_EXIT_OK)
		return rc;
	json_object_del(resp, "ok");
	if (json || cli->pretty)
		rc = sl_ctl_cli_print(cli, resp);
	else
		printf("new certificate, sha256 %s\n",
		       json_string_value(json_object_get(resp, "cert_sha256")));
	json_decref(resp);
	return rc;
}

static int cmd_consumer(const struct sl_ctl_cli *cli, int argc, char **argv)
{
	if (argc < 4 || strcmp(argv[1], "delete") != 0) {
		fprintf(stderr,
			"%s: consumer: want 'delete STREAM NAME'\nUsage: %s consumer delete STREAM "
			"NAME [--json]\n",
			cli->prog, cli->prog);
		return SL_CTL_EXIT_USAGE;
	}
	const char *stream = argv[2], *name = argv[3];
	if (!sl_stream_name_valid(stream, strlen(stream)) ||
	    !sl_stream_name_valid(name, strlen(name))) {
		fprintf(stderr, "%s: consumer: '%s' is not a valid %s name\n", cli->prog,
			sl_stream_name_valid(stream, strlen(stream)) ? name : stream,
			sl_stream_name_valid(stream, strlen(stream)) ? "consumer" : "stream");
		return SL_CTL_EXIT_USAGE;
	}
	argv[3] = argv[0]; /* only_json looks past its first argument */
	int json = only_json(cli, argc - 3, argv + 3);
	argv[3] = (char *)name;
	if (json < 0)
		return SL_CTL_EXIT_USAGE;
	json_t *req = json_pack("{ss ss ss ss}", "cmd", "consumer", "op", "delete", "stream",
				stream, "name", name);
	json_t *resp;
	int rc = sl_ctl_cli_call(cli, req, &resp);
	json_decref(req);
	if (rc != SL_CTL_EXIT_OK)
		return rc;
	json_object_del(resp, "ok");
	if (json || cli->pretty)
		rc = sl_ctl_cli_print(cli, resp);
	else
		printf("deleted consumer %s of stream %s (%lld partition positions)\n", name,
		       stream, (long long)json_integer_value(json_object_get(resp, "partitions")));
	json_decref(resp);
	return rc;
}

static int cmd_status(const struct sl_ctl_cli *cli, int argc, char **argv)
{
	return report(cli, argc, argv, sl_ctl_status_format);
}

/* ---- config ------------------------------------------------------------------------------ */

/* Prints a setting's value as an operator reads it: strings bare, lists comma-separated. */
static void print_plain(FILE *f, const json_t *v)
{
	if (json_is_string(v)) {
		fputs(json_string_value(v), f);
	} else if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			if (i)
				fputc(',', f);
			print_plain(f, e);
		}
	} else {
		char *t = json_dumps(v, JSON_ENCODE_ANY);
		fputs(t ? t : "?", f);
		free(t);
	}
}

static int config_usage(const struct sl_ctl_cli *cli, const char *why)
{
	const char *u = "";
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, "config") == 0)
			u = commands[i].usage;
	fprintf(stderr, "%s: config: %s\nUsage: %s config %s\n", cli->prog, why, cli->prog, u);
	return SL_CTL_EXIT_USAGE;
}

static int cmd_config(const struct sl_ctl_cli *cli, int argc, char **argv)
{
	/* --json may come anywhere after "config" (`shardctl --json config list` puts it
	 * first); what is left is the operation and its arguments, in order. */
	char *args[5];
	int nargs = 0;
	bool json_out = false;
	for (int i = 0; i < argc; i++) {
		if (i > 0 && strcmp(argv[i], "--json") == 0)
			json_out = true;
		else if (nargs < 5)
			args[nargs++] = argv[i];
		else
			return config_usage(cli, "too many arguments");
	}
	if (nargs < 2)
		return config_usage(cli, "missing operation");
	const char *op = args[1];
	if (strcmp(op, "help") == 0) {
		if (json_out)
			return config_usage(cli, "help takes only --markdown");
		if (nargs == 3 && strcmp(args[2], "--markdown") == 0)
			sl_config_markdown(stdout);
		else if (nargs == 2)
			sl_config_help(stdout, "shardlined");
		else
			return config_usage(cli, "help takes only --markdown");
		return SL_CTL_EXIT_OK;
	}
	/* --pretty asks for indented JSON; before the tables it was how people read status and
	 * settings, so it still gives them JSON rather than being ignored. */
	json_out = json_out || cli->pretty;
	json_t *req = NULL;
	bool list = strcmp(op, "list") == 0;
	if (list) {
		if (nargs != 2) {
			char why[128];
			snprintf(why, sizeof(why), "list takes only --json (got '%.64s')", args[2]);
			return config_usage(cli, why);
		}
		req = json_pack("{ss ss}", "cmd", "config", "op", "list");
	} else if (strcmp(op, "get") == 0) {
		if (nargs != 3)
			return config_usage(cli, "get takes one setting name (and --json)");
		req = json_pack("{ss ss ss}", "cmd", "config", "op", "get", "name", args[2]);
	} else if (strcmp(op, "set") == 0) {
		if (nargs != 4)
			return config_usage(cli,
					    "set takes a setting name and a value (and --json)");
		req = json_pack("{ss ss ss ss}", "cmd", "config", "op", "set", "name", args[2],
				"value", args[3]);
	} else {
		char why[128];
		snprintf(why, sizeof(why), "unknown operation '%s'", op);
		return config_usage(cli, why);
	}
	json_t *resp;
	int rc = sl_ctl_cli_call(cli, req, &resp);
	json_decref(req);
	if (rc != SL_CTL_EXIT_OK)
		return rc;
	json_object_del(resp, "ok");
	char err[256];
	if (list && json_out) {
		/* As shardctl always printed it: the array, not the answer around it. */
		rc = sl_ctl_cli_print(cli, json_object_get(resp, "settings"));
	} else if (list) {
		if (sl_ctl_config_list_format(stdout, resp, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: config list: %s\n", cli->prog, err);
			rc = SL_CTL_EXIT_FAIL;
		}
	} else if (json_out) {
		rc = sl_ctl_cli_print(cli, resp);
	} else if (strcmp(op, "get") == 0) {
		print_plain(stdout, json_object_get(resp, "value"));
		fputc('\n', stdout);
	} else {
		printf("%s: ", json_string_value(json_object_get(resp, "name")));
		print_plain(stdout, json_object_get(resp, "previous"));
		fputs(" -> ", stdout);
		print_plain(stdout, json_object_get(resp, "value"));
		fputc('\n', stdout);
	}
	json_decref(resp);
	return rc;
}

/* ---- main -------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static char admin[512];
	struct sl_ctl_cli cli = {.prog = "shardctl", .timeout_ms = 5000};
	bool help = false, json_first = false;
	sl_ctl_default_admin(admin, sizeof(admin));
	cli.admin = admin;

	/* Global options are taken out of argv wherever they appear before "--", so both
	 * `shardctl --pretty status` and `shardctl status --pretty` work; what is left is the
	 * subcommand and its own arguments. */
	char **rest = calloc((size_t)argc + 1, sizeof(*rest));
	int nrest = 0;
	if (rest == NULL)
		return SL_CTL_EXIT_FAIL;
	bool literal = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		if (literal) {
			rest[nrest++] = argv[i];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			literal = true;
			rest[nrest++] = argv[i];
		} else if (strcmp(a, "--pretty") == 0) {
			cli.pretty = true;
		} else if (strcmp(a, "--json") == 0 && nrest == 0) {
			/* Before the command's name, --json is handed to the command (below). */
			json_first = true;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			help = true;
		} else if ((strcmp(a, "--version") == 0 || strncmp(a, "--version=", 10) == 0) &&
			   nrest > 0 && takes_version(rest[0])) {
			/* After the name of pub or sub, --version is the moq-lite version. */
			rest[nrest++] = argv[i];
			if (strcmp(a, "--version") == 0 && i + 1 < argc)
				rest[nrest++] = argv[++i];
		} else if (strcmp(a, "--version") == 0) {
			printf("shardctl %s\n", SL_VERSION);
			free(rest);
			return SL_CTL_EXIT_OK;
		} else if ((strcmp(a, "--timeout") == 0 || strncmp(a, "--timeout=", 10) == 0) &&
			   nrest > 0 && takes_timeout(rest[0])) {
			/* After the name of a command with a --timeout of its own (sub, produce,
			 * consume), --timeout is that command's; before the name it is global. */
			rest[nrest++] = argv[i];
			if (strcmp(a, "--timeout") == 0 && i + 1 < argc)
				rest[nrest++] = argv[++i];
		} else if (strcmp(a, "--admin") == 0 || strcmp(a, "--timeout") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "%s: %s needs a value\n", cli.prog, a);
				free(rest);
				return SL_CTL_EXIT_USAGE;
			}
			val = argv[++i];
		} else if (strncmp(a, "--admin=", 8) == 0 || strncmp(a, "--timeout=", 10) == 0) {
			val = strchr(a, '=') + 1;
		} else {
			rest[nrest++] = argv[i];
		}
		if (val && strncmp(a, "--admin", 7) == 0) {
			cli.admin = val;
		} else if (val) {
			uint64_t ns;
			if (sl_config_parse_duration(val, &ns) < 0 || ns / 1000000 > 3600 * 1000) {
				fprintf(stderr,
					"%s: bad --timeout '%s': expected a duration such as "
					"5s or 500ms, at most 1h\n",
					cli.prog, val);
				free(rest);
				return SL_CTL_EXIT_USAGE;
			}
			cli.timeout_ms = (int)(ns / 1000000);
		}
	}
	if (json_first && nrest > 0) {
		/* Handed over as the command's last option, before a lone "--" if there is one:
		 * right after the name it would stand where stream and config expect their
		 * operation. rest has room: it holds argc slots and --json was not put in it. */
		int at = 1;
		while (at < nrest && strcmp(rest[at], "--") != 0)
			at++;
		memmove(&rest[at + 1], &rest[at], (size_t)(nrest - at) * sizeof(*rest));
		rest[at] = "--json";
		nrest++;
	}
	int rc;
	if (nrest == 0) {
		usage(help ? stdout : stderr, cli.prog, cli.admin);
		rc = help ? SL_CTL_EXIT_OK : SL_CTL_EXIT_USAGE;
	} else {
		const struct sl_ctl_command *cmd = NULL;
		for (size_t i = 0; i < NCOMMANDS; i++)
			if (strcmp(commands[i].name, rest[0]) == 0)
				cmd = &commands[i];
		if (cmd == NULL) {
			fprintf(stderr, "%s: unknown command '%s' (see %s --help)\n", cli.prog,
				rest[0], cli.prog);
			rc = SL_CTL_EXIT_USAGE;
		} else if (help) {
			command_usage(stdout, cli.prog, cmd);
			rc = SL_CTL_EXIT_OK;
		} else {
			rc = cmd->fn(&cli, nrest, rest);
		}
	}
	free(rest);
	return rc;
}
