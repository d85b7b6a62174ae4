# Sourced by tests/interop/test-nbd-*.sh: start an NBD server on a unix
# socket in a temporary directory and stop it on exit.
#
# The server is `cryptblk serve` on a fresh LUKS2 image whose data segment
# is SIZE bytes.
#
#   nbd_need CMD...            exit 77 (skip) unless every command exists
#   nbd_need_serve             exit 77 unless `cryptblk serve` exists
#   nbd_start SIZE [SECTOR [THREADS [NAME [DESCRIPTION]]]]
#                              sets SOCK, URI (nbd+unix) and TMP
#   nbd_luks_image FILE SIZE SECTOR [luks1|luks2]
#                              a fresh image with SIZE bytes of data, key $TMP/key
# shellcheck disable=SC2034 # SOCK, URI and TMP are for the sourcing test
set -euo pipefail

: "${BUILDDIR:?BUILDDIR must name the build tree}"
# nbdsh runs the python3 first on PATH: it must be Debian's.
export PATH=/usr/bin:$PATH

nbd_need() {
	for cmd in "$@"; do
		if ! command -v "$cmd" >/dev/null 2>&1; then
			echo "skip: $cmd not installed" >&2
			exit 77
		fi
	done
}

TMP=$(mktemp -d "${BUILDDIR}/nbd-interop.XXXXXX")
SERVER_PID=
nbd_cleanup() {
	if [ -n "$SERVER_PID" ]; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap nbd_cleanup EXIT

nbd_have_serve() {
	[ -n "${CRYPTBLK:-}" ] && [ -x "$CRYPTBLK" ] &&
		"$CRYPTBLK" --help 2>/dev/null | grep -q '^  serve '
}

nbd_need_serve() {
	if ! nbd_have_serve; then
		echo "skip: cryptblk serve not built in this tree" >&2
		exit 77
	fi
}

nbd_luks_image() {
	local file=$1 size=$2 sector=$3 type=${4:-luks2} header
	[ "$type" = luks1 ] && header=$((2 * 1024 * 1024)) || header=$((16 * 1024 * 1024))
	[ -f "$TMP/key" ] || printf 'interop passphrase' >"$TMP/key"
	local opts=(--type "$type" --key-file "$TMP/key" --pbkdf pbkdf2
		--pbkdf-force-iterations 1000 --batch-mode)
	[ "$type" = luks2 ] && opts+=(--sector-size "$sector")
	"$CRYPTBLK" format "$file" --size $((size + header)) "${opts[@]}" >/dev/null
}

# Wait until the server at $SERVER_PID listens on $SOCK.
nbd_wait_socket() {
	for _ in $(seq 1 400); do
		[ -S "$SOCK" ] && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited early" >&2; exit 1; }
		sleep 0.05
	done
	echo "server socket never appeared" >&2
	exit 1
}

nbd_start() {
	local size=$1 sector=${2:-512} threads=${3:-2} name=${4:-} desc=${5:-}
	SOCK="$TMP/nbd.sock"
	local opts=(--key-file "$TMP/key" --nbd "unix:$SOCK" --threads "$threads")
	[ -n "$name" ] && opts+=(--export-name "$name")
	[ -n "$desc" ] && opts+=(--description "$desc")
	nbd_need_serve
	nbd_luks_image "$TMP/img" "$size" "$sector"
	"$CRYPTBLK" serve "$TMP/img" "${opts[@]}" &
	SERVER_PID=$!
	nbd_wait_socket
	URI="nbd+unix:///$name?socket=$SOCK"
}

# Stop the server with SIGTERM and require a clean exit.
nbd_stop() {
	kill -TERM "$SERVER_PID"
	local rc=0
	wait "$SERVER_PID" || rc=$?
	SERVER_PID=
	[ "$rc" -eq 0 ] || { echo "server exited with $rc" >&2; exit 1; }
}
