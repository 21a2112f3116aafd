/* SPDX-License-Identifier: GPL-2.0 */
#ifndef WEBADMIN_KNOBS_H
#define WEBADMIN_KNOBS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

enum knob_type { KNOB_INT, KNOB_IP, KNOB_PORTS, KNOB_IFNAMES };

struct knob {
	const char	*name;
	enum knob_type	type;
	long		min, max;
};

#define NKNOBS		11
#define KNOB_GPORT	0	/* index in knobs[] */
#define KNOB_VAL_MAX	128
#define KNOB_ERR_MAX	320

extern const struct knob knobs[NKNOBS];

/* Values to write, canonical text as the proc files take them. */
struct knob_set {
	bool	set[NKNOBS];
	char	val[NKNOBS][KNOB_VAL_MAX];
};

int knob_index(const char *name);
int knob_check(const struct knob *k, const char *in, char *out, char *err);
int knob_from_json(const struct knob *k, const json_t *v, char *out,
		   char *err);
json_t *knob_to_json(const struct knob *k, const char *val);
int knob_set_check(const struct knob_set *s, const char **field, char *err);
int knob_set_apply(const struct knob_set *s, struct knob_set *applied,
		   const char **field);

int conffile_load(const char *path);
int conffile_save(const struct knob_set *applied);
void conffile_apply(void);

#endif
