#!/bin/bash
# shellcheck disable=SC2016,SC2034
# webadmin on this host, loopback only (ports 18000-18999), no kernel module:
#
#   curl ──HTTP──▶ webadmin's HTTP process 127.0.0.1:$WA_PORT (nobody, chroot www)
#                        │ socketpair (privsep.h)
#                  webadmin's privileged process ──▶ /proc/krelay, /sys/module/krelay
#                        │                          (absent here: the real
#                        │                           "module not loaded" path)
#                        └─ fork/exec, waitpid ──▶ tcp_relay -t (standalone)
#
# Where webadmin's own logic can only run with the module loaded (PUT
# /api/config validation, start, NAT delete, the config file), the tests point
# KRELAY_PROC_DIR, KRELAY_PARAM_DIR and KRELAY_MODULE_DIR at plain files in a
# temporary directory. Those tests check webadmin, not krelay: the lab suite
# (QEMU, the real module) covers the real files, EINVAL from the kernel and
# the TABLE socket option.
#
# WEBADMIN_VALGRIND=1 runs every webadmin under valgrind (memcheck, leaks of
# the definite and indirect kinds are errors); a test fails when valgrind
# reports an error.

. "$(dirname "$0")/lib.sh"

WA=$TH_TOP/webadmin/webadmin
RELAY=$TH_TOP/tcp_relay/tcp_relay
WA_PORT=$((18100 + $$ % 400))
RELAY_PORT=$((WA_PORT + 400))
WA_URL=http://127.0.0.1:$WA_PORT
WA_PID=
WA_TIMEOUT=10
[ "${WEBADMIN_VALGRIND:-0}" = 1 ] && WA_TIMEOUT=60

oneTimeSetUp() {
	[ -x "$WA" ] || make -s -C "$TH_TOP/webadmin" >/dev/null ||
		fail "cannot build webadmin"
}

TEST_NO=0

setUp() {
	TEST_NO=$((TEST_NO + 1))
	T=$SHUNIT_TMPDIR/test$TEST_NO
	mkdir -p "$T/www"
	printf '<!DOCTYPE html><title>t</title>\n' >"$T/www/index.html"
	SECRET=$T/secret
	LOG=$T/webadmin.log
	FAKE=
	WA_WRAP=()
	unset KRELAY_PROC_DIR KRELAY_PARAM_DIR KRELAY_MODULE_DIR
}

tearDown() {
	wa_stop
	if [ -f "$T/relay.pid" ]; then
		kill "$(cat "$T/relay.pid")" 2>/dev/null
	fi
	return 0
}

# wa_start [webadmin args...]: start webadmin in the foreground on $WA_PORT
# with this test's secret and www dir; wait until it listens.
wa_start() {
	local vg=()

	if [ "${WEBADMIN_VALGRIND:-0}" = 1 ]; then
		# shellcheck disable=SC2054 # the commas belong to one option
		vg=(valgrind --quiet --leak-check=full
		    --errors-for-leak-kinds=definite,indirect
		    --error-exitcode=99 --child-silent-after-fork=no
		    --log-file="$T/valgrind.%p.log")
	fi
	"${vg[@]}" "${WA_WRAP[@]}" "$WA" -f -l "127.0.0.1:$WA_PORT" -s "$SECRET" -w "$T/www" \
		"$@" >>"$LOG" 2>&1 &
	WA_PID=$!
	if ! th_wait_port tcp 127.0.0.1 "$WA_PORT" "$WA_TIMEOUT"; then
		cat "$LOG" >&2
		fail "webadmin did not listen on $WA_PORT"
		return 1
	fi
	PASS=$(sed -n 's/^admin://p' "$SECRET")
}

# wa_stop: SIGTERM; under valgrind, a reported error fails the test.
wa_stop() {
	local rc

	[ -n "$WA_PID" ] || return 0
	kill -TERM "$WA_PID" 2>/dev/null
	wait "$WA_PID"
	rc=$?
	WA_PID=
	if [ "$rc" = 99 ]; then
		cat "$T"/valgrind.*.log >&2
		fail "valgrind reported errors (see above)"
	fi
	assertEquals "webadmin exit status after SIGTERM" 0 "$rc"
}

# req METHOD PATH [curl args...]: sets CODE; body in $T/body, headers in $T/hdr.
req() {
	local method=$1 path=$2

	shift 2
	CODE=$(curl -s --path-as-is -o "$T/body" -D "$T/hdr" -w '%{http_code}' \
		-X "$method" "$@" "$WA_URL$path")
}

# areq: req with the right credentials.
areq() {
	local method=$1 path=$2

	shift 2
	req "$method" "$path" -u "admin:$PASS" "$@"
}

header() {
	tr -d '\r' <"$T/hdr" | sed -n "s/^$1: //Ip" | head -n1
}

json() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    d = d[int(k)] if isinstance(d, list) else d[k]
print(json.dumps(d))' "$T/body" "$1"
}

# fake_module: knob files in a temp dir standing in for /proc/krelay and
# sysfs, so webadmin's "module loaded" paths run (the lab covers the real
# module).
fake_module() {
	FAKE=$T/fake
	mkdir -p "$FAKE/proc" "$FAKE/module/parameters"
	echo 16000 >"$FAKE/proc/gport"
	echo 192.168.0.10 >"$FAKE/proc/real_ip"
	echo 53,80 >"$FAKE/proc/tcp_ports"
	echo 53 >"$FAKE/proc/udp_ports"
	echo 262144 >"$FAKE/proc/max_entries"
	echo 30 >"$FAKE/proc/udp_timeout"
	echo 120 >"$FAKE/proc/udp_stream_timeout"
	echo 432000 >"$FAKE/proc/tcp_timeout_established"
	echo 10 >"$FAKE/proc/tcp_timeout_close"
	echo >"$FAKE/proc/interfaces"		# empty: every interface
	echo 0 >"$FAKE/proc/max_per_client"	# no limit
	printf 'translated_pre_udp 7\ntranslated_post_tcp 3\ndrop_no_entry 2\ninvalid 5\nout_of_window 6\ndrop_per_client 8\nicmp_bad_checksum 9\nicmp_redirect 11\nimpostor 12\nentries_tcp 1\nentries_udp 4\n' \
		>"$FAKE/proc/stats"
	: >"$FAKE/proc/nat"
	echo 0 >"$FAKE/module/parameters/start"
	export KRELAY_PROC_DIR=$FAKE/proc
	export KRELAY_PARAM_DIR=$FAKE/module/parameters
	export KRELAY_MODULE_DIR=$FAKE/module
}

knob() {
	cat "$FAKE/proc/$1"
}

knobs_now() {
	local k out=

	for k in "$@"; do
		out="$out $(knob "$k")"
	done
	echo "${out# }"
}

# ---- credentials and the secret file -----------------------------------

testSecretFileGeneratedWithMode0600() {
	wa_start
	assertEquals "secret file mode" 600 "$(stat -c %a "$SECRET")"
	assertTrue "secret file holds admin:PASSWORD, got '$(cat "$SECRET")'" \
		"grep -Eq '^admin:[A-Za-z0-9]{24}$' '$SECRET'"
	assertTrue "the log names the generated secret file: $(cat "$LOG")" \
		"grep -q 'generated credentials .* $SECRET' '$LOG'"
}

testExistingSecretFileIsUsed() {
	printf 'admin:correct horse\n' >"$SECRET"
	chmod 600 "$SECRET"
	wa_start
	req GET /api/status -u 'admin:correct horse'
	assertEquals "status with the file's password" 200 "$CODE"
	assertEquals "secret file left alone" 'admin:correct horse' "$(cat "$SECRET")"
}

testSecretReadableByOthersIsRefused() {
	printf 'admin:correct horse\n' >"$SECRET"
	chmod 640 "$SECRET"
	"$WA" -f -l "127.0.0.1:$WA_PORT" -s "$SECRET" -w "$T/www" >"$LOG" 2>&1
	assertEquals "exit status with a 0640 secret" 1 $?
	assertTrue "says why: $(cat "$LOG")" "grep -q 'with mode 0600' '$LOG'"
	chmod 600 "$SECRET"
	ln -s "$SECRET" "$T/link"
	"$WA" -f -l "127.0.0.1:$WA_PORT" -s "$T/link" -w "$T/www" >"$LOG" 2>&1
	assertEquals "exit status with a symlink as the secret" 1 $?
}

