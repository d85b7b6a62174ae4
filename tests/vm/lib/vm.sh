# Host side of the kernel tests: boot Debian's 6.12 kernel under qemu (TCG)
# with an initramfs made of busybox, the modules and host binaries a scenario
# names, and the scenario script; return what the scenario returned.
#
# A test sources this file, declares what its guest needs, then runs it:
#
#   . "$(dirname "$0")/lib/vm.sh"
#   vm_need cryptsetup                 # host tools; exit 77 when one is missing
#   vm_modules dm-crypt xts ext4       # loaded in the guest with their dependencies
#   vm_binaries "$CRYPTBLK" cryptsetup # copied in with their shared libraries
#   vm_file "$VM_TMP/key" /vm/key      # any host file, at a guest path
#   vm_disk "$VM_TMP/a.img"            # /dev/vda, then /dev/vdb, ...
#   vm_run dmcrypt-roundtrip.sh ARGS   # tests/vm/guest/<name> (or a path); exits unless it passed
#
# vm_run exits the test with 1 (printing the guest's console) when the
# scenario fails or the guest never reports, with 77 when the scenario skips.
# The console log stays in $VM_CACHE/logs/<test>.log either way.
#
# Environment: CRYPTBLK, BUILDDIR (from ctest); VM_CACHE (kernel and logs,
# default $BUILDDIR/vm); VM_TIMEOUT (seconds, default 300); VM_SHELL=1 (a
# shell on the guest's console after the scenario, no timeout); VM_KEEP=1
# (keep the scratch directory); VM_ACCEL (qemu's accelerator, default tcg:
# the timings and the tests are made for TCG; kvm where it works).
set -euo pipefail

VM_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_GUEST_DIR=$(cd "$VM_LIB_DIR/../guest" && pwd)
VM_NAME=$(basename "$0" .sh)
VM_CACHE=${VM_CACHE:-${BUILDDIR:-/tmp}/vm}
VM_TIMEOUT=${VM_TIMEOUT:-300}
VM_SHELL=${VM_SHELL:-0}
# Debian keeps the tools the tests copy in under sbin; ctest may run without it.
PATH=$PATH:/usr/sbin:/sbin

VM_MODULES=()
VM_BINARIES=()
VM_FILES=() # pairs: host path, guest path
VM_DISKS=()
VM_SHARE=

mkdir -p "$VM_CACHE/logs"
VM_TMP=$(mktemp -d "$VM_CACHE/run.XXXXXX")
vm_cleanup() {
	if [ "${VM_KEEP:-0}" = 1 ]; then
		echo "vm: kept $VM_TMP" >&2
	else
		rm -rf "$VM_TMP"
	fi
}
trap vm_cleanup EXIT

vm_skip() {
	echo "SKIP: $*"
	exit 77
}

vm_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

vm_need() { # tool...
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || vm_skip "$t not installed"
	done
}

vm_modules() { VM_MODULES+=("$@"); }

vm_binaries() { # command names or paths
	local b p
	for b in "$@"; do
		p=$(command -v "$b" 2>/dev/null) || vm_skip "$b not installed"
		VM_BINARIES+=("$p")
	done
}

vm_file() { VM_FILES+=("$1" "$2"); }

# Disks appear in the guest as /dev/vd<letter> in the order added.
VM_DISK_LETTERS=abcdefghijklmnopqrstuvwxyz
vm_disk() { VM_DISKS+=("$1"); }

# A host directory shared read-write with the guest at /share (9p).
vm_share() { VM_SHARE=$1; }

# The lines of a volume's `cryptblk dump`: the data segment's field $2.
vm_cb_segment() { # image field (offset|sector|cipher)
	"$CRYPTBLK" dump "$1" | awk -v f="$2:" '/^Data segment:/ {d = 1} d && $1 == f {print $2; exit}'
}

# Hex of a binary file, one line, lowercase (the form dmsetup prints keys in).
vm_hex() { od -An -v -tx1 "$1" | tr -d ' \n'; }

. "$VM_LIB_DIR/vm-kernel.sh"
. "$VM_LIB_DIR/vm-initramfs.sh"
. "$VM_LIB_DIR/vm-boot.sh"
