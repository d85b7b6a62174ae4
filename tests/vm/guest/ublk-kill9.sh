# Guest side of test-vm-ublk-kill9: SIGKILL of the server under write load.
# usage: ublk-kill9.sh IMAGE KEYFILE
. /vm/lib.sh
. /vm/ublk-common.sh

img=$1
key=$2
sums=/tmp/sums

step "serve, mkfs.ext4, write and sync files"
ublk_serve "$img" "$key" 0 --queues 2
run mkfs.ext4 -q /dev/ublkb0
run mount -t ext4 /dev/ublkb0 /mnt
mkdir -p /mnt/kept
run dd if=/dev/urandom of=/mnt/kept/a bs=65536 count=64 2>/dev/null
run dd if=/dev/urandom of=/mnt/kept/b bs=4096 count=7 2>/dev/null
echo "synced before the kill" >/mnt/kept/c
(cd /mnt && sha256sum kept/a kept/b kept/c) >"$sums"
sync

step "fio writes through the file system; kill -9 the server"
fio --name=load --filename=/mnt/load --ioengine=io_uring --direct=1 --rw=randwrite \
	--bs=16k --iodepth=32 --size=16m --time_based --runtime=60 \
	--output=/tmp/fio.out >/dev/null 2>&1 &
fio_pid=$!
# Kill only once fio's writes are reaching the device: a fixed sleep let a
# slow (loaded) guest kill the server before fio wrote anything, and then
# fio had no error to report. Field 5 of the block stat is writes completed.
writes() { awk '{print $5}' /sys/block/ublkb0/stat; }
base=$(writes)
n=600
while [ "$(writes)" -lt $((base + 200)) ]; do
	n=$((n - 1))
	[ "$n" -gt 0 ] || fail "fio wrote nothing to /dev/ublkb0 in 60 s"
	kill -0 "$fio_pid" 2>/dev/null || fail "fio ended before the kill"
	usleep 100000
done
kill -0 "$fio_pid" 2>/dev/null || fail "fio ended before the kill"
kill -9 "$UBLK_PID"
killed_at=$(cut -d' ' -f1 /proc/uptime)

step "the writer gets errors, nothing hangs"
n=300
while kill -0 "$fio_pid" 2>/dev/null; do
	n=$((n - 1))
	[ "$n" -gt 0 ] || fail "fio still running 30 s after the server was killed"
	usleep 100000
done
rc=0
wait "$fio_pid" || rc=$?
[ "$rc" -ne 0 ] || fail "fio saw no error although its device died under it"
grep -qi "error" /tmp/fio.out || {
	cat /tmp/fio.out
	fail "fio's output names no error"
}
n=100
while [ -e /dev/ublkb0 ]; do
	n=$((n - 1))
	[ "$n" -gt 0 ] || fail "/dev/ublkb0 still there 10 s after the kill"
	usleep 100000
done
echo "writer ended and /dev/ublkb0 went within $(awk -v t="$killed_at" '{print $1 - t}' /proc/uptime) s"
wait "$UBLK_PID" 2>/dev/null
umount /mnt 2>/dev/null || run umount -l /mnt
[ -e /dev/ublkc0 ] || fail "/dev/ublkc0 is gone: expected a dead device until it is deleted"
cryptblk list | grep -q '^/dev/ublkb0 *dead .* -$' || {
	cryptblk list
	fail "cryptblk list does not show device 0 dead without a server"
}

step "serve id 0 again: the dead device is deleted first"
ublk_serve "$img" "$key" 0 --queues 2
rc=0
e2fsck -fy /dev/ublkb0 >/tmp/fsck.out 2>&1 || rc=$?
[ "$rc" -le 1 ] || {
	cat /tmp/fsck.out
	fail "e2fsck -fy could not repair the file system (exit $rc)"
}
run e2fsck -fn /dev/ublkb0
run mount -t ext4 /dev/ublkb0 /mnt
(cd /mnt && sha256sum -c "$sums") || fail "files synced before the kill changed"
run umount /mnt
ublk_stop 0
step "passed"
