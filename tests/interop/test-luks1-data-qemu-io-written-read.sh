#!/usr/bin/env bash
# Data that qemu-io writes through qemu's LUKS driver into a LUKS1 image made
# by qemu-img (its default aes-256-xts/sha256; whole-disk writes from files,
# unaligned patterns, written zeroes; the image named with --image-opts and
# with json:) reads back through `cryptblk serve` byte for byte.
# (qemu-img's aes-128/sha1 images: test-luks1-data-cryptblk-written-read-by-qemu.)
. "$(dirname "$0")/lib/luks-common.sh"
need qemu-img qemu-io nbdcopy python3

printf 'qemu data secret' >"$TMP/k"
size=$((8 * 1024 * 1024))

check_qemu() { # extra qemu-img -o options
	local img="$TMP/q.img"
	qemu_luks_create "$img" "$size" "$TMP/k" "$1"
	head -c $((3 * 1024 * 1024)) /dev/urandom >"$TMP/r1"
	head -c $((5 * 1024 * 1024)) /dev/urandom >"$TMP/r2"
	qemu_io_opts "$img" "$TMP/k" -c "write -q -s $TMP/r1 0 3M" \
		-c "write -q -P 0x5a 1000 3000" >/dev/null || fail "qemu-io --image-opts ($1)"
	qemu_io_json "$img" "$TMP/k" -c "write -q -s $TMP/r2 3M 5M" \
		-c "write -q -z 6M 4096" -c "write -q -P 0xa5 $((size - 700)) 700" >/dev/null ||
		fail "qemu-io json: ($1)"
	cat "$TMP/r1" "$TMP/r2" >"$TMP/want"
	fill_bytes "$TMP/want" 1000 3000 0x5a
	fill_bytes "$TMP/want" $((6 * 1024 * 1024)) 4096 0
	fill_bytes "$TMP/want" $((size - 700)) 700 0xa5
	rm -f "$TMP/out"
	cb_serve_run "$img" "$TMP/k" "nbdcopy \"\$uri\" '$TMP/out'" --readonly || fail "serve ($1)"
	cmp "$TMP/want" "$TMP/out" || fail "cryptblk read other data ($1)"
}

check_qemu ""
echo "PASS"
