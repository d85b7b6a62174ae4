#!/usr/bin/env bash
# Hostile clients in transmission against the real `cryptblk serve`: bad
# magic, unknown and unadvertised commands and flags, zero lengths,
# offset + length overflow, requests past the end, writes to a read-only
# export, payloads over 32 MiB, huge BLOCK_STATUS ranges, a disconnect in a
# request header, a write payload or while replies are pending, clients that
# send requests and never read replies, and 1000 connections opened and
# dropped. After each case nbdinfo still works against the same server and
# VmRSS stays bounded.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need_serve
nbd_need nbdinfo python3

nbd_luks_image "$TMP/img" $((4 * 1024 * 1024)) 512
cp "$TMP/img" "$TMP/img-ro"
SOCK="$TMP/ro.sock"
"$CRYPTBLK" serve "$TMP/img-ro" --key-file "$TMP/key" --nbd "unix:$SOCK" --threads 1 \
	--readonly 2>"$TMP/server-ro.log" &
RO_PID=$!
SERVER_PID=$RO_PID
nbd_wait_socket
SOCK="$TMP/nbd.sock"
"$CRYPTBLK" serve "$TMP/img" --key-file "$TMP/key" --nbd "unix:$SOCK" --threads 2 \
	--max-connections 1100 2>"$TMP/server.log" &
SERVER_PID=$!
nbd_wait_socket
cleanup_ro() { kill -TERM "$RO_PID" 2>/dev/null || true; wait "$RO_PID" 2>/dev/null || true; }
trap 'cleanup_ro; nbd_cleanup' EXIT

NBD_SOCK=$SOCK NBD_PID=$SERVER_PID RO_SOCK="$TMP/ro.sock" RO_PID=$RO_PID \
	PYTHONPATH="$SRCDIR/tests/interop/lib" python3 - <<'PY'
import os
import socket
import struct
from nbdraw import *

path, pid = env_server()
# The bound by design: each of the two stalled clients holds at most its
# caps (64 MiB of payload, plus one request of 32 MiB over), and each of the
# two workers keeps at most 96 MiB of buffers for reuse.
h = Harness(path, pid, rss_limit_kib=vmrss_kib(pid) + (2 * 97 + 2 * 96 + 8) * 1024)
SIZE = 4 * 1024 * 1024
MAX_PAYLOAD = 32 * 1024 * 1024


def session(structured=False, meta=False, p=path):
    c = Client(p)
    c.start()
    c.go(structured=structured, meta=meta)
    return c


def still_serving(c):
    c.request(CMD_WRITE, 1024, 512, payload=b"s" * 512)
    assert c.simple_reply()[0] == 0
    c.request(CMD_READ, 1024, 512)
    err, _, data = c.simple_reply(512)
    assert err == 0 and data == b"s" * 512


def errno_case(cmd, offset, length, flags=0, payload=b"", want=EINVAL):
    def run():
        c = session()
        handle = c.request(cmd, offset, length, flags, payload)
        err, got, _ = c.simple_reply()
        assert got == handle and err == want, (err, want)
        still_serving(c)
        c.close()
    return run


def bad_magic_closes():
    c = session()
    c.send(c.request_bytes(CMD_READ, 0, 512, magic=0x12345678))
    assert c.expect_closed()


def zero_lengths():
    c = session()
    for cmd in (CMD_READ, CMD_WRITE, CMD_TRIM, CMD_WRITE_ZEROES, CMD_CACHE):
        c.request(cmd, 0, 0)
        err, _, _ = c.simple_reply()
        assert err in (0, EINVAL), (cmd, err)
    still_serving(c)
    c.close()


def block_status_huge():
    c = session(structured=True, meta=True)
    c.request(CMD_BLOCK_STATUS, 0, 0xFFFFFFFF)
    flags, rtype, _, data = c.chunk()
    assert rtype == REPLY_TYPE_ERROR and flags & REPLY_FLAG_DONE
    err = struct.unpack(">I", data[:4])[0]
    assert err == EINVAL and len(data) < 512
    c.request(CMD_BLOCK_STATUS, 0, SIZE)
    flags, rtype, _, data = c.chunk()
    assert rtype == REPLY_TYPE_BLOCK_STATUS and flags & REPLY_FLAG_DONE
    assert len(data) <= 4 + 8 * 64, len(data)
    c.close()


def write_over_32m_closes_without_reading_it():
    c = session()
    c.send(c.request_bytes(CMD_WRITE, 0, MAX_PAYLOAD + 1))
    assert c.expect_closed()


def write_4g_closes():
    c = session()
    c.send(c.request_bytes(CMD_WRITE, 0, 0xFFFFFFFF))
    assert c.expect_closed()


