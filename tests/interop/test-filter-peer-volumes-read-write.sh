#!/usr/bin/env bash
# Volumes made by cryptsetup (LUKS2 with 512- and 4096-byte sectors, LUKS1)
# and by qemu-img (LUKS1) through `nbdkit --filter=cryptblk file`: data
# encrypted by an independent AES-XTS model (python3-cryptography with
# cryptsetup's volume key and layout) reads back through the filter byte for
# byte; data written through the filter decrypts to the same bytes under
# that model, still opens with cryptsetup's passphrase check, and reads back
# through `cryptblk serve`.
. "$(dirname "$0")/lib/filter.sh"
need cryptsetup qemu-img nbdcopy cmp
need_xts

printf 'filter peer passphrase' >"$TMP/k"

check_volume() { # image label crypto
	local img=$1 label=$2 crypto=$3 offset sector tweak size
	cs_volume_key "$img" "$TMP/k" "$TMP/vk"
	read -r offset sector tweak < <(cs_layout "$img")
	size=$(($(stat -c %s "$img") - offset))

	# Peer-encrypted data reads back through the filter.
	head -c "$size" /dev/urandom >"$TMP/plain"
	xts encrypt "$img" "$TMP/vk" "$offset" "$sector" "$tweak" 0 "$TMP/plain"
	rm -f "$TMP/out"
	filter_run "nbdinfo --size \"\$uri\" >'$TMP/size' && nbdcopy \"\$uri\" '$TMP/out'" \
		file "$img" cryptblk-key-file="$TMP/k" cryptblk-crypto="$crypto" ||
		fail "$label: read through the filter"
	[ "$(cat "$TMP/size")" -eq "$size" ] || fail "$label: size $(cat "$TMP/size"), want $size"
	cmp "$TMP/plain" "$TMP/out" || fail "$label: the filter read other data"

	# Data written through the filter is what the model and cryptblk read.
	head -c "$size" /dev/urandom >"$TMP/plain2"
	filter_run "nbdcopy '$TMP/plain2' \"\$uri\"" file "$img" cryptblk-key-file="$TMP/k" \
		cryptblk-crypto="$crypto" || fail "$label: write through the filter"
	xts check "$img" "$TMP/vk" "$offset" "$sector" "$tweak" 0 "$TMP/plain2" ||
		fail "$label: the model decrypts other data"
	cryptsetup open --test-passphrase --key-file "$TMP/k" "$img" ||
		fail "$label: cryptsetup no longer opens the volume"
	rm -f "$TMP/out"
	cb_serve_run "$img" "$TMP/k" "nbdcopy \"\$uri\" '$TMP/out'" --readonly ||
		fail "$label: cryptblk serve"
	cmp "$TMP/plain2" "$TMP/out" || fail "$label: cryptblk serve read other data"
	echo "ok: $label"
}

for sector in 512 4096; do
	rm -f "$TMP/v2.img"
	truncate -s 18M "$TMP/v2.img"
	cryptsetup luksFormat --type luks2 --batch-mode --key-file "$TMP/k" "${CS_PBKDF2[@]}" \
		--sector-size "$sector" "$TMP/v2.img"
	check_volume "$TMP/v2.img" "cryptsetup-luks2-$sector" openssl
done

rm -f "$TMP/v1.img"
truncate -s 4M "$TMP/v1.img"
cryptsetup luksFormat --type luks1 --batch-mode --key-file "$TMP/k" "${CS_PBKDF2[@]}" \
	"$TMP/v1.img"
check_volume "$TMP/v1.img" cryptsetup-luks1 threads:2

qemu_luks_create "$TMP/q.img" 2M "$TMP/k"
check_volume "$TMP/q.img" qemu-img-luks1 threads:2
echo "PASS"
