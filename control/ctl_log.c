/* SPDX-License-Identifier: Apache-2.0 */
#include "control/ctl_log.h"
#include "control/client.h"
#include "control/logclient.h"
#include "core/clock.h"
#include "core/err.h"
#include "log/streamset.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define SEC UINT64_C(1000000000)
#define MS  UINT64_C(1000000)

/* The record size shardlined accepts by default (a stream's max_record_bytes may be lower);
 * longer input lines fail locally instead of being sent to be refused. */
#define MAX_RECORD (16u << 20)
/* One request's records at most, so a large --batch × --size is refused up front. */
#define MAX_REQUEST_BYTES (256u << 20)
/* The TLS alert no_application_protocol as a QUIC CRYPTO_ERROR (0x100 + 120). */
#define QUIC_NO_ALPN 0x178
/* Why shardctl itself gave up on records, in the same space as the completion codes (above
 * enum sl_logclient_code). */
#define CTL_ERR_TIMEOUT	    0x20001
#define CTL_ERR_INTERRUPTED 0x20002
/* Resends of one request after sequence gaps or storage failures before it fails: a gap that
 * never closes (the request before it failed for good) must not loop forever. */
#define RESEND_MAX 1000

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted++;
}

void sl_rec_stamp(uint8_t *p, size_t len, uint64_t wall_ns, uint64_t seq)
{
	if (len < SL_REC_STAMP_LEN)
		return;
	memcpy(p, "SLREC001", 8);
	for (int i = 0; i < 8; i++) {
		p[8 + i] = (uint8_t)(wall_ns >> (56 - 8 * i));
		p[16 + i] = (uint8_t)(seq >> (56 - 8 * i));
	}
}

int sl_rec_read_stamp(const uint8_t *p, size_t len, uint64_t *wall_ns, uint64_t *seq)
{
	if (len < SL_REC_STAMP_LEN || memcmp(p, "SLREC001", 8) != 0)
		return 0;
	uint64_t w = 0, s = 0;
	for (int i = 0; i < 8; i++) {
		w = (w << 8) | p[8 + i];
		s = (s << 8) | p[16 + i];
	}
	*wall_ns = w;
	*seq = s;
	return 1;
}

/* ---- shared helpers ---- */

