#!/usr/bin/env bash
# Without --key-file, on a terminal, `cryptblk test-key` (and serve) prompt
# for the passphrase with echo off, before the prompt is shown, and back on
# after: the passphrase never appears on the terminal; the right one exits
# 0, a wrong one exits 2 with cryptsetup's one line. Under strace, every
# ioctl is delayed so that a prompt shown before echo goes off would be
# answered while echo is still on.
. "$(dirname "$0")/lib/luks-common.sh"
need python3 nbdinfo

pass='correct horse'
printf '%s' "$pass" >"$TMP/k"
"$CRYPTBLK" format "$TMP/v.img" --size 20M --key-file "$TMP/k" --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 >/dev/null

no_echo() { # what
	! grep -qF "$pass" "$TMP/tty" || fail "$1: the passphrase was echoed"
	! grep -qF "staple" "$TMP/tty" || fail "$1: the wrong passphrase was echoed"
	grep -qx 'echo-at-prompt 1: off' "$TMP/tty" || fail "$1: echo on at the prompt"
	grep -qx 'echo-after-exit: on' "$TMP/tty" || fail "$1: echo left off"
}

pty_answer 'Enter passphrase: ' "$pass" -- "$CRYPTBLK" test-key "$TMP/v.img" ||
	fail "right passphrase exited $?: $(cat "$TMP/tty")"
grep -qx 'Key slot 0 unlocked.' "$TMP/tty" || fail "no unlock line: $(cat "$TMP/tty")"
no_echo "test-key"

rc=0
pty_answer 'Enter passphrase: ' 'battery staple' -- "$CRYPTBLK" test-key "$TMP/v.img" || rc=$?
[ "$rc" -eq 2 ] || fail "wrong passphrase exited $rc: $(cat "$TMP/tty")"
[ "$(grep -c '^cryptblk: ' "$TMP/tty")" -eq 1 ] || fail "not one error line: $(cat "$TMP/tty")"
grep -qx 'cryptblk: No key available with this passphrase.' "$TMP/tty" ||
	fail "wrong passphrase message: $(cat "$TMP/tty")"
no_echo "wrong test-key"

# shellcheck disable=SC2016 # $uri is for the shell that serve --run starts
pty_answer 'Enter passphrase: ' "$pass" -- "$CRYPTBLK" serve "$TMP/v.img" \
	--nbd "unix:$TMP/s.sock" --run 'nbdinfo --size "$uri"' || fail "serve exited $?: $(cat "$TMP/tty")"
grep -qx $((4 << 20)) "$TMP/tty" || fail "serve: no size from nbdinfo: $(cat "$TMP/tty")"
no_echo "serve"

if command -v strace >/dev/null && strace -o /dev/null true 2>/dev/null; then
	# LeakSanitizer cannot run under ptrace (a sanitizer build's cryptblk).
	pty_answer 'Enter passphrase: ' "$pass" -- \
		env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -o /dev/null -e trace=ioctl -e inject=ioctl:delay_enter=300000 \
		"$CRYPTBLK" test-key "$TMP/v.img" ||
		fail "slow terminal: exited $?: $(cat "$TMP/tty")"
	no_echo "slow terminal"
else
	echo "strace cannot run here: slow-terminal check skipped"
fi
echo "PASS"
