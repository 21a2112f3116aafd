#!/bin/bash
# krelayctl against the real module: the load unit's command (apply -s of
# a configuration file), set/get, list with filters, delete, flush,
# start/stop, and refusals with their exit codes. Runs in the lab
# (tests/lab/run krelayctl_test.sh).
#
#   cli 10.0.0.1 ──▶ relay 10.0.0.2 / 192.168.0.2 (krelay, krelayctl) ──▶ srv
#
# Flows are made by the client alone: a datagram to the relay's port 53
# makes an UNREPLIED UDP flow, a SYN to port 80 a TCP one.
# lab-budget: 240 s (usually 16-33 s on 2 cores under TCG)

. "$(dirname "$0")/lib.sh"

KC=${KRELAYCTL:-$TH_TOP/krelayctl/krelayctl}
CONF=

# The krelayctl command line of dist/krelay.service.in's ExecStart, with
# the configuration file replaced by $1.
unit_apply() {
	local cmd
	cmd=$(sed -n 's|^ExecStart=@SBINDIR@/krelayctl ||p' "$TH_TOP/dist/krelay.service.in")
	# shellcheck disable=SC2086
	set -- ${cmd/\/etc\/krelay\/krelay.conf/$1}
	"$KC" "$@"
}

udp_flow() { cli python3 -c "
import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('10.0.0.1', $1)); s.sendto(b'x', ('192.168.0.2', 53))"; }

