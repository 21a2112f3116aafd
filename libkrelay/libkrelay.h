/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LIBKRELAY_H
#define LIBKRELAY_H

/*
 * libkrelay: the user-space side of krelay's interface (DESIGN.md, "krelay
 * interface"), one copy for krelayctl, webadmin and tcp_relay: the knobs
 * and their grammar, the /proc/krelay files and the module's parameters,
 * applying a set of values all or nothing, the configuration file, and the
 * TABLE socket option.
 *
 * The grammar is the module's (krelay/config.c, krelay/main.c): what
 * kr_parse() accepts the kernel accepts, and the other way round, with one
 * addition: blanks around the items of a list are dropped. Functions return
 * 0 or -errno unless they say otherwise.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "krelay.h"	/* krelay/uapi */

/*
 * The knobs, in kr_knobs[] order; the first KR_NCONF are the settings of
 * the configuration file and of webadmin's API (start is not one).
 */
enum {
	KR_GPORT,
	KR_REAL_IP,
	KR_TCP_PORTS,
	KR_UDP_PORTS,
	KR_MAX_ENTRIES,
	KR_UDP_TIMEOUT,
	KR_UDP_STREAM_TIMEOUT,
	KR_TCP_TIMEOUT_ESTABLISHED,
	KR_TCP_TIMEOUT_CLOSE,
	KR_INTERFACES,
	KR_MAX_PER_CLIENT,
	KR_CLIENT_CC,
	KR_SERVER_CC,
	KR_RELAY_MAX_PAIRS,
	KR_RELAY_MAX_PER_CLIENT,
	KR_RELAY_IDLE_TIMEOUT,
	KR_RELAY_CONNECT_TIMEOUT,
	KR_TCP_MODE,
	KR_START,
	KR_NKNOBS
};
#define KR_NCONF	KR_START

#define KR_VAL_MAX	128	/* a canonical value and its NUL */
#define KR_IN_MAX	142	/* the longest value a knob file takes ("VALUE\n") */
#define KR_ERR_MAX	320
#define KR_PORTS_MAX	16
#define KR_IFNAMES_MAX	8
#define KR_IFNAME_MAX	15	/* IFNAMSIZ - 1, a trailing '+' included */

#define KR_CC_MAX	15	/* TCP_CA_NAME_MAX - 1 */

enum kr_type { KR_INT, KR_IP, KR_PORTS, KR_IFNAMES, KR_BOOL, KR_CC, KR_WORD };

struct kr_knob {
	const char	*name;
	enum kr_type	type;
	long		min, max;	/* KR_INT, KR_PORTS (each port), KR_BOOL */
	const char *const *words;	/* KR_WORD: the values, NULL-ended */
	bool		param;		/* a module parameter, not a /proc file */
	bool		optional;	/* absent from older modules */
};

extern const struct kr_knob kr_knobs[KR_NKNOBS];

/* A set of values to write: canonical text (kr_parse's output). */
struct kr_set {
	bool	set[KR_NKNOBS];
	char	val[KR_NKNOBS][KR_VAL_MAX];
	int	line[KR_NKNOBS];	/* the configuration file's line, or 0 */
};

/* knob.c: the grammar */

/* The index of a knob by name, or -1. */
int kr_knob_index(const char *name);

/*
 * Check in against knob k's grammar and write its canonical form (what the
 * module shows after taking it) into out, KR_VAL_MAX bytes. -1 with the
 * reason in why (KR_ERR_MAX bytes, without the knob's name: "must be an
 * integer from 1 to 65535").
 */
int kr_parse(int k, const char *in, char *out, char *why);

/* A canonical KR_INT or KR_BOOL value as a number; -1 when it is not one. */
int kr_parse_long(int k, const char *in, long *v);

/* Does the canonical port list contain port? */
bool kr_ports_contain(const char *list, long port);

/* file.c: the kernel's files */

/*
 * The directories of the knob files and of the module's parameters.
 * kr_dirs_from_env() takes KRELAY_PROC_DIR and KRELAY_PARAM_DIR (tests
 * point them at directories of their own), else /proc/krelay and
 * /sys/module/krelay/parameters; kr_set_dirs() sets them (the strings are
 * not copied).
 */
void kr_dirs_from_env(void);
void kr_set_dirs(const char *proc_dir, const char *param_dir);
const char *kr_proc_dir(void);
const char *kr_param_dir(void);

/* Is the module loaded (its proc directory there)? */
bool kr_loaded(void);

/*
 * NULL when the loaded module is of these programs' version
 * (KRELAY_VERSION) or says none; else why not, ending in what to do
 * ("... reload krelay ..."): after an upgrade of the module's source, the
 * module loaded may still be the old one.
 */
