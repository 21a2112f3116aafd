// SPDX-License-Identifier: GPL-2.0
/*
 * Logging to stderr, one line per event, after OpenBSD's log.c. Each line
 * goes out in one write(2) so that lines of the parent and its children
 * never interleave.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcp_relay.h"

static int	log_verbose;

void
log_init(int verbose)
{
	log_verbose = verbose;
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
