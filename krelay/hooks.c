// SPDX-License-Identifier: GPL-2.0
/*
 * The netfilter hooks: parse each packet, find its flow or create one for
 * a new relayed connection, let track.c follow its state, and rewrite it
 * (nat.c).
 */
#include <linux/icmp.h>
#include <linux/ip.h>
#include <linux/netdevice.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <net/inet_hashtables.h>
#include <net/ip.h>
#include <net/netfilter/ipv4/nf_defrag_ipv4.h>
#include <net/netfilter/ipv4/nf_reject.h>
#include <net/route.h>
#include <net/tcp.h>

#include "krelay.h"
#include "nat.h"
#include "track.h"

/*
 * PRE_ROUTING after defrag (-400: whole datagrams, ports always present)
 * and raw (-300), before conntrack (-200): conntrack then only ever sees
 * rewritten packets, one consistent view of each flow (U1 as client ->
 * real_ip, T4's SYN-ACK as the reply of the connection tcp_relay opened,
 * never INVALID). POST_ROUTING after conntrack's SNAT (+100), so that nat
 * rules see flows as conntrack tracks them, and before confirm.
 */
#define KRELAY_PRI_PRE		(NF_IP_PRI_CONNTRACK - 50)
#define KRELAY_PRI_POST		(NF_IP_PRI_NAT_SRC + 10)

/* The window scale option of a SYN, or -1 (RFC 7323). */
static s8 tcp_wscale(const struct sk_buff *skb, unsigned int thoff,
		     const struct tcphdr *th)
{
	u8 _opt[MAX_TCP_OPTION_SPACE];
	const u8 *opt;
	int len = th->doff * 4 - sizeof(*th), i = 0;

	if (len <= 0)
		return -1;
	opt = skb_header_pointer(skb, thoff + sizeof(*th), len, _opt);
	if (!opt)
		return -1;
	while (i < len) {
		switch (opt[i]) {
		case TCPOPT_EOL:
			return -1;
		case TCPOPT_NOP:
			i++;
			continue;
		}
		if (i + 1 >= len || opt[i + 1] < 2 || i + opt[i + 1] > len)
			return -1;
		if (opt[i] == TCPOPT_WINDOW && opt[i + 1] == TCPOLEN_WINDOW)
			return opt[i + 2];
		i += opt[i + 1];
	}
	return -1;
}

static bool parse(const struct sk_buff *skb, struct krelay_pkt *p)
{
	const struct iphdr *iph = ip_hdr(skb);
	unsigned int thoff = ip_hdrlen(skb);
	struct tcphdr _th;
	const struct tcphdr *th;
	const __be16 *ports;

	if (ip_is_fragment(iph))
		return false;
	p->t.src = iph->saddr;
	p->t.dst = iph->daddr;
	p->t.proto = iph->protocol;
	switch (iph->protocol) {
	case IPPROTO_TCP:
		th = skb_header_pointer(skb, thoff, sizeof(_th), &_th);
		if (!th || th->doff < 5 || skb->len < thoff + th->doff * 4)
			return false;
		p->tcpflags = tcp_flag_byte(th);
		p->seq = ntohl(th->seq);
		p->ack_seq = ntohl(th->ack_seq);
		p->window = ntohs(th->window);
		p->payload = skb->len - thoff - th->doff * 4;
		p->wscale = th->syn ? tcp_wscale(skb, thoff, th) : -1;
		ports = &th->source;
		break;
	case IPPROTO_UDP:
		ports = skb_header_pointer(skb, thoff, sizeof(struct udphdr),
					   &_th);
		if (!ports)
			return false;
		break;
	case IPPROTO_ICMP:
		return true;
	default:
		return false;
	}
	p->t.sport = ports[0];
	p->t.dport = ports[1];
	return true;
}

static bool pre_role(enum krelay_role r)
{
	return r == KRELAY_ROLE_ORIG || r == KRELAY_ROLE_SRV_IN;
}

static void count_xlate(bool pre, u8 proto)
{
	if (proto == IPPROTO_UDP)
		krelay_count(pre ? KRELAY_STAT_PRE_UDP : KRELAY_STAT_POST_UDP);
	else
		krelay_count(pre ? KRELAY_STAT_PRE_TCP : KRELAY_STAT_POST_TCP);
}

