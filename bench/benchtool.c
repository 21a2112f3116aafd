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
 *   benchtool flood ADDR PORT [-k syn|dns|udp] [-s A-B] [-p LO-HI]
 *                   [-r PPS] [-t SECS] [-n COUNT] [-o FIRST]
 *                                     spoofed packets (raw socket,
 *                                     IP_HDRINCL) at a fixed rate: TCP SYNs,
 *                                     DNS queries or 4-byte UDP datagrams.
 *                                     Packet i (from FIRST) comes from
 *                                     address A + i % naddr, port
 *                                     LO + i / naddr % nports: a new tuple
 *                                     each until the ranges wrap. Stops
 *                                     after SECS, COUNT packets or SIGTERM;
 *                                     prints "sent=N secs=S pps=P
 *                                     cpu_pct=C user_pct=U behind=B
 *                                     errors=E" (cpu_pct: user and system
 *                                     time, which holds the receiving
 *                                     side's softirq work done on the way
 *                                     out; user_pct: building packets)
 *   benchtool page - - N PAGES        krelay's TABLE_PAGE: up to PAGES
 *                                     pages of N records from the start,
 *                                     each timed; prints "pages=P
 *                                     records=R us_median=M us_max=X"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "krelay.h"

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

/* ---- flood */

enum flood_kind { FLOOD_SYN, FLOOD_DNS, FLOOD_UDP };

struct flood {
	enum flood_kind kind;
	uint32_t dst, src_lo, naddr;	/* host order */
	uint16_t dport, sport_lo;
	uint32_t nports;
	double rate, secs;
	uint64_t count, first;
};

static volatile sig_atomic_t flood_stop;

static void on_stop(int sig)
{
	flood_stop = 1;
}

static uint64_t rng_state = 88172645463325252ULL;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds of this process: user, or user and system. */
static double cpu_s(int with_sys)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (with_sys ?
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6 : 0);
}

