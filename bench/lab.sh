#!/bin/bash
# The bench's guest side (run by bench/run in one boot of the lab):
#
#   cli 10.0.0.1 --- relay 10.0.0.2 | 192.168.0.2 --- srv 192.168.0.10
#
# Every path is reachable at once, each on its own address and port:
#
#   path      HTTP             iperf3           DNS (fast responder)
#   routed    192.168.0.10:80  192.168.0.10:5201 192.168.0.10:5300
#   nft       192.168.0.2:8081 192.168.0.2:5202 192.168.0.2:5301 (DNAT, conntrack)
#   krelay    192.168.0.2:80   192.168.0.2:5201 192.168.0.2:5300 (+ tcp_relay)
#   krelay_kernel  the same, tcp_mode kernel while it is measured
#   haproxy   192.168.0.2:8082 192.168.0.2:5203 -
#   socat     192.168.0.2:8083 192.168.0.2:5204 -
#
# and, for the long and lossy paths, a 1 MB object (python's http.server)
# at 192.168.0.10:8090: routed there, nft 192.168.0.2:8091, krelay (both
# modes) 192.168.0.2:8090, haproxy 192.168.0.2:8092.
#
# The server side is HAProxy's own `http-request return` (HTTP), iperf3 and
# bench/benchtool echo (DNS). The nftables table exists only while an nft
# path is measured, so conntrack never sits on the other paths.
# Raw figures go to /tmp/lab-out/bench/raw.tsv (build/lab/bench/ on the
# host): one "key value" a line, key = work.path.metric, one line per run.
#
# BENCH_REPS (runs per figure, default 5), BENCH_DUR (seconds per run,
# default 4), BENCH_ONLY (comma list of udp,bulk,conn,mem,scale,flood,
# lookup,profile; all but profile by default). The flood and lookup parts:
# BENCH_FLOOD_PPS (the flood's fixed rate, default 2000 packets/s),
# BENCH_FLOOD_MAX (max_entries under the flood, default 2000),
# BENCH_LOOKUP (the table sizes, default 1000,60000,1000000),
# BENCH_FILL_PPS (the rate that fills the table for lookup, default 50000),
# BENCH_PERF=1 (one more DNS run per table size, profiled: perf-lookup.*),
# BENCH_PATHS (a comma list of the TCP paths to measure, default all:
# routed,nft,krelay,krelay_kernel,haproxy,socat),
# BENCH_LOOKUP_Q (dnsperf's queries outstanding in lookup, default 32),
# BENCH_LOOKUP_CYCLES (empty, then each size, again from a flushed table:
# default 3), BENCH_LOOKUP_DUR (seconds per lookup run, default 8);
# BENCH_HASHSIZE, krelay's hashsize at load (default: the module's);
# BENCH_MEM_CONNS, the idle connections held per path for the memory
# figures (default 2000; socat, a process each, holds 200).
# The long and lossy paths (lossy): BENCH_LOSSY_RATE (netem's rate cap on
# every link, default 50mbit), BENCH_LOSSY_DUR (seconds per bulk run,
# default 4, after 1 s left out), BENCH_LOSSY_LOSS (the client leg's loss, default 1%) and
# BENCH_LOSSY_LOSS_SRV (the server leg's, default 0.1%).

. "$(dirname "$0")/../tests/lib.sh"

