#!/bin/bash
# The TCP relay end to end (flows T1-T4), in the lab:
#
#   cli 10.0.0.1 --- relay 10.0.0.2 | 192.168.0.2 --- srv 192.168.0.10
#                    krelay + tcp_relay on gport         httpd :80, dnsmasq :53
#
# The client connects to 192.168.0.2:80; krelay steers it to tcp_relay,
# whose connection to the server carries the client's address. With
# TH_TCP_MODE=kernel (krelay_tcp_kernel_test.sh) krelay relays it itself
# (tcp_mode kernel); the tests about tcp_relay alone are skipped.
# lab-budget: 360 s (usually 60-90 s on 2 cores under TCG)

. "$(dirname "$0")/lib.sh"

RELAY=192.168.0.2
TCP_RELAY=$TH_TOP/tcp_relay/tcp_relay
PROBE=$TH_TOP/tests/sockopt_probe
T=
TCP_MODE=$TH_TCP_MODE

# steer_port: where T1 steers: gport (tcp_relay), or the kernel listener.
steer_port() {
	if [ "$TCP_MODE" = user ]; then th_knob gport; else th_stat kernel_listener_port; fi
}

# followed KNOB OLD NEW: tcp_relay logged that it follows the knob's new
# value (the kernel relay reads it for each new pair).
followed() {
	[ "$TCP_MODE" = kernel ] || th_wait_until 10 grep -q "$1 $2 -> $3" "$T/tcp_relay.log"
}

start_tcp_relay() {
	"$TCP_RELAY" -f -a -n 4 -P "$T/tcp_relay.pid" 2>>"$T/tcp_relay.log" &
	th_wait_until 10 test -s "$T/tcp_relay.pid" || fail "tcp_relay did not start"
	th_wait_port tcp 0.0.0.0 "$(th_knob gport)" || fail "tcp_relay does not listen"
	th_wait_listener || fail "tcp_relay's listener is not registered"
}

# hold_connection SECONDS: a client connection that stays open, idle.
hold_connection() {
	cli bash -c "exec 3<>/dev/tcp/$RELAY/80; sleep $1" &
	HOLD_PIDS+=($!)
}

# wait_held: wait for the held connections (not for the servers, which
# are background jobs of this shell too).
wait_held() {
	wait "${HOLD_PIDS[@]}" 2>/dev/null
	HOLD_PIDS=()
}

nat_tcp() { grep '^tcp ' $TH_PROC/nat; }
no_tcp_flows() { ! grep -q '^tcp ' $TH_PROC/nat; }

oneTimeSetUp() {
	T=$SHUNIT_TMPDIR
	th_in_lab || { echo "run in the lab: tests/lab/run $(basename "$0")"; exit 1; }
	mkdir -p "$T/www"
	echo "krelay test page $$" > "$T/www/index.html"
	head -c 50M /dev/urandom > "$T/www/big.bin"
	head -c 5M "$T/www/big.bin" > "$T/www/mid.bin"
	th_krelay_unload
	th_krelay_load start=1 || exit 1
	srv python3 "$TH_TOP/tests/httpd.py" 80 --bind 192.168.0.10 --directory "$T/www" \
		2>"$T/http.log" >/dev/null &
	srv dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
		--no-hosts --bind-interfaces --listen-address=192.168.0.10 \
		--user=root --address=/test.lab/192.0.2.1 --pid-file="$T/dns.pid" &
	th_wait_until $((15 * TH_SCALE)) srv sh -c "ss -Hlnt 'src 192.168.0.10:80' | grep -q ." ||
		fail "httpd did not start"
	start_tcp_relay
}

oneTimeTearDown() {
	[ -s "$T/tcp_relay.pid" ] && th_kill_wait "$(cat "$T/tcp_relay.pid")"
	[ -s "$T/dns.pid" ] && th_kill_wait "$(cat "$T/dns.pid")"
	pkill -f "httpd.py 80 --bind 192.168.0.10"
	th_krelay_unload
}

