#!/bin/bash
# shellcheck disable=SC2016
# webadmin with the real krelay module, in the lab:
#
#   curl ──HTTP──▶ webadmin 127.0.0.1:8080 ──▶ /proc/krelay, /sys/module/krelay,
#                        │                       the TABLE socket option
#                        └─ fork/exec ──▶ tcp_relay (follows gport)
#
#   cli 10.0.0.1, 10.0.0.3 --- relay 10.0.0.2 | 192.168.0.2 --- srv 192.168.0.10
#                                                               httpd :80, dnsmasq :53
#
# The host suite (webadmin_host_test.sh) covers webadmin's own logic
# against knob files in a folder; this one checks every route against the
# kernel: values in /proc, EINVAL paths, flows made by real clients, the
# start parameter, rmmod, and tcp_relay following a gport change without
# cutting connections.
# lab-budget: 720 s (usually 100-200 s on 2 cores under TCG)

. "$(dirname "$0")/lib.sh"

WA=$TH_TOP/webadmin/webadmin
URL=http://127.0.0.1:8080
RELAY=192.168.0.2
KNOBS="gport real_ip tcp_ports udp_ports max_entries udp_timeout udp_stream_timeout tcp_timeout_established tcp_timeout_close max_per_client relay_max_pairs relay_max_per_client relay_idle_timeout relay_connect_timeout tcp_mode"
DEFAULTS="16000 192.168.0.10 53,80 53 262144 30 120 432000 10 0 256 64 300 10 user"
WA_PID=
T=

# ---- helpers ----------------------------------------------------------------

# wa_start [webadmin args...]: webadmin in the foreground, supervising
# tcp_relay; wait until it answers.
# WEBADMIN_VALGRIND=1 (webadmin_valgrind_test.sh) runs it under memcheck.
wa_start() {
	local vg=() secs=15

	if [ "${WEBADMIN_VALGRIND:-0}" = 1 ]; then
		# shellcheck disable=SC2054 # the commas belong to one option
		vg=(valgrind --quiet --leak-check=full --error-exitcode=99
		    --errors-for-leak-kinds=definite,indirect
		    --log-file="$T/valgrind.%p.log")
		secs=120
	fi
	"${vg[@]}" "$WA" -f -l 127.0.0.1:8080 -s "$T/secret" -w "$TH_TOP/www" "$@" \
		-r "$TH_TOP/tcp_relay/tcp_relay" -P "$T/tcp_relay.pid" -- -a \
		>>"$T/webadmin.log" 2>&1 &
	WA_PID=$!
	if ! th_wait_until "$secs" curl -sf -o /dev/null "$URL/"; then
		cat "$T/webadmin.log" >&2
		return 1
	fi
	PASS=$(cut -d: -f2- "$T/secret")
}

wa_stop() {
	[ -n "$WA_PID" ] || return 0
	kill -TERM "$WA_PID" 2>/dev/null
	wait "$WA_PID"
	WA_RC=$?
	WA_PID=
}

