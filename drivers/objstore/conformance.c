/* SPDX-License-Identifier: Apache-2.0 */
#include "drivers/objstore/conformance.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

struct ctx {
	struct sl_objstore *s;
	char *msg;
	size_t cap;
};

#define CHECK(c, ...)                                                                              \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			report(x, __LINE__, __VA_ARGS__);                                          \
			return -1;                                                                 \
		}                                                                                  \
	} while (0)

#define CHECK_RC(got, want, what)                                                                  \
	do {                                                                                       \
		int got_ = (got);                                                                  \
		CHECK(got_ == (want), "%s: got %s, want %s", what, sl_errname(got_),               \
		      sl_errname(want));                                                           \
	} while (0)

__attribute__((format(printf, 3, 4))) static void report(struct ctx *x, int line, const char *fmt,
							 ...)
{
	if (x->msg == NULL || x->cap == 0)
		return;
	int n = snprintf(x->msg, x->cap, "conformance.c:%d (%s): ", line, x->s->name);
	if (n < 0 || (size_t)n >= x->cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->msg + n, x->cap - (size_t)n, fmt, ap);
	va_end(ap);
}

static void req_init(struct sl_obj_req *r, enum sl_obj_op op, const char *key)
{
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->key = key;
}

static int put(struct ctx *x, const char *key, const char *body, enum sl_obj_put_mode mode,
	       const char *if_match, char *etag_out)
{
	struct sl_obj_req r;
	req_init(&r, SL_OBJ_PUT, key);
	r.put_mode = mode;
	/* sl_buf_from refuses 0 bytes: an empty body is an empty 1-byte buffer. */
	r.body = strlen(body) > 0 ? sl_buf_from(body, strlen(body)) : NULL;
	if (r.body == NULL) {
		r.body = sl_buf_alloc(1);
		if (r.body == NULL)
			return SL_ENOMEM;
	}
	if (if_match != NULL)
		snprintf(r.if_match, sizeof(r.if_match), "%s", if_match);
	int rc = sl_objstore_run(x->s, &r);
	if (rc == 0 && etag_out != NULL)
		memcpy(etag_out, r.etag, SL_OBJ_ETAG_MAX);
	sl_obj_req_reset(&r);
	return rc;
}

/* GETs key (range off/len) and compares the bytes with want (NULL: expect an error). */
static int get_is(struct ctx *x, const char *key, uint64_t off, uint64_t len, const char *want,
		  uint64_t whole, const char *etag)
{
	struct sl_obj_req r;
	req_init(&r, SL_OBJ_GET, key);
	r.offset = off;
	r.length = len;
	int rc = sl_objstore_run(x->s, &r);
	if (rc != 0) {
		sl_obj_req_reset(&r);
		CHECK(0, "GET %s [%llu,+%llu): %s", key, (unsigned long long)off,
		      (unsigned long long)len, sl_errname(rc));
	}
	int ok = r.data != NULL && r.data->len == strlen(want) &&
		 memcmp(r.data->data, want, strlen(want)) == 0;
	uint64_t size = r.size;
	char got_etag[SL_OBJ_ETAG_MAX];
	memcpy(got_etag, r.etag, sizeof(got_etag));
	uint32_t got_len = r.data != NULL ? r.data->len : 0;
	sl_obj_req_reset(&r);
	CHECK(ok, "GET %s [%llu,+%llu): got %u bytes, want \"%s\"", key, (unsigned long long)off,
	      (unsigned long long)len, got_len, want);
	CHECK(size == whole, "GET %s: size %llu, want the whole object's %llu", key,
	      (unsigned long long)size, (unsigned long long)whole);
	CHECK(etag == NULL || strcmp(got_etag, etag) == 0, "GET %s: etag %s, want %s", key,
	      got_etag, etag);
	return 0;
}

static int op_rc(struct ctx *x, enum sl_obj_op op, const char *key)
{
	struct sl_obj_req r;
	req_init(&r, op, key);
	int rc = sl_objstore_run(x->s, &r);
	sl_obj_req_reset(&r);
	return rc;
}