setUp() {
	[ -d /sys/module/krelay ] || { th_krelay_load start=1 && th_wait_listener; }
	echo 1 > $TH_START
	echo flush > $TH_PROC/nat
	th_set tcp_timeout_close 10
	th_set relay_max_per_client 64
	th_set relay_idle_timeout 300
	th_set tcp_mode "$TCP_MODE" || fail "tcp_mode $TCP_MODE refused"
	HOLD_PIDS=()
}

tearDown() {
	# shellcheck disable=SC2154
	[ "${__shunit_testSuccess:-0}" = 0 ] || tail -20 "$T/tcp_relay.log"
}

testCurlGetsThePage() {
	assertEquals "page through the relay" "$(cat "$T/www/index.html")" \
		"$(cli curl -sS --max-time 10 http://$RELAY/)"
}

testDigOverTcpAnswers() {
	assertEquals "dig +tcp through the relay" 192.0.2.1 \
		"$(cli dig +tcp +tries=1 +time=5 +short @$RELAY test.lab)"
}

testServerSeesTheClientsAddress() {
	cli curl -sS --max-time 10 -o /dev/null "http://$RELAY/?who=$$"
	assertContains "server's access log" "$(cat "$T/http.log")" \
		"10.0.0.1 - - "
	th_assert_lacks "server saw the relay" "$(cat "$T/http.log")" \
		"192.168.0.2 - - "
}

testClientSeesOnlyTheRelayOnPort80() {
	local out
	th_capture_start cli "$T/cap.pcap" tcp || fail "tcpdump did not start"
	cli curl -sS --max-time 10 -o /dev/null http://$RELAY/
	th_capture_stop "$T/cap.pcap" >/dev/null
	tcpdump -r "$T/cap.pcap" -n 2>/dev/null > "$T/cap.txt"
	out=$(awk '{ print $3 }' "$T/cap.txt" | grep -v '^10\.0\.0\.1\.' | sort -u)
	assertEquals "sources the client saw" "192.168.0.2.80" "$out"
	assertTrue "a handshake and a FIN from the relay" \
		"grep -q 'IP 192.168.0.2.80 > 10.0.0.1.*Flags \[S.\]' '$T/cap.txt' &&
		 grep -q 'IP 192.168.0.2.80 > 10.0.0.1.*Flags \[F.\]' '$T/cap.txt'"
}

testTwoHundredConcurrentCurlsAllSucceed() {
	local i codes refused
	# Room for pairs of earlier tests still ending (a debug kernel is slow
	# to end them): a limit of exactly 200 would refuse the last.
	th_set relay_max_per_client 256
	refused=$(th_stat kernel_refused)
	for i in $(seq 200); do
		printf 'url = "http://%s/?n=%d"\noutput = "/dev/null"\n' $RELAY "$i"
	done > "$T/curl.conf"
	codes=$(cli curl -sS -Z --parallel-max 200 --max-time $((60 * TH_SCALE)) -K "$T/curl.conf" \
		-w '%{http_code}\n' | sort | uniq -c | awk '{ print $2 ":" $1 }')
	assertEquals "status codes of 200 concurrent requests (kernel_refused $refused -> $(th_stat kernel_refused), no_listener $(th_stat no_listener))" \
		"200:200" "$codes"
}

