/* SPDX-License-Identifier: Apache-2.0 */
#include "durable/export.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"

/* ---- the metadata payload ---- */

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void sl_export_meta_encode(const struct sl_export_range *r, uint8_t out[SL_EXPORT_META_LEN])
{
	out[0] = SL_EXPORT_META_VERSION;
	put_le(out + 1, r->stream_id, 8);
	put_le(out + 9, r->partition, 4);
	put_le(out + 13, r->first, 8);
	put_le(out + 21, r->count, 8);
	put_le(out + 29, r->off, 8);
	put_le(out + 37, r->len, 8);
}

int sl_export_meta_decode(const uint8_t *p, size_t n, struct sl_export_range *out, const char **why)
{
	const char *w = NULL;
	int rc = 0;
	if (n < 1) {
		w = "export payload: empty";
		rc = SL_ETRUNC;
	} else if (p[0] != SL_EXPORT_META_VERSION) {
		/* The version first: a later version may be longer or shorter. */
		w = "export payload: unknown version";
		rc = SL_ENOTSUP;
	} else if (n < SL_EXPORT_META_LEN) {
		w = "export payload: shorter than its 45 bytes";
		rc = SL_ETRUNC;
	} else if (n > SL_EXPORT_META_LEN) {
		w = "export payload: bytes after the fields";
		rc = SL_ECORRUPT;
	}
	if (rc == 0) {
		out->stream_id = get_le(p + 1, 8);
		out->partition = (uint32_t)get_le(p + 9, 4);
		out->first = get_le(p + 13, 8);
		out->count = get_le(p + 21, 8);
		out->off = get_le(p + 29, 8);
		out->len = get_le(p + 37, 8);
		if (out->count == 0) {
			w = "export payload: count 0";
			rc = SL_ECORRUPT;
		} else if (out->first + out->count < out->first) {
			w = "export payload: first + count overflows";
			rc = SL_ECORRUPT;
		} else if (out->off + out->len < out->off) {
			w = "export payload: off + len overflows";
			rc = SL_ECORRUPT;
		}
	}
	if (why)
		*why = w;
	return rc;
}

int sl_export_manifest_key(const char *name, char *out, size_t size)
{
	return snprintf(out, size, "export/%s/manifest", name);
}

/* ---- the engine ---- */

/* A flush waiting to be enqueued: its key, time and the encoded payloads. */
struct xnote {
	struct xnote *next;
	uint64_t wall_ms;
	uint32_t nmeta;
	uint8_t *payloads; /* nmeta * SL_EXPORT_META_LEN, after the key in the same allocation */
	char key[];
};

/* An entry believed to be in the manifest: pinned until dequeued (or aged out). */
struct xpin {
	uint64_t seq;
	uint64_t wall_ms;
	bool expired;
	char *key;
};

enum { X_IDLE = 0, X_ENQUEUE, X_READ };

struct xstream {
	struct xstream *next;
	struct sl_export *ex;
	uint64_t id;
	char name[SL_STREAM_NAME_MAX + 1];
	char mkey[SL_STREAM_NAME_MAX + 32];
	uint64_t max_age_ms;
	bool gone; /* no longer exported: freed once idle */
	struct sl_manifest *m;
	struct sl_manifest_op op;
	int state;
	struct xnote *head, *tail;
	uint32_t npending;
	struct xpin *pins;
	uint32_t npins, cpins;
	bool known;
	struct sl_manifest_footer footer;
	uint64_t next_refresh_ns, retry_at_ns, retry_delay_ns;
	uint64_t enqueued, enqueue_failed, dropped_max_age;
	uint64_t conflicts_seen;
	uint32_t inflight_notes; /* entries of the enqueue in flight: the first ones of head */
};

struct sl_export {
	struct sl_export_config cfg;
	struct xstream *streams;
	uint64_t now_ns;
	struct sl_export_stats st;
};

void sl_export_config_default(struct sl_export_config *c)
{
	memset(c, 0, sizeof(*c));
	c->refresh_interval_ns = 10ULL * 1000000000ULL;
	c->retry_min_ns = 100ULL * 1000000ULL;
	c->retry_max_ns = 5ULL * 1000000000ULL;
	c->max_pending = 65536;
	sl_manifest_config_default(&c->manifest);
}

