#!/usr/bin/env python3
"""Regenerate the seed corpus of the ublk_desc fuzz target (deterministic).

usage: make-corpus-ublk.py OUTDIR     (OUTDIR: usually tests/fuzz/corpus)

Input of fuzz_ublk_desc: a control byte (bits 0-1 sector size 512 << n,
bits 2-4 device size index, bits 5-7 tag buffer size index, tables in the
target), then 28-byte records: struct ublksrv_io_desc (u32 op_flags, u32
nr_sectors, u64 start_sector, u64 addr) in host byte order (little-endian
on x86-64, where the seeds are made), an outcome byte, a queue id byte and
a u16 tag.
"""
import os
import struct
import sys

READ, WRITE, FLUSH, DISCARD, WRITE_SAME, WZEROES = 0, 1, 2, 3, 4, 5
FAILFAST_DEV, META, FUA, NOUNMAP = 1 << 8, 1 << 11, 1 << 13, 1 << 15
# Indices into the target's tables.
SIZE_1M, SIZE_64M, SIZE_1G1, SIZE_1T, SIZE_MAX = 2, 3, 4, 5, 7
BUF_4K, BUF_128K, BUF_512K, BUF_32M = 0, 3, 4, 7


def ctl(sector_shift, size_idx, buf_idx):
    return bytes([sector_shift | size_idx << 2 | buf_idx << 5])


def rec(op_flags, start, nr, outcome=0, qid=0, tag=0, addr=0):
    return struct.pack("<IIQQBBH", op_flags, nr, start, addr, outcome, qid, tag)


SEEDS = {
    # A guest's ordinary traffic on 512-byte sectors, 512 KiB buffers.
    "rw-512": ctl(0, SIZE_64M, BUF_512K) + rec(READ, 0, 8) + rec(WRITE, 8, 1024, tag=5) +
    rec(WRITE | FUA, 2048, 16, qid=1, tag=63) + rec(FLUSH, 0, 0) + rec(READ, 131064, 8),
    # 4096-byte sectors: aligned and unaligned, the last sector, one past.
    "rw-4096-edges": ctl(3, SIZE_64M, BUF_512K) + rec(READ, 8, 16) + rec(READ, 1, 8) +
    rec(READ, 8, 7) + rec(READ, 131064, 8) + rec(READ, 131072, 8) + rec(WRITE, 131064, 16),
    # Discard and write zeroes: larger than a buffer, NOUNMAP, FUA.
    "discard-zeroes": ctl(0, SIZE_1G1, BUF_128K) + rec(DISCARD, 0, 65536) +
    rec(WZEROES | NOUNMAP, 8, 8) + rec(WZEROES | FUA, 16, 2048) + rec(DISCARD, 2097152, 1),
    # Ops the server does not do, and flags it ignores.
    "unknown-ops": ctl(1, SIZE_1M, BUF_4K) + rec(WRITE_SAME, 0, 8) + rec(13, 0, 8) +
    rec(0xff, 0, 8) + rec(READ | META | FAILFAST_DEV, 0, 8) + rec(FLUSH | FUA, 99, 77),
    # Sector numbers that would wrap when turned into bytes.
    "wrapping-sectors": ctl(0, SIZE_MAX, BUF_32M) + rec(READ, (1 << 64) - 8, 8) +
    rec(READ, 1 << 55, 8) + rec(WRITE, (1 << 55) - 8, 0xFFFFFFFF) + rec(DISCARD, 0, 0xFFFFFFF8) +
    rec(READ, 0, 65536) + rec(READ, 0, 65544),
    # Requests larger than the tag's buffer, and empty ones.
    "buffer-limits": ctl(2, SIZE_1T, BUF_4K) + rec(READ, 0, 8) + rec(READ, 0, 16) +
    rec(WRITE, 0, 0) + rec(WZEROES, 0, 0) + rec(WZEROES, 0, 4096),
    # Every outcome a volume may answer, on each kind of request.
    "outcomes": ctl(0, SIZE_64M, BUF_512K) + b"".join(
        rec(op, 0, 8, outcome=o, tag=o) for o in range(16) for op in (READ, WRITE, FLUSH, WZEROES)),
    # An empty device: only a flush is fine.
    "empty-device": ctl(0, 0, BUF_512K) + rec(READ, 0, 1) + rec(FLUSH, 0, 0) + rec(DISCARD, 0, 1),
}


def main():
    out = os.path.join(sys.argv[1], "ublk_desc")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
