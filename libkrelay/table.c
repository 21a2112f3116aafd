// SPDX-License-Identifier: GPL-2.0
/*
 * The NAT table through the TABLE socket option: a header and as many
 * records as fit; when the table grew in between, ask again with room for
 * the new count and some slack.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "libkrelay.h"

int kr_table_read(struct kr_table *t)
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

void kr_table_free(struct kr_table *t)
{
	free(t->recs);
	t->recs = NULL;
}
