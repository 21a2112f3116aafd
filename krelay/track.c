// SPDX-License-Identifier: GPL-2.0
/*
 * Connection tracking for relayed flows: the TCP and UDP state machines,
 * as tables (nf_conntrack_proto_tcp.c is the model), the sequence checks
 * that keep an off-path RST or FIN from closing a live flow, and the
 * timeouts and eviction policy of each state.
 *
 * A TCP flow follows its client leg (ORIG: client -> relay, REPLY: the
 * relay's stack -> client); the server leg keeps it alive. A flow is
 * trusted (ESTABLISHED: long timeout, never evicted) only once tcp_relay
 * has linked its server socket to it, which it does after the relay's
 * stack accepted the client's connection: a SYN-ACK proves nothing, the
 * stack answers every SYN (SYN cookies included).
 */
#include <linux/tcp.h>
#include <net/tcp.h>

#include "krelay.h"
#include "track.h"

/* Timeouts (seconds) of the states that have no knob, as conntrack's. */
#define TCP_SYN_SENT_TIMEOUT	120
#define TCP_SYN_RECV_TIMEOUT	60
#define TCP_FIN_WAIT_TIMEOUT	120
#define TCP_CLOSE_WAIT_TIMEOUT	60
/* A flow not yet seen past the filter (track.c's caller confirms it). */
#define UNCONFIRMED_TIMEOUT	2
/* A UDP flow answered and still active this long after creation is a stream. */
#define UDP_STREAM_AFTER	(2 * HZ)

/*
 * Flag combinations a TCP segment may carry (ECE and CWR aside), as
 * conntrack's tcp_valid_flags: anything else (SYN|FIN, SYN|RST, no flag at
 * all, ...) is invalid, creates no flow and changes no state.
 */
#define F_FIN	TCPHDR_FIN
#define F_SYN	TCPHDR_SYN
#define F_RST	TCPHDR_RST
#define F_PSH	TCPHDR_PSH
#define F_ACK	TCPHDR_ACK
#define F_URG	TCPHDR_URG

static const bool tcp_valid_flags[F_URG << 1] = {
	[F_SYN]				= true,
	[F_SYN | F_URG]			= true,
	[F_SYN | F_ACK]			= true,
	[F_RST]				= true,
	[F_RST | F_ACK]			= true,
	[F_FIN | F_ACK]			= true,
	[F_FIN | F_ACK | F_URG]		= true,
	[F_ACK]				= true,
	[F_ACK | F_URG]			= true,
	[F_FIN | F_ACK | F_PSH]		= true,
	[F_FIN | F_ACK | F_PSH | F_URG]	= true,
	[F_ACK | F_PSH]			= true,
	[F_ACK | F_PSH | F_URG]		= true,
};

bool krelay_tcp_flags_valid(u8 flags)
{
	return tcp_valid_flags[flags & ~(TCPHDR_ECE | TCPHDR_CWR)];
}

/* What a segment does to the state machine. */
enum tcp_class { C_SYN, C_SYNACK, C_FIN, C_ACK, C_RST, C_NONE, TCP_NCLASS };

static enum tcp_class tcp_class(u8 flags)
{
	if (flags & F_RST)
		return C_RST;
	if (flags & F_SYN)
		return (flags & F_ACK) ? C_SYNACK : C_SYN;
	if (flags & F_FIN)
		return C_FIN;
	if (flags & F_ACK)
		return C_ACK;
	return C_NONE;
}

/* The TCP states, in the order of the table's columns. */
enum tcp_st { S_SS, S_SR, S_ES, S_FW, S_CW, S_TW, S_CL, TCP_NST, S_IV = TCP_NST };

static const u8 tcp_uapi[TCP_NST] = {
	[S_SS] = KRELAY_TCP_SYN_SENT,	[S_SR] = KRELAY_TCP_SYN_RECV,
	[S_ES] = KRELAY_TCP_ESTABLISHED,	[S_FW] = KRELAY_TCP_FIN_WAIT,
	[S_CW] = KRELAY_TCP_CLOSE_WAIT,	[S_TW] = KRELAY_TCP_TIME_WAIT,
	[S_CL] = KRELAY_TCP_CLOSE,
};

static enum tcp_st tcp_st(u8 state)
{
	enum tcp_st s;

	for (s = 0; s < TCP_NST; s++)
		if (tcp_uapi[s] == state)
			return s;
	return S_CL;
}

/*
 * tcp_next[dir][class][state]: the next state, S_IV for "no change".
 * dir 0 is the client's side (ORIG), 1 the relay's stack (REPLY).
 *
 * SYN_SENT    the client's SYN seen          FIN_WAIT    the client sent FIN
 * SYN_RECV    the relay's SYN-ACK seen       CLOSE_WAIT  the relay sent FIN
 * ESTABLISHED tcp_relay linked it (trusted)  TIME_WAIT   FINs both ways
 * CLOSE       an RST either way
 *
 * A SYN on a TIME_WAIT or CLOSE flow's tuple starts a new flow (the hooks
 * do that, krelay_tcp_restarts_flow). The client's RST and FIN count only
 * where the sequence check lets them (client_seq_ok).
 */
