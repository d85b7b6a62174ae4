#!/usr/bin/env bash
# Data written through nbdkit's LUKS1 implementation (`nbdkit --filter=luks
# file`) into a `cryptsetup luksFormat --type luks1` image reads back
# through `cryptblk serve` byte for byte.
. "$(dirname "$0")/lib/luks-common.sh"
need cryptsetup nbdkit nbdcopy cmp
nbdkit --filter=luks null --dump-plugin >/dev/null 2>&1 || {
	echo "SKIP: nbdkit luks filter not installed"
	exit 77
}

printf 'nbdkit data secret' >"$TMP/k"
truncate -s 8M "$TMP/l1.img"
cryptsetup luksFormat --type luks1 --batch-mode --key-file "$TMP/k" "${CS_PBKDF2[@]}" "$TMP/l1.img"
read -r offset _ _ < <(cs_layout "$TMP/l1.img")
head -c $((8 * 1024 * 1024 - offset)) /dev/urandom >"$TMP/want"
nbdkit -U - --filter=luks file "$TMP/l1.img" passphrase=+"$TMP/k" \
	--run "nbdcopy '$TMP/want' \"\$uri\"" || fail "nbdkit write"
cb_serve_run "$TMP/l1.img" "$TMP/k" "nbdcopy \"\$uri\" '$TMP/out'" --readonly || fail "serve"
cmp "$TMP/want" "$TMP/out" || fail "cryptblk read other data"
echo "PASS"
