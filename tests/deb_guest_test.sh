#!/bin/bash
# The Debian packages on a fresh Debian 12 booted with systemd as PID 1
# (make check-deb: tests/deb/run boots it, tests/deb/guest.sh runs this
# suite in it): krelay and krelay-dkms installed with dpkg, DKMS building
# the module for the running kernel, the units enabled and relaying DNS
# and HTTP, an upgrade to a rebuilt version, remove, purge, reinstall.
#
#   cli 10.0.0.1 --- rc0 10.0.0.2 | relay (root ns) | 192.168.0.2 rs0 --- srv 192.168.0.20
#                                                            dnsmasq :53, httpd :80, echo :8000
#
# The server is not at krelay.conf's default real_ip (192.168.0.10): only
# the administrator's edit of krelay.conf makes relaying work, so a
# package that dropped the edit would show. ip_forward is left as the
# kernel booted (0): the packages must not turn it on, krelay.service does.
#
# The tests run in file order, each starting where the one before left the
# system; run alone (DEB_TESTS=testA,testB make check-deb), each first
# brings the system to its starting state (the need_* helpers).
#
# Environment: DEB_V1, DEB_V2: directories holding the krelay and
# krelay-dkms .deb files of the first version and of the upgrade.
# lab-budget: 3000 s

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

RELAY=192.168.0.2
REAL=192.168.0.20
KREL=$(uname -r)
CONF=/etc/krelay/krelay.conf
V1=
V2=
T=

# ---- State of the system

# pkg_status PACKAGE: dpkg's "want ok status version", empty when unknown.
pkg_status() { dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null; }
installed() { [ "$(pkg_status "$1")" = "install ok installed $2" ]; }

# deb_install DIR: both packages of DIR in one dpkg run (DKMS builds the
# module in krelay-dkms's postinst: minutes on this emulated CPU).
deb_install() {
	echo "== dpkg -i $1" >> "$T/dpkg.log"
	dpkg -i "$1"/krelay-dkms_*.deb "$1"/krelay_*.deb >> "$T/dpkg.log" 2>&1
}

# dpkg_do ARGS...: dpkg with its output in dpkg.log.
dpkg_do() {
	echo "== dpkg $*" >> "$T/dpkg.log"
	dpkg "$@" >> "$T/dpkg.log" 2>&1
}

dpkg_tail() { tail -n 25 "$T/dpkg.log"; }

# assert_ok STATUS MESSAGE: assertTrue with the status first: expanded
# before the message, whose command substitutions would reset $?.
assert_ok() { assertTrue "$2" "$1"; }

relay_pid() {
	local p
	p=$(head -n 1 /run/krelay/tcp_relay.pid 2>/dev/null) || return 1
	[ "$(cat "/proc/$p/comm" 2>/dev/null)" = tcp_relay ] && echo "$p"
}

main_pid() { systemctl show -p MainPID --value "$1"; }
active_since() { systemctl show -p ActiveEnterTimestampMonotonic --value "$1"; }

# krelay_procs: every process of the package's (webadmin, its HTTP
# process, tcp_relay and its children), as "PID USER COMM" lines.
krelay_procs() {
	ps -e -o pid=,user:32=,comm= | awk '$2 == "krelay" || $2 == "krelay-relay" ||
		$3 == "webadmin" || $3 == "tcp_relay"'
}

no_krelay_procs() { [ -z "$(krelay_procs)" ]; }

# relaying: tcp_relay listens and its listener is registered with krelay.
relaying() {
	relay_pid >/dev/null && th_listener_on_gport
}

dig_relay() { cli dig @$RELAY +tries=2 +time=10 +short "$@" krelay.test; }
curl_relay() { cli curl -sS --max-time 60 "http://$RELAY/index.html"; }

# edit_conf: the administrator's edit before enabling: real_ip at the
# server, and the held flow's port relayed too.
edit_conf() {
	sed -i "s/^real_ip = .*/real_ip = $REAL/" "$CONF" &&
		printf '# the test'"'"'s held flow\ntcp_ports = 53,80,8000\n' >> "$CONF"
}

enable_now() {
	echo "== systemctl enable --now" >> "$T/systemctl.log"
	systemctl enable --now krelay.service webadmin.service >> "$T/systemctl.log" 2>&1
}

# ---- need_*: bring the system to a test's starting state (no-ops when
# the tests run in order).

