# shellcheck shell=bash
# Helpers shared by the test suites (sourced; every name starts with th_).

TH_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export TH_TOP
# How much slower than usual this kernel runs (the lab's LAB_SCALE, from the
# guest's command line: 4 on the debug kernel). Waits for something that
# depends only on elapsed time (an idle timeout to pass) scale with it.
export TH_SCALE=${lab_scale:-1}

# th_wait_until SECONDS CMD...: run CMD every 50 ms until it succeeds;
# fail after SECONDS.
th_wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# th_assert_lacks MESSAGE TEXT NEEDLE: assertNotContains, whose failure
# says where NEEDLE was found (shunit2's says only "Found"): the first three
# lines of TEXT holding it, by number, each cut to 160 characters.
th_assert_lacks() {
	local found

	found=$(printf '%s\n' "$2" | grep -nF -- "$3" | head -n 3 | cut -c1-160 |
		sed 's/^\([0-9]*\):/line \1: /' | paste -sd '|' -)
	assertNotContains "$1${found:+: \"$3\" in $found;}" "$2" "$3"
}

# th_wait_port PROTO ADDR PORT [SECONDS]: wait until something listens
# there (ss in the current namespace).
th_wait_port() {
	local proto=$1 addr=$2 port=$3 secs=${4:-10} flag=-lnt
	[ "$proto" = udp ] && flag=-lnu
	th_wait_until "$secs" sh -c "ss -H $flag 'sport = :$port' | grep -q ."
}

# th_kill_wait PID...: SIGTERM, then wait at most 5 s, then SIGKILL.
th_kill_wait() {
	local p
	for p in "$@"; do
		kill "$p" 2>/dev/null || continue
		th_wait_until 5 sh -c "! kill -0 $p" || kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	return 0
}

# ---- The lab (inside the QEMU guest; see tests/lab/).

# The module built for the running kernel: build/kmod/RELEASE for the
# other kernels (make kmods), krelay/ for the default one (tests/lab/run
# checks the same choice against the kernel it boots).
TH_KO=$TH_TOP/build/kmod/$(uname -r)/krelay.ko
[ -f "$TH_KO" ] || TH_KO=$TH_TOP/krelay/krelay.ko
TH_PROC=/proc/krelay
TH_START=/sys/module/krelay/parameters/start
# The mode a suite relays TCP in: user (tcp_relay, the default) or kernel
# (krelay itself); the *_kernel_test.sh wrappers set TH_TCP_MODE.
TH_TCP_MODE=${TH_TCP_MODE:-user}

# th_user_only: a test about tcp_relay itself, or about no TCP at all;
# skipped in kernel mode (`th_user_only || return 0`).
th_user_only() {
	[ "$TH_TCP_MODE" = user ] && return 0
	startSkipping
	return 1
}

cli() { ip netns exec cli "$@"; }
srv() { ip netns exec srv "$@"; }

th_in_lab() { [ "$(hostname)" = lab ]; }

# th_for_nobody FILE: a copy of FILE that user nobody can run. The checkout
# may lie where nobody cannot reach it (under /root, mode 0700).
th_for_nobody() {
	local d=/tmp/th-nobody
	mkdir -p "$d" && chmod 0755 "$d" &&
		cp "$1" "$d/" && chmod 0755 "$d/${1##*/}" || return 1
	echo "$d/${1##*/}"
}

# th_krelay_load [PARAM=VALUE...]: insmod the module built in the checkout,
# with the in-tree modules it depends on.
th_krelay_load() {
	modprobe -qa nf_defrag_ipv4 nf_reject_ipv4 || return 1
	insmod "$TH_KO" "$@"
}

# th_krelay_unload: rmmod. A socket option call in progress holds the
# module for its duration (nf_sockopt): rmmod then fails with EAGAIN and is
# tried again, for up to 5 s (times TH_SCALE); any other failure is final.
th_krelay_unload() {
	local end=$((SECONDS + 5 * TH_SCALE)) err

	[ -d /sys/module/krelay ] || return 0
	until err=$(rmmod krelay 2>&1); do
		case $err in
		*"temporarily unavailable"*) [ "$SECONDS" -lt "$end" ] || break ;;
		*) break ;;
		esac
		sleep 0.05
	done
	[ -z "$err" ] || echo "$err" >&2
	[ ! -d /sys/module/krelay ]
}

