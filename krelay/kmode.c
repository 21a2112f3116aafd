// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel relay (tcp_mode kernel): krelay accepts the connections T1
 * steers, connects to the server from the client's address (T3/T4, as
 * for tcp_relay) and copies both directions itself.
 *
 * The listener is a kernel socket in init_net bound to a port of its own
 * (an ephemeral one): steered SYNs reach it through skb->sk, as they reach
 * tcp_relay's registered listener, so its port only names the flows'
 * gport column, and no user socket can bind it while it lives. tcp_relay
 * keeps gport, so switching back is instant.
 *
 * A pair is a client socket, a server socket, one work item and a timer.
 * The sockets' callbacks (data ready, write space, state change, error)
 * only queue the pair's work, under sk_callback_lock; the work does
 * everything else in process context, one direction at a time, and no
 * other work locks its sockets. Each direction hands the source's
 * receive queue to the destination's send queue without a copy
 * (tcp_read_sock and skb_send_sock_locked, as sockmap): the relay holds
 * no buffer of its own, at most one byte read at an urgent mark, so a
 * slow reader stalls its writer through TCP's own flow control and a
 * pair's memory is its two sockets' buffers.
 *
 * A pair ends in its own work: the callbacks are restored, the timer shut
 * down and the pair unlisted, so nothing can queue the work again; a run
 * queued meanwhile is taken back, and the work releases the sockets and
 * frees the pair (and itself) unless pair_start still holds the pair,
 * whose put then waits for the work and frees it. krelay_kmode_stop() asks
 * every pair to end and waits until none is left; the workqueue is
 * destroyed only after that, so no work item outlives the module.
 */
#include <linux/hashtable.h>
#include <linux/in.h>
#include <linux/net.h>
#include <linux/random.h>
#include <linux/siphash.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <net/inet_sock.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "krelay.h"

#define KRELAY_PUMP_BYTES	(64 * 1024)	/* a direction's turn */
#define KRELAY_ACCEPT_BURST	64
#define KRELAY_PAIR_BUDGET	16		/* turns per run */
#define KRELAY_BACKLOG		4096
#define KRELAY_CLIENT_BITS	10		/* 1024 buckets of clients */

enum { CLI, SRV, NSIDES };

/*
 * A pair's life is a table, as conntrack's TCP tracker is: each run of its
 * work finds one input (pair_input) and pair_steps gives the next state;
 * a step to PAIR_DEAD says which sides get a RST (the others a FIN).
 */
enum pair_state {
	PAIR_SETUP,		/* pair_start still at it: the work waits */
	PAIR_CONNECTING,	/* the server connect in progress */
	PAIR_RELAYING,		/* both directions, or one after a FIN */
	PAIR_DEAD,		/* ended: callbacks restored, unlisted */
	PAIR_NSTATES
};

enum pair_input {
	PI_KILL,		/* kmode_stop: every pair ends */
	PI_REFUSED,		/* the server connect failed */
	PI_EXPIRED,		/* relay_connect_timeout or relay_idle_timeout */
	PI_PENDING,		/* the server connect still in progress */
	PI_CONNECTED,		/* the server accepted */
	PI_MOVED,		/* each direction moved what it could */
	PI_FAILED,		/* a side reset or failed (pump says which) */
	PI_CLOSED,		/* both FINs passed on */
	PI_NINPUTS
};

#define RST_BOTH	(BIT(CLI) | BIT(SRV))
#define RST_FOUND	0xff	/* the sides pump named */

struct pair_step {
	u8	next;		/* enum pair_state; PAIR_SETUP: cannot happen */
	u8	rst;		/* to PAIR_DEAD: sides reset, or RST_FOUND */
};

#define GO(s)		{ .next = (s) }
#define END(r)		{ .next = PAIR_DEAD, .rst = (r) }

