#!/usr/bin/env python3
"""Regenerate the seed corpus of the NBD fuzz targets (deterministic).

usage: make-corpus-nbd.py OUTDIR     (OUTDIR: usually tests/fuzz/corpus)

nbd_options: a control byte, then options as u32 number, u16 length, data.
nbd_stream: a control byte (bit 0 4096-byte sectors, bit 1 read-only, bit 2
small in-flight caps, bit 3 a volume failing some requests, bit 4 TLS
required), then what a client sends: client flags, options with
their wire framing, requests and write payloads.
"""
import os
import ssl
import struct
import sys

OPT_MAGIC, REQ_MAGIC = 0x49484156454F5054, 0x25609513
EXPORT, ABORT, LIST, STARTTLS, INFO, GO, STRUCTURED, LIST_META, SET_META = 1, 2, 3, 5, 6, 7, 8, 9, 10
READ, WRITE, DISC, FLUSH, TRIM, CACHE, ZEROES, BLOCK_STATUS = range(8)
FUA, NO_HOLE, DF, REQ_ONE, FAST_ZERO = 1, 2, 4, 8, 16
INFO_NAME, INFO_DESC, INFO_BLOCK = 1, 2, 3
NAME = b"fuzz"


def go_data(name=NAME, infos=(INFO_NAME, INFO_DESC, INFO_BLOCK)):
    return struct.pack(">I", len(name)) + name + struct.pack(">H", len(infos)) + b"".join(
        struct.pack(">H", i) for i in infos)


def meta_data(queries, name=NAME):
    out = struct.pack(">I", len(name)) + name + struct.pack(">I", len(queries))
    for q in queries:
        out += struct.pack(">I", len(q)) + q
    return out


def compact(opts):
    """nbd_options framing: u32 option, u16 length, data."""
    return b"".join(struct.pack(">IH", o, len(d)) + d for o, d in opts)


def wire(opts):
    return b"".join(struct.pack(">QII", OPT_MAGIC, o, len(d)) + d for o, d in opts)


def req(typ, off=0, length=0, flags=0, handle=1, payload=b""):
    return struct.pack(">IHHQQI", REQ_MAGIC, flags, typ, handle, off, length) + payload


def pattern(n):
    return bytes((i * 7 + 3) & 0xFF for i in range(n))


