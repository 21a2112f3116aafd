// SPDX-License-Identifier: GPL-2.0
/*
 * HTTP Basic credentials from a 0600 file: a first line `admin:PASSWORD`
 * (made from /dev/urandom on first start) and, optionally, a line
 * `reader:PASSWORD` for a read-only user (the GET routes and /metrics,
 * what a Prometheus scraper needs; never a change). The file is read as
 * root before the HTTP process drops privileges; only the HTTP process
 * keeps the secrets in memory.
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

#include "log.h"
#include "webadmin.h"

#define PASSWORD_LEN	24

/* "admin:PASSWORD" and "reader:PASSWORD" (or NULL), once loaded */
static char *secrets[AUTH_ROLES];
static const char *const role_names[AUTH_ROLES] = {
	[AUTH_ADMIN] = "admin", [AUTH_READER] = "reader",
};

static int generate(const char *path)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	char dir[4096], line[PASSWORD_LEN + 8] = "admin:";
	unsigned char rnd[64];
	int fd, i, n = 0, len;
	ssize_t got;

	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_warn("/dev/urandom");
		return -1;
	}
	while (n < PASSWORD_LEN) {
		got = read(fd, rnd, sizeof(rnd));
		if (got <= 0) {
			log_warn("/dev/urandom");
			close(fd);
			return -1;
		}
		/* 248 = 4 * 62: no bias toward the first letters */
		for (i = 0; i < got && n < PASSWORD_LEN; i++)
			if (rnd[i] < 248)
				line[6 + n++] = alphabet[rnd[i] % 62];
	}
	close(fd);
	line[6 + n] = '\0';

	snprintf(dir, sizeof(dir), "%s", path);
	if (mkdir(dirname(dir), 0700) < 0 && errno != EEXIST) {
		log_warn("mkdir %s", dir);
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_warn("create %s", path);
		return -1;
	}
	len = strlen(line);
	line[len] = '\n';
	if (write(fd, line, len + 1) != len + 1 || fsync(fd) < 0) {
		log_warn("write %s", path);
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	explicit_bzero(line, sizeof(line));
	log_info("generated credentials for user admin in %s", path);
	return 0;
}

static int parse_secrets(const char *path, char *buf);

int auth_load(const char *path)
{
	char buf[1024];
	struct stat st;
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (generate(path) < 0)
			return -1;
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		log_warn("%s", path);
		return -1;
	}
	/* As sshd's StrictModes: a password others can read is no secret. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 077)) {
		log_warnx("%s: must be a regular file of uid %d with mode 0600 (it has uid %d, mode %03o)",
			  path, (int)geteuid(), (int)st.st_uid,
			  (unsigned int)(st.st_mode & 0777));
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		log_warn("%s", path);
		return -1;
	}
	buf[n] = '\0';
	rc = parse_secrets(path, buf);
	explicit_bzero(buf, sizeof(buf));
	if (rc == 0)
		log_info("credentials from %s%s", path,
			 secrets[AUTH_READER] ? " (admin and reader)" : "");
	return rc;
}

/* Lines admin:PASSWORD (first, needed) and reader:PASSWORD (optional). */
static int parse_secrets(const char *path, char *buf)
{
	char *line, *next, *colon;
	int role, lineno = 0;

	for (line = buf; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line[strcspn(line, "\r")] = '\0';
		lineno++;
		colon = strchr(line, ':');
		for (role = 0; colon && role < AUTH_ROLES; role++)
			if (strlen(role_names[role]) == (size_t)(colon - line) &&
			    strncmp(line, role_names[role], colon - line) == 0)
				break;
		if (!colon || colon[1] == '\0' || role == AUTH_ROLES ||
		    (lineno == 1) != (role == AUTH_ADMIN) || secrets[role]) {
			log_warnx("%s: line %d: expected admin:PASSWORD on the first line, then optionally reader:PASSWORD",
				  path, lineno);
			auth_free();
			return -1;
		}
		secrets[role] = strdup(line);
		if (!secrets[role]) {
			log_warn("%s", path);
			auth_free();
			return -1;
		}
	}
	if (!secrets[AUTH_ADMIN]) {
		log_warnx("%s: expected admin:PASSWORD on the first line", path);
		return -1;
	}
	return 0;
}

void auth_free(void)
{
	int role;

	for (role = 0; role < AUTH_ROLES; role++) {
		if (secrets[role])
			explicit_bzero(secrets[role], strlen(secrets[role]));
		free(secrets[role]);
		secrets[role] = NULL;
	}
}

const char *auth_role_name(enum auth_role role)
{
	return role < AUTH_ROLES ? role_names[role] : "-";
}

/*
 * Compare in time that depends only on the secret's length, never on where
 * the first difference is.
 */
static bool equal_ct(const char *given, const char *want)
{
	size_t glen = strlen(given), wlen = strlen(want), i;
	unsigned char diff = glen != wlen;

	for (i = 0; i < wlen; i++)
		diff |= (unsigned char)(want[i] ^ (glen ? given[i % glen] : 0));
	return diff == 0;
}

/*
 * The role the request's credentials give, or AUTH_NONE. Every secret is
 * compared, each in constant time, so the time taken tells nothing of
 * which one was near. Credentials given and refused are logged, with the
 * user name (printable bytes only) and the peer's address.
 */
enum auth_role auth_check(struct MHD_Connection *c, const char *peer)
{
	enum auth_role role = AUTH_NONE;
	char *user, *pass = NULL, *given, name[33];
	size_t i;
	int r;

	user = MHD_basic_auth_get_username_password(c, &pass);
	if (user && pass && asprintf(&given, "%s:%s", user, pass) >= 0) {
		for (r = 0; r < AUTH_ROLES; r++)
			if (secrets[r] && equal_ct(given, secrets[r]))
				role = r;
		explicit_bzero(given, strlen(given));
		free(given);
	}
	if (user && role == AUTH_NONE) {
		for (i = 0; user[i] && i < sizeof(name) - 1; i++)
			name[i] = isprint((unsigned char)user[i]) ? user[i] : '.';
		name[i] = '\0';
		log_warnx("failed login for user \"%s\" from %s", name, peer);
	}
	if (pass) {
		explicit_bzero(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user)
		MHD_free(user);
	return role;
}