static const struct pair_step pair_steps[PAIR_NSTATES][PI_NINPUTS] = {
	[PAIR_CONNECTING] = {
		[PI_KILL]	= END(RST_BOTH),
		[PI_REFUSED]	= END(RST_BOTH),	/* the client is reset */
		[PI_EXPIRED]	= END(RST_BOTH),
		[PI_PENDING]	= GO(PAIR_CONNECTING),
		[PI_CONNECTED]	= GO(PAIR_RELAYING),
	},
	[PAIR_RELAYING] = {
		[PI_KILL]	= END(RST_BOTH),
		[PI_EXPIRED]	= END(RST_BOTH),
		[PI_MOVED]	= GO(PAIR_RELAYING),
		[PI_FAILED]	= END(RST_FOUND),
		[PI_CLOSED]	= END(0),
	},
};

/* One direction: from sock[from] to sock[!from]. */
struct pair_dir {
	bool		shut;		/* the source's FIN passed on */
	u8		nheld;		/* held is read, not yet sent */
	char		held;		/* the byte at an urgent mark */
};

struct pair_cb {
	void	(*data_ready)(struct sock *sk);
	void	(*write_space)(struct sock *sk);
	void	(*state_change)(struct sock *sk);
	void	(*error_report)(struct sock *sk);
};

/* A client address and its pairs, for relay_max_per_client. */
struct pair_client {
	struct hlist_node	node;		/* in clients, under pairs_lock */
	__be32			ip;
	u32			pairs;
};

struct krelay_pair {
	struct socket		*sock[NSIDES];
	struct pair_cb		saved[NSIDES];
	struct pair_dir		dir[NSIDES];	/* dir[CLI]: client to server */
	struct work_struct	work;
	struct timer_list	timer;
	struct list_head	list;		/* pairs, under pairs_lock */
	refcount_t		ref;		/* pair_start's and the pair's */
	enum pair_state		state;		/* the work's, once set up */
	bool			kill;		/* end at once: kmode_stop */
	unsigned int		reset;		/* sides to end with RST */
	struct pair_client	*client;	/* under pairs_lock */
	unsigned long		last;		/* jiffies: last progress */
	unsigned long		deadline;	/* jiffies: connect deadline */
	unsigned long		idle;		/* jiffies: relay_idle_timeout */
};

static struct workqueue_struct *kmode_wq;
static LIST_HEAD(pairs);
static DEFINE_SPINLOCK(pairs_lock);
static atomic_t npairs = ATOMIC_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(pairs_gone);
static bool cutting;		/* under pairs_lock: refuse new pairs */
/* Clients with pairs, under pairs_lock; keyed so chains cannot be aimed. */
static DEFINE_HASHTABLE(clients, KRELAY_CLIENT_BITS);
static hsiphash_key_t clients_key;

/*
 * The listener: kl_sock under kmode_mutex (taken inside
 * krelay_config_mutex), published for the hooks as kl_sk under RCU.
 */
static DEFINE_MUTEX(kmode_mutex);
static struct socket *kl_sock;
static struct sock __rcu *kl_sk;
static __be16 kl_port;
static void (*kl_data_ready)(struct sock *sk);	/* the listener's own */
static struct work_struct accept_work;

/* client_cc and server_cc as the pairs use them; "" the default. */
static DEFINE_SPINLOCK(cc_lock);
static char pair_cc[NSIDES][TCP_CA_NAME_MAX];

/* ---- callbacks: queue the work, nothing else ---------------------------- */

static void pair_kick(struct sock *sk)
{
	struct krelay_pair *p;

	read_lock_bh(&sk->sk_callback_lock);
	p = sk->sk_user_data;
	if (p)
		queue_work(kmode_wq, &p->work);
	read_unlock_bh(&sk->sk_callback_lock);
}

static void pair_data_ready(struct sock *sk)
{
	pair_kick(sk);
}