static void reverse(const struct krelay_tuple *t, struct krelay_tuple *r)
{
	r->src = t->dst;
	r->sport = t->dport;
	r->dst = t->src;
	r->dport = t->sport;
	r->proto = t->proto;
}

/* No registered listener: the client gets a RST from the service port. */
static unsigned int refuse_syn(struct sk_buff *skb,
			       const struct nf_hook_state *state)
{
	krelay_count(KRELAY_STAT_NO_LISTENER);
	nf_send_reset(state->net, NULL, skb, NF_INET_PRE_ROUTING);
	return NF_DROP;
}

/*
 * A new flow's SYN goes to the registered listener and to no other socket
 * (the stack takes skb->sk before any lookup, as for TPROXY); the
 * reference from krelay_listener_hold() passes to the skb. Later packets
 * of the flow take the normal lookup: they belong to the request or
 * connection that SYN made, and a SYN handed to the listener again would
 * put a second request on the same tuple (resteer_syn: only when there is
 * no such socket).
 */
static void steer(struct sk_buff *skb, struct sock *sk)
{
	skb_orphan(skb);
	skb->sk = sk;
	skb->destructor = sock_edemux;
}

/*
 * A SYN of a flow krelay already tracks (a retransmission, or a client
 * reusing a port): the stack takes it to the flow's connection, or to its
 * request while that request's listener still listens. Otherwise (the
 * listener closed and its requests die with it; SYN cookies keep none; a
 * TIME_WAIT socket would look the listener up again) the normal lookup
 * would give it to whoever listens on gport now: it goes to the registered
 * listener instead (*lsk, held), as a new flow's SYN does, and ends a
 * TIME_WAIT socket as TPROXY does. -ENOTCONN when there is no listener.
 */
static int resteer_syn(const struct nf_hook_state *state,
		       const struct krelay_tuple *out, struct sock **lsk)
{
	struct net *net = state->net;
	struct sock *sk;
	bool live;

	sk = inet_lookup_established(net, net->ipv4.tcp_death_row.hashinfo,
				     out->src, out->sport, out->dst,
				     out->dport,
				     state->in ? state->in->ifindex : 0);
	if (sk && sk->sk_state == TCP_TIME_WAIT) {
		inet_twsk_deschedule_put(inet_twsk(sk));
	} else if (sk) {
		live = sk->sk_state != TCP_NEW_SYN_RECV ||
		       READ_ONCE(inet_reqsk(sk)->rsk_listener->sk_state) ==
		       TCP_LISTEN;
		sock_gen_put(sk);
		if (live)
			return 0;
	}
	*lsk = krelay_listener_hold(NULL);
	return *lsk ? 0 : -ENOTCONN;
}

/*
 * Should this packet, which matches no flow, start one? A TCP flow needs
 * the registered listener (*lsk, held; the flow's gport is its port):
 * ERR_PTR(-ENOTCONN) when there is none.
 */
static struct krelay_flow *new_flow(struct sk_buff *skb,
				    const struct nf_hook_state *state,
				    const struct krelay_pkt *p,
				    struct sock **lsk)
{
	__be32 real_ip = READ_ONCE(krelay_cfg.real_ip);
	struct krelay_flow *f;
	__be16 lport;

	if (!krelay_port_relayed(p->t.proto, p->t.dport) ||
	    (state->in && (state->in->flags & IFF_LOOPBACK)) ||
	    !krelay_in_scope(state->in) ||
	    p->t.src == real_ip ||
	    inet_addr_type(state->net, p->t.dst) != RTN_LOCAL)
		return NULL;
	if (p->t.proto == IPPROTO_UDP)
		return krelay_flow_create(&p->t, real_ip,
					  htons(READ_ONCE(krelay_cfg.gport)));
	if (!krelay_tcp_starts_flow(p)) {
		if (!krelay_tcp_flags_valid(p->tcpflags))
			krelay_count(KRELAY_STAT_INVALID);
		return NULL;
	}
	*lsk = krelay_listener_hold(&lport);
	if (!*lsk)
		return ERR_PTR(-ENOTCONN);
	f = krelay_flow_create(&p->t, real_ip, lport);
	if (IS_ERR(f)) {
		sock_put(*lsk);
		*lsk = NULL;
	}
	return f;
}

