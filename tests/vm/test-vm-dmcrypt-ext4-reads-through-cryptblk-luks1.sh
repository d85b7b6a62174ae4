#!/usr/bin/env bash
# cryptblk reads what the kernel's dm-crypt wrote: LUKS1 volumes that
# cryptsetup formats in the guest (512-bit and 256-bit keys) and fills
# through dm-crypt (ext4, files) read back through `cryptblk serve
# --readonly` and /dev/nbd0: the device is read-only and as large as
# dm-crypt's mapping, e2fsck -fn finds the file system clean, the checksums
# match, and the disk is unchanged.
. "$(dirname "$0")/lib/nbd-common.sh"
nbd_with_dmcrypt

nbd_blank_add l1-512 luks1:512:512
nbd_blank_add l1-256 luks1:512:256
vm_run dmcrypt-ext4-reads-through-cryptblk.sh /vm/key "${NBD_SPECS[@]}"
nbd_images_check
echo PASS
