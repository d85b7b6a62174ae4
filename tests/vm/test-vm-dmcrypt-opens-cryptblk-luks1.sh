#!/usr/bin/env bash
# LUKS1 volumes made by `cryptblk format --type luks1` (512-bit and 256-bit
# keys) open in a guest through the kernel's dm-crypt with cryptblk's volume
# key and data offset; ext4 on each keeps its files across close and reopen
# and passes e2fsck; afterwards cryptblk still opens them and no plain text is
# on disk.
. "$(dirname "$0")/lib/dmcrypt-common.sh"

dmcrypt_volume_add l1-512 --type luks1 --key-size 512 --pbkdf-force-iterations 1000
dmcrypt_volume_add l1-256 --type luks1 --key-size 256 --pbkdf-force-iterations 1000
dmcrypt_run
