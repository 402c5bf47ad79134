/* SPDX-License-Identifier: Apache-2.0 */
#include "core/timerheap.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void sl_theap_init(struct sl_theap *h)
{
	memset(h, 0, sizeof(*h));
}

void sl_theap_fini(struct sl_theap *h)
{
	for (uint32_t i = 0; i < h->n; i++)
		h->a[i]->idx = SL_THEAP_NONE;
	free(h->a);
	memset(h, 0, sizeof(*h));
}

int sl_theap_reserve(struct sl_theap *h, uint32_t n)
{
	if (n <= h->cap)
		return 0;
	uint32_t cap = h->cap ? h->cap : 16;
	while (cap < n)
		cap = cap > UINT32_MAX / 2 ? n : cap * 2;
	struct sl_theap_node **a = realloc(h->a, (size_t)cap * sizeof(*a));
	if (a == NULL)
		return SL_ENOMEM;
	h->a = a;
	h->cap = cap;
	return 0;
}

static void place(struct sl_theap *h, uint32_t i, struct sl_theap_node *t)
{
	h->a[i] = t;
	t->idx = i;
}

static void sift_up(struct sl_theap *h, uint32_t i)
{
	struct sl_theap_node *t = h->a[i];
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (h->a[p]->due <= t->due)
			break;
		place(h, i, h->a[p]);
		i = p;
	}
	place(h, i, t);
}

static void sift_down(struct sl_theap *h, uint32_t i)
{
	struct sl_theap_node *t = h->a[i];
	for (;;) {
		uint32_t l = 2 * i + 1, m = i;
		uint64_t best = t->due;
		if (l < h->n && h->a[l]->due < best) {
			m = l;
			best = h->a[l]->due;
		}
		if (l + 1 < h->n && h->a[l + 1]->due < best)
			m = l + 1;
		if (m == i)
			break;
		place(h, i, h->a[m]);
		i = m;
	}
	place(h, i, t);
}

void sl_theap_remove(struct sl_theap *h, struct sl_theap_node *t)
{
	uint32_t i = t->idx;
	if (i == SL_THEAP_NONE)
		return;
	t->idx = SL_THEAP_NONE;
	struct sl_theap_node *last = h->a[--h->n];
	if (i == h->n)
		return;
	place(h, i, last);
	/* The node moved into the hole may belong above or below it. */
	if (i > 0 && h->a[(i - 1) / 2]->due > last->due)
		sift_up(h, i);
	else
		sift_down(h, i);
}

int sl_theap_set(struct sl_theap *h, struct sl_theap_node *t, uint64_t due)
{
	if (due == UINT64_MAX) {
		sl_theap_remove(h, t);
		t->due = due;
		return 0;
	}
	if (t->idx == SL_THEAP_NONE) {
		if (h->n == h->cap)
			return SL_ENOSPC;
		t->due = due;
		place(h, h->n++, t);
		sift_up(h, t->idx);
		return 0;
	}
	uint64_t old = t->due;
	t->due = due;
	if (due < old)
		sift_up(h, t->idx);
	else if (due > old)
		sift_down(h, t->idx);
	return 0;
}

struct sl_theap_node *sl_theap_pop_due(struct sl_theap *h, uint64_t now_ns)
{
	if (h->n == 0 || h->a[0]->due > now_ns)
		return NULL;
	struct sl_theap_node *t = h->a[0];
	sl_theap_remove(h, t);
	return t;
}
