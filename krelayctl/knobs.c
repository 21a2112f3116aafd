// SPDX-License-Identifier: GPL-2.0
/*
 * The knobs: their grammar (as the module's, so that input is refused
 * before anything is written), get, set and the configuration file, which
 * is webadmin's (`name = value` lines, `#` comments) plus `start`.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "krelayctl.h"

#define PORTS_MAX	16
#define IFNAMES_MAX	8
#define IFNAME_MAX	15	/* IFNAMSIZ - 1 */

const struct knob knobs[] = {
	{ "gport",			KNOB_INT,	1, 65535, false, false },
	{ "real_ip",			KNOB_IP,	0, 0, false, false },
	{ "tcp_ports",			KNOB_PORTS,	1, 65535, false, false },
	{ "udp_ports",			KNOB_PORTS,	1, 65535, false, false },
	{ "max_entries",		KNOB_INT,	1, 4194304, false, false },
	{ "udp_timeout",		KNOB_INT,	1, 86400, false, false },
	{ "udp_stream_timeout",		KNOB_INT,	1, 86400, false, false },
	{ "tcp_timeout_established",	KNOB_INT,	1, 864000, false, false },
	{ "tcp_timeout_close",		KNOB_INT,	1, 864000, false, false },
	{ "interfaces",			KNOB_IFNAMES,	0, 0, false, true },
	{ "max_per_client",		KNOB_INT,	0, 4194304, false, true },
	{ "start",			KNOB_BOOL,	0, 1, true, false },
};

const int nknobs = sizeof(knobs) / sizeof(knobs[0]);

enum { K_GPORT = 0, K_TCP_PORTS = 2, K_START = 11 };

int knob_index(const char *name)
{
	int i;

	for (i = 0; i < nknobs; i++)
		if (!strcmp(knobs[i].name, name))
			return i;
	return -1;
}