static void pair_write_space(struct sock *sk)
{
	/* As sk_stream_write_space: only once there is room enough. */
	if (sk_stream_is_writeable(sk))
		pair_kick(sk);
}

static void pair_state_change(struct sock *sk)
{
	/*
	 * The ack of our FIN (FIN_WAIT1 to FIN_WAIT2) gives the pair nothing
	 * to do; every other change may (a connect's end, a FIN, a close).
	 */
	if (READ_ONCE(sk->sk_state) != TCP_FIN_WAIT2)
		pair_kick(sk);
}

static void pair_error_report(struct sock *sk)
{
	pair_kick(sk);
}

static void pair_timer(struct timer_list *t)
{
	struct krelay_pair *p = from_timer(p, t, timer);

	queue_work(kmode_wq, &p->work);
}

/*
 * Take over sk's callbacks. An accepted socket was cloned from the
 * listener, whose data_ready is ours: its own is the listener's saved one.
 */
static void pair_hook(struct krelay_pair *p, int side)
{
	struct sock *sk = p->sock[side]->sk;
	struct pair_cb *cb = &p->saved[side];

	write_lock_bh(&sk->sk_callback_lock);
	cb->data_ready = side == CLI ? kl_data_ready : sk->sk_data_ready;
	cb->write_space = sk->sk_write_space;
	cb->state_change = sk->sk_state_change;
	cb->error_report = sk->sk_error_report;
	sk->sk_user_data = p;
	sk->sk_data_ready = pair_data_ready;
	sk->sk_write_space = pair_write_space;
	sk->sk_state_change = pair_state_change;
	sk->sk_error_report = pair_error_report;
	write_unlock_bh(&sk->sk_callback_lock);
}

static void pair_unhook(struct krelay_pair *p, int side)
{
	struct sock *sk = p->sock[side]->sk;
	struct pair_cb *cb = &p->saved[side];

	write_lock_bh(&sk->sk_callback_lock);
	if (sk->sk_user_data == p) {
		sk->sk_user_data = NULL;
		sk->sk_data_ready = cb->data_ready;
		sk->sk_write_space = cb->write_space;
		sk->sk_state_change = cb->state_change;
		sk->sk_error_report = cb->error_report;
	}
	write_unlock_bh(&sk->sk_callback_lock);
}

/* ---- a pair's end ----------------------------------------------------- */

/* Release the sockets and free the pair: nothing can queue its work now. */
static void pair_free(struct krelay_pair *p)
{
	int side;

	for (side = 0; side < NSIDES; side++) {
		if (p->reset & BIT(side))
			sock_no_linger(p->sock[side]->sk);
		sock_release(p->sock[side]);
	}
	kfree(p);
	if (atomic_dec_and_test(&npairs))
		wake_up(&pairs_gone);
}

/*
 * pair_start's reference, dropped outside the pair's work: if it is the
 * last, the pair has ended, and once a last run of its work is over the
 * pair is freed.
 */
static void pair_put(struct krelay_pair *p)
{
	if (!refcount_dec_and_test(&p->ref))
		return;
	cancel_work_sync(&p->work);
	pair_free(p);
}

/*
 * End the pair, from its work: sides in reset get a RST (SO_LINGER 0),
 * the others a FIN if they have not had one. The pair may be freed here:
 * a work item may free itself, and its caller returns at once.
 */
static void pair_end(struct krelay_pair *p, unsigned int reset)
{
	struct pair_client *c = p->client;
	int side;

	p->state = PAIR_DEAD;
	p->reset = reset;
	for (side = 0; side < NSIDES; side++)
		pair_unhook(p, side);
	timer_shutdown_sync(&p->timer);
	/* Out of kmode_stop's sight: only pair_start may queue the work now. */
	spin_lock_bh(&pairs_lock);
	list_del(&p->list);
	if (--c->pairs)
		c = NULL;
	else
		hash_del(&c->node);
	spin_unlock_bh(&pairs_lock);
	kfree(c);
	/*
	 * The pair's own reference. If pair_start still holds its own, its
	 * put frees the pair after this run; else no one can queue the work
	 * any more: take back a run queued meanwhile and free the pair.
	 */
	if (!refcount_dec_and_test(&p->ref))
		return;
	cancel_work(&p->work);
	pair_free(p);
}

