// SPDX-License-Identifier: GPL-2.0
/*
 * The NAT table: RCU hash of flows, striped bucket locks, eviction of
 * untrusted flows when full, per-client accounting, and a deferrable
 * garbage collector.
 */
#include <linux/inet.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/netdevice.h>
#include <linux/random.h>
#include <linux/seq_file.h>
#include <linux/siphash.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

#include "krelay.h"
#include "table.h"
#include "track.h"

static unsigned int hashsize;
module_param(hashsize, uint, 0444);
MODULE_PARM_DESC(hashsize, "NAT table hash buckets at load (power of two; default: max_entries rounded up); the hash grows with max_entries");

#define KRELAY_LOCKS		1024
#define GC_MAX_RUN		msecs_to_jiffies(10)
#define GC_BATCH		32
#define WHEEL_SLOTS		512	/* seconds ahead, a power of two */
#define CC_LOCKS		256

/*
 * The flow hash, replaced whole when max_entries outgrows it (as
 * conntrack's resize): readers use it under RCU; a lookup that misses
 * while a resize moved the nodes (hgen changed) looks again.
 */
struct krelay_hash {
	unsigned int		mask;
	struct hlist_head	b[];
};

static struct krelay_hash __rcu *htab;
/* Keyed hashing (as conntrack): chains an attacker cannot aim at. */
static hsiphash_key_t hash_key __read_mostly;
/*
 * locks[i] protects the chains of all buckets b with b % KRELAY_LOCKS == i.
 * A resize sets locks_all under locks_all_lock and waits for each lock once;
 * whoever then takes a bucket lock waits for locks_all_lock (hlock_bh).
 */
static spinlock_t locks[KRELAY_LOCKS];
static DEFINE_SPINLOCK(locks_all_lock);
static bool locks_all;
static seqcount_spinlock_t hgen = SEQCNT_SPINLOCK_ZERO(hgen, &locks_all_lock);
/* Serialises resizes with full walks (flush), which must see one hash. */
static DEFINE_MUTEX(resize_mutex);
static struct kmem_cache *flow_cache;

/*
 * The flows a full table may evict, oldest first: those not yet seen past
 * the filter, then the confirmed ones whose state is evictable, in the
 * order they became so. evict_lock protects both lists; a flow is on at
 * most one, and changes list only under its own lock too.
 */
static DEFINE_SPINLOCK(evict_lock);
static LIST_HEAD(unconfirmed_list);
static LIST_HEAD(evictable_list);

/* How many flows each client address holds (max_per_client). */
struct krelay_client_count {
	struct hlist_node	node;
	__be32			ip;
	atomic_t		n;
	struct rcu_head		rcu;
};

/* As many buckets as the flow hash at load: a flood of spoofed sources has one each. */
static struct hlist_head *cc_buckets;
static unsigned int cc_hmask;
/* cc_locks[i] protects the chains of cc buckets b with b % CC_LOCKS == i. */
static spinlock_t cc_locks[CC_LOCKS];

static atomic_t count_all, count_udp, count_tcp;

/*
 * Expiry is a lazy timer wheel, so that the GC's work follows the flows
 * that may expire, not the size of the table. Each flow sits on the slot
 * of the second it may expire in, as last placed (at most WHEEL_SLOTS - 1
 * ahead). Packets only move last_seen; the GC visits the slots that are
 * due, deletes the flows found expired and places the others again. What
 * may shorten a flow's timeout places it again at once: a state change,
 * its confirmation, and (for every flow) a timeout knob's change.
 * wheel_lock protects the slots, wheel_redo (flows to place again),
 * gc_due (the due slot the GC is working through) and wheel_tick and
 * wheel_next: slot wheel_tick is the next due, at jiffies wheel_next. It
 * nests inside f->lock; a flow is put on a slot only while f->dead is
 * false under wheel_lock (flow_delete sets dead first).
 */
static struct list_head wheel[WHEEL_SLOTS];
static LIST_HEAD(wheel_redo);
static LIST_HEAD(gc_due);
static DEFINE_SPINLOCK(wheel_lock);
static unsigned long wheel_tick, wheel_next;

static struct delayed_work gc_work;

static u32 tuple_hash(const struct krelay_hash *h, const struct krelay_tuple *t)
{
	return hsiphash_3u32((__force u32)t->src, (__force u32)t->dst,
			     ((__force u32)t->sport << 16 |
			      (__force u32)t->dport) ^ t->proto,
			     &hash_key) & h->mask;
}

static bool tuple_eq(const struct krelay_tuple *a, const struct krelay_tuple *b)
{
	return a->src == b->src && a->dst == b->dst &&
	       a->sport == b->sport && a->dport == b->dport &&
	       a->proto == b->proto;
}

/* A bucket lock, unless a resize holds them all (as nf_conntrack_lock). */
static void hlock_bh(spinlock_t *l)
{
	local_bh_disable();
	spin_lock(l);
	/* Pairs with the release that ends a resize. */
	if (likely(!smp_load_acquire(&locks_all)))
		return;
	spin_unlock(l);
	spin_lock(&locks_all_lock);
	spin_lock(l);
	spin_unlock(&locks_all_lock);
}

static void lock2(u32 h0, u32 h1)
{
	h0 %= KRELAY_LOCKS;
	h1 %= KRELAY_LOCKS;
	if (h0 > h1)
		swap(h0, h1);
	hlock_bh(&locks[h0]);
	/* A resize cannot start while we hold one lock: it waits for each. */
	if (h1 != h0)
		spin_lock_nested(&locks[h1], SINGLE_DEPTH_NESTING);
}