static int parse_u64(const char *prog, const char *cmd, const char *name, const char *v,
		     uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || *end || end == v || v[0] == '-' || x < min || x > max) {
		fprintf(stderr, "%s: %s: --%s: '%s' is not a number in %llu..%llu\n", prog, cmd,
			name, v, (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = x;
	return 0;
}

static bool stream_ok(const char *prog, const char *cmd, const char *name)
{
	if (sl_stream_name_valid(name, strlen(name)))
		return true;
	fprintf(stderr,
		"%s: %s: '%s' is not a stream name (1 to 249 of A-Z a-z 0-9 . _ -, and not "
		"'.' or '..')\n",
		prog, cmd, name);
	return false;
}

/*
 * A latency histogram with fixed memory: exact below 128 µs, then 64 buckets per power of
 * two (under 1.6 % error), so a consumer that runs for days keeps no per-record array.
 */
#define HIST_N (128 + 57 * 64)

struct hist {
	uint64_t *b;
	uint64_t n, max;
};

static unsigned hist_bucket(uint64_t us)
{
	if (us < 128)
		return (unsigned)us;
	unsigned e = 63u - (unsigned)__builtin_clzll(us);
	return 128 + (e - 7) * 64 + (unsigned)((us >> (e - 6)) & 63);
}

static uint64_t hist_value(unsigned i)
{
	if (i < 128)
		return i;
	unsigned e = (i - 128) / 64 + 7, sub = (i - 128) % 64;
	return (UINT64_C(64) + sub) << (e - 6);
}

static void hist_add(struct hist *h, uint64_t us)
{
	if (h->b == NULL)
		return;
	h->b[hist_bucket(us)]++;
	h->n++;
	if (us > h->max)
		h->max = us;
}

/* The q-quantile (0 < q <= 1) in µs: the lower bound of the bucket holding that rank. */
static uint64_t hist_q(const struct hist *h, double q)
{
	if (h->n == 0 || h->b == NULL)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)h->n + 0.999999);
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_N; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t v = hist_value(i);
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

/* Connects one log session to url and waits for the handshake. Returns 0 or an exit code,
 * having said why. */
static int log_connect(const char *prog, const char *cmd, const char *url,
		       const struct sl_logclient_callbacks *cb, void *user, struct sl_client **cl,
		       struct sl_client_conn **conn, struct sl_logclient **lc,
		       uint32_t max_in_flight)
{
	int rc = sl_client_new(url, 1, cl);
	if (rc != 0) {
		if (rc == SL_EINVAL)
			fprintf(stderr, "%s: %s: '%s' is not a shardline://HOST:PORT URL\n", prog,
				cmd, url);
		else
			fprintf(stderr, "%s: %s: cannot reach %s: %s\n", prog, cmd, url,
				sl_strerror(rc));
		return rc == SL_EINVAL ? SL_CTL_EXIT_USAGE : SL_CTL_EXIT_CONNECT;
	}
	struct sl_logclient_config cfg;
	sl_logclient_config_default(&cfg);
	cfg.max_in_flight = max_in_flight;
	rc = sl_logclient_connect(*cl, url, &cfg, cb, user, lc, conn);
	if (rc == 0)
		rc = sl_client_wait_connected(*cl, 5 * SEC);
	if (rc == 0)
		return 0;
	if (rc == SL_ETIMEDOUT)
		fprintf(stderr,
			"%s: %s: cannot connect to %s: no answer within 5 s — is shardlined "
			"running?\n",
			prog, cmd, url);
	else if (rc == SL_ECLOSED && (*conn)->close_error == QUIC_NO_ALPN)
		fprintf(stderr,
			"%s: %s: cannot connect to %s: the server does not speak %s (durable "
			"streams)\n",
			prog, cmd, url, SL_LP_ALPN);
	else if (rc == SL_ECLOSED)
		fprintf(stderr,
			"%s: %s: cannot connect to %s: the handshake failed (error 0x%llx)\n", prog,
			cmd, url, (unsigned long long)(*conn)->close_error);
	else
		fprintf(stderr, "%s: %s: cannot connect to %s: %s\n", prog, cmd, url,
			sl_strerror(rc));
	sl_logclient_free(*lc);
	*lc = NULL;
	sl_client_free(*cl);
	*cl = NULL;
	return SL_CTL_EXIT_CONNECT;
}

static void log_disconnect(struct sl_client *cl, struct sl_logclient *lc)
{
	sl_logclient_free(lc); /* closes the connection; the loop below sends the close */
	sl_client_close_all(cl, SEC);
	sl_client_free(cl);
}

/* An HWM answer, for the partition count. */
struct hwm_wait {
	bool done;
	uint64_t code;
	uint32_t partitions;
	char reason[SL_LP_MAX_REASON + 1];
};

/*
 * Keep-alive. The QUIC endpoint sends no PINGs of its own, so a connection that carries nothing
 * for its idle timeout (30 s) is closed: a consumer of a quiet stream, or a producer waiting on
 * a quiet stdin, would lose it. After KEEPALIVE_NS without a byte from the server, one HWM
 * request (whose answer is ignored) makes traffic both ways.
 */
#define KEEPALIVE_NS (10 * SEC)
static char keepalive_cookie;

struct keepalive {
	uint64_t last_ns, last_bytes_in;
};

static void keepalive(struct keepalive *k, struct sl_logclient *lc, const char *stream,
		      uint64_t now)
{
	struct sl_logclient_stats st;
	sl_logclient_stats(lc, &st);
	if (st.bytes_in != k->last_bytes_in || k->last_ns == 0) {
		k->last_bytes_in = st.bytes_in;
		k->last_ns = now;
		return;
	}
	if (now - k->last_ns < KEEPALIVE_NS)
		return;
	struct sl_lp_bytes name = {(const uint8_t *)stream, strlen(stream)};
	/* SL_EBUSY (a full window) means requests are outstanding: their answers will do. */
	(void)sl_logclient_hwm(lc, name, &keepalive_cookie, now, NULL);
	k->last_ns = now;
}

static void hwm_done(void *user, void *cookie, const struct sl_logclient_result *r)
{
	(void)user;
	if (cookie == &keepalive_cookie)
		return;
	struct hwm_wait *h = cookie;
	h->done = true;
	h->code = r->code;
	h->partitions = r->nmarks;
	snprintf(h->reason, sizeof(h->reason), "%.*s", (int)r->reason.n, (const char *)r->reason.p);
}

/* Asks for the stream's marks and returns 0 with the partition count, or an exit code having
 * said why. */
static int learn_partitions(const char *prog, const char *cmd, struct sl_client *cl,
			    struct sl_client_conn *conn, struct sl_logclient *lc,
			    const char *stream, struct hwm_wait *h)
{
	struct sl_lp_bytes name = {(const uint8_t *)stream, strlen(stream)};
	int rc = sl_logclient_hwm(lc, name, h, sl_clock_now_ns(), NULL);
	if (rc != 0) {
		fprintf(stderr, "%s: %s: cannot ask for %s's partitions: %s\n", prog, cmd, stream,
			sl_strerror(rc));
		return SL_CTL_EXIT_FAIL;
	}
	uint64_t end = sl_clock_now_ns() + 10 * SEC;
	while (!h->done && !conn->closed && !interrupted && sl_clock_now_ns() < end)
		sl_client_run(cl, 50 * MS);
	if (!h->done && interrupted)
		return SL_CTL_EXIT_FAIL;
	if (!h->done && conn->closed) {
		fprintf(stderr, "%s: %s: the connection closed (error 0x%llx)\n", prog, cmd,
			(unsigned long long)conn->close_error);
		return SL_CTL_EXIT_FAIL;
	}
	if (!h->done) {
		fprintf(stderr, "%s: %s: no answer to HWM for %s within 10 s\n", prog, cmd, stream);
		return SL_CTL_EXIT_FAIL;
	}
	if (h->code == SL_LP_ERR_UNKNOWN_STREAM) {
		fprintf(stderr, "%s: no stream named %s\n", prog, stream);
		return SL_CTL_EXIT_FAIL;
	}
	if (h->code != 0) {
		fprintf(stderr, "%s: %s: HWM for %s failed: %s: %s\n", prog, cmd, stream,
			sl_logclient_code_name(h->code), h->reason);
		return SL_CTL_EXIT_FAIL;
	}
	if (h->partitions == 0) {
		fprintf(stderr, "%s: %s: stream %s has no partitions\n", prog, cmd, stream);
		return SL_CTL_EXIT_FAIL;
	}
	return 0;
}

/* ================================ produce ================================ */

enum { PS_FREE, PS_FILLING, PS_SENT, PS_BACKOFF };

/* One request of the in-flight window, with its records kept until acknowledged so that an
 * OVERLOADED answer can send the very same bytes again. Buffers are reused from request to
 * request: the steady state allocates nothing. */
struct pslot {
	uint8_t *data;
	size_t len, cap;
	uint32_t *ends; /* end offset of each record in data */
	uint32_t n;
	uint32_t partition;
	uint64_t first_ns; /* first send, for the ack latency */
	uint64_t retry_at;
	uint64_t first_seq; /* input position of the first record (0-based) */
	/* Idempotence: the sequence number of the first record in the producer's numbering of
	 * the partition, given at the first send and kept for every resend. */
	uint64_t pseq;
	uint32_t attempts; /* resends after a sequence gap or a storage failure */
	/* Sent and its answer lost (connection closed, stream reset, silence): the server may
	 * have stored it. Only such a request can be "stored long ago". */
	bool maybe_stored;
	int state;
};

/* Errors per code, so each kind is printed once and counted. */
struct errkind {
	uint64_t code;
	uint64_t requests, records;
};

struct prod {
	const char *prog;
	/* options */
	const char *stream, *key;
	bool has_partition, use_stdin, json;
	uint32_t partition, in_flight, batch;
	uint8_t durability;
	uint64_t count, size, rate, timeout_ns;
	bool idem;
	uint32_t max_retries; /* reconnections in a row without an answer before giving up */
	const char *url;
	const struct sl_logclient_callbacks *cb;
	/* runtime */
	struct sl_client *cl;
	struct sl_client_conn *conn;
	struct sl_logclient *lc;
	uint32_t npartitions, rr;
	struct pslot *slots;
	uint32_t *free_stack, nfree;
	struct pslot *filling;
	struct sl_lp_bytes *recs;
	uint8_t *filler; /* --size bytes of filler, copied per synthetic record */
	uint64_t start_ns, generated, last_progress;
	uint64_t acked, failed, retries, acked_bytes;
	/* Idempotence and reconnection: the producer id, the next sequence per partition,
	 * records the server said it had already (PRODUCE_DUP, or an old sequence), requests
	 * sent again after a reconnection, reconnections, and those in a row without progress. */
	uint64_t producer_id;
	uint64_t *next_pseq;
	uint64_t duplicates, retried, reconnects;
	uint32_t reconnect_run;
	uint32_t *order; /* scratch: slots to send, in sequence order */
	bool input_done, fatal;
	struct hist lat;
	struct errkind errs[16];
	unsigned nerrs;
	/* standard input */
	uint8_t *rbuf;
	size_t rlen, roff;
	uint8_t *carry;
	size_t carry_len, carry_cap;
	bool eof, skip_line;
	uint64_t lines;
	uint64_t seq_next; /* input position of the next record */
};

static struct pslot *slot_take(struct prod *p)
{
	if (p->nfree == 0)
		return NULL;
	struct pslot *s = &p->slots[p->free_stack[--p->nfree]];
	s->len = 0;
	s->n = 0;
	s->state = PS_FILLING;
	return s;
}

static void slot_put(struct prod *p, struct pslot *s)
{
	s->state = PS_FREE;
	p->free_stack[p->nfree++] = (uint32_t)(s - p->slots);
}

static uint32_t slots_busy(const struct prod *p)
{
	return p->in_flight - p->nfree;
}

static int slot_reserve(struct pslot *s, size_t more)
{
	if (s->data != NULL && s->len + more <= s->cap)
		return 0;
	size_t cap = s->cap ? s->cap : 4096;
	while (cap < s->len + more)
		cap *= 2;
	uint8_t *d = realloc(s->data, cap);
	if (d == NULL)
		return SL_ENOMEM;
	s->data = d;
	s->cap = cap;
	return 0;
}

/* Appends one record (n bytes at src, or uninitialised room when src is NULL). */
static uint8_t *slot_add(struct pslot *s, const uint8_t *src, size_t n, uint64_t *seq)
{
	if (slot_reserve(s, n) != 0)
		return NULL;
	if (s->n == 0)
		s->first_seq = *seq;
	(*seq)++;
	uint8_t *dst = s->data + s->len;
	if (src && n)
		memcpy(dst, src, n);
	s->len += n;
	s->ends[s->n++] = (uint32_t)s->len;
	return dst;
}

/* A code's name; codes this build does not know (the protocol says to accept them) are shown
 * by number. The buffer is static: shardctl is single-threaded. */
static const char *code_name(uint64_t code)
{
	static char unknown[32];
	if (code == CTL_ERR_TIMEOUT)
		return "timeout";
	if (code == CTL_ERR_INTERRUPTED)
		return "interrupted";
	const char *n = sl_logclient_code_name(code);
	if (strcmp(n, "?") != 0)
		return n;
	snprintf(unknown, sizeof(unknown), "error code %llu", (unsigned long long)code);
	return unknown;
}

static struct errkind *errkind(struct prod *p, uint64_t code)
{
	for (unsigned i = 0; i < p->nerrs; i++)
		if (p->errs[i].code == code)
			return &p->errs[i];
	if (p->nerrs == sizeof(p->errs) / sizeof(p->errs[0]))
		return &p->errs[p->nerrs - 1]; /* the last entry collects the rare rest */
	struct errkind *e = &p->errs[p->nerrs++];
	memset(e, 0, sizeof(*e));
	e->code = code;
	return e;
}

/* Fails n records with code: printed the first time each code is seen, counted always. */
static void fail_records(struct prod *p, uint64_t code, const char *reason, size_t rlen, uint64_t n)
{
	struct errkind *e = errkind(p, code);
	if (e->requests++ == 0)
		fprintf(stderr, "%s: produce failed: %s: %.*s\n", p->prog, code_name(code),
			(int)rlen, reason);
	e->records += n;
	p->failed += n;
}

static void send_slot(struct prod *p, struct pslot *s, uint64_t now)
{
	if (s->state == PS_FILLING) {
		s->first_ns = now;
		s->attempts = 0;
		s->maybe_stored = false;
		/* With a key the partition is the server's hash of it; the producer computes it
		 * too, to number its records per partition. */
		s->partition = p->has_partition ? p->partition
			       : p->key		? sl_lp_key_partition((const uint8_t *)p->key,
								      strlen(p->key), p->npartitions)
						: p->rr++ % p->npartitions;
		if (p->idem) {
			s->pseq = p->next_pseq[s->partition];
			p->next_pseq[s->partition] += s->n;
		}
	}
	size_t off = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		p->recs[i].p = s->data + off;
		p->recs[i].n = s->ends[i] - off;
		off = s->ends[i];
	}
	struct sl_lp_produce m;
	memset(&m, 0, sizeof(m));
	m.stream.p = (const uint8_t *)p->stream;
	m.stream.n = strlen(p->stream);
	if (p->key) {
		m.keyed = true;
		m.key.p = (const uint8_t *)p->key;
		m.key.n = strlen(p->key);
	} else {
		m.partition = s->partition;
	}
	m.durability = p->durability;
	m.count = s->n;
	m.idempotent = p->idem;
	m.producer_id = p->producer_id;
	m.sequence = s->pseq;
	int rc = sl_logclient_produce(p->lc, &m, p->recs, s, now, NULL);
	if (rc == 0) {
		s->state = PS_SENT;
		p->last_progress = now;
	} else if (rc == SL_EBUSY || rc == SL_ENOMEM) {
		/* The session's window is the slot count, so this is transient: try again
		 * shortly rather than fail records that were never sent. */
		s->state = PS_BACKOFF;
		s->retry_at = now + MS;
	} else if (rc == SL_ECLOSED && p->max_retries > 0) {
		s->state = PS_BACKOFF;
		s->retry_at = UINT64_MAX; /* after the reconnection */
	} else {
		const char *why = sl_strerror(rc);
		fail_records(p, SL_LOGCLIENT_ERR_PROTOCOL, why, strlen(why), s->n);
		slot_put(p, s);
	}
}

