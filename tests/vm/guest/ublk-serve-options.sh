# Guest side of test-vm-ublk-serve-options.
# usage: ublk-serve-options.sh IMAGE_4K IMAGE_512 IMAGE_DISCARD KEYFILE asan|plain
. /vm/lib.sh
. /vm/ublk-common.sh

a=$1
b=$2
c=$3
key=$4
asan=$5

step "--run: dev is exported, the exit status is the command's"
cryptblk serve "$a" --key-file "$key" --ublk=3 --run 'test "$dev" = /dev/ublkb3 && test -b "$dev" && exit 7'
rc=$?
[ "$rc" -eq 7 ] || fail "--run: exit status $rc, not 7"
[ ! -e /dev/ublkb3 ] && [ ! -e /dev/ublkc3 ] || fail "--run: device 3 left behind"
cryptblk serve "$a" --key-file "$key" --ublk --run 'dd if="$dev" of=/dev/null bs=4096 count=1 2>/dev/null' ||
	fail "--run without an id: the command could not read \$dev"

step "SIGINT stops the server; --pid-file while serving"
cryptblk serve "$a" --key-file "$key" --ublk=0 --pid-file /tmp/pid &
pid=$!
wait_for /dev/ublkb0 20
wait_for /tmp/pid 5
[ "$(cat /tmp/pid)" = "$pid" ] || fail "pid file says $(cat /tmp/pid), server is $pid"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "exit status $rc after SIGINT"
[ ! -e /dev/ublkb0 ] || fail "/dev/ublkb0 left after SIGINT"
[ ! -e /tmp/pid ] || fail "pid file left after the server exited"

step "two servers at once; limits the kernel was given"
ublk_serve "$a" "$key" 0 --queues 2
first=$UBLK_PID
cryptblk serve "$b" --key-file "$key" --ublk --queue-depth 8 &
second=$!
wait_for /dev/ublkb1 20
q=/sys/block/ublkb0/queue
[ "$(cat $q/logical_block_size)" = 4096 ] || fail "ublkb0: logical block size $(cat $q/logical_block_size)"
[ "$(cat $q/physical_block_size)" = 4096 ] || fail "ublkb0: physical block size"
[ "$(cat /sys/block/ublkb1/queue/logical_block_size)" = 512 ] || fail "ublkb1: logical block size"
[ "$(cat $q/discard_max_bytes)" = 0 ] || fail "discard advertised for a volume without allow-discards"
[ "$(cat $q/write_zeroes_max_bytes)" -gt 0 ] || fail "write-zeroes not advertised"
[ "$(cat $q/max_hw_sectors_kb)" = 512 ] || fail "max_hw_sectors_kb $(cat $q/max_hw_sectors_kb), not 512"
grep -q "write back" $q/write_cache || fail "no volatile write cache: FLUSH would never come"
[ "$(cat $q/fua)" = 1 ] || fail "FUA not advertised"
[ "$(blockdev --getsize64 /dev/ublkb0)" = $((40 * 1024 * 1024 - 16 * 1024 * 1024)) ] ||
	fail "ublkb0: size $(blockdev --getsize64 /dev/ublkb0)"

step "write-zeroes reads back zeros; flushed writes"
run dd if=/dev/urandom of=/tmp/rand bs=65536 count=8 2>/dev/null
run dd if=/tmp/rand of=/dev/ublkb0 bs=65536 seek=3 oflag=direct conv=fsync 2>/dev/null
dd if=/dev/ublkb0 bs=65536 skip=3 count=8 iflag=direct 2>/dev/null >/tmp/back
cmp -s /tmp/rand /tmp/back || fail "data written and flushed does not read back"
# util-linux blkdiscard (busybox has no -z), copied to /usr/bin by the host side.
run /usr/bin/blkdiscard -z -o 262144 -l 131072 /dev/ublkb0
dd if=/dev/ublkb0 bs=65536 skip=4 count=2 iflag=direct 2>/dev/null >/tmp/zeroed
head -c 131072 /dev/zero >/tmp/zeros
cmp -s /tmp/zeroed /tmp/zeros || fail "write-zeroes range does not read back as zeros"
dd if=/dev/ublkb0 bs=65536 skip=6 count=1 iflag=direct 2>/dev/null >/tmp/after
dd if=/tmp/rand bs=65536 skip=3 count=1 2>/dev/null | cmp -s - /tmp/after ||
	fail "write-zeroes changed data after its range"
