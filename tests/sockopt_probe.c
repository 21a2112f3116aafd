/*
 * sockopt_probe: exercise krelay's socket options from user space, for
 * krelay_tcp_test.sh. Each command prints what the kernel answered:
 *
 *   table [N]          TABLE with room for N records: "count C returned R"
 *                      and one line per record
 *   table-len LEN      TABLE with a buffer of LEN bytes: errno name or "ok"
 *   walk N [PROTO STATE IP[/BITS] PORT]
 *                      TABLE_PAGE pages of N records from cursor 0 to the
 *                      end (filter fields 0: any): "proto client state" per
 *                      record, then "pages P full F scan S end E max M
 *                      count C" (why pages stopped, the biggest page)
 *   page-bad WHAT      TABLE_PAGE with one bad field (version, pad, prefix,
 *                      proto, cursor, out, len): errno name or "ok"
 *   origdst-len LEN    ORIGINAL_DST, with LEN bytes, on a loopback
 *                      connection krelay has no flow for
 *   client-len LEN     CLIENT with LEN bytes naming a flow that does not
 *                      exist, on a bound socket
 *   client-connected   CLIENT on a connected socket
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "krelay.h"

static const char *result(int rc)
{
	return rc == 0 ? "ok" : strerrorname_np(errno);
}

static const char *addr(const struct krelay_addr *a)
{
	static char buf[4][32];
	static int i;
	char ip[INET_ADDRSTRLEN];

	i = (i + 1) % 4;
	inet_ntop(AF_INET, &a->ip, ip, sizeof(ip));
	snprintf(buf[i], sizeof(buf[i]), "%s:%u", ip, ntohs(a->port));
	return buf[i];
}

static int tcp_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0) {
		perror("socket");
		exit(1);
	}
	return fd;
}

static int table(unsigned int n)
{
	size_t size = sizeof(struct krelay_table_hdr) + n * sizeof(struct krelay_entry);
	struct krelay_table_hdr *h = calloc(1, size);
	struct krelay_entry *e = (struct krelay_entry *)(h + 1);
	socklen_t len = size;
	int fd = tcp_socket();
	unsigned int i;

	if (getsockopt(fd, IPPROTO_IP, KRELAY_SO_TABLE, h, &len)) {
		printf("%s\n", result(-1));
		return 1;
	}
	printf("version %u count %u returned %u record %u len %u\n", h->version,
	       h->count, h->returned, h->record_size, (unsigned int)len);
	for (i = 0; i < h->returned; i++)
		printf("%s %u %s %s %s %u %u %llu\n",
		       e[i].proto == IPPROTO_TCP ? "tcp" : "udp", e[i].state,
		       addr(&e[i].client), addr(&e[i].relay), addr(&e[i].server),
		       ntohs(e[i].gport), ntohs(e[i].relay_port),
		       (unsigned long long)(e[i].packets[0] + e[i].packets[1]));
	free(h);
	return 0;
}

static int table_len(socklen_t len)
{
	char buf[4096];

	printf("%s\n", result(getsockopt(tcp_socket(), IPPROTO_IP,
					 KRELAY_SO_TABLE, buf, &len)));
	return 0;
}

static int page(struct krelay_table_query *q, unsigned int n,
		struct krelay_entry *e, socklen_t *len)
{
	unsigned char *buf = malloc(sizeof(*q) + n * sizeof(*e));
	int fd = tcp_socket(), rc;

	*len = sizeof(*q) + n * sizeof(*e);
	memcpy(buf, q, sizeof(*q));
	rc = getsockopt(fd, IPPROTO_IP, KRELAY_SO_TABLE_PAGE, buf, len);
	if (!rc) {
		memcpy(q, buf, sizeof(*q));
		memcpy(e, buf + sizeof(*q), q->returned * sizeof(*e));
	}
	close(fd);
	free(buf);
	return rc;
}

static int walk(unsigned int n, char **argv, int argc)
{
	static const char *const names[] = KRELAY_STATE_NAMES;
	struct krelay_table_query q = { .version = KRELAY_TABLE_VERSION };
	struct krelay_table_filter f = { 0 };
	struct krelay_entry *e = calloc(n, sizeof(*e));
	unsigned int stops[3] = { 0 }, pages = 0, max = 0, i;
	socklen_t len;

	if (argc >= 4) {
		char *slash = strchr(argv[2], '/');

		f.proto = atoi(argv[0]);
		f.state = atoi(argv[1]);
		f.client_prefix = 32;
		if (slash) {
			*slash = '\0';
			f.client_prefix = atoi(slash + 1);
		}
		f.client_ip = inet_addr(argv[2]);
		f.client_port = htons(atoi(argv[3]));
	}
	do {
		q.filter = f;
		q.record_size = q.count = q.returned = q.stop = 0;
		if (page(&q, n, e, &len)) {
			printf("%s\n", result(-1));
			return 1;
		}
		if (q.returned > n || q.stop > 2 ||
		    len != sizeof(q) + q.returned * sizeof(*e) ||
		    (q.stop == KRELAY_TABLE_STOP_END) != (q.cursor == KRELAY_TABLE_END)) {
			printf("bad page: returned %u stop %u len %u\n",
			       q.returned, q.stop, (unsigned int)len);
			return 1;
		}
		for (i = 0; i < q.returned; i++)
			printf("%s %s %s\n",
			       e[i].proto == IPPROTO_TCP ? "tcp" : "udp",
			       addr(&e[i].client), names[e[i].state]);
		stops[q.stop]++;
		max = q.returned > max ? q.returned : max;
		if (++pages > 1000000) {
			printf("no end\n");
			return 1;
		}
	} while (q.cursor != KRELAY_TABLE_END);
	printf("pages %u full %u scan %u end %u max %u count %u\n", pages,
	       stops[KRELAY_TABLE_STOP_FULL], stops[KRELAY_TABLE_STOP_SCAN],
	       stops[KRELAY_TABLE_STOP_END], max, q.count);
	free(e);
	return 0;
}

static int page_bad(const char *what)
{
	struct krelay_table_query q = { .version = KRELAY_TABLE_VERSION };
	struct krelay_entry e[4];
	unsigned int n = 4;
	socklen_t len;

	if (!strcmp(what, "version"))
		q.version = KRELAY_TABLE_VERSION + 1;
	else if (!strcmp(what, "pad"))
		q.filter.pad[1] = 1;
	else if (!strcmp(what, "prefix"))
		q.filter.client_prefix = 33;
	else if (!strcmp(what, "proto"))
		q.filter.proto = IPPROTO_ICMP;
	else if (!strcmp(what, "cursor"))
		q.cursor = 0xffffffffULL << 32;
	else if (!strcmp(what, "out"))
		q.returned = 1;
	else if (!strcmp(what, "len"))
		n = 0;
	printf("%s\n", result(page(&q, n, e, &len)));
	return 0;
}

static int origdst_len(socklen_t len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	int l = tcp_socket(), c = tcp_socket(), a;
	char buf[64];

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (struct sockaddr *)&sin, sizeof(sin)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sin, &slen) ||
	    connect(c, (struct sockaddr *)&sin, sizeof(sin)) ||
	    (a = accept(l, NULL, NULL)) < 0) {
		perror("loopback connection");
		return 1;
	}
	printf("%s\n", result(getsockopt(a, IPPROTO_IP, KRELAY_SO_ORIGINAL_DST,
					 buf, &len)));
	return 0;
}

static int client_len(socklen_t len, int connected)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct krelay_client cl;
	char buf[64] = { 0 };
	int fd = tcp_socket(), l;

	memset(&cl, 0, sizeof(cl));
	cl.client.ip = inet_addr("10.99.99.99");
	cl.client.port = htons(9);
	cl.relay.ip = inet_addr("10.99.99.98");
	cl.relay.port = htons(80);
	memcpy(buf, &cl, sizeof(cl));
	if (connected) {
		socklen_t slen = sizeof(sin);

		l = tcp_socket();
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(l, (struct sockaddr *)&sin, sizeof(sin)) ||
		    listen(l, 1) ||
		    getsockname(l, (struct sockaddr *)&sin, &slen) ||
		    connect(fd, (struct sockaddr *)&sin, sizeof(sin))) {
			perror("loopback connection");
			return 1;
		}
	} else if (bind(fd, (struct sockaddr *)&sin, sizeof(sin))) {
		perror("bind");
		return 1;
	}
	printf("%s\n", result(setsockopt(fd, IPPROTO_IP, KRELAY_SO_CLIENT, buf,
					 len)));
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	unsigned int n = argc > 2 ? strtoul(argv[2], NULL, 0) : 64;

	if (!strcmp(cmd, "table"))
		return table(n);
	if (!strcmp(cmd, "table-len"))
		return table_len(n);
	if (!strcmp(cmd, "walk"))
		return walk(n, argv + 3, argc - 3);
	if (!strcmp(cmd, "page-bad") && argc > 2)
		return page_bad(argv[2]);
	if (!strcmp(cmd, "origdst-len"))
		return origdst_len(n);
	if (!strcmp(cmd, "client-len"))
		return client_len(n, 0);
	if (!strcmp(cmd, "client-connected"))
		return client_len(sizeof(struct krelay_client), 1);
	fprintf(stderr, "usage: sockopt_probe table [N] | table-len LEN | "
		"walk N [PROTO STATE IP[/BITS] PORT] | page-bad WHAT | "
		"origdst-len LEN | client-len LEN | client-connected\n");
	return 2;
}
