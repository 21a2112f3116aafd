// SPDX-License-Identifier: GPL-2.0
/*
 * The netfilter hooks: find the flow of each packet, create flows for new
 * relayed connections, and rewrite.
 */
#include <linux/icmp.h>
#include <linux/ip.h>
#include <linux/netdevice.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/tcp.h>
#include <net/ip.h>
#include <net/netfilter/ipv4/nf_defrag_ipv4.h>
#include <net/route.h>
#include <net/tcp.h>

#include "krelay.h"
#include "nat.h"

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

struct pkt {
	struct krelay_tuple	t;
	u8			tcpflags;	/* TCP: the flags byte */
};

static bool parse(const struct sk_buff *skb, struct pkt *p)
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
		if (!th || th->doff < 5)
			return false;
		p->tcpflags = ((u8 *)th)[13];
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

/* Follow the TCP handshake and close on the client leg. */
static void tcp_track(struct krelay_flow *f, enum krelay_role r, u8 flags)
{
	u8 state = READ_ONCE(f->state), fin;

	if (r != KRELAY_ROLE_ORIG && r != KRELAY_ROLE_REPLY)
		return;
	if (!(flags & (TCPHDR_SYN | TCPHDR_FIN | TCPHDR_RST)))
		return;
	spin_lock_bh(&f->lock);
	state = f->state;
	if (flags & TCPHDR_RST) {
		state = KRELAY_TCP_CLOSE;
	} else if (flags & TCPHDR_FIN) {
		fin = f->fin | (r == KRELAY_ROLE_ORIG ? 1 : 2);
		f->fin = fin;
		state = fin == 3 ? KRELAY_TCP_CLOSE : KRELAY_TCP_FIN_WAIT;
	} else if ((flags & (TCPHDR_SYN | TCPHDR_ACK)) ==
		   (TCPHDR_SYN | TCPHDR_ACK) && r == KRELAY_ROLE_REPLY &&
		   state == KRELAY_TCP_SYN_SENT) {
		state = KRELAY_TCP_ESTABLISHED;
	}
	if (state != f->state)
		krelay_flow_set_state(f, state);
	spin_unlock_bh(&f->lock);
}

static void udp_track(struct krelay_flow *f, enum krelay_role r)
{
	if (r != KRELAY_ROLE_REPLY ||
	    READ_ONCE(f->state) != KRELAY_UDP_UNREPLIED)
		return;
	spin_lock_bh(&f->lock);
	if (f->state == KRELAY_UDP_UNREPLIED)
		krelay_flow_set_state(f, KRELAY_UDP_REPLIED);
	spin_unlock_bh(&f->lock);
}

/* Should this packet, which matches no flow, start one? */
static struct krelay_flow *new_flow(struct sk_buff *skb,
				    const struct nf_hook_state *state,
				    const struct pkt *p)
{
	__be32 real_ip = READ_ONCE(krelay_cfg.real_ip);

	if (p->t.proto == IPPROTO_TCP &&
	    (p->tcpflags & (TCPHDR_SYN | TCPHDR_ACK | TCPHDR_RST)) != TCPHDR_SYN)
		return NULL;
	if (!krelay_port_relayed(p->t.proto, p->t.dport) ||
	    (state->in && (state->in->flags & IFF_LOOPBACK)) ||
	    !krelay_in_scope(state->in) ||
	    p->t.src == real_ip ||
	    inet_addr_type(state->net, p->t.dst) != RTN_LOCAL)
		return NULL;
	return krelay_flow_create(&p->t, real_ip,
				  htons(READ_ONCE(krelay_cfg.gport)));
}

static unsigned int icmp_hook(struct sk_buff *skb, bool pre)
{
	struct krelay_tuple inner, leg, fwd;
	struct krelay_node *n;

	if (!krelay_icmp_inner(skb, &inner))
		return NF_ACCEPT;
	leg.src = inner.dst;
	leg.sport = inner.dport;
	leg.dst = inner.src;
	leg.dport = inner.sport;
	leg.proto = inner.proto;
	n = krelay_lookup(&leg);
	if (!n || pre_role(n->role) != pre)
		return NF_ACCEPT;
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

static unsigned int krelay_hook(struct sk_buff *skb,
				const struct nf_hook_state *state, bool pre)
{
	struct krelay_flow *f = NULL;
	struct krelay_node *n;
	struct krelay_tuple out;
	struct pkt p;

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
		    (p.tcpflags & (TCPHDR_SYN | TCPHDR_ACK)) == TCPHDR_SYN &&
		    READ_ONCE(f->state) == KRELAY_TCP_CLOSE) {
			krelay_flow_delete(f);
			n = NULL;
		}
	}
	if (!n) {
		if (!pre)
			return NF_ACCEPT;
		f = new_flow(skb, state, &p);
		if (!f)
			return NF_ACCEPT;
		if (IS_ERR(f))
			return NF_DROP;
		n = &f->node[KRELAY_ROLE_ORIG];
	}

	krelay_xlate(f, n->role, &p.t, &out);
	if (krelay_rewrite(skb, &out)) {
		krelay_count(KRELAY_STAT_DROP_UNWRITABLE);
		return NF_DROP;
	}
	if (pre && out.dst != p.t.dst)
		skb_dst_drop(skb);
	krelay_flow_seen(f, n->role, skb->len);
	if (p.t.proto == IPPROTO_TCP)
		tcp_track(f, n->role, p.tcpflags);
	else
		udp_track(f, n->role);
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

void krelay_hooks_unregister(void)
{
	lockdep_assert_held(&krelay_config_mutex);
	nf_unregister_net_hooks(&init_net, krelay_ops, ARRAY_SIZE(krelay_ops));
	nf_defrag_ipv4_disable(&init_net);
}
