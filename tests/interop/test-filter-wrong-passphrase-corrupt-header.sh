#!/usr/bin/env bash
# Refusals of the filter, each one clear error line and nothing written:
# a wrong passphrase (the connection is refused; a write attempted through
# it never reaches the image), a LUKS2 header damaged in both copies (the
# line names the checksum), a missing key file and an unknown crypto engine
# (nbdkit does not start).
. "$(dirname "$0")/lib/filter.sh"
need nbdinfo nbdcopy sha256sum

printf 'right passphrase' >"$TMP/k"
printf 'wrong passphrase' >"$TMP/bad"
img="$TMP/v.img"
"$CRYPTBLK" format "$img" --size 18M --type luks2 --key-file "$TMP/k" --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 --batch-mode >/dev/null
head -c 1M /dev/urandom >"$TMP/in"

errors() { grep -c 'error:' "$TMP/err" || true; }

before=$(sha256sum <"$img")
if filter_run "nbdcopy '$TMP/in' \"\$uri\"" file "$img" cryptblk-key-file="$TMP/bad" \
	2>"$TMP/err"; then
	fail "wrong passphrase: the write went through"
fi
grep -q "error: cryptblk: wrong passphrase: no keyslot opens with cryptblk-key-file $TMP/bad" \
	"$TMP/err" || fail "wrong passphrase: no clear line: $(cat "$TMP/err")"
[ "$(grep 'nbdkit' "$TMP/err" | errors)" -eq 1 ] || fail "wrong passphrase: $(cat "$TMP/err")"
[ "$(sha256sum <"$img")" = "$before" ] || fail "wrong passphrase: the image changed"
echo "ok: wrong passphrase"

python3 "$LUKS_LIB/luks2_damage.py" "$img" flip both 600
before=$(sha256sum <"$img")
if filter_run "nbdcopy '$TMP/in' \"\$uri\"" file "$img" cryptblk-key-file="$TMP/k" \
	cryptblk-format=luks2 "${FILTER_FAST_KDF[@]}" 2>"$TMP/err"; then
	fail "corrupt header: the write went through"
fi
grep -q "error: cryptblk: luks2: .*checksum" "$TMP/err" ||
	fail "corrupt header: no clear line: $(cat "$TMP/err")"
[ "$(sha256sum <"$img")" = "$before" ] || fail "corrupt header: the image changed"
echo "ok: corrupt header"

if nbdkit -U - --filter="$FILTER" file "$img" cryptblk-key-file="$TMP/missing" \
	--run true 2>"$TMP/err"; then
	fail "missing key file: nbdkit started"
fi
grep -q "cryptblk: .*$TMP/missing" "$TMP/err" || fail "missing key file: $(cat "$TMP/err")"
[ "$(errors)" -eq 1 ] || fail "missing key file: more than one line: $(cat "$TMP/err")"
if nbdkit -U - --filter="$FILTER" file "$img" cryptblk-key-file="$TMP/k" \
	cryptblk-crypto=rot13 --run true 2>"$TMP/err"; then
	fail "unknown engine: nbdkit started"
fi
grep -q "error: cryptblk: cryptblk-crypto=rot13" "$TMP/err" || fail "unknown engine: $(cat "$TMP/err")"
[ "$(sha256sum <"$img")" = "$before" ] || fail "the image changed"
echo "PASS"
