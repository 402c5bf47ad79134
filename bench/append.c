/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shardline-bench append (append.h): the shardline:// path and the report every path shares.
 *
 * The shardline:// path runs in one thread over the tools' client runtime (control/client.h):
 * N log-protocol sessions (control/logclient.h, the client `shardctl produce` uses), each with
 * K request slots. A slot is one PRODUCE of one record, sent again as soon as its answer comes,
 * so every connection keeps K requests outstanding; records go round-robin over the stream's
 * partitions. Each record starts with the send-time stamp of `shardctl produce` (sl_rec_stamp),
 * which --e2e's subscriber reads to measure produce-to-receive latency.
 *
 * The measured window is [warmup, warmup + duration): an acknowledgement counts (and its
 * latency is kept) when it arrives inside it; appends still outstanding at its end are
 * answered, but not counted, before the connections close. Failures count whenever they happen.
 */
#include "append.h"

#include "control/client.h"
#include "control/ctl.h"
#include "control/ctl_log.h"
#include "control/logclient.h"
#include "core/clock.h"
#include "core/err.h"
#include "log/proto.h"

#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC UINT64_C(1000000000)
#define MS  UINT64_C(1000000)

static const char *const target_names[] = {"shardline", "redis", "jetstream"};
static const char *const durability_names[] = {"applied", "written", "durable"};

