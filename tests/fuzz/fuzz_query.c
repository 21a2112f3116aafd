// SPDX-License-Identifier: GPL-2.0
/*
 * The small parsers of request data: the NAT query (offset, limit, proto,
 * client), the Host and Content-Type headers, and the knob grammar of the
 * configuration file. The first byte picks one; the rest is its input.
 * kr_parse's output must be canonical: checking it again gives itself.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webadmin.h"

struct webadmin wa;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(wa.listen_host, sizeof(wa.listen_host), "0.0.0.0");
	wa.port = 8080;
	wa.listen.sin_family = AF_INET;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[KR_VAL_MAX], again[KR_VAL_MAX], err[KR_ERR_MAX], *s;
	struct krelay_table_filter f;
	unsigned int port, state;
	uint64_t cursor;
	struct in_addr ip;
	int proto, k;
	long v;

	if (size < 1)
		return 0;
	s = strndup((const char *)data + 1, size - 1);
	if (!s)
		return 0;
	switch (data[0] % 8) {
	case 0:
		if (nat_parse_num(s, 1000, &v) == 0)
			assert(v >= 0 && v <= 4194304);
		if (nat_parse_cursor(s, &cursor) == 0)
			assert(*s && strlen(s) <= 16);
		break;
	case 1:
	case 2:
		if (nat_parse_client(s, data[0] % 8 == 2, &ip, &port) == 0)
			assert(port <= 65535);
		if (nat_parse_client_filter(s, &f) == 0)
			assert(f.client_prefix <= 32 &&
			       (f.client_prefix == 32 || !f.client_port));
		break;
	case 3:
		if (nat_parse_proto(s, &proto) == 0)
			assert(proto == 0 || proto == 6 || proto == 17);
		if (nat_parse_state(s, &state) == 0)
			assert(state >= 1 && state < 64);
		break;
	case 4:
		host_header_ok(s);
		break;
	case 5:
		content_type_is_json(s);
		break;
	default:
		k = (data[0] >> 3) % KR_NKNOBS;
		if (kr_parse(k, s, out, err) == 0) {
			assert(strlen(out) < KR_VAL_MAX);
			assert(kr_parse(k, out, again, err) == 0);
			assert(strcmp(out, again) == 0);
		}
	}
	free(s);
	return 0;
}
