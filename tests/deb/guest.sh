#!/bin/bash
# make check-deb, in the guest: run by debtest.service (the image of
# scripts/deb-root.sh, after multi-user.target) with the checkout mounted
# read-only at its host path and the output directory (build/debtest on
# the host) at $1. Runs tests/deb_guest_test.sh, checks the kernel's
# health, writes verdicts out, powers off. The kernel command line gives
# debtest_tests (comma-separated test names; all when empty) and
# debtest_scale (LAB_SCALE).
set -u

out=$1
# dpkg as apt runs it: debconf asks nothing.
export HOME=/root DEBIAN_FRONTEND=noninteractive
top=$(cd "$(dirname "$0")/../.." && pwd)
suite=deb_guest_test.sh
verdict() { echo "$*" | tee -a "$out/verdicts"; }
arg() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" /proc/cmdline; }

tests=$(arg debtest_tests)
export lab_scale
lab_scale=$(arg debtest_scale)
lab_scale=${lab_scale:-1}
# The suite's files on a tmpfs of their own (shunit2 runs scripts there:
# /run is noexec): the purge test looks for anything named krelay left on
# the root file system.
export TMPDIR=/run/debtest-tmp DEB_LOGS=$out
mkdir -p "$TMPDIR"
mount -t tmpfs -o mode=0755 tmpfs "$TMPDIR"
export DEB_V1=$out/debs/v1 DEB_V2=$out/debs/v2

echo "deb: guest up at $(cut -d' ' -f1 /proc/uptime) s, systemd: $(systemctl is-system-running)"
systemctl --failed --no-legend --plain > "$out/failed-units.log" 2>&1

# shellcheck source=tests/lab/budget.sh
. "$top/tests/lab/budget.sh"
budget=$(($(lab_budget "$top/tests/$suite") * lab_scale))
rc=0
start=$SECONDS
echo "deb: running $suite${tests:+ ($tests)} (budget $budget s)"
: > "$out/$suite.log"
# timeout signals the suite's whole process group, servers included.
# shellcheck disable=SC2046 # one test name a word
(cd "$top/tests" && exec timeout -k 10 "$budget" bash "./$suite" \
	$([ -n "$tests" ] && echo -- "${tests//,/ }")) > "$out/$suite.log" 2>&1 < /dev/null &
spid=$!
# The test names and failed assertions on the console as they come (from
# the log, not a pipe: a server the suite leaves behind must not hold the
# run up).
tail -n +1 -f --pid=$spid "$out/$suite.log" 2>/dev/null |
	grep --line-buffered -E '^(test[A-Z]|ASSERT:|deb:|Ran |OK|FAILED)' |
	sed -u 's/^/deb: | /'
wait $spid
src=$?
if [ "$src" -eq 0 ]; then
	verdict "DEB-SUITE PASS ($((SECONDS - start)) s)"
elif [ "$src" -eq 124 ] || [ "$src" -eq 137 ]; then
	verdict "DEB-SUITE FAIL ($((SECONDS - start)) s: over its budget of $budget s, killed)"
	rc=1
else
	verdict "DEB-SUITE FAIL ($((SECONDS - start)) s)"
	rc=1
fi

journalctl -b --no-pager > "$out/journal.log" 2>&1

# The kernel's health, as tests/lab/guest.sh reads it: any splat, or a
# taint beyond out-of-tree (O, 4096) and unsigned (E, 8192), fails the run.
dmesg > "$out/dmesg.log"
taint=$(cat /proc/sys/kernel/tainted)
bad=$(grep -E 'Oops|BUG[: ]|WARNING:|INFO: (possible|task)|lockdep|KASAN|UBSAN|kmemleak|scheduling while atomic|general protection|Call Trace' \
	"$out/dmesg.log" | head -20)
if [ -n "$bad" ] || [ $((taint & ~(4096 | 8192))) -ne 0 ]; then
	verdict "DEB-KERNEL FAIL (tainted=$taint)"
	echo "$bad"
	rc=1
else
	verdict "DEB-KERNEL OK (tainted=$taint)"
fi
if [ "$rc" -eq 0 ]; then verdict "DEB-RESULT PASS"; else verdict "DEB-RESULT FAIL"; fi
sync
if [ -z "$(arg debtest_shell)" ]; then
	systemctl poweroff -ff
fi
echo "deb: DEB_SHELL: log in as root on the console; poweroff -f to end"
