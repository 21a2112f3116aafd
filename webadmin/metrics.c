// SPDX-License-Identifier: GPL-2.0
/*
 * GET /metrics in Prometheus' text exposition format 0.0.4. Counters come
 * from the stats file: `translated_<hook>_<proto>` lines become
 * krelay_packets_total{hook,proto}, `drop_<reason>` lines and the dropped
 * ICMP errors krelay_drops_total{reason}, the packets tracking ignored
 * krelay_ignored_total{reason}. Entries per protocol come from the stats
 * lines `entries_tcp` and `entries_udp` when the module has them, else from
 * counting the TABLE records.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "privsep.h"
#include "webadmin.h"

static void family(FILE *f, const char *name, const char *type,
		   const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values made of [a-z0-9_] only: nothing to escape. */
static bool label_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* krelay_NAME, a gauge from the stats line NAME (not a counter). */
static void stat_gauge(FILE *f, json_t *stats, const char *name,
		       const char *help)
{
	json_t *v = json_object_get(stats, name);
	char metric[64];

	snprintf(metric, sizeof(metric), "krelay_%s", name);
	family(f, metric, "gauge", help);
	if (json_is_integer(v))
		fprintf(f, "%s %" JSON_INTEGER_FORMAT "\n", metric,
			json_integer_value(v));
}

/* A counter of the stats file as krelay_NAME_total (once "_total"). */
static void stat_counter(FILE *f, json_t *stats, const char *name,
			 const char *help)
{
	json_t *v = json_object_get(stats, name);
	size_t len = strlen(name);
	char metric[64];

	snprintf(metric, sizeof(metric), "krelay_%s%s", name,
		 len > 6 && !strcmp(name + len - 6, "_total") ? "" : "_total");
	family(f, metric, "counter", help);
	if (json_is_integer(v))
		fprintf(f, "%s %" JSON_INTEGER_FORMAT "\n", metric,
			json_integer_value(v));
}

/* From the module's counters: never a walk of the table. */
static void nat_entries(FILE *f, json_t *stats)
{
	json_t *tcp = json_object_get(stats, "entries_tcp");
	json_t *udp = json_object_get(stats, "entries_udp");

	if (json_is_integer(tcp))
		fprintf(f, "krelay_nat_entries{proto=\"tcp\"} %" JSON_INTEGER_FORMAT "\n",
			json_integer_value(tcp));
	if (json_is_integer(udp))
		fprintf(f, "krelay_nat_entries{proto=\"udp\"} %" JSON_INTEGER_FORMAT "\n",
			json_integer_value(udp));
}

static void packets(FILE *f, json_t *stats)
{
	const char *key, *hook, *proto;
	json_t *v;

	json_object_foreach(stats, key, v) {
		if (strncmp(key, "translated_", 11) != 0)
			continue;
		hook = key + 11;
		proto = strchr(hook, '_');
		if (!proto || !label_ok(hook, proto - hook) ||
		    !label_ok(proto + 1, strlen(proto + 1)))
			continue;
		fprintf(f, "krelay_packets_total{hook=\"%.*s\",proto=\"%s\"} %"
			JSON_INTEGER_FORMAT "\n", (int)(proto - hook), hook,
			proto + 1, json_integer_value(v));
	}
}

/* Drop counters without the `drop_` prefix: the whole name is the reason. */
static const char *const drop_reasons[] = {
	"icmp_bad_checksum",	/* ICMP errors quoting a flow, bad checksum */
	"icmp_redirect",	/* ICMP redirects quoting a flow */
	"no_listener",		/* steered SYNs refused: no registered listener */
	NULL
};

/* Packets tracking ignored: they change no flow's state. */
static const char *const ignored_reasons[] = {
	"invalid",		/* TCP flags no stack sends together */
	"out_of_window",	/* a client RST or FIN the sequence check refused */
	"impostor",		/* a linked port used by a socket not tcp_relay's */
	NULL
};

static bool listed(const char *const *list, const char *key)
{
	for (; *list; list++)
		if (strcmp(*list, key) == 0)
			return true;
	return false;
}

