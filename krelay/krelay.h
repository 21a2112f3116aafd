/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KRELAY_H
#define _KRELAY_H

#include <linux/if.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/types.h>
#include <net/tcp.h>

struct net_device;

#include "uapi/krelay.h"

#define KRELAY_MAX_PORTS	16
#define KRELAY_MAX_IFNAMES	8

/* A relayed-port list, replaced whole under RCU. */
struct krelay_ports {
	struct rcu_head	rcu;
	unsigned int	n;
	u16		port[KRELAY_MAX_PORTS];
};

/*
 * The scope: interfaces on which new flows may start, replaced whole under
 * RCU. No names means every interface; a name ending in '+' matches every
 * interface whose name starts with what precedes it.
 */
struct krelay_ifnames {
	struct rcu_head	rcu;
	unsigned int	n;
	char		name[KRELAY_MAX_IFNAMES][IFNAMSIZ];
};

struct krelay_config {
	u16			gport;
	__be32			real_ip;
	struct krelay_ports __rcu *tcp_ports;
	struct krelay_ports __rcu *udp_ports;
	struct krelay_ifnames __rcu *interfaces;
	u32			max_entries;
	u32			udp_timeout;
	u32			udp_stream_timeout;
	u32			tcp_timeout_established;
	u32			tcp_timeout_close;
	u32			max_per_client;	/* 0: no limit */
	/*
	 * The congestion control of the relay's sending side on the client
	 * and server legs; "" for the system's default. Read and written
	 * under krelay_config_mutex.
	 */
	char			client_cc[TCP_CA_NAME_MAX];
	char			server_cc[TCP_CA_NAME_MAX];
	/*
	 * The TCP relay's limits, whoever relays (tcp_relay reads them from
	 * /proc/krelay): pairs in all, pairs of one client address, seconds
	 * a pair may stay idle, seconds a server connect may take. Each
	 * applies to pairs that start after it is set.
	 */
	u32			relay_max_pairs;
	u32			relay_max_per_client;
	u32			relay_idle_timeout;
	u32			relay_connect_timeout;
	u32			tcp_mode;	/* enum krelay_tcp_mode */
};

/* Who relays TCP: tcp_relay on its registered listener, or krelay itself. */
enum krelay_tcp_mode { KRELAY_TCP_USER, KRELAY_TCP_KERNEL };

/*
 * Values are read on the packet path with READ_ONCE (or rcu_dereference for
 * the port lists) and written with WRITE_ONCE under krelay_config_mutex.
 */
extern struct krelay_config krelay_cfg;
/* Serialises configuration writes, start/stop and module teardown. */
extern struct mutex krelay_config_mutex;

int krelay_config_init(void);
void krelay_config_exit(void);
bool krelay_port_relayed(u8 proto, __be16 port);
bool krelay_in_scope(const struct net_device *in);

enum krelay_knob_type {
	KRELAY_KNOB_PORT,
	KRELAY_KNOB_IPV4,
	KRELAY_KNOB_PORTS,
	KRELAY_KNOB_U32,
	KRELAY_KNOB_SECS,	/* a NAT timeout: a u32 of seconds */
	KRELAY_KNOB_CC,		/* a congestion control's name, or "" */
	KRELAY_KNOB_IFNAMES,
	KRELAY_KNOB_TCP_MODE,	/* "user" or "kernel" */
};

struct krelay_knob {
	const char		*name;
	enum krelay_knob_type	type;
	u32			min, max;
	void			*val;
};

extern const struct krelay_knob krelay_knobs[];
extern const unsigned int krelay_nr_knobs;
int krelay_parse_u32(const char *buf, size_t len, u32 min, u32 max, u32 *out);
int krelay_knob_show(const struct krelay_knob *k, char *buf, size_t size);
int krelay_knob_store(const struct krelay_knob *k, const char *buf, size_t len);

/* Start/stop: hooks registered or not. */
bool krelay_started(void);

/* Counters, per CPU; summed when read. */
enum krelay_stat {
	KRELAY_STAT_PRE_UDP,
	KRELAY_STAT_PRE_TCP,
	KRELAY_STAT_POST_UDP,
	KRELAY_STAT_POST_TCP,
	KRELAY_STAT_ICMP,
	KRELAY_STAT_INSERT,
	KRELAY_STAT_INSERT_FAILED,
	KRELAY_STAT_EVICTED,
	KRELAY_STAT_EXPIRED,
	KRELAY_STAT_DELETED,
	KRELAY_STAT_DROP_TABLE_FULL,
	KRELAY_STAT_DROP_NOMEM,
	KRELAY_STAT_DROP_UNWRITABLE,
	KRELAY_STAT_DROP_CLASH,
	KRELAY_STAT_INVALID,
	KRELAY_STAT_OUT_OF_WINDOW,
	KRELAY_STAT_DROP_PER_CLIENT,
	KRELAY_STAT_ICMP_BAD_CHECKSUM,
	KRELAY_STAT_ICMP_REDIRECT,
	KRELAY_STAT_IMPOSTOR,
	KRELAY_STAT_NO_LISTENER,
	KRELAY_STAT_GC_CHECKED,
	KRELAY_STAT_KPAIRS,		/* kernel relay: pairs started */
	KRELAY_STAT_KPAIR_REFUSED,	/* kernel relay: connections refused */
	KRELAY_STAT_KPAIR_BYTES,	/* kernel relay: bytes, both ways */
	KRELAY_STAT_MAX
};

struct krelay_stats {
	u64 c[KRELAY_STAT_MAX];
};

DECLARE_PER_CPU(struct krelay_stats, krelay_stats);
extern const char *const krelay_stat_names[KRELAY_STAT_MAX];

static inline void krelay_count(enum krelay_stat s)
{
	this_cpu_inc(krelay_stats.c[s]);
}

static inline void krelay_count_n(enum krelay_stat s, unsigned int n)
{
	this_cpu_add(krelay_stats.c[s], n);
}

u64 krelay_stat_sum(enum krelay_stat s);

/* proc.c */
int krelay_proc_init(void);
void krelay_proc_exit(void);

/* hooks.c */
int krelay_hooks_register(void);
void krelay_hooks_unregister(void);

/* sockopt.c */
int krelay_sockopt_init(void);
void krelay_sockopt_exit(void);

/* sockopt.c, for the kernel relay too */
struct krelay_origdst;
struct krelay_client;
struct sock;
int krelay_origdst_of(struct sock *sk, struct krelay_origdst *od);
int krelay_link_server(struct sock *sk, const struct krelay_client *cl);

/* listener.c */
int krelay_listener_set(struct sock *sk);
struct sock *krelay_listener_hold(__be16 *port);
u16 krelay_listener_port(void);
void krelay_listener_exit(void);

/* kmode.c: the kernel relay */
int krelay_kmode_init(void);
void krelay_kmode_exit(void);
int krelay_kmode_listen(bool on);
struct sock *krelay_kmode_listener_hold(__be16 *port);
void krelay_kmode_stop(void);
void krelay_kmode_resume(void);
unsigned int krelay_kmode_pairs(void);
u16 krelay_kmode_listener_port(void);
void krelay_kmode_set_cc(bool server, const char *name);

#endif /* _KRELAY_H */
