// SPDX-License-Identifier: GPL-2.0
/*
 * Writing the krelay knobs (libkrelay: grammar, files, all or nothing) and
 * the optional configuration file that remembers the values set through
 * the API. A change is kept only when the file took it too: a value the
 * module would hold after a restart of webadmin is a value in the file.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "webadmin.h"

/*
 * Serialises writes to the knob files (API and config file) and protects
 * conf, the values the configuration file holds.
 */
static pthread_mutex_t knobs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kr_set conf;

static void warn_rollback(const struct kr_fail *f)
{
	int k;

	for (k = 0; k < KR_NKNOBS; k++)
		if (f->unrestored & (1U << k))
			log_warnx("rollback %s: could not restore the old value",
				  kr_knobs[k].name);
}

/* Save conf with s merged in; conf unchanged when that fails. */
static int save_locked(const struct kr_set *s)
{
	struct kr_set next = conf;
	int k, err;

	if (!wa.config_file)
		return 0;
	for (k = 0; k < KR_NCONF; k++) {
		if (s->set[k]) {
			next.set[k] = true;
			memcpy(next.val[k], s->val[k], KR_VAL_MAX);
		}
	}
	err = kr_conf_save(wa.config_file, &next);
	if (err == 0)
		conf = next;
	return err;
}

/*
 * Write s and save it to the configuration file, all or nothing: when the
 * module refuses a value or the file cannot be saved, every knob written
 * goes back to its old value (into old, when not NULL). On failure, f->knob
 * is the knob refused (-1: the file) and err says what happened.
 */
int knobs_apply(const struct kr_set *s, struct kr_set *old,
		struct kr_fail *f, char *err)
{
	struct kr_set before;
	struct kr_fail undo;
	int ret;

	if (!old)
		old = &before;
	err[0] = '\0';
	pthread_mutex_lock(&knobs_lock);
	ret = kr_apply(s, old, f);
	if (ret < 0) {
		warn_rollback(f);
		goto out;
	}
	ret = save_locked(s);
	if (ret < 0) {
		snprintf(err, KR_ERR_MAX, "save %.200s: %s; nothing changed",
			 wa.config_file, strerror(-ret));
		log_warnx("%s", err);
		f->knob = -1;
		if (kr_apply(old, NULL, &undo) < 0) {
			log_warnx("rollback after the failed save: %s",
				  undo.knob >= 0 ? kr_knobs[undo.knob].name : "?");
			warn_rollback(&undo);
		}
	}
out:
	pthread_mutex_unlock(&knobs_lock);
	return ret;
}

static void conf_warn(const char *path, int line, int k, const char *val,
		      const char *why)
{
	if (k < 0)
		log_warnx("%s:%d: %s", path, line, why);
	else
		log_warnx("%s:%d: %s: %s", path, line, kr_knobs[k].name, why);
}

/* Read the configuration file; a missing file is an empty one. */
int conffile_load(const char *path)
{
	char why[KR_ERR_MAX];
	int ret, bad;

	ret = kr_conf_load(path, false, &conf, conf_warn);
	if (ret == -ENOENT) {
		memset(&conf, 0, sizeof(conf));
		return 0;
	}
	if (ret < 0 && ret != -EINVAL)
		log_warnx("%s: %s", path, strerror(-ret));
	if (ret == 0 && conf.set[KR_GPORT] && conf.set[KR_TCP_PORTS] &&
	    kr_set_check(&conf, &bad, why) < 0) {
		log_warnx("%s: %s: %s", path, kr_knobs[bad].name, why);
		ret = -1;
	}
	return ret < 0 ? -1 : 0;
}

/* Put the configuration file's values into a (newly) loaded module. */
void conffile_apply(void)
{
	struct kr_fail f;
	int err, k, n = 0;

	pthread_mutex_lock(&knobs_lock);
	for (k = 0; k < KR_NCONF; k++)
		n += conf.set[k];
	err = n ? kr_apply(&conf, NULL, &f) : 0;
	pthread_mutex_unlock(&knobs_lock);
	if (err < 0) {
		log_warnx("apply %s: %s: %s (nothing applied)", wa.config_file,
			  f.knob >= 0 ? kr_knobs[f.knob].name : "?",
			  strerror(-err));
		warn_rollback(&f);
	} else if (n) {
		log_info("applied %d settings from %s", n, wa.config_file);
	}
}
