#!/usr/bin/env bash
# ext4 on /dev/ublkb0 served by cryptblk keeps its files across a server
# restart: format a LUKS2 volume, serve it over ublk (USER_COPY), mkfs.ext4,
# mount, write files and record checksums, umount, e2fsck clean, stop with
# SIGTERM (the device goes away cleanly); serve it again in the buffer copy
# mode, mount, the checksums match, e2fsck still clean. Then, on the host,
# cryptblk still opens the volume and the guest's plain text is not in it.
. "$(dirname "$0")/lib/vm.sh"
: "${CRYPTBLK:?CRYPTBLK must name the built cryptblk command}"

vm_need mkfs.ext4 e2fsck
vm_modules ublk_drv ext4
vm_binaries "$CRYPTBLK" mkfs.ext4 e2fsck
printf 'cryptblk ublk vm passphrase' >"$VM_TMP/key"
"$CRYPTBLK" format "$VM_TMP/v.img" --size 64M --key-file "$VM_TMP/key" \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000 >/dev/null || vm_fail "cryptblk format"
vm_file "$VM_TMP/key" /vm/key
vm_file "$VM_GUEST_DIR/ublk-common.sh" /vm/ublk-common.sh
vm_disk "$VM_TMP/v.img"
vm_run ublk-ext4-roundtrip.sh /dev/vda /vm/key

"$CRYPTBLK" test-key "$VM_TMP/v.img" --key-file "$VM_TMP/key" >/dev/null ||
	vm_fail "cryptblk no longer opens the volume the guest used"
! grep -qF cryptblk-ublk-plaintext-marker "$VM_TMP/v.img" ||
	vm_fail "the guest's plain text is in the image"
echo PASS
