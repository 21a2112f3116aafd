// SPDX-License-Identifier: GPL-2.0
/*
 * The HTTP process's side of privsep.h: each call sends one request to the
 * privileged process and waits for its reply. MHD runs the handlers in one
 * thread, but the lock keeps a request and its reply together whatever the
 * threading. A broken channel (the privileged process gone) ends this
 * process: there is nothing left to serve.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "privsep.h"
#include "webadmin.h"

static int ps_sock = -1;
static pthread_mutex_t ps_lock = PTHREAD_MUTEX_INITIALIZER;	/* the channel */

void priv_client_init(int sock)
{
	ps_sock = sock;
}

static int read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	ssize_t got;

	while (n) {
		got = read(fd, p, n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		p += got;
		n -= got;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	ssize_t put;

	while (n) {
		put = write(fd, p, n);
		if (put < 0 && errno == EINTR)
			continue;
		if (put <= 0)
			return -1;
		p += put;
		n -= put;
	}
	return 0;
}

/*
 * Send a request, return the reply's payload (malloc'd, NUL-terminated
 * one byte past *len) when it has the request's type and min to max
 * bytes; else NULL (out of memory). A broken channel is fatal.
 */
static void *call(enum ps_type type, const void *req, size_t reqlen,
		  size_t min, size_t max, size_t *len)
{
	struct ps_hdr h = { .type = type, .len = reqlen };
	char *rep = NULL;

	pthread_mutex_lock(&ps_lock);
	if (write_full(ps_sock, &h, sizeof(h)) < 0 ||
	    write_full(ps_sock, req, reqlen) < 0 ||
	    read_full(ps_sock, &h, sizeof(h)) < 0)
		fatalx("lost the privileged process");
	if (h.type != type || h.len < min || h.len > max)
		fatalx("bad reply from the privileged process (type %u, %u bytes)",
		       h.type, h.len);
	rep = malloc((size_t)h.len + 1);
	if (!rep)
		fatalx("out of memory for a %u byte reply", h.len);
	if (read_full(ps_sock, rep, h.len) < 0)
		fatalx("lost the privileged process");
	pthread_mutex_unlock(&ps_lock);
	rep[h.len] = '\0';
	if (len)
		*len = h.len;
	return rep;
}

static int call_int(enum ps_type type, const void *req, size_t reqlen)
{
	struct ps_int *r;
	int v;

	r = call(type, req, reqlen, sizeof(*r), sizeof(*r), NULL);
	v = r->v;
	free(r);
	return v;
}

bool priv_loaded(void)
{
	return call_int(PS_LOADED, NULL, 0) == 1;
}

int priv_started(void)
{
	return call_int(PS_STARTED, NULL, 0);
}

/* The knobs' current values; a knob that cannot be read is null. */
json_t *priv_knobs(void)
{
	struct ps_knobs *r;
	json_t *obj;
	int k;

	r = call(PS_KNOBS, NULL, 0, sizeof(*r), sizeof(*r), NULL);
	obj = json_object();
	for (k = 0; obj && k < KR_NCONF; k++) {
		r->val[k][KR_VAL_MAX - 1] = '\0';
		if (r->err[k] < 0)
			log_debug("read %s: %s", kr_knobs[k].name,
				  strerror(-r->err[k]));
		json_object_set_new(obj, kr_knobs[k].name,
				    r->err[k] < 0 ? json_null() :
					kr_to_json(k, r->val[k]));
	}
	free(r);
	return obj;
}

/* The stats file as an object of integers, in the file's order. */
json_t *priv_stats(void)
{
	char *text, *line, *save = NULL, name[128];
	unsigned long long v;
	json_t *obj;

	text = call(PS_STATS, NULL, 0, 0, PS_STATS_MAX, NULL);
	obj = json_object();
	for (line = strtok_r(text, "\n", &save); obj && line;
	     line = strtok_r(NULL, "\n", &save))
		if (sscanf(line, "%127s %llu", name, &v) == 2)
			json_object_set_new(obj, name,
					    json_integer((json_int_t)v));
	free(text);
	return obj;
}

int priv_table(const struct krelay_table_filter *f, uint64_t cursor,
	       uint32_t max, struct kr_table *t)
{
	struct ps_table_req q = { .cursor = cursor, .max = max };
	struct ps_table *r;
	size_t len;
	int err;

	memset(t, 0, sizeof(*t));
	if (f)
		q.filter = *f;
	r = call(PS_TABLE, &q, sizeof(q), sizeof(*r), PS_REPLY_MAX, &len);
	err = r->err;
	if (!err && (r->stride < sizeof(struct krelay_entry) ||
		     (unsigned long long)r->returned * r->stride !=
			     len - sizeof(*r)))
		err = -EPROTO;
	if (err) {
		free(r);
		return err < 0 ? err : -EPROTO;
	}
	t->count = r->count;
	t->returned = r->returned;
	t->stride = r->stride;
	t->stop = r->stop;
	t->next = r->next;
	memmove(r, r + 1, len - sizeof(*r));
	t->recs = (unsigned char *)r;
	return 0;
}

void priv_relay_status(struct relay_status *st)
{
	struct ps_relay *r;

	r = call(PS_RELAY, NULL, 0, sizeof(*r), sizeof(*r), NULL);
	st->supervised = r->supervised;
	st->running = r->running;
	st->pid = r->pid;
	st->restarts = r->restarts;
	free(r);
}

/*
 * Check (against the current values), write and save s, all or nothing.
 * 0; -ENODEV when the module is not loaded; -EINVAL with *field, and err
 * set when the check refused (else krelay refused); -errno with *field
 * ("body" when the configuration file could not be saved: err says so).
 */
int priv_config(const struct kr_set *s, const char **field, char *err)
{
	struct ps_config req;
	struct ps_config_rep *r;
	int k, ret;

	memset(&req, 0, sizeof(req));
	for (k = 0; k < KR_NCONF; k++) {
		if (!s->set[k])
			continue;
		req.mask |= 1U << k;
		memcpy(req.val[k], s->val[k], KR_VAL_MAX);
	}
	r = call(PS_CONFIG, &req, sizeof(req), sizeof(*r), sizeof(*r), NULL);
	*field = r->field >= 0 && r->field < KR_NCONF ?
		 kr_knobs[r->field].name : "body";
	r->msg[KR_ERR_MAX - 1] = '\0';
	snprintf(err, KR_ERR_MAX, "%s", r->msg);
	ret = r->err;
	free(r);
	return ret;
}

int priv_start(bool on)
{
	struct ps_start req = { .on = on };

	return call_int(PS_START, &req, sizeof(req));
}

int priv_nat(int proto, uint32_t ip, unsigned int port)
{
	struct ps_nat req = { .proto = proto, .ip = ip, .port = port };

	return call_int(PS_NAT, &req, sizeof(req));
}