# th_privs PID: a process's privileges from /proc/PID/status, one line:
# "uid=R,E,S,F eff=.. prm=.. inh=.. amb=.. bnd=.. nnp=N seccomp=M"
# (capability sets in hex as the kernel prints them; seccomp 2: a filter).
th_privs() {
	awk '/^Uid:/ { u = $2 "," $3 "," $4 "," $5 }
	     /^CapEff:/ { e = $2 } /^CapPrm:/ { p = $2 } /^CapInh:/ { i = $2 }
	     /^CapAmb:/ { a = $2 } /^CapBnd:/ { b = $2 } /^NoNewPrivs:/ { n = $2 }
	     /^Seccomp:/ { c = $2 }
	     END { if (u != "") printf "uid=%s eff=%s prm=%s inh=%s amb=%s bnd=%s nnp=%s seccomp=%s\n", u, e, p, i, a, b, n, c }' \
		"/proc/$1/status" 2>/dev/null
}

# th_listener_start: tcp_relay's listener without tcp_relay: a socket on
# gport registered with krelay (the LISTENER option), so that steered SYNs
# start flows (they are refused while no listener is registered). It
# accepts nothing. th_listener_stop ends it.
th_listener_start() {
	local ready
	ready=$(mktemp -u)
	python3 -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(64)
s.setsockopt(socket.IPPROTO_IP, 2049, None, 0)    # KRELAY_SO_LISTENER
open(sys.argv[2], "w").close()
time.sleep(3600)' "$(th_knob gport)" "$ready" &
	TH_LISTENER_PID=$!
	th_wait_until $((5 * TH_SCALE)) test -e "$ready"
	local rc=$?
	rm -f "$ready"
	return $rc
}

th_listener_stop() {
	[ -n "${TH_LISTENER_PID:-}" ] && th_kill_wait "$TH_LISTENER_PID"
	TH_LISTENER_PID=
}

# th_knob NAME: the value of /proc/krelay/NAME.
th_knob() { cat "$TH_PROC/$1"; }

# th_set NAME VALUE: write a knob as echo would (with a newline); the exit
# status says whether the kernel took it.
th_set() { printf '%s\n' "$2" 2>/dev/null > "$TH_PROC/$1"; }

# th_fake_module PROC PARAM: the module's knob files with their defaults,
# as plain files in PROC and PARAM (made here), for the host suites; the
# environment points libkrelay's users at them.
th_fake_module() {
	local kv

	mkdir -p "$1" "$2"
	for kv in gport=16000 real_ip=192.168.0.10 tcp_ports=53,80 udp_ports=53 \
		max_entries=262144 udp_timeout=30 udp_stream_timeout=120 \
		tcp_timeout_established=432000 tcp_timeout_close=10 interfaces= \
		max_per_client=0 client_cc= server_cc= relay_max_pairs=256 \
		relay_max_per_client=64 relay_idle_timeout=300 relay_connect_timeout=10 \
		tcp_mode=user; do
		echo "${kv#*=}" >"$1/${kv%%=*}"
	done
	echo 0 >"$2/start"
	export KRELAY_PROC_DIR=$1 KRELAY_PARAM_DIR=$2
}

# th_stat NAME: one counter of /proc/krelay/stats.
th_stat() { awk -v n="$1" '$1 == n { print $2 }' "$TH_PROC/stats"; }

# th_wait_listener [SECONDS]: after a (re)load, wait until a listener is
# registered on gport (tcp_relay registers again within a second; until
# then steered SYNs are refused).
th_listener_on_gport() { [ "$(th_stat listener_port)" = "$(th_knob gport)" ]; }
th_wait_listener() { th_wait_until "${1:-10}" th_listener_on_gport; }

# th_dmesg_clean: no oops, BUG, WARNING or lockdep report so far.
# Lines that only say a debug kernel's checker is on are not reports.
TH_DMESG_BENIGN='RCU lockdep checking is enabled|kmemleak: (Kernel memory leak detector|Automatic memory scanning)'
th_dmesg_clean() {
	! dmesg | grep -E 'Oops|BUG[: ]|WARNING:|lockdep|Call Trace' |
		grep -vE "$TH_DMESG_BENIGN" | grep -q .
}

# th_capture_start NS PCAP FILTER...: tcpdump on NS's eth0 into PCAP,
# returning once it listens. th_capture_stop PCAP: stop it and print the
# capture decoded with checksum verification (-vv).
th_capture_start() {
	local ns=$1 pcap=$2
	shift 2
	ip netns exec "$ns" tcpdump --immediate-mode -Z root -i eth0 -n -U -w "$pcap" "$@" \
		2>"$pcap.err" &
	th_wait_until 10 grep -q 'listening on' "$pcap.err"
}

th_capture_stop() {
	sleep 0.3
	pkill -INT -f "tcpdump --immediate-mode -Z root -i eth0 -n -U -w $1"
	th_wait_until 5 sh -c "! pgrep -f 'tcpdump --immediate-mode -Z root -i eth0 -n -U -w $1'"
	tcpdump -r "$1" -n -vv 2>/dev/null
}
