/* SPDX-License-Identifier: GPL-2.0 */
#ifndef WEBADMIN_KMOD_H
#define WEBADMIN_KMOD_H

#include <stdbool.h>

#include "libkrelay.h"

/* The NAT table is libkrelay's kr_table; the names api_nat.c still uses. */
#define kmod_table		kr_table
#define kmod_table_entry	kr_table_entry
#define kmod_table_free		kr_table_free

bool kmod_loaded(void);
int kmod_started(void);

#endif
