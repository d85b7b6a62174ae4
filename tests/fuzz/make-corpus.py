#!/usr/bin/env python3
"""Regenerate the seed corpus of the LUKS fuzz targets.

usage: make-corpus.py CRYPTBLK OUTDIR     (OUTDIR: usually tests/fuzz/corpus)

Makes small volumes with cryptsetup, qemu-img and `cryptblk format` (cheap
KDF costs, passphrase "fuzz"), keeps only their header bytes, and adds a few
damaged variants. The image targets (luks2_bin, luks1) take a control byte
first: bits 0-2 pick the device size, 0x08/0x10 ask luks2_bin to fix the
primary/secondary checksums, 0x80 lets luks1 try the passphrase.
Keyslot material is left out to keep the corpus small: unlocking runs over
zeros and ends in "no key", after the KDF, decryption and AF merge. An
unlock attempt costs about 15 ms in the instrumented build, so luks2_bin
never tries (luks2_json does, for the valid texts) and few luks1 seeds ask.
"""
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

PASS = b"fuzz"
CS_PBKDF2 = ["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"]
CS_ARGON = ["--pbkdf", "argon2id", "--pbkdf-force-iterations", "4", "--pbkdf-memory", "32",
            "--pbkdf-parallel", "1"]
SIZE_OWN, SIZE_2M, SIZE_16M4K, SIZE_32M = 0, 2, 4, 5  # fuzz_dev_size() indices
FIX_PRIMARY, FIX_SECONDARY, UNLOCK = 0x08, 0x10, 0x80
CSUM_OFF, BIN_SIZE = 448, 4096


def run(*cmd, stdin=None):
    subprocess.run(cmd, check=True, input=stdin, stdout=subprocess.DEVNULL)


class Maker:
    def __init__(self, cryptblk, tmp):
        self.cryptblk, self.tmp, self.n = cryptblk, tmp, 0
        self.key = os.path.join(tmp, "key")
        with open(self.key, "wb") as f:
            f.write(PASS)

    def image(self, size="20M"):
        self.n += 1
        path = os.path.join(self.tmp, "img%d" % self.n)
        run("truncate", "-s", size, path)
        return path

    def cryptsetup(self, luks_type, *opts, size="20M"):
        path = self.image(size)
        run("cryptsetup", "luksFormat", "--type", luks_type, "--batch-mode",
            "--key-file", self.key, *opts, path)
        return path

    def cryptblk_format(self, *opts, size="20M"):
        path = self.image(size)
        run(self.cryptblk, "format", path, "--key-file", self.key, "--batch-mode", *opts)
        return path


def head(path, n):
    with open(path, "rb") as f:
        return bytearray(f.read(n))


def hdr_size(data, off=0):
    return struct.unpack(">Q", bytes(data[off + 8:off + 16]))[0]


def fix_csum(data, off):
    size = hdr_size(data, off)
    data[off + CSUM_OFF:off + CSUM_OFF + 64] = bytes(64)
    data[off + CSUM_OFF:off + CSUM_OFF + 32] = hashlib.sha256(bytes(data[off:off + size])).digest()


def json_text(data, off=0):
    return bytes(data[off + BIN_SIZE:off + hdr_size(data, off)]).split(b"\0")[0]


def put_json(data, off, text):
    area = hdr_size(data, off) - BIN_SIZE
    assert len(text) < area
    data[off + BIN_SIZE:off + BIN_SIZE + area] = text + bytes(area - len(text))
    fix_csum(data, off)


def luks2_pair(path):
    data = head(path, 2 * 4 << 20)
    return data[:2 * hdr_size(data)]


