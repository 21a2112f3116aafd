#!/bin/bash
# webadmin_test.sh again with webadmin under valgrind's memcheck: every
# jansson object and MHD response released on every path, with the real
# module's NAT table, config and errors.
WEBADMIN_VALGRIND=1 exec bash "$(dirname "$0")/webadmin_test.sh" "$@"
