#!/bin/bash
# The dashboard in a real browser, against the real module. Runs on the
# host and boots the lab itself:
#
#   host: Chromium (chromedriver, python3-selenium) ──▶ 127.0.0.1:8080
#         ══ QEMU hostfwd ══▶
#   guest: webadmin 10.0.2.15:8080 (the lab's main job: krelay started,
#          tcp_relay supervised, dnsmasq and an httpd on the server),
#          and a dig and a curl from the client every second.
#
# The guest stays up until this script touches build/lab/dashboard.stop
# (or DASH_BOUND seconds pass, a failure). The lab's own verdict (kernel
# health included) counts as one more check. The screenshot lands in
# build/dashboard.png. Needs Debian's chromium, chromium-driver (built
# from the same source, so the versions match) and python3-selenium;
# tests/dashboard/dashboard.py runs under /usr/bin/python3, where Debian's
# selenium is (a python3 earlier in PATH may not have it).
#
# Only one QEMU may run at a time: the lab runs under flock /tmp/lab.lock.

set -u
top=$(cd "$(dirname "$0")/.." && pwd)
out=${LAB_OUT:-$top/build/lab}
bound=${DASH_BOUND:-240}
port=8080			# webadmin's Host check wants the same port on both sides
url=http://127.0.0.1:$port
shot=${DASH_SHOT:-$top/build/dashboard.png}
stop=$out/dashboard.stop
lablog=$top/build/dashboard-lab.log
locked=$top/build/dashboard.locked
passed=0
failed=0

result() {
	if [ "$1" = 0 ]; then
		passed=$((passed + 1))
		echo "ok - $2"
	else
		failed=$((failed + 1))
		echo "not ok - $2"
	fi
}

finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

for t in /usr/bin/chromium /usr/bin/chromedriver /usr/bin/python3; do
	[ -x "$t" ] || { result 1 "$t is installed"; finish; }
done
if ! /usr/bin/python3 -c 'import selenium' 2>/dev/null; then
	result 1 "python3-selenium is installed (/usr/bin/python3 -c 'import selenium')"
	finish
fi
if curl -s -o /dev/null --max-time 2 "$url/"; then
	result 1 "port $port is free on the host (something answers there already)"
	finish
fi

# The guest's command: the main job, traffic, then wait for the stop file.
# /tmp/lab-out in the guest is $out here.
read -r -d '' guest_cmd <<EOF
. "\$lab_top/tests/lab/main-job.sh"
( while :; do
	ip netns exec cli dig +short +tries=1 +time=1 @192.168.0.2 test.lab
	ip netns exec cli curl -s -o /dev/null --max-time 2 http://192.168.0.2/
	sleep 1
done ) >/dev/null 2>&1 &
traffic=\$!
# More flows than a page of the table, when the browser asks for them.
( while [ ! -e /tmp/lab-out/dashboard.flood ]; do sleep 0.5; done
  echo 600 > /proc/krelay/udp_timeout
  ip netns exec cli python3 "\$lab_top/tests/attack.py" flood --dst 192.168.0.2 \\
	--dport 53 --kind dns --src 10.0.0.100-10.0.0.249 --sport 30000 -n 1500 ) >/dev/null 2>&1 &
end=\$((SECONDS + $bound))
while [ ! -e /tmp/lab-out/dashboard.stop ] && [ \$SECONDS -lt \$end ]; do sleep 0.5; done
kill \$traffic
if [ -e /tmp/lab-out/dashboard.stop ]; then
	echo "lab: dashboard test done"
else
	echo "lab: no stop file after $bound s"
	exit 1
fi
EOF

mkdir -p "$out"
rm -f "$stop" "$locked" "$out/dashboard.flood"
start=$SECONDS
# shellcheck disable=SC2016 # $1 and $@ are the inner shell's
# $locked appears once this run holds the lab lock: until then, port 8080
# may belong to someone else's lab.
flock /tmp/lab.lock sh -c 'touch "$1"; shift; exec "$@"' sh "$locked" \
	env LAB_HOSTFWD=$port-10.0.2.15:8080 \
	"$top/tests/lab/run" --cmd "$guest_cmd" >"$lablog" 2>&1 &
lab=$!

# Wait for the lock, the boot and the main job (the lab's own timeout
# bounds this: the wait ends when the lab ends).
code=
while kill -0 "$lab" 2>/dev/null; do
	[ -e "$locked" ] || { sleep 1; continue; }
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$url/")
	[ "$code" = 200 ] && break
	sleep 1
done
if [ "$code" = 200 ]; then
	echo "dashboard: webadmin answers after $((SECONDS - start)) s"
	result 0 "webadmin in the lab answers on $url/"
	pass=$(cut -d: -f2- "$out/webadmin.secret" 2>/dev/null)
	if [ -n "$pass" ]; then
		result 0 "the password in $out/webadmin.secret"
		DASH_URL=$url DASH_PASSWORD=$pass DASH_SHOT=$shot DASH_FLOOD=$out/dashboard.flood \
			/usr/bin/python3 "$top/tests/dashboard/dashboard.py" >"$top/build/dashboard.log" 2>&1
		rc=$?
		cat "$top/build/dashboard.log"
		counts=$(sed -n 's/^dashboard: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' \
			"$top/build/dashboard.log")
		if [ -n "$counts" ]; then
			passed=$((passed + ${counts% *}))
			failed=$((failed + ${counts#* }))
			[ "$rc" = 0 ] || [ "${counts#* }" != 0 ] || result 1 "dashboard.py exited with $rc"
		else
			result 1 "the browser script ran to its end (exit $rc)"
		fi
	else
		result 1 "the password in $out/webadmin.secret"
	fi
else
	result 1 "webadmin in the lab answers on $url/ (last HTTP code: ${code:-none})"
fi

touch "$stop"
wait "$lab"
rc=$?
rm -f "$stop" "$locked" "$out/dashboard.flood"
grep -E '^lab: (FAILED|[0-9]+ s)' "$lablog"
result "$rc" "the lab's verdict (tests/lab/run exit status $rc, log $lablog)"
finish
