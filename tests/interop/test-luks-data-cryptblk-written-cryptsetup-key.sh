#!/usr/bin/env bash
# Data written through `cryptblk serve` into volumes made by `cryptblk
# format` (LUKS2 with 512- and 4096-byte sectors, LUKS1; 256- and 512-bit
# keys; the openssl and threads engines) decrypts, sector by sector, with
# the volume key and layout cryptsetup reads from the header (luksDump
# --dump-volume-key, so independent of cryptblk's key derivation) and an
# independent AES-XTS (python3-cryptography), to exactly what was written.
# (cryptsetup itself cannot open a volume without dm-crypt.)
. "$(dirname "$0")/lib/luks-common.sh"
need cryptsetup nbdsh nbdcopy
need_xts

printf 'cryptblk data secret' >"$TMP/k"
size=$((4 * 1024 * 1024))

check_volume() { # type key-bits sector-size engine
	local type=$1 bits=$2 sector=$3 engine=$4 img="$TMP/v.img" header offset ssize tweak
	local opts=(--type "$type" --key-size "$bits")
	header=$((2 << 20))
	if [ "$type" = luks2 ]; then
		header=$((16 << 20))
		opts+=(--sector-size "$sector")
	fi
	rm -f "$img"
	"$CRYPTBLK" format "$img" "${opts[@]}" --size $((size + header)) --key-file "$TMP/k" \
		--pbkdf pbkdf2 --pbkdf-force-iterations 1000 >/dev/null
	head -c "$size" /dev/urandom >"$TMP/plain"
	cb_serve_run "$img" "$TMP/k" "nbdcopy '$TMP/plain' \"\$uri\" && nbdsh -u \"\$uri\" -c '
h.pwrite(b\"\\x5a\" * 3000, 1000)
h.pwrite(b\"\\xa5\" * 700, $((size - 700)))
h.flush()'" --crypto "$engine" || fail "$type/$bits/$sector: serve"
	fill_bytes "$TMP/plain" 1000 3000 0x5a
	fill_bytes "$TMP/plain" $((size - 700)) 700 0xa5
	cs_volume_key "$img" "$TMP/k" "$TMP/vk"
	[ "$(stat -c %s "$TMP/vk")" -eq $((bits / 8)) ] || fail "$type/$bits/$sector: key size"
	read -r offset ssize tweak < <(cs_layout "$img")
	if [ "$offset" -ne "$header" ] || [ "$ssize" -ne "$sector" ]; then
		fail "$type/$bits/$sector: cryptsetup sees offset $offset, sector $ssize"
	fi
	xts check "$img" "$TMP/vk" "$offset" "$ssize" "$tweak" 0 "$TMP/plain" ||
		fail "$type/$bits/$sector: not what was written"
}

check_volume luks2 512 512 openssl
check_volume luks2 256 4096 threads:2
check_volume luks2 512 4096 openssl
check_volume luks1 256 512 threads:2
check_volume luks1 512 512 openssl
echo "PASS"
