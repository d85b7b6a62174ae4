#!/usr/bin/env bash
# cryptblk serve --ublk --crypto virtio:ADDR (QEMU's virtio-crypto-pci
# through VFIO): ext4 made and written through the device reads back with
# --crypto openssl, and files openssl wrote read back through the device.
. "$(dirname "$0")/lib/vm.sh"
: "${CRYPTBLK:?CRYPTBLK must name the built cryptblk command}"

vm_need mkfs.ext4 e2fsck
vm_modules ublk_drv ext4 vfio-pci
vm_binaries "$CRYPTBLK" mkfs.ext4 e2fsck
vm_qemu_args -machine kernel-irqchip=split -device intel-iommu,intremap=on,caching-mode=on \
	-object cryptodev-backend-builtin,id=c0 \
	-device virtio-crypto-pci,cryptodev=c0,iommu_platform=on,disable-legacy=on
vm_append intel_iommu=on
printf 'cryptblk vfio passphrase' >"$VM_TMP/key"
"$CRYPTBLK" format "$VM_TMP/v.img" --size 48M --key-file "$VM_TMP/key" \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000 >/dev/null || vm_fail "cryptblk format"
vm_file "$VM_TMP/key" /vm/key
vm_file "$VM_GUEST_DIR/vfio-common.sh" /vm/vfio-common.sh
vm_file "$VM_GUEST_DIR/ublk-common.sh" /vm/ublk-common.sh
vm_disk "$VM_TMP/v.img"
vm_run vfio-serve-ext4.sh /dev/vda /vm/key
echo PASS
