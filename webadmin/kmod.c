// SPDX-License-Identifier: GPL-2.0
/*
 * Everything webadmin knows about the kernel side: the files under the proc
 * directory, the module's parameters in sysfs, and the TABLE socket option.
 * The directories come from the environment (see main.c) so that tests can
 * exercise webadmin's own logic without the module.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "webadmin.h"

bool kmod_loaded(void)
{
	struct stat st;

	return stat(wa.module_dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static int kmod_path(char *path, size_t size, const char *dir,
		     const char *name)
{
	int n = snprintf(path, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Read a one-value file into buf without its trailing newline. */
int kmod_read(const char *dir, const char *name, char *buf, size_t size)
{
	char path[4096];
	ssize_t n;
	int fd, err;

	err = kmod_path(path, sizeof(path), dir, name);
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

/* Write "val\n" with one write(), as the kernel wants it. */
int kmod_write(const char *dir, const char *name, const char *val)
{
	char path[4096], line[256];
	ssize_t n;
	int fd, err, len;

	err = kmod_path(path, sizeof(path), dir, name);
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

/* 1 or 0, or -1 when the parameter cannot be read. */
int kmod_started(void)
{
	char buf[16];

	if (kmod_read(wa.param_dir, "start", buf, sizeof(buf)) < 0)
		return -1;
	return strcmp(buf, "1") == 0 || strcmp(buf, "Y") == 0;
}

/*
 * TABLE answers a header and as many records as fit; when the table grew
 * in between, ask again with room for the new count and some slack.
 */
int kmod_table(struct kmod_table *t)
{
	struct krelay_table_hdr hdr;
	size_t want = 256, size;
	unsigned char *buf = NULL, *nbuf;
	socklen_t len;
	int fd, tries, err = -EAGAIN;

	memset(t, 0, sizeof(*t));
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	for (tries = 0; tries < 5; tries++) {
		size = sizeof(hdr) + want * sizeof(struct krelay_entry);
		if (size > (size_t)INT32_MAX) {
			err = -E2BIG;
			break;
		}
		nbuf = realloc(buf, size);
		if (!nbuf) {
			err = -ENOMEM;
			break;
		}
		buf = nbuf;
		len = size;
		if (getsockopt(fd, IPPROTO_IP, KRELAY_SO_TABLE, buf, &len) < 0) {
			err = -errno;
			break;
		}
		if (len < sizeof(hdr)) {
			err = -EPROTO;
			break;
		}
		memcpy(&hdr, buf, sizeof(hdr));
		if (hdr.version != KRELAY_TABLE_VERSION ||
		    hdr.record_size < sizeof(struct krelay_entry) ||
		    (size_t)hdr.returned * hdr.record_size > len - sizeof(hdr)) {
			err = -EPROTO;
			break;
		}
		if (hdr.returned >= hdr.count) {
			t->count = hdr.count;
			t->returned = hdr.returned;
			t->stride = hdr.record_size;
			t->recs = buf;
			memmove(buf, buf + sizeof(hdr),
				(size_t)hdr.returned * hdr.record_size);
			close(fd);
			return 0;
		}
		want = ((size_t)hdr.count + hdr.count / 8 + 64) *
		       hdr.record_size / sizeof(struct krelay_entry) + 1;
	}
	close(fd);
	free(buf);
	return err;
}

void kmod_table_free(struct kmod_table *t)
{
	free(t->recs);
	t->recs = NULL;
}
