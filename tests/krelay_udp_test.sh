#!/bin/bash
# krelay's NAT table and the UDP relay (flows U1-U4), in the lab:
#
#   cli 10.0.0.1 --- relay 10.0.0.2 | 192.168.0.2 --- srv 192.168.0.10 (dnsmasq)
#                                                         192.168.0.1 (second server)
#
# The client asks the relay (192.168.0.2:53); krelay forwards to real_ip.
# KRELAY_RULESET=conntrack runs the same suite under a typical gateway's
# nftables ruleset (krelay_udp_conntrack_test.sh).
# lab-budget: 600 s (usually 100-160 s on 2 cores under TCG)

. "$(dirname "$0")/lib.sh"

RELAY=192.168.0.2
DNSQ=$TH_TOP/tests/dnsq.py
T=

dig_relay() { cli dig @$RELAY +tries=1 +time=3 "$@"; }

# dns_server NAME ADDR ANSWER: dnsmasq in srv on ADDR:53 answering
# test.lab with ANSWER and big.lab with a TXT record larger than the MTU.
dns_server() {
	local txt i chunk
	chunk=$(printf 'x%.0s' $(seq 250))
	txt=
	for i in $(seq 12); do txt="$txt,$i$chunk"; done
	srv dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
		--no-hosts --bind-interfaces --listen-address="$2" --user=root \
		--edns-packet-max=4096 --address=/test.lab/"$3" \
		--txt-record=big.lab"$txt" --log-queries \
		--log-facility="$T/$1.log" --pid-file="$T/$1.pid" 2>"$T/$1.err" &
	th_wait_until 10 srv sh -c "ss -Hlnu 'src $2:53' | grep -q ." ||
		fail "dnsmasq $1 did not start"
}

stop_dns_server() {
	[ -s "$T/$1.pid" ] && th_kill_wait "$(cat "$T/$1.pid")"
	rm -f "$T/$1.pid"
}

nat_lines() { tail -n +2 $TH_PROC/nat; }
nat_count() { nat_lines | wc -l; }
nat_empty() { [ "$(nat_count)" -eq 0 ]; }
no_udp_entries() { [ "$(th_stat entries_udp)" = 0 ]; }

capture_start() {
	th_capture_start cli "$T/cap.pcap" udp or icmp || fail "tcpdump did not start"
}

capture_stop() {
	th_capture_stop "$T/cap.pcap" > "$T/cap.txt"
	tcpdump -r "$T/cap.pcap" -n 2>/dev/null > "$T/cap.brief"
}

offloads() {
	local on=$1
	ethtool -K rc0 tx "$on" rx "$on" >/dev/null 2>&1
	ethtool -K rs0 tx "$on" rx "$on" >/dev/null 2>&1
	cli ethtool -K eth0 tx "$on" rx "$on" >/dev/null 2>&1
	srv ethtool -K eth0 tx "$on" rx "$on" >/dev/null 2>&1
}

csum_errors() {
	"$@" awk '/^Udp:/ && ++n == 2 { print $8 }' /proc/net/snmp
}

oneTimeSetUp() {
	T=$SHUNIT_TMPDIR
	th_in_lab || { echo "run in the lab: tests/lab/run $(basename "$0")"; exit 1; }
	if [ "${KRELAY_RULESET:-}" = conntrack ]; then
		nft -f - <<'EOT' || exit 1
table inet filter {
	chain input {
		type filter hook input priority 0; policy accept;
		ct state established,related accept
		ct state invalid drop
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		ct state established,related accept
		ct state invalid drop
	}
}
table ip nat {
	chain postrouting {
		type nat hook postrouting priority srcnat;
		oifname "rc0" masquerade
	}
}
EOT
	fi
	th_krelay_unload
	th_krelay_load start=1 || exit 1
	dns_server dns1 192.168.0.10 192.0.2.1
}

oneTimeTearDown() {
	stop_dns_server dns1
	stop_dns_server dns2
	th_krelay_unload
	nft flush ruleset 2>/dev/null
}

