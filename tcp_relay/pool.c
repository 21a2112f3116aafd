// SPDX-License-Identifier: GPL-2.0
/*
 * The pool of pre-forked children. Each child has a SOCK_SEQPACKET
 * socketpair to the parent ("ctl"): the parent sends one accepted socket
 * and its peer address per message (SCM_RIGHTS) to an idle child and
 * closes its own copy. A child that is done with its pair and idle again
 * writes its pid to one pipe all children share ("idle channel"), which
 * the parent polls beside the listener: its poll set stays two descriptors
 * however large the pool, and one read drains many children's news. The
 * parent closing ctl tells an idle child to exit; a child that leaves is
 * reaped on SIGCHLD. The parent only ever sends to idle children and never
 * waits for one: ctl is used with MSG_DONTWAIT on its side, and the
 * channel is non-blocking at both ends.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tcp_relay.h"

#define TRIM_IDLE_S	5	/* spare children idle this long may go */
#define HANDOFF_TRIES	3	/* children tried for one connection */

struct child {
	pid_t		 pid;		/* 0: free slot */
	int		 ctl;		/* -1: leaving, to be reaped */
	int		 busy;
	struct in_addr	 client;	/* of the pair it relays, when busy */
	time_t		 idle_since;	/* monotime(), when not busy */
	time_t		 busy_since;	/* monotime(), when busy */
};

static struct child	*children;
static int		 slots;		/* of children[]: the most -m has been */
static int		 nchildren;	/* slots in use, reaped or not */
static int		 idle_chan[2] = { -1, -1 };	/* children -> parent */

static time_t
monotime(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec ? ts.tv_sec : 1;
}

static uint32_t		*keys;		/* heaviest_client's, slots of them */

/*
 * Make room for max children. A smaller limit leaves the slots: busy
 * children finish their pairs and pool_trim retires idle ones above it.
 * -1 when there is no memory for more.
 */
int
pool_limit(int max)
{
	struct child	*c;
	int		 i;

	if (max <= slots)
		return 0;
	if ((c = reallocarray(children, max, sizeof(*c))) == NULL) {
		log_warn("room for %d children", max);
		return -1;
	}
	memset(c + slots, 0, (max - slots) * sizeof(*c));
	for (i = slots; i < max; i++)
		c[i].ctl = -1;
	children = c;
	slots = max;
	free(keys);
	keys = NULL;
	return 0;
}

