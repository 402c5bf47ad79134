/* SPDX-License-Identifier: Apache-2.0 */
#include "core/err.h"

static const struct {
	const char *name;
	const char *text;
} sl_err_table[] = {
	[0] = {"SL_OK", "success"},
	[1] = {"SL_EINVAL", "invalid argument"},
	[2] = {"SL_ENOMEM", "out of memory"},
	[3] = {"SL_EAGAIN", "would block"},
	[4] = {"SL_EEOF", "end of stream"},
	[5] = {"SL_ECLOSED", "already closed"},
	[6] = {"SL_EDUP", "duplicate"},
	[7] = {"SL_EBOUNDS", "bounds exceeded"},
	[8] = {"SL_ENOTFOUND", "not found"},
	[9] = {"SL_ETRUNC", "truncated input"},
	[10] = {"SL_ENOSPC", "no space left"},
	[11] = {"SL_EDROPPED", "producer dropped"},
	[12] = {"SL_EIO", "I/O error"},
	[13] = {"SL_ERANGE", "value out of range"},
	[14] = {"SL_ENOTSUP", "not supported"},
	[15] = {"SL_ECANCEL", "cancelled"},
	[16] = {"SL_EBUSY", "busy"},
	[17] = {"SL_ETIMEDOUT", "timed out"},
	[18] = {"SL_ELOST", "messages lost"},
	[19] = {"SL_EPRECOND", "precondition failed"},
	[20] = {"SL_EFENCED", "fenced by a newer epoch"},
	[21] = {"SL_ECORRUPT", "data corrupt"},
};

const char *sl_strerror(int err)
{
	if (err > 0 || err < SL_ERR_MIN)
		return "unknown error";
	return sl_err_table[-err].text;
}

const char *sl_errname(int err)
{
	if (err > 0 || err < SL_ERR_MIN)
		return "SL_E?";
	return sl_err_table[-err].name;
}
