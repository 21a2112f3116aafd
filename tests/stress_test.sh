#!/bin/bash
# Reliability under faults, abuse and load, in the lab:
#
#   cli 10.0.0.1, 10.0.0.3 --- relay 10.0.0.2 | 192.168.0.2 --- srv 192.168.0.10, .1
#   dig, curl, slowloris       krelay, tcp_relay (-u nobody)     haproxy :80,
#                                                                http.server :81,
#                                                                dnsmasq :53
#
# DNS and HTTP load while start toggles, real_ip and gport change and the
# module is reloaded; a UDP flood past the table limit; many connections
# in a row; tcp_relay's children and tcp_relay itself killed mid-transfer;
# a server that stops; a slow client; too few descriptors; tcp_relay's
# privileges. STRESS_SCALE=check (default, make check) or full
# (make check-stress) sets the counts. TH_TCP_MODE=kernel
# (stress_kernel_test.sh): the TCP tests with krelay relaying TCP itself;
# those about tcp_relay's processes, and the UDP one, are skipped.
# lab-budget: 900 s (usually 190-245 s on 2 cores under TCG)

. "$(dirname "$0")/lib.sh"

RELAY=192.168.0.2
TCP_RELAY=$TH_TOP/tcp_relay/tcp_relay
WA=$TH_TOP/webadmin/webadmin
DNSQ=$TH_TOP/tests/dnsq.py
LORIS=$TH_TOP/tests/slowloris.py
IDLE=8		# relay_idle_timeout
PER_CLIENT=20	# relay_max_per_client
T=

case ${STRESS_SCALE:-check} in
full) TOGGLES=200 RELOADS=20 CONNS=10000 FLOOD=2000 LORIS_N=200 ;;
*) TOGGLES=40 RELOADS=5 CONNS=1000 FLOOD=400 LORIS_N=60 ;;
esac

# ---- helpers

relay_pid() { cat "$T/tcp_relay.pid" 2>/dev/null; }
alive() { kill -0 "$1" 2>/dev/null; }
nfds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
kids() { pgrep -P "$1" | wc -l; }
zombies() { ps -o stat= --ppid "$1" | grep -c '^Z'; }
nat_lines() { tail -n +2 $TH_PROC/nat | wc -l; }
tcp_entries() { th_stat entries_tcp; }
udp_entries() { th_stat entries_udp; }

# Objects of the module's flow cache in use (slub_debug keeps the cache
# unmerged and without per-CPU caching, so the count is exact).
slab_objs() { awk '$1 == "krelay_flow" { print $2; f = 1 } END { if (!f) print "none" }' /proc/slabinfo; }

dns_ok() { [ "$(cli dig +tries=1 +time=2 +short @$RELAY test.lab)" = 192.0.2.1 ]; }
http_ok() { [ "$(cli curl -sS --max-time 5 http://$RELAY/)" = stress-page ]; }
traffic_ok() { dns_ok && http_ok; }
traffic_recovers() { th_wait_until 30 traffic_ok; }

