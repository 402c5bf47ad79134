/* SPDX-License-Identifier: Apache-2.0 */
#include "log/metalog.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/* A subscriber stays on one partition for at most this many records before it looks at the
 * next one, so a long backlog on one partition cannot starve the others. */
#define SUB_BURST 64

#define SLOT_NONE UINT32_MAX

/*
 * One partition: records live in fixed-size chunks of slices indexed by offset, so a lookup is
 * two array reads and appending allocates only once per chunk. Offsets in [start, visible) are
 * durable and readable; [visible, assigned) are in the store's hands; below start they were
 * trimmed. The chunk directory is a sliding window: chunks[0] holds chunk number chunk_base,
 * and trimming frees the chunks wholly below start and slides the window down.
 */
struct part {
	struct sl_slice **chunks;
	uint32_t nchunks;
	uint32_t chunks_cap;
	uint64_t chunk_base; /* chunk number of chunks[0] */
	int64_t start;	     /* lowest offset still held */
	int64_t visible;
	int64_t assigned;
	int last_err; /* the store's last failure, for a publish that failed inside append */
	struct sl_metalog_pub *pend_head;
	struct sl_metalog_pub *pend_tail;
	struct sl_waitq readers; /* cursor waiters of subscriptions waiting for a new record */
};

struct sl_metalog {
	struct part *parts;
	uint32_t nparts;
	uint32_t chunk_shift;
	uint64_t chunk_mask;
	uint32_t retain; /* cfg.retain_records: 0 keeps everything */
	bool closed;
	const struct sl_metalog_store_ops *store;
	void *store_ctx;
	struct sl_metalog_sub *subs; /* every live subscription, for free() and the counters */
	struct sl_metalog_stats stats;
};

struct cursor {
	int64_t next;		    /* next offset to deliver */
	struct sl_waiter w;	    /* armed on the partition's readers queue while waiting */
	struct sl_metalog_sub *sub; /* back pointer for the wake function */
	uint32_t slot;		    /* index in sub->order, SLOT_NONE when not assigned */
};

struct sl_metalog_sub {
	struct sl_metalog *log; /* NULL once the log was freed */
	struct sl_metalog_sub *prev;
	struct sl_metalog_sub *next;
	struct sl_waitq user; /* the subscriber's own waiter, armed by a poll that found nothing */
	uint32_t nparts;      /* size of curs[] and order[]: the log's partition count */
	uint32_t nassigned;
	uint32_t rr;	     /* index in order[] the next poll starts from */
	uint32_t burst;	     /* records delivered from order[rr] in a row */
	uint32_t *order;     /* assigned partitions, unordered, dense */
	struct cursor *curs; /* one per partition of the log */
};

void sl_metalog_config_default(struct sl_metalog_config *c)
{
	memset(c, 0, sizeof(*c));
	c->partitions = 1;
	c->chunk_records = 1024;
}

static struct sl_slice *slot_at(const struct sl_metalog *log, const struct part *p, int64_t off)
{
	uint64_t o = (uint64_t)off;
	return &p->chunks[(o >> log->chunk_shift) - p->chunk_base][o & log->chunk_mask];
}