setUp() {
	echo 1 > $TH_START
	echo flush > $TH_PROC/nat
	th_set real_ip 192.168.0.10
	th_set max_entries 262144
	th_set udp_timeout 30
	th_set udp_stream_timeout 120
	th_set interfaces ''
}

testDigGetsTheRealServersAnswer() {
	local ans
	ans=$(dig_relay +short test.lab)
	assertEquals "answer relayed from the real server" 192.0.2.1 "$ans"
}

testServerSeesTheClientsAddress() {
	dig_relay +short client.test.lab >/dev/null
	assertContains "server's log names the client" \
		"$(cat "$T/dns1.log")" "client.test.lab from 10.0.0.1"
}

testRepliesComeFromTheRelayAddressOnly() {
	local out q
	capture_start
	dig_relay +short test.lab >/dev/null
	q=$(cli python3 "$DNSQ" $RELAY test.lab -n 20 | tail -1)
	capture_stop
	assertEquals "queries answered" "answered 20/20" "$q"
	out=$(awk '{ print $3 }' "$T/cap.brief" | grep -v '^10\.0\.0\.1\.' | sort -u)
	assertEquals "sources of packets the client received" "192.168.0.2.53" "$out"
	assertEquals "packets the client received" 21 \
		"$(grep -cE ' IP 192\.168\.0\.2\.53 > 10\.0\.0\.1\.' "$T/cap.brief")"
}

testNatTableShowsTheFlow() {
	local line
	cli python3 "$DNSQ" $RELAY test.lab --sport 40001 >/dev/null
	line=$(grep '^udp .* 10.0.0.1:40001 ' $TH_PROC/nat)
	assertEquals "nat line (minus age, idle)" \
		"udp REPLIED 10.0.0.1:40001 192.168.0.2:53 192.168.0.10:53 - -" \
		"$(echo "$line" | cut -d' ' -f1-7)"
	assertEquals "packets and bytes of one query and answer" "2" \
		"$(echo "$line" | cut -d' ' -f10)"
	assertEquals "nat header" \
		"proto state client relay server gport relay_port age_s idle_s packets bytes" \
		"$(head -1 $TH_PROC/nat)"
}

testTwoHundredConcurrentQueriesAllAnswered() {
	local out
	out=$(cli python3 "$DNSQ" $RELAY test.lab -n 200 --timeout 10)
	assertEquals "concurrent queries answered ($(grep -v ' 0$' $TH_PROC/stats | tr '\n' ' '))" \
		"answered 200/200" "$(echo "$out" | tail -1)"
	assertEquals "flows in the table" 200 "$(nat_count)"
}

testAnswerLargerThanMtuArrivesWhole() {
	local out
	out=$(dig_relay +bufsize=4096 +ignore +notcp +short TXT big.lab)
	assertEquals "TXT strings" 12 "$(echo "$out" | grep -o '"[0-9]*x*"' | wc -l)"
	assertContains "last string intact" "$out" "\"12$(printf 'x%.0s' $(seq 250))\""
	# "1xx..x" to "9xx..x" and "10xx..x" to "12xx..x", quoted, spaced
	assertEquals "TXT bytes" $((9 * 253 + 3 * 254 + 12)) "$(echo "$out" | wc -c)"
}

testDeadServerGivesPortUnreachableFromRelay() {
	local out
	th_set real_ip 192.168.0.1
	capture_start
	out=$(dig_relay test.lab 2>&1)
	capture_stop
	# A refusal, not a time-out: the ICMP error reached dig.
	assertContains "dig's verdict" "$out" "connection refused"
	assertContains "ICMP error from the relay's address" "$(cat "$T/cap.brief")" \
		"IP 192.168.0.2 > 10.0.0.1: ICMP 192.168.0.2 udp port 53 unreachable"
	assertEquals "translated_icmp" 1 "$(th_stat translated_icmp)"
}

