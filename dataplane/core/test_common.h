/* SPDX-License-Identifier: Apache-2.0 */
/* Includes every cmocka test needs, in the order cmocka requires. */
#ifndef SL_TEST_COMMON_H
#define SL_TEST_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#endif
