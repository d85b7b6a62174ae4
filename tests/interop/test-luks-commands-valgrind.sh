#!/usr/bin/env bash
# The LUKS commands under valgrind memcheck: format (LUKS2 and LUKS1), dump,
# dump --json, test-key (right and wrong passphrase), add-key (pbkdf2 and
# argon2id), remove-key, and test-key on a volume cryptsetup made, each with
# no memcheck error (invalid access, use of uninitialised memory, bad free)
# and no definite leak. These commands read and write the header through
# the file's descriptor, without io_uring, so valgrind runs them (for the
# serve session see test-serve-valgrind.sh). They cover the header parsers,
# the KDFs, the anti-forensic split and merge, keyslot encryption and the
# locked memory that holds keys.
#
# Release build only: valgrind cannot run a binary built with ASan, which
# the sanitizer build's own pass covers.
. "$(dirname "$0")/lib/luks-common.sh"
need valgrind cryptsetup readelf
if readelf -d "$CRYPTBLK" | grep -q 'NEEDED.*libasan'; then
	echo "SKIP: $CRYPTBLK is built with ASan, which valgrind cannot run"
	exit 77
fi

# vg EXPECTED-EXIT ARGS...: cryptblk ARGS under memcheck; fail on a memcheck
# error (exit 99) or on another exit status than expected.
vg() {
	local want=$1 rc=0 log
	shift
	log="$TMP/vg.$1.$((++runs))"
	valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite --log-file="$log" \
		"$CRYPTBLK" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null || rc=$?
	if [ "$rc" -eq 99 ]; then
		cat "$log" >&2
		fail "memcheck found errors in: cryptblk $*"
	fi
	[ "$rc" -eq "$want" ] || fail "cryptblk $* exited $rc, not $want: $(cat "$TMP/err")"
	grep -q 'ERROR SUMMARY: 0 errors' "$log" || fail "no clean memcheck summary for: cryptblk $*"
	local args="$*"
	echo "clean: cryptblk ${args//$TMP/\$TMP} ($(grep -o 'total heap usage: [0-9,]* allocs' "$log"))"
}
runs=0

printf 'valgrind passphrase' >"$TMP/k1"
printf 'second passphrase' >"$TMP/k2"
printf 'wrong' >"$TMP/bad"
fast=(--pbkdf pbkdf2 --pbkdf-force-iterations 1000)
argon=(--pbkdf argon2id --pbkdf-force-iterations 4 --pbkdf-memory 32 --pbkdf-parallel 1)

img="$TMP/v2.img"
vg 0 format "$img" --size 20M --type luks2 --key-file "$TMP/k1" "${fast[@]}" --batch-mode
vg 0 dump "$img"
vg 0 dump "$img" --json
vg 0 test-key "$img" --key-file "$TMP/k1" --volume-key-file "$TMP/vk1"
vg 2 test-key "$img" --key-file "$TMP/bad"
vg 0 add-key "$img" --key-file "$TMP/k1" --new-key-file "$TMP/k2" "${argon[@]}"
vg 0 remove-key "$img" --key-file "$TMP/k1"
vg 0 test-key "$img" --key-file "$TMP/k2" --volume-key-file "$TMP/vk2"
cmp -s "$TMP/vk1" "$TMP/vk2" || fail "the added keyslot holds another volume key"
vg 2 test-key "$img" --key-file "$TMP/k1"

img1="$TMP/v1.img"
vg 0 format "$img1" --size 4M --type luks1 --key-file "$TMP/k1" "${fast[@]}" --batch-mode
vg 0 test-key "$img1" --key-file "$TMP/k1"

# A header cryptsetup wrote (argon2id keyslot, a token and a label).
cs="$TMP/cs.img"
truncate -s 20M "$cs"
cryptsetup luksFormat --type luks2 --batch-mode --key-file "$TMP/k1" "${CS_ARGON[@]}" \
	--label valgrind "$cs"
cryptsetup token import --json-file <(echo '{"type":"valgrind-test","keyslots":["0"]}') "$cs" \
	--batch-mode >/dev/null
vg 0 dump "$cs" --json
vg 0 test-key "$cs" --key-file "$TMP/k1"
echo ok
