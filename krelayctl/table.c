// SPDX-License-Identifier: GPL-2.0
/*
 * The NAT table and the counters: list (from the nat file), stats, flush
 * and delete (the nat file's commands).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "krelayctl.h"

/* A NAT table line: proto state client relay server gport relay_port age_s idle_s packets bytes */
struct flow {
	char	proto[8], state[16], client[24], relay[24], server[24];
	char	gport[8], relay_port[8];
	unsigned long	age, idle;
	unsigned long long	packets, bytes;
};

/* An address filter: ip, and the port when one was given. */
struct addr_filter {
	bool		on;
	struct in_addr	ip;
	long		port;	/* -1: any */
};

struct list_filter {
	const char		*proto, *state;
	struct addr_filter	client, server;
	long			limit;	/* -1: all */
};

static int parse_port(const char *s, long *port)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*port = strtol(s, &end, 10);
	return *end || errno || *port < 1 || *port > 65535 ? -1 : 0;
}

/* ADDR or ADDR:PORT (port required when need_port). */
static int parse_addr(const char *s, struct in_addr *ip, long *port,
		      bool need_port)
{
	char buf[32], *colon;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	colon = strchr(buf, ':');
	*port = -1;
	if (colon) {
		*colon = '\0';
		if (parse_port(colon + 1, port) < 0)
			return -1;
	} else if (need_port) {
		return -1;
	}
	return inet_pton(AF_INET, buf, ip) == 1 ? 0 : -1;
}

static bool addr_match(const struct addr_filter *f, const char *addr)
{
	struct in_addr ip;
	long port;

	if (!f->on)
		return true;
	if (parse_addr(addr, &ip, &port, false) < 0)
		return false;
	return ip.s_addr == f->ip.s_addr && (f->port < 0 || f->port == port);
}

static bool flow_match(const struct list_filter *lf, const struct flow *f)
{
	return (!lf->proto || !strcmp(lf->proto, f->proto)) &&
	       (!lf->state || !strcmp(lf->state, f->state)) &&
	       addr_match(&lf->client, f->client) &&
	       addr_match(&lf->server, f->server);
}

static json_t *port_json(const char *s)
{
	return strcmp(s, "-") ? json_integer(strtol(s, NULL, 10)) : json_null();
}

static json_t *flow_json(const struct flow *f)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:I}",
			 "proto", f->proto, "state", f->state,
			 "client", f->client, "relay", f->relay,
			 "server", f->server, "gport", port_json(f->gport),
			 "relay_port", port_json(f->relay_port),
			 "age_s", (json_int_t)f->age,
			 "idle_s", (json_int_t)f->idle,
			 "packets", (json_int_t)f->packets,
			 "bytes", (json_int_t)f->bytes);
}

#define LIST_FMT "%-5s %-11s %-21s %-21s %-21s %5s %10s %7s %7s %10s %12s\n"

static int list_args(int argc, char *argv[], struct list_filter *lf)
{
	struct addr_filter *af;
	const char *key, *val;
	size_t i;

	memset(lf, 0, sizeof(*lf));
	lf->limit = -1;
	for (; argc > 0; argc -= 2, argv += 2) {
		key = argv[0];
		val = argc > 1 ? argv[1] : NULL;
		if (!val) {
			warnx("list: %s needs a value", key);
			return -1;
		}
		if (!strcmp(key, "proto")) {
			if (strcmp(val, "tcp") && strcmp(val, "udp")) {
				warnx("list: proto \"%s\": expected tcp or udp", val);
				return -1;
			}
			lf->proto = val;
		} else if (!strcmp(key, "state")) {
			i = kr_state_parse(val);
			if (!i) {
				char names[256] = "";

				for (i = 1; strcmp(kr_state_name(i), "?"); i++)
					snprintf(names + strlen(names),
						 sizeof(names) - strlen(names),
						 "%s%s", i > 1 ? ", " : "",
						 kr_state_name(i));
				warnx("list: state \"%s\": expected one of %s",
				      val, names);
				return -1;
			}
			lf->state = kr_state_name(i);
		} else if (!strcmp(key, "client") || !strcmp(key, "server")) {
			af = !strcmp(key, "client") ? &lf->client : &lf->server;
			if (parse_addr(val, &af->ip, &af->port, false) < 0) {
				warnx("list: %s \"%s\": expected IPV4_ADDRESS[:PORT]",
				      key, val);
				return -1;
			}
			af->on = true;
		} else if (!strcmp(key, "limit")) {
			char *end;

			errno = 0;
			lf->limit = strtol(val, &end, 10);
			if (*val < '0' || *val > '9' || *end || errno) {
				warnx("list: limit \"%s\": expected a number", val);
				return -1;
			}
		} else {
			warnx("list: unknown filter \"%s\" (proto, state, client, server, limit)",
			      key);
			return -1;
		}
	}
	return 0;
}

