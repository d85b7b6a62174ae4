# Helpers for guest scenarios (busybox sh). A scenario starts with
#   . /vm/lib.sh
# and exits 0 when the behaviour holds, 77 to skip, anything else to fail.
# Host binaries named by the test are in /usr/bin; files given with vm_file
# at their guest paths; disks at /dev/vda, /dev/vdb, ... in the order given.
set -u

fail() {
	echo "FAIL: $*"
	exit 1
}

skip() {
	echo "SKIP: $*"
	exit 77
}

# A line on the console that marks where a step starts, with the guest's
# uptime, so a failing log shows how far the scenario got and how long each
# step took.
step() {
	read -r up _ </proc/uptime
	echo "== [$up] $*"
}

# Run a command; on failure say which, with its status.
run() {
	"$@" || fail "$* (exit $?)"
}

# Wait up to $2 seconds (default 10) for a path to exist.
wait_for() { # path [seconds]
	n=$((${2:-10} * 10))
	while [ ! -e "$1" ]; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "$1 did not appear"
		usleep 100000
	done
}
