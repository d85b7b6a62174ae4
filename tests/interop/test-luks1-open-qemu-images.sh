#!/usr/bin/env bash
# LUKS1 images made by qemu-img (its default aes-256-xts with sha256, and
# aes-128-xts with sha1) open in cryptblk and give the volume key that
# cryptsetup reads from them; a wrong secret exits 2.
. "$(dirname "$0")/lib/luks-common.sh"
need qemu-img cryptsetup

printf 'qemu secret' >"$TMP/k"
printf 'qemu secreT' >"$TMP/bad"

check_qemu() { # extra -o options
	local img="$TMP/q.img"
	qemu_luks_create "$img" 8M "$TMP/k" "$1"
	cs_volume_key "$img" "$TMP/k" "$TMP/cs.key"
	cb_volume_key "$img" "$TMP/k" "$TMP/cb.key" || fail "cryptblk did not open ($1)"
	cmp -s "$TMP/cs.key" "$TMP/cb.key" || fail "volume keys differ ($1)"
	rc=0
	"$CRYPTBLK" test-key "$img" --key-file "$TMP/bad" 2>/dev/null || rc=$?
	[ "$rc" -eq 2 ] || fail "wrong secret exited $rc ($1)"
	off=$(cryptsetup luksDump "$img" | awk '/^Payload offset:/ {print $3}')
	[ "$(cb_json "$img" "j['data_offset']")" -eq $((off * 512)) ] || fail "payload offset ($1)"
	[ "$(cb_json "$img" "j['version']")" -eq 1 ] || fail "not LUKS1"
}

check_qemu ""
check_qemu ",cipher-alg=aes-128,hash-alg=sha1"
[ "$(cb_json "$TMP/q.img" "j['hash'], j['key_size']")" = "sha1 32" ] || fail "sha1 image"
echo "PASS"
