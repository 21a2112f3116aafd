// SPDX-License-Identifier: GPL-2.0
/*
 * Whether the module is there and started. The rest of the kernel side
 * (knob files, parameters, the TABLE socket option) is libkrelay's. The
 * directories come from the environment (see main.c) so that tests can
 * exercise webadmin's own logic without the module.
 */
#include <sys/stat.h>

#include "webadmin.h"

bool kmod_loaded(void)
{
	struct stat st;

	return stat(wa.module_dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/* 1 or 0, or -1 when the parameter cannot be read. */
int kmod_started(void)
{
	long on;

	return kr_read_long(KR_START, &on) < 0 ? -1 : on;
}
