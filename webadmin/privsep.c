// SPDX-License-Identifier: GPL-2.0
/*
 * Privilege separation, as OpenBSD's httpd and relayd do it. main() forks:
 * the child (the HTTP process) drops to an unprivileged user, chroots into
 * the www directory and runs libmicrohttpd; the parent (this file) keeps
 * root for the few things that need it: the krelay files and parameters,
 * the TABLE socket option, the configuration file and tcp_relay.
 *
 * The parent trusts nothing the child sends: priv_check() checks every
 * request's type, exact size and each field (knob values again with
 * libkrelay's grammar, and canonical) before
 * priv_handle() acts. A request that fails the check, a child that stalls
 * in the middle of a message, or a child that dies ends webadmin (exit
 * status 1, tcp_relay left running as on every exit): a parser that sends
 * nonsense is a parser that cannot be trusted any more, and a service
 * manager restarts webadmin whole.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "privsep.h"
#include "webadmin.h"

#define TICK_MS		200
#define IO_TIMEOUT_S	10

static const size_t req_len[PS_TYPE_MAX] = {
	[PS_LOADED]	= 0,
	[PS_STARTED]	= 0,
	[PS_KNOBS]	= 0,
	[PS_STATS]	= 0,
	[PS_TABLE]	= sizeof(struct ps_table_req),
	[PS_RELAY]	= 0,
	[PS_CONFIG]	= sizeof(struct ps_config),
	[PS_START]	= sizeof(struct ps_start),
	[PS_NAT]	= sizeof(struct ps_nat),
};

/*
 * A set value: NUL-terminated, NUL-padded, valid and already canonical;
 * empty only for interfaces (every interface) and the congestion controls
 * (the system's default).
 */
static int check_value(int k, const char *val)
{
	char out[KR_VAL_MAX], why[KR_ERR_MAX];
	size_t len = strnlen(val, KR_VAL_MAX), i;

	if ((len == 0 && kr_knobs[k].type != KR_IFNAMES &&
	     kr_knobs[k].type != KR_CC) || len == KR_VAL_MAX)
		return -1;
	for (i = len; i < KR_VAL_MAX; i++)
		if (val[i])
			return -1;
	if (kr_parse(k, val, out, why) < 0)
		return -1;
	return strcmp(out, val) == 0 ? 0 : -1;
}

static int check_config(const struct ps_config *c)
{
	int k;
	size_t i;

	if (c->mask == 0 || c->mask >> KR_NCONF)
		return -1;
	for (k = 0; k < KR_NCONF; k++) {
		if (c->mask & (1U << k)) {
			if (check_value(k, c->val[k]) < 0)
				return -1;
			continue;
		}
		for (i = 0; i < KR_VAL_MAX; i++)
			if (c->val[k][i])
				return -1;
	}
	return 0;
}

static int check_nat(const struct ps_nat *n)
{
	if (n->proto == 0)
		return n->ip == 0 && n->port == 0 ? 0 : -1;
	if (n->proto != IPPROTO_TCP && n->proto != IPPROTO_UDP)
		return -1;
	return n->port >= 1 && n->port <= 65535 ? 0 : -1;
}

/* 0 when the request may be acted on; -1: refuse it. */
int priv_check(const struct ps_hdr *h, const void *payload)
{
	struct ps_table_req t;
	struct ps_config c;
	struct ps_start s;
	struct ps_nat n;

	if (h->type == 0 || h->type >= PS_TYPE_MAX || h->len != req_len[h->type])
		return -1;
	switch (h->type) {
	case PS_CONFIG:
		memcpy(&c, payload, sizeof(c));
		return check_config(&c);
	case PS_START:
		memcpy(&s, payload, sizeof(s));
		return s.on <= 1 ? 0 : -1;
	case PS_NAT:
		memcpy(&n, payload, sizeof(n));
		return check_nat(&n);
	case PS_TABLE:
		memcpy(&t, payload, sizeof(t));
		return t.max >= 1 && t.max <= KRELAY_TABLE_PAGE_MAX ? 0 : -1;
	}
	return 0;
}

static void *reply_int(int v, size_t *len)
{
	struct ps_int *r = malloc(sizeof(*r));

	if (r)
		r->v = v;
	*len = sizeof(*r);
	return r;
}

static void *do_knobs(size_t *len)
{
	struct ps_knobs *r = calloc(1, sizeof(*r));
	int k;

	*len = sizeof(*r);
	for (k = 0; r && k < KR_NCONF; k++)
		r->err[k] = kr_read(k, r->val[k]);
	return r;
}

