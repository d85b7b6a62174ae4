#!/usr/bin/env bash
# With the remote gone for longer than --reconnect-timeout, a waiting read
# fails with EIO after about that long (not at once, not never); the
# client's connection to cryptblk stays up; reconnection goes on in the
# background, and once the remote is back the same client reads the data
# that was written and flushed before the remote died.
# shellcheck disable=SC2119 # remote_format and remote_serve take optional arguments
. "$SRCDIR/tests/interop/lib/remote.sh"
nbd_need nbdsh

truncate -s 24M "$TMP/remote.img"
remote_start file "$TMP/remote.img"
remote_format
remote_serve --threads 1 --reconnect-timeout 2

mkfifo "$TMP/step" "$TMP/ack"
TMPDIR_="$TMP" nbdsh -u "$URI" -c '
import errno, os, time
tmp = os.environ["TMPDIR_"]
def step(name):
    with open(tmp + "/step", "w") as f:
        f.write(name + "\n")
    with open(tmp + "/ack") as f:
        f.read()
data = os.urandom(65536)
h.pwrite(data, 4096)
h.flush()
step("kill")
t0 = time.monotonic()
try:
    h.pread(4096, 4096)
except nbd.Error as e:
    assert e.errnum == errno.EIO, e
else:
    raise SystemExit("read succeeded with the remote gone")
waited = time.monotonic() - t0
assert 1.5 <= waited <= 15, "EIO after %.1f s, not about 2 s" % waited
step("restart")
deadline = time.monotonic() + 15
while True:
    try:
        got = h.pread(len(data), 4096)
        break
    except nbd.Error as e:
        assert e.errnum == errno.EIO, e
        assert time.monotonic() < deadline, "never reconnected"
        time.sleep(0.2)
assert got == data, "data changed across the outage"
' >"$TMP/nbdsh.out" 2>&1 &
client=$!
while read -r what <"$TMP/step"; do
	case $what in
	kill) remote_kill ;;
	restart) remote_start ;;
	esac
	echo ok >"$TMP/ack"
	[ "$what" = restart ] && break
done
wait "$client" || fail "client: $(cat "$TMP/nbdsh.out")"
nbd_stop
grep -q 'failing I/O with EIO' "$TMP/serve.err" || fail "no timeout reported"
grep -q 'connected again' "$TMP/serve.err" || fail "no reconnection reported"
echo ok
