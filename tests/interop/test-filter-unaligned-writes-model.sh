#!/usr/bin/env bash
# Unaligned writes through the filter lose nothing: 1 byte at either end,
# 511 bytes straddling sector boundaries, an unaligned write-zeroes, then
# four connections writing interleaved pieces of 1..1500 bytes that share
# sectors but no bytes, many in flight at once (lib/filter_unaligned.py),
# compared with a plaintext model after every step; at the end the volume
# reads back through `cryptblk serve` equal to the model. Once with
# 4096-byte sectors on the openssl engine, once with 512-byte sectors on
# threads:2.
. "$(dirname "$0")/lib/filter.sh"
need nbdcopy cmp
python3 -c 'import nbd' 2>/dev/null || { echo "SKIP: python3-libnbd not installed"; exit 77; }

printf 'unaligned passphrase' >"$TMP/k"

run() { # sector crypto
	local sector=$1 crypto=$2 img="$TMP/u.img"
	rm -f "$img"
	"$CRYPTBLK" format "$img" --size $((16 * 1024 * 1024 + 1024 * 1024)) --type luks2 \
		--sector-size "$sector" --key-file "$TMP/k" --pbkdf pbkdf2 \
		--pbkdf-force-iterations 1000 --batch-mode >/dev/null
	filter_run "python3 '$LUKS_LIB/filter_unaligned.py' \"\$uri\" '$TMP/model' 4" \
		file "$img" cryptblk-key-file="$TMP/k" cryptblk-crypto="$crypto" ||
		fail "$sector/$crypto: unaligned writes through the filter"
	rm -f "$TMP/out"
	cb_serve_run "$img" "$TMP/k" "nbdcopy \"\$uri\" '$TMP/out'" --readonly ||
		fail "$sector/$crypto: cryptblk serve"
	cmp "$TMP/model" "$TMP/out" || fail "$sector/$crypto: cryptblk reads other data"
}

run 4096 openssl
run 512 threads:2
echo "PASS"