int sl_metalog_new(const struct sl_metalog_config *cfg, struct sl_metalog **out)
{
	struct sl_metalog_config def;
	if (cfg == NULL) {
		sl_metalog_config_default(&def);
		cfg = &def;
	}
	if (out == NULL || cfg->partitions == 0 || cfg->partitions > SL_METALOG_MAX_PARTITIONS)
		return SL_EINVAL;
	if (cfg->store != NULL && (cfg->store->append == NULL || cfg->store->recover == NULL))
		return SL_EINVAL;
	struct sl_metalog *log = calloc(1, sizeof(*log));
	if (log == NULL)
		return SL_ENOMEM;
	log->parts = calloc(cfg->partitions, sizeof(*log->parts));
	if (log->parts == NULL) {
		free(log);
		return SL_ENOMEM;
	}
	uint32_t want = cfg->chunk_records ? cfg->chunk_records : 1024;
	if (want > (UINT32_C(1) << 24))
		want = UINT32_C(1) << 24;
	uint32_t shift = 0;
	while ((UINT32_C(1) << shift) < want)
		shift++;
	log->chunk_shift = shift;
	log->chunk_mask = (UINT64_C(1) << shift) - 1;
	log->nparts = cfg->partitions;
	log->retain = cfg->retain_records;
	log->store = cfg->store;
	log->store_ctx = cfg->store_ctx;
	for (uint32_t i = 0; i < log->nparts; i++)
		sl_waitq_init(&log->parts[i].readers);
	*out = log;
	return 0;
}

static void pub_complete(struct sl_metalog_pub *pub, int status)
{
	pub->next = NULL;
	pub->status = status;
	sl_waitq_wake_all(&pub->waiters);
}

void sl_metalog_free(struct sl_metalog *log)
{
	if (log == NULL)
		return;
	/* Detach subscriptions first: their cursor waiters sit on queues inside log->parts. */
	struct sl_metalog_sub *s;
	while ((s = log->subs) != NULL) {
		log->subs = s->next;
		s->prev = s->next = NULL;
		for (uint32_t i = 0; i < s->nassigned; i++)
			sl_waiter_cancel(&s->curs[s->order[i]].w);
		s->log = NULL;
		sl_waitq_wake_all(&s->user);
	}
	for (uint32_t i = 0; i < log->nparts; i++) {
		struct part *p = &log->parts[i];
		struct sl_metalog_pub *pub;
		while ((pub = p->pend_head) != NULL) {
			p->pend_head = pub->next;
			pub_complete(pub, SL_ECLOSED);
		}
		for (int64_t off = p->start; off < p->assigned; off++)
			sl_buf_unref(slot_at(log, p, off)->buf);
		for (uint32_t c = 0; c < p->nchunks; c++)
			free(p->chunks[c]);
		free(p->chunks);
	}
	free(log->parts);
	free(log);
}

uint32_t sl_metalog_partition_count(const struct sl_metalog *log)
{
	return log->nparts;
}

static int part_index(const struct sl_metalog *log, int32_t partition)
{
	if (partition < 0 || (uint32_t)partition >= log->nparts)
		return SL_EINVAL;
	return 0;
}

/* Makes room for offset off; allocates a chunk (and grows the chunk directory) only at chunk
 * boundaries. */
static int part_reserve(struct sl_metalog *log, struct part *p, int64_t off)
{
	uint64_t ci = (uint64_t)off >> log->chunk_shift;
	if (p->nchunks == 0)
		p->chunk_base = ci; /* empty window (new, or trimmed to its end): start it here */
	uint64_t rel = ci - p->chunk_base;
	if (rel < p->nchunks)
		return 0;
	if (rel >= UINT32_MAX)
		return SL_EBOUNDS;
	if (p->nchunks == p->chunks_cap) {
		uint32_t cap = p->chunks_cap ? p->chunks_cap * 2 : 8;
		struct sl_slice **nc = realloc(p->chunks, (size_t)cap * sizeof(*nc));
		if (nc == NULL)
			return SL_ENOMEM;
		p->chunks = nc;
		p->chunks_cap = cap;
	}
	struct sl_slice *chunk = calloc((size_t)log->chunk_mask + 1, sizeof(*chunk));
	if (chunk == NULL)
		return SL_ENOMEM;
	p->chunks[p->nchunks++] = chunk;
	log->stats.chunks++;
	return 0;
}

/*
 * Frees the records of partition pi below `below`, clamped so that nothing a reader still
 * needs goes: never at or above the high-water mark (pending records stay with the store), and
 * never at or above the position of any live subscription that has the partition assigned. The
 * payload references are dropped record by record; chunks wholly below the new start are freed
 * and the chunk directory slides down. Returns the number of records freed.
 */