need_installed() {
	installed krelay "$V1" || installed krelay "$V2" || deb_install "$DEB_V1" ||
		fail "cannot install $V1: $(dpkg_tail)"
}

need_running() {
	need_installed
	grep -q "^real_ip = $REAL$" "$CONF" || edit_conf
	systemctl is-active -q webadmin.service || enable_now ||
		fail "cannot start the units: $(tail -n 5 "$T/systemctl.log")"
	th_wait_until $((60 * TH_SCALE)) relaying || fail "tcp_relay does not relay"
}

# need_present: the packages installed or removed, not purged.
need_present() {
	[ -n "$(pkg_status krelay)" ] && [ "$(pkg_status krelay | cut -d' ' -f3)" != not-installed ] ||
		deb_install "$DEB_V1" || fail "cannot install $V1: $(dpkg_tail)"
}

need_purged() {
	dpkg_do -P krelay krelay-dkms || fail "cannot purge: $(dpkg_tail)"
}

# ---- The servers and the held flow

# echo_server: echoes lines on $REAL:8000; each connection's peer in
# echo.log as it comes.
echo_server() {
	srv python3 -c 'import socket, sys, threading
def serve(c, a):
    with open(sys.argv[2], "a") as f:
        print("%s:%d" % a, file=f, flush=True)
    while True:
        d = c.recv(4096)
        if not d:
            break
        c.sendall(d)
    c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 8000))
s.listen(16)
while True:
    c, a = s.accept()
    threading.Thread(target=serve, args=(c, a), daemon=True).start()' "$REAL" "$T/echo.log" &
}

# hold_flow: a client connection through the relay to the echo server
# that echoes a line every half second until $T/held.stop exists; the
# count of exchanges so far in $T/held.count; prints "ok N" at the end, or
# what broke.
hold_flow() {
	rm -f "$T/held.stop" "$T/held.count" "$T/held.out"
	cli python3 -c 'import os, socket, sys, time
stop, count = sys.argv[2], sys.argv[3]
s = socket.create_connection((sys.argv[1], 8000), timeout=30)
n = 0
try:
    while not os.path.exists(stop):
        msg = b"line %d\n" % n
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            d = s.recv(len(msg) - len(got))
            if not d:
                raise EOFError("connection closed")
            got += d
        if got != msg:
            raise ValueError("echo %r for %r" % (got, msg))
        n += 1
        with open(count + ".new", "w") as f:
            f.write("%d\n" % n)
        os.rename(count + ".new", count)
        time.sleep(0.5)
except Exception as e:
    print("broken after %d exchanges: %s" % (n, e))
    sys.exit(1)
print("ok %d" % n)' "$RELAY" "$T/held.stop" "$T/held.count" > "$T/held.out" 2>&1 &
	HELD_PID=$!
}

held_count() { cat "$T/held.count" 2>/dev/null || echo 0; }
# held_past N: more than N exchanges so far (a function: th_wait_until
# must read the count anew each time).
held_past() { [ "$(held_count)" -gt "$1" ]; }

oneTimeSetUp() {
	T=$SHUNIT_TMPDIR
	: "${DEB_V1:?}" "${DEB_V2:?}"
	V1=$(dpkg-deb -f "$DEB_V1"/krelay_*.deb Version)
	V2=$(dpkg-deb -f "$DEB_V2"/krelay_*.deb Version)
	echo "deb: testing $V1, then the upgrade to $V2, on $KREL"
	# The three hosts, as tests/lab/topology.sh builds them, but for the
	# server's address and ip_forward (left alone: the test checks who
	# turns it on).
	ip link set lo up
	ip netns add cli
	ip netns add srv
	ip link add rc0 type veth peer name eth0 netns cli
	ip link add rs0 type veth peer name eth0 netns srv
	ip addr add 10.0.0.2/24 dev rc0
	ip addr add 192.168.0.2/24 dev rs0
	ip link set rc0 up
	ip link set rs0 up
	ip -n cli link set lo up
	ip -n cli addr add 10.0.0.1/24 dev eth0
	ip -n cli link set eth0 up
	ip -n cli route add default via 10.0.0.2
	ip -n srv link set lo up
	ip -n srv addr add 192.168.0.1/24 dev eth0
	ip -n srv addr add $REAL/24 dev eth0
	ip -n srv link set eth0 up
	ip -n srv route add default via 192.168.0.2

	mkdir -p "$T/www"
	echo "krelay package test page $$" > "$T/www/index.html"
	srv python3 "$TH_TOP/tests/httpd.py" 80 --bind $REAL --directory "$T/www" \
		2>"$T/http.log" >/dev/null &
	srv dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
		--no-hosts --bind-interfaces --listen-address=$REAL --user=root \
		--address=/krelay.test/192.0.2.7 --log-queries \
		--log-facility="$T/dns.log" --pid-file="$T/dns.pid" &
	echo_server
	th_wait_until 30 srv sh -c "ss -Hlnt 'src $REAL:80' | grep -q ." || fail "httpd did not start"
	th_wait_until 30 srv sh -c "ss -Hlnt 'src $REAL:8000' | grep -q ." || fail "echo server did not start"
	th_wait_until 30 srv sh -c "ss -Hlnu 'src $REAL:53' | grep -q ." || fail "dnsmasq did not start"
}

