// SPDX-License-Identifier: GPL-2.0
/*
 * GET /api/nat (the table from the TABLE socket option, filtered and paged)
 * and DELETE /api/nat (?all=1 flushes; ?proto=&client= removes one flow).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "privsep.h"
#include "webadmin.h"

#define NAT_LIMIT_DEFAULT	1000
#define NAT_NUM_MAX		4194304

static const char *const state_names[] = KRELAY_STATE_NAMES;

static const char *proto_name(unsigned int proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?";
}

static const char *state_name(unsigned int state)
{
	if (state < sizeof(state_names) / sizeof(state_names[0]) &&
	    state_names[state])
		return state_names[state];
	return "?";
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
			 "state", state_name(e->state),
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

enum MHD_Result api_nat_get(struct MHD_Connection *c, struct request *r,
			    const char *url)
{
	struct kr_table t;
	struct in_addr cip = { 0 };
	unsigned int cport = 0;
	long offset, limit, matched = 0;
	const char *client;
	json_t *entries, *res;
	int proto, err;
	uint32_t i;

	if (query_num(c, "offset", 0, &offset) < 0)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "offset",
					 "offset: must be a number from 0 to %d",
					 NAT_NUM_MAX);
	if (query_num(c, "limit", NAT_LIMIT_DEFAULT, &limit) < 0)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "limit",
					 "limit: must be a number from 0 to %d",
					 NAT_NUM_MAX);
	if (query_proto(c, &proto) < 0)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "proto",
					 "proto: must be tcp or udp");
	client = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
					     "client");
	if (client && nat_parse_client(client, false, &cip, &cport) < 0)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "client",
					 "client: expected IP or IP:PORT");
	if (!priv_loaded())
		return reply_module_not_loaded(c, r);

	err = priv_table(&t);
	if (err < 0)
		return reply_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "TABLE socket option: %s", strerror(-err));
	entries = json_array();
	for (i = 0; entries && i < t.returned; i++) {
		const struct krelay_entry *e = kr_table_entry(&t, i);

		if (proto && e->proto != proto)
			continue;
		if (client && (e->client.ip != cip.s_addr ||
			       (cport && ntohs(e->client.port) != cport)))
			continue;
		if (matched >= offset && matched - offset < limit)
			json_array_append_new(entries, entry_json(e));
		matched++;
	}
	kr_table_free(&t);
	res = json_pack("{s:I, s:I, s:o}", "count", (json_int_t)matched,
			"offset", (json_int_t)offset, "entries", entries);
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
