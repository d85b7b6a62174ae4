"""An AES-XTS model of a LUKS data segment, independent of cryptblk.

usage: xts_sectors.py encrypt|check IMAGE KEYFILE OFFSET SECTOR TWEAK AT PLAIN

The segment starts at byte OFFSET of IMAGE, its sectors are SECTOR bytes and
sector n of the segment (n counted from 0) is encrypted with AES-XTS under
the raw volume key in KEYFILE (32 or 64 bytes) and the IV
plain64(n * SECTOR / 512 + TWEAK): dm-crypt's plain64, counted in 512-byte
units from the start of the segment even when sectors are larger.

encrypt writes the file PLAIN, encrypted, at byte AT of the segment.
check decrypts as many bytes from byte AT of the segment and exits 1 naming
the first sector that differs from PLAIN.
AT and the length of PLAIN are whole sectors.
"""
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def sector_cipher(key, unit):
    return Cipher(algorithms.AES(key), modes.XTS(unit.to_bytes(16, "little")))


def main():
    if len(sys.argv) != 9 or sys.argv[1] not in ("encrypt", "check"):
        sys.exit(__doc__)
    mode, image, keyfile = sys.argv[1:4]
    offset, sector, tweak, at = (int(v) for v in sys.argv[4:8])
    key = open(keyfile, "rb").read()
    plain = open(sys.argv[8], "rb").read()
    if at % sector or len(plain) % sector or len(key) not in (32, 64):
        sys.exit("xts_sectors: AT and PLAIN must be whole sectors, the key 32 or 64 bytes")
    with open(image, "r+b" if mode == "encrypt" else "rb") as f:
        f.seek(offset + at)
        if mode == "encrypt":
            for i in range(0, len(plain), sector):
                enc = sector_cipher(key, (at + i) // 512 + tweak).encryptor()
                f.write(enc.update(plain[i:i + sector]) + enc.finalize())
            return
        ct = f.read(len(plain))
    if len(ct) != len(plain):
        sys.exit(f"xts_sectors: {image} ends before byte {offset + at + len(plain)}")
    for i in range(0, len(plain), sector):
        dec = sector_cipher(key, (at + i) // 512 + tweak).decryptor()
        if dec.update(ct[i:i + sector]) + dec.finalize() != plain[i:i + sector]:
            sys.exit(f"xts_sectors: segment byte {at + i} (sector {(at + i) // sector}) "
                     "decrypts to something else")


main()
