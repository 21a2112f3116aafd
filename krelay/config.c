// SPDX-License-Identifier: GPL-2.0
/*
 * The configuration knobs: values, grammar and atomic updates.
 */
#include <linux/ctype.h>
#include <linux/inet.h>
#include <linux/kernel.h>
#include <linux/netdevice.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/ip.h>

#include "krelay.h"
#include "table.h"

/* Serialises configuration writes, start/stop and module teardown. */
DEFINE_MUTEX(krelay_config_mutex);

struct krelay_config krelay_cfg = {
	.gport			= 16000,
	.real_ip		= cpu_to_be32(0xc0a8000a),	/* 192.168.0.10 */
	.max_entries		= 262144,
	.udp_timeout		= 30,
	.udp_stream_timeout	= 120,
	.tcp_timeout_established = 432000,
	.tcp_timeout_close	= 10,
	.relay_max_pairs	= 256,
	.relay_max_per_client	= 64,
	.relay_idle_timeout	= 300,
	.relay_connect_timeout	= 10,
};

const struct krelay_knob krelay_knobs[] = {
	{ "gport", KRELAY_KNOB_PORT, 1, 65535, &krelay_cfg.gport },
	{ "real_ip", KRELAY_KNOB_IPV4, 0, 0, &krelay_cfg.real_ip },
	{ "tcp_ports", KRELAY_KNOB_PORTS, 1, 65535, &krelay_cfg.tcp_ports },
	{ "udp_ports", KRELAY_KNOB_PORTS, 1, 65535, &krelay_cfg.udp_ports },
	{ "interfaces", KRELAY_KNOB_IFNAMES, 0, 0, &krelay_cfg.interfaces },
	{ "max_entries", KRELAY_KNOB_U32, 1, 4194304, &krelay_cfg.max_entries },
	{ "udp_timeout", KRELAY_KNOB_SECS, 1, 86400, &krelay_cfg.udp_timeout },
	{ "udp_stream_timeout", KRELAY_KNOB_SECS, 1, 86400,
	  &krelay_cfg.udp_stream_timeout },
	{ "tcp_timeout_established", KRELAY_KNOB_SECS, 1, 864000,
	  &krelay_cfg.tcp_timeout_established },
	{ "tcp_timeout_close", KRELAY_KNOB_SECS, 1, 864000,
	  &krelay_cfg.tcp_timeout_close },
	{ "max_per_client", KRELAY_KNOB_U32, 0, 4194304,
	  &krelay_cfg.max_per_client },
	{ "client_cc", KRELAY_KNOB_CC, 0, 0, &krelay_cfg.client_cc },
	{ "server_cc", KRELAY_KNOB_CC, 0, 0, &krelay_cfg.server_cc },
	{ "relay_max_pairs", KRELAY_KNOB_U32, 1, 65536,
	  &krelay_cfg.relay_max_pairs },
	{ "relay_max_per_client", KRELAY_KNOB_U32, 1, 65536,
	  &krelay_cfg.relay_max_per_client },
	{ "relay_idle_timeout", KRELAY_KNOB_U32, 1, 864000,
	  &krelay_cfg.relay_idle_timeout },
	{ "relay_connect_timeout", KRELAY_KNOB_U32, 1, 3600,
	  &krelay_cfg.relay_connect_timeout },
	{ "tcp_mode", KRELAY_KNOB_TCP_MODE, 0, 0, &krelay_cfg.tcp_mode },
};

static const char *const tcp_mode_names[] = {
	[KRELAY_TCP_USER]	= "user",
	[KRELAY_TCP_KERNEL]	= "kernel",
};

const unsigned int krelay_nr_knobs = ARRAY_SIZE(krelay_knobs);

static struct krelay_ports *ports_new(const u16 *port, unsigned int n)
{
	struct krelay_ports *p = kzalloc(sizeof(*p), GFP_KERNEL);

	if (!p)
		return NULL;
	memcpy(p->port, port, n * sizeof(*port));
	p->n = n;
	return p;
}