testStoppedRelaysNothingAndEmptiesTheTable() {
	local before
	dig_relay +short test.lab >/dev/null
	assertNotEquals "table before stop" 0 "$(nat_count)"
	echo 0 > $TH_START
	assertEquals "table after stop" 0 "$(nat_count)"
	before=$(grep -c 'from 10.0.0.1' "$T/dns1.log")
	assertNotEquals "answer while stopped" 192.0.2.1 "$(dig_relay +short test.lab 2>&1)"
	assertEquals "queries reaching the server while stopped" "$before" \
		"$(grep -c 'from 10.0.0.1' "$T/dns1.log")"
}

testRealIpChangeReachesNewServerAndOldFlowsStay() {
	dns_server dns2 192.168.0.1 192.0.2.2
	assertEquals "old flow before the change" "40100 192.0.2.1" \
		"$(cli python3 "$DNSQ" $RELAY test.lab --sport 40100 | head -1)"
	th_set real_ip 192.168.0.1
	assertEquals "new flow after the change" "40101 192.0.2.2" \
		"$(cli python3 "$DNSQ" $RELAY test.lab --sport 40101 | head -1)"
	assertEquals "old flow after the change" "40100 192.0.2.1" \
		"$(cli python3 "$DNSQ" $RELAY test.lab --sport 40100 | head -1)"
	stop_dns_server dns2
}

# A flow still active in both directions two seconds after it began is a
# stream (conntrack's rule): streams are never evicted.
testFullTableOfStreamsDropsNewOnes() {
	local drops
	th_set max_entries 5
	cli python3 "$DNSQ" $RELAY test.lab -n 5 --sport 40200 >/dev/null ||
		fail "5 flows not answered"
	sleep 2.2
	cli python3 "$DNSQ" $RELAY test.lab -n 5 --sport 40200 >/dev/null ||
		fail "5 flows not answered again"
	assertEquals "streams" 5 "$(nat_lines | grep -c '^udp STREAM ')"
	drops=$(th_stat drop_table_full)
	assertFalse "a sixth flow was answered" \
		"cli python3 $DNSQ $RELAY test.lab --sport 40210 --timeout 1"
	assertEquals "drop_table_full" $((drops + 1)) "$(th_stat drop_table_full)"
	assertEquals "old flows still answered" "answered 5/5" \
		"$(cli python3 "$DNSQ" $RELAY test.lab -n 5 --sport 40200 | tail -1)"
	assertEquals "flows in the table" 5 "$(nat_count)"
}

# Answered once and quiet since: evictable (spoofed queries are answered
# too, to addresses that never ask again).
testRepliedFlowsAreEvictedForNewOnes() {
	local evicted
	th_set max_entries 5
	cli python3 "$DNSQ" $RELAY test.lab -n 5 --sport 40250 >/dev/null ||
		fail "5 flows not answered"
	assertEquals "replied flows" 5 "$(nat_lines | grep -c '^udp REPLIED ')"
	evicted=$(th_stat evicted)
	assertEquals "a sixth flow answered" "answered 1/1" \
		"$(cli python3 "$DNSQ" $RELAY test.lab --sport 40260 | tail -1)"
	assertEquals "evicted" $((evicted + 1)) "$(th_stat evicted)"
	assertEquals "the oldest replied flow went" 0 \
		"$(nat_lines | grep -c ' 10.0.0.1:40250 ')"
	assertEquals "flows in the table" 5 "$(nat_count)"
}

testIdleFlowsExpire() {
	local expired
	expired=$(th_stat expired)
	cli python3 "$DNSQ" $RELAY test.lab --sport 40400 >/dev/null
	cli python3 "$DNSQ" $RELAY x --garbage --sport 40401 --timeout 0.2 >/dev/null
	assertEquals "flows before expiry" 2 "$(nat_count)"
	# Timeouts apply to existing flows from the next GC pass on.
	th_set udp_timeout 1
	th_set udp_stream_timeout 2
	th_wait_until 8 nat_empty || fail "flows did not expire: $(nat_lines)"
	assertEquals "expired" $((expired + 2)) "$(th_stat expired)"
}

