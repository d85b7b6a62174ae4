#!/usr/bin/env bash
# Data written through `cryptblk serve` into LUKS1 images made by `cryptblk
# format` (256- and 512-bit keys) reads back byte for byte through nbdkit's
# own LUKS1 implementation (`nbdkit --filter=luks file`, passphrase=+FILE).
. "$(dirname "$0")/lib/luks-common.sh"
need nbdkit nbdsh nbdcopy cmp
nbdkit --filter=luks null --dump-plugin >/dev/null 2>&1 || {
	echo "SKIP: nbdkit luks filter not installed"
	exit 77
}

printf 'nbdkit data secret' >"$TMP/k"
size=$((4 * 1024 * 1024))

for bits in 256 512; do
	img="$TMP/l1-$bits.img"
	"$CRYPTBLK" format "$img" --type luks1 --key-size "$bits" --size $((size + (2 << 20))) \
		--key-file "$TMP/k" --pbkdf pbkdf2 --pbkdf-force-iterations 1000 >/dev/null
	head -c "$size" /dev/urandom >"$TMP/want"
	cb_serve_run "$img" "$TMP/k" "nbdcopy '$TMP/want' \"\$uri\" && nbdsh -u \"\$uri\" -c '
h.pwrite(b\"\\x5a\" * 3000, 1000)
h.pwrite(b\"\\xa5\" * 700, $((size - 700)))
h.flush()'" || fail "$bits: serve"
	fill_bytes "$TMP/want" 1000 3000 0x5a
	fill_bytes "$TMP/want" $((size - 700)) 700 0xa5
	rm -f "$TMP/out"
	nbdkit -U - --filter=luks file "$img" passphrase=+"$TMP/k" \
		--run "nbdcopy \"\$uri\" '$TMP/out'" || fail "$bits: nbdkit"
	cmp "$TMP/want" "$TMP/out" || fail "$bits: nbdkit read other data"
done
echo "PASS"
