// SPDX-License-Identifier: GPL-2.0
/*
 * The configuration file (krelay.conf): `name = value` lines, blanks around
 * both ignored, `#` comments and empty lines. krelayctl applies it, webadmin
 * -c loads it and writes it back.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libkrelay.h"

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int kr_conf_load(const char *path, bool with_start, struct kr_set *s,
		 kr_conf_warn_fn *warn)
{
	char *line = NULL, *name, *val, *eq, why[KR_ERR_MAX];
	int lineno = 0, k, ret = 0;
	size_t cap = 0;
	FILE *f;

	memset(s, 0, sizeof(*s));
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		name = trim(line);
		if (*name == '\0' || *name == '#')
			continue;
		eq = strchr(name, '=');
		if (!eq) {
			warn(path, lineno, -1, NULL, "expected `name = value`");
			ret = -EINVAL;
			continue;
		}
		*eq = '\0';
		name = trim(name);
		val = trim(eq + 1);
		k = kr_knob_index(name);
		if (k < 0 || (k == KR_START && !with_start)) {
			snprintf(why, sizeof(why), "unknown setting \"%.200s\"",
				 name);
			warn(path, lineno, -1, NULL, why);
			ret = -EINVAL;
		} else if (kr_parse(k, val, s->val[k], why) < 0) {
			warn(path, lineno, k, val, why);
			ret = -EINVAL;
		} else {
			s->set[k] = true;
			s->line[k] = lineno;
		}
	}
	free(line);
	fclose(f);
	return ret;
}

/* Write and flush s to the open temporary file fd. */
static int conf_write(int fd, const struct kr_set *s)
{
	FILE *f = fdopen(fd, "w");
	int k, err;

	if (!f) {
		err = -errno;
		close(fd);
		return err;
	}
	fprintf(f, "# krelay settings; webadmin rewrites this file when they change\n");
	for (k = 0; k < KR_NKNOBS; k++)
		if (s->set[k])	/* "interfaces =" when empty */
			fprintf(f, "%s =%s%s\n", kr_knobs[k].name,
				s->val[k][0] ? " " : "", s->val[k]);
	if (fchmod(fd, 0644) < 0 || fflush(f) == EOF || fsync(fd) < 0) {
		err = -errno;
		fclose(f);
		return err;
	}
	return fclose(f) == EOF ? -errno : 0;
}

int kr_conf_save(const char *path, const struct kr_set *s)
{
	char tmp[4096], dir[4096];
	int fd, err;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >=
	    sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = conf_write(fd, s);
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}