static void unlock2(u32 h0, u32 h1)
{
	h0 %= KRELAY_LOCKS;
	h1 %= KRELAY_LOCKS;
	if (h1 != h0)
		spin_unlock(&locks[h1]);
	spin_unlock_bh(&locks[h0]);
}

/* Callers hold rcu_read_lock (the hooks do) or a lock of the bucket. */
static struct krelay_node *find(struct krelay_hash *h, u32 b,
				const struct krelay_tuple *t)
{
	struct krelay_node *n;

	hlist_for_each_entry_rcu(n, &h->b[b], hnode)
		if (tuple_eq(&n->t, t))
			return n;
	return NULL;
}

/* Caller holds rcu_read_lock (the hooks do). */
struct krelay_node *krelay_lookup(const struct krelay_tuple *t)
{
	struct krelay_hash *h;
	struct krelay_node *n;
	unsigned int seq;

	do {
		seq = read_seqcount_begin(&hgen);
		h = rcu_dereference(htab);
		n = find(h, tuple_hash(h, t), t);
	} while (!n && read_seqcount_retry(&hgen, seq));

	if (n && READ_ONCE(krelay_node_flow(n)->dead))
		return NULL;
	return n;
}

static atomic_t *proto_count(u8 proto)
{
	return proto == IPPROTO_TCP ? &count_tcp : &count_udp;
}

unsigned int krelay_table_count(u8 proto)
{
	return atomic_read(proto_count(proto));
}

/*
 * Lock the buckets of a's and b's tuples in the current hash (*h), with
 * the bucket numbers in *ha and *hb. Caller holds rcu_read_lock.
 */
static void lock_pair(const struct krelay_node *a, const struct krelay_node *b,
		      struct krelay_hash **h, u32 *ha, u32 *hb)
{
	unsigned int seq;

	for (;;) {
		seq = read_seqcount_begin(&hgen);
		*h = rcu_dereference(htab);
		*ha = tuple_hash(*h, &a->t);
		*hb = tuple_hash(*h, &b->t);
		lock2(*ha, *hb);
		if (!read_seqcount_retry(&hgen, seq))
			return;
		unlock2(*ha, *hb);	/* a resize came between */
	}
}

/* Hash the pair of roles (r, r + 1); fails if either tuple is taken. */
static int hash_pair(struct krelay_flow *f, unsigned int r)
{
	struct krelay_node *a = &f->node[r], *b = &f->node[r + 1];
	struct krelay_hash *h;
	u32 ha, hb;
	int err = 0;

	rcu_read_lock();
	lock_pair(a, b, &h, &ha, &hb);
	if (find(h, ha, &a->t) || find(h, hb, &b->t)) {
		err = -EEXIST;
	} else {
		hlist_add_head_rcu(&a->hnode, &h->b[ha]);
		hlist_add_head_rcu(&b->hnode, &h->b[hb]);
	}
	unlock2(ha, hb);
	rcu_read_unlock();
	return err;
}

static void unhash_pair(struct krelay_flow *f, unsigned int r)
{
	struct krelay_node *a = &f->node[r], *b = &f->node[r + 1];
	struct krelay_hash *h;
	u32 ha, hb;

	rcu_read_lock();
	lock_pair(a, b, &h, &ha, &hb);
	hlist_del_rcu(&a->hnode);
	hlist_del_rcu(&b->hnode);
	unlock2(ha, hb);
	rcu_read_unlock();
}

static void flow_free_rcu(struct rcu_head *head)
{
	kmem_cache_free(flow_cache, container_of(head, struct krelay_flow, rcu));
}

static u32 cc_hash(__be32 ip)
{
	return hsiphash_1u32((__force u32)ip, &hash_key) & cc_hmask;
}

/* Take one flow's share of ip's count; NULL when out of memory. */
static struct krelay_client_count *cc_get(__be32 ip)
{
	u32 h = cc_hash(ip);
	struct krelay_client_count *cc;

	hlist_for_each_entry_rcu(cc, &cc_buckets[h], node)
		if (cc->ip == ip && atomic_inc_not_zero(&cc->n))
			return cc;
	spin_lock_bh(&cc_locks[h % CC_LOCKS]);
	hlist_for_each_entry(cc, &cc_buckets[h], node)
		if (cc->ip == ip && atomic_inc_not_zero(&cc->n))
			goto out;
	cc = kmalloc(sizeof(*cc), GFP_ATOMIC);
	if (cc) {
		cc->ip = ip;
		atomic_set(&cc->n, 1);
		hlist_add_head_rcu(&cc->node, &cc_buckets[h]);
	}
out:
	spin_unlock_bh(&cc_locks[h % CC_LOCKS]);
	return cc;
}

static void cc_put(struct krelay_client_count *cc)
{
	u32 h;

	if (!atomic_dec_and_test(&cc->n))
		return;
	/* At zero nobody can take it again (atomic_inc_not_zero). */
	h = cc_hash(cc->ip);
	spin_lock_bh(&cc_locks[h % CC_LOCKS]);
	hlist_del_rcu(&cc->node);
	spin_unlock_bh(&cc_locks[h % CC_LOCKS]);
	kfree_rcu(cc, rcu);
}

/*
 * Caller holds f->lock: put f on the list its state calls for. A new flow
 * goes on the unconfirmed list and stays there until confirmed; then it
 * is on the evictable list while its state is evictable. A flow off every
 * list while it should be on one is being evicted (evict_one) and is left
 * alone.
 */
