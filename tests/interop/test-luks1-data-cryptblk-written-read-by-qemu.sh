#!/usr/bin/env bash
# Data written through `cryptblk serve` into a LUKS1 image made by qemu-img
# (aes-128-xts with sha1: a 256-bit XTS key) reads back through qemu's LUKS
# driver: patterns checked by `qemu-io read -P` (image named with
# --image-opts), the whole disk by `qemu-img convert` to raw (json: name).
. "$(dirname "$0")/lib/luks-common.sh"
need qemu-img qemu-io nbdsh nbdcopy cmp

printf 'qemu data secret' >"$TMP/k"
size=$((8 * 1024 * 1024))
qemu_luks_create "$TMP/q.img" "$size" "$TMP/k" ",cipher-alg=aes-128,hash-alg=sha1"
[ "$(cb_json "$TMP/q.img" "j['key_size'], j['hash']")" = "32 sha1" ] || fail "not aes-128/sha1"

# The whole disk from a file, then unaligned patterns over it; the server
# does the read-modify-write.
head -c "$size" /dev/urandom >"$TMP/want"
cb_serve_run "$TMP/q.img" "$TMP/k" "nbdcopy '$TMP/want' \"\$uri\" && nbdsh -u \"\$uri\" -c '
h.pwrite(b\"\\x5a\" * 3000, 1000)
h.pwrite(b\"\\xa5\" * 700, $((size - 700)))
h.zero(4096, 6 << 20)
h.flush()'" || fail "serve"
fill_bytes "$TMP/want" 1000 3000 0x5a
fill_bytes "$TMP/want" $((size - 700)) 700 0xa5
fill_bytes "$TMP/want" $((6 << 20)) 4096 0

qemu_io_opts "$TMP/q.img" "$TMP/k" -c "read -q -P 0x5a 1000 3000" \
	-c "read -q -P 0xa5 $((size - 700)) 700" -c "read -q -P 0 6M 4096" >"$TMP/qio" 2>&1 ||
	fail "qemu-io read -P: $(cat "$TMP/qio")"
! grep -q 'verification failed' "$TMP/qio" || fail "qemu-io: $(cat "$TMP/qio")"
qemu-img convert --object "secret,id=s0,file=$TMP/k" -O raw \
	"json:{\"driver\":\"luks\",\"key-secret\":\"s0\",\"file\":{\"driver\":\"file\",\"filename\":\"$TMP/q.img\"}}" \
	"$TMP/qemu.raw"
cmp "$TMP/want" "$TMP/qemu.raw" || fail "qemu-img convert read other data"
echo "PASS"
