// SPDX-License-Identifier: GPL-2.0
/*
 * GET and PUT /api/config. PUT takes any subset of the knobs and checks
 * every field before it writes any. Input is checked before the module's
 * presence (400 before 409): a bad request is bad whatever the state.
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
#include <string.h>

#include "log.h"
#include "webadmin.h"

enum MHD_Result api_config_get(struct MHD_Connection *c, struct request *r,
			       const char *url)
{
	if (!kmod_loaded())
		return reply_module_not_loaded(c, r);
	return reply_json_steal(c, r, MHD_HTTP_OK, knobs_read_all());
}

enum MHD_Result api_config_put(struct MHD_Connection *c, struct request *r,
			       const char *url)
{
	char err[KNOB_ERR_MAX];
	struct knob_set s, applied;
	const char *key, *field;
	json_error_t jerr;
	json_t *body, *v;
	int k, ret;

	body = json_loadb(r->body ? r->body : "", r->body_len, 0, &jerr);
	if (!body)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "body",
					 "body: invalid JSON: %s", jerr.text);
	if (!json_is_object(body)) {
		json_decref(body);
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "body",
					 "body: expected a JSON object");
	}
	memset(&s, 0, sizeof(s));
	json_object_foreach(body, key, v) {
		k = knob_index(key);
		if (k < 0) {
			ret = reply_field_error(c, r, MHD_HTTP_BAD_REQUEST,
						key, "%s: unknown setting",
						key);
			json_decref(body);
			return ret;
		}
		if (knob_from_json(&knobs[k], v, s.val[k], err) < 0) {
			json_decref(body);
			return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST,
						 knobs[k].name, "%s", err);
		}
		s.set[k] = true;
	}
	json_decref(body);
	if (!kmod_loaded())
		return reply_module_not_loaded(c, r);
	if (knob_set_check(&s, &field, err) < 0)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, field,
					 "%s", err);

	ret = knob_set_apply(&s, &applied, &field);
	for (k = 0; k < NKNOBS; k++)
		if (applied.set[k])
			break;
	if (k < NKNOBS)
		conffile_save(&applied);
	if (applied.set[KNOB_GPORT])	/* see the comment at the top */
		supervise_hup();
	if (ret < 0)
		return reply_field_error(c, r,
					 ret == -EINVAL ?
						 MHD_HTTP_BAD_REQUEST :
						 MHD_HTTP_INTERNAL_SERVER_ERROR,
					 field, "%s: %s", field,
					 ret == -EINVAL ?
						 "rejected by krelay" :
						 strerror(-ret));
	return reply_json_steal(c, r, MHD_HTTP_OK, knobs_read_all());
}