static void on_produce(void *user, void *cookie, const struct sl_logclient_result *r)
{
	struct prod *p = user;
	struct pslot *s = cookie;
	uint64_t now = sl_clock_now_ns();
	p->last_progress = now;
	/* An answer from the server (not a local failure) shows the connection works. */
	if (r->code < SL_LOGCLIENT_ERR_PROTOCOL)
		p->reconnect_run = 0;
	if (r->code == 0) {
		p->acked += s->n;
		p->acked_bytes += s->len;
		if (r->duplicate)
			p->duplicates += s->n;
		hist_add(&p->lat, (now - s->first_ns) / 1000);
		if (p->json)
			for (uint32_t i = 0; i < s->n; i++)
				printf("{\"partition\":%u,\"offset\":%llu,\"seq\":%llu%s}\n",
				       r->partition, (unsigned long long)(r->first_offset + i),
				       (unsigned long long)(s->first_seq + i),
				       r->duplicate ? ",\"duplicate\":true" : "");
		slot_put(p, s);
	} else if (r->code == SL_LP_ERR_OVERLOADED && !p->fatal) {
		/* Nothing was kept: the same records go again after the server's delay. */
		p->retries++;
		s->state = PS_BACKOFF;
		s->retry_at = now + (r->detail > 0 ? r->detail : 1) * MS;
	} else if (r->code == SL_LP_ERR_OUT_OF_ORDER_SEQUENCE && p->idem &&
		   r->detail >= s->pseq + s->n && s->maybe_stored) {
		/* The partition expects a later sequence: this request was stored before, so
		 * long ago that its offsets are forgotten. Acknowledged, without offsets. (A
		 * request that cannot have been stored, every earlier answer having been a
		 * refusal, fails instead: the server started this producer past it.) */
		p->acked += s->n;
		p->acked_bytes += s->len;
		p->duplicates += s->n;
		if (p->json)
			for (uint32_t i = 0; i < s->n; i++)
				printf("{\"partition\":%u,\"offset\":null,\"seq\":%llu,"
				       "\"duplicate\":true}\n",
				       s->partition, (unsigned long long)(s->first_seq + i));
		slot_put(p, s);
	} else if (p->idem && !p->fatal && s->attempts < RESEND_MAX &&
		   (r->code == SL_LP_ERR_OUT_OF_ORDER_SEQUENCE ||
		    r->code == SL_LP_ERR_STORAGE_FAILED || r->code == SL_LP_ERR_SHUTTING_DOWN)) {
		/* A request before it in the partition is missing (refused and being sent
		 * again), or nothing was stored: sent again shortly, in sequence order. The
		 * sequence makes a second copy impossible. */
		p->retries++;
		s->attempts++;
		s->state = PS_BACKOFF;
		s->retry_at = now + (r->code == SL_LP_ERR_OUT_OF_ORDER_SEQUENCE ? MS : 20 * MS);
	} else if (r->code == SL_LOGCLIENT_ERR_CLOSED && p->max_retries > 0 && !p->fatal) {
		/* The connection went away with the request unanswered: it is sent again over
		 * the next connection. */
		s->maybe_stored = true;
		s->state = PS_BACKOFF;
		s->retry_at = UINT64_MAX;
	} else if (r->code == SL_LOGCLIENT_ERR_RESET && p->max_retries > 0 && !p->fatal &&
		   s->attempts < RESEND_MAX) {
		/* The server reset the request stream: sent again on a new stream shortly. */
		s->maybe_stored = true;
		p->retries++;
		s->attempts++;
		s->state = PS_BACKOFF;
		s->retry_at = now + 20 * MS;
	} else {
		fail_records(p, r->code, (const char *)r->reason.p, r->reason.n, s->n);
		slot_put(p, s);
	}
}

/* Due time of synthetic record i under --rate. */
static uint64_t due_ns(const struct prod *p, uint64_t i)
{
	return p->start_ns + (uint64_t)((unsigned __int128)i * SEC / p->rate);
}

static void produce_synthetic(struct prod *p, uint64_t now)
{
	while (p->generated < p->count) {
		if (p->rate && due_ns(p, p->generated) > now)
			break;
		if (p->filling == NULL && (p->filling = slot_take(p)) == NULL)
			break;
		uint8_t *r = slot_add(p->filling, p->filler, p->size, &p->seq_next);
		if (r == NULL) {
			p->fatal = true;
			fprintf(stderr, "%s: produce: out of memory\n", p->prog);
			return;
		}
		sl_rec_stamp(r, p->size, sl_clock_wall_ns(), p->generated);
		p->generated++;
		if (p->filling->n == p->batch) {
			send_slot(p, p->filling, now);
			p->filling = NULL;
		}
	}
	if (p->generated == p->count)
		p->input_done = true;
	/* The last records, or those due so far under --rate, leave now rather than wait for a
	 * full batch: a partial request is what the producer has at this moment. */
	if (p->filling && p->filling->n > 0) {
		send_slot(p, p->filling, now);
		p->filling = NULL;
	}
}

/* Adds one line (carry + seg) as a record. Returns false when no slot is free. */
static bool add_line(struct prod *p, const uint8_t *seg, size_t n, uint64_t now)
{
	if (p->filling == NULL && (p->filling = slot_take(p)) == NULL)
		return false;
	p->lines++;
	if (p->skip_line || p->carry_len + n > MAX_RECORD) {
		char why[96];
		snprintf(why, sizeof(why), "line %llu is longer than %u bytes",
			 (unsigned long long)p->lines, MAX_RECORD);
		fail_records(p, SL_LP_ERR_RECORD_TOO_LARGE, why, strlen(why), 1);
		p->skip_line = false;
		p->carry_len = 0;
		return true;
	}
	uint8_t *r = slot_add(p->filling, NULL, p->carry_len + n, &p->seq_next);
	if (r == NULL) {
		p->fatal = true;
		return true;
	}
	if (p->carry_len > 0)
		memcpy(r, p->carry, p->carry_len);
	if (n > 0)
		memcpy(r + p->carry_len, seg, n);
	p->carry_len = 0;
	if (p->filling->n == p->batch) {
		send_slot(p, p->filling, now);
		p->filling = NULL;
	}
	return true;
}

/* Keeps the start of a line that continues in the next read. */
static void carry_more(struct prod *p, const uint8_t *seg, size_t n)
{
	if (p->skip_line || p->carry_len + n > MAX_RECORD) {
		p->skip_line = true; /* reported when its newline comes */
		return;
	}
	if (p->carry_len + n > p->carry_cap) {
		size_t cap = p->carry_cap ? p->carry_cap : 4096;
		while (cap < p->carry_len + n)
			cap *= 2;
		uint8_t *c = realloc(p->carry, cap);
		if (c == NULL) {
			p->skip_line = true;
			return;
		}
		p->carry = c;
		p->carry_cap = cap;
	}
	memcpy(p->carry + p->carry_len, seg, n);
	p->carry_len += n;
}

static bool stdin_readable(void)
{
	struct pollfd pf = {.fd = 0, .events = POLLIN};
	return poll(&pf, 1, 0) > 0;
}

/*
 * Turns what standard input has now into records, without ever blocking: it reads only after
 * poll says there is data (or an end), a bounded amount per loop iteration so acks keep being
 * processed, and stops when the window has no free slot. A batch that is not full is sent when
 * input has nothing more right now, so a slow writer's lines are not held back.
 */
