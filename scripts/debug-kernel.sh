#!/bin/bash
# Build the lab's debug kernel from Debian's linux-source-6.1 (or -6.12),
# once per machine and series: KASAN, lockdep (PROVE_LOCKING, PROVE_RCU),
# DEBUG_ATOMIC_SLEEP, kmemleak, list and object debugging, on a config
# trimmed to what the lab uses (x86_64_defconfig + kvm_guest.config + 9p,
# veth, netns, netfilter, nftables, conntrack and NAT built in).
#
#   scripts/debug-kernel.sh [SERIES]          build if missing, print the cache dir
#   scripts/debug-kernel.sh [SERIES] --print  print the cache dir, build nothing
#
# SERIES is 6.1 (the default) or 6.12. The result lives outside the
# checkout, in $KRELAY_CACHE (default /var/cache/krelay): linux-debug/ for
# 6.1, linux-debug-6.12/ for 6.12, each {vmlinuz,release,lib/modules/...,build/}.
set -eu

series=6.1
case ${1:-} in
6.1 | 6.12) series=$1; shift ;;
--print | "") ;;
*) echo "debug-kernel: unknown series $1 (6.1, 6.12)" >&2; exit 2 ;;
esac
cache=${KRELAY_CACHE:-/var/cache/krelay}
dir=$cache/linux-debug
[ "$series" = 6.1 ] || dir=$dir-$series
src=/usr/src/linux-source-$series.tar.xz
jobs=${JOBS:-$(nproc)}
localversion=-krelay-debug
self=$(readlink -f "$0")
# The stamp names the source and this script's text: a change to either
# builds again (mtimes would not do: a fresh clone's are all new).
stamp="$(stat -c %Y "$src" 2>/dev/null) $(sha256sum < "$self" | cut -c1-16)"
# Options the lab and the checkers need; a .config without one of them is
# configured again.
needed="KASAN PROVE_LOCKING DEBUG_ATOMIC_SLEEP DEBUG_KMEMLEAK VIRTIO_NET 9P_FS VETH
	USER_NS NF_TABLES NF_TABLES_INET NFT_NAT NF_CONNTRACK NF_DEFRAG_IPV4
	NF_REJECT_IPV4 INET_DIAG INET_TCP_DIAG TCP_CONG_BBR"
# nft_objref is part of nf_tables itself since 6.2.
[ "$series" != 6.1 ] || needed="$needed NFT_OBJREF"
missing() {
	for o in $needed; do
		grep -q "^CONFIG_$o=y" "${1:-.}/.config" 2>/dev/null ||
			{ echo "$o"; return 0; }
	done
	return 1
}

if [ "${1:-}" = --print ]; then
	echo "$dir"
	exit 0
fi
# Built, from this source by this script, with every option the lab needs.
if [ -s "$dir/stamp" ] && [ "$(cat "$dir/stamp")" = "$stamp" ] &&
   ! missing "$dir/build" >/dev/null; then
	echo "$dir"
	exit 0
fi
# Standard output is for the directory alone (make check-debug reads it).
exec 3>&1 1>&2
[ -r "$src" ] || { echo "debug-kernel: $src missing (apt install linux-source-$series)" >&2; exit 1; }
for t in flex bison bc; do
	command -v $t >/dev/null || { echo "debug-kernel: $t missing (scripts/deps.sh debug)" >&2; exit 1; }
done

mkdir -p "$dir"
rm -f "$dir/stamp"
b=$dir/build
if [ ! -f "$b/Makefile" ]; then
	echo "debug-kernel: unpacking $src" >&2
	rm -rf "$b" "$dir/linux-source-$series"
	tar -xJf "$src" -C "$dir"
	mv "$dir/linux-source-$series" "$b"
fi
cd "$b"