static void evict_list_update(struct krelay_flow *f, bool created)
{
	bool evictable = krelay_state_evictable(f->state);

	lockdep_assert_held(&f->lock);
	if (f->dead)
		return;
	spin_lock(&evict_lock);
	if (created)
		list_add_tail(&f->evict, &unconfirmed_list);
	else if (f->confirmed && !evictable)
		list_del_init(&f->evict);
	else if (f->confirmed && !f->evictable)
		list_move_tail(&f->evict, &evictable_list);
	f->evictable = f->confirmed && evictable;
	spin_unlock(&evict_lock);
}

static bool flow_expired(const struct krelay_flow *f, unsigned long now)
{
	return time_after(now, READ_ONCE(f->last_seen) + krelay_flow_timeout(f));
}

/*
 * Caller holds wheel_lock: put f on the first due slot after the jiffy it
 * may expire at (the next slot at the earliest: the GC handles the current
 * one), unless it is being deleted.
 */
static void wheel_place_locked(struct krelay_flow *f)
{
	unsigned long at = READ_ONCE(f->last_seen) + krelay_flow_timeout(f);
	unsigned long k = 0;

	lockdep_assert_held(&wheel_lock);
	if (READ_ONCE(f->dead))
		return;
	if (!time_before(at, wheel_next))
		k = min_t(unsigned long, (at - wheel_next) / HZ + 1,
			  WHEEL_SLOTS - 1);
	list_move_tail(&f->expiry, &wheel[(wheel_tick + k) & (WHEEL_SLOTS - 1)]);
}

static void wheel_place(struct krelay_flow *f)
{
	spin_lock_bh(&wheel_lock);
	wheel_place_locked(f);
	spin_unlock_bh(&wheel_lock);
}

/* Unhash f and free it after a grace period; false if already gone. */
static bool flow_delete(struct krelay_flow *f, enum krelay_stat why)
{
	unsigned int nodes, r;

	spin_lock_bh(&f->lock);
	if (f->dead) {
		spin_unlock_bh(&f->lock);
		return false;
	}
	WRITE_ONCE(f->dead, true);
	nodes = f->nodes;
	spin_lock(&evict_lock);
	list_del_init(&f->evict);
	spin_unlock(&evict_lock);
	spin_lock(&wheel_lock);
	list_del_init(&f->expiry);
	spin_unlock(&wheel_lock);
	spin_unlock_bh(&f->lock);

	for (r = 0; r < nodes; r += 2)
		unhash_pair(f, r);
	if (f->cc)
		cc_put(f->cc);
	atomic_dec(proto_count(f->proto));
	atomic_dec(&count_all);
	krelay_count(why);
	call_rcu(&f->rcu, flow_free_rcu);
	return true;
}

void krelay_flow_delete(struct krelay_flow *f)
{
	flow_delete(f, KRELAY_STAT_DELETED);
}

/*
 * Make room for one flow: evict the oldest unconfirmed flow, else the
 * oldest untrusted one, as conntrack's early drop does.
 */
static bool evict_one(void)
{
	struct krelay_flow *f;

	spin_lock_bh(&evict_lock);
	f = list_first_entry_or_null(&unconfirmed_list, struct krelay_flow,
				     evict);
	if (!f)
		f = list_first_entry_or_null(&evictable_list,
					     struct krelay_flow, evict);
	if (f)
		list_del_init(&f->evict);
	spin_unlock_bh(&evict_lock);
	return f && flow_delete(f, KRELAY_STAT_EVICTED);
}

static void set_tuple(struct krelay_tuple *t, __be32 src, __be16 sport,
		      __be32 dst, __be16 dport, u8 proto)
{
	t->src = src;
	t->sport = sport;
	t->dst = dst;
	t->dport = dport;
	t->proto = proto;
}

/*
 * Create the flow for a packet whose tuple is orig (client -> relay).
 * Called from the hooks, under rcu_read_lock. Returns the flow in the
 * table, which may be one another CPU created for the same packet tuple.
 */