# A reader line gives a read-only user: the GET routes and /metrics (what
# a Prometheus scraper needs), never a change. Failed logins are logged.
testReaderMayOnlyRead() {
	fake_module
	printf 'admin:correct horse\nreader:battery staple\n' >"$SECRET"
	chmod 600 "$SECRET"
	wa_start
	local r=(-u 'reader:battery staple') j=(-H 'Content-Type: application/json') p
	for p in /metrics /api/status /api/config; do
		req GET "$p" "${r[@]}"
		assertEquals "reader: GET $p" 200 "$CODE"
	done
	req PUT /api/config "${r[@]}" "${j[@]}" -d '{"udp_timeout": 45}'
	assertEquals "reader: PUT /api/config" 403 "$CODE"
	assertEquals "knob untouched" 30 "$(knob udp_timeout)"
	req PUT /api/start "${r[@]}" "${j[@]}" -d '{"started": true}'
	assertEquals "reader: PUT /api/start" 403 "$CODE"
	assertEquals "start untouched" 0 "$(cat "$FAKE/module/parameters/start")"
	req DELETE '/api/nat?all=1' "${r[@]}" "${j[@]}"
	assertEquals "reader: DELETE /api/nat" 403 "$CODE"
	assertEquals "nothing written to the nat file" "" "$(cat "$FAKE/proc/nat")"
	assertTrue "the refused change is logged as the reader's: $(cat "$LOG")" \
		"grep -q 'reader@127.0.0.1 PUT /api/config: 403' '$LOG'"
	req PUT /api/config -u 'admin:correct horse' "${j[@]}" -d '{"udp_timeout": 45}'
	assertEquals "admin: PUT /api/config" 200 "$CODE"
	req GET /metrics -u 'reader:correct horse'
	assertEquals "the reader with admin's password" 401 "$CODE"
	req GET /metrics -u $'adm\x01in:nope'
	assertEquals "a wrong password" 401 "$CODE"
	assertTrue "failed logins are logged: $(cat "$LOG")" \
		"grep -q 'failed login for user \"reader\" from 127.0.0.1' '$LOG' &&
		 grep -q 'failed login for user \"adm.in\" from 127.0.0.1' '$LOG'"
}

testBadSecretFileLinesAreRefused() {
	local f
	for f in 'reader:x\nadmin:y\n' 'admin:x\nroot:y\n' 'admin:x\nadmin:y\n' 'admin:\n' 'admin:x\nreader:\n'; do
		# shellcheck disable=SC2059 # the cases are printf formats
		printf "$f" >"$SECRET"
		chmod 600 "$SECRET"
		"$WA" -f -l "127.0.0.1:$WA_PORT" -s "$SECRET" -w "$T/www" >"$LOG" 2>&1
		assertEquals "exit status with secret file '$f'" 1 $?
		assertTrue "says what is expected: $(cat "$LOG")" \
			"grep -q 'expected admin:PASSWORD on the first line' '$LOG'"
	done
}

testApiNeedsCredentials() {
	wa_start
	req GET /api/status
	assertEquals "no credentials" 401 "$CODE"
	assertEquals "WWW-Authenticate on 401" 'Basic realm="krelay"' \
		"$(header WWW-Authenticate)"
	assertEquals "401 body" '"credentials required"' "$(json error)"
	req GET /api/status -u admin:wrong
	assertEquals "wrong password" 401 "$CODE"
	req GET /api/status -u "root:$PASS"
	assertEquals "wrong user" 401 "$CODE"
	req GET /api/status -u "admin:${PASS}x"
	assertEquals "password with a suffix" 401 "$CODE"
	areq GET /api/status
	assertEquals "right credentials" 200 "$CODE"
	req GET /metrics
	assertEquals "/metrics without credentials" 401 "$CODE"
	areq GET /metrics
	assertEquals "/metrics with credentials" 200 "$CODE"
}

testStaticFilesNeedNoCredentials() {
	wa_start
	req GET /
	assertEquals "/ without credentials" 200 "$CODE"
	assertEquals "/ is index.html" "$(cat "$T/www/index.html")" "$(cat "$T/body")"
	assertEquals "nosniff" nosniff "$(header X-Content-Type-Options)"
	assertEquals "CSP" "default-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'" \
		"$(header Content-Security-Policy)"
	assertEquals "X-Frame-Options" DENY "$(header X-Frame-Options)"
}

# ---- request checks ----------------------------------------------------

testWrongHostIs421() {
	wa_start
	areq GET /api/status -H "Host: evil.example:$WA_PORT"
	assertEquals "rebound name" 421 "$CODE"
	req GET / -H "Host: evil.example:$WA_PORT"
	assertEquals "rebound name, static file" 421 "$CODE"
	areq GET /api/status -H "Host: 127.0.0.1:1"
	assertEquals "right address, wrong port" 421 "$CODE"
	areq GET /api/status -H "Host: 10.1.2.3:$WA_PORT"
	assertEquals "another address" 421 "$CODE"
	areq GET /api/status -H "Host: localhost:$WA_PORT"
	assertEquals "localhost with our port" 200 "$CODE"
	areq GET /api/status -H "Host: 127.0.0.1:$WA_PORT"
	assertEquals "our address" 200 "$CODE"
}

testUnknownPathIs404() {
	wa_start
	areq GET /api/nope
	assertEquals "unknown API path" 404 "$CODE"
	assertEquals "404 body" '"not found"' "$(json error)"
	req GET /nope.html
	assertEquals "unknown static file" 404 "$CODE"
}

testWrongMethodIs405WithAllow() {
	wa_start
	areq DELETE /api/status -H 'Content-Type: application/json'
	assertEquals "DELETE /api/status" 405 "$CODE"
	assertEquals "Allow of /api/status" GET "$(header Allow)"
	areq POST /api/nat -H 'Content-Type: application/json'
	assertEquals "POST /api/nat" 405 "$CODE"
	assertEquals "Allow of /api/nat" 'GET, DELETE' "$(header Allow)"
	areq GET /api/start
	assertEquals "GET /api/start" 405 "$CODE"
	assertEquals "Allow of /api/start" PUT "$(header Allow)"
	req POST /index.html
	assertEquals "POST to a static file" 405 "$CODE"
	assertEquals "Allow of static files" 'GET, HEAD' "$(header Allow)"
}

testMutationWithoutJsonTypeIs415() {
	wa_start
	areq PUT /api/config -d '{"gport": 16001}'
	assertEquals "PUT with curl's form type" 415 "$CODE"
	areq PUT /api/config -H 'Content-Type: text/plain' -d '{}'
	assertEquals "PUT text/plain" 415 "$CODE"
	areq PUT /api/start --data-binary '{"started": true}' -H 'Content-Type:'
	assertEquals "PUT without a type" 415 "$CODE"
	areq DELETE /api/nat
	assertEquals "DELETE without a type" 415 "$CODE"
	areq PUT /api/start -H 'Content-Type: application/json; charset=utf-8' \
		-d '{"started": 1}'
	assertEquals "JSON with a charset passes the type check" 400 "$CODE"
}

testOversizedBodyIs413() {
	wa_start
	head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big"
	areq PUT /api/config -H 'Content-Type: application/json' \
		--data-binary @"$T/big"
	assertEquals "70000 bytes with Content-Length" 413 "$CODE"
	areq PUT /api/config -H 'Content-Type: application/json' \
		-H 'Transfer-Encoding: chunked' --data-binary @"$T/big"
	assertEquals "70000 bytes chunked" 413 "$CODE"
	areq GET /api/status
	assertEquals "still answering" 200 "$CODE"
}

# One address holds at most 16 connections; others are still served.
testOneAddressCannotTakeEveryConnection() {
	local out

	wa_start
	out=$(python3 - "$WA_PORT" "$PASS" <<-'EOF'
	import base64, socket, sys, time
	port, pw = int(sys.argv[1]), sys.argv[2]
	def conn(src):
	    return socket.create_connection(("127.0.0.1", port), timeout=5,
	                                    source_address=(src, 0))
	def status(src):
	    s = conn(src)
	    s.sendall(("GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
	               "Authorization: Basic %s\r\nConnection: close\r\n\r\n"
	               % (port, base64.b64encode(("admin:" + pw).encode()).decode())).encode())
	    try:
	        got = s.recv(100)
	    except OSError:
	        got = b""
	    s.close()
	    return got[9:12].decode() or "none"
	idle = [conn("127.0.0.5") for _ in range(16)]
	for s in idle:
	    s.sendall(b"GET / HTTP/1.1\r\n")	# and never more
	time.sleep(0.5)
	print(status("127.0.0.5"), status("127.0.0.6"))
	EOF
	)
	assertEquals "17th connection from one address, then another address" \
		"none 200" "$out"
}

