/* SPDX-License-Identifier: GPL-2.0 */
#ifndef KRELAYCTL_H
#define KRELAYCTL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "libkrelay.h"

/* Exit codes (krelayctl(8)). */
#define EXIT_OK		0
#define EXIT_FAIL	1
#define EXIT_USAGE	2

extern bool json_out;

void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int module_check(void);
void json_print(json_t *j);

int cmd_get(int argc, char *argv[]);
int cmd_set(int argc, char *argv[]);
int cmd_apply(int argc, char *argv[]);
int cmd_start(int on);

int cmd_list(int argc, char *argv[]);
int cmd_stats(int argc, char *argv[]);
int cmd_flush(int argc, char *argv[]);
int cmd_delete(int argc, char *argv[]);

#endif
