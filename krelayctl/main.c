// SPDX-License-Identifier: GPL-2.0
/*
 * krelayctl: the operator's command line for krelay, as conntrack(8) and
 * ipvsadm(8) are for theirs. It reads and writes /proc/krelay and the
 * module's parameters only; the directories come from the environment so
 * that it can be tried without the module.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "krelayctl.h"

bool json_out;

static void usage(FILE *f)
{
	fprintf(f,
"usage: krelayctl [-hj] COMMAND [ARGS...]\n"
"  list [proto tcp|udp] [state STATE] [client ADDR[:PORT]]\n"
"       [server ADDR[:PORT]] [limit N]   the NAT table\n"
"  stats                                 the counters\n"
"  get [KNOB...]                         settings, as `name = value`\n"
"  set KNOB=VALUE...                     change settings (all or none)\n"
"  apply [-s] FILE                       apply a configuration file\n"
"                                        (-s: then start, unless it says\n"
"                                        start = 0)\n"
"  start, stop                           register or unregister the hooks\n"
"                                        (stop cuts relayed connections)\n"
"  flush                                 empty the NAT table\n"
"  delete tcp|udp CLIENT_ADDR:PORT       remove one flow\n"
"options:\n"
"  -j, --json  JSON output\n"
"  -h, --help  this help\n"
"knobs: gport real_ip tcp_ports udp_ports max_entries udp_timeout\n"
"  udp_stream_timeout tcp_timeout_established tcp_timeout_close\n"
"  interfaces max_per_client client_cc server_cc relay_max_pairs\n"
"  relay_max_per_client relay_idle_timeout relay_connect_timeout tcp_mode\n"
"  start\n"
"exit status: 0 success, 1 failure, 2 usage or input error\n"
"environment: KRELAY_PROC_DIR (/proc/krelay), KRELAY_PARAM_DIR\n"
"  (/sys/module/krelay/parameters)\n");
}

void warnx(const char *fmt, ...)
{
	va_list ap;

	fputs("krelayctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * 0 when the module's proc directory is there and the module is of these
 * programs' version, else a message and -1.
 */
int module_check(void)
{
	const char *why;

	if (!kr_loaded()) {
		warnx("krelay is not loaded (no %s): modprobe krelay",
		      kr_proc_dir());
		return -1;
	}
	why = kr_version_mismatch();
	if (why) {
		warnx("%s", why);
		return -1;
	}
	return 0;
}

void json_print(json_t *j)
{
	if (!j) {
		warnx("out of memory");
		exit(EXIT_FAIL);
	}
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(j);
}

static int no_args(const char *cmd, int argc)
{
	if (argc == 0)
		return 0;
	warnx("%s takes no arguments", cmd);
	return -1;
}

int main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cmd;
	int ch;

	/* Options stop at the command: its own arguments may start with '-'. */
	while ((ch = getopt_long(argc, argv, "+hj", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'j':
			json_out = true;
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		warnx("a command is needed");
		usage(stderr);
		return EXIT_USAGE;
	}
	kr_dirs_from_env();
	cmd = argv[0];
	argc--;
	argv++;

	if (!strcmp(cmd, "list"))
		return cmd_list(argc, argv);
	if (!strcmp(cmd, "stats"))
		return no_args(cmd, argc) ? EXIT_USAGE : cmd_stats(argc, argv);
	if (!strcmp(cmd, "get"))
		return cmd_get(argc, argv);
	if (!strcmp(cmd, "set"))
		return cmd_set(argc, argv);
	if (!strcmp(cmd, "apply"))
		return cmd_apply(argc, argv);
	if (!strcmp(cmd, "start") || !strcmp(cmd, "stop"))
		return no_args(cmd, argc) ? EXIT_USAGE :
					    cmd_start(!strcmp(cmd, "start"));
	if (!strcmp(cmd, "flush"))
		return no_args(cmd, argc) ? EXIT_USAGE : cmd_flush(argc, argv);
	if (!strcmp(cmd, "delete"))
		return cmd_delete(argc, argv);
	if (!strcmp(cmd, "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	warnx("unknown command \"%s\" (krelayctl -h lists them)", cmd);
	return EXIT_USAGE;
}
