# shellcheck shell=bash
# The main job, sourced by guest.sh in --shell mode: the relay as an
# operator would run it. krelay started, webadmin supervising tcp_relay,
# dnsmasq and an httpd on the server, the dashboard forwarded to the host.
. "$lab_top/tests/lib.sh"

job=/tmp/lab-out		# the host sees this as build/lab/
mkdir -p /tmp/www /run/krelay
echo "Hello from the real server (192.168.0.10)" > /tmp/www/index.html

th_krelay_load start=1 || echo "lab: insmod krelay failed"
srv dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
	--listen-address=192.168.0.10 --user=root --address=/test.lab/192.0.2.1 \
	--log-queries --log-facility=/var/log/dnsmasq.log
srv sh -c 'python3 -m http.server 80 --bind 192.168.0.10 --directory /tmp/www \
	>/var/log/httpd.log 2>&1 &'

# QEMU's user network forwards the host's 127.0.0.1:8080 here; no default
# route through it, so relayed traffic never leaves the guest.
modprobe -q virtio_net
nic=$(ls /sys/class/net | grep -vE '^(lo|rc0|rs0)$' | head -1)
if [ -n "$nic" ]; then
	ip addr add 10.0.2.15/24 dev "$nic"
	ip link set "$nic" up
fi
"$TH_TOP/webadmin/webadmin" -l 10.0.2.15:8080 -s "$job/webadmin.secret" \
	-w "$TH_TOP/www" -r "$TH_TOP/tcp_relay/tcp_relay" \
	-P /run/krelay/tcp_relay.pid 2>/var/log/webadmin.log &
th_wait_until 10 test -s "$job/webadmin.secret" || echo "lab: webadmin did not start (see /var/log/webadmin.log)"
th_wait_port tcp 0.0.0.0 "$(th_knob gport)" || echo "lab: tcp_relay does not listen"

cat <<EOT
lab: krelay started; tcp_relay on gport $(th_knob gport), supervised by webadmin
lab: dashboard: http://127.0.0.1:8080/ on the host (user admin, password in build/lab/webadmin.secret)
lab: try from the client:
lab:   ip netns exec cli dig @192.168.0.2 test.lab
lab:   ip netns exec cli curl http://192.168.0.2/
lab:   cat /proc/krelay/nat
lab: logs: /var/log/{webadmin,dnsmasq,httpd}.log
EOT
