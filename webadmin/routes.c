// SPDX-License-Identifier: GPL-2.0
/*
 * Request dispatch: the route table, the checks every request passes
 * (Host, credentials, content type, body size) and the body collection.
 *
 * MHD calls the access handler once when the headers are in (*con_cls is
 * NULL), once per piece of body, and a last time with no data; the
 * handler runs on that last call. Early refusals (421, 404/405, 401, 415,
 * and 413 by Content-Length) are queued on the first call, before any body
 * is read.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "webadmin.h"

static const struct route routes[] = {
	{ "GET",	"/api/status",	api_status_get,	true,	"" },
	{ "GET",	"/api/nat",	api_nat_get,	true,
		"cursor limit proto state client" },
	{ "DELETE",	"/api/nat",	api_nat_delete,	true,	"all proto client" },
	{ "GET",	"/api/config",	api_config_get,	true,	"" },
	{ "PUT",	"/api/config",	api_config_put,	true,	"" },
	{ "PUT",	"/api/start",	api_start_put,	true,	"" },
	{ "GET",	"/metrics",	metrics_get,	true,	"" },
	{ "GET",	NULL,		static_get,	false,	NULL },
	{ "HEAD",	NULL,		static_get,	false,	NULL },
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static bool is_api_path(const char *url)
{
	return strcmp(url, "/api") == 0 || strncmp(url, "/api/", 5) == 0 ||
	       strcmp(url, "/metrics") == 0;
}

static bool route_matches_path(const struct route *rt, const char *url)
{
	return rt->path ? strcmp(rt->path, url) == 0 : !is_api_path(url);
}

/*
 * Find the route; when the path is known but not the method, fill allow
 * with the path's methods (for 405).
 */
static const struct route *route_find(const char *method, const char *url,
				      char *allow, size_t size)
{
	size_t i, off = 0;

	allow[0] = '\0';
	for (i = 0; i < NROUTES; i++) {
		if (!route_matches_path(&routes[i], url))
			continue;
		if (strcmp(routes[i].method, method) == 0)
			return &routes[i];
		off += snprintf(allow + off, size - off, "%s%s",
				off ? ", " : "", routes[i].method);
		if (off >= size)
			off = size - 1;
	}
	return NULL;
}

/*
 * DNS rebinding defence: the Host header must name the address we listen
 * on (or localhost) with our port. Listening on 0.0.0.0, any IPv4 literal
 * with our port will do: only names can be rebound.
 */
bool host_header_ok(const char *host)
{
	const char *colon;
	char name[256];
	struct in_addr a;
	size_t len;
	unsigned long port = 80;
	char *end;

	if (!host)
		return false;
	colon = strrchr(host, ':');
	len = colon ? (size_t)(colon - host) : strlen(host);
	if (len == 0 || len >= sizeof(name))
		return false;
	memcpy(name, host, len);
	name[len] = '\0';
	if (colon) {
		if (colon[1] < '0' || colon[1] > '9' || strlen(colon + 1) > 5)
			return false;
		port = strtoul(colon + 1, &end, 10);
		if (*end != '\0')
			return false;
	}
	if (port != wa.port)
		return false;
	if (strcasecmp(name, "localhost") == 0 ||
	    strcmp(name, "127.0.0.1") == 0 ||
	    strcmp(name, wa.listen_host) == 0)
		return true;
	return wa.listen.sin_addr.s_addr == htonl(INADDR_ANY) &&
	       inet_pton(AF_INET, name, &a) == 1;
}