static uint64_t part_trim(struct sl_metalog *log, struct part *p, uint32_t pi, int64_t below)
{
	if (below > p->visible)
		below = p->visible;
	if (below <= p->start)
		return 0;
	for (const struct sl_metalog_sub *s = log->subs; s != NULL; s = s->next) {
		const struct cursor *c = &s->curs[pi];
		if (c->slot != SLOT_NONE && c->next < below)
			below = c->next;
	}
	if (below <= p->start)
		return 0;
	uint64_t n = (uint64_t)(below - p->start);
	for (int64_t off = p->start; off < below; off++) {
		struct sl_slice *sl = slot_at(log, p, off);
		log->stats.bytes -= sl->len;
		sl_buf_unref(sl->buf);
		sl->buf = NULL;
	}
	p->start = below;
	uint64_t want = ((uint64_t)below >> log->chunk_shift) - p->chunk_base;
	uint32_t nfree = want < p->nchunks ? (uint32_t)want : p->nchunks;
	if (nfree > 0) {
		for (uint32_t i = 0; i < nfree; i++)
			free(p->chunks[i]);
		memmove(p->chunks, p->chunks + nfree,
			(size_t)(p->nchunks - nfree) * sizeof(*p->chunks));
		p->nchunks -= nfree;
		p->chunk_base += nfree;
		log->stats.chunks -= nfree;
	}
	log->stats.trimmed += n;
	return n;
}

/* retain_records: keeps at most that many records below the high-water mark. Checked after
 * every publish completion; it only walks the subscriptions when there is something to trim. */
static void auto_trim(struct sl_metalog *log, uint32_t pi)
{
	struct part *p = &log->parts[pi];
	if (log->retain != 0 && p->visible - p->start > (int64_t)log->retain)
		part_trim(log, p, pi, p->visible - (int64_t)log->retain);
}

static int load_one(void *arg, int32_t partition, int64_t offset, struct sl_slice payload)
{
	struct sl_metalog *log = arg;
	int rc = SL_EINVAL;
	if (payload.buf == NULL)
		return SL_EINVAL;
	if (part_index(log, partition) < 0)
		goto fail;
	struct part *p = &log->parts[partition];
	rc = SL_ERANGE;
	if (offset != p->assigned || p->visible != p->assigned)
		goto fail;
	rc = part_reserve(log, p, offset);
	if (rc < 0)
		goto fail;
	*slot_at(log, p, offset) = payload;
	p->assigned = p->visible = offset + 1;
	log->stats.recovered++;
	log->stats.bytes += payload.len;
	return 0;
fail:
	sl_buf_unref(payload.buf);
	return rc;
}

int sl_metalog_recover(struct sl_metalog *log)
{
	if (log->store == NULL)
		return SL_ENOTSUP;
	if (log->stats.published != 0 || log->stats.pending != 0 || log->stats.recovered != 0)
		return SL_EBUSY;
	/* A store that trimmed its files starts each partition where its data starts; the
	 * engine's offsets carry on from there, so a publisher never reuses a trimmed offset. */
	for (uint32_t i = 0; log->store->start != NULL && i < log->nparts; i++) {
		int64_t start = 0;
		int e = log->store->start(log->store_ctx, (int32_t)i, &start);
		if (e < 0)
			return e;
		if (start < 0)
			return SL_ERANGE;
		struct part *p = &log->parts[i];
		p->start = p->visible = p->assigned = start;
		/* A subscription made before recovery asked for records that are gone: it
		 * begins at the first one that is left. */
		for (struct sl_metalog_sub *s = log->subs; s != NULL; s = s->next)
			if (s->curs[i].slot != SLOT_NONE && s->curs[i].next < start)
				s->curs[i].next = start;
	}
	int rc = log->store->recover(log->store_ctx, load_one, log);
	/* Subscribers that attached before recovery must learn about the loaded records; with
	 * retain_records, what they do not need of a long history is let go at once. */
	for (uint32_t i = 0; i < log->nparts; i++) {
		auto_trim(log, i);
		sl_waitq_wake_all(&log->parts[i].readers);
	}
	return rc;
}