/* ---- the data path ---------------------------------------------------- */

/* Why a source gave nothing. */
enum pump_stop {
	STOP_EMPTY,		/* nothing received */
	STOP_MARK,		/* the next byte is at an urgent mark */
	STOP_END,		/* its FIN read, or an error */
};

/*
 * tcp_read_sock's actor: hand the source's bytes to the destination
 * (desc->arg.data, locked) without copying them, as sockmap does: the
 * destination's skbs take references on the source's pages. Short when
 * the destination is full; its error is kept in desc->error.
 */
static int pump_actor(read_descriptor_t *desc, struct sk_buff *skb,
		      unsigned int off, size_t len)
{
	int n;

	if (!desc->count)
		return 0;	/* this turn is over */
	n = skb_send_sock_locked(desc->arg.data, skb, off,
				 min_t(size_t, len, desc->count));
	if (n <= 0) {
		desc->error = n ? n : -EAGAIN;
		return 0;
	}
	desc->count -= n;
	return n;
}

/*
 * The source's queue, up to KRELAY_PUMP_BYTES, straight into the
 * destination's. Both socket locks are held: the source's first, as a
 * pair's work is the only one to lock its sockets and never runs twice
 * at once, no other order can meet this one. *stop says, when nothing
 * moved and the destination took what it was given, why the source gave
 * nothing: seen under its lock, so what arrives later queues the work.
 */
static int pump_queue(struct sock *src, struct sock *dst, int *err,
		      enum pump_stop *stop)
{
	read_descriptor_t desc = {
		.count = KRELAY_PUMP_BYTES,
		.arg.data = dst,
	};
	int n;

	lock_sock(src);
	lock_sock_nested(dst, SINGLE_DEPTH_NESTING);
	n = tcp_read_sock(src, &desc, pump_actor);
	release_sock(dst);
	if (!skb_queue_empty(&src->sk_receive_queue))
		*stop = STOP_MARK;	/* tcp_read_sock stops at one */
	else if (src->sk_err || (src->sk_shutdown & RCV_SHUTDOWN))
		*stop = STOP_END;
	else
		*stop = STOP_EMPTY;
	release_sock(src);
	*err = desc.error;
	return n;
}

/* Send the byte read at the urgent mark; -EAGAIN keeps it for later. */
static int pump_held(struct pair_dir *d, struct socket *dst)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL };
	struct kvec iov = { .iov_base = &d->held, .iov_len = 1 };
	int n;

	n = kernel_sendmsg(dst, &msg, &iov, 1, 1);
	if (n == 1) {
		d->nheld = 0;
		krelay_count_n(KRELAY_STAT_KPAIR_BYTES, 1);
	}
	return n == 1 ? 0 : (n ? n : -EAGAIN);
}

/*
 * Move what one direction can: the source's queue to the destination, a
 * FIN passed on once the source's has been read. What tcp_read_sock does
 * not take (the end, an error, the byte at an urgent mark: it stops
 * there) is read by recvmsg, one byte at a time. 1 progress, 0 nothing to
 * do now, -1 the pair must end (*reset says which sides get a RST).
 */
