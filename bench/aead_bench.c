/* SPDX-License-Identifier: Apache-2.0 */
/*
 * QUIC packet protection, one packet at a time (issue 14, "GnuTLS ≈ 20 %"). Each benchmark
 * seals (or opens) one packet of N bytes of payload with a 22-byte header as AAD and a fresh
 * 12-byte nonce, the key set up once, exactly as ngtcp2's encrypt/decrypt callbacks are called
 * per packet. Figures and the command that produced them are in docs/benchmarks.md.
 *
 *   bm_seal_gnutls/N         AES-128-GCM through gnutls_aead_cipher_encrypt, what
 *                            ngtcp2_crypto_encrypt_cb (the GnuTLS backend) does today
 *   bm_seal_gnutls_v2/N      the same through gnutls_aead_cipher_encryptv2, in place, tag apart
 *   bm_seal_nettle/N         AES-128-GCM through nettle's gcm_aes128_* on a key set up once
 *   bm_open_gnutls/N         decryption and tag check through gnutls_aead_cipher_decrypt
 *   bm_open_nettle/N         the same through nettle
 *   bm_seal_chacha_gnutls/N  ChaCha20-Poly1305 through gnutls_aead_cipher_encrypt
 *   bm_seal_chacha_nettle/N  ChaCha20-Poly1305 through nettle's chacha_poly1305_*
 *   bm_seal_gnutls_conns/C   1200-byte packets sealed in place, each with the next of C keys
 *                            and its own buffer, as a relay sending to C subscribers does: the
 *                            per-connection key state no longer sits in L1
 *   bm_seal_nettle_conns/C   the same with C nettle contexts (4.4 KB each: nettle keeps a
 *                            4 KB GHASH table per key)
 *   bm_hp_gnutls             one header-protection mask (AES-128-ECB of a 16-byte sample) the
 *                            way ngtcp2_crypto_hp_mask does it: gnutls_cipher_set_iv (zero IV)
 *                            and gnutls_cipher_encrypt2 on AES-128-CBC
 *   bm_hp_nettle             the same mask through nettle's aes128_encrypt
 */
#include "gbench_shim.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nettle/aes.h>
#include <nettle/chacha-poly1305.h>
#include <nettle/gcm.h>
#include <nettle/memops.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define MAXLEN 1500
#define AADLEN 22
#define TAGLEN 16

static uint8_t g_key[32] = {0x1f, 0x36, 0x96, 0x13, 0xdd, 0x76, 0xd5, 0x46, 0x77, 0x30, 0xef,
			    0xcb, 0xe3, 0xb1, 0xa2, 0x2d, 0x1f, 0x36, 0x96, 0x13, 0xdd, 0x76,
			    0xd5, 0x46, 0x77, 0x30, 0xef, 0xcb, 0xe3, 0xb1, 0xa2, 0x2d};
static uint8_t g_iv[12] = {0xfa, 0x04, 0x4b, 0x2f, 0x42, 0xa3, 0xfd, 0x3b, 0x46, 0xfb, 0x25, 0x5c};
static uint8_t g_aad[AADLEN];
static uint8_t g_pt[MAXLEN];
static uint8_t g_ct[MAXLEN + TAGLEN];
static uint8_t g_out[MAXLEN + TAGLEN];