tcp_flow() { cli timeout 20 python3 -c "
import socket; s = socket.socket(); s.settimeout(0.5); s.bind(('10.0.0.1', $1))
try: s.connect(('192.168.0.2', 80))
except OSError: pass" 2>/dev/null; }

# nat_has PROTO CLIENT: the nat file lists that client's flow.
nat_has() { awk -v p="$1" -v c="$2" '$1 == p && $3 == c { f = 1 } END { exit !f }' "$TH_PROC/nat"; }

oneTimeSetUp() {
	th_in_lab || { echo "run in the lab: tests/lab/run $(basename "$0")"; exit 1; }
	[ -x "$KC" ] || { echo "build krelayctl first (make)"; exit 1; }
}

setUp() {
	th_krelay_unload
	th_krelay_load || fail "insmod failed"
	CONF=$SHUNIT_TMPDIR/krelay.conf
}

tearDown() {
	umount "$TH_PROC/udp_timeout" 2>/dev/null
	th_krelay_unload
}

testUnitCommandAppliesConfigFileAndStarts() {
	cat > "$CONF" <<-'CONFEOF'
	# a gateway
	gport = 17000
	real_ip = 192.168.0.1
	tcp_ports = 80, 8080,16000
	udp_ports = 53,5353
	max_entries = 5000
	udp_timeout = 11
	udp_stream_timeout = 22
	tcp_timeout_established = 3333
	tcp_timeout_close = 4
	max_per_client = 100
	CONFEOF
	unit_apply "$CONF" 2>"$SHUNIT_TMPDIR/err"
	rc=$?
	assertEquals "apply exit status, stderr: $(cat "$SHUNIT_TMPDIR/err")" 0 "$rc"
	assertEquals gport 17000 "$(th_knob gport)"
	assertEquals real_ip 192.168.0.1 "$(th_knob real_ip)"
	assertEquals "tcp_ports (gport moved off 16000 first)" 80,8080,16000 "$(th_knob tcp_ports)"
	assertEquals udp_ports 53,5353 "$(th_knob udp_ports)"
	assertEquals max_entries 5000 "$(th_knob max_entries)"
	assertEquals udp_timeout 11 "$(th_knob udp_timeout)"
	assertEquals udp_stream_timeout 22 "$(th_knob udp_stream_timeout)"
	assertEquals tcp_timeout_established 3333 "$(th_knob tcp_timeout_established)"
	assertEquals tcp_timeout_close 4 "$(th_knob tcp_timeout_close)"
	assertEquals max_per_client 100 "$(th_knob max_per_client)"
	assertEquals "started by apply -s" 1 "$(cat "$TH_START")"

	# start = 0 in the file wins over -s; start is applied last.
	echo "start = 0" >> "$CONF"
	unit_apply "$CONF"
	assertEquals "start = 0 in the file" 0 "$(cat "$TH_START")"
}

testApplyBadLineReportsLineAndWritesNothing() {
	printf 'gport = 17000\nudp_timeout = 12\n\nmax_entries = 0\nbogus = 1\nmax_per_client = 4194305\n' > "$CONF"
	"$KC" apply -s "$CONF" 2>"$SHUNIT_TMPDIR/err"
	assertEquals "exit status for a bad file" 2 $?
	grep -q "^$CONF:4: max_entries" "$SHUNIT_TMPDIR/err"
	rc=$?
	assertTrue "expected '$CONF:4: max_entries ...', got: $(cat "$SHUNIT_TMPDIR/err")" "$rc"
	grep -q "^$CONF:5: unknown setting \"bogus\"" "$SHUNIT_TMPDIR/err"
	rc=$?
	assertTrue "expected '$CONF:5: unknown setting', got: $(cat "$SHUNIT_TMPDIR/err")" "$rc"
	grep -q "^$CONF:6: max_per_client: \"4194305\": must be an integer from 0 to 4194304" "$SHUNIT_TMPDIR/err"
	rc=$?
	assertTrue "expected '$CONF:6: max_per_client ...', got: $(cat "$SHUNIT_TMPDIR/err")" "$rc"
	assertEquals "gport half applied" 16000 "$(th_knob gport)"
	assertEquals "udp_timeout half applied" 30 "$(th_knob udp_timeout)"
	assertEquals "started despite the bad file" 0 "$(cat "$TH_START")"
}

testApplyRefusedWriteRollsBack() {
	# A knob file whose writes fail (ENOSPC) stands in for a refusal.
	mount --bind /dev/full "$TH_PROC/udp_timeout" || fail "bind mount"
	printf 'gport = 17000\nreal_ip = 192.168.0.1\nudp_timeout = 12\n' > "$CONF"
	"$KC" apply "$CONF" 2>"$SHUNIT_TMPDIR/err"
	assertEquals "exit status for a refused write" 1 $?
	grep -q "^$CONF:3: udp_timeout = 12: refused" "$SHUNIT_TMPDIR/err"
	rc=$?
	assertTrue "expected '$CONF:3: udp_timeout = 12: refused', got: $(cat "$SHUNIT_TMPDIR/err")" "$rc"
	assertEquals "gport rolled back" 16000 "$(th_knob gport)"
	assertEquals "real_ip rolled back" 192.168.0.10 "$(th_knob real_ip)"
}

testSetAndGet() {
	"$KC" set udp_timeout=77 tcp_ports=80,443
	assertEquals "set exit status" 0 $?
	assertEquals udp_timeout 77 "$(th_knob udp_timeout)"
	assertEquals tcp_ports 80,443 "$(th_knob tcp_ports)"
	assertEquals "get" "udp_timeout = 77" "$("$KC" get udp_timeout)"
	assertEquals "get -j" 443 "$("$KC" -j get | python3 -c 'import json,sys; print(json.load(sys.stdin)["tcp_ports"][1])')"

	"$KC" set gport=80 2>/dev/null
	assertEquals "gport inside tcp_ports: exit status" 2 $?
	"$KC" set udp_timeout=5 real_ip=127.0.0.1 2>/dev/null
	assertEquals "a bad value: exit status" 2 $?
	assertEquals "udp_timeout written along a bad value" 77 "$(th_knob udp_timeout)"
	"$KC" set nosuch=1 2>/dev/null
	assertEquals "unknown knob: exit status" 2 $?

	# max_per_client: 0 (no limit) to 4194304, in and out as text and JSON.
	assertEquals "max_per_client by default" "max_per_client = 0" "$("$KC" get max_per_client)"
	"$KC" set max_per_client=64
	assertEquals "set max_per_client=64: exit status" 0 $?
	assertEquals max_per_client 64 "$(th_knob max_per_client)"
	assertEquals "get max_per_client" "max_per_client = 64" "$("$KC" get max_per_client)"
	assertTrue "get lists it: $("$KC" get)" "'$KC' get | grep -qx 'max_per_client = 64'"
	assertEquals "get -j: a number" 64 \
		"$("$KC" -j get | python3 -c 'import json,sys; v = json.load(sys.stdin)["max_per_client"]; print(v if type(v) is int else repr(v))')"
	for bad in 4194305 -1; do
		"$KC" set udp_timeout=78 "max_per_client=$bad" 2>"$SHUNIT_TMPDIR/err"
		assertEquals "set max_per_client=$bad: exit status" 2 $?
		grep -q "max_per_client: \"$bad\": must be an integer from 0 to 4194304" "$SHUNIT_TMPDIR/err"
		rc=$?
		assertTrue "set max_per_client=$bad: the message names it: $(cat "$SHUNIT_TMPDIR/err")" "$rc"
	done
	assertEquals "max_per_client kept after the bad values" 64 "$(th_knob max_per_client)"
	assertEquals "udp_timeout not written along them" 77 "$(th_knob udp_timeout)"
	"$KC" set max_per_client=4194304
	assertEquals "the largest, 4194304" 4194304 "$(th_knob max_per_client)"
	"$KC" set max_per_client=0
	assertEquals "back to 0, no limit" 0 "$(th_knob max_per_client)"

	if [ -e "$TH_PROC/interfaces" ]; then
		"$KC" set interfaces=rc0,eth+
		assertEquals interfaces rc0,eth+ "$(th_knob interfaces)"
		"$KC" set interfaces=
		assertEquals "interfaces emptied" "" "$(th_knob interfaces)"
	fi

	# The congestion controls: the module has the last word on a name.
	"$KC" set server_cc=reno
	assertEquals "set server_cc=reno: exit status" 0 $?
	assertEquals "get server_cc" "server_cc = reno" "$("$KC" get server_cc)"
	"$KC" set udp_timeout=79 server_cc=nosuchcc 2>"$SHUNIT_TMPDIR/err"
	assertEquals "set server_cc=nosuchcc: exit status" 1 $?
	assertTrue "the refusal says why: $(cat "$SHUNIT_TMPDIR/err")" \
		"grep -q 'server_cc = nosuchcc: refused: the kernel has no congestion control of that name' '$SHUNIT_TMPDIR/err'"
	assertEquals "server_cc kept, udp_timeout rolled back" "reno 77" \
		"$(th_knob server_cc) $(th_knob udp_timeout)"
	"$KC" set server_cc=
	assertEquals "server_cc back to the default" "" "$(th_knob server_cc)"
}

testListFiltersDeleteAndFlush() {
	"$KC" start || fail "start"
	th_set udp_timeout 600	# the flows stay for the test on a slow kernel
	th_listener_start || fail "no stand-in listener on gport"
	udp_flow 5001
	udp_flow 5002
	tcp_flow 5003
	th_listener_stop
	th_wait_until 5 nat_has udp 10.0.0.1:5002 ||
		fail "no UDP flow: start $(cat "$TH_START"), stats: $(tr '\n' ' ' < "$TH_PROC/stats")"
	th_wait_until 5 nat_has tcp 10.0.0.1:5003 ||
		fail "no TCP flow: $(cat "$TH_PROC/nat"), stats: $(tr '\n' ' ' < "$TH_PROC/stats")"

	local out
	out=$("$KC" list)
	assertEquals "list: header and 3 flows, got: $out" 4 "$(echo "$out" | wc -l)"
	out=$("$KC" list proto udp)
	assertEquals "proto udp, got: $out" 2 "$(echo "$out" | grep -c '^udp ')"
	assertEquals "proto udp lists no tcp, got: $out" 0 "$(echo "$out" | grep -c '^tcp ')"
	out=$("$KC" list client 10.0.0.1:5002)
	assertEquals "client filter, got: $out" "10.0.0.1:5002" "$(echo "$out" | awk 'NR == 2 { print $3 } END { if (NR != 2) print "lines", NR }')"
	out=$("$KC" list proto udp state unreplied server 192.168.0.10:53 limit 1)
	assertEquals "limit 1, got: $out" 2 "$(echo "$out" | wc -l)"
	out=$("$KC" -j list proto udp limit 1)
	assertEquals "-j count and entries, got: $out" "2 1 UNREPLIED" \
		"$(echo "$out" | python3 -c 'import json,sys; j = json.load(sys.stdin); print(j["count"], len(j["entries"]), j["entries"][0]["state"])')"
	"$KC" list state bogus 2>/dev/null
	assertEquals "bad state: exit status" 2 $?

	"$KC" delete udp 10.0.0.1:5001
	assertEquals "delete exit status" 0 $?
	assertFalse "deleted flow still there" "nat_has udp 10.0.0.1:5001"
	assertTrue "the other flow went too" "nat_has udp 10.0.0.1:5002"
	"$KC" delete udp 10.0.0.1:5001 2>"$SHUNIT_TMPDIR/err"
	assertEquals "delete of a missing flow: exit status" 1 $?
	assertEquals "message" "krelayctl: delete udp 10.0.0.1:5001: no such flow" "$(cat "$SHUNIT_TMPDIR/err")"
	"$KC" delete udp 10.0.0.1 2>/dev/null
	assertEquals "delete without a port: exit status" 2 $?

	"$KC" flush
	assertEquals "flush exit status" 0 $?
	assertEquals "entries after flush: $(cat "$TH_PROC/nat")" 1 "$(wc -l < "$TH_PROC/nat")"
	assertEquals "stats after flush" 0 "$("$KC" -j stats | python3 -c 'import json,sys; j = json.load(sys.stdin); print(j["entries_udp"] + j["entries_tcp"])')"
}

testStartStopAndNotLoaded() {
	"$KC" start
	assertEquals "start" 1 "$(cat "$TH_START")"
	"$KC" stop
	assertEquals "stop" 0 "$(cat "$TH_START")"
	th_krelay_unload
	"$KC" get gport 2>"$SHUNIT_TMPDIR/err"
	assertEquals "module not loaded: exit status" 1 $?
	grep -q "krelay is not loaded" "$SHUNIT_TMPDIR/err"
	rc=$?
	assertTrue "expected 'krelay is not loaded', got: $(cat "$SHUNIT_TMPDIR/err")" "$rc"
}

. shunit2
