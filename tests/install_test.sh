#!/bin/bash
# shellcheck disable=SC2016
# Installation and documentation, on this host: `make install` with DESTDIR
# (and PREFIX), uninstall, the DKMS tree built by dkms for both kernels,
# 6.1 and 6.12 (into a private dkms tree: nothing under /var/lib/dkms or
# /lib/modules),
# the systemd units (systemd-analyze verify), the man pages (man
# --warnings) against each program's -h, and krelayctl's configuration
# file path against plain files standing in for /proc/krelay:
#
#   webadmin -c FILE ──PUT /api/config──▶ FILE ──krelayctl apply──▶ fake /proc/krelay

. "$(dirname "$0")/lib.sh"

KERNELS="${KVER:-$(sh "$TH_TOP/scripts/kernels.sh" release 6.1)} ${KVER_612:-$(sh "$TH_TOP/scripts/kernels.sh" release 6.12)}"
KC=$TH_TOP/krelayctl/krelayctl
VERSION=$(sed -n 's/^#define KRELAY_VERSION[[:space:]]*"\(.*\)"$/\1/p' "$TH_TOP/krelay/uapi/krelay.h")
D=
T=

oneTimeSetUp() {
	make -s -C "$TH_TOP" progs >/dev/null || fail "cannot build the programs"
}

setUp() {
	T=$(mktemp -d "$SHUNIT_TMPDIR/t.XXXX")
	D=$T/root
	unset KRELAY_PROC_DIR KRELAY_PARAM_DIR KRELAY_MODULE_DIR
}

tearDown() {
	[ -n "${WA_PID:-}" ] && th_kill_wait "$WA_PID"
	WA_PID=
}

install_to() { make -s -C "$TH_TOP" install DESTDIR="$1" "${@:2}" >"$T/make.log" 2>&1; }

testInstallLaysOutFiles() {
	install_to "$D" || fail "make install: $(cat "$T/make.log")"
	local want got
	want=$(sort <<-LIST
	etc/krelay/krelay.conf
	etc/sysctl.d/60-krelay.conf
	usr/local/lib/sysusers.d/krelay.conf
	usr/local/lib/systemd/system/krelay.service
	usr/local/lib/systemd/system/webadmin.service
	usr/local/sbin/krelayctl
	usr/local/sbin/tcp_relay
	usr/local/sbin/webadmin
	usr/local/share/man/man4/krelay.4
	usr/local/share/man/man8/krelayctl.8
	usr/local/share/man/man8/tcp_relay.8
	usr/local/share/man/man8/webadmin.8
	usr/src/krelay-$VERSION/dkms.conf
	usr/src/krelay-$VERSION/Kbuild
	usr/src/krelay-$VERSION/uapi/krelay.h
	LIST
	)
	got=$(cd "$D" && find . -type f | sed 's|^\./||' | grep -v -e '^usr/local/share/krelay/www/' -e '^usr/src/krelay-[^/]*/[^/]*\.[ch]$' | sort)
	assertEquals "installed files" "$want" "$got"
	assertEquals "www/ installed" "$(ls "$TH_TOP/www")" "$(ls "$D/usr/local/share/krelay/www")"
	assertEquals "sysusers: webadmin's HTTP user and tcp_relay's, each its own" "krelay krelay-relay" \
		"$(awk '$1 == "u" { printf "%s%s", s, $2; s = " " }' "$D/usr/local/lib/sysusers.d/krelay.conf")"
	assertEquals "module sources in the DKMS tree" \
		"$(cd "$TH_TOP/krelay" && printf '%s\n' *.c *.h | grep -v '\.mod\.c$' | sort)" \
		"$(cd "$D/usr/src/krelay-$VERSION" && printf '%s\n' *.c *.h | sort)"
	for p in krelayctl tcp_relay webadmin; do
		assertTrue "$p executable" "[ -x '$D/usr/local/sbin/$p' ]"
	done
	assertEquals "sysctl drop-in" "net.ipv4.ip_forward = 1" "$(grep -v '^#' "$D/etc/sysctl.d/60-krelay.conf")"
	assertEquals "dkms.conf version" "PACKAGE_VERSION=\"$VERSION\"" "$(grep ^PACKAGE_VERSION "$D/usr/src/krelay-$VERSION/dkms.conf")"
	assertFalse "unsubstituted @...@ in units" "grep -r '@' '$D/usr/local/lib/systemd/system'"
	grep -q "^ExecStart=/usr/local/sbin/krelayctl apply -s /etc/krelay/krelay.conf$" \
		"$D/usr/local/lib/systemd/system/krelay.service"
	assertTrue "krelay.service applies the configuration file" $?
	grep -q "^ExecStart=/usr/local/sbin/webadmin -f -c /etc/krelay/krelay.conf -r /usr/local/sbin/tcp_relay " \
		"$D/usr/local/lib/systemd/system/webadmin.service"
	assertTrue "webadmin.service supervises tcp_relay" $?
	grep -q '/usr/local/share/krelay/www' "$D/usr/local/sbin/webadmin"
	assertTrue "webadmin's default www is under PREFIX" $?

	# The sample configuration is one both readers take.
	fake_module "$T/fake"
	"$KC" apply "$D/etc/krelay/krelay.conf"
	assertEquals "krelayctl apply of the sample" 0 $?
}

