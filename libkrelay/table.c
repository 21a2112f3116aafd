// SPDX-License-Identifier: GPL-2.0
/*
 * The NAT table a page at a time, through the TABLE_PAGE socket option:
 * the query (cursor and filter) goes in at the head of the buffer, and the
 * kernel writes it back with its output fields, followed by the records.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "libkrelay.h"

int kr_table_page(const struct krelay_table_filter *f, uint64_t cursor,
		  uint32_t max, struct kr_table *t)
{
	struct krelay_table_query q = {
		.version	= KRELAY_TABLE_VERSION,
		.cursor		= cursor,
	};
	unsigned char *buf;
	socklen_t len;
	size_t size;
	int fd, err;

	memset(t, 0, sizeof(*t));
	if (f)
		q.filter = *f;
	if (max < 1 || max > KRELAY_TABLE_PAGE_MAX)
		return -EINVAL;
	size = sizeof(q) + (size_t)max * sizeof(struct krelay_entry);
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, &q, sizeof(q));
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	len = size;
	err = getsockopt(fd, IPPROTO_IP, KRELAY_SO_TABLE_PAGE, buf, &len) ?
	      -errno : 0;
	close(fd);
	if (err)
		goto out;
	memcpy(&q, buf, sizeof(q));
	if (len < sizeof(q) || q.version != KRELAY_TABLE_VERSION ||
	    q.record_size < sizeof(struct krelay_entry) || q.returned > max ||
	    (size_t)q.returned * q.record_size != len - sizeof(q) ||
	    (q.cursor == cursor && q.returned == 0 &&
	     q.stop != KRELAY_TABLE_STOP_END)) {
		err = -EPROTO;
		goto out;
	}
	memmove(buf, buf + sizeof(q), (size_t)q.returned * q.record_size);
	t->count = q.count;
	t->returned = q.returned;
	t->stride = q.record_size;
	t->next = q.cursor;
	t->stop = q.stop;
	t->recs = buf;
	return 0;
out:
	free(buf);
	return err;
}

void kr_table_free(struct kr_table *t)
{
	free(t->recs);
	t->recs = NULL;
}

static const char *const state_names[] = KRELAY_STATE_NAMES;
#define NSTATES (sizeof(state_names) / sizeof(state_names[0]))

const char *kr_state_name(unsigned int state)
{
	return state < NSTATES && state_names[state] ? state_names[state] : "?";
}

unsigned int kr_state_parse(const char *s)
{
	unsigned int i;

	for (i = 1; i < NSTATES; i++)
		if (state_names[i] && !strcasecmp(s, state_names[i]))
			return i;
	return 0;
}