# The server closes first (HTTP/1.0; the client reads to the end before
# it closes), so the relay's server socket ends without TIME_WAIT and its
# port is free at once, while the flow lingers in TIME_WAIT for
# tcp_timeout_close. With two ephemeral ports the bind takes the same one
# each time (the stack prefers one parity): each connection must take it
# over from the previous one's closing flow.
testPortOfAClosingFlowIsTakenAgain() {
	local range evicted i codes=
	range=$(sysctl -n net.ipv4.ip_local_port_range)
	evicted=$(th_stat evicted)
	sysctl -qw net.ipv4.ip_local_port_range="40000 40001"
	for i in 1 2 3 4; do
		codes+=$(cli timeout 10 bash -c "exec 3<>/dev/tcp/$RELAY/80 &&
			printf 'GET /?n=$i HTTP/1.0\r\n\r\n' >&3 && cat <&3" | awk 'NR == 1 { printf "%s ", $2 }')
		th_wait_until 10 sh -c "! ss -Htan 'sport >= :40000 and sport <= :40001' | grep -q ." ||
			fail "the relay's server socket did not close: $(ss -Htan 'sport >= :40000 and sport <= :40001')"
	done
	sysctl -qw net.ipv4.ip_local_port_range="$range"
	assertEquals "status codes of 4 connections over 2 ports" "200 200 200 200 " "$codes"
	assertTrue "closing flows taken over (evicted $evicted -> $(th_stat evicted))" \
		"[ $(th_stat evicted) -ge $((evicted + 3)) ]"
}

testFiftyMibDownloadIntact() {
	local got
	got=$(cli curl -sS --max-time 300 http://$RELAY/big.bin | sha256sum)
	assertEquals "sha256 of 50 MiB" "$(sha256sum < "$T/www/big.bin")" "$got"
}

offloads() {
	ethtool -K rc0 tx "$1" rx "$1" >/dev/null 2>&1
	ethtool -K rs0 tx "$1" rx "$1" >/dev/null 2>&1
	cli ethtool -K eth0 tx "$1" rx "$1" >/dev/null 2>&1
	srv ethtool -K eth0 tx "$1" rx "$1" >/dev/null 2>&1
}

tcp_csum_errors() { "$@" awk '/^Tcp:/ && ++n == 2 { print $16 }' /proc/net/snmp; }

testChecksumsCorrectWithOffloadsOff() {
	local cerr serr got
	offloads off
	cerr=$(tcp_csum_errors cli); serr=$(tcp_csum_errors srv)
	got=$(cli curl -sS --max-time 120 http://$RELAY/mid.bin | sha256sum)
	offloads on
	assertEquals "sha256 of 5 MiB, offloads off" \
		"$(sha256sum < "$T/www/mid.bin")" "$got"
	assertEquals "client TCP InCsumErrors" "$cerr" "$(tcp_csum_errors cli)"
	assertEquals "server TCP InCsumErrors" "$serr" "$(tcp_csum_errors srv)"
}

testEntryShowsBothLegsAndGoesAfterClose() {
	local line
	th_set tcp_timeout_close 10
	hold_connection 3
	th_wait_until 10 sh -c "grep -q '^tcp ESTABLISHED .* [0-9][0-9]* [0-9]' $TH_PROC/nat" ||
		fail "no established, paired entry: $(nat_tcp)"
	line=$(nat_tcp | head -1)
	assertEquals "relay, server and gport columns" \
		"192.168.0.2:80 192.168.0.10:80 $(steer_port)" \
		"$(echo "$line" | cut -d' ' -f4-6)"
	assertNotEquals "tcp_relay's port toward the server" "-" \
		"$(echo "$line" | cut -d' ' -f7)"
	# Both FINs seen: the entry lingers for late ACKs and FINs, then goes.
	# (What the entry went through, for the message when it fails.)
	( for _ in $(seq 100); do
		nat_tcp | cut -d' ' -f2 | tr '\n' ' '
		awk '$1 ~ /^(expired|deleted|out_of_window|invalid)$/ { printf "%s=%s ", $1, $2 }' $TH_PROC/stats
		echo
		sleep 0.2
	done ) >"$T/states" 2>/dev/null &
	local watch=$!
	if ! th_wait_until 15 sh -c "grep -q '^tcp TIME_WAIT' $TH_PROC/nat"; then
		kill $watch 2>/dev/null
		fail "entry not closed: $(nat_tcp); went through: $(uniq "$T/states" | tr '\n' '|')"
	fi
	kill $watch 2>/dev/null
	sleep 1
	assertTrue "closed entry lingers" "grep -q '^tcp TIME_WAIT' $TH_PROC/nat"
	th_wait_until 15 no_tcp_flows || fail "entry left after close: $(nat_tcp)"
	wait_held
}

testGportChangeWithSighupKeepsRelaying() {
	local pid
	th_user_only || return 0
	pid=$(cat "$T/tcp_relay.pid")
	th_set gport 16001 || fail "gport 16001 refused"
	kill -HUP "$pid"
	th_wait_port tcp 0.0.0.0 16001 5 || fail "tcp_relay did not move to 16001"
	assertEquals "page after the gport change" "$(cat "$T/www/index.html")" \
		"$(cli curl -sS --max-time 10 http://$RELAY/)"
	th_set gport 16000
	kill -HUP "$pid"
	th_wait_port tcp 0.0.0.0 16000 5 || fail "tcp_relay did not move back"
}

testSocketOptionsFromUserSpace() {
	local out
	hold_connection 4
	th_wait_until 10 sh -c "grep -q '^tcp ESTABLISHED' $TH_PROC/nat" || fail "no flow"
	out=$("$PROBE" table 16)
	assertContains "TABLE header" "$out" "version 1 count 1 returned 1 record 80"
	assertContains "TABLE record" "$out" "192.168.0.2:80 192.168.0.10:80 $(steer_port)"
	assertContains "TABLE with no room" "$("$PROBE" table 0)" "count 1 returned 0"
	assertEquals "TABLE short buffer" EINVAL "$("$PROBE" table-len 8)"
	assertEquals "ORIGINAL_DST short buffer" EINVAL "$("$PROBE" origdst-len 8)"
	assertEquals "ORIGINAL_DST without a flow" ENOENT "$("$PROBE" origdst-len 16)"
	assertEquals "CLIENT wrong length" EINVAL "$("$PROBE" client-len 8)"
	assertEquals "CLIENT without a flow" ENOENT "$("$PROBE" client-len 16)"
	assertEquals "CLIENT on a connected socket" EISCONN "$("$PROBE" client-connected)"
	local nobody="setpriv --reuid=65534 --regid=65534 --clear-groups" probe
	probe=$(th_for_nobody "$PROBE") || fail "a copy for nobody"
	assertEquals "TABLE unprivileged" EPERM "$($nobody "$probe" table-len 4096)"
	assertEquals "CLIENT unprivileged" EPERM "$($nobody "$probe" client-len 16)"
	wait_held
}

# leg_cc ADDR: the congestion control of the relay's established sockets
# toward NAME's address (ss -ti in the relay's namespace), one a line.
leg_cc() {
	ss -Htin state established "dst $1" |
		grep -oE '(^|[[:space:]])(reno|cubic|bbr)([[:space:]]|$)' | tr -d ' \t' | sort -u
}

legs_up() { [ -n "$(leg_cc 10.0.0.1)" ] && [ -n "$(leg_cc 192.168.0.10:80)" ]; }

# Each leg gets its knob's algorithm: client_cc on the sockets accepted
# from clients (inherited from tcp_relay's listener; set on each by the
# kernel relay), server_cc on the relay's sockets to the server.
testEachLegGetsItsCongestionControl() {
	local pid cli_cc=bbr srv_cc=reno
	# bbr where the kernel has it (Debian's as a module: writing the knob
	# loads it); a kernel without it tests reno on the
	# client leg and the default on the server leg.
	if ! grep -qw bbr /proc/sys/net/ipv4/tcp_available_congestion_control &&
		! modinfo tcp_bbr >/dev/null 2>&1; then
		cli_cc=reno srv_cc=
	fi
	th_set client_cc $cli_cc || fail "client_cc $cli_cc refused"
	th_set server_cc "$srv_cc" || fail "server_cc '$srv_cc' refused"
	assertEquals "client_cc shown" $cli_cc "$(th_knob client_cc)"
	assertFalse "a name the kernel has not and cannot load" "th_set client_cc nosuchcc"
	assertEquals "client_cc kept after a refusal" $cli_cc "$(th_knob client_cc)"
	# tcp_relay follows the knobs within a second.
	if [ -n "$srv_cc" ]; then
		followed server_cc default "$srv_cc" ||
			fail "tcp_relay did not follow server_cc: $(tail -3 "$T/tcp_relay.log")"
	fi
	followed client_cc default $cli_cc || fail "tcp_relay did not follow client_cc"
	# A slow reader of 50 MiB: socket buffers take megabytes whatever curl
	# reads, so the pair lives on only while the client holds it; cut after.
	( cli curl -sS --max-time 60 --limit-rate 100k -o /dev/null http://$RELAY/big.bin ) &
	pid=$!
	th_wait_until $((10 * TH_SCALE)) legs_up ||
		fail "the download's legs are not both up: $(ss -Htn state established)"
	assertEquals "the client leg" $cli_cc "$(leg_cc 10.0.0.1)"
	assertEquals "the server leg" "${srv_cc:-$(sysctl -n net.ipv4.tcp_congestion_control)}" \
		"$(leg_cc 192.168.0.10:80)"
	pkill -f "curl -sS --max-time 60 --limit-rate 100k"
	wait "$pid"
	th_set client_cc '' || fail "client_cc back to the default"
	th_set server_cc '' || fail "server_cc back to the default"
	followed client_cc $cli_cc default || fail "tcp_relay did not follow client_cc back"
}

testConnectionWithoutFlowIsNotRelayed() {
	# Straight to the port T1 steers to: the relay finds no krelay flow.
	local before
	# (requests, not the log's lines: a download cut in the test before
	# may still be logging its broken pipe)
	before=$(grep -c '"GET ' "$T/http.log")
	cli curl -sS --max-time 5 -o /dev/null http://$RELAY:"$(steer_port)"/ 2>/dev/null
	assertEquals "requests reaching the server" "$before" "$(grep -c '"GET ' "$T/http.log")"
}

# The hash grows with max_entries (hash_buckets: max_entries rounded up to
# a power of two), moving every flow while connections carry data.
testHashGrowsUnderADownloadWithoutLosingIt() {
	local pid
	assertEquals "buckets at load, for max_entries 262144" 262144 "$(th_stat hash_buckets)"
	( cli curl -sS --max-time 300 --limit-rate 2M http://$RELAY/big.bin |
		sha256sum > "$T/dl.sum" ) &
	pid=$!
	th_wait_until 10 sh -c "grep -q '^tcp ESTABLISHED .* [0-9][0-9]* [0-9]' $TH_PROC/nat" ||
		fail "no relayed connection: $(nat_tcp)"
	th_set max_entries 1000000 || fail "max_entries 1000000 refused"
	assertEquals "buckets for 1,000,000" 1048576 "$(th_stat hash_buckets)"
	# (25 s at 2 MB/s: still running, or the test proves nothing)
	assertTrue "the download runs across the first resize" "kill -0 $pid"
	sleep 1
	th_set max_entries 4194304 || fail "max_entries 4194304 refused"
	assertEquals "buckets for 4,194,304" 4194304 "$(th_stat hash_buckets)"
	th_set max_entries 1000
	assertEquals "the hash does not shrink" 4194304 "$(th_stat hash_buckets)"
	wait "$pid"
	assertEquals "sha256 of 50 MiB across two resizes" \
		"$(sha256sum < "$T/www/big.bin")" "$(cat "$T/dl.sum")"
	assertEquals "a new connection after the resizes" "$(cat "$T/www/index.html")" \
		"$(cli curl -sS --max-time 10 http://$RELAY/)"
	assertTrue "kernel warned" th_dmesg_clean
	th_set max_entries 262144
	# The load-time hash again for the tests after.
	th_krelay_unload || fail "rmmod"
	th_krelay_load start=1 || fail "reload"
	th_wait_listener || fail "tcp_relay did not register again"
}

# tcp_relay checks its registration every second in the stats file; it
# calls the LISTENER socket option only when it is not registered (each
# call holds the module: an rmmod then fails with EAGAIN).
testRegisteredListenerIsNotRegisteredAgain() {
	local pid
	th_user_only || return 0

	pid=$(cat "$T/tcp_relay.pid")
	th_wait_listener || fail "tcp_relay's listener is not registered"
	timeout -s INT 3 strace -qq -e trace=setsockopt -p "$pid" 2>"$T/strace.log"
	th_assert_lacks "tcp_relay's socket options while registered" \
		"$(cat "$T/strace.log")" "setsockopt("
	# Traced across an unload and a load: it registers again.
	timeout -s INT $((6 * TH_SCALE)) strace -qq -e trace=setsockopt -p "$pid" \
		2>"$T/strace.log" &
	local st=$!
	sleep $((TH_SCALE))
	th_krelay_unload || fail "rmmod"
	th_krelay_load start=1 || fail "reload"
	assertTrue "tcp_relay registered again after the reload" th_wait_listener
	wait "$st"
	assertTrue "a LISTENER socket option that succeeded after the reload: $(cat "$T/strace.log")" \
		"grep -q '^setsockopt(.* = 0$' '$T/strace.log'"
}

# paired N: N established relayed flows with both legs up.
paired() { [ "$(nat_tcp | awk '$2 == "ESTABLISHED" && $7 != "-"' | wc -l)" -eq "$1" ]; }

# The relay's limits are krelay's knobs, which tcp_relay follows within a
# second, each pair keeping those it started with.
testRelayLimitsAreTheKnobs() {
	local out
	th_set relay_max_per_client 2 || fail "relay_max_per_client 2 refused"
	followed relay_max_per_client 64 2 || fail "tcp_relay did not follow relay_max_per_client"
	# Two pairs with a request begun (a byte sent): held, not first-byte
	# pairs.
	rm -f "$T/go.limits"
	for _ in 1 2; do
		cli bash -c "exec 3<>/dev/tcp/$RELAY/80; printf G >&3
			until [ -e '$T/go.limits' ]; do sleep 0.1; done" &
		HOLD_PIDS+=($!)
	done
	th_wait_until $((10 * TH_SCALE)) paired 2 || fail "the held pairs: $(nat_tcp)"
	assertFalse "a third pair of the client is refused" \
		"cli curl -sS --max-time 10 -o /dev/null http://$RELAY/"
	th_set relay_max_per_client 64
	followed relay_max_per_client 2 64 || fail "tcp_relay did not follow relay_max_per_client back"
	assertEquals "relayed again with the knob raised" "$(cat "$T/www/index.html")" \
		"$(cli curl -sS --max-time 10 http://$RELAY/)"

	th_set relay_idle_timeout 2 || fail "relay_idle_timeout 2 refused"
	followed relay_idle_timeout 300 2 || fail "tcp_relay did not follow relay_idle_timeout"
	# cat ends when the relay closes the pair (0 on FIN, 1 on RST); 124
	# would be the 300 s the pair had before.
	out=$(cli bash -c "exec 3<>/dev/tcp/$RELAY/80; printf G >&3; timeout 30 cat <&3; echo rc=\$?")
	assertTrue "a new pair idle for relay_idle_timeout is closed: $out" \
		"[ '$out' = rc=0 ] || [ '$out' = rc=1 ]"
	assertTrue "the pairs from before keep their timeout: $(nat_tcp)" "paired 2"
	th_set relay_idle_timeout 300
	touch "$T/go.limits"
	wait_held
}

testRmmodWithOpenConnectionsLeavesKernelHealthy() {
	hold_connection 5
	hold_connection 5
	th_wait_until 10 sh -c "[ \$(grep -c '^tcp ESTABLISHED' $TH_PROC/nat) -ge 2 ]" ||
		fail "connections not established"
	th_krelay_unload || fail "rmmod with open connections failed"
	assertTrue "kernel warned" th_dmesg_clean
	th_krelay_load start=1 || fail "reload failed"
	th_wait_listener || fail "tcp_relay did not register again"
	wait_held
	assertEquals "page after reload" "$(cat "$T/www/index.html")" \
		"$(cli curl -sS --max-time 10 http://$RELAY/)"
}

. shunit2