# Conditions to wait for (th_wait_until runs shell functions too).
slab_is() { [ "$(slab_objs)" = "$1" ]; }
stat_is() { [ "$(th_stat "$1")" = "$2" ]; }
kids_are() { [ "$(kids "$1")" = "$2" ]; }
# pool_settles PID N: wait for tcp_relay's pool to come back to N children.
# Extra children are retired one a second after 5 s idle: allow for that.
pool_settles() {
	th_wait_until $(($(kids "$1") - $2 + 15)) kids_are "$1" "$2"
}
kids_at_least() { [ "$(kids "$1")" -ge "$2" ]; }
fds_are() { [ "$(nfds "$1")" = "$2" ]; }
load_ends_ok() { [ "$(tail -n 6 "$T/load" | grep -c ok)" = 6 ]; }
dl_bytes_over() { [ "$(stat -c %s "$T/dl.bin" 2>/dev/null || echo 0)" -gt "$1" ]; }
srv_port_idle() { ! srv ss -Hnt state established "( sport = :$1 )" | grep -q .; }
slow_client_paired() { grep -q '^tcp ESTABLISHED 10\.0\.0\.3:' $TH_PROC/nat; }
new_relay_up() {
	local q
	q=$(relay_pid) && [ "$q" != "$1" ] && alive "$q" && relay_listens
}
# tcp_relay processes that are neither $1 nor its children, from one ps
# snapshot (the pool of $1 may grow or shrink meanwhile: not counted).
stray_relays() {
	ps -e -o pid=,ppid=,stat=,comm= |
		awk -v p="$1" '$4 == "tcp_relay" && $1 != p && $2 != p'
}
no_stray_relays() { [ -z "$(stray_relays "$1")" ]; }
# none_alive PID...: all gone (alive holds for a zombie until it is reaped)
none_alive() {
	local q

	for q; do
		alive "$q" && return 1
	done
	return 0
}

# relay_limits: the suite's limits in krelay's relay knobs, and its
# tcp_mode (a reload brings back the defaults).
relay_limits() {
	th_set relay_max_pairs 256 && th_set relay_max_per_client "$PER_CLIENT" &&
		th_set relay_idle_timeout "$IDLE" && th_set tcp_mode "$TH_TCP_MODE"
}
kernel_pairs_are() { [ "$(th_stat kernel_pairs)" = "$1" ]; }

# start_relay [ARGS...]: tcp_relay as nobody with the suite's limits.
start_relay() {
	rm -f "$T/tcp_relay.pid"
	relay_limits || fail "the relay knobs refused the suite's limits"
	"$@" "$TCP_RELAY" -f -u nobody -n 4 -P "$T/tcp_relay.pid" \
		2>>"$T/tcp_relay.log" &
	th_wait_until 20 test -s "$T/tcp_relay.pid" || fail "tcp_relay did not start"
	th_wait_until 20 relay_listens || fail "tcp_relay does not listen"
}

relay_listens() { ss -Hlnt "sport = :$(th_knob gport)" | grep -q .; }

stop_relay() {
	local p
	p=$(relay_pid)
	[ -n "$p" ] && th_kill_wait "$p"
	# the pidfile stays behind: nobody cannot remove it from $T
	rm -f "$T/tcp_relay.pid"
}

