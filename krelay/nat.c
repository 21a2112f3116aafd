// SPDX-License-Identifier: GPL-2.0
/*
 * Rewriting packets: addresses, ports, checksums, and ICMP errors that
 * quote a translated flow.
 */
#include <linux/icmp.h>
#include <linux/ip.h>
#include <linux/skbuff.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <net/checksum.h>
#include <net/ip.h>

#include "krelay.h"
#include "nat.h"

/* The tuple a packet of flow f in role r carries once translated. */
void krelay_xlate(const struct krelay_flow *f, enum krelay_role r,
		  const struct krelay_tuple *in, struct krelay_tuple *out)
{
	*out = *in;
	switch (r) {
	case KRELAY_ROLE_ORIG:
		if (f->proto == IPPROTO_UDP) {
			out->dst = f->server_ip;
			out->dport = f->server_port;
		} else {
			out->dport = f->gport;
		}
		break;
	case KRELAY_ROLE_REPLY:
		out->src = f->relay_ip;
		out->sport = f->relay_port;
		break;
	case KRELAY_ROLE_SRV_OUT:
		out->src = f->client_ip;
		break;
	case KRELAY_ROLE_SRV_IN:
		out->dst = f->local_ip;
		break;
	default:
		break;
	}
}

static void set_addr(struct sk_buff *skb, struct iphdr *iph, __be32 *addr,
		     __be32 new, __sum16 *l4check)
{
	if (*addr == new)
		return;
	if (l4check)
		inet_proto_csum_replace4(l4check, skb, *addr, new, true);
	csum_replace4(&iph->check, *addr, new);
	*addr = new;
}

static void set_port(struct sk_buff *skb, __be16 *port, __be16 new,
		     __sum16 *l4check)
{
	if (*port == new)
		return;
	if (l4check)
		inet_proto_csum_replace2(l4check, skb, *port, new, false);
	*port = new;
}

/*
 * Rewrite a TCP or UDP packet (not a fragment) to tuple t. The packet's
 * headers were checked by the caller.
 */
int krelay_rewrite(struct sk_buff *skb, const struct krelay_tuple *t)
{
	unsigned int thoff = ip_hdrlen(skb);
	struct iphdr *iph;
	__be16 *ports;
	__sum16 *check;
	bool udp = t->proto == IPPROTO_UDP;

	if (skb_ensure_writable(skb, thoff + (udp ? sizeof(struct udphdr) :
						    sizeof(struct tcphdr))))
		return -ENOMEM;
	iph = ip_hdr(skb);
	ports = (__be16 *)((u8 *)iph + thoff);
	if (udp) {
		check = &((struct udphdr *)ports)->check;
		/* A zero UDP checksum means none, and stays so. */
		if (!*check && skb->ip_summed != CHECKSUM_PARTIAL)
			check = NULL;
	} else {
		check = &((struct tcphdr *)ports)->check;
	}

	set_addr(skb, iph, &iph->saddr, t->src, check);
	set_addr(skb, iph, &iph->daddr, t->dst, check);
	set_port(skb, &ports[0], t->sport, check);
	set_port(skb, &ports[1], t->dport, check);
	if (udp && check && !*check)
		*check = CSUM_MANGLED_0;
	return 0;
}

/*
 * Parse the TCP/UDP header an ICMP error (or redirect) quotes into the
 * tuple of the packet it quotes. Returns false for anything else.
 */
bool krelay_icmp_inner(const struct sk_buff *skb, struct krelay_tuple *t,
		       u8 *type)
{
	unsigned int off = ip_hdrlen(skb);
	struct icmphdr _ih;
	const struct icmphdr *ih;
	struct iphdr _iph;
	const struct iphdr *iph;
	__be16 _ports[2];
	const __be16 *ports;

	ih = skb_header_pointer(skb, off, sizeof(_ih), &_ih);
	if (!ih || (!icmp_is_err(ih->type) && ih->type != ICMP_REDIRECT))
		return false;
	*type = ih->type;
	off += sizeof(_ih);
	iph = skb_header_pointer(skb, off, sizeof(_iph), &_iph);
	if (!iph || iph->ihl < 5 || iph->version != 4 ||
	    (iph->frag_off & htons(IP_OFFSET)) ||
	    (iph->protocol != IPPROTO_TCP && iph->protocol != IPPROTO_UDP))
		return false;
	ports = skb_header_pointer(skb, off + iph->ihl * 4, sizeof(_ports),
				   _ports);
	if (!ports)
		return false;
	t->src = iph->saddr;
	t->dst = iph->daddr;
	t->sport = ports[0];
	t->dport = ports[1];
	t->proto = iph->protocol;
	return true;
}

/*
 * Translate an ICMP error: inner is the quoted packet's tuple as parsed,
 * fwd the translated tuple of the flow leg the error travels along (the
 * reverse of inner). The quoted header becomes the reverse of fwd; the
 * outer addresses follow fwd where they are the leg's own.
 */
int krelay_icmp_rewrite(struct sk_buff *skb, const struct krelay_tuple *inner,
			const struct krelay_tuple *fwd)
{
	unsigned int off = ip_hdrlen(skb), ioff = off + sizeof(struct icmphdr);
	struct iphdr *iph, *inph;
	struct icmphdr *ih;
	__be16 *ports;

	if (skb_ensure_writable(skb, ioff + sizeof(*inph)))
		return -ENOMEM;
	inph = (struct iphdr *)(skb->data + ioff);
	if (skb_ensure_writable(skb, ioff + inph->ihl * 4 + 2 * sizeof(__be16)))
		return -ENOMEM;

	iph = ip_hdr(skb);
	inph = (struct iphdr *)(skb->data + ioff);
	ports = (__be16 *)((u8 *)inph + inph->ihl * 4);
	set_addr(skb, inph, &inph->saddr, fwd->dst, NULL);
	set_addr(skb, inph, &inph->daddr, fwd->src, NULL);
	ports[0] = fwd->dport;
	ports[1] = fwd->sport;

	if (iph->saddr == inner->dst)
		set_addr(skb, iph, &iph->saddr, fwd->src, NULL);
	if (iph->daddr == inner->src)
		set_addr(skb, iph, &iph->daddr, fwd->dst, NULL);

	if (skb->ip_summed != CHECKSUM_PARTIAL) {
		ih = (struct icmphdr *)(skb->data + off);
		ih->checksum = 0;
		ih->checksum = csum_fold(skb_checksum(skb, off, skb->len - off,
						      0));
		/* A receive checksum over the old bytes no longer holds. */
		if (skb->ip_summed == CHECKSUM_COMPLETE)
			skb->ip_summed = CHECKSUM_NONE;
	}
	return 0;
}
