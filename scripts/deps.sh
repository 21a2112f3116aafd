#!/bin/sh
# Install what the build, the lab and the tests need on Debian 12.
# Idempotent: packages already present are skipped; nothing else is touched.
#
#   scripts/deps.sh              what `make check` needs
#   scripts/deps.sh bench        and the load tools and alternatives of bench/
#   scripts/deps.sh debug        and what the debug kernel build needs
#   scripts/deps.sh valgrind     and valgrind (make check-valgrind)
#   scripts/deps.sh fresh        and debootstrap (make check-fresh)
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

KVER=${KVER:-6.1.0-56-amd64}

pkgs="
make gcc libc6-dev pkg-config git
linux-image-$KVER linux-headers-$KVER linux-source-6.1
qemu-system-x86 busybox-static cpio kmod xz-utils zstd
shunit2 libmicrohttpd-dev libjansson-dev
dnsmasq-base dnsutils curl tcpdump iproute2 iputils-ping ethtool nftables procps
python3 perl psmisc jq chromium chromium-driver python3-selenium haproxy
python3-scapy clang libclang-rt-14-dev dkms man-db libcap2-bin
"
for group in "$@"; do
	case $group in
	bench) pkgs="$pkgs dnsperf iperf3 wrk socat linux-perf" ;;
	valgrind) pkgs="$pkgs valgrind" ;;
	fresh) pkgs="$pkgs debootstrap" ;;
	debug) pkgs="$pkgs flex bison bc libelf-dev libssl-dev linux-image-6.1.0-56-rt-amd64 linux-headers-6.1.0-56-rt-amd64" ;;
	*) echo "deps: unknown group $group (bench, debug, valgrind, fresh)" >&2; exit 2 ;;
	esac
done

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
	echo "deps: all present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing:$missing (run as root to install)" >&2
	exit 1
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: done"
