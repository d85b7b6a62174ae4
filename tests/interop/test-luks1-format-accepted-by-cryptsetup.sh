#!/usr/bin/env bash
# LUKS1 volumes made by `cryptblk format --type luks1` open with cryptsetup
# (--test-passphrase, same volume key), take cryptsetup's luksAddKey, and
# cryptblk's add-key/remove-key results are what cryptsetup sees. LUKS1
# volumes made by cryptsetup (sha1 and sha256) open in cryptblk.
. "$(dirname "$0")/lib/luks-common.sh"
need cryptsetup

for n in 1 2 3; do printf 'luks1 key %s' "$n" >"$TMP/k$n"; done
img="$TMP/l1.img"
opens() { cryptsetup open --test-passphrase --key-file "$TMP/$1" "$img" 2>/dev/null; }

"$CRYPTBLK" format "$img" --type luks1 --size 8M --key-file "$TMP/k1" \
	--pbkdf-force-iterations 1000 || fail "format"
cryptsetup luksDump "$img" | grep -q '^Version:.*1' || fail "not LUKS1 to cryptsetup"
opens k1 || fail "cryptsetup refused the passphrase"
opens k2 && fail "cryptsetup accepted a wrong passphrase"
cs_volume_key "$img" "$TMP/k1" "$TMP/cs.key"
cb_volume_key "$img" "$TMP/k1" "$TMP/cb.key"
cmp -s "$TMP/cs.key" "$TMP/cb.key" || fail "volume keys differ"
[ "$(stat -c %s "$TMP/cb.key")" -eq 64 ] || fail "default key is not 512 bits"
[ "$(cryptsetup luksDump "$img" | awk '/^Payload offset:/ {print $3}')" -eq 4096 ] ||
	fail "payload not at 2 MiB"

"$CRYPTBLK" add-key "$img" --key-file "$TMP/k1" --new-key-file "$TMP/k2" \
	--pbkdf-force-iterations 1000 >/dev/null || fail "add-key"
opens k2 || fail "cryptsetup refused the added passphrase"
cryptsetup luksAddKey --batch-mode --key-file "$TMP/k2" "${CS_PBKDF2[@]}" "$img" "$TMP/k3" ||
	fail "luksAddKey"
"$CRYPTBLK" test-key "$img" --key-file "$TMP/k3" >/dev/null || fail "cryptsetup's keyslot"
"$CRYPTBLK" remove-key "$img" --key-file "$TMP/k1" >/dev/null || fail "remove-key"
opens k1 && fail "removed passphrase still opens"
opens k2 || fail "k2 lost"
opens k3 || fail "k3 lost"
rc=0
"$CRYPTBLK" format "$img" --type luks1 --key-file "$TMP/k1" --label x 2>/dev/null || rc=$?
[ "$rc" -eq 1 ] || fail "LUKS1 with a label accepted"

for hash in sha1 sha256; do
	rm -f "$img"
	truncate -s 8M "$img"
	cryptsetup luksFormat --type luks1 --batch-mode --key-file "$TMP/k1" --hash "$hash" \
		--key-size 256 --pbkdf-force-iterations 1000 "$img"
	cs_volume_key "$img" "$TMP/k1" "$TMP/cs.key"
	cb_volume_key "$img" "$TMP/k1" "$TMP/cb.key" || fail "cryptsetup LUKS1 $hash"
	cmp -s "$TMP/cs.key" "$TMP/cb.key" || fail "volume keys differ ($hash)"
done
echo "PASS"
