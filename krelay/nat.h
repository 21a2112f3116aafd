/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KRELAY_NAT_H
#define _KRELAY_NAT_H

#include <linux/skbuff.h>

#include "table.h"

void krelay_xlate(const struct krelay_flow *f, enum krelay_role r,
		  const struct krelay_tuple *in, struct krelay_tuple *out);
int krelay_rewrite(struct sk_buff *skb, const struct krelay_tuple *t);
bool krelay_icmp_inner(const struct sk_buff *skb, struct krelay_tuple *t,
		       u8 *type);
int krelay_icmp_rewrite(struct sk_buff *skb, const struct krelay_tuple *inner,
			const struct krelay_tuple *fwd);

#endif /* _KRELAY_NAT_H */
