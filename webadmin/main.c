// SPDX-License-Identifier: GPL-2.0
/*
 * webadmin: krelay's admin UI and JSON API (libmicrohttpd + jansson), and
 * tcp_relay's supervisor. MHD answers requests in its own thread; the main
 * thread waits for signals and ticks the supervisor every 200 ms.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "webadmin.h"

#ifndef WWW_DEFAULT
#define WWW_DEFAULT		"/usr/local/share/krelay/www"
#endif
#define LISTEN_DEFAULT		"127.0.0.1:8080"
#define SECRET_DEFAULT		"/etc/krelay/webadmin.secret"
#define PIDFILE_DEFAULT		"/run/krelay/tcp_relay.pid"
#define TICK_NS			200000000L

struct webadmin wa;

static void usage(FILE *f)
{
	fprintf(f,
"usage: webadmin [-fhv] [-l ADDR:PORT] [-s SECRET_FILE] [-w WWW_DIR]\n"
"                [-c CONFIG_FILE] [-r TCP_RELAY [-P PIDFILE] [-p PORT]\n"
"                [-- TCP_RELAY_ARGS...]]\n"
"  -l ADDR:PORT    listen there (default " LISTEN_DEFAULT ")\n"
"  -s SECRET_FILE  admin:PASSWORD, made on first start (default\n"
"                  " SECRET_DEFAULT ")\n"
"  -w WWW_DIR      the dashboard's files (default " WWW_DEFAULT ")\n"
"  -c CONFIG_FILE  `name = value` krelay settings, applied when the module\n"
"                  is loaded and rewritten when changed through the API\n"
"  -r TCP_RELAY    supervise tcp_relay (start, restart, SIGHUP)\n"
"  -P PIDFILE      tcp_relay's pidfile (default " PIDFILE_DEFAULT ")\n"
"  -p PORT         have tcp_relay listen on PORT (passed as -p)\n"
"  -f              stay in the foreground, log to stderr\n"
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
			     MHD_OPTION_CONNECTION_TIMEOUT, 30U,
			     MHD_OPTION_CONNECTION_LIMIT, 64U,
			     MHD_OPTION_END);
	if (!d)
		fatalx("cannot start the HTTP server on %s:%u",
		       wa.listen_host, wa.port);
	return d;
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

/* Until SIGTERM or SIGINT: supervise, and configure a module that appears. */
static void loop(const sigset_t *sigs)
{
	struct timespec tick = { 0, TICK_NS };
	bool was_loaded = false, loaded;
	int sig;

	for (;;) {
		loaded = kmod_loaded();
		if (loaded && !was_loaded && wa.config_file)
			conffile_apply();
		was_loaded = loaded;
		supervise_tick();

		sig = sigtimedwait(sigs, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("signal %d: exiting, tcp_relay keeps running",
				 sig);
			return;
		}
	}
}

int main(int argc, char *argv[])
{
	const char *secret = SECRET_DEFAULT, *www = WWW_DEFAULT;
	const char *relay = NULL, *pidfile = PIDFILE_DEFAULT;
	char *extra[2], portarg[8];
	int ch, foreground = 0, verbose = 0, nextra = 0, fd;
	struct MHD_Daemon *d;
	long port = -1;
	sigset_t sigs;

	parse_listen(LISTEN_DEFAULT);
	while ((ch = getopt(argc, argv, "c:fhl:P:p:r:s:vw:")) != -1) {
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
		case 'v': verbose = 1; break;
		case 'w': www = optarg; break;
		default: usage(stderr); return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (!relay && (argc > 0 || port > 0))
		usage_error("-p and tcp_relay arguments need -r");
	if (!*secret || !*pidfile || (wa.config_file && !*wa.config_file))
		usage_error("empty file name");

	log_init(foreground, verbose);
	wa.proc_dir = env_or("KRELAY_PROC_DIR", "/proc/krelay");
	wa.param_dir = env_or("KRELAY_PARAM_DIR",
			      "/sys/module/krelay/parameters");
	wa.module_dir = env_or("KRELAY_MODULE_DIR", "/sys/module/krelay");
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

	/* Signals are taken synchronously by the loop; the MHD thread inherits the mask. */
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
	d = http_start(fd);
	log_info("listening on http://%s:%u/ (www %s, krelay %s)",
		 wa.listen_host, wa.port, wa.www_root, wa.proc_dir);

	loop(&sigs);

	MHD_stop_daemon(d);
	close(fd);
	supervise_free();
	auth_free();
	free(wa.www_root);
	return 0;
}