run sync
run blockdev --flushbufs /dev/ublkb0
kill -TERM "$second"
wait "$second" || fail "second server exited with $?"
UBLK_PID=$first
ublk_stop 0

step "--readonly: reads work, writes are refused"
ublk_serve "$a" "$key" 0 --readonly
[ "$(cat /sys/block/ublkb0/ro)" = 1 ] || fail "ublkb0 not read-only"
run dd if=/dev/ublkb0 of=/dev/null bs=65536 count=4 iflag=direct 2>/dev/null
if dd if=/dev/zero of=/dev/ublkb0 bs=4096 count=1 oflag=direct 2>/dev/null; then
	fail "a write to a --readonly device succeeded"
fi
ublk_stop 0

step "allow-discards: discard advertised, blkdiscard punches the image file"
# The file backend punches holes in regular files only: serve a copy in tmpfs.
run cp "$c" /tmp/c.img
ublk_serve /tmp/c.img "$key" 2
[ "$(cat /sys/block/ublkb2/queue/discard_max_bytes)" -gt 0 ] ||
	fail "discard not advertised for a volume with allow-discards"
run dd if=/dev/urandom of=/tmp/rand2 bs=1048576 count=4 2>/dev/null
run dd if=/tmp/rand2 of=/dev/ublkb2 bs=1048576 oflag=direct conv=fsync 2>/dev/null
before=$(stat -c %b /tmp/c.img)
run /usr/bin/blkdiscard -o 1048576 -l 2097152 /dev/ublkb2
run sync
after=$(stat -c %b /tmp/c.img)
[ "$after" -lt "$before" ] || fail "blkdiscard freed nothing in the image ($before -> $after blocks)"
dd if=/dev/ublkb2 bs=1048576 count=1 iflag=direct 2>/dev/null >/tmp/head
dd if=/tmp/rand2 bs=1048576 count=1 2>/dev/null | cmp -s - /tmp/head ||
	fail "data before the discarded range changed"
dd if=/dev/ublkb2 bs=1048576 skip=3 count=1 iflag=direct 2>/dev/null >/tmp/tail
dd if=/tmp/rand2 bs=1048576 skip=3 count=1 2>/dev/null | cmp -s - /tmp/tail ||
	fail "data after the discarded range changed"
ublk_stop 2

step "refusals before any device exists"
if cryptblk serve "$a" --key-file "$key" --ublk=5 --crypto no-such-engine 2>/tmp/err; then
	fail "serve with an unknown engine succeeded"
fi
cat /tmp/err
grep -q "no-such-engine" /tmp/err || fail "the error does not name the engine"
if cryptblk serve "$a" --key-file "$key" --ublk=5 --export-name x 2>/tmp/err; then
	fail "serve --ublk took an NBD option"
fi
[ ! -e /dev/ublkc5 ] || fail "device 5 added by a refused serve"

if [ "$asan" = asan ]; then
	echo "(sanitizer build: no address-space limit, the failed queue is not checked)"
else
	step "a queue that cannot set up (no memory for its buffers): nothing left behind"
	# 4096 tags of 512 KiB need 2 GiB of address space: more than allowed.
	if (ulimit -v 1048576 && exec cryptblk serve "$a" --key-file "$key" --ublk=5 --queues 1 \
		--queue-depth 4096) 2>/tmp/err; then
		fail "serve with 2 GiB of buffers under a 1 GiB limit succeeded"
	fi
	cat /tmp/err
	grep -q "queue 0: setup" /tmp/err || fail "the error does not name the failed queue"
	[ ! -e /dev/ublkc5 ] && [ ! -e /dev/ublkb5 ] || fail "device 5 left behind after a failed start"
fi
step "passed"
