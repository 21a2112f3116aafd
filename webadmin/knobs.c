// SPDX-License-Identifier: GPL-2.0
/*
 * The krelay knobs (DESIGN.md, "krelay interface"): their grammar, reading
 * and writing them, and the optional configuration file that remembers
 * the values set through the API.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "webadmin.h"

#define PORTS_MAX	16
#define IFNAMES_MAX	8
#define IFNAME_MAX	15	/* IFNAMSIZ - 1, a trailing '+' included */

const struct knob knobs[NKNOBS] = {
	{ "gport",			KNOB_INT,	1, 65535 },
	{ "real_ip",			KNOB_IP,	0, 0 },
	{ "tcp_ports",			KNOB_PORTS,	1, 65535 },
	{ "udp_ports",			KNOB_PORTS,	1, 65535 },
	{ "max_entries",		KNOB_INT,	1, 4194304 },
	{ "udp_timeout",		KNOB_INT,	1, 86400 },
	{ "udp_stream_timeout",		KNOB_INT,	1, 86400 },
	{ "tcp_timeout_established",	KNOB_INT,	1, 864000 },
	{ "tcp_timeout_close",		KNOB_INT,	1, 864000 },
	{ "interfaces",			KNOB_IFNAMES,	0, 0 },
	{ "max_per_client",		KNOB_INT,	0, 4194304 },
};

enum { K_GPORT = 0, K_TCP_PORTS = 2 };

/*
 * Serialises writes to the knob files (API and config file) and protects
 * conf, the values the configuration file holds.
 */
static pthread_mutex_t knobs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct knob_set conf;

int knob_index(const char *name)
{
	int i;

	for (i = 0; i < NKNOBS; i++)
		if (strcmp(knobs[i].name, name) == 0)
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
		snprintf(err, KNOB_ERR_MAX, "%s: must be an integer from %ld to %ld",
			 k->name, k->min, k->max);
		return -1;
	}
	snprintf(out, KNOB_VAL_MAX, "%ld", v);
	return 0;
}

static int check_ip(const struct knob *k, const char *in, char *out,
		    char *err)
{
	struct in_addr a;
	uint32_t h;

	if (inet_pton(AF_INET, in, &a) != 1) {
		snprintf(err, KNOB_ERR_MAX, "%s: not a dotted IPv4 address",
			 k->name);
		return -1;
	}
	h = ntohl(a.s_addr);
	if (h == 0 || h == 0xffffffff || (h >> 28) == 0xe || (h >> 24) == 127) {
		snprintf(err, KNOB_ERR_MAX,
			 "%s: must be a unicast address (not 0.0.0.0, broadcast, multicast or 127/8)",
			 k->name);
		return -1;
	}
	inet_ntop(AF_INET, &a, out, KNOB_VAL_MAX);
	return 0;
}

/*
 * The next item of a comma-separated list at *p, blanks around it left
 * out: its length in *len, *p moved past it and its comma. Returns 1 when
 * another item follows.
 */
static int list_item(const char **p, const char **item, size_t *len)
{
	const char *s = *p, *end;

	while (*s == ' ')
		s++;
	end = s + strcspn(s, ",");
	*len = end - s;
	while (*len > 0 && s[*len - 1] == ' ')
		(*len)--;
	*item = s;
	*p = *end == ',' ? end + 1 : end;
	return *end == ',';
}

static int check_ports(const struct knob *k, const char *in, char *out,
		       char *err)
{
	long ports[PORTS_MAX];
	const char *p = in, *item;
	size_t len;
	int n = 0, i, j, off = 0, more;

	do {
		more = list_item(&p, &item, &len);
		if (n == PORTS_MAX) {
			snprintf(err, KNOB_ERR_MAX, "%s: at most %d ports",
				 k->name, PORTS_MAX);
			return -1;
		}
		if (parse_num(item, len, &ports[n]) < 0 || ports[n] < 1 ||
		    ports[n] > 65535) {
			snprintf(err, KNOB_ERR_MAX,
				 "%s: must be a list of 1 to %d ports from 1 to 65535",
				 k->name, PORTS_MAX);
			return -1;
		}
		for (j = 0; j < n; j++) {
			if (ports[j] == ports[n]) {
				snprintf(err, KNOB_ERR_MAX,
					 "%s: port %ld listed twice", k->name,
					 ports[n]);
				return -1;
			}
		}
		n++;
	} while (more);
	for (i = 0; i < n; i++)
		off += snprintf(out + off, KNOB_VAL_MAX - off, "%s%ld",
				i ? "," : "", ports[i]);
	return 0;
}