int sl_export_new(const struct sl_export_config *cfg, struct sl_export **out)
{
	if (cfg == NULL || cfg->store == NULL || out == NULL)
		return SL_EINVAL;
	struct sl_export *ex = calloc(1, sizeof(*ex));
	if (ex == NULL)
		return SL_ENOMEM;
	ex->cfg = *cfg;
	if (ex->cfg.max_pending == 0)
		ex->cfg.max_pending = 65536;
	if (ex->cfg.retry_min_ns == 0)
		ex->cfg.retry_min_ns = 1;
	if (ex->cfg.retry_max_ns < ex->cfg.retry_min_ns)
		ex->cfg.retry_max_ns = ex->cfg.retry_min_ns;
	*out = ex;
	return 0;
}

static void pins_clear(struct xstream *s)
{
	for (uint32_t i = 0; i < s->npins; i++)
		free(s->pins[i].key);
	s->npins = 0;
}

static void stream_free(struct xstream *s)
{
	while (s->head) {
		struct xnote *n = s->head;
		s->head = n->next;
		free(n);
	}
	s->ex->st.pending -= s->npending;
	pins_clear(s);
	free(s->pins);
	sl_manifest_op_release(&s->op);
	sl_manifest_free(s->m);
	free(s);
}

void sl_export_free(struct sl_export *ex)
{
	if (ex == NULL)
		return;
	while (ex->streams) {
		struct xstream *s = ex->streams;
		ex->streams = s->next;
		stream_free(s);
	}
	free(ex);
}

int sl_export_set_streams(struct sl_export *ex, const struct sl_stream_set *set)
{
	for (struct xstream *s = ex->streams; s; s = s->next)
		s->gone = true;
	for (uint32_t i = 0; set && i < set->count; i++) {
		const struct sl_stream_def *d = &set->defs[i];
		if (!d->export_enabled)
			continue;
		struct xstream *s = NULL;
		for (struct xstream *t = ex->streams; t; t = t->next)
			if (t->id == d->id)
				s = t;
		if (s != NULL) {
			s->gone = false;
			s->max_age_ms = d->export_max_age_ns / 1000000;
			continue;
		}
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return SL_ENOMEM;
		s->ex = ex;
		s->id = d->id;
		snprintf(s->name, sizeof(s->name), "%s", d->name);
		sl_export_manifest_key(d->name, s->mkey, sizeof(s->mkey));
		s->max_age_ms = d->export_max_age_ns / 1000000;
		struct sl_manifest_config mc = ex->cfg.manifest;
		mc.key = s->mkey;
		s->m = sl_manifest_new(ex->cfg.store, &mc);
		if (s->m == NULL) {
			free(s);
			return SL_ENOMEM;
		}
		s->next = ex->streams;
		ex->streams = s;
	}
	uint32_t n = 0;
	for (struct xstream *s = ex->streams; s; s = s->next)
		n += !s->gone;
	ex->st.streams = n;
	return 0;
}

int sl_export_add(struct sl_export *ex, const struct sl_seg_event *ev)
{
	int queued = 0;
	for (struct xstream *s = ex->streams; s; s = s->next) {
		if (s->gone)
			continue;
		uint32_t nmeta = 0;
		for (uint32_t i = 0; i < ev->nranges; i++)
			nmeta += ev->ranges[i].stream_id == s->id;
		if (nmeta == 0)
			continue;
		if (s->npending >= ex->cfg.max_pending) {
			ex->st.dropped_full++;
			SL_LOG(LOG, WARNING,
			       "export: stream %s: %u flushes wait to be enqueued; %s is not "
			       "exported",
			       s->name, s->npending, ev->key);
			continue;
		}
		size_t klen = strlen(ev->key) + 1;
		struct xnote *n = malloc(sizeof(*n) + klen + (size_t)nmeta * SL_EXPORT_META_LEN);
		if (n == NULL)
			return SL_ENOMEM;
		n->next = NULL;
		n->wall_ms = ev->wall_ms;
		n->nmeta = nmeta;
		memcpy(n->key, ev->key, klen);
		n->payloads = (uint8_t *)n->key + klen;
		uint32_t k = 0;
		for (uint32_t i = 0; i < ev->nranges; i++) {
			const struct sl_seg_range *r = &ev->ranges[i];
			if (r->stream_id != s->id)
				continue;
			struct sl_export_range x = {r->stream_id, r->partition, r->first,
						    r->count,	  r->off,	r->len};
			sl_export_meta_encode(&x, n->payloads + (size_t)k++ * SL_EXPORT_META_LEN);
		}
		if (s->tail)
			s->tail->next = n;
		else
			s->head = n;
		s->tail = n;
		s->npending++;
		ex->st.pending++;
		queued++;
	}
	return queued;
}

