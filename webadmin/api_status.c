// SPDX-License-Identifier: GPL-2.0
/* GET /api/status: module, configuration, tcp_relay and counters at once. */
#include "privsep.h"
#include "webadmin.h"

enum MHD_Result api_status_get(struct MHD_Connection *c, struct request *r,
			       const char *url)
{
	struct relay_status rs;
	bool loaded = priv_loaded();
	json_t *st, *relay;

	priv_relay_status(&rs);
	relay = json_pack("{s:b, s:b, s:o, s:i}", "supervised", rs.supervised,
			  "running", rs.running,
			  "pid", rs.pid > 0 ? json_integer(rs.pid) : json_null(),
			  "restarts", (int)rs.restarts);
	st = json_pack("{s:{s:b, s:b}, s:o, s:o, s:o}",
		       "module", "loaded", loaded,
		       "started", loaded && priv_started() == 1,
		       "config", loaded ? priv_knobs() : json_null(),
		       "tcp_relay", relay ? relay : json_null(),
		       "stats", loaded ? priv_stats() : json_object());
	if (!st)
		return reply_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "out of memory");
	return reply_json_steal(c, r, MHD_HTTP_OK, st);
}
