#!/usr/bin/env bash
# Clients that connect and never finish the handshake: `cryptblk serve
# --handshake-timeout` closes them (also one that trickles bytes), a client
# in transmission is never timed out, and `--max-connections` refuses
# connections beyond the cap until slots free up. Bad values of both flags
# are refused before the passphrase is read.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need_serve
nbd_need nbdinfo python3

nbd_luks_image "$TMP/img" $((1024 * 1024)) 512
for bad in "--handshake-timeout 0" "--handshake-timeout x" "--handshake-timeout 3601" \
	"--max-connections 0" "--max-connections -1" "--max-connections 65537"; do
	rc=0
	# shellcheck disable=SC2086 # word splitting of $bad is wanted
	"$CRYPTBLK" serve "$TMP/img" --key-file "$TMP/key" --nbd "unix:$TMP/bad.sock" $bad \
		</dev/null >/dev/null 2>"$TMP/err" || rc=$?
	[ "$rc" -ne 0 ] || { echo "serve accepted $bad" >&2; exit 1; }
	grep -q -- "${bad%% *}" "$TMP/err" || { echo "no message naming $bad:" >&2; cat "$TMP/err" >&2; exit 1; }
done
for flag in "--handshake-timeout 5" "--max-connections 5"; do
	rc=0
	# shellcheck disable=SC2086 # word splitting of $flag is wanted
	"$CRYPTBLK" serve "$TMP/img" --key-file "$TMP/key" --ublk $flag </dev/null >/dev/null \
		2>"$TMP/err" || rc=$?
	if [ "$rc" -eq 0 ] || ! grep -q 'are for --nbd' "$TMP/err"; then
		echo "serve --ublk accepted $flag" >&2
		cat "$TMP/err" >&2
		exit 1
	fi
done

SOCK="$TMP/nbd.sock"
"$CRYPTBLK" serve "$TMP/img" --key-file "$TMP/key" --nbd "unix:$SOCK" --threads 2 \
	--handshake-timeout 1 --max-connections 8 2>"$TMP/server.log" &
SERVER_PID=$!
nbd_wait_socket

NBD_SOCK=$SOCK NBD_PID=$SERVER_PID PYTHONPATH="$SRCDIR/tests/interop/lib" python3 - <<'PY'
import struct
import time
from nbdraw import *

path, pid = env_server()
h = Harness(path, pid, rss_limit_kib=vmrss_kib(pid) + 32 * 1024)
TIMEOUT = 1.0


def closed_by_timeout(c, started):
    assert c.expect_closed(timeout=4), "still open after 4 s"
    took = time.monotonic() - started
    # The deadline is checked once a second: closed within timeout + 1 s.
    assert TIMEOUT - 0.05 <= took <= TIMEOUT + 1.5, "closed after %.2f s" % took
    return took


def silent_after_connect():
    t = time.monotonic()
    c = Client(path)
    c.greeting()
    print("  silent client closed after %.2f s" % closed_by_timeout(c, t))


def silent_in_options():
    t = time.monotonic()
    c = Client(path)
    c.start()
    c.opt(OPT_INFO, Client.info_data())
    c.opt_final()
    print("  client idle in options closed after %.2f s" % closed_by_timeout(c, t))


def trickling_client():
    # One byte of an option header every 0.2 s: activity does not extend
    # the deadline.
    t = time.monotonic()
    c = Client(path)
    c.start()
    for b in Client.opt_bytes(OPT_INFO, Client.info_data()):
        try:
            c.send(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            break
        if time.monotonic() - t > TIMEOUT + 1.5:
            break
        time.sleep(0.2)
    print("  trickling client closed after %.2f s" % closed_by_timeout(c, t))


def transmission_is_not_timed_out():
    c = Client(path)
    c.start()
    c.go()
    time.sleep(TIMEOUT + 1.2)
    c.request(CMD_READ, 0, 512)
    assert c.simple_reply(512)[0] == 0
    c.close()


def cap_refuses_then_frees():
    held = []
    for _ in range(8):
        c = Client(path)
        c.greeting()
        held.append(c)
    extra = Client(path)
    try:
        got = extra.sock.recv(18)
    except ConnectionResetError:
        got = b""
    assert got == b"", "a connection over the cap was served"
    extra.close()
    # The cap also stops normal clients while it is full ...
    try:
        h.normal_client_works()
        raise AssertionError("nbdinfo connected beyond the cap")
    except AssertionError as e:
        if "beyond the cap" in str(e):
            raise
    # ... and the handshake timeout frees the slots of silent clients.
    for c in held:
        assert c.expect_closed(timeout=4)


h.case("silent after connect: timed out", silent_after_connect)
h.case("silent in options: timed out", silent_in_options)
h.case("trickling option bytes: timed out", trickling_client)
h.case("idle in transmission: kept", transmission_is_not_timed_out)
h.case("connection cap refuses, timeout frees", cap_refuses_then_frees)
h.summary()
PY
grep -q 'handshake not finished within 1 s' "$TMP/server.log"
[ "$(grep -c 'connection refused' "$TMP/server.log")" -ge 1 ]
nbd_stop
echo ok