testInstallKeepsConfigAndUninstallRemovesAll() {
	mkdir -p "$D/etc/krelay"
	echo "gport = 17000" >"$D/etc/krelay/krelay.conf"
	install_to "$D" || fail "make install: $(cat "$T/make.log")"
	assertEquals "existing krelay.conf kept" "gport = 17000" "$(cat "$D/etc/krelay/krelay.conf")"
	make -s -C "$TH_TOP" uninstall DESTDIR="$D" >"$T/make.log" 2>&1
	assertEquals "left after uninstall" "./etc/krelay/krelay.conf" "$(cd "$D" && find . -type f)"
	grep -q "kept $D/etc/krelay/krelay.conf" "$T/make.log"
	rc=$?
	assertTrue "uninstall says it kept the changed file: $(cat "$T/make.log")" "$rc"

	# An unchanged sample goes, and so do the directories.
	rm -rf "$D"
	install_to "$D" && make -s -C "$TH_TOP" uninstall DESTDIR="$D" >"$T/make.log" 2>&1
	assertEquals "files left after install + uninstall" "" "$(cd "$D" && find . -type f)"
	assertFalse "share/krelay left" "[ -e '$D/usr/local/share/krelay' ]"
	assertFalse "DKMS tree left" "[ -e '$D/usr/src/krelay-$VERSION' ]"
}

testPrefixMovesEverythingAndWwwDefault() {
	# A copy of the checkout, so that the shared build keeps its PREFIX.
	local src=$T/src
	mkdir -p "$src"
	(cd "$TH_TOP" && cp -r Makefile mk krelay libkrelay krelayctl tcp_relay webadmin www man dist "$src/")
	make -s -C "$src" -j2 PROGS="libkrelay tcp_relay webadmin krelayctl" install \
		PREFIX=/opt/krelay DESTDIR="$D" >"$T/make.log" 2>&1 || fail "make install: $(cat "$T/make.log")"
	for f in sbin/webadmin sbin/tcp_relay sbin/krelayctl share/krelay/www/index.html \
		share/man/man8/krelayctl.8 lib/systemd/system/webadmin.service; do
		assertTrue "/opt/krelay/$f" "[ -f '$D/opt/krelay/$f' ]"
	done
	assertTrue "webadmin -h default www: $("$D/opt/krelay/sbin/webadmin" -h | grep WWW_DIR)" \
		"'$D/opt/krelay/sbin/webadmin' -h | grep -q '(default /opt/krelay/share/krelay/www)'"
	grep -q "^ExecStart=/opt/krelay/sbin/krelayctl apply" "$D/opt/krelay/lib/systemd/system/krelay.service"
	assertTrue "krelay.service runs /opt/krelay/sbin/krelayctl" $?
}