static void produce_stdin(struct prod *p, uint64_t now)
{
	size_t budget = 4u << 20;
	for (;;) {
		if (p->roff == p->rlen) {
			if (p->eof || budget == 0 || !stdin_readable())
				break;
			ssize_t n = read(0, p->rbuf, 65536);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				break;
			if (n <= 0) {
				p->eof = true;
				break;
			}
			p->rlen = (size_t)n;
			p->roff = 0;
			budget -= budget < (size_t)n ? budget : (size_t)n;
		}
		const uint8_t *b = p->rbuf + p->roff;
		size_t left = p->rlen - p->roff;
		const uint8_t *nl = memchr(b, '\n', left);
		if (nl == NULL) {
			carry_more(p, b, left);
			p->roff = p->rlen;
			continue;
		}
		if (!add_line(p, b, (size_t)(nl - b), now))
			break;
		p->roff += (size_t)(nl - b) + 1;
		if (p->fatal)
			return;
	}
	if (p->eof && p->roff == p->rlen && !p->input_done) {
		/* A last line without a newline is a record too. */
		if ((p->carry_len > 0 || p->skip_line) && !add_line(p, NULL, 0, now))
			return; /* no slot yet: again on a later iteration */
		p->input_done = true;
	}
	if (p->filling && p->filling->n > 0 && p->roff == p->rlen) {
		send_slot(p, p->filling, now);
		p->filling = NULL;
	}
}

static void produce_summary(struct prod *p, uint64_t elapsed)
{
	double s = secs(elapsed);
	double rps = s > 0 ? (double)p->acked / s : 0, mbps = s > 0 ? p->acked_bytes / s / 1e6 : 0;
	for (unsigned i = 0; i < p->nerrs; i++)
		if (p->errs[i].requests > 1)
			fprintf(stderr, "%s: produce failed: %s: %llu records in %llu requests\n",
				p->prog, code_name(p->errs[i].code),
				(unsigned long long)p->errs[i].records,
				(unsigned long long)p->errs[i].requests);
	if (p->json)
		printf("{\"acked\":%llu,\"failed\":%llu,\"retries\":%llu,\"retried\":%llu,"
		       "\"reconnects\":%llu,\"duplicates\":%llu,\"idempotent\":%s,\"bytes\":%llu,"
		       "\"elapsed_s\":%.3f,\"records_per_s\":%.1f,\"mb_per_s\":%.3f,"
		       "\"p50_us\":%llu,\"p90_us\":%llu,\"p99_us\":%llu,\"p999_us\":%llu,"
		       "\"max_us\":%llu}\n",
		       (unsigned long long)p->acked, (unsigned long long)p->failed,
		       (unsigned long long)p->retries, (unsigned long long)p->retried,
		       (unsigned long long)p->reconnects, (unsigned long long)p->duplicates,
		       p->idem ? "true" : "false", (unsigned long long)p->acked_bytes, s, rps, mbps,
		       (unsigned long long)hist_q(&p->lat, 0.5),
		       (unsigned long long)hist_q(&p->lat, 0.9),
		       (unsigned long long)hist_q(&p->lat, 0.99),
		       (unsigned long long)hist_q(&p->lat, 0.999), (unsigned long long)p->lat.max);
	else
		fprintf(stderr,
			"%s: produced %llu records to %s (%llu failed, %llu retries, %llu retried "
			"after %llu reconnections, %llu duplicates) in %.3f s: "
			"%.0f records/s, %.3f MB/s; ack latency p50 %llu us, p99 %llu us, max %llu "
			"us\n",
			p->prog, (unsigned long long)p->acked, p->stream,
			(unsigned long long)p->failed, (unsigned long long)p->retries,
			(unsigned long long)p->retried, (unsigned long long)p->reconnects,
			(unsigned long long)p->duplicates, s, rps, mbps,
			(unsigned long long)hist_q(&p->lat, 0.5),
			(unsigned long long)hist_q(&p->lat, 0.99), (unsigned long long)p->lat.max);
	fflush(stdout);
}

/* Fails every record the window still holds (waiting for an answer, a retry, or a batch that
 * was never sent). */
static void fail_window(struct prod *p, uint64_t code, const char *why)
{
	for (uint32_t i = 0; i < p->in_flight; i++) {
		struct pslot *s = &p->slots[i];
		if (s->state == PS_FREE || (s->state == PS_FILLING && s->n == 0))
			continue;
		fail_records(p, code, why, strlen(why), s->n);
		s->n = 0;
	}
}

static int slot_cmp(const void *a, const void *b, void *arg)
{
	const struct prod *p = arg;
	uint64_t x = p->slots[*(const uint32_t *)a].first_seq;
	uint64_t y = p->slots[*(const uint32_t *)b].first_seq;
	return x < y ? -1 : x > y;
}

/* Sends the requests whose backoff is over, in input order: within a partition that is
 * sequence order, which an idempotent partition needs (a request after a gap is refused). */
static void resend_due(struct prod *p, uint64_t now)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->in_flight; i++)
		if (p->slots[i].state == PS_BACKOFF && p->slots[i].retry_at <= now)
			p->order[n++] = i;
	if (n > 1)
		qsort_r(p->order, n, sizeof(*p->order), slot_cmp, p);
	for (uint32_t k = 0; k < n; k++)
		send_slot(p, &p->slots[p->order[k]], now);
}

/*
 * The connection is gone, or the server stopped answering (a daemon killed with SIGKILL
 * sends nothing more, so only the silence tells): the session is dropped and a new one made,
 * up to max_retries times in a row with growing pauses, and every unanswered request is sent
 * again on it with the same sequence numbers. Returns false when every attempt failed.
 */
static bool reconnect(struct prod *p)
{
	for (uint32_t i = 0; i < p->in_flight; i++) {
		struct pslot *s = &p->slots[i];
		if (s->state == PS_SENT) {
			s->maybe_stored = true;
			s->state = PS_BACKOFF;
			s->retry_at = UINT64_MAX;
		}
	}
	log_disconnect(p->cl, p->lc);
	p->cl = NULL;
	p->lc = NULL;
	p->conn = NULL;
	while (p->reconnect_run < p->max_retries && !interrupted) {
		uint32_t k = p->reconnect_run++;
		uint64_t pause = (100 * MS) << (k < 4 ? k : 4);
		struct timespec ts = {(time_t)(pause / SEC), (long)(pause % SEC)};
		nanosleep(&ts, NULL);
		fprintf(stderr, "%s: produce: reconnecting to %s (attempt %u of %u)\n", p->prog,
			p->url, k + 1, p->max_retries);
		if (log_connect(p->prog, "produce", p->url, p->cb, p, &p->cl, &p->conn, &p->lc,
				p->in_flight + 1) != 0)
			continue;
		p->reconnects++;
		uint64_t now = sl_clock_now_ns();
		for (uint32_t i = 0; i < p->in_flight; i++) {
			struct pslot *s = &p->slots[i];
			if (s->state == PS_BACKOFF && s->retry_at == UINT64_MAX) {
				s->retry_at = now;
				p->retried++;
			}
		}
		p->last_progress = now;
		return true;
	}
	return false;
}