/*
 * Undoes a publish whose record the store refused. The store may have reported earlier records
 * from inside append before refusing (store_done is allowed at any time), so only what is still
 * the engine's is undone:
 *
 * - the record is still pending (assigned > off): it is the last one, so it is dropped, its
 *   payload released and its offset handed back;
 * - a failure reported inside append already dropped it (assigned <= off): store_done released
 *   its payload, completed pub and moved assigned back to the durable end. Releasing or
 *   rewinding again would free the payload twice and open a hole at [visible, off). It is
 *   counted as refused, not failed;
 * - the store reported it durable and then refused it (visible > off), which breaks the store
 *   contract: the record is visible and may have been read, so it stays and counts as published.
 */
static int publish_refused(struct sl_metalog *log, struct part *p, int64_t off,
			   struct sl_metalog_pub *pub, int rc)
{
	if (p->visible > off)
		return 0;
	if (p->assigned <= off) {
		/* The failure counted the record as failed; it was refused instead. */
		log->stats.failed--;
		if (pub)
			pub->status = rc;
		return rc;
	}
	if (pub) {
		struct sl_metalog_pub **pp = &p->pend_head, *prev = NULL;
		while (*pp && *pp != pub) {
			prev = *pp;
			pp = &(*pp)->next;
		}
		if (*pp) {
			*pp = pub->next;
			p->pend_tail = prev;
		}
		pub->next = NULL;
		pub->status = rc;
	}
	struct sl_slice *s = slot_at(log, p, off);
	struct sl_buf *buf = s->buf;
	log->stats.bytes -= s->len;
	s->buf = NULL;
	p->assigned = off;
	log->stats.pending--;
	sl_buf_unref(buf);
	return rc;
}

int sl_metalog_publish(struct sl_metalog *log, int32_t partition, struct sl_slice payload,
		       struct sl_metalog_pub *pub, int64_t *offset)
{
	int rc;
	if (payload.buf == NULL)
		return SL_EINVAL;
	if (part_index(log, partition) < 0) {
		rc = SL_EINVAL;
		goto fail;
	}
	if (log->closed) {
		rc = SL_ECLOSED;
		goto fail;
	}
	struct part *p = &log->parts[partition];
	int64_t off = p->assigned;
	if (off == INT64_MAX) {
		rc = SL_EBOUNDS;
		goto fail;
	}
	rc = part_reserve(log, p, off);
	if (rc < 0)
		goto fail;
	*slot_at(log, p, off) = payload;
	p->assigned = off + 1;
	log->stats.bytes += payload.len;
	if (offset)
		*offset = off;

	if (log->store == NULL) {
		p->visible = p->assigned;
		log->stats.published++;
		if (pub) {
			pub->next = NULL;
			sl_waitq_init(&pub->waiters);
			pub->offset = off;
			pub->partition = partition;
			pub->status = 0;
		}
		sl_waitq_wake_all(&p->readers);
		auto_trim(log, (uint32_t)partition);
		return 0;
	}

	if (pub) {
		pub->next = NULL;
		sl_waitq_init(&pub->waiters);
		pub->offset = off;
		pub->partition = partition;
		pub->status = SL_EAGAIN;
		if (p->pend_tail)
			p->pend_tail->next = pub;
		else
			p->pend_head = pub;
		p->pend_tail = pub;
	}
	log->stats.pending++;
	rc = log->store->append(log->store_ctx, partition, off, payload);
	if (rc < 0)
		return publish_refused(log, p, off, pub, rc);
	/* The store may have completed the record before returning (a synchronous store). */
	if (p->visible > off)
		return 0;
	if (p->assigned <= off)
		return p->last_err;
	return SL_EAGAIN;
fail:
	sl_buf_unref(payload.buf);
	return rc;
}

