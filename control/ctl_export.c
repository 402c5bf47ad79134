/* SPDX-License-Identifier: Apache-2.0 */
#include "control/ctl_export.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buffer/batch.h"
#include "buffer/consumer.h"
#include "core/clock.h"
#include "core/err.h"
#include "drivers/objstore/localdir.h"
#include "durable/export.h"
#include "log/streamset.h"

/* ---- arguments ---- */

static int parse_count(const char *flag, const char *v, uint32_t *out, char *err, size_t errlen)
{
	char *end = NULL;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (v[0] == '\0' || v[0] == '-' || *end != '\0' || errno != 0 || x < 1 || x > 1000000) {
		snprintf(err, errlen, "bad %s '%s': expected an integer from 1 to 1000000", flag,
			 v);
		return SL_EINVAL;
	}
	*out = (uint32_t)x;
	return 0;
}

int sl_ctl_export_parse(int argc, char **argv, struct sl_ctl_export_args *out, char *err,
			size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->ack_every = 1;
	out->read_ahead = 8;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || a[1] == '\0') {
			if (out->stream != NULL) {
				snprintf(err, errlen,
					 "export takes one stream name (got '%s' and '%s')",
					 out->stream, a);
				return SL_EINVAL;
			}
			out->stream = a;
			continue;
		}
		if (strcmp(a, "--once") == 0) {
			out->once = true;
			continue;
		}
		if (strcmp(a, "--json") == 0) {
			out->json = true;
			continue;
		}
		const char *eq = strchr(a, '=');
		size_t flen = eq ? (size_t)(eq - a) : strlen(a);
		static const char *const flags[] = {"--objects", "--ack-every", "--read-ahead"};
		int f;
		for (f = 0; f < 3; f++)
			if (strlen(flags[f]) == flen && strncmp(a, flags[f], flen) == 0)
				break;
		if (f == 3) {
			snprintf(err, errlen, "unknown option '%.*s'", (int)flen, a);
			return SL_EINVAL;
		}
		const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (v == NULL) {
			snprintf(err, errlen, "%s needs a value", flags[f]);
			return SL_EINVAL;
		}
		int rc = 0;
		if (f == 0)
			out->objects = v;
		else if (f == 1)
			rc = parse_count("--ack-every", v, &out->ack_every, err, errlen);
		else
			rc = parse_count("--read-ahead", v, &out->read_ahead, err, errlen);
		if (rc != 0)
			return rc;
	}
	if (out->objects == NULL || out->objects[0] == '\0') {
		snprintf(err, errlen, "export needs --objects DIR (the daemon's DATA_DIR/objects)");
		return SL_EINVAL;
	}
	if (out->stream == NULL) {
		snprintf(err, errlen, "export needs a stream name");
		return SL_EINVAL;
	}
	if (!sl_stream_name_valid(out->stream, strlen(out->stream))) {
		snprintf(err, errlen, "bad stream name '%.64s'", out->stream);
		return SL_EINVAL;
	}
	return 0;
}

/* ---- the exporter ---- */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct xrange {
	struct sl_export_range r;
	struct sl_obj_req req;
	bool done;
};

struct xbatch {
	struct sl_buffer_desc *d;
	struct xrange *ranges;
	uint32_t nranges;
};

struct exporter {
	const char *prog;
	const struct sl_ctl_export_args *a;
	struct sl_objstore *store;
	struct sl_consumer *c;
	uint32_t inflight; /* range GETs */
	uint64_t records, batches, skipped;
	uint64_t stream_id; /* from streams.json beside DIR; 0 when unknown */
};

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	nanosleep(&ts, NULL);
}

/* Polls the store and the consumer until *flag is set. */
static void drive(struct exporter *x, const bool *flag)
{
	while (!*flag) {
		uint64_t now = sl_clock_wall_ns();
		int n = sl_objstore_poll(x->store, now);
		n += sl_consumer_poll(x->c, now);
		if (n == 0 && !*flag)
			sleep_us(50);
	}
}

static void op_done(struct sl_consumer_op *op)
{
	*(bool *)op->user = true;
}

/* Runs a consumer operation started by start (0 or a start error) to completion. */
static int run_op(struct exporter *x, struct sl_consumer_op *op, int start_rc)
{
	if (start_rc != 0)
		return start_rc;
	bool flag = false;
	op->user = &flag;
	drive(x, &flag);
	return op->result;
}

#define START(x, op, call)                                                                         \
	(memset((op), 0, sizeof(*(op))), (op)->done = op_done, run_op((x), (op), (call)))

static void get_done(struct sl_obj_req *req)
{
	struct xrange *r = req->user;
	r->done = true;
}

