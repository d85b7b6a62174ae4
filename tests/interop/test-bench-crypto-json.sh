#!/usr/bin/env bash
# `cryptblk bench crypto --json` prints one JSON object: the EVP ceiling and
# every engine, each with positive encrypt and decrypt MiB/s. (No speed
# assertion: the figures depend on the machine and its load.)
set -euo pipefail

: "${CRYPTBLK:?path of the cryptblk command}"
command -v python3 >/dev/null || { echo "python3 missing" >&2; exit 77; }

out=$(mktemp "${BUILDDIR:-/tmp}/bench-json.XXXXXX")
trap 'rm -f "$out"' EXIT

"$CRYPTBLK" bench crypto --json --seconds 0.2 --engines openssl,threads:2 >"$out"

python3 -c '
import json, sys

with open(sys.argv[1]) as f:
    text = f.read()
obj = json.loads(text)
assert text.count("\n") == 1, "not exactly one line"
assert set(obj) == {"ceiling", "engines"}, obj.keys()

def positive(d, where):
    for k in ("encrypt_mib_s", "decrypt_mib_s"):
        v = d[k]
        assert isinstance(v, (int, float)) and v > 0, f"{where}: {k} = {v!r}"

positive(obj["ceiling"], "ceiling")
names = [e["name"] for e in obj["engines"]]
assert names == ["openssl", "threads:2"], names
for e in obj["engines"]:
    assert set(e) == {"name", "encrypt_mib_s", "decrypt_mib_s"}, e.keys()
    positive(e, e["name"])
' "$out"

# The default engine list is openssl and threads:<online CPUs>.
"$CRYPTBLK" bench crypto --json --seconds 0.05 >"$out"
python3 -c '
import json, os, sys
obj = json.load(open(sys.argv[1]))
names = [e["name"] for e in obj["engines"]]
assert names == ["openssl", "threads:%d" % os.cpu_count()], names
' "$out"

# Bad arguments are refused with exit code 1 and nothing on stdout.
for args in "" "crypto --seconds 0" "crypto --seconds x" "crypto --engines nope" "crypto --bogus"; do
	rc=0
	# shellcheck disable=SC2086
	"$CRYPTBLK" bench $args >"$out" 2>/dev/null || rc=$?
	[ "$rc" -eq 1 ] || { echo "bench $args: exit $rc, want 1" >&2; exit 1; }
	[ ! -s "$out" ] || { echo "bench $args: wrote to stdout" >&2; exit 1; }
done
echo ok
