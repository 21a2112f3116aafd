#!/bin/bash
# Runs as PID 1 in the lab guest (switch_root from the initramfs): mounts
# what a system needs, builds the topology, runs the suites or a shell,
# checks the kernel's health, writes verdicts out, powers off.
# Environment (from the kernel command line): lab_top, lab_mode
# (suites|shell|cmd), lab_suites (comma-separated), lab_scale (budget
# multiplier, tests/lab/run).

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=${TERM:-linux}
out=/tmp/lab-out

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /var/log
mount -t tmpfs tmpfs /var/tmp
mkdir -p "$out" /run/netns
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 labout "$out"
# The checkout, wherever it lies (CI may clone under /tmp, now a tmpfs).
mkdir -p "$lab_top" 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose \
	labtop "$lab_top"
hostname lab
verdict() { echo "$*" | tee -a "$out/verdicts"; }
# test_times FILE: read a suite's output as it comes and write each test's
# seconds to FILE ("SECONDS NAME" a line; shunit2 prints a test's name as
# it starts it; the last one's time includes the suite's tear-down).
test_times() {
	local line name= t0=$SECONDS
	: > "$1"
	while IFS= read -r line; do
		case $line in
		test[A-Z]*)
			[ -n "$name" ] && echo "$((SECONDS - t0)) $name" >> "$1"
			name=$line t0=$SECONDS ;;
		esac
	done
	[ -n "$name" ] && echo "$((SECONDS - t0)) $name" >> "$1"
	return 0
}
# A kernel whose modules are not in the host's /lib/modules (the cached
# kernels of scripts/kernels.sh, the debug kernel): mounted in their place.
if [ -n "${lab_moddir:-}" ]; then
	if mount -t tmpfs tmpfs /lib/modules; then
		mkdir -p "/lib/modules/$(uname -r)"
		mount --bind "$lab_moddir" "/lib/modules/$(uname -r)"
	else
		verdict "LAB-SETUP FAIL (no /lib/modules on the host to mount the kernel's modules on: scripts/deps.sh makes it)"
	fi
fi
# The kernel's health checks (kernel_bad) before any suite: a splat or
# taint already there comes from the kernel's own boot (seen once on the
# debug kernel: KASAN in early CPU set-up), not from krelay, which is not
# loaded yet. The run still fails, saying so.
kernel_bad() {
	grep -E 'Oops|BUG[: ]|WARNING:|INFO: (possible|task)|lockdep|KASAN|UBSAN|kmemleak|scheduling while atomic|general protection|Call Trace' "$@" |
		grep -vE 'RCU lockdep checking is enabled|kmemleak: (Kernel memory leak detector|Automatic memory scanning)' | head -20
}
boot_taint=$(cat /proc/sys/kernel/tainted)
boot_bad=$(dmesg | kernel_bad)
[ $((boot_taint & ~(4096 | 8192))) -eq 0 ] || boot_bad="${boot_bad:-tainted=$boot_taint}"
# kmemleak (debug kernel): forget what boot left, scan on demand only.
kmemleak=/sys/kernel/debug/kmemleak
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
if [ -w $kmemleak ]; then
	echo scan=off > $kmemleak
	echo clear > $kmemleak
fi

# shellcheck source=tests/lab/topology.sh
. "$lab_top/tests/lab/topology.sh"
lab_topology_up > "$out/topology.log" 2>&1 || verdict "LAB-SETUP FAIL"
echo "lab: topology up at $(cut -d' ' -f1 /proc/uptime) s"

rc=0
case "$lab_mode" in
shell)
	. "$lab_top/tests/lab/main-job.sh"
	echo "lab: type 'exit' to power off"
	setsid -c bash -l </dev/ttyS0 >/dev/ttyS0 2>&1
	;;
cmd)
	(cd "$lab_top" && bash "$out/cmd") || rc=$?
	verdict "LAB-CMD rc=$rc"
	;;
*)
	# shellcheck source=tests/lab/budget.sh
	. "$lab_top/tests/lab/budget.sh"
	for s in ${lab_suites//,/ }; do
		start=$SECONDS
		budget=$(($(lab_budget "$lab_top/tests/$s") * ${lab_scale:-1}))
		echo "lab: running $s (budget $budget s)"
		: > "$out/$s.log"
		# timeout signals the suite's whole process group, servers included.
		(cd "$lab_top/tests" && exec timeout -k 10 "$budget" bash "./$s") \
			> "$out/$s.log" 2>&1 < /dev/null &
		spid=$!
		# (from the log, not a pipe: a server the suite leaves behind
		# must not hold the run up)
		tail -n +1 -f --pid=$spid "$out/$s.log" 2>/dev/null | test_times "$out/$s.times"
		wait $spid
		src=$?
		if [ "$src" -eq 0 ]; then
			verdict "LAB-SUITE $s PASS ($((SECONDS - start)) s)"
		elif [ "$src" -eq 124 ] || [ "$src" -eq 137 ]; then
			verdict "LAB-SUITE $s FAIL ($((SECONDS - start)) s: over its budget of $budget s, killed)"
			echo "lab: $s killed after its budget of $budget s" >> "$out/$s.log"
			rc=1
		else
			verdict "LAB-SUITE $s FAIL ($((SECONDS - start)) s)"
			rc=1
		fi
		echo "lab: $s: slowest tests: $(sort -rn "$out/$s.times" | head -n 3 |
			awk '{ printf "%s%s %d s", (NR > 1 ? ", " : ""), $2, $1 }')"
	done
	;;
esac

# The kernel's health: any splat or taint beyond out-of-tree (O, 4096) and
# unsigned (E, 8192) fails the run; so does a leak kmemleak traces to
# krelay (others are the kernel's own business, counted in the log).
if [ -w $kmemleak ]; then
	sleep 5
	echo scan > $kmemleak
	echo scan > $kmemleak
	cat $kmemleak > "$out/kmemleak.log"
	leaks=$(grep -c '^unreferenced object' "$out/kmemleak.log")
	ours=$(awk '/^unreferenced object/ { o = 0 } /krelay/ && !o { o = 1; n++ } END { print n + 0 }' \
		"$out/kmemleak.log")
	echo "lab: kmemleak: $leaks unreferenced objects, $ours traced to krelay"
	[ "$ours" -eq 0 ] || verdict "LAB-KMEMLEAK FAIL ($ours objects traced to krelay)"
	[ "$ours" -eq 0 ] || rc=1
fi
dmesg > "$out/dmesg.log"
taint=$(cat /proc/sys/kernel/tainted)
bad=$(kernel_bad "$out/dmesg.log")
if [ -n "$boot_bad" ]; then
	verdict "LAB-KERNEL FAIL (tainted=$taint; already at boot, before krelay was loaded: the kernel's own fault, boot again)"
	echo "$boot_bad"
	rc=1
elif [ -n "$bad" ] || [ $((taint & ~(4096 | 8192))) -ne 0 ]; then
	verdict "LAB-KERNEL FAIL (tainted=$taint)"
	echo "$bad"
	rc=1
else
	verdict "LAB-KERNEL OK (tainted=$taint)"
fi
[ "$rc" -eq 0 ] && verdict "LAB-RESULT PASS" || verdict "LAB-RESULT FAIL"
sync
poweroff -f