testBadJsonIs400() {
	wa_start
	areq PUT /api/config -H 'Content-Type: application/json' -d '{"gport": '
	assertEquals "truncated JSON" 400 "$CODE"
	assertEquals "the field is the body" '"body"' "$(json field)"
	areq PUT /api/config -H 'Content-Type: application/json' -d '[1]'
	assertEquals "not an object" 400 "$CODE"
	areq PUT /api/start -H 'Content-Type: application/json' -d 'nope'
	assertEquals "start, not JSON" 400 "$CODE"
	areq PUT /api/start -H 'Content-Type: application/json' -d '{"started": "yes"}'
	assertEquals "start, not a boolean" 400 "$CODE"
	assertEquals "names the field" '"started"' "$(json field)"
}

testPathTraversalRefused() {
	mkdir -p "$T/outside"
	echo secret >"$T/outside/secret.txt"
	echo inside >"$T/www/real.txt"
	ln -s "$T/outside/secret.txt" "$T/www/link-out.txt"
	ln -s "$T/outside" "$T/www/dir-out"
	ln -s real.txt "$T/www/link-in.txt"
	wa_start
	req GET /../outside/secret.txt
	assertEquals "/../" 404 "$CODE"
	req GET /%2e%2e/outside/secret.txt
	assertEquals "%2e%2e" 404 "$CODE"
	req GET /%2E%2E%2Foutside%2Fsecret.txt
	assertEquals "%2E%2E%2F" 404 "$CODE"
	req GET /sub/..%2f..%2foutside/secret.txt
	assertEquals "..%2f in the middle" 404 "$CODE"
	req GET /link-out.txt
	assertEquals "symlink to a file outside" 404 "$CODE"
	req GET /dir-out/secret.txt
	assertEquals "symlink to a directory outside" 404 "$CODE"
	assertFalse "nothing from outside was served" "grep -q secret '$T/body'"
	req GET /link-in.txt
	assertEquals "symlink inside www" 200 "$CODE"
	req GET /.hidden
	assertEquals "dot file" 404 "$CODE"
}

testStaticContentTypes() {
	local ext type

	for ext in html js css png svg ico json; do
		echo x >"$T/www/f.$ext"
	done
	mkdir "$T/www/sub"
	echo sub >"$T/www/sub/index.html"
	wa_start
	while read -r ext type; do
		req GET "/f.$ext"
		assertEquals "status of f.$ext" 200 "$CODE"
		assertEquals "Content-Type of f.$ext" "$type" "$(header Content-Type)"
	done <<-EOF
	html text/html; charset=utf-8
	js text/javascript; charset=utf-8
	css text/css; charset=utf-8
	png image/png
	svg image/svg+xml
	ico image/x-icon
	json application/json
	EOF
	req GET /sub/
	assertEquals "directory/ is its index.html" sub "$(cat "$T/body")"
	req GET /sub
	assertEquals "a directory itself" 404 "$CODE"
	req HEAD /f.css
	assertEquals "HEAD" 200 "$CODE"
}

# ---- without the module (the real /proc and /sys of this host) -----------

testModuleNotLoadedAnswers409() {
	if [ -e /sys/module/krelay ]; then
		startSkipping
		echo "krelay is loaded on this host: the not-loaded path cannot run"
	fi
	wa_start
	areq GET /api/status
	assertEquals "status" 200 "$CODE"
	assertEquals "module.loaded" false "$(json module.loaded)"
	assertEquals "module.started" false "$(json module.started)"
	areq GET /api/config
	assertEquals "GET /api/config" 409 "$CODE"
	assertTrue "409 says why: $(cat "$T/body")" "grep -q 'not loaded' '$T/body'"
	areq GET /api/nat
	assertEquals "GET /api/nat" 409 "$CODE"
	areq PUT /api/start -H 'Content-Type: application/json' -d '{"started": true}'
	assertEquals "PUT /api/start" 409 "$CODE"
	areq PUT /api/config -H 'Content-Type: application/json' -d '{"gport": 16001}'
	assertEquals "PUT /api/config" 409 "$CODE"
	areq DELETE '/api/nat?all=1' -H 'Content-Type: application/json'
	assertEquals "DELETE /api/nat?all=1" 409 "$CODE"
}

testNatQueryNumbersAreChecked() {
	wa_start
	local q
	for q in limit=abc offset=0 limit=1e3 limit=0 limit=16385 limit=99999999999 cursor= cursor=xyz \
		 cursor=00000000000000000 proto=icmp state=ESTAB state= client=10.0.0 client=10.0.0.1:0 \
		 client=10.0.0.1/33 client=10.0.0.1:5/8 client=/8; do
		areq GET "/api/nat?$q"
		assertEquals "GET /api/nat?$q" 400 "$CODE"
		assertEquals "field named for $q" "\"${q%%=*}\"" "$(json field)"
	done
	areq DELETE "/api/nat?proto=udp" -H 'Content-Type: application/json'
	assertEquals "delete with proto only" 400 "$CODE"
	areq DELETE "/api/nat?proto=udp&client=10.0.0.1" -H 'Content-Type: application/json'
	assertEquals "delete without a port" 400 "$CODE"
}

# check_prometheus FILE: a strict parse of Prometheus text (tests/promcheck.py).
check_prometheus() { python3 "$TH_TOP/tests/promcheck.py" "$1"; }

testMetricsParseAsPrometheusText() {
	wa_start
	areq GET /metrics
	assertEquals "status" 200 "$CODE"
	assertEquals "content type" 'text/plain; version=0.0.4; charset=utf-8' \
		"$(header Content-Type)"
	assertTrue "strict parse: $(check_prometheus "$T/body" 2>&1)" \
		"check_prometheus '$T/body'"
	assertTrue "krelay_module_loaded 0" "grep -qx 'krelay_module_loaded 0' '$T/body'"
	assertTrue "restarts counter" \
		"grep -qx 'krelay_tcp_relay_restarts_total 0' '$T/body'"
	assertTrue "the parser refuses garbage" \
		"! (printf 'krelay_x{a=b} 1\n' >'$T/bad'; check_prometheus '$T/bad')"
}

# ---- with knob files standing in for the module (webadmin's logic only) ---

testMetricsFromStatsFile() {
	fake_module
	wa_start
	areq GET /metrics
	assertTrue "strict parse: $(check_prometheus "$T/body" 2>&1)" \
		"check_prometheus '$T/body'"
	assertTrue "packets: $(cat "$T/body")" \
		"grep -qx 'krelay_packets_total{hook=\"pre\",proto=\"udp\"} 7' '$T/body'"
	assertTrue "drops" \
		"grep -qx 'krelay_drops_total{reason=\"no_entry\"} 2' '$T/body'"
	assertTrue "drop_per_client is a drop reason" \
		"grep -qx 'krelay_drops_total{reason=\"per_client\"} 8' '$T/body'"
	assertTrue "so are the dropped ICMP errors" \
		"grep -qx 'krelay_drops_total{reason=\"icmp_bad_checksum\"} 9' '$T/body' &&
		 grep -qx 'krelay_drops_total{reason=\"icmp_redirect\"} 11' '$T/body'"
	assertEquals "what tracking ignored, by reason" \
		'krelay_ignored_total{reason="invalid"} 5|krelay_ignored_total{reason="out_of_window"} 6|krelay_ignored_total{reason="impostor"} 12' \
		"$(grep '^krelay_ignored_total' "$T/body" | paste -sd'|')"
	assertEquals "no other series takes them" "" \
		"$(grep -E 'invalid|out_of_window|impostor|icmp_' "$T/body" |
			grep -vE '^(# |krelay_drops_total|krelay_ignored_total)')"
	assertTrue "entries" \
		"grep -qx 'krelay_nat_entries{proto=\"udp\"} 4' '$T/body'"
	assertTrue "limit" "grep -qx 'krelay_nat_entries_limit 262144' '$T/body'"
	assertTrue "loaded" "grep -qx 'krelay_module_loaded 1' '$T/body'"
}

