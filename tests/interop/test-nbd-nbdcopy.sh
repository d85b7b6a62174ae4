#!/usr/bin/env bash
# nbdcopy of random data into the export and back out gives the same bytes,
# over one connection and over several (multi-conn, several worker threads).
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need nbdcopy cmp

size=$((8 * 1024 * 1024))
nbd_start "$size" 512 2
head -c "$size" /dev/urandom >"$TMP/in"
nbdcopy --connections=1 "$TMP/in" "$URI"
nbdcopy --connections=1 "$URI" "$TMP/out1"
cmp "$TMP/in" "$TMP/out1"

head -c "$size" /dev/urandom >"$TMP/in2"
nbdcopy --connections=4 --requests=16 "$TMP/in2" "$URI"
nbdcopy --connections=4 "$URI" "$TMP/out2"
cmp "$TMP/in2" "$TMP/out2"
nbd_stop
echo ok
