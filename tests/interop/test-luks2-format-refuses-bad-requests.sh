#!/usr/bin/env bash
# `cryptblk format` refuses what it cannot do, with exit 1 and the file left
# as it was: too small for the 16 MiB metadata area, an unknown cipher, a
# 4096-byte sector size the data area does not fit, an existing LUKS volume
# without --batch-mode; a file that --size created for it is removed again.
# (Mismatched passphrases from a terminal: test-luks2-prompt-format-verify.)
. "$(dirname "$0")/lib/luks-common.sh"
need cryptsetup

printf 'k' >"$TMP/k"
expect_refused() { # image message-regex args...
	local img=$1 re=$2 rc=0
	shift 2
	[ -e "$img" ] && sum=$(sha256sum <"$img") || sum=none
	"$CRYPTBLK" format "$img" --key-file "$TMP/k" --pbkdf pbkdf2 \
		--pbkdf-force-iterations 1000 "$@" 2>"$TMP/err" || rc=$?
	[ "$rc" -eq 1 ] || fail "format $* exited $rc: $(cat "$TMP/err")"
	grep -Eq "$re" "$TMP/err" || fail "format $*: message '$(cat "$TMP/err")'"
	if [ "$sum" != none ]; then
		[ "$(sha256sum <"$img")" = "$sum" ] || fail "format $* changed the image"
	fi
}

truncate -s 8M "$TMP/small.img"
expect_refused "$TMP/small.img" 'too small'
truncate -s 20M "$TMP/v.img"
expect_refused "$TMP/v.img" "serpent-xts-plain64.*unsupported" --cipher serpent-xts-plain64
expect_refused "$TMP/v.img" "cipher_null.*unsupported" --cipher cipher_null-ecb
expect_refused "$TMP/v.img" "not 256 or 512" --key-size 128
truncate -s $((17 * 1048576 + 512)) "$TMP/odd.img"
expect_refused "$TMP/odd.img" 'not a multiple of the sector size 4096' --sector-size 4096
expect_refused "$TMP/v.img" 'not shrinking' --size 1M
expect_refused "$TMP/new.img" 'too small' --size 8M
[ ! -e "$TMP/new.img" ] || fail "a refused format left the file it created"
cryptsetup luksFormat --type luks2 --batch-mode --key-file "$TMP/k" "${CS_PBKDF2[@]}" "$TMP/v.img"
expect_refused "$TMP/v.img" 'already holds a LUKS volume'
"$CRYPTBLK" format "$TMP/v.img" --batch-mode --key-file "$TMP/k" --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 || fail "--batch-mode overwrite"
echo "PASS"