struct krelay_flow *krelay_flow_create(const struct krelay_tuple *orig,
				       __be32 server_ip, __be16 gport)
{
	u32 max_per_client = READ_ONCE(krelay_cfg.max_per_client);
	struct krelay_client_count *cc;
	struct krelay_flow *f;
	struct krelay_node *n;
	unsigned int r;

	cc = cc_get(orig->src);
	if (!cc) {
		krelay_count(KRELAY_STAT_DROP_NOMEM);
		return ERR_PTR(-ENOMEM);
	}
	if (max_per_client && atomic_read(&cc->n) > max_per_client) {
		cc_put(cc);
		krelay_count(KRELAY_STAT_DROP_PER_CLIENT);
		return ERR_PTR(-EDQUOT);
	}
	if (atomic_inc_return(&count_all) > READ_ONCE(krelay_cfg.max_entries) &&
	    !evict_one()) {
		atomic_dec(&count_all);
		cc_put(cc);
		krelay_count(KRELAY_STAT_DROP_TABLE_FULL);
		net_warn_ratelimited("table full, dropping packet\n");
		return ERR_PTR(-ENOSPC);
	}
	/* evict_one() took the evicted flow off the count: ours stays on. */

	f = kmem_cache_zalloc(flow_cache, GFP_ATOMIC);
	if (!f) {
		atomic_dec(&count_all);
		cc_put(cc);
		krelay_count(KRELAY_STAT_DROP_NOMEM);
		return ERR_PTR(-ENOMEM);
	}
	spin_lock_init(&f->lock);
	INIT_LIST_HEAD(&f->evict);
	INIT_LIST_HEAD(&f->expiry);
	f->cc = cc;
	for (r = 0; r < KRELAY_ROLE_MAX; r++)
		f->node[r].role = r;
	f->proto = orig->proto;
	f->client_ip = orig->src;
	f->client_port = orig->sport;
	f->relay_ip = orig->dst;
	f->relay_port = orig->dport;
	f->server_ip = server_ip;
	f->server_port = orig->dport;
	f->gport = gport;
	f->created = jiffies;
	f->last_seen = f->created;
	f->nodes = 2;

	f->node[KRELAY_ROLE_ORIG].t = *orig;
	if (f->proto == IPPROTO_UDP) {
		f->state = KRELAY_UDP_UNREPLIED;
		set_tuple(&f->node[KRELAY_ROLE_REPLY].t, server_ip,
			  f->server_port, f->client_ip, f->client_port,
			  f->proto);
	} else {
		f->state = KRELAY_TCP_SYN_SENT;
		set_tuple(&f->node[KRELAY_ROLE_REPLY].t, f->relay_ip, gport,
			  f->client_ip, f->client_port, f->proto);
	}

	/* Counted before it is visible: a delete may follow at once. */
	atomic_inc(proto_count(f->proto));
	if (hash_pair(f, KRELAY_ROLE_ORIG)) {
		kmem_cache_free(flow_cache, f);
		cc_put(cc);
		atomic_dec(proto_count(orig->proto));
		atomic_dec(&count_all);
		krelay_count(KRELAY_STAT_INSERT_FAILED);
		/* Lost a race for the same tuple, or a clash on the reply. */
		n = krelay_lookup(orig);
		if (n && n->role == KRELAY_ROLE_ORIG)
			return krelay_node_flow(n);
		krelay_count(KRELAY_STAT_DROP_CLASH);
		return ERR_PTR(-EEXIST);
	}
	/*
	 * Another CPU may already have deleted the flow (flush): only a live
	 * flow goes on a list, or it would stay there after it is freed.
	 */
	spin_lock_bh(&f->lock);
	evict_list_update(f, true);
	wheel_place(f);
	spin_unlock_bh(&f->lock);
	krelay_count(KRELAY_STAT_INSERT);
	return f;
}

/* The server-side roles' tuples of f linked to the relay's socket local:y. */
static void srv_tuples(const struct krelay_flow *f, __be32 local_ip, __be16 y,
		       struct krelay_tuple *out, struct krelay_tuple *in)
{
	set_tuple(out, local_ip, y, f->server_ip, f->server_port, f->proto);
	set_tuple(in, f->server_ip, f->server_port, f->client_ip, y, f->proto);
}

/*
 * Hash the server-side roles of a TCP flow (tcp_relay's socket local:y,
 * whose sock_diag cookie the hooks check on T3). The fields T3 and T4
 * translate to are set before the nodes are published.
 */
static int flow_link(struct krelay_flow *f, __be32 local_ip, __be16 y,
		     const u32 cookie[2])
{
	int err;

	spin_lock_bh(&f->lock);
	if (f->dead || f->nodes != 2) {
		err = f->dead ? -ENOENT : -EBUSY;
		goto out;
	}
	srv_tuples(f, local_ip, y, &f->node[KRELAY_ROLE_SRV_OUT].t,
		   &f->node[KRELAY_ROLE_SRV_IN].t);
	WRITE_ONCE(f->local_ip, local_ip);
	WRITE_ONCE(f->y, y);
	f->cookie[0] = cookie[0];
	f->cookie[1] = cookie[1];
	/* hlist_add_head_rcu publishes the fields above with the nodes. */
	err = hash_pair(f, KRELAY_ROLE_SRV_OUT);
	if (err) {
		WRITE_ONCE(f->local_ip, 0);
		WRITE_ONCE(f->y, 0);
		err = -EADDRINUSE;
		goto out;
	}
	f->nodes = 4;
out:
	spin_unlock_bh(&f->lock);
	return err;
}

/*
 * The flow holding server-side role t, deleted if it is closing. The
 * caller's socket is bound to its port y and no relay socket is bound
 * with SO_REUSEADDR, so the stack holds no socket of that flow any more
 * (not even in TIME_WAIT): it outlives its connection, as a closing flow
 * may (TIME_WAIT here lasts longer than the stack's), and goes early as
 * an eviction would take it. An ESTABLISHED one stays: bind again.
 */
static bool reclaim(const struct krelay_tuple *t, const struct krelay_flow *f)
{
	struct krelay_flow *g;
	struct krelay_node *n;

	n = krelay_lookup(t);
	if (!n || n->role < KRELAY_ROLE_SRV_OUT)
		return false;
	g = krelay_node_flow(n);
	if (g == f || !krelay_state_evictable(READ_ONCE(g->state)))
		return false;
	return flow_delete(g, KRELAY_STAT_EVICTED);
}

/*
 * Link a flow to the relay's bound server socket local:y. EADDRINUSE when
 * a flow that is not closing holds local:y -> server or server -> client:y.
 * Under rcu_read_lock().
 */
int krelay_flow_link(struct krelay_flow *f, __be32 local_ip, __be16 y,
		     const u32 cookie[2])
{
	struct krelay_tuple out, in;
	bool gone;
	int err;

	err = flow_link(f, local_ip, y, cookie);
	if (err != -EADDRINUSE)
		return err;
	srv_tuples(f, local_ip, y, &out, &in);
	gone = reclaim(&out, f);
	gone |= reclaim(&in, f);
	return gone ? flow_link(f, local_ip, y, cookie) : err;
}

