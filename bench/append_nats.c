/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shardline-bench append nats://HOST:PORT: the same load against NATS JetStream, through the
 * NATS C client. Stream S is one JetStream stream with file storage on the subjects S.>,
 * created when missing; partition p is the subject S.<p>. A producer is one connection on its
 * own thread publishing with js_PublishAsync, the library holding at most K publishes pending
 * (PublishAsync.MaxPending: a publish past it waits for an acknowledgement). Acknowledgements
 * arrive on a library thread, in the ack handler, which reads the record's send-time stamp
 * (sl_rec_stamp, wall clock) for the latency.
 *
 * Publishers write each message at once (natsOptions_SetSendAsap), as the fan-out path does,
 * rather than leave it to the library's flusher thread. What an acknowledgement means is the
 * server's: nats-server stores the message in its file store's write buffer and page cache and
 * syncs to disk every sync_interval (docs/benchmarks.md).
 */
#include "append_peer.h"

#include "control/ctl_log.h"
#include "core/clock.h"

#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NATS_TIMEOUT_MS 10000

struct nclient {
	natsConnection *nc;
	jsCtx *js;
	uint8_t *rec;
};

static natsStatus nconnect(const struct sl_append_opts *o, natsConnection **nc)
{
	natsOptions *opts = NULL;
	char url[300];
	snprintf(url, sizeof(url), "nats://%s:%u", o->host, o->port);
	natsStatus st = natsOptions_Create(&opts);
	if (st == NATS_OK)
		st = natsOptions_SetURL(opts, url);
	if (st == NATS_OK)
		st = natsOptions_SetSendAsap(opts, true);
	if (st == NATS_OK)
		st = natsOptions_SetTimeout(opts, NATS_TIMEOUT_MS);
	if (st == NATS_OK)
		st = natsConnection_Connect(nc, opts);
	natsOptions_Destroy(opts);
	return st;
}

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	(void)js;
	struct sl_peer_prod *p = closure;
	uint64_t now = sl_clock_now_ns(), wall = sl_clock_wall_ns(), sent = 0, seq;
	const uint8_t *d = (const uint8_t *)natsMsg_GetData(msg);
	int n = natsMsg_GetDataLength(msg);
	bool stamped = d && n > 0 && sl_rec_read_stamp(d, (size_t)n, &sent, &seq);
	pthread_mutex_lock(&p->lock);
	if (pa != NULL && stamped) {
		sl_peer_ack(p, now, wall > sent ? wall - sent : 0);
	} else {
		p->failed++;
		sl_peer_error(p, "publish: %s",
			      pae ? (pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err))
				  : "an acknowledgement without the record's stamp");
	}
	pthread_mutex_unlock(&p->lock);
	natsMsg_Destroy(msg);
}

static int nsetup(struct sl_peer_prod *p)
{
	const struct sl_append_opts *o = p->o;
	struct nclient *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	natsStatus st = nconnect(o, &c->nc);
	if (st != NATS_OK) {
		fprintf(stderr, "shardline-bench: append: cannot connect to %s: %s\n", o->url,
			natsStatus_GetText(st));
		goto fail;
	}
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = (int64_t)o->in_flight;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = p;
	/* A publish waits this long for room under MaxPending before failing with a timeout. */
	jo.PublishAsync.StallWait = NATS_TIMEOUT_MS;
	jo.Wait = NATS_TIMEOUT_MS;
	st = natsConnection_JetStream(&c->js, c->nc, &jo);
	if (st != NATS_OK) {
		fprintf(stderr, "shardline-bench: append: %s: no JetStream context: %s\n", o->url,
			natsStatus_GetText(st));
		goto fail;
	}
	if (p->id == 0) {
		/* The stream, once, from the first producer's connection. */
		char subj[300];
		snprintf(subj, sizeof(subj), "%s.>", o->stream);
		const char *subjects[] = {subj};
		jsStreamConfig sc;
		jsStreamConfig_Init(&sc);
		sc.Name = o->stream;
		sc.Subjects = subjects;
		sc.SubjectsLen = 1;
		sc.Storage = js_FileStorage;
		jsStreamInfo *si = NULL;
		jsErrCode jerr = 0;
		st = js_AddStream(&si, c->js, &sc, NULL, &jerr);
		if (si)
			jsStreamInfo_Destroy(si);
		if (st != NATS_OK && jerr != JSStreamNameExistErr) {
			fprintf(stderr,
				"shardline-bench: append: %s: cannot create the JetStream stream "
				"%s: "
				"%s (error %d; is the server started with -js?)\n",
				o->url, o->stream, natsStatus_GetText(st), (int)jerr);
			goto fail;
		}
	}
	c->rec = malloc(o->size);
	if (c->rec == NULL)
		goto fail;
	memset(c->rec, 0x5a, o->size);
	p->client = c;
	return 0;
fail:
	if (c->js)
		jsCtx_Destroy(c->js);
	if (c->nc)
		natsConnection_Destroy(c->nc);
	free(c);
	return -1;
}

static void *nproduce(void *arg)
{
	struct sl_peer_prod *p = arg;
	const struct sl_append_opts *o = p->o;
	struct nclient *c = p->client;
	uint32_t part = p->id;
	uint64_t seq = 0;
	char subj[300];
	while (sl_clock_now_ns() < p->end) {
		snprintf(subj, sizeof(subj), "%s.%u", o->stream, part++ % (uint32_t)o->partitions);
		sl_rec_stamp(c->rec, o->size, sl_clock_wall_ns(), seq++);
		natsStatus st = js_PublishAsync(c->js, subj, c->rec, (int)o->size, NULL);
		if (st != NATS_OK) {
			pthread_mutex_lock(&p->lock);
			p->failed++;
			sl_peer_error(p, "js_PublishAsync: %s", natsStatus_GetText(st));
			pthread_mutex_unlock(&p->lock);
			if (st == NATS_CONNECTION_CLOSED)
				break;
		}
	}
	/* What is still pending is acknowledged (or fails) before the connection closes. */
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = NATS_TIMEOUT_MS;
	natsStatus st = js_PublishAsyncComplete(c->js, &po);
	if (st != NATS_OK) {
		pthread_mutex_lock(&p->lock);
		sl_peer_error(p, "pending publishes not acknowledged: %s", natsStatus_GetText(st));
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

static void nteardown(struct sl_peer_prod *p)
{
	struct nclient *c = p->client;
	if (c == NULL)
		return;
	jsCtx_Destroy(c->js);
	natsConnection_Destroy(c->nc);
	free(c->rec);
	free(c);
	p->client = NULL;
}

int sl_append_nats(const struct sl_append_opts *o, struct sl_append_result *r)
{
	natsStatus st = nats_Open(-1);
	if (st != NATS_OK) {
		fprintf(stderr, "shardline-bench: append: the NATS library did not start: %s\n",
			natsStatus_GetText(st));
		return 2;
	}
	int rc = sl_peer_run(o, r, nsetup, nproduce, nteardown);
	nats_CloseAndWait(NATS_TIMEOUT_MS);
	return rc;
}
