/* SPDX-License-Identifier: GPL-2.0 */
#ifndef WEBADMIN_KNOBS_H
#define WEBADMIN_KNOBS_H

/*
 * The knobs are libkrelay's; webadmin adds the -c file's settings (the
 * first KR_NCONF knobs: start is not one) and serialises writes.
 */
#include "libkrelay.h"

int knobs_apply(const struct kr_set *s, struct kr_set *old,
		struct kr_fail *f, char *err);

int conffile_load(const char *path);
void conffile_apply(void);

#endif
