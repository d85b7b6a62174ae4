# Guest side of test-vm-vfio-serve-ext4-interop: ext4 on a volume served
# with --crypto virtio:ADDR reads back with --crypto openssl, and the other
# way round.
# usage: vfio-serve-ext4.sh IMAGE KEYFILE
. /vm/lib.sh
. /vm/vfio-common.sh
. /vm/ublk-common.sh

img=$1
key=$2
vfio_find
vfio_bind
dev="virtio:$VFIO_ADDR"

step "serve with $dev: mkfs.ext4, write files"
ublk_serve "$img" "$key" 0 --queues 1 --crypto "$dev"
run mkfs.ext4 -q /dev/ublkb0
run mount -t ext4 /dev/ublkb0 /mnt
run dd if=/dev/urandom of=/mnt/a bs=65536 count=48 2>/dev/null
run dd if=/dev/urandom of=/mnt/b bs=4096 count=3 2>/dev/null
echo "written through the device" >/mnt/c
(cd /mnt && sha256sum a b c) >/tmp/sums1
run umount /mnt
ublk_stop 0

step "serve with openssl: the device's files read back; write more"
ublk_serve "$img" "$key" 0 --queues 1 --crypto openssl
run e2fsck -fn /dev/ublkb0
run mount -t ext4 /dev/ublkb0 /mnt
(cd /mnt && sha256sum -c /tmp/sums1) || fail "files written through the device differ under openssl"
run dd if=/dev/urandom of=/mnt/d bs=65536 count=32 2>/dev/null
echo "written by openssl" >/mnt/e
(cd /mnt && sha256sum a b c d e) >/tmp/sums2
run umount /mnt
ublk_stop 0

step "serve with $dev again (one queue by default): openssl's files read back"
ublk_serve "$img" "$key" 0 --crypto "$dev"
run e2fsck -fn /dev/ublkb0
run mount -t ext4 /dev/ublkb0 /mnt
(cd /mnt && sha256sum -c /tmp/sums2) || fail "files written by openssl differ under the device"
run umount /mnt
ublk_stop 0

dmesg | grep "DMAR: \[DMA" && fail "the device faulted on DMA"
step "passed"
