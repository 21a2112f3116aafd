// SPDX-License-Identifier: GPL-2.0
/*
 * One client/server pair, in a child: find the server, connect to it, and
 * move bytes both ways with splice() through one pipe per direction, in
 * the manner of OpenBSD nc's readwrite().
 */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "krelay.h"	/* krelay/uapi */
#include "tcp_relay.h"

#define PIPE_SIZE	(256 * 1024)

enum close_how { CLOSE_FIN, CLOSE_RST, CLOSE_TIMEOUT, CLOSE_ERROR };

static const char *close_names[] = { "fin", "rst", "timeout", "error" };

/* One direction: socket -> pipe -> socket. */
struct half {
	int		 from, to;	/* index into the pollfd array */
	int		 pipe[2];
	size_t		 cap;
	size_t		 inpipe;
	int		 full;		/* pipe took no more: all slots used */
	int		 eof;
	int		 shut;		/* shutdown(to, SHUT_WR) done */
	uint64_t	 bytes;
};

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Close with RST rather than FIN. */
static void
reset_close(int fd)
{
	struct linger	 l = { .l_onoff = 1, .l_linger = 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

static void
nodelay(int fd)
{
	int	 on = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

/*
 * The server-side socket, connected, or -1 (logged). In krelay mode it is
 * bound first, so that CLIENT can tie its local port to the client's flow;
 * EADDRINUSE there means another flow holds that port: take another.
 */
static int
server_connect(const struct sockaddr_in *client, const struct sockaddr_in *relay,
    const struct sockaddr_in *server, const struct pair_msg *m)
{
	struct sockaddr_in	 any;
	struct pollfd		 pfd;
	socklen_t		 len;
	int64_t			 deadline;
	int			 s = -1, try, err, n;

	memset(&any, 0, sizeof(any));
	any.sin_family = AF_INET;
	any.sin_addr.s_addr = htonl(INADDR_ANY);
	for (try = 0; try < KRELAY_BIND_TRIES; try++) {
		s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
		if (s == -1) {
			log_warn("socket");
			return -1;
		}
		if (conf.standalone)
			break;
		if (bind(s, (struct sockaddr *)&any, sizeof(any)) == -1) {
			log_warn("bind for %s", log_sockaddr(server));
			close(s);
			return -1;
		}
		if (krelay_client(s, client, relay) == 0)
			break;
		if (errno != EADDRINUSE || try == KRELAY_BIND_TRIES - 1) {
			log_warn("%s: krelay client option", log_sockaddr(client));
			close(s);
			return -1;
		}
		close(s);
	}
	nodelay(s);
	if (oob_inline(s) == -1) {
		log_warn("SO_OOBINLINE");
		close(s);
		return -1;
	}
	/* The child keeps CAP_NET_ADMIN: any loaded algorithm, as the knob. */
	if (*m->server_cc != '\0' && set_cc(s, m->server_cc) == -1) {
		if (log_ratelimit(RL_CC))
			log_warn("server_cc %s", m->server_cc);
	}

	if (connect(s, (const struct sockaddr *)server, sizeof(*server)) == 0)
		return s;
	if (errno != EINPROGRESS) {
		log_warn("connect %s", log_sockaddr(server));
		close(s);
		return -1;
	}
	deadline = now_ms() + (int64_t)m->connect_s * 1000;
	pfd.fd = s;
	pfd.events = POLLOUT;
	for (;;) {
		int64_t	 left = deadline - now_ms();

		if (left <= 0) {
			errno = ETIMEDOUT;
			log_warn("connect %s", log_sockaddr(server));
			close(s);
			return -1;
		}
		n = poll(&pfd, 1, (int)left);
		if (n == -1 && errno != EINTR) {
			log_warn("poll");
			close(s);
			return -1;
		}
		if (n > 0)
			break;
	}
	/* Connected unless poll says otherwise: then ask what went wrong. */
	if (!(pfd.revents & (POLLERR | POLLHUP)))
		return s;
	len = sizeof(err);
	if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	errno = err != 0 ? err : ECONNREFUSED;
	log_warn("connect %s", log_sockaddr(server));
	close(s);
	return -1;
}

/*
 * Sockets keep urgent data in the stream (SO_OOBINLINE, set on the
 * listener and inherited, and on the server socket): the byte is relayed
 * as data.
 */
/* The congestion control of fd's sending side (TCP_CONGESTION). */
int
set_cc(int fd, const char *name)
{
	return setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, strlen(name));
}

int
oob_inline(int fd)
{
	int	 on = 1;

	return setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &on, sizeof(on));
}

/*
 * splice (tcp_read_sock) stops at the urgent mark even with SO_OOBINLINE:
 * at the mark it returns EAGAIN, or 0 if a FIN came too, while the byte
 * waits. recv() takes it (and moves the mark on); it goes through the
 * pipe to keep its place. Peeked first, so that a full pipe loses nothing.
 * 1 progress, 0 not at the mark or nothing now, -1 error (errno).
 */
static int
urgent_in(struct half *h, const struct pollfd *pfd)
{
	int	 fd = pfd[h->from].fd, mark = 0;
	char	 c;

	if (ioctl(fd, SIOCATMARK, &mark) == -1 || !mark)
		return 0;
	if (recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) != 1)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (write(h->pipe[1], &c, 1) != 1) {
		if (errno != EAGAIN)
			return -1;
		h->full = h->inpipe > 0;
		return 0;
	}
	if (recv(fd, &c, 1, MSG_DONTWAIT) != 1)
		return -1;	/* peeked: cannot happen */
	h->inpipe++;
	return 1;
}

