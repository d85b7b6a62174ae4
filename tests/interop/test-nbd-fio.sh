#!/usr/bin/env bash
# fio's nbd engine with crc32c verification: 4 KiB random read/write at
# queue depth 32, then 1 MiB sequential writes read back and verified.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need fio

if ! fio --enghelp=nbd >/dev/null 2>&1; then
	echo "skip: fio has no nbd engine" >&2
	exit 77
fi
nbd_start $((64 * 1024 * 1024)) 512 2
fio --name=randrw --ioengine=nbd --uri="$URI" --rw=randrw --bs=4k --iodepth=32 \
	--size=16m --verify=crc32c --verify_fatal=1 --do_verify=1 --randrepeat=1 \
	--verify_state_save=0 --output="$TMP/randrw.txt"
fio --name=seq --ioengine=nbd --uri="$URI" --rw=write --bs=1m --iodepth=8 --size=32m \
	--verify=crc32c --verify_fatal=1 --do_verify=1 --verify_state_save=0 --output="$TMP/seq.txt"
nbd_stop
echo ok
