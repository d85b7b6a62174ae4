# Shared by the damaged-LUKS2 tests: a good cryptsetup volume with two
# keyslots, a damage tool, and `refused` (dump, test-key and add-key all exit
# 1 with one line naming the field, and leave the image unchanged).
. "$(dirname "${BASH_SOURCE[0]}")/luks-common.sh"
need cryptsetup python3
DAMAGE="python3 $(dirname "${BASH_SOURCE[0]}")/luks2_damage.py"

printf 'key one' >"$TMP/k1"
printf 'key two' >"$TMP/k2"
good="$TMP/good.img"
truncate -s 20M "$good"
cryptsetup luksFormat --type luks2 --batch-mode --key-file "$TMP/k1" "${CS_PBKDF2[@]}" "$good"
cryptsetup luksAddKey --batch-mode --key-file "$TMP/k1" "${CS_PBKDF2[@]}" "$good" "$TMP/k2"
img="$TMP/bad.img"

# refused IMAGE-PREPARED REGEX: dump, test-key and add-key all fail with
# exit 1, one line matching REGEX, and leave the image unchanged.
refused() {
	local re=$1 sum rc
	sum=$(sha256sum <"$img")
	for cmd in "dump" "test-key --key-file $TMP/k1" \
		"add-key --key-file $TMP/k1 --new-key-file $TMP/k2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000"; do
		rc=0
		# shellcheck disable=SC2086
		"$CRYPTBLK" $cmd "$img" >/dev/null 2>"$TMP/err" || rc=$?
		[ "$rc" -eq 1 ] || fail "$cmd: exit $rc for '$re': $(cat "$TMP/err")"
		[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "$cmd: not one line: $(cat "$TMP/err")"
		grep -Eq "^cryptblk: .*$re" "$TMP/err" || fail "$cmd: '$(cat "$TMP/err")' lacks '$re'"
	done
	[ "$(sha256sum <"$img")" = "$sum" ] || fail "image changed ($re)"
}

fresh() { cp "$good" "$img"; }

