#!/bin/bash
# TCP relayed by krelay itself (tcp_mode kernel), in the lab:
#
#   cli 10.0.0.1 --- relay 10.0.0.2 | 192.168.0.2 --- srv 192.168.0.10
#                    krelay (kernel mode)                httpd :80, peers :7000-7004
#
# The same flows as with tcp_relay (T1-T4: the server sees the client's
# address), relayed by the module's own sockets. tcp_relay runs beside it,
# as webadmin keeps it, for the mode switch.
# lab-budget: 420 s (usually 90-150 s on 2 cores under TCG)

. "$(dirname "$0")/lib.sh"

RELAY=192.168.0.2
TCP_RELAY=$TH_TOP/tcp_relay/tcp_relay
PEER=$TH_TOP/tests/tcp_relay_peer.py
T=

# The peers' servers: 7000 echo, 7001 reply, 7002 rst, 7003 urgent,
# 7004 shutfirst.
PORTS=53,80,7000,7001,7002,7003,7004

# peer CMD PORT ARGS...: a peer client from the client namespace.
peer() { cli env PEER_HOST=$RELAY python3 "$PEER" "$@"; }

kpairs() { th_stat kernel_pairs; }
kpairs_are() { [ "$(kpairs)" -eq "$1" ]; }

oneTimeSetUp() {
	local port mode
	T=$SHUNIT_TMPDIR
	th_in_lab || { echo "run in the lab: tests/lab/run $(basename "$0")"; exit 1; }
	mkdir -p "$T/www"
	echo "krelay kernel mode page $$" > "$T/www/index.html"
	th_krelay_unload
	th_krelay_load start=1 || exit 1
	srv python3 "$TH_TOP/tests/httpd.py" 80 --bind 192.168.0.10 --directory "$T/www" \
		2>"$T/http.log" >/dev/null &
	for port in 7000:echo 7001:reply 7002:rst 7003:urgent 7004:shutfirst; do
		mode=${port#*:}
		port=${port%:*}
		srv env PEER_HOST=192.168.0.10 python3 "$PEER" server "$port" "$mode" \
			"$T/peer.$mode" &
	done
	th_wait_until $((15 * TH_SCALE)) srv sh -c "ss -Hlnt 'src 192.168.0.10:80' | grep -q . &&
		[ \$(ss -Hlnt 'src 192.168.0.10' | wc -l) -ge 6 ]" ||
		fail "the servers did not start"
	"$TCP_RELAY" -f -n 2 -P "$T/tcp_relay.pid" 2>>"$T/tcp_relay.log" &
	th_wait_until 10 test -s "$T/tcp_relay.pid" || fail "tcp_relay did not start"
	th_wait_listener || fail "tcp_relay's listener is not registered"
}

oneTimeTearDown() {
	[ -s "$T/tcp_relay.pid" ] && th_kill_wait "$(cat "$T/tcp_relay.pid")"
	pkill -f "httpd.py 80 --bind 192.168.0.10"
	pkill -f "tcp_relay_peer.py server"
	th_krelay_unload
}

setUp() {
	[ -d /sys/module/krelay ] || { th_krelay_load start=1 && th_wait_listener; }
	echo 1 > $TH_START
	th_set tcp_ports $PORTS
	th_set real_ip 192.168.0.10
	th_set relay_max_pairs 256
	th_set relay_max_per_client 64
	th_set relay_idle_timeout 300
	th_set relay_connect_timeout 10
	th_set tcp_mode kernel || fail "tcp_mode kernel refused"
}

tearDown() {
	assertTrue "kernel warned" th_dmesg_clean
	# shellcheck disable=SC2154
	[ "${__shunit_testSuccess:-0}" = 0 ] || grep -v '^hash_buckets' "$TH_PROC/stats" | grep kernel
}

testModeIsAKnob() {
	assertEquals "tcp_mode shown" kernel "$(th_knob tcp_mode)"
	assertFalse "a word it does not know" "th_set tcp_mode kern"
	assertEquals "kept after a refusal" kernel "$(th_knob tcp_mode)"
	th_set tcp_mode user || fail "tcp_mode user refused"
	assertEquals "back to user" user "$(th_knob tcp_mode)"
}

testPageThroughTheKernelRelay() {
	local before flow
	before=$(th_stat kernel_pairs_total)
	assertEquals "page through the relay" "$(cat "$T/www/index.html")" \
		"$(cli curl -sS --max-time 10 "http://$RELAY/?k=$$")"
	assertEquals "one kernel pair more" $((before + 1)) "$(th_stat kernel_pairs_total)"
	assertContains "the server saw the client's address" "$(cat "$T/http.log")" "10.0.0.1 - - "
	th_assert_lacks "the server saw the relay" "$(cat "$T/http.log")" "192.168.0.2 - - "
	# The flow was steered to the module's own listener, not to gport.
	flow=$(awk '$1 == "tcp" && $5 == "192.168.0.10:80"' "$TH_PROC/nat" | tail -1)
	assertNotNull "the flow in the table" "$flow"
	assertNotEquals "its gport column is the kernel listener's" \
		"$(th_knob gport)" "$(echo "$flow" | awk '{ print $6 }')"
}

testTwentyMegabytesEachWayByteExact() {
	local out
	# bulk prints the sha256 of what it sent, of what came back, and
	# how many bytes came back.
	out=$(peer bulk 7000 20)
	assertEquals "20 MiB up and back: $out" "$(echo "$out" | awk '{ print $1, $1, 20 * 1048576 }')" "$out"
	assertEquals "the server got all of it" \
		"eof $((20 << 20)) $(echo "$out" | awk '{ print $1 }')" "$(tail -1 "$T/peer.echo")"
}

testTwoHundredConcurrentPairs() {
	th_set relay_max_per_client 200
	assertEquals "200 echo exchanges at once" "ok 200" "$(peer many 7000 200)"
	th_wait_until $((20 * TH_SCALE)) kpairs_are 0
	assertTrue "every pair ended: $(kpairs)" $?
}

testHalfCloseBothWays() {
	assertEquals "the client half-closes, the server answers" "got 19" \
		"$(peer halfclose 7001)"
	assertEquals "the server half-closes, the client still sends" "bye" \
		"$(peer afterfin 7004 1000)"
	th_wait_until 10 grep -q '^eof 1000 ' "$T/peer.shutfirst"
	assertTrue "the server got the client's bytes after its own FIN: $(cat "$T/peer.shutfirst")" $?
}

testResetBothWays() {
	local out
	out=$(peer readend 7002)
	assertEquals "the server's RST reaches the client" reset "${out%% *}"
	assertEquals "the client's RST reaches the server" sent-rst "$(peer clientrst 7000)"
	th_wait_until 10 sh -c "tail -1 '$T/peer.echo' | grep -q '^reset '"
	assertTrue "the server saw a reset: $(tail -1 "$T/peer.echo")" $?
}

testSilentServerResetsTheClientAfterConnectTimeout() {
	local out
	th_set relay_connect_timeout 2
	th_set real_ip 192.168.0.99	# nobody: the SYNs go unanswered
	out=$(peer readend 7000)
	assertEquals "the client is reset" reset "${out%% *}"
	th_wait_until 10 kpairs_are 0
	assertTrue "the pair is gone: $(kpairs)" $?
}

testUrgentByteRelayedInline() {
	assertEquals "U! and a MiB back" intact "$(peer urgent 7003)"
}

# A client that sends and never reads: the relay holds at most its
# buffers, the server is stalled by TCP, and the idle timeout ends it.
testClientThatNeverReadsIsBoundedAndTimedOut() {
	local t0
	th_set relay_idle_timeout 3
	head -c 8M /dev/urandom > "$T/www/big.bin"
	cli python3 -c '
import socket, time
s = socket.create_connection(("'$RELAY'", 80))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.sendall(b"GET /big.bin HTTP/1.0\r\n\r\n")
time.sleep(30)' &
	HOLD=$!
	th_wait_until $((10 * TH_SCALE)) kpairs_are 1 || fail "no pair: $(kpairs)"
	t0=$SECONDS
	th_wait_until $((20 * TH_SCALE)) kpairs_are 0
	assertTrue "the stalled pair ended by the idle timeout ($((SECONDS - t0)) s)" $?
	kill "$HOLD" 2>/dev/null
	wait "$HOLD" 2>/dev/null
	rm -f "$T/www/big.bin"
}

# A pair keeps the mode it started in; new connections take the new one.
testModeSwitchLetsLivePairsFinish() {
	local a b total
	th_set tcp_mode user
	peer twostep 7000 "$T/goU" > "$T/twoU" &
	a=$!
	th_wait_until 10 grep -q before "$T/twoU" || fail "no user-mode pair"
	th_set tcp_mode kernel
	peer twostep 7000 "$T/goK" > "$T/twoK" &
	b=$!
	th_wait_until 10 grep -q before "$T/twoK" || fail "no kernel-mode pair"
	assertEquals "the kernel pair counted" 1 "$(kpairs)"
	th_set tcp_mode user
	touch "$T/goU" "$T/goK"
	wait "$a" "$b"
	assertEquals "the user-mode pair finished across two switches" "before after" \
		"$(cat "$T/twoU")"
	assertEquals "the kernel pair finished after the switch back" "before after" \
		"$(cat "$T/twoK")"
	total=$(th_stat kernel_pairs_total)
	assertEquals "new connections relayed" "ok 3" "$(peer seq 7000 3)"
	assertEquals "by tcp_relay" "$total" "$(th_stat kernel_pairs_total)"
}

# rmmod cuts every pair and frees every socket and work item.
testRmmodWithAThousandKernelPairs() {
	th_set relay_max_pairs 2000
	th_set relay_max_per_client 2000
	cli bash -c "ulimit -n 4096; PEER_HOST=$RELAY exec python3 '$PEER' hold 7000 10.0.0.1 1000 '$T/goH'" \
		> "$T/held" &
	HOLD=$!
	th_wait_until $((60 * TH_SCALE)) kpairs_are 1000
	assertTrue "1000 kernel pairs: $(kpairs)" $?
	th_krelay_unload
	assertTrue "rmmod with 1000 pairs" $?
	assertTrue "kernel warned" th_dmesg_clean
	assertEquals "no relay socket left toward the client" "" \
		"$(ss -Htn state established dst 10.0.0.1)"
	touch "$T/goH"
	wait "$HOLD"
	# (A burst of 1000 RSTs can overflow a backlog on the way: most, not
	# all, reach the client before it sends again.)
	echo "kmode: held connections reset by the unload: $(cat "$T/held")"
	th_krelay_load start=1 || fail "reload failed"
	th_wait_listener || fail "tcp_relay did not register again"
}

. shunit2