void sl_append_error(struct sl_append_result *r, const char *fmt, ...)
{
	if (r->first_error[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->first_error, sizeof(r->first_error), fmt, ap);
	va_end(ap);
}

double sl_append_cpu_us(long pid)
{
	char path[64];
	uint64_t us;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	return pid > 0 && sl_fanout_stat_cpu_us(path, &us) == 0 ? (double)us : -1;
}

/* ---- shardline:// ---- */

enum { SLOT_FREE, SLOT_SENT, SLOT_BACKOFF };

struct slot {
	uint64_t sent_ns, retry_at;
	uint32_t partition;
	int state;
};

struct run;

struct producer {
	struct run *run;
	struct sl_logclient *lc;
	struct sl_client_conn *conn;
	struct slot *slots;
	uint32_t *free_stack, nfree;
};

struct run {
	const struct sl_append_opts *o;
	struct sl_append_result *r;
	struct sl_client *cl;
	struct producer *p;
	uint8_t *rec;
	uint64_t start, measure_from, end, generated;
	uint32_t rr;
	/* HWM answer (the partition count) */
	bool hwm_done;
	uint64_t hwm_code;
	uint32_t hwm_partitions;
	char hwm_reason[SL_LP_MAX_REASON + 1];
	/* --e2e */
	struct sl_logclient *sub_lc;
	struct sl_client_conn *sub_conn;
	struct sl_logclient_sub *sub;
	uint32_t started;
	bool sub_ended;
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static bool in_window(const struct run *run, uint64_t now)
{
	return now >= run->measure_from && now < run->end;
}

static int send_slot(struct producer *p, struct slot *s, uint64_t now)
{
	struct run *run = p->run;
	const struct sl_append_opts *o = run->o;
	if (s->state == SLOT_FREE) {
		s->sent_ns = now;
		s->partition = run->rr++ % run->r->partitions;
	}
	sl_rec_stamp(run->rec, o->size, sl_clock_wall_ns(), run->generated++);
	struct sl_lp_bytes one = {run->rec, o->size};
	struct sl_lp_produce m;
	memset(&m, 0, sizeof(m));
	m.stream.p = (const uint8_t *)o->stream;
	m.stream.n = strlen(o->stream);
	m.partition = s->partition;
	m.durability = o->durability;
	m.count = 1;
	int rc = sl_logclient_produce(p->lc, &m, &one, s, now, NULL);
	if (rc != 0) {
		sl_append_error(run->r, "cannot send a PRODUCE: %s", sl_strerror(rc));
		run->r->failed++;
		s->state = SLOT_FREE;
		p->free_stack[p->nfree++] = (uint32_t)(s - p->slots);
		return rc;
	}
	s->state = SLOT_SENT;
	return 0;
}

static void on_produce(void *user, void *cookie, const struct sl_logclient_result *res)
{
	struct producer *p = user;
	struct run *run = p->run;
	struct slot *s = cookie;
	uint64_t now = sl_clock_now_ns();
	if (res->code == SL_LP_ERR_OVERLOADED) {
		/* The server kept nothing: the same append goes again after the delay it asks. */
		run->r->retries++;
		s->state = SLOT_BACKOFF;
		s->retry_at = now + (res->detail > 0 ? res->detail : 1) * MS;
		return;
	}
	if (res->code == 0) {
		if (in_window(run, now)) {
			run->r->acked++;
			run->r->bytes += run->o->size;
			sl_bench_samples_add(&run->r->lat, now - s->sent_ns);
		}
	} else {
		run->r->failed++;
		sl_append_error(run->r, "partition %u: %s: %.*s", res->partition,
				sl_logclient_code_name(res->code), (int)res->reason.n,
				(const char *)res->reason.p);
	}
	s->state = SLOT_FREE;
	p->free_stack[p->nfree++] = (uint32_t)(s - p->slots);
}

static void on_hwm(void *user, void *cookie, const struct sl_logclient_result *res)
{
	(void)cookie;
	struct run *run = ((struct producer *)user)->run;
	run->hwm_done = true;
	run->hwm_code = res->code;
	run->hwm_partitions = res->nmarks;
	snprintf(run->hwm_reason, sizeof(run->hwm_reason), "%.*s", (int)res->reason.n,
		 (const char *)res->reason.p);
}

static void e2e_started(void *user, uint32_t partition, uint64_t offset)
{
	(void)partition;
	(void)offset;
	((struct run *)user)->started++;
}

static void e2e_records(void *user, const struct sl_lp_records *m)
{
	struct run *run = user;
	uint64_t now = sl_clock_now_ns(), wall = sl_clock_wall_ns();
	if (!in_window(run, now))
		return;
	struct sl_lp_record_iter it;
	struct sl_lp_bytes rec;
	sl_lp_records_init(&it, m->records, m->count);
	while (sl_lp_records_next(&it, &rec) == 0) {
		uint64_t sent, seq;
		if (!sl_rec_read_stamp(rec.p, rec.n, &sent, &seq))
			continue;
		run->r->e2e_records++;
		sl_bench_samples_add(&run->r->e2e, wall > sent ? wall - sent : 0);
	}
}

static void e2e_error(void *user, const struct sl_lp_error *e)
{
	struct run *run = user;
	sl_append_error(run->r, "the --e2e subscription: %s: %.*s", sl_logclient_code_name(e->code),
			(int)e->reason.n, (const char *)e->reason.p);
}

static void e2e_end(void *user, uint64_t code, uint64_t detail)
{
	(void)code;
	(void)detail;
	((struct run *)user)->sub_ended = true;
}

/* Creates the stream through the daemon's admin socket. A stream that exists with other
 * settings is used as it is (said on stderr): its partition count comes from HWM. */
static int create_stream(const struct sl_append_opts *o)
{
	json_t *req = json_pack("{ss ss ss sI sI sI sI}", "cmd", "stream", "op", "create", "name",
				o->stream, "partitions", (json_int_t)o->partitions,
				"max_record_bytes", (json_int_t)0, "retention_age_ms",
				(json_int_t)0, "retention_bytes", (json_int_t)0);
	json_t *resp = NULL;
	char err[256];
	int rc = sl_ctl_call(o->admin, req, &resp, 5000, err, sizeof(err));
	json_decref(req);
	if (rc != 0) {
		fprintf(stderr,
			"shardline-bench: append: cannot reach the daemon's admin socket %s: %s\n",
			o->admin, err);
		json_decref(resp);
		return -1;
	}
	if (!json_is_true(json_object_get(resp, "ok"))) {
		const char *why = json_string_value(json_object_get(resp, "error"));
		fprintf(stderr, "shardline-bench: append: note: stream create %s: %s\n", o->stream,
			why ? why : "refused");
	}
	json_decref(resp);
	return 0;
}

static int connect_all(struct run *run)
{
	const struct sl_append_opts *o = run->o;
	unsigned nports = (unsigned)(o->producers + (o->e2e ? 1 : 0));
	int rc = sl_client_new(o->url, nports < 32 ? nports : 32, &run->cl);
	if (rc != 0) {
		fprintf(stderr, "shardline-bench: append: %s: %s\n", o->url,
			rc == SL_EINVAL ? "not a shardline://HOST:PORT URL" : sl_strerror(rc));
		return 2;
	}
	const struct sl_logclient_callbacks cb = {.on_produce = on_produce, .on_hwm = on_hwm};
	struct sl_logclient_config cfg;
	sl_logclient_config_default(&cfg);
	cfg.max_in_flight = (uint32_t)o->in_flight + 1; /* + the HWM */
	for (uint64_t i = 0; i < o->producers; i++) {
		struct producer *p = &run->p[i];
		p->run = run;
		p->slots = calloc(o->in_flight, sizeof(*p->slots));
		p->free_stack = calloc(o->in_flight, sizeof(*p->free_stack));
		if (p->slots == NULL || p->free_stack == NULL) {
			fprintf(stderr, "shardline-bench: append: out of memory\n");
			return 2;
		}
		for (uint64_t k = 0; k < o->in_flight; k++)
			p->free_stack[p->nfree++] = (uint32_t)(o->in_flight - 1 - k);
		rc = sl_logclient_connect(run->cl, o->url, &cfg, &cb, p, &p->lc, &p->conn);
		if (rc != 0) {
			fprintf(stderr, "shardline-bench: append: cannot connect to %s: %s\n",
				o->url, sl_strerror(rc));
			return 2;
		}
	}
	if (o->e2e) {
		sl_logclient_config_default(&cfg);
		rc = sl_logclient_connect(run->cl, o->url, &cfg, NULL, run, &run->sub_lc,
					  &run->sub_conn);
		if (rc != 0) {
			fprintf(stderr, "shardline-bench: append: cannot connect to %s: %s\n",
				o->url, sl_strerror(rc));
			return 2;
		}
	}
	rc = sl_client_wait_connected(run->cl, 10 * SEC);
	if (rc != 0) {
		fprintf(stderr, "shardline-bench: append: cannot connect to %s: %s\n", o->url,
			rc == SL_ETIMEDOUT
				? "no answer within 10 s — is shardlined running?"
				: "the handshake failed (does it serve durable streams?)");
		return 2;
	}
	return 0;
}

/* The stream's partition count, from an HWM on the first connection. */
static int learn_partitions(struct run *run)
{
	const struct sl_append_opts *o = run->o;
	struct sl_lp_bytes name = {(const uint8_t *)o->stream, strlen(o->stream)};
	if (sl_logclient_hwm(run->p[0].lc, name, NULL, sl_clock_now_ns(), NULL) != 0)
		return 2;
	for (uint64_t end = sl_clock_now_ns() + 10 * SEC;
	     !run->hwm_done && !interrupted && sl_clock_now_ns() < end;)
		sl_client_run(run->cl, 50 * MS);
	if (!run->hwm_done) {
		fprintf(stderr, "shardline-bench: append: no answer to HWM for %s within 10 s\n",
			o->stream);
		return 2;
	}
	if (run->hwm_code == SL_LP_ERR_UNKNOWN_STREAM) {
		fprintf(stderr,
			"shardline-bench: append: no stream named %s: create it (shardctl stream "
			"create %s --partitions P) or give --admin PATH\n",
			o->stream, o->stream);
		return 2;
	}
	if (run->hwm_code != 0 || run->hwm_partitions == 0) {
		fprintf(stderr, "shardline-bench: append: HWM for %s failed: %s: %s\n", o->stream,
			sl_logclient_code_name(run->hwm_code), run->hwm_reason);
		return 2;
	}
	run->r->partitions = run->hwm_partitions;
	return 0;
}

/* --e2e: one more connection subscribes to every partition from the latest offset; the run
 * starts once each partition is STARTED. */
static int subscribe_e2e(struct run *run)
{
	const struct sl_append_opts *o = run->o;
	uint32_t n = run->r->partitions;
	struct sl_lp_start *starts = calloc(n, sizeof(*starts));
	if (starts == NULL)
		return 2;
	for (uint32_t i = 0; i < n; i++)
		starts[i] = (struct sl_lp_start){.partition = i, .kind = SL_LP_START_LATEST};
	static const struct sl_logclient_sub_callbacks scb = {
		.on_started = e2e_started,
		.on_records = e2e_records,
		.on_error = e2e_error,
		.on_end = e2e_end,
	};
	struct sl_lp_bytes name = {(const uint8_t *)o->stream, strlen(o->stream)};
	/* Durable acknowledgements go with durable isolation: a record is received when it
	 * could be acknowledged. applied and written read applied records. */
	uint8_t iso = o->durability == SL_LP_DURABLE ? SL_LP_ISO_DURABLE : SL_LP_ISO_APPLIED;
	int rc = sl_logclient_subscribe(run->sub_lc, name, iso, starts, n, &scb, run, &run->sub);
	free(starts);
	if (rc != 0) {
		fprintf(stderr, "shardline-bench: append: cannot subscribe to %s: %s\n", o->stream,
			sl_strerror(rc));
		return 2;
	}
	for (uint64_t end = sl_clock_now_ns() + 10 * SEC;
	     run->started < n && !run->sub_ended && !interrupted && sl_clock_now_ns() < end;)
		sl_client_run(run->cl, 10 * MS);
	if (run->started < n) {
		fprintf(stderr,
			"shardline-bench: append: the --e2e subscription started %u of %u "
			"partitions within 10 s\n",
			run->started, n);
		return 2;
	}
	return 0;
}

static uint32_t busy(const struct run *run, const struct producer *p)
{
	return (uint32_t)run->o->in_flight - p->nfree;
}

/* Due time of the i-th record under --rate. */
static uint64_t due_ns(const struct run *run, uint64_t i)
{
	return run->start + (uint64_t)((unsigned __int128)i * SEC / run->o->rate);
}

static void measure(struct run *run, long pid)
{
	const struct sl_append_opts *o = run->o;
	double cpu0 = -1, cpu1 = -1;
	bool measuring = false;
	uint64_t paced = 0; /* records sent under --rate */
	run->start = sl_clock_now_ns();
	run->measure_from = run->start + o->warmup * SEC;
	run->end = run->measure_from + o->duration * SEC;
	while (!interrupted) {
		uint64_t now = sl_clock_now_ns();
		if (now >= run->end)
			break;
		if (!measuring && now >= run->measure_from) {
			measuring = true;
			cpu0 = sl_append_cpu_us(pid);
		}
		bool closed = false;
		for (uint64_t i = 0; i < o->producers; i++) {
			struct producer *p = &run->p[i];
			closed |= p->conn->closed;
			for (uint64_t k = 0; k < o->in_flight; k++)
				if (p->slots[k].state == SLOT_BACKOFF &&
				    p->slots[k].retry_at <= now)
					send_slot(p, &p->slots[k], now);
		}
		if (closed) {
			sl_append_error(run->r, "the server closed a connection");
			break;
		}
		uint64_t wait = 100 * MS;
		if (o->rate == 0) {
			for (uint64_t i = 0; i < o->producers; i++) {
				struct producer *p = &run->p[i];
				while (p->nfree > 0)
					send_slot(p, &p->slots[p->free_stack[--p->nfree]], now);
			}
		} else {
			/* Records due go to the next producer with room; with none, they wait
			 * (the rate is then more than K x N appends in flight can carry). */
			while (due_ns(run, paced) <= now) {
				struct producer *p = NULL;
				for (uint64_t t = 0; t < o->producers && p == NULL; t++) {
					struct producer *q = &run->p[(paced + t) % o->producers];
					if (q->nfree > 0)
						p = q;
				}
				if (p == NULL)
					break;
				send_slot(p, &p->slots[p->free_stack[--p->nfree]], now);
				paced++;
			}
			uint64_t due = due_ns(run, paced);
			wait = due > now ? due - now : 0;
		}
		if (run->end - now < wait)
			wait = run->end - now;
		sl_client_run(run->cl, wait);
	}
	cpu1 = measuring ? sl_append_cpu_us(pid) : -1;
	run->r->seconds = (double)o->duration;
	if (interrupted && measuring)
		run->r->seconds = (double)(sl_clock_now_ns() - run->measure_from) / 1e9;
	run->r->server_cpu_us = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
	/* Appends still outstanding are answered (not counted) before the connections close. */
	for (uint64_t end = sl_clock_now_ns() + 10 * SEC; sl_clock_now_ns() < end;) {
		uint32_t out = 0;
		bool closed = false;
		for (uint64_t i = 0; i < o->producers; i++) {
			out += busy(run, &run->p[i]);
			closed |= run->p[i].conn->closed;
		}
		if (out == 0 || closed)
			break;
		sl_client_run(run->cl, 10 * MS);
	}
}

static int append_shardline(const struct sl_append_opts *o, struct sl_append_result *r)
{
	struct run run = {.o = o, .r = r};
	int rc = 0;
	long pid = -1;
	run.p = calloc(o->producers, sizeof(*run.p));
	run.rec = malloc(o->size);
	if (run.p == NULL || run.rec == NULL) {
		rc = 2;
		goto out;
	}
	memset(run.rec, 0x5a, o->size);
	if (o->admin) {
		if (create_stream(o) != 0) {
			rc = 2;
			goto out;
		}
		pid = sl_bench_daemon_pid(o->admin);
	}
	signal(SIGINT, on_sigint);
	if ((rc = connect_all(&run)) != 0 || (rc = learn_partitions(&run)) != 0)
		goto out;
	if (o->e2e && (rc = subscribe_e2e(&run)) != 0)
		goto out;
	measure(&run, pid);
out:
	if (run.sub)
		sl_logclient_unsubscribe(run.sub);
	if (run.sub_lc)
		sl_logclient_free(run.sub_lc);
	for (uint64_t i = 0; run.p && i < o->producers; i++) {
		sl_logclient_free(run.p[i].lc);
		free(run.p[i].slots);
		free(run.p[i].free_stack);
	}
	if (run.cl) {
		sl_client_close_all(run.cl, SEC);
		sl_client_free(run.cl);
	}
	free(run.p);
	free(run.rec);
	return rc;
}

/* ---- the report ---- */

static void report(const struct sl_append_opts *o, struct sl_append_result *r)
{
	sl_bench_samples_sort(&r->lat);
	sl_bench_samples_sort(&r->e2e);
	double rps = r->seconds > 0 ? (double)r->acked / r->seconds : 0;
	double mbps = r->seconds > 0 ? (double)r->bytes / r->seconds / 1e6 : 0;
	double cpu = r->server_cpu_us >= 0 && r->acked ? r->server_cpu_us / (double)r->acked : -1;
	const char *dur = o->target == SL_APPEND_SHARDLINE ? durability_names[o->durability]
			  : o->target == SL_APPEND_REDIS   ? "server (appendfsync)"
							   : "server (sync_interval)";
	const struct sl_bench_samples *l = &r->lat, *e = &r->e2e;
	if (o->json) {
		json_t *j = json_pack(
			"{ss ss ss sI sI sI sI ss sI sI sI sI sI sf sf s{sI sI sI sI sI}}",
			"system", target_names[o->target], "url", o->url, "stream", o->stream,
			"partitions", (json_int_t)r->partitions, "producers",
			(json_int_t)o->producers, "in_flight", (json_int_t)o->in_flight, "size",
			(json_int_t)o->size, "durability", dur, "duration_s",
			(json_int_t)o->duration, "warmup_s", (json_int_t)o->warmup, "acknowledged",
			(json_int_t)r->acked, "failed", (json_int_t)r->failed, "retries",
			(json_int_t)r->retries, "records_per_s", rps, "mb_per_s", mbps,
			"latency_us", "p50", (json_int_t)sl_bench_samples_pct(l, 0.5), "p90",
			(json_int_t)sl_bench_samples_pct(l, 0.9), "p99",
			(json_int_t)sl_bench_samples_pct(l, 0.99), "p999",
			(json_int_t)sl_bench_samples_pct(l, 0.999), "max",
			(json_int_t)sl_bench_samples_max(l));
		json_object_set_new(j, "server_cpu_us_per_record",
				    cpu >= 0 ? json_real(cpu) : json_null());
		if (o->e2e)
			json_object_set_new(
				j, "e2e",
				json_pack("{sI sI sI sI sI sI sI}", "rate", (json_int_t)o->rate,
					  "records", (json_int_t)r->e2e_records, "p50",
					  (json_int_t)sl_bench_samples_pct(e, 0.5), "p90",
					  (json_int_t)sl_bench_samples_pct(e, 0.9), "p99",
					  (json_int_t)sl_bench_samples_pct(e, 0.99), "p999",
					  (json_int_t)sl_bench_samples_pct(e, 0.999), "max",
					  (json_int_t)sl_bench_samples_max(e)));
		if (r->first_error[0])
			json_object_set_new(j, "first_error", json_string(r->first_error));
		char *s = json_dumps(j, JSON_COMPACT);
		printf("%s\n", s ? s : "{}");
		free(s);
		json_decref(j);
	} else {
		printf("append to %s (%s) stream %s: %u partition(s), %llu producer(s) x %llu in "
		       "flight, %llu-byte records, durability %s, %llu s measured after %llu s "
		       "warm-up\n",
		       target_names[o->target], o->url, o->stream, r->partitions,
		       (unsigned long long)o->producers, (unsigned long long)o->in_flight,
		       (unsigned long long)o->size, dur, (unsigned long long)o->duration,
		       (unsigned long long)o->warmup);
		printf("  acknowledged:       %llu records (%.0f records/s, %.2f MB/s), %llu "
		       "failed, "
		       "%llu retried\n",
		       (unsigned long long)r->acked, rps, mbps, (unsigned long long)r->failed,
		       (unsigned long long)r->retries);
		printf("  ack latency (us):   p50 %u  p90 %u  p99 %u  p99.9 %u  max %u\n",
		       sl_bench_samples_pct(l, 0.5), sl_bench_samples_pct(l, 0.9),
		       sl_bench_samples_pct(l, 0.99), sl_bench_samples_pct(l, 0.999),
		       sl_bench_samples_max(l));
		if (o->e2e)
			printf("  end to end (us):    p50 %u  p90 %u  p99 %u  p99.9 %u  max %u "
			       "(%llu records received at %llu records/s)\n",
			       sl_bench_samples_pct(e, 0.5), sl_bench_samples_pct(e, 0.9),
			       sl_bench_samples_pct(e, 0.99), sl_bench_samples_pct(e, 0.999),
			       sl_bench_samples_max(e), (unsigned long long)r->e2e_records,
			       (unsigned long long)o->rate);
		if (cpu >= 0)
			printf("  server CPU:         %.2f us per record (%.3f s in %.0f s)\n", cpu,
			       r->server_cpu_us / 1e6, r->seconds);
		else
			printf("  server CPU:         not measured (give %s)\n",
			       o->target == SL_APPEND_SHARDLINE ? "--admin PATH"
								: "--server-pid PID");
		if (r->first_error[0])
			printf("  first error:        %s\n", r->first_error);
	}
	if (o->plot) {
		char title[512];
		snprintf(title, sizeof(title),
			 "%s append: %llu producers x %llu in flight, %llu B, durability %s",
			 target_names[o->target], (unsigned long long)o->producers,
			 (unsigned long long)o->in_flight, (unsigned long long)o->size, dur);
		sl_bench_plot_cdf(l, o->plot, "ack latency (us)", "fraction of appends", title);
	}
}

int sl_append_main(int argc, char **argv)
{
	struct sl_append_opts o;
	char err[512];
	int rc = sl_append_parse(argc, argv, &o, err, sizeof(err));
	if (rc == 1) {
		fputs(sl_append_usage, stdout);
		return 0;
	}
	if (rc != 0) {
		fprintf(stderr, "shardline-bench: append: %s\n(shardline-bench append --help)\n",
			err);
		return 2;
	}
	struct sl_append_result r;
	memset(&r, 0, sizeof(r));
	r.server_cpu_us = -1;
	r.partitions = (uint32_t)o.partitions;
	switch (o.target) {
	case SL_APPEND_SHARDLINE:
		rc = append_shardline(&o, &r);
		break;
	case SL_APPEND_REDIS:
		rc = sl_append_redis(&o, &r);
		break;
	case SL_APPEND_NATS:
		rc = sl_append_nats(&o, &r);
		break;
	}
	if (rc == 0) {
		report(&o, &r);
		rc = r.acked > 0 && r.failed == 0 ? 0 : 1;
	}
	sl_bench_samples_free(&r.lat);
	sl_bench_samples_free(&r.e2e);
	return rc;
}

/* ---- peers not built in ---- */

#ifndef SL_HAVE_HIREDIS
int sl_append_redis(const struct sl_append_opts *o, struct sl_append_result *r)
{
	(void)r;
	fprintf(stderr,
		"shardline-bench: append %s: not built in (this shardline-bench was built without "
		"hiredis: install libhiredis-dev and run meson setup again)\n",
		o->url);
	return 2;
}
#endif

#ifndef SL_HAVE_NATS
int sl_append_nats(const struct sl_append_opts *o, struct sl_append_result *r)
{
	(void)r;
	fprintf(stderr,
		"shardline-bench: append %s: not built in (this shardline-bench was built without "
		"the NATS C client: install libnats-dev and run meson setup again)\n",
		o->url);
	return 2;
}
#endif