/* The flow's first packet got past routing and the filter. */
void krelay_flow_confirm(struct krelay_flow *f)
{
	if (READ_ONCE(f->confirmed))
		return;
	spin_lock_bh(&f->lock);
	if (!f->confirmed && !f->dead) {
		WRITE_ONCE(f->confirmed, true);
		/* Off the unconfirmed list, onto the evictable one if it is. */
		spin_lock(&evict_lock);
		list_del_init(&f->evict);
		spin_unlock(&evict_lock);
		evict_list_update(f, false);
		wheel_place(f);
	}
	spin_unlock_bh(&f->lock);
}

void krelay_flow_seen(struct krelay_flow *f, enum krelay_role role,
		      unsigned int len)
{
	unsigned long now = jiffies;

	if (READ_ONCE(f->last_seen) != now)
		WRITE_ONCE(f->last_seen, now);
	if (role == KRELAY_ROLE_ORIG || role == KRELAY_ROLE_REPLY) {
		atomic64_inc(&f->packets[role]);
		atomic64_add(len, &f->bytes[role]);
	}
}

/* Caller holds f->lock. */
void krelay_flow_set_state(struct krelay_flow *f, u8 state)
{
	lockdep_assert_held(&f->lock);
	WRITE_ONCE(f->state, state);
	evict_list_update(f, false);
	wheel_place(f);
}

/* The hash while resize_mutex is held: no resize can replace it. */
static struct krelay_hash *htab_locked(void)
{
	return rcu_dereference_protected(htab,
					 lockdep_is_held(&resize_mutex));
}

/*
 * Call fn for every flow (once, through its ORIG node), under RCU, with
 * cond_resched between chunks of buckets. fn may delete the flow.
 * Stops early when fn returns false. Process context: no resize runs
 * meanwhile, so a flush misses nothing.
 */
static void walk_flows(bool (*fn)(struct krelay_flow *f, void *arg),
		       void *arg)
{
	struct krelay_node *n;
	struct krelay_hash *h;
	unsigned int b;

	mutex_lock(&resize_mutex);
	h = htab_locked();
	rcu_read_lock();
	for (b = 0; b <= h->mask; b++) {
		hlist_for_each_entry_rcu(n, &h->b[b], hnode)
			if (n->role == KRELAY_ROLE_ORIG &&
			    !fn(krelay_node_flow(n), arg))
				goto out;
		if ((b & 1023) == 1023) {
			rcu_read_unlock();
			cond_resched();
			rcu_read_lock();
		}
	}
out:
	rcu_read_unlock();
	mutex_unlock(&resize_mutex);
}

static bool flush_one(struct krelay_flow *f, void *arg)
{
	flow_delete(f, KRELAY_STAT_DELETED);
	return true;
}

void krelay_table_flush(void)
{
	walk_flows(flush_one, NULL);
}

/*
 * Caller holds wheel_lock: take up to GC_BATCH expired flows off list l
 * into batch, placing the others again. Returns how many it took.
 */
static unsigned int gc_take(struct list_head *l, struct krelay_flow **batch,
			    unsigned long now)
{
	unsigned int n = 0, seen = 0;
	struct krelay_flow *f;

	while (n < GC_BATCH && seen < 4 * GC_BATCH &&
	       (f = list_first_entry_or_null(l, struct krelay_flow, expiry))) {
		seen++;
		if (flow_expired(f, now)) {
			list_del_init(&f->expiry);
			batch[n++] = f;
		} else {
			wheel_place_locked(f);
		}
	}
	krelay_count_n(KRELAY_STAT_GC_CHECKED, seen);
	return n;
}

/*
 * Work through list l (the due slot, or wheel_redo) a batch at a time,
 * until it is empty or the run's deadline passes; true when empty. The
 * batch is deleted outside wheel_lock, under RCU: a flow taken off the
 * wheel stays valid until then even if another CPU deletes it first.
 */
static bool gc_drain(struct list_head *l, unsigned long deadline)
{
	struct krelay_flow *batch[GC_BATCH];
	unsigned int i, n;
	bool empty;

	for (;;) {
		rcu_read_lock();
		spin_lock_bh(&wheel_lock);
		n = gc_take(l, batch, jiffies);
		empty = list_empty(l);
		spin_unlock_bh(&wheel_lock);
		for (i = 0; i < n; i++)
			flow_delete(batch[i], KRELAY_STAT_EXPIRED);
		rcu_read_unlock();
		if (empty)
			return true;
		if (time_after(jiffies, deadline))
			return false;
		cond_resched();
	}
}

/*
 * The GC: flows to place again after a timeout knob changed, then each
 * slot that has come due, a run at most GC_MAX_RUN long; it sleeps until
 * the next slot is due. Behind by a whole turn of the wheel (an idle CPU
 * defers it), it visits every slot once and starts the wheel again at now.
 */
