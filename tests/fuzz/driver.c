/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A standalone driver for libFuzzer-style targets, used when the compiler has no libFuzzer
 * (gcc builds). It runs every seed file given, then -runs=N inputs made by mutating the seeds
 * with a fixed seed (-seed=S), so a smoke run is deterministic and repeatable. With clang
 * (-Dfuzzer=true) the same targets link against libFuzzer instead and this file is unused.
 *
 * Usage: fuzz_x [-runs=N] [-seed=S] [-max_len=L] [DIR|FILE]...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seeds {
	uint8_t **data;
	size_t *size;
	size_t n, cap;
};

static void add_seed(struct seeds *s, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "fuzz driver: cannot open %s\n", path);
		exit(2);
	}
	uint8_t *buf = malloc(1 << 16);
	size_t n = fread(buf, 1, 1 << 16, f);
	fclose(f);
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->data = realloc(s->data, s->cap * sizeof(*s->data));
		s->size = realloc(s->size, s->cap * sizeof(*s->size));
	}
	s->data[s->n] = buf;
	s->size[s->n++] = n;
}

static void add_path(struct seeds *s, const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		fprintf(stderr, "fuzz driver: no such file or directory: %s\n", path);
		exit(2);
	}
	if (!S_ISDIR(st.st_mode)) {
		add_seed(s, path);
		return;
	}
	DIR *d = opendir(path);
	struct dirent *e;
	char full[4096];
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
		add_path(s, full);
	}
	if (d)
		closedir(d);
}

/* xorshift64*: a small deterministic generator, so a failing run can be replayed exactly. */
static uint64_t rng_state;
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

int main(int argc, char **argv)
{
	long runs = 10000, max_len = 4096;
	uint64_t seed = 1;
	struct seeds s = {0};
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "-runs=", 6) == 0)
			runs = atol(argv[i] + 6);
		else if (strncmp(argv[i], "-seed=", 6) == 0)
			seed = strtoull(argv[i] + 6, NULL, 10);
		else if (strncmp(argv[i], "-max_len=", 9) == 0)
			max_len = atol(argv[i] + 9);
		else if (argv[i][0] == '-')
			continue; /* other libFuzzer flags mean nothing here */
		else
			add_path(&s, argv[i]);
	}
	if (max_len < 1)
		max_len = 1;
	rng_state = seed ? seed : 1;
	for (size_t i = 0; i < s.n; i++)
		LLVMFuzzerTestOneInput(s.data[i], s.size[i]);
	uint8_t *buf = malloc((size_t)max_len);
	for (long r = 0; r < runs; r++) {
		size_t n;
		if (s.n > 0 && rng() % 4 != 0) {
			/* Mutate a seed: copy, then flip bits, overwrite bytes, truncate or extend.
			 */
			size_t k = rng() % s.n;
			n = s.size[k] < (size_t)max_len ? s.size[k] : (size_t)max_len;
			memcpy(buf, s.data[k], n);
			int edits = 1 + (int)(rng() % 8);
			for (int e = 0; e < edits; e++) {
				uint64_t op = rng() % 4;
				if (op == 0 && n > 0)
					buf[rng() % n] ^= (uint8_t)(1u << (rng() % 8));
				else if (op == 1 && n > 0)
					buf[rng() % n] = (uint8_t)rng();
				else if (op == 2 && n > 0)
					n = rng() % n;
				else if (n < (size_t)max_len)
					buf[n++] = (uint8_t)rng();
			}
		} else {
			n = rng() % (size_t)(max_len < 256 ? max_len : 256);
			for (size_t i = 0; i < n; i++)
				buf[i] = (uint8_t)rng();
		}
		LLVMFuzzerTestOneInput(buf, n);
	}
	printf("fuzz driver: %zu seeds and %ld generated inputs, no crash\n", s.n, runs);
	free(buf);
	for (size_t i = 0; i < s.n; i++)
		free(s.data[i]);
	free(s.data);
	free(s.size);
	return 0;
}
