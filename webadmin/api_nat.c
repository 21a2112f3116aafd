// SPDX-License-Identifier: GPL-2.0
/*
 * GET /api/nat (a page of the table from the TABLE_PAGE socket option,
 * filtered in the kernel)
 * and DELETE /api/nat (?all=1 flushes; ?proto=&client= removes one flow).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "privsep.h"
#include "webadmin.h"

#define NAT_LIMIT_DEFAULT	1000
#define NAT_LIMIT_MAX		KRELAY_TABLE_PAGE_MAX
#define NAT_NUM_MAX		4194304

static const char *proto_name(unsigned int proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?";
}

/* "ip:port" into buf (at least 22 bytes). */
static char *addr_str(const struct krelay_addr *a, char *buf, size_t size)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &a->ip, ip, sizeof(ip));
	snprintf(buf, size, "%s:%u", ip, ntohs(a->port));
	return buf;
}

static json_t *port_or_null(__be16 port)
{
	return port ? json_integer(ntohs(port)) : json_null();
}

static json_t *dir_pair(const __u64 v[KRELAY_DIR_MAX])
{
	return json_pack("{s:I, s:I}", "orig", (json_int_t)v[KRELAY_DIR_ORIG],
			 "reply", (json_int_t)v[KRELAY_DIR_REPLY]);
}

static json_t *entry_json(const struct krelay_entry *e)
{
	char client[32], relay[32], server[32];

	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:I, s:I, s:o, s:o}",
			 "proto", proto_name(e->proto),
			 "state", kr_state_name(e->state),
			 "client", addr_str(&e->client, client, sizeof(client)),
			 "relay", addr_str(&e->relay, relay, sizeof(relay)),
			 "server", e->server.ip ?
				 json_string(addr_str(&e->server, server,
						      sizeof(server))) :
				 json_null(),
			 "gport", port_or_null(e->gport),
			 "relay_port", port_or_null(e->relay_port),
			 "age_s", (json_int_t)e->age_s,
			 "idle_s", (json_int_t)e->idle_s,
			 "packets", dir_pair(e->packets),
			 "bytes", dir_pair(e->bytes));
}

/* A query number: absent (NULL) gives def; anything but 0..NAT_NUM_MAX is bad. */
int nat_parse_num(const char *s, long def, long *v)
{
	char *end;

	if (!s) {
		*v = def;
		return 0;
	}
	if (*s < '0' || *s > '9' || strlen(s) > 8)
		return -1;
	*v = strtol(s, &end, 10);
	return *end || *v > NAT_NUM_MAX ? -1 : 0;
}

static int query_num(struct MHD_Connection *c, const char *name, long def,
		     long *v)
{
	return nat_parse_num(MHD_lookup_connection_value(c,
				MHD_GET_ARGUMENT_KIND, name), def, v);
}

/* "ip" or "ip:port" (port 1-65535 when port_needed or given). */
int nat_parse_client(const char *s, bool port_needed, struct in_addr *ip,
		     unsigned int *port)
{
	char buf[INET_ADDRSTRLEN];
	const char *colon = strchr(s, ':');
	size_t len = colon ? (size_t)(colon - s) : strlen(s);
	char *end;
	long p;

	*port = 0;
	if (len >= sizeof(buf) || (!colon && port_needed))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, ip) != 1)
		return -1;
	if (!colon)
		return 0;
	if (colon[1] < '0' || colon[1] > '9')
		return -1;
	p = strtol(colon + 1, &end, 10);
	if (*end || p < 1 || p > 65535)
		return -1;
	*port = p;
	return 0;
}

/* NULL (any: 0), "tcp" or "udp". */
int nat_parse_proto(const char *s, int *proto)
{
	*proto = 0;
	if (!s)
		return 0;
	if (strcmp(s, "tcp") == 0)
		*proto = IPPROTO_TCP;
	else if (strcmp(s, "udp") == 0)
		*proto = IPPROTO_UDP;
	else
		return -1;
	return 0;
}

static int query_proto(struct MHD_Connection *c, int *proto)
{
	return nat_parse_proto(MHD_lookup_connection_value(c,
				MHD_GET_ARGUMENT_KIND, "proto"), proto);
}

/* NULL (the start: 0) or the hex cursor a page returned. */
int nat_parse_cursor(const char *s, uint64_t *cursor)
{
	size_t i, n;

	*cursor = 0;
	if (!s)
		return 0;
	n = strlen(s);
	if (n < 1 || n > 16)
		return -1;
	for (i = 0; i < n; i++) {
		int d = s[i] >= '0' && s[i] <= '9' ? s[i] - '0' :
			s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10 : -1;

		if (d < 0)
			return -1;
		*cursor = *cursor << 4 | (uint64_t)d;
	}
	return 0;
}

/* The client filter: "ip", "ip:port" or "ip/bits" (0-32). */
int nat_parse_client_filter(const char *s, struct krelay_table_filter *f)
{
	const char *slash = strchr(s, '/');
	char buf[INET_ADDRSTRLEN];
	struct in_addr ip;
	unsigned int port;
	size_t len;
	char *end;
	long bits = 32;

	if (slash) {
		len = slash - s;
		if (len >= sizeof(buf) || slash[1] < '0' || slash[1] > '9' ||
		    strlen(slash + 1) > 2)
			return -1;
		bits = strtol(slash + 1, &end, 10);
		if (*end || bits > 32)
			return -1;
		memcpy(buf, s, len);
		buf[len] = '\0';
		if (strchr(buf, ':') || inet_pton(AF_INET, buf, &ip) != 1)
			return -1;
		port = 0;
	} else if (nat_parse_client(s, false, &ip, &port) < 0) {
		return -1;
	}
	f->client_ip = ip.s_addr;
	f->client_port = htons(port);
	f->client_prefix = bits;
	return 0;
}