static void gc_worker(struct work_struct *work)
{
	unsigned long deadline = jiffies + GC_MAX_RUN, next;
	unsigned int turns = 0;

	if (!gc_drain(&wheel_redo, deadline) || !gc_drain(&gc_due, deadline))
		goto again;
	for (;;) {
		spin_lock_bh(&wheel_lock);
		if (time_before(jiffies, wheel_next)) {
			next = wheel_next - jiffies;
			spin_unlock_bh(&wheel_lock);
			break;
		}
		list_splice_init(&wheel[wheel_tick & (WHEEL_SLOTS - 1)], &gc_due);
		wheel_tick++;
		wheel_next += HZ;
		if (++turns == WHEEL_SLOTS)
			wheel_next = jiffies + HZ;
		spin_unlock_bh(&wheel_lock);
		if (!gc_drain(&gc_due, deadline))
			goto again;
	}
	queue_delayed_work(system_power_efficient_wq, &gc_work, next);
	return;
again:
	queue_delayed_work(system_power_efficient_wq, &gc_work, 1);
}

/*
 * A timeout knob changed: every flow is placed again from its new
 * timeout, by the GC (soon, in batches).
 */
void krelay_table_timeouts_changed(void)
{
	unsigned int i;

	spin_lock_bh(&wheel_lock);
	for (i = 0; i < WHEEL_SLOTS; i++)
		list_splice_tail_init(&wheel[i], &wheel_redo);
	spin_unlock_bh(&wheel_lock);
	mod_delayed_work(system_power_efficient_wq, &gc_work, 0);
}

/* The nat file: a header, then one line per flow. */

static const char *const state_names[] = KRELAY_STATE_NAMES;

void krelay_flow_export(const struct krelay_flow *f, struct krelay_entry *e)
{
	unsigned long now = jiffies;
	int d;

	memset(e, 0, sizeof(*e));
	e->proto = f->proto;
	e->state = READ_ONCE(f->state);
	e->client.ip = f->client_ip;
	e->client.port = f->client_port;
	e->relay.ip = f->relay_ip;
	e->relay.port = f->relay_port;
	e->server.ip = f->server_ip;
	e->server.port = f->server_port;
	if (f->proto == IPPROTO_TCP) {
		e->gport = f->gport;
		e->relay_port = READ_ONCE(f->y);
	}
	e->age_s = (now - f->created) / HZ;
	e->idle_s = (now - READ_ONCE(f->last_seen)) / HZ;
	for (d = 0; d < KRELAY_DIR_MAX; d++) {
		e->packets[d] = atomic64_read(&f->packets[d]);
		e->bytes[d] = atomic64_read(&f->bytes[d]);
	}
}

/*
 * Where the nat file's reader is: the skip'th ORIG node of a bucket, shown
 * as record pos. A read that goes on where the last one stopped resumes
 * there instead of walking the table again from the start (which made
 * reading a big table quadratic).
 */
struct nat_iter {
	unsigned int	bucket, skip;
	loff_t		pos;
};

/* The node the iterator names, or the first ORIG node after it. */
static struct krelay_node *nat_seek(struct nat_iter *it)
{
	struct krelay_hash *h = rcu_dereference(htab);
	struct krelay_node *n;
	unsigned int i;

	for (; it->bucket <= h->mask; it->bucket++, it->skip = 0) {
		i = 0;
		hlist_for_each_entry_rcu(n, &h->b[it->bucket], hnode)
			if (n->role == KRELAY_ROLE_ORIG && i++ == it->skip)
				return n;
	}
	return NULL;
}

static void *nat_start(struct seq_file *s, loff_t *pos)
	__acquires(RCU)
{
	struct nat_iter *it = s->private;
	struct krelay_node *n;

	rcu_read_lock();
	if (*pos == 0)
		return SEQ_START_TOKEN;
	if (*pos == it->pos)
		return nat_seek(it);
	it->bucket = 0;
	it->skip = 0;
	n = nat_seek(it);
	for (it->pos = 1; n && it->pos < *pos; it->pos++) {
		it->skip++;
		n = nat_seek(it);
	}
	return n;
}

static void *nat_next(struct seq_file *s, void *v, loff_t *pos)
{
	struct nat_iter *it = s->private;

	(*pos)++;
	if (v == SEQ_START_TOKEN) {
		it->bucket = 0;
		it->skip = 0;
	} else {
		it->skip++;
	}
	it->pos = *pos;
	return nat_seek(it);
}

static void nat_stop(struct seq_file *s, void *v)
	__releases(RCU)
{
	rcu_read_unlock();
}

static void seq_addr(struct seq_file *s, __be32 ip, __be16 port)
{
	seq_printf(s, " %pI4:%u", &ip, ntohs(port));
}

static int nat_show(struct seq_file *s, void *v)
{
	struct krelay_entry e;

	if (v == SEQ_START_TOKEN) {
		seq_puts(s, "proto state client relay server gport relay_port age_s idle_s packets bytes\n");
		return 0;
	}
	krelay_flow_export(krelay_node_flow(v), &e);
	seq_printf(s, "%s %s", e.proto == IPPROTO_TCP ? "tcp" : "udp",
		   state_names[e.state]);
	seq_addr(s, e.client.ip, e.client.port);
	seq_addr(s, e.relay.ip, e.relay.port);
	seq_addr(s, e.server.ip, e.server.port);
	if (e.gport)
		seq_printf(s, " %u", ntohs(e.gport));
	else
		seq_puts(s, " -");
	if (e.relay_port)
		seq_printf(s, " %u", ntohs(e.relay_port));
	else
		seq_puts(s, " -");
	seq_printf(s, " %u %u %llu %llu\n", e.age_s, e.idle_s,
		   e.packets[0] + e.packets[1], e.bytes[0] + e.bytes[1]);
	return 0;
}

static const struct seq_operations nat_seq_ops = {
	.start	= nat_start,
	.next	= nat_next,
	.stop	= nat_stop,
	.show	= nat_show,
};

