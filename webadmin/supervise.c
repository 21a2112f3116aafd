// SPDX-License-Identifier: GPL-2.0
/*
 * tcp_relay supervision, in the privileged process. Its loop calls
 * supervise_tick() every 200 ms and, between ticks, answers the HTTP
 * process's requests for the state (status, metrics) and for a SIGHUP;
 * sup.lock keeps that safe should they ever run in different threads.
 *
 * tcp_relay runs in its own session (setsid), so a terminal's ^C does not
 * reach it, and webadmin never signals it on exit: restarting the admin UI
 * never cuts relayed traffic. A tcp_relay webadmin started is its child and
 * waitpid() tells its death. One started earlier (by an earlier webadmin)
 * is found through its pidfile: tcp_relay holds a POSIX write lock on it
 * for its lifetime, and only the lock's holder, as F_GETLK names it, is
 * adopted (the pid written in the file, or a process named tcp_relay at a
 * stale pid, is not evidence). Every tcp_relay, started or adopted, is
 * held by a pidfd: its death is the pidfd's readability and SIGHUP goes
 * through it, so a reused pid is never signalled.
 * After a death the next start waits 0.5 s, doubling up to 30 s; the wait
 * goes back to 0.5 s once a tcp_relay ran for 60 s.
 *
 * In the foreground tcp_relay shares webadmin's stderr. A daemon's stderr
 * is /dev/null: there tcp_relay's stderr is a pipe whose lines each tick
 * passes to syslog. The pipe is non-blocking at both ends: when webadmin
 * falls behind, tcp_relay loses log lines, it never stalls on a write.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "webadmin.h"

#define BACKOFF_MIN	0.5
#define BACKOFF_MAX	30.0
#define STABLE_AFTER	60.0

static struct {
	pthread_mutex_t	lock;		/* protects all below */
	const char	*relay;		/* -r, or NULL: not supervising */
	const char	*pidfile;
	char		comm[16];	/* what /proc/PID/stat calls it */
	char		**argv;
	pid_t		pid;		/* running tcp_relay, or 0 */
	int		pidfd;		/* its pidfd, or -1 */
	bool		child;		/* pid is our child */
	bool		died;		/* one died: the next start counts */
	unsigned int	restarts;
	int		logpipe[2];	/* daemon: tcp_relay's stderr */
	char		logbuf[1024];	/* a line not yet complete */
	size_t		loglen;
	double		started_at;
	double		next_start;
	double		backoff;
} sup = { .lock = PTHREAD_MUTEX_INITIALIZER, .backoff = BACKOFF_MIN,
	  .pidfd = -1, .logpipe = { -1, -1 } };

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Alive, not a zombie, and named like our tcp_relay. */
static bool proc_is_relay(pid_t pid)
{
	char path[64], buf[512], *lp, *rp;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	lp = strchr(buf, '(');
	rp = strrchr(buf, ')');
	if (!lp || !rp || rp < lp || rp[1] != ' ')
		return false;
	*rp = '\0';
	if (rp[2] == 'Z' || rp[2] == 'X')
		return false;
	return strcmp(lp + 1, sup.comm) == 0;
}

/* The pid holding the pidfile's lock, if it is alive and named tcp_relay. */
static pid_t pidfile_pid(void)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd, r;

	fd = open(sup.pidfile, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	r = fcntl(fd, F_GETLK, &fl);
	close(fd);
	if (r < 0 || fl.l_type == F_UNLCK || fl.l_pid <= 1)
		return 0;
	return proc_is_relay(fl.l_pid) ? fl.l_pid : 0;
}

/*
 * A pidfd for the lock holder, checked again once open: the pid cannot
 * have been reused between the two looks. -1 if there is none.
 */
static int pidfile_pidfd(pid_t *pid)
{
	int fd;

	*pid = pidfile_pid();
	if (!*pid)
		return -1;
	fd = pidfd_open(*pid, 0);
	if (fd >= 0 && pidfile_pid() != *pid) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* The pidfd is readable once its process has exited. */
static bool pidfd_exited(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) != 0;
}

void supervise_init(const char *relay, const char *pidfile,
		    char *const *extra, int nextra)
{
	const char *base;
	int i, n = 0;

	sup.relay = relay;
	sup.pidfile = pidfile;
	base = relay ? strrchr(relay, '/') : NULL;
	base = base ? base + 1 : relay ? relay : "tcp_relay";
	snprintf(sup.comm, sizeof(sup.comm), "%s", base);
	if (!relay)
		return;
	/* Built before any fork: the child only calls async-signal-safe code. */
	sup.argv = calloc(nextra + 5, sizeof(*sup.argv));
	if (!sup.argv)
		fatal("calloc");
	sup.argv[n++] = (char *)relay;
	sup.argv[n++] = "-f";
	sup.argv[n++] = "-P";
	sup.argv[n++] = (char *)pidfile;
	for (i = 0; i < nextra; i++)
		sup.argv[n++] = extra[i];
}

void supervise_free(void)
{
	free(sup.argv);
	sup.argv = NULL;
}

