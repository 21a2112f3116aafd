/*
 * Small helpers for the bench (bench/lab.sh), fast enough that they are
 * never what is measured:
 *
 *   benchtool echo ADDR PORT          answer every DNS query (QR set, no
 *                                     records) with recvmmsg/sendmmsg
 *   benchtool fill ADDR PORT N [BASE] send one datagram from each of N
 *                                     source ports (from BASE), N NAT entries
 *   benchtool hold ADDR PORT N SECS   open N TCP connections, hold them
 *                                     SECS seconds, print how many opened
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64

static int parse_addr(struct sockaddr_in *sa, const char *ip, const char *port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((unsigned short)atoi(port));
	return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -1;
}

static int do_echo(struct sockaddr_in *sa)
{
	static char buf[BATCH][512];
	struct mmsghdr msg[BATCH];
	struct sockaddr_in from[BATCH];
	struct iovec iov[BATCH];
	int fd, n, i, one = 1;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)sa, sizeof(*sa))) {
		perror("benchtool echo");
		return 1;
	}
	for (;;) {
		memset(msg, 0, sizeof(msg));
		for (i = 0; i < BATCH; i++) {
			iov[i].iov_base = buf[i];
			iov[i].iov_len = sizeof(buf[i]);
			msg[i].msg_hdr.msg_iov = &iov[i];
			msg[i].msg_hdr.msg_iovlen = 1;
			msg[i].msg_hdr.msg_name = &from[i];
			msg[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		n = recvmmsg(fd, msg, BATCH, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("recvmmsg");
			return 1;
		}
		for (i = 0; i < n; i++) {
			iov[i].iov_len = msg[i].msg_len;
			if (msg[i].msg_len >= 12) {
				buf[i][2] |= 0x80;	/* QR: a response */
				buf[i][3] &= 0xf0;	/* RCODE NOERROR */
			}
		}
		if (sendmmsg(fd, msg, n, 0) < 0)
			perror("sendmmsg");
	}
}

static int do_fill(struct sockaddr_in *sa, int count, int base)
{
	struct sockaddr_in me = { .sin_family = AF_INET };
	int i, fd, sent = 0;

	for (i = 0; i < count; i++) {
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (fd < 0)
			break;
		me.sin_port = htons((unsigned short)(base + i));
		if (bind(fd, (struct sockaddr *)&me, sizeof(me)) == 0 &&
		    sendto(fd, "fill", 4, 0, (struct sockaddr *)sa, sizeof(*sa)) == 4)
			sent++;
		close(fd);
	}
	printf("%d\n", sent);
	return sent == count ? 0 : 1;
}

static int do_hold(struct sockaddr_in *sa, int count, int secs)
{
	struct rlimit rl = { count + 64, count + 64 };
	int i, fd, open = 0;

	setrlimit(RLIMIT_NOFILE, &rl);
	for (i = 0; i < count; i++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			break;
		if (connect(fd, (struct sockaddr *)sa, sizeof(*sa)) == 0)
			open++;
		else
			close(fd);
	}
	printf("%d\n", open);
	fflush(stdout);
	sleep(secs);
	return open == count ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;

	if (argc < 4 || parse_addr(&sa, argv[2], argv[3])) {
		fprintf(stderr, "usage: benchtool echo|fill|hold ADDR PORT ...\n");
		return 2;
	}
	if (!strcmp(argv[1], "echo"))
		return do_echo(&sa);
	if (!strcmp(argv[1], "fill") && argc >= 5)
		return do_fill(&sa, atoi(argv[4]), argc > 5 ? atoi(argv[5]) : 20000);
	if (!strcmp(argv[1], "hold") && argc >= 6)
		return do_hold(&sa, atoi(argv[4]), atoi(argv[5]));
	fprintf(stderr, "benchtool: bad arguments\n");
	return 2;
}