int krelay_table_seq_open(struct file *file)
{
	return seq_open_private(file, &nat_seq_ops, sizeof(struct nat_iter));
}

struct dump_arg {
	struct krelay_entry	*e;
	unsigned int		max, n, total;
};

static bool dump_one(struct krelay_flow *f, void *arg)
{
	struct dump_arg *d = arg;

	if (d->n < d->max)
		krelay_flow_export(f, &d->e[d->n++]);
	d->total++;
	return true;
}

unsigned int krelay_table_dump(struct krelay_entry *e, unsigned int max)
{
	struct dump_arg d = { .e = e, .max = max };

	walk_flows(dump_one, &d);
	return d.total;
}

static bool page_match(const struct krelay_flow *f,
		       const struct krelay_table_filter *flt)
{
	u32 mask = flt->client_prefix ?
		   ~0U << (32 - flt->client_prefix) : 0;

	return (!flt->proto || f->proto == flt->proto) &&
	       (!flt->state || READ_ONCE(f->state) == flt->state) &&
	       !((ntohl(f->client_ip) ^ ntohl(flt->client_ip)) & mask) &&
	       (!flt->client_port || f->client_port == flt->client_port);
}

struct page_bucket {
	unsigned int	matched;	/* flows that match */
	unsigned int	taken;		/* of them, stored */
	unsigned int	resume;		/* ORIG index of the first not stored */
	unsigned int	nodes;		/* nodes in the chain */
};

/*
 * One bucket's matching flows from its skip'th ORIG node on, into e while
 * they fit. Caller holds the RCU read lock.
 */
static void page_bucket(struct krelay_hash *h, unsigned int b,
			unsigned int skip,
			const struct krelay_table_filter *flt,
			struct krelay_entry *e, unsigned int room,
			struct page_bucket *pb)
{
	unsigned int orig = 0;
	struct krelay_node *n;

	memset(pb, 0, sizeof(*pb));
	hlist_for_each_entry_rcu(n, &h->b[b], hnode) {
		pb->nodes++;
		if (n->role != KRELAY_ROLE_ORIG || orig++ < skip ||
		    !page_match(krelay_node_flow(n), flt))
			continue;
		if (pb->taken < room)
			krelay_flow_export(krelay_node_flow(n), &e[pb->taken++]);
		else if (pb->matched == pb->taken)
			pb->resume = orig - 1;
		pb->matched++;
	}
}

/*
 * A page of the table from *cursor (bucket << 32 | ORIG nodes to skip in
 * it): whole buckets while they fit, so that a flow present throughout a
 * walk is returned once; a bucket alone bigger than the page is split by
 * position. Stops when the next bucket does not fit, after
 * KRELAY_TABLE_SCAN nodes and buckets, or at the end
 * (*cursor = KRELAY_TABLE_END).
 */
unsigned int krelay_table_page(const struct krelay_table_filter *flt,
			       u64 *cursor, struct krelay_entry *e,
			       unsigned int max, u32 *stop)
{
	unsigned int b = *cursor >> 32, skip = (u32)*cursor;
	unsigned int n = 0, scanned = 0, mask;
	struct page_bucket pb;
	struct krelay_hash *h;

	if (*cursor == KRELAY_TABLE_END) {
		*stop = KRELAY_TABLE_STOP_END;
		return 0;
	}
	/* A resize grows the hash: a bucket number stays in range. */
	for (;; b++, skip = 0) {
		rcu_read_lock();
		h = rcu_dereference(htab);
		mask = h->mask;
		if (b > mask) {
			rcu_read_unlock();
			break;
		}
		page_bucket(h, b, skip, flt, e + n, max - n, &pb);
		rcu_read_unlock();
		if (pb.taken < pb.matched) {
			/* Keep the bucket whole unless it alone fills a page. */
			if (n) {
				*cursor = (u64)b << 32;
			} else {
				n = pb.taken;
				*cursor = (u64)b << 32 | pb.resume;
			}
			*stop = KRELAY_TABLE_STOP_FULL;
			return n;
		}
		n += pb.taken;
		scanned += pb.nodes + 1;	/* an empty bucket costs too */
		if (scanned >= KRELAY_TABLE_SCAN && b < mask) {
			*cursor = (u64)(b + 1) << 32;
			*stop = KRELAY_TABLE_STOP_SCAN;
			return n;
		}
		if ((b & 1023) == 1023)
			cond_resched();
	}
	*cursor = KRELAY_TABLE_END;
	*stop = KRELAY_TABLE_STOP_END;
	return n;
}

/* Whether a cursor from user space names a position in this table. */
bool krelay_table_cursor_ok(u64 cursor)
{
	bool ok;

	rcu_read_lock();
	ok = cursor == KRELAY_TABLE_END ||
	     (cursor >> 32) <= rcu_dereference(htab)->mask;
	rcu_read_unlock();
	return ok;
}

struct delete_arg {
	u8	proto;
	__be32	ip;
	__be16	port;
	bool	found;
};

static bool delete_match(struct krelay_flow *f, void *arg)
{
	struct delete_arg *d = arg;

	if (f->proto == d->proto && f->client_ip == d->ip &&
	    f->client_port == d->port) {
		flow_delete(f, KRELAY_STAT_DELETED);
		d->found = true;
	}
	return true;
}