static void print_json_string(const uint8_t *p, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		uint8_t b = p[i];
		if (b == '"' || b == '\\')
			printf("\\%c", b);
		else if (b < 0x20 || b == 0x7f)
			printf("\\u%04x", b);
		else
			putchar(b);
	}
	putchar('"');
}

static void print_base64(const uint8_t *p, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	putchar('"');
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		putchar(t[v >> 18]);
		putchar(t[(v >> 12) & 63]);
		putchar(i + 1 < n ? t[(v >> 6) & 63] : '=');
		putchar(i + 2 < n ? t[v & 63] : '=');
	}
	putchar('"');
}

static bool is_text(const uint8_t *p, size_t n)
{
	/* UTF-8 by its lead and continuation bytes; anything else goes out as base64. */
	size_t i = 0;
	while (i < n) {
		uint8_t b = p[i];
		size_t k;
		if (b < 0x80)
			k = 0;
		else if (b >= 0xc2 && b <= 0xdf)
			k = 1;
		else if ((b & 0xf0) == 0xe0)
			k = 2;
		else if (b >= 0xf0 && b <= 0xf4)
			k = 3;
		else
			return false;
		if (k > n - i - 1)
			return false;
		for (size_t j = 1; j <= k; j++)
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
		i += k + 1;
	}
	return true;
}

/* Prints the records of one range: a shardline batch of r->count records. */
static int print_range(struct exporter *x, const struct sl_buffer_desc *d, struct xrange *xr)
{
	struct sl_obj_req *req = &xr->req;
	if (x->stream_id != 0 && xr->r.stream_id != x->stream_id) {
		/* The queue outlived a deleted stream of the same name: not this stream's records.
		 */
		fprintf(stderr,
			"%s: export: batch %s belongs to an earlier stream named %s (id %llu): "
			"skipped\n",
			x->prog, d->location, x->a->stream, (unsigned long long)xr->r.stream_id);
		x->skipped += xr->r.count;
		return 0;
	}
	if (req->result == SL_ENOTFOUND) {
		/* Only an entry past the stream's --export-max-age may lose its object. */
		fprintf(stderr,
			"%s: export: batch %s (partition %u, offsets %llu..%llu) is gone "
			"(older than the stream's export max age?): skipped\n",
			x->prog, d->location, xr->r.partition, (unsigned long long)xr->r.first,
			(unsigned long long)(xr->r.first + xr->r.count - 1));
		x->skipped += xr->r.count;
		return 0;
	}
	if (req->result != 0) {
		fprintf(stderr, "%s: export: cannot read batch %s: %s\n", x->prog, d->location,
			sl_strerror(req->result));
		return SL_EIO;
	}
	struct sl_batch b;
	const char *why = NULL;
	int rc = sl_batch_decode(req->data, NULL, NULL, &b, &why);
	if (rc == 0 && b.count != xr->r.count) {
		why = "record count differs from the queue entry";
		rc = SL_ECORRUPT;
	}
	if (rc != 0) {
		fprintf(stderr, "%s: export: batch %s at %llu: %s\n", x->prog, d->location,
			(unsigned long long)xr->r.off, why ? why : sl_strerror(rc));
		sl_batch_release(&b);
		return SL_ECORRUPT;
	}
	for (uint32_t i = 0; i < b.count; i++) {
		const uint8_t *p = b.entries[i].buf->data + b.entries[i].off;
		size_t n = b.entries[i].len;
		unsigned long long off = (unsigned long long)(xr->r.first + i);
		if (x->a->json) {
			printf("{\"partition\":%u,\"offset\":%llu,\"size\":%zu,", xr->r.partition,
			       off, n);
			if (is_text(p, n)) {
				fputs("\"value\":", stdout);
				print_json_string(p, n);
			} else {
				fputs("\"value_b64\":", stdout);
				print_base64(p, n);
			}
			fputs("}\n", stdout);
		} else {
			printf("%u %llu ", xr->r.partition, off);
			fwrite(p, 1, n, stdout);
			putchar('\n');
		}
	}
	x->records += b.count;
	sl_batch_release(&b);
	return 0;
}