static int pump(struct krelay_pair *p, int from, unsigned int *reset)
{
	struct pair_dir *d = &p->dir[from];
	struct socket *src = p->sock[from], *dst = p->sock[!from];
	struct msghdr msg = {};
	struct kvec iov = { .iov_base = &d->held, .iov_len = 1 };
	enum pump_stop stop;
	int n, err;

	if (d->shut)
		return 0;
	if (d->nheld) {
		err = pump_held(d, dst);
		if (err == -EAGAIN)
			return 0;	/* write_space queues the work */
		if (err)
			goto dst_failed;
		return 1;
	}
	n = pump_queue(src->sk, dst->sk, &err, &stop);
	if (n > 0) {
		krelay_count_n(KRELAY_STAT_KPAIR_BYTES, n);
		return 1;
	}
	if (err == -EAGAIN)
		return 0;		/* write_space queues the work */
	if (err)
		goto dst_failed;
	if (stop == STOP_EMPTY)
		return 0;		/* data_ready queues the work */
	n = kernel_recvmsg(src, &msg, &iov, 1, 1, MSG_DONTWAIT);
	if (n == -EAGAIN)
		return 0;
	if (n < 0) {
		/* A RST (or error) from the source: a RST onward. */
		*reset = BIT(!from);
		return -1;
	}
	if (n) {
		d->nheld = 1;
		return 1;
	}
	/* The source's FIN, every byte before it passed on: pass it on. */
	kernel_sock_shutdown(dst, SHUT_WR);
	d->shut = true;
	return 1;
dst_failed:
	/* The destination is gone: the source gets a RST. */
	*reset = BIT(from);
	return -1;
}

/*
 * RELAYING's input: each direction moves what it can, turn about, until
 * neither can or the budget is spent (then the work comes back, so other
 * pairs run meanwhile).
 */
static enum pair_input pair_relay(struct krelay_pair *p, unsigned int *reset)
{
	int budget, r, from, moved;

	for (budget = KRELAY_PAIR_BUDGET; budget > 0; budget--) {
		moved = 0;
		for (from = 0; from < NSIDES; from++) {
			r = pump(p, from, reset);
			if (r < 0)
				return PI_FAILED;
			moved |= r;
		}
		if (!moved)
			break;
		p->last = jiffies;
	}
	if (p->dir[CLI].shut && p->dir[SRV].shut)
		return PI_CLOSED;
	if (!budget) {
		queue_work(kmode_wq, &p->work);
		return PI_MOVED;
	}
	if (time_after_eq(jiffies, p->last + p->idle))
		return PI_EXPIRED;
	return PI_MOVED;
}

/* What this run of the work finds, in the pair's state. */
static enum pair_input pair_input(struct krelay_pair *p, unsigned int *reset)
{
	struct sock *srv = p->sock[SRV]->sk;

	if (READ_ONCE(p->kill))
		return PI_KILL;
	if (p->state == PAIR_RELAYING)
		return pair_relay(p, reset);
	/* PAIR_CONNECTING */
	if (READ_ONCE(srv->sk_err) || READ_ONCE(srv->sk_state) == TCP_CLOSE)
		return PI_REFUSED;
	if (READ_ONCE(srv->sk_state) == TCP_ESTABLISHED)
		return PI_CONNECTED;
	if (time_after_eq(jiffies, p->deadline))
		return PI_EXPIRED;
	return PI_PENDING;
}

static void pair_work(struct work_struct *w)
{
	struct krelay_pair *p = container_of(w, struct krelay_pair, work);
	const struct pair_step *step;
	unsigned int reset = 0;
	enum pair_state was;

	/* Pairs with the release in pair_start: its setup is seen whole. */
	if (smp_load_acquire(&p->state) == PAIR_SETUP ||
	    p->state == PAIR_DEAD)
		return;
	do {
		was = p->state;
		step = &pair_steps[was][pair_input(p, &reset)];
		if (WARN_ON_ONCE(step->next == PAIR_SETUP)) {
			/* A hole in the table: end the pair, loudly. */
			pair_end(p, RST_BOTH);
			return;
		}
		if (step->next == PAIR_DEAD) {
			pair_end(p, step->rst == RST_FOUND ? reset : step->rst);
			return;
		}
		p->state = step->next;
		if (p->state == PAIR_RELAYING && was == PAIR_CONNECTING) {
			/* Connected: the idle clock starts, then relay at once. */
			p->last = jiffies;
			mod_timer(&p->timer, p->last + p->idle);
		}
	} while (p->state != was);
	if (p->state == PAIR_RELAYING && !timer_pending(&p->timer))
		mod_timer(&p->timer, p->last + p->idle);
}

