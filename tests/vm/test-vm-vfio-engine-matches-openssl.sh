#!/usr/bin/env bash
# The virtio:PCI_ADDR engine on QEMU's virtio-crypto-pci through VFIO in a
# guest with an emulated IOMMU: the IEEE 1619 vectors and random jobs give
# OpenSSL's output, sessions are destroyed, a malformed request and a device
# stopped behind the engine's back fail jobs with EIO; while the device is
# still bound to virtio-pci the engine says how to bind it.
. "$(dirname "$0")/lib/vm.sh"
: "${CRYPTBLK:?CRYPTBLK must name the built cryptblk command}"
: "${BUILDDIR:?BUILDDIR must name the build directory}"

vm_modules vfio-pci
vm_binaries "$CRYPTBLK" "$BUILDDIR/test_virtio_device" "$BUILDDIR/test_crypto_vectors"
vm_qemu_args -machine kernel-irqchip=split -device intel-iommu,intremap=on,caching-mode=on \
	-object cryptodev-backend-builtin,id=c0 \
	-device virtio-crypto-pci,cryptodev=c0,iommu_platform=on,disable-legacy=on
vm_append intel_iommu=on
vm_file "$VM_GUEST_DIR/vfio-common.sh" /vm/vfio-common.sh
vm_run vfio-engine.sh
echo PASS
