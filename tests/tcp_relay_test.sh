#!/bin/bash
# shellcheck disable=SC2317 source-path=SCRIPTDIR
# tcp_relay in standalone mode (-t), on this host's loopback, no module:
#
#   client (tcp_relay_peer.py) --> 127.0.0.1:22xxx tcp_relay --> 127.0.0.1:21xxx server
#                                  (gport, -p or      (children)  (tcp_relay_peer.py
#                                   $KRELAY_PROC_DIR/gport)        echo/reply/rst)
#
# Run as root: bash tests/tcp_relay_test.sh

. "$(dirname "$0")/lib.sh"

RELAY=$TH_TOP/tcp_relay/tcp_relay
PEER=$TH_TOP/tests/tcp_relay_peer.py
ECHO_PORT=21001
REPLY_PORT=21002
RST_PORT=21003
URG_PORT=21010
GREET_PORT=21011
DEAD_PORT=21099		# nothing listens there

SERVER_PIDS=""
BG_PIDS=""
RELAY_PID=""
RELAY_LOG=""

peer() { python3 "$PEER" "$@"; }

# start_server PORT MODE: a peer server logging to $SHUNIT_TMPDIR/server.PORT
start_server() {
	python3 "$PEER" server "$1" "$2" "$SHUNIT_TMPDIR/server.$1" 2>/dev/null &
	SERVER_PIDS="$SERVER_PIDS $!"
	th_wait_port tcp 127.0.0.1 "$1" || fail "server on port $1 did not start"
}

# start_relay PORT ARGS...: tcp_relay listening on PORT (waited for)
start_relay() {
	local port=$1
	shift
	RELAY_LOG=$SHUNIT_TMPDIR/relay.log
	"$RELAY" -l 127.0.0.1 "$@" 2>"$RELAY_LOG" &
	RELAY_PID=$!
	th_wait_port tcp 127.0.0.1 "$port" ||
		fail "tcp_relay did not listen on port $port: $(cat "$RELAY_LOG")"
}

