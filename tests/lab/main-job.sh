# shellcheck shell=bash
# The main job, sourced by guest.sh in --shell mode: the relay as an
# operator would run it.
. "$lab_top/tests/lib.sh"
th_krelay_load start=1 && echo "lab: krelay loaded and started"
cat <<EOT
lab: client namespace: ip netns exec cli bash   (10.0.0.1, relay at 192.168.0.2)
lab: server namespace: ip netns exec srv bash   (192.168.0.1, 192.168.0.10)
lab: module: /proc/krelay/*, /sys/module/krelay/parameters/start
EOT