REPS=${BENCH_REPS:-5}
DUR=${BENCH_DUR:-4}
ONLY=${BENCH_ONLY:-udp,bulk,conn,mem,scale,flood,lookup,lossy}
OUT=/tmp/lab-out/bench
T=/tmp/bench
RELAY=192.168.0.2
REAL=192.168.0.10
BT=$TH_TOP/bench/benchtool
FLOOD_PPS=${BENCH_FLOOD_PPS:-2000}
FLOOD_MAX=${BENCH_FLOOD_MAX:-2000}
LOOKUP=${BENCH_LOOKUP:-1000,60000,1000000}
FILL_PPS=${BENCH_FILL_PPS:-50000}
PERF=${BENCH_PERF:-}
LOOKUP_Q=${BENCH_LOOKUP_Q:-32}
LOOKUP_CYCLES=${BENCH_LOOKUP_CYCLES:-3}
LOOKUP_DUR=${BENCH_LOOKUP_DUR:-8}
LOSSY_RATE=${BENCH_LOSSY_RATE:-50mbit}
LOSSY_DUR=${BENCH_LOSSY_DUR:-4}
LOSSY_LOSS=${BENCH_LOSSY_LOSS:-1%}
LOSSY_LOSS_SRV=${BENCH_LOSSY_LOSS_SRV:-0.1%}
MEM_CONNS=${BENCH_MEM_CONNS:-2000}
# Spoofed sources (flood, lookup): on the client's network, so the relay's
# rp_filter lets them in; spoof_neighbours gives them a MAC nobody has.
SPOOF=10.0.0.100-10.0.0.250
mkdir -p "$OUT" "$T"
rm -f "$OUT"/raw.tsv "$OUT"/*.txt "$OUT"/*.log
RAW=$OUT/raw.tsv

rec() { printf '%s %s\n' "$1" "$2" >> "$RAW"; }
want() { case ",$ONLY," in *",$1,"*) return 0 ;; esac; return 1; }
say() { echo "lab: bench: $*"; }

declare -A HTTP=([routed]=$REAL:80 [nft]=$RELAY:8081 [krelay]=$RELAY:80
	[krelay_kernel]=$RELAY:80 [haproxy]=$RELAY:8082 [socat]=$RELAY:8083)
declare -A BULK=([routed]=$REAL:5201 [nft]=$RELAY:5202 [krelay]=$RELAY:5201
	[krelay_kernel]=$RELAY:5201 [haproxy]=$RELAY:5203 [socat]=$RELAY:5204)
declare -A DNS=([routed]=$REAL:5300 [nft]=$RELAY:5301 [krelay]=$RELAY:5300)
TCP_PATHS=${BENCH_PATHS:-routed,nft,krelay,krelay_kernel,haproxy,socat}
TCP_PATHS=${TCP_PATHS//,/ }
UDP_PATHS="routed nft krelay"

# ---- set-up

setup() {
	local h
	ulimit -n 65536
	for h in cli srv; do
		ip netns exec $h sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
		ip netns exec $h sysctl -qw net.ipv4.tcp_tw_reuse=1
		ip netns exec $h sysctl -qw net.core.somaxconn=4096
	done
	sysctl -qw net.ipv4.tcp_tw_reuse=1 net.core.somaxconn=4096

	th_krelay_load start=1 ${BENCH_HASHSIZE:+hashsize=$BENCH_HASHSIZE} ||
		{ say "insmod failed"; return 1; }
	th_set tcp_ports 53,80,5201
	th_set udp_ports 53,5300,5399

	cat > "$T/srv.cfg" <<EOC
global
	maxconn 20000
defaults
	mode http
	timeout connect 5s
	timeout client 120s
	timeout server 120s
	timeout http-request 120s
frontend www
	bind $REAL:80
	http-request return status 200 content-type text/plain string "bench ok\n"
EOC
	srv haproxy -D -f "$T/srv.cfg" -p "$T/srv-haproxy.pid" 2>"$OUT/srv-haproxy.log"
	srv iperf3 -s -B $REAL -p 5201 -D --logfile "$T/iperf3.log"
	srv "$BT" echo $REAL 5300 2>"$OUT/echo.log" &
	# nbthread 2: as an operator would on a two-core relay.
	cat > "$T/relay.cfg" <<EOC
global
	maxconn 20000
	nbthread 2
	tune.maxaccept 64
defaults
	mode tcp
	option splice-auto
	timeout connect 5s
	timeout client 120s
	timeout server 120s
listen http
	bind $RELAY:8082
	server s $REAL:80
listen bulk
	bind $RELAY:5203
	server s $REAL:5201
listen obj
	bind $RELAY:8092
	server s $REAL:8090
EOC
	haproxy -D -f "$T/relay.cfg" -p "$T/relay-haproxy.pid" 2>"$OUT/relay-haproxy.log"
	socat TCP-LISTEN:8083,bind=$RELAY,fork,reuseaddr,backlog=4096 TCP:$REAL:80 &
	SOCAT_PIDS=$!
	socat TCP-LISTEN:5204,bind=$RELAY,fork,reuseaddr TCP:$REAL:5201 &
	SOCAT_PIDS="$SOCAT_PIDS $!"
	tcp_relay_start "$TH_TOP/tcp_relay/tcp_relay"
	for p in $RELAY:8082 $RELAY:5203 $RELAY:8092 $RELAY:8083 $RELAY:5204 0.0.0.0:16000; do
		th_wait_port tcp "${p%:*}" "${p#*:}" || say "nothing listens on $p"
	done
	th_wait_until 10 srv sh -c "ss -Hlnt 'src $REAL:80' | grep -q ." || say "srv HTTP not up"
	th_wait_until 10 srv sh -c "ss -Hlnu 'src $REAL:5300' | grep -q ." || say "srv echo not up"
	th_wait_until 10 srv sh -c "ss -Hlnt 'sport = :5201' | grep -q ." || say "srv iperf3 not up"
}

# tcp_relay_start BINARY: (re)start tcp_relay as an operator would, with
# room for the 1,000 connections of the scale run.
tcp_relay_start() {
	[ -s "$T/tcp_relay.pid" ] && th_kill_wait "$(cat "$T/tcp_relay.pid")"
	rm -f "$T/tcp_relay.pid"
	local opts='' max=$((MEM_CONNS > 1000 ? MEM_CONNS + 500 : 1500))
	th_set relay_max_pairs $max && th_set relay_max_per_client $max ||
		say "the relay knobs refused $max pairs, $max a client"
	# A binary from before the relay knobs (BENCH_BEFORE) takes them as
	# options.
	"$1" -h 2>&1 | grep -q relay_max_pairs || opts="-m $max -c $max"
	# shellcheck disable=SC2086
	"$1" -f -n 8 $opts -P "$T/tcp_relay.pid" 2>>"$OUT/tcp_relay.log" &
	th_wait_until 10 test -s "$T/tcp_relay.pid" || say "tcp_relay did not start"
	th_wait_port tcp 0.0.0.0 16000 || say "tcp_relay does not listen"
}

# tcp_relay_fresh: restarted, its pool at its 8 spares.
tcp_relay_fresh() {
	tcp_relay_start "$TH_TOP/tcp_relay/tcp_relay"
	th_wait_until 10 pool_at_spares || say "tcp_relay's pool not at its spares"
}
pool_at_spares() { [ "$(tcp_relay_children | wc -w)" -ge 8 ]; }

nft_up() {
	nft -f - <<EOC
table ip bench {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr $RELAY tcp dport 8081 dnat to $REAL:80
		ip daddr $RELAY tcp dport 5202 dnat to $REAL:5201
		ip daddr $RELAY tcp dport 8091 dnat to $REAL:8090
		ip daddr $RELAY udp dport 5301 dnat to $REAL:5300
	}
}
EOC
}
nft_down() { nft delete table ip bench 2>/dev/null; true; }

# Before and after each path: nft only for its own runs, tcp_mode kernel
# only for krelay_kernel's (its pairs gone before the next path); the NAT
# table emptied so that no krelay flow can match another path's packets.
path_begin() {
	case $1 in
	nft) nft_up ;;
	krelay_kernel) th_set tcp_mode kernel || say "tcp_mode kernel refused" ;;
	esac
	echo flush > $TH_PROC/nat
}
path_end() {
	case $1 in
	nft) nft_down ;;
	krelay_kernel)
		th_set tcp_mode user
		th_wait_until 30 kernel_pairs_gone || say "kernel pairs left: $(th_stat kernel_pairs)"
		;;
	esac
	echo flush > $TH_PROC/nat
	sleep 0.2
}
kernel_pairs_gone() { [ "$(th_stat kernel_pairs)" = 0 ]; }

# ---- work

passive_opens() { srv awk '/^Tcp:/ { if (h) print $7; h = 1 }' /proc/net/snmp; }

# dns_run PATH [KEY]: dnsperf for DUR s; qps and latency percentiles.
dns_run() {
	local p=$1 k=${2:-udp.$1} a=${DNS[$1]} f=$T/dnsperf.out lat
	cli dnsperf -s "${a%:*}" -p "${a#*:}" -d "$T/queries" -l "$DUR" -c 4 -q "${DNS_Q:-32}" -v \
		> "$f" 2>&1
	rec "$k.qps" "$(awk '/Queries per second/ { print $4 }' "$f")"
	rec "$k.lost" "$(awk '/Queries lost/ { print $3 }' "$f")"
	grep '^> NOERROR' "$f" | awk '{ print $NF * 1000 }' | sort -n > "$T/lat"
	lat=$(wc -l < "$T/lat")
	rec "$k.p50_ms" "$(sed -n "$(( (lat + 1) / 2 ))p" "$T/lat")"
	rec "$k.p99_ms" "$(sed -n "$(( (lat * 99 + 99) / 100 ))p" "$T/lat")"
}

bulk_run() {
	local p=$1 n=$2 a=${BULK[$1]} f=$T/iperf.json
	cli iperf3 -c "${a%:*}" -p "${a#*:}" -t "$DUR" -O 1 -P "$n" -J > "$f" 2>&1
	rec "bulk$n.$p.mbps" "$(jq '.end.sum_received.bits_per_second / 1e6 | floor' "$f" 2>/dev/null)"
}

conn_run() {
	local p=$1 c=$2 k=${3:-conn$2.$1} a=${HTTP[$1]} f=$T/wrk.out
	local before after reqs ins0 forks0 cpu0
	before=$(passive_opens)
	ins0=$(th_stat insert)
	forks0=$(awk '$1 == "processes" { print $2 }' /proc/stat)
	cpu0=$(cpu_ticks)
	cli wrk -t 2 -c "$c" -d "${DUR}s" --latency -H "Connection: close" \
		"http://$a/" > "$f" 2>&1
	after=$(passive_opens)
	rec "$k.cpu_busy_pct" "$(cpu_busy "$cpu0" "$(cpu_ticks)")"
	rec "$k.forks" "$(( $(awk '$1 == "processes" { print $2 }' /proc/stat) - forks0 ))"
	reqs=$(awk '/requests in/ { print $1 }' "$f")
	rec "$k.cps" "$(awk '/Requests\/sec/ { print $2 }' "$f")"
	rec "$k.p50_ms" "$(awk '$1 == "50%" { print $2 }' "$f" | to_ms)"
	rec "$k.p99_ms" "$(awk '$1 == "99%" { print $2 }' "$f" | to_ms)"
	rec "$k.requests" "$reqs"
	rec "$k.accepts" "$((after - before))"
	rec "$k.errors" "$(awk '/Socket errors|Non-2xx/ { s = s $0 "; " } END { print s ? "\"" s "\"" : 0 }' "$f" | tr ' ' '_')"
	case $p in krelay*) rec "$k.nat_inserts" "$(( $(th_stat insert) - ins0 ))" ;; esac
	cp "$f" "$OUT/wrk-$k.txt"
}

# cpu_ticks: "busy total" jiffies of all CPUs; cpu_busy A B: busy % between.
cpu_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
cpu_busy() {
	# shellcheck disable=SC2206
	local a=($1) b=($2)
	echo $(( (b[0] - a[0]) * 100 / (b[1] - a[1] + 1) ))
}

# wrk prints 1.23ms, 456.00us, 1.02s
to_ms() {
	sed -E 's/([0-9.]+)us$/\1 0.001/; s/([0-9.]+)ms$/\1 1/; s/([0-9.]+)s$/\1 1000/' |
		awk 'NF == 2 { printf "%.3f\n", $1 * $2 }'
}

# ---- memory

private_kb() {	# PID...: Private_Clean + Private_Dirty, summed
	local p
	for p in "$@"; do cat "/proc/$p/smaps_rollup" 2>/dev/null; done |
		awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s + 0 }'
}
tcp_relay_children() { pgrep -P "$(cat "$T/tcp_relay.pid")" | tr '\n' ' '; }

mem() {
	local n=200 pid hp kb0 kb1 conn p a
	rec mem.krelay.flow_objsize "$(awk '$1 == "krelay_flow" { print $4 }' /proc/slabinfo)"
	nft_up
	cli bash -c "exec 3<>/dev/tcp/$RELAY/8081; sleep 0.5"
	rec mem.nft.conntrack_objsize "$(awk '$1 == "nf_conntrack" { print $4 }' /proc/slabinfo)"
	nft_down
	# A fresh tcp_relay: the pool a conn/s run grew is retired over
	# minutes, and its idle children would take the held connections.
	tcp_relay_fresh
	pid=$(cat "$T/tcp_relay.pid")
	rec mem.tcp_relay.parent_private_kb "$(private_kb "$pid")"
	# shellcheck disable=SC2046
	kb0=$(private_kb $(tcp_relay_children))
	cli "$BT" hold $RELAY 80 $n 8 >/dev/null &
	sleep 6
	conn=$(tcp_relay_children)
	# shellcheck disable=SC2086
	kb1=$(private_kb $conn)
	rec mem.tcp_relay.children "$(echo $conn | wc -w)"
	rec mem.tcp_relay.private_bytes_per_conn "$(( (kb1 - kb0) * 1024 / n ))"
	wait $!
	hp=$(cat "$T/relay-haproxy.pid")
	kb0=$(private_kb "$hp")
	cli "$BT" hold $RELAY 8082 $n 6 >/dev/null &
	sleep 5
	kb1=$(private_kb "$hp")
	rec mem.haproxy.private_bytes_per_conn "$(( (kb1 - kb0) * 1024 / n ))"
	wait $!
	# The whole guest's memory per held idle connection (client, relay and
	# server sockets, processes and NAT state included), MEM_CONNS of them
	# (socat, a process each, 200): measured once all are open and the
	# relay has settled; then they close and the next path starts clean.
	rec mem.held "$MEM_CONNS"
	for p in $TCP_PATHS; do
		n=$MEM_CONNS
		[ "$p" = socat ] && n=200
		[ "$p" = krelay ] && tcp_relay_fresh
		path_begin "$p"
		sleep 1
		kb0=$(mem_used_kb)
		a=${HTTP[$p]}
		rm -f "$T/held"
		ip netns exec cli "$BT" hold "${a%:*}" "${a#*:}" $n 300 > "$T/held" &
		hp=$!
		th_wait_until 120 test -s "$T/held" || say "memory: $p: not all $n opened in 120 s"
		th_wait_until 60 at_server_ge "$n" || say "memory: $p: $(at_server) of $n at the server"
		sleep 3
		kb1=$(mem_used_kb)
		rec "mem.$p.opened" "$(cat "$T/held")"
		rec "mem.$p.at_server" "$(at_server)"
		rec "mem.$p.system_bytes_per_conn" "$(( (kb1 - kb0) * 1024 / n ))"
		th_kill_wait "$hp"
		th_wait_until 60 at_server_none || say "memory: $p: $(at_server) left at the server"
		path_end "$p"
	done
}
at_server() { srv ss -Htn state established "( sport = :80 )" | wc -l; }
at_server_ge() { [ "$(at_server)" -ge "$1" ]; }
at_server_none() { [ "$(at_server)" -eq 0 ]; }
mem_used_kb() { awk '/^MemTotal/ { t = $2 } /^MemAvailable/ { a = $2 } END { print t - a }' /proc/meminfo; }

# ---- scale

scale() {
	local i n held
	th_set udp_timeout 600
	for n in 1000 60000; do
		echo flush > $TH_PROC/nat
		cli "$BT" fill $RELAY 5399 "$n" 2000 > /dev/null
		rec "scale.entries$n.entries" "$(th_stat entries_udp)"
		for i in $(seq "$REPS"); do dns_run krelay "scale.entries$n"; done
	done
	echo flush > $TH_PROC/nat
	th_set udp_timeout 30
	# 1,000 concurrent relayed connections: all opened, all reach the server.
	tcp_relay_fresh
	cli "$BT" hold $RELAY 80 1000 15 > "$T/held" &
	th_wait_until 60 test -s "$T/held"
	sleep 2
	held=$(srv ss -Htn state established "( sport = :80 )" | wc -l)
	rec scale.conn1000.opened "$(cat "$T/held")"
	rec scale.conn1000.at_server "$held"
	rec scale.conn1000.nat_tcp "$(th_stat entries_tcp)"
	rec scale.conn1000.children "$(tcp_relay_children | wc -w)"
	wait $!
}

# ---- flood: a real client's connections/s and q/s while spoofed packets
# keep the NAT table full

# spoof_neighbours add|del: the relay's static neighbours for the spoofed
# addresses, on a MAC no host has (as tests/krelay_attack_test.sh does):
# the relay's answers to them leave at once and are lost, and no ARP waits.
spoof_neighbours() {
	local i
	for i in $(seq 100 250); do
		if [ "$1" = add ]; then
			echo "neigh replace 10.0.0.$i lladdr 02:00:00:00:00:99 dev rc0 nud permanent"
		else
			echo "neigh del 10.0.0.$i dev rc0"
		fi
	done | ip -force -batch - 2>/dev/null
	true
}

entries() { echo $(( $(th_stat entries_tcp) + $(th_stat entries_udp) )); }
table_full() { [ "$(entries)" -ge $((FLOOD_MAX * 9 / 10)) ]; }

# flood_start KIND: spoofed packets from the client's namespace at
# FLOOD_PPS until flood_stop, each from a tuple no earlier flood used:
# syn, SYNs to krelay's HTTP port (the relay's own stack answers them:
# SYN_RECV entries); dns, queries to krelay's DNS port (the server answers
# them: REPLIED entries). The answers go to the spoofed addresses' MAC.
FLOOD_NEXT=0
flood_start() {
	local port=80
	[ "$1" = dns ] && port=5300
	# Not `cli`: $! must be the generator, which `ip netns exec` becomes.
	ip netns exec cli "$BT" flood $RELAY $port -k "$1" -s $SPOOF -r "$FLOOD_PPS" \
		-t 60 -o "$FLOOD_NEXT" > "$T/flood.out" 2>&1 &
	FLOOD_PID=$!
	FLOOD_NEXT=$((FLOOD_NEXT + FLOOD_PPS * 60))
}

# flood_stop KEY: stop the generator; record what it sent and its CPU.
flood_stop() {
	local kv
	th_kill_wait "$FLOOD_PID"
	for kv in $(cat "$T/flood.out"); do
		case $kv in
		sent=*|pps=*|cpu_pct=*|user_pct=*|behind=*|errors=*) rec "$1.flood_${kv%%=*}" "${kv#*=}" ;;
		esac
	done
	grep -v '^sent=' "$T/flood.out" | head -3 | sed 's/^/lab: bench: flood: /'
}

# flood_run KIND WORK: one run of WORK (conn: wrk, 32 concurrent,
# Connection: close; dns: dnsperf) against krelay, under a flood of KIND
# (none: no flood), the table emptied before and after.
flood_run() {
	local kind=$1 work=$2 k=flood.$1.$2 ev0 full0
	path_begin krelay
	cpu_quiet "$k"
	if [ "$kind" != none ]; then
		flood_start "$kind"
		th_wait_until 15 table_full || say "the $kind flood did not fill the table: $(entries) entries"
	fi
	rec "$k.entries_before" "$(entries)"
	ev0=$(th_stat evicted)
	full0=$(th_stat drop_table_full)
	case $work in
	conn) conn_run krelay 32 "$k" ;;
	dns) dns_run krelay "$k" ;;
	esac
	rec "$k.entries_after" "$(entries)"
	rec "$k.evicted" "$(( $(th_stat evicted) - ev0 ))"
	rec "$k.drop_table_full" "$(( $(th_stat drop_table_full) - full0 ))"
	rec "$k.syn_recv" "$(ss -Htn state syn-recv | wc -l)"
	[ "$kind" != none ] && flood_stop "$k"
	path_end krelay
}

flood() {
	local i kind max0
	max0=$(th_knob max_entries)
	spoof_neighbours add
	th_set max_entries "$FLOOD_MAX"
	rec flood.max_entries "$(th_knob max_entries)"
	rec flood.rate_pps "$FLOOD_PPS"
	tcp_relay_fresh
	# Interleaved: each round measures without a flood and under each.
	for i in $(seq "$REPS"); do
		say "flood run $i"
		for kind in none syn dns; do flood_run $kind conn; done
		for kind in none dns; do flood_run $kind dns; done
	done
	th_set max_entries "$max0"
	spoof_neighbours del
}

# ---- lookup: krelay's UDP q/s with the NAT table holding many other flows

# fill_to N: UDP flows from the spoofed sources up to N in the table
# (tuples FILLED..N-1 of benchtool flood; the server drops them: no answer,
# no ICMP error), then record how many entries are present.
FILLED=0
fill_to() {
	local n=$1 k=lookup.e$1 out t0 sent
	t0=$SECONDS
	out=$(cli "$BT" flood $RELAY 5399 -k udp -s $SPOOF -r "$FILL_PPS" \
		-n $((n - FILLED)) -o "$FILLED" -t 150)
	sent=$(echo "$out" | sed -n 's/^sent=\([0-9]*\).*/\1/p')
	rec "$k.fill_pps" "$(echo "$out" | sed -n 's/.* pps=\([0-9]*\).*/\1/p')"
	th_wait_until 20 entries_settle
	# Packets lost on the way (a queue overflowed): the same tuples once
	# more; those present are only refreshed.
	if [ "${sent:-0}" -eq $((n - FILLED)) ] && [ "$(th_stat entries_udp)" -lt $((n * 98 / 100)) ]; then
		say "lookup: $(th_stat entries_udp) of $n entries, sending again"
		cli "$BT" flood $RELAY 5399 -k udp -s $SPOOF -r "$FILL_PPS" -n "$n" -t 60 >/dev/null
		th_wait_until 20 entries_settle
	fi
	rec "$k.fill_secs" $((SECONDS - t0))
	rec "$k.entries" "$(th_stat entries_udp)"
	FILLED=$n
}
entries_settle() {
	local a
	a=$(th_stat entries_udp)
	sleep 0.5
	[ "$a" = "$(th_stat entries_udp)" ]
}

