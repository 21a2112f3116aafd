/* SPDX-License-Identifier: GPL-2.0 */
#ifndef WEBADMIN_H
#define WEBADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>

#include <jansson.h>
#include <microhttpd.h>

#include "kmod.h"
#include "knobs.h"

#define BODY_MAX	(64 * 1024)

/* Set once in main() before the HTTP thread starts, read-only after. */
struct webadmin {
	struct sockaddr_in	listen;
	char			listen_host[INET_ADDRSTRLEN];
	unsigned int		port;
	char			*www_root;	/* realpath of -w */
	const char		*proc_dir;	/* /proc/krelay */
	const char		*param_dir;	/* /sys/module/krelay/parameters */
	const char		*module_dir;	/* /sys/module/krelay */
	const char		*config_file;	/* -c, or NULL */
	bool			daemon;		/* no -f: logs go to syslog */
};

extern struct webadmin wa;

/* Per-request state, in MHD's connection-class pointer. */
struct request {
	const struct route	*route;
	char			*body;
	size_t			body_len;
	bool			too_large;
	bool			replied;
	unsigned int		status;
	bool			mutating;	/* logged when done */
	char			method[8];
	char			*url;		/* with the query, for the log */
	char			who[80];	/* "admin@127.0.0.1" */
};

typedef enum MHD_Result (*handler_fn)(struct MHD_Connection *c,
				      struct request *r, const char *url);

struct route {
	const char	*method;
	const char	*path;		/* NULL: any path outside /api and /metrics */
	handler_fn	handler;
	bool		auth;
	const char	*params;	/* query names allowed, space-separated; NULL: any */
};

/* routes.c */
enum MHD_Result routes_access(void *cls, struct MHD_Connection *c,
			      const char *url, const char *method,
			      const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls);
void routes_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe);

bool host_header_ok(const char *host);
bool content_type_is_json(const char *ct);

/* reply.c: _borrow leaves the caller's reference alone, _steal drops it. */
enum MHD_Result reply_json_borrow(struct MHD_Connection *c, struct request *r,
				  unsigned int status, const json_t *json);
enum MHD_Result reply_json_steal(struct MHD_Connection *c, struct request *r,
				 unsigned int status, json_t *json);
enum MHD_Result reply_error(struct MHD_Connection *c, struct request *r,
			    unsigned int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
enum MHD_Result reply_field_error(struct MHD_Connection *c, struct request *r,
				  unsigned int status, const char *field,
				  const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
enum MHD_Result reply_header_error(struct MHD_Connection *c, struct request *r,
				   unsigned int status, const char *header,
				   const char *value, const char *msg);
enum MHD_Result reply_text_steal(struct MHD_Connection *c, struct request *r,
				 unsigned int status, const char *type,
				 char *text, size_t len);
enum MHD_Result reply_fd(struct MHD_Connection *c, struct request *r,
			 const char *type, int fd, size_t size);
enum MHD_Result reply_module_not_loaded(struct MHD_Connection *c,
					struct request *r);
void reply_add_security_headers(struct MHD_Response *resp);

/* auth.c */
enum auth_role { AUTH_ADMIN, AUTH_READER, AUTH_ROLES, AUTH_NONE = AUTH_ROLES };

int auth_load(const char *path);
void auth_free(void);
enum auth_role auth_check(struct MHD_Connection *c, const char *peer);
const char *auth_role_name(enum auth_role role);

/* static.c */
enum MHD_Result static_get(struct MHD_Connection *c, struct request *r,
			   const char *url);

/* api_*.c, metrics.c */
enum MHD_Result api_status_get(struct MHD_Connection *c, struct request *r,
			       const char *url);
enum MHD_Result api_nat_get(struct MHD_Connection *c, struct request *r,
			    const char *url);
enum MHD_Result api_nat_delete(struct MHD_Connection *c, struct request *r,
			       const char *url);
enum MHD_Result api_config_get(struct MHD_Connection *c, struct request *r,
			       const char *url);
enum MHD_Result api_config_put(struct MHD_Connection *c, struct request *r,
			       const char *url);
enum MHD_Result api_start_put(struct MHD_Connection *c, struct request *r,
			      const char *url);
enum MHD_Result metrics_get(struct MHD_Connection *c, struct request *r,
			    const char *url);

/* The pure parsers behind the handlers (fuzzed in tests/fuzz/). */
int config_parse(const char *text, size_t len, struct kr_set *s,
		 char *field, size_t fsize, char *err);
int start_parse(const char *text, size_t len, bool *on, char *err,
		size_t size);
int nat_parse_num(const char *s, long def, long *v);
int nat_parse_client(const char *s, bool port_needed, struct in_addr *ip,
		     unsigned int *port);
int nat_parse_proto(const char *s, int *proto);
int nat_parse_cursor(const char *s, uint64_t *cursor);
int nat_parse_client_filter(const char *s, struct krelay_table_filter *f);
int nat_parse_state(const char *s, unsigned int *state);

/* supervise.c */
struct relay_status {
	bool		supervised;
	bool		running;
	int		pid;
	unsigned int	restarts;
};

void supervise_init(const char *relay, const char *pidfile,
		    char *const *extra, int nextra);
void supervise_free(void);
void supervise_tick(void);
void supervise_status(struct relay_status *st);
void supervise_hup(void);

#endif
