// SPDX-License-Identifier: GPL-2.0
/*
 * Socket options for user space (uapi/krelay.h).
 */
#include <linux/capability.h>
#include <linux/netfilter.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <net/inet_sock.h>
#include <net/sock.h>

#include "krelay.h"
#include "table.h"

static int get_table(struct sock *sk, void __user *user, int *len)
{
	struct krelay_table_hdr hdr = {
		.version	= KRELAY_TABLE_VERSION,
		.record_size	= sizeof(struct krelay_entry),
	};
	struct krelay_entry *e;
	unsigned int max;
	int err = 0;

	if (!ns_capable(sock_net(sk)->user_ns, CAP_NET_ADMIN))
		return -EPERM;
	if (*len < (int)sizeof(hdr))
		return -EINVAL;
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

static int krelay_get(struct sock *sk, int optval, void __user *user, int *len)
{
	switch (optval) {
	case KRELAY_SO_TABLE:
		return get_table(sk, user, len);
	default:
		return -ENOPROTOOPT;
	}
}

static int krelay_set(struct sock *sk, int optval, sockptr_t arg,
		      unsigned int len)
{
	return -ENOPROTOOPT;
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
	return nf_register_sockopt(&krelay_sockopts);
}

void krelay_sockopt_exit(void)
{
	nf_unregister_sockopt(&krelay_sockopts);
}