static int check_missing_and_bad_keys(struct ctx *x)
{
	CHECK_RC(op_rc(x, SL_OBJ_GET, "nope"), SL_ENOTFOUND, "GET missing key");
	CHECK_RC(op_rc(x, SL_OBJ_HEAD, "nope/deeper"), SL_ENOTFOUND, "HEAD missing key");
	CHECK_RC(op_rc(x, SL_OBJ_DELETE, "nope"), SL_ENOTFOUND, "DELETE missing key");
	static const char *bad[] = {"", "/a", "a/", "a//b", "../x", "a/./b", ".sl-tmp", NULL};
	for (int i = 0; bad[i] != NULL; i++) {
		struct sl_obj_req r;
		req_init(&r, SL_OBJ_GET, bad[i]);
		CHECK_RC(sl_objstore_submit(x->s, &r), SL_EINVAL, "GET with a bad key");
		req_init(&r, SL_OBJ_PUT, bad[i]);
		r.body = sl_buf_from("x", 1);
		CHECK_RC(sl_objstore_submit(x->s, &r), SL_EINVAL, "PUT with a bad key");
		/* On a submit error the body reference stays with the caller. */
		CHECK(sl_buf_refcnt(r.body) == 1, "PUT with a bad key: body refcount changed");
		sl_buf_unref(r.body);
	}
	struct sl_obj_req r;
	req_init(&r, SL_OBJ_GET, NULL);
	CHECK_RC(sl_objstore_submit(x->s, &r), SL_EINVAL, "GET with a NULL key");
	req_init(&r, SL_OBJ_PUT, "k");
	CHECK_RC(sl_objstore_submit(x->s, &r), SL_EINVAL, "PUT without a body");
	return 0;
}

static int check_put_get_head(struct ctx *x)
{
	char e1[SL_OBJ_ETAG_MAX], e2[SL_OBJ_ETAG_MAX];
	CHECK_RC(put(x, "a/b/c", "hello", SL_OBJ_PUT_OVERWRITE, NULL, e1), 0, "PUT");
	CHECK(e1[0] != '\0', "PUT: empty etag");

	struct sl_obj_req r;
	req_init(&r, SL_OBJ_HEAD, "a/b/c");
	CHECK_RC(sl_objstore_run(x->s, &r), 0, "HEAD");
	CHECK(r.size == 5, "HEAD: size %llu, want 5", (unsigned long long)r.size);
	CHECK(strcmp(r.etag, e1) == 0, "HEAD: etag %s, want the PUT's %s", r.etag, e1);
	CHECK(r.mtime_ns > 0, "HEAD: mtime_ns is 0");
	CHECK(r.data == NULL, "HEAD: returned data");
	sl_obj_req_reset(&r);

	if (get_is(x, "a/b/c", 0, 0, "hello", 5, e1) != 0)
		return -1;
	/* Ranges: inside, to the end, cut at the end, empty at the end, past the end. */
	if (get_is(x, "a/b/c", 1, 3, "ell", 5, e1) != 0 || get_is(x, "a/b/c", 2, 0, "llo", 5, e1) ||
	    get_is(x, "a/b/c", 3, 100, "lo", 5, e1) || get_is(x, "a/b/c", 5, 0, "", 5, e1))
		return -1;
	req_init(&r, SL_OBJ_GET, "a/b/c");
	r.offset = 6;
	CHECK_RC(sl_objstore_run(x->s, &r), SL_EINVAL, "GET with offset past the end");
	CHECK(r.data == NULL, "GET past the end: returned data");
	sl_obj_req_reset(&r);
	/* A prefix of an object's key is not an object. */
	CHECK_RC(op_rc(x, SL_OBJ_GET, "a/b"), SL_ENOTFOUND, "GET of a key's parent");

	CHECK_RC(put(x, "a/b/c", "world!", SL_OBJ_PUT_OVERWRITE, NULL, e2), 0, "PUT overwrite");
	CHECK(strcmp(e1, e2) != 0, "PUT overwrite: etag did not change (%s)", e2);
	if (get_is(x, "a/b/c", 0, 0, "world!", 6, e2) != 0)
		return -1;

	/* The store takes over the body reference: it may keep it as the object (memory does),
	 * but must not leak it: once the object is deleted only the test's reference remains. */
	req_init(&r, SL_OBJ_PUT, "owned");
	r.body = sl_buf_from("abc", 3);
	struct sl_buf *body = sl_buf_ref(r.body);
	CHECK_RC(sl_objstore_run(x->s, &r), 0, "PUT (ownership)");
	CHECK(r.body == NULL || r.body == body, "PUT: body pointer replaced");
	CHECK(sl_buf_refcnt(body) <= 2, "PUT: the store holds %u references to the body",
	      sl_buf_refcnt(body) - 1);
	sl_obj_req_reset(&r);
	CHECK_RC(op_rc(x, SL_OBJ_DELETE, "owned"), 0, "DELETE (ownership)");
	CHECK(sl_buf_refcnt(body) == 1, "DELETE: the store still holds %u references to the body",
	      sl_buf_refcnt(body) - 1);
	sl_buf_unref(body);

	/* An empty object. */
	char e0[SL_OBJ_ETAG_MAX];
	CHECK_RC(put(x, "empty", "", SL_OBJ_PUT_OVERWRITE, NULL, e0), 0, "PUT empty");
	req_init(&r, SL_OBJ_GET, "empty");
	CHECK_RC(sl_objstore_run(x->s, &r), 0, "GET empty");
	CHECK(r.size == 0 && r.data != NULL && r.data->len == 0, "GET empty: size %llu",
	      (unsigned long long)r.size);
	sl_obj_req_reset(&r);
	return 0;
}

