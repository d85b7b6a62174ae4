#!/usr/bin/env bash
# fio with verify=crc32c on /dev/ublkb0: cryptblk serves a LUKS2 volume with
# the threads crypto engine, two queues of depth 64; random writes of mixed
# sizes at iodepth 64 and O_SYNC writes (FUA), each block read back and
# checked, then the same data
# verified again after a server restart (so it was on the volume, not in a
# cache of the server).
. "$(dirname "$0")/lib/vm.sh"
: "${CRYPTBLK:?CRYPTBLK must name the built cryptblk command}"

vm_modules ublk_drv
vm_binaries "$CRYPTBLK" fio
printf 'cryptblk ublk fio passphrase' >"$VM_TMP/key"
"$CRYPTBLK" format "$VM_TMP/v.img" --size 48M --sector-size 512 --key-file "$VM_TMP/key" \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000 >/dev/null || vm_fail "cryptblk format"
vm_file "$VM_TMP/key" /vm/key
vm_file "$VM_GUEST_DIR/ublk-common.sh" /vm/ublk-common.sh
vm_disk "$VM_TMP/v.img"
vm_run ublk-fio-verify.sh /dev/vda /vm/key
echo PASS
