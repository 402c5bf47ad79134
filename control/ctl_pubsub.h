/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_CTL_PUBSUB_H
#define SL_CONTROL_CTL_PUBSUB_H

#include <stddef.h>
#include <stdint.h>

#include "control/ctl.h"
#include "core/trace.h"

/* shardctl pub / sub: a moq-lite publisher and subscriber over QUIC (see docs/operator.md). */
int sl_ctl_pub_main(const struct sl_ctl_cli *cli, int argc, char **argv);
int sl_ctl_sub_main(const struct sl_ctl_cli *cli, int argc, char **argv);

/* Frames are stamped with sl_frame_stamp (core/trace.h): shardctl sub measures latency from them.
 */

#endif