static int check_conditional(struct ctx *x)
{
	char e1[SL_OBJ_ETAG_MAX], e2[SL_OBJ_ETAG_MAX], e3[SL_OBJ_ETAG_MAX];
	CHECK_RC(put(x, "cond/k", "v1", SL_OBJ_PUT_CREATE, NULL, e1), 0, "PUT CREATE new key");
	CHECK_RC(put(x, "cond/k", "v2", SL_OBJ_PUT_CREATE, NULL, NULL), SL_EPRECOND,
		 "PUT CREATE existing key");
	if (get_is(x, "cond/k", 0, 0, "v1", 2, e1) != 0)
		return -1;
	CHECK_RC(put(x, "cond/k", "v2", SL_OBJ_PUT_IF_MATCH, "not-the-etag", NULL), SL_EPRECOND,
		 "PUT IF_MATCH wrong etag");
	CHECK_RC(put(x, "cond/k", "v2", SL_OBJ_PUT_IF_MATCH, e1, e2), 0, "PUT IF_MATCH");
	CHECK(strcmp(e1, e2) != 0, "PUT IF_MATCH: etag did not change");
	CHECK_RC(put(x, "cond/k", "v3", SL_OBJ_PUT_IF_MATCH, e1, NULL), SL_EPRECOND,
		 "PUT IF_MATCH stale etag");
	if (get_is(x, "cond/k", 0, 0, "v2", 2, e2) != 0)
		return -1;
	CHECK_RC(put(x, "cond/none", "v", SL_OBJ_PUT_IF_MATCH, e2, NULL), SL_EPRECOND,
		 "PUT IF_MATCH missing key");
	CHECK_RC(op_rc(x, SL_OBJ_GET, "cond/none"), SL_ENOTFOUND, "GET after refused IF_MATCH");

	CHECK_RC(op_rc(x, SL_OBJ_DELETE, "cond/k"), 0, "DELETE");
	CHECK_RC(op_rc(x, SL_OBJ_GET, "cond/k"), SL_ENOTFOUND, "GET after DELETE");
	CHECK_RC(op_rc(x, SL_OBJ_DELETE, "cond/k"), SL_ENOTFOUND, "DELETE twice");
	CHECK_RC(put(x, "cond/k", "v4", SL_OBJ_PUT_IF_MATCH, e2, NULL), SL_EPRECOND,
		 "PUT IF_MATCH after DELETE");
	CHECK_RC(put(x, "cond/k", "v4", SL_OBJ_PUT_CREATE, NULL, e3), 0, "PUT CREATE after DELETE");

	/* CREATE_DIRECT: create-only like CREATE, whole once complete, in a new directory, with
	 * an empty body, and its etag what GET reports. */
	char e4[SL_OBJ_ETAG_MAX];
	CHECK_RC(put(x, "direct/a/k", "direct body", SL_OBJ_PUT_CREATE_DIRECT, NULL, e4), 0,
		 "PUT CREATE_DIRECT new key");
	if (get_is(x, "direct/a/k", 0, 0, "direct body", 11, e4) != 0)
		return -1;
	CHECK_RC(put(x, "direct/a/k", "other", SL_OBJ_PUT_CREATE_DIRECT, NULL, NULL), SL_EPRECOND,
		 "PUT CREATE_DIRECT existing key");
	if (get_is(x, "direct/a/k", 0, 0, "direct body", 11, e4) != 0)
		return -1;
	CHECK_RC(put(x, "cond/k", "v5", SL_OBJ_PUT_CREATE_DIRECT, NULL, NULL), SL_EPRECOND,
		 "PUT CREATE_DIRECT over a CREATE'd key");
	CHECK_RC(put(x, "direct/a/empty", "", SL_OBJ_PUT_CREATE_DIRECT, NULL, NULL), 0,
		 "PUT CREATE_DIRECT empty body");
	if (get_is(x, "direct/a/empty", 0, 0, "", 0, NULL) != 0)
		return -1;
	CHECK_RC(op_rc(x, SL_OBJ_DELETE, "direct/a/k"), 0, "DELETE a CREATE_DIRECT object");
	CHECK_RC(op_rc(x, SL_OBJ_DELETE, "direct/a/empty"), 0, "DELETE a CREATE_DIRECT object");
	return 0;
}