/* The Internet checksum of len bytes, added to sum (not folded). */
static uint32_t csum_add(uint32_t sum, const unsigned char *p, size_t len)
{
	while (len > 1) {
		sum += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/*
 * Packet i of the flood into buf (an IPv4 header, checksums included);
 * returns its length.
 */
static size_t flood_packet(const struct flood *f, uint64_t i, unsigned char *buf)
{
	static const unsigned char qname[] = "\5flood\5bench\3lab";
	uint32_t src = f->src_lo + (uint32_t)(i % f->naddr);
	uint16_t sport = f->sport_lo + (uint16_t)(i / f->naddr % f->nports);
	unsigned char *l4 = buf + 20, *d;
	uint8_t proto;
	size_t l4len;
	uint32_t sum;

	if (f->kind == FLOOD_SYN) {
		proto = IPPROTO_TCP;
		l4len = 24;
		memset(l4, 0, l4len);
		put16(l4, sport);
		put16(l4 + 2, f->dport);
		put32(l4 + 4, rnd());		/* sequence number */
		l4[12] = 6 << 4;		/* data offset: 24 bytes */
		l4[13] = 0x02;			/* SYN */
		put16(l4 + 14, 64240);		/* window */
		l4[20] = 2;			/* MSS 1460 */
		l4[21] = 4;
		put16(l4 + 22, 1460);
	} else {
		proto = IPPROTO_UDP;
		d = l4 + 8;
		if (f->kind == FLOOD_DNS) {
			/* ID, RD, one question: flood.bench.lab A IN */
			put16(d, (uint16_t)rnd());
			put16(d + 2, 0x0100);
			put16(d + 4, 1);
			memset(d + 6, 0, 6);
			memcpy(d + 12, qname, sizeof(qname));	/* with its 0 */
			put16(d + 12 + sizeof(qname), 1);
			put16(d + 14 + sizeof(qname), 1);
			l4len = 8 + 16 + sizeof(qname);
		} else {
			memcpy(d, "fill", 4);
			l4len = 12;
		}
		put16(l4, sport);
		put16(l4 + 2, f->dport);
		put16(l4 + 4, (uint16_t)l4len);
		put16(l4 + 6, 0);
	}
	/* The pseudo-header, then the segment. */
	sum = (src >> 16) + (src & 0xffff) + (f->dst >> 16) + (f->dst & 0xffff) +
	      proto + (uint32_t)l4len;
	sum = csum_fold(csum_add(sum, l4, l4len));
	if (proto == IPPROTO_UDP && !sum)
		sum = 0xffff;
	put16(l4 + (proto == IPPROTO_TCP ? 16 : 6), (uint16_t)sum);

	buf[0] = 0x45;
	buf[1] = 0;
	put16(buf + 2, (uint16_t)(20 + l4len));
	put16(buf + 4, (uint16_t)rnd());
	put16(buf + 6, 0);
	buf[8] = 64;
	buf[9] = proto;
	put16(buf + 10, 0);
	put32(buf + 12, src);
	put32(buf + 16, f->dst);
	put16(buf + 10, csum_fold(csum_add(0, buf, 20)));
	return 20 + l4len;
}

static int parse_range(const char *s, uint32_t *lo, uint32_t *n, int addr)
{
	char a[64], *b;
	struct in_addr x, y;
	long l, h;

	if (strlen(s) >= sizeof(a))
		return -1;
	strcpy(a, s);
	b = strchr(a, '-');
	if (b)
		*b++ = 0;
	else
		b = a;
	if (addr) {
		if (inet_pton(AF_INET, a, &x) != 1 || inet_pton(AF_INET, b, &y) != 1)
			return -1;
		l = ntohl(x.s_addr);
		h = ntohl(y.s_addr);
	} else {
		l = atol(a);
		h = atol(b);
		if (l < 1 || h > 65535)
			return -1;
	}
	if (h < l)
		return -1;
	*lo = (uint32_t)l;
	*n = (uint32_t)(h - l + 1);
	return 0;
}

/*
 * Send at f->rate packets a second: wake at most about 500 times a
 * second and send what is due, in batches. A generator held up (the
 * guest's CPUs busy) catches up at most 20 ms worth; the rest is counted
 * as behind, not sent, so the rate stays the one asked for (with -n it
 * catches up everything: each tuple matters).
 */
static int do_flood(struct flood *f)
{
	static unsigned char pkt[BATCH][128];
	struct mmsghdr msg[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in to = { .sin_family = AF_INET };
	uint64_t sent = 0, behind = 0, errors = 0, i = f->first, due, cap, n, k;
	double t0, c0, u0, el, tick;
	struct timespec ts;
	int fd, r;

	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);	/* IP_HDRINCL implied */
	if (fd < 0) {
		perror("benchtool flood: raw socket");
		return 1;
	}
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	rng_state ^= (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	to.sin_addr.s_addr = htonl(f->dst);
	/* With a count, every tuple is sent: no catching up skipped. */
	cap = f->count ? UINT64_MAX / 4 : (uint64_t)(f->rate / 50) + BATCH;
	tick = f->rate > 500 ? 1.0 / 500 : 1.0 / f->rate;
	t0 = now_s();
	c0 = cpu_s(1);
	u0 = cpu_s(0);
	while (!flood_stop) {
		el = now_s() - t0;
		if (f->secs && el >= f->secs)
			break;
		if (f->count && sent + behind >= f->count)
			break;
		due = (uint64_t)(f->rate * el) + 1;
		if (f->count && due > f->count)
			due = f->count;
		if (due > sent + behind + cap)
			behind = due - sent - cap;
		n = due - sent - behind;
		while (n && !flood_stop) {
			k = n < BATCH ? n : BATCH;
			memset(msg, 0, sizeof(msg[0]) * k);
			for (r = 0; r < (int)k; r++) {
				iov[r].iov_base = pkt[r];
				iov[r].iov_len = flood_packet(f, i + (uint64_t)r, pkt[r]);
				msg[r].msg_hdr.msg_iov = &iov[r];
				msg[r].msg_hdr.msg_iovlen = 1;
				msg[r].msg_hdr.msg_name = &to;
				msg[r].msg_hdr.msg_namelen = sizeof(to);
			}
			r = sendmmsg(fd, msg, (unsigned int)k, 0);
			if (r < 0) {
				if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
					perror("benchtool flood: sendmmsg");
					return 1;
				}
				r = 0;
			}
			/* A packet refused (queue full) is not sent again. */
			if ((uint64_t)r < k) {
				errors += k - (uint64_t)r;
				r = (int)k;
			}
			sent += (uint64_t)r;
			i += (uint64_t)r;
			n -= (uint64_t)r;
		}
		/* Sleep until the next tick's packets are due. */
		el = (double)(sent + behind) / f->rate + tick;
		el = t0 + el - now_s();
		if (el > 0) {
			ts.tv_sec = (time_t)el;
			ts.tv_nsec = (long)((el - (double)ts.tv_sec) * 1e9);
			nanosleep(&ts, NULL);
		}
	}
	el = now_s() - t0;
	printf("sent=%llu secs=%.2f pps=%.0f cpu_pct=%.1f user_pct=%.1f "
	       "behind=%llu errors=%llu\n",
	       (unsigned long long)(sent - errors), el,
	       el > 0 ? (double)(sent - errors) / el : 0.0,
	       el > 0 ? 100 * (cpu_s(1) - c0) / el : 0.0,
	       el > 0 ? 100 * (cpu_s(0) - u0) / el : 0.0,
	       (unsigned long long)behind, (unsigned long long)errors);
	close(fd);
	return 0;
}

static int flood_main(int argc, char **argv, const struct sockaddr_in *sa)
{
	struct flood f = {
		.kind = FLOOD_SYN, .rate = 1000,
		.dst = ntohl(sa->sin_addr.s_addr), .dport = ntohs(sa->sin_port),
	};
	uint32_t lo, n;
	int c;

	parse_range("10.0.0.100-10.0.0.250", &f.src_lo, &f.naddr, 1);
	parse_range("1024-65535", &lo, &f.nports, 0);
	f.sport_lo = (uint16_t)lo;
	/* argv[0] is PORT: getopt starts after it. */
	while ((c = getopt(argc, argv, "k:s:p:r:t:n:o:")) != -1) {
		switch (c) {
		case 'k':
			if (!strcmp(optarg, "syn"))
				f.kind = FLOOD_SYN;
			else if (!strcmp(optarg, "dns"))
				f.kind = FLOOD_DNS;
			else if (!strcmp(optarg, "udp"))
				f.kind = FLOOD_UDP;
			else
				goto usage;
			break;
		case 's':
			if (parse_range(optarg, &f.src_lo, &f.naddr, 1))
				goto usage;
			break;
		case 'p':
			if (parse_range(optarg, &lo, &n, 0))
				goto usage;
			f.sport_lo = (uint16_t)lo;
			f.nports = n;
			break;
		case 'r':
			f.rate = atof(optarg);
			break;
		case 't':
			f.secs = atof(optarg);
			break;
		case 'n':
			f.count = strtoull(optarg, NULL, 10);
			break;
		case 'o':
			f.first = strtoull(optarg, NULL, 10);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || f.rate <= 0 || (!f.secs && !f.count))
		goto usage;
	return do_flood(&f);
usage:
	fprintf(stderr, "usage: benchtool flood ADDR PORT [-k syn|dns|udp] [-s A-B] "
		"[-p LO-HI] [-r PPS] (-t SECS | -n COUNT) [-o FIRST]\n");
	return 2;
}

/* ---- page */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int do_page(unsigned int n, unsigned int pages)
{
	struct krelay_table_query q = { .version = KRELAY_TABLE_VERSION };
	size_t size = sizeof(q) + (size_t)n * sizeof(struct krelay_entry);
	unsigned char *buf = malloc(size);
	double *us = calloc(pages ? pages : 1, sizeof(*us));
	unsigned long long records = 0;
	unsigned int p = 0;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (!buf || !us || fd < 0 || n < 1 || n > KRELAY_TABLE_PAGE_MAX)
		return 1;
	while (p < pages) {
		socklen_t len = size;
		double t0;

		q.record_size = q.count = q.returned = q.stop = 0;
		memcpy(buf, &q, sizeof(q));
		t0 = now_us();
		if (getsockopt(fd, IPPROTO_IP, KRELAY_SO_TABLE_PAGE, buf, &len)) {
			perror("TABLE_PAGE");
			return 1;
		}
		us[p++] = now_us() - t0;
		memcpy(&q, buf, sizeof(q));
		records += q.returned;
		if (q.cursor == KRELAY_TABLE_END)
			break;
	}
	qsort(us, p, sizeof(*us), cmp_double);
	printf("pages=%u records=%llu us_median=%.0f us_max=%.0f\n", p, records,
	       p ? us[p / 2] : 0, p ? us[p - 1] : 0);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;

	if (argc >= 6 && !strcmp(argv[1], "page"))
		return do_page(atoi(argv[4]), atoi(argv[5]));
	if (argc < 4 || parse_addr(&sa, argv[2], argv[3])) {
		fprintf(stderr, "usage: benchtool echo|fill|hold|flood|page ADDR PORT ...\n");
		return 2;
	}
	if (!strcmp(argv[1], "echo"))
		return do_echo(&sa);
	if (!strcmp(argv[1], "fill") && argc >= 5)
		return do_fill(&sa, atoi(argv[4]), argc > 5 ? atoi(argv[5]) : 20000);
	if (!strcmp(argv[1], "hold") && argc >= 6)
		return do_hold(&sa, atoi(argv[4]), atoi(argv[5]));
	if (!strcmp(argv[1], "flood"))
		return flood_main(argc - 3, argv + 3, &sa);
	fprintf(stderr, "benchtool: bad arguments\n");
	return 2;
}
