/* SPDX-License-Identifier: GPL-2.0 */
#ifndef WEBADMIN_KMOD_H
#define WEBADMIN_KMOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "krelay.h"	/* krelay/uapi */

/* A copy of krelay's NAT table as the TABLE socket option returned it. */
struct kmod_table {
	uint32_t	count;		/* entries in the kernel's table */
	uint32_t	returned;	/* records in recs */
	size_t		stride;		/* the kernel's record size */
	unsigned char	*recs;
};

bool kmod_loaded(void);
int kmod_read(const char *dir, const char *name, char *buf, size_t size);
int kmod_write(const char *dir, const char *name, const char *val);
int kmod_started(void);
int kmod_table(struct kmod_table *t);
void kmod_table_free(struct kmod_table *t);

static inline const struct krelay_entry *
kmod_table_entry(const struct kmod_table *t, uint32_t i)
{
	return (const struct krelay_entry *)(t->recs + (size_t)i * t->stride);
}

#endif