/* Forgets the pins the manifest no longer lists: sequences below next_sequence - count. */
static void pins_trim(struct xstream *s)
{
	uint64_t first = s->footer.next_sequence - s->footer.count;
	uint32_t k = 0;
	while (k < s->npins && s->pins[k].seq < first)
		free(s->pins[k++].key);
	if (k > 0) {
		memmove(s->pins, s->pins + k, (size_t)(s->npins - k) * sizeof(*s->pins));
		s->npins -= k;
	}
}

static int pin_add(struct xstream *s, uint64_t seq, uint64_t wall_ms, const char *key, size_t n)
{
	if (s->npins == s->cpins) {
		uint32_t c = s->cpins ? s->cpins * 2 : 64;
		struct xpin *p = realloc(s->pins, (size_t)c * sizeof(*p));
		if (p == NULL)
			return SL_ENOMEM;
		s->pins = p;
		s->cpins = c;
	}
	char *k = strndup(key, n);
	if (k == NULL)
		return SL_ENOMEM;
	uint64_t now_ms = s->ex->now_ns / 1000000;
	/* An entry already past the max age when learnt was counted when it aged (or before
	 * a restart): it is not pinned and not counted again. */
	bool expired = s->max_age_ms && now_ms > wall_ms && now_ms - wall_ms > s->max_age_ms;
	s->pins[s->npins++] = (struct xpin){seq, wall_ms, expired, k};
	return 0;
}

/* Rebuilds the pins from a manifest read (NULL: none exists yet). */
static int pins_from(struct xstream *s, const struct sl_buf *data)
{
	pins_clear(s);
	memset(&s->footer, 0, sizeof(s->footer));
	if (data == NULL)
		return 0;
	struct sl_manifest_iter it;
	struct sl_manifest_rec rec;
	int rc = sl_manifest_iter_init(&it, data->data, data->len, &s->footer, NULL);
	while (rc == 0 && (rc = sl_manifest_iter_next(&it, &rec, NULL)) == 0) {
		struct sl_manifest_meta meta = {0};
		const uint8_t *cur = rec.meta;
		if (rec.meta_count > 0)
			sl_manifest_meta_next(&rec, &cur, &meta);
		rc = pin_add(s, rec.sequence, (uint64_t)meta.ingestion_time_ms, rec.location,
			     rec.location_len);
	}
	return rc == SL_EEOF ? 0 : rc;
}

