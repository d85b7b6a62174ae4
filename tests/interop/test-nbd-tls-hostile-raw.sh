#!/usr/bin/env bash
# The NBD spec's FORCEDTLS rules against a raw client (python3 socket and
# ssl): options before STARTTLS are answered NBD_REP_ERR_TLS_REQD,
# NBD_OPT_EXPORT_NAME before TLS closes, STARTTLS after TLS is
# NBD_REP_ERR_INVALID, and the export is served once TLS is up.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
. "$SRCDIR/tests/interop/lib/nbd-tls.sh"
nbd_need python3

tls_pki
tls_serve "unix:$TMP/s"
python3 - "$TMP/s" "$PKI/ca-cert.pem" <<'PY'
import socket, ssl, struct, sys

path, ca = sys.argv[1], sys.argv[2]
OPT_MAGIC, REP_MAGIC = 0x49484156454F5054, 0x3E889045565A9
ACK, INFO, ERR_INVALID, ERR_TLS_REQD = 1, 3, 0x80000003, 0x80000005

def recv_all(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError("server closed after %d of %d bytes" % (len(b), n))
        b += chunk
    return b

def connect():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(path)
    magic, opt, flags = struct.unpack(">QQH", recv_all(s, 18))
    assert magic == 0x4E42444D41474943 and opt == OPT_MAGIC, "bad greeting"
    s.sendall(struct.pack(">I", 3))
    return s

def option(s, opt, data=b""):
    s.sendall(struct.pack(">QII", OPT_MAGIC, opt, len(data)) + data)

def reply(s):
    magic, opt, typ, n = struct.unpack(">QIII", recv_all(s, 20))
    assert magic == REP_MAGIC, "bad reply magic"
    return opt, typ, recv_all(s, n)

def expect(s, opt, want, data=b""):
    option(s, opt, data)
    got_opt, typ, _ = reply(s)
    assert (got_opt, typ) == (opt, want), "option %d: reply %#x, wanted %#x" % (opt, typ, want)

def closed(s):
    try:
        while s.recv(4096):
            pass
        return True
    except (ConnectionResetError, ssl.SSLError):
        return True

go = struct.pack(">IH", 0, 0)
# Every option but STARTTLS and ABORT, before TLS: TLS_REQD, session goes on.
s = connect()
for opt, data in ((3, b""), (6, go), (7, go), (8, b""), (9, b"\0" * 8), (10, b"\0" * 8), (42, b"")):
    expect(s, opt, ERR_TLS_REQD, data)
expect(s, 2, ACK)  # ABORT
assert closed(s)
s.close()

# EXPORT_NAME cannot carry an error: before TLS it closes.
s = connect()
option(s, 1)
assert closed(s), "EXPORT_NAME before TLS did not close"
s.close()

# STARTTLS, the handshake, STARTTLS again: INVALID; then GO over TLS.
s = connect()
expect(s, 5, ACK)
ctx = ssl.create_default_context(cafile=ca)
t = ctx.wrap_socket(s, server_hostname="localhost")
expect(t, 5, ERR_INVALID)
option(t, 7, go)
while True:
    opt, typ, data = reply(t)
    assert opt == 7 and typ in (ACK, INFO), "GO over TLS: reply %#x" % typ
    if typ == ACK:
        break
    if struct.unpack(">H", data[:2])[0] == 0:
        size = struct.unpack(">Q", data[2:10])[0]
assert size == 8 * 1024 * 1024, size
# one read: simple reply, then the data
t.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 0, 1, 0, 4096))
magic, err, handle = struct.unpack(">IIQ", recv_all(t, 16))
assert (magic, err, handle) == (0x67446698, 0, 1), (magic, err, handle)
assert len(recv_all(t, 4096)) == 4096
t.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 2, 2, 0, 0))  # DISC
assert closed(t)
print("ok")
PY
nbd_stop
echo ok
