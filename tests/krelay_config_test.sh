#!/bin/bash
# krelay's configuration interface: /proc/krelay knobs and the start
# parameter. Runs in the lab (tests/lab/run krelay_config_test.sh).
# lab-budget: 900 s (usually 150-280 s on 2 cores under TCG)

. "$(dirname "$0")/lib.sh"

LC=$TH_TOP/tests/libkrelay_check

# write_raw NAME BYTES: write exactly BYTES (printf format) in one write
# (coreutils printf buffers its output; bash's builtin may split it).
write_raw() { /usr/bin/printf "$2" 2>/dev/null > "$TH_PROC/$1"; }

# hooks_registered: a datagram from the client to the relay's port 53 is
# seen by krelay's PRE_ROUTING hook.
hooks_registered() {
	local before
	before=$(th_stat translated_pre_udp)
	cli bash -c 'echo x > /dev/udp/192.168.0.2/53' 2>/dev/null
	[ "$(th_stat translated_pre_udp)" -gt "${before:-0}" ]
}

# expect_rejected NAME VALUE...: each write fails and the value stays.
expect_rejected() {
	local name=$1 before v
	shift
	before=$(th_knob "$name")
	for v in "$@"; do
		if write_raw "$name" "$v"; then
			fail "$name accepted bad value '$v'"
		fi
		assertEquals "$name after bad write '$v'" "$before" "$(th_knob "$name")"
	done
}

oneTimeSetUp() {
	th_in_lab || { echo "run in the lab: tests/lab/run $(basename "$0")"; exit 1; }
}

setUp() {
	th_krelay_unload
	th_krelay_load || fail "insmod failed"
}

tearDown() {
	th_krelay_unload
}

testDefaults() {
	assertEquals gport 16000 "$(th_knob gport)"
	assertEquals real_ip 192.168.0.10 "$(th_knob real_ip)"
	assertEquals tcp_ports 53,80 "$(th_knob tcp_ports)"
	assertEquals udp_ports 53 "$(th_knob udp_ports)"
	assertEquals max_entries 262144 "$(th_knob max_entries)"
	assertEquals udp_timeout 30 "$(th_knob udp_timeout)"
	assertEquals udp_stream_timeout 120 "$(th_knob udp_stream_timeout)"
	assertEquals tcp_timeout_established 432000 "$(th_knob tcp_timeout_established)"
	assertEquals tcp_timeout_close 10 "$(th_knob tcp_timeout_close)"
	assertEquals "interfaces: every interface" "" "$(th_knob interfaces)"
	assertEquals "client_cc: the system's default" "" "$(th_knob client_cc)"
	assertEquals "server_cc: the system's default" "" "$(th_knob server_cc)"
	assertEquals relay_max_pairs 256 "$(th_knob relay_max_pairs)"
	assertEquals relay_max_per_client 64 "$(th_knob relay_max_per_client)"
	assertEquals relay_idle_timeout 300 "$(th_knob relay_idle_timeout)"
	assertEquals relay_connect_timeout 10 "$(th_knob relay_connect_timeout)"
	assertEquals tcp_mode user "$(th_knob tcp_mode)"
	assertEquals start 0 "$(cat $TH_START)"
	assertFalse "hooks registered while stopped" hooks_registered
}

testBadGportRejectedAndOldValueKept() {
	expect_rejected gport '0' '65536' '-1' 'abc' '80x' ' 8080' '8080 ' \
		'8080\n\n' '+8080' '0x50' '99999999999' '1 2' '80' '53' '\n' \
		'8080\r\n' '1,2'
}

testGoodGportAccepted() {
	local v
	for v in 1 65535 20000; do
		write_raw gport "$v" || fail "gport $v refused"
		assertEquals "gport without newline" "$v" "$(th_knob gport)"
	done
	th_set gport 16001 || fail "gport 16001 with newline refused"
	assertEquals "gport with newline" 16001 "$(th_knob gport)"
}

