// SPDX-License-Identifier: GPL-2.0
/*
 * The JSON bodies of PUT /api/config and PUT /api/start. Whatever
 * config_parse accepts, the privileged side's check must accept too (else
 * a valid request would stop webadmin), and the values must be canonical.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "privsep.h"
#include "webadmin.h"

struct webadmin wa;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char field[KR_ERR_MAX], err[KR_ERR_MAX];
	struct ps_hdr h = { PS_CONFIG, sizeof(struct ps_config) };
	struct ps_config req;
	struct kr_set s;
	bool on;
	int k;

	start_parse((const char *)data, size, &on, err, sizeof(err));
	if (config_parse((const char *)data, size, &s, field, sizeof(field),
			 err) < 0)
		return 0;
	memset(&req, 0, sizeof(req));
	for (k = 0; k < KR_NCONF; k++) {
		if (!s.set[k])
			continue;
		req.mask |= 1U << k;
		memcpy(req.val[k], s.val[k], KR_VAL_MAX);
	}
	assert(req.mask == 0 || priv_check(&h, &req) == 0);
	return 0;
}
