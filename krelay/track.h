/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KRELAY_TRACK_H
#define _KRELAY_TRACK_H

#include <linux/types.h>

#include "table.h"

/* What the hooks parse of a packet: its tuple and, for TCP, the header. */
struct krelay_pkt {
	struct krelay_tuple	t;
	u8			tcpflags;	/* tcp_flag_byte() */
	s8			wscale;		/* SYN: window scale option, or -1 */
	u16			window;
	u32			seq, ack_seq;
	u32			payload;	/* TCP payload bytes */
};

bool krelay_tcp_flags_valid(u8 flags);
bool krelay_tcp_starts_flow(const struct krelay_pkt *p);
bool krelay_tcp_restarts_flow(const struct krelay_flow *f,
			      const struct krelay_pkt *p);
void krelay_track(struct krelay_flow *f, enum krelay_role r,
		  const struct krelay_pkt *p);
void krelay_track_linked(struct krelay_flow *f);
bool krelay_state_evictable(u8 state);
unsigned long krelay_flow_timeout(const struct krelay_flow *f);

#endif /* _KRELAY_TRACK_H */