# relay_pid: the running tcp_relay's pid (from its pidfile).
relay_pid() {
	local p
	p=$(cat "$T/tcp_relay.pid" 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo "$p"
}

relay_listens() { ss -Hlnt "sport = :$1" | grep -q .; }

# req METHOD PATH [curl args...]: CODE, body in $T/body, headers in $T/hdr.
req() {
	local method=$1 path=$2
	shift 2
	CODE=$(curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code}' -X "$method" \
		"$@" "$URL$path")
}

areq() {
	local method=$1 path=$2
	shift 2
	req "$method" "$path" -u "admin:$PASS" "$@"
}

# ajson METHOD PATH BODY: an authenticated JSON request.
ajson() { areq "$1" "$2" -H 'Content-Type: application/json' --data-binary "$3"; }

# jv FILTER: a jq filter over the last body; strings raw, the rest compact
# JSON. (jq, not python3: its start is 20 times quicker in the guest.)
jv() { jq -rc "$1" "$T/body"; }

# knobs_now: every knob's value on one line (builtins only: forks are slow
# under TCG).
knobs_now() {
	local k v out=
	for k in $KNOBS; do
		read -r v <"$TH_PROC/$k"
		out="$out $v"
	done
	echo "${out# }"
}

restore_defaults() {
	local k v
	# shellcheck disable=SC2086
	set -- $DEFAULTS
	for k in $KNOBS; do
		v=$1
		shift
		[ "$(th_knob "$k")" = "$v" ] || th_set "$k" "$v"
	done
	[ -z "$(th_knob interfaces)" ] || th_set interfaces ''
}

# dig_from ADDR PORT: one DNS query from the client at ADDR:PORT.
dig_from() {
	cli dig +short +tries=1 +time=5 -b "$1#$2" @$RELAY test.lab
}

# curl_from PORT: one page through the relay from 10.0.0.1:PORT.
curl_from() {
	cli curl -sS --max-time 10 --local-port "$1" http://$RELAY/
}

# nat_keys: "proto client" of every flow in /proc/krelay/nat, sorted.
nat_keys() { awk 'NR > 1 { print $1, $3 }' $TH_PROC/nat | sort; }

# check_prometheus FILE: a strict parse of Prometheus text (tests/promcheck.py).
check_prometheus() { python3 "$TH_TOP/tests/promcheck.py" "$1"; }

# metric LINE_PREFIX: the value of the sample whose name{labels} is given.
metric() { awk -v k="$1" '$1 == k { print $2 }' "$T/body"; }

# ---- set-up -------------------------------------------------------------------

oneTimeSetUp() {
	T=$SHUNIT_TMPDIR
	th_in_lab || { echo "run in the lab: tests/lab/run $(basename "$0")"; exit 1; }
	mkdir -p "$T/www"
	echo "webadmin test page $$" >"$T/www/index.html"
	th_krelay_unload
	th_krelay_load start=1 || exit 1
	# A second client address, so that the client filter has something to
	# leave out.
	ip -n cli addr add 10.0.0.3/24 dev eth0
	srv python3 "$TH_TOP/tests/httpd.py" 80 --bind 192.168.0.10 --directory "$T/www" \
		2>"$T/http.log" >/dev/null &
	srv dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
		--no-hosts --bind-interfaces --listen-address=192.168.0.10 \
		--user=root --address=/test.lab/192.0.2.1 --pid-file="$T/dns.pid" &
	th_wait_until $((15 * TH_SCALE)) srv sh -c "ss -Hlnt 'src 192.168.0.10:80' | grep -q ." ||
		{ echo "httpd did not start"; exit 1; }
	wa_start || { echo "webadmin did not start"; exit 1; }
	th_wait_until 10 relay_pid || { echo "tcp_relay did not start"; exit 1; }
	th_wait_port tcp 0.0.0.0 16000 ||
		{ echo "tcp_relay does not listen"; cat "$T/webadmin.log"; exit 1; }
}

oneTimeTearDown() {
	local p
	wa_stop
	p=$(relay_pid) && th_kill_wait "$p"
	[ -s "$T/dns.pid" ] && th_kill_wait "$(cat "$T/dns.pid")"
	pkill -f "httpd.py 80 --bind 192.168.0.10"
	ip -n cli addr del 10.0.0.3/24 dev eth0 2>/dev/null
	th_krelay_unload
}

setUp() {
	[ -d /sys/module/krelay ] || th_krelay_load start=1
	[ -n "$WA_PID" ] || wa_start
	[ "$(cat $TH_START)" = 1 ] || echo 1 >$TH_START
	restore_defaults
	echo flush >$TH_PROC/nat
	TEST_START=$SECONDS
}

tearDown() {
	echo "  ($((SECONDS - ${TEST_START:-$SECONDS})) s)"
	# shellcheck disable=SC2154
	if [ "${__shunit_testSuccess:-0}" != 0 ]; then
		echo "---- webadmin log (last 20 lines)"
		tail -20 "$T/webadmin.log"
		echo "---- last body: $(head -c 600 "$T/body" 2>/dev/null)"
	fi
}

# ---- routes -------------------------------------------------------------------

testStatusShowsModuleLoadedAndStarted() {
	areq GET /api/status
	assertEquals "GET /api/status status" 200 "$CODE"
	assertEquals "module.loaded" true "$(jv .module.loaded)"
	assertEquals "module.started" true "$(jv .module.started)"
	assertEquals "tcp_relay.running" true "$(jv .tcp_relay.running)"
	assertEquals "tcp_relay.pid vs the pidfile" "$(relay_pid)" "$(jv .tcp_relay.pid)"
	assertEquals "config.gport vs /proc" "$(th_knob gport)" "$(jv .config.gport)"
	assertEquals "stats.entries_udp vs /proc" \
		"$(th_stat entries_udp)" "$(jv .stats.entries_udp)"
}

testConfigGetEqualsProc() {
	areq GET /api/config
	assertEquals "GET /api/config status" 200 "$CODE"
	assertEquals "the JSON values vs /proc/krelay ($KNOBS)" "$(knobs_now)" \
		"$(jv "[$(echo ".$KNOBS" | sed 's/ /, ./g')] | map(if type == \"array\" then map(tostring) | join(\",\") else tostring end) | join(\" \")")"
	assertEquals "the JSON has exactly the knobs" "$(echo $KNOBS interfaces client_cc server_cc | tr ' ' '\n' | sort | paste -sd' ')" \
		"$(jv 'keys | join(" ")')"
	assertEquals "interfaces: a string, empty for every interface" '""' \
		"$(jv '.interfaces | tojson')"
	th_set interfaces rc0,rs+
	areq GET /api/config
	assertEquals "interfaces vs /proc" "$(th_knob interfaces)" "$(jv .interfaces)"
}

testConfigPutSubsetChangesProc() {
	ajson PUT /api/config '{"udp_timeout": 45, "tcp_timeout_close": 7, "max_entries": 100000, "udp_ports": [53, 5353]}'
	assertEquals "PUT good subset: $(cat "$T/body")" 200 "$CODE"
	assertEquals "/proc after the PUT" \
		"16000 192.168.0.10 53,80 53,5353 100000 45 120 432000 7 0 256 64 300 10 user" "$(knobs_now)"
	assertEquals "the answer is the new config" "[53,5353]" "$(jv .udp_ports)"
	assertEquals "answer max_entries" 100000 "$(jv .max_entries)"
	areq GET /api/config
	assertEquals "GET after PUT" 45 "$(jv .udp_timeout)"
}

testConfigPutBadFieldChangesNothing() {
	local before body field named ifs
	th_set udp_timeout 33
	th_set interfaces rc0
	before=$(knobs_now)
	while read -r field body; do
		ajson PUT /api/config "$body"
		assertEquals "status of $body" 400 "$CODE"
		# one jq for both (forks are slow under TCG)
		named=$(jv '.field + " " + (.error | split(":")[0])')
		assertEquals "field named, and the error starts with it, for $body" \
			"$field $field" "$named"
		assertEquals "/proc unchanged after $body" "$before" "$(knobs_now)"
		read -r ifs <"$TH_PROC/interfaces"
		assertEquals "interfaces unchanged after $body" rc0 "$ifs"
	done <<-'EOF'
	max_entries {"udp_timeout": 46, "tcp_timeout_close": 5, "gport": 16005, "max_entries": 0}
	tcp_ports {"gport": 16005, "udp_timeout": 46, "tcp_ports": [53, 80, 80]}
	real_ip {"udp_timeout": 46, "real_ip": "127.0.0.1"}
	gport {"udp_timeout": 46, "gport": 80}
	tcp_ports {"udp_timeout": 46, "tcp_ports": [53, 16000]}
	colour {"udp_timeout": 46, "colour": "blue"}
	udp_stream_timeout {"udp_timeout": 46, "udp_stream_timeout": 86401}
	interfaces {"udp_timeout": 46, "gport": 16005, "interfaces": "rc0/1"}
	interfaces {"udp_timeout": 46, "interfaces": "rs0,rs0"}
	interfaces {"udp_timeout": 46, "interfaces": "a,b,c,d,e,f,g,h,i"}
	interfaces {"max_entries": 5, "interfaces": "abcdefghijklmno+"}
	interfaces {"udp_timeout": 46, "interfaces": ["rs0"]}
	udp_timeout {"interfaces": "rs0", "udp_timeout": 0}
	max_per_client {"udp_timeout": 46, "gport": 16005, "max_per_client": 4194305}
	max_per_client {"udp_timeout": 46, "max_per_client": -1}
	max_per_client {"max_per_client": "5"}
	client_cc {"udp_timeout": 46, "client_cc": "re no"}
	client_cc {"client_cc": 5}
	server_cc {"udp_timeout": 46, "gport": 16005, "server_cc": "nosuchcc"}
	EOF
}

# max_per_client through the API: read back from the kernel, and in force:
# at the limit a client's new flows are dropped and counted, in the stats
# and in /metrics, while another client is still relayed.
testConfigPutMaxPerClientReachesTheKernel() {
	local drops
	areq GET /api/config
	assertEquals "GET: 0, no limit" 0 "$(jv .max_per_client)"
	ajson PUT /api/config '{"max_per_client": 2}'
	assertEquals "PUT max_per_client 2: $(cat "$T/body")" 200 "$CODE"
	assertEquals "the answer" 2 "$(jv .max_per_client)"
	assertEquals "/proc/krelay/max_per_client" 2 "$(th_knob max_per_client)"
	areq GET /api/config
	assertEquals "GET after PUT" 2 "$(jv .max_per_client)"

	drops=$(th_stat drop_per_client)
	assertEquals "first flow of 10.0.0.1" 192.0.2.1 "$(dig_from 10.0.0.1 41101)"
	assertEquals "second flow of 10.0.0.1" 192.0.2.1 "$(dig_from 10.0.0.1 41102)"
	assertNotEquals "a third flow of 10.0.0.1 is dropped" 192.0.2.1 \
		"$(dig_from 10.0.0.1 41103 2>/dev/null)"
	assertEquals "drop_per_client counted it" $((drops + 1)) "$(th_stat drop_per_client)"
	assertEquals "another client is still relayed" 192.0.2.1 "$(dig_from 10.0.0.3 41104)"
	areq GET /metrics
	assertEquals 'krelay_drops_total{reason="per_client"} vs stats' \
		"$(th_stat drop_per_client)" "$(metric 'krelay_drops_total{reason="per_client"}')"

	ajson PUT /api/config '{"max_per_client": 0}'
	assertEquals "PUT 0 (no limit)" 200 "$CODE"
	assertEquals "/proc/krelay/max_per_client cleared" 0 "$(th_knob max_per_client)"
	assertEquals "10.0.0.1 relayed again" 192.0.2.1 "$(dig_from 10.0.0.1 41105)"
}

# The scope through the API: set, read back, in force for new flows, and
# cleared with an empty string.
testConfigPutInterfacesReachesTheKernel() {
	ajson PUT /api/config '{"interfaces": "rc0, rs+"}'
	assertEquals "PUT interfaces: $(cat "$T/body")" 200 "$CODE"
	assertEquals "the answer, canonical" rc0,rs+ "$(jv .interfaces)"
	assertEquals "/proc/krelay/interfaces" rc0,rs+ "$(th_knob interfaces)"
	areq GET /api/config
	assertEquals "GET after PUT" rc0,rs+ "$(jv .interfaces)"
	assertEquals "relayed: the client's interface rc0 is in scope" 192.0.2.1 \
		"$(dig_from 10.0.0.1 41001)"

	ajson PUT /api/config '{"interfaces": "rs0"}'
	assertEquals "PUT interfaces rs0" 200 "$CODE"
	assertNotEquals "not relayed: rc0 is out of scope" 192.0.2.1 \
		"$(dig_from 10.0.0.1 41002 2>/dev/null)"
	assertEquals "no flow from it" "" "$(nat_keys | grep 41002)"

	ajson PUT /api/config '{"interfaces": ""}'
	assertEquals "PUT an empty interfaces: $(cat "$T/body")" 200 "$CODE"
	assertEquals "the answer: an empty string" '""' "$(jv '.interfaces | tojson')"
	assertEquals "/proc/krelay/interfaces cleared" "" "$(th_knob interfaces)"
	assertEquals "relayed again on every interface" 192.0.2.1 "$(dig_from 10.0.0.1 41003)"
}

# With -c, interfaces reaches the file, an empty value as "interfaces =",
# and krelayctl apply puts that file into the module.
testConfigFileCarriesInterfacesForKrelayctlApply() {
	local conf=$T/krelay.conf
	rm -f "$conf"
	wa_stop
	wa_start -c "$conf" || fail "webadmin -c did not start"
	ajson PUT /api/config '{"interfaces": "rc0,rs+", "udp_timeout": 44, "max_per_client": 50}'
	assertEquals "PUT interfaces, udp_timeout and max_per_client" 200 "$CODE"
	assertTrue "the file has them: $(cat "$conf" 2>&1)" \
		"grep -qx 'interfaces = rc0,rs+' '$conf' && grep -qx 'udp_timeout = 44' '$conf' &&
		 grep -qx 'max_per_client = 50' '$conf'"
	ajson PUT /api/config '{"interfaces": ""}'
	assertEquals "PUT an empty interfaces" 200 "$CODE"
	assertEquals "the file's interfaces line" "interfaces =" "$(grep '^interfaces' "$conf")"
	wa_stop
	wa_start || fail "webadmin did not start again"

	th_set interfaces rs0
	th_set udp_timeout 30
	th_set max_per_client 0
	"$TH_TOP/krelayctl/krelayctl" apply "$conf" 2>"$T/apply.err"
	rc=$?
	assertEquals "krelayctl apply of webadmin's file: $(cat "$T/apply.err")" 0 "$rc"
	assertEquals "the empty interfaces reached the module" "" "$(th_knob interfaces)"
	assertEquals "and udp_timeout" 44 "$(th_knob udp_timeout)"
	assertEquals "and max_per_client" 50 "$(th_knob max_per_client)"
}

# webadmin -c puts the file's max_per_client into the module at start; a
# bad one is refused with its line.
testConfigFileMaxPerClientAppliedAtStart() {
	local conf=$T/krelay.conf
	printf 'udp_timeout = 31\nmax_per_client = 40\n' >"$conf"
	wa_stop
	wa_start -c "$conf" || fail "webadmin -c did not start"
	th_wait_until 5 sh -c "[ \$(cat $TH_PROC/max_per_client) = 40 ]"
	assertEquals "the file's max_per_client in /proc" 40 "$(th_knob max_per_client)"
	areq GET /api/config
	assertEquals "and in the API" 40 "$(jv .max_per_client)"
	wa_stop

	printf 'max_per_client = 4194305\n' >"$conf"
	"$WA" -f -l 127.0.0.1:8080 -s "$T/secret" -w "$TH_TOP/www" -c "$conf" \
		>"$T/bad.log" 2>&1
	assertEquals "a bad max_per_client line: exit status" 1 $?
	assertTrue "names the line: $(cat "$T/bad.log")" \
		"grep -q 'krelay.conf:1: max_per_client: must be' '$T/bad.log'"
	wa_start || fail "webadmin did not start again"
}

testStartFalseThenTrue() {
	ajson PUT /api/start '{"started": false}'
	assertEquals "PUT started false" 200 "$CODE"
	assertEquals "answer" false "$(jv .started)"
	assertEquals "$TH_START after false" 0 "$(cat $TH_START)"
	areq GET /api/status
	assertEquals "status after false" false "$(jv .module.started)"
	ajson PUT /api/start '{"started": true}'
	assertEquals "PUT started true" 200 "$CODE"
	assertEquals "answer" true "$(jv .started)"
	assertEquals "$TH_START after true" 1 "$(cat $TH_START)"
	areq GET /api/status
	assertEquals "status after true" true "$(jv .module.started)"
	assertEquals "relaying again after the restart" 192.0.2.1 "$(dig_from 10.0.0.1 40001)"
}

# Every field of the UDP and TCP flows against the nat file's columns.
check_flows() {
	python3 - "$T/body" "$TH_PROC/nat" <<-'EOF'
	import json, sys
	d = json.load(open(sys.argv[1]))
	lines = [l.split() for l in open(sys.argv[2]).read().splitlines()[1:]]
	proc = {(l[0], l[2]): l for l in lines}
	errs = []
	def want(what, exp, got):
	    if exp != got: errs.append('%s: expected %r, got %r' % (what, exp, got))
	def num(s): return None if s == '-' else int(s)
	want('count', len(lines), d['count'])
	want('next (the whole table in one page)', None, d['next'])
	byk = {(e['proto'], e['client']): e for e in d['entries']}
	for key, relay, server, tcp in ((('udp', '10.0.0.1:40053'), '192.168.0.2:53', '192.168.0.10:53', False),
	                                (('tcp', '10.0.0.1:40080'), '192.168.0.2:80', '192.168.0.10:80', True)):
	    e, l = byk.get(key), proc.get(key)
	    if not e or not l:
	        errs.append('%s %s: expected in the API and /proc, got api=%r proc=%r' % (key + (e, l)))
	        continue
	    want('%s relay' % (key,), relay, e['relay'])
	    want('%s server' % (key,), server, e['server'])
	    want('%s state vs /proc' % (key,), l[1], e['state'])
	    want('%s relay vs /proc' % (key,), l[3], e['relay'])
	    want('%s server vs /proc' % (key,), l[4], e['server'])
	    want('%s gport vs /proc' % (key,), num(l[5]), e['gport'])
	    want('%s relay_port vs /proc' % (key,), num(l[6]), e['relay_port'])
	    for f in ('packets', 'bytes'):
	        v = e[f]
	        if not (isinstance(v, dict) and sorted(v) == ['orig', 'reply'] and
	                all(isinstance(x, int) and x > 0 for x in v.values())):
	            errs.append('%s %s: expected {orig>0, reply>0}, got %r' % (key, f, v))
	        else:
	            want('%s %s orig+reply vs /proc' % (key, f), int(l[9 if f == 'packets' else 10]), v['orig'] + v['reply'])
	    if tcp:
	        want('tcp gport', 16000, e['gport'])
	        if not isinstance(e['relay_port'], int) or not 1 <= e['relay_port'] <= 65535:
	            errs.append('tcp relay_port: expected a port, got %r' % e['relay_port'])
	        if e['state'] not in ('ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'TIME_WAIT', 'CLOSE'):
	            errs.append('tcp state: expected ESTABLISHED or closing, got %r' % e['state'])
	    else:
	        want('udp gport', None, e['gport'])
	        want('udp relay_port', None, e['relay_port'])
	        if e['state'] not in ('REPLIED', 'STREAM'):
	            errs.append('udp state: expected REPLIED or STREAM, got %r' % e['state'])
	    for f in ('age_s', 'idle_s'):
	        if not isinstance(e[f], int) or e[f] < 0:
	            errs.append('%s %s: expected an integer >= 0, got %r' % (key, f, e[f]))
	print('\n'.join(errs) or 'OK')
	EOF
}

testNatShowsUdpAndTcpFlows() {
	th_set tcp_timeout_close 600
	assertEquals "dig through the relay" 192.0.2.1 "$(dig_from 10.0.0.1 40053)"
	assertEquals "curl through the relay" "$(cat "$T/www/index.html")" "$(curl_from 40080)"
	sleep 0.3	# the last ACK
	areq GET /api/nat
	assertEquals "GET /api/nat status" 200 "$CODE"
	assertEquals "content type" application/json "$(tr -d '\r' <"$T/hdr" | sed -n 's/^content-type: //Ip')"
	assertEquals "flows in the API vs /proc/krelay/nat ($(cat $TH_PROC/nat))" OK "$(check_flows)"
}

# nat_query QUERY: "count next entries protos clients" of GET /api/nat?QUERY.
nat_query() {
	areq GET "/api/nat?$1"
	[ "$CODE" = 200 ] || { echo "HTTP $CODE"; return; }
	jv 'def dash: if . == "" then "-" else . end;
		"\(.count) \(.next) \(.entries | length) \([.entries[].proto] | unique | join(",") | dash) \([.entries[].client] | join(",") | dash)"'
}

# nat_walk QUERY: every page of GET /api/nat?QUERY, following next: one line
# "n client,client..." per page.
nat_walk() {
	local cursor= pages=0
	while :; do
		areq GET "/api/nat?$1${cursor:+&cursor=$cursor}"
		[ "$CODE" = 200 ] || { echo "HTTP $CODE"; return; }
		jv '"\(.entries | length) \([.entries[].client] | join(","))"'
		cursor=$(jv '.next // ""')
		pages=$((pages + 1))
		[ -n "$cursor" ] && [ $pages -lt 20 ] || return 0
	done
}

testNatPagingAndFilters() {
	local p all walk
	th_set tcp_timeout_close 600	# the closed TCP flow stays for the test
	th_set udp_timeout 600		# and the DNS flows (a slow kernel takes minutes)
	for p in 40101 40102 40103 40104 40105; do dig_from 10.0.0.1 $p >/dev/null; done
	for p in 40201 40202; do dig_from 10.0.0.3 $p >/dev/null; done
	curl_from 40180 >/dev/null
	assertEquals "flows in /proc/krelay/nat" 8 "$(nat_keys | wc -l)"

	all=$(nat_query "")
	assertEquals "everything: count next n protos" "8 null 8 tcp,udp" "$(echo "$all" | cut -d' ' -f1-4)"
	# Pages of 3 (whole hash buckets: at most 3 each) following next put
	# together are the whole table, each flow once.
	walk=$(nat_walk limit=3)
	assertTrue "pages of at most 3: $walk" \
		"echo '$walk' | awk '\$1 < 1 || \$1 > 3 { exit 1 }'"
	assertTrue "at least 3 pages: $walk" "[ $(echo "$walk" | wc -l) -ge 3 ]"
	assertEquals "pages of 3 put together are the whole table, once each" \
		"$(echo "$all" | cut -d' ' -f5 | tr , '\n' | sort)" \
		"$(echo "$walk" | cut -d' ' -f2 | tr , '\n' | sort)"
	areq GET "/api/nat?limit=0"
	assertEquals "limit=0" 400 "$CODE"
	areq GET "/api/nat?cursor=ffffffff00000000"
	assertEquals "a cursor past the hash table: $(cat "$T/body")" 400 "$CODE"

	# Filters run in the kernel; count stays the table's size.
	assertEquals "proto=tcp" "8 null 1 tcp 10.0.0.1:40180" "$(nat_query proto=tcp)"
	assertEquals "proto=udp: count next n protos" "8 null 7 udp" "$(nat_query proto=udp | cut -d' ' -f1-4)"
	assertEquals "client=10.0.0.3" "8 null 2 udp" "$(nat_query client=10.0.0.3 | cut -d' ' -f1-4)"
	assertEquals "client=10.0.0.3 clients" "10.0.0.3:40201,10.0.0.3:40202" \
		"$(nat_query client=10.0.0.3 | cut -d' ' -f5 | tr , '\n' | sort | paste -sd,)"
	assertEquals "client=10.0.0.1:40103" "8 null 1 udp 10.0.0.1:40103" "$(nat_query client=10.0.0.1:40103)"
	assertEquals "client=10.0.0.1&proto=udp" "8 null 5 udp" \
		"$(nat_query 'client=10.0.0.1&proto=udp' | cut -d' ' -f1-4)"
	assertEquals "client=10.0.0.2/31 (.2 and .3)" "8 null 2 udp" \
		"$(nat_query client=10.0.0.2/31 | cut -d' ' -f1-4)"
	assertEquals "client=10.0.0.0/30 (.0 to .3)" "8 null 8 tcp,udp" \
		"$(nat_query client=10.0.0.0/30 | cut -d' ' -f1-4)"
	assertEquals "client=10.0.0.0/0 (everyone)" "8 null 8" \
		"$(nat_query client=10.0.0.0/0 | cut -d' ' -f1-3)"
	assertEquals "state=REPLIED" "8 null 7 udp" "$(nat_query state=REPLIED | cut -d' ' -f1-4)"
	assertEquals "state=replied (any case)" "8 null 7 udp" "$(nat_query state=replied | cut -d' ' -f1-4)"
	assertEquals "state=SYN_SENT (nobody)" "8 null 0 - -" "$(nat_query state=SYN_SENT)"
	assertEquals "client=10.0.0.9 (nobody)" "8 null 0 - -" "$(nat_query client=10.0.0.9)"
}

testNatDeleteRemovesExactlyThatFlow() {
	local p before after
	th_set udp_timeout 600		# the flows stay for the test on a slow kernel
	for p in 40301 40302 40303; do dig_from 10.0.0.1 $p >/dev/null; done
	dig_from 10.0.0.3 40302 >/dev/null
	before=$(nat_keys)
	assertEquals "flows before" 4 "$(echo "$before" | wc -l)"
	ajson DELETE '/api/nat?proto=udp&client=10.0.0.1:40302' ''
	assertEquals "DELETE one flow: $(cat "$T/body")" 200 "$CODE"
	after=$(nat_keys)
	assertEquals "flows left in /proc/krelay/nat" \
		"$(echo "$before" | grep -vx 'udp 10.0.0.1:40302')" "$after"
	ajson DELETE '/api/nat?proto=udp&client=10.0.0.1:40302' ''
	assertEquals "the same flow again" 404 "$CODE"
	ajson DELETE '/api/nat?proto=tcp&client=10.0.0.1:40301' ''
	assertEquals "right client, wrong protocol" 404 "$CODE"
	assertEquals "nothing else removed" "$after" "$(nat_keys)"
}

testNatDeleteAllFlushes() {
	# the flows stay for the test on a slow kernel (the TCP one closed)
	th_set udp_timeout 600
	th_set tcp_timeout_close 600
	dig_from 10.0.0.1 40401 >/dev/null
	curl_from 40402 >/dev/null
	assertEquals "flows before" 2 "$(nat_keys | wc -l)"
	# a mistyped or missing parameter is refused, never a flush
	for q in '' '?al=1' '?all=yes' '?all=1&proto=udp'; do
		ajson DELETE "/api/nat$q" ''
		assertEquals "DELETE /api/nat$q" 400 "$CODE"
		assertEquals "flows after DELETE /api/nat$q" 2 "$(nat_keys | wc -l)"
	done
	ajson DELETE '/api/nat?all=1' ''
	assertEquals "DELETE /api/nat?all=1" 200 "$CODE"
	assertEquals "/proc/krelay/nat after the flush" \
		"proto state client relay server gport relay_port age_s idle_s packets bytes" \
		"$(cat $TH_PROC/nat)"
	assertEquals "API count after the flush" "0 null 0 - -" "$(nat_query "")"
}

testMetricsMatchTheStats() {
	local p
	th_set tcp_timeout_close 600
	for p in 40501 40502 40503; do dig_from 10.0.0.1 $p >/dev/null; done
	curl_from 40504 >/dev/null
	sleep 0.3
	areq GET /metrics
	assertEquals "GET /metrics" 200 "$CODE"
	assertTrue "strict Prometheus parse: $(check_prometheus "$T/body" 2>&1)" \
		"check_prometheus '$T/body'"
	assertEquals 'krelay_nat_entries{proto="udp"} vs stats' "$(th_stat entries_udp)" \
		"$(metric 'krelay_nat_entries{proto="udp"}')"
	assertEquals 'krelay_nat_entries{proto="udp"}' 3 "$(metric 'krelay_nat_entries{proto="udp"}')"
	assertEquals 'krelay_nat_entries{proto="tcp"} vs stats' "$(th_stat entries_tcp)" \
		"$(metric 'krelay_nat_entries{proto="tcp"}')"
	assertEquals 'krelay_packets_total{hook="pre",proto="udp"} vs stats' \
		"$(th_stat translated_pre_udp)" "$(metric 'krelay_packets_total{hook="pre",proto="udp"}')"
	assertEquals 'krelay_drops_total{reason="table_full"} vs stats' \
		"$(th_stat drop_table_full)" "$(metric 'krelay_drops_total{reason="table_full"}')"
	local stat series
	while read -r stat series; do
		assertNotNull "the module counts $stat" "$(th_stat "$stat")"
		assertEquals "$series vs stats" "$(th_stat "$stat")" "$(metric "$series")"
	done <<-'EOF'
	drop_per_client krelay_drops_total{reason="per_client"}
	icmp_bad_checksum krelay_drops_total{reason="icmp_bad_checksum"}
	icmp_redirect krelay_drops_total{reason="icmp_redirect"}
	invalid krelay_ignored_total{reason="invalid"}
	out_of_window krelay_ignored_total{reason="out_of_window"}
	impostor krelay_ignored_total{reason="impostor"}
	EOF
	assertEquals "krelay_nat_entries_limit vs max_entries" "$(th_knob max_entries)" \
		"$(metric krelay_nat_entries_limit)"
	assertEquals "krelay_module_loaded" 1 "$(metric krelay_module_loaded)"
	assertEquals "krelay_started" 1 "$(metric krelay_started)"
	assertEquals "krelay_tcp_relay_up" 1 "$(metric krelay_tcp_relay_up)"
}

# api_gport PORT: the gport of the API's TCP flow from 10.0.0.1:PORT.
api_gport() {
	areq GET /api/nat
	jv ".entries[] | select(.proto == \"tcp\" and .client == \"10.0.0.1:$1\") | .gport"
}

# tcp_mode through the API: the kernel relays new connections (its
# listener's port in the flow and in the metrics), tcp_relay stays
# supervised, and back to user mode tcp_relay relays again.
testTcpModeKernelThroughTheApi() {
	local page pairs0 lport
	th_set tcp_timeout_close 600
	page=$(cat "$T/www/index.html")
	ajson PUT /api/config '{"tcp_mode": "kernel"}'
	assertEquals "PUT tcp_mode kernel: $(cat "$T/body")" 200 "$CODE"
	assertEquals "tcp_mode in /proc" kernel "$(th_knob tcp_mode)"
	areq GET /api/config
	assertEquals "tcp_mode in GET /api/config" kernel "$(jv .tcp_mode)"
	lport=$(th_stat kernel_listener_port)
	assertTrue "the kernel listener has a port: $lport" "[ ${lport:-0} -gt 0 ]"
	areq GET /metrics
	pairs0=$(metric krelay_kernel_pairs_total)
	assertEquals "curl in kernel mode" "$page" "$(curl_from 40611)"
	assertEquals "the flow's gport is the kernel listener's" "$lport" "$(api_gport 40611)"
	areq GET /metrics
	assertEquals "krelay_kernel_listener_port" "$lport" "$(metric krelay_kernel_listener_port)"
	assertEquals "krelay_kernel_pairs_total grew by one (from $pairs0)" $((pairs0 + 1)) \
		"$(metric krelay_kernel_pairs_total)"
	assertTrue "krelay_kernel_bytes_total counts the page" \
		"[ $(metric krelay_kernel_bytes_total) -gt ${#page} ]"
	assertEquals "tcp_relay still supervised" 1 "$(metric krelay_tcp_relay_up)"
	ajson PUT /api/config '{"tcp_mode": "user"}'
	assertEquals "PUT tcp_mode user" 200 "$CODE"
	assertEquals "curl back in user mode" "$page" "$(curl_from 40612)"
	assertEquals "the flow's gport is tcp_relay's" "$(th_knob gport)" "$(api_gport 40612)"
	areq GET /metrics
	assertEquals "no kernel listener in user mode" 0 "$(metric krelay_kernel_listener_port)"
	assertEquals "no new kernel pair in user mode" $((pairs0 + 1)) \
		"$(metric krelay_kernel_pairs_total)"
}

testGportChangeTcpRelayFollowsWithoutCuttingConnections() {
	local hold
	rm -f "$T/go" "$T/held.out"
	# A connection accepted on the old gport, idle until told to finish
	# its request (begun at once: tcp_relay cuts a connection that says
	# nothing for 10 s, which a slow kernel takes to get to the end).
	cli bash -c "exec 3<>/dev/tcp/$RELAY/80 || exit 1
		printf 'GET / HTTP/1.0\r\n' >&3
		while [ ! -e '$T/go' ]; do sleep 0.1; done
		printf '\r\n' >&3; cat <&3" >"$T/held.out" 2>&1 &
	hold=$!
	th_wait_until 10 sh -c "ss -Htn state established '( sport = :16000 )' | grep -q ." ||
		fail "the held connection did not reach tcp_relay"

	ajson PUT /api/config '{"gport": 16001}'
	assertEquals "PUT gport 16001: $(cat "$T/body")" 200 "$CODE"
	assertEquals "/proc/krelay/gport" 16001 "$(th_knob gport)"
	th_wait_until 5 relay_listens 16001
	assertTrue "tcp_relay listens on 16001: $(ss -Hlnt)" "relay_listens 16001"
	assertTrue "webadmin sent SIGHUP: $(grep SIGHUP "$T/webadmin.log")" \
		"grep -q 'sent SIGHUP to tcp_relay pid $(relay_pid)' '$T/webadmin.log'"
	assertEquals "a new curl after the change" "$(cat "$T/www/index.html")" "$(curl_from 40601)"
	areq GET '/api/nat?proto=tcp&client=10.0.0.1:40601'
	assertEquals "the new flow's gport" 16001 "$(jv '.entries[0].gport')"

	touch "$T/go"
	th_wait_until 10 sh -c "! kill -0 $hold"
	wait "$hold"
	assertContains "the connection held across the change still works: $(cat "$T/held.out")" \
		"$(cat "$T/held.out")" "$(cat "$T/www/index.html")"
	th_kill_wait "$hold"

	ajson PUT /api/config '{"gport": 16000}'
	assertEquals "PUT gport back to 16000" 200 "$CODE"
	th_wait_until 5 relay_listens 16000
	assertTrue "tcp_relay listens on 16000 again" "relay_listens 16000"
	assertEquals "curl after going back" "$(cat "$T/www/index.html")" "$(curl_from 40602)"
}

testTcpRelayRestartedAfterKill9() {
	local first second restarts
	first=$(relay_pid)
	assertNotNull "tcp_relay runs" "$first"
	areq GET /api/status
	restarts=$(jv .tcp_relay.restarts)
	kill -9 "$first"
	th_wait_until 10 sh -c "p=\$(cat '$T/tcp_relay.pid') && [ \"\$p\" != $first ] && kill -0 \$p"
	second=$(relay_pid)
	assertNotEquals "a new tcp_relay pid (old $first)" "$first" "${second:-none}"
	areq GET /api/status
	assertEquals "status pid" "$second" "$(jv .tcp_relay.pid)"
	assertEquals "status running" true "$(jv .tcp_relay.running)"
	assertEquals "restarts incremented" $((restarts + 1)) "$(jv .tcp_relay.restarts)"
	th_wait_port tcp 0.0.0.0 16000 5
	assertEquals "curl through the new tcp_relay" "$(cat "$T/www/index.html")" "$(curl_from 40701)"
}

testTcpRelayKeepsRunningAcrossWebadminRestart() {
	local pid
	pid=$(relay_pid)
	assertNotNull "tcp_relay runs" "$pid"
	wa_stop
	assertTrue "tcp_relay $pid still runs after webadmin exited" "kill -0 $pid"
	assertEquals "curl while webadmin is down" "$(cat "$T/www/index.html")" "$(curl_from 40801)"
	wa_start
	sleep 0.5
	areq GET /api/status
	assertEquals "the new webadmin reports the same pid" "$pid" "$(jv .tcp_relay.pid)"
	assertEquals "running" true "$(jv .tcp_relay.running)"
	assertEquals "not counted as a restart" 0 "$(jv .tcp_relay.restarts)"
	assertEquals "pidfile still names it" "$pid" "$(relay_pid)"
}

testModuleRemovedAnswers409ThenReload() {
	th_krelay_unload
	assertFalse "krelay unloaded" "[ -d /sys/module/krelay ]"
	areq GET /api/status
	assertEquals "status without the module" 200 "$CODE"
	assertEquals "module.loaded" false "$(jv .module.loaded)"
	areq GET /api/config
	assertEquals "GET /api/config" 409 "$CODE"
	assertContains "409 says why" "$(cat "$T/body")" "not loaded"
	areq GET /api/nat
	assertEquals "GET /api/nat" 409 "$CODE"
	ajson PUT /api/config '{"udp_timeout": 40}'
	assertEquals "PUT /api/config" 409 "$CODE"
	ajson PUT /api/start '{"started": true}'
	assertEquals "PUT /api/start" 409 "$CODE"
	ajson DELETE '/api/nat?all=1' ''
	assertEquals "DELETE /api/nat?all=1" 409 "$CODE"
	areq GET /metrics
	assertEquals "krelay_module_loaded" 0 "$(metric krelay_module_loaded)"

	th_krelay_load start=1
	areq GET /api/status
	assertEquals "loaded again" true "$(jv .module.loaded)"
	assertEquals "started again" true "$(jv .module.started)"
	areq GET /api/config
	assertEquals "GET /api/config after the reload" 200 "$CODE"
	assertTrue "curl through the relay after the reload" \
		"th_wait_until 10 cli curl -sf --max-time 3 -o /dev/null http://$RELAY/"
}

testAuthHostAndContentTypeSpotChecks() {
	th_set udp_timeout 600		# the flow stays for the test on a slow kernel
	dig_from 10.0.0.1 40901 >/dev/null
	req GET /api/nat
	assertEquals "no credentials" 401 "$CODE"
	th_assert_lacks "no flow leaks on 401" "$(cat "$T/body")" 10.0.0.1
	req GET /api/nat -u admin:wrong
	assertEquals "wrong password" 401 "$CODE"
	req GET /metrics
	assertEquals "/metrics without credentials" 401 "$CODE"
	areq GET /api/status -H 'Host: evil.example:8080'
	assertEquals "foreign Host" 421 "$CODE"
	areq GET /api/status -H 'Host: 127.0.0.1:8081'
	assertEquals "wrong port in Host" 421 "$CODE"
	areq GET /api/status -H 'Host: localhost:8080'
	assertEquals "localhost:8080" 200 "$CODE"
	areq PUT /api/start -d '{"started": false}'
	assertEquals "PUT /api/start with a form type" 415 "$CODE"
	assertEquals "start untouched" 1 "$(cat $TH_START)"
	areq DELETE /api/nat
	assertEquals "DELETE without a type" 415 "$CODE"
	assertEquals "flow still there" "udp 10.0.0.1:40901" "$(nat_keys)"
	req PUT /api/config -H 'Content-Type: application/json' -d '{"gport": 16009}'
	assertEquals "PUT /api/config without credentials" 401 "$CODE"
	assertEquals "gport untouched" 16000 "$(th_knob gport)"
	req GET /
	assertEquals "the dashboard without credentials" 200 "$CODE"
	assertContains "it is the dashboard" "$(cat "$T/body")" 'id="nat-table"'
}

# Last: with WEBADMIN_VALGRIND=1, memcheck saw no error and no leak in any
# webadmin this suite ran.
testValgrindFoundNothing() {
	if [ "${WEBADMIN_VALGRIND:-0}" != 1 ]; then
		startSkipping
		return
	fi
	wa_stop
	assertEquals "webadmin's exit status under valgrind" 0 "$WA_RC"
	assertEquals "valgrind reports" "" "$(cat "$T"/valgrind.*.log)"
}

. shunit2