static int produce_run(struct prod *p)
{
	p->start_ns = sl_clock_now_ns();
	p->last_progress = p->start_ns;
	bool gave_up = false;
	struct keepalive ka = {0, 0};
	while (!p->fatal) {
		uint64_t now = sl_clock_now_ns();
		if (interrupted && !p->input_done) {
			/* First Ctrl-C: no new records; what is in flight may still be acked. */
			p->input_done = true;
			if (p->filling && p->filling->n > 0)
				send_slot(p, p->filling, now);
			p->filling = NULL;
		}
		if (interrupted > 1)
			break;
		resend_due(p, now);
		if (!p->input_done) {
			if (p->use_stdin)
				produce_stdin(p, now);
			else
				produce_synthetic(p, now);
		}
		if (p->input_done && slots_busy(p) == 0 && p->filling == NULL)
			break;
		bool stuck = p->timeout_ns && slots_busy(p) > 0 &&
			     now - p->last_progress > p->timeout_ns;
		if ((p->conn->closed || stuck) && p->max_retries > 0 && !interrupted) {
			if (p->conn->closed)
				fprintf(stderr,
					"%s: produce: the connection closed (error 0x%llx)\n",
					p->prog, (unsigned long long)p->conn->close_error);
			else
				fprintf(stderr, "%s: produce: no answer for %llu s\n", p->prog,
					(unsigned long long)(p->timeout_ns / SEC));
			if (reconnect(p))
				continue;
			fprintf(stderr, "%s: produce: giving up after %u reconnection attempts\n",
				p->prog, p->max_retries);
			p->fatal = true;
			break;
		}
		if (p->conn->closed) {
			fprintf(stderr, "%s: produce: the connection closed (error 0x%llx)\n",
				p->prog, (unsigned long long)p->conn->close_error);
			p->fatal = true;
			break;
		}
		if (p->timeout_ns && slots_busy(p) > 0 && now - p->last_progress > p->timeout_ns) {
			gave_up = true;
			break;
		}
		/* Sleep until the next thing this loop would do, unless a datagram (or input)
		 * comes first. */
		uint64_t wait = 100 * MS;
		for (uint32_t i = 0; i < p->in_flight; i++) {
			if (p->slots[i].state != PS_BACKOFF)
				continue;
			uint64_t d = p->slots[i].retry_at > now ? p->slots[i].retry_at - now : 0;
			if (d < wait)
				wait = d;
		}
		bool room = p->nfree > 0 || p->filling != NULL;
		if (!p->input_done && room) {
			if (p->use_stdin && (p->roff < p->rlen || p->eof))
				wait = 0;
			else if (!p->use_stdin && p->rate == 0)
				wait = 0;
			else if (!p->use_stdin) {
				uint64_t due = due_ns(p, p->generated);
				wait = due <= now ? 0 : (due - now < wait ? due - now : wait);
			}
		}
		sl_client_set_wait_fd(
			p->cl, p->use_stdin && !p->eof && room && p->roff == p->rlen ? 0 : -1);
		keepalive(&ka, p->lc, p->stream, now);
		sl_client_run(p->cl, wait);
		if (p->json)
			fflush(stdout);
	}
	uint64_t elapsed = sl_clock_now_ns() - p->start_ns;
	if (gave_up) {
		char why[96];
		snprintf(why, sizeof(why), "no answer for %llu s",
			 (unsigned long long)(p->timeout_ns / SEC));
		fail_window(p, CTL_ERR_TIMEOUT, why);
	} else if (p->fatal) {
		fail_window(p, SL_LOGCLIENT_ERR_CLOSED, "the connection closed");
	} else if (interrupted > 1) {
		fail_window(p, CTL_ERR_INTERRUPTED, "interrupted twice");
	}
	/* Synthetic records that were never sent count as failed: acked + failed = --count. */
	if (!p->use_stdin && (gave_up || p->fatal || interrupted) && p->generated < p->count)
		p->failed += p->count - p->generated;
	produce_summary(p, elapsed);
	return p->failed > 0 || p->fatal ? SL_CTL_EXIT_FAIL : SL_CTL_EXIT_OK;
}

static void produce_usage(const char *prog)
{
	fprintf(stderr, "usage: %s produce %s\n", prog, SL_CTL_PRODUCE_USAGE);
}

int sl_ctl_produce_main(const struct sl_ctl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"partition", required_argument, NULL, 'p'},
		{"key", required_argument, NULL, 'k'},
		{"durability", required_argument, NULL, 'd'},
		{"stdin", no_argument, NULL, 'i'},
		{"count", required_argument, NULL, 'n'},
		{"size", required_argument, NULL, 's'},
		{"rate", required_argument, NULL, 'r'},
		{"in-flight", required_argument, NULL, 'f'},
		{"batch", required_argument, NULL, 'b'},
		{"timeout", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"no-idempotence", no_argument, NULL, 'I'},
		{"retries", required_argument, NULL, 'R'},
		{NULL, 0, NULL, 0},
	};
	const char *prog = cli->prog, *cmd = "produce";
	struct prod p;
	memset(&p, 0, sizeof(p));
	p.prog = prog;
	p.durability = SL_LP_DURABLE;
	p.timeout_ns = 30 * SEC;
	p.idem = true;
	p.max_retries = 10;
	uint64_t v, in_flight = 1, batch = 1, timeout_s = 30;
	bool has_count = false, has_size = false;
	int c;
	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case 'p':
			bad = parse_u64(prog, cmd, "partition", optarg, 0, UINT32_MAX - 1, &v);
			p.partition = (uint32_t)v;
			p.has_partition = true;
			break;
		case 'k':
			p.key = optarg;
			if (strlen(optarg) > SL_LP_MAX_KEY) {
				fprintf(stderr, "%s: produce: --key: longer than %u bytes\n", prog,
					SL_LP_MAX_KEY);
				bad = 1;
			}
			break;
		case 'd':
			if (strcmp(optarg, "applied") == 0)
				p.durability = SL_LP_APPLIED;
			else if (strcmp(optarg, "written") == 0)
				p.durability = SL_LP_WRITTEN;
			else if (strcmp(optarg, "durable") == 0)
				p.durability = SL_LP_DURABLE;
			else {
				fprintf(stderr,
					"%s: produce: --durability: '%s' is not applied, written "
					"or "
					"durable\n",
					prog, optarg);
				bad = 1;
			}
			break;
		case 'i':
			p.use_stdin = true;
			break;
		case 'n':
			bad = parse_u64(prog, cmd, "count", optarg, 1, UINT64_MAX / 2, &p.count);
			has_count = true;
			break;
		case 's':
			bad = parse_u64(prog, cmd, "size", optarg, 0, MAX_RECORD, &p.size);
			has_size = true;
			break;
		case 'r':
			bad = parse_u64(prog, cmd, "rate", optarg, 1, 100000000, &p.rate);
			break;
		case 'f':
			bad = parse_u64(prog, cmd, "in-flight", optarg, 1, 65536, &in_flight);
			break;
		case 'b':
			bad = parse_u64(prog, cmd, "batch", optarg, 1, SL_LP_MAX_RECORDS, &batch);
			break;
		case 't':
			bad = parse_u64(prog, cmd, "timeout", optarg, 0, 86400, &timeout_s);
			break;
		case 'I':
			p.idem = false;
			break;
		case 'R':
			bad = parse_u64(prog, cmd, "retries", optarg, 0, 1000, &v);
			p.max_retries = (uint32_t)v;
			break;
		case 'j':
			p.json = true;
			/* Each acknowledgement line goes out as it happens: a script reading them,
			 * or a producer killed mid-run, sees every one it was told about. */
			setvbuf(stdout, NULL, _IOLBF, 0);
			break;
		default:
			produce_usage(prog);
			return SL_CTL_EXIT_USAGE;
		}
		if (bad)
			return SL_CTL_EXIT_USAGE;
	}
	const char *why = NULL;
	if (argc - optind != 2)
		why = "needs URL and STREAM";
	else if (p.has_partition && p.key)
		why = "--partition and --key exclude each other";
	else if (p.use_stdin && (has_count || has_size))
		why = "--stdin and --count/--size exclude each other";
	else if (p.rate && p.use_stdin)
		why = "--rate paces synthetic records (--count); it does not apply to --stdin";
	else if (has_count != has_size)
		why = has_count ? "--count needs --size" : "--size needs --count";
	else if (!p.use_stdin && !has_count)
		why = p.rate ? "--rate needs --count N --size BYTES"
			     : "give --stdin, or --count N --size BYTES";
	else if (!p.use_stdin && batch * p.size > MAX_REQUEST_BYTES)
		why = "--batch × --size is over 256 MiB per request";
	if (why) {
		fprintf(stderr, "%s: produce: %s\n", prog, why);
		produce_usage(prog);
		return SL_CTL_EXIT_USAGE;
	}
	const char *url = argv[optind];
	p.stream = argv[optind + 1];
	if (!stream_ok(prog, cmd, p.stream))
		return SL_CTL_EXIT_USAGE;
	p.in_flight = (uint32_t)in_flight;
	p.batch = (uint32_t)batch;
	p.timeout_ns = timeout_s * SEC;

	/* Everything the window needs, once: per-request work then allocates nothing. */
	int rc = SL_CTL_EXIT_FAIL;
	p.url = url;
	p.slots = calloc(p.in_flight, sizeof(*p.slots));
	p.order = calloc(p.in_flight, sizeof(*p.order));
	p.free_stack = calloc(p.in_flight, sizeof(*p.free_stack));
	p.recs = calloc(p.batch, sizeof(*p.recs));
	p.lat.b = calloc(HIST_N, sizeof(*p.lat.b));
	p.filler = p.size ? malloc(p.size) : NULL;
	p.rbuf = p.use_stdin ? malloc(65536) : NULL;
	bool ok = p.slots && p.order && p.free_stack && p.recs && p.lat.b &&
		  (p.size == 0 || p.filler) && (!p.use_stdin || p.rbuf);
	for (uint32_t i = 0; ok && i < p.in_flight; i++) {
		p.slots[i].ends = malloc(p.batch * sizeof(uint32_t));
		ok = p.slots[i].ends != NULL;
		p.free_stack[p.nfree++] = p.in_flight - 1 - i;
	}
	if (!ok) {
		fprintf(stderr, "%s: produce: out of memory for %u requests of %u records\n", prog,
			p.in_flight, p.batch);
		goto out;
	}
	if (p.filler)
		memset(p.filler, 0x5a, p.size);

	const struct sl_logclient_callbacks cb = {.on_produce = on_produce, .on_hwm = hwm_done};
	p.cb = &cb;
	/* A random producer id: 62 bits make two producers choosing the same one unlikely
	 * beyond concern, and need no round trip to the server. */
	if (getrandom(&p.producer_id, sizeof(p.producer_id), 0) != sizeof(p.producer_id))
		p.producer_id = sl_clock_wall_ns() ^ ((uint64_t)getpid() << 32);
	p.producer_id &= (UINT64_C(1) << 62) - 1;
	rc = log_connect(prog, cmd, url, &cb, &p, &p.cl, &p.conn, &p.lc, p.in_flight + 1);
	if (rc != 0)
		goto out;
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	struct hwm_wait h = {0};
	rc = learn_partitions(prog, cmd, p.cl, p.conn, p.lc, p.stream, &h);
	if (rc == 0 && p.has_partition && p.partition >= h.partitions) {
		fprintf(stderr, "%s: produce: --partition %u: stream %s has partitions 0..%u\n",
			prog, p.partition, p.stream, h.partitions - 1);
		rc = SL_CTL_EXIT_FAIL;
	}
	if (rc == 0) {
		p.npartitions = h.partitions;
		p.next_pseq = calloc(h.partitions, sizeof(*p.next_pseq));
		if (p.next_pseq == NULL) {
			fprintf(stderr, "%s: produce: out of memory\n", prog);
			rc = SL_CTL_EXIT_FAIL;
		}
	}
	if (rc == 0)
		rc = produce_run(&p);
	if (p.cl != NULL)
		log_disconnect(p.cl, p.lc);