int cmd_list(int argc, char *argv[])
{
	char path[4096], *line = NULL;
	struct list_filter lf;
	json_t *arr = NULL;
	long matched = 0, shown = 0;
	struct flow f;
	size_t cap = 0;
	FILE *fp;

	if (list_args(argc, argv, &lf) < 0)
		return EXIT_USAGE;
	if (module_check() < 0)
		return EXIT_FAIL;
	snprintf(path, sizeof(path), "%s/nat", kr_proc_dir());
	fp = fopen(path, "re");
	if (!fp) {
		warnx("%s: %s", path, strerror(errno));
		return EXIT_FAIL;
	}
	if (json_out)
		arr = json_array();
	else
		printf(LIST_FMT, "proto", "state", "client", "relay", "server",
		       "gport", "relay_port", "age_s", "idle_s", "packets",
		       "bytes");
	while (getline(&line, &cap, fp) > 0) {
		if (sscanf(line, "%7s %15s %23s %23s %23s %7s %7s %lu %lu %llu %llu",
			   f.proto, f.state, f.client, f.relay, f.server,
			   f.gport, f.relay_port, &f.age, &f.idle, &f.packets,
			   &f.bytes) != 11)
			continue;	/* the header */
		if (!flow_match(&lf, &f))
			continue;
		matched++;
		if (lf.limit >= 0 && shown >= lf.limit)
			continue;
		shown++;
		if (arr) {
			json_array_append_new(arr, flow_json(&f));
		} else {
			char age[24], idle[24], pk[24], by[24];

			snprintf(age, sizeof(age), "%lu", f.age);
			snprintf(idle, sizeof(idle), "%lu", f.idle);
			snprintf(pk, sizeof(pk), "%llu", f.packets);
			snprintf(by, sizeof(by), "%llu", f.bytes);
			printf(LIST_FMT, f.proto, f.state, f.client, f.relay,
			       f.server, f.gport, f.relay_port, age, idle, pk,
			       by);
		}
	}
	free(line);
	fclose(fp);
	if (arr)
		json_print(json_pack("{s:I, s:o}", "count", (json_int_t)matched,
				     "entries", arr));
	return EXIT_OK;
}

int cmd_stats(int argc, char *argv[])
{
	char path[4096], *line = NULL, name[128];
	unsigned long long v;
	json_t *obj = NULL;
	size_t cap = 0;
	FILE *fp;

	if (module_check() < 0)
		return EXIT_FAIL;
	snprintf(path, sizeof(path), "%s/stats", kr_proc_dir());
	fp = fopen(path, "re");
	if (!fp) {
		warnx("%s: %s", path, strerror(errno));
		return EXIT_FAIL;
	}
	if (json_out)
		obj = json_object();
	while (getline(&line, &cap, fp) > 0) {
		if (sscanf(line, "%127s %llu", name, &v) != 2)
			continue;
		if (obj)
			json_object_set_new(obj, name, json_integer((json_int_t)v));
		else
			printf("%-24s %llu\n", name, v);
	}
	free(line);
	fclose(fp);
	if (obj)
		json_print(obj);
	return EXIT_OK;
}

int cmd_flush(int argc, char *argv[])
{
	int err;

	if (module_check() < 0)
		return EXIT_FAIL;
	err = kr_write_file(kr_proc_dir(), "nat", "flush");
	if (err < 0) {
		warnx("flush: %s/nat: %s", kr_proc_dir(), strerror(-err));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

int cmd_delete(int argc, char *argv[])
{
	char cmd[64];
	struct in_addr ip;
	long port;
	int err;

	if (argc != 2 || (strcmp(argv[0], "tcp") && strcmp(argv[0], "udp")) ||
	    parse_addr(argv[1], &ip, &port, true) < 0) {
		warnx("delete: expected tcp|udp CLIENT_ADDRESS:PORT");
		return EXIT_USAGE;
	}
	if (module_check() < 0)
		return EXIT_FAIL;
	snprintf(cmd, sizeof(cmd), "delete %s %s:%ld", argv[0], inet_ntoa(ip),
		 port);
	err = kr_write_file(kr_proc_dir(), "nat", cmd);
	if (err == -ENOENT) {
		warnx("delete %s %s: no such flow", argv[0], argv[1]);
		return EXIT_FAIL;
	}
	if (err < 0) {
		warnx("delete %s %s: %s/nat: %s", argv[0], argv[1], kr_proc_dir(),
		      strerror(-err));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