static const u8 tcp_next[2][TCP_NCLASS][TCP_NST] = {
	{
/* client	     S_SS  S_SR  S_ES  S_FW  S_CW  S_TW  S_CL */
/* syn */	   { S_SS, S_SR, S_IV, S_IV, S_IV, S_IV, S_IV },
/* synack */	   { S_IV, S_IV, S_IV, S_IV, S_IV, S_IV, S_IV },
/* fin */	   { S_IV, S_FW, S_FW, S_FW, S_TW, S_TW, S_IV },
/* ack */	   { S_IV, S_IV, S_IV, S_IV, S_IV, S_IV, S_IV },
/* rst */	   { S_CL, S_CL, S_CL, S_CL, S_CL, S_CL, S_IV },
/* none */	   { S_IV, S_IV, S_IV, S_IV, S_IV, S_IV, S_IV },
	}, {
/* relay	     S_SS  S_SR  S_ES  S_FW  S_CW  S_TW  S_CL */
/* syn */	   { S_IV, S_IV, S_IV, S_IV, S_IV, S_IV, S_IV },
/* synack */	   { S_SR, S_SR, S_IV, S_IV, S_IV, S_IV, S_IV },
/* fin */	   { S_IV, S_CW, S_CW, S_TW, S_CW, S_TW, S_IV },
/* ack */	   { S_IV, S_IV, S_IV, S_IV, S_IV, S_IV, S_IV },
/* rst */	   { S_CL, S_CL, S_CL, S_CL, S_CL, S_CL, S_IV },
/* none */	   { S_IV, S_IV, S_IV, S_IV, S_IV, S_IV, S_IV },
	},
};

/* A plain SYN (not SYN|FIN, SYN|RST, ...) may start a flow. */
bool krelay_tcp_starts_flow(const struct krelay_pkt *p)
{
	return krelay_tcp_flags_valid(p->tcpflags) &&
	       tcp_class(p->tcpflags) == C_SYN;
}

bool krelay_tcp_restarts_flow(const struct krelay_flow *f,
			      const struct krelay_pkt *p)
{
	u8 state = READ_ONCE(f->state);

	return krelay_tcp_starts_flow(p) &&
	       (state == KRELAY_TCP_CLOSE || state == KRELAY_TCP_TIME_WAIT);
}

/*
 * The relay's side of the client leg, from the relay's own segments
 * (REPLY, at POST_ROUTING): the last sequence it acknowledged and the
 * right edge of the window it advertised. Written by the relay's stack
 * only (one socket: serialised), read by the client-side check;
 * READ_ONCE/WRITE_ONCE, no lock: a stale value only makes the check
 * stricter for one packet, and the stack behind decides anyway.
 */
static void relay_seq_seen(struct krelay_flow *f, const struct krelay_pkt *p)
{
	u32 win;

	if (!(p->tcpflags & F_ACK))
		return;
	if (p->tcpflags & F_SYN) {
		/* The SYN-ACK's window is never scaled; its option sets the scale. */
		WRITE_ONCE(f->wscale, p->wscale > 0 ? min_t(s8, p->wscale, 14) : 0);
		win = p->window;
	} else {
		win = (u32)p->window << READ_ONCE(f->wscale);
	}
	WRITE_ONCE(f->rcv_ack, p->ack_seq);
	WRITE_ONCE(f->rcv_wend, p->ack_seq + win);
	if (!READ_ONCE(f->seq_known))
		WRITE_ONCE(f->seq_known, true);
}

/*
 * May the client's RST or FIN change the state? The relay's stack takes
 * an RST only at exactly the sequence it expects (RFC 5961; it answers an
 * inexact one with a challenge ACK, and the real client's next RST then
 * matches), so krelay trusts one only at the sequence the relay last
 * acknowledged; a FIN within the window the relay advertised. Before the
 * relay has said anything (SYN_SENT) there is nothing to check against.
 */
static bool client_seq_ok(const struct krelay_flow *f, enum tcp_class c,
			  const struct krelay_pkt *p)
{
	u32 ack, wend;

	if (!READ_ONCE(f->seq_known))
		return true;
	ack = READ_ONCE(f->rcv_ack);
	wend = READ_ONCE(f->rcv_wend);
	if (c == C_RST)
		return p->seq == ack;
	return !before(p->seq, ack) && !after(p->seq, wend);
}

static void tcp_track(struct krelay_flow *f, enum krelay_role r,
		      const struct krelay_pkt *p)
{
	enum tcp_class c = tcp_class(p->tcpflags);
	unsigned int dir;
	u8 next;

	switch (r) {
	case KRELAY_ROLE_ORIG:
		dir = 0;
		break;
	case KRELAY_ROLE_REPLY:
		dir = 1;
		relay_seq_seen(f, p);
		break;
	default:
		return;
	}
	if (c == C_ACK || c == C_NONE || !krelay_tcp_flags_valid(p->tcpflags))
		return;
	if (dir == 0 && (c == C_RST || c == C_FIN) && !client_seq_ok(f, c, p)) {
		krelay_count(KRELAY_STAT_OUT_OF_WINDOW);
		return;
	}

	spin_lock_bh(&f->lock);
	next = tcp_next[dir][c][tcp_st(f->state)];
	if (next != S_IV && tcp_uapi[next] != f->state)
		krelay_flow_set_state(f, tcp_uapi[next]);
	spin_unlock_bh(&f->lock);
}

