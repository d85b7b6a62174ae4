# Host side shared by the scenarios that run `cryptblk serve` and the
# kernel's NBD client in the guest (test-vm-nbd-*, test-vm-dmcrypt-*-cryptblk-*
# and friends): the guest's tools and modules, the passphrase, the volumes,
# and the checks on the images after the guest is done.
. "$(dirname "${BASH_SOURCE[0]}")/vm.sh"
: "${CRYPTBLK:?CRYPTBLK must name the built cryptblk command}"

vm_need mkfs.ext4 e2fsck nbd-client
vm_modules nbd ext4
vm_binaries "$CRYPTBLK" nbd-client mkfs.ext4 e2fsck
printf 'cryptblk vm test passphrase' >"$VM_TMP/key"
vm_file "$VM_TMP/key" /vm/key
vm_file "$VM_GUEST_DIR/nbd-lib.sh" /vm/nbd-lib.sh

# What the guest scenario gets for each disk, and the images to check after.
NBD_SPECS=()
NBD_IMAGES=()

# Also the kernel's dm-crypt and cryptsetup in the guest.
nbd_with_dmcrypt() {
	vm_need cryptsetup dmsetup
	# aes-xts-plain64 under dm-crypt: AES-NI if the CPU model has it, else
	# the generic AES built into the kernel.
	vm_modules dm-crypt xts aesni_intel
	vm_binaries cryptsetup dmsetup
}

nbd_next_disk() { echo "/dev/vd${VM_DISK_LETTERS:${#VM_DISKS[@]}:1}"; }

# A 48 MiB image formatted by cryptblk (extra args: format options),
# attached as the next disk; its spec is DEV:PLAINTEXT-BYTES.
nbd_volume_add() { # name format-options...
	local name=$1 img=$VM_TMP/$1.img dev offset
	shift
	dev=$(nbd_next_disk)
	"$CRYPTBLK" format "$img" --size 48M --key-file "$VM_TMP/key" "$@" >/dev/null ||
		vm_fail "$name: cryptblk format $*"
	offset=$(vm_cb_segment "$img" offset)
	[ -n "$offset" ] || vm_fail "$name: no data offset in cryptblk dump"
	vm_disk "$img"
	NBD_IMAGES+=("$name")
	NBD_SPECS+=("$dev:$(($(stat -c %s "$img") - offset))")
}

# A blank 48 MiB image for the guest to format with cryptsetup (extra args:
# the spec's fields after the device, for the guest scenario).
nbd_blank_add() { # name spec-fields
	local name=$1 img=$VM_TMP/$1.img dev
	dev=$(nbd_next_disk)
	truncate -s 48M "$img"
	vm_disk "$img"
	NBD_IMAGES+=("$name")
	NBD_SPECS+=("$dev:$2")
}

# After the guest: cryptblk on the host still unlocks every image (whoever
# formatted it), and the plain text the guest wrote is nowhere in it.
nbd_images_check() {
	local name img
	for name in "${NBD_IMAGES[@]}"; do
		img=$VM_TMP/$name.img
		"$CRYPTBLK" test-key "$img" --key-file "$VM_TMP/key" >/dev/null ||
			vm_fail "$name: cryptblk test-key fails on the image the guest used"
		! grep -qF cryptblk-vm-plaintext-marker "$img" ||
			vm_fail "$name: the guest's plain text is in the image"
	done
}
