# krelay: top-level build. `make` builds everything, `make check` runs every
# test, `make lab` opens the relay lab. Quiet by default, V=1 for commands.

# The kernels: Debian 12's 6.1 (KVER, the default build) and the 6.12 LTS
# (KVER_612), as scripts/deps.sh last fetched them (scripts/kernels.sh).
kernels = sh scripts/kernels.sh
KVER ?= $(shell $(kernels) release 6.1 2>/dev/null)
KVER_612 ?= $(shell $(kernels) release 6.12 2>/dev/null)
RT_KVER ?= $(shell $(kernels) release 6.1-rt 2>/dev/null)
KDIR ?= $(if $(KVER),$(shell $(kernels) kdir $(KVER)))
# libkrelay first: the programs link it.
PROGS = libkrelay tcp_relay webadmin krelayctl tests tests/fuzz
# Installation (make install [DESTDIR=...] [PREFIX=...]): see install below.
# (one copy: krelay/uapi/krelay.h, which the module and the programs read)
VERSION ?= $(shell sed -n 's/^\#define KRELAY_VERSION[[:space:]]*"\(.*\)"$$/\1/p' krelay/uapi/krelay.h)
PREFIX ?= /usr/local
SBINDIR = $(PREFIX)/sbin
WWWDIR = $(PREFIX)/share/krelay/www
MANDIR = $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DKMSDIR = /usr/src/krelay-$(VERSION)
export KVER KDIR V

ifeq ($(V),1)
Q =
else
Q = @
MAKEFLAGS += --no-print-directory
endif

# Kernel-facing suites, run in one boot of the lab.
LAB_SUITES ?= krelay_config_test.sh krelay_udp_test.sh krelay_udp_conntrack_test.sh \
	krelay_tcp_test.sh krelay_tcp_kernel_test.sh krelay_kmode_test.sh \
	krelay_attack_test.sh webadmin_test.sh krelayctl_test.sh kfuzz_test.sh stress_test.sh
LAB_SUITES_612 ?= krelay_config_test.sh krelay_udp_test.sh krelay_tcp_test.sh \
	krelay_tcp_kernel_test.sh krelay_kmode_test.sh krelay_attack_test.sh
# Suites beyond check's time: check-kernels and check-debug run them too.
LAB_SUITES_LONG ?= stress_kernel_test.sh
# Suites that run on the host.
HOST_SUITES ?= $(wildcard tests/deps_test.sh tests/libkrelay_test.sh tests/tcp_relay_test.sh \
	tests/webadmin_host_test.sh tests/webadmin_config_test.sh \
	tests/webadmin_fuzz_test.sh tests/install_test.sh)

all: module kmods progs

module:
	$(Q)$(MAKE) -C krelay

# The module for the other kernels (6.12, and PREEMPT_RT once deps.sh
# debug fetched it), each in build/kmod/RELEASE (a copy of krelay/: Kbuild
# writes its objects beside the sources); the lab loads the one built for
# the kernel it boots.
kmods:
	$(Q)set -e; for k in $(filter-out $(KVER),$(KVER_612) $(RT_KVER)); do \
		d=build/kmod/$$k; mkdir -p $$d/uapi; \
		cp -u krelay/Makefile $(KSRC) $$d/; \
		cp -u krelay/uapi/krelay.h $$d/uapi/; \
		$(MAKE) -C $$d KVER=$$k KDIR=$$($(kernels) kdir $$k); done

