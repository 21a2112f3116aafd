#!/bin/bash
# shellcheck disable=SC2317
# Every program and Python module that `make check` runs comes from a
# package that `scripts/deps.sh` (no arguments) installs, or from Debian's
# base system. Runs on the host, after deps.sh: a package that is not in
# the default list (haproxy was once only in `deps.sh bench`) makes this
# suite fail here instead of the lab failing on a fresh machine.
#
# What it reads: the make-check suites (the Makefile's LAB_SUITES and
# HOST_SUITES, the dashboard test), tests/lib.sh, the lab, the scripts
# they call and the Makefiles. Words outside comments that name an
# executable in /usr/bin or /usr/sbin are looked up with dpkg -S. The
# Python helpers run no commands (checked); each of their imports is
# imported with Debian's python3 and its file looked up the same way. A package passes when it is in the default
# list, in what those packages depend on (apt-cache depends --recurse), or
# Essential or Priority required (the base system debootstrap installs).
# Run as: bash tests/deps_test.sh

. "$(dirname "$0")/lib.sh"

# Words that are executables here but are never run by the suites (English
# words or names in messages): each one with its reason.
NOT_COMMANDS="
file	the word, in messages
opt	a variable's name
route	ip's subcommand (ip route add)
time	bash's keyword
valgrind	only under make check-valgrind (deps.sh valgrind)
debootstrap	only under make check-fresh (deps.sh fresh)
socat	only under make bench (deps.sh bench), named in make help
lintian	only under make deb (deps.sh deb)
"

PY=/usr/bin/python3

oneTimeSetUp() {
	cd "$TH_TOP" || exit 1
	ALLOWED=$SHUNIT_TMPDIR/allowed
	# The default list and everything it pulls in, then the base system.
	# shellcheck disable=SC2046
	{
		sh scripts/deps.sh --list
		apt-cache depends --recurse --no-recommends --no-suggests \
			--no-conflicts --no-breaks --no-replaces --no-enhances \
			$(sh scripts/deps.sh --list) 2>/dev/null | grep -v '^[ <]'
		dpkg-query -W -f='${Package} ${Essential} ${Priority}\n' |
			awk '$2 == "yes" || $3 == "required" { print $1 }'
	} | sed 's/:.*//' | sort -u > "$ALLOWED"
	FILES=$(suite_files)
}

# The files whose commands make check runs.
suite_files() {
	local s
	# shellcheck disable=SC2016
	for s in $(make -s --no-print-directory \
		--eval='deps-suites: ; @echo $(LAB_SUITES) $(notdir $(HOST_SUITES))' deps-suites); do
		echo "tests/$s"
	done
	# (The Python helpers run no commands: testPythonHelpersRunNoCommands.)
	echo tests/krelay_udp_test.sh tests/dashboard_test.sh tests/lib.sh \
		tests/lab/* scripts/checkpatch.sh scripts/kernels.sh \
		Makefile mk/*.mk ./*/Makefile tests/fuzz/Makefile
}

# words FILE...: the distinct words outside comments.
words() {
	sed -e 's/^[[:space:]]*#.*//' -e 's/[[:space:]]#[^"'\'']*$//' "$@" |
		tr -c 'A-Za-z0-9_.+-' '\n' | grep -E '^[a-z][A-Za-z0-9_.+-]*$' | sort -u
}

# owner PATH: the package that ships PATH (through /etc/alternatives too).
owner() {
	local real f pkg
	real=$(readlink -f "$1")
	# usrmerge: dpkg may know the file under /bin or /sbin.
	for f in "$1" "${1#/usr}" "$real" "${real#/usr}"; do
		pkg=$(dpkg -S "$f" 2>/dev/null | grep -v '^diversion' | head -n 1 | sed 's/: .*//; s/:[a-z0-9]*$//; s/, .*//')
		[ -n "$pkg" ] && break
	done
	echo "$pkg"
}

# unlisted WHAT FILE: " WHAT (why)" unless an allowed package ships FILE.
unlisted() {
	local pkg
	pkg=$(owner "$2")
	if [ -z "$pkg" ]; then
		echo " $1 (no package ships $2)"
	elif ! grep -qx "$pkg" "$ALLOWED"; then
		echo " $1 (package $pkg)"
	fi
}

testEveryCommandComesFromTheDefaultList() {
	local w p bad= n=0
	# shellcheck disable=SC2086
	for w in $(words $FILES); do
		printf '%s\n' "$NOT_COMMANDS" | grep -q "^$w	" && continue
		for p in /usr/bin/$w /usr/sbin/$w /bin/$w /sbin/$w ""; do
			[ -n "$p" ] && [ -x "$p" ] && [ -f "$p" ] && break
		done
		[ -n "$p" ] || continue
		n=$((n + 1))
		bad="$bad$(unlisted "$w" "$p")"
	done
	echo "deps: $n commands checked"
	assertTrue "the suites run at least 40 commands (found $n): is the scan broken?" \
		"[ $n -ge 40 ]"
	assertEquals "commands whose package scripts/deps.sh does not install:" "" "$bad"
}

testPythonHelpersRunNoCommands() {
	assertEquals "Python helpers that run commands (scan them for commands too):" "" \
		"$(grep -lE 'subprocess|os\.system|os\.exec|Popen' tests/*.py tests/dashboard/*.py)"
}

testEveryPythonModuleComesFromTheDefaultList() {
	local m f bad= n=0
	# shellcheck disable=SC2086
	for m in $(sed -n 's/^\(import\|from\) \([A-Za-z0-9_]*\).*/\2/p' \
		tests/*.py tests/dashboard/*.py | sort -u); do
		n=$((n + 1))
		f=$("$PY" -c "import $m, sys; print(getattr($m, '__file__', None) or sys.executable)" 2>/dev/null)
		if [ -z "$f" ]; then
			bad="$bad $m (not importable by $PY)"
			continue
		fi
		bad="$bad$(unlisted "$m" "$f")"
	done
	echo "deps: $n Python modules checked"
	assertTrue "the helpers import at least 3 modules (found $n): is the scan broken?" "[ $n -ge 3 ]"
	assertEquals "Python modules whose package scripts/deps.sh does not install:" "" "$bad"
}

# shellcheck source=/dev/null
. shunit2
