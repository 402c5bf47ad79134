/* SPDX-License-Identifier: Apache-2.0 */
#include "append_peer.h"

#include "core/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEC UINT64_C(1000000000)

void sl_peer_error(struct sl_peer_prod *p, const char *fmt, ...)
{
	if (p->error[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
}

void sl_peer_ack(struct sl_peer_prod *p, uint64_t now, uint64_t latency_ns)
{
	if (now < p->measure_from || now >= p->end)
		return;
	p->acked++;
	p->bytes += p->o->size;
	sl_bench_samples_add(&p->lat, latency_ns);
}

static void sleep_until(uint64_t t)
{
	for (uint64_t now = sl_clock_now_ns(); now < t; now = sl_clock_now_ns()) {
		uint64_t d = t - now;
		struct timespec ts = {(time_t)(d / SEC), (long)(d % SEC)};
		nanosleep(&ts, NULL);
	}
}

int sl_peer_run(const struct sl_append_opts *o, struct sl_append_result *r,
		int (*setup)(struct sl_peer_prod *p), void *(*fn)(void *p),
		void (*teardown)(struct sl_peer_prod *p))
{
	struct sl_peer_prod *ps = calloc(o->producers, sizeof(*ps));
	pthread_t *th = calloc(o->producers, sizeof(*th));
	int rc = 0;
	uint64_t ready = 0, started = 0;
	if (ps == NULL || th == NULL) {
		fprintf(stderr, "shardline-bench: append: out of memory\n");
		rc = 2;
		goto out;
	}
	for (; ready < o->producers; ready++) {
		struct sl_peer_prod *p = &ps[ready];
		p->o = o;
		p->id = (uint32_t)ready;
		pthread_mutex_init(&p->lock, NULL);
		if (setup(p) != 0) {
			pthread_mutex_destroy(&p->lock);
			rc = 2;
			goto out;
		}
	}
	uint64_t start = sl_clock_now_ns();
	for (uint64_t i = 0; i < o->producers; i++) {
		ps[i].measure_from = start + o->warmup * SEC;
		ps[i].end = ps[i].measure_from + o->duration * SEC;
	}
	for (; started < o->producers; started++)
		if (pthread_create(&th[started], NULL, fn, &ps[started]) != 0) {
			fprintf(stderr, "shardline-bench: append: cannot start a thread\n");
			rc = 2;
			break;
		}
	if (started == o->producers) {
		sleep_until(ps[0].measure_from);
		double cpu0 = sl_append_cpu_us((long)o->server_pid);
		sleep_until(ps[0].end);
		double cpu1 = sl_append_cpu_us((long)o->server_pid);
		r->server_cpu_us = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
	}
	for (uint64_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	r->seconds = (double)o->duration;
	for (uint64_t i = 0; i < o->producers && rc == 0; i++) {
		struct sl_peer_prod *p = &ps[i];
		r->acked += p->acked;
		r->failed += p->failed;
		r->bytes += p->bytes;
		for (uint64_t k = 0; k < p->lat.n; k++)
			sl_bench_samples_add(&r->lat, (uint64_t)p->lat.v[k] * 1000);
		if (p->error[0])
			sl_append_error(r, "producer %u: %s", p->id, p->error);
	}
out:
	for (uint64_t i = 0; i < ready; i++) {
		teardown(&ps[i]);
		sl_bench_samples_free(&ps[i].lat);
		pthread_mutex_destroy(&ps[i].lock);
	}
	free(ps);
	free(th);
	return rc;
}