testConfigPutIsAllOrNothing() {
	fake_module
	wa_start -c "$T/krelay.conf"
	areq PUT /api/config -H 'Content-Type: application/json' \
		-d '{"gport": 17000, "max_entries": 0}'
	assertEquals "one bad field" 400 "$CODE"
	assertEquals "names it" '"max_entries"' "$(json field)"
	assertEquals "gport not written" 16000 "$(knob gport)"
	areq PUT /api/config -H 'Content-Type: application/json' \
		-d '{"gport": 17000, "tcp_ports": [53, 80, 80]}'
	assertEquals "duplicate port" 400 "$CODE"
	assertEquals "names tcp_ports" '"tcp_ports"' "$(json field)"
	areq PUT /api/config -H 'Content-Type: application/json' \
		-d '{"gport": 17000, "colour": "blue"}'
	assertEquals "unknown field" 400 "$CODE"
	assertEquals "names it" '"colour"' "$(json field)"
	areq PUT /api/config -H 'Content-Type: application/json' -d '{"gport": 80}'
	assertEquals "gport inside tcp_ports" 400 "$CODE"
	local bad
	for bad in '"real_ip": "127.0.0.1"' '"real_ip": "224.0.0.1"' \
		'"real_ip": "0.0.0.0"' '"real_ip": "255.255.255.255"' \
		'"real_ip": "10.0.0"' '"real_ip": 5' '"gport": "16001"' \
		'"gport": 65536' '"gport": 1.5' '"udp_ports": []' \
		'"udp_ports": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]' \
		'"udp_timeout": 86401' '"tcp_timeout_close": 864001' \
		'"tcp_timeout_established": 0' '"max_entries": 4194305'; do
		areq PUT /api/config -H 'Content-Type: application/json' -d "{$bad}"
		assertEquals "refused: $bad" 400 "$CODE"
	done
	assertEquals "no knob touched" "16000 192.168.0.10 53,80 53 262144 30 10" \
		"$(knobs_now gport real_ip tcp_ports udp_ports max_entries \
			udp_timeout tcp_timeout_close)"
	assertFalse "no config file written" "[ -e '$T/krelay.conf' ]"

	areq PUT /api/config -H 'Content-Type: application/json' \
		-d '{"gport": 16080, "tcp_ports": [53, 80, 443], "real_ip": "192.168.0.11", "udp_timeout": 45}'
	assertEquals "good values: $(cat "$T/body")" 200 "$CODE"
	assertEquals "answer is the new config" '[53, 80, 443]' "$(json tcp_ports)"
	assertEquals "gport written" 16080 "$(knob gport)"
	assertEquals "tcp_ports written" 53,80,443 "$(knob tcp_ports)"
	assertEquals "real_ip written" 192.168.0.11 "$(knob real_ip)"
	assertTrue "config file saved: $(cat "$T/krelay.conf" 2>&1)" \
		"grep -qx 'gport = 16080' '$T/krelay.conf' && grep -qx 'tcp_ports = 53,80,443' '$T/krelay.conf' && grep -qx 'udp_timeout = 45' '$T/krelay.conf'"
	local left=("$T"/krelay.conf.*)
	assertFalse "no temp file left: ${left[*]}" "[ -e '${left[0]}' ]"
	areq GET /api/config
	assertEquals "GET /api/config" 16080 "$(json gport)"
	assertTrue "the change is logged: $(cat "$LOG")" \
		"grep -q 'admin@127.0.0.1 PUT /api/config .*: 200' '$LOG'"
	assertTrue "the refusals too" \
		"grep -q 'admin@127.0.0.1 PUT /api/config .*: 400' '$LOG'"
}

# put_config BODY: PUT /api/config with a JSON body.
put_config() { areq PUT /api/config -H 'Content-Type: application/json' -d "$1"; }

testConfigInterfacesSetReadBackAndCleared() {
	fake_module
	wa_start -c "$T/krelay.conf"
	areq GET /api/config
	assertEquals "GET: interfaces is a string, empty for every interface" '""' \
		"$(json interfaces)"
	put_config '{"interfaces": " eth1 , wlan+ "}'
	assertEquals "PUT interfaces: $(cat "$T/body")" 200 "$CODE"
	assertEquals "the answer has the canonical list" '"eth1,wlan+"' "$(json interfaces)"
	assertEquals "the knob file" eth1,wlan+ "$(knob interfaces)"
	assertTrue "saved to the config file: $(cat "$T/krelay.conf" 2>&1)" \
		"grep -qx 'interfaces = eth1,wlan+' '$T/krelay.conf'"
	areq GET /api/config
	assertEquals "GET after PUT" '"eth1,wlan+"' "$(json interfaces)"
	areq GET /api/status
	assertEquals "status carries it too" '"eth1,wlan+"' "$(json config.interfaces)"
	put_config '{"interfaces": "a,b,c,d,e,f,g,abcdefghijklmn+"}'
	assertEquals "eight names, the longest 15 characters: $(cat "$T/body")" 200 "$CODE"
	assertEquals "eight names in the knob file" a,b,c,d,e,f,g,abcdefghijklmn+ \
		"$(knob interfaces)"

	put_config '{"interfaces": ""}'
	assertEquals "PUT an empty interfaces: $(cat "$T/body")" 200 "$CODE"
	assertEquals "the answer" '""' "$(json interfaces)"
	assertEquals "the knob file holds an empty line" "$(printf '\n' | od -c)" \
		"$(od -c <"$FAKE/proc/interfaces")"
	assertEquals "the config file's line" "interfaces =" \
		"$(grep '^interfaces' "$T/krelay.conf")"
	areq GET /api/config
	assertEquals "GET after clearing" '""' "$(json interfaces)"
}

testConfigBadInterfacesChangesNothing() {
	local bad

	fake_module
	echo rc0 >"$FAKE/proc/interfaces"
	wa_start -c "$T/krelay.conf"
	for bad in '"rc0/1"' '"rc0:1"' '"rc0 rs0"' '"rc0,rc0"' '"a,b,c,d,e,f,g,h,i"' \
		'"abcdefghijklmno+"' '"abcdefghijklmnop"' '"+"' '"."' '".."' '","' \
		'"rc0,"' '",rc0"' '" "' '"rc\t0"' '["rc0"]' '5' 'null'; do
		put_config "{\"gport\": 17000, \"udp_timeout\": 45, \"interfaces\": $bad}"
		assertEquals "refused: interfaces $bad" 400 "$CODE"
		assertEquals "names the field for $bad" '"interfaces"' "$(json field)"
		assertEquals "the message starts with it for $bad" interfaces \
			"$(json error | tr -d '"' | cut -d: -f1)"
	done
	put_config '{"interfaces": "rs0", "udp_timeout": 0}'
	assertEquals "good interfaces, bad udp_timeout" 400 "$CODE"
	assertEquals "names udp_timeout" '"udp_timeout"' "$(json field)"
	assertEquals "nothing written" "16000 30 rc0" \
		"$(knobs_now gport udp_timeout interfaces)"
	assertFalse "no config file written" "[ -e '$T/krelay.conf' ]"
}

# The file webadmin saves with an empty interfaces is one it reads back,
# and the empty value reaches a module that appears.
testConfigFileCarriesInterfaces() {
	fake_module
	echo eth9 >"$FAKE/proc/interfaces"
	mv "$FAKE/module" "$T/module.later"
	printf 'gport = 16500
interfaces =
' >"$T/krelay.conf"
	wa_start -c "$T/krelay.conf"
	mv "$T/module.later" "$FAKE/module"
	th_wait_until 5 sh -c "[ -z \"\$(cat '$FAKE/proc/interfaces')\" ]"
	assertEquals "the file's empty interfaces applied" "" "$(knob interfaces)"
	assertEquals "with the file's gport" 16500 "$(knob gport)"

	put_config '{"interfaces": "rc0, rs+"}'
	assertEquals "PUT interfaces" 200 "$CODE"
	assertEquals "the file keeps gport and takes interfaces" \
		"gport = 16500|interfaces = rc0,rs+" \
		"$(grep -v '^#' "$T/krelay.conf" | paste -sd'|')"
	put_config '{"interfaces": ""}'
	assertEquals "PUT an empty interfaces" 200 "$CODE"
	assertEquals "the file after clearing" "gport = 16500|interfaces =" \
		"$(grep -v '^#' "$T/krelay.conf" | paste -sd'|')"
	wa_stop

	echo eth9 >"$FAKE/proc/interfaces"
	mv "$FAKE/module" "$T/module.later"
	wa_start -c "$T/krelay.conf"
	assertTrue "webadmin runs with the file it saved: $(cat "$LOG")" "kill -0 $WA_PID"
	mv "$T/module.later" "$FAKE/module"
	th_wait_until 5 sh -c "[ -z \"\$(cat '$FAKE/proc/interfaces')\" ]"
	assertEquals "the saved empty interfaces applied again" "" "$(knob interfaces)"

	wa_stop
	printf 'interfaces = rc0,\n' >"$T/krelay.conf"
	"$WA" -f -l "127.0.0.1:$WA_PORT" -s "$SECRET" -w "$T/www" \
		-c "$T/krelay.conf" >"$LOG" 2>&1
	assertEquals "a bad interfaces line: exit status" 1 $?
	assertTrue "names the line: $(cat "$LOG")" \
		"grep -q 'krelay.conf:1: interfaces: must be' '$LOG'"
}