def read_over_32m_is_einval():
    c = session()
    c.request(CMD_READ, 0, MAX_PAYLOAD + 1)
    assert c.simple_reply()[0] == EINVAL
    still_serving(c)
    c.close()


def read_only(cmd, length, payload=b""):
    def run():
        c = session(p=os.environ["RO_SOCK"])
        c.request(cmd, 0, length, payload=payload)
        assert c.simple_reply()[0] == EPERM
        c.request(CMD_READ, 0, 512)
        assert c.simple_reply(512)[0] == 0
        c.close()
    return run


def disconnect_in_header_and_payload():
    for cut in range(28):
        c = session()
        c.send(c.request_bytes(CMD_READ, 0, 512)[:cut])
        c.close()
    for cut in (0, 1, 511, 4095):
        c = session()
        c.send(c.request_bytes(CMD_WRITE, 0, 4096) + b"p" * cut)
        c.close()


def disconnect_with_replies_pending():
    for n in (1, 8, 64, 200):
        c = session()
        c.send(b"".join(c.request_bytes(CMD_READ, 0, 65536) for _ in range(n)))
        c.close()
    c = session()
    c.request(CMD_READ, 0, 1 << 20)
    c.recv_exact(100)  # part of one reply, then away
    c.close()


def stalled_clients():
    # Clients that send reads and never read a reply: the server must stop
    # reading their requests (caps) instead of growing, and keep serving
    # others meanwhile.
    stalled = []
    for _ in range(2):
        c = session()
        c.sock.setblocking(False)
        sent = 0
        try:
            for _ in range(20000):
                c.sock.send(c.request_bytes(CMD_READ, 0, 1 << 20))
                sent += 1
        except BlockingIOError:
            pass
        assert sent < 20000, "the server read every request of a client that never reads"
        stalled.append(c)
    h.normal_client_works()
    other = session()
    still_serving(other)
    other.close()
    rss = h.sample()
    print("  %d stalled clients: server VmRSS %d KiB" % (len(stalled), rss))
    for c in stalled:
        c.close()


def thousand_connections():
    for i in range(1000):
        c = Client(path)
        if i % 2:
            c.greeting()
        c.close()
    held = []
    for _ in range(1000):
        c = Client(path)
        held.append(c)
    for c in held:
        c.greeting()
    print("  1000 connections open: server VmRSS %d KiB" % h.sample())
    for c in held:
        c.close()


h.case("bad request magic closes", bad_magic_closes)
h.case("unknown command 9", errno_case(9, 0, 512))
h.case("unknown command 0xffff", errno_case(0xFFFF, 0, 512))
h.case("RESIZE, never advertised", errno_case(8, 0, 512))
h.case("unknown flag on read", errno_case(CMD_READ, 0, 512, flags=0x8000))
h.case("DF without structured replies", errno_case(CMD_READ, 0, 512, flags=CMD_FLAG_DF))
h.case("BLOCK_STATUS without a context", errno_case(CMD_BLOCK_STATUS, 0, 512))
h.case("zero lengths", zero_lengths)
h.case("read offset+length overflow", errno_case(CMD_READ, 2**64 - 512, 1024))
h.case("write offset+length overflow",
       errno_case(CMD_WRITE, 2**64 - 512, 1024, payload=b"o" * 1024, want=ENOSPC))
h.case("read past the end", errno_case(CMD_READ, SIZE - 512, 1024))
h.case("trim past the end", errno_case(CMD_TRIM, SIZE, 512))
h.case("cache past the end", errno_case(CMD_CACHE, SIZE, 512))
h.case("write past the end",
       errno_case(CMD_WRITE, SIZE - 512, 1024, payload=b"e" * 1024, want=ENOSPC))
h.case("write zeroes past the end", errno_case(CMD_WRITE_ZEROES, SIZE, 512, want=ENOSPC))
h.case("read over 32 MiB", read_over_32m_is_einval)
h.case("write over 32 MiB closes", write_over_32m_closes_without_reading_it)
h.case("write of 4 GiB - 1 closes", write_4g_closes)
h.case("huge BLOCK_STATUS ranges", block_status_huge)
h.case("read-only: write", read_only(CMD_WRITE, 512, b"w" * 512))
h.case("read-only: write zeroes", read_only(CMD_WRITE_ZEROES, 512))
h.case("read-only: trim", read_only(CMD_TRIM, 512))
h.case("disconnect in a header or payload", disconnect_in_header_and_payload)
h.case("disconnect with replies pending", disconnect_with_replies_pending)
h.case("clients that never read replies", stalled_clients)
h.case("1000 connections opened and dropped", thousand_connections)
h.summary()
PY
nbd_stop
cleanup_ro
echo ok
