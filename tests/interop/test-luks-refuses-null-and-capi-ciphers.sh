#!/usr/bin/env bash
# A volume whose data segment or keyslot area names cipher_null (data stored
# in the clear) or a kernel-internal "capi:" cipher is refused before any
# key is tried: dump, test-key, serve (read-write and read-only), add-key and
# remove-key each exit 1 with one line naming the field and the cipher, no
# server socket appears, and the image stays byte-identical. LUKS2 headers
# are rewritten through lib/luks2_damage.py (checksums fixed), LUKS1 ones in
# place (LUKS1 has no checksum).
. "$(dirname "$0")/lib/luks-common.sh"
need python3
DAMAGE="python3 $(dirname "$0")/lib/luks2_damage.py"

printf 'null passphrase' >"$TMP/key"
fmt=(--key-file "$TMP/key" --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --batch-mode)
"$CRYPTBLK" format "$TMP/good2.img" --size 20M --type luks2 "${fmt[@]}" >/dev/null
"$CRYPTBLK" format "$TMP/good1.img" --size 4M --type luks1 "${fmt[@]}" >/dev/null
img="$TMP/bad.img"

# refused REGEX: every command fails on $img with exit 1 and one line
# "cryptblk: REGEX", and the image does not change.
refused() {
	local re=$1 sum rc cmd words
	sum=$(sha256sum <"$img")
	for cmd in "dump" "test-key --key-file $TMP/key" \
		"serve --key-file $TMP/key --nbd unix:$TMP/s.sock" \
		"serve --key-file $TMP/key --nbd unix:$TMP/s.sock --readonly" \
		"add-key --key-file $TMP/key --new-key-file $TMP/key --pbkdf pbkdf2 --pbkdf-force-iterations 1000" \
		"remove-key --key-file $TMP/key"; do
		rc=0
		read -ra words <<<"$cmd"
		# A serve that wrongly starts is ended by the timeout (exit 124).
		timeout 10 "$CRYPTBLK" "${words[0]}" "$img" "${words[@]:1}" >/dev/null 2>"$TMP/err" \
			</dev/null || rc=$?
		[ "$rc" -eq 1 ] || fail "$cmd: exit $rc for '$re': $(cat "$TMP/err")"
		[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "$cmd: not one line: $(cat "$TMP/err")"
		grep -Eq "^cryptblk: $re$" "$TMP/err" || fail "$cmd: '$(cat "$TMP/err")' is not '$re'"
		[ ! -e "$TMP/s.sock" ] || fail "$cmd: a server socket appeared"
	done
	[ "$(sha256sum <"$img")" = "$sum" ] || fail "image changed ($re)"
}

luks2() { # regex python-code-on-j
	cp "$TMP/good2.img" "$img"
	$DAMAGE "$img" json both "$2"
	refused "luks2: $1"
}
luks2 "segment 0: encryption 'cipher_null-ecb' unsupported" \
	"j['segments']['0']['encryption'] = 'cipher_null-ecb'"
luks2 "segment 0: encryption 'cipher_null' unsupported" \
	"j['segments']['0']['encryption'] = 'cipher_null'"
luks2 "segment 0: encryption 'capi:xts\(aes\)-plain64' unsupported" \
	"j['segments']['0']['encryption'] = 'capi:xts(aes)-plain64'"
luks2 "keyslot 0: area: encryption 'cipher_null-ecb' unsupported" \
	"j['keyslots']['0']['area']['encryption'] = 'cipher_null-ecb'"
luks2 "keyslot 0: area: encryption 'capi:xts\(aes\)-plain64' unsupported" \
	"j['keyslots']['0']['area']['encryption'] = 'capi:xts(aes)-plain64'"
# Both at once, as a header swapped in by an attacker would have them.
luks2 "(segment 0|keyslot 0: area): encryption 'cipher_null-ecb' unsupported" \
	"j['segments']['0']['encryption'] = 'cipher_null-ecb'
j['keyslots']['0']['area']['encryption'] = 'cipher_null-ecb'"

# LUKS1: cipher_name at byte 8, cipher_mode at byte 40, 32 bytes each.
luks1() { # regex name mode
	cp "$TMP/good1.img" "$img"
	python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    for off, text in ((8, sys.argv[2]), (40, sys.argv[3])):
        f.seek(off)
        f.write(text.encode().ljust(32, b"\0"))' "$img" "$2" "$3"
	refused "luks1: $1"
}
luks1 "cipher 'cipher_null-ecb' unsupported" cipher_null ecb
luks1 "cipher 'capi:xts\(aes\)-plain64' unsupported" "capi:xts(aes)" plain64

# The control: the untouched images pass every one of these commands' reads.
for good in "$TMP/good1.img" "$TMP/good2.img"; do
	"$CRYPTBLK" test-key "$good" --key-file "$TMP/key" >/dev/null || fail "$good refused"
done
echo "PASS"
