#!/usr/bin/env bash
# LUKS2 volumes made by `cryptblk format` open in a guest through the kernel's
# dm-crypt (cryptsetup open) with cryptblk's volume key, data offset and
# sector size (4096 with a 512-bit key and PBKDF2; 512 with a 256-bit key and
# Argon2id); ext4 on each keeps its files across close and reopen and passes
# e2fsck; afterwards cryptblk still opens them and no plain text is on disk.
. "$(dirname "$0")/lib/dmcrypt-common.sh"

dmcrypt_volume_add l2-4k --type luks2 --sector-size 4096 --key-size 512 \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000
dmcrypt_volume_add l2-512 --type luks2 --sector-size 512 --key-size 256 \
	--pbkdf argon2id --pbkdf-force-iterations 4 --pbkdf-memory 32 --pbkdf-parallel 1
dmcrypt_run
