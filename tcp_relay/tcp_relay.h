/* SPDX-License-Identifier: GPL-2.0 */
#ifndef TCP_RELAY_H
#define TCP_RELAY_H

#include <netinet/in.h>
#include <signal.h>

#define PAIRS_PER_CHILD		1000	/* then the child exits: no creeping memory */
#define SHUTDOWN_WAIT_S		10	/* children finish their pairs within this */

struct config {
	struct sockaddr_in	listen_addr;	/* sin_port unused: see gport */
	struct sockaddr_in	target;		/* -t: standalone, no krelay */
	int			standalone;
	int			gport;		/* -p, or 0: follow the proc file */
	int			spares;
	int			max_children;	/* the limits: see limits[] */
	int			per_client;
	int			idle_s;
	int			connect_s;
	int			first_s;	/* -F: until the first byte */
	int			prefix_bits;	/* -b: -c counts per prefix */
	int			access_log;
	const char		*pidfile;
	const char		*user;		/* -u: run as this user */
};

extern struct config conf;

#define CC_NAME_MAX	16	/* TCP_CA_NAME_MAX: a congestion control and its NUL */

/* What the parent hands a child with each accepted socket. */
struct pair_msg {
	struct sockaddr_in	peer;
	char			server_cc[CC_NAME_MAX];	/* "": the default */
	int			idle_s;		/* the limits in force */
	int			connect_s;
};
extern volatile sig_atomic_t sig_chld, sig_hup, sig_term;

/* log.c: kinds of message a peer can cause, rate-limited */
enum rl_kind {
	RL_NOFLOW,		/* a connection krelay knows nothing of */
	RL_REFUSED,		/* per-client cap, pool full, hand-off failed */
	RL_CC,			/* server_cc refused by the kernel */
	RL_KINDS
};

void		 log_init(int);
int		 log_ratelimit(enum rl_kind);
void		 log_warn(const char *, ...)
		    __attribute__((__format__(printf, 1, 2)));
void		 log_warnx(const char *, ...)
		    __attribute__((__format__(printf, 1, 2)));
void		 log_info(const char *, ...)
		    __attribute__((__format__(printf, 1, 2)));
void		 log_debug(const char *, ...)
		    __attribute__((__format__(printf, 1, 2)));
void		 fatal(const char *, ...)
		    __attribute__((__format__(printf, 1, 2), __noreturn__));
void		 fatalx(const char *, ...)
		    __attribute__((__format__(printf, 1, 2), __noreturn__));
const char	*log_sockaddr(const struct sockaddr_in *);

/* priv.c */
#define CAP_BIT(cap)	((uint64_t)1 << (cap))
void		 priv_drop(const char *, int, int);
void		 priv_effective(uint64_t);
void		 priv_child(void);
void		 priv_seccomp(void);

/* main.c */
void		 listeners_close(void);
const char	*server_cc(void);

/* pool.c */
int		 pool_limit(int);
void		 pool_init(void);
void		 pool_sync(void);
int		 pool_can_accept(void);
int		 pool_idle_fd(void);
void		 pool_dispatch(int, const struct sockaddr_in *);
void		 pool_top_up(void);
void		 pool_trim(void);
void		 pool_reap(void);
void		 pool_shutdown(const sigset_t *);

/* relay.c */
void		 relay_pair(int, const struct pair_msg *, void (*)(void));
int		 oob_inline(int);
int		 set_cc(int, const char *);

/* krelay.c */
void		 krelay_init(void);
const char	*krelay_gport_path(void);
int		 krelay_gport(void);
int		 krelay_origdst(int, struct sockaddr_in *, struct sockaddr_in *);
int		 krelay_client(int, const struct sockaddr_in *,
		    const struct sockaddr_in *);
int		 krelay_listener(int);
void		 krelay_cc(int, char *);

#endif /* TCP_RELAY_H */