/*
 * One name as the kernel's dev_valid_name() takes it once a trailing '+'
 * (the wildcard) is cut off, and printable ASCII: the kernel also takes
 * other bytes, but such names have no place in a form, a log or the file.
 */
static bool ifname_valid(const char *s, size_t len)
{
	size_t i, base = len;

	if (len == 0 || len > IFNAME_MAX)
		return false;
	if (s[len - 1] == '+')
		base--;
	if (base == 0 || (base == 1 && s[0] == '.') ||
	    (base == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (i = 0; i < base; i++) {
		unsigned char c = s[i];

		if (c <= ' ' || c > '~' || c == '/' || c == ':')
			return false;
	}
	return true;
}

/*
 * Empty (every interface), or 1 to IFNAMES_MAX comma-separated names,
 * blanks around each ignored, none twice.
 */
static int check_ifnames(const struct knob *k, const char *in, char *out,
			 char *err)
{
	const char *p = in, *name, *item[IFNAMES_MAX];
	size_t len, ilen[IFNAMES_MAX];
	int n = 0, i, j, off = 0, more;

	*out = '\0';
	if (*in == '\0')
		return 0;
	do {
		more = list_item(&p, &name, &len);
		if (n == IFNAMES_MAX || !ifname_valid(name, len))
			goto bad;
		for (j = 0; j < n; j++) {
			if (ilen[j] == len && !memcmp(item[j], name, len)) {
				snprintf(err, KNOB_ERR_MAX,
					 "%s: %.*s listed twice", k->name,
					 (int)len, name);
				return -1;
			}
		}
		item[n] = name;
		ilen[n++] = len;
	} while (more);
	for (i = 0; i < n; i++)
		off += snprintf(out + off, KNOB_VAL_MAX - off, "%s%.*s",
				i ? "," : "", (int)ilen[i], item[i]);
	return 0;
bad:
	snprintf(err, KNOB_ERR_MAX,
		 "%s: must be empty (every interface) or 1 to %d comma-separated interface names (up to %d printable ASCII characters, no / or :; a trailing + matches a prefix)",
		 k->name, IFNAMES_MAX, IFNAME_MAX);
	return -1;
}

/* Check text input (config file) and canonicalise it into out. */
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
	}
	return -1;
}

