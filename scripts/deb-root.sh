#!/bin/bash
# The root image of make check-deb: a fresh Debian 12 (debootstrap) with
# systemd as PID 1, the lab's 6.1 kernel installed from its packages
# (image, headers, kbuild: DKMS builds krelay in the guest for the kernel
# it runs), the krelay packages' dependencies but not the packages, and the
# tools the test needs. Cached under $DEBROOT_CACHE (default
# /var/cache/krelay/debroot):
#
#   root.img     ext4, the guest's /dev/vda (booted with -snapshot: never changed)
#   vmlinuz      the kernel, from the image's /boot
#   initrd.img   its initramfs (initramfs-tools, made in the image)
#   stamp        what built it: this script's hash, the kernel release and
#                the package list; any change rebuilds the image
#
#   scripts/deb-root.sh [PACKAGE...]   build it unless the stamp matches;
#                                      print the cache directory
#
# PACKAGE: further packages to install (the dependencies of the .deb files
# under test, which tests/deb/run reads from them). Downloaded .debs stay in
# $DEBROOT_CACHE/debs between builds. Output of the build: build.log there.
#
# The image holds one thing of the test's own: debtest.service, which runs
# after multi-user.target, mounts the checkout and the output directory
# (9p shares labtop and labout) and runs the checkout's tests/deb/guest.sh.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${DEBROOT_CACHE:-/var/cache/krelay/debroot}
suite=bookworm
size=4G

die() { echo "deb-root: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot)"
for c in debootstrap mkfs.ext4; do
	command -v "$c" >/dev/null || die "$c missing (scripts/deps.sh deb-test)"
done
rel=$(sh "$top/scripts/kernels.sh" release 6.1) || die "no 6.1 kernel fetched (scripts/deps.sh)"

# systemd and udev as a booted Debian has them; dkms and the kernel's
# packages so that krelay-dkms builds in the guest; dnsmasq-base (the
# binary, no service that would take port 53) and python3 for the servers;
# dnsutils and curl for the client; passwd for passwd -S and chage.
pkgs="systemd systemd-sysv udev dbus kmod iproute2 procps psmisc passwd
dkms initramfs-tools linux-image-$rel linux-headers-$rel
dnsmasq-base dnsutils curl python3 shunit2 $*"
# shellcheck disable=SC2086 # one package a word
pkgs=$(printf '%s\n' $pkgs | sort -u | tr '\n' ' ')
want="script $(sha256sum "$0" | cut -d' ' -f1)
kernel $rel
packages $pkgs"

mkdir -p "$cache"
exec 8>"$cache/lock"
flock 8
if [ -s "$cache/root.img" ] && [ "$(cat "$cache/stamp" 2>/dev/null)" = "$want" ]; then
	echo "$cache"
	exit 0
fi

# The Debian mirror this host's apt uses (as scripts/check-fresh.sh reads it).
mirror=${DEBROOT_MIRROR:-$(
	{
		grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
			awk -v s="$suite" '$3 == s { print $2 }'
		awk -v s="$suite" '
			/^URIs:/ { u = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) print u }
			/^$/ { u = "" }' /etc/apt/sources.list.d/*.sources 2>/dev/null
	} | head -n 1)}
[ -n "$mirror" ] || die "no $suite mirror in this host's apt sources (set DEBROOT_MIRROR)"

root=$cache/root
log=$cache/build.log

# unmount_root: whatever is mounted below the root, deepest first.
unmount_root() {
	local m
	awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	! awk -v r="$root/" 'index($2, r) == 1 { found = 1 } END { exit !found }' /proc/mounts
}

remove_root() {
	unmount_root || die "mounts remain below $root: not removing it"
	rm -rf --one-file-system "$root"
}

