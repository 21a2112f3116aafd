// SPDX-License-Identifier: GPL-2.0
/*
 * Privileges, in the manner of OpenBSD's daemons: once listening,
 * tcp_relay never runs as root and keeps only what it needs; each step is
 * fatal when it fails, and the result is checked before the first client.
 *
 * Started with privileges (as root, or by a service manager that left
 * CAP_SETPCAP), it locks the securebits (no root semantics, no uid-change
 * fixups, no ambient raise), empties the capability bounding set, clears
 * the ambient set, becomes its user (-u, else krelay-relay if it exists,
 * else nobody; never uid 0), keeps CAP_NET_ADMIN permitted (and
 * CAP_NET_BIND_SERVICE while the gateway port is below 1024), none
 * effective, and sets no_new_privs. The parent raises CAP_NET_ADMIN only
 * to register its listener; a child keeps CAP_NET_ADMIN alone, effective,
 * for the CLIENT option. In standalone mode (-t) there is no krelay to
 * ask: no CAP_NET_ADMIN at all.
 *
 * A child then confines itself with a seccomp filter (libseccomp): the
 * system calls a pair needs, any other kills it.
 *
 * Started without privileges (a user's standalone relay), there is nothing
 * to give up beyond capabilities it might hold: the same sets are kept,
 * no_new_privs set, and the check is the same.
 */
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <linux/capability.h>
#include <linux/securebits.h>

#include <errno.h>
#include <grp.h>
#include <seccomp.h>
#include <pwd.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "tcp_relay.h"

#define DEFAULT_USER	"krelay-relay"

#define SECBITS	(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |			\
		 SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |	\
		 SECBIT_KEEP_CAPS_LOCKED |					\
		 SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)

static uint64_t	 kept;		/* the permitted set once dropped */

static uint64_t
bit(int cap)
{
	return (uint64_t)1 << cap;
}

static void
caps_get(uint64_t *eff, uint64_t *prm, uint64_t *inh)
{
	struct __user_cap_header_struct	 hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct	 d[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, d) == -1)
		fatal("capget");
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	*prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	*inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
}

static void
caps_set(uint64_t eff, uint64_t prm)
{
	struct __user_cap_header_struct	 hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct	 d[_LINUX_CAPABILITY_U32S_3];

	memset(d, 0, sizeof(d));
	d[0].effective = (uint32_t)eff;
	d[1].effective = eff >> 32;
	d[0].permitted = (uint32_t)prm;
	d[1].permitted = prm >> 32;
	if (syscall(SYS_capset, &hdr, d) == -1)
		fatal("capset");
}

/* -u's user; as root without -u the default one; else none (NULL). */
static struct passwd *
target_user(const char *user)
{
	struct passwd	*pw;

	if (user != NULL) {
		if ((pw = getpwnam(user)) == NULL)
			fatalx("unknown user %s", user);
	} else if (geteuid() != 0) {
		return NULL;
	} else if ((pw = getpwnam(DEFAULT_USER)) == NULL &&
	    (pw = getpwnam("nobody")) == NULL) {
		fatalx("running as root needs -u: no user %s nor nobody",
		    DEFAULT_USER);
	}
	if (pw->pw_uid == 0)
		fatalx("user %s is root: refusing to relay as root",
		    pw->pw_name);
	return pw;
}

/* Refuse to run with more than we need: the promise, checked. */
static void
check(const struct passwd *pw, int bounding_dropped)
{
	uint64_t	 eff, prm, inh;
	uid_t		 r, e, s;
	int		 cap;

	caps_get(&eff, &prm, &inh);
	if ((prm & ~kept) || (eff & ~kept) || inh)
		fatalx("capabilities beyond what tcp_relay needs: "
		    "permitted %#llx effective %#llx inheritable %#llx",
		    (unsigned long long)prm, (unsigned long long)eff,
		    (unsigned long long)inh);
	for (cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) {
		if (bounding_dropped && prctl(PR_CAPBSET_READ, cap, 0, 0, 0))
			fatalx("capability %d left in the bounding set", cap);
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) > 0)
			fatalx("capability %d left in the ambient set", cap);
	}
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		fatalx("no_new_privs not set");
	if (getresuid(&r, &e, &s) == -1)
		fatal("getresuid");
	if (pw != NULL && (r != pw->pw_uid || e != pw->pw_uid ||
	    s != pw->pw_uid))
		fatalx("still uid %d, not %s", (int)e, pw->pw_name);
	if (r == 0 || e == 0 || s == 0)
		fatalx("still root");
}

