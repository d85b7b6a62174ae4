#!/usr/bin/env bash
# cryptblk reads what the kernel's dm-crypt wrote: LUKS2 volumes that
# cryptsetup formats in the guest (4096-byte sectors and a 512-bit key;
# 512-byte sectors and a 256-bit key) and fills through dm-crypt (ext4,
# files) read back through `cryptblk serve --readonly` and /dev/nbd0: the
# device is read-only and as large as dm-crypt's mapping, e2fsck -fn finds
# the file system clean, the checksums match, and the disk is unchanged.
. "$(dirname "$0")/lib/nbd-common.sh"
nbd_with_dmcrypt

nbd_blank_add l2-4k luks2:4096:512
nbd_blank_add l2-512 luks2:512:256
vm_run dmcrypt-ext4-reads-through-cryptblk.sh /vm/key "${NBD_SPECS[@]}"
nbd_images_check
echo PASS