/*
 * T3 must come from the socket tcp_relay linked (its cookie): once that
 * socket is gone, a local user who binds the same port must not leave
 * with the client's address. Segments the stack sends without a full
 * socket (TIME_WAIT ACKs, RSTs from the control socket) may carry neither
 * SYN nor payload.
 */
static bool srv_out_socket_ok(struct sk_buff *skb, struct krelay_flow *f,
			      const struct krelay_pkt *p)
{
	struct sock *sk = skb->sk;

	if (sk && sk_fullsock(sk) && !sock_diag_check_cookie(sk, f->cookie))
		return true;
	return !(p->tcpflags & TCPHDR_SYN) && !p->payload;
}

static unsigned int icmp_hook(struct sk_buff *skb, bool pre)
{
	struct krelay_tuple inner, leg, fwd;
	struct krelay_node *n;
	u8 type;

	if (!krelay_icmp_inner(skb, &inner, &type))
		return NF_ACCEPT;
	reverse(&inner, &leg);
	n = krelay_lookup(&leg);
	if (!n || pre_role(n->role) != pre)
		return NF_ACCEPT;
	/* As nf_nat: no redirects for translated flows. */
	if (type == ICMP_REDIRECT) {
		krelay_count(KRELAY_STAT_ICMP_REDIRECT);
		return NF_DROP;
	}
	/*
	 * The rewrite computes a fresh checksum: check the old one first, or
	 * a corrupted error would arrive looking sound. (As for PRE_ROUTING:
	 * a forwarded packet's receive checksum still holds at POST_ROUTING.)
	 */
	if (nf_ip_checksum(skb, NF_INET_PRE_ROUTING, ip_hdrlen(skb), 0)) {
		krelay_count(KRELAY_STAT_ICMP_BAD_CHECKSUM);
		return NF_DROP;
	}
	krelay_xlate(krelay_node_flow(n), n->role, &leg, &fwd);
	if (krelay_icmp_rewrite(skb, &inner, &fwd)) {
		krelay_count(KRELAY_STAT_DROP_UNWRITABLE);
		return NF_DROP;
	}
	if (pre)
		skb_dst_drop(skb);
	krelay_count(KRELAY_STAT_ICMP);
	return NF_ACCEPT;
}

/*
 * A forwarded UDP packet at POST_ROUTING that matches no node may be a
 * new flow's U1, already translated and past the filter: confirm its flow
 * (found through its reply tuple, server -> client).
 */
static void confirm_forwarded(const struct krelay_pkt *p)
{
	struct krelay_tuple r;
	struct krelay_node *n;

	if (p->t.proto != IPPROTO_UDP ||
	    !krelay_port_relayed(IPPROTO_UDP, p->t.dport))
		return;
	reverse(&p->t, &r);
	n = krelay_lookup(&r);
	if (n && n->role == KRELAY_ROLE_REPLY)
		krelay_flow_confirm(krelay_node_flow(n));
}

