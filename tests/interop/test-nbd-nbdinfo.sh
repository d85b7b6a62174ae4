#!/usr/bin/env bash
# nbdinfo --json sees the export as the server advertises it: size, flags,
# block sizes, name and description.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need nbdinfo python3

nbd_start $((16 * 1024 * 1024)) 4096 2 vol0 "an encrypted volume"
nbdinfo --json "$URI" >"$TMP/info.json"
python3 - "$TMP/info.json" <<'PY'
import json, sys
info = json.load(open(sys.argv[1]))
ex = info["exports"][0]
def want(key, value):
    assert ex.get(key) == value, f"{key}: {ex.get(key)!r} != {value!r}"
want("export-name", "vol0")
want("description", "an encrypted volume")
want("export-size", 16 * 1024 * 1024)
want("block_size_minimum", 1)
want("block_size_preferred", 4096)
want("block_size_maximum", 32 * 1024 * 1024)
want("is_read_only", False)
for flag in ("can_flush", "can_fua", "can_trim", "can_zero", "can_fast_zero",
             "can_multi_conn", "can_cache"):
    want(flag, True)
assert info["protocol"] == "newstyle-fixed", info["protocol"]
PY
nbd_stop
echo ok