/* ---- a new pair ------------------------------------------------------- */

/* Refuse an accepted connection: a RST, counted. */
static void refuse(struct socket *sock)
{
	krelay_count(KRELAY_STAT_KPAIR_REFUSED);
	sock_no_linger(sock->sk);
	sock_release(sock);
}

/* The client with this address, NULL if it has no pair. Under pairs_lock. */
static struct pair_client *client_find(__be32 ip, u32 h)
{
	struct pair_client *c;

	hlist_for_each_entry(c, &clients[h], node)
		if (c->ip == ip)
			return c;
	return NULL;
}

/*
 * List p, counted against the limits, or false: no room, or stopping.
 * fresh is a record for ip should it have none yet, kept or freed here.
 */
static bool pair_admit(struct krelay_pair *p, __be32 ip,
		       struct pair_client *fresh)
{
	u32 h = hsiphash_1u32((__force u32)ip, &clients_key) &
		(HASH_SIZE(clients) - 1);
	struct pair_client *c;
	bool room;

	spin_lock_bh(&pairs_lock);
	c = client_find(ip, h);
	room = !cutting &&
	       atomic_read(&npairs) < READ_ONCE(krelay_cfg.relay_max_pairs) &&
	       (c ? c->pairs : 0) < READ_ONCE(krelay_cfg.relay_max_per_client);
	if (room) {
		if (!c) {
			c = fresh;
			fresh = NULL;
			c->ip = ip;
			hlist_add_head(&c->node, &clients[h]);
		}
		c->pairs++;
		p->client = c;
		list_add(&p->list, &pairs);
		atomic_inc(&npairs);
	}
	spin_unlock_bh(&pairs_lock);
	kfree(fresh);
	return room;
}

static void sock_urg_inline(struct socket *sock)
{
	lock_sock(sock->sk);
	sock_set_flag(sock->sk, SOCK_URGINLINE);
	release_sock(sock->sk);
}

/* config.c: client_cc (side CLI) or server_cc (SRV) was set. */
void krelay_kmode_set_cc(bool server, const char *name)
{
	spin_lock_bh(&cc_lock);
	strscpy(pair_cc[server ? SRV : CLI], name, TCP_CA_NAME_MAX);
	spin_unlock_bh(&cc_lock);
}

/* The side's congestion control on sock, when one is set (else the default). */
static void pair_set_cc(struct socket *sock, int side)
{
	char name[TCP_CA_NAME_MAX];

	spin_lock_bh(&cc_lock);
	strscpy(name, pair_cc[side], sizeof(name));
	spin_unlock_bh(&cc_lock);
	if (*name)
		sock->ops->setsockopt(sock, SOL_TCP, TCP_CONGESTION,
				      KERNEL_SOCKPTR(name), strlen(name));
}

/* A TCP socket in init_net bound to an ephemeral port of any address. */
static int bound_socket(struct socket **out)
{
	struct sockaddr_in any = { .sin_family = AF_INET };
	struct socket *sock;
	int err;

	err = sock_create_kern(&init_net, PF_INET, SOCK_STREAM, IPPROTO_TCP,
			       &sock);
	if (err)
		return err;
	err = kernel_bind(sock, (struct sockaddr *)&any, sizeof(any));
	if (err) {
		sock_release(sock);
		return err;
	}
	*out = sock;
	return 0;
}

/*
 * The server socket, bound and linked to the client's flow. EADDRINUSE:
 * a closing flow still holds the port the bind chose; bind another.
 */
