#!/bin/bash
# stress_test.sh's TCP tests with TCP relayed by krelay itself (tcp_mode
# kernel): start toggles and reloads under load, many connections in a
# row, a stopped server, a slow client.
# lab-budget: 600 s (usually 100-130 s on 2 cores under TCG)
TH_TCP_MODE=kernel exec bash "$(dirname "$0")/stress_test.sh" "$@"
