#!/usr/bin/env bash
# The virtio-crypto device stops (bus mastering cleared behind the server's
# back, which makes QEMU drop DRIVER_OK) while `cryptblk serve --ublk
# --crypto virtio:ADDR` has requests in flight: they fail with EIO, nothing
# hangs, the server answers EIO until SIGTERM stops it, and the next server
# uses the device again (docs/architecture.md: a failed engine refuses
# further jobs).
. "$(dirname "$0")/lib/vm.sh"
: "${CRYPTBLK:?CRYPTBLK must name the built cryptblk command}"

vm_modules ublk_drv vfio-pci
vm_binaries "$CRYPTBLK"
vm_qemu_args -machine kernel-irqchip=split -device intel-iommu,intremap=on,caching-mode=on \
	-object cryptodev-backend-builtin,id=c0 \
	-device virtio-crypto-pci,cryptodev=c0,iommu_platform=on,disable-legacy=on
vm_append intel_iommu=on
printf 'cryptblk vfio passphrase' >"$VM_TMP/key"
"$CRYPTBLK" format "$VM_TMP/v.img" --size 24M --key-file "$VM_TMP/key" \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000 >/dev/null || vm_fail "cryptblk format"
vm_file "$VM_TMP/key" /vm/key
vm_file "$VM_GUEST_DIR/vfio-common.sh" /vm/vfio-common.sh
vm_disk "$VM_TMP/v.img"
vm_run vfio-device-reset.sh /dev/vda /vm/key
echo PASS
