/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_TRACK_GROUP_H
#define SL_TRACK_GROUP_H

#include <stdint.h>

#include "core/buf.h"
#include "core/wait.h"

/*
 * A group is an ordered run of frames with one sequence number inside a track (a GOP, say).
 * The producer appends frames and then finishes or aborts the group; any number of readers each
 * walk the frames with their own cursor and may start while the group is still being written.
 * Frames are slices of refcounted buffers: handing a frame to a reader lends the group's
 * reference, so delivering one frame to N readers copies no payload byte.
 *
 * Groups are created by a track (sl_track_create_group/append_group), which returns the
 * producer's reference. All calls on one group must come from the core that owns its track.
 */
struct sl_group;

/* Returns the group's sequence number. */
uint64_t sl_group_sequence(const struct sl_group *g);

/* Returns the number of frames written so far. */
uint32_t sl_group_frames(const struct sl_group *g);

/* Returns the payload bytes written so far. */
uint64_t sl_group_bytes(const struct sl_group *g);

/*
 * Appends a frame. The group takes over the caller's reference to frame->buf (the caller must
 * not release it). Wakes readers waiting for data.
 * Errors (the reference is then released by the group, so the caller never leaks it):
 * SL_ECLOSED (already finished), the abort code given to sl_group_abort or sl_track_abort,
 * SL_EBOUNDS (2^32 - 1 frames), SL_ENOMEM.
 */
int sl_group_write_frame(struct sl_group *g, struct sl_slice frame);

/* The timestamp of a frame written without one (sl_group_write_frame). */
#define SL_GROUP_NO_TS UINT64_MAX

/*
 * As sl_group_write_frame, with the frame's timestamp (moq-lite-05: units of the track's
 * timescale, carried unchanged by relays). The first timestamped frame gives the group its
 * timestamp array; frames written before it read as SL_GROUP_NO_TS. Same errors.
 */
int sl_group_write_frame_ts(struct sl_group *g, struct sl_slice frame, uint64_t ts);

/* Marks the group complete; readers get SL_EEOF after the last frame.
 * Errors: SL_ECLOSED (already finished), or the abort code if aborted. */
int sl_group_finish(struct sl_group *g);

/*
 * Aborts the group with err (a negative code, e.g. SL_ECANCEL or an application code below
 * SL_ERR_MIN). Readers get err from their next read, even with frames left unread, because an
 * aborted group is incomplete and a relay should reset rather than forward it.
 * Errors: SL_EINVAL (err >= 0), SL_ECLOSED (already finished or aborted).
 */
int sl_group_abort(struct sl_group *g, int err);

/* Returns 1 once finished, the abort code once aborted, 0 while open. */
int sl_group_state(const struct sl_group *g);

/* Takes or drops a reference. The last drop frees the group and releases its frames. */
struct sl_group *sl_group_ref(struct sl_group *g);
void sl_group_unref(struct sl_group *g);

/*
 * A reader: a group reference plus a frame cursor, held by value in the consumer's own state
 * (no allocation per reader).
 */
struct sl_group_reader {
	struct sl_group *group;
	uint32_t next; /* index of the next frame to read */
};

/* Starts a reader at frame 0, taking a group reference. */
void sl_group_reader_init(struct sl_group_reader *r, struct sl_group *g);

/*
 * Reads the next frame into *out. The slice borrows the group's buffer reference and stays
 * valid while the reader holds the group; sl_buf_ref() it to keep it longer.
 * Returns 0 (a frame), SL_EAGAIN (no frame yet; w, if not NULL, is armed and fires on the next
 * frame, finish or abort), SL_EEOF (finished and fully read), or the group's abort code.
 */
int sl_group_read_frame(struct sl_group_reader *r, struct sl_waiter *w, struct sl_slice *out);

/* As sl_group_read_frame, and *ts receives the frame's timestamp, or SL_GROUP_NO_TS when it
 * was written without one (only set when 0 is returned). */
int sl_group_read_frame_ts(struct sl_group_reader *r, struct sl_waiter *w, struct sl_slice *out,
			   uint64_t *ts);

/* Drops the reader's reference (idempotent). */
void sl_group_reader_release(struct sl_group_reader *r);

#endif