/* The QUIC nonce: the IV with the packet number XORed into its last 8 bytes. */
static void make_nonce(uint8_t nonce[12], uint64_t pn)
{
	memcpy(nonce, g_iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(pn >> (8 * i));
}

static void finish(struct sl_bench *b, size_t len)
{
	sl_bench_items(b, sl_bench_iterations(b));
	sl_bench_bytes(b, sl_bench_iterations(b) * (int64_t)len);
	sl_bench_counter(b, "ns_per_packet", (double)sl_bench_iterations(b), SL_BENCH_NS_PER);
}

static gnutls_aead_cipher_hd_t gnutls_aead(struct sl_bench *b, gnutls_cipher_algorithm_t alg)
{
	gnutls_datum_t key = {g_key, (unsigned)gnutls_cipher_get_key_size(alg)};
	gnutls_aead_cipher_hd_t hd;
	if (gnutls_aead_cipher_init(&hd, alg, &key) != 0) {
		sl_bench_error(b, "gnutls_aead_cipher_init failed");
		return NULL;
	}
	return hd;
}

static void seal_gnutls(struct sl_bench *b, gnutls_cipher_algorithm_t alg)
{
	size_t len = (size_t)sl_bench_arg(b, 0);
	gnutls_aead_cipher_hd_t hd = gnutls_aead(b, alg);
	if (hd == NULL)
		return;
	uint64_t pn = 0;
	uint8_t nonce[12];
	while (sl_bench_running(b)) {
		make_nonce(nonce, pn++);
		size_t ctlen = len + TAGLEN;
		if (gnutls_aead_cipher_encrypt(hd, nonce, sizeof(nonce), g_aad, AADLEN, TAGLEN,
					       g_pt, len, g_ct, &ctlen) != 0) {
			sl_bench_error(b, "encrypt failed");
			break;
		}
	}
	gnutls_aead_cipher_deinit(hd);
	finish(b, len);
}

static void bm_seal_gnutls(struct sl_bench *b)
{
	seal_gnutls(b, GNUTLS_CIPHER_AES_128_GCM);
}
SL_BENCHMARK(bm_seal_gnutls, 64, 1200);

static void bm_seal_chacha_gnutls(struct sl_bench *b)
{
	seal_gnutls(b, GNUTLS_CIPHER_CHACHA20_POLY1305);
}
SL_BENCHMARK(bm_seal_chacha_gnutls, 1200);

static void bm_seal_gnutls_v2(struct sl_bench *b)
{
	size_t len = (size_t)sl_bench_arg(b, 0);
	gnutls_aead_cipher_hd_t hd = gnutls_aead(b, GNUTLS_CIPHER_AES_128_GCM);
	if (hd == NULL)
		return;
	uint64_t pn = 0;
	uint8_t nonce[12];
	memcpy(g_ct, g_pt, len);
	while (sl_bench_running(b)) {
		make_nonce(nonce, pn++);
		struct iovec aad = {g_aad, AADLEN};
		struct iovec data = {g_ct, len};
		size_t taglen = TAGLEN;
		if (gnutls_aead_cipher_encryptv2(hd, nonce, sizeof(nonce), &aad, 1, &data, 1,
						 g_ct + len, &taglen) != 0) {
			sl_bench_error(b, "encryptv2 failed");
			break;
		}
	}
	gnutls_aead_cipher_deinit(hd);
	finish(b, len);
}
SL_BENCHMARK(bm_seal_gnutls_v2, 64, 1200);

static void bm_seal_nettle(struct sl_bench *b)
{
	size_t len = (size_t)sl_bench_arg(b, 0);
	struct gcm_aes128_ctx ctx;
	gcm_aes128_set_key(&ctx, g_key);
	uint64_t pn = 0;
	uint8_t nonce[12];
	while (sl_bench_running(b)) {
		make_nonce(nonce, pn++);
		gcm_aes128_set_iv(&ctx, sizeof(nonce), nonce);
		gcm_aes128_update(&ctx, AADLEN, g_aad);
		gcm_aes128_encrypt(&ctx, len, g_ct, g_pt);
		gcm_aes128_digest(&ctx, TAGLEN, g_ct + len);
	}
	finish(b, len);
}
SL_BENCHMARK(bm_seal_nettle, 64, 1200);

static void bm_seal_chacha_nettle(struct sl_bench *b)
{
	size_t len = (size_t)sl_bench_arg(b, 0);
	struct chacha_poly1305_ctx ctx;
	chacha_poly1305_set_key(&ctx, g_key);
	uint64_t pn = 0;
	uint8_t nonce[12];
	while (sl_bench_running(b)) {
		make_nonce(nonce, pn++);
		chacha_poly1305_set_nonce(&ctx, nonce);
		chacha_poly1305_update(&ctx, AADLEN, g_aad);
		chacha_poly1305_encrypt(&ctx, len, g_ct, g_pt);
		chacha_poly1305_digest(&ctx, TAGLEN, g_ct + len);
	}
	finish(b, len);
}
SL_BENCHMARK(bm_seal_chacha_nettle, 1200);

/* One sealed packet for the open benchmarks, made with nettle and checked by both. */
static void seal_one(size_t len, const uint8_t nonce[12])
{
	struct gcm_aes128_ctx ctx;
	gcm_aes128_set_key(&ctx, g_key);
	gcm_aes128_set_iv(&ctx, 12, nonce);
	gcm_aes128_update(&ctx, AADLEN, g_aad);
	gcm_aes128_encrypt(&ctx, len, g_ct, g_pt);
	gcm_aes128_digest(&ctx, TAGLEN, g_ct + len);
}

static void bm_open_gnutls(struct sl_bench *b)
{
	size_t len = (size_t)sl_bench_arg(b, 0);
	gnutls_aead_cipher_hd_t hd = gnutls_aead(b, GNUTLS_CIPHER_AES_128_GCM);
	if (hd == NULL)
		return;
	uint8_t nonce[12];
	make_nonce(nonce, 7);
	seal_one(len, nonce);
	while (sl_bench_running(b)) {
		size_t ptlen = len;
		if (gnutls_aead_cipher_decrypt(hd, nonce, sizeof(nonce), g_aad, AADLEN, TAGLEN,
					       g_ct, len + TAGLEN, g_out, &ptlen) != 0) {
			sl_bench_error(b, "decrypt failed");
			break;
		}
	}
	gnutls_aead_cipher_deinit(hd);
	finish(b, len);
}
SL_BENCHMARK(bm_open_gnutls, 64, 1200);

static void bm_open_nettle(struct sl_bench *b)
{
	size_t len = (size_t)sl_bench_arg(b, 0);
	struct gcm_aes128_ctx ctx;
	gcm_aes128_set_key(&ctx, g_key);
	uint8_t nonce[12];
	make_nonce(nonce, 7);
	seal_one(len, nonce);
	while (sl_bench_running(b)) {
		uint8_t tag[TAGLEN];
		gcm_aes128_set_iv(&ctx, sizeof(nonce), nonce);
		gcm_aes128_update(&ctx, AADLEN, g_aad);
		gcm_aes128_decrypt(&ctx, len, g_out, g_ct);
		gcm_aes128_digest(&ctx, TAGLEN, tag);
		if (!memeql_sec(tag, g_ct + len, TAGLEN)) {
			sl_bench_error(b, "tag mismatch");
			break;
		}
	}
	finish(b, len);
}
SL_BENCHMARK(bm_open_nettle, 64, 1200);

#define CONNS_MAX 1000
#define CONN_PKT  1200

static uint8_t (*conn_bufs(void))[MAXLEN + TAGLEN]
{
	static uint8_t(*bufs)[MAXLEN + TAGLEN];
	if (bufs == NULL)
		bufs = calloc(CONNS_MAX, sizeof(*bufs));
	return bufs;
}

static void bm_seal_gnutls_conns(struct sl_bench *b)
{
	int n = (int)sl_bench_arg(b, 0);
	uint8_t(*bufs)[MAXLEN + TAGLEN] = conn_bufs();
	gnutls_aead_cipher_hd_t *hd = calloc((size_t)n, sizeof(*hd));
	for (int i = 0; i < n; i++) {
		g_key[0] = (uint8_t)i;
		if ((hd[i] = gnutls_aead(b, GNUTLS_CIPHER_AES_128_GCM)) == NULL)
			return;
	}
	uint64_t pn = 0;
	uint8_t nonce[12];
	int i = 0;
	while (sl_bench_running(b)) {
		make_nonce(nonce, pn++);
		size_t ctlen = CONN_PKT + TAGLEN;
		if (gnutls_aead_cipher_encrypt(hd[i], nonce, sizeof(nonce), g_aad, AADLEN, TAGLEN,
					       bufs[i], CONN_PKT, bufs[i], &ctlen) != 0) {
			sl_bench_error(b, "encrypt failed");
			break;
		}
		if (++i == n)
			i = 0;
	}
	for (int k = 0; k < n; k++)
		gnutls_aead_cipher_deinit(hd[k]);
	free(hd);
	finish(b, CONN_PKT);
}
SL_BENCHMARK(bm_seal_gnutls_conns, 1, 300, 1000);

static void bm_seal_nettle_conns(struct sl_bench *b)
{
	int n = (int)sl_bench_arg(b, 0);
	uint8_t(*bufs)[MAXLEN + TAGLEN] = conn_bufs();
	struct gcm_aes128_ctx *ctx = calloc((size_t)n, sizeof(*ctx));
	for (int i = 0; i < n; i++) {
		g_key[0] = (uint8_t)i;
		gcm_aes128_set_key(&ctx[i], g_key);
	}
	uint64_t pn = 0;
	uint8_t nonce[12];
	int i = 0;
	while (sl_bench_running(b)) {
		make_nonce(nonce, pn++);
		gcm_aes128_set_iv(&ctx[i], sizeof(nonce), nonce);
		gcm_aes128_update(&ctx[i], AADLEN, g_aad);
		gcm_aes128_encrypt(&ctx[i], CONN_PKT, bufs[i], bufs[i]);
		gcm_aes128_digest(&ctx[i], TAGLEN, bufs[i] + CONN_PKT);
		if (++i == n)
			i = 0;
	}
	free(ctx);
	finish(b, CONN_PKT);
}
SL_BENCHMARK(bm_seal_nettle_conns, 1, 300, 1000);

static void bm_hp_gnutls(struct sl_bench *b)
{
	gnutls_datum_t key = {g_key, 16};
	gnutls_cipher_hd_t hd;
	if (gnutls_cipher_init(&hd, GNUTLS_CIPHER_AES_128_CBC, &key, NULL) != 0) {
		sl_bench_error(b, "gnutls_cipher_init failed");
		return;
	}
	uint8_t mask[5];
	while (sl_bench_running(b)) {
		uint8_t iv[16] = {0}, buf[16];
		gnutls_cipher_set_iv(hd, iv, sizeof(iv));
		if (gnutls_cipher_encrypt2(hd, g_pt, 16, buf, sizeof(buf)) != 0) {
			sl_bench_error(b, "encrypt2 failed");
			break;
		}
		memcpy(mask, buf, 5);
		g_pt[0] ^= mask[0];
	}
	gnutls_cipher_deinit(hd);
	finish(b, 16);
}
SL_BENCHMARK_NOARG(bm_hp_gnutls);

static void bm_hp_nettle(struct sl_bench *b)
{
	struct aes128_ctx ctx;
	aes128_set_encrypt_key(&ctx, g_key);
	uint8_t mask[5];
	while (sl_bench_running(b)) {
		uint8_t buf[16];
		aes128_encrypt(&ctx, 16, buf, g_pt);
		memcpy(mask, buf, 5);
		g_pt[0] ^= mask[0];
	}
	finish(b, 16);
}
SL_BENCHMARK_NOARG(bm_hp_nettle);
