#!/usr/bin/env bash
# A shell in the test guest, for debugging scenarios by hand:
#
#   CRYPTBLK=build/cryptblk BUILDDIR=build tests/vm/shell.sh [-d IMAGE]... \
#       [-m MODULE]... [-b BINARY]... [-f HOST:GUEST]... [-s SHARE_DIR]
#
# loads dm-crypt, xts, ext4, nbd and ublk_drv (plus any -m), copies in
# cryptblk, cryptsetup, dmsetup, mkfs.ext4, e2fsck, nbd-client and fio where
# the host has them (plus any -b), attaches each -d as /dev/vda, /dev/vdb...
# (written in place: use a copy), and shares -s at /share. `exit` powers off;
# Ctrl-A x kills qemu.
export CRYPTBLK=${CRYPTBLK:-} VM_SHELL=1 VM_KEEP=${VM_KEEP:-0}
BUILDDIR=${BUILDDIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
export BUILDDIR
. "$(dirname "$0")/lib/vm.sh"

vm_modules dm-crypt xts aesni_intel ext4 nbd ublk_drv
for b in ${CRYPTBLK:+"$CRYPTBLK"} cryptsetup dmsetup mkfs.ext4 e2fsck nbd-client fio; do
	if command -v "$b" >/dev/null 2>&1; then vm_binaries "$b"; fi
done
while getopts "d:m:b:f:s:" opt; do
	case $opt in
	d) vm_disk "$(realpath "$OPTARG")" ;;
	m) vm_modules "$OPTARG" ;;
	b) vm_binaries "$OPTARG" ;;
	f) vm_file "${OPTARG%%:*}" "${OPTARG#*:}" ;;
	s) vm_share "$(realpath "$OPTARG")" ;;
	*) sed -n '2,12s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
vm_run idle.sh
