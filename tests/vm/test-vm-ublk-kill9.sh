#!/usr/bin/env bash
# kill -9 of the ublk server while fio writes through ext4 on /dev/ublkb0:
# the writer gets I/O errors instead of hanging, /dev/ublkb0 goes away,
# /dev/ublkc0 stays as a dead device that `cryptblk list` shows; a new
# server on the same id deletes the leftover and serves again, e2fsck
# repairs the file system and the files synced before the kill are intact.
. "$(dirname "$0")/lib/vm.sh"
: "${CRYPTBLK:?CRYPTBLK must name the built cryptblk command}"

vm_need mkfs.ext4 e2fsck
vm_modules ublk_drv ext4
vm_binaries "$CRYPTBLK" mkfs.ext4 e2fsck fio
printf 'cryptblk ublk kill passphrase' >"$VM_TMP/key"
"$CRYPTBLK" format "$VM_TMP/v.img" --size 64M --key-file "$VM_TMP/key" \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000 >/dev/null || vm_fail "cryptblk format"
vm_file "$VM_TMP/key" /vm/key
vm_file "$VM_GUEST_DIR/ublk-common.sh" /vm/ublk-common.sh
vm_disk "$VM_TMP/v.img"
vm_run ublk-kill9.sh /dev/vda /vm/key
echo PASS
