// SPDX-License-Identifier: GPL-2.0
/*
 * libkrelay from the command line, for tests/libkrelay_test.sh and the lab
 * (krelay_config_test.sh); the directories come from KRELAY_PROC_DIR and
 * KRELAY_PARAM_DIR.
 *   parse KNOB VALUE        the canonical value (exit 0), or why not (1)
 *   json KNOB VALUE         kr_to_json of the value
 *   fromjson KNOB JSON      kr_from_json: the canonical value, or why not
 *   apply [-n] KNOB=VALUE...  kr_set_check (not with -n: the module
 *                           checks alone) and kr_apply: "ok", or the knob
 *                           refused and the ones left unrestored (1)
 *   agree                   for each NUL-terminated knob and value pair on
 *                           stdin: libkrelay parses the value, the value is
 *                           written raw to the module's file (one write,
 *                           with a newline, as echo does) and what the file
 *                           shows then is read back before the old value
 *                           is put back; one line out per pair:
 *                           "LIB MOD OUT SHOWN" (0 taken, 1 refused; OUT
 *                           libkrelay's form or why not, SHOWN "-" when
 *                           refused), tab-separated
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "libkrelay.h"

static int knob(const char *name)
{
	int k = kr_knob_index(name);

	if (k < 0) {
		fprintf(stderr, "unknown knob %s\n", name);
		exit(2);
	}
	return k;
}

static int apply(int argc, char *argv[])
{
	char why[KR_ERR_MAX], *eq;
	struct kr_fail f;
	bool check = true;
	struct kr_set s;
	int i, k, err;

	memset(&s, 0, sizeof(s));
	if (argc > 0 && !strcmp(argv[0], "-n")) {
		check = false;
		argc--;
		argv++;
	}
	for (i = 0; i < argc; i++) {
		eq = strchr(argv[i], '=');
		if (!eq)
			return 2;
		*eq = '\0';
		k = knob(argv[i]);
		if (kr_parse(k, eq + 1, s.val[k], why) < 0) {
			printf("bad %s: %s\n", argv[i], why);
			return 1;
		}
		s.set[k] = true;
	}
	if (check && kr_set_check(&s, &k, why) < 0) {
		printf("check %s: %s\n", kr_knobs[k].name, why);
		return 1;
	}
	err = kr_apply(&s, NULL, &f);
	if (!err) {
		printf("ok\n");
		return 0;
	}
	printf("refused %s: %s", f.knob >= 0 ? kr_knobs[f.knob].name : "-",
	       strerror(-err));
	for (k = 0; k < KR_NKNOBS; k++)
		if (f.unrestored & (1U << k))
			printf(" unrestored %s", kr_knobs[k].name);
	printf("\n");
	return 1;
}

/* The file's text with trailing newlines dropped, as $(cat FILE) has it. */
static int raw_read(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	return 0;
}

/* VAL and a newline in one write, as printf '%s\n' VAL > FILE does. */
static int raw_write(const char *path, const char *val)
{
	size_t len = strlen(val);
	char *line = malloc(len + 2);
	ssize_t n = -1;
	int fd;

	if (!line)
		return -1;
	memcpy(line, val, len);
	line[len] = '\n';
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd >= 0) {
		n = write(fd, line, len + 1);
		if (close(fd) < 0)
			n = -1;
	}
	free(line);
	return n == (ssize_t)len + 1 ? 0 : -1;
}

static int agree(void)
{
	char out[KR_VAL_MAX], why[KR_ERR_MAX], def[KR_VAL_MAX];
	char shown[KR_VAL_MAX], path[4096], *name = NULL, *val = NULL;
	size_t nsize = 0, vsize = 0;
	int k, lib, mod;

	while (getdelim(&name, &nsize, '\0', stdin) > 0 &&
	       getdelim(&val, &vsize, '\0', stdin) > 0) {
		k = knob(name);
		snprintf(path, sizeof(path), "%s/%s", kr_knobs[k].param ?
			 kr_param_dir() : kr_proc_dir(), name);
		lib = kr_parse(k, val, out, why) < 0;
		if (raw_read(path, def, sizeof(def)) < 0) {
			perror(path);
			return 2;
		}
		mod = raw_write(path, val) < 0;
		strcpy(shown, "-");
		if (!mod && (raw_read(path, shown, sizeof(shown)) < 0 ||
			     raw_write(path, def) < 0)) {
			fprintf(stderr, "%s: cannot put back \"%s\"\n", path, def);
			return 2;
		}
		printf("%d\t%d\t%s\t%s\n", lib, mod, lib ? why : out, shown);
	}
	free(name);
	free(val);
	return 0;
}

int main(int argc, char *argv[])
{
	char out[KR_VAL_MAX], why[KR_ERR_MAX], *text;
	json_error_t jerr;
	json_t *j;
	int k, ret;

	kr_dirs_from_env();
	if (argc >= 2 && !strcmp(argv[1], "apply"))
		return apply(argc - 2, argv + 2);
	if (argc == 2 && !strcmp(argv[1], "agree"))
		return agree();
	if (argc == 3 && !strcmp(argv[1], "stat")) {
		unsigned long long v;

		ret = kr_stat(argv[2], &v);
		if (ret < 0)
			printf("%s\n", strerror(-ret));
		else
			printf("%llu\n", v);
		return ret < 0;
	}
	if (argc != 4)
		return 2;
	k = knob(argv[2]);
	if (!strcmp(argv[1], "parse")) {
		ret = kr_parse(k, argv[3], out, why);
	} else if (!strcmp(argv[1], "json")) {
		text = json_dumps(kr_to_json(k, argv[3]), JSON_ENCODE_ANY);
		printf("%s\n", text ? text : "(null)");
		return 0;
	} else if (!strcmp(argv[1], "fromjson")) {
		j = json_loads(argv[3], JSON_DECODE_ANY, &jerr);
		if (!j)
			return 2;
		ret = kr_from_json(k, j, out, why);
		json_decref(j);
	} else {
		return 2;
	}
	printf("%s\n", ret < 0 ? why : out);
	return ret < 0 ? 1 : 0;
}