out:
	for (uint32_t i = 0; p.slots && i < p.in_flight; i++) {
		free(p.slots[i].data);
		free(p.slots[i].ends);
	}
	free(p.slots);
	free(p.order);
	free(p.next_pseq);
	free(p.free_stack);
	free(p.recs);
	free(p.lat.b);
	free(p.filler);
	free(p.rbuf);
	free(p.carry);
	return rc;
}

/* ================================ consume ================================ */

/* One assigned partition's delivery state, to check offsets are consecutive. */
struct cpart {
	uint32_t partition;
	bool started, done;
	uint64_t next;
	/* Named consumers: the offset after the last record printed, the last position sent in
	 * a COMMIT, and the last one the server confirmed durable. */
	uint64_t processed;
	bool processed_set;
	uint64_t commit_sent, commit_ok;
	bool commit_sent_set, commit_ok_set;
};

struct cons {
	const char *prog, *stream;
	bool json;
	uint64_t count, timeout_ns;
	struct cpart *parts; /* sorted by partition */
	uint32_t nparts, ndone;
	struct sl_logclient_sub *sub;
	uint64_t records, bytes, gaps, dups, unstarted;
	uint64_t last_record_ns;
	struct hist lat;
	bool stop, failed;
	const char *end;
	bool explicit_from; /* --from OFFSET: tells the two out-of-range cases apart */
	uint64_t from_offset;
	/* --name: commit every commit_every records or commit_interval_ns. */
	const char *name;
	uint64_t commit_every, commit_interval_ns;
	uint64_t since_commit, last_commit_ns;
	uint32_t commits_out; /* COMMITs not answered yet */
	uint64_t commits_ok, commit_errors;
	bool fenced;
};

static struct cpart *cpart_find(struct cons *c, uint32_t partition)
{
	uint32_t lo = 0, hi = c->nparts;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (c->parts[mid].partition < partition)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->nparts && c->parts[lo].partition == partition ? &c->parts[lo] : NULL;
}

static void cpart_done(struct cons *c, struct cpart *cp)
{
	if (cp == NULL || cp->done)
		return;
	cp->done = true;
	if (++c->ndone == c->nparts && !c->stop) {
		c->stop = true;
		c->end = "no partition left";
	}
}

/* Whether the n bytes at p are UTF-8 text a JSON string can carry as is (no NUL). */
static bool utf8_text(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t b = p[i];
		if (b == 0)
			return false;
		if (b < 0x80) {
			i++;
			continue;
		}
		size_t len;
		uint32_t cp;
		if (b >= 0xc2 && b <= 0xdf) {
			len = 2;
			cp = b & 0x1f;
		} else if (b >= 0xe0 && b <= 0xef) {
			len = 3;
			cp = b & 0x0f;
		} else if (b >= 0xf0 && b <= 0xf4) {
			len = 4;
			cp = b & 0x07;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and code points past U+10FFFF are not UTF-8. */
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

static void print_json_string(FILE *f, const uint8_t *p, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		uint8_t b = p[i];
		if (b == '"' || b == '\\') {
			fputc('\\', f);
			fputc(b, f);
		} else if (b == '\n') {
			fputs("\\n", f);
		} else if (b == '\r') {
			fputs("\\r", f);
		} else if (b == '\t') {
			fputs("\\t", f);
		} else if (b < 0x20 || b == 0x7f) {
			fprintf(f, "\\u%04x", b);
		} else {
			fputc(b, f);
		}
	}
	fputc('"', f);
}

static void print_base64(FILE *f, const uint8_t *p, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	fputc('"', f);
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		fputc(t[v >> 18], f);
		fputc(t[(v >> 12) & 63], f);
		fputc(t[(v >> 6) & 63], f);
		fputc(t[v & 63], f);
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		fputc(t[v >> 18], f);
		fputc(t[(v >> 12) & 63], f);
		fputs("==", f);
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		fputc(t[v >> 18], f);
		fputc(t[(v >> 12) & 63], f);
		fputc(t[(v >> 6) & 63], f);
		fputc('=', f);
	}
	fputc('"', f);
}

static void c_started(void *user, uint32_t partition, uint64_t offset)
{
	struct cons *c = user;
	struct cpart *cp = cpart_find(c, partition);
	if (cp == NULL)
		return;
	/* A new start (after an ASSIGN or a server restart of the partition) restarts the
	 * consecutiveness check from its offset. */
	cp->started = true;
	cp->next = offset;
	if (!cp->processed_set) {
		/* Where a named consumer starts is its position until it reads more. */
		cp->processed = offset;
		cp->processed_set = true;
	}
}

static void c_records(void *user, const struct sl_lp_records *m)
{
	struct cons *c = user;
	if (c->stop)
		return;
	struct cpart *cp = cpart_find(c, m->partition);
	if (cp == NULL || !cp->started) {
		/* A correct server announces a partition with STARTED first; count what came
		 * without one rather than guess where it should have started. */
		c->unstarted += m->count;
		if (cp) {
			cp->started = true;
			cp->next = m->first_offset;
		}
	} else if (m->first_offset > cp->next) {
		c->gaps += m->first_offset - cp->next;
	} else if (m->first_offset < cp->next) {
		uint64_t overlap = cp->next - m->first_offset;
		c->dups += overlap < m->count ? overlap : m->count;
	}
	if (cp && m->first_offset + m->count > cp->next)
		cp->next = m->first_offset + m->count;
	uint64_t now_wall = sl_clock_wall_ns();
	c->last_record_ns = sl_clock_now_ns();
	struct sl_lp_record_iter it;
	struct sl_lp_bytes r;
	sl_lp_records_init(&it, m->records, m->count);
	for (uint64_t off = m->first_offset; sl_lp_records_next(&it, &r) == 0; off++) {
		uint64_t sent, seq;
		if (sl_rec_read_stamp(r.p, r.n, &sent, &seq))
			hist_add(&c->lat, now_wall > sent ? (now_wall - sent) / 1000 : 0);
		if (c->json) {
			printf("{\"partition\":%u,\"offset\":%llu,\"size\":%zu,", m->partition,
			       (unsigned long long)off, r.n);
			if (utf8_text(r.p, r.n)) {
				fputs("\"value\":", stdout);
				print_json_string(stdout, r.p, r.n);
			} else {
				fputs("\"value_b64\":", stdout);
				print_base64(stdout, r.p, r.n);
			}
			fputs("}\n", stdout);
		} else {
			fwrite(r.p, 1, r.n, stdout);
			fputc('\n', stdout);
		}
		c->records++;
		c->bytes += r.n;
		c->since_commit++;
		if (cp) {
			cp->processed = off + 1;
			cp->processed_set = true;
		}
		if (c->count && c->records >= c->count) {
			c->stop = true;
			c->end = "count";
			break;
		}
	}
}

static void c_removed(void *user, uint32_t partition)
{
	struct cons *c = user;
	cpart_done(c, cpart_find(c, partition));
}

