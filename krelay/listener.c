// SPDX-License-Identifier: GPL-2.0
/*
 * The registered listener: tcp_relay's listening socket, named with the
 * LISTENER socket option, is the one socket steered flows (T1) go to. The
 * SYN that starts a flow is handed to it at PRE_ROUTING (skb->sk, as TPROXY
 * does), so no other socket bound to gport can receive it; while none is
 * registered, or the registered one no longer listens, such SYNs are
 * refused with a RST and counted. A later registration replaces the earlier one, so a
 * gport change keeps steering to the old listener until tcp_relay
 * registers its new one.
 *
 * One listener, replaced under listener_mutex and read under RCU (the
 * hooks run in an RCU read-side section). The socket is held while it is
 * registered and released an RCU grace period after it is replaced.
 */
#include <linux/slab.h>
#include <net/inet_sock.h>
#include <net/sock.h>
#include <net/tcp_states.h>

#include "krelay.h"

struct krelay_listener {
	struct rcu_head	rcu;
	struct sock	*sk;	/* held */
	__be16		port;	/* its local port */
};

static struct krelay_listener __rcu *listener;
static DEFINE_MUTEX(listener_mutex);

static void listener_free_rcu(struct rcu_head *head)
{
	struct krelay_listener *l = container_of(head, struct krelay_listener,
						 rcu);

	sock_put(l->sk);
	kfree(l);
}

static void listener_replace(struct krelay_listener *l)
{
	struct krelay_listener *old;

	mutex_lock(&listener_mutex);
	old = rcu_replace_pointer(listener, l,
				  lockdep_is_held(&listener_mutex));
	mutex_unlock(&listener_mutex);
	if (old)
		call_rcu(&old->rcu, listener_free_rcu);
}

/* sk listens (checked by the caller): make it the registered listener. */
int krelay_listener_set(struct sock *sk)
{
	struct krelay_listener *l;

	l = kmalloc(sizeof(*l), GFP_KERNEL);
	if (!l)
		return -ENOMEM;
	sock_hold(sk);
	l->sk = sk;
	l->port = inet_sk(sk)->inet_sport;
	listener_replace(l);
	return 0;
}

/*
 * The registered listener, if it still listens, with a reference the
 * caller passes on to an skb or puts; *port is its local port. NULL if
 * there is none. In tcp_mode kernel, the kernel relay's listener instead.
 * Called under rcu_read_lock().
 */
struct sock *krelay_listener_hold(__be16 *port)
{
	struct krelay_listener *l;
	struct sock *sk;

	if (READ_ONCE(krelay_cfg.tcp_mode) == KRELAY_TCP_KERNEL)
		return krelay_kmode_listener_hold(port);
	l = rcu_dereference(listener);
	if (!l)
		return NULL;
	sk = l->sk;
	if (READ_ONCE(sk->sk_state) != TCP_LISTEN ||
	    !refcount_inc_not_zero(&sk->sk_refcnt))
		return NULL;
	if (port)
		*port = l->port;
	return sk;
}

/* The registered listener's port if it listens, else 0 (for stats). */
u16 krelay_listener_port(void)
{
	struct krelay_listener *l;
	u16 port = 0;

	rcu_read_lock();
	l = rcu_dereference(listener);
	if (l && READ_ONCE(l->sk->sk_state) == TCP_LISTEN)
		port = ntohs(l->port);
	rcu_read_unlock();
	return port;
}

/* Module exit, after the hooks and the socket option are gone. */
void krelay_listener_exit(void)
{
	listener_replace(NULL);
	rcu_barrier();
}
