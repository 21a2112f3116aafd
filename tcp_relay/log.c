// SPDX-License-Identifier: GPL-2.0
/*
 * Logging to stderr, one line per event, after OpenBSD's log.c. Each line
 * goes out in one write(2) so that lines of the parent and its children
 * never interleave.
 */
#include <sys/mman.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tcp_relay.h"

#define RL_INTERVAL	5	/* seconds */
#define RL_BURST	10	/* messages of a kind per interval */

/*
 * A rate limit per kind of message that a peer can cause, counted by the
 * parent and every child together: the counters live in one shared
 * anonymous mapping made before the first fork.
 */
struct ratelimit {
	int64_t		 window;	/* CLOCK_MONOTONIC s / RL_INTERVAL */
	int		 printed;
	int		 suppressed;
};

static int			 log_verbose;
static struct ratelimit		*ratelimits;

void
log_init(int verbose)
{
	log_verbose = verbose;
	ratelimits = mmap(NULL, RL_KINDS * sizeof(*ratelimits),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ratelimits == MAP_FAILED)
		fatal("mmap");
}

/*
 * Whether a message of this kind may be logged now: RL_BURST per
 * RL_INTERVAL seconds over all processes. Whoever opens a new interval
 * reports how many the last one suppressed.
 */
int
log_ratelimit(enum rl_kind kind)
{
	struct ratelimit	*rl = &ratelimits[kind];
	struct timespec		 ts;
	int64_t			 w, now;
	int			 n;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = ts.tv_sec / RL_INTERVAL;
	w = __atomic_load_n(&rl->window, __ATOMIC_ACQUIRE);
	if (w != now && __atomic_compare_exchange_n(&rl->window, &w, now, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&rl->printed, 0, __ATOMIC_RELEASE);
		n = __atomic_exchange_n(&rl->suppressed, 0, __ATOMIC_ACQ_REL);
		if (n > 0)
			log_warnx("%d similar messages suppressed", n);
	}
	if (__atomic_add_fetch(&rl->printed, 1, __ATOMIC_ACQ_REL) <= RL_BURST)
		return 1;
	__atomic_add_fetch(&rl->suppressed, 1, __ATOMIC_RELAXED);
	return 0;
}

static void
vlog(const char *fmt, va_list ap, const char *errstr)
{
	char	 buf[1024];
	int	 n, len;

	n = snprintf(buf, sizeof(buf), "tcp_relay[%d]: ", (int)getpid());
	len = n;
	n = vsnprintf(buf + len, sizeof(buf) - len, fmt, ap);
	if (n > 0)
		len += n;
	if (len > (int)sizeof(buf) - 2)
		len = sizeof(buf) - 2;
	if (errstr != NULL) {
		n = snprintf(buf + len, sizeof(buf) - len, ": %s", errstr);
		if (n > 0)
			len += n;
		if (len > (int)sizeof(buf) - 2)
			len = sizeof(buf) - 2;
	}
	buf[len++] = '\n';
	(void)!write(STDERR_FILENO, buf, len);
}

void
log_warn(const char *emsg, ...)
{
	int	 saved_errno = errno;
	va_list	 ap;

	va_start(ap, emsg);
	vlog(emsg, ap, strerror(saved_errno));
	va_end(ap);
	errno = saved_errno;
}

void
log_warnx(const char *emsg, ...)
{
	int	 saved_errno = errno;
	va_list	 ap;

	va_start(ap, emsg);
	vlog(emsg, ap, NULL);
	va_end(ap);
	errno = saved_errno;
}

void
log_info(const char *emsg, ...)
{
	int	 saved_errno = errno;
	va_list	 ap;

	va_start(ap, emsg);
	vlog(emsg, ap, NULL);
	va_end(ap);
	errno = saved_errno;
}

void
log_debug(const char *emsg, ...)
{
	int	 saved_errno = errno;
	va_list	 ap;

	if (!log_verbose)
		return;
	va_start(ap, emsg);
	vlog(emsg, ap, NULL);
	va_end(ap);
	errno = saved_errno;
}

void
fatal(const char *emsg, ...)
{
	int	 saved_errno = errno;
	va_list	 ap;

	va_start(ap, emsg);
	vlog(emsg, ap, strerror(saved_errno));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *emsg, ...)
{
	va_list	 ap;

	va_start(ap, emsg);
	vlog(emsg, ap, NULL);
	va_end(ap);
	exit(1);
}

/* "192.168.0.1:80"; a few rotating buffers so one message can hold two. */
const char *
log_sockaddr(const struct sockaddr_in *sin)
{
	static char	 buf[4][INET_ADDRSTRLEN + sizeof(":65535")];
	static int	 idx;
	char		 ip[INET_ADDRSTRLEN];
	char		*s = buf[idx++ % 4];

	if (inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip)) == NULL)
		strcpy(ip, "?");
	snprintf(s, sizeof(buf[0]), "%s:%u", ip, ntohs(sin->sin_port));
	return s;
}
