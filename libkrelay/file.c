// SPDX-License-Identifier: GPL-2.0
/*
 * The module's files: /proc/krelay/KNOB and the parameters in sysfs, read
 * and written one value at a time, and a set of values applied all or
 * nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libkrelay.h"

static const char *proc_dir = "/proc/krelay";
static const char *param_dir = "/sys/module/krelay/parameters";

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

void kr_dirs_from_env(void)
{
	kr_set_dirs(env_or("KRELAY_PROC_DIR", "/proc/krelay"),
		    env_or("KRELAY_PARAM_DIR", "/sys/module/krelay/parameters"));
}

void kr_set_dirs(const char *proc, const char *param)
{
	proc_dir = proc;
	param_dir = param;
}

const char *kr_proc_dir(void)
{
	return proc_dir;
}

const char *kr_param_dir(void)
{
	return param_dir;
}

bool kr_loaded(void)
{
	struct stat st;

	return stat(proc_dir, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *kr_version_mismatch(void)
{
	static char why[160];
	char v[32];

	/* /sys/module/krelay/version, beside the parameters */
	if (kr_read_file(param_dir, "../version", v, sizeof(v)) < 0 ||
	    !strcmp(v, KRELAY_VERSION))
		return NULL;
	snprintf(why, sizeof(why),
		 "the loaded krelay module is version %s, these programs %s: "
		 "reload krelay (systemctl restart krelay)", v, KRELAY_VERSION);
	return why;
}

static int path_of(char *path, size_t size, const char *dir, const char *name)
{
	int n = snprintf(path, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int kr_read_file(const char *dir, const char *name, char *buf, size_t size)
{
	char path[4096];
	ssize_t n;
	int fd, err;

	err = path_of(path, sizeof(path), dir, name);
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

int kr_stat(const char *name, unsigned long long *v)
{
	size_t len = strlen(name);
	char buf[16384], *p, *end;
	int err;

	err = kr_read_file(kr_proc_dir(), "stats", buf, sizeof(buf));
	if (err)
		return err;
	for (p = buf; *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, '\n');
		if (!strncmp(p, name, len) && p[len] == ' ')
			return sscanf(p + len + 1, "%llu", v) == 1 ? 0 : -EINVAL;
	}
	return -ENOENT;
}

int kr_write_file(const char *dir, const char *name, const char *val)
{
	char path[4096], line[256];
	ssize_t n;
	int fd, err, len;

	err = path_of(path, sizeof(path), dir, name);
	if (err)
		return err;
	len = snprintf(line, sizeof(line), "%s\n", val);
	if (len < 0 || (size_t)len >= sizeof(line))
		return -E2BIG;
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, line, len);
	err = n < 0 ? errno : EIO;
	if (close(fd) < 0 && n == len)
		return -errno;
	return n == len ? 0 : -err;
}

static const char *dir_of(int k)
{
	return kr_knobs[k].param ? param_dir : proc_dir;
}

int kr_read(int k, char *buf)
{
	int err = kr_read_file(dir_of(k), kr_knobs[k].name, buf, KR_VAL_MAX);

	/* A bool parameter of an older module reads as Y or N. */
	if (!err && kr_knobs[k].type == KR_BOOL)
		snprintf(buf, KR_VAL_MAX, "%d",
			 !strcmp(buf, "Y") || !strcmp(buf, "1"));
	return err;
}

int kr_read_long(int k, long *v)
{
	char buf[KR_VAL_MAX];
	int err = kr_read(k, buf);

	if (err)
		return err;
	return kr_parse_long(k, buf, v) < 0 ? -EINVAL : 0;
}

int kr_write(int k, const char *val)
{
	return kr_write_file(dir_of(k), kr_knobs[k].name, val);
}

int kr_set_check(const struct kr_set *s, int *bad, char *why)
{
	char gport[KR_VAL_MAX], tcp[KR_VAL_MAX];

	if (!s->set[KR_GPORT] && !s->set[KR_TCP_PORTS])
		return 0;
	if (s->set[KR_GPORT])
		snprintf(gport, sizeof(gport), "%s", s->val[KR_GPORT]);
	else if (kr_read(KR_GPORT, gport) < 0)
		return 0;
	if (s->set[KR_TCP_PORTS])
		snprintf(tcp, sizeof(tcp), "%s", s->val[KR_TCP_PORTS]);
	else if (kr_read(KR_TCP_PORTS, tcp) < 0)
		return 0;
	if (!kr_ports_contain(tcp, strtol(gport, NULL, 10)))
		return 0;
	*bad = s->set[KR_GPORT] ? KR_GPORT : KR_TCP_PORTS;
	snprintf(why, KR_ERR_MAX, "gport %s is one of tcp_ports (%s)", gport,
		 tcp);
	return -1;
}

/*
 * The module refuses a gport inside tcp_ports at every step: when the new
 * tcp_ports take in the current gport, gport moves away first; otherwise
 * tcp_ports go first (making room for a new gport among the old ports).
 * Then the rest, start last.
 */
static int write_order(const struct kr_set *s, const char *cur_gport,
		       int *order)
{
	bool gport_first = false;
	int n = 0, k;

	if (s->set[KR_TCP_PORTS] && *cur_gport)
		gport_first = kr_ports_contain(s->val[KR_TCP_PORTS],
					       strtol(cur_gport, NULL, 10));
	order[n++] = gport_first ? KR_GPORT : KR_TCP_PORTS;
	order[n++] = gport_first ? KR_TCP_PORTS : KR_GPORT;
	for (k = 0; k < KR_NKNOBS; k++)
		if (k != KR_GPORT && k != KR_TCP_PORTS)
			order[n++] = k;
	return n;
}

int kr_apply(const struct kr_set *s, struct kr_set *old, struct kr_fail *f)
{
	char cur_gport[KR_VAL_MAX] = "";
	int order[KR_NKNOBS], n, i, j, k, err;
	struct kr_set before;

	if (!old)
		old = &before;
	memset(old, 0, sizeof(*old));
	f->knob = -1;
	f->unrestored = 0;
	for (k = 0; k < KR_NKNOBS; k++) {
		if (!s->set[k])
			continue;
		err = kr_read(k, old->val[k]);
		if (err < 0) {
			f->knob = k;
			return err;
		}
		old->set[k] = true;
	}
	if (s->set[KR_TCP_PORTS] && kr_read(KR_GPORT, cur_gport) < 0)
		cur_gport[0] = '\0';

	n = write_order(s, cur_gport, order);
	for (i = 0; i < n; i++) {
		k = order[i];
		if (!s->set[k])
			continue;
		err = kr_write(k, s->val[k]);
		if (!err)
			continue;
		f->knob = k;
		for (j = i - 1; j >= 0; j--)
			if (s->set[order[j]] &&
			    kr_write(order[j], old->val[order[j]]) < 0)
				f->unrestored |= 1U << order[j];
		return err;
	}
	return 0;
}

const char *kr_refusal(int k, int err)
{
	if (k < 0 || k >= KR_NKNOBS)
		return strerror(-err);
	if (err == -EINVAL && kr_knobs[k].type == KR_CC)
		return "the kernel has no congestion control of that name and cannot load one (tcp_NAME)";
	if (err == -EINVAL)
		return "rejected by krelay";
	return strerror(-err);
}