static int parse_num(const char *s, size_t len, long *v)
{
	size_t i;

	if (len == 0 || len > 10)
		return -1;
	*v = 0;
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

static int check_int(const struct knob *k, const char *in, char *out,
		     char *err)
{
	long v;

	if (parse_num(in, strlen(in), &v) < 0 || v < k->min || v > k->max) {
		snprintf(err, ERR_MAX, "%s: \"%s\": must be an integer from %ld to %ld",
			 k->name, in, k->min, k->max);
		return -1;
	}
	snprintf(out, VAL_MAX, "%ld", v);
	return 0;
}

static int check_ip(const struct knob *k, const char *in, char *out,
		    char *err)
{
	struct in_addr a;
	uint32_t h;

	if (inet_pton(AF_INET, in, &a) != 1) {
		snprintf(err, ERR_MAX, "%s: \"%s\": not a dotted IPv4 address",
			 k->name, in);
		return -1;
	}
	h = ntohl(a.s_addr);
	if ((h >> 24) == 0 || h == 0xffffffff || (h >> 28) == 0xe ||
	    (h >> 24) == 127) {
		snprintf(err, ERR_MAX,
			 "%s: %s: must be a unicast address (not 0/8, broadcast, multicast or 127/8)",
			 k->name, in);
		return -1;
	}
	inet_ntop(AF_INET, &a, out, VAL_MAX);
	return 0;
}

/* Comma-separated items, blanks around each ignored. */
static int split_list(const char *in, int max, char item[][VAL_MAX], int *n)
{
	const char *p = in, *end;
	size_t len;

	*n = 0;
	for (;;) {
		while (*p == ' ')
			p++;
		end = p + strcspn(p, ",");
		len = end - p;
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (*n == max || len >= VAL_MAX)
			return -1;
		memcpy(item[*n], p, len);
		item[(*n)++][len] = '\0';
		if (*end != ',')
			return 0;
		p = end + 1;
	}
}

static int check_ports(const struct knob *k, const char *in, char *out,
		       char *err)
{
	char item[PORTS_MAX][VAL_MAX];
	long port[PORTS_MAX];
	int n, i, j, off = 0;

	if (split_list(in, PORTS_MAX, item, &n) < 0)
		goto bad;
	for (i = 0; i < n; i++) {
		if (parse_num(item[i], strlen(item[i]), &port[i]) < 0 ||
		    port[i] < 1 || port[i] > 65535)
			goto bad;
		for (j = 0; j < i; j++) {
			if (port[j] == port[i]) {
				snprintf(err, ERR_MAX, "%s: port %ld listed twice",
					 k->name, port[i]);
				return -1;
			}
		}
		off += snprintf(out + off, VAL_MAX - off, "%s%ld", i ? "," : "",
				port[i]);
	}
	return 0;
bad:
	snprintf(err, ERR_MAX,
		 "%s: \"%s\": must be a list of 1 to %d ports from 1 to 65535",
		 k->name, in, PORTS_MAX);
	return -1;
}

/* The kernel's dev_valid_name(), on the name without a trailing '+'. */
static bool ifname_valid(const char *s)
{
	char base[IFNAME_MAX + 1];
	size_t len = strlen(s);

	if (len && s[len - 1] == '+')
		len--;
	if (len == 0 || len > IFNAME_MAX)
		return false;
	memcpy(base, s, len);
	base[len] = '\0';
	if (!strcmp(base, ".") || !strcmp(base, ".."))
		return false;
	return strcspn(base, "/: \t\n\v\f\r") == len;
}

static int check_ifnames(const struct knob *k, const char *in, char *out,
			 char *err)
{
	char item[IFNAMES_MAX][VAL_MAX];
	int n, i, j, off = 0;

	*out = '\0';
	if (*in == '\0')
		return 0;	/* every interface */
	if (split_list(in, IFNAMES_MAX, item, &n) < 0)
		goto bad;
	for (i = 0; i < n; i++) {
		if (strlen(item[i]) > IFNAME_MAX || !ifname_valid(item[i]))
			goto bad;
		for (j = 0; j < i; j++) {
			if (!strcmp(item[j], item[i])) {
				snprintf(err, ERR_MAX, "%s: %s listed twice",
					 k->name, item[i]);
				return -1;
			}
		}
		off += snprintf(out + off, VAL_MAX - off, "%s%s", i ? "," : "",
				item[i]);
	}
	return 0;
bad:
	snprintf(err, ERR_MAX,
		 "%s: \"%s\": must be empty (all) or a list of 1 to %d interface names (a trailing + matches a prefix)",
		 k->name, in, IFNAMES_MAX);
	return -1;
}

static int check_bool(const struct knob *k, const char *in, char *out,
		      char *err)
{
	if (strcmp(in, "0") && strcmp(in, "1")) {
		snprintf(err, ERR_MAX, "%s: \"%s\": must be 0 or 1", k->name, in);
		return -1;
	}
	snprintf(out, VAL_MAX, "%s", in);
	return 0;
}

/* Check text input and canonicalise it into out. */
int knob_check(const struct knob *k, const char *in, char *out, char *err)
{
	switch (k->type) {
	case KNOB_INT:
		return check_int(k, in, out, err);
	case KNOB_IP:
		return check_ip(k, in, out, err);
	case KNOB_PORTS:
		return check_ports(k, in, out, err);
	case KNOB_IFNAMES:
		return check_ifnames(k, in, out, err);
	case KNOB_BOOL:
		return check_bool(k, in, out, err);
	}
	return -1;
}

json_t *knob_to_json(const struct knob *k, const char *val)
{
	const char *p;
	json_t *arr;
	char *end;
	long v;

	switch (k->type) {
	case KNOB_INT:
		v = strtol(val, &end, 10);
		return *val && !*end ? json_integer(v) : json_null();
	case KNOB_BOOL:
		return json_boolean(!strcmp(val, "1"));
	case KNOB_IP:
		return json_string(val);
	case KNOB_PORTS:
	case KNOB_IFNAMES:
		arr = json_array();
		for (p = val; arr && *p; p += *p == ',') {
			size_t len = strcspn(p, ",");

			if (k->type == KNOB_PORTS)
				json_array_append_new(arr,
						      json_integer(strtol(p, NULL, 10)));
			else
				json_array_append_new(arr,
						      json_stringn(p, len));
			p += len;
		}
		return arr;
	}
	return json_null();
}

int cmd_get(int argc, char *argv[])
{
	char val[VAL_MAX];
	json_t *obj = NULL;
	int i, k, err, ret = EXIT_OK, n = argc ? argc : nknobs;

	for (i = 0; i < argc; i++) {
		if (knob_index(argv[i]) < 0) {
			warnx("get: unknown knob \"%s\"", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (module_check() < 0)
		return EXIT_FAIL;
	if (json_out)
		obj = json_object();
	for (i = 0; i < n; i++) {
		k = argc ? knob_index(argv[i]) : i;
		/* Without names, what the configuration file holds. */
		if (!argc && knobs[k].type == KNOB_BOOL)
			continue;
		err = kread(&knobs[k], val, sizeof(val));
		if (err == -ENOENT && knobs[k].optional && !argc)
			continue;
		if (err < 0) {
			warnx("get %s: %s", knobs[k].name, strerror(-err));
			ret = EXIT_FAIL;
			continue;
		}
		if (obj)
			json_object_set_new(obj, knobs[k].name,
					    knob_to_json(&knobs[k], val));
		else
			printf("%s = %s\n", knobs[k].name, val);
	}
	if (obj)
		json_print(obj);
	return ret;
}

static bool ports_contain(const char *list, long port)
{
	const char *p = list;
	char *end;

	while (*p) {
		if (strtol(p, &end, 10) == port)
			return true;
		if (*end != ',')
			break;
		p = end + 1;
	}
	return false;
}

/*
 * Write a set of values: tcp_ports and gport in the order the kernel
 * accepts (it refuses a gport inside tcp_ports at every step), then the
 * rest, start last. A refused write undoes the ones before it, newest
 * first, so that nothing stays half applied. src names where values came
 * from in messages ("FILE" for FILE:LINE, or NULL).
 */
static int set_apply(const struct knob_set *s, const char *src)
{
	char old[16][VAL_MAX], err[2 * VAL_MAX + 64];
	int order[16], n = 0, i, j, k, e;
	bool gport_first = false;
	const char *gport, *tcp;

	/* The values in force afterwards must agree; read the old ones. */
	for (k = 0; k < nknobs; k++) {
		if (!s->set[k] && k != K_GPORT && k != K_TCP_PORTS)
			continue;
		e = kread(&knobs[k], old[k], sizeof(old[k]));
		if (e < 0 && s->set[k]) {
			if (src && s->line[k])
				fprintf(stderr, "%s:%d: ", src, s->line[k]);
			else
				fputs("krelayctl: ", stderr);
			fprintf(stderr, "%s: %s\n", knobs[k].name,
				e == -ENOENT && knobs[k].optional ?
				"not supported by this krelay module" :
				strerror(-e));
			return EXIT_FAIL;
		}
		if (e < 0)
			old[k][0] = '\0';
	}
	gport = s->set[K_GPORT] ? s->val[K_GPORT] : old[K_GPORT];
	tcp = s->set[K_TCP_PORTS] ? s->val[K_TCP_PORTS] : old[K_TCP_PORTS];
	if ((s->set[K_GPORT] || s->set[K_TCP_PORTS]) && *gport && *tcp &&
	    ports_contain(tcp, strtol(gport, NULL, 10))) {
		k = s->set[K_GPORT] ? K_GPORT : K_TCP_PORTS;
		snprintf(err, sizeof(err), "gport %s is one of tcp_ports (%s)",
			 gport, tcp);
		if (src && s->line[k])
			fprintf(stderr, "%s:%d: %s\n", src, s->line[k], err);
		else
			warnx("%s", err);
		return EXIT_USAGE;
	}

	if (s->set[K_TCP_PORTS])
		gport_first = ports_contain(s->val[K_TCP_PORTS],
					    strtol(old[K_GPORT], NULL, 10));
	order[n++] = gport_first ? K_GPORT : K_TCP_PORTS;
	order[n++] = gport_first ? K_TCP_PORTS : K_GPORT;
	for (k = 0; k < nknobs; k++)
		if (k != K_GPORT && k != K_TCP_PORTS)
			order[n++] = k;

	for (i = 0; i < n; i++) {
		k = order[i];
		if (!s->set[k])
			continue;
		e = kwrite_file(knobs[k].param ? param_dir : proc_dir,
				knobs[k].name, s->val[k]);
		if (e == 0)
			continue;
		if (src && s->line[k])
			fprintf(stderr, "%s:%d: %s = %s: refused: %s\n", src,
				s->line[k], knobs[k].name, s->val[k],
				strerror(-e));
		else
			warnx("%s = %s: refused: %s", knobs[k].name, s->val[k],
			      strerror(-e));
		for (j = i - 1; j >= 0; j--) {
			int r = order[j];

			if (!s->set[r])
				continue;
			e = kwrite_file(knobs[r].param ? param_dir : proc_dir,
					knobs[r].name, old[r]);
			if (e < 0)
				warnx("rollback %s = %s: %s", knobs[r].name,
				      old[r], strerror(-e));
		}
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

int cmd_set(int argc, char *argv[])
{
	struct knob_set s;
	char err[ERR_MAX], name[64], *eq;
	int i, k, ret = EXIT_OK;

	if (argc == 0) {
		warnx("set: expected KNOB=VALUE...");
		return EXIT_USAGE;
	}
	memset(&s, 0, sizeof(s));
	for (i = 0; i < argc; i++) {
		eq = strchr(argv[i], '=');
		if (!eq || (size_t)(eq - argv[i]) >= sizeof(name)) {
			warnx("set: \"%s\": expected KNOB=VALUE", argv[i]);
			ret = EXIT_USAGE;
			continue;
		}
		memcpy(name, argv[i], eq - argv[i]);
		name[eq - argv[i]] = '\0';
		k = knob_index(name);
		if (k < 0) {
			warnx("set: unknown knob \"%s\"", name);
			ret = EXIT_USAGE;
		} else if (knob_check(&knobs[k], eq + 1, s.val[k], err) < 0) {
			warnx("set: %s", err);
			ret = EXIT_USAGE;
		} else {
			s.set[k] = true;
		}
	}
	if (ret != EXIT_OK)
		return ret;
	if (module_check() < 0)
		return EXIT_FAIL;
	return set_apply(&s, NULL);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * The configuration file, as webadmin's conffile_load() reads it; every
 * line is checked and every error reported. EXIT_USAGE for a bad line,
 * EXIT_FAIL when the file cannot be read.
 */
static int conf_load(const char *path, struct knob_set *s)
{
	char *line = NULL, *name, *val, *eq, err[ERR_MAX];
	size_t cap = 0;
	int lineno = 0, k, ret = EXIT_OK;
	FILE *f;

	memset(s, 0, sizeof(*s));
	f = fopen(path, "re");
	if (!f) {
		warnx("%s: %s", path, strerror(errno));
		return EXIT_FAIL;
	}
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		name = trim(line);
		if (*name == '\0' || *name == '#')
			continue;
		eq = strchr(name, '=');
		if (!eq) {
			fprintf(stderr, "%s:%d: expected `name = value`\n", path,
				lineno);
			ret = EXIT_USAGE;
			continue;
		}
		*eq = '\0';
		name = trim(name);
		val = trim(eq + 1);
		k = knob_index(name);
		if (k < 0) {
			fprintf(stderr, "%s:%d: unknown setting \"%s\"\n", path,
				lineno, name);
			ret = EXIT_USAGE;
		} else if (knob_check(&knobs[k], val, s->val[k], err) < 0) {
			fprintf(stderr, "%s:%d: %s\n", path, lineno, err);
			ret = EXIT_USAGE;
		} else {
			s->set[k] = true;
			s->line[k] = lineno;
		}
	}
	free(line);
	fclose(f);
	return ret;
}

int cmd_apply(int argc, char *argv[])
{
	struct knob_set s;
	bool start = false;
	int ret;

	if (argc > 0 && !strcmp(argv[0], "-s")) {
		start = true;
		argc--;
		argv++;
	}
	if (argc != 1) {
		warnx("apply: expected [-s] FILE");
		return EXIT_USAGE;
	}
	ret = conf_load(argv[0], &s);
	if (ret != EXIT_OK) {
		warnx("%s: nothing applied", argv[0]);
		return ret;
	}
	if (start && !s.set[K_START]) {
		s.set[K_START] = true;
		strcpy(s.val[K_START], "1");
	}
	if (module_check() < 0)
		return EXIT_FAIL;
	return set_apply(&s, argv[0]);
}

int cmd_start(int on)
{
	int err;

	if (module_check() < 0)
		return EXIT_FAIL;
	err = kwrite_file(param_dir, "start", on ? "1" : "0");
	if (err < 0) {
		warnx("%s: %s/start: %s", on ? "start" : "stop", param_dir,
		      strerror(-err));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
