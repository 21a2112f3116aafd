// SPDX-License-Identifier: GPL-2.0
/*
 * GET and PUT /api/config. PUT takes any subset of the knobs and checks
 * every field before it writes any, and is all or nothing: when krelay
 * refuses a value midway, or the -c file cannot be saved, every knob
 * written goes back to its old value (500 for the file). Input is checked
 * before the module's presence (400 before 409): a bad request is bad
 * whatever the state.
 *
 * A gport change must not lose connections. tcp_relay follows
 * /proc/krelay/gport by itself (polling about once a second) and keeps its
 * old listener while connections accepted on it drain; webadmin writes the
 * new gport and then sends SIGHUP so that tcp_relay opens the new listener
 * at once instead of within the second. SYNs steered to the new port in
 * the short gap between the two are retransmitted by the client, not lost.
 * A handshake with tcp_relay (listening first, switching after) would close
 * that gap at the price of a protocol between the two; not worth it here.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "privsep.h"
#include "webadmin.h"

enum MHD_Result api_config_get(struct MHD_Connection *c, struct request *r,
			       const char *url)
{
	if (!priv_loaded())
		return reply_module_not_loaded(c, r);
	return reply_json_steal(c, r, MHD_HTTP_OK, priv_knobs());
}

/*
 * The body of PUT /api/config into s (canonical values). -1 with the field
 * (a knob's name, or "body") and the message in err.
 */
int config_parse(const char *text, size_t len, struct kr_set *s,
		 char *field, size_t fsize, char *err)
{
	char why[KR_ERR_MAX];
	json_error_t jerr;
	const char *key;
	json_t *body, *v;
	int k;

	memset(s, 0, sizeof(*s));
	snprintf(field, fsize, "body");
	body = json_loadb(text, len, 0, &jerr);
	if (!body) {
		snprintf(err, KR_ERR_MAX, "body: invalid JSON: %s", jerr.text);
		return -1;
	}
	if (!json_is_object(body)) {
		json_decref(body);
		snprintf(err, KR_ERR_MAX, "body: expected a JSON object");
		return -1;
	}
	json_object_foreach(body, key, v) {
		k = kr_knob_index(key);
		if (k < 0 || k >= KR_NCONF) {
			snprintf(field, fsize, "%s", key);
			snprintf(err, KR_ERR_MAX, "%.200s: unknown setting",
				 key);
			json_decref(body);
			return -1;
		}
		if (kr_from_json(k, v, s->val[k], why) < 0) {
			snprintf(field, fsize, "%s", kr_knobs[k].name);
			snprintf(err, KR_ERR_MAX, "%s: %.280s", kr_knobs[k].name,
				 why);
			json_decref(body);
			return -1;
		}
		s->set[k] = true;
	}
	json_decref(body);
	return 0;
}

enum MHD_Result api_config_put(struct MHD_Connection *c, struct request *r,
			       const char *url)
{
	char err[KR_ERR_MAX], bad[KR_ERR_MAX];
	const char *field;
	struct kr_set s;
	int ret, k, n = 0;

	if (config_parse(r->body ? r->body : "", r->body_len, &s, bad,
			 sizeof(bad), err) < 0)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, bad,
					 "%s", err);
	if (!priv_loaded())
		return reply_module_not_loaded(c, r);
	for (k = 0; k < KR_NCONF; k++)
		n += s.set[k];
	if (n == 0)	/* {}: nothing to write (the privileged side refuses it) */
		return reply_json_steal(c, r, MHD_HTTP_OK, priv_knobs());
	ret = priv_config(&s, &field, err);
	if (ret == -ENODEV)
		return reply_module_not_loaded(c, r);
	if (ret == -EINVAL && err[0])
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, field,
					 "%s", err);
	if (ret < 0 && err[0])	/* the -c file, knobs rolled back */
		return reply_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
				   err);
	if (ret < 0)
		return reply_field_error(c, r,
					 ret == -EINVAL ?
						 MHD_HTTP_BAD_REQUEST :
						 MHD_HTTP_INTERNAL_SERVER_ERROR,
					 field, "%s: %s", field,
					 kr_refusal(kr_knob_index(field), ret));
	return reply_json_steal(c, r, MHD_HTTP_OK, priv_knobs());
}