# Expiry is a timer wheel: the GC looks at the flows that may have expired
# (gc_checked), not at the whole table every second; a timeout knob's
# change still reaches every flow.
testGcLooksOnlyAtFlowsThatMayExpire() {
	local c0 e0 n
	th_set udp_timeout 600
	cli python3 "$TH_TOP/tests/attack.py" flood --dst $RELAY --dport 53 \
		--kind dns --src 10.0.0.100-10.0.0.101 --sport 20000 -n 2000 >/dev/null
	n=$(th_stat entries_udp)
	assertTrue "flows in the table: $n" "[ $n -ge 1900 ]"
	# (answers still arriving make flows REPLIED: a state change, placed
	# again at once, not by the GC)
	sleep 1
	c0=$(th_stat gc_checked)
	sleep 4
	assertTrue "flows the GC looked at in 4 s, $n flows due in 600 s: $(($(th_stat gc_checked) - c0))" \
		"[ $(($(th_stat gc_checked) - c0)) -lt 50 ]"
	e0=$(th_stat expired)
	th_set udp_timeout 1
	th_wait_until 15 no_udp_entries ||
		fail "flows left after udp_timeout 1: $(th_stat entries_udp)"
	assertTrue "expired: $(($(th_stat expired) - e0)) of $n" "[ $(($(th_stat expired) - e0)) -ge $n ]"
	assertTrue "the GC looked at each flow: $(($(th_stat gc_checked) - c0))" \
		"[ $(($(th_stat gc_checked) - c0)) -ge $n ]"
}

testOtherTrafficPassesUntouched() {
	cli ping -c 1 -W 2 $RELAY >/dev/null || fail "ping to the relay"
	cli ping -c 1 -W 2 192.168.0.10 >/dev/null || fail "ping through the relay"
	# Another UDP port, the relay's own query to itself, and a datagram
	# from real_ip to the relay: none is relayed.
	cli python3 "$DNSQ" $RELAY x --garbage --timeout 0.2 >/dev/null
	cli bash -c "echo x > /dev/udp/$RELAY/5353"
	dig @$RELAY +tries=1 +time=1 test.lab >/dev/null 2>&1
	srv python3 -c "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('192.168.0.10', 0)); s.sendto(b'x', ('$RELAY', 53))"
	assertEquals "flows: only the client's datagram to port 53" \
		"udp UNREPLIED 10.0.0.1" "$(nat_lines | cut -d' ' -f1-3 | cut -d: -f1)"
}

testScopeLimitsNewFlowsToItsInterfaces() {
	th_set interfaces rs0 || fail "interfaces rs0 refused"
	assertNotEquals "relayed on an interface out of scope" 192.0.2.1 \
		"$(dig_relay +short +tries=1 +time=1 test.lab)"
	assertEquals "flows made out of scope" "" "$(nat_lines)"
	th_set interfaces rs0,rc+ || fail "interfaces rs0,rc+ refused"
	assertEquals "relayed on an interface the wildcard matches" 192.0.2.1 \
		"$(dig_relay +short test.lab)"
	th_set interfaces rc0 || fail "interfaces rc0 refused"
	assertEquals "relayed on the named interface" 192.0.2.1 \
		"$(dig_relay +short test.lab)"
}

testFlushAndDelete() {
	cli python3 "$DNSQ" $RELAY test.lab -n 3 --sport 40500 >/dev/null
	echo "delete udp 10.0.0.1:40501" > $TH_PROC/nat || fail "delete refused"
	assertEquals "flows after delete" "10.0.0.1:40500 10.0.0.1:40502" \
		"$(nat_lines | awk '{ print $3 }' | sort | tr '\n' ' ' | sed 's/ $//')"
	echo "delete udp 10.0.0.1:40501" 2>/dev/null > $TH_PROC/nat &&
		fail "deleting a missing flow succeeded"
	local bad
	for bad in "delete udp 10.0.0.1" "delete udp 10.0.0.1:0" "delete icmp 10.0.0.1:1" \
		"delete udp 10.0.0.1:40500x" "flushx" "delete udp 10.0.0.1:70000"; do
		echo "$bad" 2>/dev/null > $TH_PROC/nat && fail "accepted '$bad'"
	done
	echo flush > $TH_PROC/nat || fail "flush refused"
	assertEquals "flows after flush" 0 "$(nat_count)"
}