int sl_metalog_pub_poll(struct sl_metalog_pub *pub, struct sl_waiter *w)
{
	if (pub->status == SL_EAGAIN)
		sl_waitq_add(&pub->waiters, w);
	return pub->status;
}

void sl_metalog_pub_forget(struct sl_metalog *log, struct sl_metalog_pub *pub)
{
	if (pub->status != SL_EAGAIN || part_index(log, pub->partition) < 0)
		return;
	struct part *p = &log->parts[pub->partition];
	struct sl_metalog_pub **pp = &p->pend_head, *prev = NULL;
	while (*pp && *pp != pub) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp == NULL)
		return;
	*pp = pub->next;
	if (p->pend_tail == pub)
		p->pend_tail = prev;
	pub->next = NULL;
	while (pub->waiters.head)
		sl_waiter_cancel(pub->waiters.head);
}

int sl_metalog_store_done(struct sl_metalog *log, int32_t partition, int64_t end, int rc)
{
	if (part_index(log, partition) < 0 || rc > 0)
		return SL_EINVAL;
	struct part *p = &log->parts[partition];
	if (rc == 0) {
		if (end < p->visible || end > p->assigned)
			return SL_ERANGE;
		uint64_t n = (uint64_t)(end - p->visible);
		p->visible = end;
		log->stats.published += n;
		log->stats.pending -= n;
		struct sl_metalog_pub *pub;
		while ((pub = p->pend_head) != NULL && pub->offset < end) {
			p->pend_head = pub->next;
			if (p->pend_head == NULL)
				p->pend_tail = NULL;
			pub_complete(pub, 0);
		}
		auto_trim(log, (uint32_t)partition);
	} else {
		/* Everything not yet durable failed: drop it and hand its offsets back, so the next
		 * publish reuses them and subscribers never see a hole. */
		for (int64_t off = p->visible; off < p->assigned; off++) {
			struct sl_slice *s = slot_at(log, p, off);
			log->stats.bytes -= s->len;
			sl_buf_unref(s->buf);
			s->buf = NULL;
		}
		uint64_t n = (uint64_t)(p->assigned - p->visible);
		log->stats.failed += n;
		log->stats.pending -= n;
		p->assigned = p->visible;
		p->last_err = rc;
		struct sl_metalog_pub *pub;
		while ((pub = p->pend_head) != NULL) {
			p->pend_head = pub->next;
			pub_complete(pub, rc);
		}
		p->pend_tail = NULL;
	}
	sl_waitq_wake_all(&p->readers);
	return 0;
}

void sl_metalog_close(struct sl_metalog *log)
{
	if (log->closed)
		return;
	log->closed = true;
	/* Waiting subscribers may now be at their end. */
	for (uint32_t i = 0; i < log->nparts; i++)
		sl_waitq_wake_all(&log->parts[i].readers);
}

int sl_metalog_high_water_mark(const struct sl_metalog *log, int32_t partition, int64_t *hwm)
{
	if (part_index(log, partition) < 0)
		return SL_EINVAL;
	*hwm = log->parts[partition].visible;
	return 0;
}

int sl_metalog_high_water_marks(const struct sl_metalog *log, int64_t *hwms, size_t n)
{
	if (n < log->nparts)
		return SL_EINVAL;
	for (uint32_t i = 0; i < log->nparts; i++)
		hwms[i] = log->parts[i].visible;
	return 0;
}

int sl_metalog_trim(struct sl_metalog *log, int32_t partition, int64_t below)
{
	if (log == NULL || part_index(log, partition) < 0 || below < 0)
		return SL_EINVAL;
	part_trim(log, &log->parts[partition], (uint32_t)partition, below);
	return 0;
}