# load_start: DNS and HTTP from the client in a loop, one line per try
# in $T/load ("dns ok", "http fail"...), until load_stop.
load_start() {
	: > "$T/load"
	cli bash -c "while [ ! -e $T/load.stop ]; do
		if [ \"\$(dig +tries=1 +time=1 +short @$RELAY test.lab)\" = 192.0.2.1 ]
		then echo dns ok; else echo dns fail; fi
		if [ \"\$(curl -s --max-time 2 http://$RELAY/)\" = stress-page ]
		then echo http ok; else echo http fail; fi
	done >> $T/load" &
	LOAD_PID=$!
}

load_stop() {
	touch "$T/load.stop"
	wait "$LOAD_PID"
	rm -f "$T/load.stop"
}

load_count() { grep -c "$1" "$T/load"; }

oneTimeSetUp() {
	T=$SHUNIT_TMPDIR
	th_in_lab || { echo "run in the lab: tests/lab/run $(basename "$0")"; exit 1; }
	chmod 755 "$T"
	mkdir -p "$T/www"
	head -c 20M /dev/urandom > "$T/www/big.bin"
	# Far more than the socket buffers on the way hold (sparse: no memory).
	truncate -s 1G "$T/www/huge.bin"
	ip -n cli addr add 10.0.0.3/24 dev eth0
	th_krelay_unload
	th_krelay_load start=1 || exit 1
	th_set tcp_ports 53,80,81 || exit 1
	cat > "$T/haproxy.cfg" <<-'EOT'
	global
		maxconn 1000
	defaults
		mode http
		timeout connect 5s
		timeout client 120s
		timeout server 120s
	frontend web
		bind :80
		http-request return status 200 content-type text/plain string stress-page
	EOT
	srv haproxy -db -f "$T/haproxy.cfg" >"$T/haproxy.log" 2>&1 &
	# (a listener left on :81 by an earlier suite would answer instead)
	srv ss -Hlnt 'sport = :81' | grep -q . &&
		fail "port 81 is taken: $(srv ss -Hlntp 'sport = :81')"
	srv python3 "$TH_TOP/tests/httpd.py" 81 --directory "$T/www" >/dev/null 2>&1 &
	srv dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
		--no-hosts --bind-interfaces --listen-address=192.168.0.10 \
		--listen-address=192.168.0.1 --user=root \
		--address=/test.lab/192.0.2.1 --pid-file="$T/dns.pid" &
	th_wait_until $((20 * TH_SCALE)) srv sh -c "ss -Hlnt 'sport = :81' | grep -q ." ||
		fail "http.server did not start"
	th_wait_until $((20 * TH_SCALE)) srv sh -c "ss -Hlnt 'sport = :80' | grep -q ." ||
		fail "haproxy did not start"
	start_relay
	traffic_recovers || fail "no traffic through the relay"
	echo "stress: scale ${STRESS_SCALE:-check}: $TOGGLES toggles, $RELOADS reloads," \
		"$CONNS connections, $FLOOD flood flows, $LORIS_N slow connections"
}

oneTimeTearDown() {
	[ -n "$WA_PID" ] && th_kill_wait "$WA_PID"
	stop_relay
	[ -s "$T/dns.pid" ] && th_kill_wait "$(cat "$T/dns.pid")"
	pkill -f "httpd.py 81 --directory $T/www"
	pkill -f "haproxy -db -f $T/haproxy.cfg"
	ip -n cli addr del 10.0.0.3/24 dev eth0 2>/dev/null
	th_krelay_unload
}

setUp() {
	[ -d /sys/module/krelay ] || th_krelay_load start=1
	echo 1 > $TH_START
	th_set tcp_ports 53,80,81
	th_set tcp_timeout_close 1
	relay_limits
	alive "$(relay_pid)" || start_relay
}

tearDown() {
	# shellcheck disable=SC2154
	if [ "${__shunit_testSuccess:-0}" = 0 ]; then
		return 0
	fi
	tail -20 "$T/tcp_relay.log"
	# a tcp_relay webadmin started logs there
	[ -s "$T/webadmin.log" ] && echo "--- webadmin.log" && tail -20 "$T/webadmin.log"
	[ -s "$T/dl.err" ] && echo "--- curl: $(cat "$T/dl.err")"
	return 0
}

# ---- tests

# The parent keeps CAP_NET_ADMIN permitted, not effective (raised only to
# register its listener); children hold it effective, for CLIENT; nothing
# else, no bounding set, no_new_privs: nothing to regain by execve.
testTcpRelayKeepsOnlyNetAdminAsNobody() {
	local p c st n=0 z=0000000000000000 na=0000000000001000
	th_user_only || return 0
	p=$(relay_pid)
	th_wait_until 10 kids_at_least "$p" 4
	assertEquals "tcp_relay's parent" \
		"uid=65534,65534,65534,65534 eff=$z prm=$na inh=$z amb=$z bnd=$z nnp=1 seccomp=0" \
		"$(th_privs "$p")"
	for c in $(pgrep -P "$p"); do
		# a spare may go between pgrep and here
		st=$(th_privs "$c")
		[ -n "$st" ] || continue
		n=$((n + 1))
		assertEquals "child $c" \
			"uid=65534,65534,65534,65534 eff=$na prm=$na inh=$z amb=$z bnd=$z nnp=1 seccomp=2" "$st"
	done
	assertTrue "children checked: $n" "[ $n -ge 4 ]"
	assertTrue "relaying as nobody" traffic_ok
}

testLoadRecoversAfterStartTogglesAndConfigChanges() {
	local i fails
	load_start
	for i in $(seq "$TOGGLES"); do
		echo 0 > $TH_START || fail "start=0 refused at cycle $i"
		echo 1 > $TH_START || fail "start=1 refused at cycle $i"
		sleep 0.1
		case $((i % 10)) in
		3) th_set real_ip 192.168.0.1 ;;
		6) th_set real_ip 192.168.0.10 ;;
		8) th_set gport $((16000 + (i / 10) % 2)) ;;
		esac
		# every 20th cycle: it must work again, at once or soon
		if [ $((i % 20)) = 0 ]; then
			traffic_recovers || fail "no traffic after cycle $i"
		fi
	done
	th_set real_ip 192.168.0.10
	th_set gport 16000

	traffic_recovers || fail "no traffic after $TOGGLES toggles"
	# the load itself recovers: its last tries all succeed
	th_wait_until 60 load_ends_ok
	load_stop
	fails=$(load_count fail)
	echo "stress: $TOGGLES start toggles: load $(load_count ok) ok, $fails failed (expected while stopped)"
	assertEquals "last tries of the load" "6" "$(tail -n 6 "$T/load" | grep -c ok)"
	assertTrue "the load never succeeded" "[ $(load_count ok) -gt 0 ]"
	assertTrue "kernel warned" th_dmesg_clean
}

