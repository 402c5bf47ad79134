/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shardline-bench append redis://HOST:PORT: the same load against Redis streams, through
 * hiredis. Partition p of stream S is the key S.<p>; each record is one XADD of a field "v"
 * holding the record. A producer is one connection on its own thread with a blocking context
 * and K commands pipelined: it queues commands until K are outstanding, then each reply read
 * (redisGetReply first writes what is queued) frees room for the next command. Redis answers
 * a connection's commands in order, so the send times sit in a ring, oldest first.
 *
 * What the acknowledgement means is the server's: with appendonly yes and appendfsync always,
 * Redis fsyncs its append-only file before it answers the commands of one event loop pass
 * (bench/durable_compare.sh starts it so).
 */
#include "append_peer.h"

#include "control/ctl_log.h"
#include "core/clock.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rclient {
	redisContext *c;
	uint64_t *sent; /* ring of the outstanding commands' send times */
	uint8_t *rec;
};

static int rsetup(struct sl_peer_prod *p)
{
	const struct sl_append_opts *o = p->o;
	struct rclient *rc = calloc(1, sizeof(*rc));
	if (rc == NULL)
		return -1;
	struct timeval tv = {5, 0};
	rc->c = redisConnectWithTimeout(o->host, o->port, tv);
	if (rc->c == NULL || rc->c->err) {
		fprintf(stderr, "shardline-bench: append: cannot connect to %s: %s\n", o->url,
			rc->c ? rc->c->errstr : "out of memory");
		goto fail;
	}
	/* The reply to a command queued behind K - 1 others may take a while on a slow disk. */
	struct timeval rt = {30, 0};
	redisSetTimeout(rc->c, rt);
	redisReply *rep = redisCommand(rc->c, "PING");
	if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "shardline-bench: append: %s does not answer PING: %s\n", o->url,
			rep ? rep->str : rc->c->errstr);
		if (rep)
			freeReplyObject(rep);
		goto fail;
	}
	freeReplyObject(rep);
	rc->sent = calloc(o->in_flight, sizeof(*rc->sent));
	rc->rec = malloc(o->size);
	if (rc->sent == NULL || rc->rec == NULL)
		goto fail;
	memset(rc->rec, 0x5a, o->size);
	p->client = rc;
	return 0;
fail:
	if (rc->c)
		redisFree(rc->c);
	free(rc->sent);
	free(rc->rec);
	free(rc);
	return -1;
}

static void *rproduce(void *arg)
{
	struct sl_peer_prod *p = arg;
	const struct sl_append_opts *o = p->o;
	struct rclient *rc = p->client;
	uint64_t head = 0, count = 0, seq = 0;
	uint32_t part = p->id;
	for (;;) {
		uint64_t now = sl_clock_now_ns();
		bool sending = now < p->end;
		if (!sending && count == 0)
			break;
		while (sending && count < o->in_flight) {
			sl_rec_stamp(rc->rec, o->size, sl_clock_wall_ns(), seq++);
			if (redisAppendCommand(rc->c, "XADD %s.%u * v %b", o->stream,
					       part++ % (uint32_t)o->partitions, rc->rec,
					       (size_t)o->size) != REDIS_OK) {
				sl_peer_error(p, "XADD: %s", rc->c->errstr);
				p->failed += count + 1;
				return NULL;
			}
			rc->sent[(head + count++) % o->in_flight] = sl_clock_now_ns();
		}
		redisReply *rep = NULL;
		if (redisGetReply(rc->c, (void **)&rep) != REDIS_OK) {
			sl_peer_error(p, "the connection failed: %s", rc->c->errstr);
			p->failed += count;
			return NULL;
		}
		now = sl_clock_now_ns();
		uint64_t sent = rc->sent[head];
		head = (head + 1) % o->in_flight;
		count--;
		if (rep->type == REDIS_REPLY_ERROR) {
			p->failed++;
			sl_peer_error(p, "XADD: %s", rep->str);
		} else {
			sl_peer_ack(p, now, now - sent);
		}
		freeReplyObject(rep);
	}
	return NULL;
}

static void rteardown(struct sl_peer_prod *p)
{
	struct rclient *rc = p->client;
	if (rc == NULL)
		return;
	redisFree(rc->c);
	free(rc->sent);
	free(rc->rec);
	free(rc);
	p->client = NULL;
}

int sl_append_redis(const struct sl_append_opts *o, struct sl_append_result *r)
{
	return sl_peer_run(o, r, rsetup, rproduce, rteardown);
}
