// SPDX-License-Identifier: GPL-2.0
/*
 * webadmin: krelay's admin UI and JSON API (libmicrohttpd + jansson), and
 * tcp_relay's supervisor, in two processes (privsep.c): the HTTP process,
 * unprivileged and chrooted into the www directory, where MHD answers
 * requests in its own thread; and the privileged process, which ticks the
 * supervisor every 200 ms and does what the HTTP process asks of the kernel
 * and of tcp_relay.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "privsep.h"
#include "webadmin.h"

#ifndef WWW_DEFAULT
#define WWW_DEFAULT		"/usr/local/share/krelay/www"
#endif
#define LISTEN_DEFAULT		"127.0.0.1:8080"
#define SECRET_DEFAULT		"/etc/krelay/webadmin.secret"
#define PIDFILE_DEFAULT		"/run/krelay/tcp_relay.pid"
#define HTTP_CONN_MAX		64U
#define HTTP_CONN_PER_IP	16U
#define HTTP_TIMEOUT_S		15U

struct webadmin wa;

static void usage(FILE *f)
{
	fprintf(f,
"usage: webadmin [-fhv] [-l ADDR:PORT] [-s SECRET_FILE] [-w WWW_DIR]\n"
"                [-u USER] [-c CONFIG_FILE] [-r TCP_RELAY [-P PIDFILE]\n"
"                [-p PORT] [-- TCP_RELAY_ARGS...]]\n"
"  -l ADDR:PORT    listen there (default " LISTEN_DEFAULT ")\n"
"  -s SECRET_FILE  admin:PASSWORD, made on first start (default\n"
"                  " SECRET_DEFAULT ")\n"
"  -w WWW_DIR      the dashboard's files (default " WWW_DEFAULT ")\n"
"  -u USER         the HTTP process runs as USER, chrooted into WWW_DIR\n"
"                  (default krelay if that user exists, else nobody)\n"
"  -c CONFIG_FILE  `name = value` krelay settings, applied when the module\n"
"                  is loaded and rewritten when changed through the API\n"
"  -r TCP_RELAY    supervise tcp_relay (start, restart, SIGHUP)\n"
"  -P PIDFILE      tcp_relay's pidfile (default " PIDFILE_DEFAULT ")\n"
"  -p PORT         have tcp_relay listen on PORT (passed as -p)\n"
"  -f              stay in the foreground, log to stderr\n"
"  -h, --help      this help\n"
"  -v              verbose\n"
"environment: KRELAY_PROC_DIR (/proc/krelay), KRELAY_PARAM_DIR\n"
"  (/sys/module/krelay/parameters), KRELAY_MODULE_DIR (/sys/module/krelay)\n");
}

static void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("webadmin: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	exit(2);
}

static long parse_port(const char *s)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtol(s, &end, 10);
	return *end || v < 1 || v > 65535 ? -1 : v;
}

static void parse_listen(const char *arg)
{
	const char *colon = strrchr(arg, ':');
	size_t len = colon ? (size_t)(colon - arg) : 0;
	long port;

	if (!colon || len == 0 || len >= sizeof(wa.listen_host))
		usage_error("-l %s: expected IPV4_ADDRESS:PORT", arg);
	memcpy(wa.listen_host, arg, len);
	wa.listen_host[len] = '\0';
	port = parse_port(colon + 1);
	if (inet_pton(AF_INET, wa.listen_host, &wa.listen.sin_addr) != 1 ||
	    port < 0)
		usage_error("-l %s: expected IPV4_ADDRESS:PORT", arg);
	wa.listen.sin_family = AF_INET;
	wa.listen.sin_port = htons(port);
	wa.port = port;
}

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

/* Bound before daemonising, so that "address in use" reaches the terminal. */
static int listen_socket(void)
{
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fatal("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		fatal("SO_REUSEADDR");
	if (bind(fd, (struct sockaddr *)&wa.listen, sizeof(wa.listen)) < 0)
		fatal("bind %s:%u", wa.listen_host, wa.port);
	if (listen(fd, 64) < 0)
		fatal("listen %s:%u", wa.listen_host, wa.port);
	return fd;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_warnx("libmicrohttpd: %s", msg);
}

static struct MHD_Daemon *http_start(int fd)
{
	struct MHD_Daemon *d;

	d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
			     0, NULL, NULL, routes_access, NULL,
			     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
			     MHD_OPTION_LISTEN_SOCKET, fd,
			     MHD_OPTION_NOTIFY_COMPLETED, routes_completed, NULL,
			     MHD_OPTION_CONNECTION_TIMEOUT, HTTP_TIMEOUT_S,
			     MHD_OPTION_CONNECTION_LIMIT, HTTP_CONN_MAX,
			     MHD_OPTION_PER_IP_CONNECTION_LIMIT, HTTP_CONN_PER_IP,
			     MHD_OPTION_END);
	if (!d)
		fatalx("cannot start the HTTP server on %s:%u",
		       wa.listen_host, wa.port);
	return d;
}

/*
 * Until SIGTERM (from the privileged process, or PR_SET_PDEATHSIG when it
 * dies) or the end of the privileged process's side of sock (POLLHUP): a
 * privileged process that may not signal us (a unit without CAP_KILL; the
 * parent-death signal is permission-checked too) still ends us by exiting.
 */
static void http_wait(int sock)
{
	struct pollfd pfd[2] = {
		{ .events = POLLIN },
		{ .fd = sock, .events = 0 },	/* POLLHUP and POLLERR only */
	};
	sigset_t term;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pfd[0].fd = signalfd(-1, &term, SFD_CLOEXEC);
	if (pfd[0].fd < 0)
		fatal("signalfd");
	while (!(pfd[0].revents & POLLIN) &&
	       !(pfd[1].revents & (POLLHUP | POLLERR)))
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			fatal("poll");
	close(pfd[0].fd);
}

