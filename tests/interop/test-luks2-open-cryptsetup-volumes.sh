#!/usr/bin/env bash
# LUKS2 volumes made by cryptsetup (argon2id and pbkdf2 keyslots, 512- and
# 4096-byte sectors, 256- and 512-bit keys, two keyslots, a label) open in
# cryptblk with each passphrase and give cryptsetup's volume key; the layout
# matches cryptsetup's JSON.
. "$(dirname "$0")/lib/luks-common.sh"
need cryptsetup python3

printf 'first passphrase' >"$TMP/k1"
printf 'zweite\nzeile' >"$TMP/k2"

check_volume() { # key-bits sector-size kdf...
	local bits=$1 sector=$2 img="$TMP/v.img"
	shift 2
	rm -f "$img"
	truncate -s 20M "$img"
	cryptsetup luksFormat --type luks2 --batch-mode --key-file "$TMP/k1" "$@" \
		--key-size "$bits" --sector-size "$sector" --label "vol-$bits-$sector" "$img"
	cryptsetup luksAddKey --batch-mode --key-file "$TMP/k1" "${CS_PBKDF2[@]}" "$img" "$TMP/k2"
	cs_volume_key "$img" "$TMP/k1" "$TMP/cs.key"
	for k in k1 k2; do
		cb_volume_key "$img" "$TMP/$k" "$TMP/cb.key" || fail "$bits/$sector: $k did not open"
		cmp -s "$TMP/cs.key" "$TMP/cb.key" || fail "$bits/$sector: $k gave another volume key"
	done
	[ "$(stat -c %s "$TMP/cb.key")" -eq $((bits / 8)) ] || fail "volume key length"
	# The layout: offset, whole device, sector size.
	"$CRYPTBLK" test-key "$img" --key-file "$TMP/k2" --json >"$TMP/layout.json"
	python3 - "$TMP/layout.json" "$sector" <<'PY' || fail "$bits/$sector: layout"
import json, sys
l = json.load(open(sys.argv[1]))
assert l["keyslot"] == 1, l
assert l["data_offset"] == 16 << 20, l
assert l["size"] == 4 << 20, l
assert l["sector_size"] == int(sys.argv[2]), l
assert l["iv_tweak"] == 0 and l["allow_discards"] is False, l
PY
	[ "$(cb_json "$img" "j['label']")" = "vol-$bits-$sector" ] || fail "label"
}

check_volume 512 4096 "${CS_ARGON[@]}"
check_volume 256 512 "${CS_ARGON[@]}"
check_volume 512 512 "${CS_PBKDF2[@]}"
check_volume 256 4096 "${CS_PBKDF2[@]}"
echo "PASS"