testLoadRecoversAfterModuleReloads() {
	local i
	load_start
	for i in $(seq "$RELOADS"); do
		th_wait_until 30 th_krelay_unload || fail "rmmod failed at cycle $i"
		th_krelay_load start=1 || fail "insmod failed at cycle $i"
		th_set tcp_ports 53,80,81
		th_set tcp_timeout_close 1
		relay_limits
		traffic_recovers || fail "no traffic after reload $i"
	done
	th_wait_until 60 load_ends_ok
	load_stop
	echo "stress: $RELOADS module reloads: load $(load_count ok) ok, $(load_count fail) failed"
	assertEquals "last tries of the load" "6" "$(tail -n 6 "$T/load" | grep -c ok)"
	assertTrue "tcp_relay survived the reloads" "alive $(relay_pid)"
	assertTrue "kernel warned" th_dmesg_clean
}

# Streams (answered flows still active two seconds on) survive a flood of
# new flows, which evict each other instead.
testUdpFloodPastLimitEvictsAnsweredKeepsStreams() {
	local base evicted i
	th_user_only || return 0
	th_set udp_timeout 30
	th_set udp_stream_timeout 120
	echo flush > $TH_PROC/nat
	th_wait_until 30 slab_is 0
	base=$(slab_objs)
	th_set max_entries 100
	cli python3 "$DNSQ" $RELAY test.lab -n 20 --sport 20000 > "$T/old" ||
		fail "old flows not answered: $(tail -1 "$T/old")"
	sleep 2.2
	cli python3 "$DNSQ" $RELAY test.lab -n 20 --sport 20000 > "$T/old" ||
		fail "old flows not answered again: $(tail -1 "$T/old")"
	evicted=$(th_stat evicted)
	# batches of 50: once the table is full, each new flow evicts the
	# oldest answered one of the flood, never a stream
	for i in $(seq 0 50 $((FLOOD - 1))); do
		cli python3 "$DNSQ" $RELAY test.lab -n 50 --sport $((30000 + i)) \
			--timeout 1 | tail -1
	done > "$T/flood"
	echo "stress: UDP flood of $FLOOD flows, limit 100:" \
		"$(awk '{ n += $2 } END { print n }' FS='[ /]' "$T/flood") answered," \
		"evicted +$(($(th_stat evicted) - evicted)), drop_table_full $(th_stat drop_table_full)"
	assertTrue "the flood evicted nothing" "[ $(th_stat evicted) -gt $evicted ]"
	assertEquals "flood flows answered" "$FLOOD" \
		"$(awk '{ n += $2 } END { print n }' FS='[ /]' "$T/flood")"
	assertTrue "entries over the limit: $(udp_entries)" "[ $(udp_entries) -le 100 ]"
	assertEquals "entries in stats vs lines in nat" "$(udp_entries)" "$(nat_lines)"
	assertEquals "old streams still in the table" 20 \
		"$(grep -c '^udp STREAM 10\.0\.0\.1:200[01][0-9] ' $TH_PROC/nat)"
	cli python3 "$DNSQ" $RELAY test.lab -n 20 --sport 20000 > "$T/old2"
	assertEquals "old flows still answered" "answered 20/20" "$(tail -1 "$T/old2")"
	# everything expires and the memory comes back
	th_set udp_timeout 1
	th_set udp_stream_timeout 1
	th_wait_until 60 stat_is entries_udp 0
	assertEquals "UDP entries after expiry" 0 "$(udp_entries)"
	th_wait_until 30 slab_is "$base"
	assertEquals "flow objects after expiry" "$base" "$(slab_objs)"
	th_set max_entries 262144
	th_set udp_timeout 30
	th_set udp_stream_timeout 120
}