# max_per_client: 0 (no limit) to 4194304, through PUT and GET, the
# status, the knob file and the -c file; anything else is refused by name
# and writes nothing.
testConfigMaxPerClientRoundTrips() {
	local bad

	fake_module
	wa_start -c "$T/krelay.conf"
	areq GET /api/config
	assertEquals "GET: max_per_client, 0 for no limit" 0 "$(json max_per_client)"
	put_config '{"max_per_client": 64}'
	assertEquals "PUT max_per_client 64: $(cat "$T/body")" 200 "$CODE"
	assertEquals "the answer" 64 "$(json max_per_client)"
	assertEquals "the knob file" 64 "$(knob max_per_client)"
	assertTrue "saved to the config file: $(cat "$T/krelay.conf" 2>&1)" \
		"grep -qx 'max_per_client = 64' '$T/krelay.conf'"
	areq GET /api/config
	assertEquals "GET after PUT" 64 "$(json max_per_client)"
	areq GET /api/status
	assertEquals "status carries it too" 64 "$(json config.max_per_client)"

	for bad in 4194305 -1 '"64"' 1.5 true null '[64]'; do
		put_config "{\"gport\": 17000, \"max_per_client\": $bad}"
		assertEquals "refused: max_per_client $bad" 400 "$CODE"
		assertEquals "names the field for $bad" '"max_per_client"' "$(json field)"
		assertEquals "the message starts with it for $bad" max_per_client \
			"$(json error | tr -d '"' | cut -d: -f1)"
	done
	assertEquals "nothing written" "16000 64" "$(knobs_now gport max_per_client)"
	assertEquals "the file unchanged" "max_per_client = 64" \
		"$(grep -v '^#' "$T/krelay.conf")"

	put_config '{"max_per_client": 4194304}'
	assertEquals "the largest, 4194304" 200 "$CODE"
	assertEquals "written" 4194304 "$(knob max_per_client)"
	put_config '{"max_per_client": 0}'
	assertEquals "0, no limit (unlike max_entries)" 200 "$CODE"
	assertEquals "written" 0 "$(knob max_per_client)"
	assertEquals "the file's line" "max_per_client = 0" \
		"$(grep '^max_per_client' "$T/krelay.conf")"
}

# A -c file's max_per_client reaches a module that appears; a bad one
# stops webadmin with the line named.
testConfigFileCarriesMaxPerClient() {
	local bad

	fake_module
	mv "$FAKE/module" "$T/module.later"
	printf 'max_per_client = 32\n' >"$T/krelay.conf"
	wa_start -c "$T/krelay.conf"
	mv "$T/module.later" "$FAKE/module"
	th_wait_until 5 sh -c "[ \$(cat '$FAKE/proc/max_per_client') = 32 ]"
	assertEquals "the file's max_per_client applied" 32 "$(knob max_per_client)"
	areq GET /api/config
	assertEquals "and shown" 32 "$(json max_per_client)"
	wa_stop

	for bad in 4194305 -1 '' 1e3; do
		printf 'gport = 16500\nmax_per_client = %s\n' "$bad" >"$T/krelay.conf"
		"$WA" -f -l "127.0.0.1:$WA_PORT" -s "$SECRET" -w "$T/www" \
			-c "$T/krelay.conf" >"$LOG" 2>&1
		assertEquals "max_per_client = $bad: exit status" 1 $?
		assertTrue "max_per_client = $bad: names the line: $(cat "$LOG")" \
			"grep -q 'krelay.conf:2: max_per_client: must be' '$LOG'"
	done
	assertEquals "nothing applied" "16000 32" "$(knobs_now gport max_per_client)"
}

testConfigFileAppliedWhenModuleAppears() {
	fake_module
	mv "$FAKE/module" "$T/module.later"
	printf '# test\ngport = 16500\nudp_ports = 53, 5353\n' >"$T/krelay.conf"
	wa_start -c "$T/krelay.conf"
	assertEquals "nothing written while not loaded" 16000 "$(knob gport)"
	mv "$T/module.later" "$FAKE/module"
	th_wait_until 5 sh -c "[ \$(cat '$FAKE/proc/gport') = 16500 ]"
	assertEquals "gport from the file" 16500 "$(knob gport)"
	assertEquals "udp_ports from the file" 53,5353 "$(knob udp_ports)"
}

testBadConfigFileIsRefused() {
	printf 'gport = 0\n' >"$T/krelay.conf"
	"$WA" -f -l "127.0.0.1:$WA_PORT" -s "$SECRET" -w "$T/www" \
		-c "$T/krelay.conf" >"$LOG" 2>&1
	assertEquals "exit status" 1 $?
	assertTrue "names the line: $(cat "$LOG")" "grep -q 'krelay.conf:1: gport' '$LOG'"
}

testStartWritesTheParameter() {
	fake_module
	wa_start
	areq PUT /api/start -H 'Content-Type: application/json' -d '{"started": true}'
	assertEquals "start" 200 "$CODE"
	assertEquals "start parameter" 1 "$(cat "$FAKE/module/parameters/start")"
	assertEquals "answer" true "$(json started)"
	areq GET /api/status
	assertEquals "status says started" true "$(json module.started)"
	areq PUT /api/start -H 'Content-Type: application/json' -d '{"started": false}'
	assertEquals "stop parameter" 0 "$(cat "$FAKE/module/parameters/start")"
}

testLoggedRequestsStayOneLine() {
	fake_module
	wa_start
	areq DELETE '/api/nat?proto=udp&client=10.0.0.1:1%0awebadmin:%20forged' \
		-H 'Content-Type: application/json'
	assertEquals "refused" 400 "$CODE"
	assertFalse "no forged log line: $(cat "$LOG")" \
		"grep -q '^webadmin: forged' '$LOG'"
	assertTrue "the request is logged on one line" \
		"grep -q 'DELETE /api/nat?proto=udp&client=10.0.0.1:1.webadmin: forged: 400' '$LOG'"
}

testNatDeleteWritesTheCommand() {
	fake_module
	wa_start
	areq DELETE '/api/nat?proto=udp&client=10.0.0.1:1234' \
		-H 'Content-Type: application/json'
	assertEquals "delete one" 200 "$CODE"
	assertEquals "nat file command" 'delete udp 10.0.0.1:1234' "$(cat "$FAKE/proc/nat")"
	areq DELETE '/api/nat?all=1' -H 'Content-Type: application/json'
	assertEquals "flush" 200 "$CODE"
	assertEquals "nat file command" flush "$(cat "$FAKE/proc/nat")"
}

# Unknown, repeated or missing query parameters are a 400 on every API
# route; a flush needs ?all=1, so a typo never empties the table.
testQueryParametersAreChecked() {
	local q
	fake_module
	wa_start
	: > "$FAKE/proc/nat"
	for q in '' '?al=1' '?all=2' '?all=1&client=10.0.0.1:1' '?proto=udp&client=10.0.0.1:1&x=1'; do
		areq DELETE "/api/nat$q" -H 'Content-Type: application/json'
		assertEquals "DELETE /api/nat$q" 400 "$CODE"
		assertEquals "field named for DELETE /api/nat$q" \
			"$(case $q in *x=1) echo '"x"' ;; *al=1) echo '"al"' ;; *) echo '"all"' ;; esac)" \
			"$(json field)"
	done
	assertEquals "nothing written to the nat file" "" "$(cat "$FAKE/proc/nat")"
	for q in /api/status?x /api/config?gport=1 /metrics?a=b '/api/nat?limit=1&limit=2' \
		'/api/nat?%C3=1' '/api/nat?proto%20client=1'; do
		areq GET "$q"
		assertEquals "GET $q" 400 "$CODE"
		assertNotNull "GET $q: a JSON error" "$(json error)"
	done
	assertEquals "a repeated name" '"limit: given twice"' \
		"$(areq GET '/api/nat?limit=1&limit=2'; json error)"
	areq GET '/api/nat?limit=1&proto=udp&cursor=0&state=REPLIED&client=10.0.0.0/8'
	# (the fake module has no TABLE socket option: 500, but not a 400)
	assertNotEquals "every GET /api/nat parameter at once" 400 "$CODE"
	areq GET '/index.html?v=2'
	assertEquals "static files take any query" 200 "$CODE"
}

