/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * krelay's user-space interface: socket options on IPv4 sockets.
 *
 * Addresses and ports are in network byte order, everything else in host
 * byte order. All structures have fixed-width fields and explicit padding,
 * which the kernel always zeroes.
 *
 * The option range [KRELAY_SO_BASE, KRELAY_SO_MAX) collides with none in
 * use: not the IP_* options ip_{get,set}sockopt handle themselves, not
 * MRT_* (200-211), SO_ORIGINAL_DST (80), iptables (64+), arptables (96+),
 * ebtables (128+) or IPVS (1152+).
 */
#ifndef _UAPI_KRELAY_H
#define _UAPI_KRELAY_H

#include <linux/types.h>

/*
 * krelay's version: the module's (MODULE_VERSION, shown in
 * /sys/module/krelay/version) and the programs' (libkrelay compares the
 * two), the DKMS tree's and the packages' (the Makefile reads it here).
 */
#define KRELAY_VERSION			"0.1"

#define KRELAY_SO_BASE			2048

/*
 * getsockopt(fd, IPPROTO_IP, KRELAY_SO_ORIGINAL_DST, &od, &len) on a socket
 * accepted on the gateway port: where the client was going (relay) and
 * which server krelay chose for the flow. ENOENT if krelay has no such
 * flow, EINVAL if len < sizeof(od).
 */
#define KRELAY_SO_ORIGINAL_DST		(KRELAY_SO_BASE)

/*
 * getsockopt(fd, IPPROTO_IP, KRELAY_SO_TABLE, buf, &len): a struct
 * krelay_table_hdr followed by as many struct krelay_entry records as fit
 * in len. hdr.count is the total number of entries, hdr.returned how many
 * follow; a caller with returned < count retries with a bigger buffer.
 * Needs CAP_NET_ADMIN.
 */
#define KRELAY_SO_TABLE			(KRELAY_SO_BASE + 1)

/*
 * getsockopt(fd, IPPROTO_IP, KRELAY_SO_TABLE_PAGE, buf, &len): one page of
 * the table. buf starts with a struct krelay_table_query, filled in by the
 * caller (version, cursor, filter; every other field zero), and the kernel
 * writes the query back with its output fields set, followed by up to
 * (len - sizeof(query)) / sizeof(struct krelay_entry) records, at most
 * KRELAY_TABLE_PAGE_MAX. Needs CAP_NET_ADMIN; EINVAL for a bad version,
 * cursor, filter or nonzero padding.
 *
 * The cursor is a position in the hash table, not an offset: a page costs
 * what it returns plus at most KRELAY_TABLE_SCAN buckets and nodes
 * skipped, however big the table. Start with cursor 0 and pass back the
 * cursor each page returns until it is KRELAY_TABLE_END. A flow present
 * for the whole walk is returned exactly once, unless one hash bucket
 * holds more matches than a page (the walk then splits that bucket by
 * position) or the hash grew during the walk (a larger max_entries);
 * flows added or removed during the walk may or may not show.
 */
#define KRELAY_SO_TABLE_PAGE		(KRELAY_SO_BASE + 2)
#define KRELAY_SO_GET_MAX		(KRELAY_SO_BASE + 3)

/*
 * setsockopt(fd, IPPROTO_IP, KRELAY_SO_CLIENT, &cl, sizeof(cl)) on
 * tcp_relay's server-side TCP socket after bind() and before connect():
 * links the socket's local port to the client flow cl names, so that the
 * server sees the client's address. Needs CAP_NET_ADMIN (EPERM), ENOENT
 * if krelay has no such flow, EADDRINUSE if the client's address with
 * this local port is already in use by another flow (bind again). A
 * closing flow that still holds the port gives way (counted as evicted):
 * the bind proved its socket gone, and krelay's TIME_WAIT outlasts the
 * stack's.
 */
#define KRELAY_SO_CLIENT		(KRELAY_SO_BASE)

/*
 * How many server-side sockets a relay binds, one after another, before it
 * gives a client up on EADDRINUSE: a port still held by a closing flow is
 * rare, two in a row rarer still. tcp_relay and the kernel relay alike.
 */
#define KRELAY_BIND_TRIES		4

/*
 * setsockopt(fd, IPPROTO_IP, KRELAY_SO_LISTENER, NULL, 0) on tcp_relay's
 * listening TCP socket, bound to the gateway port: steered SYNs go to
 * this socket alone. While none is registered (or the registered one no
 * longer listens) they are refused with a RST and counted (no_listener).
 * A later registration replaces the earlier one; a gport change keeps
 * steering to the registered listener until one on the new port is
 * registered. Needs CAP_NET_ADMIN (EPERM); EINVAL unless the socket
 * listens on the current gport.
 */
