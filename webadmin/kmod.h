/* SPDX-License-Identifier: GPL-2.0 */
#ifndef WEBADMIN_KMOD_H
#define WEBADMIN_KMOD_H

#include <stdbool.h>

#include "libkrelay.h"

bool kmod_loaded(void);
int kmod_started(void);

#endif
