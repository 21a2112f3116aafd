#!/bin/bash
# krelay_udp_test.sh again, under a typical gateway's nftables ruleset:
# conntrack with `ct state invalid drop`, and masquerade out of the client
# side.
# lab-budget: 600 s (usually 100-170 s on 2 cores under TCG)
KRELAY_RULESET=conntrack exec bash "$(dirname "$0")/krelay_udp_test.sh" "$@"