testBadRealIpRejectedAndOldValueKept() {
	expect_rejected real_ip '0.0.0.0' '255.255.255.255' '224.0.0.1' \
		'239.1.2.3' '127.0.0.1' '127.255.0.1' '1.2.3' '1.2.3.4.5' \
		'256.1.1.1' '1.2.3.4x' '1.2.3.4 ' ' 1.2.3.4' 'a.b.c.d' \
		'1.2.3.4\n\n' '::1' '1.2.3.4/24' '0.1.2.3'
}

testGoodRealIpAccepted() {
	write_raw real_ip '10.1.2.3' || fail "real_ip 10.1.2.3 refused"
	assertEquals real_ip 10.1.2.3 "$(th_knob real_ip)"
	th_set real_ip 192.168.0.1 || fail "real_ip with newline refused"
	assertEquals real_ip 192.168.0.1 "$(th_knob real_ip)"
}

testPortListsValidated() {
	expect_rejected tcp_ports ',' '53,' ',53' '53,,80' '0' '65536' \
		'53,53' '16000' '53 80' '1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17'
	expect_rejected udp_ports '0' 'x' '53;80' '\n'
	write_raw tcp_ports '53,80,443,8080\n' || fail "tcp_ports list refused"
	assertEquals tcp_ports 53,80,443,8080 "$(th_knob tcp_ports)"
	write_raw udp_ports '1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16' ||
		fail "16 udp ports refused"
	assertEquals udp_ports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16 "$(th_knob udp_ports)"
	# gport may not be a relayed TCP port, either way round.
	expect_rejected gport 443
	write_raw gport 5353 || fail "gport 5353 refused"
	expect_rejected tcp_ports '53,5353'
}

testInterfacesValidated() {
	th_set interfaces rc0,eth+ || fail "interfaces rc0,eth+ refused"
	assertEquals interfaces rc0,eth+ "$(th_knob interfaces)"
	expect_rejected interfaces ',' 'rc0,' ',rc0' 'rc0,rc0' 'a b' 'a/b' 'a:b' '.' 'abcdefghijklmno+' \
		'..' '+' 'abcdefghijklmnop' 'a,b,c,d,e,f,g,h,i'
	th_set interfaces a,b,c,d,e,f,g,abcdefghijklmn+ ||
		fail "eight names, the longest 15 characters, refused"
	assertEquals "eight names" a,b,c,d,e,f,g,abcdefghijklmn+ "$(th_knob interfaces)"
	th_set interfaces '' || fail "clearing the scope refused"
	assertEquals "scope cleared" "" "$(th_knob interfaces)"
}

testNumericKnobsRangeChecked() {
	expect_rejected max_entries 0 4194305 -5 1e3
	expect_rejected udp_timeout 0 86401
	expect_rejected udp_stream_timeout 0 86401
	expect_rejected tcp_timeout_established 0 864001
	expect_rejected tcp_timeout_close 0 864001
	write_raw max_entries 4194304 || fail "max_entries 4194304 refused"
	assertEquals max_entries 4194304 "$(th_knob max_entries)"
	write_raw udp_timeout 1 || fail "udp_timeout 1 refused"
	assertEquals udp_timeout 1 "$(th_knob udp_timeout)"
}

# Every knob's good and bad values (knob_values.tsv, which
# libkrelay_test.sh checks on the host): written raw to the module and
# parsed by libkrelay (what krelayctl and webadmin check before writing),
# both accept or both refuse, and the module then shows libkrelay's
# canonical form. One load for all of them: each good value is undone.
# One libkrelay_check process walks the rows (forks are slow under TCG).
testLibkrelayAndModuleAgreeOnEveryValue() {
	local knob want raw canon v lib mod out shown i n bad=
	local -a knobs=() raws=()

	while IFS=$'\t' read -r knob want raw canon; do
		case $knob in '#'*|'') continue ;; esac
		knobs+=("$knob")
		raws+=("$raw")
	done <"$TH_TOP/tests/knob_values.tsv"
	n=${#knobs[@]}
	for ((i = 0; i < n; i++)); do
		printf -v v '%b' "${raws[i]}"
		printf '%s\0%s\0' "${knobs[i]}" "$v"
	done | "$LC" agree >"$SHUNIT_TMPDIR/agree" ||
		fail "libkrelay_check agree failed"
	i=0
	while IFS=$'\t' read -r lib mod out shown; do
		if [ "$lib" != "$mod" ]; then
			bad="$bad ${knobs[i]} \"${raws[i]}\": libkrelay $lib ($out), module $mod;"
		elif [ "$mod" = 0 ] && [ "$out" != "$shown" ]; then
			bad="$bad ${knobs[i]} \"${raws[i]}\": shown \"$shown\", libkrelay's form \"$out\";"
		fi
		i=$((i + 1))
	done <"$SHUNIT_TMPDIR/agree"
	assertEquals "every value answered" "$n" "$i"
	assertEquals "libkrelay and the module disagree" "" "$bad"
	assertTrue "the list was read ($n values)" "[ $n -gt 150 ]"
}

