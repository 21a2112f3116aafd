# krelay: top-level build. `make` builds everything, `make check` runs every
# test, `make lab` opens the relay lab. Quiet by default, V=1 for commands.

KVER ?= 6.1.0-56-amd64
KDIR ?= /lib/modules/$(KVER)/build
PROGS = tcp_relay webadmin tests
export KVER KDIR V

ifeq ($(V),1)
Q =
else
Q = @
MAKEFLAGS += --no-print-directory
endif

# Kernel-facing suites, run in one boot of the lab.
LAB_SUITES ?= krelay_config_test.sh krelay_udp_test.sh krelay_udp_conntrack_test.sh \
	krelay_tcp_test.sh webadmin_test.sh
# Suites that run on the host.
HOST_SUITES ?= $(wildcard tests/tcp_relay_test.sh tests/webadmin_host_test.sh)

all: module progs

module:
	$(Q)$(MAKE) -C krelay

progs:
	$(Q)set -e; for d in $(PROGS); do \
		[ -f $$d/Makefile ] || continue; $(MAKE) -C $$d; done

deps:
	$(Q)sh scripts/deps.sh

check: deps
	$(Q)$(MAKE) clean
	$(Q)$(MAKE) all WERROR=1 KRELAY_W=1
	$(Q)$(MAKE) checkpatch
	$(Q)$(MAKE) check-host
	$(Q)$(MAKE) check-lab
	$(Q)$(MAKE) check-dashboard

checkpatch:
	$(Q)sh scripts/checkpatch.sh krelay

check-host:
	$(Q)set -e; for t in $(HOST_SUITES); do \
		echo "== $$t"; bash $$t; done

check-lab:
	$(Q)tests/lab/run $(LAB_SUITES)

# webadmin under valgrind with the real module (slow: not part of check).
check-valgrind: all
	$(Q)tests/lab/run webadmin_valgrind_test.sh

# A real browser against the dashboard in the lab (boots its own guest).
check-dashboard:
	$(Q)bash tests/dashboard_test.sh

lab: deps all
	$(Q)tests/lab/run --shell

clean:
	$(Q)$(MAKE) -C krelay clean
	$(Q)for d in $(PROGS); do \
		[ -f $$d/Makefile ] && $(MAKE) -C $$d clean; done; true

install: all
	$(Q)$(MAKE) -C krelay install

help:
	@echo 'Targets:'
	@echo '  all         build the module (for KVER=$(KVER)) and the programs'
	@echo '  check       install test dependencies, build with -Werror, run'
	@echo '              checkpatch, the host suites and the lab suites'
	@echo '  check-host  the suites that run on this host'
	@echo '  check-lab   the kernel-facing suites in the QEMU lab'
	@echo '  check-dashboard  Chromium drives the dashboard in the lab'
	@echo '  check-valgrind   the webadmin lab suite with webadmin under valgrind'
	@echo '  lab         boot the lab with the module loaded and open a shell'
	@echo '  deps        install build and test dependencies (Debian 12)'
	@echo '  clean, install, help'
	@echo 'Variables: KVER (kernel flavour to build for), V=1 (show commands)'

.PHONY: all module progs deps check checkpatch check-host check-lab \
	check-dashboard check-valgrind lab \
	clean install help