testUsageErrorsExit2() {
	local args
	for args in "-l 127.0.0.1" "-l nohost:80" "-l 127.0.0.1:0" "-x" \
		"-p 99999 -r /bin/true" "-p 5" "-- extra"; do
		# shellcheck disable=SC2086
		"$WA" -f -s "$SECRET" -w "$T/www" $args >/dev/null 2>&1
		assertEquals "webadmin $args" 2 $?
	done
}

# ---- privilege separation ------------------------------------------------

# http_pid: the HTTP process, as webadmin logged it.
http_pid() {
	sed -n 's/^webadmin: HTTP process \([0-9]*\),.*/\1/p' "$LOG" | tail -n1
}

status_field() {
	sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status"
}

testHttpProcessRunsUnprivileged() {
	local hp uids

	wa_start
	th_wait_until "$WA_TIMEOUT" grep -q 'listening on' "$LOG"
	hp=$(http_pid)
	assertNotNull "webadmin has an HTTP process" "$hp"
	uids=$(status_field "$hp" Uid | tr -s '\t ' ' ')
	assertEquals "real, effective, saved and fs uid: $uids" \
		"$(id -u nobody) $(id -u nobody) $(id -u nobody) $(id -u nobody)" \
		"$uids"
	assertNotEquals "not root" 0 "$(echo "$uids" | awk '{print $2}')"
	assertEquals "CapEff" 0000000000000000 "$(status_field "$hp" CapEff)"
	assertEquals "CapPrm" 0000000000000000 "$(status_field "$hp" CapPrm)"
	assertEquals "CapBnd" 0000000000000000 "$(status_field "$hp" CapBnd)"
	assertEquals "NoNewPrivs" 1 "$(status_field "$hp" NoNewPrivs)"
	assertEquals "chrooted into the www directory" "$(realpath "$T/www")" \
		"$(readlink "/proc/$hp/root")"
	assertEquals "the privileged process stays root" 0 \
		"$(status_field "$WA_PID" Uid | awk '{print $2}')"
	assertTrue "the log says so: $(cat "$LOG")" \
		"grep -q 'listening on .* as uid $(id -u nobody)' '$LOG'"
	areq GET /api/status
	assertEquals "and it serves the API" 200 "$CODE"
}

testUserOptionPicksTheHttpUser() {
	wa_start -u daemon
	th_wait_until "$WA_TIMEOUT" grep -q 'listening on' "$LOG"
	assertEquals "uid of the HTTP process with -u daemon" "$(id -u daemon)" \
		"$(status_field "$(http_pid)" Uid | awk '{print $2}')"
	wa_stop
	"$WA" -f -l "127.0.0.1:$WA_PORT" -s "$SECRET" -w "$T/www" -u root \
		>"$LOG" 2>&1
	assertEquals "-u root is refused" 1 $?
	assertTrue "says why: $(cat "$LOG")" "grep -q 'refusing to run HTTP as root' '$LOG'"
}

testLostHttpProcessEndsWebadmin() {
	local hp rc relay=

	if [ -x "$RELAY" ]; then
		wa_start_supervising
		th_wait_until 10 relay_pid
		relay=$(relay_pid)
	else
		wa_start
	fi
	th_wait_until "$WA_TIMEOUT" grep -q 'listening on' "$LOG"
	hp=$(http_pid)
	assertNotNull "the HTTP process is logged" "$hp"
	kill -9 "$hp"
	th_wait_until 10 sh -c "! kill -0 $WA_PID"
	wait "$WA_PID"
	rc=$?
	WA_PID=
	assertEquals "webadmin's exit status after losing its HTTP process" 1 "$rc"
	assertTrue "logged: $(cat "$LOG")" \
		"grep -q 'HTTP process killed by signal 9: exiting' '$LOG'"
	if [ -n "$relay" ]; then
		assertTrue "tcp_relay $relay keeps running" "kill -0 $relay"
		wa_start_supervising
		sleep 1
		areq GET /api/status
		assertEquals "a new webadmin adopts it" "$relay" "$(json tcp_relay.pid)"
	fi
}

testHttpProcessEndsWithThePrivilegedOne() {
	local hp

	wa_start
	th_wait_until "$WA_TIMEOUT" grep -q 'listening on' "$LOG"
	hp=$(http_pid)
	assertNotNull "the HTTP process is logged" "$hp"
	{ kill -9 "$WA_PID"; wait "$WA_PID"; } 2>/dev/null
	WA_PID=
	assertTrue "the HTTP process $hp is gone after the privileged one" \
		"th_wait_until 10 sh -c '! kill -0 $hp'"
	assertFalse "nothing listens any more" \
		"ss -Hlnt 'sport = :$WA_PORT' | grep -q ."
	kill "$hp" 2>/dev/null	# when the test failed
	return 0
}

# privmsg FILE: the privileged loop against raw bytes (tests/fuzz/privmsg.c).
privmsg() {
	"$TH_TOP/tests/fuzz/privmsg" "$@" >"$T/privmsg.out" 2>&1
}

# KR_NCONF: the knobs of libkrelay.h's enum before KR_START.
NCONF=$(awk '/^\tKR_GPORT,/ { on = 1 } /^\tKR_START,/ { on = 0 } on && /^\tKR_/ { n++ } END { print n }' \
	"$TH_TOP/libkrelay/libkrelay.h")

# msg NAME TYPE PAYLOAD-PYTHON: write a request to $T/NAME; cfg() builds a
# PS_CONFIG payload (the mask, then KR_NCONF values of 128 bytes); N is
# KR_NCONF.
msg() {
	python3 -c 'import struct,sys
n = int(sys.argv[4])
p = eval(sys.argv[3], {"struct": struct, "N": n, "cfg": lambda d: struct.pack("=I", sum(1 << k for k in d)) + b"".join(d.get(k, b"").ljust(128, b"\0") for k in range(n))})
sys.stdout.buffer.write(struct.pack("=II", int(sys.argv[2]), len(p)) + p)' \
		"$1" "$2" "$3" "$NCONF" >"$T/$1"
}