int krelay_config_init(void)
{
	static const u16 tcp[] = { 53, 80 }, udp[] = { 53 };
	struct krelay_ifnames *i;
	struct krelay_ports *t, *u;

	t = ports_new(tcp, ARRAY_SIZE(tcp));
	u = ports_new(udp, ARRAY_SIZE(udp));
	i = kzalloc(sizeof(*i), GFP_KERNEL);
	if (!t || !u || !i) {
		kfree(t);
		kfree(u);
		kfree(i);
		return -ENOMEM;
	}
	RCU_INIT_POINTER(krelay_cfg.tcp_ports, t);
	RCU_INIT_POINTER(krelay_cfg.udp_ports, u);
	RCU_INIT_POINTER(krelay_cfg.interfaces, i);
	return 0;
}

void krelay_config_exit(void)
{
	kfree(rcu_dereference_protected(krelay_cfg.tcp_ports, true));
	kfree(rcu_dereference_protected(krelay_cfg.udp_ports, true));
	kfree(rcu_dereference_protected(krelay_cfg.interfaces, true));
}

static bool ports_contain(const struct krelay_ports *p, u16 port)
{
	unsigned int i;

	for (i = 0; i < p->n; i++)
		if (p->port[i] == port)
			return true;
	return false;
}

/* Called under rcu_read_lock (the hooks run under it). */
bool krelay_port_relayed(u8 proto, __be16 port)
{
	const struct krelay_ports *p;

	if (proto == IPPROTO_TCP)
		p = rcu_dereference(krelay_cfg.tcp_ports);
	else
		p = rcu_dereference(krelay_cfg.udp_ports);
	return ports_contain(p, ntohs(port));
}

static bool ifname_match(const char *pattern, const char *name)
{
	size_t len = strnlen(pattern, IFNAMSIZ);

	if (len && pattern[len - 1] == '+')
		return !strncmp(pattern, name, len - 1);
	return !strncmp(pattern, name, IFNAMSIZ);
}

/*
 * May a flow start on a packet that came in on this interface? Called under
 * rcu_read_lock (the hooks run under it).
 */
bool krelay_in_scope(const struct net_device *in)
{
	const struct krelay_ifnames *s = rcu_dereference(krelay_cfg.interfaces);
	unsigned int i;

	if (!s->n)
		return true;
	if (!in)
		return false;
	for (i = 0; i < s->n; i++)
		if (ifname_match(s->name[i], in->name))
			return true;
	return false;
}

/*
 * Strip the single trailing newline a write may carry; anything else that
 * is not part of the value makes the write invalid.
 */
static size_t chomp(const char *buf, size_t len)
{
	if (len && buf[len - 1] == '\n')
		len--;
	return len;
}

/* A decimal number from min to max, digits only. */
int krelay_parse_u32(const char *buf, size_t len, u32 min, u32 max, u32 *out)
{
	char tmp[16];
	size_t i;
	int err;

	if (!len || len >= sizeof(tmp))
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (!isdigit(buf[i]))
			return -EINVAL;
	memcpy(tmp, buf, len);
	tmp[len] = '\0';
	err = kstrtou32(tmp, 10, out);
	if (err || *out < min || *out > max)
		return -EINVAL;
	return 0;
}

static int parse_ipv4(const char *buf, size_t len, __be32 *out)
{
	const char *end;
	u8 a[4];

	if (!len || !in4_pton(buf, len, a, -1, &end) || end != buf + len)
		return -EINVAL;
	memcpy(out, a, sizeof(*out));
	/* 0/8 is "this network": no host to relay to. */
	if ((*out & htonl(0xff000000)) == 0 || ipv4_is_lbcast(*out) ||
	    ipv4_is_multicast(*out) || ipv4_is_loopback(*out))
		return -EINVAL;
	return 0;
}

static int parse_ports(const char *buf, size_t len, u16 *port,
		       unsigned int *n)
{
	const char *p = buf, *end = buf + len, *comma;
	unsigned int i = 0, j;
	u32 v;

	while (p <= end) {
		comma = memchr(p, ',', end - p);
		if (!comma)
			comma = end;
		if (i == KRELAY_MAX_PORTS ||
		    krelay_parse_u32(p, comma - p, 1, 65535, &v))
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (port[j] == v)
				return -EINVAL;
		port[i++] = v;
		p = comma + 1;
	}
	*n = i;
	return 0;
}

/*
 * Interface names, comma separated, as dev_valid_name() allows them, each
 * optionally ending in '+'; nothing at all clears the scope.
 */
