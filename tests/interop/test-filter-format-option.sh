#!/usr/bin/env bash
# cryptblk-format=luks2|luks1 formats a blank export at open (fast pbkdf2
# keyslot): cryptsetup then sees a LUKS volume of that version whose keyslot
# opens with the key file, the data written in the same run reads back
# through `cryptblk serve`, and a second run with the option leaves the
# header alone (never written over) and the data readable. An export with
# LUKS magic but a damaged header is not formatted either.
. "$(dirname "$0")/lib/filter.sh"
need cryptsetup nbdcopy cmp sha256sum

printf 'format passphrase' >"$TMP/k"

for version in luks2 luks1; do
	img="$TMP/$version.img"
	truncate -s 20M "$img"
	head -c 1M /dev/urandom >"$TMP/in"
	filter_run "nbdcopy '$TMP/in' \"\$uri\"" file "$img" cryptblk-key-file="$TMP/k" \
		cryptblk-format="$version" cryptblk-sector-size=512 "${FILTER_FAST_KDF[@]}" ||
		fail "$version: format and write"
	cryptsetup isLuks --type "$version" "$img" || fail "$version: cryptsetup sees no $version"
	cryptsetup open --test-passphrase --key-file "$TMP/k" "$img" ||
		fail "$version: cryptsetup does not open the keyslot"
	# the fast KDF asked for: LUKS2 names it, LUKS1 is always pbkdf2
	cryptsetup luksDump "$img" | grep -Eq "PBKDF:[[:space:]]+pbkdf2|Iterations:[[:space:]]+1000$" ||
		fail "$version: keyslot is not pbkdf2 with 1000 iterations"
	read -r offset _ _ < <(cs_layout "$img")
	hdr_before=$(head -c "$offset" "$img" | sha256sum)

	# The option again: the volume is opened, not formatted again.
	rm -f "$TMP/out"
	filter_run "nbdcopy \"\$uri\" '$TMP/out'" file "$img" cryptblk-key-file="$TMP/k" \
		cryptblk-format="$version" "${FILTER_FAST_KDF[@]}" || fail "$version: second open"
	[ "$(head -c "$offset" "$img" | sha256sum)" = "$hdr_before" ] ||
		fail "$version: the second run wrote the header"
	cmp -n 1048576 "$TMP/in" "$TMP/out" || fail "$version: the second run read other data"
	rm -f "$TMP/out"
	cb_serve_run "$img" "$TMP/k" "nbdcopy \"\$uri\" '$TMP/out'" --readonly ||
		fail "$version: cryptblk serve"
	cmp -n 1048576 "$TMP/in" "$TMP/out" || fail "$version: cryptblk serve read other data"
	echo "ok: $version"
done

# LUKS magic in front of garbage: refused with the parser's reason.
img="$TMP/damaged.img"
truncate -s 20M "$img"
printf 'LUKS\xba\xbe\x00\x02' | dd of="$img" conv=notrunc status=none
before=$(sha256sum <"$img")
if filter_run "nbdinfo --size \"\$uri\"" file "$img" cryptblk-key-file="$TMP/k" cryptblk-format=luks2 \
	"${FILTER_FAST_KDF[@]}" 2>"$TMP/err"; then
	fail "damaged: nbdinfo connected"
fi
grep -q "error: cryptblk: luks" "$TMP/err" || fail "damaged: no error line: $(cat "$TMP/err")"
[ "$(sha256sum <"$img")" = "$before" ] || fail "damaged: the export was written"
echo "PASS"
