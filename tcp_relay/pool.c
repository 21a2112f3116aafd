// SPDX-License-Identifier: GPL-2.0
/*
 * The pool of pre-forked children. Each child has a SOCK_SEQPACKET
 * socketpair to the parent ("ctl"): the parent sends one accepted socket
 * per message (SCM_RIGHTS) to an idle child and closes its own copy; the
 * child answers one byte when the pair is done and it is idle again. EOF
 * on ctl means the child is gone or leaving; the parent closing ctl tells
 * an idle child to exit. The parent only ever sends to idle children and
 * never waits for one: ctl is used with MSG_DONTWAIT on its side.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tcp_relay.h"

#define CTL_IDLE	'i'
#define TRIM_IDLE_S	5	/* spare children idle this long may go */

struct child {
	pid_t		 pid;		/* 0: free slot */
	int		 ctl;		/* -1: leaving, to be reaped */
	int		 busy;
	struct in_addr	 client;	/* of the pair it relays, when busy */
	time_t		 idle_since;	/* monotime(), when not busy */
};

static struct child	*children;
static int		*pollslot;	/* pollfd index -> child */
static int		 nchildren;	/* slots in use, reaped or not */

static time_t
monotime(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec ? ts.tv_sec : 1;
}

void
pool_init(void)
{
	if ((children = calloc(conf.max_children, sizeof(*children))) == NULL ||
	    (pollslot = calloc(conf.max_children, sizeof(*pollslot))) == NULL)
		fatal("calloc");
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

	for (i = 0; i < conf.max_children; i++)
		if (idle(&children[i]))
			return &children[i];
	return NULL;
}

static int
idle_count(void)
{
	int	 i, n = 0;

	for (i = 0; i < conf.max_children; i++)
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
fd_recv(int ctl)
{
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct iovec	 iov;
	char		 byte;
	ssize_t		 n;
	int		 fd = -1;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = &byte;
	iov.iov_len = 1;
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
	if (fd == -1 || (msg.msg_flags & MSG_CTRUNC)) {
		log_warnx("child: message without a socket");
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

static int
fd_send(int ctl, int fd)
{
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct iovec	 iov;
	char		 byte = 's';
	ssize_t		 n;

	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	iov.iov_base = &byte;
	iov.iov_len = 1;
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
	return n == 1 ? 0 : -1;
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

static void __attribute__((__noreturn__))
child_main(int ctl)
{
	int	 served, fd;

	for (served = 1; served <= PAIRS_PER_CHILD; served++) {
		if ((fd = fd_recv(ctl)) == -1)
			break;
		relay_pair(fd);
		if (served < PAIRS_PER_CHILD) {
			char	 byte = CTL_IDLE;

			if (write(ctl, &byte, 1) != 1)
				break;
		}
	}
	close(ctl);
	_exit(0);
}

static struct child *
spawn(void)
{
	struct child	*c = NULL;
	int		 sv[2], i;
	pid_t		 pid;

	for (i = 0; i < conf.max_children; i++) {
		if (children[i].pid == 0) {
			c = &children[i];
			break;
		}
	}
	if (c == NULL)
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
		close(sv[0]);
		listeners_close();
		for (i = 0; i < conf.max_children; i++)
			if (children[i].pid != 0 && children[i].ctl != -1)
				close(children[i].ctl);
		child_signals();
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

/* Room for one more connection now. */
int
pool_can_accept(void)
{
	return idle_child() != NULL || nchildren < conf.max_children;
}

/* Hand the accepted socket fd to a child; the parent keeps no copy. */
void
pool_dispatch(int fd, const struct sockaddr_in *peer)
{
	struct child	*c;
	int		 i, n = 0;

	for (i = 0; i < conf.max_children; i++)
		if (children[i].pid != 0 && children[i].busy &&
		    children[i].client.s_addr == peer->sin_addr.s_addr)
			n++;
	if (n >= conf.per_client) {
		log_warnx("%s: client has %d pairs already, closing",
		    log_sockaddr(peer), n);
		close(fd);
		return;
	}
	for (;;) {
		if ((c = idle_child()) == NULL && (c = spawn()) == NULL) {
			log_warnx("%s: no child free, closing",
			    log_sockaddr(peer));
			close(fd);
			return;
		}
		if (fd_send(c->ctl, fd) == 0)
			break;
		log_warn("hand-off to child %d", (int)c->pid);
		child_retire(c);
	}
	c->busy = 1;
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
 * Let children beyond the spares go once a burst is over: those that were
 * not needed for TRIM_IDLE_S. Dispatch takes the first idle child, so
 * under a steady load the last ones stay idle and the others are kept,
 * instead of being retired and forked again every second.
 */
void
pool_trim(void)
{
	time_t	 now = monotime();
	int	 i, n = idle_count();

	for (i = conf.max_children - 1; i >= 0 && n > conf.spares; i--) {
		if (idle(&children[i]) &&
		    now - children[i].idle_since >= TRIM_IDLE_S) {
			child_retire(&children[i]);
			n--;
		}
	}
}

void
pool_reap(void)
{
	pid_t	 pid;
	int	 status, i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < conf.max_children; i++)
			if (children[i].pid == pid)
				break;
		if (i == conf.max_children)
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

/* Fill pfd with the children's ctl sockets; returns how many. */
int
pool_pollfds(struct pollfd *pfd)
{
	int	 i, n = 0;

	for (i = 0; i < conf.max_children; i++) {
		if (children[i].pid == 0 || children[i].ctl == -1)
			continue;
		pfd[n].fd = children[i].ctl;
		pfd[n].events = POLLIN;
		pfd[n].revents = 0;
		pollslot[n++] = i;
	}
	return n;
}

void
pool_events(const struct pollfd *pfd, int n)
{
	struct child	*c;
	ssize_t		 r;
	char		 byte;
	int		 i;

	for (i = 0; i < n; i++) {
		if (pfd[i].revents == 0)
			continue;
		c = &children[pollslot[i]];
		if (c->ctl != pfd[i].fd)
			continue;
		for (;;) {
			r = recv(c->ctl, &byte, 1, MSG_DONTWAIT);
			if (r == 1) {
				c->busy = 0;
				c->idle_since = monotime();
				continue;
			}
			if (r == -1 && (errno == EAGAIN || errno == EINTR))
				break;
			/* EOF: the child leaves; reaped on SIGCHLD. */
			child_retire(c);
			break;
		}
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
	for (i = 0; i < conf.max_children; i++)
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
			for (i = 0; i < conf.max_children; i++)
				if (children[i].pid != 0)
					kill(children[i].pid, SIGTERM);
			termed = monotime();
		} else if (termed && monotime() - termed >= 3) {
			for (i = 0; i < conf.max_children; i++)
				if (children[i].pid != 0)
					kill(children[i].pid, SIGKILL);
		}
		if (!sig_chld)
			ppoll(NULL, 0, &ts, waitmask);
	}
	free(children);
	free(pollslot);
	children = NULL;
}
