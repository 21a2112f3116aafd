#!/bin/sh
# Run the kernel's checkpatch.pl over the module's sources; fail on any
# error or warning. checkpatch comes from Debian's linux-source-6.1 tarball,
# extracted once into build/checkpatch.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$top/build/checkpatch
if [ ! -x "$dir/scripts/checkpatch.pl" ]; then
	tarball=$(ls /usr/src/linux-source-6.1.tar.xz)
	mkdir -p "$dir"
	tar -xJf "$tarball" -C "$dir" --strip-components=1 \
		--wildcards '*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch'
fi
cd "$top"
files=$(find "$@" -name '*.[ch]' ! -name '*.mod.c' | sort)
# shellcheck disable=SC2086
"$dir/scripts/checkpatch.pl" --no-tree --strict --terse --show-types \
	--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG -f $files
echo "checkpatch: $(echo "$files" | wc -l) files clean"