# cpu_quiet KEY: wait (20 s at most) until the guest's CPUs are less than
# 15 % busy over a second (RCU freeing a flushed table, the relay's stack
# retransmitting SYN-ACKs to a past flood); record how long that took.
cpu_quiet() {
	local t0=$SECONDS c0
	while [ $((SECONDS - t0)) -lt 20 ]; do
		c0=$(cpu_ticks)
		sleep 1
		[ "$(cpu_busy "$c0" "$(cpu_ticks)")" -lt 15 ] && break
	done
	rec "$1.quiet_secs" $((SECONDS - t0))
}

# lookup_runs KEY CYCLE: REPS dnsperf runs through krelay, each recorded
# with its cycle (the report pairs a size with the empty table of the same
# cycle); the guest's CPU busy while idle (the GC's share) and its memory
# in use, once the CPUs are quiet.
lookup_runs() {
	local i c0
	cpu_quiet "$1"
	c0=$(cpu_ticks)
	sleep 2
	rec "$1.idle_cpu_pct" "$(cpu_busy "$c0" "$(cpu_ticks)")"
	rec "$1.mem_used_kb" "$(mem_used_kb)"
	for i in $(seq "$REPS"); do
		c0=$(cpu_ticks)
		DUR=$LOOKUP_DUR DNS_Q=$LOOKUP_Q dns_run krelay "$1"
		rec "$1.busy_pct" "$(cpu_busy "$c0" "$(cpu_ticks)")"
		rec "$1.cycle" "$2"
	done
	# BENCH_PERF=1: one more run, not counted, profiled with perf.
	if [ -n "$PERF" ]; then
		perf record -e cpu-clock -a -o "$T/perf.data" -- sleep $((LOOKUP_DUR + 1)) 2>/dev/null &
		sleep 0.5
		DUR=$LOOKUP_DUR DNS_Q=$LOOKUP_Q dns_run krelay "$1.perf"
		wait $!
		perf report -i "$T/perf.data" --sort dso,sym --stdio 2>/dev/null |
			grep -v '^#' | grep . | head -40 > "$OUT/perf-$1-sym.txt"
	fi
	# A page of 1000 flows through TABLE_PAGE (what GET /api/nat asks
	# for): the median of the first 20 pages.
	rec "$1.page_us" "$("$BT" page - - 1000 20 | sed -n 's/.*us_median=\([0-9]*\).*/\1/p')"
}

