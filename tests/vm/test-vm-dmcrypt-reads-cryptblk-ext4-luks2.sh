#!/usr/bin/env bash
# The kernel's dm-crypt reads what cryptblk wrote: on LUKS2 volumes that
# cryptblk formatted (4096-byte sectors and a 512-bit key; 512-byte sectors
# and a 256-bit key), ext4 and its files are written in the guest through
# `cryptblk serve` and /dev/nbd0; `cryptsetup open --readonly` then maps the
# same plaintext size, e2fsck -fn finds the file system clean and the files
# have the checksums they were written with.
. "$(dirname "$0")/lib/nbd-common.sh"
nbd_with_dmcrypt

nbd_volume_add l2-4k --type luks2 --sector-size 4096 --key-size 512 \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000
nbd_volume_add l2-512 --type luks2 --sector-size 512 --key-size 256 \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000
vm_run dmcrypt-reads-cryptblk.sh /vm/key "${NBD_SPECS[@]}"
nbd_images_check
echo PASS