static int parse_ifnames(const char *buf, size_t len, struct krelay_ifnames *s)
{
	const char *p = buf, *end = buf + len, *comma;
	char base[IFNAMSIZ];
	unsigned int i = 0, j;
	size_t n;

	while (len && p <= end) {
		comma = memchr(p, ',', end - p);
		if (!comma)
			comma = end;
		n = comma - p;
		if (i == KRELAY_MAX_IFNAMES || !n || n >= IFNAMSIZ)
			return -EINVAL;
		memcpy(s->name[i], p, n);
		s->name[i][n] = '\0';
		/* The name without its wildcard must be a valid name. */
		strscpy(base, s->name[i], p[n - 1] == '+' ? n : n + 1);
		if (!dev_valid_name(base))
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (!strcmp(s->name[j], s->name[i]))
				return -EINVAL;
		i++;
		p = comma + 1;
	}
	s->n = i;
	return 0;
}

int krelay_knob_show(const struct krelay_knob *k, char *buf, size_t size)
{
	const struct krelay_ifnames *s;
	const struct krelay_ports *p;
	__be32 ip;
	int n = 0;
	unsigned int i;

	switch (k->type) {
	case KRELAY_KNOB_PORT:
		return scnprintf(buf, size, "%u\n", READ_ONCE(*(u16 *)k->val));
	case KRELAY_KNOB_U32:
	case KRELAY_KNOB_SECS:
		return scnprintf(buf, size, "%u\n", READ_ONCE(*(u32 *)k->val));
	case KRELAY_KNOB_IPV4:
		ip = READ_ONCE(*(__be32 *)k->val);
		return scnprintf(buf, size, "%pI4\n", &ip);
	case KRELAY_KNOB_PORTS:
		rcu_read_lock();
		p = rcu_dereference(*(struct krelay_ports __rcu **)k->val);
		for (i = 0; i < p->n; i++)
			n += scnprintf(buf + n, size - n, "%s%u", i ? "," : "",
				       p->port[i]);
		rcu_read_unlock();
		n += scnprintf(buf + n, size - n, "\n");
		return n;
	case KRELAY_KNOB_TCP_MODE:
		return scnprintf(buf, size, "%s\n",
				 tcp_mode_names[READ_ONCE(*(u32 *)k->val)]);
	case KRELAY_KNOB_CC:
		mutex_lock(&krelay_config_mutex);
		n = scnprintf(buf, size, "%s\n", (const char *)k->val);
		mutex_unlock(&krelay_config_mutex);
		return n;
	case KRELAY_KNOB_IFNAMES:
		rcu_read_lock();
		s = rcu_dereference(*(struct krelay_ifnames __rcu **)k->val);
		for (i = 0; i < s->n; i++)
			n += scnprintf(buf + n, size - n, "%s%s", i ? "," : "",
				       s->name[i]);
		rcu_read_unlock();
		n += scnprintf(buf + n, size - n, "\n");
		return n;
	}
	return -EINVAL;
}

static bool gport_clashes(u16 gport, const struct krelay_ports *tcp)
{
	return ports_contain(tcp, gport);
}

static const struct krelay_ports *tcp_ports_locked(void)
{
	return rcu_dereference_protected(krelay_cfg.tcp_ports,
					 lockdep_is_held(&krelay_config_mutex));
}

/*
 * A congestion control's name: "" (the system's default), or a name the
 * kernel lists as available or can load. The kernel's own socket option
 * decides, on a socket of our own: for a caller with CAP_NET_ADMIN it
 * loads tcp_NAME when no algorithm of that name is registered yet.
 */
static int parse_cc(const char *buf, size_t len, char *name)
{
	struct socket *sock;
	size_t i;
	int err;

	if (len >= TCP_CA_NAME_MAX)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (!(isascii(buf[i]) && isalnum(buf[i])) &&
		    buf[i] != '_' && buf[i] != '-')
			return -EINVAL;
	memcpy(name, buf, len);
	name[len] = '\0';
	if (!len)
		return 0;
	err = sock_create_kern(&init_net, PF_INET, SOCK_STREAM, IPPROTO_TCP,
			       &sock);
	if (err)
		return err;
	err = sock->ops->setsockopt(sock, SOL_TCP, TCP_CONGESTION,
				    KERNEL_SOCKPTR(name), len);
	sock_release(sock);
	/* Not a name the kernel has or can load: a bad value, as elsewhere. */
	return err == -ENOENT ? -EINVAL : err;
}