void
pool_init(void)
{
	if (pool_limit(conf.max_children) == -1)
		fatalx("no memory for the pool");
	if (pipe2(idle_chan, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("pipe");
	pool_top_up();
}

static int
idle(const struct child *c)
{
	return c->pid != 0 && c->ctl != -1 && !c->busy;
}

static struct child *
idle_child(void)
{
	int	 i;

	for (i = 0; i < slots; i++)
		if (idle(&children[i]))
			return &children[i];
	return NULL;
}

static int
idle_count(void)
{
	int	 i, n = 0;

	for (i = 0; i < slots; i++)
		n += idle(&children[i]);
	return n;
}

/* Tell a child to go: on EOF an idle one exits, a busy one after its pair. */
static void
child_retire(struct child *c)
{
	if (c->ctl != -1) {
		close(c->ctl);
		c->ctl = -1;
	}
}

/* Blocks; this is the child's own socket. */
static int
fd_recv(int ctl, struct pair_msg *m)
{
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct iovec	 iov;
	ssize_t		 n;
	int		 fd = -1;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = m;
	iov.iov_len = sizeof(*m);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	do {
		n = recvmsg(ctl, &msg, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n <= 0)
		return -1;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level == SOL_SOCKET &&
		    cmsg->cmsg_type == SCM_RIGHTS &&
		    cmsg->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
	}
	if (fd == -1 || (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) ||
	    n != sizeof(*m) || memchr(m->server_cc, '\0', CC_NAME_MAX) == NULL) {
		log_warnx("child: message without a socket");
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

static int
fd_send(int ctl, int fd, const struct pair_msg *m)
{
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct iovec	 iov;
	ssize_t		 n;

	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	iov.iov_base = (void *)m;
	iov.iov_len = sizeof(*m);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	do {
		n = sendmsg(ctl, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	return n == (ssize_t)sizeof(*m) ? 0 : -1;
}

static void
child_signals(void)
{
	struct sigaction	 sa;
	sigset_t		 none;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	/* ^C and a terminal hangup are the parent's: it lets pairs finish. */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* In a child: tell the parent this child takes the next pair. */
static void
child_idle(void)
{
	pid_t	 self = getpid();

	/* Atomic (below PIPE_BUF); full only if the parent is stuck. */
	if (write(idle_chan[1], &self, sizeof(self)) != sizeof(self)) {
		/* EPIPE: the parent is gone, and so is its pool. */
		if (errno != EPIPE)
			log_warn("child: idle channel");
		_exit(errno == EPIPE ? 0 : 1);
	}
}

static void __attribute__((__noreturn__))
child_main(int ctl)
{
	struct pair_msg		 m;
	int			 served, fd;

	for (served = 1; served <= PAIRS_PER_CHILD; served++) {
		if ((fd = fd_recv(ctl, &m)) == -1)
			break;
		relay_pair(fd, &m,
		    served < PAIRS_PER_CHILD ? child_idle : NULL);
	}
	close(ctl);
	_exit(0);
}

/*
 * In a new child: close every descriptor but stdio (the log) and the two
 * it works with. A fork can happen while the parent holds an accepted
 * socket it is about to hand off, and besides it the listeners, the other
 * children's ctl and the pidfile: a child keeping any of them would hold a
 * client's connection open after its pair has closed it, or a listener
 * after a gport move. Nothing the parent opens later needs a line here.
 */
static void
keep_only(int a, int b)
{
	int		 keep[2] = { a < b ? a : b, a < b ? b : a }, i;
	unsigned int	 from = 3;

	for (i = 0; i < 2; i++) {
		if (keep[i] < (int)from)
			continue;
		if (keep[i] > (int)from && close_range(from, keep[i] - 1, 0) == -1)
			fatal("child: close_range");
		from = keep[i] + 1;
	}
	if (close_range(from, ~0U, 0) == -1)
		fatal("child: close_range");
}

static struct child *
spawn(void)
{
	struct child	*c = NULL;
	int		 sv[2], i;
	pid_t		 pid;

	for (i = 0; i < slots; i++) {
		if (children[i].pid == 0) {
			c = &children[i];
			break;
		}
	}
	if (c == NULL || nchildren >= conf.max_children)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair");
		return NULL;
	}
	switch ((pid = fork())) {
	case -1:
		log_warn("fork");
		close(sv[0]);
		close(sv[1]);
		return NULL;
	case 0:
		keep_only(sv[1], idle_chan[1]);
		child_signals();
		priv_child();
		priv_seccomp();
		child_main(sv[1]);
	}
	close(sv[1]);
	c->pid = pid;
	c->ctl = sv[0];
	c->busy = 0;
	c->idle_since = monotime();
	nchildren++;
	log_debug("child %d started", (int)pid);
	return c;
}

/*
 * Read what the idle channel holds: the children that finished a pair
 * since the last look. Cheap (one read) when there is nothing.
 */
void
pool_sync(void)
{
	pid_t	 pids[64];
	ssize_t	 n;
	time_t	 now = 0;
	int	 i, j;

	for (;;) {
		n = read(idle_chan[0], pids, sizeof(pids));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		if (now == 0)
			now = monotime();
		for (j = 0; j < n / (ssize_t)sizeof(pids[0]); j++) {
			for (i = 0; i < slots; i++) {
				if (children[i].pid == pids[j] &&
				    children[i].ctl != -1) {
					children[i].busy = 0;
					children[i].idle_since = now;
					break;
				}
			}
		}
		if (n < (ssize_t)sizeof(pids))
			return;
	}
}

/* The idle channel's end to poll: readable when a child is idle again. */
int
pool_idle_fd(void)
{
	return idle_chan[0];
}

/* The client as -c counts it: the address's first -b bits. */
static uint32_t
client_key(struct in_addr a)
{
	uint32_t	 mask;

	mask = conf.prefix_bits ? ~0U << (32 - conf.prefix_bits) : 0;
	return ntohl(a.s_addr) & mask;
}

static int
client_pairs(struct in_addr addr)
{
	uint32_t	 key = client_key(addr);
	int		 i, n = 0;

	for (i = 0; i < slots; i++)
		if (children[i].pid != 0 && children[i].busy &&
		    client_key(children[i].client) == key)
			n++;
	return n;
}

static int
key_cmp(const void *a, const void *b)
{
	uint32_t	 x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The client holding the most pairs: its count, and its key in *key.
 * O(n log n) in the busy children; run only while the pool is full.
 */
static int
heaviest_client(uint32_t *key)
{
	int		 i, n = 0, run, best = 0;

	if (keys == NULL && (keys = calloc(slots, sizeof(*keys))) == NULL)
		return 0;
	for (i = 0; i < slots; i++)
		if (children[i].pid != 0 && children[i].busy &&
		    children[i].ctl != -1)
			keys[n++] = client_key(children[i].client);
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (i = 0; i < n; i += run) {
		for (run = 1; i + run < n && keys[i + run] == keys[i]; run++)
			;
		if (run > best) {
			best = run;
			*key = keys[i];
		}
	}
	return best;
}

/*
 * The pool is full and peer wants in: end the oldest pair of the client
 * holding the most, if it holds at least two more than peer does, and
 * give its slot to a new child. Slow or idle clients holding many
 * connections cannot lock everyone else out; among clients with a pair
 * or so each, the newcomer waits its turn (is refused) as before.
 */
static struct child *
evict_for(const struct sockaddr_in *peer)
{
	struct child	*victim = NULL, *c;
	char		 who[INET_ADDRSTRLEN];
	struct in_addr	 addr;
	uint32_t	 key = 0;
	int		 i, most, status;

	most = heaviest_client(&key);
	if (most < client_pairs(peer->sin_addr) + 2)
		return NULL;
	for (i = 0; i < slots; i++) {
		c = &children[i];
		if (c->pid != 0 && c->busy && c->ctl != -1 &&
		    client_key(c->client) == key &&
		    (victim == NULL || c->busy_since < victim->busy_since))
			victim = c;
	}
	if (victim == NULL)
		return NULL;
	addr = victim->client;
	/* SIGKILL ends it at once; its sockets close with it. */
	if (kill(victim->pid, SIGKILL) == -1 ||
	    waitpid(victim->pid, &status, 0) != victim->pid)
		return NULL;
	child_retire(victim);
	memset(victim, 0, sizeof(*victim));
	victim->ctl = -1;
	nchildren--;
	if (log_ratelimit(RL_REFUSED)) {
		inet_ntop(AF_INET, &addr, who, sizeof(who));
		log_warnx("pool full: closed a pair of %s (%d pairs) for %s",
		    who, most, log_sockaddr(peer));
	}
	return spawn();
}

/*
 * Whether a connection could get a child now: one is idle or can be
 * forked, or the pool is full but a client holds several pairs (evict_for
 * may free one).
 */
int
pool_can_accept(void)
{
	uint32_t	 key;

	if (idle_child() != NULL || nchildren < conf.max_children)
		return 1;
	pool_sync();
	return idle_child() != NULL || heaviest_client(&key) >= 2;
}

/* Hand the accepted socket fd to a child; the parent keeps no copy. */
void
pool_dispatch(int fd, const struct sockaddr_in *peer)
{
	struct pair_msg	 m;
	struct child	*c;
	int		 n, try, err;

	memset(&m, 0, sizeof(m));
	m.peer = *peer;
	strcpy(m.server_cc, server_cc());
	m.idle_s = conf.idle_s;
	m.connect_s = conf.connect_s;

	/* Busy as far as the parent knows: look again before refusing. */
	if ((n = client_pairs(peer->sin_addr)) >= conf.per_client) {
		pool_sync();
		n = client_pairs(peer->sin_addr);
	}
	if (n >= conf.per_client) {
		if (log_ratelimit(RL_REFUSED))
			log_warnx("%s: client has %d pairs already, closing",
			    log_sockaddr(peer), n);
		close(fd);
		return;
	}
	for (try = 0;; try++) {
		if ((c = idle_child()) == NULL) {
			pool_sync();
			c = idle_child();
		}
		if (c == NULL && (c = spawn()) == NULL &&
		    (c = evict_for(peer)) == NULL) {
			if (log_ratelimit(RL_REFUSED))
				log_warnx("%s: no child free, closing",
				    log_sockaddr(peer));
			close(fd);
			return;
		}
		if (fd_send(c->ctl, fd, &m) == 0)
			break;
		/*
		 * A child that died or does not read is retired and another
		 * tried, HANDOFF_TRIES in all; any other failure is no
		 * child's fault (no memory for the message): retiring would
		 * fork the whole pool anew for nothing.
		 */
		err = errno;
		if (log_ratelimit(RL_REFUSED))
			log_warn("%s: hand-off to child %d",
			    log_sockaddr(peer), (int)c->pid);
		if (err != EPIPE && err != ECONNRESET && err != EAGAIN) {
			close(fd);
			return;
		}
		child_retire(c);
		if (try + 1 == HANDOFF_TRIES) {
			close(fd);
			return;
		}
	}
	c->busy = 1;
	c->busy_since = monotime();
	c->client = peer->sin_addr;
	close(fd);
}

void
pool_top_up(void)
{
	int	 n;

	for (n = idle_count(); n < conf.spares; n++)
		if (spawn() == NULL)
			break;
}

/*
 * Let children beyond the spares go once a burst is over, as Apache's
 * prefork does: called once a second, retire one child that has not been
 * needed for TRIM_IDLE_S. A pool grown by a burst shrinks over minutes,
 * not at once, so bursts that come back every few seconds find their
 * children still there instead of forking them again. Dispatch takes the
 * first idle child, so the last ones are those left idle: retire from the
 * end.
 */
void
pool_trim(void)
{
	time_t	 now = monotime();
	int	 i, excess;

	/*
	 * Above a lowered limit, idle children go at once (those already
	 * leaving count until reaped); busy ones finish their pairs first.
	 */
	excess = nchildren - conf.max_children;
	for (i = 0; i < slots; i++)
		excess -= children[i].pid != 0 && children[i].ctl == -1;
	for (i = slots - 1; i >= 0 && excess > 0; i--) {
		if (idle(&children[i])) {
			child_retire(&children[i]);
			excess--;
		}
	}
	if (idle_count() <= conf.spares)
		return;
	for (i = slots - 1; i >= 0; i--) {
		if (idle(&children[i]) &&
		    now - children[i].idle_since >= TRIM_IDLE_S) {
			child_retire(&children[i]);
			return;
		}
	}
}

void
pool_reap(void)
{
	pid_t	 pid;
	int	 status, i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < slots; i++)
			if (children[i].pid == pid)
				break;
		if (i == slots)
			continue;
		if (WIFSIGNALED(status))
			log_warnx("child %d: killed by signal %d", (int)pid,
			    WTERMSIG(status));
		else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			log_warnx("child %d: exit status %d", (int)pid,
			    WEXITSTATUS(status));
		else
			log_debug("child %d exited", (int)pid);
		child_retire(&children[i]);
		memset(&children[i], 0, sizeof(children[i]));
		children[i].ctl = -1;
		nchildren--;
	}
}

/*
 * Children finish their pairs within SHUTDOWN_WAIT_S, then get SIGTERM
 * (and SIGKILL if that is not enough); a second SIGTERM cuts the wait.
 */
void
pool_shutdown(const sigset_t *waitmask)
{
	struct timespec	 ts = { .tv_sec = 0, .tv_nsec = 100 * 1000000 };
	time_t		 start = monotime(), termed = 0;
	int		 i;

	sig_term = 0;
	for (i = 0; i < slots; i++)
		child_retire(&children[i]);
	for (;;) {
		sig_chld = 0;
		pool_reap();
		if (nchildren == 0)
			break;
		if (!termed && (monotime() - start >= SHUTDOWN_WAIT_S ||
		    sig_term)) {
			log_info("%d children still busy, terminating them",
			    nchildren);
			for (i = 0; i < slots; i++)
				if (children[i].pid != 0)
					kill(children[i].pid, SIGTERM);
			termed = monotime();
		} else if (termed && monotime() - termed >= 3) {
			for (i = 0; i < slots; i++)
				if (children[i].pid != 0)
					kill(children[i].pid, SIGKILL);
		}
		if (!sig_chld)
			ppoll(NULL, 0, &ts, waitmask);
	}
	free(children);
	children = NULL;
	free(keys);
	keys = NULL;
	slots = 0;
	close(idle_chan[0]);
	close(idle_chan[1]);
	idle_chan[0] = idle_chan[1] = -1;
}
