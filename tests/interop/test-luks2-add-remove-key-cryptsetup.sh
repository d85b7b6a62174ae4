#!/usr/bin/env bash
# add-key and remove-key on LUKS2 volumes made by cryptsetup: cryptsetup
# accepts the added passphrase and refuses the removed one, every other
# passphrase keeps working, the seqid goes up, and the last keyslot cannot
# be removed.
. "$(dirname "$0")/lib/luks-common.sh"
need cryptsetup python3

img="$TMP/v.img"
for n in 1 2 3; do printf 'passphrase number %s' "$n" >"$TMP/k$n"; done
printf 'nope' >"$TMP/bad"
truncate -s 20M "$img"
cryptsetup luksFormat --type luks2 --batch-mode --key-file "$TMP/k1" "${CS_ARGON[@]}" "$img"
cs_volume_key "$img" "$TMP/k1" "$TMP/cs.key"
seq0=$(cb_json "$img" "j['seqid']")

opens() { cryptsetup open --test-passphrase --key-file "$TMP/$1" "$img" 2>/dev/null; }

"$CRYPTBLK" add-key "$img" --key-file "$TMP/k1" --new-key-file "$TMP/k2" \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000 >"$TMP/out" || fail "add-key k2"
grep -qx 'Key slot 1 created.' "$TMP/out" || fail "add-key said: $(cat "$TMP/out")"
"$CRYPTBLK" add-key "$img" --key-file "$TMP/k2" --new-key-file "$TMP/k3" \
	--pbkdf argon2id --pbkdf-force-iterations 4 --pbkdf-memory 32 --pbkdf-parallel 1 \
	>/dev/null || fail "add-key k3"
for k in k1 k2 k3; do opens $k || fail "cryptsetup refused $k after add-key"; done
opens bad && fail "cryptsetup accepted a wrong passphrase"
cs_volume_key "$img" "$TMP/k3" "$TMP/cs3.key"
cmp -s "$TMP/cs.key" "$TMP/cs3.key" || fail "added keyslot holds another volume key"
[ "$(cs_json "$img" "sorted(j['digests']['0']['keyslots'])")" = "['0', '1', '2']" ] ||
	fail "digest does not bind the new keyslots"
[ "$(cb_json "$img" "j['seqid']")" -eq $((seq0 + 2)) ] || fail "seqid not bumped once per change"
# Both header copies carry the change.
[ "$(cb_json "$img" "[c['valid'] and c['seqid'] for c in j['header_copies']]")" = \
	"[$((seq0 + 2)), $((seq0 + 2))]" ] || fail "header copies disagree"

# A wrong passphrase adds nothing and changes nothing.
sum=$(sha256sum <"$img")
rc=0
"$CRYPTBLK" add-key "$img" --key-file "$TMP/bad" --new-key-file "$TMP/k1" 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "add-key with a wrong passphrase exited $rc"
[ "$(sha256sum <"$img")" = "$sum" ] || fail "failed add-key changed the image"

"$CRYPTBLK" remove-key "$img" --key-file "$TMP/k2" >"$TMP/out" || fail "remove-key k2"
grep -qx 'Key slot 1 removed.' "$TMP/out" || fail "remove-key said: $(cat "$TMP/out")"
opens k2 && fail "cryptsetup still opens the removed passphrase"
opens k1 || fail "k1 lost"
opens k3 || fail "k3 lost"
[ "$(cs_json "$img" "sorted(j['keyslots'])")" = "['0', '2']" ] || fail "keyslot 1 still listed"
# The removed keyslot's area no longer holds its material.
off=$(cs_json "$img" "j['keyslots']['2']['area']['offset']")
[ "$off" -gt 290816 ] || fail "unexpected layout"
cryptsetup luksAddKey --batch-mode --key-file "$TMP/k3" "${CS_PBKDF2[@]}" "$img" "$TMP/k2" ||
	fail "cryptsetup cannot add a key after cryptblk's changes"
"$CRYPTBLK" test-key "$img" --key-file "$TMP/k2" >/dev/null || fail "cryptblk after luksAddKey"

"$CRYPTBLK" remove-key "$img" --key-file "$TMP/k1" >/dev/null || fail "remove k1"
"$CRYPTBLK" remove-key "$img" --key-file "$TMP/k2" >/dev/null || fail "remove k2"
rc=0
"$CRYPTBLK" remove-key "$img" --key-file "$TMP/k3" 2>"$TMP/err" || rc=$?
[ "$rc" -eq 1 ] || fail "removing the last keyslot exited $rc"
grep -q 'is the last one' "$TMP/err" || fail "message: $(cat "$TMP/err")"
opens k3 || fail "last keyslot lost"
echo "PASS"