static void on_op(struct sl_manifest_op *op)
{
	struct xstream *s = op->user;
	struct sl_export *ex = s->ex;
	struct sl_manifest_stats ms;
	sl_manifest_stats(s->m, &ms);
	ex->st.enqueue_conflicts += ms.conflicts - s->conflicts_seen;
	s->conflicts_seen = ms.conflicts;
	int kind = s->state;
	s->state = X_IDLE;
	if (kind == X_READ) {
		int rc = op->result;
		if (rc == 0)
			rc = pins_from(s, op->data);
		sl_manifest_op_release(op);
		if (rc != 0) {
			ex->st.refresh_failed++;
			/* Pins stay conservative: a stream never read pins every key. */
			s->next_refresh_ns = ex->now_ns + ex->cfg.retry_max_ns;
			return;
		}
		s->known = true;
		s->next_refresh_ns = ex->now_ns + ex->cfg.refresh_interval_ns;
		return;
	}
	struct xnote *n = s->head;
	if (op->result != 0) {
		ex->st.enqueue_failed++;
		s->enqueue_failed++;
		s->retry_delay_ns =
			s->retry_delay_ns ? s->retry_delay_ns * 2 : ex->cfg.retry_min_ns;
		if (s->retry_delay_ns > ex->cfg.retry_max_ns)
			s->retry_delay_ns = ex->cfg.retry_max_ns;
		s->retry_at_ns = ex->now_ns + s->retry_delay_ns;
		if (s->enqueue_failed == 1 || (s->enqueue_failed & (s->enqueue_failed - 1)) == 0)
			SL_LOG(LOG, WARNING,
			       "export: stream %s: enqueue of %s failed (%s), retrying", s->name,
			       n->key, sl_strerror(op->result));
		sl_manifest_op_release(op);
		s->inflight_notes = 0;
		return;
	}
	s->retry_delay_ns = 0;
	s->footer = op->footer;
	for (uint32_t i = 0; i < s->inflight_notes; i++) {
		struct xnote *done = s->head;
		/* A failed pin costs only the pin's protection, which the next refresh restores. */
		if (s->known)
			(void)pin_add(s, op->sequence + i, done->wall_ms, done->key,
				      strlen(done->key));
		s->head = done->next;
		free(done);
	}
	if (s->head == NULL)
		s->tail = NULL;
	pins_trim(s);
	sl_manifest_op_release(op);
	s->npending -= s->inflight_notes;
	ex->st.pending -= s->inflight_notes;
	s->enqueued += s->inflight_notes;
	ex->st.enqueued += s->inflight_notes;
	s->inflight_notes = 0;
}

/* Entries enqueued by one read-modify-write: many flushes waiting share one manifest write. */
#define MAX_PER_WRITE 256

static int start_enqueue(struct xstream *s)
{
	uint32_t k = 0, nmeta = 0;
	for (const struct xnote *n = s->head; n && k < MAX_PER_WRITE; n = n->next, k++)
		nmeta += n->nmeta;
	struct sl_manifest_entry_in *e = malloc(sizeof(*e) * k);
	struct sl_manifest_meta *meta = malloc(sizeof(*meta) * (nmeta ? nmeta : 1));
	if (e == NULL || meta == NULL) {
		free(e);
		free(meta);
		return SL_ENOMEM;
	}
	uint32_t i = 0, m = 0;
	for (const struct xnote *n = s->head; i < k; n = n->next, i++) {
		e[i] = (struct sl_manifest_entry_in){n->key, meta + m, n->nmeta};
		for (uint32_t j = 0; j < n->nmeta; j++, m++) {
			meta[m].start_index = j;
			meta[m].ingestion_time_ms = (int64_t)n->wall_ms;
			meta[m].payload = n->payloads + (size_t)j * SL_EXPORT_META_LEN;
			meta[m].payload_len = SL_EXPORT_META_LEN;
		}
	}
	memset(&s->op, 0, sizeof(s->op));
	s->op.done = on_op;
	s->op.user = s;
	s->state = X_ENQUEUE;
	s->inflight_notes = k;
	int rc = sl_manifest_enqueue_many(s->m, &s->op, e, k);
	free(e);
	free(meta);
	if (rc != 0)
		s->state = X_IDLE;
	return rc;
}

static int start_read(struct xstream *s)
{
	memset(&s->op, 0, sizeof(s->op));
	s->op.done = on_op;
	s->op.user = s;
	s->state = X_READ;
	int rc = sl_manifest_read(s->m, &s->op);
	if (rc != 0)
		s->state = X_IDLE;
	return rc;
}

/* Unpins the entries that passed the stream's max age; one log line for all of them. */
static void age_out(struct xstream *s)
{
	if (s->max_age_ms == 0)
		return;
	uint64_t now_ms = s->ex->now_ns / 1000000;
	uint64_t n = 0;
	for (uint32_t i = 0; i < s->npins; i++) {
		struct xpin *p = &s->pins[i];
		if (!p->expired && now_ms > p->wall_ms && now_ms - p->wall_ms > s->max_age_ms) {
			p->expired = true;
			n++;
		}
	}
	if (n == 0)
		return;
	s->dropped_max_age += n;
	s->ex->st.dropped_max_age += n;
	SL_LOG(LOG, WARNING,
	       "export: stream %s: %" PRIu64 " unacknowledged batch%s older than the export "
	       "max age (%" PRIu64 " ms) no longer kept for the exporter",
	       s->name, n, n == 1 ? "" : "es", s->max_age_ms);
}

