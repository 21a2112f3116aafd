#!/bin/sh
# The kernels krelay is built and tested for: Debian 12's own (6.1) and
# Debian's 6.12 LTS built for Debian 12 (bookworm-backports).
#
#   scripts/kernels.sh fetch SERIES     resolve, download and unpack; print the release
#   scripts/kernels.sh release SERIES   the release fetched last (e.g. 6.1.0-57-amd64)
#   scripts/kernels.sh kdir RELEASE     its headers (KDIR for the module build)
#   scripts/kernels.sh image RELEASE    its vmlinuz (the lab's kernel)
#   scripts/kernels.sh moddir RELEASE   its modules (the lab's /lib/modules/RELEASE)
#
# SERIES is 6.1, 6.12 or 6.1-rt (PREEMPT_RT, for make check-debug). The
# release is resolved through the metapackage (linux-image-amd64 or
# linux-image-rt-amd64 in bookworm, linux-image-amd64 in bookworm-backports
# for 6.12), never pinned: superseded ABI packages leave the archive. The image, headers and
# kbuild packages are downloaded and unpacked into $KRELAY_CACHE/kernels/
# (default /var/cache/krelay), never installed: the headers package depends
# on the image, and an installed 6.12 image would become a Debian 12
# machine's boot default. For a release not in the cache, kdir, image and
# moddir fall back to the installed /lib/modules/RELEASE and /boot (the
# kernels of earlier versions of this script were installed that way).
set -eu

cache=${KRELAY_CACHE:-/var/cache/krelay}/kernels

die() { echo "kernels: $*" >&2; exit 1; }

# suite SERIES: where its metapackage comes from (6.1: the highest of
# bookworm, bookworm-updates and bookworm-security, apt's own candidate).
suite() {
	case $1 in
	6.1|6.1-rt) echo bookworm ;;
	6.12) echo bookworm-backports ;;
	*) die "unknown series $1 (6.1, 6.12 or 6.1-rt)" ;;
	esac
}

# backports: the suite for 6.12, with the archive's own URI; added once.
# Backports packages are never installed by apt unless asked for by name.
backports_source() {
	f=/etc/apt/sources.list.d/krelay-backports.sources
	apt-cache policy 2>/dev/null | grep -q ' bookworm-backports/main ' && return 0
	uri=$(awk '/^URIs:/ { u = $2 } /^Suites:.*bookworm( |$)/ { print u; exit }' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null)
	[ -n "$uri" ] || uri=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null)
	[ -n "$uri" ] || die "no bookworm source in /etc/apt to add bookworm-backports beside"
	printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
		"$uri" > "$f"
	echo "kernels: added bookworm-backports ($f)" >&2
	apt-get update -qq
}

# resolve SERIES: the release the metapackage depends on now.
resolve() {
	t= meta=linux-image-amd64
	[ "$1" = 6.12 ] && t="-t bookworm-backports"
	[ "$1" = 6.1-rt ] && meta=linux-image-rt-amd64
	# shellcheck disable=SC2086
	apt-cache depends $t $meta 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\(.*-amd64\)$/\1/p' | head -n 1
}

fetch() {
	series=$1
	[ "$(id -u)" -eq 0 ] || die "fetch needs root (apt-get)"
	[ "$series" = 6.12 ] && backports_source
	rel=$(resolve "$series")
	if [ -z "$rel" ]; then
		apt-get update -qq
		rel=$(resolve "$series")
	fi
	[ -n "$rel" ] || die "no linux-image-amd64 for $series in $(suite "$series")"
	case $rel in "${series%-rt}".*) ;; *) die "linux-image-amd64 in $(suite "$series") is $rel, not $series" ;; esac
	dir=$cache/$rel
	if [ ! -f "$dir/stamp" ]; then
		# The headers name their common part and kbuild (6.1: linux-kbuild-6.1),
		# taken at the headers' own version (one source package).
		ver=$(apt-cache show "linux-headers-$rel" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
		[ -n "$ver" ] || die "linux-headers-$rel not in the archive"
		deps=$(apt-cache depends "linux-headers-$rel" 2>/dev/null |
			sed -n "s/^ *Depends: \(linux-headers-.*-common\(-rt\)\?\|linux-kbuild-.*\)$/\1=$ver/p")
		rm -rf "$dir"
		mkdir -p "$dir/debs"
		echo "kernels: downloading $rel" >&2
		# shellcheck disable=SC2086
		(cd "$dir/debs" && apt-get download -q "linux-image-$rel" "linux-headers-$rel" \
			$deps) 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true
		for d in "$dir"/debs/*.deb; do
			[ -f "$d" ] || die "download of $rel failed"
			dpkg-deb -x "$d" "$dir"
		done
		[ -f "$dir/boot/vmlinuz-$rel" ] || die "no vmlinuz in linux-image-$rel"
		# The flavour's Makefile includes the common one by absolute path.
		sed -i "s|^include /usr/src/|include $dir/usr/src/|" "$dir/usr/src/linux-headers-$rel/Makefile"
		depmod -b "$dir" "$rel"
		rm -rf "$dir/debs"
		echo "$rel" > "$dir/stamp"
	fi
	echo "$rel" > "$cache/$series"
	# The lab's guest mounts the modules there (a system with no kernel
	# package installed, such as a fresh chroot, has no such directory).
	mkdir -p /lib/modules
	echo "$rel"
}

case ${1:-} in
fetch) fetch "${2:?series}" ;;
release)
	suite "${2:?series}" >/dev/null
	[ -s "$cache/$2" ] || die "no $2 kernel fetched (scripts/deps.sh)"
	cat "$cache/$2"
	;;
kdir)
	if [ -f "$cache/$2/stamp" ]; then echo "$cache/$2/usr/src/linux-headers-$2"
	else echo "/lib/modules/$2/build"; fi
	;;
image)
	if [ -f "$cache/$2/stamp" ]; then echo "$cache/$2/boot/vmlinuz-$2"
	else echo "/boot/vmlinuz-$2"; fi
	;;
moddir)
	if [ -f "$cache/$2/stamp" ]; then echo "$cache/$2/lib/modules/$2"
	else echo "/lib/modules/$2"; fi
	;;
*) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
