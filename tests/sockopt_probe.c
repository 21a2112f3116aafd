/*
 * sockopt_probe: exercise krelay's socket options from user space, for
 * krelay_tcp_test.sh. Each command prints what the kernel answered:
 *
 *   table [N]          TABLE with room for N records: "count C returned R"
 *                      and one line per record
 *   table-len LEN      TABLE with a buffer of LEN bytes: errno name or "ok"
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
	if (!strcmp(cmd, "origdst-len"))
		return origdst_len(n);
	if (!strcmp(cmd, "client-len"))
		return client_len(n, 0);
	if (!strcmp(cmd, "client-connected"))
		return client_len(sizeof(struct krelay_client), 1);
	fprintf(stderr, "usage: sockopt_probe table [N] | table-len LEN | "
		"origdst-len LEN | client-len LEN | client-connected\n");
	return 2;
}
