/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CORE_ERR_H
#define SL_CORE_ERR_H

/*
 * Error codes. Every function that returns int returns 0 on success or one of these negative
 * codes. Two codes are not failures but states of a poll: SL_EAGAIN (nothing yet; a waiter was
 * armed if one was given) and SL_EEOF (the stream ended cleanly). Keeping them in the same space
 * lets a poll function return one int that a loop can switch on.
 */
enum sl_err {
	SL_OK = 0,
	SL_EINVAL = -1,	    /* an argument was out of its documented domain */
	SL_ENOMEM = -2,	    /* an allocation failed */
	SL_EAGAIN = -3,	    /* would block: poll again after the waiter fires */
	SL_EEOF = -4,	    /* clean end of a stream */
	SL_ECLOSED = -5,    /* the object was finished or closed earlier */
	SL_EDUP = -6,	    /* a duplicate key (sequence, name, path) */
	SL_EBOUNDS = -7,    /* a counter or sequence would overflow */
	SL_ENOTFOUND = -8,  /* no such object */
	SL_ETRUNC = -9,	    /* input ended in the middle of a value */
	SL_ENOSPC = -10,    /* output buffer or queue is full */
	SL_EDROPPED = -11,  /* the producer went away without finishing */
	SL_EIO = -12,	    /* an I/O operation failed */
	SL_ERANGE = -13,    /* a decoded value is outside what the format allows */
	SL_ENOTSUP = -14,   /* not supported by this build or backend */
	SL_ECANCEL = -15,   /* cancelled by the application */
	SL_EBUSY = -16,	    /* the resource is in use */
	SL_ETIMEDOUT = -17, /* a deadline passed before the operation could proceed */
	SL_ELOST = -18,	    /* a subscriber fell behind and missed messages */
	SL_EPRECOND = -19,  /* a conditional write's precondition failed (exists, etag changed) */
	SL_EFENCED = -20,   /* a newer owner (epoch) has taken over; this one must stop */
	SL_ECORRUPT = -21,  /* stored or received data failed a checksum or format check */
};

/* The lowest (most negative) code defined above; codes below it are application codes. */
#define SL_ERR_MIN (-21)

/*
 * Returns a static, human-readable description of err. Unknown codes get a generic text that
 * includes no number, so the caller should print the number too when it matters.
 */
const char *sl_strerror(int err);

/* Returns the symbolic name ("SL_EDUP") of err, or "SL_E?" for an unknown code. */
const char *sl_errname(int err);

#endif
