# Scenario of tests/vm/shell.sh: nothing to check; the debug shell follows.
. /vm/lib.sh
step "guest ready: modules loaded, disks at /dev/vd*, binaries in /usr/bin"
