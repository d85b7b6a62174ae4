#!/usr/bin/env bash
# qemu-io reads and writes at unaligned offsets (the server advertises a
# minimum block size of 1 and does read-modify-write); neighbours keep
# their bytes.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need qemu-io

nbd_start $((1024 * 1024)) 4096 1
io() { qemu-io -f raw "$URI" "$@"; }
io -c 'write -P 0x11 0 65536' >/dev/null
io -c 'write -P 0xab 1000 3000' -c 'write -P 0xcd 4095 2' -c 'write -P 0xef 9999 1' >/dev/null
out=$(io -c 'read -P 0x11 0 1000' -c 'read -P 0xab 1000 3000' -c 'read -P 0x11 4000 95' \
	-c 'read -P 0xcd 4095 2' -c 'read -P 0x11 4097 5902' -c 'read -P 0xef 9999 1' \
	-c 'read -P 0x11 10000 55536')
if grep -q 'Pattern verification failed' <<<"$out"; then
	echo "$out" >&2
	exit 1
fi
# zeroes at an unaligned range
io -c 'write -z 5 10' >/dev/null
out=$(io -c 'read -P 0x11 0 5' -c 'read -P 0 5 10' -c 'read -P 0x11 15 985')
if grep -q 'Pattern verification failed' <<<"$out"; then
	echo "$out" >&2
	exit 1
fi
nbd_stop
echo ok