testManyConnectionsInARowLeaveNoResidue() {
	local p fds0 kids0 ins0 pairs0 codes i
	p=$(relay_pid)
	pool_settles "$p" 4
	fds0=$(nfds "$p")
	kids0=$(kids "$p")
	ins0=$(th_stat insert)
	pairs0=$(th_stat kernel_pairs_total)
	for i in $(seq "$CONNS"); do
		printf 'url = "http://%s/?n=%d"\noutput = "/dev/null"\n' $RELAY "$i"
	done > "$T/curl.conf"
	codes=$(cli curl -sS --max-time 600 -H "Connection: close" -K "$T/curl.conf" \
		-w '%{http_code} %{num_connects}\n' | sort | uniq -c | awk '{ print $2 "/" $3 ":" $1 }')
	echo "stress: $CONNS connections in a row: $codes, krelay inserts +$(($(th_stat insert) - ins0))"
	assertEquals "status codes and new connections" "200/1:$CONNS" "$codes"
	assertTrue "flows created" "[ $(($(th_stat insert) - ins0)) -ge $CONNS ]"
	th_wait_until 60 stat_is entries_tcp 0
	assertEquals "TCP entries after" 0 "$(tcp_entries)"
	if [ "$TH_TCP_MODE" = kernel ]; then
		assertTrue "kernel pairs made: $pairs0 -> $(th_stat kernel_pairs_total)" \
			"[ $(($(th_stat kernel_pairs_total) - pairs0)) -ge $CONNS ]"
		th_wait_until 30 kernel_pairs_are 0
		assertEquals "kernel pairs after" 0 "$(th_stat kernel_pairs)"
		return 0
	fi
	pool_settles "$p" "$kids0"
	th_wait_until 30 fds_are "$p" "$fds0"
	assertEquals "tcp_relay's descriptors" "$fds0" "$(nfds "$p")"
	assertEquals "tcp_relay's children" "$kids0" "$(kids "$p")"
	assertEquals "zombies" 0 "$(zombies "$p")"
}

# download_start [FILE]: a slow download of FILE (big.bin) the test can
# interrupt; sets DL_PID.
download_start() {
	rm -f "$T/dl.bin"
	cli curl -sS --max-time 120 --limit-rate 1M -o "$T/dl.bin" \
		"http://$RELAY:81/${1:-big.bin}" 2>"$T/dl.err" &
	DL_PID=$!
	th_wait_until 20 dl_bytes_over 500000 ||
		fail "download did not start: $(cat "$T/dl.err"); server :81: $(srv ss -Hlnt 'sport = :81')"
}

