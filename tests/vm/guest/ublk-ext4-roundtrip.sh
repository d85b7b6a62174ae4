# Guest side of test-vm-ublk-ext4-roundtrip: ext4 on /dev/ublkb0 across a
# server restart, first with USER_COPY, then with the buffer copy mode.
# usage: ublk-ext4-roundtrip.sh IMAGE KEYFILE
. /vm/lib.sh
. /vm/ublk-common.sh

img=$1
key=$2
sums=/tmp/sums

step "serve $img on /dev/ublkb0 (USER_COPY, 2 queues)"
ublk_serve "$img" "$key" 0 --queues 2 --ublk-copy user
[ "$(blockdev --getss /dev/ublkb0)" = 4096 ] || fail "logical sector size is not the volume's 4096"
cryptblk list | grep -q '^/dev/ublkb0 *live .* cryptblk$' || {
	cryptblk list
	fail "cryptblk list does not show /dev/ublkb0 live and served by cryptblk"
}

step "mkfs.ext4, write files"
run mkfs.ext4 -q /dev/ublkb0
run mount -t ext4 /dev/ublkb0 /mnt
mkdir -p /mnt/dir/sub
# Plain text the host looks for in the image afterwards: it must not be there.
yes cryptblk-ublk-plaintext-marker | head -c 1048576 >/mnt/marker
run dd if=/dev/urandom of=/mnt/random bs=65536 count=96 2>/dev/null
run dd if=/dev/urandom of=/mnt/dir/odd bs=12345 count=3 2>/dev/null
echo "small file" >/mnt/dir/sub/small
(cd /mnt && sha256sum marker random dir/odd dir/sub/small) >"$sums"
run umount /mnt
step "e2fsck, stop the server"
run e2fsck -fn /dev/ublkb0
ublk_stop 0

step "serve again (buffer copy mode), compare"
ublk_serve "$img" "$key" 0 --queues 1 --ublk-copy buffer
echo 3 >/proc/sys/vm/drop_caches
run mount -t ext4 -o ro /dev/ublkb0 /mnt
(cd /mnt && sha256sum -c "$sums") || fail "files changed across the server restart"
run umount /mnt
run e2fsck -fn /dev/ublkb0
ublk_stop 0
step "passed"
