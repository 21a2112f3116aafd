// SPDX-License-Identifier: GPL-2.0
/*
 * The privileged side's decoder: any bytes as a header and a payload.
 * Requests priv_check accepts are carried out against knob files in a
 * temporary directory (as the host suite's fake module), so that the
 * handlers run on every shape the check lets through.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "privsep.h"
#include "webadmin.h"

struct webadmin wa;
static char dir[] = "/tmp/fuzz_privmsg.XXXXXX";
static char proc[64], module[64], param[80];

static void put(const char *d, const char *name, const char *val)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", d, name);
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%s\n", val);
		fclose(f);
	}
}

static void cleanup(void)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!mkdtemp(dir))
		abort();
	atexit(cleanup);
	snprintf(proc, sizeof(proc), "%s/proc", dir);
	snprintf(module, sizeof(module), "%s/module", dir);
	snprintf(param, sizeof(param), "%s/module/parameters", dir);
	mkdir(proc, 0700);
	mkdir(module, 0700);
	mkdir(param, 0700);
	put(proc, "gport", "16000");
	put(proc, "tcp_ports", "53,80");
	put(proc, "stats", "translated_pre_udp 7");
	put(param, "start", "0");
	wa.proc_dir = proc;
	wa.param_dir = param;
	wa.module_dir = module;
	kr_set_dirs(proc, param);
	log_init(1, 0);
	supervise_init(NULL, "/nonexistent", NULL, 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char payload[PS_REQ_MAX];
	struct ps_hdr h;
	size_t replen;
	void *rep;

	if (size < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	if (h.len > sizeof(payload) || h.len > size - sizeof(h))
		return 0;
	memcpy(payload, data + sizeof(h), h.len);
	if (priv_check(&h, payload) < 0)
		return 0;
	if (h.type == PS_TABLE)	/* the real socket option: nothing to fake */
		return 0;
	if (priv_handle(&h, payload, &rep, &replen) == 0)
		free(rep);
	return 0;
}
