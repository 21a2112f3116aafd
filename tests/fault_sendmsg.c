// SPDX-License-Identifier: GPL-2.0
/*
 * LD_PRELOAD fault injection for tcp_relay's hand-off: with
 * FAULT_SENDMSG_ERRNO=N in the environment, every sendmsg() that carries a
 * descriptor (SCM_RIGHTS) fails with errno N. Failures of that kind (a
 * child gone, no memory for the message) cannot be caused on demand from
 * outside; everything else runs for real.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags);

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	static ssize_t (*real)(int, const struct msghdr *, int);
	const char *e = getenv("FAULT_SENDMSG_ERRNO");

	if (e && msg->msg_controllen > 0) {
		errno = atoi(e);
		return -1;
	}
	if (!real)
		real = (ssize_t (*)(int, const struct msghdr *, int))
			dlsym(RTLD_NEXT, "sendmsg");
	return real(fd, msg, flags);
}