/* Decodes a descriptor's ranges and submits their GETs. */
static int start_batch(struct exporter *x, struct xbatch *xb)
{
	const struct sl_buffer_desc *d = xb->d;
	xb->ranges = calloc(d->nmeta ? d->nmeta : 1, sizeof(*xb->ranges));
	if (xb->ranges == NULL)
		return SL_ENOMEM;
	xb->nranges = d->nmeta;
	for (uint32_t i = 0; i < d->nmeta; i++) {
		struct xrange *xr = &xb->ranges[i];
		const char *why = NULL;
		int rc = sl_export_meta_decode(d->meta[i].payload, d->meta[i].payload_len, &xr->r,
					       &why);
		if (rc != 0) {
			fprintf(stderr, "%s: export: queue entry %llu (%s): %s\n", x->prog,
				(unsigned long long)d->sequence, d->location, why);
			xr->done = true;
			for (uint32_t k = i + 1; k < d->nmeta; k++)
				xb->ranges[k].done = true;
			return SL_ECORRUPT;
		}
		struct sl_obj_req *r = &xr->req;
		r->op = SL_OBJ_GET;
		r->key = d->location;
		r->offset = xr->r.off;
		r->length = xr->r.len;
		r->done = get_done;
		r->user = xr;
		rc = sl_objstore_submit(x->store, r);
		if (rc != 0) {
			r->result = rc;
			xr->done = true;
		}
	}
	return 0;
}

static void wait_batch(struct exporter *x, struct xbatch *xb)
{
	for (uint32_t i = 0; i < xb->nranges; i++)
		drive(x, &xb->ranges[i].done);
}

static void free_batch(struct xbatch *xb)
{
	for (uint32_t i = 0; xb->ranges && i < xb->nranges; i++)
		sl_obj_req_reset(&xb->ranges[i].req);
	free(xb->ranges);
	sl_buffer_desc_free(xb->d);
	memset(xb, 0, sizeof(*xb));
}

static int fenced(struct exporter *x)
{
	fflush(stdout);
	fprintf(stderr, "%s: export: fenced by a newer exporter of stream %s\n", x->prog,
		x->a->stream);
	return SL_CTL_EXPORT_EXIT_FENCED;
}

/* Checks DATA_DIR/streams.json beside DIR, when readable, so a typo gets a clear message
 * rather than an empty queue. Returns 0 or an exit status. */
static int check_catalogue(const char *prog, const struct sl_ctl_export_args *a, uint64_t *id)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/../streams.json", a->objects);
	json_t *root = json_load_file(path, 0, NULL);
	if (root == NULL)
		return 0; /* not beside a daemon's data directory: nothing to check against */
	const json_t *arr = json_object_get(root, "streams");
	size_t i;
	const json_t *o;
	int found = 0;
	json_array_foreach(arr, i, o)
	{
		const char *name = json_string_value(json_object_get(o, "name"));
		if (name && strcmp(name, a->stream) == 0) {
			found = json_is_true(json_object_get(o, "export")) ? 2 : 1;
			json_int_t v = json_integer_value(json_object_get(o, "id"));
			*id = v > 0 ? (uint64_t)v : 0;
		}
	}
	json_decref(root);
	if (found == 0) {
		fprintf(stderr, "%s: export: no stream named %s (in %s)\n", prog, a->stream, path);
		return SL_CTL_EXIT_FAIL;
	}
	if (found == 1) {
		fprintf(stderr,
			"%s: export: stream %s is not an export stream (create it with --export)\n",
			prog, a->stream);
		return SL_CTL_EXIT_FAIL;
	}
	return 0;
}

/* Acknowledges durably through seq (the batches leave the queue). Returns 0 or an exit status. */
static int ack_through(struct exporter *x, uint64_t seq)
{
	struct sl_consumer_op op;
	/* What was printed is out before the queue forgets it. */
	fflush(stdout);
	int rc = START(x, &op, sl_consumer_ack_through(x->c, &op, seq));
	if (rc == SL_EFENCED)
		return fenced(x);
	if (rc != 0) {
		fprintf(stderr, "%s: export: acknowledgement failed: %s\n", x->prog,
			sl_strerror(rc));
		return SL_CTL_EXIT_FAIL;
	}
	return 0;
}

/*
 * The loop: a window of up to read_ahead batches whose ranges are being fetched, topped up
 * from the queue whenever it is half empty, so the next batches arrive while the oldest one is
 * printed. Batches are printed and acknowledged strictly in queue order.
 */