# download_end: wait for it; sets DL_RC (curl's status) and DL_SECS (how
# long it took from here).
download_end() {
	local t0=$SECONDS
	wait "$DL_PID"
	DL_RC=$?
	DL_SECS=$((SECONDS - t0))
}

testKilledChildrenCloseBothPeers() {
	local p fds0 out
	th_user_only || return 0
	p=$(relay_pid)
	pool_settles "$p" 4
	fds0=$(nfds "$p")
	# (curl's rate limit is an average: after a slow start it reads in a
	# burst, and 20 MiB could all be on the way when the children die)
	download_start huge.bin
	pkill -KILL -P "$p"
	download_end
	# 18: partial file, 56: receive failure; 28 would be a hang
	assertTrue "client saw the close at once (curl rc $DL_RC after $DL_SECS s, $(stat -c %s "$T/dl.bin") bytes)" \
		"[ $DL_RC = 18 -o $DL_RC = 56 ] && [ $DL_SECS -lt 20 ]"
	th_wait_until 30 srv_port_idle 81
	assertEquals "server's side still open" "" \
		"$(srv ss -Hnt state established '( sport = :81 )')"
	assertTrue "tcp_relay died with its children" "alive $p"
	th_wait_until 30 kids_at_least "$p" 4
	th_wait_until 30 fds_are "$p" "$fds0"
	assertEquals "tcp_relay's descriptors" "$fds0" "$(nfds "$p")"
	assertEquals "zombies" 0 "$(zombies "$p")"
	assertTrue "traffic after" traffic_recovers
}

testStoppedServerIsCutAfterIdleTimeout() {
	local hp
	hp=$(pgrep -f "httpd.py 81 --directory $T/www")
	download_start
	kill -STOP "$hp"
	download_end
	kill -CONT "$hp"
	echo "stress: server stopped: client cut after $DL_SECS s (curl rc $DL_RC)"
	assertTrue "client cut after about $IDLE s idle (curl rc $DL_RC after $DL_SECS s)" \
		"[ $DL_RC != 0 -a $DL_RC != 28 ] && [ $DL_SECS -le $((IDLE + 30)) ]"

	assertTrue "traffic with the server back" traffic_recovers
	th_wait_until 60 stat_is entries_tcp 0
	assertEquals "TCP entries after" 0 "$(tcp_entries)"
}

# What the slow client's pairs look like when they outlive the idle
# timeout: the relay's sockets toward 10.0.0.3 (state, timers, queues) and
# where tcp_relay's children wait.
slow_pairs_dump() {
	local c
	echo "--- relay sockets of 10.0.0.3's pairs"
	ss -Htnoip "( dst 10.0.0.3 )" | head -12
	echo "--- the listener's queue"
	ss -Hltn "( sport = :$(th_knob gport) )"
	echo "--- their server legs"
	ss -Htno "( dst 192.168.0.10:80 )" | head -6
	echo "--- tcp_relay's children: state, wchan, syscall"
	for c in $(pgrep -P "$(relay_pid)"); do
		echo "$c $(awk '{ print $3 }' /proc/$c/stat) $(cat /proc/$c/wchan) $(cut -d' ' -f1 /proc/$c/syscall)"
	done | sort -k2 | uniq -c -f1 | head
}

