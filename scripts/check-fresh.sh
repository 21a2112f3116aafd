#!/bin/bash
# make check-fresh: the README's commands on a really fresh Debian 12.
#
# Builds a minimal Debian 12 root with debootstrap (minbase: no make, no
# compiler, nothing of the project's), copies the committed tree into it
# (git clone of HEAD: uncommitted changes are not part of the run), and
# runs there what the README tells a newcomer: `apt-get install make`,
# then `make check`, which installs everything else through
# scripts/deps.sh. /proc, /sys and /dev are bound from this host; the lab's
# QEMU then boots with the fresh root as the guest's root.
#
# Downloaded .debs are kept in $FRESH_CACHE/debs (default
# /var/cache/krelay/fresh) between runs; the root itself is made anew every
# run and removed at the end (FRESH_KEEP=1 keeps it for a look). The
# mirror and apt settings are this host's own. The run holds
# /tmp/lab.lock, so no other lab boots beside it. Output: build/fresh.log.
# FRESH_CMD replaces `make check` (e.g. to run one suite while chasing a
# failure only a fresh root shows); the default is what the README says.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${FRESH_CACHE:-/var/cache/krelay/fresh}
root=$cache/root
log=$top/build/fresh.log
suite=bookworm

die() { echo "check-fresh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and chroot)"
command -v debootstrap >/dev/null || die "debootstrap missing (scripts/deps.sh fresh)"
git -C "$top" rev-parse --verify -q HEAD >/dev/null || die "$top is not a git checkout"
[ -z "$(git -C "$top" status --porcelain --untracked-files=no)" ] ||
	echo "check-fresh: uncommitted changes are not part of the run" >&2

# The Debian mirror this host's apt uses (one-line or deb822 sources).
mirror=${FRESH_MIRROR:-$(
	{
		grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
			awk -v s="$suite" '$3 == s { print $2 }'
		awk -v s="$suite" '
			/^URIs:/ { u = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) print u }
			/^$/ { u = "" }' /etc/apt/sources.list.d/*.sources 2>/dev/null
	} | head -n 1)}
[ -n "$mirror" ] || die "no $suite mirror in this host's apt sources (set FRESH_MIRROR)"

# remove_root: unmount whatever is mounted below the root, then delete it;
# never while a mount remains (the root holds binds of /dev and /sys).
remove_root() {
	local m
	for m in $(awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	if awk -v r="$root/" 'index($2, r) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
		die "mounts remain below $root: not removing it"
	fi
	rm -rf --one-file-system "$root"
}

cleanup() {
	if [ -n "${FRESH_KEEP:-}" ]; then
		echo "check-fresh: root kept in $root (mounts stay until the next run)"
	else
		remove_root
	fi
}

run() {
	mkdir -p "$cache/debs"
	remove_root
	trap cleanup EXIT
	echo "check-fresh: debootstrap $suite (minbase) into $root"
	local t0=$SECONDS
	debootstrap --variant=minbase --cache-dir="$cache/debs" "$suite" "$root" "$mirror" \
		>"$cache/debootstrap.log" 2>&1 || {
		tail -n 20 "$cache/debootstrap.log" >&2
		die "debootstrap failed (log $cache/debootstrap.log)"
	}
	echo "check-fresh: root ready in $((SECONDS - t0)) s"

	# This host's apt sources and Acquire settings; services do not start
	# in a chroot (policy-rc.d), as in any image build.
	rm -f "$root/etc/apt/sources.list"
	cp -a /etc/apt/sources.list.d/. "$root/etc/apt/sources.list.d/"
	[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$root/etc/apt/"
	grep -ls '^Acquire::' /etc/apt/apt.conf.d/* | xargs -r cp -t "$root/etc/apt/apt.conf.d/"
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"

	mount --rbind /proc "$root/proc"
	mount --make-rslave "$root/proc"
	mount --rbind /sys "$root/sys"
	mount --make-rslave "$root/sys"
	mount --rbind /dev "$root/dev"
	mount --make-rslave "$root/dev"
	mount -t tmpfs tmpfs "$root/tmp"
	mount --bind "$cache/debs" "$root/var/cache/apt/archives"

	git clone -q --no-hardlinks "$top" "$root/root/krelay"
	echo "check-fresh: $(git -C "$root/root/krelay" log -1 --format='%h %s')"

	t0=$SECONDS
	# The README's commands, as root on the fresh system.
	# shellcheck disable=SC2016
	chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		FRESH_CMD="${FRESH_CMD:-make check}" /bin/bash -c '
		set -e
		cd /root/krelay
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends make >/dev/null
		eval "$FRESH_CMD"' || {
		echo "check-fresh: ${FRESH_CMD:-make check} FAILED in the fresh root after $((SECONDS - t0)) s"
		return 1
	}
	echo "check-fresh: ${FRESH_CMD:-make check} passed in the fresh root in $((SECONDS - t0)) s"
}

mkdir -p "$top/build"
start=$SECONDS
set -o pipefail
exec 9>/tmp/lab.lock
flock 9
rc=0
run 2>&1 | tee "$log" || rc=$?
echo "check-fresh: $((SECONDS - start)) s in all, log $log" | tee -a "$log"
exit "$rc"
