#!/usr/bin/env bash
# --readonly advertises a read-only export and refuses writes with EPERM.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need_serve
nbd_need nbdsh

nbd_luks_image "$TMP/img" $((1024 * 1024)) 512
cp "$TMP/img" "$TMP/orig"
"$CRYPTBLK" serve "$TMP/img" --key-file "$TMP/key" --nbd "unix:$TMP/s" --readonly \
	--run "nbdsh -u \"\$uri\" -c - <<'PY'
import nbd
assert h.is_read_only()
h.set_strict_mode(0)
try:
    h.pwrite(b'x' * 512, 0)
    raise AssertionError('write to a read-only export succeeded')
except nbd.Error as e:
    assert e.errnum == 1, e  # EPERM
h.pread(4096, 0)
PY"
cmp "$TMP/img" "$TMP/orig"
echo ok
