# Guest side of test-vm-vfio-engine-matches-openssl: the virtio engine on
# QEMU's virtio-crypto-pci behind an emulated IOMMU.
# usage: vfio-engine.sh
. /vm/lib.sh
. /vm/vfio-common.sh

# Check's per-test timeout (4 s by default) is too short under TCG.
export CK_DEFAULT_TIMEOUT=240
vfio_find

step "bound to virtio-pci: the engine refuses and says how to bind"
out=$(cryptblk bench crypto --engines "virtio:$VFIO_ADDR" --seconds 0.1 2>&1) &&
	fail "the engine opened a device bound to virtio-pci"
echo "$out"
echo "$out" | grep -q "bound to the virtio-pci driver, not to vfio-pci" ||
	fail "the message does not say which driver holds the device"
echo "$out" | grep -q "echo vfio-pci > /sys/bus/pci/devices/$VFIO_ADDR/driver_override" ||
	fail "the message does not say how to bind the device"

vfio_bind

step "IEEE 1619 vectors through the device"
CRYPTBLK_TEST_ENGINE="virtio:$VFIO_ADDR" run test_crypto_vectors

step "random jobs against openssl, sessions, refusals, failures"
CRYPTBLK_VIRTIO_ADDR=$VFIO_ADDR run test_virtio_device

step "cryptblk bench crypto with the device"
run cryptblk bench crypto --engines "openssl,virtio:$VFIO_ADDR" --seconds 0.5
# A DMA fault of the device means an address the engine never mapped.
dmesg | grep "DMAR: \[DMA" && fail "the device faulted on DMA"
step "passed"