static int server_socket(struct socket *cli, const struct krelay_origdst *od,
			 struct socket **out)
{
	struct krelay_client cl = {};
	struct socket *sock;
	int err, try;

	cl.client.ip = inet_sk(cli->sk)->inet_daddr;
	cl.client.port = inet_sk(cli->sk)->inet_dport;
	cl.relay = od->relay;
	for (try = 1; ; try++) {
		err = bound_socket(&sock);
		if (err)
			return err;
		err = krelay_link_server(sock->sk, &cl);
		if (!err)
			break;
		sock_release(sock);
		if (err != -EADDRINUSE || try == KRELAY_BIND_TRIES)
			return err;
	}
	pair_set_cc(sock, SRV);
	tcp_sock_set_nodelay(sock->sk);
	sock_urg_inline(sock);
	*out = sock;
	return 0;
}

/*
 * A connection accepted: its pair, or a RST. The pair is listed (counted
 * for the limits and for kmode_stop) before its callbacks are hooked; until
 * it leaves PAIR_SETUP its work does nothing, and the reference held here
 * keeps it until this function is done with it.
 */
static void pair_start(struct socket *cli)
{
	struct sockaddr_in server = { .sin_family = AF_INET };
	__be32 ip = inet_sk(cli->sk)->inet_daddr;
	struct pair_client *fresh;
	struct krelay_origdst od;
	struct krelay_pair *p;
	int err;

	if (krelay_origdst_of(cli->sk, &od)) {
		refuse(cli);
		return;
	}
	p = kzalloc(sizeof(*p), GFP_KERNEL);
	fresh = kzalloc(sizeof(*fresh), GFP_KERNEL);
	if (!p || !fresh)
		goto fail;
	pair_set_cc(cli, CLI);
	err = server_socket(cli, &od, &p->sock[SRV]);
	if (err)
		goto fail;
	p->sock[CLI] = cli;
	refcount_set(&p->ref, 2);
	INIT_WORK(&p->work, pair_work);
	timer_setup(&p->timer, pair_timer, 0);
	p->idle = READ_ONCE(krelay_cfg.relay_idle_timeout) * HZ;
	p->deadline = jiffies +
		      READ_ONCE(krelay_cfg.relay_connect_timeout) * HZ;

	if (!pair_admit(p, ip, fresh)) {
		sock_release(p->sock[SRV]);
		kfree(p);
		refuse(cli);
		return;
	}
	krelay_count(KRELAY_STAT_KPAIRS);

	server.sin_addr.s_addr = od.server.ip;
	server.sin_port = od.server.port;
	err = kernel_connect(p->sock[SRV], (struct sockaddr *)&server,
			     sizeof(server), O_NONBLOCK);
	if (err && err != -EINPROGRESS)
		WRITE_ONCE(p->kill, true);
	pair_hook(p, CLI);
	pair_hook(p, SRV);
	mod_timer(&p->timer, p->deadline);
	/* Whatever arrived before the callbacks were ours; see pair_work. */
	smp_store_release(&p->state, PAIR_CONNECTING);
	queue_work(kmode_wq, &p->work);
	pair_put(p);
	return;
fail:
	kfree(fresh);
	kfree(p);
	refuse(cli);
}

/* ---- the listener ----------------------------------------------------- */

static void kl_ready(struct sock *sk)
{
	/* Accepted sockets inherit this callback until a pair takes them. */
	if (READ_ONCE(sk->sk_state) == TCP_LISTEN)
		queue_work(kmode_wq, &accept_work);
}

static void accept_fn(struct work_struct *w)
{
	struct socket *cli;
	int i, err;

	for (i = 0; i < KRELAY_ACCEPT_BURST; i++) {
		err = kernel_accept(kl_sock, &cli, O_NONBLOCK);
		if (err)
			return;
		pair_start(cli);
	}
	queue_work(kmode_wq, &accept_work);
}

