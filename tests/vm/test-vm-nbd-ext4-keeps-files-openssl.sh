#!/usr/bin/env bash
# ext4 on /dev/nbd0, served by `cryptblk serve --nbd unix:...` in the guest
# from LUKS2 volumes cryptblk formatted (4096-byte sectors and a 512-bit key;
# 512-byte sectors and a 256-bit key), keeps its files across unmount,
# nbd-client -d and a server stopped by SIGTERM (exit 0): a fresh server and
# client see a clean file system (e2fsck -fn) and the same checksums.
# Crypto by the OpenSSL engine (--crypto openssl).
. "$(dirname "$0")/lib/nbd-common.sh"

nbd_volume_add l2-4k --type luks2 --sector-size 4096 --key-size 512 \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000
nbd_volume_add l2-512 --type luks2 --sector-size 512 --key-size 256 \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000
vm_run nbd-ext4-roundtrip.sh /vm/key openssl "${NBD_SPECS[@]}"
nbd_images_check
echo PASS
