#!/bin/bash
# webadmin's PUT /api/config is all or nothing, on this host, with plain
# files standing in for the module's (as in webadmin_host_test.sh):
#
#   curl ──PUT /api/config──▶ webadmin 127.0.0.1:$WA_PORT ──▶ $T/fake/proc/KNOB
#                                        └──── -c ──▶ $T/krelay.conf (or a
#                                                     path it cannot save)
#
# A write the "module" refuses midway (a knob file linked to /dev/full:
# readable, every write fails) or a -c file that cannot be saved must leave
# every knob as it was, the file too, and answer an error, never 200.

. "$(dirname "$0")/lib.sh"

WA=${WEBADMIN:-$TH_TOP/webadmin/webadmin}
WA_PORT=$((23100 + $$ % 300))
WA_PID=
T=

oneTimeSetUp() {
	make -s -C "$TH_TOP" progs >/dev/null || fail "cannot build the programs"
}

setUp() {
	T=$(mktemp -d "$SHUNIT_TMPDIR/t.XXXX")
	mkdir -p "$T/www"
	printf '<!DOCTYPE html><title>t</title>\n' >"$T/www/index.html"
	th_fake_module "$T/fake/proc" "$T/fake/module/parameters"
	export KRELAY_MODULE_DIR=$T/fake/module
}

tearDown() {
	if [ -n "$WA_PID" ]; then
		kill -TERM "$WA_PID" 2>/dev/null
		wait "$WA_PID"
		WA_PID=
	fi
}

# wa_start CONFIG_FILE: webadmin with -c CONFIG_FILE, listening.
wa_start() {
	"$WA" -f -l "127.0.0.1:$WA_PORT" -s "$T/secret" -w "$T/www" -c "$1" \
		>>"$T/webadmin.log" 2>&1 &
	WA_PID=$!
	th_wait_port tcp 127.0.0.1 "$WA_PORT" 10 ||
		fail "webadmin did not listen: $(cat "$T/webadmin.log")"
}

# put_config JSON: sets CODE, the body in $T/body.
put_config() {
	CODE=$(curl -s -o "$T/body" -w '%{http_code}' -X PUT \
		-u "admin:$(cut -d: -f2- "$T/secret")" \
		-H 'Content-Type: application/json' -d "$1" \
		"http://127.0.0.1:$WA_PORT/api/config")
}

error_of() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"])' "$T/body"
}

knobs() {
	local k

	for k in "$@"; do cat "$T/fake/proc/$k"; done | tr '\n' ' '
}

testGoodPutIsWrittenAndSaved() {
	wa_start "$T/krelay.conf"
	put_config '{"gport": 17000, "udp_timeout": 45}'
	assertEquals "status: $(cat "$T/body")" 200 "$CODE"
	assertEquals "written" "17000 45 " "$(knobs gport udp_timeout)"
	assertTrue "saved: $(cat "$T/krelay.conf" 2>&1)" \
		"grep -qx 'gport = 17000' '$T/krelay.conf'"
}

testRefusedWriteMidwayUndoesTheOthers() {
	# max_per_client goes after gport and udp_timeout.
	ln -sf /dev/full "$T/fake/proc/max_per_client"
	wa_start "$T/krelay.conf"
	put_config '{"gport": 17000, "udp_timeout": 45, "max_per_client": 9}'
	assertEquals "an error: $(cat "$T/body")" 500 "$CODE"
	assertEquals "names the knob refused" max_per_client \
		"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["field"])' "$T/body")"
	assertEquals "the knobs written before it are back" "16000 30 " \
		"$(knobs gport udp_timeout)"
	assertFalse "nothing saved: $(cat "$T/krelay.conf" 2>&1)" "[ -e '$T/krelay.conf' ]"
}

testFailedSaveIsAnErrorAndUndoesTheKnobs() {
	wa_start "$T/no-such-dir/krelay.conf"
	put_config '{"gport": 17000, "udp_timeout": 45, "tcp_ports": [80, 16000]}'
	assertEquals "a server error, not a silent 200: $(cat "$T/body")" 500 "$CODE"
	assertTrue "the JSON error says the file was not saved: $(cat "$T/body")" \
		"error_of | grep -q 'save .*no-such-dir/krelay.conf: No such file or directory; nothing changed'"
	assertEquals "every knob back" "16000 30 53,80 " "$(knobs gport udp_timeout tcp_ports)"
	assertTrue "logged: $(cat "$T/webadmin.log")" \
		"grep -q 'save .*no-such-dir/krelay.conf' '$T/webadmin.log'"
}

. shunit2
