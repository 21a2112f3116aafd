// SPDX-License-Identifier: GPL-2.0
/*
 * The knobs and their grammar, as the module parses them: numbers are 1 to
 * 15 digits (krelay_parse_u32), addresses four dotted decimal octets with
 * any leading zeros (in4_pton), lists take no empty item and no item twice,
 * interface names are what dev_valid_name() takes once a trailing '+' is
 * cut off, and a knob file takes at most KR_IN_MAX bytes before its '\n'.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libkrelay.h"

static const char *const tcp_modes[] = { "user", "kernel", NULL };

const struct kr_knob kr_knobs[KR_NKNOBS] = {
	[KR_GPORT]			= { "gport", KR_INT, 1, 65535 },
	[KR_REAL_IP]			= { "real_ip", KR_IP },
	[KR_TCP_PORTS]			= { "tcp_ports", KR_PORTS, 1, 65535 },
	[KR_UDP_PORTS]			= { "udp_ports", KR_PORTS, 1, 65535 },
	[KR_MAX_ENTRIES]		= { "max_entries", KR_INT, 1, 4194304 },
	[KR_UDP_TIMEOUT]		= { "udp_timeout", KR_INT, 1, 86400 },
	[KR_UDP_STREAM_TIMEOUT]		= { "udp_stream_timeout", KR_INT, 1, 86400 },
	[KR_TCP_TIMEOUT_ESTABLISHED]	= { "tcp_timeout_established", KR_INT, 1, 864000 },
	[KR_TCP_TIMEOUT_CLOSE]		= { "tcp_timeout_close", KR_INT, 1, 864000 },
	[KR_INTERFACES]			= { "interfaces", KR_IFNAMES, .optional = true },
	[KR_MAX_PER_CLIENT]		= { "max_per_client", KR_INT, 0, 4194304,
					    .optional = true },
	[KR_CLIENT_CC]			= { "client_cc", KR_CC, .optional = true },
	[KR_SERVER_CC]			= { "server_cc", KR_CC, .optional = true },
	[KR_RELAY_MAX_PAIRS]		= { "relay_max_pairs", KR_INT, 1, 65536,
					    .optional = true },
	[KR_RELAY_MAX_PER_CLIENT]	= { "relay_max_per_client", KR_INT, 1, 65536,
					    .optional = true },
	[KR_RELAY_IDLE_TIMEOUT]		= { "relay_idle_timeout", KR_INT, 1, 864000,
					    .optional = true },
	[KR_RELAY_CONNECT_TIMEOUT]	= { "relay_connect_timeout", KR_INT, 1, 3600,
					    .optional = true },
	[KR_TCP_MODE]			= { "tcp_mode", KR_WORD, .words = tcp_modes,
					    .optional = true },
	[KR_START]			= { "start", KR_BOOL, 0, 1, .param = true },
};

int kr_knob_index(const char *name)
{
	int k;

	for (k = 0; k < KR_NKNOBS; k++)
		if (!strcmp(kr_knobs[k].name, name))
			return k;
	return -1;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The kernel's isspace(): its ctype also counts 0xa0 (Latin-1 NBSP). */
static bool k_isspace(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0;
}

