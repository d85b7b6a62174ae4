#!/usr/bin/env bash
# Data in LUKS2 volumes made by `cryptsetup luksFormat` (argon2id and pbkdf2
# keyslots, 512- and 4096-byte sectors, 256- and 512-bit keys, two keyslots,
# a label; and one whose segment's iv_tweak was set to an odd number),
# encrypted sector by sector by an independent AES-XTS (python3-
# cryptography, cryptsetup's volume key and layout, plain64 IVs in 512-byte
# units from the data segment plus iv_tweak), reads back through
# `cryptblk serve` byte for byte, opened with either passphrase.
. "$(dirname "$0")/lib/luks-common.sh"
need cryptsetup nbdcopy
need_xts

printf 'first passphrase' >"$TMP/k1"
printf 'zweite\nzeile' >"$TMP/k2"

check_volume() { # key-bits sector-size iv-tweak kdf...
	local bits=$1 sector=$2 want_tweak=$3 img="$TMP/v.img" offset ssize tweak size
	shift 3
	rm -f "$img"
	truncate -s 20M "$img"
	cryptsetup luksFormat --type luks2 --batch-mode --key-file "$TMP/k1" "$@" \
		--key-size "$bits" --sector-size "$sector" --label "data-$bits-$sector" "$img"
	cryptsetup luksAddKey --batch-mode --key-file "$TMP/k1" "${CS_PBKDF2[@]}" "$img" "$TMP/k2"
	if [ "$want_tweak" -ne 0 ]; then
		python3 "$LUKS_LIB/luks2_damage.py" "$img" json both \
			"j['segments']['0']['iv_tweak'] = '$want_tweak'"
	fi
	cs_volume_key "$img" "$TMP/k1" "$TMP/vk"
	read -r offset ssize tweak < <(cs_layout "$img")
	[ "$ssize" -eq "$sector" ] || fail "$bits/$sector: cryptsetup made sector size $ssize"
	[ "$tweak" -eq "$want_tweak" ] || fail "$bits/$sector: cryptsetup reads iv_tweak $tweak"
	size=$(($(stat -c %s "$img") - offset))
	# The whole segment, so every sector (first and last included) is checked.
	head -c "$size" /dev/urandom >"$TMP/plain"
	xts encrypt "$img" "$TMP/vk" "$offset" "$sector" "$tweak" 0 "$TMP/plain"
	for k in k1 k2; do
		rm -f "$TMP/out"
		cb_serve_run "$img" "$TMP/$k" "nbdcopy \"\$uri\" '$TMP/out'" --readonly ||
			fail "$bits/$sector: serve with $k"
		cmp "$TMP/plain" "$TMP/out" || fail "$bits/$sector: $k read other data"
	done
}

check_volume 512 4096 0 "${CS_ARGON[@]}"
check_volume 256 512 0 "${CS_ARGON[@]}"
check_volume 512 512 0 "${CS_PBKDF2[@]}"
check_volume 256 4096 0 "${CS_PBKDF2[@]}"
check_volume 512 4096 1000003 "${CS_PBKDF2[@]}"
echo "PASS"