def main():
    cryptblk, out = sys.argv[1], sys.argv[2]
    seeds = {"luks2_bin": {}, "luks2_json": {}, "luks1": {}}
    with tempfile.TemporaryDirectory() as tmp:
        m = Maker(cryptblk, tmp)
        # Valid LUKS2 volumes.
        cs = luks2_pair(m.cryptsetup("luks2", *CS_PBKDF2))
        argon = m.cryptsetup("luks2", *CS_ARGON, "--key-size", "256", "--sector-size", "512",
                             "--label", "fuzz-label", "--subsystem", "fuzz-sub")
        run("cryptsetup", "luksAddKey", "--batch-mode", "--key-file", m.key, *CS_PBKDF2,
            "--pbkdf-force-iterations", "1000", argon, m.key)
        run("cryptsetup", "token", "import", argon,
            stdin=b'{"type":"fuzz-token","keyslots":["1"],"data":[1,{"a":null}]}')
        argon = luks2_pair(argon)
        big = luks2_pair(m.cryptsetup("luks2", *CS_PBKDF2, "--luks2-metadata-size", "32k",
                                      "--luks2-keyslots-size", "1m", "--offset", "4096"))
        cb = luks2_pair(m.cryptblk_format("--pbkdf", "pbkdf2", "--pbkdf-force-iterations",
                                          "1000", "--sector-size", "512"))
        b = seeds["luks2_bin"]
        b["cryptsetup-pbkdf2"] = bytes([SIZE_32M]) + cs
        b["cryptsetup-argon2id-2slots-token"] = bytes([SIZE_32M]) + argon
        b["cryptsetup-hdr32k-fixed-offset"] = bytes([SIZE_16M4K]) + big
        b["cryptblk-format"] = bytes([SIZE_32M]) + cb
        # Damaged pairs: each takes another branch of the copy choice.
        d = bytearray(cs)
        d[BIN_SIZE + 10] ^= 1
        b["damaged-primary-csum"] = bytes([SIZE_32M]) + d
        d = bytearray(cs)
        d[16 + hdr_size(cs):24 + hdr_size(cs)] = struct.pack(">Q", 7)
        b["secondary-newer-seqid"] = bytes([SIZE_32M | FIX_SECONDARY]) + d
        d = bytearray(cs)
        d[0:6] = bytes(6)
        b["primary-magic-gone"] = bytes([SIZE_32M]) + d
        b["truncated-secondary"] = bytes([SIZE_OWN]) + cs[:hdr_size(cs) + 5000]
        d = bytearray(cs)
        j = json.loads(json_text(d))
        j["config"]["flags"] = ["allow-discards"]
        j["segments"]["0"]["size"] = "1048576"
        j["segments"]["0"]["iv_tweak"] = "18446744073709551615"
        put_json(d, 0, json.dumps(j).encode())
        b["primary-fixed-size-tweak"] = bytes([SIZE_32M | FIX_PRIMARY]) + d
        # JSON texts alone.
        js = seeds["luks2_json"]
        js["cryptsetup-pbkdf2"] = json_text(cs)
        js["cryptsetup-argon2id-2slots-token"] = json_text(argon)
        js["cryptblk-format"] = json_text(cb)
        j = json.loads(json_text(argon))
        j["config"]["requirements"] = {"mandatory": ["online-reencrypt-v2"]}
        js["requirements-mandatory"] = json.dumps(j).encode()
        j = json.loads(json_text(cs))
        j["digests"]["0"]["keyslots"] = ["0", "1"]
        js["digest-names-missing-keyslot"] = json.dumps(j).encode()
        j = json.loads(json_text(cs))
        j["keyslots"]["1"] = dict(j["keyslots"]["0"])
        js["keyslots-overlap"] = json.dumps(j, indent=1).encode()
        # LUKS1: the 592-byte phdr is all the loader reads.
        l1 = seeds["luks1"]
        l1["cryptsetup"] = bytes([SIZE_2M | UNLOCK]) + head(
            m.cryptsetup("luks1", "--pbkdf-force-iterations", "1000", "--key-size", "256",
                         size="4M"), 592)
        l1["cryptblk-format"] = bytes([SIZE_OWN]) + head(
            m.cryptblk_format("--type", "luks1", "--pbkdf-force-iterations", "1000",
                              size="3M"), 592)
        q = m.image("4M")
        os.unlink(q)
        run("qemu-img", "create", "-q", "-f", "luks", "--object", "secret,id=s0,data=fuzz",
            "-o", "key-secret=s0,iter-time=10", q, "4M")
        l1["qemu-img"] = bytes([SIZE_OWN]) + head(q, 592)
        cs1 = bytearray(l1["cryptsetup"])
        d = bytearray(cs1)
        d[1 + 108:1 + 112] = struct.pack(">I", 48)  # key_bytes
        l1["damaged-key-bytes"] = bytes(d)
        d = bytearray(cs1)
        d[1 + 208 + 40:1 + 208 + 44] = struct.pack(">I", 3999)  # slot 0 stripes
        l1["damaged-stripes"] = bytes(d)
        d = bytearray(cs1)
        d[1 + 256:1 + 304] = d[1 + 208:1 + 256]  # slot 1 = slot 0
        l1["damaged-slots-overlap"] = bytes(d)
        l1["truncated"] = bytes(cs1[:300])
    for target, files in seeds.items():
        os.makedirs(os.path.join(out, target), exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(out, target, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