int sl_export_poll(struct sl_export *ex, uint64_t now_ns)
{
	if (now_ns > ex->now_ns)
		ex->now_ns = now_ns;
	int work = 0;
	struct xstream **pp = &ex->streams;
	while (*pp) {
		struct xstream *s = *pp;
		work += sl_manifest_poll(s->m, ex->now_ns);
		if (s->gone && s->state == X_IDLE) {
			*pp = s->next;
			stream_free(s);
			continue;
		}
		pp = &s->next;
		if (s->gone || s->state != X_IDLE)
			continue;
		age_out(s);
		/* The first read comes first (next_refresh_ns starts at 0): it learns the pins of
		 * entries enqueued before this start. */
		bool refresh = ex->now_ns >= s->next_refresh_ns;
		int rc;
		if (refresh)
			rc = start_read(s);
		else if (s->head && ex->now_ns >= s->retry_at_ns)
			rc = start_enqueue(s);
		else
			continue;
		if (rc != 0) {
			/* The store refused the submit (full or closed): try again later. */
			if (refresh)
				s->next_refresh_ns = ex->now_ns + ex->cfg.retry_min_ns;
			else
				s->retry_at_ns = ex->now_ns + ex->cfg.retry_min_ns;
			continue;
		}
		work++;
	}
	return work;
}

bool sl_export_idle(const struct sl_export *ex)
{
	for (const struct xstream *s = ex->streams; s; s = s->next)
		if (s->state != X_IDLE || sl_manifest_inflight(s->m) > 0)
			return false;
	return true;
}

bool sl_export_pinned(void *arg, const char *key)
{
	const struct sl_export *ex = arg;
	if (ex == NULL)
		return false;
	/* A linear scan: pins are the unacknowledged flushes, and the GC asks once per object it
	 * would delete, once per GC interval. */
	for (const struct xstream *s = ex->streams; s; s = s->next) {
		if (s->gone)
			continue;
		if (!s->known)
			return true;
		for (uint32_t i = 0; i < s->npins; i++)
			if (!s->pins[i].expired && strcmp(s->pins[i].key, key) == 0)
				return true;
		for (const struct xnote *n = s->head; n; n = n->next)
			if (strcmp(n->key, key) == 0)
				return true;
	}
	return false;
}

void sl_export_stats(const struct sl_export *ex, struct sl_export_stats *out)
{
	*out = ex->st;
}

int sl_export_stream_info(const struct sl_export *ex, const char *name,
			  struct sl_export_stream_info *out)
{
	memset(out, 0, sizeof(*out));
	for (const struct xstream *s = ex->streams; s; s = s->next) {
		if (s->gone || strcmp(s->name, name) != 0)
			continue;
		out->known = s->known;
		out->length = s->footer.count;
		out->epoch = s->footer.epoch;
		out->next_sequence = s->footer.next_sequence;
		out->has_last_ack = s->footer.next_sequence > s->footer.count;
		out->last_ack =
			out->has_last_ack ? s->footer.next_sequence - s->footer.count - 1 : 0;
		out->pending = s->npending;
		out->enqueued = s->enqueued;
		out->enqueue_failed = s->enqueue_failed;
		out->dropped_max_age = s->dropped_max_age;
		return 0;
	}
	return SL_ENOTFOUND;
}

#define T struct sl_export_stats
const struct sl_stat_field sl_export_stats_fields[] = {
	SL_STAT_G(T, streams, NULL),
	SL_STAT_U(T, enqueued, NULL),
	SL_STAT_U(T, enqueue_conflicts, NULL),
	SL_STAT_U(T, enqueue_failed, NULL),
	SL_STAT_U(T, dropped_full, NULL),
	SL_STAT_U(T, dropped_max_age, NULL),
	SL_STAT_U(T, refresh_failed, NULL),
	SL_STAT_G(T, pending, NULL),
	SL_STAT_TABLE_END,
};
#undef T