oneTimeTearDown() {
	# What a failure needs to be understood, beside the suite's log.
	[ -n "${DEB_LOGS:-}" ] && cp "$T"/*.log "$T"/held.* "$DEB_LOGS/" 2>/dev/null
	return 0
}

# Each test's time on the console (shunit2 names the running test in
# _shunit_test_; its exit handler calls tearDown once more, with none).
setUp() { TEST_T0=$SECONDS; }
tearDown() {
	[ -n "${_shunit_test_:-}" ] && echo "deb: $_shunit_test_ took $((SECONDS - TEST_T0)) s"
	return 0
}

# ---- The tests

testInstallStartsNothing() {
	assertEquals "ip_forward as booted" 0 "$(sysctl -n net.ipv4.ip_forward)"
	installed krelay "$V1" && fail "krelay already installed"
	deb_install "$DEB_V1"
	assert_ok $? "dpkg -i $V1: $(dpkg_tail)"
	assertEquals "krelay" "install ok installed $V1" "$(pkg_status krelay)"
	assertEquals "krelay-dkms" "install ok installed $V1" "$(pkg_status krelay-dkms)"

	local u pw
	for u in krelay krelay-relay; do
		pw=$(getent passwd "$u")
		assertNotNull "user $u exists" "$pw"
		assertTrue "$u is a system user: $pw" "[ $(echo "$pw" | cut -d: -f3) -lt 1000 ]"
		assertEquals "$u has no shell" /usr/sbin/nologin "$(echo "$pw" | cut -d: -f7)"
	done

	assertTrue "$CONF from the shipped default" "cmp -s /usr/share/krelay/krelay.conf $CONF"
	assertEquals "$CONF's mode" 644 "$(stat -c %a $CONF)"
	assertEquals "/etc/krelay's mode" 700 "$(stat -c %a /etc/krelay)"

	for u in krelay.service webadmin.service; do
		assertEquals "$u not enabled" disabled "$(systemctl is-enabled $u)"
		assertEquals "$u not started" inactive "$(systemctl is-active $u)"
	done
	assertEquals "no krelay process" "" "$(krelay_procs)"
	assertFalse "the module is not loaded" "[ -d /sys/module/krelay ]"
	assertEquals "ip_forward untouched" 0 "$(sysctl -n net.ipv4.ip_forward)"
	assertFalse "no sysctl drop-in in /etc" "[ -e /etc/sysctl.d/60-krelay.conf ]"

	assertContains "dkms built krelay for $KREL: $(dkms status 2>&1)" \
		"$(dkms status krelay 2>&1)" "krelay/$V1, $KREL, x86_64: installed"
	assertEquals "modinfo: the module's version" "$V1" "$(modinfo -F version krelay 2>&1)"
	assertContains "modinfo: the module DKMS installed" \
		"$(modinfo -n krelay 2>&1)" "/lib/modules/$KREL/updates/dkms/krelay.ko"
}

testEnableRelaysDnsAndHttp() {
	need_installed
	edit_conf || fail "cannot edit $CONF"
	cp "$CONF" "$T/krelay.conf.edited"
	enable_now
	assert_ok $? "systemctl enable --now: $(tail -n 5 "$T/systemctl.log")"
	local u
	for u in krelay.service webadmin.service; do
		assertEquals "$u enabled" enabled "$(systemctl is-enabled $u)"
		assertEquals "$u started" active "$(systemctl is-active $u)"
	done
	assertEquals "the module loaded" "$V1" "$(cat /sys/module/krelay/version 2>&1)"
	assertEquals "real_ip from $CONF" "$REAL" "$(th_knob real_ip 2>&1)"
	assertEquals "ip_forward on (krelay.service's drop-in)" 1 "$(sysctl -n net.ipv4.ip_forward)"
	th_wait_until $((60 * TH_SCALE)) relaying
	assertTrue "tcp_relay started by webadmin, listening on gport" $?

	assertEquals "tcp_relay's user" krelay-relay "$(ps -o user:32= -p "$(relay_pid)")"
	local wa
	wa=$(main_pid webadmin.service)
	assertEquals "webadmin's user" root "$(ps -o user:32= -p "$wa")"
	assertEquals "user krelay runs webadmin's HTTP process" "$wa" \
		"$(ps -o ppid= -u krelay | tr -d ' ')"
	th_wait_until 30 test -s /etc/krelay/webadmin.secret
	assertTrue "webadmin wrote its secret" $?
	assertEquals "the dashboard answers (a login is needed)" 401 \
		"$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 http://127.0.0.1:8080/api/status)"

	assertEquals "DNS (UDP) through the relay" 192.0.2.7 "$(dig_relay)"
	assertEquals "DNS (TCP) through the relay" 192.0.2.7 "$(dig_relay +tcp)"
	assertContains "the DNS server saw the client" "$(cat "$T/dns.log")" "krelay.test from 10.0.0.1"
	assertEquals "HTTP through the relay" "krelay package test page $$" "$(curl_relay 2>&1)"
	assertContains "the HTTP server saw the client" "$(cat "$T/http.log")" "10.0.0.1 - - "
}

testUpgradeKeepsConfigAndRelay() {
	need_running
	local wa relay since conf
	hold_flow
	th_wait_until 60 held_past 1 ||
		fail "the held flow does not run: $(cat "$T/held.out")"
	assertContains "the held flow in the NAT table" "$(cat /proc/krelay/nat)" \
		"tcp ESTABLISHED 10.0.0.1:"
	wa=$(main_pid webadmin.service)
	relay=$(relay_pid)
	since=$(active_since krelay.service)
	conf=$(cat "$CONF")

	deb_install "$DEB_V2"
	assert_ok $? "dpkg -i $V2: $(dpkg_tail)"
	local n
	n=$(held_count)
	assertEquals "krelay" "install ok installed $V2" "$(pkg_status krelay)"
	assertEquals "krelay-dkms" "install ok installed $V2" "$(pkg_status krelay-dkms)"
	assertEquals "$CONF kept as edited" "$conf" "$(cat "$CONF")"

	th_wait_until 30 systemctl is-active -q webadmin.service
	assertTrue "webadmin.service runs after the upgrade" $?
	assertNotEquals "webadmin restarted" "$wa" "$(main_pid webadmin.service)"
	assertEquals "tcp_relay kept (webadmin adopted it)" "$relay" "$(relay_pid)"
	assertEquals "krelay.service not restarted" "$since" "$(active_since krelay.service)"
	assertEquals "the loaded module is still $V1" "$V1" "$(cat /sys/module/krelay/version 2>&1)"
	assertContains "the new webadmin says the module is older" \
		"$(journalctl -b -u webadmin.service --no-pager)" "reload krelay"

	assertContains "dkms built $V2 for $KREL: $(dkms status 2>&1)" \
		"$(dkms status krelay 2>&1)" "krelay/$V2, $KREL, x86_64: installed"
	th_assert_lacks "dkms dropped $V1" "$(dkms status krelay 2>&1)" "krelay/$V1,"
	assertEquals "modinfo: the module on disk" "$V2" "$(modinfo -F version krelay 2>&1)"

	th_wait_until 30 held_past $((n + 2))
	assert_ok $? "the held flow runs on after the upgrade: $(cat "$T/held.out")"
	assertContains "the held flow still in the NAT table" "$(cat /proc/krelay/nat)" \
		"tcp ESTABLISHED 10.0.0.1:"
	touch "$T/held.stop"
	wait "$HELD_PID"
	assert_ok $? "the held flow: $(cat "$T/held.out")"
	assertContains "the held flow, one connection" "$(cat "$T/held.out")" "ok "
	assertEquals "the echo server saw one connection, from the client" 1 \
		"$(grep -c '^10\.0\.0\.1:' "$T/echo.log")"
	assertEquals "DNS through the relay after the upgrade" 192.0.2.7 "$(dig_relay)"
	assertEquals "HTTP through the relay after the upgrade" \
		"krelay package test page $$" "$(curl_relay 2>&1)"
}

testRemoveStopsEverything() {
	need_running
	local fwd
	fwd=$(sysctl -n net.ipv4.ip_forward)
	dpkg_do -r krelay
	assert_ok $? "dpkg -r krelay: $(dpkg_tail)"
	assertEquals "krelay removed" deinstall "$(pkg_status krelay | cut -d' ' -f1)"
	# (webadmin's HTTP process ends on its own once webadmin has: a moment)
	th_wait_until 10 no_krelay_procs
	assertEquals "no krelay process left" "" "$(krelay_procs)"
	assertFalse "the module unloaded" "[ -d /sys/module/krelay ]"
	local u
	for u in krelay.service webadmin.service; do
		assertEquals "$u gone" not-found "$(systemctl show -p LoadState --value $u)"
	done
	assertFalse "/run/krelay gone" "[ -e /run/krelay ]"
	assertTrue "$CONF kept" "[ -f $CONF ]"
	assertEquals "ip_forward left as it was" "$fwd" "$(sysctl -n net.ipv4.ip_forward)"
	assertContains "the module still in DKMS" "$(dkms status krelay 2>&1)" ": installed"

	dpkg_do -r krelay-dkms
	assert_ok $? "dpkg -r krelay-dkms: $(dpkg_tail)"
	th_assert_lacks "dkms has no krelay" "$(dkms status 2>&1)" krelay
	assertEquals "no krelay module on disk" "" \
		"$(find "/lib/modules/$KREL" -name 'krelay.ko*')"
	assertEquals "no DKMS source tree" "" "$(find /usr/src -maxdepth 1 -name 'krelay-*')"
}

testPurgeLeavesNothing() {
	need_present
	dpkg_do -P krelay krelay-dkms
	assert_ok $? "dpkg -P: $(dpkg_tail)"
	local p u
	for p in krelay krelay-dkms; do
		assertEquals "$p purged" "" "$(dpkg-query -W -f='${db:Status-Abbrev}' $p 2>/dev/null | grep -v '^un')"
	done
	assertFalse "/etc/krelay gone" "[ -e /etc/krelay ]"
	assertFalse "/run/krelay gone" "[ -e /run/krelay ]"
	assertFalse "/var/lib/dkms/krelay gone" "[ -e /var/lib/dkms/krelay ]"
	# Every file or directory named after krelay or its programs, on the
	# root file system (the checkout and /run are other file systems).
	assertEquals "nothing named krelay, webadmin or tcp_relay left" "" \
		"$(find / -xdev \( -name '*krelay*' -o -name '*webadmin*' -o -name '*tcp_relay*' \) 2>/dev/null)"
	for u in krelay krelay-relay; do
		assertNotNull "user $u kept" "$(getent passwd $u)"
		assertEquals "user $u locked" L "$(passwd -S $u | cut -d' ' -f2)"
		assertEquals "user $u expired" 1 "$(getent shadow $u | cut -d: -f8)"
	done
}

testReinstallAfterPurge() {
	need_purged
	deb_install "$DEB_V2"
	assert_ok $? "dpkg -i $V2: $(dpkg_tail)"
	assertTrue "$CONF from the shipped default again" "cmp -s /usr/share/krelay/krelay.conf $CONF"
	local u
	for u in krelay krelay-relay; do
		assertEquals "user $u's expiry lifted" "" "$(getent shadow $u | cut -d: -f8)"
	done
	for u in krelay.service webadmin.service; do
		assertEquals "$u not enabled" disabled "$(systemctl is-enabled $u)"
	done
	assertContains "dkms built $V2 for $KREL" "$(dkms status krelay 2>&1)" \
		"krelay/$V2, $KREL, x86_64: installed"
	edit_conf || fail "cannot edit $CONF"
	enable_now
	assert_ok $? "systemctl enable --now: $(tail -n 5 "$T/systemctl.log")"
	assertEquals "the module loaded is $V2" "$V2" "$(cat /sys/module/krelay/version 2>&1)"
	th_wait_until $((60 * TH_SCALE)) relaying
	assertTrue "tcp_relay relays" $?
	assertEquals "DNS (TCP) through the relay" 192.0.2.7 "$(dig_relay +tcp)"
	assertEquals "HTTP through the relay" "krelay package test page $$" "$(curl_relay 2>&1)"
}

# shellcheck disable=SC1091 # Debian's shunit2 package
. shunit2