static void c_error(void *user, const struct sl_lp_error *e)
{
	struct cons *c = user;
	c->failed = true;
	if (e->code == SL_LP_ERR_FENCED) {
		c->fenced = true;
		if (c->commits_out > 0 && e->partition == SL_LP_NO_PARTITION)
			c->commits_out--; /* a refused COMMIT */
		fprintf(stderr, "%s: consume: %.*s; stopping\n", c->prog, (int)e->reason.n,
			(const char *)e->reason.p);
		c->stop = true;
		c->end = "fenced";
		return;
	}
	if (e->code == SL_LP_ERR_UNKNOWN_STREAM) {
		fprintf(stderr, "%s: no stream named %s\n", c->prog, c->stream);
		c->stop = true;
		c->end = "error";
		return;
	}
	if (e->code == SL_LP_ERR_OFFSET_OUT_OF_RANGE && e->partition != SL_LP_NO_PARTITION) {
		/* The server sends only the earliest retained offset; what the user asked for
		 * says which of the three cases this is. */
		struct cpart *cp = cpart_find(c, e->partition);
		unsigned long long earliest = (unsigned long long)e->detail;
		if (cp != NULL && cp->started && cp->next < e->detail)
			fprintf(stderr,
				"%s: partition %u: offset out of range, earliest is %llu "
				"(retention "
				"removed offsets %llu to %llu before they were read)\n",
				c->prog, e->partition, earliest, (unsigned long long)cp->next,
				earliest - 1);
		else if (c->explicit_from && c->from_offset < e->detail)
			fprintf(stderr,
				"%s: partition %u: offset out of range, earliest is %llu (offset "
				"%llu is below the earliest retained offset)\n",
				c->prog, e->partition, earliest,
				(unsigned long long)c->from_offset);
		else if (c->explicit_from)
			fprintf(stderr,
				"%s: partition %u: offset %llu is past the partition's end "
				"(--from latest waits for new records; earliest retained is "
				"%llu)\n",
				c->prog, e->partition, (unsigned long long)c->from_offset,
				earliest);
		else
			fprintf(stderr, "%s: partition %u: offset out of range, earliest is %llu\n",
				c->prog, e->partition, earliest);
	} else if (e->partition != SL_LP_NO_PARTITION)
		fprintf(stderr, "%s: partition %u: %s: %.*s\n", c->prog, e->partition,
			code_name(e->code), (int)e->reason.n, (const char *)e->reason.p);
	else
		fprintf(stderr, "%s: consume: %s: %.*s\n", c->prog, code_name(e->code),
			(int)e->reason.n, (const char *)e->reason.p);
	/* An error about one partition ends that partition; one about the whole subscription
	 * ends it. */
	if (e->partition != SL_LP_NO_PARTITION) {
		cpart_done(c, cpart_find(c, e->partition));
	} else if (!c->stop) {
		c->stop = true;
		c->end = "error";
	}
}

static void c_end(void *user, uint64_t code, uint64_t detail)
{
	struct cons *c = user;
	if (c->stop)
		return;
	if (code == 0)
		fprintf(stderr, "%s: consume: the server ended the subscription\n", c->prog);
	else
		fprintf(stderr, "%s: consume: the subscription ended: %s (0x%llx)\n", c->prog,
			code_name(code), (unsigned long long)detail);
	c->failed = true;
	c->stop = true;
	c->end = code == SL_LOGCLIENT_ERR_CLOSED ? "closed" : "ended";
}

static void c_commit_ok(void *user, uint32_t partition, uint64_t offset)
{
	struct cons *c = user;
	if (c->commits_out > 0)
		c->commits_out--;
	c->commits_ok++;
	struct cpart *cp = cpart_find(c, partition);
	if (cp != NULL) {
		cp->commit_ok = offset;
		cp->commit_ok_set = true;
	}
}

/* Commits the position of every partition that moved since its last commit. */
static void commit_positions(struct cons *c, uint64_t now)
{
	for (uint32_t i = 0; i < c->nparts; i++) {
		struct cpart *cp = &c->parts[i];
		if (!cp->processed_set || (cp->commit_sent_set && cp->commit_sent == cp->processed))
			continue;
		int rc = sl_logclient_commit(c->sub, cp->partition, cp->processed);
		if (rc != 0) {
			c->commit_errors++;
			continue;
		}
		cp->commit_sent = cp->processed;
		cp->commit_sent_set = true;
		c->commits_out++;
	}
	c->since_commit = 0;
	c->last_commit_ns = now;
}

static void consume_summary(struct cons *c, uint64_t elapsed)
{
	double s = secs(elapsed);
	if (c->json) {
		printf("{\"records\":%llu,\"bytes\":%llu,\"elapsed_s\":%.3f,\"next\":{",
		       (unsigned long long)c->records, (unsigned long long)c->bytes, s);
		bool first = true;
		for (uint32_t i = 0; i < c->nparts; i++) {
			if (!c->parts[i].started)
				continue;
			printf("%s\"%u\":%llu", first ? "" : ",", c->parts[i].partition,
			       (unsigned long long)c->parts[i].next);
			first = false;
		}
		if (c->name != NULL) {
			printf("},\"consumer\":\"%s\",\"committed\":{", c->name);
			first = true;
			for (uint32_t i = 0; i < c->nparts; i++) {
				if (!c->parts[i].commit_ok_set)
					continue;
				printf("%s\"%u\":%llu", first ? "" : ",", c->parts[i].partition,
				       (unsigned long long)c->parts[i].commit_ok);
				first = false;
			}
		}
		printf("},\"gaps\":%llu,\"duplicates\":%llu,\"unstarted\":%llu,"
		       "\"latency_us\":{\"samples\":%llu,\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,"
		       "\"p999\":%llu,\"max\":%llu},\"end\":\"%s\"}\n",
		       (unsigned long long)c->gaps, (unsigned long long)c->dups,
		       (unsigned long long)c->unstarted, (unsigned long long)c->lat.n,
		       (unsigned long long)hist_q(&c->lat, 0.5),
		       (unsigned long long)hist_q(&c->lat, 0.9),
		       (unsigned long long)hist_q(&c->lat, 0.99),
		       (unsigned long long)hist_q(&c->lat, 0.999), (unsigned long long)c->lat.max,
		       c->end);
	} else {
		fprintf(stderr, "%s: consumed %llu records (%llu bytes) from %s in %.3f s (%s)",
			c->prog, (unsigned long long)c->records, (unsigned long long)c->bytes,
			c->stream, s, c->end);
		if (c->gaps || c->dups || c->unstarted)
			fprintf(stderr, "; %llu missing offsets, %llu duplicates, %llu unannounced",
				(unsigned long long)c->gaps, (unsigned long long)c->dups,
				(unsigned long long)c->unstarted);
		if (c->lat.n)
			fprintf(stderr, "; latency p50 %llu us, p99 %llu us, max %llu us",
				(unsigned long long)hist_q(&c->lat, 0.5),
				(unsigned long long)hist_q(&c->lat, 0.99),
				(unsigned long long)c->lat.max);
		fputc('\n', stderr);
	}
	fflush(stdout);
}

