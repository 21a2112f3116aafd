// SPDX-License-Identifier: GPL-2.0
/*
 * Everything tcp_relay asks of the krelay module: the gateway port in
 * /proc/krelay/gport (read and checked by libkrelay) and the two socket
 * options of krelay/uapi/krelay.h.
 */
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "libkrelay.h"
#include "tcp_relay.h"

static char	gport_path[PATH_MAX];

void
krelay_init(void)
{
	const char	*why;

	/* KRELAY_PROC_DIR: tests point it at a directory of their own. */
	kr_dirs_from_env();
	if ((size_t)snprintf(gport_path, sizeof(gport_path), "%s/gport",
	    kr_proc_dir()) >= sizeof(gport_path))
		fatalx("KRELAY_PROC_DIR too long");
	/* A module older than this program may lack what it relies on. */
	if ((why = kr_version_mismatch()) != NULL)
		log_warnx("%s", why);
}

const char *
krelay_gport_path(void)
{
	return gport_path;
}

/* The port, or -1 with errno set (EINVAL: not gport's grammar). */
int
krelay_gport(void)
{
	long	 port;
	int	 err;

	if ((err = kr_read_long(KR_GPORT, &port)) < 0) {
		errno = -err;
		return -1;
	}
	return port;
}

/*
 * The congestion control knob of the client leg (client_cc) or the server
 * leg (server_cc) into name (CC_NAME_MAX): "" when it says the default or
 * the module has none.
 */
void
krelay_cc(int server_leg, char *name)
{
	char	 val[KR_VAL_MAX];

	if (kr_read(server_leg ? KR_SERVER_CC : KR_CLIENT_CC, val) < 0 || strlen(val) >= CC_NAME_MAX)
		val[0] = '\0';
	strcpy(name, val);
}

static void
addr_to_sin(const struct krelay_addr *ka, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = ka->ip;
	sin->sin_port = ka->port;
}

static void
sin_to_addr(const struct sockaddr_in *sin, struct krelay_addr *ka)
{
	memset(ka, 0, sizeof(*ka));
	ka->ip = sin->sin_addr.s_addr;
	ka->port = sin->sin_port;
}

/* On a socket accepted on gport: what the client talked to, and where to. */
int
krelay_origdst(int fd, struct sockaddr_in *relay, struct sockaddr_in *server)
{
	struct krelay_origdst	 od;
	socklen_t		 len = sizeof(od);

	memset(&od, 0, sizeof(od));
	if (getsockopt(fd, IPPROTO_IP, KRELAY_SO_ORIGINAL_DST, &od, &len) == -1)
		return -1;
	if (len < sizeof(od)) {
		errno = EPROTO;
		return -1;
	}
	addr_to_sin(&od.relay, relay);
	addr_to_sin(&od.server, server);
	return 0;
}

/* On the server-side socket after bind(), before connect(). */
int
krelay_client(int fd, const struct sockaddr_in *client,
    const struct sockaddr_in *relay)
{
	struct krelay_client	 cl;

	sin_to_addr(client, &cl.client);
	sin_to_addr(relay, &cl.relay);
	return setsockopt(fd, IPPROTO_IP, KRELAY_SO_CLIENT, &cl, sizeof(cl));
}

/*
 * Register the listening socket with krelay: steered SYNs reach it and no
 * other socket. -1 with errno (EINVAL: not listening on the current gport,
 * ENOPROTOOPT: no module).
 */
int
krelay_listener(int fd)
{
	return setsockopt(fd, IPPROTO_IP, KRELAY_SO_LISTENER, NULL, 0);
}