/* "flush", or "delete PROTO CLIENT_IP:PORT", with one optional newline. */
int krelay_table_command(const char *buf, size_t len)
{
	struct delete_arg d = {};
	const char *p, *end;
	u32 port;

	if (len && buf[len - 1] == '\n')
		len--;
	if (len == 5 && !memcmp(buf, "flush", 5)) {
		krelay_table_flush();
		return 0;
	}
	if (len > 11 && !memcmp(buf, "delete tcp ", 11))
		d.proto = IPPROTO_TCP;
	else if (len > 11 && !memcmp(buf, "delete udp ", 11))
		d.proto = IPPROTO_UDP;
	else
		return -EINVAL;
	p = buf + 11;
	end = buf + len;
	if (!in4_pton(p, end - p, (u8 *)&d.ip, ':', &p) || p >= end ||
	    *p++ != ':' || krelay_parse_u32(p, end - p, 1, 65535, &port))
		return -EINVAL;
	d.port = htons(port);
	walk_flows(delete_match, &d);
	return d.found ? 0 : -ENOENT;
}

static struct krelay_hash *hash_alloc(unsigned int size)
{
	struct krelay_hash *h;

	h = kvzalloc(struct_size(h, b, size), GFP_KERNEL);
	if (h)
		h->mask = size - 1;
	return h;
}

/* Buckets for max_entries flows: as many, a power of two (2-4 nodes each). */
static unsigned int hash_size_for(u32 max_entries)
{
	return roundup_pow_of_two(clamp_t(u32, max_entries, 1024, 1U << 22));
}

/*
 * Grow the hash to fit max_entries, moving every node while the bucket
 * locks are held off (as nf_conntrack_hash_resize). Lookups go on meanwhile
 * and look again when they miss; softirq writers wait for the move, which
 * takes a few hundred milliseconds for a million flows. The hash never
 * shrinks. Process context.
 */
int krelay_table_fit(u32 max_entries)
{
	unsigned int size = hash_size_for(max_entries), b, i;
	struct krelay_hash *old, *new;
	struct hlist_node *tmp;
	struct krelay_node *n;

	mutex_lock(&resize_mutex);
	old = htab_locked();
	if (size <= old->mask + 1) {
		mutex_unlock(&resize_mutex);
		return 0;
	}
	new = hash_alloc(size);
	if (!new) {
		mutex_unlock(&resize_mutex);
		return -ENOMEM;
	}
	local_bh_disable();
	spin_lock(&locks_all_lock);
	WRITE_ONCE(locks_all, true);
	for (i = 0; i < KRELAY_LOCKS; i++) {
		/* Wait for the holder; its unlock publishes locks_all. */
		spin_lock(&locks[i]);
		spin_unlock(&locks[i]);
	}
	write_seqcount_begin(&hgen);
	for (b = 0; b <= old->mask; b++)
		hlist_for_each_entry_safe(n, tmp, &old->b[b], hnode) {
			hlist_del_rcu(&n->hnode);
			hlist_add_head_rcu(&n->hnode,
					   &new->b[tuple_hash(new, &n->t)]);
		}
	rcu_assign_pointer(htab, new);
	write_seqcount_end(&hgen);
	/* The moved chains before the locks are free (hlock_bh's acquire). */
	smp_store_release(&locks_all, false);
	spin_unlock(&locks_all_lock);
	local_bh_enable();
	mutex_unlock(&resize_mutex);
	synchronize_net();
	kvfree(old);
	return 0;
}

unsigned int krelay_table_buckets(void)
{
	unsigned int n;

	rcu_read_lock();
	n = rcu_dereference(htab)->mask + 1;
	rcu_read_unlock();
	return n;
}

int krelay_table_init(void)
{
	struct krelay_hash *h;
	unsigned int i, size;

	if (hashsize && (hashsize < 1024 || hashsize > (1U << 24) ||
			 !is_power_of_2(hashsize))) {
		pr_err("hashsize must be a power of two from 1024 to 16777216\n");
		return -EINVAL;
	}
	size = hashsize ?: hash_size_for(READ_ONCE(krelay_cfg.max_entries));
	h = hash_alloc(size);
	if (!h)
		return -ENOMEM;
	cc_hmask = size - 1;
	cc_buckets = kvcalloc(size, sizeof(*cc_buckets), GFP_KERNEL);
	if (!cc_buckets)
		goto err_hash;
	flow_cache = KMEM_CACHE(krelay_flow, 0);
	if (!flow_cache)
		goto err_cc_buckets;
	for (i = 0; i < KRELAY_LOCKS; i++)
		spin_lock_init(&locks[i]);
	for (i = 0; i < CC_LOCKS; i++)
		spin_lock_init(&cc_locks[i]);
	get_random_bytes(&hash_key, sizeof(hash_key));
	RCU_INIT_POINTER(htab, h);
	for (i = 0; i < WHEEL_SLOTS; i++)
		INIT_LIST_HEAD(&wheel[i]);
	wheel_tick = 0;
	wheel_next = jiffies + HZ;
	INIT_DEFERRABLE_WORK(&gc_work, gc_worker);
	queue_delayed_work(system_power_efficient_wq, &gc_work, HZ);
	return 0;

err_cc_buckets:
	kvfree(cc_buckets);
err_hash:
	kvfree(h);
	return -ENOMEM;
}

/* Called with the hooks unregistered: nothing adds flows any more. */
void krelay_table_exit(void)
{
	cancel_delayed_work_sync(&gc_work);
	krelay_table_flush();
	rcu_barrier();
	kmem_cache_destroy(flow_cache);
	kvfree(cc_buckets);
	kvfree(rcu_dereference_protected(htab, true));
}