/* Socket to pipe: 1 progress, 0 nothing now, -1 error (errno). */
static int
pump_in(struct half *h, const struct pollfd *pfd)
{
	ssize_t	 n;
	int	 r;

	n = splice(pfd[h->from].fd, NULL, h->pipe[1], NULL, h->cap - h->inpipe,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0) {
		h->inpipe += n;
		return 1;
	}
	if (n <= 0 && (n == 0 || errno == EAGAIN) &&
	    (r = urgent_in(h, pfd)) != 0)
		return r;
	if (n == 0) {
		h->eof = 1;
		return 1;
	}
	if (errno == EAGAIN) {
		/*
		 * With bytes in the pipe this is the pipe refusing (each
		 * skb fragment takes a slot): stop reading until it drains,
		 * or poll would spin on a readable socket.
		 */
		if (h->inpipe > 0)
			h->full = 1;
		return 0;
	}
	if (errno == EINTR)
		return 0;
	return -1;
}

/* Pipe to socket: as pump_in. */
static int
pump_out(struct half *h, const struct pollfd *pfd)
{
	ssize_t	 n;

	n = splice(h->pipe[0], NULL, pfd[h->to].fd, NULL, h->inpipe,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0) {
		h->inpipe -= n;
		h->bytes += n;
		h->full = 0;
		return 1;
	}
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		return -1;
	return 0;
}

static int
want_in(const struct half *h)
{
	return !h->eof && !h->full && h->inpipe < h->cap;
}

static int
peer_reset(int err)
{
	return err == ECONNRESET || err == EPIPE;
}

/*
 * Relay until both directions are done. Returns how it ended; on RST or
 * error *rst_mask says which sockets (bit = pollfd index) to reset.
 */