/* Lists one page and compares the keys with want (NULL-terminated). */
static int list_is(struct ctx *x, const char *prefix, const char *after, uint32_t max,
		   const char *const *want, bool truncated)
{
	struct sl_obj_req r;
	req_init(&r, SL_OBJ_LIST, NULL);
	r.prefix = prefix;
	r.start_after = after;
	r.max_keys = max;
	int rc = sl_objstore_run(x->s, &r);
	if (rc != 0) {
		sl_obj_req_reset(&r);
		CHECK(0, "LIST \"%s\" after %s: %s", prefix, after ? after : "-", sl_errname(rc));
	}
	uint32_t n = 0;
	while (want[n] != NULL)
		n++;
	int bad = -1;
	for (uint32_t i = 0; i < n && i < r.nentries; i++)
		if (strcmp(r.entries[i].key, want[i]) != 0) {
			bad = (int)i;
			break;
		}
	uint32_t got = r.nentries;
	bool trunc = r.truncated;
	char first_bad[SL_OBJ_KEY_MAX + 1] = "";
	if (bad >= 0)
		snprintf(first_bad, sizeof(first_bad), "%s", r.entries[bad].key);
	sl_obj_req_reset(&r);
	CHECK(got == n, "LIST \"%s\" after %s max %u: %u keys, want %u", prefix,
	      after ? after : "-", max, got, n);
	CHECK(bad < 0, "LIST \"%s\": key %d is %s, want %s", prefix, bad, first_bad,
	      bad >= 0 ? want[bad] : "");
	CHECK(trunc == truncated, "LIST \"%s\" after %s max %u: truncated %d, want %d", prefix,
	      after ? after : "-", max, trunc, truncated);
	return 0;
}