# The table sizes in turn, LOOKUP_CYCLES times, each cycle from a flushed
# table and its own empty-table runs: the lab's speed drifts over minutes
# (a shared host), and a ratio within one cycle sees less of that drift.
lookup() {
	local n c max0 udp0
	max0=$(th_knob max_entries)
	udp0=$(th_knob udp_timeout)
	spoof_neighbours add
	srv nft -f - <<EOC
table ip benchsink {
	chain in {
		type filter hook input priority 0;
		udp dport 5399 drop
	}
}
EOC
	th_set max_entries 4194304
	th_set udp_timeout 900
	for c in $(seq "$LOOKUP_CYCLES"); do
		echo flush > $TH_PROC/nat
		th_wait_until 30 sh -c "[ \$(awk '\$1 == \"entries_udp\" { print \$2 }' $TH_PROC/stats) -lt 100 ]"
		FILLED=0
		say "lookup: cycle $c: empty table"
		lookup_runs lookup.e0 "$c"
		for n in ${LOOKUP//,/ }; do
			fill_to "$n"
			rec meta.hashsize "$(th_stat hash_buckets)"	# grown with max_entries
			say "lookup: cycle $c: $(th_stat entries_udp) entries"
			lookup_runs "lookup.e$n" "$c"
		done
	done
	echo flush > $TH_PROC/nat
	th_set max_entries "$max0"
	th_set udp_timeout "$udp0"
	srv nft delete table ip benchsink
	spoof_neighbours del
}

# ---- lossy: long and lossy paths, where a relay that ends TCP on each
# side (split TCP) runs two short control loops instead of one long one.

declare -A OBJ=([routed]=$REAL:8090 [nft]=$RELAY:8091 [krelay]=$RELAY:8090
	[krelay_kernel]=$RELAY:8090
	[haproxy]=$RELAY:8092)
LOSSY_PATHS="routed nft haproxy krelay krelay_bbr krelay_kernel"
# The links: both ends of each veth pair.
LINKS="rc0 cli:eth0 rs0 srv:eth0"
on_link() {
	local l=$1
	shift
	case $l in
	*:*) ip netns exec "${l%%:*}" "$@" ;;
	*) "$@" ;;
	esac
}
link_dev() { echo "${1#*:}"; }