static void *do_stats(size_t *len)
{
	char *buf = malloc(PS_STATS_MAX);
	int err;

	*len = 0;
	if (!buf)
		return NULL;
	err = kr_read_file(kr_proc_dir(), "stats", buf, PS_STATS_MAX);
	if (err == 0)
		*len = strlen(buf);
	return buf;
}

static void *do_table(const struct ps_table_req *q, size_t *len)
{
	struct kr_table t;
	struct ps_table *r;
	size_t size;
	int err;

	err = kr_table_page(&q->filter, q->cursor, q->max, &t);
	size = err ? 0 : (size_t)t.returned * t.stride;
	r = malloc(sizeof(*r) + size);
	if (!r) {
		if (!err)
			kr_table_free(&t);
		return NULL;
	}
	r->err = err;
	r->count = err ? 0 : t.count;
	r->returned = err ? 0 : t.returned;
	r->stride = err ? 0 : t.stride;
	r->stop = err ? 0 : t.stop;
	r->pad = 0;
	r->next = err ? 0 : t.next;
	if (!err) {
		memcpy(r + 1, t.recs, size);
		kr_table_free(&t);
	}
	*len = sizeof(*r) + size;
	return r;
}

static void *do_relay(size_t *len)
{
	struct ps_relay *r = malloc(sizeof(*r));
	struct relay_status st;

	*len = sizeof(*r);
	if (!r)
		return NULL;
	supervise_status(&st);
	r->supervised = st.supervised;
	r->running = st.running;
	r->pid = st.pid;
	r->restarts = st.restarts;
	return r;
}

static void *do_config(const struct ps_config *c, size_t *len)
{
	struct ps_config_rep *r = calloc(1, sizeof(*r));
	char why[KR_ERR_MAX];
	struct kr_fail f;
	struct kr_set s;
	int k, bad;

	*len = sizeof(*r);
	if (!r)
		return NULL;
	r->field = -1;
	if (!kmod_loaded()) {
		r->err = -ENODEV;
		return r;
	}
	memset(&s, 0, sizeof(s));
	for (k = 0; k < KR_NCONF; k++) {
		s.set[k] = c->mask & (1U << k);
		memcpy(s.val[k], c->val[k], KR_VAL_MAX);
	}
	if (kr_set_check(&s, &bad, why) < 0) {
		snprintf(r->msg, sizeof(r->msg), "%s: %.280s", kr_knobs[bad].name,
			 why);
		r->err = -EINVAL;
		r->field = bad;
		return r;
	}
	/* All or nothing, the configuration file included. */
	r->err = knobs_apply(&s, NULL, &f, r->msg);
	if (r->err < 0) {
		r->field = f.knob;
		return r;
	}
	r->applied = c->mask;
	if (s.set[KR_GPORT])	/* see api_config.c */
		supervise_hup();
	return r;
}

static int do_start(const struct ps_start *s)
{
	if (!kmod_loaded())
		return -ENODEV;
	return kr_write(KR_START, s->on ? "1" : "0");
}

static int do_nat(const struct ps_nat *n)
{
	char cmd[64], ip[INET_ADDRSTRLEN];
	struct in_addr a = { .s_addr = n->ip };

	if (!kmod_loaded())
		return -ENODEV;
	if (n->proto == 0) {
		snprintf(cmd, sizeof(cmd), "flush");
	} else {
		inet_ntop(AF_INET, &a, ip, sizeof(ip));
		snprintf(cmd, sizeof(cmd), "delete %s %s:%u",
			 n->proto == IPPROTO_TCP ? "tcp" : "udp", ip, n->port);
	}
	return kr_write_file(kr_proc_dir(), "nat", cmd);
}

/*
 * Act on a checked request; *rep (malloc'd, the caller frees it) is the
 * reply's payload. -1 when out of memory.
 */