int sl_metalog_start_offset(const struct sl_metalog *log, int32_t partition, int64_t *start)
{
	if (log == NULL || start == NULL || part_index(log, partition) < 0)
		return SL_EINVAL;
	*start = log->parts[partition].start;
	return 0;
}

void sl_metalog_stats(const struct sl_metalog *log, struct sl_metalog_stats *out)
{
	*out = log->stats;
}

/* ---- subscriptions ---- */

static void cursor_wake(struct sl_waiter *w)
{
	struct cursor *c = (struct cursor *)((char *)w - offsetof(struct cursor, w));
	/* Other cursors of the same subscription may stay armed; their later wakes find the user
	 * queue empty and do nothing. */
	sl_waitq_wake_all(&c->sub->user);
}

static void sub_assign(struct sl_metalog_sub *s, int32_t partition, int64_t start)
{
	struct cursor *c = &s->curs[partition];
	c->next = start;
	c->slot = s->nassigned;
	s->order[s->nassigned++] = (uint32_t)partition;
}

int sl_metalog_subscribe(struct sl_metalog *log, const struct sl_metalog_start *assignment,
			 size_t n, struct sl_metalog_sub **out)
{
	if (log == NULL || out == NULL || (n > 0 && assignment == NULL))
		return SL_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (part_index(log, assignment[i].partition) < 0 || assignment[i].start_offset < 0)
			return SL_EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (assignment[i].start_offset < log->parts[assignment[i].partition].start)
			return SL_ERANGE; /* trimmed: those records are gone from memory */
	}
	struct sl_metalog_sub *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return SL_ENOMEM;
	s->curs = calloc(log->nparts, sizeof(*s->curs));
	s->order = calloc(log->nparts, sizeof(*s->order));
	if (s->curs == NULL || s->order == NULL) {
		free(s->curs);
		free(s->order);
		free(s);
		return SL_ENOMEM;
	}
	s->nparts = log->nparts;
	for (uint32_t i = 0; i < log->nparts; i++) {
		s->curs[i].slot = SLOT_NONE;
		s->curs[i].sub = s;
		sl_waiter_init(&s->curs[i].w, cursor_wake);
	}
	for (size_t i = 0; i < n; i++) {
		if (s->curs[assignment[i].partition].slot != SLOT_NONE) {
			free(s->curs);
			free(s->order);
			free(s);
			return SL_EDUP;
		}
		sub_assign(s, assignment[i].partition, assignment[i].start_offset);
	}
	sl_waitq_init(&s->user);
	s->log = log;
	s->next = log->subs;
	if (log->subs)
		log->subs->prev = s;
	log->subs = s;
	log->stats.subscriptions++;
	*out = s;
	return 0;
}

void sl_metalog_unsubscribe(struct sl_metalog_sub *s)
{
	if (s == NULL)
		return;
	for (uint32_t i = 0; i < s->nassigned; i++)
		sl_waiter_cancel(&s->curs[s->order[i]].w);
	while (s->user.head)
		sl_waiter_cancel(s->user.head);
	struct sl_metalog *log = s->log;
	if (log) {
		if (s->prev)
			s->prev->next = s->next;
		else
			log->subs = s->next;
		if (s->next)
			s->next->prev = s->prev;
		log->stats.subscriptions--;
	}
	free(s->curs);
	free(s->order);
	free(s);
}

