#!/usr/bin/env bash
# What `cryptblk serve --ublk` promises besides moving data, in one boot:
# --run sees dev=/dev/ublkbN and the server exits with its status; SIGINT
# stops like SIGTERM; --pid-file holds the pid while serving; two servers at
# once, the second with an id picked by the kernel; --readonly refuses
# writes; the sector size and the limits the kernel was given (write-zeroes
# yes, discard no for a volume without allow-discards, a volatile cache);
# write-zeroes reads back zeros; a volume with allow-discards (in a file:
# the backend punches holes) advertises discard and a blkdiscard frees
# space in the image and leaves the data around it; bad options are refused
# before a device exists; a queue that cannot set up (its buffers over an
# address-space limit) makes serve fail without leaving a device behind.
. "$(dirname "$0")/lib/vm.sh"
: "${CRYPTBLK:?CRYPTBLK must name the built cryptblk command}"
: "${SRCDIR:?SRCDIR must name the source tree}"

vm_modules ublk_drv
vm_binaries "$CRYPTBLK" blkdiscard
printf 'cryptblk ublk options passphrase' >"$VM_TMP/key"
fmt() { # image size sector
	"$CRYPTBLK" format "$1" --size "$2" --sector-size "$3" --key-file "$VM_TMP/key" \
		--pbkdf pbkdf2 --pbkdf-force-iterations 1000 >/dev/null || vm_fail "cryptblk format $1"
}
fmt "$VM_TMP/a.img" 40M 4096
fmt "$VM_TMP/b.img" 24M 512
fmt "$VM_TMP/c.img" 24M 4096
# The LUKS2 persistent flag cryptsetup sets with --allow-discards --persistent.
python3 "$SRCDIR/tests/interop/lib/luks2_damage.py" "$VM_TMP/c.img" json both \
	"j.setdefault('config', {}).setdefault('flags', []).append('allow-discards')" ||
	vm_fail "setting allow-discards on c.img"
vm_file "$VM_TMP/key" /vm/key
vm_file "$VM_GUEST_DIR/ublk-common.sh" /vm/ublk-common.sh
vm_disk "$VM_TMP/a.img"
vm_disk "$VM_TMP/b.img"
vm_disk "$VM_TMP/c.img"
# A sanitizer build cannot run under an address-space limit.
asan=plain
# Not `ldd | grep -q`: under pipefail, grep's early exit can fail the pipe.
[[ "$(ldd "$CRYPTBLK" 2>/dev/null)" != *libasan* ]] || asan=asan
vm_run ublk-serve-options.sh /dev/vda /dev/vdb /dev/vdc /vm/key "$asan"
echo PASS
