# Shared setup of the LUKS interop tests: a scratch directory removed on exit,
# skip (77) when a peer is missing, and low KDF costs so each test takes
# seconds.
set -euo pipefail

: "${CRYPTBLK:?CRYPTBLK must name the built cryptblk command}"
# python3 must be Debian's: nbdsh runs the first on PATH, and the AES-XTS
# model needs python3-cryptography.
export PATH=/usr/bin:$PATH
TMP=$(mktemp -d "${BUILDDIR:-/tmp}/luks-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# Fast KDF settings for cryptsetup and cryptblk.
CS_PBKDF2=(--pbkdf pbkdf2 --pbkdf-force-iterations 1000)
CS_ARGON=(--pbkdf argon2id --pbkdf-force-iterations 4 --pbkdf-memory 32 --pbkdf-parallel 1)

need() {
	for tool in "$@"; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "SKIP: $tool not installed"
			exit 77
		fi
	done
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# cryptsetup's idea of the volume key, as raw bytes in file $3.
cs_volume_key() { # image keyfile out (cryptsetup will not overwrite it)
	rm -f "$3"
	cryptsetup luksDump --dump-volume-key --volume-key-file "$3" --batch-mode \
		--key-file "$2" "$1" >/dev/null
}

# cryptblk's, the same way.
cb_volume_key() { # image keyfile out
	"$CRYPTBLK" test-key "$1" --key-file "$2" --volume-key-file "$3" >/dev/null
}

# cryptsetup's JSON metadata as one field, via python.
cs_json() { # image python-expression-on-j
	cryptsetup luksDump --dump-json-metadata "$1" |
		python3 -c "import json,sys; j=json.load(sys.stdin); print($2)"
}

cb_json() { # image python-expression-on-j
	"$CRYPTBLK" dump --json "$1" | python3 -c "import json,sys; j=json.load(sys.stdin); print($2)"
}

# A LUKS1 image made by qemu-img, key-secret read from a file. qemu-img
# calibrates its PBKDF costs and, here about one run in three, cannot measure
# its own CPU time ("Unable to get accurate CPU usage"); such a failure takes
# milliseconds, so try again, up to 20 times.
qemu_luks_create() { # image size secret-file [extra -o options, each starting with ,]
	rm -f "$1"
	for _ in $(seq 20); do
		qemu-img create -q -f luks --object "secret,id=sec0,file=$3" \
			-o "key-secret=sec0,iter-time=20${4:-}" "$1" "$2" 2>"$TMP/qemu-img.err" && return 0
	done
	fail "qemu-img create failed 20 times: $(cat "$TMP/qemu-img.err")"
}

LUKS_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The AES-XTS model of a data segment (lib/xts_sectors.py), on Debian's
# python3 with python3-cryptography; skip without them.
need_xts() {
	python3 -c 'import cryptography' 2>/dev/null || {
		echo "SKIP: python3-cryptography not installed"
		exit 77
	}
}
xts() { # encrypt|check image keyfile offset sector tweak at plainfile
	python3 "$LUKS_LIB/xts_sectors.py" "$@"
}

# cryptsetup's data layout: "offset sector-size iv-tweak" in bytes.
cs_layout() { # image
	if cryptsetup isLuks --type luks2 "$1"; then
		cryptsetup luksDump --dump-json-metadata "$1" | python3 -c '
import json, sys
s = json.load(sys.stdin)["segments"]["0"]
print(s["offset"], s["sector_size"], s["iv_tweak"])'
	else
		cryptsetup luksDump "$1" |
			awk '/^Payload offset:/ { print $3 * 512, 512, 0 }'
	fi
}

wait_socket() { # sock pid errfile: until serve's socket exists; fail if it exits or never does
	for _ in $(seq 200); do
		[ -S "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || fail "serve exited: $(cat "$3")"
		sleep 0.05
	done
	fail "serve: no socket $1 after 10 s"
}

# Serve image through cryptblk on a unix socket and run cmd with $uri set.
cb_serve_run() { # image keyfile cmd [serve options]
	local img=$1 key=$2 cmd=$3
	shift 3
	rm -f "$TMP/serve.sock"
	"$CRYPTBLK" serve "$img" --key-file "$key" --nbd "unix:$TMP/serve.sock" \
		--run "$cmd" "$@"
}

# Overwrite len bytes of file at off with one repeated byte value.
fill_bytes() { # file off len byte
	python3 -c '
import sys
f, off, n, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4], 0)
with open(f, "r+b") as fh:
    fh.seek(off)
    fh.write(bytes([b]) * n)' "$@"
}

# qemu's LUKS driver on image, secret from a file, in the two ways of naming
# it: --image-opts and a json: filename.
qemu_io_opts() { # image secret-file qemu-io-args...
	local img=$1 key=$2
	shift 2
	qemu-io --object "secret,id=s0,file=$key" --image-opts \
		"driver=luks,key-secret=s0,file.filename=$img" "$@"
}
qemu_io_json() { # image secret-file qemu-io-args...
	local img=$1 key=$2
	shift 2
	qemu-io --object "secret,id=s0,file=$key" \
		"json:{\"driver\":\"luks\",\"key-secret\":\"s0\",\"file\":{\"driver\":\"file\",\"filename\":\"$img\"}}" "$@"
}

# Run a command on a pseudo-terminal, answering its prompts (lib/pty_answer.py):
# the terminal's text, without carriage returns, goes to $TMP/tty, and one
# line per prompt records whether echo was on when it appeared.
pty_answer() { # prompt answer [prompt answer...] -- cmd args...
	local rc=0
	python3 "$LUKS_LIB/pty_answer.py" "$TMP/tty.raw" "$@" || rc=$?
	tr -d '\r' <"$TMP/tty.raw" >"$TMP/tty"
	return "$rc"
}
