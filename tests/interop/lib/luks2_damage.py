#!/usr/bin/env python3
"""Damage a LUKS2 image for the bad-header tests.

usage: luks2_damage.py IMAGE OP WHICH ARG
  WHICH: primary | secondary | both
  OP:
    flip OFFSET    xor one bit at OFFSET inside the copy; checksum left stale
    json CODE      run python CODE on the parsed metadata `j`; checksum fixed
    jsontext TEXT  put TEXT as the JSON area (no NUL when it fills it); fixed
    seqid N        set the seqid; checksum fixed
    put OFF=HEX    write the bytes HEX at OFF inside the copy; checksum fixed
"""
import hashlib
import json
import struct
import sys

CSUM_OFF, CSUM_LEN, BIN_SIZE = 448, 64, 4096


def main():
    path, op, which, arg = sys.argv[1:5]
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        hdr_size = struct.unpack(">Q", data[8:16])[0]
        offsets = {"primary": [0], "secondary": [hdr_size], "both": [0, hdr_size]}[which]
        for off in offsets:
            edit(data, off, hdr_size, op, arg)
        f.seek(0)
        f.write(data)


def fix_checksum(data, off, size):
    data[off + CSUM_OFF:off + CSUM_OFF + CSUM_LEN] = bytes(CSUM_LEN)
    digest = hashlib.sha256(bytes(data[off:off + size])).digest()
    data[off + CSUM_OFF:off + CSUM_OFF + len(digest)] = digest


def edit(data, off, size, op, arg):
    area = size - BIN_SIZE
    if op == "flip":
        data[off + int(arg)] ^= 0x01
        return
    if op == "json":
        text = bytes(data[off + BIN_SIZE:off + size]).split(b"\0")[0]
        j = json.loads(text)
        exec(arg, {"j": j})
        new = json.dumps(j, separators=(",", ":")).encode()
    elif op == "jsontext":
        new = arg.encode()
    elif op == "seqid":
        data[off + 16:off + 24] = struct.pack(">Q", int(arg))
        new = None
    elif op == "put":
        at, hexbytes = arg.split("=")
        raw = bytes.fromhex(hexbytes)
        data[off + int(at):off + int(at) + len(raw)] = raw
        new = None
    else:
        raise SystemExit("unknown op " + op)
    if new is not None:
        if len(new) > area:
            raise SystemExit("JSON too large for the area")
        data[off + BIN_SIZE:off + size] = new + bytes(area - len(new))
    fix_checksum(data, off, size)


if __name__ == "__main__":
    main()