/* application/json, optionally with parameters (charset=utf-8). */
bool content_type_is_json(const char *ct)
{
	size_t n = strlen("application/json");

	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	return strncasecmp(ct, "application/json", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static bool is_mutating(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

/* The peer's address, for the log. */
static void peer_addr(struct MHD_Connection *c, char *addr, size_t size)
{
	const union MHD_ConnectionInfo *ci;

	snprintf(addr, size, "?");
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET,
			  &((const struct sockaddr_in *)ci->client_addr)->sin_addr,
			  addr, size);
}

static void set_who(struct request *r, const char *user, const char *addr)
{
	snprintf(r->who, sizeof(r->who), "%s@%s", user, addr);
}

static enum MHD_Result append_arg(void *cls, enum MHD_ValueKind kind,
				  const char *key, const char *value)
{
	char **url = cls, *n;

	if (asprintf(&n, "%s%s%s%s%s", *url, strchr(*url, '?') ? "&" : "?",
		     key, value ? "=" : "", value ? value : "") < 0)
		return MHD_NO;
	free(*url);
	*url = n;
	return MHD_YES;
}

/* Mutating requests are logged when done: who, what, result. */
static void remember_request(struct MHD_Connection *c, struct request *r,
			     const char *url, const char *method)
{
	r->mutating = true;
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->url = strdup(url);
	if (r->url)
		MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, append_arg,
					  &r->url);
}

/* Whether the space-separated list holds word. */
static bool word_in(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p;

	if (strchr(word, ' '))
		return false;
	for (p = list; n && (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return true;
	return false;
}

struct query_check {
	const char	*allowed;	/* the route's params */
	char		seen[64];	/* the names met so far, space-separated */
	char		bad[32];	/* the first unknown or repeated name */
	bool		refused;
	bool		twice;
};

/* One query argument: a name the route takes, at most once. */
static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind,
				 const char *key, const char *value)
{
	struct query_check *q = cls;
	size_t len = strlen(q->seen);

	if (word_in(q->allowed, key) && !word_in(q->seen, key)) {
		/* allowed names are short: they always fit */
		snprintf(q->seen + len, sizeof(q->seen) - len, "%s%s",
			 len ? " " : "", key);
		return MHD_YES;
	}
	q->refused = true;
	q->twice = word_in(q->allowed, key);
	snprintf(q->bad, sizeof(q->bad), "%s", key);
	return MHD_NO;
}

/* Everything that can be refused before the body: on the first call. */
static enum MHD_Result first_call(struct MHD_Connection *c, struct request *r,
				  const char *url, const char *method)
{
	const char *cl;
	char allow[64], addr[INET_ADDRSTRLEN];
	enum auth_role role;

	peer_addr(c, addr, sizeof(addr));
	set_who(r, "-", addr);
	if (is_mutating(method))
		remember_request(c, r, url, method);
	if (!host_header_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							MHD_HTTP_HEADER_HOST)))
		return reply_error(c, r, MHD_HTTP_MISDIRECTED_REQUEST,
				   "Host header must be %s:%u or localhost:%u",
				   wa.listen_host, wa.port, wa.port);
	r->route = route_find(method, url, allow, sizeof(allow));
	if (!r->route && allow[0])
		return reply_header_error(c, r, MHD_HTTP_METHOD_NOT_ALLOWED,
					  MHD_HTTP_HEADER_ALLOW, allow,
					  "method not allowed");
	if (!r->route)
		return reply_error(c, r, MHD_HTTP_NOT_FOUND, "not found");
	if (r->route->auth) {
		role = auth_check(c, addr);
		if (role == AUTH_NONE)
			return reply_header_error(c, r, MHD_HTTP_UNAUTHORIZED,
						  MHD_HTTP_HEADER_WWW_AUTHENTICATE,
						  "Basic realm=\"krelay\"",
						  "credentials required");
		set_who(r, auth_role_name(role), addr);
		if (is_mutating(method) && role != AUTH_ADMIN)
			return reply_error(c, r, MHD_HTTP_FORBIDDEN,
					   "user %s may only read: changes need admin",
					   auth_role_name(role));
	}
	if (r->route->params) {
		struct query_check q = { .allowed = r->route->params };

		MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_arg, &q);
		if (q.refused)
			return reply_field_error(c, r, MHD_HTTP_BAD_REQUEST, q.bad,
						 "%s: %s", q.bad, q.twice ?
						 "given twice" :
						 "not a query parameter of this route");
	}
	if (is_mutating(method) &&
	    !content_type_is_json(MHD_lookup_connection_value(c,
				MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE)))
		return reply_error(c, r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
				   "Content-Type must be application/json");
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					 MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > BODY_MAX)
		return reply_error(c, r, MHD_HTTP_CONTENT_TOO_LARGE,
				   "body larger than %d bytes", BODY_MAX);
	return MHD_YES;
}

static void collect(struct request *r, const char *data, size_t size)
{
	char *nbody;

	if (r->too_large)
		return;
	if (size > BODY_MAX - r->body_len) {
		r->too_large = true;
		return;
	}
	nbody = realloc(r->body, r->body_len + size + 1);
	if (!nbody) {
		r->too_large = true;
		return;
	}
	r->body = nbody;
	memcpy(r->body + r->body_len, data, size);
	r->body_len += size;
	r->body[r->body_len] = '\0';
}

enum MHD_Result routes_access(void *cls, struct MHD_Connection *c,
			      const char *url, const char *method,
			      const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct request *r = *con_cls;

	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		*con_cls = r;
		return first_call(c, r, url, method);
	}
	if (r->replied) {
		*upload_data_size = 0;	/* refused early: drop the body */
		return MHD_YES;
	}
	if (*upload_data_size) {
		collect(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->too_large)
		return reply_error(c, r, MHD_HTTP_CONTENT_TOO_LARGE,
				   "body larger than %d bytes", BODY_MAX);
	return r->route->handler(c, r, url);
}

/* Printable, short: bodies go into the log. */
static void log_excerpt(char *out, size_t size, const char *in, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 4 < size; i++)
		out[o++] = isprint((unsigned char)in[i]) ? in[i] : '.';
	if (i < len)
		out[o++] = '.', out[o++] = '.', out[o++] = '.';
	out[o] = '\0';
}

void routes_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;
	char body[160], url[160];

	if (!r)
		return;
	if (r->mutating) {
		log_excerpt(body, sizeof(body), r->body ? r->body : "",
			    r->body_len);
		log_excerpt(url, sizeof(url), r->url ? r->url : "?",
			    r->url ? strlen(r->url) : 1);
		log_info("%s %s %s%s%s: %u%s", r->who, r->method, url,
			 body[0] ? " " : "", body, r->status,
			 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ?
				 "" : " (not completed)");
	}
	free(r->url);
	free(r->body);
	free(r);
	*con_cls = NULL;
}
