#!/bin/bash
# Hostile input to krelay's kernel side, in the lab:
#
#   cli 10.0.0.1 --- relay 10.0.0.2 | 192.168.0.2 --- srv 192.168.0.10
#   crafted packets  krelay, tcp_relay on gport        httpd :80, dnsmasq :53
#
# Random and malformed writes to /proc/krelay, concurrent writers and
# readers while the table churns, random socket options (as root, as
# nobody, as root of a user namespace), crafted packets through the hooks.
# Afterwards: no kernel warning, a consistent table, normal traffic.
# STRESS_SCALE=check (default) or full sets the counts.
# lab-budget: 300 s (usually 30-54 s on 2 cores under TCG)

. "$(dirname "$0")/lib.sh"

RELAY=192.168.0.2
TCP_RELAY=$TH_TOP/tcp_relay/tcp_relay
PROBE=$TH_TOP/tests/sockopt_probe
FUZZ=$TH_TOP/tests/kfuzz.py
DNSQ=$TH_TOP/tests/dnsq.py
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
T=

case ${STRESS_SCALE:-check} in
full) PROC_N=400 RACE_S=30 SOCKOPT_N=20000 PKT_N=300 ;;
*) PROC_N=60 RACE_S=6 SOCKOPT_N=3000 PKT_N=40 ;;
esac

# Objects of the module's flow cache in use (slab_debug keeps it unmerged
# and without per-CPU caching, so the count is exact); "none" once gone.
slab_objs() {
	awk '$1 == "krelay_flow" { print $2; f = 1 } END { if (!f) print "none" }' \
		/proc/slabinfo
}

nat_lines() { tail -n +2 $TH_PROC/nat | wc -l; }
stat_entries() { echo $(($(th_stat entries_udp) + $(th_stat entries_tcp))); }
# The counters and the table agree (read stats, nat, stats: flows the GC
# expires between two reads make a single snapshot differ on a slow kernel).
counts_agree() {
	local a n b
	a=$(stat_entries); n=$(nat_lines); b=$(stat_entries)
	[ "$a" = "$n" ] && [ "$n" = "$b" ]
}
table_empty() { [ "$(nat_lines)" = 0 ] && [ "$(stat_entries)" = 0 ]; }
slab_zero() { [ "$(slab_objs)" = 0 ]; }

tried() { awk '/^tried/ { print $2 }' "$1"; }

traffic_recovers() { th_wait_until 20 traffic_ok; }

traffic_ok() {
	[ "$(cli dig +tries=2 +time=3 +short @$RELAY test.lab)" = 192.0.2.1 ] &&
		[ "$(cli curl -sS --max-time 10 http://$RELAY/)" = "kfuzz page" ]
}

oneTimeSetUp() {
	T=$SHUNIT_TMPDIR
	th_in_lab || { echo "run in the lab: tests/lab/run $(basename "$0")"; exit 1; }
	mkdir -p "$T/www"
	echo "kfuzz page" > "$T/www/index.html"
	th_krelay_unload
	th_krelay_load start=1 || exit 1
	srv python3 "$TH_TOP/tests/httpd.py" 80 --bind 192.168.0.10 --directory "$T/www" \
		>/dev/null 2>&1 &
	srv dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
		--no-hosts --bind-interfaces --listen-address=192.168.0.10 \
		--user=root --address=/test.lab/192.0.2.1 --pid-file="$T/dns.pid" &
	th_wait_until $((15 * TH_SCALE)) srv sh -c "ss -Hlnt 'src 192.168.0.10:80' | grep -q ." ||
		fail "httpd did not start"
	"$TCP_RELAY" -f -n 4 -P "$T/tcp_relay.pid" 2>>"$T/tcp_relay.log" &
	th_wait_until 10 test -s "$T/tcp_relay.pid" || fail "tcp_relay did not start"
	th_wait_port tcp 0.0.0.0 16000 || fail "tcp_relay does not listen"
	echo "kfuzz: scale ${STRESS_SCALE:-check}, seed ${KFUZZ_SEED:-random}"
}

oneTimeTearDown() {
	[ -s "$T/tcp_relay.pid" ] && th_kill_wait "$(cat "$T/tcp_relay.pid")"
	[ -s "$T/dns.pid" ] && th_kill_wait "$(cat "$T/dns.pid")"
	pkill -f "httpd.py 80 --bind 192.168.0.10"
	th_krelay_unload
}

setUp() {
	[ -d /sys/module/krelay ] || th_krelay_load start=1
	echo 1 > $TH_START
}

testProcWritesFuzzedKeepValues() {
	local rc
	"$FUZZ" proc "$PROC_N" > "$T/proc.out" 2>&1
	rc=$?
	assertEquals "kfuzz proc: $(tail -3 "$T/proc.out")" 0 "$rc"
	echo "kfuzz: /proc writes tried: $(tried "$T/proc.out")"
	assertTrue "kernel warned" th_dmesg_clean
	assertTrue "traffic after /proc fuzzing" traffic_recovers
}

