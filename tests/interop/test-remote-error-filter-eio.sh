#!/usr/bin/env bash
# Errors the remote answers reach the client as EIO for those requests
# only: nbdkit's error filter fails every read while a trigger file exists;
# then a client read fails with EIO, a write in the same moment succeeds,
# the connection stays up (no reconnect), and once the trigger is gone the
# same reads return the data written before and during the errors.
# shellcheck disable=SC2119 # remote_format and remote_serve take optional arguments
. "$SRCDIR/tests/interop/lib/remote.sh"
nbd_need nbdsh

trigger="$TMP/trigger"
remote_start --filter=error memory 24M error-pread-rate=100% "error-pread-file=$trigger"
remote_format
remote_serve --threads 1
TRIGGER="$trigger" nbdsh -u "$URI" -c '
import errno, os
trigger = os.environ["TRIGGER"]
data = bytes(range(256)) * 256
h.pwrite(data, 0)
assert h.pread(len(data), 0) == data
open(trigger, "w").close()
for off in (0, 8192, 1 << 20):
    try:
        h.pread(4096, off)
    except nbd.Error as e:
        assert e.errnum == errno.EIO, "read at %d: %s" % (off, e)
    else:
        raise SystemExit("read at %d succeeded while the remote fails reads" % off)
h.pwrite(b"W" * 4096, 1 << 20)
h.flush()
os.unlink(trigger)
assert h.pread(len(data), 0) == data, "data changed"
assert h.pread(4096, 1 << 20) == b"W" * 4096, "write during the errors lost"
' || fail "nbdsh checks"
nbd_stop
if grep -q 'connection lost' "$TMP/serve.err"; then
	fail "an error answer was taken for a lost connection"
fi
echo ok
