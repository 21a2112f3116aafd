// SPDX-License-Identifier: GPL-2.0
/*
 * The dashboard's files from the www directory. MHD hands us the path
 * already percent-decoded, so `%2e%2e` arrives as `..`: segments starting
 * with a dot are refused outright, and the resolved path (realpath, so no
 * symlink leads out) must still lie under the www root.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "webadmin.h"

static const struct {
	const char *ext, *type;
} types[] = {
	{ ".html",	"text/html; charset=utf-8" },
	{ ".js",	"text/javascript; charset=utf-8" },
	{ ".css",	"text/css; charset=utf-8" },
	{ ".json",	"application/json" },
	{ ".png",	"image/png" },
	{ ".svg",	"image/svg+xml" },
	{ ".ico",	"image/x-icon" },
	{ ".txt",	"text/plain; charset=utf-8" },
};

static const char *content_type(const char *path)
{
	size_t len = strlen(path), i, n;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		n = strlen(types[i].ext);
		if (len > n && strcmp(path + len - n, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

/* No empty-named tricks: no "." or ".." segment, no hidden files. */
static bool path_ok(const char *url)
{
	const char *p;

	if (url[0] != '/' || strchr(url, '\\'))
		return false;
	for (p = url; (p = strchr(p, '/')); p++)
		if (p[1] == '.')
			return false;
	return true;
}

enum MHD_Result static_get(struct MHD_Connection *c, struct request *r,
			   const char *url)
{
	char path[PATH_MAX], real[PATH_MAX];
	size_t rootlen = strlen(wa.www_root);
	struct stat st;
	int fd, n;

	if (!path_ok(url))
		return reply_error(c, r, MHD_HTTP_NOT_FOUND, "not found");
	n = snprintf(path, sizeof(path), "%s%s%s", wa.www_root, url,
		     url[strlen(url) - 1] == '/' ? "index.html" : "");
	if (n < 0 || (size_t)n >= sizeof(path) || !realpath(path, real) ||
	    strncmp(real, wa.www_root, rootlen) != 0 || real[rootlen] != '/')
		return reply_error(c, r, MHD_HTTP_NOT_FOUND, "not found");
	fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return reply_error(c, r, MHD_HTTP_NOT_FOUND, "not found");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return reply_error(c, r, MHD_HTTP_NOT_FOUND, "not found");
	}
	return reply_fd(c, r, content_type(real), fd, st.st_size);
}
