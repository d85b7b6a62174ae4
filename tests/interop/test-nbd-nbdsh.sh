#!/usr/bin/env bash
# libnbd through nbdsh: every command, structured replies, errors by name.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need nbdsh

nbd_start $((1024 * 1024)) 512 2
NBD_URI="$URI" nbdsh -c - <<'PY'
import os
import nbd
h.add_meta_context("base:allocation")
h.connect_uri(os.environ["NBD_URI"])
size = h.get_size()
assert size == 1024 * 1024
assert h.get_structured_replies_negotiated()
assert h.can_meta_context("base:allocation")

data = bytes(range(256)) * 16
h.pwrite(data, 12345)
assert h.pread(len(data), 12345) == data
h.pwrite(bytes(1024), 0)
h.pwrite(b"\xff" * 3, 511, nbd.CMD_FLAG_FUA)
assert h.pread(5, 510) == b"\0" + b"\xff" * 3 + b"\0"
h.zero(100, 12346)
assert h.pread(100, 12346) == bytes(100)
assert h.pread(1, 12345) == data[0:1]
h.trim(4096, 0)
h.flush()
h.cache(65536, 0)

extents = []
def cb(metacontext, offset, entries, err):
    extents.append((metacontext, offset, list(entries)))
h.block_status(65536, 0, cb)
assert extents[0][0] == "base:allocation"
assert sum(extents[0][2][0::2]) == 65536 and extents[0][2][1] == 0, extents

# Let libnbd send what it would refuse itself, so the server answers.
h.set_strict_mode(0)
try:
    h.pread(2, size - 1)
    raise AssertionError("read past the end succeeded")
except nbd.Error as e:
    assert e.errnum == 22, e  # EINVAL
try:
    h.pwrite(b"xx", size - 1)
    raise AssertionError("write past the end succeeded")
except nbd.Error as e:
    assert e.errnum == 28, e  # ENOSPC
try:
    h.zero(4096, 0, nbd.CMD_FLAG_FAST_ZERO)
    raise AssertionError("fast zero succeeded")
except nbd.Error as e:
    assert e.errnum == 95, e  # ENOTSUP

# Many requests in flight, completing in any order.
for i in range(64):
    h.aio_pwrite(bytes([i]) * 4096, i * 4096)
while h.aio_in_flight() > 0:
    h.poll(-1)
for i in (0, 17, 63):
    assert h.pread(4096, i * 4096) == bytes([i]) * 4096
h.shutdown()
PY
nbd_stop
echo ok
