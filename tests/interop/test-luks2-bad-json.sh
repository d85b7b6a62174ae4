#!/usr/bin/env bash
# Absurd LUKS2 JSON metadata with valid checksums (huge sizes, overlapping
# or outside keyslot areas, unknown ciphers, cipher_null, capi: names, two
# segments, broken or unterminated text) is refused with exit 1 and one
# line naming the field, and the image stays byte-identical.
. "$(dirname "$0")/lib/luks2-bad-common.sh"

# Absurd JSON with valid checksums.
json_case() { # regex python-code
	fresh
	$DAMAGE "$img" json both "$2"
	refused "$1"
}
json_case "keyslot 0: area: size '99999999999999999999' not a decimal number" \
	"j['keyslots']['0']['area']['size'] = '99999999999999999999'"
json_case "keyslot 0: area outside the keyslots area" \
	"j['keyslots']['0']['area']['offset'] = '16777216'"
json_case "keyslot 1: area outside the keyslots area" \
	"j['keyslots']['1']['area']['offset'] = '1099511627776'"
json_case "keyslot 1: area overlaps keyslot 0" \
	"j['keyslots']['1']['area']['offset'] = '36864'"
json_case "segment 0: encryption 'aes-cbc-essiv:sha256' unsupported" \
	"j['segments']['0']['encryption'] = 'aes-cbc-essiv:sha256'"
json_case "segment 0: encryption 'cipher_null-ecb' unsupported" \
	"j['segments']['0']['encryption'] = 'cipher_null-ecb'"
json_case "segment 0: encryption 'capi:xts\(aes\)-plain64' unsupported" \
	"j['segments']['0']['encryption'] = 'capi:xts(aes)-plain64'"
json_case "keyslot 0: area: encryption 'capi:xts\(aes\)-plain64' unsupported" \
	"j['keyslots']['0']['area']['encryption'] = 'capi:xts(aes)-plain64'"
json_case "segments: 2 segments; exactly one is supported" \
	"j['segments']['1'] = dict(j['segments']['0'], offset='17825792')"
json_case "segment 0: offset 4096 unaligned or inside the metadata area" \
	"j['segments']['0']['offset'] = '4096'"
json_case "segment 0: data past the end of the device" \
	"j['segments']['0']['size'] = '1099511627776'"
json_case "keyslot 0: kdf: iterations 4294967296 outside" \
	"j['keyslots']['0']['kdf']['iterations'] = 2**32"
json_case "keyslot 0: af: stripes 4000000 outside 4000..4000" \
	"j['keyslots']['0']['af']['stripes'] = 4000000"
json_case "config: json_size 99999999 does not match" "j['config']['json_size'] = '99999999'"
json_case "config: requirements.mandatory unsupported" \
	"j['config']['requirements'] = {'mandatory': ['online-reencrypt-v2']}"
json_case "digest 0: keyslot 7 missing" "j['digests']['0']['keyslots'].append('7')"
json_case "metadata: keyslots missing" "del j['keyslots']"
# Text that is not JSON, JSON nested past the parser's depth, and an area
# with no terminating NUL.
fresh
$DAMAGE "$img" jsontext both '{"keyslots": {'
refused "JSON area unparsable"
fresh
$DAMAGE "$img" jsontext both "$(python3 -c "print('[' * 5000 + ']' * 5000)")"
refused "JSON area unparsable"
fresh
$DAMAGE "$img" jsontext both "$(python3 -c "print('x' * 12288, end='')")"
refused "JSON area not terminated"

echo "PASS"
