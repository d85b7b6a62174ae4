#!/usr/bin/env bash
# A wrong passphrase, given to any command that unlocks (test-key, serve,
# add-key, remove-key) from a key file or a pipe, on LUKS2 and LUKS1
# volumes made by cryptsetup: exit 2, nothing on stdout, the image left as
# it was, and one line on stderr: "cryptblk: No key available with this
# passphrase.", the prefix followed by exactly the line cryptsetup prints
# for the same passphrase.
. "$(dirname "$0")/lib/luks-common.sh"
need cryptsetup cmp

printf 'right' >"$TMP/k"
printf 'wrong' >"$TMP/bad"
printf 'new one' >"$TMP/new"

check_type() { # luks2|luks1
	local img="$TMP/$1.img" rc cs_line
	truncate -s 20M "$img"
	cryptsetup luksFormat --type "$1" --batch-mode --key-file "$TMP/k" "${CS_PBKDF2[@]}" "$img"
	rc=0
	cryptsetup open --test-passphrase --key-file "$TMP/bad" "$img" 2>"$TMP/cs.err" || rc=$?
	[ "$rc" -eq 2 ] || fail "$1: cryptsetup exited $rc"
	[ "$(wc -l <"$TMP/cs.err")" -eq 1 ] || fail "$1: cryptsetup said $(cat "$TMP/cs.err")"
	cs_line=$(cat "$TMP/cs.err")
	[ "$cs_line" = "No key available with this passphrase." ] ||
		fail "$1: cryptsetup's text is now '$cs_line'"
	cp "$img" "$TMP/before"
	for cmd in "test-key" "serve --nbd unix:$TMP/s.sock --run true" \
		"add-key --new-key-file $TMP/new" "remove-key"; do
		for src in file pipe; do
			rc=0
			# shellcheck disable=SC2086 # cmd holds the subcommand and its options
			if [ "$src" = file ]; then
				"$CRYPTBLK" $cmd "$img" --key-file "$TMP/bad" >"$TMP/out" 2>"$TMP/err" || rc=$?
			else
				printf 'wrong\n' | "$CRYPTBLK" $cmd "$img" >"$TMP/out" 2>"$TMP/err" || rc=$?
			fi
			[ "$rc" -eq 2 ] || fail "$1 ${cmd%% *} ($src): exit $rc: $(cat "$TMP/err")"
			[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "$1 ${cmd%% *} ($src): $(cat "$TMP/err")"
			[ "$(cat "$TMP/err")" = "cryptblk: $cs_line" ] ||
				fail "$1 ${cmd%% *} ($src): '$(cat "$TMP/err")'"
			[ ! -s "$TMP/out" ] || fail "$1 ${cmd%% *} ($src): stdout $(cat "$TMP/out")"
			cmp -s "$img" "$TMP/before" || fail "$1 ${cmd%% *} ($src): image changed"
		done
	done
}

check_type luks2
check_type luks1
echo "PASS"
