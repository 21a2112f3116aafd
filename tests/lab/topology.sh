# shellcheck shell=bash
# The three hosts of DESIGN.md, sourced by guest.sh:
#
#   cli (netns)               relay (root ns)                 srv (netns)
#   eth0 10.0.0.1/24 ---- rc0 10.0.0.2/24
#                             rs0 192.168.0.2/24 ---- eth0 192.168.0.1/24
#                                                         192.168.0.10/24
#   default via 10.0.0.2                            default via 192.168.0.2

lab_topology_up() {
	ip link set lo up
	ip netns add cli
	ip netns add srv
	ip link add rc0 type veth peer name eth0 netns cli
	ip link add rs0 type veth peer name eth0 netns srv
	ip addr add 10.0.0.2/24 dev rc0
	ip addr add 192.168.0.2/24 dev rs0
	ip link set rc0 up
	ip link set rs0 up
	sysctl -qw net.ipv4.ip_forward=1
	sysctl -qw net.ipv4.ip_local_port_range="1024 65535"

	ip -n cli link set lo up
	ip -n cli addr add 10.0.0.1/24 dev eth0
	ip -n cli link set eth0 up
	ip -n cli route add default via 10.0.0.2

	ip -n srv link set lo up
	ip -n srv addr add 192.168.0.1/24 dev eth0
	ip -n srv addr add 192.168.0.10/24 dev eth0
	ip -n srv link set eth0 up
	ip -n srv route add default via 192.168.0.2
}