static unsigned int krelay_hook(struct sk_buff *skb,
				const struct nf_hook_state *state, bool pre)
{
	struct krelay_flow *f = NULL;
	struct sock *lsk = NULL;
	struct krelay_node *n;
	struct krelay_tuple out;
	struct krelay_pkt p;

	if (!parse(skb, &p))
		return NF_ACCEPT;
	if (p.t.proto == IPPROTO_ICMP)
		return icmp_hook(skb, pre);

	n = krelay_lookup(&p.t);
	if (n) {
		f = krelay_node_flow(n);
		if (pre_role(n->role) != pre)
			return NF_ACCEPT;
		/* A new SYN on a closed flow's tuple starts a new flow. */
		if (n->role == KRELAY_ROLE_ORIG && p.t.proto == IPPROTO_TCP &&
		    krelay_tcp_restarts_flow(f, &p)) {
			krelay_flow_delete(f);
			n = NULL;
		}
	}
	if (!n) {
		if (!pre) {
			confirm_forwarded(&p);
			return NF_ACCEPT;
		}
		f = new_flow(skb, state, &p, &lsk);
		if (!f)
			return NF_ACCEPT;
		if (IS_ERR(f))
			return PTR_ERR(f) == -ENOTCONN ? refuse_syn(skb, state) :
							  NF_DROP;
		n = &f->node[KRELAY_ROLE_ORIG];
	}
	if (n->role == KRELAY_ROLE_SRV_OUT && !srv_out_socket_ok(skb, f, &p)) {
		krelay_count(KRELAY_STAT_IMPOSTOR);
		return NF_ACCEPT;
	}
	if (p.t.proto == IPPROTO_TCP && !krelay_tcp_flags_valid(p.tcpflags))
		krelay_count(KRELAY_STAT_INVALID);

	krelay_xlate(f, n->role, &p.t, &out);
	if (pre && !lsk && n->role == KRELAY_ROLE_ORIG &&
	    p.t.proto == IPPROTO_TCP && krelay_tcp_starts_flow(&p) &&
	    resteer_syn(state, &out, &lsk))
		return refuse_syn(skb, state);
	krelay_track(f, n->role, &p);
	if (krelay_rewrite(skb, &out)) {
		if (lsk)
			sock_put(lsk);
		krelay_count(KRELAY_STAT_DROP_UNWRITABLE);
		return NF_DROP;
	}
	if (pre && out.dst != p.t.dst)
		skb_dst_drop(skb);
	if (lsk)
		steer(skb, lsk);
	krelay_flow_seen(f, n->role, skb->len);
	count_xlate(pre, p.t.proto);
	return NF_ACCEPT;
}

static unsigned int krelay_pre(void *priv, struct sk_buff *skb,
			       const struct nf_hook_state *state)
{
	return krelay_hook(skb, state, true);
}

static unsigned int krelay_post(void *priv, struct sk_buff *skb,
				const struct nf_hook_state *state)
{
	return krelay_hook(skb, state, false);
}

/*
 * LOCAL_IN, last: a steered SYN (T1, now client:x -> relay:gport) got past
 * routing, rp_filter and the INPUT filter. Until then its flow is
 * unconfirmed: evicted first and gone within seconds, so packets dropped
 * after PRE_ROUTING cannot fill the table.
 */
static unsigned int krelay_in(void *priv, struct sk_buff *skb,
			      const struct nf_hook_state *state)
{
	struct krelay_tuple r;
	struct krelay_node *n;
	struct krelay_pkt p;

	if (!parse(skb, &p) || p.t.proto != IPPROTO_TCP ||
	    !krelay_tcp_starts_flow(&p))
		return NF_ACCEPT;
	reverse(&p.t, &r);
	n = krelay_lookup(&r);
	if (n && n->role == KRELAY_ROLE_REPLY)
		krelay_flow_confirm(krelay_node_flow(n));
	return NF_ACCEPT;
}

static const struct nf_hook_ops krelay_ops[] = {
	{
		.hook		= krelay_pre,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_PRE_ROUTING,
		.priority	= KRELAY_PRI_PRE,
	},
	{
		.hook		= krelay_post,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_POST_ROUTING,
		.priority	= KRELAY_PRI_POST,
	},
	{
		.hook		= krelay_in,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_LOCAL_IN,
		.priority	= NF_IP_PRI_LAST,
	},
};

/*
 * Hooks on init_net only, on purpose: the lab's client and server are
 * namespaces of the same kernel, and must keep their own view.
 */
int krelay_hooks_register(void)
{
	int err;

	lockdep_assert_held(&krelay_config_mutex);
	err = nf_defrag_ipv4_enable(&init_net);
	if (err)
		return err;
	err = nf_register_net_hooks(&init_net, krelay_ops,
				    ARRAY_SIZE(krelay_ops));
	if (err)
		nf_defrag_ipv4_disable(&init_net);
	return err;
}

/*
 * Unregistering does not wait for a hook still running on another CPU
 * (POST_ROUTING runs preemptible in process context under PREEMPT_RCU):
 * wait for them before the caller flushes the table or frees it.
 */
void krelay_hooks_unregister(void)
{
	lockdep_assert_held(&krelay_config_mutex);
	nf_unregister_net_hooks(&init_net, krelay_ops, ARRAY_SIZE(krelay_ops));
	synchronize_net();
	nf_defrag_ipv4_disable(&init_net);
}
