# shellcheck shell=bash
# lab_budget FILE: the seconds a lab suite may take, from its
# `# lab-budget: N s` line (600 where it has none). Sourced by tests/lab/run
# on the host and by guest.sh in the guest: one reading of the rule.
lab_budget() {
	local b
	b=$(sed -n 's/^# lab-budget: \([0-9][0-9]*\) s.*/\1/p' "$1" | head -n 1)
	echo "${b:-600}"
}
