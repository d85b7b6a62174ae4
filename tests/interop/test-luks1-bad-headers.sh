#!/usr/bin/env bash
# Damaged LUKS1 headers are refused with exit 1 and one line naming the
# field, never a crash, and the image stays byte-identical.
. "$(dirname "$0")/lib/luks-common.sh"
need cryptsetup python3

printf 'k' >"$TMP/k"
good="$TMP/good.img"
truncate -s 4M "$good"
cryptsetup luksFormat --type luks1 --batch-mode --key-file "$TMP/k" \
	--pbkdf-force-iterations 1000 "$good"
img="$TMP/bad.img"

# case REGEX OFFSET PYTHON-BYTES: write the bytes at OFFSET, then expect REGEX.
case_() {
	local re=$1 sum rc
	cp "$good" "$img"
	python3 -c "import sys,struct; f=open(sys.argv[1],'r+b'); f.seek(int(sys.argv[2])); \
f.write(eval(sys.argv[3]))" "$img" "$2" "$3"
	sum=$(sha256sum <"$img")
	for cmd in dump "test-key --key-file $TMP/k"; do
		rc=0
		# shellcheck disable=SC2086
		"$CRYPTBLK" $cmd "$img" >/dev/null 2>"$TMP/err" || rc=$?
		[ "$rc" -eq 1 ] || fail "$cmd: exit $rc for '$re': $(cat "$TMP/err")"
		[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "$cmd: not one line: $(cat "$TMP/err")"
		grep -Eq "^cryptblk: luks1: .*$re" "$TMP/err" || fail "$cmd: '$(cat "$TMP/err")' lacks '$re'"
	done
	[ "$(sha256sum <"$img")" = "$sum" ] || fail "image changed ($re)"
}

# phdr offsets: cipher_name 8, cipher_mode 40, hash_spec 72, payload 104,
# key_bytes 108, mk iterations 164, keyslots from 208 (48 bytes each).
case_ "cipher 'cipher_null-xts-plain64' unsupported" 8 "b'cipher_null\0'"
case_ "cipher 'aes-cbc-essiv:sha256' unsupported" 40 "b'cbc-essiv:sha256\0'"
case_ "cipher 'capi:xts\(aes\)-xts-plain64' unsupported" 8 "b'capi:xts(aes)\0'"
case_ "cipher_name not terminated" 8 "b'a' * 32"
case_ "hash_spec 'md5' unsupported" 72 "b'md5\0\0\0\0'"
case_ "key_bytes 48 does not fit" 108 "struct.pack('>I', 48)"
case_ "payload_offset past the end of the device" 104 "struct.pack('>I', 1 << 30)"
case_ "payload_offset 0 \(detached header\) unsupported" 104 "struct.pack('>I', 0)"
case_ "mk_digest_iterations 0 out of range" 164 "struct.pack('>I', 0)"
case_ "keyslot 0: active field 0x12345678" 208 "struct.pack('>I', 0x12345678)"
case_ "keyslot 0: iterations 0 out of range" 212 "struct.pack('>I', 0)"
case_ "keyslot 0: material overlaps the header" 248 "struct.pack('>I', 1)"
case_ "keyslot 0: material past the payload or the device" 248 "struct.pack('>I', 4000)"
case_ "keyslot 0: stripes 1, not 4000" 252 "struct.pack('>I', 1)"
case_ "keyslot 0: material overlaps keyslot 1" 256 "struct.pack('>II', 0xAC71F3, 1000) + b'\0' * 32 + struct.pack('>I', 16)"
echo "PASS"