static void consume_usage(const char *prog)
{
	fprintf(stderr, "usage: %s consume %s\n", prog, SL_CTL_CONSUME_USAGE);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int sl_ctl_consume_main(const struct sl_ctl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"partition", required_argument, NULL, 'p'},
		{"from", required_argument, NULL, 'F'},
		{"count", required_argument, NULL, 'n'},
		{"timeout", required_argument, NULL, 't'},
		{"isolation", required_argument, NULL, 'I'},
		{"json", no_argument, NULL, 'j'},
		{"name", required_argument, NULL, 'N'},
		{"commit-every", required_argument, NULL, 'E'},
		{"commit-interval", required_argument, NULL, 'T'},
		{NULL, 0, NULL, 0},
	};
	const char *prog = cli->prog, *cmd = "consume";
	struct cons c;
	memset(&c, 0, sizeof(c));
	c.prog = prog;
	c.end = "interrupted";
	uint8_t from = SL_LP_START_EARLIEST, isolation = SL_LP_ISO_DURABLE;
	bool from_given = false, commit_opts = false;
	uint64_t commit_ms = 1000;
	c.commit_every = 1000;
	uint64_t from_offset = 0, timeout_s = 0, v;
	uint32_t *want = NULL, nwant = 0;
	int ch, rc = SL_CTL_EXIT_USAGE;
	optind = 1;
	opterr = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int bad = 0;
		switch (ch) {
		case 'p': {
			bad = parse_u64(prog, cmd, "partition", optarg, 0, UINT32_MAX - 1, &v);
			uint32_t *w = bad ? NULL : realloc(want, (nwant + 1) * sizeof(*want));
			if (w) {
				want = w;
				want[nwant++] = (uint32_t)v;
			} else {
				bad = 1;
			}
			break;
		}
		case 'F':
			from_given = true;
			if (strcmp(optarg, "committed") == 0) {
				from = SL_LP_START_COMMITTED_OR_EARLIEST;
			} else if (strcmp(optarg, "committed-or-latest") == 0) {
				from = SL_LP_START_COMMITTED_OR_LATEST;
			} else if (strcmp(optarg, "earliest") == 0) {
				from = SL_LP_START_EARLIEST;
			} else if (strcmp(optarg, "latest") == 0) {
				from = SL_LP_START_LATEST;
			} else {
				from = SL_LP_START_OFFSET;
				if (optarg[0] < '0' || optarg[0] > '9') {
					fprintf(stderr,
						"%s: consume: --from: '%s' is not earliest, "
						"latest, "
						"committed, committed-or-latest or an offset\n",
						prog, optarg);
					bad = 1;
				} else {
					bad = parse_u64(prog, cmd, "from", optarg, 0,
							(UINT64_C(1) << 62) - 1, &from_offset);
				}
			}
			break;
		case 'n':
			bad = parse_u64(prog, cmd, "count", optarg, 0, UINT64_MAX, &c.count);
			break;
		case 't':
			bad = parse_u64(prog, cmd, "timeout", optarg, 0, 86400 * 365, &timeout_s);
			break;
		case 'I':
			if (strcmp(optarg, "durable") == 0)
				isolation = SL_LP_ISO_DURABLE;
			else if (strcmp(optarg, "applied") == 0)
				isolation = SL_LP_ISO_APPLIED;
			else {
				fprintf(stderr,
					"%s: consume: --isolation: '%s' is not durable or "
					"applied\n",
					prog, optarg);
				bad = 1;
			}
			break;
		case 'j':
			c.json = true;
			break;
		case 'N':
			c.name = optarg;
			break;
		case 'E':
			commit_opts = true;
			bad = parse_u64(prog, cmd, "commit-every", optarg, 0, UINT64_MAX,
					&c.commit_every);
			break;
		case 'T':
			commit_opts = true;
			bad = parse_u64(prog, cmd, "commit-interval", optarg, 0, 86400000,
					&commit_ms);
			break;
		default:
			consume_usage(prog);
			free(want);
			return SL_CTL_EXIT_USAGE;
		}
		if (bad) {
			free(want);
			return SL_CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "%s: consume: needs URL and STREAM\n", prog);
		consume_usage(prog);
		free(want);
		return SL_CTL_EXIT_USAGE;
	}
	if (nwant > 1)
		qsort(want, nwant, sizeof(*want), cmp_u32);
	for (uint32_t i = 1; i < nwant; i++)
		if (want[i] == want[i - 1]) {
			fprintf(stderr, "%s: consume: --partition %u given twice\n", prog, want[i]);
			free(want);
			return SL_CTL_EXIT_USAGE;
		}
	const char *url = argv[optind];
	c.stream = argv[optind + 1];
	if (!stream_ok(prog, cmd, c.stream)) {
		free(want);
		return SL_CTL_EXIT_USAGE;
	}
	/* The server's rule for consumer names (durable/dcons.h): a stream name, and no leading
	 * ".sl-", which object stores keep for themselves. */
	if (c.name != NULL &&
	    (!sl_stream_name_valid(c.name, strlen(c.name)) || strncmp(c.name, ".sl-", 4) == 0)) {
		fprintf(stderr,
			"%s: consume: --name: '%s' is not a valid consumer name (1 to 249 of "
			"A-Z a-z 0-9 . _ -, not . or .., not starting with .sl-)\n",
			prog, c.name);
		free(want);
		return SL_CTL_EXIT_USAGE;
	}
	if (c.name == NULL && (commit_opts || from == SL_LP_START_COMMITTED_OR_EARLIEST ||
			       from == SL_LP_START_COMMITTED_OR_LATEST)) {
		fprintf(stderr, "%s: consume: %s needs --name\n", prog,
			commit_opts ? "--commit-every/--commit-interval" : "--from committed");
		free(want);
		return SL_CTL_EXIT_USAGE;
	}
	if (c.name != NULL && !from_given)
		from = SL_LP_START_COMMITTED_OR_EARLIEST;
	c.commit_interval_ns = commit_ms * MS;
	c.timeout_ns = timeout_s * SEC;
	c.lat.b = calloc(HIST_N, sizeof(*c.lat.b));
	struct sl_client *cl = NULL;
	struct sl_client_conn *conn = NULL;
	struct sl_logclient *lc = NULL;
	struct sl_lp_start *starts = NULL;
	const struct sl_logclient_callbacks cb = {.on_hwm = hwm_done};
	if (c.lat.b == NULL) {
		rc = SL_CTL_EXIT_FAIL;
		goto out;
	}
	rc = log_connect(prog, cmd, url, &cb, &c, &cl, &conn, &lc, 4);
	if (rc != 0)
		goto out;
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	if (nwant == 0) {
		struct hwm_wait h = {0};
		rc = learn_partitions(prog, cmd, cl, conn, lc, c.stream, &h);
		if (rc != 0)
			goto done;
		want = malloc(h.partitions * sizeof(*want));
		if (want == NULL) {
			rc = SL_CTL_EXIT_FAIL;
			goto done;
		}
		for (uint32_t i = 0; i < h.partitions; i++)
			want[i] = i;
		nwant = h.partitions;
	}
	c.parts = calloc(nwant, sizeof(*c.parts));
	starts = calloc(nwant, sizeof(*starts));
	if (c.parts == NULL || starts == NULL) {
		rc = SL_CTL_EXIT_FAIL;
		goto done;
	}
	for (uint32_t i = 0; i < nwant; i++) {
		c.parts[i].partition = want[i];
		starts[i].partition = want[i];
		starts[i].kind = from;
		starts[i].offset = from == SL_LP_START_OFFSET ? from_offset : 0;
	}
	c.nparts = nwant;
	c.explicit_from = from == SL_LP_START_OFFSET;
	c.from_offset = from_offset;
	static const struct sl_logclient_sub_callbacks scb = {
		.on_started = c_started,
		.on_records = c_records,
		.on_removed = c_removed,
		.on_error = c_error,
		.on_end = c_end,
		.on_commit_ok = c_commit_ok,
	};
	struct sl_lp_bytes name = {(const uint8_t *)c.stream, strlen(c.stream)};
	if (c.name != NULL) {
		struct sl_lp_bytes consumer = {(const uint8_t *)c.name, strlen(c.name)};
		rc = sl_logclient_subscribe_named(lc, consumer, name, isolation, starts, nwant,
						  &scb, &c, &c.sub);
	} else {
		rc = sl_logclient_subscribe(lc, name, isolation, starts, nwant, &scb, &c, &c.sub);
	}
	if (rc != 0) {
		fprintf(stderr, "%s: consume: cannot subscribe: %s\n", prog, sl_strerror(rc));
		rc = SL_CTL_EXIT_FAIL;
		goto done;
	}
	uint64_t start = sl_clock_now_ns();
	c.last_record_ns = start;
	c.last_commit_ns = start;
	struct keepalive ka = {0, 0};
	while (!c.stop && !interrupted) {
		uint64_t wait = 100 * MS, now = sl_clock_now_ns();
		keepalive(&ka, lc, c.stream, now);
		if (c.name != NULL &&
		    ((c.commit_every && c.since_commit >= c.commit_every) ||
		     (c.commit_interval_ns && now - c.last_commit_ns >= c.commit_interval_ns)))
			commit_positions(&c, now);
		if (c.timeout_ns) {
			if (now - c.last_record_ns >= c.timeout_ns) {
				c.stop = true;
				c.end = "timeout";
				break;
			}
			uint64_t left = c.timeout_ns - (now - c.last_record_ns);
			if (left < wait)
				wait = left;
		}
		sl_client_run(cl, wait);
		fflush(stdout);
	}
	uint64_t elapsed = sl_clock_now_ns() - start;
	if (c.name != NULL && !c.fenced) {
		/* A clean exit commits where it got to and waits (5 s at most) for the server to
		 * make it durable, so the next run with this name resumes right after. */
		interrupted = 0;
		commit_positions(&c, sl_clock_now_ns());
		uint64_t until = sl_clock_now_ns() + 5 * SEC;
		while (c.commits_out > 0 && !c.fenced && !interrupted && sl_clock_now_ns() < until)
			sl_client_run(cl, 50 * MS);
		if (c.commits_out > 0 && !c.fenced) {
			fprintf(stderr, "%s: consume: %u commits not confirmed at exit\n", prog,
				c.commits_out);
			c.failed = true;
		}
	}
	sl_logclient_unsubscribe(c.sub);
	if (c.count && c.records < c.count && strcmp(c.end, "timeout") == 0) {
		fprintf(stderr, "%s: consume: no record for %llu s; got %llu of %llu\n", prog,
			(unsigned long long)timeout_s, (unsigned long long)c.records,
			(unsigned long long)c.count);
		c.failed = true;
	}
	consume_summary(&c, elapsed);
	rc = c.fenced ? SL_CTL_EXIT_FENCED : c.failed ? SL_CTL_EXIT_FAIL : SL_CTL_EXIT_OK;
done:
	log_disconnect(cl, lc);
out:
	free(starts);
	free(c.parts);
	free(want);
	free(c.lat.b);
	return rc;
}