def client_hello():
    """A TLS ClientHello as OpenSSL's client sends it (random parts differ
    from run to run)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_side=False)
    try:
        conn.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def main():
    out = sys.argv[1]
    o = {}
    o["go-with-infos"] = bytes([0]) + compact([(GO, go_data())])
    o["structured-meta-go"] = bytes([2]) + compact([
        (STRUCTURED, b""), (SET_META, meta_data([b"base:allocation"])),
        (LIST_META, meta_data([b"base:"])), (LIST_META, meta_data([])), (GO, go_data())])
    o["list-info-starttls-unknown-abort"] = bytes([1]) + compact([
        (LIST, b""), (INFO, go_data(b"", (INFO_NAME,))), (STARTTLS, b""), (99, b"xyz"),
        (INFO, go_data(b"nope")), (ABORT, b"")])
    o["export-name"] = bytes([16]) + compact([(EXPORT, NAME)])
    o["export-name-wrong"] = bytes([8]) + compact([(EXPORT, b"other")])
    o["forced-tls"] = bytes([32]) + compact([
        (GO, go_data()), (STRUCTURED, b""), (EXPORT, b"x")])
    o["forced-tls-starttls-go"] = bytes([32 | 2]) + compact([
        (LIST, b""), (STARTTLS, b""), (STRUCTURED, b""), (STARTTLS, b""),
        (SET_META, meta_data([b"base:allocation"])), (GO, go_data())])
    o["meta-errors"] = bytes([0]) + compact([
        (SET_META, meta_data([b"base:allocation"])), (STRUCTURED, b""), (STRUCTURED, b""),
        (SET_META, meta_data([b"noprefix"])), (SET_META, meta_data([b"base:allocation"])[:-3]),
        (SET_META, meta_data([b"qemu:dirty-bitmap:x"])), (GO, go_data()[:5])])

    s = {}
    hello = struct.pack(">I", 3)  # fixed newstyle, no zeroes
    go = wire([(GO, go_data())])
    data = pattern(4096)
    s["go-rw-commands"] = bytes([1]) + hello + go + b"".join([
        req(WRITE, 0, 4096, payload=data, handle=1),
        req(READ, 0, 4096, handle=2),
        req(WRITE, 513, 100, FUA, payload=pattern(100), handle=3),
        req(READ, 1000, 3000, handle=4),
        req(FLUSH, handle=5),
        req(TRIM, 8192, 8192, handle=6),
        req(ZEROES, 4096, 5000, NO_HOLE, handle=7),
        req(CACHE, 0, 65536, handle=8),
        req(READ, (1 << 20) - 512, 1024, handle=9),  # past the end
        req(DISC, handle=10)])
    s["structured-meta-block-status"] = bytes([0]) + hello + wire([
        (STRUCTURED, b""), (SET_META, meta_data([b"base:allocation"])), (GO, go_data())]) + b"".join([
            req(READ, 0, 8192, DF, handle=1),
            req(BLOCK_STATUS, 0, 65536, REQ_ONE, handle=2),
            req(READ, 4096, 0, handle=3),
            req(ZEROES, 0, 4096, FAST_ZERO, handle=4),
            req(WRITE, 1 << 20, 512, payload=pattern(512), handle=5),
            req(DISC, handle=6)])
    s["export-name-read-only"] = bytes([2]) + struct.pack(">I", 1) + wire([
        (LIST, b""), (EXPORT, b"")]) + b"".join([
            req(WRITE, 0, 512, payload=pattern(512), handle=1),
            req(READ, 0, 512, handle=2)])
    s["options-then-abort"] = bytes([0]) + hello + wire([
        (LIST, b""), (INFO, go_data()), (STARTTLS, b""), (42, b"?"), (ABORT, b"")])
    s["pipelined-reads-small-caps"] = bytes([4]) + hello + go + b"".join(
        req(READ, i * 65536, 65536, handle=i) for i in range(12)) + b"".join(
        req(WRITE, i * 4096 + 7, 4096, payload=pattern(4096), handle=100 + i) for i in range(4))
    s["failing-volume"] = bytes([8 | 1]) + hello + go + b"".join([
        req(READ, 0, 16384, handle=1),
        req(WRITE, 4096 + 100, 300, FUA, payload=pattern(300), handle=2),
        req(ZEROES, 0, 16384, handle=3),
        req(TRIM, 0, 16384, handle=4),
        req(FLUSH, handle=5),
        req(DISC, handle=6)])
    s["tls-refusals-then-starttls-hello"] = bytes([16]) + hello + wire([
        (LIST, b""), (GO, go_data()), (STARTTLS, b"")]) + client_hello()
    s["tls-starttls-garbage"] = bytes([16 | 1]) + hello + wire([(STARTTLS, b"")]) + bytes(
        range(256))
    s["tls-export-name-before-starttls"] = bytes([16]) + hello + wire([(EXPORT, NAME)])
    s["bad-request-magic"] = bytes([0]) + hello + go + b"\0" * 28
    s["write-over-max-payload"] = bytes([0]) + hello + go + req(WRITE, 0, 33 * 1024 * 1024)
    s["bad-option-magic"] = bytes([0]) + hello + b"NOTMAGIC" + struct.pack(">II", GO, 0)
    s["option-over-limit"] = bytes([0]) + hello + struct.pack(">QII", OPT_MAGIC, GO, 65537)
    s["unknown-client-flags"] = bytes([0]) + struct.pack(">I", 1 << 7)
    s["bad-command-flags"] = bytes([0]) + hello + go + req(READ, 0, 512, 1 << 9) + req(
        FLUSH, 512, 0, handle=2) + req(77, handle=3) + req(BLOCK_STATUS, 0, 512, handle=4)

    for target, files in (("nbd_options", o), ("nbd_stream", s)):
        os.makedirs(os.path.join(out, target), exist_ok=True)
        for name, blob in files.items():
            with open(os.path.join(out, target, name), "wb") as f:
                f.write(blob)


if __name__ == "__main__":
    main()
