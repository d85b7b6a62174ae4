"""Unaligned writes through an NBD export, checked against a plaintext model.

usage: filter_unaligned.py URI MODEL_OUT CONNECTIONS

1. The whole export is written with random data (aligned), then single
   unaligned writes: 1 byte at the start and at the end, 511 bytes
   straddling a 512- and a 4096-byte boundary, 2 bytes across a sector
   boundary, an unaligned write-zeroes; each read back whole against the
   model.
2. CONNECTIONS processes, each with its own connection and up to 32
   commands in flight, write pieces of 1..1500 bytes (one in five a
   write-zeroes) that never overlap in bytes but share sectors: the pieces
   tile a region and neighbours go to different connections. A write that
   read-modify-wrote a sector without excluding its neighbours would lose
   their bytes. The export must equal the model byte for byte.
The final model is written to MODEL_OUT. Exits 1 naming the first byte
that differs.
"""
import os
import random
import sys

import nbd


def connect(uri):
    h = nbd.NBD()
    h.connect_uri(uri)
    return h


def compare(h, model, what):
    got = h.pread(len(model), 0)
    if got != bytes(model):
        first = next(i for i in range(len(model)) if got[i] != model[i])
        sys.exit("filter_unaligned: %s: byte %d differs (0x%02x, want 0x%02x)" % (
            what, first, got[first], model[first]))


def singles(h, model):
    size = len(model)
    cases = [(0, 1), (size - 1, 1), (4096 - 200, 511), (512 * 3 + 7, 511), (8191, 2),
             (65536 - 1, 3)]
    for off, n in cases:
        data = os.urandom(n)
        h.pwrite(data, off)
        model[off:off + n] = data
        compare(h, model, "write of %d bytes at %d" % (n, off))
    h.zero(1000, 12345)
    model[12345:13345] = bytes(1000)
    compare(h, model, "zero of 1000 bytes at 12345")


def pieces_of(region_start, region_end, rng):
    pieces, off = [], region_start
    while off < region_end:
        n = min(rng.randint(1, 1500), region_end - off)
        pieces.append((off, n, rng.randrange(5) == 0))
        off += n
    return pieces


def concurrent(uri, model, conns, rng):
    size = len(model)
    pieces = pieces_of(16384, min(size, 16384 + 512 * 1024), rng)
    shares = [[] for _ in range(conns)]
    for i, (off, n, zero) in enumerate(pieces):
        data = bytes(n) if zero else rng.randbytes(n)
        model[off:off + n] = data
        shares[i % conns].append((off, data, zero))
    pids = []
    for k in range(conns):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                h = connect(uri)
                mine = shares[k]
                random.Random(k).shuffle(mine)
                for off, data, zero in mine:
                    while h.aio_in_flight() >= 32:
                        h.poll(-1)
                    if zero:
                        h.aio_zero(len(data), off)
                    else:
                        h.aio_pwrite(data, off)
                while h.aio_in_flight() > 0:
                    h.poll(-1)
                h.flush()
                h.shutdown()
            except Exception as e:  # noqa: BLE001 - reported, then exit 1
                print("filter_unaligned: connection %d: %s" % (k, e), file=sys.stderr)
                code = 1
            os._exit(code)
        pids.append(pid)
    failed = 0
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        failed += status != 0
    if failed:
        sys.exit("filter_unaligned: %d connections failed" % failed)
    return len(pieces)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    uri, model_out, conns = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(20261126)
    h = connect(uri)
    size = h.get_size()
    model = bytearray(rng.randbytes(size))
    h.pwrite(bytes(model), 0)
    singles(h, model)
    n = concurrent(uri, model, conns, rng)
    compare(h, model, "%d concurrent pieces over %d connections" % (n, conns))
    with open(model_out, "wb") as f:
        f.write(model)
    print("ok: %d concurrent unaligned pieces over %d connections" % (n, conns))


main()
