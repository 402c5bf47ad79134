/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CORE_STATS_H
#define SL_CORE_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Counter structs described by tables. Every stats struct that reaches `shardctl status` has,
 * next to it, a table naming each of its members: the JSON key it is shown under, where in the
 * object it goes, and its type. One renderer (control/stats_json.h) turns any struct into JSON
 * from its table, and a unit test checks that each table covers its struct byte for byte, so a
 * counter added without a row fails the build's tests instead of silently never being shown.
 *
 * Tables live in the data plane (no JSON library here): they are plain data, and the data plane
 * uses them too, to sum the counters of closed sessions into their worker's totals.
 */
enum sl_stat_type {
	SL_STAT_END = 0, /* terminates a table */
	SL_STAT_UINT,	 /* unsigned integer of size 1, 2, 4 or 8 */
	SL_STAT_BOOL,
	SL_STAT_FLAG,  /* true when (member & mask) != 0; member is an unsigned integer */
	SL_STAT_ARRAY, /* uint64_t[count], shown as an object keyed by names[i] */
	SL_STAT_STRUCT /* an embedded struct described by sub; name is the prefix of its keys */
};

/* Row flags. */
enum {
	/* A value of "now" (open connections, bytes in memory), not a running total: summing the
	 * stats of something that closed leaves it out. */
	SL_STAT_F_GAUGE = 1u << 0,
	/* A second view of a member another row describes (a total repeated at the top level for
	 * old readers): shown, but not part of the coverage or the sums. */
	SL_STAT_F_ALIAS = 1u << 1,
	/* Described but not shown: an identity, a switch for a whole sub-object, or a value
	 * meaningless in a sum. why says which. */
	SL_STAT_F_HIDDEN = 1u << 2,
};

struct sl_stat_field {
	const char *name; /* JSON key (SL_STAT_STRUCT: prefix of its keys, "" for none) */
	const char *in;	  /* dotted path of the sub-object it goes in ("durable.log"); NULL: top */
	uint32_t offset;
	uint32_t size; /* of the member (SL_STAT_ARRAY: of one element) */
	uint8_t type;  /* enum sl_stat_type */
	uint8_t flags;
	uint32_t count;			 /* SL_STAT_ARRAY: elements */
	uint64_t mask;			 /* SL_STAT_FLAG */
	const char *const *names;	 /* SL_STAT_ARRAY: element keys */
	const struct sl_stat_field *sub; /* SL_STAT_STRUCT */
	const char *why;		 /* SL_STAT_F_HIDDEN: why it is not shown */
};

#define SL_STAT_MSIZE(T, m) ((uint32_t)sizeof(((T *)0)->m))

/* Rows. T is the struct type, m the member (a designator: "port.rx_packets" works), key the
 * JSON name, in the sub-object path or NULL. */
#define SL_STAT_ROW(T, m, key, in_, fl)                                                            \
	{                                                                                          \
		.name = (key), .in = (in_), .offset = (uint32_t)offsetof(T, m),                    \
		.size = SL_STAT_MSIZE(T, m), .type = SL_STAT_UINT, .flags = (fl)                   \
	}
#define SL_STAT_U(T, m, in_)	      SL_STAT_ROW(T, m, #m, in_, 0)
#define SL_STAT_G(T, m, in_)	      SL_STAT_ROW(T, m, #m, in_, SL_STAT_F_GAUGE)
#define SL_STAT_AS(T, m, key, in_)    SL_STAT_ROW(T, m, key, in_, 0)
#define SL_STAT_GAS(T, m, key, in_)   SL_STAT_ROW(T, m, key, in_, SL_STAT_F_GAUGE)
#define SL_STAT_ALIAS(T, m, key, in_) SL_STAT_ROW(T, m, key, in_, SL_STAT_F_ALIAS)
#define SL_STAT_HIDE(T, m, why_)                                                                   \
	{                                                                                          \
		.name = #m, .offset = (uint32_t)offsetof(T, m), .size = SL_STAT_MSIZE(T, m),       \
		.type = SL_STAT_UINT, .flags = SL_STAT_F_HIDDEN, .why = (why_)                     \
	}
#define SL_STAT_BOOLROW(T, m, key, in_)                                                            \
	{                                                                                          \
		.name = (key), .in = (in_), .offset = (uint32_t)offsetof(T, m),                    \
		.size = SL_STAT_MSIZE(T, m), .type = SL_STAT_BOOL                                  \
	}
#define SL_STAT_FLAGROW(T, m, mask_, key, in_, fl)                                                 \
	{                                                                                          \
		.name = (key), .in = (in_), .offset = (uint32_t)offsetof(T, m),                    \
		.size = SL_STAT_MSIZE(T, m), .type = SL_STAT_FLAG, .flags = (fl), .mask = (mask_)  \
	}
#define SL_STAT_ARR(T, m, key, in_, names_)                                                        \
	{                                                                                          \
		.name = (key), .in = (in_), .offset = (uint32_t)offsetof(T, m),                    \
		.size = SL_STAT_MSIZE(T, m[0]),                                                    \
		.count = SL_STAT_MSIZE(T, m) / SL_STAT_MSIZE(T, m[0]), .type = SL_STAT_ARRAY,      \
		.names = (names_)                                                                  \
	}
#define SL_STAT_SUB(T, m, prefix, in_, table)                                                      \
	{                                                                                          \
		.name = (prefix), .in = (in_), .offset = (uint32_t)offsetof(T, m),                 \
		.size = SL_STAT_MSIZE(T, m), .type = SL_STAT_STRUCT, .sub = (table)                \
	}
#define SL_STAT_TABLE_END                                                                          \
	{                                                                                          \
		.type = SL_STAT_END                                                                \
	}

/* The value of an SL_STAT_UINT, SL_STAT_BOOL or SL_STAT_FLAG member (before the mask). */
uint64_t sl_stat_get(const void *s, const struct sl_stat_field *f);

/*
 * Adds from's running totals into to (same struct type, both described by table): every
 * SL_STAT_UINT and SL_STAT_ARRAY row and, through SL_STAT_STRUCT rows, their members' rows;
 * gauges too when gauges is true. Aliases, hidden rows, booleans and flags are left alone.
 * This is how a worker keeps the counters of a session that closed.
 */
void sl_stats_add(void *to, const void *from, const struct sl_stat_field *table, bool gauges);

/*
 * Checks that table describes a struct of size bytes completely: its rows (aliases aside), by
 * offset, leave no hole a member could hide in (a gap as large as the next member's alignment,
 * or 8 bytes at the end) and do not overlap. Returns 0, or SL_EINVAL with err naming the first
 * offset left undescribed. For tests.
 */
int sl_stats_check_covers(const struct sl_stat_field *table, size_t size, char *err, size_t errlen);

#endif