/*
 * The HTTP process: lose root, serve until http_wait() returns. SIGINT and
 * SIGHUP stay blocked: a terminal's ^C reaches the privileged process,
 * which stops us.
 */
static void http_main(int sock, int fd, const char *user, pid_t parent)
{
	struct MHD_Daemon *d;

	/* Before the chroot: jansson's hash seed reads /dev/urandom. */
	json_object_seed(0);
	tzset();
	if (priv_drop(user, wa.www_root) == 0) {
		free(wa.www_root);
		wa.www_root = strdup("");	/* the chroot is the www root */
		if (!wa.www_root)
			fatal("strdup");
	}
	if (getppid() != parent)
		fatalx("the privileged process is gone");
	priv_client_init(sock);
	d = http_start(fd);
	log_info("listening on http://%s:%u/ as uid %d (www %s, krelay %s)",
		 wa.listen_host, wa.port, (int)getuid(),
		 wa.www_root[0] ? wa.www_root : "chroot", wa.proc_dir);
	http_wait(sock);
	MHD_stop_daemon(d);
	close(fd);
	close(sock);
	supervise_free();
	auth_free();
	free(wa.www_root);
	exit(0);
}

/* tcp_relay's arguments: ours (-p) first, then those after `--`. */
static void relay_args(const char *relay, const char *pidfile,
		       char *const *ours, int nours, char *const *theirs,
		       int ntheirs)
{
	char **args;
	int i;

	args = calloc(nours + ntheirs + 1, sizeof(*args));
	if (!args)
		fatal("calloc");
	for (i = 0; i < nours; i++)
		args[i] = ours[i];
	for (i = 0; i < ntheirs; i++)
		args[nours + i] = theirs[i];
	supervise_init(relay, pidfile, args, nours + ntheirs);
	free(args);
}

int main(int argc, char *argv[])
{
	const char *secret = SECRET_DEFAULT, *www = WWW_DEFAULT;
	const char *relay = NULL, *pidfile = PIDFILE_DEFAULT, *user = NULL;
	const char *why;
	char *extra[2], portarg[8];
	int ch, foreground = 0, verbose = 0, nextra = 0, fd, sv[2];
	long port = -1;
	sigset_t sigs;
	pid_t parent, http;

	parse_listen(LISTEN_DEFAULT);
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	while ((ch = getopt(argc, argv, "c:fhl:P:p:r:s:u:vw:")) != -1) {
		switch (ch) {
		case 'c': wa.config_file = optarg; break;
		case 'f': foreground = 1; break;
		case 'h': usage(stdout); return 0;
		case 'l': parse_listen(optarg); break;
		case 'P': pidfile = optarg; break;
		case 'p':
			port = parse_port(optarg);
			if (port < 0)
				usage_error("-p %s: expected a port", optarg);
			break;
		case 'r': relay = optarg; break;
		case 's': secret = optarg; break;
		case 'u': user = optarg; break;
		case 'v': verbose = 1; break;
		case 'w': www = optarg; break;
		default: usage(stderr); return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (!relay && (argc > 0 || port > 0))
		usage_error("-p and tcp_relay arguments need -r");
	if (!*secret || !*pidfile || (wa.config_file && !*wa.config_file) ||
	    (user && !*user))
		usage_error("empty file name");
	/* A daemon runs from /: a relative name would mean another file. */
	if (!foreground) {
		const char *names[] = { secret, pidfile, wa.config_file, relay,
					www };
		const char opts[] = "sPcrw";
		size_t i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (names[i] && names[i][0] != '/')
				usage_error("-%c %s: needs an absolute path without -f (a daemon runs from /)",
					    opts[i], names[i]);
	}
	wa.daemon = !foreground;

	log_init(foreground, verbose);
	wa.proc_dir = env_or("KRELAY_PROC_DIR", "/proc/krelay");
	wa.param_dir = env_or("KRELAY_PARAM_DIR",
			      "/sys/module/krelay/parameters");
	wa.module_dir = env_or("KRELAY_MODULE_DIR", "/sys/module/krelay");
	kr_set_dirs(wa.proc_dir, wa.param_dir);
	/* A module older than these programs may lack what they rely on. */
	if ((why = kr_version_mismatch()) != NULL)
		log_warnx("%s", why);
	wa.www_root = realpath(www, NULL);
	if (!wa.www_root)
		fatal("www directory %s", www);
	if (auth_load(secret) < 0)
		fatalx("no credentials");
	if (wa.config_file && conffile_load(wa.config_file) < 0)
		fatalx("bad configuration file %s", wa.config_file);
	if (relay && access(relay, X_OK) < 0)
		fatal("tcp_relay %s", relay);
	if (port > 0) {
		snprintf(portarg, sizeof(portarg), "%ld", port);
		extra[nextra++] = "-p";
		extra[nextra++] = portarg;
	}

	/*
	 * Signals are taken synchronously (signalfd in the privileged
	 * process, sigwait in the HTTP process); MHD's thread inherits the mask.
	 */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);

	fd = listen_socket();
	if (!foreground && daemon(0, 0) < 0)
		fatal("daemon");
	relay_args(relay, pidfile, extra, nextra, argv, argc);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		fatal("socketpair");
	parent = getpid();
	http = fork();
	if (http < 0)
		fatal("fork");
	if (http == 0) {
		close(sv[0]);
		http_main(sv[1], fd, user, parent);
	}
	close(sv[1]);
	auth_free();	/* only the HTTP process checks credentials */
	log_info("HTTP process %d, privileged process %d", (int)http,
		 (int)parent);

	priv_run(sv[0], fd, http);

	supervise_free();
	free(wa.www_root);
	return 0;
}
