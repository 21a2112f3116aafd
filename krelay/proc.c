// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/krelay: one file per knob, the NAT table and the counters.
 */
#include <linux/capability.h>
#include <linux/in.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>

#include "krelay.h"
#include "table.h"

#define KNOB_BUF	(KRELAY_MAX_IFNAMES * IFNAMSIZ + 16)

static struct proc_dir_entry *krelay_dir;

static int knob_show(struct seq_file *m, void *v)
{
	const struct krelay_knob *k = m->private;
	char buf[KNOB_BUF];

	krelay_knob_show(k, buf, sizeof(buf));
	seq_puts(m, buf);
	return 0;
}

static int knob_open(struct inode *inode, struct file *file)
{
	return single_open(file, knob_show, pde_data(inode));
}

/*
 * Copy a whole write into buf. Writes must start at offset 0 and fit:
 * partial or oversized values are refused, never truncated.
 */
static ssize_t copy_write(char *buf, size_t size, const char __user *ubuf,
			  size_t count, loff_t *ppos)
{
	if (!capable(CAP_NET_ADMIN))
		return -EPERM;
	if (*ppos != 0)
		return -ESPIPE;
	if (count == 0 || count >= size)
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	return count;
}

static ssize_t knob_write(struct file *file, const char __user *ubuf,
			  size_t count, loff_t *ppos)
{
	const struct krelay_knob *k = pde_data(file_inode(file));
	char buf[KNOB_BUF];
	ssize_t n;
	int err;

	n = copy_write(buf, sizeof(buf), ubuf, count, ppos);
	if (n < 0)
		return n;
	err = krelay_knob_store(k, buf, n);
	return err ? err : n;
}

static const struct proc_ops knob_ops = {
	.proc_open	= knob_open,
	.proc_read	= seq_read,
	.proc_lseek	= seq_lseek,
	.proc_release	= single_release,
	.proc_write	= knob_write,
};

static int stats_show(struct seq_file *m, void *v)
{
	unsigned int i;

	for (i = 0; i < KRELAY_STAT_MAX; i++)
		seq_printf(m, "%s %llu\n", krelay_stat_names[i],
			   krelay_stat_sum(i));
	seq_printf(m, "entries_udp %u\n", krelay_table_count(IPPROTO_UDP));
	seq_printf(m, "entries_tcp %u\n", krelay_table_count(IPPROTO_TCP));
	seq_printf(m, "listener_port %u\n", krelay_listener_port());
	seq_printf(m, "hash_buckets %u\n", krelay_table_buckets());
	seq_printf(m, "kernel_pairs %u\n", krelay_kmode_pairs());
	seq_printf(m, "kernel_listener_port %u\n",
		   krelay_kmode_listener_port());
	return 0;
}

static int nat_open(struct inode *inode, struct file *file)
{
	return krelay_table_seq_open(file);
}

static ssize_t nat_write(struct file *file, const char __user *ubuf,
			 size_t count, loff_t *ppos)
{
	char buf[KNOB_BUF];
	ssize_t n;
	int err;

	n = copy_write(buf, sizeof(buf), ubuf, count, ppos);
	if (n < 0)
		return n;
	err = krelay_table_command(buf, n);
	return err ? err : n;
}

static const struct proc_ops nat_ops = {
	.proc_open	= nat_open,
	.proc_read	= seq_read,
	.proc_lseek	= seq_lseek,
	.proc_release	= seq_release_private,
	.proc_write	= nat_write,
};

int krelay_proc_init(void)
{
	unsigned int i;

	krelay_dir = proc_mkdir("krelay", NULL);
	if (!krelay_dir)
		return -ENOMEM;
	for (i = 0; i < krelay_nr_knobs; i++)
		if (!proc_create_data(krelay_knobs[i].name, 0644, krelay_dir,
				      &knob_ops, (void *)&krelay_knobs[i]))
			goto err;
	if (!proc_create_single("stats", 0444, krelay_dir, stats_show))
		goto err;
	if (!proc_create("nat", 0640, krelay_dir, &nat_ops))
		goto err;
	return 0;
err:
	proc_remove(krelay_dir);
	return -ENOMEM;
}

void krelay_proc_exit(void)
{
	proc_remove(krelay_dir);
}