# links CONDITION: netem on every link (each way: 20 ms, so 40 ms a leg's
# round trip and 80 ms end to end), the rate cap, and a queue above the
# bandwidth-delay product; lossy adds loss on both ways of each leg;
# off removes it.
links() {
	local l loss q
	for l in $LINKS; do
		case $1 in
		off)
			on_link "$l" tc qdisc del dev "$(link_dev "$l")" root 2>/dev/null
			continue ;;
		lossy)
			case $l in rc0|cli:*) loss=$LOSSY_LOSS ;; *) loss=$LOSSY_LOSS_SRV ;; esac
			q="loss $loss" ;;
		clean) q= ;;
		esac
		# shellcheck disable=SC2086
		on_link "$l" tc qdisc replace dev "$(link_dev "$l")" root netem \
			delay 20ms $q rate "$LOSSY_RATE" limit 2000
	done
	rec "lossy.netem.$1" "\"$(tc qdisc show dev rc0 | head -1 | sed 's/.* refcnt [0-9]* //') | $(tc qdisc show dev rs0 | head -1 | sed 's/.* refcnt [0-9]* //')\""
}

# offloads_off / offloads_restore: every packet netem sees is one segment
# for this part (one lost GSO packet would be dozens of segments), then
# the links are as they were. Turning GSO off is not enough: TCP builds
# GSO packets in software whatever the device says, and netem on a
# sender's own link would drop them whole, a loss event per dozens of
# segments (the relays send on the client leg themselves, routing does
# not: they would gain from it). gso_max_segs 1 makes TCP send one
# segment a packet; GRO off keeps forwarded packets single too.
declare -A OFFLOADS
offloads_off() {
	local l d
	for l in $LINKS; do
		d=$(link_dev "$l")
		OFFLOADS[$l]=$(on_link "$l" ethtool -k "$d" | awk '
			/^tcp-segmentation-offload:/ { a = $2 }
			/^generic-segmentation-offload:/ { b = $2 }
			/^generic-receive-offload:/ { c = $2 }
			END { print "tso", a, "gso", b, "gro", c }')
		OFFLOADS[$l.segs]=$(on_link "$l" ip -d link show dev "$d" |
			sed -n 's/.* gso_max_segs \([0-9]*\).*/\1/p' | head -n 1)
		on_link "$l" ethtool -K "$d" tso off gso off gro off >/dev/null 2>&1
		on_link "$l" ip link set dev "$d" gso_max_segs 1 ||
			say "lossy: gso_max_segs 1 refused on $l"
	done
	rec "lossy.gso_max_segs" "$(ip -d link show dev rc0 | sed -n 's/.* gso_max_segs \([0-9]*\).*/\1/p' | head -n 1)"
}
offloads_restore() {
	local l d
	for l in $LINKS; do
		d=$(link_dev "$l")
		# shellcheck disable=SC2086
		on_link "$l" ethtool -K "$d" ${OFFLOADS[$l]} >/dev/null 2>&1
		on_link "$l" ip link set dev "$d" gso_max_segs "${OFFLOADS[$l.segs]:-65535}"
	done
}

# The relayed path krelay_bbr is krelay with client_cc bbr: the relay's
# sending side on the lossy leg. tcp_relay follows the knob within a
# second; each run records the algorithm ss shows on the client leg.
lossy_begin() {
	path_begin "${1%_bbr}"
	if [ "$1" = krelay_bbr ]; then
		th_set client_cc bbr || say "client_cc bbr refused"
		sleep 2
	fi
}
lossy_end() {
	[ "$1" = krelay_bbr ] && th_set client_cc ''
	path_end "${1%_bbr}"
	[ "$1" = krelay_bbr ] && sleep 2
	true
}
client_leg_cc() {
	ss -Htin state established "( dst 10.0.0.1 )" |
		grep -o -E -w 'bbr|cubic|reno' | head -1
}

# lossy_bulk KEY PATH STREAMS up|down
lossy_bulk() {
	local k=$1 p=$2 n=$3 a=${BULK[${2%_bbr}]} f=$T/iperf.json r=
	[ "$4" = down ] && r=-R
	# shellcheck disable=SC2086
	cli iperf3 -c "${a%:*}" -p "${a#*:}" -t "$LOSSY_DUR" -O 1 -P "$n" $r -J > "$f" 2>&1 &
	local pid=$!
	if [ "${p#krelay}" != "$p" ] && [ "$4" = down ]; then
		sleep 2
		rec "$k.cc" "$(client_leg_cc)"
	fi
	wait "$pid"
	rec "$k.$4$n.mbps" "$(jq '.end.sum_received.bits_per_second / 1e6' "$f" 2>/dev/null)"
}

# lossy_fetch KEY PATH: the time to fetch the 1 MB object, three times.
lossy_fetch() {
	local a=${OBJ[${2%_bbr}]} i t
	for i in 1 2 3; do
		t=$(cli curl -sS -o /dev/null --max-time 60 -w '%{time_total}' "http://$a/1m.bin" 2>/dev/null)
		rec "$1.fetch_ms" "$(awk -v t="$t" 'BEGIN { if (t > 0) printf "%.0f", t * 1000 }')"
	done
}

lossy() {
	local i c p ports0
	mkdir -p "$T/www"
	head -c 1M /dev/urandom > "$T/www/1m.bin"
	# (not through srv, a function: $! is then the server itself)
	ip netns exec srv python3 -m http.server 8090 --bind $REAL --directory "$T/www" \
		>/dev/null 2>&1 &
	local hp=$!
	th_wait_until 10 srv sh -c "ss -Hlnt 'sport = :8090' | grep -q ." || say "srv :8090 not up"
	ports0=$(th_knob tcp_ports)
	th_set tcp_ports "$ports0,8090"
	offloads_off
	rec meta.lossy_rate "$LOSSY_RATE"
	rec meta.lossy_dur "$LOSSY_DUR"
	for i in $(seq "$REPS"); do
		for c in lossy clean; do
			say "lossy: run $i, $c paths"
			links $c
			for p in $LOSSY_PATHS; do
				lossy_begin $p
				lossy_bulk "lossy.$c.$p" $p 1 down
				if [ $c = lossy ]; then
					lossy_bulk "lossy.$c.$p" $p 4 down
					lossy_bulk "lossy.$c.$p" $p 1 up
					lossy_bulk "lossy.$c.$p" $p 4 up
				fi
				lossy_fetch "lossy.$c.$p" $p
				lossy_end $p
			done
		done
	done
	links off
	offloads_restore
	th_set tcp_ports "$ports0"
	kill "$hp" 2>/dev/null
	pkill -f "http.server 8090 --bind $REAL"
}

# ---- main

say "setting up"
setup
printf 'test.lab A\n' > "$T/queries"
rec meta.kernel "$(uname -r)"
rec meta.cpu "\"$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)\""
rec meta.ncpu "$(nproc)"
rec meta.slub_debug "$(grep -o 'slub_debug=[^ ]*' /proc/cmdline || echo off)"
rec meta.reps "$REPS"
rec meta.dur "$DUR"
rec meta.lookup_q "$LOOKUP_Q"
rec meta.lookup_dur "$LOOKUP_DUR"
rec meta.hashsize "$(cat /sys/module/krelay/parameters/hashsize 2>/dev/null || echo default)"
for i in $(seq "$REPS"); do
	if want udp; then
		say "UDP run $i"
		for p in $UDP_PATHS; do path_begin $p; dns_run $p; path_end $p; done
	fi
	if want bulk; then
		say "bulk run $i"
		for n in 1 8; do
			for p in $TCP_PATHS; do path_begin $p; bulk_run $p $n; path_end $p; done
		done
	fi
	if want conn; then
		say "conn/s run $i"
		for c in 32 256; do
			for p in $TCP_PATHS; do path_begin $p; conn_run $p $c; path_end $p; done
		done
	fi
done
want mem && { say "memory"; mem; }
want scale && { say "scale"; scale; }
want flood && { say "flood"; flood; }
want lookup && { say "lookup"; lookup; }
want lossy && { say "long and lossy paths"; lossy; }
if want profile; then
	# krelay's connections/s with BENCH_BEFORE (an earlier tcp_relay
	# binary) and then the current one, each profiled once with perf.
	say "profile"
	# BENCH_NEXT: a candidate binary, measured after the current one.
	for v in before after next; do
		case $v in
		before) bin=${BENCH_BEFORE:-} ;;
		after) bin=$TH_TOP/tcp_relay/tcp_relay ;;
		next) bin=${BENCH_NEXT:-$TH_TOP/build/bench/tcp_relay.next} ;;
		esac
		[ -x "$bin" ] || continue
		tcp_relay_start "$bin"
		for c in 32 256; do
			for i in 1 2; do
				path_begin krelay
				conn_run krelay $c "profile.$v.conn$c"
				path_end krelay
			done
		done
		path_begin krelay
		perf record -e cpu-clock -a -o "$T/perf.data" -- sleep $((DUR + 1)) 2>/dev/null &
		sleep 0.5
		conn_run krelay 32 "profile.$v.perf"
		wait $!
		path_end krelay
		perf report -i "$T/perf.data" --sort comm --stdio 2>/dev/null |
			grep -v '^#' | grep . | head -30 > "$OUT/perf-$v-comm.txt"
		perf report -i "$T/perf.data" --sort dso,sym --stdio 2>/dev/null |
			grep -v '^#' | grep . | head -60 > "$OUT/perf-$v-sym.txt"
		perf report -i "$T/perf.data" --comm tcp_relay --sort pid,sym --stdio \
			2>/dev/null | grep -v '^#' | grep . | head -60 > "$OUT/perf-$v-tcp_relay.txt"
	done
fi
cat /proc/krelay/stats > "$OUT/krelay-stats.txt"
say "done"