static int check_list(struct ctx *x)
{
	static const char *keys[] = {"l/c/e", "l/a", "m", "l/c/d", "lz", "l/b", NULL};
	char etag_b[SL_OBJ_ETAG_MAX];
	for (int i = 0; keys[i] != NULL; i++)
		CHECK_RC(put(x, keys[i], keys[i], SL_OBJ_PUT_OVERWRITE, NULL,
			     strcmp(keys[i], "l/b") == 0 ? etag_b : NULL),
			 0, "PUT for LIST");
	static const char *all_l[] = {"l/a", "l/b", "l/c/d", "l/c/e", NULL};
	static const char *first2[] = {"l/a", "l/b", NULL};
	static const char *next2[] = {"l/c/d", "l/c/e", NULL};
	static const char *l_and_lz[] = {"l/a", "l/b", "l/c/d", "l/c/e", "lz", NULL};
	static const char *sub[] = {"l/c/d", "l/c/e", NULL};
	static const char *none[] = {NULL};
	static const char *after_e[] = {"lz", "m", NULL};
	if (list_is(x, "l/", NULL, 0, all_l, false) || list_is(x, "l/", NULL, 2, first2, true) ||
	    list_is(x, "l/", "l/b", 2, next2, false) || list_is(x, "l", NULL, 0, l_and_lz, false) ||
	    list_is(x, "l/c", NULL, 0, sub, false) || list_is(x, "l/c/", "l/c/e", 0, none, false) ||
	    list_is(x, "zz", NULL, 0, none, false) || list_is(x, "", "l/c/e", 0, after_e, false) ||
	    list_is(x, "l/", "l/b/", 10, next2, false))
		return -1;
	/* Paging through everything one key at a time visits each key once, in order. */
	const char *last = NULL;
	char lastbuf[SL_OBJ_KEY_MAX + 1];
	int pages = 0;
	for (;;) {
		struct sl_obj_req r;
		req_init(&r, SL_OBJ_LIST, NULL);
		r.prefix = "";
		r.start_after = last;
		r.max_keys = 1;
		CHECK_RC(sl_objstore_run(x->s, &r), 0, "LIST paging");
		CHECK(r.nentries <= 1, "LIST max_keys 1: %u keys", r.nentries);
		if (r.nentries == 0) {
			CHECK(!r.truncated, "LIST: empty page marked truncated");
			sl_obj_req_reset(&r);
			break;
		}
		CHECK(last == NULL || strcmp(r.entries[0].key, last) > 0,
		      "LIST paging: out of order");
		snprintf(lastbuf, sizeof(lastbuf), "%s", r.entries[0].key);
		last = lastbuf;
		pages++;
		bool more = r.truncated;
		sl_obj_req_reset(&r);
		if (!more)
			break;
	}
	CHECK(pages >= 6, "LIST paging: %d keys seen, want at least the 6 put", pages);
	/* Entries carry the object's size and etag. */
	struct sl_obj_req r;
	req_init(&r, SL_OBJ_LIST, NULL);
	r.prefix = "l/b";
	CHECK_RC(sl_objstore_run(x->s, &r), 0, "LIST one key");
	CHECK(r.nentries == 1 && r.entries[0].size == 3 && strcmp(r.entries[0].etag, etag_b) == 0,
	      "LIST entry: size or etag differs from the PUT");
	sl_obj_req_reset(&r);
	return 0;
}

static int check_large(struct ctx *x)
{
	size_t n = (3u << 20) + 17;
	struct sl_obj_req r;
	req_init(&r, SL_OBJ_PUT, "big/object");
	r.body = sl_buf_alloc(n);
	CHECK(r.body != NULL, "alloc");
	for (size_t i = 0; i < n; i++)
		r.body->data[i] = (unsigned char)(i * 7 + (i >> 12));
	r.body->len = (uint32_t)n;
	CHECK_RC(sl_objstore_run(x->s, &r), 0, "PUT 3 MiB");
	sl_obj_req_reset(&r);
	req_init(&r, SL_OBJ_GET, "big/object");
	r.offset = 1u << 20;
	CHECK_RC(sl_objstore_run(x->s, &r), 0, "GET 3 MiB range");
	int ok = r.size == n && r.data != NULL && r.data->len == n - (1u << 20);
	for (size_t i = 0; ok && i < r.data->len; i++) {
		size_t j = i + (1u << 20);
		ok = r.data->data[i] == (unsigned char)(j * 7 + (j >> 12));
	}
	sl_obj_req_reset(&r);
	CHECK(ok, "GET 3 MiB range: wrong bytes");
	return 0;
}

int sl_objstore_conformance(struct sl_objstore *s, char *msg, size_t cap)
{
	struct ctx c = {s, msg, cap};
	struct ctx *x = &c;
	if (msg != NULL && cap > 0)
		msg[0] = '\0';
	static const char *none[] = {NULL};
	if (list_is(x, "", NULL, 0, none, false) != 0)
		return -1;
	if (check_missing_and_bad_keys(x) != 0 || check_put_get_head(x) != 0 ||
	    check_conditional(x) != 0 || check_list(x) != 0 || check_large(x) != 0)
		return -1;
	return 0;
}