testDkmsBuildsModuleForBothKernels() {
	local k kdir ko n=0
	install_to "$D" || fail "make install: $(cat "$T/make.log")"
	mkdir -p "$T/dkms"
	for k in $KERNELS; do
		n=$((n + 1))
		kdir=$(sh "$TH_TOP/scripts/kernels.sh" kdir "$k")
		[ -f "$kdir/Makefile" ] || fail "no headers for $k in $kdir"
		# sign_file: no signing key to create under /var/lib/dkms.
		sign_file=/nonexistent dkms build "krelay/$VERSION" -k "$k" \
			--kernelsourcedir "$kdir" \
			--sourcetree "$D/usr/src" --dkmstree "$T/dkms" >"$T/dkms-$k.log" 2>&1
		rc=$?
		assertEquals "dkms build for $k, log: $(tail -20 "$T/dkms-$k.log")" 0 "$rc"
		# Compressed as the kernel's modules are (6.12: krelay.ko.xz).
		ko=$(ls "$T/dkms/krelay/$VERSION/$k/x86_64/module/krelay.ko"* 2>/dev/null | head -n 1)
		assertTrue "built krelay.ko for $k" "[ -f '$ko' ]"
		assertEquals "vermagic" "$k" "$(modinfo -F vermagic "$ko" 2>/dev/null | cut -d' ' -f1)"
		assertEquals "parameters" "hashsize start" "$(modinfo -F parm "$ko" | cut -d: -f1 | sort | xargs)"
	done
	assertEquals "kernels built for ($KERNELS)" 2 "$n"
	assertNotEquals "6.1 and 6.12 are different kernels" "${KERNELS% *}" "${KERNELS#* }"
}

testUnitsVerify() {
	install_to "$D" || fail "make install: $(cat "$T/make.log")"
	# The units name /usr/local/sbin: point them into DESTDIR to verify.
	mkdir -p "$T/units"
	local u
	for u in "$D"/usr/local/lib/systemd/system/*.service; do
		sed "s|/usr/local/sbin/|$D/usr/local/sbin/|g" "$u" >"$T/units/${u##*/}"
	done
	MANPATH=$D/usr/local/share/man systemd-analyze verify "$T"/units/*.service >"$T/verify.log" 2>&1
	rc=$?
	assertEquals "systemd-analyze verify: $(cat "$T/verify.log")" 0 "$rc"
	assertEquals "systemd-analyze verify says nothing" "" "$(cat "$T/verify.log")"
	for o in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
		'CapabilityBoundingSet=CAP_NET_ADMIN ' 'RestrictAddressFamilies=AF_INET AF_UNIX' \
		ReadWritePaths=/etc/krelay KillMode=process; do
		assertTrue "webadmin.service has $o" "grep -q '^$o' '$T/units/webadmin.service'"
	done
}

testManPagesRenderWithoutWarnings() {
	local p out
	for p in "$TH_TOP"/man/*.[48]; do
		out=$(MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null)
		assertEquals "man --warnings -l ${p##*/}" "" "$out"
		assertTrue "${p##*/} renders" "MANWIDTH=80 man -l '$p' 2>/dev/null | grep -q '^NAME'"
	done
}

# help_letters PROG: the option letters its -h lists (lines "  -x ...").
help_letters() { "$1" -h | grep -oE '^ +-[a-zA-Z]' | tr -d ' -' | sort -u | xargs; }

# man_letters PAGE: the option letters of its OPTIONS section (.TP, then .B or .BI -x).
man_letters() {
	awk '/^\.SH/ { on = ($2 == "OPTIONS") } on && prev == ".TP" { print } { prev = $0 }' "$1" |
		grep -oE '^\.BR? *\\-[a-zA-Z]|^\.BI *\\-[a-zA-Z]' | grep -oE '[a-zA-Z]$' | sort -u | xargs
}