testChecksumsCorrectWithOffloadsOff() {
	local cerr serr out
	offloads off
	cerr=$(csum_errors cli); serr=$(csum_errors srv)
	capture_start
	cli python3 "$DNSQ" $RELAY test.lab -n 10 >/dev/null || fail "queries not answered"
	dig_relay +bufsize=4096 +ignore +notcp TXT big.lab >/dev/null
	capture_stop
	offloads on
	out=$(cat "$T/cap.txt")
	th_assert_lacks "bad checksums in the client's capture" "$out" "bad udp cksum"
	th_assert_lacks "bad checksums in the client's capture" "$out" "incorrect"
	assertEquals "answers verified by tcpdump" 10 \
		"$(grep -c '192.168.0.2.53 > 10.0.0.1.*udp sum ok' "$T/cap.txt")"
	assertEquals "client InCsumErrors" "$cerr" "$(csum_errors cli)"
	assertEquals "server InCsumErrors" "$serr" "$(csum_errors srv)"
}

testZeroUdpChecksumStaysZero() {
	th_capture_start srv "$T/srv.pcap" udp port 53 || fail "tcpdump did not start"
	cli python3 "$DNSQ" $RELAY test.lab --nocheck --sport 40600 >/dev/null
	th_capture_stop "$T/srv.pcap" > "$T/srv.txt"
	assertContains "query relayed without a checksum" \
		"$(grep -A1 '10.0.0.1.40600 >' "$T/srv.txt")" "[no cksum]"
}