static enum close_how
splice_loop(struct pollfd *pfd, struct half *h, int idle_s, int *rst_mask)
{
	int64_t		 last = now_ms(), left;
	int		 quiet_hup[2] = { 0, 0 }, started = 0;
	int		 i, n, r, progress;
	int		 err;
	socklen_t	 len;

	for (;;) {
		if (h[0].shut && h[1].shut)
			return CLOSE_FIN;

		pfd[0].events = pfd[1].events = 0;
		for (i = 0; i < 2; i++) {
			if (want_in(&h[i]))
				pfd[h[i].from].events |= POLLIN;
			if (h[i].inpipe > 0)
				pfd[h[i].to].events |= POLLOUT;
		}
		/*
		 * A socket we wait for nothing on is still polled, to see a
		 * RST while the other peer is quiet, until it reports HUP
		 * once (it would report it on every round).
		 */
		for (i = 0; i < 2; i++) {
			if (pfd[i].events == 0 && quiet_hup[i])
				pfd[i].fd = -pfd[i].fd - 1;
		}

		/*
		 * Until a first byte moves either way (a client's request or
		 * a server's greeting), the short -F limit: a peer that
		 * connects and says nothing holds a child for seconds, not
		 * for the idle timeout.
		 */
		if (!started)
			started = h[0].inpipe || h[1].inpipe || h[0].bytes ||
			    h[1].bytes || h[0].eof || h[1].eof;
		left = last + (int64_t)(started ? idle_s : conf.first_s) *
		    1000 - now_ms();
		if (left <= 0)
			return CLOSE_TIMEOUT;
		n = poll(pfd, 2, left > 60000 ? 60000 : (int)left);
		for (i = 0; i < 2; i++) {
			if (pfd[i].fd < 0)
				pfd[i].fd = -pfd[i].fd - 1;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_warn("poll");
			*rst_mask = 3;
			return CLOSE_ERROR;
		}
		if (n == 0)
			continue;

		progress = 0;
		for (i = 0; i < 2; i++) {
			struct half	*d = &h[i];

			if ((pfd[d->from].events & POLLIN) && want_in(d) &&
			    (pfd[d->from].revents & (POLLIN | POLLHUP | POLLERR))) {
				if ((r = pump_in(d, pfd)) == -1) {
					err = errno;
					if (peer_reset(err)) {
						*rst_mask = 1 << d->to;
						return CLOSE_RST;
					}
					log_warn("splice from %s",
					    d->from == 0 ? "client" : "server");
					*rst_mask = 3;
					return CLOSE_ERROR;
				}
				progress |= r;
				/* Try at once; poll says so if it can't. */
				if (d->inpipe > 0)
					pfd[d->to].revents |= POLLOUT;
			}
			if (d->inpipe > 0 &&
			    (pfd[d->to].revents & (POLLOUT | POLLHUP | POLLERR))) {
				if ((r = pump_out(d, pfd)) == -1) {
					err = errno;
					if (peer_reset(err)) {
						*rst_mask = 1 << d->from;
						return CLOSE_RST;
					}
					log_warn("splice to %s",
					    d->to == 0 ? "client" : "server");
					*rst_mask = 3;
					return CLOSE_ERROR;
				}
				progress |= r;
			}
			if (d->eof && d->inpipe == 0 && !d->shut) {
				if (shutdown(pfd[d->to].fd, SHUT_WR) == -1 &&
				    errno != ENOTCONN)
					log_warn("shutdown");
				d->shut = 1;
			}
		}

		for (i = 0; i < 2; i++) {
			if (pfd[i].events != 0 ||
			    !(pfd[i].revents & (POLLERR | POLLHUP)))
				continue;
			len = sizeof(err);
			if (getsockopt(pfd[i].fd, SOL_SOCKET, SO_ERROR, &err,
			    &len) == 0 && err != 0) {
				if (peer_reset(err)) {
					*rst_mask = 1 << (1 - i);
					return CLOSE_RST;
				}
				errno = err;
				log_warn("%s", i == 0 ? "client" : "server");
				*rst_mask = 3;
				return CLOSE_ERROR;
			}
			quiet_hup[i] = 1;
		}
		if (progress)
			last = now_ms();
	}
}

static int
pipe_open(int p[2], size_t *cap)
{
	int	 sz;

	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == -1) {
		log_warn("pipe");
		return -1;
	}
	/* A bigger pipe means fewer rounds; the default will do. */
	(void)fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE);
	if ((sz = fcntl(p[1], F_GETPIPE_SZ)) <= 0)
		sz = 65536;
	*cap = sz;
	return 0;
}

