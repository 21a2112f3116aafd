/* SPDX-License-Identifier: GPL-2.0 */
#ifndef KRELAYCTL_H
#define KRELAYCTL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Exit codes (krelayctl(8)). */
#define EXIT_OK		0
#define EXIT_FAIL	1
#define EXIT_USAGE	2

#define VAL_MAX		256
#define ERR_MAX		320

enum knob_type { KNOB_INT, KNOB_IP, KNOB_PORTS, KNOB_IFNAMES, KNOB_BOOL };

struct knob {
	const char	*name;
	enum knob_type	type;
	long		min, max;
	bool		param;		/* in the parameter directory, not proc */
	bool		optional;	/* absent from older modules */
};

extern const struct knob knobs[];
extern const int nknobs;
extern const char *proc_dir, *param_dir;
extern bool json_out;

/* Values to write, canonical text as the kernel files take them. */
struct knob_set {
	bool	set[16];
	char	val[16][VAL_MAX];
	int	line[16];	/* where a value came from (apply), or 0 */
};

void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kread(const struct knob *k, char *buf, size_t size);
int kread_file(const char *dir, const char *name, char *buf, size_t size);
int kwrite_file(const char *dir, const char *name, const char *val);
int module_check(void);
void json_print(json_t *j);

int knob_index(const char *name);
int knob_check(const struct knob *k, const char *in, char *out, char *err);
json_t *knob_to_json(const struct knob *k, const char *val);

int cmd_get(int argc, char *argv[]);
int cmd_set(int argc, char *argv[]);
int cmd_apply(int argc, char *argv[]);
int cmd_start(int on);

int cmd_list(int argc, char *argv[]);
int cmd_stats(int argc, char *argv[]);
int cmd_flush(int argc, char *argv[]);
int cmd_delete(int argc, char *argv[]);

#endif
