#!/usr/bin/env bash
# A remote that answers ESHUTDOWN ("going away") is not answering about the
# data: the read is held, the connection drained and made again, and the
# read is sent again until the remote serves it; the client sees a slow
# read with the right data, not an error. nbdkit's error filter answers
# ESHUTDOWN to every read while a trigger file exists (1.5 s here).
# shellcheck disable=SC2119 # remote_format and remote_serve take optional arguments
. "$SRCDIR/tests/interop/lib/remote.sh"
nbd_need nbdsh

trigger="$TMP/trigger"
remote_start --filter=error memory 24M error=ESHUTDOWN error-pread-rate=100% \
	"error-pread-file=$trigger"
remote_format
remote_serve --threads 1
nbdsh -u "$URI" -c 'h.pwrite(b"D" * 65536, 0); h.flush()'
touch "$trigger"
(
	sleep 1.5
	rm -f "$trigger"
) &
remover=$!
TRIGGER="$trigger" nbdsh -u "$URI" -c '
import os, time
t0 = time.monotonic()
assert os.path.exists(os.environ["TRIGGER"])
got = h.pread(65536, 0)
waited = time.monotonic() - t0
assert got == b"D" * 65536, "wrong data"
assert waited >= 1.0, "served after %.2f s, while the remote still refused" % waited
' || fail "nbdsh checks"
wait "$remover"
nbd_stop
grep -q 'shutting down (ESHUTDOWN)' "$TMP/serve.err" || fail "no ESHUTDOWN reported"
grep -q 'connected again' "$TMP/serve.err" || fail "no reconnection reported"
echo ok