/* krelay_parse_u32: 1 to 15 digits, nothing else. */
static int parse_num(const char *s, size_t len, unsigned long long *v)
{
	size_t i;

	if (len == 0 || len > 15)
		return -1;
	*v = 0;
	for (i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/* in4_pton(s, len, ..., -1, &end) with end at s + len. */
static int parse_ip(const char *s, size_t len, uint32_t *h)
{
	unsigned int v = 0, parts = 0;
	bool digits = false;
	size_t i;

	*h = 0;
	for (i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (!digits || parts == 4)
				return -1;
			*h = *h << 8 | v;
			parts++;
			v = 0;
			digits = false;
			if (i < len && parts == 4)
				return -1;
			continue;
		}
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
		if (v > 255)
			return -1;
		digits = true;
	}
	return parts == 4 ? 0 : -1;
}

/*
 * The next item of a comma-separated list at *p, blanks around it left
 * out: *item and *len, *p moved past it and its comma. Returns true when
 * another item follows.
 */
static bool list_item(const char **p, const char **item, size_t *len)
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

static int check_int(const struct kr_knob *kn, const char *in, char *out,
		     char *why)
{
	unsigned long long v;

	if (parse_num(in, strlen(in), &v) < 0 || v < (unsigned long)kn->min ||
	    v > (unsigned long)kn->max) {
		snprintf(why, KR_ERR_MAX, "must be an integer from %ld to %ld",
			 kn->min, kn->max);
		return -1;
	}
	snprintf(out, KR_VAL_MAX, "%llu", v);
	return 0;
}

static int check_ip(const char *in, char *out, char *why)
{
	struct in_addr a;
	uint32_t h;

	if (parse_ip(in, strlen(in), &h) < 0) {
		snprintf(why, KR_ERR_MAX, "not a dotted IPv4 address");
		return -1;
	}
	/* As the module: 0/8 is "this network", no host to relay to. */
	if ((h >> 24) == 0 || h == 0xffffffff || (h >> 28) == 0xe ||
	    (h >> 24) == 127) {
		snprintf(why, KR_ERR_MAX,
			 "must be a unicast address (not 0/8, broadcast, multicast or 127/8)");
		return -1;
	}
	a.s_addr = htonl(h);
	inet_ntop(AF_INET, &a, out, KR_VAL_MAX);
	return 0;
}

static int check_ports(const struct kr_knob *kn, const char *in, char *out,
		       char *why)
{
	unsigned long long port[KR_PORTS_MAX];
	const char *p = in, *item;
	int n = 0, i, off = 0;
	bool more;
	size_t len;

	do {
		more = list_item(&p, &item, &len);
		if (n == KR_PORTS_MAX || parse_num(item, len, &port[n]) < 0 ||
		    port[n] < (unsigned long)kn->min ||
		    port[n] > (unsigned long)kn->max) {
			snprintf(why, KR_ERR_MAX,
				 "must be a list of 1 to %d ports from %ld to %ld",
				 KR_PORTS_MAX, kn->min, kn->max);
			return -1;
		}
		for (i = 0; i < n; i++) {
			if (port[i] == port[n]) {
				snprintf(why, KR_ERR_MAX, "port %llu listed twice",
					 port[n]);
				return -1;
			}
		}
		n++;
	} while (more);
	for (i = 0; i < n; i++)
		off += snprintf(out + off, KR_VAL_MAX - off, "%s%llu",
				i ? "," : "", port[i]);
	return 0;
}

/* dev_valid_name() on the name without its wildcard '+'. */
static bool ifname_valid(const char *s, size_t len)
{
	size_t i, base = len;

	if (len == 0 || len > KR_IFNAME_MAX)
		return false;
	if (s[len - 1] == '+')
		base--;
	if (base == 0 || (base == 1 && s[0] == '.') ||
	    (base == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (i = 0; i < base; i++)
		if (s[i] == '/' || s[i] == ':' || k_isspace(s[i]))
			return false;
	return true;
}

/* Empty (every interface), or 1 to KR_IFNAMES_MAX names, none twice. */
static int check_ifnames(const char *in, char *out, char *why)
{
	const char *p = in, *name, *item[KR_IFNAMES_MAX];
	size_t len, ilen[KR_IFNAMES_MAX];
	int n = 0, i, off = 0;
	bool more;

	*out = '\0';
	if (*in == '\0')
		return 0;
	do {
		more = list_item(&p, &name, &len);
		if (n == KR_IFNAMES_MAX || !ifname_valid(name, len)) {
			snprintf(why, KR_ERR_MAX,
				 "must be empty (every interface) or 1 to %d comma-separated interface names (up to %d characters, no blank, / or :; a trailing + matches a prefix)",
				 KR_IFNAMES_MAX, KR_IFNAME_MAX);
			return -1;
		}
		for (i = 0; i < n; i++) {
			if (ilen[i] == len && !memcmp(item[i], name, len)) {
				snprintf(why, KR_ERR_MAX, "%.*s listed twice",
					 (int)len, name);
				return -1;
			}
		}
		item[n] = name;
		ilen[n++] = len;
	} while (more);
	for (i = 0; i < n; i++)
		off += snprintf(out + off, KR_VAL_MAX - off, "%s%.*s",
				i ? "," : "", (int)ilen[i], item[i]);
	return 0;
}

/*
 * Empty (the system's default) or a congestion control's name: 1 to
 * KR_CC_MAX letters, digits, '_' or '-'. Whether the kernel has or can
 * load it is the module's to say when the value is written.
 */
static int check_cc(const char *in, char *out, char *why)
{
	size_t i, len = strlen(in);

	for (i = 0; i < len; i++)
		if (!(in[i] >= 'a' && in[i] <= 'z') && !(in[i] >= 'A' && in[i] <= 'Z') &&
		    !is_digit(in[i]) && in[i] != '_' && in[i] != '-')
			break;
	if (len > KR_CC_MAX || i < len) {
		snprintf(why, KR_ERR_MAX,
			 "must be empty (the system's default) or a congestion control's name (up to %d letters, digits, _ or -)",
			 KR_CC_MAX);
		return -1;
	}
	strcpy(out, in);
	return 0;
}

/* One of the knob's words, exactly. */
static int check_word(const struct kr_knob *kn, const char *in, char *out,
		      char *why)
{
	size_t i, n = 0;

	for (i = 0; kn->words[i]; i++)
		if (!strcmp(in, kn->words[i])) {
			strcpy(out, in);
			return 0;
		}
	n = snprintf(why, KR_ERR_MAX, "must be");
	for (i = 0; kn->words[i] && n < KR_ERR_MAX; i++)
		n += snprintf(why + n, KR_ERR_MAX - n, "%s \"%s\"",
			      !i ? "" : kn->words[i + 1] ? "," : " or", kn->words[i]);
	return -1;
}

int kr_parse(int k, const char *in, char *out, char *why)
{
	const struct kr_knob *kn = &kr_knobs[k];

	if (strlen(in) > KR_IN_MAX) {
		snprintf(why, KR_ERR_MAX, "longer than %d characters", KR_IN_MAX);
		return -1;
	}
	switch (kn->type) {
	case KR_INT:
		return check_int(kn, in, out, why);
	case KR_IP:
		return check_ip(in, out, why);
	case KR_PORTS:
		return check_ports(kn, in, out, why);
	case KR_IFNAMES:
		return check_ifnames(in, out, why);
	case KR_CC:
		return check_cc(in, out, why);
	case KR_WORD:
		return check_word(kn, in, out, why);
	case KR_BOOL:
		if (strcmp(in, "0") && strcmp(in, "1")) {
			snprintf(why, KR_ERR_MAX, "must be 0 or 1");
			return -1;
		}
		strcpy(out, in);
		return 0;
	}
	return -1;
}

int kr_parse_long(int k, const char *in, long *v)
{
	char out[KR_VAL_MAX], why[KR_ERR_MAX];

	if ((kr_knobs[k].type != KR_INT && kr_knobs[k].type != KR_BOOL) ||
	    kr_parse(k, in, out, why) < 0)
		return -1;
	*v = strtol(out, NULL, 10);
	return 0;
}

bool kr_ports_contain(const char *list, long port)
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
