// SPDX-License-Identifier: GPL-2.0
/*
 * tcp_relay: accepts the TCP connections krelay steers to the gateway
 * port and relays each client/server pair in a pre-forked child.
 */
#include <sys/socket.h>

#include <linux/capability.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libkrelay.h"
#include "tcp_relay.h"

#define LISTEN_BACKLOG	4096
#define ACCEPT_BURST	64

struct config conf = {
	.spares		= 4,
	.max_children	= 256,
	.per_client	= 64,
	.idle_s		= 300,
	.first_s	= 10,
	.connect_s	= 10,
	.prefix_bits	= 32,
};

volatile sig_atomic_t	 sig_chld, sig_hup, sig_term;

/* The gateway listener, and the one before a gport change while it drains. */
static int	 lfd = -1, lport;
static int	 old_lfd = -1;
static int	 gport_failed;		/* port we could not listen on */
static int	 gport_errno;		/* last error reading the proc file */
static int	 pidfile_written;
static int	 pidfile_fd = -1;
static time_t	 accept_paused_until;
/* The congestion controls of the two legs as last read ("": default). */
static char	 client_cc[CC_NAME_MAX], server_cc_name[CC_NAME_MAX];

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr, "usage: tcp_relay [-afhv] [-b prefix_bits] "
	    "[-C connect_timeout] [-c per_client]\n"
	    "                 [-F first_byte_seconds] [-l address] "
	    "[-m max_children] [-n spares]\n"
	    "                 [-P pidfile] [-p port] [-T idle_seconds] "
	    "[-t host:port] [-u user]\n");
	exit(2);
}

static void __attribute__((__noreturn__))
help(void)
{
	printf("usage: tcp_relay [options]\n"
	    "  -a             access log: one line per pair on stderr\n"
	    "  -b bits        -c counts clients by this prefix length "
	    "(default 32:\n"
	    "                 each address)\n"
	    "  -C seconds     with -t: server connect timeout (default 10)\n"
	    "  -c count       with -t: max pairs per client (default 64)\n"
	    "  -F seconds     close a pair with no byte yet either way after "
	    "this long\n"
	    "                 (default 10)\n"
	    "  -f             stay in the foreground (always the case)\n"
	    "  -h, --help     this help\n"
	    "  -l address     listen address (default 0.0.0.0)\n"
	    "  -m count       with -t: max pairs, one child each (default 256)\n"
	    "  -n count       idle children kept ready (default 4)\n"
	    "  -P pidfile     write the pid there, removed at exit\n"
	    "  -p port        gateway port (default: follow "
	    "$KRELAY_PROC_DIR/gport,\n"
	    "                 KRELAY_PROC_DIR defaults to /proc/krelay)\n"
	    "  -T seconds     with -t: close a pair idle this long (default 300)\n"
	    "  -t host:port   standalone: relay to this IPv4 target, "
	    "no krelay\n"
	    "  -u user        run as this user once listening\n"
	    "  -v             verbose\n"
	    "With krelay (no -t), the knobs relay_max_pairs, "
	    "relay_max_per_client,\n"
	    "relay_idle_timeout and relay_connect_timeout in "
	    "$KRELAY_PROC_DIR set\n"
	    "what -m, -c, -T and -C set for -t, and are followed while "
	    "running.\n");
	exit(0);
}

static void __attribute__((__noreturn__))
bad_value(int opt, const char *val, const char *want)
{
	fprintf(stderr, "tcp_relay: -%c: bad value \"%s\" (%s)\n", opt, val,
	    want);
	usage();
}

static int
number(int opt, const char *s, long min, long max)
{
	char	 want[64], *end;
	long	 v;

	snprintf(want, sizeof(want), "a number %ld-%ld", min, max);
	if (!isdigit((unsigned char)*s))
		bad_value(opt, s, want);
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0' || errno == ERANGE || v < min || v > max)
		bad_value(opt, s, want);
	return v;
}

