// SPDX-License-Identifier: GPL-2.0
/* PUT /api/start {"started": bool}: the module's start parameter. */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "webadmin.h"

enum MHD_Result api_start_put(struct MHD_Connection *c, struct request *r,
			      const char *url)
{
	json_error_t jerr;
	json_t *body, *v;
	bool on;
	int err;

	body = json_loadb(r->body ? r->body : "", r->body_len, 0, &jerr);
	if (!body)
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "body",
					 "body: invalid JSON: %s", jerr.text);
	v = json_object_get(body, "started");
	if (!json_is_object(body) || !json_is_boolean(v) ||
	    json_object_size(body) != 1) {
		json_decref(body);
		return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, "started",
					 "started: expected {\"started\": true|false}");
	}
	on = json_is_true(v);
	json_decref(body);
	if (!kmod_loaded())
		return reply_module_not_loaded(c, r);
	err = kmod_write(wa.param_dir, "start", on ? "1" : "0");
	if (err < 0)
		return reply_field_error(c, r,
					 err == -EINVAL ?
						 MHD_HTTP_BAD_REQUEST :
						 MHD_HTTP_INTERNAL_SERVER_ERROR,
					 "started", "started: write %s/start: %s",
					 wa.param_dir, strerror(-err));
	return reply_json_steal(c, r, MHD_HTTP_OK,
				json_pack("{s:b}", "started",
					  kmod_started() == 1));
}
