#!/usr/bin/env bash
# qemu-img convert into the export over an nbd+unix URI, then compare.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need qemu-img

size=$((4 * 1024 * 1024))
nbd_start "$size" 512 2
head -c "$size" /dev/urandom >"$TMP/in.raw"
# leave a hole of zeros in the source: qemu-img writes it as zeroes
dd if=/dev/zero of="$TMP/in.raw" bs=65536 seek=10 count=8 conv=notrunc status=none
qemu-img convert -n -f raw -O raw "$TMP/in.raw" "$URI"
qemu-img compare -f raw -F raw "$TMP/in.raw" "$URI"
qemu-img convert -f raw -O raw "$URI" "$TMP/out.raw"
cmp "$TMP/in.raw" "$TMP/out.raw"
nbd_stop
echo ok