testPrivilegedSideRefusesMalformedRequests() {
	local name before rc

	make -s -C "$TH_TOP/tests/fuzz" privmsg >/dev/null ||
		fail "cannot build tests/fuzz/privmsg"
	fake_module
	msg type0 0 'b""'
	msg type99 99 'b""'
	msg loaded_len 1 'b"xxxx"'
	msg config_mask0 7 'cfg({})'
	msg config_mask_bitN 7 'cfg({0: b"17000"})[:0] + struct.pack("=I", 1 | 1 << N) + cfg({0: b"17000"})[4:]'
	msg config_noncanonical 7 'cfg({0: b"017000"})'
	msg config_range 7 'cfg({0: b"70000"})'
	msg config_loopback 7 'cfg({1: b"127.0.0.1"})'
	msg config_newline 7 'cfg({0: b"17000\nflush"})'
	msg config_unterminated 7 'cfg({0: b"1" * 128})'
	msg config_junk_after_nul 7 'cfg({0: b"17000\0x"})'
	msg config_unset_not_zero 7 'cfg({0: b"17000"})[:4 + 128] + b"x" + cfg({0: b"17000"})[4 + 129:]'
	msg config_short 7 'cfg({0: b"17000"})[:-1]'
	msg config_empty_gport 7 'cfg({0: b""})'
	msg config_empty_real_ip 7 'cfg({1: b""})'
	msg config_interfaces_blanks 7 'cfg({9: b"eth0, eth1"})'
	msg config_interfaces_slash 7 'cfg({9: b"eth0/1"})'
	msg config_interfaces_twice 7 'cfg({9: b"eth0,eth0"})'
	msg config_per_client_big 7 'cfg({10: b"4194305"})'
	msg config_per_client_negative 7 'cfg({10: b"-1"})'
	msg config_per_client_empty 7 'cfg({10: b""})'
	msg config_cc_blank 7 'cfg({11: b"re no"})'
	msg config_cc_long 7 'cfg({12: b"a" * 16})'
	msg config_relay_pairs_zero 7 'cfg({13: b"0"})'
	msg config_relay_per_client_big 7 'cfg({14: b"65537"})'
	msg config_relay_idle_empty 7 'cfg({15: b""})'
	msg config_relay_connect_big 7 'cfg({16: b"3601"})'
	msg config_tcp_mode_word 7 'cfg({17: b"kern"})'
	msg start2 8 'struct.pack("=I", 2)'
	msg nat_proto1 9 'struct.pack("=III", 1, 0x0100000a, 80)'
	msg nat_flush_with_ip 9 'struct.pack("=III", 0, 0x0100000a, 0)'
	msg nat_port0 9 'struct.pack("=III", 17, 0x0100000a, 0)'
	msg nat_port_big 9 'struct.pack("=III", 17, 0x0100000a, 65536)'
	printf '\011\0\0\0\014\0\0\0\0\0' >"$T/truncated"
	echo eth9 >"$FAKE/proc/interfaces"
	before=$(knobs_now gport real_ip interfaces max_per_client; cat "$FAKE/proc/nat" "$FAKE/module/parameters/start")
	for name in type0 type99 loaded_len config_mask0 config_mask_bitN \
		config_noncanonical config_range config_loopback config_newline \
		config_unterminated config_junk_after_nul config_unset_not_zero \
		config_short config_empty_gport config_empty_real_ip \
		config_interfaces_blanks config_interfaces_slash \
		config_interfaces_twice config_per_client_big \
		config_per_client_negative config_per_client_empty \
		config_cc_blank config_cc_long config_relay_pairs_zero \
		config_relay_per_client_big config_relay_idle_empty \
		config_relay_connect_big config_tcp_mode_word start2 \
		nat_proto1 nat_flush_with_ip nat_port0 \
		nat_port_big truncated; do
		privmsg "$T/$name"
		rc=$?
		assertEquals "$name: exit status (1: refused): $(cat "$T/privmsg.out")" 1 "$rc"
		assertTrue "$name: refusal logged: $(cat "$T/privmsg.out")" \
			"grep -q 'refused a malformed request' '$T/privmsg.out'"
	done
	assertEquals "nothing written" "$before" \
		"$(knobs_now gport real_ip interfaces max_per_client; cat "$FAKE/proc/nat" "$FAKE/module/parameters/start")"

	msg config_ok 7 'cfg({0: b"17000"})'
	privmsg "$T/config_ok"
	rc=$?
	assertEquals "a good request is answered: $(cat "$T/privmsg.out")" 0 "$rc"
	assertTrue "its reply: $(cat "$T/privmsg.out")" \
		"grep -q 'reply 7 ' '$T/privmsg.out'"
	assertEquals "and carried out" 17000 "$(knob gport)"
	msg config_interfaces_empty 7 'cfg({9: b""})'
	privmsg "$T/config_interfaces_empty"
	rc=$?
	assertEquals "an empty interfaces is answered: $(cat "$T/privmsg.out")" 0 "$rc"
	assertEquals "and empties the knob" "" "$(knob interfaces)"
	msg config_interfaces_ok 7 'cfg({9: b"eth0,wlan+"})'
	privmsg "$T/config_interfaces_ok"
	rc=$?
	assertEquals "interfaces eth0,wlan+ is answered: $(cat "$T/privmsg.out")" 0 "$rc"
	assertEquals "and written" eth0,wlan+ "$(knob interfaces)"
	msg config_per_client_ok 7 'cfg({10: b"64"})'
	privmsg "$T/config_per_client_ok"
	rc=$?
	assertEquals "max_per_client 64 is answered: $(cat "$T/privmsg.out")" 0 "$rc"
	assertEquals "and written" 64 "$(knob max_per_client)"
	msg nat_ok 9 'struct.pack("=III", 17, 0x0100000a, 1234)'
	privmsg "$T/nat_ok"
	assertEquals "nat file command" 'delete udp 10.0.0.1:1234' "$(cat "$FAKE/proc/nat")"
}

# An HTTP process that trickles a request a byte at a time cannot hold the
# privileged loop (and with it tcp_relay's supervision): the whole message
# has one deadline (PRIVMSG_TIMEOUT_MS here, 10 s in webadmin).
testStallingHttpProcessEndsThePrivilegedOne() {
	local rc t0 secs
	make -s -C "$TH_TOP/tests/fuzz" privmsg >/dev/null ||
		fail "cannot build tests/fuzz/privmsg"
	fake_module
	msg config_ok 7 'cfg({0: b"17000"})'
	t0=$(date +%s)
	PRIVMSG_TRICKLE_MS=20 PRIVMSG_TIMEOUT_MS=1000 privmsg "$T/config_ok"
	rc=$?
	secs=$(($(date +%s) - t0))
	assertEquals "a trickled request ends it (exit 1): $(cat "$T/privmsg.out")" 1 "$rc"
	assertTrue "the stall is logged: $(cat "$T/privmsg.out")" \
		"grep -q 'the HTTP process stalled in a request (type 7, $((4 + NCONF * 128)) bytes)' '$T/privmsg.out'"
	assertTrue "within the deadline, not after the $(((4 + NCONF * 128) / 50)) s the bytes take ($secs s)" "[ $secs -lt 20 ]"
	assertEquals "nothing written" 16000 "$(knob gport)"
	PRIVMSG_TIMEOUT_MS=1000 privmsg "$T/config_ok"
	rc=$?
	assertEquals "the same request sent at once is answered: $(cat "$T/privmsg.out")" 0 "$rc"
}

# ---- supervision of the real tcp_relay (standalone mode, no module) -------