int sl_metalog_sub_poll(struct sl_metalog_sub *s, struct sl_waiter *w,
			struct sl_metalog_record *out)
{
	struct sl_metalog *log = s->log;
	if (log == NULL)
		return SL_ECLOSED;
	uint32_t n = s->nassigned;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t idx = s->rr + i;
		if (idx >= n)
			idx -= n;
		uint32_t pi = s->order[idx];
		struct cursor *c = &s->curs[pi];
		const struct part *p = &log->parts[pi];
		if (c->next >= p->visible)
			continue;
		out->partition = (int32_t)pi;
		out->offset = c->next;
		out->payload = *slot_at(log, p, c->next);
		c->next++;
		log->stats.delivered++;
		if (idx != s->rr) {
			s->rr = idx;
			s->burst = 0;
		}
		if (++s->burst >= SUB_BURST) {
			s->rr = idx + 1 < n ? idx + 1 : 0;
			s->burst = 0;
		}
		return 0;
	}
	if (log->closed && log->stats.pending == 0)
		return SL_EEOF;
	if (w) {
		sl_waitq_add(&s->user, w);
		for (uint32_t i = 0; i < n; i++) {
			uint32_t pi = s->order[i];
			if (!sl_waiter_armed(&s->curs[pi].w))
				sl_waitq_add(&log->parts[pi].readers, &s->curs[pi].w);
		}
	}
	return SL_EAGAIN;
}

int sl_metalog_sub_add(struct sl_metalog_sub *s, struct sl_metalog_start start)
{
	if (s->log == NULL)
		return SL_ECLOSED;
	if (part_index(s->log, start.partition) < 0 || start.start_offset < 0)
		return SL_EINVAL;
	if (s->curs[start.partition].slot != SLOT_NONE)
		return 0;
	if (start.start_offset < s->log->parts[start.partition].start)
		return SL_ERANGE;
	sub_assign(s, start.partition, start.start_offset);
	/* A poller waiting right now is not armed on this partition yet: wake it so it polls
	 * again (and finds the backlog, or re-arms on every assigned partition). */
	sl_waitq_wake_all(&s->user);
	return 0;
}

int sl_metalog_sub_remove(struct sl_metalog_sub *s, int32_t partition)
{
	if (partition < 0 || (uint32_t)partition >= s->nparts)
		return SL_EINVAL;
	struct cursor *c = &s->curs[partition];
	if (c->slot == SLOT_NONE)
		return 0;
	sl_waiter_cancel(&c->w);
	/* Swap-remove keeps order[] dense; cross-partition order carries no promise. */
	uint32_t last = s->order[--s->nassigned];
	if (c->slot != s->nassigned) {
		s->order[c->slot] = last;
		s->curs[last].slot = c->slot;
	}
	c->slot = SLOT_NONE;
	if (s->rr >= s->nassigned) {
		s->rr = 0;
		s->burst = 0;
	}
	return 0;
}

int sl_metalog_sub_assigned(const struct sl_metalog_sub *s, int32_t *parts, size_t cap, size_t *n)
{
	size_t k = 0;
	for (uint32_t i = 0; i < s->nparts; i++) {
		if (s->curs[i].slot == SLOT_NONE)
			continue;
		if (k < cap)
			parts[k] = (int32_t)i;
		k++;
	}
	*n = k;
	return k > cap ? SL_ENOSPC : 0;
}

int sl_metalog_sub_position(const struct sl_metalog_sub *s, int32_t partition, int64_t *next)
{
	if (partition < 0 || (uint32_t)partition >= s->nparts)
		return SL_EINVAL;
	const struct cursor *c = &s->curs[partition];
	if (c->slot == SLOT_NONE)
		return SL_ENOTFOUND;
	*next = c->next;
	return 0;
}

#define T struct sl_metalog_stats
const struct sl_stat_field sl_metalog_stats_fields[] = {
	SL_STAT_U(T, published, NULL),	   SL_STAT_U(T, recovered, NULL),
	SL_STAT_G(T, pending, NULL),	   SL_STAT_U(T, failed, NULL),
	SL_STAT_G(T, bytes, NULL),	   SL_STAT_U(T, delivered, NULL),
	SL_STAT_U(T, trimmed, NULL),	   SL_STAT_G(T, chunks, NULL),
	SL_STAT_G(T, subscriptions, NULL), SL_STAT_TABLE_END,
};
#undef T