# webadmin's default www directory follows PREFIX (rebuilt when it changes);
# CPPFLAGS from the environment (dpkg-buildflags' fortify) are kept.
progs:
	$(Q)mkdir -p build; echo '$(WWWDIR)' > build/www-dir.new; \
		if cmp -s build/www-dir.new build/www-dir; then rm build/www-dir.new; \
		else mv build/www-dir.new build/www-dir; rm -f webadmin/*.o; fi
	$(Q)set -e; for d in $(PROGS); do \
		[ -f $$d/Makefile ] || continue; \
		CPPFLAGS='$(CPPFLAGS) -DWWW_DEFAULT=\"$(WWWDIR)\"' $(MAKE) -C $$d; done

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

# Every kernel-facing suite on 6.1, the configuration, UDP and TCP suites
# on 6.12 (check-kernels runs every suite on both).
check-lab:
	$(Q)tests/lab/run $(LAB_SUITES)
	$(Q)KVER=$(KVER_612) tests/lab/run $(LAB_SUITES_612)

check-kernels: all
	$(Q)tests/lab/run $(LAB_SUITES) $(LAB_SUITES_LONG)
	$(Q)KVER=$(KVER_612) tests/lab/run $(LAB_SUITES) $(LAB_SUITES_LONG)

# webadmin's libFuzzer targets, SOAK_TIME seconds each (default 600).
fuzz:
	$(Q)$(MAKE) -C tests/fuzz fuzz

# webadmin under valgrind with the real module (slow: not part of check).
check-valgrind: all
	$(Q)sh scripts/deps.sh valgrind
	$(Q)tests/lab/run webadmin_valgrind_test.sh

# The fault, abuse, load and configuration-race suites at full scale
# (check runs them reduced).
check-stress: all
	$(Q)LAB_APPEND="$(LAB_APPEND) STRESS_SCALE=full" LAB_SCALE=$${LAB_SCALE:-4} \
		tests/lab/run kfuzz_test.sh stress_test.sh krelay_config_test.sh

# The README's commands on a fresh Debian 12 root made by debootstrap:
# what to run after a change to dependencies, tests or the lab.
check-fresh:
	$(Q)sh scripts/deps.sh fresh
	$(Q)bash scripts/check-fresh.sh

# The Debian packages on a fresh Debian 12 booted with systemd (root image
# by scripts/deb-root.sh, cached in /var/cache/krelay/debroot): install,
# DKMS, the units relaying, an upgrade to a rebuilt version, remove,
# purge (tests/deb/run; DEB_TESTS=testA,testB for some tests only).
check-deb:
	$(Q)sh scripts/deps.sh deb-test
	$(Q)$(MAKE) deb
	$(Q)tests/deb/run

# Everything: make check and every longer target.
check-all: check check-kernels check-stress check-valgrind check-debug check-fresh check-deb

# A real browser against the dashboard in the lab (boots its own guest).
check-dashboard:
	$(Q)bash tests/dashboard_test.sh

# Every kernel-facing suite on the debug kernels, 6.1 and 6.12 (KASAN,
# lockdep, kmemleak, DEBUG_ATOMIC_SLEEP; each built once per machine by
# scripts/debug-kernel.sh, the better part of an hour) and on Debian's PREEMPT_RT kernel (fetched
# by deps.sh debug). Slow: not part of check. Leaves the module built for
# KVER again.
DEBUG_SUITES ?= $(LAB_SUITES) $(LAB_SUITES_LONG)
# The debug kernels' series (scripts/debug-kernel.sh builds each once).
DEBUG_SERIES ?= 6.1 6.12
deps-debug:
	$(Q)sh scripts/deps.sh debug

# (RT_KVER is read once deps-debug has fetched the PREEMPT_RT kernel.)
check-debug: deps-debug
	$(Q)$(MAKE) all WERROR=1
	$(Q)set -e; for s in $(DEBUG_SERIES); do \
		d=$$(scripts/debug-kernel.sh $$s); r=$$(cat $$d/release); \
		$(MAKE) -C krelay clean; $(MAKE) module KDIR=$$d/build; \
		echo "== debug kernel $$r"; \
		KVER=$$r LAB_KERNEL=$$d/vmlinuz LAB_MODDIR=$$d/lib/modules/$$r \
		LAB_SCALE=$${LAB_SCALE:-4} tests/lab/run $(DEBUG_SUITES); \
	done
	$(Q)$(MAKE) -C krelay clean
	$(Q)$(MAKE) module
	$(Q)echo "== PREEMPT_RT kernel $(RT_KVER) (module from make kmods)"
	$(Q)KVER=$(RT_KVER) LAB_SCALE=$${LAB_SCALE:-2} tests/lab/run $(DEBUG_SUITES)

# krelay against routing, nftables DNAT, HAProxy and socat in one lab boot;
# the report lands in bench/results/.
bench: all
	$(Q)sh scripts/deps.sh bench
	$(Q)$(MAKE) -C bench
	$(Q)bench/run

lab: deps all
	$(Q)tests/lab/run --shell

clean:
	$(Q)$(MAKE) -C krelay clean
	$(Q)rm -rf build/kmod
	$(Q)for d in $(PROGS); do \
		[ -f $$d/Makefile ] && $(MAKE) -C $$d clean; done; true

# Programs, dashboard, man pages and systemd units under PREFIX; the module
# as a DKMS source tree in /usr/src (added to DKMS, which builds it for each
# kernel, when DESTDIR is empty); /etc/krelay/krelay.conf (an existing one
# is kept) and the ip_forward sysctl drop-in. uninstall removes all of it
# but a krelay.conf that differs from the sample.
KSRC = krelay/Kbuild $(filter-out %.mod.c,$(wildcard krelay/*.c)) $(wildcard krelay/*.h)
UNITS = krelay.service webadmin.service
MAN4 = man/krelay.4
MAN8 = man/tcp_relay.8 man/webadmin.8 man/krelayctl.8
subst = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@VERSION@|$(VERSION)|g'

install: progs
	$(Q)install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(WWWDIR) \
		$(DESTDIR)$(MANDIR)/man4 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(DKMSDIR)/uapi \
		$(DESTDIR)/etc/krelay $(DESTDIR)/etc/sysctl.d $(DESTDIR)$(SYSUSERSDIR)
	$(Q)install -m 0755 tcp_relay/tcp_relay webadmin/webadmin \
		krelayctl/krelayctl $(DESTDIR)$(SBINDIR)
	$(Q)install -m 0644 www/* $(DESTDIR)$(WWWDIR)
	$(Q)install -m 0644 $(MAN4) $(DESTDIR)$(MANDIR)/man4
	$(Q)install -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8
	$(Q)for u in $(UNITS); do $(subst) dist/$$u.in > $(DESTDIR)$(UNITDIR)/$$u; \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u; done
	$(Q)install -m 0644 $(KSRC) $(DESTDIR)$(DKMSDIR)
	$(Q)install -m 0644 krelay/uapi/krelay.h $(DESTDIR)$(DKMSDIR)/uapi
	$(Q)$(subst) dist/dkms.conf.in > $(DESTDIR)$(DKMSDIR)/dkms.conf
	$(Q)install -m 0644 dist/sysctl-krelay.conf $(DESTDIR)/etc/sysctl.d/60-krelay.conf
	$(Q)install -m 0644 dist/sysusers-krelay.conf $(DESTDIR)$(SYSUSERSDIR)/krelay.conf
	$(Q)[ -e $(DESTDIR)/etc/krelay/krelay.conf ] || \
		install -m 0644 dist/krelay.conf $(DESTDIR)/etc/krelay/krelay.conf
	$(Q)if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null; then \
		systemd-sysusers $(SYSUSERSDIR)/krelay.conf || true; fi
	$(Q)if [ -z "$(DESTDIR)" ] && command -v dkms >/dev/null; then \
		dkms add krelay/$(VERSION) || true; \
		dkms install krelay/$(VERSION) || \
			echo "install: dkms could not build krelay for $$(uname -r)" >&2; \
		command -v systemctl >/dev/null && systemctl daemon-reload || true; \
	fi

uninstall:
	$(Q)if [ -z "$(DESTDIR)" ] && command -v dkms >/dev/null; then \
		dkms remove krelay/$(VERSION) --all 2>/dev/null || true; fi
	$(Q)rm -f $(DESTDIR)$(SBINDIR)/tcp_relay $(DESTDIR)$(SBINDIR)/webadmin \
		$(DESTDIR)$(SBINDIR)/krelayctl \
		$(addprefix $(DESTDIR)$(MANDIR)/man4/,$(notdir $(MAN4))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MAN8))) \
		$(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) \
		$(DESTDIR)/etc/sysctl.d/60-krelay.conf \
		$(DESTDIR)$(SYSUSERSDIR)/krelay.conf
	$(Q)rm -rf $(DESTDIR)$(WWWDIR) $(DESTDIR)$(DKMSDIR)
	$(Q)rmdir $(DESTDIR)$(PREFIX)/share/krelay 2>/dev/null || true
	$(Q)if cmp -s dist/krelay.conf $(DESTDIR)/etc/krelay/krelay.conf; then \
		rm -f $(DESTDIR)/etc/krelay/krelay.conf; \
		rmdir $(DESTDIR)/etc/krelay 2>/dev/null || true; \
	elif [ -e $(DESTDIR)/etc/krelay/krelay.conf ]; then \
		echo "uninstall: kept $(DESTDIR)/etc/krelay/krelay.conf (changed)"; fi

# The Debian packages krelay and krelay-dkms (debian/), built by
# dpkg-buildpackage in a copy of the tree under build/deb/ (the checkout
# gets no debian/ build products; the .deb, .changes and .buildinfo files
# land in build/deb/), then checked by lintian (errors fail).
DEB_SRC = build/deb/krelay-$(VERSION)
deb:
	$(Q)sh scripts/deps.sh deb
	$(Q)rm -rf build/deb && mkdir -p $(DEB_SRC)
	$(Q)tar -c --exclude=./build --exclude=./.git -f - . | tar -x -C $(DEB_SRC) -f -
	$(Q)cd $(DEB_SRC) && dpkg-buildpackage -us -uc -b
	$(Q)rm -rf $(DEB_SRC)
	$(Q)lintian -I --fail-on error build/deb/*.changes
	$(Q)ls build/deb

help:
	@echo 'Targets:'
	@echo '  all         build the module (for KVER=$(KVER)) and the programs'
	@echo '  check       install test dependencies, build with -Werror, run'
	@echo '              checkpatch, the host suites and the lab suites'
	@echo '  check-host  the suites that run on this host'
	@echo '  check-lab   the kernel-facing suites in the QEMU lab (6.1; a few on 6.12)'
	@echo '  check-kernels    every lab suite on 6.1 and on 6.12'
	@echo '  check-dashboard  Chromium drives the dashboard in the lab'
	@echo '  check-valgrind   the webadmin lab suite with webadmin under valgrind'
	@echo '  fuzz        the webadmin libFuzzer targets, SOAK_TIME s each (600)'
	@echo '  bench       krelay against routing, nftables, HAProxy, socat (bench/results/)'
	@echo '  check-debug the lab suites on a KASAN/lockdep/kmemleak kernel and'
	@echo '              on the PREEMPT_RT kernel (slow; builds the kernel once)'
	@echo '  check-stress     kfuzz, stress and config suites at full scale (STRESS_SCALE=full)'
	@echo '  check-fresh      make check in a fresh Debian 12 root (debootstrap)'
	@echo '  check-deb        the Debian packages installed, upgraded, removed and'
	@echo '                   purged in a fresh Debian 12 guest with systemd (DEB_TESTS)'
	@echo '  check-all        check and every longer check target'
	@echo '  lab         boot the lab with the module loaded and open a shell'
	@echo '  deps        install build and test dependencies (Debian 12)'
	@echo '  install     programs, www, man pages, systemd units, DKMS tree,'
	@echo '              /etc/krelay/krelay.conf (DESTDIR, PREFIX=$(PREFIX))'
	@echo '  uninstall   remove what install put there'
	@echo '  deb         the Debian packages krelay and krelay-dkms in build/deb/'
	@echo '              (dpkg-buildpackage, then lintian)'
	@echo '  clean, help'
	@echo 'Variables: KVER (kernel release to build for, $(KVER)), KVER_612 ($(KVER_612)),'
	@echo '           V=1 (show commands)'

.PHONY: all module progs deps check checkpatch check-host check-lab fuzz \
	check-dashboard check-valgrind check-debug check-stress check-fresh check-deb \
	check-all check-kernels kmods deps-debug lab bench \
	clean install uninstall deb help
