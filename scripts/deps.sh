#!/bin/sh
# Install what the build, the lab and the tests need on Debian 12.
# Idempotent: packages already present are skipped; nothing else is touched.
#
#   scripts/deps.sh              what `make check` needs
#   scripts/deps.sh bench        and the load tools and alternatives of bench/
#   scripts/deps.sh debug        and what the debug kernel build needs
#   scripts/deps.sh valgrind     and valgrind (make check-valgrind)
#   scripts/deps.sh fresh        and debootstrap (make check-fresh)
#   scripts/deps.sh deb          instead: only what `make deb` needs (the
#                                packages' Build-Depends, dpkg-dev, lintian;
#                                no kernels); given alone
#   scripts/deps.sh deb-test     instead: what `make check-deb` needs beside
#                                make deb's (debootstrap, QEMU, mkfs.ext4;
#                                the 6.1 kernel's release); given alone
#   scripts/deps.sh --list [GROUP...]   print the packages, one a line
#
# The default list holds every package a `make check` suite or the lab
# calls; tests/deps_test.sh checks that against what the suites run.
set -eu

list=
if [ "${1:-}" = --list ]; then
	list=1
	shift
fi

top=$(cd "$(dirname "$0")/.." && pwd)

# The kernels (Debian 12's 6.1 and the 6.12 LTS) are not installed: they
# are unpacked into a cache by scripts/kernels.sh (last step below); what
# their headers need to build a module is here.
pkgs="
make gcc libc6-dev pkg-config git
gcc-12 libelf1 libssl3 zlib1g dwarves linux-base linux-source-6.1
qemu-system-x86 busybox-static cpio kmod xz-utils zstd
shunit2 libmicrohttpd-dev libjansson-dev
dnsmasq-base dnsutils curl tcpdump iproute2 iputils-ping ethtool nftables procps strace
python3 perl psmisc jq chromium chromium-driver python3-selenium haproxy
python3-scapy clang libclang-rt-14-dev dkms man-db libcap2-bin libseccomp-dev
"
series="6.1 6.12"
deb=
for group in "$@"; do
	case $group in
	deb | deb-test) deb=$group ;;
	bench) pkgs="$pkgs dnsperf iperf3 wrk socat linux-perf" ;;
	valgrind) pkgs="$pkgs valgrind" ;;
	fresh) pkgs="$pkgs debootstrap" ;;
	debug) pkgs="$pkgs linux-source-6.1 linux-source-6.12 flex bison bc libelf-dev libssl-dev"; series="$series 6.1-rt" ;;
	*) echo "deps: unknown group $group (bench, debug, valgrind, fresh, deb, deb-test)" >&2; exit 2 ;;
	esac
done
# make deb: debian/control's Build-Depends (dh-dkms provides
# dh-sequence-dkms, debhelper dh-sequence-installsysusers), the build
# tools and lintian; the kernels are DKMS's business on the target.
if [ -n "$deb" ]; then
	[ $# -eq 1 ] || { echo "deps: $deb is a list of its own: give it alone" >&2; exit 2; }
	pkgs="build-essential dpkg-dev debhelper dh-dkms lintian
	libmicrohttpd-dev libjansson-dev libseccomp-dev"
	series=
fi
# make check-deb: a root image made by debootstrap (scripts/deb-root.sh;
# mkfs.ext4 -d fills the image), booted by QEMU; the kernel the guest runs
# is the 6.1 one the lab runs (its packages are installed in the image).
if [ "$deb" = deb-test ]; then
	pkgs="debootstrap qemu-system-x86 e2fsprogs"
	series=6.1
fi

if [ -n "$list" ]; then
	printf '%s\n' $pkgs
	exit 0
fi

missing=
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "deps: all packages present"
elif [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing:$missing (run as root to install)" >&2
	exit 1
else
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	echo "deps: done"
fi

for s in $series; do
	if [ "$(id -u)" -eq 0 ]; then
		rel=$(sh "$top/scripts/kernels.sh" fetch "$s")
	else
		rel=$(sh "$top/scripts/kernels.sh" release "$s")
	fi
	echo "deps: kernel $s is $rel"
done
