// SPDX-License-Identifier: GPL-2.0
/*
 * Reply helpers. Their names say who owns the JSON: _borrow leaves the
 * caller's reference alone, _steal drops it whatever happens. The text
 * json_dumps makes is handed to MHD, which frees it (MHD_RESPMEM_MUST_FREE).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "webadmin.h"

void reply_add_security_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	/*
	 * The dashboard never submits a form (its script sends JSON), so no
	 * form may go anywhere; no <base> and no framing either.
	 */
	MHD_add_response_header(resp, "Content-Security-Policy",
				"default-src 'self'; form-action 'none'; "
				"base-uri 'none'; frame-ancestors 'none'");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
}

/* Queue resp and drop our reference to it. */
static enum MHD_Result queue(struct MHD_Connection *c, struct request *r,
			     unsigned int status, struct MHD_Response *resp)
{
	enum MHD_Result ret;

	r->status = status;
	r->replied = true;
	reply_add_security_headers(resp);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static struct MHD_Response *json_response(const json_t *json)
{
	struct MHD_Response *resp;
	char *text;

	text = json_dumps(json, JSON_COMPACT);
	if (!text)
		return NULL;
	resp = MHD_create_response_from_buffer(strlen(text), text,
					       MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return NULL;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				"no-store");
	return resp;
}

enum MHD_Result reply_json_borrow(struct MHD_Connection *c, struct request *r,
				  unsigned int status, const json_t *json)
{
	struct MHD_Response *resp;

	resp = json ? json_response(json) : NULL;
	if (!resp)
		return MHD_NO;
	return queue(c, r, status, resp);
}

enum MHD_Result reply_json_steal(struct MHD_Connection *c, struct request *r,
				 unsigned int status, json_t *json)
{
	enum MHD_Result ret = reply_json_borrow(c, r, status, json);

	json_decref(json);
	return ret;
}

/*
 * A JSON string of text that may come from the request (a field name, a
 * value in a message): bytes that are not valid UTF-8 become '?', so the
 * error reply is never lost to a cut multi-byte character.
 */
static json_t *json_text(const char *text)
{
	json_t *s = json_string(text);
	char *copy, *p;

	if (s || !text)
		return s;
	copy = strdup(text);
	if (!copy)
		return NULL;
	for (p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	s = json_string(copy);
	free(copy);
	return s;
}

static enum MHD_Result error_reply(struct MHD_Connection *c,
				   struct request *r, unsigned int status,
				   const char *field, const char *header,
				   const char *value, const char *msg)
{
	struct MHD_Response *resp;
	json_t *err;

	err = json_pack("{s:o}", "error", json_text(msg));
	if (err && field)
		json_object_set_new(err, "field", json_text(field));
	resp = err ? json_response(err) : NULL;
	json_decref(err);
	if (!resp)
		return MHD_NO;
	if (header)
		MHD_add_response_header(resp, header, value);
	return queue(c, r, status, resp);
}

enum MHD_Result reply_error(struct MHD_Connection *c, struct request *r,
			    unsigned int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return error_reply(c, r, status, NULL, NULL, NULL, msg);
}

/* A 400 (or 500) about one input field; the dashboard highlights it. */
enum MHD_Result reply_field_error(struct MHD_Connection *c, struct request *r,
				  unsigned int status, const char *field,
				  const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return error_reply(c, r, status, field, NULL, NULL, msg);
}

/* An error that needs a header: 401 WWW-Authenticate, 405 Allow. */
enum MHD_Result reply_header_error(struct MHD_Connection *c, struct request *r,
				   unsigned int status, const char *header,
				   const char *value, const char *msg)
{
	return error_reply(c, r, status, NULL, header, value, msg);
}

enum MHD_Result reply_module_not_loaded(struct MHD_Connection *c,
					struct request *r)
{
	return reply_error(c, r, MHD_HTTP_CONFLICT,
			   "krelay module not loaded (%s missing)",
			   wa.module_dir);
}

/* text must come from malloc(); MHD frees it, also when we fail here. */
enum MHD_Result reply_text_steal(struct MHD_Connection *c, struct request *r,
				 unsigned int status, const char *type,
				 char *text, size_t len)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, text,
					       MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				"no-store");
	return queue(c, r, status, resp);
}

/* fd belongs to the response (MHD closes it), also when we fail here. */
enum MHD_Result reply_fd(struct MHD_Connection *c, struct request *r,
			 const char *type, int fd, size_t size)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_fd(size, fd);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				"no-cache");
	return queue(c, r, MHD_HTTP_OK, resp);
}
