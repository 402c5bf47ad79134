/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_CTL_PUBSUB_H
#define SL_CONTROL_CTL_PUBSUB_H

#include <stddef.h>
#include <stdint.h>

#include "control/ctl.h"

/* shardctl pub / sub: a moq-lite publisher and subscriber over QUIC (see docs/operator.md). */
int sl_ctl_pub_main(const struct sl_ctl_cli *cli, int argc, char **argv);
int sl_ctl_sub_main(const struct sl_ctl_cli *cli, int argc, char **argv);

/*
 * Synthetic frames carry their send time so every subscriber can measure latency:
 * bytes 0-7 "SLFRAME1", 8-15 wall-clock send time in ns (big endian), 16-23 frame number.
 * The rest is filler. Frames shorter than SL_FRAME_STAMP_LEN carry no stamp.
 */
#define SL_FRAME_STAMP_LEN 24

void sl_frame_stamp(uint8_t *p, size_t len, uint64_t wall_ns, uint64_t number);
/* Returns 1 and the stamp if p holds one, else 0. */
int sl_frame_read_stamp(const uint8_t *p, size_t len, uint64_t *wall_ns, uint64_t *number);

#endif