/*
 * A child's two pipes live as long as the child: a pair that ends with
 * both empty leaves them for the next one; one that ends with bytes still
 * in a pipe (a reset, an error) has them closed, to be opened again.
 */
static struct {
	int	 fd[2];
	size_t	 cap;
} pipes[2] = { { { -1, -1 }, 0 }, { { -1, -1 }, 0 } };

static int
pipes_get(struct half *h)
{
	int	 i;

	for (i = 0; i < 2; i++) {
		if (pipes[i].fd[0] == -1 &&
		    pipe_open(pipes[i].fd, &pipes[i].cap) == -1)
			return -1;
		h[i].pipe[0] = pipes[i].fd[0];
		h[i].pipe[1] = pipes[i].fd[1];
		h[i].cap = pipes[i].cap;
	}
	return 0;
}

static void
pipes_put(const struct half *h)
{
	int	 i;

	for (i = 0; i < 2; i++) {
		if (h != NULL && h[i].inpipe == 0)
			continue;
		if (pipes[i].fd[0] != -1) {
			close(pipes[i].fd[0]);
			close(pipes[i].fd[1]);
		}
		pipes[i].fd[0] = pipes[i].fd[1] = -1;
	}
}

static void
access_log(const struct sockaddr_in *client, const struct sockaddr_in *server,
    const struct half *h, int64_t start, enum close_how how)
{
	int64_t	 ms = now_ms() - start;

	if (!conf.access_log)
		return;
	log_info("client %s server %s up %llu down %llu time %lld.%03llds "
	    "close %s", log_sockaddr(client), log_sockaddr(server),
	    (unsigned long long)h[0].bytes, (unsigned long long)h[1].bytes,
	    (long long)(ms / 1000), (long long)(ms % 1000), close_names[how]);
}

/*
 * Relay the pair of the accepted socket cfd, whose peer is client (the
 * parent's accept() told it); closes both sockets. done(), when given, is
 * called once the pair's traffic is over and before the sockets close: a
 * client that reconnects at once finds this child already counted idle.
 * The listener's TCP_NODELAY is inherited by cfd.
 */
void
relay_pair(int cfd, const struct pair_msg *m, void (*done)(void))
{
	const struct sockaddr_in *client = &m->peer;
	struct sockaddr_in	 relay, server;
	struct pollfd		 pfd[2];
	struct half		 h[2];
	enum close_how		 how = CLOSE_ERROR;
	int64_t			 start = now_ms();
	int			 rst_mask = 1, have_server = 0, i;

	memset(h, 0, sizeof(h));
	pfd[0].fd = cfd;
	pfd[1].fd = -1;
	if (conf.standalone) {
		server = conf.target;
	} else if (krelay_origdst(cfd, &relay, &server) == -1) {
		/* No flow krelay knows of: never an open relay. */
		if (log_ratelimit(RL_NOFLOW))
			log_warn("%s: original destination",
			    log_sockaddr(client));
		rst_mask = 0;
		goto out;
	}
	have_server = 1;
	log_debug("%s: relaying to %s", log_sockaddr(client),
	    log_sockaddr(&server));

	if ((pfd[1].fd = server_connect(client, &relay, &server, m)) == -1)
		goto out;
	if (pipes_get(h) == -1) {
		pipes_put(NULL);
		rst_mask = 3;
		goto out;
	}
	h[0].from = 0;		/* client to server */
	h[0].to = 1;
	h[1].from = 1;		/* server to client */
	h[1].to = 0;

	rst_mask = 0;
	how = splice_loop(pfd, h, m->idle_s, &rst_mask);
	if (how == CLOSE_RST || how == CLOSE_ERROR)
		log_debug("%s: %s", log_sockaddr(client), close_names[how]);
	pipes_put(h);
out:
	if (done != NULL)
		done();
	for (i = 0; i < 2; i++) {
		if (pfd[i].fd == -1)
			continue;
		if (rst_mask & (1 << i))
			reset_close(pfd[i].fd);
		else
			close(pfd[i].fd);
	}
	if (have_server)
		access_log(client, &server, h, start, how);
}
