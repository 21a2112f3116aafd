#!/bin/bash
# webadmin_test.sh again with webadmin under valgrind's memcheck: every
# jansson object and MHD response released on every path, with the real
# module's NAT table, config and errors.
# lab-budget: 1200 s (usually a few minutes on 2 cores under TCG)
WEBADMIN_VALGRIND=1 exec bash "$(dirname "$0")/webadmin_test.sh" "$@"