relay_pid() {
	local p

	p=$(cat "$T/relay.pid" 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo "$p"
}

need_relay() {
	if [ ! -x "$RELAY" ]; then
		startSkipping
		echo "SKIP: $RELAY not built yet: supervision not tested"
		return 1
	fi
}

wa_start_supervising() {
	wa_start -r "$RELAY" -P "$T/relay.pid" -p "$RELAY_PORT" -- -t 127.0.0.1:9
}

testTcpRelayRestartedAfterKill() {
	need_relay || return
	wa_start_supervising
	th_wait_until 10 relay_pid
	local first
	first=$(relay_pid)
	assertNotNull "tcp_relay started and wrote its pidfile" "$first"
	th_wait_port tcp 127.0.0.1 "$RELAY_PORT" 5
	assertTrue "tcp_relay listens on -p $RELAY_PORT" $?
	areq GET /api/status
	assertEquals "running" true "$(json tcp_relay.running)"
	assertEquals "pid" "$first" "$(json tcp_relay.pid)"
	assertEquals "no restart yet" 0 "$(json tcp_relay.restarts)"

	kill -9 "$first"
	th_wait_until 10 sh -c "p=\$(cat '$T/relay.pid') && [ \"\$p\" != $first ] && kill -0 \$p"
	local second
	second=$(relay_pid)
	assertNotEquals "a new tcp_relay" "$first" "${second:-none}"
	areq GET /api/status
	assertEquals "restart counted" 1 "$(json tcp_relay.restarts)"
	areq GET /metrics
	assertTrue "metrics count it: $(grep restarts "$T/body")" \
		"grep -qx 'krelay_tcp_relay_restarts_total 1' '$T/body'"
	assertTrue "the death is logged" "grep -q 'killed by signal 9' '$LOG'"
}

testTcpRelaySurvivesWebadminRestart() {
	need_relay || return
	wa_start_supervising
	th_wait_until 10 relay_pid
	local pid
	pid=$(relay_pid)
	assertNotNull "tcp_relay started" "$pid"
	assertNotEquals "tcp_relay has its own session" \
		"$(ps -o sid= -p "$WA_PID")" "$(ps -o sid= -p "$pid")"
	wa_stop
	assertTrue "tcp_relay still runs after webadmin exited" "kill -0 $pid"

	wa_start_supervising
	sleep 1
	areq GET /api/status
	assertEquals "the new webadmin found it" "$pid" "$(json tcp_relay.pid)"
	assertEquals "and did not start another" "$pid" "$(relay_pid)"
	assertEquals "not a restart" 0 "$(json tcp_relay.restarts)"
	kill -9 "$pid"
	th_wait_until 10 sh -c "p=\$(cat '$T/relay.pid') && [ \"\$p\" != $pid ] && kill -0 \$p"
	assertNotEquals "an adopted tcp_relay is restarted too" "$pid" "$(relay_pid)"
}

# A process named tcp_relay at the pid in a stale pidfile is not adopted:
# only the holder of the pidfile's lock is.
testImpostorAtStalePidIsNotAdopted() {
	need_relay || return
	local fake pid
	mkdir -p "$T/impostor"
	cp /bin/sleep "$T/impostor/tcp_relay"
	"$T/impostor/tcp_relay" 300 &
	fake=$!
	echo "$fake" >"$T/relay.pid"
	wa_start_supervising
	th_wait_until 10 sh -c "p=\$(cat '$T/relay.pid') && [ \"\$p\" != $fake ] && kill -0 \$p"
	pid=$(relay_pid)
	assertNotEquals "a real tcp_relay was started" "$fake" "${pid:-none}"
	th_wait_port tcp 127.0.0.1 "$RELAY_PORT" 5
	assertTrue "and it listens on -p $RELAY_PORT" $?
	areq GET /api/status
	assertEquals "the API names the real one" "$pid" "$(json tcp_relay.pid)"
	assertFalse "the impostor was not adopted: $(cat "$LOG")" \
		"grep -q 'already running as pid $fake' '$LOG'"
	kill "$fake"
	wait "$fake" 2>/dev/null || :
}

testDaemonModeNeedsAbsolutePaths() {
	local o
	for o in "-s secret" "-w www" "-c krelay.conf" "-P run/relay.pid" "-r tcp_relay"; do
		# shellcheck disable=SC2086 # option and value
		(cd "$T" && "$WA" -l "127.0.0.1:$WA_PORT" $o >"$LOG" 2>&1)
		assertEquals "exit status without -f, $o" 2 $?
		assertTrue "says why: $(cat "$LOG")" "grep -q -- '$o: needs an absolute path' '$LOG'"
	done
	(cd "$T" && "$WA" -f -l "127.0.0.1:$WA_PORT" -s secret -w /nonexistent >"$LOG" 2>&1)
	assertEquals "with -f a relative name is fine (then the missing www fails)" 1 $?
}

# A daemon's stderr is /dev/null: tcp_relay's stderr is a pipe webadmin
# reads, and its lines reach syslog. The syslog part runs in a private
# mount namespace whose /dev/log is this test's (not possible in a chroot,
# where / is no mount point: there only the pipe is checked).
testDaemonModeKeepsTcpRelayLog() {
	need_relay || return
	local wa relay rc ino ns=yes
	: >"$T/syslog"
	unshare -m --propagation private true 2>/dev/null || ns=no
	if [ $ns = yes ]; then
		# shellcheck disable=SC2016 # expanded by the inner shell
		T=$T WA=$WA SECRET=$SECRET RELAY=$RELAY WA_PORT=$WA_PORT RELAY_PORT=$RELAY_PORT \
		unshare -m --propagation private bash -c '
			set -e
			mkdir -p "$T/olddev"
			mount --bind /dev "$T/olddev"
			mount -t tmpfs tmpfs /dev
			for f in null zero full random urandom; do
				touch "/dev/$f"
				mount --bind "$T/olddev/$f" "/dev/$f"
			done
			/usr/bin/python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(\"/dev/log\")
open(sys.argv[1] + \".ready\", \"w\").close()
with open(sys.argv[1], \"ab\") as f:
    while True:
        f.write(s.recv(65536) + b\"\\n\")
        f.flush()
" "$T/syslog" </dev/null >/dev/null 2>&1 &
			echo $! >"$T/syslogd.pid"
			for i in $(seq 50); do [ -e "$T/syslog.ready" ] && break; sleep 0.1; done
			"$WA" -l "127.0.0.1:$WA_PORT" -s "$SECRET" -w "$T/www" -r "$RELAY" \
				-P "$T/relay.pid" -p "$RELAY_PORT" -- -t 127.0.0.1:9
		'
	else
		echo "no private mount namespace here (a chroot?): the syslog part is skipped"
		"$WA" -l "127.0.0.1:$WA_PORT" -s "$SECRET" -w "$T/www" -r "$RELAY" \
			-P "$T/relay.pid" -p "$RELAY_PORT" -- -t 127.0.0.1:9
	fi
	assertEquals "webadmin started as a daemon" 0 $?
	th_wait_until 10 relay_pid
	relay=$(relay_pid)
	wa=$(pgrep -f -- "-l 127.0.0.1:$WA_PORT -s $SECRET" | tr "\n" " ")
	assertNotNull "tcp_relay runs" "$relay"
	ino=$(readlink "/proc/$relay/fd/2")
	assertTrue "its stderr is a pipe: $ino" "[ '${ino#pipe:}' != '$ino' ]"
	# shellcheck disable=SC2086 # pids
	assertTrue "webadmin holds the pipe's other end" \
		"for p in $wa; do ls -l /proc/\$p/fd/; done 2>/dev/null | grep -qF '$ino'"
	if [ $ns = yes ]; then
		th_wait_until 10 grep -q 'tcp_relay\[[0-9]*\]: listening on port' "$T/syslog"
		rc=$?
		assertTrue "tcp_relay's log line reached syslog: $(tr -d '\0' <"$T/syslog")" $rc
	fi
	# shellcheck disable=SC2086 # pids
	[ -n "$wa" ] && th_kill_wait $wa
	[ -n "$relay" ] && th_kill_wait "$relay"
	[ -s "$T/syslogd.pid" ] && th_kill_wait "$(cat "$T/syslogd.pid")"
	return 0
}

testGportChangeSendsSighup() {
	need_relay || return
	fake_module
	wa_start_supervising
	th_wait_until 10 relay_pid
	areq PUT /api/config -H 'Content-Type: application/json' -d '{"gport": 16001}'
	assertEquals "gport change" 200 "$CODE"
	assertTrue "SIGHUP sent: $(cat "$LOG")" \
		"grep -q 'sent SIGHUP to tcp_relay pid $(relay_pid)' '$LOG'"
	areq PUT /api/config -H 'Content-Type: application/json' -d '{"udp_timeout": 31}'
	assertEquals "SIGHUP only for gport" 1 "$(grep -c 'sent SIGHUP' "$LOG")"
}

# unit_bounding_set: webadmin.service's CapabilityBoundingSet as setpriv's
# --bounding-set list ("-all,+net_admin,...").
unit_bounding_set() {
	sed -n 's/^CapabilityBoundingSet=//p' "$TH_TOP/dist/webadmin.service.in" |
		tr 'A-Z ' 'a-z\n' | sed -n 's/^cap_/+/p' | paste -sd, | sed 's/^/-all,/'
}

# webadmin as root with no more capabilities than its unit gives it: it
# signals its HTTP process (the HTTP user's) and tcp_relay (tcp_relay's
# user), both other users, so the unit must keep CAP_KILL.
testUnitCapabilitiesLetWebadminSignalItsProcesses() {
	local bs hp pid

	need_relay || return
	if [ "$(id -u)" != 0 ]; then
		startSkipping
		echo "SKIP: not root: the processes run as this user"
		return
	fi
	bs=$(unit_bounding_set)
	assertContains "the unit's bounding set read" "$bs" "+net_admin"
	fake_module
	WA_WRAP=(setpriv "--bounding-set=$bs" --)
	wa_start_supervising
	th_wait_until 10 relay_pid
	pid=$(relay_pid)
	hp=$(http_pid)
	assertNotEquals "tcp_relay runs as another user" 0 "$(ps -o uid= -p "$pid" | tr -d ' ')"
	assertNotEquals "the HTTP process runs as another user" 0 "$(ps -o uid= -p "$hp" | tr -d ' ')"
	areq PUT /api/config -H 'Content-Type: application/json' -d '{"gport": 16001}'
	assertEquals "gport change" 200 "$CODE"
	assertTrue "SIGHUP reached tcp_relay under $bs: $(grep -i sighup "$LOG")" \
		"th_wait_until 5 grep -q 'sent SIGHUP to tcp_relay pid $pid' '$LOG'"
	wa_stop
	assertTrue "the HTTP process $hp is gone" "th_wait_until 10 sh -c '! kill -0 $hp'"
	th_assert_lacks "webadmin signalled its HTTP process itself" \
		"$(cat "$LOG")" "SIGTERM to the HTTP process"
	assertTrue "tcp_relay still runs after webadmin's stop" "kill -0 $pid"
}

. shunit2