void
priv_drop(const char *user, int need_admin, int bind_low)
{
	struct passwd	*pw = target_user(user);
	uint64_t	 eff, prm, inh;
	int		 cap, setpcap;

	kept = need_admin ? bit(CAP_NET_ADMIN) : 0;
	if (bind_low)
		kept |= bit(CAP_NET_BIND_SERVICE);
	caps_get(&eff, &prm, &inh);
	setpcap = (eff & bit(CAP_SETPCAP)) != 0;
	if (setpcap) {
		if (prctl(PR_SET_SECUREBITS, SECBITS, 0, 0, 0) == -1)
			fatal("PR_SET_SECUREBITS");
		for (cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1)
				fatal("PR_CAPBSET_DROP %d", cap);
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1)
		fatal("PR_CAP_AMBIENT_CLEAR_ALL");
	if (pw != NULL) {
		/* NO_SETUID_FIXUP: the capabilities survive, then go below */
		if (setgroups(1, &pw->pw_gid) == -1 ||
		    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
			fatal("cannot become %s", pw->pw_name);
	}
	caps_set(0, prm & kept);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("PR_SET_NO_NEW_PRIVS");
	check(pw, setpcap);
	if (pw != NULL && setuid(0) == 0)
		fatalx("could become root again");
	if (pw != NULL)
		log_info("running as %s", pw->pw_name);
}

/* Raise caps (within the permitted set) in the effective one; 0: lower all. */
void
priv_effective(uint64_t caps)
{
	uint64_t	 eff, prm, inh;

	caps_get(&eff, &prm, &inh);
	if (eff != (caps & prm))
		caps_set(caps & prm, prm);
}

/* In a new child: CAP_NET_ADMIN alone, effective (for CLIENT). */
void
priv_child(void)
{
	uint64_t	 eff, prm, inh;

	caps_get(&eff, &prm, &inh);
	prm &= bit(CAP_NET_ADMIN);
	caps_set(prm, prm);
}

/*
 * What a child does from its first pair on: take a socket from the
 * parent, ask krelay, connect, splice, log, tell the parent it is idle;
 * and what libc does underneath (memory, time, signals' return).
 */
static const int child_syscalls[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(close), SCMP_SYS(splice),
	SCMP_SYS(pipe2), SCMP_SYS(fcntl), SCMP_SYS(ioctl), SCMP_SYS(poll),
	SCMP_SYS(ppoll), SCMP_SYS(socket), SCMP_SYS(bind), SCMP_SYS(connect),
	SCMP_SYS(setsockopt), SCMP_SYS(getsockopt), SCMP_SYS(getsockname),
	SCMP_SYS(getpeername), SCMP_SYS(shutdown), SCMP_SYS(recvmsg),
	SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(sendmsg),
	SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(clock_gettime),
	SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep), SCMP_SYS(brk),
	SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	SCMP_SYS(futex), SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(restart_syscall), SCMP_SYS(exit), SCMP_SYS(exit_group),
	SCMP_SYS(newfstatat), SCMP_SYS(fstat), SCMP_SYS(lseek),
	SCMP_SYS(getrandom),
};

/* In a child, after priv_child(): only child_syscalls from here on. */
void
priv_seccomp(void)
{
	scmp_filter_ctx	 ctx;
	size_t		 i;
	int		 err;

	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL)
		fatalx("seccomp_init");
	for (i = 0; i < sizeof(child_syscalls) / sizeof(child_syscalls[0]);
	    i++)
		if ((err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
		    child_syscalls[i], 0)) < 0) {
			errno = -err;
			fatal("seccomp_rule_add");
		}
	if ((err = seccomp_load(ctx)) < 0) {
		errno = -err;
		fatal("seccomp_load");
	}
	seccomp_release(ctx);
}