# walk_table N [PROTO STATE IP[/BITS] PORT]: TABLE_PAGE pages of N records
# from the start to the end (tests/sockopt_probe walk).
walk_table() { "$TH_TOP/tests/sockopt_probe" walk "$@" > "$T/walk"; }
walk_records() { grep -v '^pages ' "$T/walk" | sort; }
walk_summary() { sed -n 's/^pages /pages /p' "$T/walk"; }
# assert_walk MESSAGE EXPECTED: the walk's records are EXPECTED's lines
# (sorted); on a mismatch, the counts and the first differences.
assert_walk() {
	local d
	printf '%s\n' "$2" | sed '/^$/d' > "$T/walk.want"
	walk_records > "$T/walk.got"
	d=$(diff "$T/walk.want" "$T/walk.got" | grep '^[<>]' | head -5)
	assertEquals "$1 ($(wc -l < "$T/walk.want") expected, $(wc -l < "$T/walk.got") walked; first differences: $d)" "" "$d"
}
walk_field() { walk_summary | awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'; }

testTablePagesWalkTheWholeTableOnce() {
	local size n
	# 1024 buckets for 4,000 flows: about 4 in each, so that small pages
	# split buckets.
	th_krelay_unload
	th_krelay_load start=1 hashsize=1024 || fail "load with hashsize=1024"
	setUp
	th_set udp_timeout 600
	cli python3 "$TH_TOP/tests/attack.py" flood --dst $RELAY --dport 53 \
		--kind dns --src 10.0.0.100-10.0.0.101 --sport 20000 -n 4000 >/dev/null
	# Until the server has answered what it will: the states stay put.
	th_wait_until 60 sh -c "a=\$(cut -d' ' -f2 $TH_PROC/nat | sort | uniq -c); sleep 1;
		[ \"\$a\" = \"\$(cut -d' ' -f2 $TH_PROC/nat | sort | uniq -c)\" ]"
	nat_lines | awk '{ print $1, $3, $2 }' | sort > "$T/want"
	n=$(wc -l < "$T/want")
	assertTrue "flows in the table: $n" "[ $n -ge 3900 ]"

	for size in 1 3 1000 16384; do
		walk_table $size || fail "walk $size: $(tail -1 "$T/walk")"
		assert_walk "pages of $size put together: the table, each flow once" "$(cat "$T/want")"
		assertTrue "pages of $size hold at most $size: $(walk_summary)" \
			"[ $(walk_field max) -le $size ]"
		assertEquals "pages of $size: one end" 1 "$(walk_field end)"
		assertEquals "pages of $size: count is the table's" "$n" "$(walk_field count)"
		[ $size = 1 ] && assertEquals "pages of 1: one a flow" "$n" "$(walk_field pages)"
	done

	walk_table 10 17 0 10.0.0.101 20005
	assert_walk "client 10.0.0.101:20005" "$(grep ' 10.0.0.101:20005 ' "$T/want")"
	walk_table 1000 6 0 0.0.0.0/0 0
	assert_walk "no TCP flows" ""
	walk_table 1000 17 0 10.0.0.100/31 0
	assert_walk "10.0.0.100/31 and UDP: every flow" "$(cat "$T/want")"
	# Half the flows, interleaved in every bucket: pages that split
	# buckets resume at the right match.
	for size in 1 3; do
		walk_table $size 0 0 10.0.0.100 0
		assert_walk "client 10.0.0.100 in pages of $size" "$(grep ' 10.0.0.100:' "$T/want")"
	done
	walk_table 500 0 2 0.0.0.0/0 0
	assert_walk "state REPLIED" "$(grep ' REPLIED$' "$T/want")"
	assertTrue "some flows answered" "[ -n \"\$(grep -m1 ' REPLIED$' "$T/want")\" ]"

	for what in version pad prefix proto cursor out len; do
		assertEquals "TABLE_PAGE with a bad $what" EINVAL \
			"$("$TH_TOP/tests/sockopt_probe" page-bad $what)"
	done
	assertEquals "TABLE_PAGE, a good query (control)" ok \
		"$("$TH_TOP/tests/sockopt_probe" page-bad none)"
	local probe
	probe=$(th_for_nobody "$TH_TOP/tests/sockopt_probe") || fail "a copy for nobody"
	assertEquals "TABLE_PAGE unprivileged" EPERM \
		"$(setpriv --reuid=65534 --regid=65534 --clear-groups "$probe" page-bad none)"

	# 262,144 empty buckets: a page looks at 65,536 buckets and nodes at
	# most, then hands back a cursor to go on from.
	th_krelay_unload
	th_krelay_load start=1 hashsize=262144 || fail "load with hashsize=262144"
	setUp
	cli python3 "$DNSQ" $RELAY test.lab --sport 45999 >/dev/null
	walk_table 1000 0 0 10.0.1.0/24 0
	assert_walk "no flow from 10.0.1.0/24" ""
	assertTrue "pages that stopped at the scan bound, then one end: $(walk_summary)" \
		"[ $(walk_field scan) -ge 3 ] && [ $(walk_field pages) = $(($(walk_field scan) + 1)) ]"
	walk_table 1000
	assert_walk "the one flow, found past the scan bounds" "udp 10.0.0.1:45999 REPLIED"
	assertTrue "kernel warned" th_dmesg_clean
	th_krelay_unload
	th_krelay_load start=1 || fail "reload with the default hashsize"
}

testRmmodUnderTrafficLeavesKernelHealthy() {
	local stop=$T/stop
	rm -f "$stop"
	# queries until just after the unload (the rest would test nothing)
	( for _ in $(seq 30); do
		[ -e "$stop" ] && break
		cli python3 "$DNSQ" $RELAY test.lab -n 20 --timeout 0.5 >/dev/null
	done ) &
	local pid=$!
	sleep 2
	th_krelay_unload || fail "rmmod under traffic failed"
	: > "$stop"
	wait $pid
	assertTrue "kernel warned" th_dmesg_clean
	th_krelay_load start=1 || fail "reload failed"
	assertEquals "relay works after reload" 192.0.2.1 "$(dig_relay +short test.lab)"
}

. shunit2
