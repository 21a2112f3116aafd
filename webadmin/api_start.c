// SPDX-License-Identifier: GPL-2.0
/* PUT /api/start {"started": bool}: the module's start parameter. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "privsep.h"
#include "webadmin.h"

/*
 * {"started": true|false} and nothing else. -1 with err when it is not
 * JSON (the field is the body), -2 when it is other JSON.
 */
int start_parse(const char *text, size_t len, bool *on, char *err,
		size_t size)
{
	json_error_t jerr;
	json_t *body, *v;
	int ret = -2;

	body = json_loadb(text, len, 0, &jerr);
	if (!body) {
		snprintf(err, size, "body: invalid JSON: %s", jerr.text);
		return -1;
	}
	v = json_object_get(body, "started");
	if (json_is_object(body) && json_is_boolean(v) &&
	    json_object_size(body) == 1) {
		*on = json_is_true(v);
		ret = 0;
	}
	json_decref(body);
	return ret;
}

enum MHD_Result api_start_put(struct MHD_Connection *c, struct request *r,
			      const char *url)
{
	char msg[256];
	bool on;
	int err;

	err = start_parse(r->body ? r->body : "", r->body_len, &on, msg,
			  sizeof(msg));
	if (err == -1)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "body",
					 "%s", msg);
	if (err < 0)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "started",
					 "started: expected {\"started\": true|false}");
	if (!priv_loaded())
		return reply_module_not_loaded(c, r);
	err = priv_start(on);
	if (err == -ENODEV)
		return reply_module_not_loaded(c, r);
	if (err < 0)
		return reply_field_error(c, r,
					 err == -EINVAL ?
						 MHD_HTTP_BAD_REQUEST :
						 MHD_HTTP_INTERNAL_SERVER_ERROR,
					 "started", "started: write start: %s",
					 strerror(-err));
	return reply_json_steal(c, r, MHD_HTTP_OK,
				json_pack("{s:b}", "started",
					  priv_started() == 1));
}