static int export_loop(struct exporter *x)
{
	const struct sl_ctl_export_args *a = x->a;
	struct sl_consumer_op op;
	int rc = START(x, &op, sl_consumer_open(x->c, &op, false, 0));
	if (rc != 0) {
		fprintf(stderr, "%s: export: cannot open the export queue of %s: %s\n", x->prog,
			a->stream, sl_strerror(rc));
		return SL_CTL_EXIT_FAIL;
	}
	uint32_t cap = a->read_ahead;
	struct sl_buffer_desc **descs = calloc(cap, sizeof(*descs));
	struct xbatch *win = calloc(cap, sizeof(*win));
	int status = descs && win ? SL_CTL_EXIT_OK : SL_CTL_EXIT_FAIL;
	uint32_t head = 0, count = 0, unacked = 0;
	uint64_t last_seq = 0;
	while (status == SL_CTL_EXIT_OK && !stop_requested) {
		if (count <= cap / 2) {
			memset(&op, 0, sizeof(op));
			op.done = op_done;
			rc = run_op(x, &op,
				    sl_consumer_next_descriptors(x->c, &op, descs, cap - count));
			if (rc == SL_EFENCED) {
				status = fenced(x);
				break;
			}
			if (rc != 0) {
				fprintf(stderr,
					"%s: export: cannot read the export queue of %s: %s\n",
					x->prog, a->stream, sl_strerror(rc));
				status = SL_CTL_EXIT_FAIL;
				break;
			}
			for (uint32_t i = 0; i < op.ndescs; i++) {
				struct xbatch *xb = &win[(head + count++) % cap];
				xb->d = descs[i];
				if (start_batch(x, xb) != 0)
					status = SL_CTL_EXIT_FAIL;
			}
		}
		if (count == 0) {
			/* The end of the queue: what was printed is acknowledged before waiting. */
			if (unacked > 0) {
				status = ack_through(x, last_seq);
				unacked = 0;
			}
			if (a->once || status != SL_CTL_EXIT_OK)
				break;
			for (int i = 0; i < 20 && !stop_requested; i++)
				sleep_us(5000);
			continue;
		}
		struct xbatch *xb = &win[head];
		wait_batch(x, xb);
		for (uint32_t k = 0; status == SL_CTL_EXIT_OK && k < xb->nranges; k++)
			if (print_range(x, xb->d, &xb->ranges[k]) != 0)
				status = SL_CTL_EXIT_FAIL;
		if (status == SL_CTL_EXIT_OK) {
			x->batches++;
			last_seq = xb->d->sequence;
			if (++unacked >= a->ack_every) {
				status = ack_through(x, last_seq);
				unacked = 0;
			}
		}
		free_batch(xb);
		head = (head + 1) % cap;
		count--;
	}
	/* Fetches still in flight complete into the window before it goes. */
	for (uint32_t i = 0; i < count; i++) {
		struct xbatch *xb = &win[(head + i) % cap];
		wait_batch(x, xb);
		free_batch(xb);
	}
	fflush(stdout);
	if (status == SL_CTL_EXIT_OK && unacked > 0)
		status = ack_through(x, last_seq);
	if (status == SL_CTL_EXIT_OK) {
		rc = START(x, &op, sl_consumer_close(x->c, &op));
		if (rc == SL_EFENCED)
			status = fenced(x);
	}
	free(descs);
	free(win);
	return status;
}

int sl_ctl_export_main(const struct sl_ctl_cli *cli, int argc, char **argv)
{
	struct sl_ctl_export_args a;
	char err[512];
	if (sl_ctl_export_parse(argc, argv, &a, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: export: %s\nUsage: %s export %s\n", cli->prog, err, cli->prog,
			SL_CTL_EXPORT_USAGE);
		return SL_CTL_EXIT_USAGE;
	}
	struct stat st;
	if (stat(a.objects, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "%s: export: --objects %s: %s\n", cli->prog, a.objects,
			errno ? strerror(errno) : "not a directory");
		return SL_CTL_EXIT_FAIL;
	}
	uint64_t id = 0;
	int status = check_catalogue(cli->prog, &a, &id);
	if (status != 0)
		return status;
	struct exporter x = {.prog = cli->prog, .a = &a, .stream_id = id};
	int rc = sl_localdir_open(a.objects, NULL, &x.store);
	if (rc != 0) {
		fprintf(stderr, "%s: export: cannot open the object store %s: %s\n", cli->prog,
			a.objects, sl_strerror(rc));
		return SL_CTL_EXIT_FAIL;
	}
	char mkey[SL_STREAM_NAME_MAX + 32];
	sl_export_manifest_key(a.stream, mkey, sizeof(mkey));
	struct sl_consumer_config cc;
	sl_consumer_config_default(&cc);
	cc.manifest_key = mkey;
	/* The daemon's objects are not ours to collect: its own GC does that, honouring the
	 * queue's pins. */
	cc.gc_enabled = false;
	x.c = sl_consumer_new(x.store, &cc);
	if (x.c == NULL) {
		sl_objstore_destroy(x.store);
		fprintf(stderr, "%s: export: out of memory\n", cli->prog);
		return SL_CTL_EXIT_FAIL;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	status = export_loop(&x);
	if (x.skipped)
		fprintf(stderr, "%s: export: %llu records skipped (their batches were gone)\n",
			cli->prog, (unsigned long long)x.skipped);
	sl_consumer_free(x.c);
	sl_objstore_destroy(x.store);
	return status;
}
