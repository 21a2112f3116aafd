// SPDX-License-Identifier: GPL-2.0
/*
 * The knobs: get, set and the configuration file (krelay.conf, which
 * webadmin -c writes too, plus `start`). The grammar, the writing and the
 * file are libkrelay's: input is refused before anything is written, and a
 * set is applied all or nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "krelayctl.h"

int cmd_get(int argc, char *argv[])
{
	char val[KR_VAL_MAX];
	json_t *obj = NULL;
	int i, k, err, ret = EXIT_OK, n = argc ? argc : KR_NKNOBS;

	for (i = 0; i < argc; i++) {
		if (kr_knob_index(argv[i]) < 0) {
			warnx("get: unknown knob \"%s\"", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (module_check() < 0)
		return EXIT_FAIL;
	if (json_out)
		obj = json_object();
	for (i = 0; i < n; i++) {
		k = argc ? kr_knob_index(argv[i]) : i;
		/* Without names, what the configuration file holds. */
		if (!argc && k == KR_START)
			continue;
		err = kr_read(k, val);
		if (err == -ENOENT && kr_knobs[k].optional && !argc)
			continue;
		if (err < 0) {
			warnx("get %s: %s", kr_knobs[k].name, strerror(-err));
			ret = EXIT_FAIL;
			continue;
		}
		if (obj)
			json_object_set_new(obj, kr_knobs[k].name,
					    kr_to_json(k, val));
		else
			printf("%s = %s\n", kr_knobs[k].name, val);
	}
	if (obj)
		json_print(obj);
	return ret;
}

/* "FILE:LINE: " for a value from the configuration file, else "krelayctl: ". */
static void where(const struct kr_set *s, int k, const char *src)
{
	if (src && k >= 0 && s->line[k])
		fprintf(stderr, "%s:%d: ", src, s->line[k]);
	else
		fputs("krelayctl: ", stderr);
}

/*
 * Write a set of values all or nothing (kr_apply). src names where values
 * came from in messages (the configuration file, or NULL).
 */
static int set_apply(const struct kr_set *s, const char *src)
{
	char err[KR_ERR_MAX];
	struct kr_fail f;
	int k, e;

	if (kr_set_check(s, &k, err) < 0) {
		where(s, k, src);
		fprintf(stderr, "%s\n", err);
		return EXIT_USAGE;
	}
	e = kr_apply(s, NULL, &f);
	if (e == 0)
		return EXIT_OK;
	k = f.knob;
	where(s, k, src);
	if (k < 0)
		fprintf(stderr, "%s\n", strerror(-e));
	else if (e == -ENOENT && kr_knobs[k].optional)
		fprintf(stderr, "%s: not supported by the loaded krelay module "
			"(older than these programs?): reload krelay\n",
			kr_knobs[k].name);
	else
		fprintf(stderr, "%s = %s: refused: %s\n", kr_knobs[k].name,
			s->val[k], kr_refusal(k, e));
	for (k = 0; k < KR_NKNOBS; k++)
		if (f.unrestored & (1U << k))
			warnx("rollback %s: could not restore the old value",
			      kr_knobs[k].name);
	return EXIT_FAIL;
}

int cmd_set(int argc, char *argv[])
{
	char why[KR_ERR_MAX], name[64], *eq;
	struct kr_set s;
	int i, k, ret = EXIT_OK;

	if (argc == 0) {
		warnx("set: expected KNOB=VALUE...");
		return EXIT_USAGE;
	}
	memset(&s, 0, sizeof(s));
	for (i = 0; i < argc; i++) {
		eq = strchr(argv[i], '=');
		if (!eq || (size_t)(eq - argv[i]) >= sizeof(name)) {
			warnx("set: \"%s\": expected KNOB=VALUE", argv[i]);
			ret = EXIT_USAGE;
			continue;
		}
		memcpy(name, argv[i], eq - argv[i]);
		name[eq - argv[i]] = '\0';
		k = kr_knob_index(name);
		if (k < 0) {
			warnx("set: unknown knob \"%s\"", name);
			ret = EXIT_USAGE;
		} else if (kr_parse(k, eq + 1, s.val[k], why) < 0) {
			warnx("set: %s: \"%.*s\": %s", name, KR_IN_MAX, eq + 1,
			      why);
			ret = EXIT_USAGE;
		} else {
			s.set[k] = true;
		}
	}
	if (ret != EXIT_OK)
		return ret;
	if (module_check() < 0)
		return EXIT_FAIL;
	return set_apply(&s, NULL);
}

static void conf_warn(const char *path, int line, int k, const char *val,
		      const char *why)
{
	if (k < 0)
		fprintf(stderr, "%s:%d: %s\n", path, line, why);
	else
		fprintf(stderr, "%s:%d: %s: \"%.*s\": %s\n", path, line,
			kr_knobs[k].name, KR_IN_MAX, val, why);
}

int cmd_apply(int argc, char *argv[])
{
	bool start = false;
	struct kr_set s;
	int ret;

	if (argc > 0 && !strcmp(argv[0], "-s")) {
		start = true;
		argc--;
		argv++;
	}
	if (argc != 1) {
		warnx("apply: expected [-s] FILE");
		return EXIT_USAGE;
	}
	ret = kr_conf_load(argv[0], true, &s, conf_warn);
	if (ret < 0 && ret != -EINVAL)
		warnx("%s: %s", argv[0], strerror(-ret));
	if (ret < 0) {
		warnx("%s: nothing applied", argv[0]);
		return ret == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
	}
	if (start && !s.set[KR_START]) {
		s.set[KR_START] = true;
		strcpy(s.val[KR_START], "1");
	}
	if (module_check() < 0)
		return EXIT_FAIL;
	return set_apply(&s, argv[0]);
}

int cmd_start(int on)
{
	int err;

	if (module_check() < 0)
		return EXIT_FAIL;
	err = kr_write(KR_START, on ? "1" : "0");
	if (err < 0) {
		warnx("%s: %s/start: %s", on ? "start" : "stop", kr_param_dir(),
		      strerror(-err));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
