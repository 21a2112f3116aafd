#!/bin/bash
# krelay_tcp_test.sh with TCP relayed by krelay itself (tcp_mode kernel).
# lab-budget: 360 s (usually 60-90 s on 2 cores under TCG)
TH_TCP_MODE=kernel exec bash "$(dirname "$0")/krelay_tcp_test.sh" "$@"