static void drops(FILE *f, json_t *stats)
{
	const char *key, *reason;
	json_t *v;

	json_object_foreach(stats, key, v) {
		if (strncmp(key, "drop_", 5) == 0)
			reason = key + 5;
		else if (listed(drop_reasons, key))
			reason = key;
		else
			continue;
		if (!label_ok(reason, strlen(reason)))
			continue;
		fprintf(f, "krelay_drops_total{reason=\"%s\"} %"
			JSON_INTEGER_FORMAT "\n", reason,
			json_integer_value(v));
	}
}

static void ignored(FILE *f, json_t *stats)
{
	const char *key;
	json_t *v;

	json_object_foreach(stats, key, v) {
		if (!listed(ignored_reasons, key))
			continue;
		fprintf(f, "krelay_ignored_total{reason=\"%s\"} %"
			JSON_INTEGER_FORMAT "\n", key, json_integer_value(v));
	}
}

static void nat_limit(FILE *f)
{
	json_t *cfg = priv_knobs();
	json_t *max = json_object_get(cfg, "max_entries");

	if (json_is_integer(max))
		fprintf(f, "krelay_nat_entries_limit %" JSON_INTEGER_FORMAT "\n",
			json_integer_value(max));
	json_decref(cfg);
}

enum MHD_Result metrics_get(struct MHD_Connection *c, struct request *r,
			    const char *url)
{
	bool loaded = priv_loaded();
	struct relay_status rs;
	char *text = NULL;
	json_t *stats = NULL;
	size_t len = 0;
	FILE *f;

	priv_relay_status(&rs);
	f = open_memstream(&text, &len);
	if (!f)
		return reply_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "out of memory");
	if (loaded)
		stats = priv_stats();

	family(f, "krelay_module_loaded", "gauge",
	       "Whether the krelay module is loaded.");
	fprintf(f, "krelay_module_loaded %d\n", loaded);
	family(f, "krelay_started", "gauge",
	       "Whether krelay's hooks are registered (start=1).");
	fprintf(f, "krelay_started %d\n", loaded && priv_started() == 1);
	family(f, "krelay_nat_entries", "gauge",
	       "Flows in the NAT table, by protocol.");
	if (loaded)
		nat_entries(f, stats);
	family(f, "krelay_nat_entries_limit", "gauge",
	       "Most flows the NAT table holds (max_entries).");
	if (loaded)
		nat_limit(f);
	family(f, "krelay_packets_total", "counter",
	       "Packets krelay rewrote, by netfilter hook and protocol.");
	if (stats)
		packets(f, stats);
	family(f, "krelay_drops_total", "counter",
	       "Packets krelay dropped, by reason.");
	if (stats)
		drops(f, stats);
	family(f, "krelay_ignored_total", "counter",
	       "Packets krelay's tracking ignored, by reason (impostor ones also left untranslated).");
	if (stats)
		ignored(f, stats);
	family(f, "krelay_tcp_relay_up", "gauge",
	       "Whether a tcp_relay process is running.");
	fprintf(f, "krelay_tcp_relay_up %d\n", rs.running);
	stat_gauge(f, stats, "listener_port",
		   "The port of the listener steered SYNs go to (0: none registered, TCP clients refused).");
	stat_gauge(f, stats, "hash_buckets",
		   "Buckets of krelay's flow hash (it grows with max_entries).");
	stat_gauge(f, stats, "kernel_listener_port",
		   "The port of the kernel relay's listener (0: tcp_mode user, none).");
	stat_gauge(f, stats, "kernel_pairs",
		   "TCP pairs the kernel relay (tcp_mode kernel) relays now.");
	stat_counter(f, stats, "kernel_pairs_total",
		     "TCP pairs the kernel relay started.");
	stat_counter(f, stats, "kernel_refused",
		     "Connections the kernel relay refused (no flow, a limit, no memory).");
	stat_counter(f, stats, "kernel_bytes",
		     "Bytes the kernel relay moved, both ways together.");
	family(f, "krelay_tcp_relay_restarts_total", "counter",
	       "Times webadmin restarted tcp_relay after it died.");
	fprintf(f, "krelay_tcp_relay_restarts_total %u\n", rs.restarts);
	json_decref(stats);

	if (fclose(f) != 0 || !text) {
		free(text);
		return reply_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "out of memory");
	}
	return reply_text_steal(c, r, MHD_HTTP_OK,
				"text/plain; version=0.0.4; charset=utf-8",
				text, len);
}
