# Guest side of test-vm-vfio-device-reset-while-serving: the device is
# stopped behind the server's back while requests are in flight (bus
# mastering cleared through sysfs: QEMU then drops DRIVER_OK, as a reset
# would). The server notices, resets the device, fails what was in flight
# with EIO and answers EIO from then on; nothing hangs; SIGTERM still stops
# it; a new server uses the device again and the data synced before is
# intact.
# usage: vfio-device-reset.sh IMAGE KEYFILE
. /vm/lib.sh
. /vm/vfio-common.sh

img=$1
key=$2
vfio_find
vfio_bind
dev="virtio:$VFIO_ADDR"

serve() { # log
	cryptblk serve "$img" --key-file "$key" --ublk=0 --queues 1 --crypto "$dev" 2>"$1" &
	SERVER=$!
	n=200
	while [ ! -b /dev/ublkb0 ]; do
		kill -0 "$SERVER" 2>/dev/null || { cat "$1"; fail "the server exited early"; }
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "/dev/ublkb0 did not appear"
		usleep 100000
	done
}

# Bounded wait for a process: fail after $2 tenths of a second.
wait_gone() { # pid tenths what
	n=$2
	while kill -0 "$1" 2>/dev/null; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "$3 still running after $(($2 / 10)) s"
		usleep 100000
	done
}

step "serve through the device; write data that is synced"
serve /tmp/serve1.log
run dd if=/dev/urandom of=/tmp/kept bs=65536 count=16 2>/dev/null
run dd if=/tmp/kept of=/dev/ublkb0 bs=65536 oflag=direct conv=fsync 2>/dev/null
sha=$(sha256sum </tmp/kept | cut -d' ' -f1)

step "a writer and a reader keep requests in flight; stop the device under them"
(while dd if=/dev/urandom of=/dev/ublkb0 bs=65536 count=32 seek=64 oflag=direct 2>/dev/null; do :; done) &
writer=$!
(while dd if=/dev/ublkb0 of=/dev/null bs=65536 count=32 skip=16 iflag=direct 2>/dev/null; do :; done) &
reader=$!
sleep 2
kill -0 "$writer" 2>/dev/null || fail "the writer ended before the device was stopped"
kill -0 "$reader" 2>/dev/null || fail "the reader ended before the device was stopped"
cfg=/sys/bus/pci/devices/$VFIO_ADDR/config
cmd=$(dd if="$cfg" bs=1 skip=4 count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
[ $((cmd & 4)) -ne 0 ] || fail "bus mastering is off while serving"
printf "\\$(printf %o $((cmd & ~4)))" | dd of="$cfg" bs=1 seek=4 count=1 conv=notrunc 2>/dev/null ||
	fail "could not write the command register"
stopped_at=$(cut -d' ' -f1 /proc/uptime)

step "the writer and the reader get I/O errors; nothing hangs"
wait_gone "$writer" 300 "the writer"
wait_gone "$reader" 300 "the reader"
echo "both ended $(awk -v t="$stopped_at" '{print $1 - t}' /proc/uptime) s after the stop"
kill -0 "$SERVER" 2>/dev/null || { cat /tmp/serve1.log; fail "the server exited; it should answer EIO"; }
grep "reset or stopped by someone else" /tmp/serve1.log ||
	{ cat /tmp/serve1.log; fail "the server did not say what happened to the device"; }
dd if=/dev/ublkb0 of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null &&
	fail "a read succeeded after the device failed"
dd if=/dev/zero of=/dev/ublkb0 bs=4096 count=1 oflag=direct 2>/dev/null &&
	fail "a write succeeded after the device failed"

step "SIGTERM stops the server"
kill -TERM "$SERVER"
wait_gone "$SERVER" 300 "the server"
rc=0
wait "$SERVER" || rc=$?
echo "the server exited with $rc"
cat /tmp/serve1.log
[ ! -e /dev/ublkb0 ] || fail "/dev/ublkb0 still there after the server exited"
grep -q "session(s) stay on the device" /tmp/serve1.log && fail "sessions were left on the device"

step "a new server uses the device again; the synced data is intact"
serve /tmp/serve2.log
got=$(dd if=/dev/ublkb0 bs=65536 count=16 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$got" = "$sha" ] || fail "the data synced before the failure changed"
kill -TERM "$SERVER"
rc=0
wait "$SERVER" || rc=$?
[ "$rc" -eq 0 ] || { cat /tmp/serve2.log; fail "the second server exited with $rc"; }

dmesg | grep "DMAR: \[DMA" && fail "the device faulted on DMA"
step "passed"