static int listen_start(void)
{
	struct socket *sock;
	int err;

	err = bound_socket(&sock);
	if (err)
		return err;
	/* Accepted sockets inherit both from the listener. */
	tcp_sock_set_nodelay(sock->sk);
	sock_urg_inline(sock);
	err = kernel_listen(sock, KRELAY_BACKLOG);
	if (err) {
		sock_release(sock);
		return err;
	}
	write_lock_bh(&sock->sk->sk_callback_lock);
	kl_data_ready = sock->sk->sk_data_ready;
	sock->sk->sk_data_ready = kl_ready;
	write_unlock_bh(&sock->sk->sk_callback_lock);
	kl_sock = sock;
	kl_port = inet_sk(sock->sk)->inet_sport;
	rcu_assign_pointer(kl_sk, sock->sk);
	return 0;
}

static void listen_stop(void)
{
	struct socket *sock = kl_sock;

	if (!sock)
		return;
	RCU_INIT_POINTER(kl_sk, NULL);
	synchronize_rcu();	/* no hook hands it a SYN any more */
	write_lock_bh(&sock->sk->sk_callback_lock);
	sock->sk->sk_data_ready = kl_data_ready;
	write_unlock_bh(&sock->sk->sk_callback_lock);
	cancel_work_sync(&accept_work);
	kl_sock = NULL;
	/* Connections still queued on it are reset by the close. */
	sock_release(sock);
}

/*
 * tcp_mode: the listener opens when the mode becomes kernel and closes
 * when it becomes user; pairs already relayed go on either way.
 */
int krelay_kmode_listen(bool on)
{
	int err = 0;

	mutex_lock(&kmode_mutex);
	if (on && !kl_sock)
		err = listen_start();
	else if (!on)
		listen_stop();
	mutex_unlock(&kmode_mutex);
	return err;
}

/*
 * The kernel listener, held, and its port; NULL when there is none. Under
 * rcu_read_lock(), from the hooks.
 */
struct sock *krelay_kmode_listener_hold(__be16 *port)
{
	struct sock *sk = rcu_dereference(kl_sk);

	if (!sk || !refcount_inc_not_zero(&sk->sk_refcnt))
		return NULL;
	if (port)
		*port = kl_port;
	return sk;
}

/*
 * start 1->0 and module exit: end every pair (RST both sides, translated
 * while the hooks are still there), refuse new ones, and wait until all
 * are freed.
 */
void krelay_kmode_stop(void)
{
	struct krelay_pair *p;

	spin_lock_bh(&pairs_lock);
	cutting = true;
	list_for_each_entry(p, &pairs, list) {
		WRITE_ONCE(p->kill, true);
		queue_work(kmode_wq, &p->work);
	}
	spin_unlock_bh(&pairs_lock);
	wait_event(pairs_gone, !atomic_read(&npairs));
}

/* start 0->1: pairs may start again. */
void krelay_kmode_resume(void)
{
	spin_lock_bh(&pairs_lock);
	cutting = false;
	spin_unlock_bh(&pairs_lock);
}

/* The kernel listener's port, 0 when there is none (for stats). */
u16 krelay_kmode_listener_port(void)
{
	u16 port;

	mutex_lock(&kmode_mutex);
	port = kl_sock ? ntohs(kl_port) : 0;
	mutex_unlock(&kmode_mutex);
	return port;
}

unsigned int krelay_kmode_pairs(void)
{
	return atomic_read(&npairs);
}

int krelay_kmode_init(void)
{
	kmode_wq = alloc_workqueue("krelay", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	if (!kmode_wq)
		return -ENOMEM;
	INIT_WORK(&accept_work, accept_fn);
	get_random_bytes(&clients_key, sizeof(clients_key));
	return 0;
}

/* Module exit, after the hooks are gone. */
void krelay_kmode_exit(void)
{
	krelay_kmode_listen(false);
	krelay_kmode_stop();
	destroy_workqueue(kmode_wq);
}