/* Check JSON input (API) and canonicalise it into out. */
int knob_from_json(const struct knob *k, const json_t *v, char *out,
		   char *err)
{
	char buf[KNOB_VAL_MAX];
	size_t i, off = 0;
	json_t *e;

	switch (k->type) {
	case KNOB_INT:
		if (!json_is_integer(v) || json_integer_value(v) < k->min ||
		    json_integer_value(v) > k->max) {
			snprintf(err, KNOB_ERR_MAX,
				 "%s: must be an integer from %ld to %ld",
				 k->name, k->min, k->max);
			return -1;
		}
		snprintf(out, KNOB_VAL_MAX, "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		return 0;
	case KNOB_IP:
		if (!json_is_string(v)) {
			snprintf(err, KNOB_ERR_MAX,
				 "%s: must be a string holding an IPv4 address",
				 k->name);
			return -1;
		}
		return check_ip(k, json_string_value(v), out, err);
	case KNOB_PORTS:
		if (!json_is_array(v) || json_array_size(v) < 1 ||
		    json_array_size(v) > PORTS_MAX)
			goto bad_ports;
		json_array_foreach(v, i, e) {
			if (!json_is_integer(e) || json_integer_value(e) < 1 ||
			    json_integer_value(e) > 65535)
				goto bad_ports;
			off += snprintf(buf + off, sizeof(buf) - off,
					"%s%" JSON_INTEGER_FORMAT, i ? "," : "",
					json_integer_value(e));
		}
		return check_ports(k, buf, out, err);
	case KNOB_IFNAMES:
		if (!json_is_string(v)) {
			snprintf(err, KNOB_ERR_MAX,
				 "%s: must be a string (\"\" for every interface)",
				 k->name);
			return -1;
		}
		return check_ifnames(k, json_string_value(v), out, err);
	}
	return -1;
bad_ports:
	snprintf(err, KNOB_ERR_MAX,
		 "%s: must be an array of 1 to %d ports from 1 to 65535",
		 k->name, PORTS_MAX);
	return -1;
}

/* A knob file's text as JSON; null when it does not parse. */
json_t *knob_to_json(const struct knob *k, const char *val)
{
	json_t *arr, *str;
	const char *p;
	char *end;
	long v;

	switch (k->type) {
	case KNOB_INT:
		v = strtol(val, &end, 10);
		return *val && !*end ? json_integer(v) : json_null();
	case KNOB_IP:
	case KNOB_IFNAMES:
		str = json_string(val);	/* NULL when not UTF-8 */
		return str ? str : json_null();
	case KNOB_PORTS:
		arr = json_array();
		for (p = val; arr && *p; p = *end ? end + 1 : end) {
			v = strtol(p, &end, 10);
			if (end == p || (*end && *end != ',')) {
				json_decref(arr);
				return json_null();
			}
			json_array_append_new(arr, json_integer(v));
		}
		return arr;
	}
	return json_null();
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

/* gport must not be a relayed TCP port, with the new or current values. */
int knob_set_check(const struct knob_set *s, const char **field, char *err)
{
	char gport[KNOB_VAL_MAX], tcp[KNOB_VAL_MAX];

	if (!s->set[K_GPORT] && !s->set[K_TCP_PORTS])
		return 0;
	if (s->set[K_GPORT])
		snprintf(gport, sizeof(gport), "%s", s->val[K_GPORT]);
	else if (kmod_read(wa.proc_dir, "gport", gport, sizeof(gport)) < 0)
		return 0;	/* the kernel checks it too */
	if (s->set[K_TCP_PORTS])
		snprintf(tcp, sizeof(tcp), "%s", s->val[K_TCP_PORTS]);
	else if (kmod_read(wa.proc_dir, "tcp_ports", tcp, sizeof(tcp)) < 0)
		return 0;
	if (!ports_contain(tcp, strtol(gport, NULL, 10)))
		return 0;
	*field = s->set[K_GPORT] ? "gport" : "tcp_ports";
	snprintf(err, KNOB_ERR_MAX, "%s: gport %s is one of tcp_ports (%s)",
		 *field, gport, tcp);
	return -1;
}

/*
 * Write order: the kernel refuses a gport inside tcp_ports, so when the new
 * tcp_ports take in the current gport, gport moves away first; otherwise
 * tcp_ports go first (making room for a new gport among the old ports).
 */
static int apply_locked(const struct knob_set *s, struct knob_set *applied,
			const char **field)
{
	char cur[KNOB_VAL_MAX];
	int order[NKNOBS], n = 0, i, err;
	bool gport_first = false;

	if (s->set[K_TCP_PORTS] &&
	    kmod_read(wa.proc_dir, "gport", cur, sizeof(cur)) == 0)
		gport_first = ports_contain(s->val[K_TCP_PORTS],
					    strtol(cur, NULL, 10));
	order[n++] = gport_first ? K_GPORT : K_TCP_PORTS;
	order[n++] = gport_first ? K_TCP_PORTS : K_GPORT;
	for (i = 0; i < NKNOBS; i++)
		if (i != K_GPORT && i != K_TCP_PORTS)
			order[n++] = i;

	if (applied)
		memset(applied, 0, sizeof(*applied));
	for (i = 0; i < n; i++) {
		int k = order[i];

		if (!s->set[k])
			continue;
		err = kmod_write(wa.proc_dir, knobs[k].name, s->val[k]);
		if (err < 0) {
			*field = knobs[k].name;
			return err;
		}
		if (applied) {
			applied->set[k] = true;
			memcpy(applied->val[k], s->val[k], KNOB_VAL_MAX);
		}
	}
	return 0;
}

int knob_set_apply(const struct knob_set *s, struct knob_set *applied,
		   const char **field)
{
	int err;

	pthread_mutex_lock(&knobs_lock);
	err = apply_locked(s, applied, field);
	pthread_mutex_unlock(&knobs_lock);
	return err;
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

/* Read `name = value` lines; a missing file is an empty one. */
int conffile_load(const char *path)
{
	char *line = NULL, *name, *val, *eq, err[KNOB_ERR_MAX];
	const char *field;
	size_t cap = 0;
	int lineno = 0, k, ret = 0;
	FILE *f;

	memset(&conf, 0, sizeof(conf));
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		log_warn("%s", path);
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		name = trim(line);
		if (*name == '\0' || *name == '#')
			continue;
		eq = strchr(name, '=');
		if (!eq) {
			log_warnx("%s:%d: expected `name = value`", path, lineno);
			ret = -1;
			continue;
		}
		*eq = '\0';
		name = trim(name);
		val = trim(eq + 1);
		k = knob_index(name);
		if (k < 0) {
			log_warnx("%s:%d: unknown setting %s", path, lineno, name);
			ret = -1;
		} else if (knob_check(&knobs[k], val, conf.val[k], err) < 0) {
			log_warnx("%s:%d: %s", path, lineno, err);
			ret = -1;
		} else {
			conf.set[k] = true;
		}
	}
	free(line);
	fclose(f);
	if (ret == 0 && conf.set[K_GPORT] && conf.set[K_TCP_PORTS] &&
	    knob_set_check(&conf, &field, err) < 0) {
		log_warnx("%s: %s", path, err);
		ret = -1;
	}
	return ret;
}

/* Merge what was applied and replace the file atomically (temp + rename). */
int conffile_save(const struct knob_set *applied)
{
	char tmp[4096], dir[4096];
	int fd, i, ret = -1, dfd;
	FILE *f;

	if (!wa.config_file)
		return 0;
	pthread_mutex_lock(&knobs_lock);
	for (i = 0; i < NKNOBS; i++) {
		if (applied->set[i]) {
			conf.set[i] = true;
			memcpy(conf.val[i], applied->val[i], KNOB_VAL_MAX);
		}
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", wa.config_file) >=
	    sizeof(tmp))
		goto out;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		log_warn("save %s", wa.config_file);
		goto out;
	}
	f = fdopen(fd, "w");
	if (!f) {
		log_warn("save %s", wa.config_file);
		close(fd);
		unlink(tmp);
		goto out;
	}
	fprintf(f, "# krelay settings; webadmin rewrites this file when they change\n");
	for (i = 0; i < NKNOBS; i++)
		if (conf.set[i])	/* "interfaces =" when empty */
			fprintf(f, "%s =%s%s\n", knobs[i].name,
				conf.val[i][0] ? " " : "", conf.val[i]);
	if (fchmod(fd, 0644) < 0 || fflush(f) == EOF || fsync(fd) < 0) {
		log_warn("save %s", tmp);
		fclose(f);
		unlink(tmp);
		goto out;
	}
	if (fclose(f) == EOF || rename(tmp, wa.config_file) < 0) {
		log_warn("save %s", wa.config_file);
		unlink(tmp);
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s", wa.config_file);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	ret = 0;
out:
	pthread_mutex_unlock(&knobs_lock);
	return ret;
}

/* Put the configuration file's values into a (newly) loaded module. */
void conffile_apply(void)
{
	const char *field = NULL;
	int err, i, n = 0;

	pthread_mutex_lock(&knobs_lock);
	for (i = 0; i < NKNOBS; i++)
		n += conf.set[i];
	err = n ? apply_locked(&conf, NULL, &field) : 0;
	pthread_mutex_unlock(&knobs_lock);
	if (err < 0)
		log_warnx("apply %s: %s: %s", wa.config_file, field,
			  strerror(-err));
	else if (n)
		log_info("applied %d settings from %s", n, wa.config_file);
}
