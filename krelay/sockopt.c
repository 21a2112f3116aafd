// SPDX-License-Identifier: GPL-2.0
/*
 * Socket options for user space (uapi/krelay.h).
 */
#include <linux/capability.h>
#include <linux/netfilter.h>
#include <linux/slab.h>
#include <linux/sock_diag.h>
#include <linux/uaccess.h>
#include <net/inet_sock.h>
#include <net/route.h>
#include <net/sock.h>

#include "krelay.h"
#include "table.h"
#include "track.h"

/*
 * Who may read the table: CAP_NET_ADMIN, in init_net (the table is
 * init_net's: CAP_NET_ADMIN over a namespace any user can create must not
 * show it), with room for at least min bytes.
 */
static int table_allowed(struct sock *sk, int len, size_t min)
{
	if (!ns_capable(sock_net(sk)->user_ns, CAP_NET_ADMIN))
		return -EPERM;
	if (!net_eq(sock_net(sk), &init_net))
		return -ENOENT;
	return len < (int)min ? -EINVAL : 0;
}

static int get_table(struct sock *sk, void __user *user, int *len)
{
	struct krelay_table_hdr hdr = {
		.version	= KRELAY_TABLE_VERSION,
		.record_size	= sizeof(struct krelay_entry),
	};
	struct krelay_entry *e;
	unsigned int max;
	int err;

	err = table_allowed(sk, *len, sizeof(hdr));
	if (err)
		return err;
	max = (*len - sizeof(hdr)) / sizeof(*e);
	/* Room for flows added during the walk; they are counted anyway. */
	max = min(max, krelay_table_count(IPPROTO_TCP) +
		       krelay_table_count(IPPROTO_UDP) + 64);
	e = kvcalloc(max ?: 1, sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	hdr.count = krelay_table_dump(e, max);
	hdr.returned = min(hdr.count, max);
	*len = sizeof(hdr) + hdr.returned * sizeof(*e);
	if (copy_to_user(user, &hdr, sizeof(hdr)) ||
	    copy_to_user(user + sizeof(hdr), e, hdr.returned * sizeof(*e)))
		err = -EFAULT;
	kvfree(e);
	return err;
}

static bool filter_ok(const struct krelay_table_filter *f)
{
	return f->client_prefix <= 32 && !f->pad[0] && !f->pad[1] &&
	       !f->pad[2] && (!f->proto || f->proto == IPPROTO_TCP ||
			      f->proto == IPPROTO_UDP);
}

static int get_table_page(struct sock *sk, void __user *user, int *len)
{
	struct krelay_table_query q;
	struct krelay_entry *e;
	unsigned int max;
	int err;

	err = table_allowed(sk, *len, sizeof(q) + sizeof(*e));
	if (err)
		return err;
	if (copy_from_user(&q, user, sizeof(q)))
		return -EFAULT;
	if (q.version != KRELAY_TABLE_VERSION || q.record_size || q.count ||
	    q.returned || q.stop || !filter_ok(&q.filter) ||
	    !krelay_table_cursor_ok(q.cursor))
		return -EINVAL;
	max = min_t(unsigned int, (*len - sizeof(q)) / sizeof(*e),
		    KRELAY_TABLE_PAGE_MAX);
	e = kvcalloc(max, sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	q.record_size = sizeof(*e);
	q.returned = krelay_table_page(&q.filter, &q.cursor, e, max, &q.stop);
	q.count = krelay_table_count(IPPROTO_TCP) +
		  krelay_table_count(IPPROTO_UDP);
	*len = sizeof(q) + q.returned * sizeof(*e);
	if (copy_to_user(user, &q, sizeof(q)) ||
	    copy_to_user(user + sizeof(q), e, q.returned * sizeof(*e)))
		err = -EFAULT;
	kvfree(e);
	return err;
}

static bool is_tcp(const struct sock *sk)
{
	return sk->sk_type == SOCK_STREAM && sk->sk_protocol == IPPROTO_TCP;
}

/*
 * Where the client of a socket accepted on the gateway port was going, and
 * the server krelay chose for it: the flow whose REPLY leg (relay:gport ->
 * client:x) is this socket's. For the socket option and the kernel relay.
 */
int krelay_origdst_of(struct sock *sk, struct krelay_origdst *od)
{
	const struct inet_sock *inet = inet_sk(sk);
	struct krelay_tuple t = { .proto = IPPROTO_TCP };
	const struct krelay_flow *f;
	struct krelay_node *n;

	lock_sock(sk);
	t.src = inet->inet_rcv_saddr;
	t.sport = inet->inet_sport;
	t.dst = inet->inet_daddr;
	t.dport = inet->inet_dport;
	release_sock(sk);

	rcu_read_lock();
	n = krelay_lookup(&t);
	if (!n || n->role != KRELAY_ROLE_REPLY) {
		rcu_read_unlock();
		return -ENOENT;
	}
	f = krelay_node_flow(n);
	od->relay.ip = f->relay_ip;
	od->relay.port = f->relay_port;
	od->server.ip = f->server_ip;
	od->server.port = f->server_port;
	rcu_read_unlock();
	return 0;
}

static int get_original_dst(struct sock *sk, void __user *user, int *len)
{
	struct krelay_origdst od = {};
	int err;

	if (*len < (int)sizeof(od))
		return -EINVAL;
	if (!is_tcp(sk))
		return -ENOPROTOOPT;
	if (!net_eq(sock_net(sk), &init_net))
		return -ENOENT;
	err = krelay_origdst_of(sk, &od);
	if (err)
		return err;
	*len = sizeof(od);
	return copy_to_user(user, &od, sizeof(od)) ? -EFAULT : 0;
}

static int krelay_get(struct sock *sk, int optval, void __user *user, int *len)
{
	switch (optval) {
	case KRELAY_SO_ORIGINAL_DST:
		return get_original_dst(sk, user, len);
	case KRELAY_SO_TABLE:
		return get_table(sk, user, len);
	case KRELAY_SO_TABLE_PAGE:
		return get_table_page(sk, user, len);
	default:
		return -ENOPROTOOPT;
	}
}

/* The local address a socket bound to INADDR_ANY will use toward dst. */
static int source_for(struct sock *sk, __be32 dst, __be32 *src)
{
	struct flowi4 fl4 = {
		.daddr		= dst,
		.flowi4_oif	= sk->sk_bound_dev_if,
		.flowi4_proto	= IPPROTO_TCP,
	};
	struct rtable *rt;

	rt = ip_route_output_key(sock_net(sk), &fl4);
	if (IS_ERR(rt))
		return PTR_ERR(rt);
	*src = fl4.saddr;
	ip_rt_put(rt);
	return 0;
}

/*
 * What every set option asks: its argument's exact size, CAP_NET_ADMIN,
 * a TCP socket, and the namespace krelay hooks.
 */
static int set_allowed(struct sock *sk, unsigned int len, unsigned int want)
{
	if (len != want)
		return -EINVAL;
	if (!ns_capable(sock_net(sk)->user_ns, CAP_NET_ADMIN))
		return -EPERM;
	if (!is_tcp(sk))
		return -ENOPROTOOPT;
	if (!net_eq(sock_net(sk), &init_net))
		return -ENOENT;
	return 0;
}

/*
 * Link a relay's bound, unconnected server-side socket (tcp_relay's, or
 * the kernel relay's) to the client flow cl names: its packets leave with
 * the client's address (T3), and the server's answers to client:y come
 * back to it (T4).
 */
int krelay_link_server(struct sock *sk, const struct krelay_client *cl)
{
	const struct inet_sock *inet = inet_sk(sk);
	struct krelay_tuple t = { .proto = IPPROTO_TCP };
	struct krelay_flow *f;
	struct krelay_node *n;
	u32 cookie[2];
	__be32 local;
	__be16 y;
	int err;

	lock_sock(sk);
	local = inet->inet_rcv_saddr;
	y = inet->inet_sport;
	err = (sk->sk_state != TCP_CLOSE || !inet->inet_num) ? -EISCONN : 0;
	release_sock(sk);
	if (err)
		return err;

	t.src = cl->client.ip;
	t.sport = cl->client.port;
	t.dst = cl->relay.ip;
	t.dport = cl->relay.port;

	rcu_read_lock();
	n = krelay_lookup(&t);
	if (!n || n->role != KRELAY_ROLE_ORIG) {
		err = -ENOENT;
		goto out;
	}
	f = krelay_node_flow(n);
	if (!local)
		err = source_for(sk, f->server_ip, &local);
	if (err)
		goto out;
	sock_diag_save_cookie(sk, cookie);
	err = krelay_flow_link(f, local, y, cookie);
	/* The relay's stack accepted the client: the flow is trusted now. */
	if (!err)
		krelay_track_linked(f);
out:
	rcu_read_unlock();
	return err;
}

static int set_client(struct sock *sk, sockptr_t arg, unsigned int len)
{
	struct krelay_client cl;
	int err;

	err = set_allowed(sk, len, sizeof(cl));
	if (err)
		return err;
	if (copy_from_sockptr(&cl, arg, sizeof(cl)))
		return -EFAULT;
	return krelay_link_server(sk, &cl);
}

/* Make tcp_relay's listening socket on gport the one steered SYNs reach. */
static int set_listener(struct sock *sk, sockptr_t arg, unsigned int len)
{
	int err;

	err = set_allowed(sk, len, 0);
	if (err)
		return err;

	lock_sock(sk);
	err = sk->sk_family != AF_INET || sk->sk_state != TCP_LISTEN ||
	      inet_sk(sk)->inet_num != READ_ONCE(krelay_cfg.gport) ?
	      -EINVAL : krelay_listener_set(sk);
	release_sock(sk);
	return err;
}

static int krelay_set(struct sock *sk, int optval, sockptr_t arg,
		      unsigned int len)
{
	switch (optval) {
	case KRELAY_SO_CLIENT:
		return set_client(sk, arg, len);
	case KRELAY_SO_LISTENER:
		return set_listener(sk, arg, len);
	default:
		return -ENOPROTOOPT;
	}
}

static struct nf_sockopt_ops krelay_sockopts = {
	.pf		= PF_INET,
	.set_optmin	= KRELAY_SO_BASE,
	.set_optmax	= KRELAY_SO_SET_MAX,
	.set		= krelay_set,
	.get_optmin	= KRELAY_SO_BASE,
	.get_optmax	= KRELAY_SO_GET_MAX,
	.get		= krelay_get,
	.owner		= THIS_MODULE,
};

int krelay_sockopt_init(void)
{
	/* The same records for 32-bit and 64-bit user space. */
	BUILD_BUG_ON(sizeof(struct krelay_entry) != 80);
	BUILD_BUG_ON(offsetof(struct krelay_entry, packets) != 48);
	BUILD_BUG_ON(sizeof(struct krelay_table_query) != 40);
	BUILD_BUG_ON(offsetof(struct krelay_table_query, filter) != 28);
	return nf_register_sockopt(&krelay_sockopts);
}

void krelay_sockopt_exit(void)
{
	nf_unregister_sockopt(&krelay_sockopts);
}