/* NULL (any: 0) or a state's name. */
int nat_parse_state(const char *s, unsigned int *state)
{
	*state = s ? kr_state_parse(s) : 0;
	return s && !*state ? -1 : 0;
}

static const char *query(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/*
 * Pages from the kernel until limit entries are in, the table ends or a
 * page stops for want of room; a page that stopped at the kernel's scan
 * bound (a filter that skips much) is followed by the next.
 */
enum MHD_Result api_nat_get(struct MHD_Connection *c, struct request *r,
			    const char *url)
{
	struct krelay_table_filter f = { 0 };
	struct kr_table t = { 0 };
	uint64_t cursor;
	long limit, have = 0;
	const char *client;
	json_t *entries, *res;
	unsigned int state;
	char next[20];
	int proto, err = 0;
	uint32_t i;

	if (query_num(c, "limit", NAT_LIMIT_DEFAULT, &limit) < 0 ||
	    limit < 1 || limit > NAT_LIMIT_MAX)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "limit",
					 "limit: must be a number from 1 to %d",
					 NAT_LIMIT_MAX);
	if (nat_parse_cursor(query(c, "cursor"), &cursor) < 0)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "cursor",
					 "cursor: must be the next value of an earlier page");
	if (query_proto(c, &proto) < 0)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "proto",
					 "proto: must be tcp or udp");
	if (nat_parse_state(query(c, "state"), &state) < 0)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "state",
					 "state: not a state name (as in the nat file)");
	client = query(c, "client");
	if (client && nat_parse_client_filter(client, &f) < 0)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "client",
					 "client: expected IP, IP:PORT or IP/BITS");
	if (!priv_loaded())
		return reply_module_not_loaded(c, r);

	f.proto = proto;
	f.state = state;
	entries = json_array();
	t.next = cursor;
	t.stop = KRELAY_TABLE_STOP_SCAN;
	while (entries && have < limit && t.next != KRELAY_TABLE_END &&
	       t.stop == KRELAY_TABLE_STOP_SCAN) {
		err = priv_table(&f, t.next, limit - have, &t);
		if (err < 0)
			break;
		for (i = 0; i < t.returned; i++)
			json_array_append_new(entries,
					      entry_json(kr_table_entry(&t, i)));
		have += t.returned;
		kr_table_free(&t);
	}
	if (err == -EINVAL) {
		json_decref(entries);
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "cursor",
					 "cursor: not a position in this table (module reloaded?)");
	}
	if (err < 0) {
		json_decref(entries);
		return reply_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "TABLE_PAGE socket option: %s", strerror(-err));
	}
	snprintf(next, sizeof(next), "%" PRIx64, t.next);
	res = json_pack("{s:I, s:o, s:o}", "count", (json_int_t)t.count,
			"next", t.next == KRELAY_TABLE_END ? json_null() :
				json_string(next),
			"entries", entries);
	if (!res)
		return reply_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "out of memory");
	return reply_json_steal(c, r, MHD_HTTP_OK, res);
}

enum MHD_Result api_nat_delete(struct MHD_Connection *c, struct request *r,
			       const char *url)
{
	const char *proto, *client, *all;
	char cmd[64], ip[INET_ADDRSTRLEN];
	struct in_addr cip;
	unsigned int cport;
	int err, p;

	if (query_proto(c, &p) < 0)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "proto",
					 "proto: must be tcp or udp");
	proto = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "proto");
	client = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
					     "client");
	all = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "all");
	if (all && (strcmp(all, "1") != 0 || proto || client))
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "all",
					 "all: must be 1, alone (flushes the table)");
	if (!all && !proto && !client)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "all",
					 "all=1 flushes the table; proto and client remove one flow");
	if (proto && !client)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "client",
					 "client: needed with proto");
	if (client && !proto)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "proto",
					 "proto: needed with client");
	if (client && nat_parse_client(client, true, &cip, &cport) < 0)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "client",
					 "client: expected IP:PORT");
	if (!priv_loaded())
		return reply_module_not_loaded(c, r);

	if (client) {
		inet_ntop(AF_INET, &cip, ip, sizeof(ip));
		snprintf(cmd, sizeof(cmd), "delete %s %s:%u", proto, ip, cport);
		err = priv_nat(p, cip.s_addr, cport);
	} else {
		snprintf(cmd, sizeof(cmd), "flush");
		err = priv_nat(0, 0, 0);
	}
	if (err == -ENODEV)
		return reply_module_not_loaded(c, r);
	if (err == -ENOENT || err == -ESRCH)
		return reply_error(c, r, MHD_HTTP_NOT_FOUND, "%s: no such flow",
				   cmd);
	if (err < 0)
		return reply_error(c, r, err == -EINVAL ? MHD_HTTP_BAD_REQUEST :
				   MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "%s: %s", cmd, strerror(-err));
	return reply_json_steal(c, r, MHD_HTTP_OK,
				json_pack("{s:s}", "done", cmd));
}