testConcurrentKnobWritersAndTableReaders() {
	local load out rc
	# DNS flows come and go (udp_timeout 1 s once the race restores 30,
	# flushes throughout) while every knob is written and nat/stats read.
	cli bash -c "end=\$((SECONDS + $RACE_S)); while [ \$SECONDS -lt \$end ]; do
		python3 $DNSQ $RELAY test.lab -n 50 --timeout 1 >/dev/null; done" &
	load=$!
	"$FUZZ" race "$RACE_S" > "$T/race.out" 2>&1
	rc=$?
	wait "$load"
	assertEquals "kfuzz race: $(tail -3 "$T/race.out")" 0 "$rc"
	echo "kfuzz: race: $(tail -1 "$T/race.out")"
	assertTrue "kernel warned" th_dmesg_clean
	assertTrue "traffic after the race" traffic_recovers
}

testSocketOptionsFuzzed() {
	local rc fuzz probe
	fuzz=$(th_for_nobody "$FUZZ") && probe=$(th_for_nobody "$PROBE") ||
		fail "copies for nobody"
	"$FUZZ" sockopt "$SOCKOPT_N" > "$T/so.root" 2>&1
	rc=$?
	assertEquals "kfuzz sockopt as root: $(tail -3 "$T/so.root")" 0 "$rc"
	$NOBODY "$fuzz" sockopt "$SOCKOPT_N" > "$T/so.nobody" 2>&1
	rc=$?
	assertEquals "kfuzz sockopt as nobody: $(tail -3 "$T/so.nobody")" 0 "$rc"
	# Root of its own user and network namespace: CAP_NET_ADMIN there
	# must not open init_net's table nor link a flow.
	$NOBODY unshare -rn "$fuzz" sockopt "$SOCKOPT_N" --unpriv > "$T/so.userns" 2>&1
	rc=$?
	assertEquals "kfuzz sockopt in a user namespace: $(tail -3 "$T/so.userns")" 0 "$rc"
	echo "kfuzz: sockopt calls: root $(tried "$T/so.root"), nobody" \
		"$(tried "$T/so.nobody"), userns $(tried "$T/so.userns")"
	assertEquals "TABLE as nobody" EPERM "$($NOBODY "$probe" table-len 4096)"
	assertEquals "TABLE as root of a user namespace" ENOENT \
		"$($NOBODY unshare -rn "$probe" table-len 4096)"
	assertEquals "CLIENT as root of a user namespace" ENOENT \
		"$($NOBODY unshare -rn "$probe" client-len 16)"
	assertTrue "kernel warned" th_dmesg_clean
	assertTrue "traffic after sockopt fuzzing" traffic_recovers
}

testCraftedPacketsLeaveTableConsistent() {
	local gport n rc
	gport=$(th_knob gport)
	cli python3 "$FUZZ" packets "$PKT_N" $RELAY "$gport" > "$T/pkt.cli" 2>&1
	rc=$?
	assertEquals "kfuzz packets to $RELAY: $(tail -3 "$T/pkt.cli")" 0 "$rc"
	cli python3 "$FUZZ" packets "$PKT_N" 10.0.0.2 "$gport" > "$T/pkt.cli2" 2>&1
	rc=$?
	assertEquals "kfuzz packets to 10.0.0.2: $(tail -3 "$T/pkt.cli2")" 0 "$rc"
	# and from the server's side, toward the client (ICMP errors quoting
	# flows, RSTs to tcp_relay's ports)
	srv python3 "$FUZZ" packets "$PKT_N" 10.0.0.1 "$gport" 192.168.0.10 > "$T/pkt.srv" 2>&1
	rc=$?
	assertEquals "kfuzz packets from srv: $(tail -3 "$T/pkt.srv")" 0 "$rc"
	n=$(($(tried "$T/pkt.cli") + $(tried "$T/pkt.cli2") + $(tried "$T/pkt.srv")))
	echo "kfuzz: crafted packets sent: $n"
	assertTrue "kernel warned" th_dmesg_clean
	assertTrue "traffic after crafted packets" traffic_recovers
	th_wait_until 20 counts_agree ||
		fail "entries in stats $(stat_entries) vs lines in nat $(nat_lines)"
	echo flush > $TH_PROC/nat
	assertTrue "flush left $(nat_lines) lines, $(stat_entries) entries" table_empty
	th_wait_until 30 slab_zero
	assertEquals "flow objects after flush" 0 "$(slab_objs)"
}

testRmmodAfterFuzzingFreesTheCache() {
	traffic_recovers
	echo flush > $TH_PROC/nat
	th_krelay_unload
	assertEquals "slab cache after rmmod" none "$(slab_objs)"
	assertTrue "kernel warned" th_dmesg_clean
	th_krelay_load start=1
	assertTrue "traffic after reload" traffic_recovers
}

. shunit2
