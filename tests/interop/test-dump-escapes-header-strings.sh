#!/usr/bin/env bash
# `cryptblk dump` prints the strings of a hostile LUKS2 header (label,
# subsystem, UUID: free bytes on disk) with every byte outside printable
# ASCII, and the backslash, as \xNN: no terminal escape, carriage return or
# line break reaches the output, and the lines are those of a clean header.
# A clean label is printed as it is.
. "$(dirname "$0")/lib/luks-common.sh"
need python3
DAMAGE="python3 $(dirname "$0")/lib/luks2_damage.py"

printf 'dump passphrase' >"$TMP/key"
img="$TMP/v.img"
"$CRYPTBLK" format "$img" --size 20M --key-file "$TMP/key" --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 --batch-mode --label 'plain label' >/dev/null
"$CRYPTBLK" dump "$img" >"$TMP/clean.txt"
grep -qx $'Label:         \tplain label' "$TMP/clean.txt" || fail "clean label: $(cat "$TMP/clean.txt")"

hexof() { python3 -c 'import os, sys; print(os.fsencode(sys.argv[1]).hex())' "$1"; }
# Binary header: label at byte 24 (48 bytes), uuid at 168 (40), subsystem
# at 208 (48); both copies, checksums fixed.
label=$'\e]0;owned\a\e[2J\nVersion: 9\\'
subsystem=$'sub\rsys\xc2\x9b31m\x7f'
uuid=$'\e[31mred\e[0m'
$DAMAGE "$img" put both "24=$(hexof "$label")00"
$DAMAGE "$img" put both "208=$(hexof "$subsystem")00"
$DAMAGE "$img" put both "168=$(hexof "$uuid")00"

"$CRYPTBLK" dump "$img" >"$TMP/dump.txt" 2>"$TMP/err" || fail "dump: $(cat "$TMP/err")"
# Only tabs, newlines and printable ASCII.
python3 -c '
import sys
bad = [b for b in open(sys.argv[1], "rb").read() if b not in b"\t\n" and not 0x20 <= b < 0x7f]
sys.exit(1 if bad else 0)' "$TMP/dump.txt" || fail "raw control bytes in: $(cat -v "$TMP/dump.txt")"
[ "$(wc -l <"$TMP/dump.txt")" -eq "$(wc -l <"$TMP/clean.txt")" ] ||
	fail "line count changed: $(cat "$TMP/dump.txt")"
# shellcheck disable=SC2016 # literal backslashes expected in the output
for want in 'Label:         \t\\x1b]0;owned\\x07\\x1b[2J\\x0aVersion: 9\\x5c' \
	'Subsystem:     \tsub\\x0dsys\\xc2\\x9b31m\\x7f' \
	'UUID:          \t\\x1b[31mred\\x1b[0m'; do
	grep -qxF "$(printf '%b' "$want")" "$TMP/dump.txt" || fail "no line '$want' in: $(cat "$TMP/dump.txt")"
done
grep -c '^Version:' "$TMP/dump.txt" | grep -qx 1 || fail "a second Version line"
echo "PASS"
