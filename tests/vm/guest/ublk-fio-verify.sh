# Guest side of test-vm-ublk-fio-verify: fio writes and verifies (crc32c)
# through /dev/ublkb0 at iodepth 64, then verifies again after a restart.
# usage: ublk-fio-verify.sh IMAGE KEYFILE
. /vm/lib.sh
. /vm/ublk-common.sh

img=$1
key=$2
job=/tmp/verify.fio
cat >"$job" <<'JOB'
[global]
filename=/dev/ublkb0
ioengine=io_uring
direct=1
iodepth=64
size=24m
verify=crc32c
verify_fatal=1
randrepeat=1
randseed=4242

[randwrite]
rw=randwrite
bsrange=4k-128k
bs_unaligned=0
norandommap=0

# O_SYNC on a device with FUA: every write carries REQ_FUA.
[fua]
stonewall
rw=randwrite
offset=24m
size=8m
bs=4k
iodepth=16
sync=1
JOB

step "serve with the threads engine, 2 queues of depth 64"
ublk_serve "$img" "$key" 0 --queues 2 --queue-depth 64 --crypto threads:2
step "fio: random writes of 4k-128k at iodepth 64, then O_SYNC (FUA) writes, verified"
run fio --output-format=terse --terse-version=3 "$job" >/tmp/fio.out
ublk_stop 0

step "serve again, verify only"
ublk_serve "$img" "$key" 0 --queues 2 --queue-depth 64 --crypto threads:2
echo 3 >/proc/sys/vm/drop_caches
run fio --output-format=terse --terse-version=3 --verify_only "$job" >/tmp/fio2.out
step "control: after 1 MiB of zeros over the data, verification fails"
run dd if=/dev/zero of=/dev/ublkb0 bs=65536 count=16 oflag=direct 2>/dev/null
if fio --output-format=terse --terse-version=3 --verify_only "$job" >/tmp/fio3.out 2>&1; then
	fail "fio verified data that was overwritten: the check proves nothing"
fi
ublk_stop 0
step "passed"