static void spawn_locked(double t)
{
	sigset_t all;
	pid_t pid;
	int fd;

	if (wa.daemon && sup.logpipe[0] < 0 &&
	    pipe2(sup.logpipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		log_warn("pipe for tcp_relay's log");
		sup.logpipe[0] = sup.logpipe[1] = -1;
	}
	pid = fork();
	if (pid < 0) {
		log_warn("fork %s", sup.relay);
		sup.next_start = t + sup.backoff;
		return;
	}
	if (pid == 0) {
		setsid();
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		fd = open("/dev/null", O_RDONLY);
		if (fd > 0) {
			dup2(fd, 0);
			close(fd);
		}
		if (sup.logpipe[1] >= 0)
			dup2(sup.logpipe[1], 2);
		execv(sup.relay, sup.argv);
		_exit(127);
	}
	sup.pid = pid;
	sup.child = true;
	sup.started_at = t;
	/* our unreaped child: its pid cannot be reused yet */
	sup.pidfd = pidfd_open(pid, 0);
	if (sup.pidfd < 0)
		log_warn("pidfd_open %d", (int)pid);
	if (sup.died) {
		sup.restarts++;
		sup.died = false;
	}
	log_info("started %s as pid %d", sup.relay, (int)pid);
}

static void died_locked(double t, int status)
{
	double ran = t - sup.started_at;

	if (status < 0)
		log_warnx("tcp_relay pid %d gone after %.1f s", (int)sup.pid, ran);
	else if (WIFSIGNALED(status))
		log_warnx("tcp_relay pid %d killed by signal %d after %.1f s",
			  (int)sup.pid, WTERMSIG(status), ran);
	else
		log_warnx("tcp_relay pid %d exited with %d after %.1f s",
			  (int)sup.pid, WEXITSTATUS(status), ran);
	if (ran >= STABLE_AFTER)
		sup.backoff = BACKOFF_MIN;
	sup.next_start = t + sup.backoff;
	log_info("restarting tcp_relay in %.1f s", sup.backoff);
	sup.backoff *= 2;
	if (sup.backoff > BACKOFF_MAX)
		sup.backoff = BACKOFF_MAX;
	sup.pid = 0;
	sup.child = false;
	sup.died = true;
	if (sup.pidfd >= 0)
		close(sup.pidfd);
	sup.pidfd = -1;
}

/* tcp_relay's log lines (daemon mode) to syslog, a line at a time. */
static void drain_log_locked(void)
{
	char *nl;
	ssize_t n;

	if (sup.logpipe[0] < 0)
		return;
	for (;;) {
		n = read(sup.logpipe[0], sup.logbuf + sup.loglen,
			 sizeof(sup.logbuf) - 1 - sup.loglen);
		if (n <= 0)
			return;
		sup.loglen += n;
		sup.logbuf[sup.loglen] = '\0';
		while ((nl = strchr(sup.logbuf, '\n')) ||
		       sup.loglen == sizeof(sup.logbuf) - 1) {
			if (nl)
				*nl = '\0';
			log_info("%s", sup.logbuf);
			n = nl ? nl + 1 - sup.logbuf : (ssize_t)sup.loglen;
			memmove(sup.logbuf, sup.logbuf + n, sup.loglen - n + 1);
			sup.loglen -= n;
		}
	}
}

void supervise_tick(void)
{
	double t = now();
	pid_t pid;
	int status, fd;

	pthread_mutex_lock(&sup.lock);
	if (!sup.relay)
		goto out;
	drain_log_locked();
	if (sup.pid && sup.child) {
		pid = waitpid(sup.pid, &status, WNOHANG);
		if (pid == sup.pid)
			died_locked(t, status);
		else if (pid < 0)
			died_locked(t, -1);
		goto out;
	}
	if (sup.pid) {
		if (sup.pidfd < 0 || pidfd_exited(sup.pidfd))
			died_locked(t, -1);
		goto out;
	}
	if (t < sup.next_start)
		goto out;
	fd = pidfile_pidfd(&pid);
	if (fd >= 0) {
		sup.pid = pid;
		sup.pidfd = fd;
		sup.child = false;
		sup.started_at = t;
		if (sup.died) {
			sup.restarts++;
			sup.died = false;
		}
		log_info("tcp_relay already running as pid %d (%s)", (int)pid,
			 sup.pidfile);
		goto out;
	}
	spawn_locked(t);
out:
	pthread_mutex_unlock(&sup.lock);
}

void supervise_status(struct relay_status *st)
{
	pthread_mutex_lock(&sup.lock);
	st->supervised = sup.relay != NULL;
	st->pid = sup.relay ? sup.pid : pidfile_pid();
	st->running = st->pid > 0;
	st->restarts = sup.restarts;
	pthread_mutex_unlock(&sup.lock);
}

void supervise_hup(void)
{
	pid_t pid;
	int fd;

	pthread_mutex_lock(&sup.lock);
	if (sup.relay) {
		pid = sup.pid;
		fd = sup.pidfd;
	} else {
		fd = pidfile_pidfd(&pid);
	}
	if (fd >= 0 && pidfd_send_signal(fd, SIGHUP, NULL, 0) < 0)
		log_warn("SIGHUP tcp_relay pid %d", (int)pid);
	else if (fd >= 0)
		log_info("sent SIGHUP to tcp_relay pid %d", (int)pid);
	if (fd >= 0 && !sup.relay)
		close(fd);
	pthread_mutex_unlock(&sup.lock);
}