int priv_handle(const struct ps_hdr *h, const void *payload, void **rep,
		size_t *replen)
{
	struct ps_table_req tq;
	struct ps_config c;
	struct ps_start s;
	struct ps_nat n;

	switch (h->type) {
	case PS_LOADED:
		*rep = reply_int(kmod_loaded(), replen);
		break;
	case PS_STARTED:
		*rep = reply_int(kmod_started(), replen);
		break;
	case PS_KNOBS:
		*rep = do_knobs(replen);
		break;
	case PS_STATS:
		*rep = do_stats(replen);
		break;
	case PS_TABLE:
		memcpy(&tq, payload, sizeof(tq));
		*rep = do_table(&tq, replen);
		break;
	case PS_RELAY:
		*rep = do_relay(replen);
		break;
	case PS_CONFIG:
		memcpy(&c, payload, sizeof(c));
		*rep = do_config(&c, replen);
		break;
	case PS_START:
		memcpy(&s, payload, sizeof(s));
		*rep = reply_int(do_start(&s), replen);
		break;
	case PS_NAT:
		memcpy(&n, payload, sizeof(n));
		*rep = reply_int(do_nat(&n), replen);
		break;
	default:
		*rep = NULL;
	}
	return *rep ? 0 : -1;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* How long one whole message may take each way (privmsg shortens it). */
int priv_io_timeout_ms = IO_TIMEOUT_S * 1000;

/*
 * All of n bytes in or out of the non-blocking socket by the deadline
 * (now_ms() time), or -1: EOF, an error, or the deadline (ETIMEDOUT). The
 * deadline is the whole message's, as imsg has it: a peer trickling a
 * byte at a time cannot hold the privileged loop for longer.
 */
static int io_full(int fd, void *buf, size_t n, double deadline, bool out)
{
	struct pollfd pfd = { .fd = fd, .events = out ? POLLOUT : POLLIN };
	char *p = buf;
	double left;
	ssize_t k;

	while (n) {
		k = out ? write(fd, p, n) : read(fd, p, n);
		if (k > 0) {
			p += k;
			n -= k;
			continue;
		}
		if (k == 0 && !out)
			return -1;
		if (k < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		left = deadline - now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (poll(&pfd, 1, (int)left + 1) < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

/* One request and its reply; -1 ends the privileged process. */
static int serve_one(int sock)
{
	unsigned char payload[PS_REQ_MAX];
	double deadline = now_ms() + priv_io_timeout_ms;
	struct ps_hdr h, rh;
	size_t replen = 0;
	void *rep = NULL;
	int ret;

	if (io_full(sock, &h, sizeof(h), deadline, false) < 0) {
		if (errno == ETIMEDOUT)
			log_warnx("the HTTP process stalled in a request's header");
		return -1;
	}
	if (h.type == 0 || h.type >= PS_TYPE_MAX || h.len > sizeof(payload)) {
		log_warnx("refused a malformed request from the HTTP process (type %u, %u bytes)",
			  h.type, h.len);
		return -1;
	}
	if (io_full(sock, payload, h.len, deadline, false) < 0) {
		if (errno == ETIMEDOUT)
			log_warnx("the HTTP process stalled in a request (type %u, %u bytes): more than %d ms",
				  h.type, h.len, priv_io_timeout_ms);
		else
			log_warnx("refused a malformed request from the HTTP process (type %u, %u bytes): cut short",
				  h.type, h.len);
		return -1;
	}
	if (priv_check(&h, payload) < 0) {
		log_warnx("refused a malformed request from the HTTP process (type %u, %u bytes)",
			  h.type, h.len);
		return -1;
	}
	if (priv_handle(&h, payload, &rep, &replen) < 0) {
		log_warnx("out of memory answering request type %u", h.type);
		return -1;
	}
	rh.type = h.type;
	rh.len = replen;
	deadline = now_ms() + priv_io_timeout_ms;
	ret = io_full(sock, &rh, sizeof(rh), deadline, true) < 0 ||
	      io_full(sock, rep, replen, deadline, true) < 0 ? -1 : 0;
	if (ret < 0 && errno == ETIMEDOUT)
		log_warnx("the HTTP process stalled reading a reply (type %u, %zu bytes)",
			  h.type, replen);
	free(rep);
	return ret;
}

/*
 * SIGTERM to the HTTP process, and answer its requests until it is gone:
 * MHD finishes the request in hand before it stops, and that request may
 * be waiting for us.
 */
static void stop_http(int sock, pid_t http, int *status)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	bool open = sock >= 0;
	int i;

	if (kill(http, SIGTERM) < 0) {
		/* EPERM without CAP_KILL: it ends when our end of sock closes. */
		log_warn("SIGTERM to the HTTP process %d", (int)http);
		*status = 0;
		return;
	}
	for (i = 0; i < 100; i++) {
		if (waitpid(http, status, WNOHANG) == http)
			return;
		if (open && poll(&pfd, 1, 50) > 0 && serve_one(sock) < 0)
			open = false;
		else if (!open)
			usleep(50000);
	}
	log_warnx("HTTP process %d did not stop: killing it", (int)http);
	kill(http, SIGKILL);
	waitpid(http, status, 0);
}

static void lost_http(int status)
{
	if (WIFSIGNALED(status))
		log_warnx("HTTP process killed by signal %d: exiting, tcp_relay keeps running",
			  WTERMSIG(status));
	else
		log_warnx("HTTP process exited with %d: exiting, tcp_relay keeps running",
			  WEXITSTATUS(status));
}

/*
 * The privileged loop: supervise every 200 ms, configure a module that
 * appears, answer the HTTP process. Returns (webadmin exits) on SIGTERM or
 * SIGINT with 0, when the HTTP process is lost with 1, or with the HTTP
 * process's own non-zero exit status (valgrind's error exit code).
 */
void priv_run(int sock, int listen_fd, pid_t http)
{
	struct signalfd_siginfo si;
	bool was_loaded = false, loaded;
	double next = 0, t;
	struct pollfd pfd[2];
	int sfd, status = 0, timeout;
	sigset_t sigs;

	close(listen_fd);
	if (fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK) < 0)
		fatal("fcntl");
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0)
		fatal("signalfd");
	pfd[0].fd = sock;
	pfd[0].events = POLLIN;
	pfd[1].fd = sfd;
	pfd[1].events = POLLIN;

	for (;;) {
		t = now_ms();
		if (t >= next) {
			loaded = kmod_loaded();
			if (loaded && !was_loaded && wa.config_file)
				conffile_apply();
			was_loaded = loaded;
			supervise_tick();
			next = t + TICK_MS;
		}
		timeout = next - t;
		if (poll(pfd, 2, timeout < 0 ? 0 : timeout) < 0) {
			if (errno != EINTR)
				fatal("poll");
			continue;
		}
		if (waitpid(http, &status, WNOHANG) == http) {
			lost_http(status);
			exit(1);
		}
		if (pfd[1].revents & POLLIN &&
		    read(sfd, &si, sizeof(si)) == sizeof(si) &&
		    (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)) {
			log_info("signal %d: exiting, tcp_relay keeps running",
				 si.ssi_signo);
			stop_http(sock, http, &status);
			close(sfd);
			close(sock);
			if (WIFEXITED(status) && WEXITSTATUS(status))
				exit(WEXITSTATUS(status));
			return;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR) &&
		    serve_one(sock) < 0) {
			stop_http(-1, http, &status);
			lost_http(status);
			exit(1);
		}
	}
}

/* The user the HTTP process runs as: -u, else krelay if it exists, else nobody. */
static struct passwd *drop_user(const char *user)
{
	struct passwd *pw;

	if (user)
		return getpwnam(user);
	pw = getpwnam("krelay");
	return pw ? pw : getpwnam("nobody");
}

/* Empty effective, permitted and inheritable sets, and verify them. */
static void drop_caps(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	int i;

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		fatal("capset");
	if (syscall(SYS_capget, &hdr, data) < 0)
		fatal("capget");
	for (i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].effective || data[i].permitted ||
		    data[i].inheritable)
			fatalx("capabilities left after dropping them");
}