/* tcp_relay linked its server socket: the relay's stack accepted the client. */
void krelay_track_linked(struct krelay_flow *f)
{
	spin_lock_bh(&f->lock);
	if (f->state == KRELAY_TCP_SYN_RECV)
		krelay_flow_set_state(f, KRELAY_TCP_ESTABLISHED);
	spin_unlock_bh(&f->lock);
}

/*
 * UDP, as conntrack: answered (REPLIED), then a stream once traffic still
 * flows, either way, UDP_STREAM_AFTER after the flow began. Only a stream
 * gets udp_stream_timeout and is never evicted: spoofed queries whose
 * answers go nowhere stay short-lived and evictable.
 */
enum udp_st { U_UN, U_RE, U_ST, UDP_NST };

static const u8 udp_uapi[UDP_NST] = {
	[U_UN] = KRELAY_UDP_UNREPLIED,
	[U_RE] = KRELAY_UDP_REPLIED,
	[U_ST] = KRELAY_UDP_STREAM,
};

/* udp_next[dir][late][state], dir 0 from the client, late: past UDP_STREAM_AFTER. */
static const u8 udp_next[2][2][UDP_NST] = {
/*		  U_UN  U_RE  U_ST */
	{
/* client */	{ U_UN, U_RE, U_ST },
/* late */	{ U_UN, U_ST, U_ST },
	}, {
/* server */	{ U_RE, U_RE, U_ST },
/* late */	{ U_RE, U_ST, U_ST },
	},
};

static void udp_track(struct krelay_flow *f, enum krelay_role r)
{
	unsigned int dir = r == KRELAY_ROLE_REPLY;
	bool late = time_after(jiffies, f->created + UDP_STREAM_AFTER);
	u8 state = READ_ONCE(f->state), s;

	s = state == KRELAY_UDP_STREAM ? U_ST :
	    state == KRELAY_UDP_REPLIED ? U_RE : U_UN;
	if (udp_uapi[udp_next[dir][late][s]] == state)
		return;
	spin_lock_bh(&f->lock);
	s = f->state == KRELAY_UDP_STREAM ? U_ST :
	    f->state == KRELAY_UDP_REPLIED ? U_RE : U_UN;
	krelay_flow_set_state(f, udp_uapi[udp_next[dir][late][s]]);
	spin_unlock_bh(&f->lock);
}

void krelay_track(struct krelay_flow *f, enum krelay_role r,
		  const struct krelay_pkt *p)
{
	if (f->proto == IPPROTO_TCP)
		tcp_track(f, r, p);
	else if (r == KRELAY_ROLE_ORIG || r == KRELAY_ROLE_REPLY)
		udp_track(f, r);
}

/*
 * Everything but a trusted TCP flow and a UDP stream may be evicted, the
 * oldest first. (Not the unanswered first: under a flood of answered
 * spoofed queries, a real client's query still in flight would go first.)
 */
bool krelay_state_evictable(u8 state)
{
	return state != KRELAY_TCP_ESTABLISHED && state != KRELAY_UDP_STREAM;
}

unsigned long krelay_flow_timeout(const struct krelay_flow *f)
{
	u32 s;

	if (!READ_ONCE(f->confirmed))
		return UNCONFIRMED_TIMEOUT * HZ;
	switch (READ_ONCE(f->state)) {
	case KRELAY_UDP_UNREPLIED:
	case KRELAY_UDP_REPLIED:
		s = READ_ONCE(krelay_cfg.udp_timeout);
		break;
	case KRELAY_UDP_STREAM:
		s = READ_ONCE(krelay_cfg.udp_stream_timeout);
		break;
	case KRELAY_TCP_SYN_SENT:
		s = TCP_SYN_SENT_TIMEOUT;
		break;
	case KRELAY_TCP_SYN_RECV:
		s = TCP_SYN_RECV_TIMEOUT;
		break;
	case KRELAY_TCP_ESTABLISHED:
		s = READ_ONCE(krelay_cfg.tcp_timeout_established);
		break;
	case KRELAY_TCP_FIN_WAIT:
		s = TCP_FIN_WAIT_TIMEOUT;
		break;
	case KRELAY_TCP_CLOSE_WAIT:
		s = TCP_CLOSE_WAIT_TIMEOUT;
		break;
	default:
		/* Closed: FINs both ways (TIME_WAIT) or an RST (CLOSE). */
		s = READ_ONCE(krelay_cfg.tcp_timeout_close);
	}
	return (unsigned long)s * HZ;
}