const char *kr_version_mismatch(void);

/* A file's text without trailing newlines and blanks (size bytes with NUL). */
int kr_read_file(const char *dir, const char *name, char *buf, size_t size);

/*
 * A counter of the stats file ("NAME VALUE" lines) into *v: 0, -ENOENT
 * when it has no such line, or -errno.
 */
int kr_stat(const char *name, unsigned long long *v);

/* Write "val\n" with one write(), as the kernel wants it. */
int kr_write_file(const char *dir, const char *name, const char *val);

/* Knob k's current value (KR_VAL_MAX bytes; start reads as 0 or 1). */
int kr_read(int k, char *buf);

/* Knob k's current KR_INT value; -EINVAL when the file's text is not one. */
int kr_read_long(int k, long *v);

/* Write knob k (val already canonical). */
int kr_write(int k, const char *val);

/* Why the module refused a write of knob k with -err, for messages. */
const char *kr_refusal(int k, int err);

/*
 * A set's gport against tcp_ports, with the current value of the one it
 * does not set: the module refuses a gport that is a relayed TCP port.
 * -1 with the knob to blame in *bad and the reason in why; 0 when they
 * agree or a current value cannot be read (the module checks too).
 */
int kr_set_check(const struct kr_set *s, int *bad, char *why);

/* What kr_apply() could not do. */
struct kr_fail {
	int		knob;		/* the knob refused or unreadable, or -1 */
	unsigned int	unrestored;	/* mask of knobs the rollback failed */
};

/*
 * Write every knob set in s, all or nothing: the current values are read
 * first (into old, when not NULL: applying old undoes s), tcp_ports and
 * gport go in the order the module takes them, start last; when a write is
 * refused the ones before it are written back, newest first. -errno with
 * f->knob on failure (nothing written when a current value could not be
 * read; f->unrestored says what stayed changed).
 */
int kr_apply(const struct kr_set *s, struct kr_set *old, struct kr_fail *f);

/* conf.c: the configuration file, `name = value` lines and # comments */

/*
 * How kr_conf_load() reports a bad line: k and val are the knob and the
 * value that failed its grammar (why says how), or -1 and NULL for a line
 * that is no setting (why is the whole message).
 */
typedef void kr_conf_warn_fn(const char *path, int line, int k,
			     const char *val, const char *why);

/*
 * Read path into s (line numbers in s->line), every bad line reported
 * through warn; start is a setting only when with_start. -errno when the
 * file cannot be read, -EINVAL after bad lines.
 */
int kr_conf_load(const char *path, bool with_start, struct kr_set *s,
		 kr_conf_warn_fn *warn);

/* Replace path with s's settings atomically (temporary file, rename). */
int kr_conf_save(const char *path, const struct kr_set *s);

/* table.c: the TABLE_PAGE socket option */

/* A page of the NAT table as TABLE_PAGE returned it. */
struct kr_table {
	uint32_t	count;		/* entries in the kernel's table */
	uint32_t	returned;	/* records in recs */
	size_t		stride;		/* the kernel's record size */
	uint64_t	next;		/* cursor of the next page, or KRELAY_TABLE_END */
	uint32_t	stop;		/* enum krelay_table_stop */
	unsigned char	*recs;
};

/*
 * Up to max (1 to KRELAY_TABLE_PAGE_MAX) flows matching f (NULL: all) from
 * cursor on (0: the start). CAP_NET_ADMIN; -errno, -EPROTO for a reply
 * that makes no sense.
 */
int kr_table_page(const struct krelay_table_filter *f, uint64_t cursor,
		  uint32_t max, struct kr_table *t);
void kr_table_free(struct kr_table *t);

static inline const struct krelay_entry *
kr_table_entry(const struct kr_table *t, uint32_t i)
{
	return (const struct krelay_entry *)(t->recs + (size_t)i * t->stride);
}

/* The name of a flow state (enum krelay_state), or "?" for one unknown. */
const char *kr_state_name(unsigned int state);
/* The state named s, in any case; 0 when s names none. */
unsigned int kr_state_parse(const char *s);

/* json.c: the JSON form of a value (jansson's json_t) */
struct json_t;

/*
 * Integers as numbers, start as a boolean, real_ip and interfaces as
 * strings ("" for every interface), the port lists as arrays of numbers;
 * null when val is not the knob's canonical text (or not UTF-8).
 */
struct json_t *kr_to_json(int k, const char *val);

/* The other way, into canonical text: -1 with the reason in why, as kr_parse. */
int kr_from_json(int k, const struct json_t *v, char *out, char *why);

#endif
