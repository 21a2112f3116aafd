/* SPDX-License-Identifier: GPL-2.0 */
#ifndef WEBADMIN_PRIVSEP_H
#define WEBADMIN_PRIVSEP_H

/*
 * The messages between the HTTP process (unprivileged: libmicrohttpd, auth,
 * request and JSON parsing, static files) and the privileged process (the
 * kernel files, the TABLE socket option, the configuration file, tcp_relay).
 * A stream socketpair; every message is a ps_hdr and len bytes. The HTTP
 * process asks, the privileged process answers each request with exactly
 * one reply of the same type. Requests have fixed sizes and are checked
 * field by field (priv_check) before anything is done; a request that fails
 * the check ends the privileged process's trust: it stops webadmin.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "knobs.h"

enum ps_type {
	PS_LOADED = 1,	/* -> ps_int: 1 when the module is loaded */
	PS_STARTED,	/* -> ps_int: 1, 0, or -1 when unknown */
	PS_KNOBS,	/* -> ps_knobs */
	PS_STATS,	/* -> the stats file's text */
	PS_TABLE,	/* ps_table_req -> ps_table and the records */
	PS_RELAY,	/* -> ps_relay */
	PS_CONFIG,	/* ps_config -> ps_config_rep */
	PS_START,	/* ps_start -> ps_int: 0 or -errno */
	PS_NAT,		/* ps_nat -> ps_int: 0 or -errno */
	PS_TYPE_MAX
};

struct ps_hdr {
	uint32_t	type;
	uint32_t	len;		/* bytes after the header */
};

/* Canonical knob text (kr_parse's output), NUL-padded; mask bit i = kr_knobs[i]. */
struct ps_config {
	uint32_t	mask;
	char		val[KR_NCONF][KR_VAL_MAX];
};

struct ps_start {
	uint32_t	on;		/* 0 or 1 */
};

/* proto 0: flush (ip and port 0); else delete proto ip:port. */
struct ps_nat {
	uint32_t	proto;		/* 0, IPPROTO_TCP or IPPROTO_UDP */
	uint32_t	ip;		/* network order */
	uint32_t	port;		/* host order, 1-65535 */
};

struct ps_int {
	int32_t		v;
};

struct ps_knobs {
	int32_t		err[KR_NCONF];	/* 0 or -errno */
	char		val[KR_NCONF][KR_VAL_MAX];
};

struct ps_relay {
	uint32_t	supervised;
	uint32_t	running;
	int32_t		pid;
	uint32_t	restarts;
};

struct ps_config_rep {
	int32_t		err;		/* 0, -EINVAL (msg says why), -errno */
	int32_t		field;		/* kr_knobs[] index, or -1 */
	uint32_t	applied;	/* mask of the knobs written and saved */
	char		msg[KR_ERR_MAX];	/* "": krelay refused field */
};

/* A page of the NAT table: kr_table_page's arguments. */
struct ps_table_req {
	uint64_t			cursor;
	uint32_t			max;	/* 1 to KRELAY_TABLE_PAGE_MAX */
	struct krelay_table_filter	filter;
};

struct ps_table {
	int32_t		err;
	uint32_t	count;
	uint32_t	returned;
	uint32_t	stride;
	uint32_t	stop;
	uint32_t	pad;
	uint64_t	next;
};

#define PS_REQ_MAX	sizeof(struct ps_config)
#define PS_STATS_MAX	(64 * 1024)
#define PS_REPLY_MAX	(1024UL * 1024 * 1024)

/* privsep.c: the privileged side */
int priv_check(const struct ps_hdr *h, const void *payload);
int priv_handle(const struct ps_hdr *h, const void *payload, void **rep,
		size_t *replen);
/* How long one whole message may take, each way (default 10 s). */
extern int priv_io_timeout_ms;

void priv_run(int sock, int listen_fd, pid_t http);
int priv_drop(const char *user, const char *chroot_dir);

/* privcall.c: the HTTP side's calls */
void priv_client_init(int sock);
bool priv_loaded(void);
int priv_started(void);
json_t *priv_knobs(void);
json_t *priv_stats(void);
int priv_table(const struct krelay_table_filter *f, uint64_t cursor,
	       uint32_t max, struct kr_table *t);
struct relay_status;
void priv_relay_status(struct relay_status *st);
int priv_config(const struct kr_set *s, const char **field, char *err);
int priv_start(bool on);
int priv_nat(int proto, uint32_t ip, unsigned int port);

#endif