#define KRELAY_SO_LISTENER		(KRELAY_SO_BASE + 1)
#define KRELAY_SO_SET_MAX		(KRELAY_SO_BASE + 2)

#define KRELAY_TABLE_VERSION		1

struct krelay_addr {
	__be32	ip;
	__be16	port;
	__u16	pad;
};

struct krelay_origdst {
	struct krelay_addr	relay;		/* what the client talked to */
	struct krelay_addr	server;		/* where krelay sends the flow */
};

struct krelay_client {
	struct krelay_addr	client;		/* the client's address:port */
	struct krelay_addr	relay;		/* what the client talked to */
};

enum krelay_state {
	KRELAY_UDP_UNREPLIED	= 1,
	KRELAY_UDP_REPLIED	= 2,
	KRELAY_TCP_SYN_SENT	= 3,
	KRELAY_TCP_ESTABLISHED	= 4,
	KRELAY_TCP_FIN_WAIT	= 5,
	KRELAY_TCP_CLOSE	= 6,
	KRELAY_TCP_SYN_RECV	= 7,
	KRELAY_TCP_CLOSE_WAIT	= 8,
	KRELAY_TCP_TIME_WAIT	= 9,
	KRELAY_UDP_STREAM	= 10,
};

/*
 * The names of the states in /proc/krelay/nat and the JSON API. Numbers
 * keep their meaning; new states are added at the end, and readers show
 * a state they do not know as "?".
 */
#define KRELAY_STATE_NAMES {					\
	[KRELAY_UDP_UNREPLIED]		= "UNREPLIED",		\
	[KRELAY_UDP_REPLIED]		= "REPLIED",		\
	[KRELAY_TCP_SYN_SENT]		= "SYN_SENT",		\
	[KRELAY_TCP_ESTABLISHED]	= "ESTABLISHED",	\
	[KRELAY_TCP_FIN_WAIT]		= "FIN_WAIT",		\
	[KRELAY_TCP_CLOSE]		= "CLOSE",		\
	[KRELAY_TCP_SYN_RECV]		= "SYN_RECV",		\
	[KRELAY_TCP_CLOSE_WAIT]		= "CLOSE_WAIT",		\
	[KRELAY_TCP_TIME_WAIT]		= "TIME_WAIT",		\
	[KRELAY_UDP_STREAM]		= "STREAM",		\
}

struct krelay_table_hdr {
	__u32	version;	/* KRELAY_TABLE_VERSION */
	__u32	count;		/* entries in the table */
	__u32	returned;	/* records that follow */
	__u32	record_size;	/* sizeof(struct krelay_entry) */
};

#define KRELAY_TABLE_END		(~0ULL)
#define KRELAY_TABLE_PAGE_MAX		16384
#define KRELAY_TABLE_SCAN		65536

/* Which flows a page returns; a zero field matches every flow. */
struct krelay_table_filter {
	__be32	client_ip;
	__be16	client_port;	/* 0: any */
	__u8	client_prefix;	/* leading bits of client_ip to match, 0-32 */
	__u8	proto;		/* IPPROTO_TCP, IPPROTO_UDP or 0 */
	__u8	state;		/* enum krelay_state or 0 */
	__u8	pad[3];
};

/* Why a page ended. */
enum krelay_table_stop {
	KRELAY_TABLE_STOP_END	= 0,	/* the whole table has been walked */
	KRELAY_TABLE_STOP_FULL	= 1,	/* no room for the next match */
	KRELAY_TABLE_STOP_SCAN	= 2,	/* KRELAY_TABLE_SCAN looked at */
};

struct krelay_table_query {
	__u32				version;	/* in: KRELAY_TABLE_VERSION */
	__u32				record_size;	/* out */
	__u64				cursor;		/* in and out */
	__u32				count;		/* out: flows in the table */
	__u32				returned;	/* out: records that follow */
	__u32				stop;		/* out: enum krelay_table_stop */
	struct krelay_table_filter	filter;		/* in */
};

enum krelay_dir {
	KRELAY_DIR_ORIG		= 0,	/* client to server */
	KRELAY_DIR_REPLY	= 1,	/* server to client */
	KRELAY_DIR_MAX
};

struct krelay_entry {
	__u8			proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u8			state;		/* enum krelay_state */
	__u16			pad;
	struct krelay_addr	client;
	struct krelay_addr	relay;
	struct krelay_addr	server;
	__be16			gport;		/* TCP: gateway port, else 0 */
	__be16			relay_port;	/* TCP: tcp_relay's port y, or 0 */
	__u32			age_s;
	__u32			idle_s;
	__u32			pad2;
	__u32			pad3;	/* 64-bit alignment on 32-bit too */
	__u64			packets[KRELAY_DIR_MAX];
	__u64			bytes[KRELAY_DIR_MAX];
};

#endif /* _UAPI_KRELAY_H */
