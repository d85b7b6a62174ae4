#!/usr/bin/env bash
# Data written through `cryptblk serve` into a LUKS1 image is what qemu's
# own LUKS driver decrypts from the file, and what the server reads back.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need_serve
nbd_need qemu-img nbdcopy cmp

size=$((8 * 1024 * 1024))
nbd_luks_image "$TMP/img" "$size" 512 luks1
head -c "$size" /dev/urandom >"$TMP/in"
SOCK="$TMP/nbd.sock"
"$CRYPTBLK" serve "$TMP/img" --key-file "$TMP/key" --nbd "unix:$SOCK" --threads 2 \
	--run "nbdcopy '$TMP/in' \"\$uri\" && nbdcopy \"\$uri\" '$TMP/back'"
cmp "$TMP/in" "$TMP/back"
qemu-img convert --object "secret,id=s0,file=$TMP/key" -O raw \
	"json:{\"driver\":\"luks\",\"key-secret\":\"s0\",\"file\":{\"driver\":\"file\",\"filename\":\"$TMP/img\"}}" \
	"$TMP/qemu"
cmp "$TMP/in" "$TMP/qemu"
echo ok
