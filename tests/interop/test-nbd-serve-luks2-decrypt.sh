#!/usr/bin/env bash
# Data written through `cryptblk serve` into LUKS2 images (512-byte sectors
# with the openssl engine, 4096 with threads:2; unaligned writes included)
# decrypts, sector by sector
# with an independent AES-XTS (python3-cryptography, plain64 IVs counted in
# 512-byte units), to exactly what the client wrote.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need_serve
nbd_need nbdsh
python3 -c 'import cryptography' 2>/dev/null || { echo "skip: python3-cryptography" >&2; exit 77; }

size=$((2 * 1024 * 1024))
for sector in 512 4096; do
	engine=openssl
	[ "$sector" = 4096 ] && engine=threads:2
	img="$TMP/img$sector"
	nbd_luks_image "$img" "$size" "$sector"
	"$CRYPTBLK" test-key "$img" --key-file "$TMP/key" --volume-key-file "$TMP/vk$sector" \
		--json >"$TMP/layout$sector.json"
	head -c "$size" /dev/urandom >"$TMP/plain$sector"
	SOCK="$TMP/sock$sector"
	"$CRYPTBLK" serve "$img" --key-file "$TMP/key" --nbd "unix:$SOCK" --threads 2 \
		--crypto "$engine" --run "NBD_PLAIN='$TMP/plain$sector' nbdsh -c - <<'PY'
import os
h.connect_uri(os.environ['uri'])
data = bytearray(open(os.environ['NBD_PLAIN'], 'rb').read())
h.pwrite(bytes(data), 0)
# unaligned rewrites: read-modify-write inside the server
for off, n in ((1, 3), (511, 2), (4095, 4099), (100000, 70001)):
    piece = os.urandom(n)
    h.pwrite(piece, off)
    data[off:off + n] = piece
h.zero(1000, 7777)
data[7777:8777] = bytes(1000)
h.flush()
open(os.environ['NBD_PLAIN'], 'wb').write(data)
PY"
	python3 - "$img" "$TMP/vk$sector" "$TMP/layout$sector.json" "$TMP/plain$sector" <<'PY'
import json, sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
img, vk, layout, plain = sys.argv[1:]
key = open(vk, 'rb').read()
lay = json.load(open(layout))
want = open(plain, 'rb').read()
S, off = lay['sector_size'], lay['data_offset']
with open(img, 'rb') as f:
    f.seek(off)
    ct = f.read(lay['size'])
assert len(ct) == len(want) == lay['size']
for i in range(0, len(ct), S):
    iv = (i // 512 + lay['iv_tweak']).to_bytes(16, 'little')
    d = Cipher(algorithms.AES(key), modes.XTS(iv)).decryptor()
    if d.update(ct[i:i + S]) + d.finalize() != want[i:i + S]:
        sys.exit(f"sector at {i}: decrypts to something else")
PY
done
echo ok