listening() { ss -H -lnt "sport = :$1" | grep -q .; }
# queued PORT: a connection waits in the listener's accept queue (Recv-Q)
queued() { ss -H -lnt "sport = :$1" | awk '$2 > 0 { f = 1 } END { exit !f }'; }
children() { pgrep -P "$RELAY_PID" | wc -l; }
zombies() { pgrep -r Z -P "$RELAY_PID" | wc -l; }
fds() { find "/proc/$RELAY_PID/fd" -mindepth 1 | wc -l; }
children_are() { [ "$(children)" -eq "$1" ] && [ "$(zombies)" -eq 0 ]; }
# wait_bg: wait for the background clients, at most 10 s each
wait_bg() {
	local p
	for p in $BG_PIDS; do
		th_wait_until 10 sh -c "! kill -0 $p" || kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	BG_PIDS=""
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# set_gport DIR PORT: replace the file at once, as the kernel would
set_gport() {
	echo "$2" >"$1/gport.new" && mv "$1/gport.new" "$1/gport"
}

oneTimeSetUp() {
	if [ ! -x "$RELAY" ]; then
		echo "tcp_relay_test: $RELAY is missing: run make first" >&2
		exit 1
	fi
	# Started as root, tcp_relay becomes nobody (or krelay-relay): it must
	# still read the gport files the tests write here.
	if [ "$(id -u)" = 0 ]; then
		chmod 0755 "$SHUNIT_TMPDIR" "${SHUNIT_TMPDIR%/*}"
	fi
	start_server $ECHO_PORT echo
	start_server $REPLY_PORT reply
	start_server $RST_PORT rst
	start_server $URG_PORT urgent
	start_server $GREET_PORT greet
}

oneTimeTearDown() {
	# shellcheck disable=SC2086
	[ -z "$SERVER_PIDS" ] || th_kill_wait $SERVER_PIDS
}

tearDown() {
	local kids
	# shellcheck disable=SC2086
	[ -n "$BG_PIDS" ] && th_kill_wait $BG_PIDS
	BG_PIDS=""
	if [ -n "$RELAY_PID" ]; then
		kids=$(pgrep -P "$RELAY_PID")
		th_kill_wait "$RELAY_PID"
		# shellcheck disable=SC2086
		[ -n "$kids" ] && kill -9 $kids 2>/dev/null
	fi
	if [ "${__shunit_testSuccess:-0}" != 0 ] && [ -n "$RELAY_LOG" ]; then
		echo "--- tcp_relay log:"
		tail -n 30 "$RELAY_LOG"
	fi
	RELAY_PID=""
	RELAY_LOG=""
}

testHundredMibEachWayArrivesIntact() {
	local out sent back n srv
	start_relay 22000 -p 22000 -t 127.0.0.1:$ECHO_PORT
	out=$(peer bulk 22000 100)
	read -r sent back n <<<"$out"
	assertEquals "client got back 100 MiB, got $n bytes" 104857600 "$n"
	assertEquals "server->client sha256: expected $sent, got $back" \
		"$sent" "$back"
	th_wait_until 5 grep -q " 104857600 " "$SHUNIT_TMPDIR/server.$ECHO_PORT"
	srv=$(grep " 104857600 " "$SHUNIT_TMPDIR/server.$ECHO_PORT" | tail -n 1)
	assertEquals "client->server: expected eof 104857600 $sent, got $srv" \
		"eof 104857600 $sent" "$srv"
}

# cpu_ticks PID...: user and system clock ticks the processes have used
cpu_ticks() {
	local p t=0
	for p in "$@"; do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}

# An urgent byte each way stays in the stream (SO_OOBINLINE): splice stops
# at the urgent mark, and a child that only splices spins there until the
# idle timeout while the pair stalls.
testUrgentByteEachWayRelayedInStream() {
	local out ticks hz
	start_relay 22200 -p 22200 -T 30 -t 127.0.0.1:$URG_PORT
	out=$(peer urgent 22200)
	assertEquals "urgent byte, then 1 MiB, both ways" intact "$out"
	# shellcheck disable=SC2046
	ticks=$(cpu_ticks "$RELAY_PID" $(pgrep -P "$RELAY_PID"))
	hz=$(getconf CLK_TCK)
	echo "urgent: tcp_relay's processes used $ticks ticks of 1/$hz s"
	assertTrue "tcp_relay's CPU time stays small ($ticks ticks of 1/$hz s)" \
		"[ $ticks -lt $hz ]"
}

testTwoHundredConcurrentConnectionsAllRelayed() {
	local out
	start_relay 22010 -p 22010 -c 256 -t 127.0.0.1:$ECHO_PORT
	out=$(peer many 22010 200 2>&1 | tail -n 1)
	assertEquals "expected 'ok 200' echoed intact, got '$out'" "ok 200" "$out"
}

testPoolGrownByBurstShrinksOneChildASecond() {
	local out n t0 mid
	start_relay 22015 -p 22015 -n 2 -t 127.0.0.1:$ECHO_PORT
	out=$(peer many 22015 12 2>&1 | tail -n 1)
	t0=$(now_ms)
	assertEquals "expected 'ok 12' echoed intact, got '$out'" "ok 12" "$out"
	n=$(children)
	assertTrue "expected the burst to grow the pool to 12 or more, got $n" \
		"[ $n -ge 12 ]"
	# idle children go after 5 s, one a second: at 7.5 s two or three
	sleep "$(awk -v ms=$((7500 - ($(now_ms) - t0))) 'BEGIN { print (ms > 0 ? ms / 1000 : 0) }')"
	mid=$(children)
	assertTrue "expected the pool shrinking gently 7.5 s after a burst of $n, got $mid" \
		"[ $mid -lt $n ] && [ $mid -ge $((n - 5)) ]"
	th_wait_until $((n + 5)) children_are 2
	assertEquals "expected the pool back at its 2 spares" 2 "$(children)"
	assertEquals "expected no zombie children" 0 "$(zombies)"
}

testHalfClosedClientStillGetsServerReply() {
	local out
	start_relay 22020 -p 22020 -a -t 127.0.0.1:$REPLY_PORT
	out=$(peer halfclose 22020)
	assertEquals "expected the reply after the client's FIN, got '$out'" \
		"got 19" "$out"
	th_wait_until 2 grep -q 'close fin' "$RELAY_LOG"
	assertTrue "expected the access log line 'up 19 down 7 ... close fin', log: $(cat "$RELAY_LOG")" \
		"grep -q 'client 127.0.0.1:[0-9]* server 127.0.0.1:$REPLY_PORT up 19 down 7 time [0-9.]*s close fin' '$RELAY_LOG'"
}

testServerResetReachesClientAsReset() {
	local out
	start_relay 22030 -p 22030 -t 127.0.0.1:$RST_PORT
	out=$(peer readend 22030)
	assertEquals "expected the client to see a reset, got '$out'" \
		reset "${out%% *}"
}

testClientResetReachesServerAsReset() {
	local out log=$SHUNIT_TMPDIR/server.21004
	start_server 21004 echo
	start_relay 22031 -p 22031 -t 127.0.0.1:21004
	out=$(peer clientrst 22031)
	assertEquals "client: expected sent-rst, got '$out'" sent-rst "$out"
	th_wait_until 5 grep -q . "$log"
	assertEquals "expected the server to see a reset, got '$(cat "$log")'" \
		"reset 1" "$(cut -d' ' -f1,2 "$log")"
}

testDeadServerClosesClientPromptly() {
	local how secs
	start_relay 22040 -p 22040 -C 10 -t 127.0.0.1:$DEAD_PORT
	read -r how secs <<<"$(peer readend 22040)"
	assertEquals "expected a reset from the relay, got '$how'" reset "$how"
	assertTrue "expected the client closed in under 2 s (connect timeout 10 s), took $secs s" \
		"python3 -c 'import sys; sys.exit(not $secs < 2)'"
	assertTrue "expected the refusal logged, log: $(cat "$RELAY_LOG")" \
		"grep -q 'connect 127.0.0.1:$DEAD_PORT: Connection refused' '$RELAY_LOG'"
}

testIdlePairClosedAfterIdleTimeout() {
	local how secs
	start_relay 22050 -p 22050 -T 1 -a -t 127.0.0.1:$ECHO_PORT
	read -r how secs <<<"$(peer readend 22050)"
	assertEquals "expected the idle pair closed with FIN, got '$how'" eof "$how"
	assertTrue "expected the close after 1-3 s idle, took $secs s" \
		"python3 -c 'import sys; sys.exit(not 0.9 <= $secs < 3)'"
	th_wait_until 2 grep -q 'close timeout' "$RELAY_LOG"
	rc=$?
	assertTrue "expected an access log line 'close timeout', log: $(cat "$RELAY_LOG")" "$rc"
}

# With no spares, the child for a pair is forked while the parent holds the
# accepted socket: it must not keep a copy, or its own close at the idle
# timeout leaves the client's connection open until the child exits.
testChildForkedForThePairKeepsNoCopyOfIt() {
	local how secs
	start_relay 22052 -p 22052 -n 0 -T 1 -t 127.0.0.1:$ECHO_PORT
	read -r how secs <<<"$(peer readend 22052)"
	assertEquals "expected the idle pair closed with FIN, got '$how'" eof "$how"
	assertTrue "expected the close after 1-3 s idle, took $secs s" \
		"python3 -c 'import sys; sys.exit(not 0.9 <= $secs < 3)'"
}

testFiveThousandConnectionsLeaveNoZombieNorDescriptor() {
	local before after out
	start_relay 22060 -p 22060 -n 4 -t 127.0.0.1:$ECHO_PORT
	th_wait_until 5 children_are 4
	assertEquals "children at start" 4 "$(children)"
	before=$(fds)
	out=$(peer seq 22060 5000)
	assertEquals "expected all 5000 echoed, got '$out'" "ok 5000" "$out"
	# a spare beyond the 4 (one busy + 4 idle) goes after 5 s idle, on
	# the next one-second tick
	th_wait_until 10 children_are 4
	assertEquals "expected no zombie children, got $(zombies)" 0 "$(zombies)"
	assertEquals "expected the pool back at 4 children, got $(children)" \
		4 "$(children)"
	after=$(fds)
	assertEquals "expected the parent's descriptors $before before and after, got $after" \
		"$before" "$after"
}

testGportFileChangeMovesListenerAndKeepsPairs() {
	local dir=$SHUNIT_TMPDIR/proc out t0 t1
	mkdir -p "$dir"
	set_gport "$dir" 22070
	KRELAY_PROC_DIR=$dir start_relay 22070 -t 127.0.0.1:$ECHO_PORT
	python3 "$PEER" twostep 22070 "$SHUNIT_TMPDIR/go" >"$SHUNIT_TMPDIR/twostep" &
	BG_PIDS="$BG_PIDS $!"
	th_wait_until 5 grep -q before "$SHUNIT_TMPDIR/twostep"

	set_gport "$dir" 22071
	th_wait_until 3 listening 22071
	assertTrue "expected the listener on 22071 within ~2 s of the file change" $?
	th_wait_until 3 sh -c "! ss -H -lnt 'sport = :22070' | grep -q ."
	assertTrue "expected the old listener 22070 closed" $?
	out=$(peer seq 22071 3)
	assertEquals "expected relaying on the new port, got '$out'" "ok 3" "$out"

	touch "$SHUNIT_TMPDIR/go"
	wait_bg
	out=$(cat "$SHUNIT_TMPDIR/twostep")
	assertEquals "expected the pair opened before the move to keep working, got '$out'" \
		"before after" "$out"

	set_gport "$dir" 22072
	t0=$(now_ms)
	kill -HUP "$RELAY_PID"
	th_wait_until 3 listening 22072
	t1=$(now_ms)
	assertTrue "expected SIGHUP to move the listener at once, took $((t1 - t0)) ms" \
		"[ $((t1 - t0)) -lt 600 ]"
}

testConnectionQueuedOnOldGportServedAfterMove() {
	local dir=$SHUNIT_TMPDIR/proc2 out
	mkdir -p "$dir"
	set_gport "$dir" 22080
	# One child only: the second client waits in the listen queue.
	KRELAY_PROC_DIR=$dir start_relay 22080 -n 1 -m 1 \
		-t 127.0.0.1:$ECHO_PORT
	python3 "$PEER" twostep 22080 "$SHUNIT_TMPDIR/goA" >"$SHUNIT_TMPDIR/twoA" &
	BG_PIDS="$BG_PIDS $!"
	th_wait_until 5 grep -q before "$SHUNIT_TMPDIR/twoA"
	touch "$SHUNIT_TMPDIR/goB"
	python3 "$PEER" twostep 22080 "$SHUNIT_TMPDIR/goB" >"$SHUNIT_TMPDIR/twoB" &
	BG_PIDS="$BG_PIDS $!"
	th_wait_until 5 queued 22080
	assertTrue "expected the second client in the accept queue of 22080" $?

	set_gport "$dir" 22081
	kill -HUP "$RELAY_PID"
	th_wait_until 3 listening 22081
	assertTrue "expected the listener on 22081" $?
	assertEquals "expected the queued client still waiting, got '$(cat "$SHUNIT_TMPDIR/twoB")'" \
		"" "$(cat "$SHUNIT_TMPDIR/twoB")"

	touch "$SHUNIT_TMPDIR/goA"
	th_wait_until 5 grep -q after "$SHUNIT_TMPDIR/twoB"
	assertEquals "expected the queued connection served after the move, got '$(cat "$SHUNIT_TMPDIR/twoB")'" \
		"before after" "$(cat "$SHUNIT_TMPDIR/twoB")"
	th_wait_until 3 sh -c "! ss -H -lnt 'sport = :22080' | grep -q ."
	assertTrue "expected the old listener closed once drained" $?
	wait_bg
}

testClientOverPerClientCapIsClosed() {
	local how secs
	start_relay 22090 -p 22090 -c 1 -t 127.0.0.1:$ECHO_PORT
	python3 "$PEER" twostep 22090 "$SHUNIT_TMPDIR/goC" >"$SHUNIT_TMPDIR/twoC" &
	BG_PIDS="$BG_PIDS $!"
	th_wait_until 5 grep -q before "$SHUNIT_TMPDIR/twoC"
	read -r how secs <<<"$(peer readend 22090)"
	# Closed with the client's byte unread: the kernel may send RST.
	assertTrue "expected the second pair of one client closed at once, got '$how $secs'" \
		"[ '$how' = eof ] || [ '$how' = reset ]"
	assertTrue "expected the close in under 1 s, took $secs s" \
		"python3 -c 'import sys; sys.exit(not $secs < 1)'"
	assertTrue "expected the refusal logged, log: $(cat "$RELAY_LOG")" \
		"grep -q '127.0.0.1:.*client has 1 pairs already' '$RELAY_LOG'"
	touch "$SHUNIT_TMPDIR/goC"
	wait_bg
}

testWithoutKrelayFlowClientIsClosedNotRelayed() {
	local how secs log=$SHUNIT_TMPDIR/server.21005
	start_server 21005 echo
	# krelay mode (no -t), and no module here: no original destination.
	start_relay 22095 -p 22095
	read -r how secs <<<"$(peer readend 22095)"
	assertTrue "expected the client closed, got '$how $secs'" \
		"[ '$how' = eof ] || [ '$how' = reset ]"
	assertTrue "expected the refusal logged, log: $(cat "$RELAY_LOG")" \
		"grep -q '127.0.0.1:[0-9]*: original destination: ' '$RELAY_LOG'"
	assertFalse "expected no connection to any server, got '$(cat "$log")'" \
		"[ -s '$log' ]"
}

# Peers can make tcp_relay log: those warnings are rate-limited over the
# parent and its children together (10 per 5 s), the rest counted.
testWarningsPeersCauseAreRateLimited() {
	local out printed suppressed
	start_relay 22096 -p 22096 -n 4
	out=$(peer closes 22096 100)
	assertEquals "every connection closed" "closed 100" "$out"
	sleep 5		# into the next interval: the count comes out
	out=$(peer closes 22096 1)
	printed=$(grep -c ': original destination: ' "$RELAY_LOG")
	suppressed=$(sed -n 's/.*: \([0-9]*\) similar messages suppressed$/\1/p' "$RELAY_LOG" |
		awk '{ n += $1 } END { print n + 0 }')
	echo "rate limit: $printed logged, $suppressed suppressed"
	assertTrue "at most 10 per 5 s logged, got $printed" "[ $printed -le 20 ]"
	assertEquals "logged and suppressed account for all 101" 101 $((printed + suppressed))
}

# A hand-off that fails is tried on at most 3 children, and a failure that
# is no child's fault retires none: the parent never forks the pool anew
# per connection (LD_PRELOAD fault injection: tests/fault_sendmsg.c).
testFailedHandOffIsBounded() {
	local how secs e pids
	for e in 32 105; do	# EPIPE (a child gone), ENOBUFS
		RELAY_LOG=$SHUNIT_TMPDIR/relay.log
		LD_PRELOAD=$TH_TOP/tests/fault_sendmsg.so FAULT_SENDMSG_ERRNO=$e \
			"$RELAY" -l 127.0.0.1 -p 22097 -n 2 -t 127.0.0.1:$ECHO_PORT 2>"$RELAY_LOG" &
		RELAY_PID=$!
		th_wait_port tcp 127.0.0.1 22097 || fail "tcp_relay did not listen"
		read -r how secs <<<"$(peer readend 22097)"
		assertTrue "errno $e: the client closed, got '$how $secs'" \
			"[ '$how' = eof ] || [ '$how' = reset ]"
		assertTrue "errno $e: at most 3 tries: $(grep -c 'hand-off' "$RELAY_LOG")" \
			"[ $(grep -c 'hand-off' "$RELAY_LOG") -le 3 ]"
		pids=$(pgrep -P "$RELAY_PID" | wc -l)
		assertTrue "errno $e: the pool stays small ($pids children)" "[ $pids -le 5 ]"
		assertTrue "errno $e: the parent still runs" "kill -0 $RELAY_PID"
		th_kill_wait "$RELAY_PID"
		RELAY_PID=
	done
	grep -q "hand-off to child .*: No buffer space available" "$RELAY_LOG"
	assertTrue "the ENOBUFS failure is logged" $?
	assertEquals "ENOBUFS: one try, no child retired" 1 "$(grep -c 'hand-off' "$RELAY_LOG")"
}

# The pidfile is locked for tcp_relay's lifetime: a second one on the same
# pidfile refuses to start, and the first one's pid stays in the file.
testSecondRelayOnLockedPidfileRefuses() {
	local rc
	start_relay 22098 -p 22098 -P "$SHUNIT_TMPDIR/relay.pid" -t 127.0.0.1:$ECHO_PORT
	th_wait_until 5 test -s "$SHUNIT_TMPDIR/relay.pid"
	timeout 10 "$RELAY" -l 127.0.0.1 -p 22099 -P "$SHUNIT_TMPDIR/relay.pid" \
		-t 127.0.0.1:$ECHO_PORT 2>"$SHUNIT_TMPDIR/second.log"
	rc=$?
	assertEquals "the second one exits 1" 1 "$rc"
	assertTrue "it names the holder: $(cat "$SHUNIT_TMPDIR/second.log")" \
		"grep -q 'locked by pid $RELAY_PID' '$SHUNIT_TMPDIR/second.log'"
	assertEquals "the pidfile still names the first" "$RELAY_PID" "$(cat "$SHUNIT_TMPDIR/relay.pid")"
	ln -s "$SHUNIT_TMPDIR/relay.pid" "$SHUNIT_TMPDIR/link.pid"
	timeout 10 "$RELAY" -l 127.0.0.1 -p 22099 -P "$SHUNIT_TMPDIR/link.pid" \
		-t 127.0.0.1:$ECHO_PORT 2>"$SHUNIT_TMPDIR/second.log"
	assertEquals "a pidfile that is a symlink is refused" 1 $?
}

# A client that connects and says nothing is closed after -F, not -T; a
# server that speaks first (a greeting) keeps the pair under -T.
testSilentPairClosedAfterFirstByteTimeout() {
	local how secs out
	start_relay 22110 -p 22110 -F 2 -T 60 -t 127.0.0.1:$ECHO_PORT
	read -r how secs <<<"$(peer silent 22110)"
	assertTrue "the silent client is closed, got '$how $secs'" \
		"[ '$how' = eof ] || [ '$how' = reset ]"
	assertTrue "after -F 2, not -T 60: $secs s" "[ ${secs%.*} -lt 30 ]"
	th_kill_wait "$RELAY_PID"
	start_relay 22111 -p 22111 -F 2 -T 60 -t 127.0.0.1:$GREET_PORT
	out=$(peer greeted 22111 4)
	assertEquals "a server-first pair quiet for 4 s lives on" ok "$out"
}

# Idle connections from a few addresses fill the pool (-m 8); newcomers
# from other addresses are still served: a pair of the client holding the
# most is closed when a newcomer finds no child.
testIdleClientsFillingThePoolDoNotLockOthersOut() {
	local a out closed=0 served=0 go=$SHUNIT_TMPDIR/hold.go
	start_relay 22120 -p 22120 -m 8 -n 0 -F 60 -T 60 -t 127.0.0.1:$ECHO_PORT
	rm -f "$go"
	for a in 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5; do
		peer hold 22120 $a 2 "$go" >"$SHUNIT_TMPDIR/hold.$a" &
		BG_PIDS="$BG_PIDS $!"
	done
	th_wait_until 10 sh -c "[ \$(pgrep -P $RELAY_PID | wc -l) -ge 8 ]"
	sleep 1
	for a in 127.0.1.1 127.0.1.2 127.0.1.3 127.0.1.4; do
		out=$(peer echofrom 22120 $a 1 2>&1 | tail -n 1)
		[ "$out" = "ok 1" ] && served=$((served + 1))
	done
	touch "$go"
	wait_bg
	for a in 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5; do
		closed=$((closed + $(awk '{ print $2 }' "$SHUNIT_TMPDIR/hold.$a")))
	done
	echo "full pool: $served of 4 newcomers served, $closed of 8 idle pairs closed"
	assertEquals "newcomers served with the pool full of idle pairs" 4 "$served"
	# (a served newcomer's child is idle again for the next one)
	assertTrue "idle pairs closed for them: $closed" "[ $closed -ge 1 ] && [ $closed -le 4 ]"
	assertTrue "the eviction is logged" "grep -q 'pool full: closed a pair of 127.0.0' '$RELAY_LOG'"
}

# -b: the per-client cap (-c) counts a whole prefix.
testPerPrefixCap() {
	local go=$SHUNIT_TMPDIR/prefix.go out
	start_relay 22130 -p 22130 -c 2 -b 24 -F 60 -t 127.0.0.1:$ECHO_PORT
	rm -f "$go"
	peer hold 22130 127.0.2.1 1 "$go" >/dev/null &
	BG_PIDS="$BG_PIDS $!"
	peer hold 22130 127.0.2.2 1 "$go" >/dev/null &
	BG_PIDS="$BG_PIDS $!"
	th_wait_until 10 sh -c "[ \$(pgrep -P $RELAY_PID | wc -l) -ge 2 ]"
	sleep 1
	out=$(peer echofrom 22130 127.0.2.3 1 2>/dev/null | tail -n 1)
	assertEquals "a third address of the /24 is over the cap" "ok 0" "$out"
	out=$(peer echofrom 22130 127.0.3.1 1 2>/dev/null | tail -n 1)
	assertEquals "another /24 is not" "ok 1" "$out"
	touch "$go"
	wait_bg
}

# Started as root, tcp_relay never relays as root: it becomes -u's user
# (by default krelay-relay, else nobody), empties its bounding set, sets
# no_new_privs and keeps CAP_NET_ADMIN permitted only in krelay mode
# (raised in children, for CLIENT), nothing in standalone mode.
testPrivilegesDroppedForGood() {
	local z=0000000000000000 na=0000000000001000 user uid kid err
	[ "$(id -u)" = 0 ] || { startSkipping; return; }
	user=nobody
	getent passwd krelay-relay >/dev/null && user=krelay-relay
	uid=$(id -u "$user")
	start_relay 22140 -p 22140 -n 2 -t 127.0.0.1:$ECHO_PORT
	th_wait_until 5 sh -c "[ \$(pgrep -P $RELAY_PID | wc -l) -ge 2 ]"
	kid=$(pgrep -P "$RELAY_PID" | head -n 1)
	assertEquals "standalone parent" \
		"uid=$uid,$uid,$uid,$uid eff=$z prm=$z inh=$z amb=$z bnd=$z nnp=1 seccomp=0" "$(th_privs "$RELAY_PID")"
	assertEquals "standalone child" \
		"uid=$uid,$uid,$uid,$uid eff=$z prm=$z inh=$z amb=$z bnd=$z nnp=1 seccomp=2" "$(th_privs "$kid")"
	assertTrue "the log names the user" "grep -q 'running as $user' '$RELAY_LOG'"
	th_kill_wait "$RELAY_PID"
	# krelay mode (no module here: the listener is not registered, no matter)
	start_relay 22141 -p 22141 -n 2 -u nobody
	th_wait_until 5 sh -c "[ \$(pgrep -P $RELAY_PID | wc -l) -ge 2 ]"
	kid=$(pgrep -P "$RELAY_PID" | head -n 1)
	assertEquals "krelay-mode parent: CAP_NET_ADMIN permitted, not effective" \
		"uid=65534,65534,65534,65534 eff=$z prm=$na inh=$z amb=$z bnd=$z nnp=1 seccomp=0" "$(th_privs "$RELAY_PID")"
	assertEquals "krelay-mode child: CAP_NET_ADMIN effective" \
		"uid=65534,65534,65534,65534 eff=$na prm=$na inh=$z amb=$z bnd=$z nnp=1 seccomp=2" "$(th_privs "$kid")"
	th_kill_wait "$RELAY_PID"
	RELAY_PID=
	err=$(timeout 10 "$RELAY" -l 127.0.0.1 -p 22142 -u root -t 127.0.0.1:$ECHO_PORT 2>&1)
	assertEquals "-u root: exit status" 1 $?
	assertTrue "-u root refused: $err" "echo '$err' | grep -q 'refusing to relay as root'"
}

# With krelay, the pool follows relay_max_pairs while running: a lower
# limit retires idle children down to it at once, a higher one lets the
# spares come back. (The proc files of a module, as plain files: the
# limits are read, the pairs would need the module.)
testPoolFollowsRelayMaxPairs() {
	local dir=$SHUNIT_TMPDIR/proc3 k
	mkdir -p "$dir"
	for k in relay_max_per_client=64 relay_idle_timeout=300 \
		relay_connect_timeout=10 relay_max_pairs=256; do
		echo "${k#*=}" >"$dir/${k%%=*}"
	done
	set_gport "$dir" 22150
	KRELAY_PROC_DIR=$dir start_relay 22150 -n 4
	th_wait_until 5 children_are 4
	assertTrue "4 spares under relay_max_pairs 256: $(children)" $?
	echo 2 >"$dir/relay_max_pairs"
	th_wait_until 5 children_are 2
	assertTrue "2 children under relay_max_pairs 2: $(children)" $?
	assertTrue "the change is logged: $(cat "$RELAY_LOG")" \
		"grep -q 'relay_max_pairs 256 -> 2' '$RELAY_LOG'"
	sleep 2
	assertEquals "and no spare forked above it" 2 "$(children)"
	echo 300 >"$dir/relay_max_pairs"
	th_wait_until 5 children_are 4
	assertTrue "the spares back under relay_max_pairs 300: $(children)" $?
	echo 0 >"$dir/relay_max_pairs"
	sleep 2
	assertTrue "a bad value is logged and the limit kept: $(cat "$RELAY_LOG")" \
		"grep -q 'relay_max_pairs (keeping 300)' '$RELAY_LOG'"
	assertEquals "the pool as it was" 4 "$(children)"
}

testBadOptionsRejectedWithExitTwo() {
	local args rc err
	while read -r args; do
		# shellcheck disable=SC2086
		err=$(timeout 5 "$RELAY" $args 2>&1 >/dev/null)
		rc=$?
		assertEquals "'tcp_relay $args': expected exit 2, got $rc ($err)" 2 "$rc"
		assertTrue "'tcp_relay $args': expected a message naming the value, got '$err'" \
			"echo '$err' | grep -q -e '${args##* }' -e 'usage'"
	done <<-EOF
		-n abc
		-m 0
		-n 5 -m 4 -t 127.0.0.1:1
		-p 70000
		-p 80x
		-c -1
		-T 0
		-C 1.5
		-t 1.2.3:80
		-t 127.0.0.1
		-t 127.0.0.1:0
		-t host:80
		-l 300.1.1.1
		-z
		-p 22000 extra
	EOF
	# With krelay the limits are its knobs: the options are for -t only.
	for args in "-m 8 relay_max_pairs" "-c 2 relay_max_per_client" \
		"-T 60 relay_idle_timeout" "-C 5 relay_connect_timeout"; do
		# shellcheck disable=SC2086
		err=$(timeout 5 "$RELAY" ${args% *} 2>&1 >/dev/null)
		rc=$?
		assertEquals "'tcp_relay ${args% *}' without -t: exit status ($err)" 2 "$rc"
		assertTrue "'tcp_relay ${args% *}' without -t names the knob: $err" \
			"echo '$err' | grep -q 'with krelay the knob ${args##* } sets it'"
	done
	err=$(timeout 5 "$RELAY" -h 2>&1)
	rc=$?
	assertEquals "'tcp_relay -h': expected exit 0, got $rc" 0 "$rc"
	assertTrue "'tcp_relay -h': expected usage, got '$err'" \
		"echo '$err' | grep -q usage"
}

testSigtermExitsCleanlyLeavingNoChildren() {
	local kids rc out pidfile=$SHUNIT_TMPDIR/relay.pid
	start_relay 22100 -p 22100 -P "$pidfile" -t 127.0.0.1:$ECHO_PORT
	assertEquals "pidfile holds the pid" "$RELAY_PID" "$(cat "$pidfile")"
	python3 "$PEER" twostep 22100 "$SHUNIT_TMPDIR/goT" >"$SHUNIT_TMPDIR/twoT" &
	BG_PIDS="$BG_PIDS $!"
	th_wait_until 5 grep -q before "$SHUNIT_TMPDIR/twoT"
	kids=$(pgrep -P "$RELAY_PID")
	kill -TERM "$RELAY_PID"
	th_wait_until 3 sh -c "! ss -H -lnt 'sport = :22100' | grep -q ."
	assertTrue "expected the listener closed at SIGTERM" $?
	touch "$SHUNIT_TMPDIR/goT"
	wait "$RELAY_PID"
	rc=$?
	assertEquals "expected exit status 0 after SIGTERM, got $rc" 0 "$rc"
	wait_bg
	out=$(cat "$SHUNIT_TMPDIR/twoT")
	assertEquals "expected the pair in flight to finish, got '$out'" \
		"before after" "$out"
	# shellcheck disable=SC2086
	assertFalse "expected no child left of ($kids)" "kill -0 $kids 2>/dev/null"
	# (run as root, tcp_relay is nobody by then: the file may stay; its
	# lock is what says whether a tcp_relay runs)
	assertTrue "expected the pidfile's lock released" \
		"python3 -c 'import fcntl, sys; fcntl.lockf(open(sys.argv[1], \"r+\"), fcntl.LOCK_EX | fcntl.LOCK_NB)' '$pidfile'"
	RELAY_PID=""
}

# shellcheck disable=SC1091
. shunit2
