#!/usr/bin/env bash
# `cryptblk format --volume-key-file FILE` makes a volume whose key is the
# file's bytes: cryptsetup's --dump-volume-key gives them back for LUKS2 and
# LUKS1, 256- and 512-bit keys. A file of another length, one that does not
# match --key-size, and a key whose XTS halves are equal are refused with
# exit 1 and one line, leaving an existing image unchanged and creating
# none.
. "$(dirname "$0")/lib/luks-common.sh"
need cryptsetup python3

printf 'vk passphrase' >"$TMP/key"
fmt=(--key-file "$TMP/key" --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --batch-mode)
for bytes in 32 64; do
	head -c "$bytes" /dev/urandom >"$TMP/vk$bytes"
	for type in luks2 luks1; do
		rm -f "$TMP/v.img"
		"$CRYPTBLK" format "$TMP/v.img" --size 20M --type "$type" \
			--volume-key-file "$TMP/vk$bytes" "${fmt[@]}" >/dev/null
		cs_volume_key "$TMP/v.img" "$TMP/key" "$TMP/cs.key"
		cmp -s "$TMP/cs.key" "$TMP/vk$bytes" || fail "$type/$bytes: cryptsetup sees another key"
	done
done

refused() { # regex image-exists format-args...
	local re=$1 exists=$2 rc=0 sum=
	shift 2
	[ "$exists" = no ] || sum=$(sha256sum <"$TMP/v.img")
	[ "$exists" = yes ] || rm -f "$TMP/v.img"
	"$CRYPTBLK" format "$TMP/v.img" "$@" "${fmt[@]}" >/dev/null 2>"$TMP/err" || rc=$?
	[ "$rc" -eq 1 ] || fail "$*: exit $rc: $(cat "$TMP/err")"
	[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "$*: not one line: $(cat "$TMP/err")"
	grep -Eq "^cryptblk: $re$" "$TMP/err" || fail "$*: '$(cat "$TMP/err")' is not '$re'"
	if [ "$exists" = yes ]; then
		[ "$(sha256sum <"$TMP/v.img")" = "$sum" ] || fail "$*: image changed"
	else
		[ ! -e "$TMP/v.img" ] || fail "$*: an image was created"
	fi
}
head -c 48 /dev/urandom >"$TMP/vk48"
python3 -c 'import os, sys; h = os.urandom(32); sys.stdout.buffer.write(h + h)' >"$TMP/vkeq"
refused "--volume-key-file $TMP/vk48: 48 bytes, not 32 or 64" no --size 20M \
	--volume-key-file "$TMP/vk48"
refused "luks: volume key of 32 bytes for a 512-bit key" no --size 20M \
	--volume-key-file "$TMP/vk32" --key-size 512
refused "luks: volume key halves are equal" no --size 20M --volume-key-file "$TMP/vkeq"
"$CRYPTBLK" format "$TMP/v.img" --size 20M "${fmt[@]}" >/dev/null
refused "luks: volume key halves are equal" yes --volume-key-file "$TMP/vkeq"
refused "luks: volume key of 64 bytes for a 256-bit key" yes --volume-key-file "$TMP/vk64" \
	--key-size 256
echo "PASS"