/*
 * Parse and, when valid, store a knob's new value. The old value stays in
 * force on any error.
 */
int krelay_knob_store(const struct krelay_knob *k, const char *buf, size_t len)
{
	struct krelay_ifnames *olds, *news;
	struct krelay_ports __rcu **pp;
	struct krelay_ports *old, *new;
	u16 port[KRELAY_MAX_PORTS];
	unsigned int n;
	__be32 ip;
	char cc[TCP_CA_NAME_MAX];
	u32 v;
	int err;

	len = chomp(buf, len);
	/* (before the mutex: the check may wait for modprobe) */
	if (k->type == KRELAY_KNOB_CC) {
		err = parse_cc(buf, len, cc);
		if (err)
			return err;
	}
	mutex_lock(&krelay_config_mutex);
	switch (k->type) {
	case KRELAY_KNOB_PORT:
		err = krelay_parse_u32(buf, len, k->min, k->max, &v);
		if (!err && gport_clashes(v, tcp_ports_locked()))
			err = -EINVAL;
		if (!err)
			WRITE_ONCE(*(u16 *)k->val, v);
		break;
	case KRELAY_KNOB_U32:
		err = krelay_parse_u32(buf, len, k->min, k->max, &v);
		if (err)
			break;
		/* A new limit grows the hash first (a failure keeps the old). */
		if (k->val == &krelay_cfg.max_entries &&
		    v != krelay_cfg.max_entries && krelay_table_fit(v))
			pr_warn("no memory to grow the hash for %u entries\n", v);
		WRITE_ONCE(*(u32 *)k->val, v);
		break;
	case KRELAY_KNOB_SECS:
		err = krelay_parse_u32(buf, len, k->min, k->max, &v);
		if (err || v == *(u32 *)k->val)
			break;
		WRITE_ONCE(*(u32 *)k->val, v);
		/* Flows expire by the new timeout from now on. */
		krelay_table_timeouts_changed();
		break;
	case KRELAY_KNOB_IPV4:
		err = parse_ipv4(buf, len, &ip);
		if (!err)
			WRITE_ONCE(*(__be32 *)k->val, ip);
		break;
	case KRELAY_KNOB_PORTS:
		err = parse_ports(buf, len, port, &n);
		if (err)
			break;
		new = ports_new(port, n);
		if (!new) {
			err = -ENOMEM;
			break;
		}
		if (k->val == &krelay_cfg.tcp_ports &&
		    gport_clashes(krelay_cfg.gport, new)) {
			kfree(new);
			err = -EINVAL;
			break;
		}
		pp = k->val;
		old = rcu_replace_pointer(*pp, new,
					  lockdep_is_held(&krelay_config_mutex));
		kfree_rcu(old, rcu);
		break;
	case KRELAY_KNOB_CC:
		strscpy(k->val, cc, TCP_CA_NAME_MAX);
		krelay_kmode_set_cc(k->val == krelay_cfg.server_cc, cc);
		err = 0;
		break;
	case KRELAY_KNOB_TCP_MODE:
		/*
		 * The kernel's listener opens before steering turns to it
		 * and closes after steering left it; pairs go on either way.
		 */
		err = -EINVAL;
		for (v = 0; v < ARRAY_SIZE(tcp_mode_names); v++)
			if (len == strlen(tcp_mode_names[v]) &&
			    !memcmp(buf, tcp_mode_names[v], len))
				break;
		if (v == ARRAY_SIZE(tcp_mode_names))
			break;
		err = v == KRELAY_TCP_KERNEL ? krelay_kmode_listen(true) : 0;
		if (err)
			break;
		WRITE_ONCE(*(u32 *)k->val, v);
		if (v == KRELAY_TCP_USER)
			krelay_kmode_listen(false);
		break;
	case KRELAY_KNOB_IFNAMES:
		news = kzalloc(sizeof(*news), GFP_KERNEL);
		if (!news) {
			err = -ENOMEM;
			break;
		}
		err = parse_ifnames(buf, len, news);
		if (err) {
			kfree(news);
			break;
		}
		olds = rcu_replace_pointer(krelay_cfg.interfaces, news,
					   lockdep_is_held(&krelay_config_mutex));
		kfree_rcu(olds, rcu);
		break;
	default:
		err = -EINVAL;
	}
	mutex_unlock(&krelay_config_mutex);
	return err;
}