# kr_apply against the module: gport and tcp_ports in the order it takes
# them, and a write it refuses midway (gport inside the tcp_ports just
# written, with libkrelay's own check off) undoes the ones before it.
testLibkrelayApplyOrdersAndRollsBack() {
	assertEquals "refused midway" "refused gport: Invalid argument" \
		"$("$LC" apply -n udp_timeout=5 tcp_ports=17000 gport=17000)"
	assertEquals "rolled back" "16000 53,80 30" \
		"$(th_knob gport) $(th_knob tcp_ports) $(th_knob udp_timeout)"
	assertEquals "gport moved first" ok "$("$LC" apply tcp_ports=16000,80 gport=17000)"
	assertEquals "both written" "17000 16000,80" "$(th_knob gport) $(th_knob tcp_ports)"
	assertEquals "tcp_ports first" ok "$("$LC" apply tcp_ports=53,80 gport=16000 start=1)"
	assertEquals "back, and started" "16000 53,80 1" \
		"$(th_knob gport) $(th_knob tcp_ports) $(cat $TH_START)"
}

testPartialAndOversizedWritesRefused() {
	local big
	big=$(head -c 300 /dev/zero | tr '\0' 1)
	expect_rejected gport "$big"
	# A write at a non-zero offset is refused, never merged.
	printf 1 | dd of=$TH_PROC/gport bs=1 seek=2 conv=notrunc 2>/dev/null &&
		fail "write at offset 2 accepted"
	assertEquals gport 16000 "$(th_knob gport)"
}

testOnlyRootWrites() {
	local u="setpriv --reuid=65534 --regid=65534 --clear-groups"
	$u sh -c "echo 20000 > $TH_PROC/gport" 2>/dev/null &&
		fail "an unprivileged user wrote gport"
	$u sh -c "echo 1 > $TH_START" 2>/dev/null &&
		fail "an unprivileged user wrote start"
	# root without CAP_NET_ADMIN
	setpriv --bounding-set=-net_admin --inh-caps=-net_admin \
		sh -c "echo 20000 > $TH_PROC/gport" 2>/dev/null &&
		fail "root without CAP_NET_ADMIN wrote gport"
	assertEquals gport 16000 "$(th_knob gport)"
	assertEquals start 0 "$(cat $TH_START)"
}

testStartValidated() {
	local v
	for v in 2 -1 yes y ' 1' '1 ' '01x' '1\n\n' '\n'; do
		/usr/bin/printf "$v" 2>/dev/null > $TH_START &&
			fail "start accepted '$v'"
		assertEquals "start after '$v'" 0 "$(cat $TH_START)"
	done
}

testStartRegistersAndUnregistersHooks() {
	echo 1 > $TH_START || fail "start=1 refused"
	assertTrue "hooks registered after start=1" hooks_registered
	echo 1 > $TH_START || fail "start=1 again refused"
	echo 0 > $TH_START || fail "start=0 refused"
	assertFalse "hooks registered after start=0" hooks_registered
	echo 0 > $TH_START || fail "start=0 again refused"
}

testStartToggled100Times() {
	local i
	for i in $(seq 100); do
		echo 1 > $TH_START && echo 0 > $TH_START || fail "toggle $i failed"
	done
	assertFalse "hooks left registered" hooks_registered
	assertTrue "kernel warned while toggling" th_dmesg_clean
}