/*
 * The relay's limits. With krelay they are its knobs, which a relay in
 * the kernel obeys too: tcp_relay follows them (limits_check), and each
 * pair keeps those it started with. The options set them for a
 * standalone relay (-t), in the knobs' ranges.
 */
static const struct limit {
	int	 knob;
	int	 opt;
	int	*val;
} limits[] = {
	{ KR_RELAY_MAX_PAIRS,		'm', &conf.max_children },
	{ KR_RELAY_MAX_PER_CLIENT,	'c', &conf.per_client },
	{ KR_RELAY_IDLE_TIMEOUT,	'T', &conf.idle_s },
	{ KR_RELAY_CONNECT_TIMEOUT,	'C', &conf.connect_s },
};
#define NLIMITS		(int)(sizeof(limits) / sizeof(limits[0]))

static const struct limit *
limit_of_opt(int opt)
{
	int	 i;

	for (i = 0; i < NLIMITS; i++)
		if (limits[i].opt == opt)
			return &limits[i];
	return NULL;
}

static void
ipv4(int opt, const char *s, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, s, &sin->sin_addr) != 1)
		bad_value(opt, s, "a dotted IPv4 address");
}

static void
target(const char *s)
{
	char	*copy, *colon;

	if ((copy = strdup(s)) == NULL)
		fatal("strdup");
	if ((colon = strrchr(copy, ':')) == NULL)
		bad_value('t', s, "HOST:PORT, HOST a dotted IPv4 address");
	*colon = '\0';
	if (inet_pton(AF_INET, copy, &conf.target.sin_addr) != 1)
		bad_value('t', s, "HOST:PORT, HOST a dotted IPv4 address");
	if (!isdigit((unsigned char)colon[1]))
		bad_value('t', s, "HOST:PORT, PORT 1-65535");
	conf.target.sin_family = AF_INET;
	conf.target.sin_port = htons(number('t', colon + 1, 1, 65535));
	conf.standalone = 1;
	free(copy);
}

