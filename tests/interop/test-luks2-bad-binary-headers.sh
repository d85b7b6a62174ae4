#!/usr/bin/env bash
# Damaged LUKS2 binary headers (each field, in both copies) and truncated
# images are refused with exit 1 and one line naming the field, never a
# crash, and the image stays byte-identical.
. "$(dirname "$0")/lib/luks2-bad-common.sh"

# Binary header fields, damaged in both copies (offsets inside a copy).
for case in "0:no header magic" "7:version not 2" "14:hdr_size not one of" \
	"20:checksum mismatch" "30:checksum mismatch" "72:csum_alg unsupported" \
	"110:checksum mismatch" "170:checksum mismatch" "215:checksum mismatch" \
	"263:hdr_offset does not match" "300:checksum mismatch" "450:checksum mismatch" \
	"1000:checksum mismatch" "4100:checksum mismatch" "12000:checksum mismatch"; do
	fresh
	$DAMAGE "$img" flip both "${case%%:*}"
	refused "${case#*:}"
done

# Truncated images.
fresh
truncate -s 24K "$img"
refused "device of 24576 bytes too small for a LUKS2 header"
fresh
truncate -s 1M "$img"
refused "config: keyslots_size: metadata area ends past the device"
fresh
truncate -s 100 "$img"
refused "device of 100 bytes too small for a LUKS2 header"

echo "PASS"