testInsmodStartParameterStarts() {
	th_krelay_unload
	th_krelay_load start=1 || fail "insmod start=1 failed"
	assertEquals start 1 "$(cat $TH_START)"
	assertTrue "hooks registered by insmod start=1" hooks_registered
}

# Two writers, a reader and start toggling at once: the reader, reading
# for as long as the others run, never sees a torn or foreign value.
# STRESS_SCALE=full (make check-stress) runs three times the rounds.
testConcurrentWritersReadersWhileToggling() {
	local pids=() i bad=$SHUNIT_TMPDIR/bad stop=$SHUNIT_TMPDIR/stop reader
	local rounds=100
	[ "${STRESS_SCALE:-check}" = full ] && rounds=300
	: > "$bad"
	rm -f "$stop"
	# builtins only: a fork per read would leave the writers alone
	( n=0
	  while [ ! -e "$stop" ]; do
		read -r v <$TH_PROC/gport
		case $v in 16000|20001|20002) ;; *) echo "gport $v" >> "$bad" ;; esac
		read -r v <$TH_PROC/real_ip
		case $v in 192.168.0.10|10.9.9.9|10.8.8.8) ;; *) echo "real_ip $v" >> "$bad" ;; esac
		read -r v <$TH_PROC/tcp_ports
		case $v in 53,80|53,80,443) ;; *) echo "tcp_ports $v" >> "$bad" ;; esac
		n=$((n + 1))
	  done
	  echo "config: $n reads of each knob under concurrent writes" ) &
	reader=$!
	for i in 1 2; do
		( for ((r = 0; r < rounds; r++)); do
			echo 20001 > $TH_PROC/gport; echo 20002 > $TH_PROC/gport
			echo 0 2>/dev/null > $TH_PROC/gport
			echo 10.9.9.9 > $TH_PROC/real_ip
			echo 10.8.8.8 > $TH_PROC/real_ip
			echo 53,80,443 > $TH_PROC/tcp_ports
			echo 53,80 > $TH_PROC/tcp_ports
		done ) 2>/dev/null &
		pids+=($!)
	done
	( for _ in $(seq 100); do echo 1 > $TH_START; echo 0 > $TH_START; done ) &
	pids+=($!)
	wait "${pids[@]}"
	: > "$stop"
	wait "$reader"
	assertEquals "torn or foreign values read" "" "$(sort -u "$bad" | tr '\n' ' ')"
	assertTrue "kernel warned under concurrent writes" th_dmesg_clean
}

testInsmodRmmod20Times() {
	local i
	th_krelay_unload
	for i in $(seq 20); do
		th_krelay_load || fail "insmod $i failed"
		[ $((i % 2)) -eq 0 ] && echo 1 > $TH_START
		th_krelay_unload || fail "rmmod $i failed"
	done
	assertFalse "/proc/krelay left behind" "[ -e $TH_PROC ]"
	assertFalse "hooks left behind" hooks_registered
	assertEquals "krelay slab cache left behind" 0 \
		"$(grep -c krelay_flow /proc/slabinfo)"
	assertTrue "kernel warned over insmod/rmmod" th_dmesg_clean
}

testRmmodWhileStartedUnregisters() {
	echo 1 > $TH_START
	th_krelay_unload || fail "rmmod while started failed"
	assertFalse "hooks left after rmmod while started" hooks_registered
}

testStartWritesRacingRmmod() {
	local pid i
	for i in $(seq 10); do
		th_krelay_unload
		th_krelay_load || fail "insmod $i failed"
		( while [ -e $TH_START ]; do
			echo 1 > $TH_START; echo 0 > $TH_START
		done ) 2>/dev/null &
		pid=$!
		sleep 0.0$i
		until rmmod krelay 2>/dev/null; do sleep 0.01; done
		wait $pid
		assertFalse "hooks registered after racing rmmod $i" hooks_registered
	done
	assertTrue "kernel warned in start/rmmod race" th_dmesg_clean
}

. shunit2