static int
options(int argc, char *argv[])
{
	const struct limit	*l;
	int			 ch, verbose = 0, limit_opt = 0;

	conf.listen_addr.sin_family = AF_INET;
	conf.listen_addr.sin_addr.s_addr = htonl(INADDR_ANY);
	if (argc > 1 && strcmp(argv[1], "--help") == 0)
		help();
	while ((ch = getopt(argc, argv, "ab:C:c:F:fhl:m:n:P:p:T:t:u:v")) != -1) {
		if ((l = limit_of_opt(ch)) != NULL) {
			*l->val = number(ch, optarg, kr_knobs[l->knob].min,
			    kr_knobs[l->knob].max);
			limit_opt = ch;
			continue;
		}
		switch (ch) {
		case 'a':
			conf.access_log = 1;
			break;
		case 'b':
			conf.prefix_bits = number(ch, optarg, 0, 32);
			break;
		case 'F':
			conf.first_s = number(ch, optarg, 1, 864000);
			break;
		case 'f':
			break;
		case 'h':
			help();
		case 'l':
			ipv4(ch, optarg, &conf.listen_addr);
			break;
		case 'n':
			conf.spares = number(ch, optarg, 0, 65536);
			break;
		case 'P':
			if (*optarg == '\0')
				bad_value(ch, optarg, "a file name");
			conf.pidfile = optarg;
			break;
		case 'p':
			conf.gport = number(ch, optarg, 1, 65535);
			break;
		case 't':
			target(optarg);
			break;
		case 'u':
			conf.user = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc) {
		fprintf(stderr, "tcp_relay: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage();
	}
	if (limit_opt && !conf.standalone) {
		l = limit_of_opt(limit_opt);
		fprintf(stderr, "tcp_relay: -%c is for a standalone relay (-t): "
		    "with krelay the knob %s sets it (krelayctl set %s=N)\n",
		    limit_opt, kr_knobs[l->knob].name, kr_knobs[l->knob].name);
		usage();
	}
	if (conf.standalone && conf.spares > conf.max_children) {
		fprintf(stderr, "tcp_relay: -n %d: more spares than -m %d "
		    "children\n", conf.spares, conf.max_children);
		usage();
	}
	return verbose;
}

static void
on_signal(int sig)
{
	switch (sig) {
	case SIGCHLD:
		sig_chld = 1;
		break;
	case SIGHUP:
		sig_hup = 1;
		break;
	default:
		sig_term = 1;
		break;
	}
}

/* Handled only inside ppoll(), which unblocks them: no race with the loop. */
static void
signals(sigset_t *waitmask)
{
	struct sigaction	 sa;
	sigset_t		 block;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, waitmask);
	sigdelset(waitmask, SIGCHLD);
	sigdelset(waitmask, SIGHUP);
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
}

static time_t
monotime(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

const char *
server_cc(void)
{
	return server_cc_name;
}

/*
 * The client leg's congestion control, on the listener: accepted sockets
 * inherit it. "" is the system's default, named again so that sockets
 * accepted after a change back get it too.
 */
static int
listen_cc(int fd, const char *name)
{
	char	 def[CC_NAME_MAX] = "";
	FILE	*f;
	int	 rc;

	if (*name == '\0') {
		if ((f = fopen("/proc/sys/net/ipv4/tcp_congestion_control",
		    "re")) != NULL) {
			if (fgets(def, sizeof(def), f) == NULL)
				def[0] = '\0';
			fclose(f);
		}
		def[strcspn(def, "\n")] = '\0';
		if (*def == '\0')
			return 0;
		name = def;
	}
	priv_effective(CAP_BIT(CAP_NET_ADMIN));
	rc = set_cc(fd, name);
	priv_effective(0);
	return rc;
}

/* Follow client_cc and server_cc (krelay mode only). */
static void
cc_check(void)
{
	char	 cc[CC_NAME_MAX];

	if (conf.standalone)
		return;
	krelay_cc(1, cc);
	if (strcmp(cc, server_cc_name) != 0) {
		log_info("server_cc %s -> %s", *server_cc_name ?
		    server_cc_name : "default", *cc ? cc : "default");
		strcpy(server_cc_name, cc);
	}
	krelay_cc(0, cc);
	if (strcmp(cc, client_cc) == 0)
		return;
	if (lfd != -1 && listen_cc(lfd, cc) == -1) {
		log_warn("client_cc %s", cc);
		return;
	}
	log_info("client_cc %s -> %s", *client_cc ? client_cc : "default",
	    *cc ? cc : "default");
	strcpy(client_cc, cc);
}

/*
 * Follow the relay's limits (krelay mode only). A knob that cannot be read
 * (a module older than relay_max_pairs) keeps the value in force, said
 * once.
 */
static void
limits_check(void)
{
	static int	 last_err[NLIMITS];
	const char	*name;
	long		 v;
	int		 i, err;

	if (conf.standalone)
		return;
	for (i = 0; i < NLIMITS; i++) {
		name = kr_knobs[limits[i].knob].name;
		if ((err = kr_read_long(limits[i].knob, &v)) < 0) {
			if (err != last_err[i]) {
				errno = -err;
				log_warn("%s/%s (keeping %d)", kr_proc_dir(),
				    name, *limits[i].val);
			}
			last_err[i] = err;
			continue;
		}
		last_err[i] = 0;
		if (v == *limits[i].val)
			continue;
		if (limits[i].val == &conf.max_children && pool_limit(v) == -1)
			continue;
		log_info("%s %d -> %ld", name, *limits[i].val, v);
		*limits[i].val = v;
	}
}

static int
listen_open(int port, int quiet)
{
	struct sockaddr_in	 sin = conf.listen_addr;
	int			 fd, on = 1;

	sin.sin_port = htons(port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("socket");
		return -1;
	}
	/*
	 * Accepted sockets inherit TCP_NODELAY and SO_OOBINLINE: no
	 * setsockopt per pair.
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1 ||
	    oob_inline(fd) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		if (!quiet)
			log_warn("listen %s", log_sockaddr(&sin));
		close(fd);
		return -1;
	}
	return fd;
}

void
listeners_close(void)
{
	if (lfd != -1)
		close(lfd);
	if (old_lfd != -1)
		close(old_lfd);
	lfd = old_lfd = -1;
}

/*
 * Accept up to a burst while a child can take it. Returns 1 when the
 * queue is empty.
 */
static int
accept_some(int fd)
{
	struct sockaddr_in	 peer;
	socklen_t		 len;
	int			 i, cfd;

	for (i = 0; i < ACCEPT_BURST && pool_can_accept(); i++) {
		len = sizeof(peer);
		cfd = accept4(fd, (struct sockaddr *)&peer, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			switch (errno) {
			case EAGAIN:
				return 1;
			case EINTR:
			case ECONNABORTED:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				/* Leave them queued a while. */
				log_warn("accept");
				accept_paused_until = monotime() + 1;
				return 0;
			default:
				log_warn("accept");
				return 0;
			}
		}
		pool_dispatch(cfd, &peer);
	}
	return 0;
}

/*
 * Register the listener with krelay, checked every second: a module loaded
 * or reloaded after us then steers to it within a second. While the stats
 * file shows our port registered, no socket option is called: each call
 * holds the module, and an rmmod at that moment fails with EAGAIN. A
 * failure is logged when it changes (the old registration, if any, stays
 * in force).
 */
static void
listener_register(void)
{
	static int		 last_errno = -1;
	unsigned long long	 port;
	int			 err = 0;

	if (conf.standalone || lfd == -1)
		return;
	if (kr_stat("listener_port", &port) != 0 || port != (unsigned)lport) {
		priv_effective(CAP_BIT(CAP_NET_ADMIN));
		err = krelay_listener(lfd) == -1 ? errno : 0;
		priv_effective(0);
	}
	if (err != 0 && err != last_errno) {
		errno = err;
		log_warn("port %d: registering the listener with krelay%s", lport,
		    err == EINVAL ? " (not the current gport)" :
		    err == ENOPROTOOPT ? " (module not loaded?)" : "");
	} else if (err == 0 && last_errno > 0) {
		log_info("port %d: listener registered with krelay", lport);
	}
	last_errno = err;
}

/*
 * Follow the gport file: listen on the new port first, then let the old
 * listener drain what is queued on it (in the loop) before closing it.
 */
static void
gport_check(void)
{
	int	 port, fd;

	if (conf.gport != 0)
		return;
	if ((port = krelay_gport()) == -1) {
		if (errno != gport_errno)
			log_warn("%s", krelay_gport_path());
		gport_errno = errno;
		return;
	}
	gport_errno = 0;
	if (port == lport)
		return;
	/* Retried every second, told once. */
	if (port < 1024)
		priv_effective(CAP_BIT(CAP_NET_BIND_SERVICE));
	fd = listen_open(port, port == gport_failed);
	priv_effective(0);
	if (fd == -1) {
		gport_failed = port;
		return;
	}
	if (*client_cc != '\0' && listen_cc(fd, client_cc) == -1)
		log_warn("client_cc %s on port %d", client_cc, port);
	log_info("gport %d -> %d", lport, port);
	if (old_lfd != -1) {
		accept_some(old_lfd);
		close(old_lfd);
	}
	old_lfd = lfd;
	lfd = fd;
	lport = port;
	gport_failed = 0;
	listener_register();
}

/*
 * The pidfile, opened without following a link, carries a POSIX write
 * lock for as long as this process lives (children do not inherit it):
 * the lock, not the number in the file, says who runs. A second tcp_relay
 * on the same pidfile refuses to start.
 */
static void
pidfile_write(void)
{
	struct flock	 fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char		 buf[16];
	int		 fd, n;

	if (conf.pidfile == NULL)
		return;
	fd = open(conf.pidfile, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd == -1)
		fatal("%s", conf.pidfile);
	if (fcntl(fd, F_SETLK, &fl) == -1) {
		if (errno != EAGAIN && errno != EACCES)
			fatal("%s: lock", conf.pidfile);
		if (fcntl(fd, F_GETLK, &fl) == -1 || fl.l_type == F_UNLCK)
			fl.l_pid = 0;
		fatalx("%s: locked by pid %d: another tcp_relay runs",
		    conf.pidfile, (int)fl.l_pid);
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == -1 || write(fd, buf, n) != n)
		fatal("%s", conf.pidfile);
	pidfile_fd = fd;	/* kept open: closing it drops the lock */
	pidfile_written = 1;
}

/*
 * Once tcp_relay has become its user it may not remove a pidfile in a
 * root's directory: the file stays, harmless, as its lock is gone.
 */
static void
pidfile_remove(void)
{
	if (pidfile_written && unlink(conf.pidfile) == -1 &&
	    errno != EACCES && errno != EPERM)
		log_warn("%s", conf.pidfile);
}

static void
start_listening(void)
{
	krelay_init();
	if ((lport = conf.gport) == 0 && (lport = krelay_gport()) == -1)
		fatal("%s", krelay_gport_path());
	if ((lfd = listen_open(lport, 0)) == -1)
		fatalx("cannot listen on gport %d", lport);
}

static void
loop(const sigset_t *waitmask)
{
	struct pollfd	 pfd[2];
	struct timespec	 ts;
	time_t		 next_tick = 0, now;
	int		 n;

	while (!sig_term) {
		if (sig_chld) {
			sig_chld = 0;
			pool_reap();
		}
		now = monotime();
		if (sig_hup || now >= next_tick) {
			sig_hup = 0;
			gport_check();
			listener_register();
			cc_check();
			limits_check();
			pool_trim();
			next_tick = now + 1;
		}
		if (old_lfd != -1 && pool_can_accept() && accept_some(old_lfd)) {
			close(old_lfd);
			old_lfd = -1;
		}
		pool_top_up();

		/*
		 * The listener while a child can take a pair, and the idle
		 * channel: a child that finishes is counted idle at once, so
		 * the spares are not topped up behind it.
		 */
		pfd[0].fd = pool_idle_fd();
		pfd[0].events = POLLIN;
		pfd[1].fd = -1;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		if (pool_can_accept() && now >= accept_paused_until)
			pfd[1].fd = lfd;
		ts.tv_sec = 1;
		ts.tv_nsec = 0;
		if ((n = ppoll(pfd, 2, &ts, waitmask)) == -1) {
			if (errno != EINTR)
				log_warn("poll");
			continue;
		}
		if (n > 0 && (pfd[0].revents & POLLIN))
			pool_sync();
		if (n > 0 && pfd[1].fd == lfd && (pfd[1].revents & POLLIN))
			accept_some(lfd);
	}
}

int
main(int argc, char *argv[])
{
	sigset_t	 waitmask;

	log_init(options(argc, argv));
	signals(&waitmask);
	pidfile_write();
	start_listening();
	priv_drop(conf.user, !conf.standalone, lport < 1024);
	limits_check();
	pool_init();
	if (conf.standalone)
		log_info("listening on port %d, relaying to %s", lport,
		    log_sockaddr(&conf.target));
	else
		log_info("listening on port %d, krelay mode", lport);

	loop(&waitmask);

	log_info("shutting down");
	listeners_close();
	pool_shutdown(&waitmask);
	pidfile_remove();
	log_info("exiting");
	return 0;
}
