/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KRELAY_TABLE_H
#define _KRELAY_TABLE_H

#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/types.h>

/*
 * A flow is found from the packets of each of its legs. Each role is one
 * exact 5-tuple as it appears on the wire, before krelay rewrites it:
 *
 *   ORIG     T1/U1  client:x -> relay:svc       (PRE_ROUTING, DNAT)
 *   REPLY    T2     relay:gport -> client:x     (POST_ROUTING, SNAT)
 *            U3     server:svc -> client:x      (POST_ROUTING, SNAT)
 *   SRV_OUT  T3     local:y -> server:svc       (POST_ROUTING, SNAT)
 *   SRV_IN   T4     server:svc -> client:y      (PRE_ROUTING, DNAT)
 *
 * ORIG and REPLY are hashed when the flow is created; SRV_OUT and SRV_IN
 * when tcp_relay links its server-side socket to the flow.
 */
enum krelay_role {
	KRELAY_ROLE_ORIG,
	KRELAY_ROLE_REPLY,
	KRELAY_ROLE_SRV_OUT,
	KRELAY_ROLE_SRV_IN,
	KRELAY_ROLE_MAX
};

struct krelay_tuple {
	__be32	src;
	__be32	dst;
	__be16	sport;
	__be16	dport;
	u8	proto;
};

struct krelay_client_count;

struct krelay_node {
	struct hlist_node	hnode;
	struct krelay_tuple	t;
	u8			role;
};

struct krelay_flow {
	struct krelay_node	node[KRELAY_ROLE_MAX];
	struct list_head	evict;		/* on an eviction list, or empty */
	struct list_head	expiry;		/* on a slot of the expiry wheel */
	/* Protects state, confirmed, nodes, dead and the list f->evict is on. */
	spinlock_t		lock;
	u8			proto;
	u8			state;		/* enum krelay_state */
	u8			nodes;		/* roles hashed: 2 or 4 */
	bool			dead;		/* unhashed, freed after a GP */
	bool			confirmed;	/* seen past the filter */
	bool			evictable;	/* on the evictable list */
	/* The relay's side of the client leg (track.c), READ/WRITE_ONCE. */
	bool			seq_known;
	u8			wscale;
	u32			rcv_ack, rcv_wend;
	__be32			client_ip, relay_ip, server_ip, local_ip;
	__be16			client_port, relay_port, server_port;
	__be16			gport, y;
	u32			cookie[2];	/* tcp_relay's server socket */
	struct krelay_client_count *cc;	/* max_per_client accounting */
	unsigned long		created;	/* jiffies */
	unsigned long		last_seen;	/* jiffies, READ/WRITE_ONCE */
	atomic64_t		packets[KRELAY_DIR_MAX];
	atomic64_t		bytes[KRELAY_DIR_MAX];
	struct rcu_head		rcu;
};

static inline struct krelay_flow *krelay_node_flow(const struct krelay_node *n)
{
	return container_of(n - n->role, struct krelay_flow, node[0]);
}

int krelay_table_init(void);
void krelay_table_exit(void);
void krelay_table_flush(void);
unsigned int krelay_table_count(u8 proto);
int krelay_table_seq_open(struct file *file);
int krelay_table_command(const char *buf, size_t len);

struct krelay_node *krelay_lookup(const struct krelay_tuple *t);
struct krelay_flow *krelay_flow_create(const struct krelay_tuple *orig,
				       __be32 server_ip, __be16 gport);
int krelay_flow_link(struct krelay_flow *f, __be32 local_ip, __be16 y,
		     const u32 cookie[2]);
void krelay_flow_confirm(struct krelay_flow *f);
void krelay_flow_seen(struct krelay_flow *f, enum krelay_role role,
		      unsigned int len);
void krelay_flow_set_state(struct krelay_flow *f, u8 state);
void krelay_flow_delete(struct krelay_flow *f);
void krelay_table_timeouts_changed(void);
void krelay_flow_export(const struct krelay_flow *f, struct krelay_entry *e);

/* Fill up to max records; returns the total number of flows. */
unsigned int krelay_table_dump(struct krelay_entry *e, unsigned int max);

/* One page of flows matching flt from *cursor (uapi/krelay.h); returns how many. */
unsigned int krelay_table_page(const struct krelay_table_filter *flt,
			       u64 *cursor, struct krelay_entry *e,
			       unsigned int max, u32 *stop);
bool krelay_table_cursor_ok(u64 cursor);

/* Grow the hash for max_entries flows (process context); its bucket count. */
int krelay_table_fit(u32 max_entries);
unsigned int krelay_table_buckets(void);

#endif /* _KRELAY_TABLE_H */
