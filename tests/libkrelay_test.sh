#!/bin/bash
# libkrelay on this host, through tests/libkrelay_check: every knob's good
# and bad values (tests/knob_values.tsv, which krelay_config_test.sh feeds
# to the module too), the JSON forms, and kr_apply against plain files
# standing in for the module's:
#
#   libkrelay_check ──kr_apply──▶ $T/proc/KNOB, $T/param/start
#                                 (one made to fail: a link to /dev/full)

. "$(dirname "$0")/lib.sh"

LC=$TH_TOP/tests/libkrelay_check
T=

oneTimeSetUp() {
	make -s -C "$TH_TOP" progs >/dev/null || fail "cannot build the programs"
}

# The module's defaults as files.
setUp() {
	T=$(mktemp -d "$SHUNIT_TMPDIR/t.XXXX")
	th_fake_module "$T/proc" "$T/param"
}

files() {
	local k

	for k in "$@"; do
		if [ "$k" = start ]; then cat "$T/param/start"; else cat "$T/proc/$k"; fi
	done | tr '\n' ' '
}

testEveryValueParsesAsListed() {
	local knob want raw canon v out n=0

	while IFS=$'\t' read -r knob want raw canon; do
		case $knob in '#'*|'') continue ;; esac
		v=$(printf '%b' "$raw")
		out=$("$LC" parse "$knob" "$v")
		if [ "$want" = ok ]; then
			assertEquals "$knob \"$raw\" accepted: $out" 0 $?
			assertEquals "$knob \"$raw\" canonical" "$(printf '%b' "$canon")" "$out"
			assertEquals "$knob \"$raw\": the canonical form is its own" \
				"$out" "$("$LC" parse "$knob" "$out")"
		else
			assertEquals "$knob \"$raw\" refused, got: $out" 1 $?
		fi
		n=$((n + 1))
	done <"$TH_TOP/tests/knob_values.tsv"
	assertTrue "the list was read ($n values)" "[ $n -gt 150 ]"
}

testBlanksAroundListItemsAreDropped() {
	assertEquals "tcp_ports" 53,80 "$("$LC" parse tcp_ports ' 53 , 80 ')"
	assertEquals "interfaces" eth1,wlan+ "$("$LC" parse interfaces ' eth1 , wlan+ ')"
	"$LC" parse interfaces 'eth 1' >/dev/null
	assertEquals "a blank inside a name is refused" 1 $?
	"$LC" parse gport ' 16000' >/dev/null
	assertEquals "a blank around a number is refused" 1 $?
}

testReasonsSayWhatIsExpected() {
	assertEquals "range" "must be an integer from 0 to 4194304" \
		"$("$LC" parse max_per_client 4194305)"
	assertEquals "0/8" "must be a unicast address (not 0/8, broadcast, multicast or 127/8)" \
		"$("$LC" parse real_ip 0.1.2.3)"
	assertEquals "twice" "port 80 listed twice" "$("$LC" parse tcp_ports 80,80)"
	assertEquals "twice" "eth0 listed twice" "$("$LC" parse interfaces eth0,eth0)"
}

testJsonForms() {
	assertEquals "integer" 16000 "$("$LC" json gport 16000)"
	assertEquals "ports" '[53, 80]' "$("$LC" json tcp_ports 53,80)"
	assertEquals "address" '"192.168.0.10"' "$("$LC" json real_ip 192.168.0.10)"
	assertEquals "interfaces: a string" '"eth0,wlan+"' "$("$LC" json interfaces eth0,wlan+)"
	assertEquals "interfaces: empty for every interface" '""' "$("$LC" json interfaces '')"
	assertEquals "start" true "$("$LC" json start 1)"
	assertEquals "not canonical: null" null "$("$LC" json tcp_ports '53, 80')"
	assertEquals "from JSON: interfaces" eth0,wlan+ "$("$LC" fromjson interfaces '"eth0, wlan+"')"
	assertEquals "from JSON: ports" 443,80 "$("$LC" fromjson tcp_ports '[443, 80]')"
	assertEquals "from JSON: integer" 45 "$("$LC" fromjson udp_timeout 45)"
	local bad knob json
	for bad in 'interfaces|["rc0"]' 'tcp_ports|"53,80"' 'tcp_ports|[]' 'gport|"16001"' \
		'gport|1.5' 'real_ip|5' 'udp_timeout|-1' 'tcp_ports|[80, 80]' 'start|1'; do
		IFS='|' read -r knob json <<<"$bad"
		"$LC" fromjson "$knob" "$json" >/dev/null
		assertEquals "from JSON refused: $bad" 1 $?
	done
}

testStatReadsOneCounterByItsWholeName() {
	printf 'listener_port_x 7\nlistener_port 16000\nflows 12345678901\nbad x\n' >"$T/proc/stats"
	assertEquals "listener_port, not a longer name first" 16000 "$("$LC" stat listener_port)"
	assertEquals "the last line, 64-bit" 12345678901 "$("$LC" stat flows)"
	assertEquals "a prefix of a name is no name" "No such file or directory" "$("$LC" stat listener)"
	assertEquals "not a number" "Invalid argument" "$("$LC" stat bad)"
	rm "$T/proc/stats"
	assertEquals "no stats file" "No such file or directory" "$("$LC" stat flows)"
}

testApplyWritesCanonicalValues() {
	assertEquals "applied" ok "$("$LC" apply gport=17000 tcp_ports=0443,80 interfaces=' eth0 ' start=1)"
	assertEquals "written" "17000 443,80 eth0 1 " "$(files gport tcp_ports interfaces start)"
}

testApplyRollsBackWhenAWriteIsRefused() {
	# Readable (as ""), but every write fails with ENOSPC.
	ln -sf /dev/full "$T/proc/max_per_client"
	assertEquals "the failing write named" \
		"refused max_per_client: No space left on device" \
		"$("$LC" apply gport=17000 udp_timeout=5 tcp_ports=80 max_per_client=9)"
	assertEquals "the writes before it undone" "16000 30 53,80 " \
		"$(files gport udp_timeout tcp_ports)"
}

testApplyRollsBackFromStart() {
	# start goes last: its failure undoes every knob.
	ln -sf /dev/full "$T/param/start"
	"$LC" apply real_ip=10.0.0.9 interfaces=eth0 start=1 >/dev/null
	assertEquals "refused" 1 $?
	assertEquals "undone" "192.168.0.10  " "$(files real_ip interfaces)"
}

testApplyWritesNothingWhenAValueCannotBeRead() {
	rm "$T/proc/interfaces"
	assertEquals "the unreadable knob named" \
		"refused interfaces: No such file or directory" \
		"$("$LC" apply gport=17000 interfaces=eth0)"
	assertEquals "nothing written" "16000 " "$(files gport)"
}

testGportInsideTcpPortsIsRefusedBeforeWriting() {
	assertEquals "the current gport" \
		"check tcp_ports: gport 16000 is one of tcp_ports (16000,80)" \
		"$("$LC" apply tcp_ports=16000,80 udp_timeout=5)"
	assertEquals "the new gport" \
		"check gport: gport 80 is one of tcp_ports (53,80)" "$("$LC" apply gport=80)"
	assertEquals "nothing written" "16000 53,80 30 " "$(files gport tcp_ports udp_timeout)"
	assertEquals "both moved together" ok "$("$LC" apply tcp_ports=16000,80 gport=17000)"
}

. shunit2
