#!/usr/bin/env bash
# Without --key-file, on a terminal, `cryptblk format` asks for the new
# passphrase twice with echo off. Two different answers exit 1 with one
# line, and write nothing: an existing file keeps its bytes and size (even
# with --size), and --size creates no new file. Two equal answers make a
# volume that cryptsetup opens with that passphrase.
. "$(dirname "$0")/lib/luks-common.sh"
need python3 cryptsetup

P1='Enter passphrase for the new volume: '
P2='Verify passphrase: '
fmt=("$CRYPTBLK" format --pbkdf pbkdf2 --pbkdf-force-iterations 1000)

no_echo() { # what
	! grep -qE 'first entry|second entry|same entry' "$TMP/tty" || fail "$1: echoed"
	grep -qx 'echo-at-prompt 1: off' "$TMP/tty" || fail "$1: echo on at the first prompt"
	grep -qx 'echo-at-prompt 2: off' "$TMP/tty" || fail "$1: echo on at the second prompt"
	grep -qx 'echo-after-exit: on' "$TMP/tty" || fail "$1: echo left off"
}

refused() { # what image args...
	local what=$1 rc=0
	shift
	pty_answer "$P1" 'first entry' "$P2" 'second entry' -- "${fmt[@]}" "$@" || rc=$?
	[ "$rc" -eq 1 ] || fail "$what: exited $rc: $(cat "$TMP/tty")"
	[ "$(grep -c '^cryptblk: ' "$TMP/tty")" -eq 1 ] || fail "$what: $(cat "$TMP/tty")"
	grep -qx 'cryptblk: Passphrases do not match.' "$TMP/tty" || fail "$what: $(cat "$TMP/tty")"
	no_echo "$what"
}

head -c 20M /dev/urandom >"$TMP/old.img"
sum=$(sha256sum <"$TMP/old.img")
refused "existing file" "$TMP/old.img"
[ "$(sha256sum <"$TMP/old.img")" = "$sum" ] || fail "existing file: changed"
refused "existing file, --size" "$TMP/old.img" --size 24M
[ "$(stat -c %s "$TMP/old.img")" -eq $((20 << 20)) ] || fail "existing file: grown"
[ "$(sha256sum <"$TMP/old.img")" = "$sum" ] || fail "existing file, --size: changed"
refused "new file" "$TMP/new.img" --size 20M
[ ! -e "$TMP/new.img" ] || fail "new file: created"

pty_answer "$P1" 'same entry' "$P2" 'same entry' -- "${fmt[@]}" "$TMP/new.img" --size 20M ||
	fail "equal entries: exited $?: $(cat "$TMP/tty")"
no_echo "equal entries"
printf 'same entry' >"$TMP/k"
cryptsetup open --test-passphrase --key-file "$TMP/k" "$TMP/new.img" ||
	fail "cryptsetup does not open the new volume with the passphrase"
echo "PASS"
