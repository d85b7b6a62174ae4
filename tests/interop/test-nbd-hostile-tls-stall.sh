#!/usr/bin/env bash
# Clients that stall inside TLS during negotiation: after the STARTTLS ack
# they send nothing, or half a ClientHello, or finish TLS and then never
# send NBD_OPT_GO. `--handshake-timeout` closes each of them (the TLS state
# they made the server hold goes with them), and nbdinfo over TLS still
# works after each.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
. "$SRCDIR/tests/interop/lib/nbd-tls.sh"
nbd_need nbdinfo python3

tls_pki
tls_serve "unix:$TMP/s" --handshake-timeout 1 2>"$TMP/server.log"
NBD_SOCK="$TMP/s" NBD_PID=$SERVER_PID CA="$PKI/ca-cert.pem" \
	URI="nbds+unix:///?socket=$TMP/s&tls-certificates=$PKI/client" \
	PYTHONPATH="$SRCDIR/tests/interop/lib" python3 - <<'PY'
import os
import ssl
import time
from nbdraw import *

OPT_STARTTLS = 5
path, pid = env_server()
h = Harness(path, pid, rss_limit_kib=vmrss_kib(pid) + 32 * 1024, uri=os.environ["URI"])


def starttls():
    c = Client(path)
    c.start()
    c.opt(OPT_STARTTLS)
    assert c.opt_final()[-1][1] == REP_ACK
    return c


def closed_in_time(c, t0):
    assert c.expect_closed(timeout=4), "still open after 4 s"
    took = time.monotonic() - t0
    assert 0.95 <= took <= 2.6, "closed after %.2f s" % took
    print("  closed after %.2f s" % took)


def silent_after_starttls():
    t0 = time.monotonic()
    closed_in_time(starttls(), t0)


def half_a_client_hello():
    t0 = time.monotonic()
    c = starttls()
    # A TLS record header announcing a 512-byte handshake record, and only
    # part of it.
    c.send(bytes([22, 3, 1, 2, 0]) + b"\1" + b"\0" * 40)
    closed_in_time(c, t0)


def tls_up_then_idle():
    t0 = time.monotonic()
    c = starttls()
    ctx = ssl.create_default_context(cafile=os.environ["CA"])
    ctx.check_hostname = False
    tls = ctx.wrap_socket(c.sock, server_hostname="localhost")
    c.sock = tls
    c.opt(OPT_INFO, Client.info_data())
    assert c.opt_final()[-1][1] == REP_ACK
    try:
        closed = c.expect_closed(timeout=4)
    except ssl.SSLError:
        closed = True
    took = time.monotonic() - t0
    assert closed and 0.95 <= took <= 2.6, "closed %s after %.2f s" % (closed, took)
    print("  closed after %.2f s" % took)


h.case("silent after the STARTTLS ack", silent_after_starttls)
h.case("half a ClientHello", half_a_client_hello)
h.case("TLS up, then no GO", tls_up_then_idle)
h.summary()
PY
grep -q 'handshake not finished within 1 s' "$TMP/server.log"
nbd_stop
echo ok