start=$SECONDS
if [ ! -f .config ] || [ "$(cat .config.krelay 2>/dev/null)" != "$stamp" ] ||
   missing >/dev/null; then
	make -s x86_64_defconfig
	make -s kvm_guest.config
	c() { ./scripts/config "$@"; }
	c --set-str LOCALVERSION "$localversion" -d LOCALVERSION_AUTO
	# Size: no debug info, no drivers the guest never sees.
	c -d DEBUG_INFO -e DEBUG_INFO_NONE -d DEBUG_INFO_DWARF4 -d DEBUG_INFO_DWARF5 \
	  -d DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT -d DEBUG_INFO_BTF
	c -d DRM -d SOUND -d USB_SUPPORT -d WLAN -d WIRELESS -d CFG80211 -d MAC80211 \
	  -d HID -d INPUT_JOYSTICK -d INPUT_TABLET -d INPUT_TOUCHSCREEN -d AGP \
	  -d ATA -d SCSI -d MD -d FB -d ETHERNET -d NET_VENDOR_INTEL -d HAMRADIO \
	  -d BT -d RFKILL -d NFS_FS -d NFSD -d AUTOFS_FS -d QUOTA -d EXT4_FS \
	  -d ISO9660_FS -d MSDOS_FS -d VFAT_FS -d NETLABEL -d SECURITY_SELINUX \
	  -d KVM -d XEN -d HYPERV -d ACPI_VIDEO -d LOGO -d PCCARD -d CPU_FREQ \
	  -d HIBERNATION -d SUSPEND
	# What the lab needs, built in.
	c -e MODULES -e MODULE_UNLOAD -e MODULE_FORCE_UNLOAD -d MODULE_SIG -d MODVERSIONS \
	  -e BLK_DEV_INITRD -e RD_GZIP -e DEVTMPFS -e TMPFS -e DEBUG_FS \
	  -e VIRTIO -e VIRTIO_PCI -e VIRTIO_NET -e VIRTIO_CONSOLE -e SERIAL_8250_CONSOLE \
	  -e NET_9P -e NET_9P_VIRTIO -e 9P_FS -e 9P_FS_POSIX_ACL -e NETFS_SUPPORT \
	  -e NET_NS -e USER_NS -e VETH -e DUMMY -e PACKET -e UNIX -e INET -e TUN \
	  -e NETFILTER -e NETFILTER_ADVANCED -e NETFILTER_NETLINK \
	  -e NF_CONNTRACK -e NF_CONNTRACK_PROCFS -e NF_CONNTRACK_MARK -e NF_NAT \
	  -e IPV6 -e NF_DEFRAG_IPV4 -e NF_TABLES -e NF_TABLES_INET -e NF_TABLES_IPV4 \
	  -e NFT_CT -e NFT_NAT -e NFT_MASQ -e NFT_REDIR -e NFT_REJECT -e NFT_LIMIT \
	  -e NFT_LOG -e NFT_COUNTER -e NFT_QUOTA -e NFT_OBJREF -e NF_LOG_SYSLOG \
	  -e NETFILTER_XTABLES -e IP_NF_IPTABLES -e IP_NF_FILTER -e IP_NF_NAT \
	  -e IP_NF_TARGET_MASQUERADE -e NETFILTER_XT_MATCH_CONNTRACK \
	  -e PERF_EVENTS -e KALLSYMS -e KALLSYMS_ALL \
	  -e INET_DIAG -e INET_TCP_DIAG -e INET_UDP_DIAG -e TCP_CONG_ADVANCED -e TCP_CONG_BBR
	# The checkers.
	c -e KASAN -e KASAN_GENERIC -e KASAN_INLINE -e KASAN_STACK -e KASAN_VMALLOC \
	  -e PROVE_LOCKING -e PROVE_RCU -e DEBUG_LOCK_ALLOC -e DEBUG_ATOMIC_SLEEP \
	  -e DEBUG_SPINLOCK -e DEBUG_MUTEXES -e DEBUG_RWSEMS -e LOCKDEP \
	  -e DEBUG_KMEMLEAK -e DEBUG_KMEMLEAK_AUTO_SCAN --set-val DEBUG_KMEMLEAK_MEM_POOL_SIZE 65536 \
	  -e DEBUG_LIST -e DEBUG_OBJECTS -e DEBUG_OBJECTS_RCU_HEAD -e DEBUG_OBJECTS_TIMERS \
	  -e DEBUG_OBJECTS_WORK -e DEBUG_PREEMPT -e DEBUG_NET -e SLUB_DEBUG \
	  -e PANIC_ON_OOPS -d RANDOMIZE_BASE
	make -s olddefconfig
	if o=$(missing); then
		echo "debug-kernel: CONFIG_$o did not stick" >&2
		exit 1
	fi
	echo "$stamp" > .config.krelay
fi
echo "debug-kernel: building in $b with $jobs jobs (the better part of an hour on 2 cores)" >&2
make -s -j"$jobs" bzImage modules
release=$(make -s kernelrelease)
rm -rf "${dir:?}/lib"
make -s INSTALL_MOD_PATH="$dir" modules_install
cp arch/x86/boot/bzImage "$dir/vmlinuz"
echo "$release" > "$dir/release"
echo "$stamp" > "$dir/stamp"
echo "debug-kernel: $release built in $((SECONDS - start)) s"
echo "$dir" >&3
