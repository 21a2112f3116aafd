// SPDX-License-Identifier: GPL-2.0
/*
 * krelay: an IPv4 relay in netfilter hooks. Module init/exit and the
 * `start` parameter.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "krelay.h"
#include "table.h"

DEFINE_PER_CPU(struct krelay_stats, krelay_stats);

const char *const krelay_stat_names[KRELAY_STAT_MAX] = {
	[KRELAY_STAT_PRE_UDP]		= "translated_pre_udp",
	[KRELAY_STAT_PRE_TCP]		= "translated_pre_tcp",
	[KRELAY_STAT_POST_UDP]		= "translated_post_udp",
	[KRELAY_STAT_POST_TCP]		= "translated_post_tcp",
	[KRELAY_STAT_ICMP]		= "translated_icmp",
	[KRELAY_STAT_INSERT]		= "insert",
	[KRELAY_STAT_INSERT_FAILED]	= "insert_failed",
	[KRELAY_STAT_EVICTED]		= "evicted",
	[KRELAY_STAT_EXPIRED]		= "expired",
	[KRELAY_STAT_DELETED]		= "deleted",
	[KRELAY_STAT_DROP_TABLE_FULL]	= "drop_table_full",
	[KRELAY_STAT_DROP_NOMEM]	= "drop_nomem",
	[KRELAY_STAT_DROP_UNWRITABLE]	= "drop_unwritable",
	[KRELAY_STAT_DROP_CLASH]	= "drop_clash",
	[KRELAY_STAT_INVALID]		= "invalid",
	[KRELAY_STAT_OUT_OF_WINDOW]	= "out_of_window",
	[KRELAY_STAT_DROP_PER_CLIENT]	= "drop_per_client",
	[KRELAY_STAT_ICMP_BAD_CHECKSUM]	= "icmp_bad_checksum",
	[KRELAY_STAT_ICMP_REDIRECT]	= "icmp_redirect",
	[KRELAY_STAT_IMPOSTOR]		= "impostor",
	[KRELAY_STAT_NO_LISTENER]	= "no_listener",
	[KRELAY_STAT_GC_CHECKED]	= "gc_checked",
	[KRELAY_STAT_KPAIRS]		= "kernel_pairs_total",
	[KRELAY_STAT_KPAIR_REFUSED]	= "kernel_refused",
	[KRELAY_STAT_KPAIR_BYTES]	= "kernel_bytes",
};

u64 krelay_stat_sum(enum krelay_stat s)
{
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += per_cpu(krelay_stats, cpu).c[s];
	return sum;
}

/*
 * The module's life as seen by the `start` setter, which can run before
 * init (insmod krelay.ko start=1) and, through sysfs, while exit runs.
 */
enum krelay_life { KRELAY_LOADING, KRELAY_LIVE, KRELAY_GONE };

/* All three under krelay_config_mutex. */
static enum krelay_life life = KRELAY_LOADING;
static bool start_wanted;	/* start=1 given before init completed */
static bool started;		/* hooks registered */

bool krelay_started(void)
{
	return READ_ONCE(started);
}

static int do_start(bool on)
{
	int err;

	lockdep_assert_held(&krelay_config_mutex);
	if (on == started)
		return 0;
	if (on) {
		err = krelay_hooks_register();
		if (err)
			return err;
		krelay_kmode_resume();
	} else {
		/* The pairs' RSTs still translated: before the hooks go. */
		krelay_kmode_stop();
		krelay_hooks_unregister();
		krelay_table_flush();
	}
	WRITE_ONCE(started, on);
	return 0;
}

static int start_set(const char *val, const struct kernel_param *kp)
{
	bool on;
	int err = 0;

	if (!strcmp(val, "1") || !strcmp(val, "1\n"))
		on = true;
	else if (!strcmp(val, "0") || !strcmp(val, "0\n"))
		on = false;
	else
		return -EINVAL;

	mutex_lock(&krelay_config_mutex);
	switch (life) {
	case KRELAY_LOADING:
		start_wanted = on;
		break;
	case KRELAY_LIVE:
		err = do_start(on);
		break;
	case KRELAY_GONE:
		err = -ENODEV;
		break;
	}
	mutex_unlock(&krelay_config_mutex);
	return err;
}

static int start_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", krelay_started());
}

static const struct kernel_param_ops start_ops = {
	.set	= start_set,
	.get	= start_get,
};

module_param_cb(start, &start_ops, NULL, 0644);
MODULE_PARM_DESC(start, "1 registers the netfilter hooks, 0 unregisters them and flushes the table");

static int __init krelay_init(void)
{
	int err;

	err = krelay_config_init();
	if (err)
		return err;
	err = krelay_table_init();
	if (err)
		goto err_config;
	err = krelay_kmode_init();
	if (err)
		goto err_table;
	err = krelay_sockopt_init();
	if (err)
		goto err_kmode;
	err = krelay_proc_init();
	if (err)
		goto err_sockopt;

	mutex_lock(&krelay_config_mutex);
	life = KRELAY_LIVE;
	err = do_start(start_wanted);
	if (err)
		life = KRELAY_GONE;
	mutex_unlock(&krelay_config_mutex);
	if (err)
		goto err_proc;
	return 0;

err_proc:
	krelay_proc_exit();
err_sockopt:
	krelay_sockopt_exit();
	krelay_listener_exit();
err_kmode:
	krelay_kmode_exit();
err_table:
	krelay_table_exit();
err_config:
	krelay_config_exit();
	return err;
}

static void __exit krelay_exit(void)
{
	mutex_lock(&krelay_config_mutex);
	life = KRELAY_GONE;
	do_start(false);
	mutex_unlock(&krelay_config_mutex);

	krelay_proc_exit();
	krelay_kmode_exit();
	krelay_sockopt_exit();
	krelay_listener_exit();
	krelay_table_exit();
	krelay_config_exit();
}

module_init(krelay_init);
module_exit(krelay_exit);

MODULE_LICENSE("GPL");
MODULE_VERSION(KRELAY_VERSION);
MODULE_DESCRIPTION("IPv4 relay: NAT in netfilter hooks for a TCP/UDP relay");
