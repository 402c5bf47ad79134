/* SPDX-License-Identifier: Apache-2.0 */
#include "core/owner.h"

__thread char sl_owner_tls;
