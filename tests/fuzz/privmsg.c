// SPDX-License-Identifier: GPL-2.0
/*
 * privmsg FILE: the privileged process's loop (priv_run) against a stand-in
 * HTTP process that sends FILE's bytes as they are and prints the reply:
 * "reply TYPE LEN". Exit 0 when the request was answered; 1 when the
 * privileged side refused it (it logs why and stops, as in webadmin).
 * The knob files come from KRELAY_PROC_DIR and friends, as in webadmin.
 * PRIVMSG_TRICKLE_MS=N sends the bytes one every N ms (a stalling HTTP
 * process); PRIVMSG_TIMEOUT_MS sets the privileged side's deadline per
 * message (priv_io_timeout_ms), so a test need not wait 10 s.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "privsep.h"
#include "webadmin.h"

struct webadmin wa;

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

static void stand_in(int sock, const char *file)
{
	static unsigned char buf[1 << 16];
	struct ps_hdr h;
	size_t n, i;
	int trickle;
	FILE *f;

	f = fopen(file, "rb");
	if (!f)
		fatal("%s", file);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	trickle = atoi(env_or("PRIVMSG_TRICKLE_MS", "0"));
	for (i = 0; trickle > 0 && i < n; i++) {
		if (write(sock, buf + i, 1) != 1)
			_exit(4);	/* the privileged side gave up */
		usleep(trickle * 1000);
	}
	if (trickle <= 0 && write(sock, buf, n) != (ssize_t)n)
		fatal("write");
	/* A message cut short ends here, as when a real HTTP process dies. */
	memcpy(&h, buf, n < sizeof(h) ? n : sizeof(h));
	if (n < sizeof(h) || n - sizeof(h) < h.len)
		shutdown(sock, SHUT_WR);
	if (read(sock, &h, sizeof(h)) != sizeof(h))
		_exit(3);
	printf("reply %u %u\n", h.type, h.len);
	fflush(stdout);
	kill(getppid(), SIGTERM);
	pause();
	_exit(0);
}

int main(int argc, char *argv[])
{
	sigset_t sigs;
	int sv[2];
	pid_t pid;

	if (argc != 2) {
		fprintf(stderr, "usage: privmsg FILE\n");
		return 2;
	}
	log_init(1, 0);
	priv_io_timeout_ms = atoi(env_or("PRIVMSG_TIMEOUT_MS", "10000"));
	wa.proc_dir = env_or("KRELAY_PROC_DIR", "/proc/krelay");
	wa.param_dir = env_or("KRELAY_PARAM_DIR",
			      "/sys/module/krelay/parameters");
	wa.module_dir = env_or("KRELAY_MODULE_DIR", "/sys/module/krelay");
	kr_set_dirs(wa.proc_dir, wa.param_dir);
	supervise_init(NULL, "/nonexistent", NULL, 0);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		fatal("socketpair");
	pid = fork();
	if (pid < 0)
		fatal("fork");
	if (pid == 0) {
		sigprocmask(SIG_UNBLOCK, &sigs, NULL);
		close(sv[0]);
		stand_in(sv[1], argv[1]);
	}
	close(sv[1]);
	priv_run(sv[0], -1, pid);
	return 0;
}
