#!/usr/bin/env bash
# A wrong passphrase exits 2 with one line saying no key is available, and
# prints nothing on standard output.
. "$(dirname "$0")/lib/luks-common.sh"
need cryptsetup

printf 'right' >"$TMP/k"
printf 'wrong' >"$TMP/bad"
truncate -s 20M "$TMP/v.img"
cryptsetup luksFormat --type luks2 --batch-mode --key-file "$TMP/k" "${CS_PBKDF2[@]}" "$TMP/v.img"

rc=0
"$CRYPTBLK" test-key "$TMP/v.img" --key-file "$TMP/bad" >"$TMP/out" 2>"$TMP/err" || rc=$?
[ "$rc" -eq 2 ] || fail "exit code $rc, expected 2"
[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "stderr has $(wc -l <"$TMP/err") lines"
grep -qx 'cryptblk: No key available with this passphrase.' "$TMP/err" || fail "message: $(cat "$TMP/err")"
[ ! -s "$TMP/out" ] || fail "stdout not empty"
# The passphrase from a pipe stops at the newline; with --key-file - it does not.
printf 'right\n' | "$CRYPTBLK" test-key "$TMP/v.img" >/dev/null || fail "stdin line"
rc=0
printf 'right\n' | "$CRYPTBLK" test-key "$TMP/v.img" --key-file - >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "--key-file - kept the newline: exit $rc"
echo "PASS"
