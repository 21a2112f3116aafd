#!/bin/bash
# shellcheck disable=SC2016
# webadmin's parsers under libFuzzer, and webadmin built with ASan and
# UBSan under a flood of malformed HTTP, on this host:
#
#   fuzz_body, fuzz_query, fuzz_privmsg (tests/fuzz/, clang 14,
#     -fsanitize=fuzzer,address,undefined), FUZZ_TIME s each over a copy
#     of tests/fuzz/corpus/
#   httpfuzz.py ──HTTP from 127.0.0.3-62──▶ webadmin-asan 127.0.0.1:$WA_PORT
#               ──good requests from 127.0.0.2──▶ (must get 200 throughout)
#
# `make fuzz` (SOAK_TIME=600 per target) is the long run.

. "$(dirname "$0")/lib.sh"

FUZZ=$TH_TOP/tests/fuzz
WA_PORT=$((19000 + $$ % 400))
FUZZ_TIME=${FUZZ_TIME:-10}
HTTPFUZZ_COUNT=${HTTPFUZZ_COUNT:-3000}

oneTimeSetUp() {
	make -s -C "$FUZZ" fuzzers webadmin-asan >"$SHUNIT_TMPDIR/build.log" 2>&1 ||
		{ cat "$SHUNIT_TMPDIR/build.log"; fail "cannot build the fuzz targets"; }
}

testFuzzTargetsFindNothing() {
	local out

	out=$(make -s -C "$FUZZ" fuzz-check FUZZ_TIME="$FUZZ_TIME" 2>&1)
	assertTrue "every target ran clean: $out" $?
	echo "$out"
	assertEquals "three targets reported" 3 "$(grep -c ' execs in ' <<<"$out")"
}

testMalformedHttpLeavesWebadminAnswering() {
	local T=$SHUNIT_TMPDIR pid pass out rc

	mkdir -p "$T/www"
	echo '<!DOCTYPE html><title>t</title>' >"$T/www/index.html"
	# Leaks are valgrind's business (webadmin_host_test.sh with
	# WEBADMIN_VALGRIND=1): LeakSanitizer cannot stop the threads of the
	# HTTP process once it gave up root (it is no longer dumpable).
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$FUZZ/webadmin-asan" -f -l "127.0.0.1:$WA_PORT" -s "$T/secret" \
		-w "$T/www" >"$T/log" 2>&1 &
	pid=$!
	th_wait_until 10 test -s "$T/secret" &&
		th_wait_until 10 grep -q 'listening on' "$T/log"
	rc=$?
	assertTrue "webadmin-asan started: $(cat "$T/log")" "$rc"
	pass=$(cut -d: -f2- "$T/secret")
	out=$(python3 "$FUZZ/httpfuzz.py" 127.0.0.1 "$WA_PORT" "$pass" \
		"$HTTPFUZZ_COUNT" 2>&1)
	rc=$?
	echo "$out"
	assertEquals "httpfuzz: $out" 0 "$rc"
	assertTrue "both processes still run" \
		"kill -0 $pid && pgrep -P $pid >/dev/null"
	kill -TERM "$pid"
	wait "$pid"
	assertEquals "clean exit after SIGTERM" 0 $?
	assertFalse "no sanitizer report: $(grep -A20 -E 'Sanitizer|runtime error' "$T/log" | head -40)" \
		"grep -qE 'Sanitizer|runtime error' '$T/log'"
}

. shunit2
