// SPDX-License-Identifier: GPL-2.0
/*
 * The knobs in JSON, one form for krelayctl -j and webadmin's API
 * (DESIGN.md, "webadmin and the JSON API"): integers as numbers, start as
 * a boolean, real_ip and interfaces as strings, port lists as arrays.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "libkrelay.h"

json_t *kr_to_json(int k, const char *val)
{
	char out[KR_VAL_MAX], why[KR_ERR_MAX];
	const char *p;
	json_t *arr, *str;
	long v;

	if (kr_parse(k, val, out, why) < 0 || strcmp(out, val))
		return json_null();
	switch (kr_knobs[k].type) {
	case KR_INT:
		kr_parse_long(k, val, &v);
		return json_integer(v);
	case KR_BOOL:
		return json_boolean(!strcmp(val, "1"));
	case KR_IP:
	case KR_IFNAMES:
	case KR_CC:
	case KR_WORD:
		str = json_string(val);	/* NULL when not UTF-8 */
		return str ? str : json_null();
	case KR_PORTS:
		arr = json_array();
		for (p = val; arr && *p; p += strcspn(p, ","), p += *p == ',')
			json_array_append_new(arr, json_integer(strtol(p, NULL, 10)));
		return arr ? arr : json_null();
	}
	return json_null();
}

int kr_from_json(int k, const json_t *v, char *out, char *why)
{
	const struct kr_knob *kn = &kr_knobs[k];
	char buf[KR_VAL_MAX * 2];
	size_t i, off = 0;
	json_t *e;

	switch (kn->type) {
	case KR_INT:
		if (!json_is_integer(v))
			break;
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		return kr_parse(k, buf, out, why);
	case KR_BOOL:
		if (!json_is_boolean(v))
			break;
		return kr_parse(k, json_is_true(v) ? "1" : "0", out, why);
	case KR_IP:
	case KR_IFNAMES:
	case KR_CC:
	case KR_WORD:
		if (!json_is_string(v))
			break;
		return kr_parse(k, json_string_value(v), out, why);
	case KR_PORTS:
		if (!json_is_array(v) || json_array_size(v) < 1 ||
		    json_array_size(v) > KR_PORTS_MAX)
			break;
		json_array_foreach(v, i, e) {
			if (!json_is_integer(e) || json_integer_value(e) < kn->min ||
			    json_integer_value(e) > kn->max)
				goto bad;
			off += snprintf(buf + off, sizeof(buf) - off,
					"%s%" JSON_INTEGER_FORMAT, i ? "," : "",
					json_integer_value(e));
		}
		return kr_parse(k, buf, out, why);
	}
bad:
	switch (kn->type) {
	case KR_INT:
		snprintf(why, KR_ERR_MAX, "must be an integer from %ld to %ld",
			 kn->min, kn->max);
		break;
	case KR_BOOL:
		snprintf(why, KR_ERR_MAX, "must be true or false");
		break;
	case KR_IP:
		snprintf(why, KR_ERR_MAX, "must be a string holding an IPv4 address");
		break;
	case KR_IFNAMES:
		snprintf(why, KR_ERR_MAX,
			 "must be a string of comma-separated interface names (\"\" for every interface)");
		break;
	case KR_CC:
		snprintf(why, KR_ERR_MAX,
			 "must be a string naming a congestion control (\"\" for the system's default)");
		break;
	case KR_WORD:
		kr_parse(k, "", buf, why);	/* the words */
		break;
	case KR_PORTS:
		snprintf(why, KR_ERR_MAX,
			 "must be an array of 1 to %d ports from %ld to %ld",
			 KR_PORTS_MAX, kn->min, kn->max);
		break;
	}
	return -1;
}
