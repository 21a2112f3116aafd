// SPDX-License-Identifier: GPL-2.0
/*
 * HTTP Basic credentials: user admin, password from a 0600 file holding
 * `admin:PASSWORD`, made from /dev/urandom on first start. The file is read
 * as root before the HTTP process drops privileges; only the HTTP process
 * keeps the secret in memory.
 */
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

static char *secret;	/* "admin:PASSWORD", read-only once loaded */

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

int auth_load(const char *path)
{
	char buf[512];
	struct stat st;
	ssize_t n;
	int fd;

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
	buf[strcspn(buf, "\r\n")] = '\0';
	if (strncmp(buf, "admin:", 6) != 0 || buf[6] == '\0') {
		log_warnx("%s: expected one line admin:PASSWORD", path);
		return -1;
	}
	secret = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (!secret) {
		log_warn("%s", path);
		return -1;
	}
	log_info("credentials from %s", path);
	return 0;
}

void auth_free(void)
{
	if (secret)
		explicit_bzero(secret, strlen(secret));
	free(secret);
	secret = NULL;
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

bool auth_check(struct MHD_Connection *c)
{
	char *user, *pass = NULL, *given;
	bool ok = false;

	user = MHD_basic_auth_get_username_password(c, &pass);
	if (user && pass && asprintf(&given, "%s:%s", user, pass) >= 0) {
		ok = equal_ct(given, secret);
		explicit_bzero(given, strlen(given));
		free(given);
	}
	if (pass) {
		explicit_bzero(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user)
		MHD_free(user);
	return ok;
}