testHelpMatchesManPages() {
	local p prog
	for p in krelayctl/krelayctl tcp_relay/tcp_relay webadmin/webadmin; do
		prog=$TH_TOP/$p
		assertNotEquals "${p##*/} -h lists options" "" "$(help_letters "$prog")"
		assertEquals "${p##*/}: -h options vs man page OPTIONS" \
			"$(help_letters "$prog")" "$(man_letters "$TH_TOP/man/${p##*/}.8")"
		assertEquals "${p##*/} --help is -h" "$("$prog" -h)" "$("$prog" --help)"
		"$prog" -h >/dev/null
		assertEquals "${p##*/} -h exit status" 0 $?
	done
	# krelayctl's commands: usage and man page name the same ones.
	assertEquals "krelayctl commands: usage vs man page" \
		"$("$KC" -h | sed -n '/^usage/,/^options/s/^  \([a-z]\{3,\}\)[ ,].*/\1/p' | sort -u | xargs)" \
		"$(awk '/^\.SH/ { on = ($2 == "COMMANDS") } on && prev == ".TP" { print } { prev = $0 }' \
			"$TH_TOP/man/krelayctl.8" | grep -oE '^\.BR? [a-z]+' | awk '{ print $2 }' | sort -u | xargs)"
}

# fake_module DIR: knob files standing in for /proc/krelay and sysfs.
fake_module() {
	th_fake_module "$1/proc" "$1/param"
	: >"$1/proc/nat"
}

knobs() { (cd "$KRELAY_PROC_DIR" && for k in "$@"; do printf '%s ' "$(cat "$k")"; done); }

testApplyChecksEveryLineFirst() {
	fake_module "$T/fake"
	printf '# x\ngport = 17000\n\nudp_timeout = 99999999\nnope = 1\ngport 5\nstart = 2\n' >"$T/c"
	"$KC" apply "$T/c" 2>"$T/err"
	assertEquals "exit status" 2 $?
	assertEquals "every bad line reported" \
		"$T/c:4: udp_timeout: \"99999999\": must be an integer from 1 to 86400
$T/c:5: unknown setting \"nope\"
$T/c:6: expected \`name = value\`
$T/c:7: start: \"2\": must be 0 or 1
krelayctl: $T/c: nothing applied" "$(cat "$T/err")"
	assertEquals "nothing written" "16000 30 " "$(knobs gport udp_timeout)"

	printf 'tcp_ports = 53,80\ngport = 80\n' >"$T/c"
	"$KC" apply "$T/c" 2>"$T/err"
	assertEquals "gport in tcp_ports: exit status" 2 $?
	assertEquals "gport in tcp_ports: message" "$T/c:2: gport 80 is one of tcp_ports (53,80)" "$(cat "$T/err")"

	"$KC" apply "$T/missing" 2>/dev/null
	assertEquals "missing file: exit status" 1 $?
}

testApplyRollsBackWhenAWriteIsRefused() {
	fake_module "$T/fake"
	# Writes to /dev/full fail with ENOSPC, as a refusal would.
	ln -sf /dev/full "$KRELAY_PROC_DIR/udp_timeout"
	printf 'gport = 17000\nreal_ip = 10.9.9.9\nudp_timeout = 12\nstart = 1\n' >"$T/c"
	"$KC" apply "$T/c" 2>"$T/err"
	assertEquals "exit status" 1 $?
	assertEquals "message names the line" \
		"$T/c:3: udp_timeout = 12: refused: No space left on device" "$(cat "$T/err")"
	assertEquals "earlier writes rolled back" "16000 192.168.0.10 " "$(knobs gport real_ip)"
	assertEquals "start (last) not written" 0 "$(cat "$KRELAY_PARAM_DIR/start")"
}

# The module loaded is older than the programs (its source upgraded, the
# module not reloaded): krelayctl says so and what to do, and writes
# nothing; the same version works.
testModuleOfAnotherVersionIsToldToReload() {
	local v=$VERSION
	fake_module "$T/fake"
	echo 0.0.9 >"$T/fake/version"	# /sys/module/krelay/version
	"$KC" set udp_timeout=77 2>"$T/err"
	assertEquals "set with an old module: exit status" 1 $?
	assertEquals "set with an old module: message" \
		"krelayctl: the loaded krelay module is version 0.0.9, these programs $v: reload krelay (systemctl restart krelay)" \
		"$(cat "$T/err")"
	assertEquals "nothing written" 30 "$(cat "$KRELAY_PROC_DIR/udp_timeout")"
	# webadmin says so in its log when it starts.
	mkdir -p "$T/www" && echo '<title>t</title>' >"$T/www/index.html"
	KRELAY_MODULE_DIR=$T/fake "$TH_TOP/webadmin/webadmin" -f \
		-l "127.0.0.1:$((18900 + $$ % 300))" -s "$T/secret" -w "$T/www" >"$T/wa.log" 2>&1 &
	WA_PID=$!
	th_wait_until 10 grep -q 'reload krelay' "$T/wa.log"
	assertTrue "webadmin's log says reload krelay: $(cat "$T/wa.log")" \
		"grep -q 'the loaded krelay module is version 0.0.9, these programs $v: reload krelay' '$T/wa.log'"
	th_kill_wait "$WA_PID"
	WA_PID=
	echo "$v" >"$T/fake/version"
	"$KC" set udp_timeout=77 2>"$T/err"
	assertEquals "set with this version's module: exit status ($(cat "$T/err"))" 0 $?
	assertEquals "written" 77 "$(cat "$KRELAY_PROC_DIR/udp_timeout")"
}

testWebadminSavedFileIsAcceptedByApply() {
	local port=$((18600 + $$ % 300)) pass
	fake_module "$T/wa"
	export KRELAY_MODULE_DIR=$T/wa
	mkdir -p "$T/www" && echo '<title>t</title>' >"$T/www/index.html"
	"$TH_TOP/webadmin/webadmin" -f -l "127.0.0.1:$port" -s "$T/secret" -w "$T/www" \
		-c "$T/krelay.conf" >"$T/wa.log" 2>&1 &
	WA_PID=$!
	th_wait_port tcp 127.0.0.1 "$port" 10 || fail "webadmin did not listen: $(cat "$T/wa.log")"
	pass=$(cut -d: -f2- "$T/secret")
	curl -s -o /dev/null -w '%{http_code}' -u "admin:$pass" -X PUT \
		-H 'Content-Type: application/json' \
		-d '{"gport": 17001, "real_ip": "192.168.0.20", "tcp_ports": [80, 443], "udp_timeout": 45, "interfaces": "eth1,wlan+", "max_per_client": 64}' \
		"http://127.0.0.1:$port/api/config" >"$T/code"
	assertEquals "PUT /api/config" 200 "$(cat "$T/code")"
	assertTrue "webadmin saved interfaces: $(cat "$T/krelay.conf")" \
		"grep -qx 'interfaces = eth1,wlan+' '$T/krelay.conf'"
	assertTrue "and max_per_client: $(cat "$T/krelay.conf")" \
		"grep -qx 'max_per_client = 64' '$T/krelay.conf'"
	# An empty interfaces (every interface) must survive the trip too.
	curl -s -o /dev/null -w '%{http_code}' -u "admin:$pass" -X PUT \
		-H 'Content-Type: application/json' -d '{"interfaces": ""}' \
		"http://127.0.0.1:$port/api/config" >"$T/code"
	assertEquals "PUT an empty interfaces" 200 "$(cat "$T/code")"
	th_kill_wait "$WA_PID"
	WA_PID=
	assertTrue "webadmin saved the file: $(cat "$T/wa.log")" "grep -qx 'gport = 17001' '$T/krelay.conf'"
	assertTrue "with an empty interfaces: $(cat "$T/krelay.conf")" \
		"grep -qx 'interfaces =' '$T/krelay.conf'"

	# The same file, applied by krelayctl to another (fresh) module.
	fake_module "$T/fresh"
	echo eth9 >"$T/fresh/proc/interfaces"
	"$KC" apply "$T/krelay.conf" 2>"$T/err"
	rc=$?
	assertEquals "krelayctl apply of webadmin's file: $(cat "$T/err")" 0 "$rc"
	assertEquals "values reached the knobs" "17001 192.168.0.20 80,443 45 " \
		"$(knobs gport real_ip tcp_ports udp_timeout)"
	assertEquals "the empty interfaces reached its knob" "" "$(cat "$T/fresh/proc/interfaces")"
	assertEquals "max_per_client reached its knob" 64 "$(cat "$T/fresh/proc/max_per_client")"
	# And krelayctl get's output (interfaces and max_per_client included)
	# is a file webadmin reads back.
	"$KC" get >"$T/again.conf"
	assertTrue "get prints max_per_client: $(cat "$T/again.conf")" \
		"grep -qx 'max_per_client = 64' '$T/again.conf'"
	"$TH_TOP/webadmin/webadmin" -f -l "127.0.0.1:$port" -s "$T/secret" -w "$T/www" \
		-c "$T/again.conf" >"$T/wa2.log" 2>&1 &
	WA_PID=$!
	th_wait_port tcp 127.0.0.1 "$port" 10
	rc=$?
	assertTrue "webadmin -c takes krelayctl get's output: $(cat "$T/wa2.log")" "$rc"
}

testKrelayctlListGetJsonOnFakeFiles() {
	fake_module "$T/fake"
	printf 'proto state client relay server gport relay_port age_s idle_s packets bytes\ntcp ESTABLISHED 10.0.0.1:40000 192.168.0.2:80 192.168.0.10:80 16000 41000 3 1 10 900\nudp REPLIED 10.0.0.7:5353 192.168.0.2:53 192.168.0.10:53 - - 2 2 2 120\n' \
		>"$KRELAY_PROC_DIR/nat"
	assertEquals "list client 10.0.0.7" "udp REPLIED 10.0.0.7:5353" \
		"$("$KC" list client 10.0.0.7 | awk 'NR > 1 { print $1, $2, $3 }')"
	assertEquals "-j list: typed fields" '16000 41000 None 900' \
		"$("$KC" -j list | python3 -c 'import json,sys; e = json.load(sys.stdin)["entries"]; print(e[0]["gport"], e[0]["relay_port"], e[1]["gport"], e[0]["bytes"])')"
	assertEquals "-j get" '[53, 80] 16000' \
		"$("$KC" -j get | python3 -c 'import json,sys; j = json.load(sys.stdin); print(j["tcp_ports"], j["gport"])')"
	"$KC" set max_per_client=4194304
	assertEquals "set max_per_client=4194304: exit status" 0 $?
	assertEquals "get max_per_client" "max_per_client = 4194304" "$("$KC" get max_per_client)"
	"$KC" set max_per_client=0
	assertEquals "-j get max_per_client: an integer, 0 for no limit" 0 \
		"$("$KC" -j get max_per_client | python3 -c 'import json,sys; v = json.load(sys.stdin)["max_per_client"]; print(v if type(v) is int else repr(v))')"
	for bad in 4194305 -1 '' 1e3; do
		"$KC" set udp_timeout=77 "max_per_client=$bad" 2>"$T/err"
		assertEquals "set max_per_client=$bad: exit status" 2 $?
		assertTrue "set max_per_client=$bad: the message names it: $(cat "$T/err")" \
			"grep -q '^krelayctl: set: max_per_client: \"$bad\": must be an integer from 0 to 4194304' '$T/err'"
	done
	assertEquals "nothing written along the bad values" "30 0 " "$(knobs udp_timeout max_per_client)"
	# A module without the knob: get leaves it out, set says so.
	rm "$KRELAY_PROC_DIR/max_per_client"
	assertEquals "get without the knob" "" "$("$KC" get | grep "^max_per_client")"
	"$KC" set max_per_client=5 2>"$T/err"
	assertEquals "set without the knob: exit status" 1 $?
	assertEquals "set without the knob: message" \
		"krelayctl: max_per_client: not supported by the loaded krelay module (older than these programs?): reload krelay" "$(cat "$T/err")"
	"$KC" nosuch 2>/dev/null
	assertEquals "unknown command" 2 $?
	"$KC" -x 2>/dev/null
	assertEquals "unknown option" 2 $?
	"$KC" list limit 2>/dev/null
	assertEquals "filter without a value" 2 $?
	rm -rf "$KRELAY_PROC_DIR"
	"$KC" stats 2>/dev/null
	assertEquals "no module" 1 $?
}

. shunit2