testSlowClientDoesNotStarveOthers() {
	local out i ok=0 pairs
	cli python3 "$LORIS" $RELAY 80 -n "$LORIS_N" --bind 10.0.0.3 \
		--trickle 10 --wait $(((IDLE + 20) * TH_SCALE)) > "$T/loris" &
	local lp=$!
	th_wait_until 20 slow_client_paired
	sleep 2
	pairs=$(grep '^tcp ESTABLISHED 10\.0\.0\.3:' $TH_PROC/nat | awk '$7 != "-"' | wc -l)
	for i in $(seq 20); do http_ok && ok=$((ok + 1)); done
	wait "$lp"
	out=$(cat "$T/loris")
	echo "stress: slowloris ($TH_TCP_MODE mode): $out; others: $ok/20 served, slow pairs relayed $pairs"
	assertEquals "other client's requests during the slow one" 20 "$ok"
	assertTrue "slow client got more than $PER_CLIENT pairs ($pairs)" \
		"[ $pairs -le $PER_CLIENT ]"
	assertContains "slow connections all closed in the end" "$out" " open 0" ||
		slow_pairs_dump
	assertTrue "traffic after" traffic_recovers
}

testDescriptorLimitRefusesCleanlyAndRecovers() {
	local p fds0 out
	th_user_only || return 0
	stop_relay
	PER_CLIENT=200 start_relay prlimit --nofile=40:40
	p=$(relay_pid)
	th_wait_until 10 kids_are "$p" 4
	fds0=$(nfds "$p")
	cli python3 "$LORIS" $RELAY 80 -n 80 --bind 10.0.0.3 --trickle 4 --wait 1 > "$T/loris"
	out=$(cat "$T/loris")
	echo "stress: 80 connections with 40 descriptors: $out"
	assertTrue "tcp_relay died at the descriptor limit" "alive $p"
	grep -E 'Too many open files|no child free' "$T/tcp_relay.log" | tail -2
	assertTrue "traffic after the limit" traffic_recovers
	# one descriptor per child: the pool first, then the count
	pool_settles "$p" 4
	th_wait_until 30 fds_are "$p" "$fds0"
	assertEquals "tcp_relay's descriptors" "$fds0" "$(nfds "$p")"
	assertEquals "zombies" 0 "$(zombies "$p")"
	stop_relay
	start_relay
}

testWebadminRestartsKilledTcpRelay() {
	local p p2 old_kids
	th_user_only || return 0
	stop_relay
	# curl's rate limit reads in bursts and then pauses for seconds with
	# a full window: a long idle timeout keeps that pause from ending the
	# pair, so what is tested is the parent's death.
	th_set relay_idle_timeout 60
	"$WA" -f -l 127.0.0.1:8080 -s "$T/secret" -w "$TH_TOP/www" -r "$TCP_RELAY" \
		-P "$T/tcp_relay.pid" -- -u nobody -n 4 \
		>>"$T/webadmin.log" 2>&1 &
	WA_PID=$!
	th_wait_until 20 new_relay_up 0 ||
		fail "webadmin did not start tcp_relay: $(tail -5 "$T/webadmin.log")"
	p=$(relay_pid)
	download_start
	old_kids=$(pgrep -P "$p")
	kill -KILL "$p"
	# the pair in flight lives on in its child; a new tcp_relay comes
	th_wait_until 30 new_relay_up "$p" ||
		fail "no new tcp_relay: $(tail -5 "$T/webadmin.log")"
	p2=$(relay_pid)
	assertTrue "traffic through the new tcp_relay" traffic_recovers
	download_end
	assertEquals "transfer in flight ended cleanly (curl rc)" 0 "$DL_RC"
	assertEquals "download intact" "$(sha256sum < "$T/www/big.bin")" "$(sha256sum < "$T/dl.bin")"
	# the old tcp_relay's children are all gone: only the new one's remain
	# shellcheck disable=SC2086 # one pid per word
	th_wait_until 20 none_alive $old_kids ||
		fail "old children still there: $(ps -o pid=,ppid=,stat= -p "$(echo $old_kids | tr ' ' ,)")"
	th_wait_until 10 no_stray_relays "$p2" ||
		fail "tcp_relay processes besides the new one and its children: $(stray_relays "$p2")"
	th_kill_wait "$WA_PID"
	WA_PID=
	th_kill_wait "$p2"
	rm -f "$T/tcp_relay.pid"
	start_relay
}

. shunit2