in_root() {
	chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

build() {
	local t0=$SECONDS
	remove_root
	rm -f "$cache/stamp"
	mkdir -p "$cache/debs"
	echo "deb-root: debootstrap $suite (minbase) from $mirror"
	debootstrap --variant=minbase --cache-dir="$cache/debs" "$suite" "$root" "$mirror" ||
		die "debootstrap failed"

	# This host's apt sources (the security suite holds the newest kernel
	# ABI) and Acquire settings.
	rm -f "$root/etc/apt/sources.list"
	cp -a /etc/apt/sources.list.d/. "$root/etc/apt/sources.list.d/"
	[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$root/etc/apt/"
	grep -ls '^Acquire::' /etc/apt/apt.conf.d/* | xargs -r cp -t "$root/etc/apt/apt.conf.d/"
	# (not the backports source scripts/kernels.sh adds: the test looks
	# for files named krelay left after a purge)
	rm -f "$root"/etc/apt/sources.list.d/krelay-*
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	# Nothing starts in the chroot while packages install; removed below:
	# in the guest, the maintainer scripts' deb-systemd-invoke must act.
	printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"

	mount -t proc proc "$root/proc"
	mount --rbind /sys "$root/sys"
	mount --make-rslave "$root/sys"
	mount --rbind /dev "$root/dev"
	mount --make-rslave "$root/dev"
	mount -t tmpfs tmpfs "$root/tmp"
	mount --bind "$cache/debs" "$root/var/cache/apt/archives"

	in_root apt-get update -qq
	echo "deb-root: installing $pkgs"
	# shellcheck disable=SC2086
	in_root apt-get install -y -q --no-install-recommends $pkgs ||
		die "apt-get install failed"
	for f in "boot/vmlinuz-$rel" "boot/initrd.img-$rel"; do
		[ -f "$root/$f" ] || die "no /$f in the root"
	done
	# (build is an absolute link: test it from inside)
	in_root test -d "/lib/modules/$rel/build/include" || die "no headers for $rel in the root"
	unmount_root || die "mounts remain below $root"

	rm -f "$root/usr/sbin/policy-rc.d"
	# A machine id of its own: with none, every boot of the snapshot would
	# be a first boot (presets applied to every unit).
	in_root systemd-machine-id-setup >/dev/null
	echo debtest > "$root/etc/hostname"
	echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' > "$root/etc/fstab"
	# root logs in on the serial console without a password (a look at a
	# failed run: DEB_SHELL=1 tests/deb/run).
	in_root passwd -dq root

	cat > "$root/usr/local/sbin/debtest-run" <<-'EOF'
	#!/bin/sh
	# make check-deb's runner: the checkout (read-only) at its host path and
	# the output directory, from the kernel command line; then the
	# checkout's tests/deb/guest.sh.
	top=$(sed -n 's/.*debtest_top=\([^ ]*\).*/\1/p' /proc/cmdline)
	out=/run/debtest
	mkdir -p "$top" "$out"
	if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 labtop "$top" ||
		! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 labout "$out"; then
		echo "DEB-RESULT FAIL (cannot mount the shares)"
		poweroff -f
	fi
	exec /bin/bash "$top/tests/deb/guest.sh" "$out"
	EOF
	chmod 0755 "$root/usr/local/sbin/debtest-run"
	cat > "$root/etc/systemd/system/debtest.service" <<-'EOF'
	[Unit]
	Description=krelay package test (make check-deb)
	After=multi-user.target

	[Service]
	Type=simple
	ExecStart=/usr/local/sbin/debtest-run
	StandardOutput=journal+console
	StandardError=journal+console
	TimeoutStartSec=infinity
	# SIGPIPE as in a login shell, where an administrator runs dpkg (a
	# service ignores it by default: dkms then reports "write error:
	# Broken pipe" from a test of its own).
	IgnoreSIGPIPE=no

	[Install]
	WantedBy=multi-user.target
	EOF
	in_root systemctl enable debtest.service
	in_root apt-get clean

	# Each file replaced by a rename: a guest booted meanwhile keeps the
	# one it opened.
	cp "$root/boot/vmlinuz-$rel" "$cache/vmlinuz.new"
	cp "$root/boot/initrd.img-$rel" "$cache/initrd.img.new"
	rm -f "$cache/root.img.new"
	mkfs.ext4 -q -F -L debroot -d "$root" "$cache/root.img.new" "$size" ||
		die "mkfs.ext4 failed"
	for f in vmlinuz initrd.img root.img; do
		mv "$cache/$f.new" "$cache/$f"
	done
	remove_root
	printf '%s\n' "$want" > "$cache/stamp"
	echo "deb-root: image built in $((SECONDS - t0)) s"
}

trap 'unmount_root >/dev/null 2>&1 || true' EXIT
# (in the background: set -e holds there, unlike in a function called
# with ||)
build > "$log" 2>&1 &
wait $! || { tail -n 30 "$log" >&2; die "build failed (log $log)"; }
grep '^deb-root: image built' "$log" >&2
echo "$cache"
