# Host side shared by test-vm-dmcrypt-opens-cryptblk-*: format volumes with
# cryptblk, boot the guest that opens them with the kernel's dm-crypt
# (guest/dmcrypt-roundtrip.sh), then check them again on the host.
. "$(dirname "${BASH_SOURCE[0]}")/vm.sh"
: "${CRYPTBLK:?CRYPTBLK must name the built cryptblk command}"

vm_need cryptsetup dmsetup mkfs.ext4 e2fsck
vm_modules dm-crypt xts
# aes-xts-plain64 under dm-crypt: the x86 AES (AES-NI) driver if the CPU
# model has it, else the generic one built in; ext4 for the file system.
vm_modules aesni_intel ext4
vm_binaries cryptsetup dmsetup mkfs.ext4 e2fsck blkid
printf 'cryptblk vm test passphrase' >"$VM_TMP/key"
vm_file "$VM_TMP/key" /vm/key

DMCRYPT_SPECS=()
DMCRYPT_IMAGES=()

# Format a 48 MiB image with cryptblk (extra args: format options), attach it
# as the next virtio disk, and note what dm-crypt must see in the guest.
dmcrypt_volume_add() { # name format-options...
	local name=$1 img=$VM_TMP/$1.img dev
	shift
	dev=/dev/vd${VM_DISK_LETTERS:${#VM_DISKS[@]}:1}
	"$CRYPTBLK" format "$img" --size 48M --key-file "$VM_TMP/key" "$@" >/dev/null ||
		vm_fail "$name: cryptblk format $*"
	"$CRYPTBLK" test-key "$img" --key-file "$VM_TMP/key" --volume-key-file "$VM_TMP/$name.vk" \
		>/dev/null || vm_fail "$name: cryptblk test-key after format"
	vm_hex "$VM_TMP/$name.vk" >"$VM_TMP/$name.vkhex"
	vm_file "$VM_TMP/$name.vkhex" "/vm/$name.vkhex"
	vm_disk "$img"
	DMCRYPT_IMAGES+=("$name")
	DMCRYPT_SPECS+=("$dev:$(vm_cb_segment "$img" sector):$(vm_cb_segment "$img" offset):/vm/$name.vkhex")
}

# Boot the guest on every volume added, then check on the host that cryptblk
# still opens each with the same volume key and that the guest's plain text
# never reached the image.
dmcrypt_run() {
	local name img
	vm_run dmcrypt-roundtrip.sh /vm/key "${DMCRYPT_SPECS[@]}"
	for name in "${DMCRYPT_IMAGES[@]}"; do
		img=$VM_TMP/$name.img
		"$CRYPTBLK" test-key "$img" --key-file "$VM_TMP/key" --volume-key-file "$VM_TMP/$name.vk2" \
			>/dev/null || vm_fail "$name: cryptblk no longer opens the volume the guest used"
		cmp -s "$VM_TMP/$name.vk" "$VM_TMP/$name.vk2" || vm_fail "$name: volume key changed"
		! grep -qF cryptblk-vm-plaintext-marker "$img" ||
			vm_fail "$name: the guest's plain text is in the image"
	done
	echo "PASS"
}