/*
 * In the HTTP process: chroot into the www directory, become user, lose
 * every capability (also from the bounding set) and gain none by exec.
 * Returns 0, or 1 when not root (tests, development): then only
 * no_new_privs and the empty capability sets apply, without chroot.
 */
int priv_drop(const char *user, const char *chroot_dir)
{
	bool root = geteuid() == 0;
	struct passwd *pw;
	int cap;

	if (root) {
		pw = drop_user(user);
		if (!pw)
			fatalx("user %s not found", user ? user : "krelay or nobody");
		if (pw->pw_uid == 0)
			fatalx("user %s is root: refusing to run HTTP as root",
			       pw->pw_name);
		if (chroot(chroot_dir) < 0 || chdir("/") < 0)
			fatal("chroot %s", chroot_dir);
		for (cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
				fatal("PR_CAPBSET_DROP %d", cap);
		if (setgroups(1, &pw->pw_gid) < 0 ||
		    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
			fatal("cannot become %s", pw->pw_name);
		if (setuid(0) == 0 || seteuid(0) == 0)
			fatalx("could regain root after dropping it");
	}
	/* After the setuid, which clears it; main() then checks getppid(). */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
		fatal("PR_SET_PDEATHSIG");
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	drop_caps();
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fatal("PR_SET_NO_NEW_PRIVS");
	return root ? 0 : 1;
}
