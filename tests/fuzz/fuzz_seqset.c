/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the sequence set behind SUBSCRIBE_DROP (moq/seqset.h): the input is a script
 * of operations (collect, resolve, declare gaps, start_at, range-end queries, closing a range,
 * DROP ranges added and taken) on one set, checked after every step against a reference model
 * that is too simple to be wrong: one flag per sequence of a 256-wide window, which may sit at
 * 0, near 2^53, near 2^62 or at the very top of the space (where lo must not wrap).
 *
 * Input: byte 0 picks the window's base, byte 1 the bound on ahead[] (small bounds exercise the
 * give-up path), then operations of two bytes (op, arg); a DROP range takes two more.
 */
#include "core/err.h"
#include "moq/seqset.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

enum { W = 256, NCODES = 3 };

/* Everything at an index below lo is accounted for; taken[] also holds the groups collected
 * above it. Sequences below the window are never used, so a known start covers them. */
struct model {
	bool has_lo, has_rmax;
	uint32_t rmax; /* index in the window */
	bool taken[W];
	uint32_t drops[NCODES][W]; /* DROP reports per code and sequence not yet handed back */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t next(const uint8_t *data, size_t size, size_t *i)
{
	return *i < size ? data[(*i)++] : 0;
}

static uint32_t model_lo(const struct model *m)
{
	uint32_t lo = 0;
	while (lo < W && m->taken[lo])
		lo++;
	return lo;
}

static void take_below(struct model *m, uint32_t x)
{
	for (uint32_t i = 0; i < x; i++)
		m->taken[i] = true;
}

/* The set's state must be the model's: lo, ahead[] = what is taken above lo, the bounds. */
static void check_state(const struct sl_seqset *s, const struct model *m, uint64_t base)
{
	CHECK(s->has_lo == m->has_lo);
	CHECK(s->has_rmax == m->has_rmax);
	if (m->has_rmax)
		CHECK(s->rmax == base + m->rmax);
	CHECK(s->nahead <= s->acap && s->acap <= s->max_ahead);
	CHECK(s->max_ahead >= 1 && s->max_ahead <= SL_SEQSET_AHEAD_MAX);
	if (!m->has_lo) {
		CHECK(s->nahead == 0);
		return;
	}
	uint32_t lo = model_lo(m);
	if (lo < W) {
		CHECK(!s->all && s->lo == base + lo);
	} else if (base + (W - 1) == UINT64_MAX) {
		CHECK(s->all);
	} else {
		CHECK(!s->all && s->lo == base + W);
	}
	uint32_t k = 0;
	for (uint32_t i = lo + 1; i < W; i++) {
		if (!m->taken[i])
			continue;
		CHECK(k < s->nahead && s->ahead[k] == base + i);
		k++;
	}
	CHECK(k == s->nahead);
}

/* Declares every gap below the largest resolved group; each must be the model's next one. */
static void drain_gaps(struct sl_seqset *s, struct model *m, uint64_t base)
{
	struct sl_seqrange g;
	while (sl_seqset_next_gap(s, &g)) {
		CHECK(m->has_lo && m->has_rmax);
		uint32_t lo = model_lo(m), a = lo + 1;
		while (a < W && !m->taken[a])
			a++;
		CHECK(a < W && a <= m->rmax);
		CHECK(g.start == base + lo && g.end == base + a - 1);
		for (uint32_t i = lo; i < a; i++)
			m->taken[i] = true;
	}
	/* None left: nothing taken lies above a missing sequence at or below rmax. */
	if (m->has_lo && m->has_rmax) {
		uint32_t lo = model_lo(m);
		for (uint32_t i = lo + 1; i < W && i <= m->rmax; i++)
			CHECK(!m->taken[i]);
	}
}

static void resolve(struct sl_seqset *s, struct model *m, uint64_t base, uint32_t x)
{
	sl_seqset_resolve(s, base + x);
	if (!m->has_rmax || x > m->rmax)
		m->rmax = x;
	m->has_rmax = true;
}

static void collect(struct sl_seqset *s, struct model *m, uint64_t base, uint32_t x)
{
	if (!m->has_lo) {
		m->has_lo = true;
		take_below(m, x);
	}
	uint32_t lo = model_lo(m), nahead = 0, first = W;
	for (uint32_t i = lo + 1; i < W; i++) {
		if (m->taken[i]) {
			nahead++;
			if (first == W)
				first = i;
		}
	}
	bool full = !m->taken[x] && x != lo && nahead == s->max_ahead;
	int rc = sl_seqset_collect(s, base + x);
	if (rc == SL_EBOUNDS) {
		/* Full: the lowest collected group was given up as if resolved. */
		CHECK(full && first < W);
		if (!m->has_rmax || first > m->rmax)
			m->rmax = first;
		m->has_rmax = true;
		check_state(s, m, base);
		drain_gaps(s, m, base);
		rc = sl_seqset_collect(s, base + x);
		CHECK(rc != SL_EBOUNDS);
	} else {
		CHECK(!full);
	}
	CHECK(rc == 0 || rc == SL_EDUP);
	CHECK((rc == 0) == !m->taken[x]);
	m->taken[x] = true;
}

static void add_drop(struct sl_seqdrops *d, struct model *m, uint64_t base, uint32_t a, uint32_t b,
		     uint32_t code)
{
	struct sl_seqdrop out;
	bool was_on = d->on;
	struct sl_seqdrop prev = d->cur;
	bool flushed = sl_seqdrops_add(d, base + a, base + b, code, &out);
	for (uint32_t i = a; i <= b; i++)
		m->drops[code][i]++;
	CHECK(d->on && d->cur.code == code);
	CHECK(d->cur.start <= base + a && d->cur.end >= base + b && d->cur.start <= d->cur.end);
	if (flushed) {
		/* Only what was being built is handed back, and only when it could not grow. */
		CHECK(was_on && out.start == prev.start && out.end == prev.end &&
		      out.code == prev.code);
		CHECK(d->cur.start == base + a && d->cur.end == base + b);
	} else if (was_on) {
		CHECK(prev.code == code);
		CHECK(d->cur.end - d->cur.start == prev.end - prev.start + (b - a) + 1);
	}
	if (flushed) {
		CHECK(out.start >= base && out.start <= out.end && out.end - base < W);
		for (uint64_t i = out.start - base; i <= out.end - base; i++) {
			CHECK(m->drops[out.code][i] > 0);
			m->drops[out.code][i]--;
		}
	}
}

static void take_drop(struct sl_seqdrops *d, struct model *m, uint64_t base)
{
	struct sl_seqdrop out;
	bool was_on = d->on;
	if (!sl_seqdrops_take(d, &out)) {
		CHECK(!was_on);
		return;
	}
	CHECK(was_on && !d->on);
	CHECK(out.start >= base && out.start <= out.end && out.end - base < W);
	for (uint64_t i = out.start - base; i <= out.end - base; i++) {
		CHECK(m->drops[out.code][i] > 0);
		m->drops[out.code][i]--;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t bases[] = {0, (UINT64_C(1) << 53) - 128, UINT64_C(1) << 62,
					 UINT64_MAX - (W - 1)};
	size_t i = 0;
	uint64_t base = bases[next(data, size, &i) % 4];
	uint8_t cfg = next(data, size, &i);
	struct sl_seqset s;
	sl_seqset_init(&s, cfg & 0x80 ? 0 : 1 + (cfg & 15));
	struct sl_seqdrops d = {0};
	struct model *m = calloc(1, sizeof(*m));
	CHECK(m != NULL);
	while (i < size) {
		uint8_t op = next(data, size, &i), x = next(data, size, &i);
		struct sl_seqrange r;
		switch (op % 10) {
		case 0:
		case 1:
		case 2:
			collect(&s, m, base, x);
			break;
		case 3:
			resolve(&s, m, base, x);
			break;
		case 4:
			drain_gaps(&s, m, base);
			break;
		case 5: {
			bool moved = !m->has_lo || x > model_lo(m);
			CHECK(sl_seqset_start_at(&s, base + x) == moved);
			if (moved) {
				m->has_lo = true;
				take_below(m, x);
			}
			break;
		}
		case 6: {
			bool done = m->has_lo && model_lo(m) > x;
			CHECK(sl_seqset_done_through(&s, base + x) == done);
			bool missing = m->has_lo && model_lo(m) <= x;
			CHECK(sl_seqset_missing_through(&s, base + x, &r) == missing);
			if (missing)
				CHECK(r.start == base + model_lo(m) && r.end == base + x);
			break;
		}
		case 7:
			/* A bounded range closed at x, as the session does it: the end counts as
			 * resolved, the gaps below it go, then whatever is still missing. */
			resolve(&s, m, base, x);
			drain_gaps(&s, m, base);
			if (sl_seqset_missing_through(&s, base + x, &r)) {
				CHECK(m->has_lo && r.start == base + model_lo(m) &&
				      r.end == base + x);
				add_drop(&d, m, base, model_lo(m), x, 0);
			}
			break;
		case 8: {
			uint8_t len = next(data, size, &i), code = next(data, size, &i);
			uint32_t b = (uint32_t)x + len % 8;
			add_drop(&d, m, base, x, b < W ? b : W - 1, code % NCODES);
			break;
		}
		case 9:
			take_drop(&d, m, base);
			break;
		}
		check_state(&s, m, base);
	}
	/* Every DROP reported was handed back exactly once. */
	take_drop(&d, m, base);
	for (uint32_t c = 0; c < NCODES; c++)
		for (uint32_t k = 0; k < W; k++)
			CHECK(m->drops[c][k] == 0);
	sl_seqset_fini(&s);
	free(m);
	return 0;
}
